//! Questions about the block graph that replication asks: whose heads,
//! which blocks are held, and which blocks another replica lacks.

use std::collections::{BTreeMap, HashMap, HashSet};

use cid::Cid;

use crate::core::block::SignedBlock;
use crate::core::doc::Heads;
use crate::db::layout::{record_heads, Blocks};
use crate::db::{doc_key, Db};
use crate::error::Error;
use crate::store::{KeyRange, Store, Table, Tx};

/// The fewest block reads a walk must expect before reading every pack
/// instead is worth a count of them.
const PRELOAD_MIN: usize = 256;
/// How many packs a walk may read all at once for each block read it
/// expects: in a page a pack read in a scan costs about a third of a read
/// on its own (a catch-up's walk: ~57 µs a block read alone, ~20 µs a pack
/// read all at once; BENCHMARKS.md, "Catch-up", session 15), so up to
/// two packs a read is a gain.
const PRELOAD_PACKS_PER_READ: usize = 2;
/// Packs read per request when a walk reads them all.
const PRELOAD_CHUNK: usize = 1024;
/// The most bytes of packs a walk reads all at once (then it reads block by block).
const PRELOAD_BYTES: usize = 8 << 20;

impl<S: Store> Db<S> {
    /// Which of `cids` are here, merged or waiting for parents.
    pub async fn held_or_pending(&self, cids: &[Cid]) -> Result<Vec<bool>, Error> {
        let keys: Vec<Vec<u8>> = cids.iter().map(|c| c.to_bytes()).collect();
        let mut tx = self.store().begin_read(&[Table::Packs, Table::Pending]).await?;
        let merged = tx.get_many(Table::PacksBy, &keys).await?;
        let pending = tx.get_many(Table::Pending, &keys).await?;
        Ok(merged.iter().zip(&pending).map(|(m, p)| m.is_some() || p.is_some()).collect())
    }

    /// The merged blocks of `want` that `keep` lets through, in `want`'s
    /// order, read one at a time until the next would pass `max_blocks`
    /// or `max_bytes`: a caller answering a peer's request costs one read
    /// per CID named (its pack's key), one per pack not read yet, and one
    /// block beyond its budget. Also how many blocks
    /// `keep` held back.
    pub async fn blocks_within(
        &self,
        want: &[Cid],
        max_blocks: usize,
        max_bytes: usize,
        mut keep: impl FnMut(&SignedBlock) -> bool,
    ) -> Result<(Vec<Vec<u8>>, u64), Error> {
        let mut tx = self.store().begin_read(&[Table::Packs]).await?;
        let mut packs = Blocks::default();
        let (mut blocks, mut size, mut held_back) = (Vec::new(), 0, 0);
        for cid in want {
            if blocks.len() >= max_blocks {
                break;
            }
            let Some(bytes) = packs.one(&mut tx, *cid).await? else { continue };
            if size + bytes.len() > max_bytes {
                break;
            }
            let Ok(block) = SignedBlock::decode_stored(bytes, *cid) else { continue };
            if !keep(&block) {
                held_back += 1;
                continue;
            }
            size += block.bytes.len();
            blocks.push(block.bytes);
        }
        Ok((blocks, held_back))
    }

    /// The heads of every document of `col` (or of the documents `only`).
    pub async fn collection_heads(&self, col: &str, only: Option<&[String]>) -> Result<BTreeMap<String, Heads>, Error> {
        let mut tx = self.store().begin_read(&[Table::Documents]).await?;
        // A record holds its id: the records alone, not their keys too.
        let records = match only {
            None => tx.scan_values(Table::Documents, &KeyRange::prefix(&doc_key(col, "")), None).await?,
            Some(ids) => {
                let keys: Vec<Vec<u8>> = ids.iter().map(|id| doc_key(col, id)).collect();
                tx.get_many(Table::Documents, &keys).await?.into_iter().flatten().collect()
            }
        };
        // Inserted one by one: a `collect` into the map would be another
        // instance of its bulk build in the page's wasm.
        let mut out = BTreeMap::new();
        for v in &records {
            let (id, heads) = record_heads(v)?;
            out.insert(id, heads);
        }
        Ok(out)
    }

    /// Which of `cids` are merged here (pending blocks do not count: their
    /// history is not complete).
    pub async fn has_blocks(&self, cids: &[Cid]) -> Result<Vec<bool>, Error> {
        let mut tx = self.store().begin_read(&[Table::Packs]).await?;
        Ok(Blocks::locate(&mut tx, cids).await?.into_iter().map(|b| b.is_some()).collect())
    }

    /// The bytes of the merged blocks among `cids`, in the order asked.
    pub async fn get_blocks(&self, cids: &[Cid]) -> Result<Vec<Option<Vec<u8>>>, Error> {
        let mut tx = self.store().begin_read(&[Table::Packs]).await?;
        Ok(Blocks::default().get(&mut tx, cids).await?)
    }

