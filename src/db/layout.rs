//! How records hold blocks and documents (layout 5), and the migrations
//! from layouts 1 to 4.
//!
//! IndexedDB's cost is per request, so a new document costs one record
//! here, plus one per indexed field, plus its share of a pack:
//! - **A document record** (`documents`, under collection `\0` id) holds
//!   the document's id, state and heads.
//! - **An index entry** (`entries`, under collection `\0` field `\0`
//!   encoded value ‖ id) carries the document as a query returns it, JSON
//!   text (`{"_id": …, field: value, …}`, [`entry`]): a query through an
//!   index is one range read, and one whose filter the index answers
//!   exactly returns the entries as they are, decoding none
//!   (`Db::find_text`). (IndexedDB's own index over a field of the
//!   document record was measured instead: its `getAll` fetches each record
//!   by key, 2–4 times the covering range read's time for 100 documents.)
//! - **A pack** (`packs`) holds the blocks one transaction stored, up to
//!   [`PACK_BLOCKS`] blocks or [`PACK_BYTES`] bytes, and names their CIDs as
//!   secondary keys: a block is found by CID through the pack's key
//!   (`packs_by`), with no record of its own.
//!
//! - **The signing key's record** (`meta`'s `signing-key`, [`key_record`])
//!   is its 32-byte seed followed by the layout. It sorts just after the
//!   schemas (`schema/<name>`), and no other `meta` key sorts between
//!   them, so an open reads both with one range read and knows the layout
//!   from it ([`seed_of`]); `meta`'s `layout` says it too, for the first
//!   open and for older builds.
//!
//! Layout 4 (2026-12-05 to 2026-12-07) was layout 5 but for the signing
//! key's record, the seed alone: an open read the key, the layout and the
//! schemas in three requests (~0.2 ms more of a reopen in Chromium,
//! BENCHMARKS.md, "Reopen: one read of `meta`").
//! Layout 3 (2026-12-04 to 2026-12-05) was layout 4 but for the outbox,
//! keyed by peer and CID alone (`crate::records`). Layout 2 (2026-12-02 to
//! 2026-12-04) was layout 3 but for the index entries, which carried the
//! document record (DAG-CBOR, as in `documents`). Layout 1 kept a record
//! per block (`blocks`), per document's heads (`heads`) and state
//! (`docs`), and per index entry (`index`). [`migrate`] moves any of them
//! into layout 5 in one transaction the first time this build opens it
//! (the index entries made anew from the document records, the outbox
//! rekeyed; from layout 4 nothing moves, and `Db::open` writes the key's
//! record anew). That transaction holds the whole
//! database in memory once and writes it again before it clears the old
//! tables: a database near the page's memory or storage quota cannot be
//! moved this way (none that large is known to exist). A native node must
//! not go back to an older build: redb has no version gate. A build of
//! layouts 2 to 4 refuses layout 5 as a layout it does not know; a layout-1
//! build refuses the signing key's record of 33 bytes as corrupt (before
//! layout 5 it would have seen an empty database and written beside it).

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, HashSet};

use cid::Cid;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::recent::RecentBlocks;
use super::{cbor, index_key, split_doc_key, uncbor, META_SCHEMA};
use crate::core::doc::{DocState, Heads};
use crate::core::schema::CollectionDef;
use crate::store::{KeyRange, StoreError, Table, Tx};

/// `meta` key of the layout a database is in (absent: layout 1).
pub(crate) const LAYOUT_KEY: &[u8] = b"layout";
/// This build's layout. A later layout keeps the signing key's record the
/// seed followed by the layout, so that this build's open finds it is not
/// its own and refuses it (`STALE`), writing nothing.
pub(crate) const LAYOUT: u8 = 5;
/// The layout whose index entries carried the document record.
pub(crate) const LAYOUT_2: u8 = 2;
/// Layout 4's documents, blocks and index entries, with the outbox keyed by
/// CID alone.
pub(crate) const LAYOUT_3: u8 = 3;
/// Layout 5 but for the signing key's record, the seed alone.
pub(crate) const LAYOUT_4: u8 = 4;

/// The signing key's record in this layout: the seed, then [`LAYOUT`].
pub(crate) fn key_record(seed: &[u8; 32]) -> Vec<u8> {
    [&seed[..], &[LAYOUT]].concat()
}

/// The seed in `record` if it is the signing key's record of this layout.
/// Any other `meta` value an open's range read may end with is a schema,
/// JSON text, whose last byte is `}`, never [`LAYOUT`].
pub(crate) fn seed_of(record: &[u8]) -> Option<[u8; 32]> {
    match record {
        [seed @ .., LAYOUT] => seed.try_into().ok(),
        _ => None,
    }
}

