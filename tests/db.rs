//! The database's behaviour on the memory store: the write path, errors
//! that change nothing, queries through indexes, merge and pending blocks.
#![cfg(not(target_arch = "wasm32"))]

use std::cell::RefCell;
use std::rc::Rc;

use futures::executor::block_on;
use serde_json::{json, Map, Value};
use weftdb::db::Commit;
use weftdb::store::MemoryStore;
use weftdb::{ChangeKind, Db};

const SDL: &str = "
type Book {
  title: String! @index
  pages: Int @index
  rating: Float
  read: Boolean
  tags: [String]
  meta: JSON
  published: DateTime
}";

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().expect("an object").clone()
}

async fn books() -> Db<MemoryStore> {
    let db = Db::open(MemoryStore::new()).await.unwrap();
    assert_eq!(db.add_schema(SDL).await.unwrap(), vec!["Book"]);
    db
}

async fn snapshot(db: &Db<MemoryStore>) -> (Vec<Map<String, Value>>, Vec<Vec<u8>>) {
    (db.find("Book", &json!({})).await.unwrap(), db.export().await.unwrap())
}

#[test]
fn create_get_update_delete() {
    block_on(async {
        let db = books().await;
        let id = db.create("Book", &obj(json!({"title": "Dune", "pages": 412}))).await.unwrap();
        assert_eq!(db.get("Book", &id).await.unwrap().unwrap(), obj(json!({"_id": id, "title": "Dune", "pages": 412})));
        let first_heads = db.heads("Book", &id).await.unwrap();
        assert_eq!(first_heads.len(), 1);
        assert_eq!(first_heads[0].to_string(), id, "the id is the genesis block's CID");

        db.update("Book", &id, &obj(json!({"pages": 413, "published": "2024-01-02T03:04:05+02:00"}))).await.unwrap();
        let doc = db.get("Book", &id).await.unwrap().unwrap();
        assert_eq!(doc["pages"], 413);
        assert_eq!(doc["title"], "Dune", "a partial update keeps the other fields");
        assert_eq!(doc["published"], "2024-01-02T01:04:05.000Z");
        let heads = db.heads("Book", &id).await.unwrap();
        assert_eq!(heads.len(), 1);
        assert_ne!(heads, first_heads);

        db.delete("Book", &id).await.unwrap();
        assert_eq!(db.get("Book", &id).await.unwrap(), None);
        assert_eq!(db.count("Book", &json!({})).await.unwrap(), 0);
        assert_eq!(db.export().await.unwrap().len(), 3, "the delete is a block too");
    });
}

#[test]
fn refused_writes_change_nothing() {
    block_on(async {
        let db = books().await;
        let id = db.create("Book", &obj(json!({"title": "Dune"}))).await.unwrap();
        let before = snapshot(&db).await;
        let cases: Vec<(&str, Value)> = vec![
            ("VALIDATION", json!({"pages": 1})),                    // missing required title
            ("VALIDATION", json!({"title": "X", "pages": "many"})), // wrong type
            ("VALIDATION", json!({"title": "X", "pages": 1.5})),    // not an Int
            ("VALIDATION", json!({"title": "X", "colour": "red"})), // unknown field
            ("VALIDATION", json!({"title": "X", "_id": "mine"})),   // ids are ours to give
            ("VALIDATION", json!({"title": "X", "published": "yesterday"})),
        ];
        for (code, input) in cases {
            let err = db.create("Book", &obj(input.clone())).await.unwrap_err();
            assert_eq!(err.code(), code, "{input}: {err}");
        }
        let err = db.create_many("Book", &[obj(json!({"title": "ok"})), obj(json!({"pages": 2}))]).await.unwrap_err();
        assert_eq!(err.code(), "VALIDATION", "one bad document refuses the batch");
        assert_eq!(db.update("Book", &id, &obj(json!({"title": null}))).await.unwrap_err().code(), "VALIDATION");
        assert_eq!(db.update("Book", &id, &obj(json!({"nope": 1}))).await.unwrap_err().code(), "VALIDATION");
        assert_eq!(db.create("Movie", &obj(json!({"title": "X"}))).await.unwrap_err().code(), "UNKNOWN_COLLECTION");
        assert_eq!(
            db.update("Book", "bafy-not-an-id", &obj(json!({"pages": 1}))).await.unwrap_err().code(),
            "NOT_FOUND"
        );
        assert_eq!(db.add_schema("type Book { x: Int }").await.unwrap_err().code(), "SCHEMA_INVALID");
        assert_eq!(db.add_schema("type A { x: Int } type B { y: Nope }").await.unwrap_err().code(), "SCHEMA_INVALID");
        let report = db.import(&[b"not cbor".to_vec()]).await.unwrap();
        assert_eq!((report.merged, report.refused[0].code), (0, "BLOCK_INVALID"));
        assert_eq!(snapshot(&db).await, before);
        assert_eq!(db.collections().len(), 1, "a refused schema adds no collection");

        db.delete("Book", &id).await.unwrap();
        let err = db.update("Book", &id, &obj(json!({"pages": 1}))).await.unwrap_err();
        assert_eq!(err.code(), "NOT_FOUND");
        assert!(err.to_string().contains("deleted"), "{err}");
        assert_eq!(db.delete("Book", &id).await.unwrap_err().code(), "NOT_FOUND");
    });
}

/// A bulk create of more than one pack (each pack written as the next is
/// signed) tells each document once, in the order given.
#[test]
fn a_bulk_create_tells_each_document_once_in_order() {
    block_on(async {
        let db = books().await;
        let heard = Rc::new(RefCell::new(Vec::new()));
        let h = heard.clone();
        db.subscribe(move |c| h.borrow_mut().push((c.kind, c.id.clone(), c.doc.as_ref().map(|d| d["pages"].clone()))));
        let docs: Vec<_> = (0..300).map(|i| obj(json!({"title": format!("Book {i}"), "pages": i}))).collect();
        let ids = db.create_many("Book", &docs).await.unwrap();
        let want: Vec<_> =
            ids.iter().enumerate().map(|(i, id)| (ChangeKind::Create, id.clone(), Some(json!(i)))).collect();
        assert_eq!(*heard.borrow(), want);
    });
}