    /// The blocks of document `id` held here that are not ancestors (or
    /// equal) of `theirs`, the heads another replica reported, parents
    /// before children so the other side merges them without waiting.
    ///
    /// Heads of theirs that are unknown here cannot be walked; blocks below
    /// them may then be sent although the other side holds them, which is
    /// why replication offers CIDs before sending blocks when the other
    /// side's heads are not all known.
    pub async fn blocks_missing_from(&self, col: &str, id: &str, theirs: &[Cid]) -> Result<Vec<(Cid, Vec<u8>)>, Error> {
        let ours: Vec<Cid> = {
            let mut tx = self.store().begin_read(&[Table::Documents]).await?;
            self.heads_in(&mut tx, col, id).await?.into_iter().map(|h| h.0).collect()
        };
        Ok(self.blocks_missing_from_each(&[(ours, theirs.to_vec())], 0).await?.pop().unwrap_or_default())
    }

    /// [`Db::blocks_missing_from`] of many documents at once, each given
    /// as (our heads, their heads): the walks go down all the documents
    /// together, one level of their graphs at a time, so a level costs a
    /// few batches of reads (`Blocks::get_held`: a block alone in its
    /// pack is one read), not two awaited reads per block. In a page each awaited read is a round
    /// trip to IndexedDB's backend: a peer lacking 1,000 documents of ten
    /// blocks each was 20,000 round trips.
    ///
    /// `reads`: the heights of our highest heads, summed over the documents;
    /// less the heights of their highest heads that we hold, it is about
    /// how many blocks our side of the walks reads (a branch of ours or a
    /// deep one of theirs reads more). Blocks this handle committed lately
    /// are taken from memory (`db::recent`) and cost no read. As soon as
    /// the reads it expects (at the share of blocks it has had to read so
    /// far), or those it made, reach `PRELOAD_MIN` (`Preload`), and the
    /// store holds no more than `PRELOAD_PACKS_PER_READ` packs for each,
    /// the packs (at most `PRELOAD_BYTES` of them) are all read in a few
    /// large requests and the walks read nothing more: a peer that lacks a
    /// good part of a small store (a page catching up) costs no request per
    /// block.
    pub async fn blocks_missing_from_each(
        &self,
        docs: &[(Vec<Cid>, Vec<Cid>)],
        reads: usize,
    ) -> Result<Vec<Vec<(Cid, Vec<u8>)>>, Error> {
        let mut tx = self.store().begin_read(&[Table::Packs]).await?;
        let mut packs = Blocks::with_recent(&self.recent);
        let mut preload = Preload::default();
        // Everything below a head of theirs that we hold, they hold too
        // (a CID names one block, of one document: one set serves all).
        // It is read only as deep as each document's walk goes: a block
        // below a head has a smaller height than the head (heights grow
        // from parent to child, checked at every merge), so once `known`
        // holds every block of theirs in a document down to the lowest
        // height our walk of it has reached, a block of ours not in it is
        // one they lack. A peer one change behind on a document of a
        // thousand costs a read or two, not its history.
        let mut theirs: Vec<Cid> = docs.iter().flat_map(|(_, theirs)| theirs.iter().copied()).collect();
        theirs.sort_unstable();
        theirs.dedup();
        let mut known = HashSet::new();
        let mut held = HashMap::new();
        // Their heads do not decide the preload: the walk's size is known
        // only once they are read (300 heads read first decided against it
        // for a walk of 600 blocks among 900 packs, which then read them
        // one by one: `tests/db.rs`
        // `a_walk_for_a_peer_holding_old_heads_reads_every_pack_at_once`).
        preload.count(&packs, &theirs);
        let their_heads = packs.get_held(&mut tx, &theirs).await?;
        for (c, bytes) in theirs.iter().zip(their_heads) {
            // One not here: nothing to walk below it.
            if let Some(bytes) = bytes {
                let b = SignedBlock::decode_stored(bytes, *c)?.block;
                known.insert(*c);
                held.insert(*c, (b.height, b.parents));
            }
        }
        // Blocks of theirs whose parents are not read yet: (document,
        // height, parents).
        let mut unread: Vec<(usize, u64, Vec<Cid>)> = Vec::new();
        let mut theirs_below = 0;
        for (i, (_, theirs)) in docs.iter().enumerate() {
            let heads: Vec<&(u64, Vec<Cid>)> = theirs.iter().filter_map(|c| held.get(c)).collect();
            theirs_below += heads.iter().map(|(h, _)| *h as usize).max().unwrap_or(0);
            unread.extend(heads.into_iter().map(|(h, parents)| (i, *h, parents.clone())));
        }
        // Our walk reads down from our heads to about their highest head,
        // in each document.
        preload.expected = reads.saturating_sub(theirs_below);
        // Then down from our heads, each document's walk apart.
        let mut missing: Vec<Vec<(u64, Cid, Vec<u8>)>> = vec![Vec::new(); docs.len()];
        let mut seen = HashSet::new();
        let mut level: Vec<(usize, Cid)> =
            docs.iter().enumerate().flat_map(|(i, (ours, _))| ours.iter().map(move |c| (i, *c))).collect();
        while !level.is_empty() {
            level.retain(|(_, c)| !known.contains(c) && seen.insert(*c));
            let cids: Vec<Cid> = level.iter().map(|(_, c)| *c).collect();
            let found = preload.read(&mut tx, &mut packs, &cids).await?;
            let mut read = Vec::new();
            let mut lowest: HashMap<usize, u64> = HashMap::new();
            for ((i, c), bytes) in level.into_iter().zip(found) {
                let Some(bytes) = bytes else { continue };
                let b = SignedBlock::decode_stored(bytes, c)?;
                let low = lowest.entry(i).or_insert(b.block.height);
                *low = (*low).min(b.block.height);
                read.push((i, c, b));
            }
            known_down_to(&mut tx, &mut packs, &mut preload, &mut known, &mut unread, &lowest).await?;
            let mut next = Vec::new();
            for (i, c, b) in read {
                if known.contains(&c) {
                    continue;
                }
                next.extend(b.block.parents.iter().map(|p| (i, *p)));
                missing[i].push((b.block.height, c, b.bytes));
            }
            level = next;
        }
        // Heights grow from parent to child: sorting by height is a causal order.
        Ok(missing
            .into_iter()
            .map(|mut m| {
                m.sort_unstable_by_key(|(h, c, _)| (*h, *c));
                m.into_iter().map(|(_, c, b)| (c, b)).collect()
            })
            .collect())
    }
}

