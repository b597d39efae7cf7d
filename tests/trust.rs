//! What a replica refuses, from a peer and from its own user alike: blocks
//! that are not canonical, changes with nothing in them, more parents than
//! any peer accepts, documents too large or too deep for one block.
//! (Issue 8's first section, each found on the landed code.)
#![cfg(not(target_arch = "wasm32"))]

use ed25519_dalek::SigningKey;
use futures::executor::block_on;
use serde_json::{json, Map, Value};
use weftdb::core::block::{cid_of, Block, SignedBlock, MAX_BLOCK_BYTES};
use weftdb::store::MemoryStore;
use weftdb::Db;

const SDL: &str = "type Book { title: String! @index pages: Int meta: JSON }";

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().expect("an object").clone()
}

async fn books() -> Db<MemoryStore> {
    let db = Db::open(MemoryStore::new()).await.unwrap();
    db.add_schema(SDL).await.unwrap();
    db
}

async fn count(db: &Db<MemoryStore>) -> usize {
    db.count("Book", &json!({})).await.unwrap()
}

fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

/// The length in bytes of the CBOR item at the start of `b` (definite
/// lengths only, which is all DAG-CBOR has).
fn item_len(b: &[u8]) -> usize {
    let (major, info) = (b[0] >> 5, b[0] & 31);
    let (arg, head) = match info {
        0..=23 => (info as usize, 1),
        24 => (b[1] as usize, 2),
        25 => (u16::from_be_bytes([b[1], b[2]]) as usize, 3),
        26 => (u32::from_be_bytes(b[1..5].try_into().unwrap()) as usize, 5),
        27 => (u64::from_be_bytes(b[1..9].try_into().unwrap()) as usize, 9),
        _ => panic!("indefinite lengths are not DAG-CBOR"),
    };
    match major {
        0 | 1 | 7 => head,
        2 | 3 => head + arg,
        4 => (0..arg).fold(head, |at, _| at + item_len(&b[at..])),
        5 => (0..2 * arg).fold(head, |at, _| at + item_len(&b[at..])),
        6 => head + item_len(&b[head..]),
        _ => unreachable!(),
    }
}

/// The entries of a top-level CBOR map (fewer than 24), as raw key and value bytes.
fn entries(block: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
    assert_eq!(block[0] >> 5, 5, "a map");
    let n = (block[0] & 31) as usize;
    let mut at = 1;
    let mut out = Vec::new();
    for _ in 0..n {
        let k = item_len(&block[at..]);
        let v = item_len(&block[at + k..]);
        out.push((block[at..at + k].to_vec(), block[at + k..at + k + v].to_vec()));
        at += k + v;
    }
    assert_eq!(at, block.len());
    out
}

fn map(entries: &[(Vec<u8>, Vec<u8>)]) -> Vec<u8> {
    assert!(entries.len() < 24);
    let mut out = vec![0xa0 | entries.len() as u8];
    for (k, v) in entries {
        out.extend(k);
        out.extend(v);
    }
    out
}

fn text_key(s: &str) -> Vec<u8> {
    let mut k = vec![0x60 | s.len() as u8];
    k.extend(s.as_bytes());
    k
}

/// One signed genesis, and re-encodings of it that decode to the same
/// block (so its signature still verifies) but are not its canonical bytes.
fn non_canonical_variants(g: &SignedBlock) -> Vec<(&'static str, Vec<u8>)> {
    let canonical = entries(&g.bytes);
    let mut variants = Vec::new();

    // "v": 1 written as a one-byte-argument integer (0x18 0x01).
    let v = canonical.iter().position(|(k, _)| *k == text_key("v")).unwrap();
    let mut e = canonical.clone();
    e[v].1 = vec![0x18, 0x01];
    variants.push(("a non-minimal integer", map(&e)));

    let mut e = canonical.clone();
    e.swap(0, 1);
    variants.push(("keys out of order", map(&e)));

    let mut e = canonical.clone();
    e.push((text_key("zzz"), vec![0x01]));
    variants.push(("an unknown key", map(&e)));

    // `del: false`, which the canonical form leaves out, in its sorted place.
    let mut e = canonical.clone();
    e.push((text_key("del"), vec![0xf4]));
    e.sort_by(|a, b| (a.0.len(), &a.0).cmp(&(b.0.len(), &b.0)));
    variants.push(("an explicit del: false", map(&e)));
    variants
}

