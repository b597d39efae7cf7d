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