#[test]
fn queries_filter_order_and_page() {
    block_on(async {
        let db = books().await;
        let docs: Vec<_> = (0..30)
            .map(|i| obj(json!({"title": format!("Book {i:02}"), "pages": i * 10, "read": i % 2 == 0, "rating": (i % 5) as f64})))
            .collect();
        let ids = db.create_many("Book", &docs).await.unwrap();
        assert_eq!(ids.len(), 30);
        let q = json!({"filter": {"pages": {"_gt": 100}}, "order": {"title": "DESC"}, "limit": 5, "offset": 2});
        let found = db.find("Book", &q).await.unwrap();
        let titles: Vec<_> = found.iter().map(|d| d["title"].as_str().unwrap()).collect();
        assert_eq!(titles, ["Book 27", "Book 26", "Book 25", "Book 24", "Book 23"]);
        assert_eq!(db.count("Book", &json!({"filter": {"pages": {"_gt": 100}}})).await.unwrap(), 19);
        assert_eq!(db.count("Book", &json!({"filter": {"pages": {"_ge": 100, "_lt": 150}}})).await.unwrap(), 5);
        assert_eq!(db.count("Book", &json!({"filter": {"pages": {"_in": [0, 10, 11]}}})).await.unwrap(), 2);
        let q = json!({"filter": {"_or": [{"title": {"_like": "Book 0%"}}, {"rating": {"_eq": 4.0}}], "_not": {"read": {"_eq": true}}}});
        // Odd numbers among 00..09, plus odd ones with rating 4 (19, 29).
        assert_eq!(db.count("Book", &q).await.unwrap(), 5 + 2);
        let q = json!({"order": [{"rating": "DESC"}, {"pages": "ASC"}], "limit": 3});
        let found = db.find("Book", &q).await.unwrap();
        assert_eq!(found.iter().map(|d| d["pages"].as_i64().unwrap()).collect::<Vec<_>>(), [40, 90, 140]);
        assert_eq!(db.count("Book", &json!({"filter": {"_id": {"_eq": ids[3]}}})).await.unwrap(), 1);
        assert_eq!(
            db.find("Book", &json!({"filter": {"pages": {"_gt": "x"}}})).await.unwrap_err().code(),
            "VALIDATION"
        );
        assert_eq!(db.find("Book", &json!({"filter": {"nope": {"_eq": 1}}})).await.unwrap_err().code(), "VALIDATION");
    });
}

#[test]
fn indexes_follow_updates_and_deletes() {
    block_on(async {
        let db = books().await;
        let a = db.create("Book", &obj(json!({"title": "A", "pages": 1}))).await.unwrap();
        let b = db.create("Book", &obj(json!({"title": "B"}))).await.unwrap();
        let eq = |v: Value| json!({"filter": {"pages": {"_eq": v}}});
        assert_eq!(db.count("Book", &eq(json!(null))).await.unwrap(), 1, "nulls are indexed");
        db.update("Book", &a, &obj(json!({"pages": 2}))).await.unwrap();
        assert_eq!(db.count("Book", &eq(json!(1))).await.unwrap(), 0);
        assert_eq!(db.count("Book", &eq(json!(2))).await.unwrap(), 1);
        db.update("Book", &b, &obj(json!({"pages": 2}))).await.unwrap();
        assert_eq!(db.count("Book", &eq(json!(2))).await.unwrap(), 2);
        assert_eq!(db.count("Book", &eq(json!(null))).await.unwrap(), 0);
        db.delete("Book", &a).await.unwrap();
        assert_eq!(db.find("Book", &eq(json!(2))).await.unwrap()[0]["_id"], b.as_str());
        assert_eq!(db.count("Book", &json!({"filter": {"pages": {"_ge": 0}}})).await.unwrap(), 1);
    });
}

#[test]
fn blocks_with_missing_parents_wait() {
    block_on(async {
        let a = books().await;
        let id = a.create("Book", &obj(json!({"title": "Dune"}))).await.unwrap();
        a.update("Book", &id, &obj(json!({"pages": 1}))).await.unwrap();
        a.update("Book", &id, &obj(json!({"pages": 2}))).await.unwrap();
        let blocks = a.export().await.unwrap();
        let mut by_height: Vec<_> = blocks
            .iter()
            .map(|b| (weftdb::core::block::SignedBlock::decode(b, None).unwrap().block.height, b.clone()))
            .collect();
        by_height.sort();

        let b = books().await;
        let events = Rc::new(RefCell::new(Vec::new()));
        let seen = events.clone();
        b.subscribe(move |c| seen.borrow_mut().push((c.kind, c.doc.clone())));
        let cid_of = |i: usize| weftdb::core::block::cid_of(&by_height[i].1);
        let report = b.import(&[by_height[2].1.clone()]).await.unwrap();
        assert_eq!(report.pending, 1);
        assert_eq!(report.missing, [cid_of(1)], "the parent to fetch");
        assert_eq!(b.get("Book", &id).await.unwrap(), None, "nothing is applied half-way");
        let report = b.import(&[by_height[1].1.clone()]).await.unwrap();
        assert_eq!(report.missing, [cid_of(0)], "then the genesis");
        assert_eq!(b.pending_count().await.unwrap(), 2);
        assert!(events.borrow().is_empty());
        let report = b.import(&[by_height[0].1.clone()]).await.unwrap();
        assert_eq!((report.merged, report.pending), (3, 0));
        assert_eq!(b.get("Book", &id).await.unwrap(), a.get("Book", &id).await.unwrap());
        assert_eq!(b.heads("Book", &id).await.unwrap(), a.heads("Book", &id).await.unwrap());
        assert_eq!(b.pending_count().await.unwrap(), 0);
        assert_eq!(events.borrow()[0].0, ChangeKind::Create);
        assert_eq!(events.borrow().last().unwrap().1.as_ref().unwrap()["pages"], 2);
        let again = b.import(&blocks).await.unwrap();
        assert_eq!(again.duplicate, 3, "duplicates are recognised");

        // Blocks hanging from a parent nobody has are dropped, with what
        // hangs from them; they can still come back with their history.
        let c = books().await;
        c.import(&[by_height[2].1.clone(), by_height[1].1.clone()]).await.unwrap();
        assert_eq!(c.pending_count().await.unwrap(), 2);
        assert_eq!(c.drop_pending(&[cid_of(1)]).await.unwrap().len(), 1, "only what waits on that parent");
        assert_eq!(c.drop_pending(&[cid_of(0)]).await.unwrap().len(), 1);
        assert_eq!(c.pending_count().await.unwrap(), 0);
        let report = c.import(&blocks).await.unwrap();
        assert_eq!((report.merged, report.duplicate, report.pending), (3, 0, 0));
        assert_eq!(c.get("Book", &id).await.unwrap(), a.get("Book", &id).await.unwrap());
    });
}