/// The most blocks one pack holds: a read of one block reads its pack.
pub const PACK_BLOCKS: usize = 128;
/// The most bytes of blocks one pack holds (a block larger than this is a
/// pack of its own).
pub const PACK_BYTES: usize = 64 * 1024;

/// A document record's bytes: DAG-CBOR `[id, state, heads]`. The id is
/// in the record so that a read through an index, which returns records
/// and not their keys, needs no second request for the keys.
pub(crate) fn record(id: &str, state: &DocState, heads: &Heads) -> Vec<u8> {
    cbor(&(id, state, heads))
}

/// A document record's state and heads.
pub(crate) fn unrecord(bytes: &[u8]) -> Result<(DocState, Heads), StoreError> {
    let (_, state, heads): (serde::de::IgnoredAny, DocState, Heads) = uncbor(bytes)?;
    Ok((state, heads))
}

/// A document record's state alone (a read that needs no heads).
pub(crate) fn record_state(bytes: &[u8]) -> Result<DocState, StoreError> {
    let (_, state, _): (serde::de::IgnoredAny, DocState, serde::de::IgnoredAny) = uncbor(bytes)?;
    Ok(state)
}

/// A document record's id and heads, its state skipped unread: a head
/// exchange reads a whole collection's heads, and decoding every state
/// would be most of its work.
pub(crate) fn record_heads(bytes: &[u8]) -> Result<(String, Heads), StoreError> {
    let (id, _, heads): (String, serde::de::IgnoredAny, Heads) = uncbor(bytes)?;
    Ok((id, heads))
}

/// A document record's id and state.
pub(crate) fn record_doc(bytes: &[u8]) -> Result<(String, DocState), StoreError> {
    let (id, state, _): (String, DocState, serde::de::IgnoredAny) = uncbor(bytes)?;
    Ok((id, state))
}

/// An index entry's value: the visible document as a query returns it,
/// JSON text of [`DocState::document`] (`_id` first, then the fields that
/// are not null, in name order).
pub(crate) fn entry(id: &str, state: &DocState) -> Vec<u8> {
    serde_json::to_vec(&EntryDoc(id, state)).expect("a document encodes as JSON")
}

/// [`DocState::document`] as it is written, with no map built first (a
/// bulk create writes one entry per document and indexed field).
struct EntryDoc<'a>(&'a str, &'a DocState);

impl serde::Serialize for EntryDoc<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("_id", self.0)?;
        for (name, r) in self.1.fields.iter().filter(|(_, r)| !r.value.is_null()) {
            map.serialize_entry(name, &r.value)?;
        }
        map.end()
    }
}

/// An index entry's document.
pub(crate) fn unentry(bytes: &[u8]) -> Result<serde_json::Map<String, Value>, StoreError> {
    // From text to a `Value`, as every other JSON the crate reads: another
    // instance of serde_json's parser would cost the page's wasm ~3 KB.
    match std::str::from_utf8(bytes).ok().and_then(|text| serde_json::from_str(text).ok()) {
        Some(Value::Object(doc)) => Ok(doc),
        _ => Err(StoreError("corrupt index entry: not a JSON object".into())),
    }
}

/// The keys of a document's index entries: one per indexed field of a
/// visible document, null included.
pub(crate) fn index_keys(def: &CollectionDef, id: &str, state: &DocState) -> Vec<Vec<u8>> {
    if state.deleted {
        return Vec::new();
    }
    def.fields
        .iter()
        .filter(|f| f.indexed)
        .filter_map(|f| index_key(&def.name, &f.name, state.value(&f.name).unwrap_or(&Value::Null), id))
        .collect()
}

/// A pack's bytes: for each block, its CID's length (u32, little-endian),
/// the CID, the block's length (u32 LE) and the block.
fn pack(blocks: &[(Cid, &[u8])]) -> Vec<u8> {
    let size = blocks.iter().map(|(_, b)| 8 + 36 + b.len()).sum();
    let mut out = Vec::with_capacity(size);
    for (cid, bytes) in blocks {
        let cid = cid.to_bytes();
        out.extend_from_slice(&(cid.len() as u32).to_le_bytes());
        out.extend_from_slice(&cid);
        out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
        out.extend_from_slice(bytes);
    }
    out
}

/// A block in a pack: (CID bytes, block bytes).
pub(crate) type PackItem<'a> = (&'a [u8], &'a [u8]);

