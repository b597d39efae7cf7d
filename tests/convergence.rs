//! Convergence: replicas that make concurrent creates, updates and deletes
//! and then receive each other's blocks in random order, with duplicates,
//! end with equal documents and equal heads.
#![cfg(not(target_arch = "wasm32"))]

use futures::executor::block_on;
use proptest::prelude::*;
use serde_json::{json, Map, Value};
use weftdb::store::MemoryStore;
use weftdb::Db;

const SDL: &str = "type Book { title: String! @index pages: Int @index rating: Float tags: [String] }";

#[derive(Debug, Clone)]
enum Op {
    Create {
        title: u8,
        pages: i64,
    },
    Update {
        doc: usize,
        pages: Option<i64>,
        title: Option<u8>,
    },
    Delete {
        doc: usize,
    },
    /// Replica `from` hands a random part of its blocks to this replica.
    Sync {
        from: usize,
        take: usize,
        seed: u64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0u8..5, 0i64..1000).prop_map(|(title, pages)| Op::Create { title, pages }),
        5 => (0usize..64, proptest::option::of(0i64..1000), proptest::option::of(0u8..5))
            .prop_map(|(doc, pages, title)| Op::Update { doc, pages, title }),
        1 => (0usize..64).prop_map(|doc| Op::Delete { doc }),
        2 => (0usize..8, 0usize..50, any::<u64>()).prop_map(|(from, take, seed)| Op::Sync { from, take, seed }),
    ]
}

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

/// A small deterministic shuffle so that proptest controls every choice.
fn shuffle<T>(items: &mut [T], mut seed: u64) {
    for i in (1..items.len()).rev() {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        items.swap(i, (seed >> 33) as usize % (i + 1));
    }
}

async fn ids(db: &Db<MemoryStore>) -> Vec<String> {
    db.find("Book", &json!({})).await.unwrap().into_iter().map(|d| d["_id"].as_str().unwrap().to_owned()).collect()
}

/// Delivers `blocks` to `db`, some one by one and the rest in one import.
async fn deliver(db: &Db<MemoryStore>, mut blocks: Vec<Vec<u8>>, seed: u64) {
    let dup = blocks.iter().step_by(3).cloned().collect::<Vec<_>>();
    blocks.extend(dup);
    shuffle(&mut blocks, seed);
    let split = blocks.len() / 2;
    for b in &blocks[..split] {
        db.import(std::slice::from_ref(b)).await.unwrap();
    }
    db.import(&blocks[split..]).await.unwrap();
}

async fn run(replicas: usize, ops: Vec<(usize, Op)>, final_seed: u64) {
    let dbs: Vec<Db<MemoryStore>> = futures::future::join_all((0..replicas).map(|_| Db::open(MemoryStore::new())))
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    for db in &dbs {
        db.add_schema(SDL).await.unwrap();
    }
    for (r, op) in ops {
        let db = &dbs[r % replicas];
        match op {
            Op::Create { title, pages } => {
                db.create("Book", &obj(json!({"title": format!("t{title}"), "pages": pages}))).await.unwrap();
            }
            Op::Update { doc, pages, title } => {
                let ids = ids(db).await;
                if ids.is_empty() {
                    continue;
                }
                let mut patch = Map::new();
                if let Some(p) = pages {
                    patch.insert("pages".into(), json!(p));
                }
                if let Some(t) = title {
                    patch.insert("title".into(), json!(format!("t{t}")));
                }
                if patch.is_empty() {
                    patch.insert("tags".into(), json!(["x"]));
                }
                db.update("Book", &ids[doc % ids.len()], &patch).await.unwrap();
            }
            Op::Delete { doc } => {
                let ids = ids(db).await;
                if !ids.is_empty() {
                    db.delete("Book", &ids[doc % ids.len()]).await.unwrap();
                }
            }
            Op::Sync { from, take, seed } => {
                let mut blocks = dbs[from % replicas].export().await.unwrap();
                shuffle(&mut blocks, seed);
                blocks.truncate(take);
                deliver(db, blocks, seed).await;
            }
        }
    }
    // Everyone receives everything, in a different order each.
    for (i, db) in dbs.iter().enumerate() {
        let mut all = Vec::new();
        for other in &dbs {
            all.extend(other.export().await.unwrap());
        }
        deliver(db, all, final_seed ^ i as u64).await;
        assert_eq!(db.pending_count().await.unwrap(), 0, "no block waits once all are delivered");
    }
    let first = &dbs[0];
    let docs = first.find("Book", &json!({"order": {"_id": "ASC"}})).await.unwrap();
    let mut all_blocks = first.export().await.unwrap();
    all_blocks.sort();
    for db in &dbs[1..] {
        assert_eq!(db.find("Book", &json!({"order": {"_id": "ASC"}})).await.unwrap(), docs);
        let mut blocks = db.export().await.unwrap();
        blocks.sort();
        assert_eq!(blocks, all_blocks);
    }
    // Equal heads for every document, deleted ones included, and indexes
    // that agree with a full scan.
    for b in &all_blocks {
        let block = weftdb::core::block::SignedBlock::decode(b, None).unwrap();
        let id = block.doc().to_string();
        let heads = first.heads("Book", &id).await.unwrap();
        for db in &dbs[1..] {
            assert_eq!(db.heads("Book", &id).await.unwrap(), heads);
        }
    }
    for db in &dbs {
        for doc in &docs {
            let by_index = db.find("Book", &json!({"filter": {"pages": {"_eq": doc["pages"]}}})).await.unwrap();
            assert!(by_index.contains(doc), "the pages index finds {doc:?}");
            let by_title = db.count("Book", &json!({"filter": {"title": {"_eq": doc["title"]}}})).await.unwrap();
            let scanned = docs.iter().filter(|d| d["title"] == doc["title"]).count();
            assert_eq!(by_title, scanned, "the title index agrees with a scan");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn replicas_converge(replicas in 3usize..=5, ops in proptest::collection::vec((0usize..5, op()), 1..40), seed in any::<u64>()) {
        block_on(run(replicas, ops, seed));
    }
}