#[test]
fn a_signed_block_has_exactly_one_encoding() {
    block_on(async {
        let a = books().await;
        a.create("Book", &obj(json!({"title": "Dune", "pages": 412}))).await.unwrap();
        let exported = a.export().await.unwrap();
        let g = SignedBlock::decode(&exported[0], None).unwrap();
        for (what, bytes) in non_canonical_variants(&g) {
            assert_ne!(bytes, g.bytes, "{what}");
            assert_ne!(cid_of(&bytes), g.cid, "{what}: another CID");
            let err = SignedBlock::decode(&bytes, None).expect_err(what);
            assert!(err.to_string().contains("canonical"), "{what}: {err}");

            let b = books().await;
            b.import(&exported).await.unwrap();
            let report = b.import(&[bytes]).await.unwrap();
            assert_eq!(report.refused.iter().map(|r| r.code).collect::<Vec<_>>(), ["BLOCK_INVALID"], "{what}");
            assert_eq!(count(&b).await, 1, "{what}: one signature, one document");
            assert_eq!(b.export().await.unwrap(), exported, "{what}: nothing stored");
        }
    });
}

#[test]
fn a_change_with_nothing_in_it_is_refused() {
    block_on(async {
        let a = books().await;
        let id = a.create("Book", &obj(json!({"title": "Dune"}))).await.unwrap();
        let genesis = a.export().await.unwrap();
        let g = SignedBlock::decode(&genesis[0], None).unwrap();
        // Height pumping: an empty change lifts the height every later write must beat.
        let empty = Block::change("Book", g.cid, vec![g.cid], 2, Map::new(), false, &key(9));
        assert!(SignedBlock::decode(&empty.bytes, None).is_err(), "an empty change does not decode");
        let _ = a.import(&[empty.bytes]).await;
        assert_eq!(a.export().await.unwrap().len(), 1, "nothing stored");
        assert_eq!(a.heads("Book", &id).await.unwrap(), vec![g.cid]);
        // Locally too: an update that sets nothing makes no block.
        assert_eq!(a.update("Book", &id, &Map::new()).await.unwrap_err().code(), "VALIDATION");
        assert_eq!(a.export().await.unwrap().len(), 1);
    });
}

#[test]
fn a_block_names_at_most_max_parents() {
    block_on(async {
        let a = books().await;
        let id = a.create("Book", &obj(json!({"title": "Dune"}))).await.unwrap();
        let g = SignedBlock::decode(&a.export().await.unwrap()[0], None).unwrap();
        // Parents no one has: they would wait in pending, unbounded.
        let parents: Vec<_> = (0..1025u32).map(|i| cid_of(&i.to_be_bytes())).collect();
        let wide = Block::change("Book", g.cid, parents, 2, obj(json!({"pages": 1})), false, &key(9));
        assert!(SignedBlock::decode(&wide.bytes, None).is_err(), "1,025 parents do not decode");
        let _ = a.import(&[wide.bytes]).await;
        assert_eq!(a.pending_count().await.unwrap(), 0, "nothing kept pending");
        assert_eq!(a.heads("Book", &id).await.unwrap(), vec![g.cid]);
    });
}

#[test]
fn a_local_write_on_more_heads_than_a_block_may_name_makes_a_block_peers_accept() {
    block_on(async {
        let a = books().await;
        let id = a.create("Book", &obj(json!({"title": "Dune"}))).await.unwrap();
        let g = SignedBlock::decode(&a.export().await.unwrap()[0], None).unwrap();
        // 1,100 concurrent changes on the genesis: 1,100 heads.
        let writer = key(9);
        let concurrent: Vec<Vec<u8>> = (0..1100)
            .map(|i| Block::change("Book", g.cid, vec![g.cid], 2, obj(json!({"pages": i})), false, &writer).bytes)
            .collect();
        a.import(&concurrent).await.unwrap();
        assert_eq!(a.heads("Book", &id).await.unwrap().len(), 1100);

        a.update("Book", &id, &obj(json!({"title": "Dune Messiah"}))).await.unwrap();
        let heads = a.heads("Book", &id).await.unwrap();
        assert_eq!(heads.len(), 1100 - 1024 + 1, "the write merged 1,024 heads");
        // Another replica takes everything, the new block included.
        let b = books().await;
        b.import(&a.export().await.unwrap()).await.unwrap();
        assert_eq!(b.heads("Book", &id).await.unwrap(), heads);
        assert_eq!(b.get("Book", &id).await.unwrap(), a.get("Book", &id).await.unwrap());
        // A second write merges the rest.
        a.update("Book", &id, &obj(json!({"pages": 1}))).await.unwrap();
        assert_eq!(a.heads("Book", &id).await.unwrap().len(), 1);
    });
}

