//! A database written by layout 1 (blocks, heads, docs and index entries
//! each a record of its own), by layout 2 (index entries that carry the
//! document record) or by layout 4 (the signing key's record the seed
//! alone) opens in this build's layout with the same documents, heads,
//! blocks and query results, and the same key. The stores are
//! `tests/fixtures/layout1.json`, `layout2.json` and `layout4.json`, each
//! written by that layout's code itself.
#![cfg(not(target_arch = "wasm32"))]

use futures::executor::block_on;
use serde_json::{json, Value};
use weftdb::core::schema::hex;
use weftdb::store::{KeyRange, MemoryStore, Mode, RedbStore, Store, Table, Tx};
use weftdb::Db;

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

fn fixture() -> Value {
    serde_json::from_str(include_str!("fixtures/layout1.json")).unwrap()
}

fn fixture2() -> Value {
    serde_json::from_str(include_str!("fixtures/layout2.json")).unwrap()
}

/// Writes the layout-2 (or layout-4) rows into `store`: packs with their
/// secondary keys (the fixture's `packs_by`), every other table as it is.
async fn write_packed<S: Store>(store: &S, fixture: &Value) {
    let tables = fixture["tables"].as_object().unwrap();
    let rows = |name: &str| -> Vec<(Vec<u8>, Vec<u8>)> {
        tables[name]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| (unhex(r[0].as_str().unwrap()), unhex(r[1].as_str().unwrap())))
            .collect()
    };
    let by = rows("packs_by");
    let mut tx = store.begin(Mode::Write).await.unwrap();
    for (key, pack) in rows("packs") {
        let cids: Vec<Vec<u8>> = by.iter().filter(|(_, k)| *k == key).map(|(c, _)| c.clone()).collect();
        assert!(!cids.is_empty());
        tx.put_keyed(Table::Packs, &key, &pack, &[], &cids).await.unwrap();
    }
    for name in tables.keys().filter(|n| !n.starts_with("packs")) {
        let table = Table::ALL.into_iter().find(|t| t.name() == name).expect("a table of layout 2's");
        for (k, v) in rows(name) {
            tx.put(table, &k, &v).await.unwrap();
        }
    }
    tx.commit().await.unwrap();
}

/// What layout2.json's reader must see, and its index entries rewritten.
async fn check2<S: Store>(db: &Db<S>, store: &S, fixture: &Value) {
    let expect = &fixture["expect"];
    for (id, doc) in expect["books"].as_object().unwrap() {
        assert_eq!(json!(db.get("Book", id).await.unwrap()), *doc, "document {id}");
        let heads: Vec<String> = db.heads("Book", id).await.unwrap().iter().map(|c| c.to_string()).collect();
        assert_eq!(json!(heads), expect["heads"][id], "heads of {id}");
    }
    let note = &expect["note"];
    assert_eq!(json!(db.get("Note", note[0].as_str().unwrap()).await.unwrap()), note[1]);
    let q = &expect["queries"];
    let t1 = json!({"filter": {"title": {"_eq": "t1"}}});
    assert_eq!(json!(db.find("Book", &t1).await.unwrap()), q["t1"]);
    let text: Value = serde_json::from_str(&db.find_text("Book", &t1).await.unwrap()).unwrap();
    assert_eq!(text, q["t1"], "the entries as stored are the documents");
    let ordered = json!({"filter": {"pages": {"_ge": 10}}, "order": {"pages": "ASC"}});
    assert_eq!(json!(db.find("Book", &ordered).await.unwrap()), q["pages_ge_10"]);
    let moved = json!({"filter": {"pages": {"_eq": 555}}});
    assert_eq!(json!(db.find("Book", &moved).await.unwrap()), q["pages_555"]);
    assert_eq!(json!(db.count("Book", &json!({})).await.unwrap()), q["all"]);
    assert_eq!(json!(db.export().await.unwrap().len()), expect["blocks"]);
    assert_eq!(json!(db.pending_count().await.unwrap()), expect["pending"]);
    let mut tx = store.begin(Mode::Read).await.unwrap();
    assert_eq!(tx.get(Table::Meta, b"layout").await.unwrap(), Some(vec![5]));
    let entries = tx.scan(Table::Entries, &KeyRange::all(), None).await.unwrap();
    assert_eq!(entries.len(), fixture["tables"]["entries"].as_array().unwrap().len(), "every entry kept");
    for (k, v) in entries {
        let doc: Value = serde_json::from_slice(&v).unwrap_or_else(|e| panic!("entry {k:?} is JSON: {e}"));
        let id = doc["_id"].as_str().unwrap();
        assert!(k.ends_with(id.as_bytes()), "entry {k:?} carries its own document");
        let want = if k.starts_with(b"Note\0") { &note[1] } else { &expect["books"][id] };
        assert_eq!(doc, *want, "entry {k:?} carries the document as get returns it");
    }
}