/// A pack's blocks.
pub(crate) fn unpack(mut bytes: &[u8]) -> Result<Vec<PackItem<'_>>, StoreError> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let (cid, rest) = take(bytes)?;
        let (block, rest) = take(rest)?;
        out.push((cid, block));
        bytes = rest;
    }
    Ok(out)
}

/// A length-prefixed item of a pack, and what follows it.
fn take(bytes: &[u8]) -> Result<(&[u8], &[u8]), StoreError> {
    let corrupt = || StoreError("corrupt pack".into());
    let (len, rest) = bytes.split_first_chunk::<4>().ok_or_else(corrupt)?;
    let len = u32::from_le_bytes(*len) as usize;
    if rest.len() < len {
        return Err(corrupt());
    }
    Ok(rest.split_at(len))
}

/// Stores `blocks` (none of them stored yet) in packs. A pack's key is
/// the SHA-256 of its CIDs: the same blocks make the same pack, so writing
/// one twice changes nothing.
pub(crate) async fn put_blocks<T: Tx>(tx: &mut T, blocks: &[(Cid, &[u8])]) -> Result<(), StoreError> {
    let mut start = 0;
    while start < blocks.len() {
        let (mut end, mut size) = (start, 0);
        while end < blocks.len()
            && end - start < PACK_BLOCKS
            && (end == start || size + blocks[end].1.len() <= PACK_BYTES)
        {
            size += blocks[end].1.len();
            end += 1;
        }
        let chunk = &blocks[start..end];
        let cids: Vec<Vec<u8>> = chunk.iter().map(|(c, _)| c.to_bytes()).collect();
        let key = Sha256::digest(cids.concat()).to_vec();
        tx.put_keyed(Table::Packs, &key, &pack(chunk), &[], &cids).await?;
        start = end;
    }
    Ok(())
}

/// Reads blocks by CID within one transaction, each pack once.
#[derive(Default)]
pub(crate) struct Blocks<'r> {
    /// The keys of the packs read.
    packs_read: HashSet<Vec<u8>>,
    /// Their blocks by CID bytes, in one map: a CID names one block,
    /// whichever pack holds it (a walk of a whole collection finds each of
    /// its blocks here by one lookup, not one in a map of CIDs to packs and
    /// another in the pack's).
    blocks: HashMap<Vec<u8>, Vec<u8>>,
    /// Every pack is read ([`Blocks::read_all`]): a block not among them is not stored.
    complete: bool,
    /// The blocks the handle committed lately, which [`Blocks::get_held`]
    /// takes without a read ([`Blocks::with_recent`]).
    recent: Option<&'r RefCell<RecentBlocks>>,
}

impl<'r> Blocks<'r> {
    /// The keys of the packs that hold `cids` (`None`: not stored), all
    /// asked at once.
    pub async fn locate<T: Tx>(tx: &mut T, cids: &[Cid]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let keys: Vec<Vec<u8>> = cids.iter().map(Cid::to_bytes).collect();
        tx.get_many(Table::PacksBy, &keys).await
    }

    /// The stored blocks among `cids`, in the order asked.
    pub async fn get<T: Tx>(&mut self, tx: &mut T, cids: &[Cid]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let located = Self::locate(tx, cids).await?;
        self.read(tx, cids, located).await
    }