#[test]
fn a_document_too_large_for_one_block_is_refused_with_the_limit() {
    block_on(async {
        let a = books().await;
        let big = "x".repeat(MAX_BLOCK_BYTES + 100 * 1024);
        let err = a.create("Book", &obj(json!({"title": big}))).await.unwrap_err();
        assert_eq!(err.code(), "VALIDATION", "{err}");
        assert!(err.to_string().contains(&MAX_BLOCK_BYTES.to_string()), "the limit is named: {err}");
        assert_eq!(count(&a).await, 0);
        // An update that would make too large a block, likewise.
        let id = a.create("Book", &obj(json!({"title": "Dune"}))).await.unwrap();
        let err = a.update("Book", &id, &obj(json!({"meta": {"blob": big}}))).await.unwrap_err();
        assert_eq!(err.code(), "VALIDATION", "{err}");
        // Just under the limit is fine, and another replica takes it.
        let fits = "y".repeat(MAX_BLOCK_BYTES - 1024);
        a.create("Book", &obj(json!({"title": fits}))).await.unwrap();
        let b = books().await;
        let report = b.import(&a.export().await.unwrap()).await.unwrap();
        assert_eq!(report.merged, 2);
        assert_eq!(count(&b).await, 2);
    });
}

#[test]
fn a_bulk_create_with_one_document_too_large_writes_none() {
    block_on(async {
        let a = books().await;
        // Past the first packs' worth, which are written before the rest is
        // signed: the failure still leaves nothing.
        let mut docs: Vec<_> = (0..300).map(|i| obj(json!({"title": format!("t{i}")}))).collect();
        docs[260] = obj(json!({"title": "x".repeat(MAX_BLOCK_BYTES + 1)}));
        let err = a.create_many("Book", &docs).await.unwrap_err();
        assert_eq!(err.code(), "VALIDATION", "{err}");
        assert_eq!(count(&a).await, 0);
        assert!(a.export().await.unwrap().is_empty(), "no block of the others is stored");
        docs.remove(260);
        assert_eq!(a.create_many("Book", &docs).await.unwrap().len(), 299);
        assert_eq!(count(&a).await, 299);
    });
}

fn nested(depth: usize) -> Value {
    (0..depth).fold(json!(1), |inner, _| json!({ "a": inner }))
}

#[test]
fn json_nested_deeper_than_the_limit_is_refused_everywhere() {
    block_on(async {
        let a = books().await;
        let err = a.create("Book", &obj(json!({"title": "deep", "meta": nested(127)}))).await.unwrap_err();
        assert_eq!(err.code(), "VALIDATION", "{err}");
        assert!(err.to_string().contains("deep"), "{err}");
        // At the limit: stored, found, indexed, exported and imported.
        let id = a.create("Book", &obj(json!({"title": "ok", "meta": nested(64)}))).await.unwrap();
        assert_eq!(a.find("Book", &json!({"filter": {"title": {"_eq": "ok"}}})).await.unwrap().len(), 1);
        assert_eq!(a.get("Book", &id).await.unwrap().unwrap()["meta"], nested(64));
        let b = books().await;
        b.import(&a.export().await.unwrap()).await.unwrap();
        assert_eq!(b.find("Book", &json!({})).await.unwrap().len(), 1);

        // From a peer: a block as deep as the decoder allows is refused,
        // and the collection's queries keep working.
        let deep = Block::genesis("Book", obj(json!({"title": "deep", "meta": nested(120)})), [3; 8], &key(9));
        assert_eq!(b.import(&[deep.bytes]).await.unwrap().refused[0].code, "VALIDATION");
        assert_eq!(b.find("Book", &json!({})).await.unwrap().len(), 1);

        // In a list of JSON values too, locally and from a peer.
        let lists = db_with("type Bag { items: [JSON] }").await;
        let err = lists.create("Bag", &obj(json!({"items": [nested(100)]}))).await.unwrap_err();
        assert_eq!(err.code(), "VALIDATION", "{err}");
        let deep = Block::genesis("Bag", obj(json!({"items": [nested(120)]})), [3; 8], &key(9));
        assert_eq!(lists.import(&[deep.bytes]).await.unwrap().refused[0].code, "VALIDATION");
        lists.create("Bag", &obj(json!({"items": [nested(63)]}))).await.unwrap();
        assert_eq!(lists.find("Bag", &json!({})).await.unwrap().len(), 1);
    });
}