#[test]
fn a_layout2_database_opens_migrated_in_memory() {
    block_on(async {
        let fixture = fixture2();
        let store = MemoryStore::new();
        write_packed(&store, &fixture).await;
        let db = Db::open(store.clone()).await.unwrap();
        check2(&db, &store, &fixture).await;
        // It keeps working: a write moves the index, a reopen keeps it all.
        let id = fixture["expect"]["queries"]["pages_555"][0]["_id"].as_str().unwrap().to_owned();
        db.update("Book", &id, &serde_json::from_value(json!({"pages": 556})).unwrap()).await.unwrap();
        assert_eq!(db.count("Book", &json!({"filter": {"pages": {"_eq": 555}}})).await.unwrap(), 0);
        let found = db.find("Book", &json!({"filter": {"pages": {"_in": [556, 7]}}})).await.unwrap();
        assert_eq!(found.iter().map(|d| d["pages"].clone()).collect::<Vec<_>>(), [json!(7), json!(556)]);
        let again = Db::open(store.clone()).await.unwrap();
        assert_eq!(again.get("Book", &id).await.unwrap().unwrap()["pages"], json!(556));
    });
}

#[test]
fn a_layout2_database_opens_migrated_on_redb() {
    block_on(async {
        let fixture = fixture2();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.redb");
        {
            let store = RedbStore::open(&path).unwrap();
            write_packed(&store, &fixture).await;
        }
        let store = RedbStore::open(&path).unwrap();
        let db = Db::open(store.clone()).await.unwrap();
        check2(&db, &store, &fixture).await;
        drop((db, store));
        let store = RedbStore::open(&path).unwrap();
        let db = Db::open(store.clone()).await.unwrap();
        check2(&db, &store, &fixture).await;
    });
}

/// Writes the layout-1 rows into `store`, under the tables' old names.
async fn write_layout1<S: Store>(store: &S, fixture: &Value) {
    let mut tx = store.begin(Mode::Write).await.unwrap();
    for (name, rows) in fixture["tables"].as_object().unwrap() {
        let table = Table::ALL.into_iter().find(|t| t.name() == name).expect("a table of layout 1's");
        for row in rows.as_array().unwrap() {
            tx.put(table, &unhex(row[0].as_str().unwrap()), &unhex(row[1].as_str().unwrap())).await.unwrap();
        }
    }
    tx.commit().await.unwrap();
}

async fn check<S: Store>(db: &Db<S>, fixture: &Value) {
    let expect = &fixture["expect"];
    for (id, doc) in expect["books"].as_object().unwrap() {
        let got = db.get("Book", id).await.unwrap();
        assert_eq!(json!(got), *doc, "document {id}");
        let heads: Vec<String> = db.heads("Book", id).await.unwrap().iter().map(|c| c.to_string()).collect();
        assert_eq!(json!(heads), expect["heads"][id], "heads of {id}");
    }
    let note = &expect["note"];
    assert_eq!(json!(db.get("Note", note[0].as_str().unwrap()).await.unwrap()), note[1]);
    let q = &expect["queries"];
    assert_eq!(json!(db.find("Book", &json!({"filter": {"title": {"_eq": "t1"}}})).await.unwrap()), q["t1"]);
    let ordered = json!({"filter": {"pages": {"_ge": 10}}, "order": {"pages": "ASC"}});
    assert_eq!(json!(db.find("Book", &ordered).await.unwrap()), q["pages_ge_10"]);
    assert_eq!(json!(db.count("Book", &json!({})).await.unwrap()), q["all"]);
    assert_eq!(json!(db.export().await.unwrap().len()), expect["blocks"]);
    assert_eq!(json!(db.pending_count().await.unwrap()), expect["pending"]);
}

/// What is left in layout 1's tables.
async fn layout1_rows<S: Store>(store: &S) -> usize {
    let mut tx = store.begin(Mode::Read).await.unwrap();
    let mut n = 0;
    for t in [Table::LegacyBlocks, Table::LegacyHeads, Table::LegacyDocs, Table::LegacyIndex] {
        n += tx.scan(t, &KeyRange::all(), None).await.unwrap().len();
    }
    n
}

