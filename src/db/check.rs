//! What must hold of a database's store whatever happened to it (a failed
//! commit, a crash, a restart): for crash tests and the simulator.
//!
//! [`assert_consistent`] checks the tables against each other and against
//! the blocks: every row points at something there, the documents, heads
//! and indexes are what the stored blocks make, and a block waits in
//! `pending` only for a parent that is not stored. [`dump`] reads every
//! table, to compare two stores that ran the same operations.

#![cfg_attr(not(test), allow(dead_code))]

use std::collections::{BTreeMap, BTreeSet, HashMap};

use cid::Cid;
use serde_json::{json, Value};

use super::layout::{entry, index_keys, unpack, unrecord};
use super::{doc_key, Db, META_KEY, META_SCHEMA};
use crate::core::block::{cid_of, SignedBlock};
use crate::core::doc::{DocState, Heads};
use crate::store::{KeyRange, MemoryStore, Mode, Store, Table, Tx};

/// Every row of every table, by table.
pub(crate) type Dump = BTreeMap<Table, BTreeMap<Vec<u8>, Vec<u8>>>;

/// Reads every table of `store` in one read transaction.
pub(crate) async fn dump<S: Store>(store: &S) -> Dump {
    let mut tx = store.begin_read(&Table::ALL).await.expect("a read transaction");
    let mut out = Dump::new();
    for t in Table::ALL {
        let rows = tx.scan(t, &KeyRange::all(), None).await.expect("a scan");
        out.insert(t, rows.into_iter().collect());
    }
    out
}

/// Stores the signing key made from `seed` before the database is first
/// opened: two stores seeded alike sign alike, so with the same nonces
/// ([`super::set_nonces`]) the same operations make the same blocks.
pub(crate) async fn seed_key<S: Store>(store: &S, seed: [u8; 32]) {
    let mut tx = store.begin(Mode::Write).await.expect("a write transaction");
    tx.put(Table::Meta, META_KEY, &seed).await.expect("a put");
    tx.commit().await.expect("a commit");
}

/// A document key's collection and id.
fn split_doc_key(key: &[u8]) -> (String, String) {
    super::split_doc_key(key).expect("a document key is a collection, a separator and an id")
}