const NOTES: &str = r#"type Note @policy(writers: "owner") { text: String! @index n: Int }"#;

async fn db_with(sdl: &str) -> Db<MemoryStore> {
    let db = Db::open(MemoryStore::new()).await.unwrap();
    db.add_schema(sdl).await.unwrap();
    db
}

#[test]
fn under_an_owner_policy_only_the_genesis_key_changes_a_document() {
    block_on(async {
        let alice = db_with(NOTES).await;
        let bob = db_with(NOTES).await;
        let id = alice.create("Note", &obj(json!({"text": "mine"}))).await.unwrap();
        bob.import(&alice.export().await.unwrap()).await.unwrap();
        let before = bob.export().await.unwrap();

        // Bob's own API refuses before any block is made.
        let err = bob.update("Note", &id, &obj(json!({"text": "ours"}))).await.unwrap_err();
        assert_eq!(err.code(), "UNAUTHORIZED", "{err}");
        assert!(err.to_string().contains(&bob.author_key()), "{err}");
        assert_eq!(bob.delete("Note", &id).await.unwrap_err().code(), "UNAUTHORIZED");
        assert_eq!(bob.export().await.unwrap(), before, "no block made");

        // A change or delete signed by another key, as a peer would send it.
        let g = SignedBlock::decode(&before[0], None).unwrap();
        let forged = Block::change("Note", g.cid, vec![g.cid], 2, obj(json!({"text": "pwned"})), false, &key(9));
        let tomb = Block::change("Note", g.cid, vec![g.cid], 2, Map::new(), true, &key(9));
        let report = alice.import(&[forged.bytes.clone(), tomb.bytes.clone()]).await.unwrap();
        assert_eq!(report.merged, 0);
        let codes: Vec<_> = report.refused.iter().map(|r| (r.cid, r.code)).collect();
        assert_eq!(codes, [(forged.cid, "UNAUTHORIZED"), (tomb.cid, "UNAUTHORIZED")]);
        assert_eq!(alice.get("Note", &id).await.unwrap().unwrap()["text"], "mine");
        assert_eq!(alice.export().await.unwrap().len(), 1, "never stored, so never served");

        // The owner writes; everyone takes it.
        alice.update("Note", &id, &obj(json!({"n": 2}))).await.unwrap();
        let report = bob.import(&alice.export().await.unwrap()).await.unwrap();
        assert!(report.refused.is_empty(), "{report:?}");
        assert_eq!(bob.get("Note", &id).await.unwrap(), alice.get("Note", &id).await.unwrap());
        // Anyone may create, and owns what they create.
        let bobs = bob.create("Note", &obj(json!({"text": "bob's"}))).await.unwrap();
        bob.update("Note", &bobs, &obj(json!({"n": 1}))).await.unwrap();
        alice.import(&bob.export().await.unwrap()).await.unwrap();
        assert_eq!(alice.update("Note", &bobs, &obj(json!({"n": 3}))).await.unwrap_err().code(), "UNAUTHORIZED");
        alice.delete("Note", &id).await.unwrap();
        assert_eq!(alice.get("Note", &id).await.unwrap(), None);
    });
}