#[test]
fn concurrent_edits_merge_to_two_heads_and_one_winner() {
    block_on(async {
        let a = books().await;
        let b = books().await;
        let id = a.create("Book", &obj(json!({"title": "Dune", "pages": 1}))).await.unwrap();
        b.import(&a.export().await.unwrap()).await.unwrap();
        a.update("Book", &id, &obj(json!({"pages": 2}))).await.unwrap();
        b.update("Book", &id, &obj(json!({"pages": 3, "read": true}))).await.unwrap();
        a.import(&b.export().await.unwrap()).await.unwrap();
        b.import(&a.export().await.unwrap()).await.unwrap();
        assert_eq!(a.heads("Book", &id).await.unwrap().len(), 2);
        assert_eq!(a.heads("Book", &id).await.unwrap(), b.heads("Book", &id).await.unwrap());
        let doc = a.get("Book", &id).await.unwrap().unwrap();
        assert_eq!(Some(doc.clone()), b.get("Book", &id).await.unwrap());
        assert_eq!(doc["read"], true, "fields written on one side only are kept");
        // The next write on either side joins both heads.
        a.update("Book", &id, &obj(json!({"pages": 4}))).await.unwrap();
        assert_eq!(a.heads("Book", &id).await.unwrap().len(), 1);
    });
}

#[test]
fn forged_and_inconsistent_blocks_are_refused() {
    block_on(async {
        let a = books().await;
        let id = a.create("Book", &obj(json!({"title": "Dune"}))).await.unwrap();
        let mut blocks = a.export().await.unwrap();
        let b = books().await;
        let last = blocks[0].len() - 1;
        blocks[0][last] ^= 1; // a flipped bit
        assert_eq!(b.import(&blocks).await.unwrap().refused[0].code, "BLOCK_INVALID");
        assert_eq!(b.get("Book", &id).await.unwrap(), None);
        // A block whose fields do not fit the schema, properly signed: a
        // schema that differs here, not a forgery.
        let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
        let bad = weftdb::core::block::Block::genesis("Book", obj(json!({"title": 5})), [0; 8], &key);
        assert_eq!(b.import(&[bad.bytes]).await.unwrap().refused[0].code, "VALIDATION");
        // A change that lies about its height.
        let genesis = a.export().await.unwrap();
        let g = weftdb::core::block::SignedBlock::decode(&genesis[0], None).unwrap();
        let lie =
            weftdb::core::block::Block::change("Book", g.cid, vec![g.cid], 7, obj(json!({"pages": 1})), false, &key);
        b.import(&genesis).await.unwrap();
        assert_eq!(b.import(&[lie.bytes]).await.unwrap().refused[0].code, "BLOCK_INVALID");
        assert_eq!(b.heads("Book", &id).await.unwrap(), a.heads("Book", &id).await.unwrap());
    });
}

#[test]
fn the_blocks_another_replica_lacks_are_exactly_the_difference() {
    block_on(async {
        let a = books().await;
        let b = books().await;
        let id = a.create("Book", &obj(json!({"title": "Dune"}))).await.unwrap();
        for i in 0..3 {
            a.update("Book", &id, &obj(json!({"pages": i}))).await.unwrap();
        }
        b.import(&a.export().await.unwrap()).await.unwrap();
        for i in 0..5 {
            a.update("Book", &id, &obj(json!({"pages": 10 + i}))).await.unwrap();
        }
        let b_heads = b.collection_heads("Book", None).await.unwrap();
        let theirs: Vec<_> = b_heads[&id].iter().map(|h| h.0).collect();
        let missing = a.blocks_missing_from("Book", &id, &theirs).await.unwrap();
        assert_eq!(missing.len(), 5);
        for (cid, _) in &missing {
            assert_eq!(b.has_blocks(&[*cid]).await.unwrap(), [false]);
        }
        // Parents first: merging one by one never waits.
        for (cid, bytes) in missing {
            let report = b.merge(cid, &bytes).await.unwrap();
            assert_eq!((report.merged, report.pending), (1, 0));
        }
        assert_eq!(b.get("Book", &id).await.unwrap(), a.get("Book", &id).await.unwrap());
        assert!(a.blocks_missing_from("Book", &id, &b.heads("Book", &id).await.unwrap()).await.unwrap().is_empty());
        // A replica that knows nothing gets the whole history.
        assert_eq!(a.blocks_missing_from("Book", &id, &[]).await.unwrap().len(), 9);
    });
}

/// The walk of many documents at once (head exchange) finds for each
/// exactly what the walk of that document alone finds: documents the other
/// side never saw, documents it is behind on, level with, or ahead of
/// (theirs unknown here), blocks written alone and many in one pack.
#[test]
fn the_walk_of_many_documents_is_each_documents_walk() {
    block_on(async {
        let a = books().await;
        let b = books().await;
        let titles: Vec<_> = (0..6).map(|i| obj(json!({"title": format!("t{i}")}))).collect();
        let ids = a.create_many("Book", &titles).await.unwrap();
        b.import(&a.export().await.unwrap()).await.unwrap();
        for (n, id) in ids.iter().enumerate() {
            for i in 0..n {
                a.update("Book", id, &obj(json!({"pages": i}))).await.unwrap();
            }
        }
        // One that b wrote and a never saw, one new to b.
        b.update("Book", &ids[5], &obj(json!({"title": "b's"}))).await.unwrap();
        let fresh = a.create("Book", &obj(json!({"title": "new"}))).await.unwrap();
        let b_heads = b.collection_heads("Book", None).await.unwrap();
        let mut docs = Vec::new();
        let mut alone = Vec::new();
        for id in ids.iter().chain([&fresh]) {
            let ours = a.heads("Book", id).await.unwrap();
            let theirs: Vec<_> = b_heads.get(id).map(|h| h.iter().map(|h| h.0).collect()).unwrap_or_default();
            alone.push(a.blocks_missing_from("Book", id, &theirs).await.unwrap());
            docs.push((ours, theirs));
        }
        let each = a.blocks_missing_from_each(&docs, 0).await.unwrap();
        assert_eq!(each, alone);
        // The same when the walk reads every pack first.
        assert_eq!(a.blocks_missing_from_each(&docs, 1_000).await.unwrap(), each);
        let counts: Vec<usize> = each.iter().map(Vec::len).collect();
        assert_eq!(counts, [0, 1, 2, 3, 4, 6, 1]);
    });
}