#[test]
fn a_layout1_database_opens_migrated_in_memory() {
    block_on(async {
        let fixture = fixture();
        let store = MemoryStore::new();
        write_layout1(&store, &fixture).await;
        assert!(layout1_rows(&store).await > 0);
        let db = Db::open(store.clone()).await.unwrap();
        assert_eq!(layout1_rows(&store).await, 0, "the migration empties layout 1's tables");
        check(&db, &fixture).await;
        // It keeps working: a write, a merge of the withheld parent, a reopen.
        let id = fixture["expect"]["books"].as_object().unwrap().keys().next().unwrap().clone();
        db.update("Book", &id, &serde_json::from_value(json!({"pages": 555})).unwrap()).await.unwrap();
        let found = db.find("Book", &json!({"filter": {"pages": {"_eq": 555}}})).await.unwrap();
        assert_eq!(found.len(), 1, "the index follows a write after the migration");
        let again = Db::open(store.clone()).await.unwrap();
        assert_eq!(again.get("Book", &id).await.unwrap().unwrap()["pages"], json!(555));
    });
}

#[test]
fn a_layout1_database_opens_migrated_on_redb() {
    block_on(async {
        let fixture = fixture();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.redb");
        {
            let store = RedbStore::open(&path).unwrap();
            write_layout1(&store, &fixture).await;
        }
        let store = RedbStore::open(&path).unwrap();
        let db = Db::open(store.clone()).await.unwrap();
        assert_eq!(layout1_rows(&store).await, 0);
        check(&db, &fixture).await;
        drop((db, store));
        let db = Db::open(RedbStore::open(&path).unwrap()).await;
        check(&db.unwrap(), &fixture).await;
    });
}

#[test]
fn a_layout_this_build_does_not_know_is_refused_and_left_as_it_is() {
    block_on(async {
        // A later layout's key record is its seed followed by the layout.
        let key = [[7u8; 32].as_slice(), &[6]].concat();
        for (unknown, key) in
            [(vec![6u8], Some(key.clone())), (vec![6u8], Some(vec![7; 20])), (vec![], None), (vec![2, 0], None)]
        {
            let store = MemoryStore::new();
            let mut tx = store.begin(Mode::Write).await.unwrap();
            tx.put(Table::Meta, b"layout", &unknown).await.unwrap();
            if let Some(key) = &key {
                tx.put(Table::Meta, b"signing-key", key).await.unwrap();
            }
            tx.put(Table::LegacyHeads, b"Book\0x", b"rows of a layout this build cannot read").await.unwrap();
            tx.commit().await.unwrap();
            let err = Db::open(store.clone()).await.err().expect("refused");
            assert_eq!(err.code(), "STALE", "{err}");
            let mut tx = store.begin(Mode::Read).await.unwrap();
            assert_eq!(tx.get(Table::Meta, b"layout").await.unwrap(), Some(unknown.clone()));
            assert_eq!(tx.get(Table::Meta, b"signing-key").await.unwrap(), key, "the key as it was");
            assert_eq!(layout1_rows(&store).await, 1, "nothing moved or cleared");
        }
    });
}

#[test]
fn layout1_rows_of_no_document_are_cleared_too() {
    block_on(async {
        let store = MemoryStore::new();
        let mut tx = store.begin(Mode::Write).await.unwrap();
        tx.put(Table::LegacyHeads, b"Book\0x", b"\x80").await.unwrap();
        tx.put(Table::LegacyIndex, b"Book\0title\0x", b"").await.unwrap();
        tx.commit().await.unwrap();
        Db::open(store.clone()).await.unwrap();
        assert_eq!(layout1_rows(&store).await, 0);
    });
}