#[test]
fn under_a_writers_list_only_listed_keys_write() {
    block_on(async {
        let alice = Db::open(MemoryStore::new()).await.unwrap();
        let sdl = format!(r#"type Log @policy(writers: ["{}"]) {{ line: String }}"#, alice.author_key().to_uppercase());
        alice.add_schema(&sdl).await.unwrap();
        let bob = db_with(&sdl).await;
        let id = alice.create("Log", &obj(json!({"line": "one"}))).await.unwrap();
        assert_eq!(bob.create("Log", &obj(json!({"line": "spam"}))).await.unwrap_err().code(), "UNAUTHORIZED");
        assert_eq!(bob.export().await.unwrap().len(), 0);
        bob.import(&alice.export().await.unwrap()).await.unwrap();
        assert_eq!(bob.update("Log", &id, &obj(json!({"line": "two"}))).await.unwrap_err().code(), "UNAUTHORIZED");

        // Blocks by an unlisted key, whether their parents are here or not.
        let stranger = Block::genesis("Log", obj(json!({"line": "spam"})), [5; 8], &key(9));
        let g = SignedBlock::decode(&alice.export().await.unwrap()[0], None).unwrap();
        let orphan =
            Block::change("Log", g.cid, vec![cid_of(b"nowhere")], 3, obj(json!({"line": "x"})), false, &key(9));
        let report = alice.import(&[stranger.bytes, orphan.bytes]).await.unwrap();
        assert_eq!(report.refused.iter().map(|r| r.code).collect::<Vec<_>>(), ["UNAUTHORIZED", "UNAUTHORIZED"]);
        assert_eq!(report.pending, 0);
        assert_eq!(alice.pending_count().await.unwrap(), 0, "not kept pending either");
        assert_eq!(alice.count("Log", &json!({})).await.unwrap(), 1);
    });
}

#[test]
fn policies_are_checked_when_the_schema_is_added() {
    block_on(async {
        let db = Db::open(MemoryStore::new()).await.unwrap();
        for (sdl, part) in [
            (r#"type A @policy(writers: "me") { x: Int }"#, "writers is \"me\""),
            (r#"type A @policy(writers: []) { x: Int }"#, "empty"),
            (r#"type A @policy(writers: ["abc"]) { x: Int }"#, "not an ed25519 public key"),
            (r#"type A @policy(readers: "owner") { x: Int }"#, "unknown argument readers"),
            (r#"type A @policy(writers: "owner") @policy(writers: "owner") { x: Int }"#, "twice"),
            (r#"type A @private { x: Int }"#, "unknown directive @private"),
        ] {
            let err = db.add_schema(sdl).await.unwrap_err();
            assert_eq!(err.code(), "SCHEMA_INVALID", "{sdl}");
            assert!(err.to_string().contains(part), "{sdl}: {err}");
        }
        assert!(db.collections().is_empty());
    });
}

#[test]
fn a_policy_survives_reopening_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("weft.redb");
    let id = block_on(async {
        let db = Db::open(weftdb::store::RedbStore::open(&path).unwrap()).await.unwrap();
        db.add_schema(NOTES).await.unwrap();
        db.create("Note", &obj(json!({"text": "mine"}))).await.unwrap()
    });
    block_on(async {
        let db = Db::open(weftdb::store::RedbStore::open(&path).unwrap()).await.unwrap();
        let g = SignedBlock::decode(&db.export().await.unwrap()[0], None).unwrap();
        let forged = Block::change("Note", g.cid, vec![g.cid], 2, obj(json!({"text": "x"})), false, &key(9));
        let report = db.import(&[forged.bytes]).await.unwrap();
        assert_eq!(report.refused[0].code, "UNAUTHORIZED");
        db.update("Note", &id, &obj(json!({"n": 1}))).await.unwrap();
    });
}

#[test]
fn an_import_takes_every_block_it_can_and_says_why_it_refused_the_others() {
    block_on(async {
        // The writer's schema has a field this replica's lacks.
        let a = db_with("type Book { title: String! @index pages: Int extra: String } type Film { t: String }").await;
        let b = db_with(SDL).await;
        let dune = a.create("Book", &obj(json!({"title": "Dune"}))).await.unwrap();
        a.update("Book", &dune, &obj(json!({"extra": "only on a"}))).await.unwrap();
        a.update("Book", &dune, &obj(json!({"pages": 412}))).await.unwrap();
        a.create("Film", &obj(json!({"t": "Alien"}))).await.unwrap();
        let emma = a.create("Book", &obj(json!({"title": "Emma"}))).await.unwrap();
        let mut blocks = a.export().await.unwrap();
        let mut bad = blocks[0].clone();
        let last = bad.len() - 1;
        bad[last] ^= 1; // a flipped bit in a signature
        blocks.push(bad.clone());

        let report = b.import(&blocks).await.unwrap();
        let mut codes: Vec<&str> = report.refused.iter().map(|r| r.code).collect();
        codes.sort();
        // The film (no such collection here), the update of `extra` (no
        // such field here) and the one after it (its child), the forged bytes.
        assert_eq!(codes, ["BLOCK_INVALID", "UNKNOWN_COLLECTION", "VALIDATION", "VALIDATION"], "{report:?}");
        assert!(report.refused.iter().any(|r| r.cid == cid_of(&bad)));
        assert_eq!(report.merged, 2, "both books' genesis");
        assert_eq!(b.get("Book", &emma).await.unwrap().unwrap()["title"], "Emma");
        assert_eq!(b.get("Book", &dune).await.unwrap().unwrap()["title"], "Dune");
        assert!(report.refused.iter().all(|r| !r.message.is_empty()));
        // Only the taken blocks are stored.
        assert_eq!(b.export().await.unwrap().len(), 2);
    });
}

#[test]
fn a_forged_change_is_refused_before_it_may_wait_for_parents() {
    block_on(async {
        let alice = db_with(NOTES).await;
        let id = alice.create("Note", &obj(json!({"text": "mine"}))).await.unwrap();
        let g = SignedBlock::decode(&alice.export().await.unwrap()[0], None).unwrap();
        // The genesis is here: a non-owner's change hanging from a parent
        // nobody has is refused at once, not kept pending.
        let forged =
            Block::change("Note", g.cid, vec![g.cid, cid_of(b"nowhere")], 3, obj(json!({"text": "x"})), false, &key(9));
        let report = alice.import(&[forged.bytes]).await.unwrap();
        assert_eq!((report.pending, report.refused[0].code), (0, "UNAUTHORIZED"));
        assert_eq!(alice.pending_count().await.unwrap(), 0);

        // The genesis not yet here: the forged change waits, and is dropped
        // (not blamed on whoever brings the genesis) when the genesis comes.
        let bob = db_with(NOTES).await;
        let forged = Block::change("Note", g.cid, vec![g.cid], 2, obj(json!({"text": "x"})), false, &key(9));
        assert_eq!(bob.import(std::slice::from_ref(&forged.bytes)).await.unwrap().pending, 1);
        let report = bob.import(std::slice::from_ref(&g.bytes)).await.unwrap();
        assert_eq!(report.merged, 1);
        assert!(report.refused.is_empty(), "{report:?}");
        assert_eq!(report.dropped.iter().map(|r| (r.cid, r.code)).collect::<Vec<_>>(), [(forged.cid, "UNAUTHORIZED")]);
        assert_eq!(bob.pending_count().await.unwrap(), 0);
        assert_eq!(bob.get("Note", &id).await.unwrap().unwrap()["text"], "mine");
    });
}

#[test]
fn the_children_of_a_refused_block_are_refused_in_any_order_and_later() {
    block_on(async {
        let a = db_with("type Book { title: String! @index pages: Int meta: JSON extra: String }").await;
        let b = books().await;
        let id = a.create("Book", &obj(json!({"title": "Dune"}))).await.unwrap();
        let genesis = a.export().await.unwrap();
        a.update("Book", &id, &obj(json!({"extra": "only on a"}))).await.unwrap();
        let with_extra = a.heads("Book", &id).await.unwrap()[0];
        a.update("Book", &id, &obj(json!({"pages": 1}))).await.unwrap();
        let child = a.heads("Book", &id).await.unwrap()[0];
        let all = a.export().await.unwrap();
        let by_cid = |c: cid::Cid| all.iter().find(|b| cid_of(b) == c).unwrap().clone();
        b.import(&genesis).await.unwrap();
        // The child first, then the block it hangs from: both refused.
        let report = b.import(&[by_cid(child), by_cid(with_extra)]).await.unwrap();
        let refused: Vec<_> = report.refused.iter().map(|r| (r.cid, r.code)).collect();
        assert_eq!(refused, [(with_extra, "VALIDATION"), (child, "VALIDATION")], "{report:?}");
        assert_eq!((report.pending, b.pending_count().await.unwrap()), (0, 0));
        // And a later child of the refused block, in an import of its own.
        a.update("Book", &id, &obj(json!({"pages": 2}))).await.unwrap();
        let grandchild = a.heads("Book", &id).await.unwrap()[0];
        let report = b
            .import(&[a.export().await.unwrap().into_iter().find(|x| cid_of(x) == grandchild).unwrap()])
            .await
            .unwrap();
        assert_eq!(report.refused.iter().map(|r| r.code).collect::<Vec<_>>(), ["VALIDATION"]);
        assert_eq!(b.pending_count().await.unwrap(), 0);
    });
}