/// The walk sends exactly what the other side lacks: every block of ours
/// that is not one of their heads or below one, over histories with
/// concurrent branches and merges on both sides, whichever side is ahead,
/// reckoned here from the blocks' parents alone (the walk reads their side
/// only as deep as heights say it must).
#[test]
fn the_walk_finds_what_the_other_side_lacks_and_nothing_else() {
    block_on(async {
        let a = books().await;
        let b = books().await;
        let titles: Vec<_> = (0..8).map(|i| obj(json!({"title": format!("t{i}")}))).collect();
        let ids = a.create_many("Book", &titles).await.unwrap();
        b.import(&a.export().await.unwrap()).await.unwrap();
        for round in 0..8usize {
            for (n, id) in ids.iter().enumerate() {
                if (n + round) % 2 == 0 {
                    a.update("Book", id, &obj(json!({"pages": round}))).await.unwrap();
                }
                if (n * round) % 3 == 1 {
                    b.update("Book", id, &obj(json!({"title": format!("b{round}")}))).await.unwrap();
                }
            }
            match round % 4 {
                1 => b.import(&a.export().await.unwrap()).await.map(|_| ()).unwrap(),
                3 => a.import(&b.export().await.unwrap()).await.map(|_| ()).unwrap(),
                _ => {}
            }
        }
        // A long branch of a's beside a short one of b's, which a merges:
        // a merge block whose parents' heights are far apart.
        for k in 0..20 {
            a.update("Book", &ids[0], &obj(json!({"pages": 200 + k}))).await.unwrap();
        }
        for k in 0..2 {
            b.update("Book", &ids[0], &obj(json!({"title": format!("short {k}")}))).await.unwrap();
        }
        a.import(&b.export().await.unwrap()).await.unwrap();
        a.update("Book", &ids[0], &obj(json!({"pages": 300}))).await.unwrap();
        // Last, a gets ahead on some (one or more changes), and b on some:
        // heads of theirs that a does not know.
        for (n, id) in ids.iter().enumerate() {
            for k in 0..n % 3 {
                a.update("Book", id, &obj(json!({"pages": 100 + k}))).await.unwrap();
            }
            if n % 4 == 1 {
                b.update("Book", id, &obj(json!({"title": "b last"}))).await.unwrap();
            }
        }
        let mut parents = std::collections::HashMap::new();
        for bytes in a.export().await.unwrap() {
            let block = weftdb::core::block::SignedBlock::decode(&bytes, None).unwrap();
            parents.insert(block.cid, block.block.parents.clone());
        }
        let below = |heads: &[cid::Cid]| {
            let mut all = std::collections::HashSet::new();
            let mut stack: Vec<cid::Cid> = heads.iter().copied().filter(|c| parents.contains_key(c)).collect();
            while let Some(c) = stack.pop() {
                if all.insert(c) {
                    stack.extend(parents[&c].iter().copied());
                }
            }
            all
        };
        let mut sent = 0;
        let mut docs = Vec::new();
        let mut each = Vec::new();
        for id in &ids {
            let (ours, theirs) = (a.heads("Book", id).await.unwrap(), b.heads("Book", id).await.unwrap());
            docs.push((ours.clone(), theirs.clone()));
            let walked = a.blocks_missing_from("Book", id, &theirs).await.unwrap();
            each.push(walked.clone());
            let theirs_below = below(&theirs);
            let mut want: Vec<cid::Cid> = below(&ours).difference(&theirs_below).copied().collect();
            let mut got: Vec<cid::Cid> = walked.iter().map(|(c, _)| *c).collect();
            // Parents before children: each block's parents are theirs or sent before it.
            let mut before = theirs_below.clone();
            for c in &got {
                assert!(parents[c].iter().all(|p| before.contains(p)), "a block before its parents");
                before.insert(*c);
            }
            want.sort();
            got.sort();
            assert_eq!(got, want, "document {id}");
            sent += got.len();
        }
        assert!(sent > 2 * ids.len(), "the histories differ: {sent} blocks to send");
        // All the documents in one walk, block by block and all packs read first.
        assert_eq!(a.blocks_missing_from_each(&docs, 0).await.unwrap(), each);
        assert_eq!(a.blocks_missing_from_each(&docs, 10_000).await.unwrap(), each);
    });
}

/// Rows a commit hook returns are written in the transaction of the block
/// that asked for them: present once the write returns, for local writes and
/// merges alike, and absent when the write is refused.
#[test]
fn commit_hook_rows_commit_with_their_blocks() {
    use weftdb::store::{KeyRange, Mode, Store, Table, Tx};
    block_on(async {
        let db = books().await;
        let done = std::rc::Rc::new(std::cell::Cell::new(0));
        let seen = done.clone();
        db.on_commit(move |stage, m| match stage {
            Commit::Writing => {
                vec![(Table::Meta, [b"hook/".as_slice(), &m.cid.to_bytes()].concat(), m.doc.clone().into())]
            }
            // Told again once durable; rows returned now are not written.
            Commit::Done => {
                seen.set(seen.get() + 1);
                vec![(Table::Meta, b"hook/after".to_vec(), vec![])]
            }
        });
        let hooked = |db: &Db<MemoryStore>| {
            let store = db.store().clone();
            async move {
                let mut tx = store.begin(Mode::Read).await.unwrap();
                tx.scan(Table::Meta, &KeyRange::prefix(b"hook/"), None).await.unwrap()
            }
        };
        let id = db.create("Book", &obj(json!({"title": "Dune"}))).await.unwrap();
        db.update("Book", &id, &obj(json!({"pages": 412}))).await.unwrap();
        let rows = hooked(&db).await;
        assert_eq!(rows.len(), 2);
        assert!(rows.iter().all(|(_, v)| v == id.as_bytes()));
        assert_eq!(done.get(), 2, "each block is told again once committed");

        assert!(db.create("Book", &obj(json!({"title": 7}))).await.is_err());
        assert!(db.update("Book", &id, &obj(json!({"nope": 1}))).await.is_err());
        assert_eq!(hooked(&db).await.len(), 2, "a refused write adds no hook rows");
        assert_eq!(done.get(), 2, "nor is it told as committed");

        let other = books().await;
        other.on_commit(|_, m| vec![(Table::Meta, [b"hook/".as_slice(), &m.cid.to_bytes()].concat(), vec![])]);
        other.import(&db.export().await.unwrap()).await.unwrap();
        assert_eq!(hooked(&other).await.len(), 2, "merged blocks call the hook too");

        // Between the schemas and the signing key is what an open reads:
        // a hook's row there is refused, with its write, and the database
        // still opens.
        let third = books().await;
        third.on_commit(|_, _| vec![(Table::Meta, b"settings".to_vec(), b"{}".to_vec())]);
        let err = third.create("Book", &obj(json!({"title": "Emma"}))).await.unwrap_err();
        assert_eq!(err.code(), "STORAGE", "{err}");
        assert!(err.to_string().contains("schema/ to signing-key"), "{err}");
        assert_eq!(third.count("Book", &json!({})).await.unwrap(), 0, "the write is not made");
        let store = third.store().clone();
        drop(third);
        let reopened = Db::open(store).await.unwrap();
        assert_eq!(reopened.collections().len(), 1);
    });
}

/// Round trips of imports, counted by a store that wraps the memory store.
mod round_trips {
    use std::cell::Cell;
    use std::rc::Rc;

