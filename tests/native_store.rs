//! The same core on the embedded store: what is written survives the
//! handle being dropped and the file reopened.
#![cfg(not(target_arch = "wasm32"))]

use futures::executor::block_on;
use serde_json::json;
use weftdb::store::RedbStore;
use weftdb::Db;

#[test]
fn redb_keeps_documents_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("weft.redb");
    let (id, key, heads) = block_on(async {
        let db = Db::open(RedbStore::open(&path).unwrap()).await.unwrap();
        db.add_schema("type Book { title: String! @index pages: Int }").await.unwrap();
        let id = db.create("Book", json!({"title": "Dune", "pages": 412}).as_object().unwrap()).await.unwrap();
        db.update("Book", &id, json!({"pages": 413}).as_object().unwrap()).await.unwrap();
        (id.clone(), db.signing_key().to_bytes(), db.heads("Book", &id).await.unwrap())
    });
    block_on(async {
        let db = Db::open(RedbStore::open(&path).unwrap()).await.unwrap();
        assert_eq!(db.signing_key().to_bytes(), key, "the replica keeps its key");
        let doc = db.get("Book", &id).await.unwrap().unwrap();
        assert_eq!(doc, *json!({"_id": id, "title": "Dune", "pages": 413}).as_object().unwrap());
        assert_eq!(db.heads("Book", &id).await.unwrap(), heads);
        let found = db.find("Book", &json!({"filter": {"title": {"_eq": "Dune"}}})).await.unwrap();
        assert_eq!(found.len(), 1);
        let err = db.add_schema("type Book { x: Int }").await.unwrap_err();
        assert_eq!(err.code(), "SCHEMA_INVALID", "the schema survived too");
    });
}

/// What `script` reads of a store through the many-key reads and
/// `put_keyed`, within the transaction that wrote and after its commit.
async fn script<S: weftdb::store::Store>(store: &S) -> Vec<Vec<Option<Vec<u8>>>> {
    use weftdb::store::{Mode, Table, Tx};
    let mut seen = Vec::new();
    let mut tx = store.begin(Mode::Write).await.unwrap();
    tx.put_keyed(Table::Packs, b"p1", b"one", &[], &[b"b1".to_vec(), b"x".to_vec()]).await.unwrap();
    tx.put_keyed(Table::Packs, b"p2", b"two", &[], &[b"a2".to_vec()]).await.unwrap();
    tx.put(Table::Pending, b"k", b"pending").await.unwrap();
    // Read back within the transaction that wrote them.
    seen.push(tx.get_many(Table::PacksBy, &[b"x".to_vec(), b"zz".to_vec(), b"a2".to_vec()]).await.unwrap());
    seen.push(tx.get_many(Table::PacksBy, &[]).await.unwrap());
    let reads = [
        (Table::Packs, b"p2".to_vec()),
        (Table::PacksBy, b"b1".to_vec()),
        (Table::PacksBy, b"nope".to_vec()),
        (Table::Packs, b"p1".to_vec()),
        (Table::Pending, b"k".to_vec()),
        (Table::Packs, b"p2".to_vec()),
    ];
    seen.push(tx.get_each(&reads).await.unwrap());
    tx.commit().await.unwrap();
    let mut tx = store.begin(Mode::Read).await.unwrap();
    seen.push(tx.get_each(&reads).await.unwrap());
    drop(tx);
    // A put that keeps one secondary key, drops one and adds one.
    let mut tx = store.begin(Mode::Write).await.unwrap();
    let (old, new) = ([b"b1".to_vec(), b"x".to_vec()], [b"x".to_vec(), b"c1".to_vec()]);
    tx.put_keyed(Table::Packs, b"p1", b"uno", &old, &new).await.unwrap();
    tx.commit().await.unwrap();
    let mut tx = store.begin(Mode::Read).await.unwrap();
    let keys = [b"b1".to_vec(), b"x".to_vec(), b"c1".to_vec(), b"a2".to_vec()];
    seen.push(tx.get_many(Table::PacksBy, &keys).await.unwrap());
    seen.push(vec![tx.get(Table::Packs, b"p1").await.unwrap()]);
    seen
}

/// The redb backend's own many-key reads and `put_keyed` (each table
/// opened once for all its keys) answer as the trait's per-key defaults
/// do on the memory store: in the order asked across tables, a
/// transaction's own writes included, and with a record's secondary keys
/// following it. A read transaction refuses `put_keyed`.
#[test]
fn redb_reads_many_keys_and_keeps_secondary_keys_as_the_trait_does() {
    use weftdb::store::{MemoryStore, Mode, Store, Table, Tx};
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path().join("weft.redb")).unwrap();
    let redb = block_on(script(&store));
    let memory = block_on(script(&MemoryStore::new()));
    assert_eq!(redb, memory);
    let p1 = Some(b"p1".to_vec());
    assert_eq!(redb[4], vec![None, p1.clone(), p1, Some(b"p2".to_vec())], "an old key gone, a kept one kept");
    block_on(async {
        let mut tx = store.begin(Mode::Read).await.unwrap();
        let err = tx.put_keyed(Table::Packs, b"p3", b"three", &[], &[b"c3".to_vec()]).await.unwrap_err();
        assert_eq!(err.0, "write in a read transaction");
        assert_eq!(tx.get_many(Table::PacksBy, &[b"c3".to_vec()]).await.unwrap(), vec![None]);
    });
}