/// A layout-4 database opens with its signing key (the author key its
/// blocks name), documents, heads, queries and blocks; its key's record is
/// rewritten as layout 5's (the seed, then the layout), and it takes writes
/// and opens again with the same key and schemas, a hook's row among the
/// schemas notwithstanding.
async fn layout4_opens_migrated<S: Store + Clone>(store: S) {
    let fixture: Value = serde_json::from_str(include_str!("fixtures/layout4.json")).unwrap();
    write_packed(&store, &fixture).await;
    // A row a commit hook of layout 4 could write: among what layout 5's
    // open reads, where it is taken for no schema.
    let mut tx = store.begin(Mode::Write).await.unwrap();
    tx.put(Table::Meta, b"settings", b"not a schema").await.unwrap();
    tx.commit().await.unwrap();
    let expect = &fixture["expect"];
    let seed = {
        let meta = fixture["tables"]["meta"].as_array().unwrap();
        let row = meta.iter().find(|r| r[0] == hex(b"signing-key")).unwrap();
        unhex(row[1].as_str().unwrap())
    };
    assert_eq!(seed.len(), 32, "layout 4 stored the seed alone");
    let db = Db::open(store.clone()).await.unwrap();
    assert_eq!(json!(db.author_key()), expect["author"], "the same signing key");
    for (id, doc) in expect["books"].as_object().unwrap() {
        assert_eq!(json!(db.get("Book", id).await.unwrap()), *doc, "document {id}");
        let heads: Vec<String> = db.heads("Book", id).await.unwrap().iter().map(|c| c.to_string()).collect();
        assert_eq!(json!(heads), expect["heads"][id], "heads of {id}");
    }
    assert_eq!(db.get("Book", expect["deleted"].as_str().unwrap()).await.unwrap(), None);
    let note = &expect["note"];
    assert_eq!(json!(db.get("Note", note[0].as_str().unwrap()).await.unwrap()), note[1]);
    let t1b = json!({"filter": {"title": {"_eq": "t1b"}}});
    assert_eq!(json!(db.find("Book", &t1b).await.unwrap()), expect["queries"]["t1b"]);
    let ordered = json!({"filter": {"pages": {"_ge": 10}}, "order": {"pages": "ASC"}});
    assert_eq!(json!(db.find("Book", &ordered).await.unwrap()), expect["queries"]["pages_ge_10"]);
    assert_eq!(json!(db.export().await.unwrap().len()), expect["blocks"]);
    let mut tx = store.begin(Mode::Read).await.unwrap();
    assert_eq!(tx.get(Table::Meta, b"layout").await.unwrap(), Some(vec![5]));
    assert_eq!(tx.get(Table::Meta, b"signing-key").await.unwrap(), Some([&seed[..], &[5]].concat()));
    drop(tx);
    let id = db.create("Book", json!({"title": "after"}).as_object().unwrap()).await.unwrap();
    drop(db);
    let db = Db::open(store.clone()).await.unwrap();
    assert_eq!(json!(db.author_key()), expect["author"], "the same key after the move");
    assert_eq!(db.collections().len(), 2, "both schemas");
    assert_eq!(db.get("Book", &id).await.unwrap().unwrap()["title"], "after");
    assert_eq!(json!(db.export().await.unwrap().len()), json!(expect["blocks"].as_u64().unwrap() + 1));
}

#[test]
fn a_layout4_database_opens_migrated_in_memory() {
    block_on(layout4_opens_migrated(MemoryStore::new()));
}

#[test]
fn a_layout4_database_opens_migrated_on_redb() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path().join("db.redb")).unwrap();
    block_on(layout4_opens_migrated(store));
}

/// A signing key's record that is not its layout's form is refused as
/// corrupt (`STORAGE`) and left as it is: before layout 5 the seed alone,
/// 32 bytes; from it the seed, then the layout. (A record of this build's
/// form names the layout itself: an open that finds one reads no `layout`.)
#[test]
fn a_signing_key_record_of_the_wrong_form_is_refused() {
    block_on(async {
        let seed_then = |b: u8| [[7u8; 32].as_slice(), &[b]].concat();
        for (layout, key) in
            [(4u8, vec![7; 31]), (4, vec![7; 40]), (4, seed_then(4)), (5, vec![7; 32]), (5, seed_then(4))]
        {
            let store = MemoryStore::new();
            let mut tx = store.begin(Mode::Write).await.unwrap();
            tx.put(Table::Meta, b"signing-key", &key).await.unwrap();
            tx.put(Table::Meta, b"layout", &[layout]).await.unwrap();
            tx.commit().await.unwrap();
            let err = Db::open(store.clone()).await.err().expect("refused");
            assert_eq!(err.code(), "STORAGE", "layout {layout}, {} bytes: {err}", key.len());
            assert!(err.to_string().contains("corrupt signing key"), "{err}");
            let mut tx = store.begin(Mode::Read).await.unwrap();
            assert_eq!(tx.get(Table::Meta, b"signing-key").await.unwrap(), Some(key.clone()));
            assert_eq!(tx.get(Table::Meta, b"layout").await.unwrap(), Some(vec![layout]));
        }
    });
}