/// Panics, saying what is wrong, unless `db`'s store is consistent:
/// - `meta`: the layout is this build's, and the signing key's record is
///   its seed followed by it;
/// - `packs`: each block is stored under its CID, decodes, is of a known
///   collection, has all its parents stored, and its document has a
///   record; `packs_by` names each block's pack, and nothing else;
/// - `documents`: each record's heads are exactly the document's stored
///   blocks that no stored block names as parent, with their heights; its
///   state is the one those blocks fold to (the stored blocks imported
///   into a fresh database give the same records);
/// - `entries` (the index): exactly one entry per visible document and
///   indexed field, carrying the document's record, and nothing else; a query by an
///   indexed field (through the index) finds what a scan finds;
/// - the layout-1 tables are empty;
/// - `pending`: each row is stored under its CID, is not merged, misses a
///   parent, and has a `waiting` row for each parent it misses;
/// - `waiting`: each row names a pending child of that parent, which is
///   missing;
/// - `outbox`: each row names a stored block, with its height and
///   collection.
pub(crate) async fn assert_consistent<S: Store>(db: &Db<S>) {
    let d = dump(db.store()).await;
    let meta = &d[&Table::Meta];
    let key = meta.get(META_KEY).expect("the signing key is stored");
    assert!(super::layout::seed_of(key).is_some(), "the key's record is the seed, then this layout");
    let layout = meta.get(super::layout::LAYOUT_KEY).map(Vec::as_slice);
    assert_eq!(layout, Some(&[super::layout::LAYOUT][..]), "meta's layout is this build's");
    let defs: BTreeMap<String, crate::core::schema::CollectionDef> = meta
        .iter()
        .filter(|(k, _)| k.starts_with(META_SCHEMA))
        .map(|(_, v)| {
            let def: crate::core::schema::CollectionDef = serde_json::from_slice(v).expect("a stored schema decodes");
            (def.name.clone(), def)
        })
        .collect();

    // packs
    let mut blocks: HashMap<Cid, SignedBlock> = HashMap::new();
    let mut located = BTreeMap::new();
    for (pack, v) in &d[&Table::Packs] {
        for (k, v) in unpack(v).expect("a pack decodes") {
            let cid = Cid::try_from(k).expect("a pack names a CID");
            assert_eq!(cid_of(v), cid, "block {cid} is stored under its own CID");
            let b = SignedBlock::decode(v, Some(cid)).unwrap_or_else(|e| panic!("stored block {cid} verifies: {e}"));
            assert!(defs.contains_key(&b.block.col), "block {cid} is of a known collection ({})", b.block.col);
            assert!(blocks.insert(cid, b).is_none(), "block {cid} is in one pack");
            located.insert(cid.to_bytes(), pack.clone());
        }
    }
    assert!(d[&Table::PacksBy] == located, "packs_by names each stored block's pack, and nothing else");
    let docs_rows = &d[&Table::Documents];
    let mut by_doc: BTreeMap<Vec<u8>, Vec<&SignedBlock>> = BTreeMap::new();
    for b in blocks.values() {
        for p in &b.block.parents {
            assert!(blocks.contains_key(p), "merged block {} has its parent {p} stored", b.cid);
        }
        let key = doc_key(&b.block.col, b.doc_id());
        assert!(docs_rows.contains_key(&key), "merged block {}'s document has a record", b.cid);
        by_doc.entry(key).or_default().push(b);
    }

    // documents
    let mut states: BTreeMap<&Vec<u8>, DocState> = BTreeMap::new();
    for (key, v) in docs_rows {
        let (state, heads): (DocState, Heads) = unrecord(v).expect("a document record decodes");
        let doc_blocks = by_doc.get(key).map(Vec::as_slice).unwrap_or_default();
        assert!(!doc_blocks.is_empty(), "document {:?} has its blocks stored", split_doc_key(key));
        let named: BTreeSet<Cid> = doc_blocks.iter().flat_map(|b| b.block.parents.iter().copied()).collect();
        let want: BTreeSet<(Cid, u64)> =
            doc_blocks.iter().filter(|b| !named.contains(&b.cid)).map(|b| (b.cid, b.block.height)).collect();
        let got: BTreeSet<(Cid, u64)> = heads.iter().copied().collect();
        assert_eq!(got.len(), heads.len(), "document {:?}'s heads are listed once each", split_doc_key(key));
        assert_eq!(got, want, "document {:?}'s heads are its blocks no other names", split_doc_key(key));
        states.insert(key, state);
    }
    let rebuilt = rebuild(meta, blocks.values().map(|b| b.bytes.clone()).collect()).await;
    for (key, state) in &states {
        let (again, _): (DocState, Heads) = unrecord(&rebuilt[&Table::Documents][*key]).expect("decodes");
        assert_eq!(state, &again, "document {:?}'s state is what its blocks fold to", split_doc_key(key));
    }
    for t in [Table::LegacyBlocks, Table::LegacyHeads, Table::LegacyDocs, Table::LegacyIndex] {
        assert!(d[&t].is_empty(), "layout 1's {} is empty", t.name());
    }

    // index
    let mut want_index = BTreeMap::new();
    for (key, state) in &states {
        let (col, id) = split_doc_key(key);
        for k in index_keys(&defs[&col], &id, state) {
            want_index.insert(k, entry(&id, state));
        }
    }
    // JSON values: an entry keeps a JSON field's keys in its writer's order.
    let json = |m: &BTreeMap<Vec<u8>, Vec<u8>>| -> BTreeMap<Vec<u8>, Value> {
        m.iter().map(|(k, v)| (k.clone(), serde_json::from_slice(v).expect("an entry is JSON"))).collect()
    };
    assert!(
        json(&d[&Table::Entries]) == json(&want_index),
        "the index holds one entry per visible document and indexed field, carrying the document"
    );
    for def in defs.values() {
        let all = db.find(&def.name, &json!({})).await.expect("a scan");
        for field in def.fields.iter().filter(|f| f.indexed) {
            let values: BTreeSet<String> =
                all.iter().filter_map(|doc| doc.get(&field.name)).map(|v| v.to_string()).collect();
            for v in values {
                let v: Value = serde_json::from_str(&v).unwrap();
                let query = json!({ "filter": { field.name.as_str(): { "_eq": v } } });
                let found = db.find(&def.name, &query).await.expect("a query by an indexed field");
                let mut found: Vec<_> = found.iter().map(|d| d["_id"].clone()).collect();
                found.sort_by_key(|v| v.to_string());
                let scanned: Vec<_> =
                    all.iter().filter(|doc| doc.get(&field.name) == Some(&v)).map(|d| d["_id"].clone()).collect();
                assert_eq!(found, scanned, "{}.{} = {v}: the index finds what a scan finds", def.name, field.name);
            }
        }
    }

    // pending and waiting
    let waiting: BTreeSet<&Vec<u8>> = d[&Table::Waiting].keys().collect();
    let mut pending = BTreeSet::new();
    for (k, v) in &d[&Table::Pending] {
        let cid = Cid::try_from(k.as_slice()).expect("a pending key is a CID");
        assert_eq!(cid_of(v), cid, "pending block {cid} is stored under its own CID");
        let b = SignedBlock::decode(v, Some(cid)).unwrap_or_else(|e| panic!("pending block {cid} verifies: {e}"));
        assert!(!blocks.contains_key(&cid), "pending block {cid} is not merged too");
        let missing: Vec<&Cid> = b.block.parents.iter().filter(|p| !blocks.contains_key(p)).collect();
        assert!(!missing.is_empty(), "pending block {cid} misses a parent (else it would be merged)");
        for p in missing {
            let row = [p.to_bytes(), k.clone()].concat();
            assert!(waiting.contains(&row), "pending block {cid} has a waiting row for its missing parent {p}");
        }
        pending.insert(cid);
    }
    for k in &waiting {
        let mut rest = k.as_slice();
        let parent = Cid::read_bytes(&mut rest).expect("a waiting key starts with a CID");
        let child = Cid::try_from(rest).expect("a waiting key ends with a CID");
        assert!(pending.contains(&child), "waiting row {parent} → {child}: the child is pending");
        assert!(!blocks.contains_key(&parent), "waiting row {parent} → {child}: the parent is missing");
    }

    // outbox
    // peer ‖ 0 ‖ height ‖ CID: every block's CID is 36 bytes (CIDv1,
    // DAG-CBOR, sha2-256), so the key is read from its end.
    for (k, v) in &d[&Table::Outbox] {
        let at = k.len().checked_sub(45).unwrap_or_else(|| panic!("outbox row {k:?}: too short"));
        assert_eq!(k[at], 0, "outbox row {k:?}: the peer's prefix ends with 0");
        let (height, cid) = crate::records::outbox_queued_at(&k[at + 1..])
            .unwrap_or_else(|| panic!("outbox row {k:?}: a height and a CID"));
        let stored = blocks.get(&cid).unwrap_or_else(|| panic!("outbox row {k:?} names a stored block"));
        assert_eq!(height, stored.block.height, "outbox row of {cid}: keyed by its block's height");
        let mut want = stored.block.height.to_be_bytes().to_vec();
        want.extend_from_slice(stored.block.col.as_bytes());
        assert_eq!(v, &want, "outbox row of {}: its height and collection", stored.cid);
    }
}

/// The tables a fresh database holds once it has imported `blocks`, with
/// the schemas of `meta`: the documents those blocks make.
async fn rebuild(meta: &BTreeMap<Vec<u8>, Vec<u8>>, blocks: Vec<Vec<u8>>) -> Dump {
    let store = MemoryStore::new();
    let mut tx = store.begin(Mode::Write).await.unwrap();
    for (k, v) in meta.iter().filter(|(k, _)| k.starts_with(META_SCHEMA)) {
        tx.put(Table::Meta, k, v).await.unwrap();
    }
    tx.commit().await.unwrap();
    let fresh = Db::open(store.clone()).await.expect("opens");
    let n = blocks.len();
    let report = fresh.import(&blocks).await.expect("imports");
    assert!(
        report.merged == n && report.refused.is_empty() && report.pending == 0,
        "the stored blocks merge whole into a fresh database: {report:?}"
    );
    dump(&store).await
}