/// Reads the blocks below `unread` (blocks of theirs whose parents are not
/// read yet) until `known` holds, in each document `lowest` names, every
/// block below them whose height is at least the document's lowest: a
/// parent's height is less than its child's, so only blocks above it can
/// have parents that high. The others wait for a later, lower level.
async fn known_down_to<T: Tx>(
    tx: &mut T,
    packs: &mut Blocks<'_>,
    preload: &mut Preload,
    known: &mut HashSet<Cid>,
    unread: &mut Vec<(usize, u64, Vec<Cid>)>,
    lowest: &HashMap<usize, u64>,
) -> Result<(), Error> {
    loop {
        let (above, kept): (Vec<_>, Vec<_>) =
            std::mem::take(unread).into_iter().partition(|(i, h, _)| lowest.get(i).is_some_and(|low| h > low));
        *unread = kept;
        let mut level: Vec<(usize, Cid)> =
            above.into_iter().flat_map(|(i, _, parents)| parents.into_iter().map(move |p| (i, p))).collect();
        level.retain(|(_, c)| known.insert(*c));
        if level.is_empty() {
            return Ok(());
        }
        let cids: Vec<Cid> = level.iter().map(|(_, c)| *c).collect();
        for ((i, c), bytes) in level.into_iter().zip(preload.read(tx, packs, &cids).await?) {
            match bytes {
                Some(bytes) => {
                    let b = SignedBlock::decode_stored(bytes, c)?.block;
                    unread.push((i, b.height, b.parents));
                }
                // Not here (a merged block's parents are): nothing below it.
                None => {
                    known.remove(&c);
                }
            }
        }
    }
}

/// Whether a walk reads every pack at once ([`Blocks::read_all`]) rather
/// than block by block: decided once, as soon as the reads it expects, or
/// those it has made, reach [`PRELOAD_MIN`]: worth it when the store holds
/// at most [`PRELOAD_PACKS_PER_READ`] packs for each. A block this handle
/// committed lately (`db::recent`), or in a pack read already, is no read:
/// the reads expected are scaled by the share of the blocks looked for
/// that had to be read, and nothing is decided on a level that reads
/// nothing. So a walk over what was just written (a peer catching up)
/// reads no pack, and one that finds only its lowest blocks missing reads
/// those alone.
#[derive(Default)]
struct Preload {
    /// The blocks the walk expects to look for from here on.
    expected: usize,
    /// The blocks it looked for.
    looked: usize,
    /// Those of them it had to read.
    made: usize,
    decided: bool,
}

impl Preload {
    /// Counts a look for `cids`: how many of them `packs` has to read.
    fn count(&mut self, packs: &Blocks<'_>, cids: &[Cid]) -> usize {
        let reads = packs.to_read(cids);
        self.looked += cids.len();
        self.made += reads;
        reads
    }

    async fn read<T: Tx>(
        &mut self,
        tx: &mut T,
        packs: &mut Blocks<'_>,
        cids: &[Cid],
    ) -> Result<Vec<Option<Vec<u8>>>, Error> {
        if self.count(packs, cids) > 0 && !self.decided {
            let reads = (self.expected.saturating_mul(self.made) / self.looked).max(self.made);
            if reads >= PRELOAD_MIN {
                self.decided = true;
                if tx.count(Table::Packs, &KeyRange::all()).await? <= reads.saturating_mul(PRELOAD_PACKS_PER_READ) {
                    packs.read_all(tx, PRELOAD_CHUNK, PRELOAD_BYTES).await?;
                }
            }
        }
        Ok(packs.get_held(tx, cids).await?)
    }
}