    /// The blocks of `cids`, whose packs' keys [`Blocks::locate`] found.
    pub async fn read<T: Tx>(
        &mut self,
        tx: &mut T,
        cids: &[Cid],
        located: Vec<Option<Vec<u8>>>,
    ) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let mut missing: Vec<Vec<u8>> =
            located.iter().flatten().filter(|k| !self.packs_read.contains(*k)).cloned().collect();
        missing.sort_unstable();
        missing.dedup();
        if missing.is_empty() {
            // Nothing stored, or all read already: no request.
            return Ok(cids.iter().zip(located).map(|(c, p)| p.and_then(|_| self.find(c))).collect());
        }
        for (key, value) in missing.iter().zip(tx.get_many(Table::Packs, &missing).await?) {
            let value = value.ok_or_else(|| StoreError("a block's pack is missing".into()))?;
            let blocks = unpack(&value)?.into_iter().map(|(c, b)| (c.to_vec(), b.to_vec()));
            self.keep(key.clone(), blocks);
        }
        Ok(cids.iter().zip(located).map(|(c, p)| p.and_then(|_| self.find(c))).collect())
    }

    /// [`Blocks::get`] of blocks expected to be stored, most of them
    /// alone in their pack (a local change commits one block): a pack of
    /// one block is keyed by the hash of its CID, so it is read at once,
    /// one request rather than two; the others are found by their packs'
    /// keys as [`Blocks::get`] does.
    pub async fn get_held<T: Tx>(&mut self, tx: &mut T, cids: &[Cid]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let mut out: Vec<Option<Vec<u8>>> = cids.iter().map(|c| self.cached(c)).collect();
        if self.complete {
            return Ok(out);
        }
        let guess: Vec<usize> = (0..cids.len()).filter(|i| out[*i].is_none()).collect();
        let keys: Vec<Vec<u8>> = guess.iter().map(|i| Sha256::digest(cids[*i].to_bytes()).to_vec()).collect();
        let packs = tx.get_many(Table::Packs, &keys).await?;
        let mut rest = Vec::new();
        for ((i, key), pack) in guess.into_iter().zip(keys).zip(packs) {
            // A pack of another block with the same key cannot be: the
            // check is the block's CID in it.
            let alone = pack
                .as_deref()
                .map(unpack)
                .transpose()?
                .filter(|items| matches!(items.as_slice(), [(c, _)] if *c == cids[i].to_bytes().as_slice()));
            match alone {
                Some(items) => {
                    let blocks = items.into_iter().map(|(c, b)| (c.to_vec(), b.to_vec()));
                    self.keep(key, blocks);
                    out[i] = self.find(&cids[i]);
                }
                None => rest.push(i),
            }
        }
        if !rest.is_empty() {
            let others: Vec<Cid> = rest.iter().map(|i| cids[*i]).collect();
            for (i, found) in rest.into_iter().zip(self.get(tx, &others).await?) {
                out[i] = found;
            }
        }
        Ok(out)
    }

    /// Reads every pack, `chunk` at a time, unless they pass `max_bytes`
    /// (then it forgets them and returns false): for a caller that would
    /// otherwise read most of them one request at a time.
    pub async fn read_all<T: Tx>(&mut self, tx: &mut T, chunk: usize, max_bytes: usize) -> Result<bool, StoreError> {
        let (mut range, mut bytes) = (KeyRange::all(), 0);
        loop {
            let packs = tx.scan(Table::Packs, &range, Some(chunk)).await?;
            let last = packs.last().map(|(k, _)| k.clone());
            for (key, value) in packs.iter() {
                bytes += value.len();
                if bytes > max_bytes {
                    *self = Blocks { recent: self.recent, ..Blocks::default() };
                    return Ok(false);
                }
                let blocks = unpack(value)?.into_iter().map(|(c, b)| (c.to_vec(), b.to_vec()));
                self.keep(key.clone(), blocks);
            }
            match last {
                Some(last) if packs.len() == chunk => range.lower = std::ops::Bound::Excluded(last),
                _ => break,
            }
        }
        self.complete = true;
        Ok(true)
    }

    /// Reads whose [`Blocks::get_held`] looks among `recent` first.
    pub fn with_recent(recent: &'r RefCell<RecentBlocks>) -> Self {
        Blocks { recent: Some(recent), ..Blocks::default() }
    }

    /// A block of a pack read already, or committed lately.
    fn cached(&self, cid: &Cid) -> Option<Vec<u8>> {
        let key = cid.to_bytes();
        match self.blocks.get(&key) {
            Some(block) => Some(block.clone()),
            None => self.recent?.borrow().get(&key).cloned(),
        }
    }

    /// How many of `cids` [`Blocks::get_held`] would have to read.
    pub fn to_read(&self, cids: &[Cid]) -> usize {
        let recent = self.recent.map(|r| r.borrow());
        let at_hand =
            |key: &Vec<u8>| self.blocks.contains_key(key) || recent.as_ref().is_some_and(|r| r.get(key).is_some());
        cids.iter().filter(|c| !at_hand(&c.to_bytes())).count()
    }

    fn keep(&mut self, key: Vec<u8>, blocks: impl IntoIterator<Item = (Vec<u8>, Vec<u8>)>) {
        self.packs_read.insert(key);
        self.blocks.extend(blocks);
    }

    fn find(&self, cid: &Cid) -> Option<Vec<u8>> {
        self.blocks.get(&cid.to_bytes()).cloned()
    }

    /// One stored block.
    pub async fn one<T: Tx>(&mut self, tx: &mut T, cid: Cid) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.get(tx, &[cid]).await?.pop().flatten())
    }
}

