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

/// The redb backend's own many-key reads and `put_keyed` (each table
/// opened once for all its keys) answer as the trait's per-key
/// defaults do: in the order asked across tables, and with a record's
/// secondary keys following it.
#[test]
fn redb_reads_many_keys_in_order_and_keeps_secondary_keys() {
    use weftdb::store::{Mode, Store, Table, Tx};
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path().join("weft.redb")).unwrap();
    block_on(async {
        let mut tx = store.begin(Mode::Write).await.unwrap();
        tx.put_keyed(Table::Packs, b"p1", b"one", &[], &[b"b1".to_vec(), b"x".to_vec()]).await.unwrap();
        tx.put_keyed(Table::Packs, b"p2", b"two", &[], &[b"a2".to_vec()]).await.unwrap();
        tx.put(Table::Pending, b"k", b"pending").await.unwrap();
        // Read back within the transaction that wrote them.
        let by = tx.get_many(Table::PacksBy, &[b"x".to_vec(), b"zz".to_vec(), b"a2".to_vec()]).await.unwrap();
        assert_eq!(by, vec![Some(b"p1".to_vec()), None, Some(b"p2".to_vec())]);
        tx.commit().await.unwrap();

        let mut tx = store.begin(Mode::Read).await.unwrap();
        let reads = [
            (Table::Packs, b"p2".to_vec()),
            (Table::PacksBy, b"b1".to_vec()),
            (Table::PacksBy, b"nope".to_vec()),
            (Table::Packs, b"p1".to_vec()),
            (Table::Pending, b"k".to_vec()),
            (Table::Packs, b"p2".to_vec()),
        ];
        let got = tx.get_each(&reads).await.unwrap();
        let want = [Some(&b"two"[..]), Some(b"p1"), None, Some(b"one"), Some(b"pending"), Some(b"two")];
        assert_eq!(got, want.map(|v| v.map(<[u8]>::to_vec)), "each read answered in the order asked");
        let err = tx.put_keyed(Table::Packs, b"p3", b"three", &[], &[b"c3".to_vec()]).await;
        assert!(err.is_err(), "a read transaction writes nothing");
        drop(tx);

        let mut tx = store.begin(Mode::Write).await.unwrap();
        let (old, new) = ([b"b1".to_vec(), b"x".to_vec()], [b"x".to_vec(), b"c1".to_vec()]);
        tx.put_keyed(Table::Packs, b"p1", b"uno", &old, &new).await.unwrap();
        tx.commit().await.unwrap();
        let mut tx = store.begin(Mode::Read).await.unwrap();
        let keys = [b"b1".to_vec(), b"x".to_vec(), b"c1".to_vec(), b"a2".to_vec(), b"c3".to_vec()];
        let by = tx.get_many(Table::PacksBy, &keys).await.unwrap();
        let p1 = Some(b"p1".to_vec());
        assert_eq!(by, vec![None, p1.clone(), p1, Some(b"p2".to_vec()), None], "an old key gone, a kept one kept");
        assert_eq!(tx.get(Table::Packs, b"p1").await.unwrap(), Some(b"uno".to_vec()));
    });
}