    use ed25519_dalek::SigningKey;
    use futures::executor::block_on;
    use serde_json::{json, Map, Value};
    use weftdb::core::block::{Block, SignedBlock};
    use weftdb::store::{Entries, KeyRange, MemoryStore, Mode, Notices, Store, StoreError, Table, Tx};
    use weftdb::Db;

    #[derive(Clone, Default)]
    struct Counting {
        inner: MemoryStore,
        trips: Rc<Cell<usize>>,
    }

    struct CountingTx<'a> {
        inner: <MemoryStore as Store>::Tx<'a>,
        trips: Rc<Cell<usize>>,
    }

    thread_local! {
        /// Requests made, a key each (IndexedDB's cost is per request).
        static REQUESTS: Cell<usize> = const { Cell::new(0) };
        /// Rows scans returned.
        static SCANNED: Cell<usize> = const { Cell::new(0) };
    }

    fn requests() -> usize {
        REQUESTS.with(Cell::get)
    }

    fn scanned() -> usize {
        SCANNED.with(Cell::get)
    }

    impl CountingTx<'_> {
        fn trip(&self) {
            self.trips.set(self.trips.get() + 1);
        }

        fn asked(&self, n: usize) {
            REQUESTS.with(|r| r.set(r.get() + n));
        }
    }

    impl Store for Counting {
        type Tx<'a> = CountingTx<'a>;
        async fn begin(&self, mode: Mode) -> Result<CountingTx<'_>, StoreError> {
            Ok(CountingTx { inner: self.inner.begin(mode).await?, trips: self.trips.clone() })
        }
        fn notices(&self) -> Option<Notices> {
            self.inner.notices()
        }
    }

    impl Tx for CountingTx<'_> {
        async fn get(&mut self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
            self.trip();
            self.asked(1);
            self.inner.get(table, key).await
        }
        async fn get_many(&mut self, table: Table, keys: &[Vec<u8>]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
            self.trip();
            self.asked(keys.len());
            self.inner.get_many(table, keys).await
        }
        async fn get_each(&mut self, reads: &[(Table, Vec<u8>)]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
            self.trip();
            self.asked(reads.len());
            self.inner.get_each(reads).await
        }
        async fn get_each_and_keys(
            &mut self,
            reads: &[(Table, Vec<u8>)],
            tables: &[(Table, usize)],
        ) -> Result<(Vec<Option<Vec<u8>>>, Vec<Vec<Vec<u8>>>), StoreError> {
            self.trip();
            self.asked(reads.len() + tables.len());
            self.inner.get_each_and_keys(reads, tables).await
        }
        async fn put(&mut self, table: Table, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
            self.inner.put(table, key, value).await
        }
        async fn delete(&mut self, table: Table, key: &[u8]) -> Result<(), StoreError> {
            self.inner.delete(table, key).await
        }
        async fn scan(&mut self, table: Table, range: &KeyRange, limit: Option<usize>) -> Result<Entries, StoreError> {
            self.trip();
            self.asked(1);
            let rows = self.inner.scan(table, range, limit).await?;
            SCANNED.with(|s| s.set(s.get() + rows.len()));
            Ok(rows)
        }
        async fn scan_keys(
            &mut self,
            table: Table,
            range: &KeyRange,
            limit: Option<usize>,
        ) -> Result<Vec<Vec<u8>>, StoreError> {
            self.trip();
            self.asked(1);
            self.inner.scan_keys(table, range, limit).await
        }
        async fn commit(self) -> Result<(), StoreError> {
            self.inner.commit().await
        }
    }

    const BOOKS: &str = "type Book { title: String pages: Int }";
    const N: u64 = 50;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    /// A genesis and a chain of N changes on it, in height order.
    fn chain(k: &SigningKey) -> Vec<SignedBlock> {
        let g = Block::genesis("Book", obj(json!({"title": "Dune", "pages": null})), [7; 8], k);
        let mut out = vec![g.clone()];
        for h in 2..=N + 1 {
            let prev = out.last().unwrap().cid;
            out.push(Block::change("Book", g.cid, vec![prev], h, obj(json!({"pages": h})), false, k));
        }
        out
    }

    async fn fresh() -> (Db<Counting>, Rc<Cell<usize>>) {
        let store = Counting::default();
        let trips = store.trips.clone();
        let db = Db::open(store).await.unwrap();
        db.add_schema(BOOKS).await.unwrap();
        (db, trips)
    }

    /// A second handle on `db`'s store, which committed nothing: it holds
    /// no block in memory (`db::recent`), as another tab's, or after a
    /// reopen.
    async fn cold(db: &Db<Counting>) -> Db<Counting> {
        Db::open(db.store().clone()).await.unwrap()
    }

    fn bytes(bs: &[SignedBlock]) -> Vec<Vec<u8>> {
        bs.iter().map(|b| b.bytes.clone()).collect()
    }

    async fn counted(db: &Db<Counting>, trips: &Cell<usize>, blocks: &[SignedBlock]) -> (usize, weftdb::ImportReport) {
        let before = trips.get();
        let report = db.import(&bytes(blocks)).await.unwrap();
        (trips.get() - before, report)
    }

    /// An import's awaited store requests (each a round trip to IndexedDB's
    /// backend in a page) grow with the pending blocks it walks, never with
    /// the blocks it sets aside and takes back itself.
    #[test]
    fn imports_read_in_few_round_trips() {
        block_on(async {
            let k = SigningKey::from_bytes(&[5; 32]);
            let c = chain(&k);
            // A backfill in order, or in reverse (each block set aside, then
            // released by its parent in the same import): one batched read.
            let (db, trips) = fresh().await;
            let (n, r) = counted(&db, &trips, &c).await;
            assert_eq!((n, r.merged as u64), (1, N + 1));
            let (db, trips) = fresh().await;
            let mut rev = c.clone();
            rev.reverse();
            let (n, r) = counted(&db, &trips, &rev).await;
            assert_eq!((n, r.merged as u64), (1, N + 1), "was 202 before the planner");
            // One by one in reverse: each pending block costs one read; then
            // the missing one releases them all, a read a level: the pending
            // blocks that the rows waiting for a block name (the rows
            // themselves, few, are read with the records).
            let (db, trips) = fresh().await;
            counted(&db, &trips, &c[..1]).await;
            for b in c[2..].iter().rev() {
                assert_eq!(counted(&db, &trips, std::slice::from_ref(b)).await.0, 1, "was 2");
            }
            let (n, r) = counted(&db, &trips, &c[1..2]).await;
            assert_eq!(r.merged as u64, N);
            // The stored parent is the genesis, a head of the document: its
            // record (read in the first batch) says so, and its pack is not
            // read (layout 2 keeps blocks in packs, found by CID first).
            assert_eq!(
                n as u64, N,
                "was 2 N with `waiting` read under each block, 2 N + 1 with the parent's pack read, 149 for 50 before"
            );
            // With a block pending elsewhere, the stored `waiting` rows are
            // read with the records (there are few), not under each merged
            // block: the records first, then the `pending` rows (it holds
            // the orphan).
            let (db, trips) = fresh().await;
            let other = Block::genesis("Book", obj(json!({"title": "X"})), [8; 8], &k);
            let orphan = Block::change("Book", other.cid, vec![other.cid], 2, obj(json!({"pages": 1})), false, &k);
            counted(&db, &trips, &[orphan]).await;
            let (n, r) = counted(&db, &trips, &c).await;
            assert_eq!((n as u64, r.merged as u64), (2, N + 1), "was N + 3: a read of `waiting` per merged block");
            // A pending chain hanging from a block that turns out refused: the
            // refusal walks it, a read a level (the pending blocks named).
            let (db, trips) = fresh().await;
            let g = &c[0];
            counted(&db, &trips, &c[..1]).await;
            let bad = Block::change("Book", g.cid, vec![g.cid], 5, obj(json!({"pages": 1})), false, &k);
            let mut kids = vec![bad];
            for h in 6..6 + N {
                let prev = kids.last().unwrap().cid;
                kids.push(Block::change("Book", g.cid, vec![prev], h, obj(json!({"pages": h})), false, &k));
            }
            for b in kids[1..].iter().rev() {
                counted(&db, &trips, std::slice::from_ref(b)).await;
            }
            let (n, r) = counted(&db, &trips, &kids[..1]).await;
            assert_eq!((r.refused.len(), r.dropped.len() as u64), (1, N));
            assert_eq!(
                n as u64,
                N + 1,
                "was 2 N + 2 with `waiting` read under each block (the stored parent is a head: its pack is not read)"
            );
        });
    }

    /// Blocks that wait for blocks of a batch, as many as an import reads
    /// with the records ([`Db::waiting_read_at_once`]) and one more: the
    /// first are released by rows read at once (a read of the pending
    /// blocks under each parent that has any), the others by a read under
    /// each block as it merges as well (the rows are too many to read
    /// whole). Both merge every block, and leave nothing waiting.
    #[test]
    fn waiting_rows_are_read_whole_when_few_and_under_each_block_when_many() {
        block_on(async {
            let k = SigningKey::from_bytes(&[9; 32]);
            let c = chain(&k);
            let at_once = Db::<Counting>::waiting_read_at_once(c.len());
            for (many, whole) in [(at_once, true), (at_once + 1, false)] {
                let (db, trips) = fresh().await;
                // Concurrent children of the chain's blocks, each waiting for its parent.
                let kids: Vec<SignedBlock> = (0..many)
                    .map(|j| {
                        let p = &c[j % c.len()];
                        Block::change(
                            "Book",
                            c[0].cid,
                            vec![p.cid],
                            p.block.height + 1,
                            obj(json!({"title": format!("t{j}")})),
                            false,
                            &k,
                        )
                    })
                    .collect();
                let r = db.import(&bytes(&kids)).await.unwrap();
                assert_eq!((r.merged, r.pending), (0, many));
                let (n, r) = counted(&db, &trips, &c).await;
                assert_eq!((r.merged, r.pending), (c.len() + many, 0), "{many} waiting");
                // Every block of the chain has blocks waiting for it.
                match whole {
                    true => assert_eq!(n, 2 + c.len(), "{many} waiting: read with the records"),
                    false => assert!(n >= 2 * c.len(), "{many} waiting: a read under each block, {n} round trips"),
                }
                let store = db.store().clone();
                let mut tx = store.begin(Mode::Read).await.unwrap();
                for table in [Table::Waiting, Table::Pending] {
                    assert!(
                        tx.scan_keys(table, &KeyRange::all(), Some(1)).await.unwrap().is_empty(),
                        "{table:?} after {many}"
                    );
                }
            }
        });
    }

    /// A batch of new changes of documents this replica holds (a catch-up:
    /// two changes of each of 20 documents, their parents the documents'
    /// heads or in the batch) reads the documents' records, `waiting`'s
    /// first keys and whether `pending` holds anything, in one round trip: not where
    /// each block or parent is stored, nor its `pending` row (was 141
    /// requests). A block whose height is no more than its document's
    /// highest head may be stored, and is looked for.
    #[test]
    fn a_batch_of_new_changes_reads_only_their_records() {
        block_on(async {
            let k = SigningKey::from_bytes(&[6; 32]);
            let (db, trips) = fresh().await;
            let geneses: Vec<SignedBlock> =
                (0..20u8).map(|i| Block::genesis("Book", obj(json!({"title": format!("b{i}")})), [i; 8], &k)).collect();
            counted(&db, &trips, &geneses).await;
            let mut batch = Vec::new();
            for g in &geneses {
                let first = Block::change("Book", g.cid, vec![g.cid], 2, obj(json!({"pages": 2})), false, &k);
                let second = Block::change("Book", g.cid, vec![first.cid], 3, obj(json!({"pages": 3})), false, &k);
                batch.extend([first, second]);
            }
            let asked = requests();
            let (n, r) = counted(&db, &trips, &batch).await;
            assert_eq!((n, r.merged), (1, 40));
            assert_eq!(
                requests() - asked,
                20 + 2,
                "the 20 records, `waiting`'s first keys, whether `pending` holds anything"
            );
            for g in &geneses {
                assert_eq!(db.get("Book", &g.cid.to_string()).await.unwrap().unwrap()["pages"], json!(3));
            }
            // The same batch again: every block is at or below its
            // document's head, so each is looked for, and found.
            let (n, r) = counted(&db, &trips, &batch).await;
            assert_eq!((n, r.merged, r.duplicate), (3, 0, 40), "the records, where the blocks are, their packs");
        });
    }

    /// A peer's next change of a document this handle holds (a gossip
    /// block: its parents are the document's heads) reads the document's
    /// record and `waiting`'s first keys, in one round trip: not the
    /// block's own rows, its parents' or their packs.
    #[test]
    fn the_next_change_of_a_held_document_is_merged_in_one_read() {
        block_on(async {
            let k = SigningKey::from_bytes(&[5; 32]);
            let c = chain(&k);
            let (db, trips) = fresh().await;
            counted(&db, &trips, &c[..1]).await;
            for (i, b) in c[1..].iter().enumerate() {
                let asked = requests();
                let (n, r) = counted(&db, &trips, std::slice::from_ref(b)).await;
                assert_eq!((n, r.merged), (1, 1), "change {i}: was 2 (the batch's rows, then the parent's pack)");
                assert_eq!(
                    requests() - asked,
                    2,
                    "the record and `waiting`'s first keys (was 7: six, then the parent's pack)"
                );
            }
            assert_eq!(db.get("Book", &c[0].cid.to_string()).await.unwrap().unwrap()["pages"], json!(N + 1));
            // The same block again is a duplicate: its parent is no head now.
            let (_, r) = counted(&db, &trips, &c[N as usize..]).await;
            assert_eq!((r.merged, r.duplicate), (0, 1));
            // Two concurrent changes on the same heads, in one batch or one
            // by one: both merged, the heads are both.
            let last = c.last().unwrap().cid;
            let g = c[0].cid;
            let x = Block::change("Book", g, vec![last], N + 2, obj(json!({"pages": 1})), false, &k);
            let y = Block::change("Book", g, vec![last], N + 2, obj(json!({"title": "Y"})), false, &k);
            let (_, r) = counted(&db, &trips, &[x.clone(), y.clone()]).await;
            assert_eq!(r.merged, 2);
            let mut heads = db.heads("Book", &g.to_string()).await.unwrap();
            heads.sort();
            let mut want = vec![x.cid, y.cid];
            want.sort();
            assert_eq!(heads, want);
            // A change whose height does not follow its head's is refused,
            // as when the parent's block was read.
            let bad = Block::change("Book", g, vec![x.cid], N + 5, obj(json!({"pages": 2})), false, &k);
            let (_, r) = counted(&db, &trips, &[bad]).await;
            assert_eq!((r.merged, r.refused.len()), (0, 1));
            assert_eq!(r.refused[0].code, "BLOCK_INVALID");
        });
    }

    /// The subscribers hear a peer's next change of a document this handle
    /// holds before the store is read (merged into the cached document),
    /// once; a `subscribe_stored` listener hears it once the transaction
    /// has read, as it commits, and so does a `subscribe_commits` one (the
    /// other tabs' relay), in one call per commit. Each hears the document
    /// as stored.
    #[test]
    fn a_peer_change_of_a_cached_document_is_heard_before_any_read() {
        block_on(async {
            let k = SigningKey::from_bytes(&[5; 32]);
            let c = chain(&k);
            let (db, trips) = fresh().await;
            let db = Rc::new(db);
            counted(&db, &trips, &c[..1]).await;
            // Who heard, the round trips made by then, the pages heard.
            type Heard = Vec<(&'static str, usize, Value)>;
            let heard: Rc<std::cell::RefCell<Heard>> = Rc::default();
            for (who, ahead) in [("ahead", true), ("stored", false)] {
                let (heard, trips) = (heard.clone(), trips.clone());
                let f = move |ch: &weftdb::Change| {
                    heard.borrow_mut().push((who, trips.get(), ch.doc.as_ref().unwrap()["pages"].clone()))
                };
                if ahead {
                    db.subscribe(f);
                } else {
                    db.subscribe_stored(f);
                }
            }
            // Each call of the commits' listener: the round trips by then,
            // its changes.
            let commits: Rc<std::cell::RefCell<Vec<(usize, usize)>>> = Rc::default();
            {
                let (commits, trips) = (commits.clone(), trips.clone());
                db.subscribe_commits(move |chs: &[weftdb::Change]| commits.borrow_mut().push((trips.get(), chs.len())));
            }
            let (before, asked) = (trips.get(), requests());
            let (n, r) = counted(&db, &trips, &c[1..2]).await;
            assert_eq!((n, r.merged), (1, 1));
            assert_eq!(requests() - asked, 2, "told ahead, the import still reads only the record and waiting");
            assert_eq!(*heard.borrow(), vec![("ahead", before, json!(2)), ("stored", before + 1, json!(2))]);
            assert_eq!(*commits.borrow(), vec![(before + 1, 1)], "the commit's one change, after the read");
            assert_eq!(db.get("Book", &c[0].cid.to_string()).await.unwrap().unwrap()["pages"], json!(2));
            // A batch that is not a next change (a chain of two) is heard as
            // it commits, by both, once: one change, the document as the
            // batch left it.
            heard.borrow_mut().clear();
            commits.borrow_mut().clear();
            let before = trips.get();
            counted(&db, &trips, &c[2..4]).await;
            let calls: Vec<(usize, usize)> = commits.borrow().iter().map(|(t, n)| (*t - before, *n)).collect();
            assert!(matches!(calls[..], [(t, 1)] if t >= 1), "one call with one change, after the read: {calls:?}");
            let whens: Vec<(&str, usize, Value)> =
                heard.borrow().iter().map(|(w, t, p)| (*w, *t - before, p.clone())).collect();
            assert_eq!(whens.len(), 2, "{whens:?}");
            // The chain's last block (`c[3]`) sets 4 pages.
            assert!(
                whens.iter().all(|(_, t, p)| *t >= 1 && *p == json!(4)),
                "after the read, the last state: {whens:?}"
            );
        });
    }

    /// Opening reads the key, the layout and the schemas in one request;
    /// a get reads the document's record once, then (cached) nothing.
    #[test]
    fn an_open_reads_once_and_a_get_of_a_hot_document_not_at_all() {
        block_on(async {
            let (db, trips) = fresh().await;
            let id = db.create("Book", &obj(json!({"title": "Dune"}))).await.unwrap();
            let before = trips.get();
            assert_eq!(db.get("Book", &id).await.unwrap().unwrap()["title"], "Dune");
            assert_eq!(trips.get() - before, 0, "written by this handle: cached");
            let store = db.store().clone();
            drop(db);
            let before = trips.get();
            let asked = requests();
            let db = Db::open(store).await.unwrap();
            assert_eq!(trips.get() - before, 1, "one round trip");
            assert_eq!(requests() - asked, 1, "one range read of the schemas and the key's record (was 3: layout 4)");
            assert_eq!(db.collections().len(), 1);
            let before = trips.get();
            assert_eq!(db.get("Book", &id).await.unwrap().unwrap()["title"], "Dune");
            assert_eq!(db.get("Book", &id).await.unwrap().unwrap()["title"], "Dune");
            assert_eq!(trips.get() - before, 1, "read once, then from the cache");
        });
    }

    /// A peer one change behind on a document with a long history costs the
    /// walk a read of its head and of ours, not the history below them (nor
    /// a scan of every pack): it read all 301 blocks before (2026-12-03; a
    /// page writing fast walked 500–770 documents' histories for its node
    /// about once a second). Beside other documents, each walk goes only as
    /// deep as its own.
    #[test]
    fn a_walk_for_a_peer_one_change_behind_reads_no_history() {
        block_on(async {
            let (db, _) = fresh().await;
            let id = db.create("Book", &obj(json!({"title": "long"}))).await.unwrap();
            for i in 0..300 {
                db.update("Book", &id, &obj(json!({"pages": i}))).await.unwrap();
            }
            let theirs = db.heads("Book", &id).await.unwrap();
            db.update("Book", &id, &obj(json!({"pages": -1}))).await.unwrap();
            let ours = db.heads("Book", &id).await.unwrap();
            let db = cold(&db).await;
            // As head exchange asks: our head's height as the reads it expects.
            let asked = requests();
            let walked = db.blocks_missing_from_each(&[(ours.clone(), theirs.clone())], 302).await.unwrap();
            let asked = requests() - asked;
            assert_eq!(walked[0].iter().map(|(c, _)| *c).collect::<Vec<_>>(), ours);
            assert_eq!(asked, 2, "their head and ours, no scan of every pack");
            // Walked beside a new document (height 1) and a short one: each
            // document's walk goes only as deep as its own. (Written by
            // this handle, their new blocks are in its memory.)
            let fresh = db.create("Book", &obj(json!({"title": "new"}))).await.unwrap();
            let short = db.create("Book", &obj(json!({"title": "short"}))).await.unwrap();
            let short_theirs = db.heads("Book", &short).await.unwrap();
            db.update("Book", &short, &obj(json!({"pages": 1}))).await.unwrap();
            let docs = [
                (ours.clone(), theirs),
                (db.heads("Book", &fresh).await.unwrap(), Vec::new()),
                (db.heads("Book", &short).await.unwrap(), short_theirs),
            ];
            let asked = requests();
            let walked = db.blocks_missing_from_each(&docs, 302 + 1 + 2).await.unwrap();
            let asked = requests() - asked;
            assert_eq!(walked.iter().map(Vec::len).collect::<Vec<_>>(), [1, 1, 1]);
            assert!(asked <= 5, "{asked} keys read for three documents one block behind");
        });
    }

    /// A head exchange's walk for a peer that lacks a good part of the
    /// store reads every pack in a few large requests rather than one read
    /// per block: a page answering a catch-up of 10,000 blocks among its
    /// 18,042 packs made 10,000 reads (0.57 s) where reading them all takes
    /// 18 requests (0.36 s; BENCHMARKS.md, "Catch-up", session 15). Past
    /// two packs a block, it reads block by block as before. Blocks its
    /// handle committed lately cost no read (`db::recent`): the walk runs on
    /// a second handle, after one on the handle that wrote them, which
    /// reads nothing.
    #[test]
    fn a_walk_for_a_peer_lacking_much_of_the_store_reads_every_pack_at_once() {
        block_on(async {
            let (db, _) = fresh().await;
            let mut ids = Vec::new();
            let create = |i: usize| obj(json!({"title": format!("t{i}")}));
            for i in 0..500 {
                ids.push(db.create("Book", &create(i)).await.unwrap());
            }
            let mut docs = Vec::new();
            for id in &ids[..300] {
                docs.push((db.heads("Book", id).await.unwrap(), Vec::new()));
            }
            async fn reads(db: &Db<Counting>, docs: &[(Vec<cid::Cid>, Vec<cid::Cid>)]) -> usize {
                let asked = requests();
                let walked = db.blocks_missing_from_each(docs, 300).await.unwrap();
                assert_eq!(walked.iter().map(Vec::len).sum::<usize>(), 300);
                requests() - asked
            }
            let walk = |db| reads(db, &docs);
            // The handle that committed them walks them from memory.
            let asked = walk(&db).await;
            assert_eq!(asked, 0, "{asked} reads for 300 blocks this handle committed");
            let db = cold(&db).await;
            let asked = walk(&db).await;
            assert!(asked <= 4, "{asked} reads for 300 blocks among 500 packs");
            for i in 500..700 {
                db.create("Book", &create(i)).await.unwrap();
            }
            let asked = walk(&db).await;
            assert!(asked > 300, "{asked} reads for 300 blocks among 700 packs: one each");
        });
    }

    /// A walk that finds most of its blocks among those its handle
    /// committed lately (`db::recent`) and only its lowest ones missing
    /// reads those alone, not every pack: the reads it expects are scaled by
    /// the share it had to read. Counted as every block read (900 here),
    /// the walk read all 1,800 packs for the 300 it lacked.
    #[test]
    fn a_walk_mostly_in_memory_reads_only_what_is_missing() {
        block_on(async {
            let (writer, _) = fresh().await;
            let mut ids = Vec::new();
            for i in 0..1_200 {
                ids.push(writer.create("Book", &obj(json!({"title": format!("t{i}")}))).await.unwrap());
            }
            // Another handle changes 300 of them twice: their changes are
            // in its memory, their first blocks are not.
            let db = cold(&writer).await;
            let mut docs = Vec::new();
            for id in &ids[..300] {
                for pages in [1, 2] {
                    db.update("Book", id, &obj(json!({"pages": pages}))).await.unwrap();
                }
                docs.push((db.heads("Book", id).await.unwrap(), Vec::new()));
            }
            let (asked, rows) = (requests(), scanned());
            let walked = db.blocks_missing_from_each(&docs, 900).await.unwrap();
            let (asked, rows) = (requests() - asked, scanned() - rows);
            assert_eq!(walked.iter().map(Vec::len).sum::<usize>(), 900);
            assert_eq!(rows, 0, "{rows} packs read all at once");
            assert!(asked <= 300 + 2, "{asked} reads: the 300 first blocks and a count");
        });
    }

    /// The same for a peer that holds the first change of every document
    /// (a page back after missing the updates): reading its 300 heads must
    /// not decide the walk's preload before the walk's size is known. It
    /// did (300 reads reached the threshold and 900 packs are over two
    /// for each), so the 600 blocks it lacked were read one by one.
    #[test]
    fn a_walk_for_a_peer_holding_old_heads_reads_every_pack_at_once() {
        block_on(async {
            let (db, _) = fresh().await;
            let mut docs = Vec::new();
            for i in 0..300 {
                let id = db.create("Book", &obj(json!({"title": format!("t{i}")}))).await.unwrap();
                let genesis = db.heads("Book", &id).await.unwrap();
                for pages in [1, 2] {
                    db.update("Book", &id, &obj(json!({"pages": pages}))).await.unwrap();
                }
                docs.push((db.heads("Book", &id).await.unwrap(), genesis));
            }
            let db = cold(&db).await;
            let asked = requests();
            // Our heads' heights (3 each).
            let walked = db.blocks_missing_from_each(&docs, 900).await.unwrap();
            let asked = requests() - asked;
            assert_eq!(walked.iter().map(Vec::len).sum::<usize>(), 600);
            assert!(asked <= 300 + 4, "{asked} reads: their 300 heads, then 600 blocks among 900 packs");
        });
    }
}