/// Every stored block, as (CID bytes, block bytes), in CID order.
pub(crate) async fn all_blocks<T: Tx>(tx: &mut T) -> Result<Vec<(Vec<u8>, Vec<u8>)>, StoreError> {
    let mut out = Vec::new();
    for pack in tx.scan_values(Table::Packs, &KeyRange::all(), None).await? {
        out.extend(unpack(&pack)?.into_iter().map(|(c, b)| (c.to_vec(), b.to_vec())));
    }
    out.sort_unstable();
    Ok(out)
}

/// Moves a database of layout `from` (`None`: layout 1, which recorded
/// none) into this build's layout, within `tx`, and records the layout.
/// Returns whether layout 1 had anything to move. The caller writes the
/// signing key's record in this layout's form ([`key_record`]), the one
/// change from layout 4.
///
/// A layout-1 or layout-2 database: layout 1's blocks into packs and each
/// document's heads and state into one record; then every index entry anew
/// from the document records (layout 2's carried the record), the layout-1
/// tables emptied. Then, from every layout before 4, each outbox row keyed
/// `peer ‖ 0 ‖ CID` is keyed anew `peer ‖ 0 ‖ height ‖ CID` ([`rekeyed`]).
pub(crate) async fn migrate<T: Tx>(tx: &mut T, from: Option<u8>) -> Result<bool, StoreError> {
    let mut moved = false;
    if from == Some(LAYOUT_4) {
        tx.put(Table::Meta, LAYOUT_KEY, &[LAYOUT]).await?;
        return Ok(false);
    }
    if from != Some(LAYOUT_3) {
        let mut defs = BTreeMap::new();
        for (_, v) in tx.scan(Table::Meta, &KeyRange::prefix(META_SCHEMA), None).await? {
            let def: CollectionDef =
                serde_json::from_slice(&v).map_err(|e| StoreError(format!("corrupt schema: {e}")))?;
            defs.insert(def.name.clone(), def);
        }
        let blocks = tx.scan(Table::LegacyBlocks, &KeyRange::all(), None).await?;
        let docs = tx.scan(Table::LegacyDocs, &KeyRange::all(), None).await?;
        moved = !blocks.is_empty() || !docs.is_empty();
        if moved {
            let heads: HashMap<Vec<u8>, Vec<u8>> =
                tx.scan(Table::LegacyHeads, &KeyRange::all(), None).await?.into_iter().collect();
            for (key, state) in docs {
                let (_, id) = split_doc_key(&key).ok_or_else(|| StoreError("corrupt document key".into()))?;
                let state: DocState = uncbor(&state)?;
                let doc_heads: Heads = match heads.get(&key) {
                    Some(h) => uncbor(h)?,
                    None => Vec::new(),
                };
                tx.put(Table::Documents, &key, &record(&id, &state, &doc_heads)).await?;
            }
            let cids = blocks
                .iter()
                .map(|(k, _)| Cid::try_from(k.as_slice()).map_err(StoreError::new))
                .collect::<Result<Vec<_>, _>>()?;
            let pairs: Vec<(Cid, &[u8])> = cids.into_iter().zip(blocks.iter().map(|(_, v)| v.as_slice())).collect();
            put_blocks(tx, &pairs).await?;
        }
        // Whatever else layout 1 left (heads or index rows of nothing) goes too,
        // and so do layout 2's index entries: all are made anew.
        for t in [Table::LegacyBlocks, Table::LegacyHeads, Table::LegacyDocs, Table::LegacyIndex, Table::Entries] {
            tx.clear(t).await?;
        }
        for (key, record) in tx.scan(Table::Documents, &KeyRange::all(), None).await? {
            let (col, _) = split_doc_key(&key).ok_or_else(|| StoreError("corrupt document key".into()))?;
            let (id, state) = record_doc(&record)?;
            let keys = defs.get(&col).map(|def| index_keys(def, &id, &state)).unwrap_or_default();
            if !keys.is_empty() {
                let entry = entry(&id, &state);
                for k in keys {
                    tx.put(Table::Entries, &k, &entry).await?;
                }
            }
        }
    }
    let outbox = rekeyed(tx.scan(Table::Outbox, &KeyRange::all(), None).await?);
    tx.clear(Table::Outbox).await?;
    for (key, value) in outbox {
        tx.put(Table::Outbox, &key, &value).await?;
    }
    tx.put(Table::Meta, LAYOUT_KEY, &[LAYOUT]).await?;
    Ok(moved)
}

/// Outbox rows of layouts 1 to 3 (`peer ‖ 0 ‖ CID` → height ‖ collection)
/// keyed as layout 4's, the height taken from the value, so a peer's rows
/// sort parents first (`crate::records`). A row of no such form is dropped
/// with a warning: it could not have been sent.
fn rekeyed(rows: Vec<(Vec<u8>, Vec<u8>)>) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut out = Vec::with_capacity(rows.len());
    for (key, value) in rows {
        // Every block's CID is 36 bytes (CIDv1, DAG-CBOR, sha2-256).
        let at = key.len().saturating_sub(36);
        let old_form = at > 0 && key[at - 1] == 0 && Cid::try_from(&key[at..]).is_ok();
        match value.get(..8).filter(|_| old_form) {
            Some(height) => out.push(([&key[..at], height, &key[at..]].concat(), value)),
            None => tracing::warn!("dropping an outbox row of no known form"),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use futures::executor::block_on;
    use serde_json::{json, Value};

    /// An open's range read ends with the key's record when there is one:
    /// only this layout's form (the seed, then 5) is taken for it, never a
    /// schema's JSON nor layout 4's seed alone, whatever its last byte.
    #[test]
    fn only_this_layout_s_key_record_is_taken_for_the_seed() {
        let seed = [5u8; 32];
        use super::{key_record, seed_of};
        assert_eq!(seed_of(&key_record(&seed)), Some(seed));
        assert_eq!(seed_of(&seed), None, "layout 4's record, ending with 5");
        assert_eq!(seed_of(&[[5u8; 32].as_slice(), &[4]].concat()), None);
        assert_eq!(seed_of(&[[5u8; 33].as_slice(), &[5]].concat()), None);
        assert_eq!(seed_of(br#"{"name":"Book","fields":[],"x":1}"#), None, "a schema of 33 bytes");
        assert_eq!(seed_of(&[]), None);
    }

    use crate::db::Db;
    use crate::store::{FailingStore, KeyRange, MemoryStore, Mode, Store, Table, Tx};

    /// `tests/fixtures/layout1.json`'s rows (written by the layout-1 code)
    /// in a memory store, under layout 1's tables.
    async fn layout1() -> MemoryStore {
        let fixture: Value = serde_json::from_str(include_str!("../../tests/fixtures/layout1.json")).unwrap();
        let hex = |v: &Value| hex_bytes(v.as_str().unwrap());
        let store = MemoryStore::new();
        let mut tx = store.begin(Mode::Write).await.unwrap();
        for (name, rows) in fixture["tables"].as_object().unwrap() {
            let table = *Table::ALL.iter().find(|t| t.name() == name).unwrap();
            for row in rows.as_array().unwrap() {
                tx.put(table, &hex(&row[0]), &hex(&row[1])).await.unwrap();
            }
        }
        tx.commit().await.unwrap();
        store
    }

    fn hex_bytes(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    async fn rows<S: Store>(store: &S, tables: &[Table]) -> usize {
        let mut tx = store.begin(Mode::Read).await.unwrap();
        let mut n = 0;
        for t in tables {
            n += tx.scan(*t, &KeyRange::all(), None).await.unwrap().len();
        }
        n
    }

    const LEGACY: [Table; 4] = [Table::LegacyBlocks, Table::LegacyHeads, Table::LegacyDocs, Table::LegacyIndex];

    /// What a user reads: every book and note with its heads, and every block.
    async fn read<S: Store>(db: &Db<S>) -> (Value, Vec<usize>) {
        let mut docs = Vec::new();
        for col in ["Book", "Note"] {
            for doc in db.find(col, &serde_json::json!({})).await.unwrap() {
                let id = doc["_id"].as_str().unwrap().to_owned();
                docs.push(serde_json::json!([doc, db.heads(col, &id).await.unwrap().len()]));
            }
        }
        (Value::Array(docs), vec![db.export().await.unwrap().len(), db.pending_count().await.unwrap()])
    }

    /// The open of a layout-1 database failing at each of its commits in
    /// turn (an aborted IndexedDB transaction; or a crash from that commit
    /// on, then a restart): the store is left as layout 1 left it or
    /// migrated whole, never half moved, and the next open migrates it and
    /// reads what a clean migration reads.
    #[test]
    fn a_migration_failing_at_any_commit_moves_nothing_and_the_next_open_completes_it() {
        block_on(async {
            let clean = FailingStore::new(layout1().await);
            let reference = read(&Db::open(clean.clone()).await.unwrap()).await;
            assert!(!reference.0.as_array().unwrap().is_empty());
            // Key, layout and the moved data in one transaction: one commit
            // (the loop below takes each, should that change).
            let commits = clean.commits();
            assert_eq!(commits, 1, "the open of a layout-1 database commits once");
            for n in 1..=commits {
                for crash in [false, true] {
                    let store = FailingStore::new(layout1().await);
                    let legacy = rows(store.inner(), &LEGACY).await;
                    match crash {
                        true => store.crash_at(n),
                        false => store.fail_commit(n),
                    }
                    let opened = Db::open(store.clone()).await;
                    assert!(store.failed() >= 1, "commit {n} failed");
                    let moved = rows(store.inner(), &[Table::Documents, Table::Packs]).await;
                    match (&opened, moved) {
                        (Err(_), 0) => {
                            assert_eq!(rows(store.inner(), &LEGACY).await, legacy, "commit {n}: layout 1 kept whole")
                        }
                        (_, 1..) => assert_eq!(rows(store.inner(), &LEGACY).await, 0, "commit {n}: moved whole"),
                        (Ok(_), 0) => panic!("commit {n} (crash {crash}): opened with nothing moved"),
                    }
                    drop(opened);
                    store.heal();
                    let db = Db::open(store.clone()).await.unwrap();
                    assert_eq!(
                        rows(store.inner(), &LEGACY).await,
                        0,
                        "commit {n} (crash {crash}): migrated on the next open"
                    );
                    assert_eq!(read(&db).await, reference, "commit {n} (crash {crash})");
                }
            }
        });
    }

    /// An index entry is the document as `get` and `find` return it: `_id`
    /// first, the fields in name order, none that is null (a field set to
    /// null, or deleted by an update, is absent).
    #[test]
    fn an_entry_is_the_document_as_a_query_returns_it() {
        use crate::core::doc::{DocState, Register};
        let reg = |value: Value| Register { value, height: 1, cid: serde_bytes::ByteBuf::from(vec![1, 2]) };
        let mut state = DocState::default();
        for (name, value) in [
            ("title", json!("a \"quoted\" title\n")),
            ("pages", json!(12)),
            ("rating", json!(0.5)),
            ("author", Value::Null),
            ("tags", json!(["x", "y"])),
            ("big", json!(18446744073709551615u64)),
        ] {
            state.fields.insert(name.into(), reg(value));
        }
        let id = "bafyreid";
        let text = super::entry(id, &state);
        assert_eq!(text, serde_json::to_vec(&state.document(id)).unwrap());
        let doc: serde_json::Map<String, Value> = serde_json::from_slice(&text).unwrap();
        assert_eq!(doc.keys().collect::<Vec<_>>(), ["_id", "big", "pages", "rating", "tags", "title"]);
        assert_eq!(super::unentry(&text).unwrap(), state.document(id));
        assert!(super::unentry(b"[1]").is_err() && super::unentry(b"\xff").is_err(), "not a document: corrupt");
    }

    /// A layout-3 outbox row is keyed anew with its height before its CID,
    /// whatever bytes its peer's id holds (an Ed25519 peer id's start with
    /// 0, as the key's separator does); a row of no known form is dropped.
    #[test]
    fn an_old_outbox_row_is_keyed_anew_with_its_height() {
        let cid = crate::core::block::cid_of(b"a block");
        let peer = [&[0u8, 0x24, 0x08, 0x01, 0x12, 0x20][..], &[0; 32]].concat();
        let old_key = [&peer[..], &[0], &cid.to_bytes()].concat();
        let value = [&7u64.to_be_bytes()[..], b"Book"].concat();
        let rows = vec![
            (old_key.clone(), value.clone()),
            (cid.to_bytes(), value.clone()),                              // no peer
            (old_key.clone(), b"short".to_vec()),                         // no height
            ([&peer[..], &[1], &cid.to_bytes()].concat(), value.clone()), // no separator
        ];
        let want = [&peer[..], &[0], &7u64.to_be_bytes(), &cid.to_bytes()].concat();
        assert_eq!(super::rekeyed(rows), vec![(want, value)]);
    }

    /// Layout 3's outbox, natively (the outbox is the node's, `net`).
    #[cfg(all(feature = "net", not(target_arch = "wasm32")))]
    mod outbox {
        use super::*;

        /// `tests/fixtures/layout3-outbox.json` (written by the layout-3 code,
        /// its outbox keyed by CID) in `store`: packs with their secondary keys.
        async fn write_layout3<S: Store>(store: &S, fixture: &Value) {
            let tables = fixture["tables"].as_object().unwrap();
            let rows = |name: &str| -> Vec<(Vec<u8>, Vec<u8>)> {
                let rows = tables[name].as_array().unwrap().iter();
                rows.map(|r| (hex_bytes(r[0].as_str().unwrap()), hex_bytes(r[1].as_str().unwrap()))).collect()
            };
            let by = rows("packs_by");
            let mut tx = store.begin(Mode::Write).await.unwrap();
            for (key, pack) in rows("packs") {
                let cids: Vec<Vec<u8>> = by.iter().filter(|(_, k)| *k == key).map(|(c, _)| c.clone()).collect();
                tx.put_keyed(Table::Packs, &key, &pack, &[], &cids).await.unwrap();
            }
            for name in tables.keys().filter(|n| !n.starts_with("packs")) {
                let table = Table::ALL.into_iter().find(|t| t.name() == name).unwrap();
                for (k, v) in rows(name) {
                    tx.put(table, &k, &v).await.unwrap();
                }
            }
            tx.commit().await.unwrap();
        }

        /// A layout-3 outbox opens keyed by height: each replicator's peer is
        /// sent its queue parents first, as before, and what it acknowledges
        /// or refuses leaves it; the documents read as they did.
        async fn layout3_outbox_opens_migrated<S: Store + Clone>(store: S) {
            let fixture: Value =
                serde_json::from_str(include_str!("../../tests/fixtures/layout3-outbox.json")).unwrap();
            write_layout3(&store, &fixture).await;
            let db = Db::open(store.clone()).await.unwrap();
            let mut tx = store.begin(Mode::Read).await.unwrap();
            assert_eq!(
                tx.get(Table::Meta, crate::db::layout::LAYOUT_KEY).await.unwrap(),
                Some(vec![crate::db::layout::LAYOUT])
            );
            drop(tx);
            crate::db::check::assert_consistent(&db).await;
            let mut queued: Vec<(u64, String)> = serde_json::from_value(fixture["expect"]["queued"].clone()).unwrap();
            assert_eq!(queued.len(), 12);
            // Height, then the CID's bytes (its text sorts otherwise).
            queued.sort_by_key(|(h, c)| (*h, cid::Cid::try_from(c.as_str()).unwrap().to_bytes()));
            let one = crate::records::PeerKey { text: "peer-one".into(), bytes: b"peer-one".to_vec() };
            let (batch, total) = db.outbox_next(&one.bytes, |_| false, 5, usize::MAX).await.unwrap();
            let names = |b: &[(crate::records::Queued, Vec<u8>)]| -> Vec<(u64, String)> {
                b.iter().map(|((h, c), _)| (*h, c.to_string())).collect()
            };
            assert_eq!((names(&batch), total), (queued[..5].to_vec(), 12), "peer-one: parents first");
            let (all, _) = db.outbox_next(&one.bytes, |_| false, 100, usize::MAX).await.unwrap();
            assert_eq!(names(&all), queued);
            for ((h, c), bytes) in &all {
                let b = crate::core::block::SignedBlock::decode(bytes, Some(*c)).unwrap();
                assert_eq!(b.block.height, *h, "the block the row names, at its height");
            }
            let two: Vec<(u64, String)> = queued.iter().filter(|(h, _)| *h != 2).cloned().collect();
            let (batch, total) = db.outbox_next(b"peer-two", |_| false, 100, usize::MAX).await.unwrap();
            assert_eq!((names(&batch), total), (two, 9), "peer-two: its own queue");
            // Acknowledged and refused blocks leave the queue.
            let refused = (all[1].0, "VALIDATION", "no");
            db.outbox_done(&one, &[all[0].0], &[refused]).await.unwrap();
            let (rest, total) = db.outbox_next(&one.bytes, |_| false, 100, usize::MAX).await.unwrap();
            assert_eq!((names(&rest), total), (queued[2..].to_vec(), 10));
            assert_eq!(db.refusals().await.unwrap().len(), 1);
            for id in fixture["expect"]["books"].as_array().unwrap() {
                assert_eq!(db.get("Book", id.as_str().unwrap()).await.unwrap().unwrap()["pages"], json!(20));
            }
        }

        #[test]
        fn a_layout3_outbox_opens_migrated_in_memory() {
            block_on(layout3_outbox_opens_migrated(MemoryStore::new()));
        }

        #[test]
        fn a_layout3_outbox_opens_migrated_on_redb() {
            let dir = tempfile::tempdir().unwrap();
            let store = crate::store::RedbStore::open(dir.path().join("db.redb")).unwrap();
            block_on(layout3_outbox_opens_migrated(store));
        }
    }
}
