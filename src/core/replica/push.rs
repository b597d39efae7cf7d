//! Head exchange's pushes: the blocks one peer lacks, sent batch after
//! batch (`/weft/replicate/1`).
//!
//! Each peer has a lane: a queue of batches, at most one in flight, in the
//! order queued (parents first), so the receiver never waits for a parent
//! that is still on the way. A lane remembers every block queued on it
//! for the connection's life: the two exchanges of a connection (ours and
//! the peer's) never send a block twice. A batch refused drops the rest of
//! its collection's queue (the peer will not take that collection); a
//! failed one drops the lane, and the next exchange works out again what
//! the peer lacks. The first batch to a peer that reported no heads at all
//! holds one block: a peer without the collection refuses it cheaply.
//!
//! Offers (CIDs first, for blocks below heads we do not hold, so we cannot
//! tell what the peer lacks) are cut by [`offer_chunks`].

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::hash::Hash;
use std::num::NonZeroUsize;

use lru::LruCache;

/// How many blocks a lane remembers sending (or the peer acknowledging)
/// at most, the oldest forgotten first: a connection that lasts for months
/// of replication must not keep every CID it carried. One forgotten is at
/// worst pushed once more, and the peer answers it as a replay.
pub const SENT_REMEMBERED: usize = 65_536;

/// One push: a collection's blocks with their CIDs, parents first, how
/// many blocks are queued behind it, and the lane it is of (its answer
/// or failure names it back).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushBatch<C> {
    pub col: String,
    pub blocks: Blocks<C>,
    pub remaining: u64,
    pub lane: LaneId,
}

/// Which lane to a peer a batch was of: a lane dropped (its connection
/// closed, a batch failed) and made again is another, and the answers to
/// the old one's batches must not move the new one on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LaneId(u64);

/// Blocks with their CIDs, parents first.
type Blocks<C> = Vec<(C, Vec<u8>)>;

#[derive(Debug, Clone)]
struct Lane<C: Hash + Eq> {
    id: LaneId,
    /// Batches of a collection, in the order to send them.
    queue: VecDeque<(String, Blocks<C>)>,
    inflight: bool,
    sent: LruCache<C, ()>,
}

/// Every peer's push lane.
#[derive(Debug, Clone)]
pub struct PushLanes<P, C: Hash + Eq> {
    /// A batch weighs at most this many bytes (one block may weigh more,
    /// alone)...
    batch_bytes: usize,
    /// ...and holds at most this many blocks.
    batch_blocks: usize,
    lanes: BTreeMap<P, Lane<C>>,
    made: u64,
}

impl<P: Ord + Clone, C: Ord + Clone + Hash> PushLanes<P, C> {
    pub fn new(batch_bytes: usize, batch_blocks: usize) -> Self {
        PushLanes { batch_bytes, batch_blocks: batch_blocks.max(1), lanes: BTreeMap::new(), made: 0 }
    }

    /// `peer`'s lane, made if it has none.
    fn lane(&mut self, peer: &P) -> &mut Lane<C> {
        let made = &mut self.made;
        self.lanes.entry(peer.clone()).or_insert_with(|| {
            *made += 1;
            let sent = LruCache::new(NonZeroUsize::new(SENT_REMEMBERED).expect("not zero"));
            Lane { id: LaneId(*made), queue: VecDeque::new(), inflight: false, sent }
        })
    }

    /// `peer`'s lane if it is `id`.
    fn current(&mut self, peer: &P, id: LaneId) -> Option<&mut Lane<C>> {
        self.lanes.get_mut(peer).filter(|l| l.id == id)
    }

    /// Whether `cid` was queued for `peer` on this connection.
    pub fn was_sent(&self, peer: &P, cid: &C) -> bool {
        self.lanes.get(peer).is_some_and(|l| l.sent.contains(cid))
    }

    /// Queues `blocks` of `col` for `peer` (those never queued for it on
    /// this connection), one block in the first batch when `probe`; the
    /// batch to send now, if the lane was idle.
    pub fn enqueue(&mut self, peer: &P, col: &str, blocks: Blocks<C>, probe: bool) -> Option<PushBatch<C>> {
        let batch_blocks = self.batch_blocks;
        let batch_bytes = self.batch_bytes;
        let lane = self.lane(peer);
        let mut batch = Vec::new();
        let mut size = 0;
        let mut limit = if probe { 1 } else { batch_blocks };
        for (cid, bytes) in blocks {
            if lane.sent.put(cid.clone(), ()).is_some() {
                continue;
            }
            if !batch.is_empty() && (batch.len() >= limit || size + bytes.len() > batch_bytes) {
                lane.queue.push_back((col.to_string(), std::mem::take(&mut batch)));
                size = 0;
                limit = batch_blocks;
            }
            size += bytes.len();
            batch.push((cid, bytes));
        }
        if !batch.is_empty() {
            lane.queue.push_back((col.to_string(), batch));
        }
        self.next(peer)
    }

    /// `peer` acknowledged `cids` some other way (the outbox's push): they
    /// are not queued for it again on this connection, and those queued
    /// and not yet sent are taken out.
    pub fn delivered(&mut self, peer: &P, cids: &[C]) {
        // A lane made now still counts: a head exchange whose heads were read
        // before these arrived may yet queue them.
        let lane = self.lane(peer);
        for c in cids {
            lane.sent.put(c.clone(), ());
        }
        let gone: BTreeSet<&C> = cids.iter().collect();
        for (_, blocks) in lane.queue.iter_mut() {
            blocks.retain(|(c, _)| !gone.contains(c));
        }
        lane.queue.retain(|(_, blocks)| !blocks.is_empty());
    }

    /// `peer` took the batch in flight on `lane`, holding `cids` now: the
    /// next one, if any. (The answer to a batch of an earlier lane only
    /// says what the peer holds.)
    pub fn acked(&mut self, peer: &P, lane: LaneId, cids: &[C]) -> Option<PushBatch<C>> {
        if let Some(l) = self.lanes.get_mut(peer) {
            for c in cids {
                l.sent.put(c.clone(), ());
            }
        }
        self.current(peer, lane)?.inflight = false;
        self.next(peer)
    }

    /// `peer` refused the batch in flight on `lane`, of `col`: the rest of
    /// `col` is dropped; the next batch of another collection, if any.
    pub fn refused(&mut self, peer: &P, lane: LaneId, col: &str) -> Option<PushBatch<C>> {
        let l = self.current(peer, lane)?;
        l.inflight = false;
        l.queue.retain(|(c, _)| c != col);
        self.next(peer)
    }

    /// The batch in flight on `lane` got no answer: the lane goes, and
    /// what it held is worked out again by the next exchange (but for what
    /// the peer acknowledged, which it holds). A batch of an earlier lane
    /// changes nothing.
    pub fn failed(&mut self, peer: &P, lane: LaneId) {
        if self.current(peer, lane).is_some() {
            self.drop_lane(peer);
        }
    }

    /// The connection went: the lane goes, and what it held is worked out
    /// again by the next exchange.
    pub fn drop_lane(&mut self, peer: &P) {
        self.lanes.remove(peer);
    }

    fn next(&mut self, peer: &P) -> Option<PushBatch<C>> {
        let lane = self.lanes.get_mut(peer)?;
        if lane.inflight {
            return None;
        }
        let (col, blocks) = lane.queue.pop_front()?;
        lane.inflight = true;
        let remaining = lane.queue.iter().map(|(_, b)| b.len() as u64).sum();
        Some(PushBatch { col, blocks, remaining, lane: lane.id })
    }
}

/// Cuts documents' candidate CIDs into offers of at most `max` CIDs,
/// keeping each document's candidates in one offer where they fit, so its
/// wanted blocks are pushed together, parents first.
pub fn offer_chunks<C: Clone>(docs: Vec<Vec<C>>, max: usize) -> Vec<Vec<C>> {
    let max = max.max(1);
    let mut offers = Vec::new();
    let mut offer: Vec<C> = Vec::new();
    for doc in docs {
        if !offer.is_empty() && offer.len() + doc.len() > max {
            offers.push(std::mem::take(&mut offer));
        }
        for chunk in doc.chunks(max) {
            offer.extend_from_slice(chunk);
            if offer.len() >= max {
                offers.push(std::mem::take(&mut offer));
            }
        }
    }
    if !offer.is_empty() {
        offers.push(offer);
    }
    offers
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blocks(cids: &[u32], size: usize) -> Vec<(u32, Vec<u8>)> {
        cids.iter().map(|c| (*c, vec![0; size])).collect()
    }

    fn cids(b: &PushBatch<u32>) -> Vec<u32> {
        b.blocks.iter().map(|(c, _)| *c).collect()
    }

    /// The answer to the batch in flight on `peer`'s lane.
    fn ack(l: &mut PushLanes<char, u32>, peer: char) -> Option<PushBatch<u32>> {
        let lane = l.lanes.get(&peer)?.id;
        l.acked(&peer, lane, &[])
    }

    #[test]
    fn one_batch_at_a_time_in_order_and_no_block_twice() {
        let mut l = PushLanes::new(1000, 2);
        let first = l.enqueue(&'a', "Book", blocks(&[1, 2, 3, 4, 5], 10), false).expect("idle lane sends");
        assert_eq!((cids(&first), first.remaining), (vec![1, 2], 3));
        assert_eq!(l.enqueue(&'a', "Book", blocks(&[5, 6, 1], 10), false), None, "one in flight");
        assert!(l.was_sent(&'a', &6) && !l.was_sent(&'b', &6));
        let mut order = vec![];
        while let Some(b) = ack(&mut l, 'a') {
            order.push(cids(&b));
        }
        assert_eq!(order, vec![vec![3, 4], vec![5], vec![6]], "5 and 1 were queued once");
    }

    #[test]
    fn batches_stop_at_their_bytes_but_a_large_block_goes_alone() {
        let mut l = PushLanes::new(25, 100);
        let b = l.enqueue(&'a', "Book", blocks(&[1, 2, 3], 10), false).unwrap();
        assert_eq!(cids(&b), vec![1, 2]);
        let mut big = blocks(&[4], 100);
        big.extend(blocks(&[5], 1));
        l.enqueue(&'a', "Book", big, false);
        assert_eq!(cids(&ack(&mut l, 'a').unwrap()), vec![3]);
        assert_eq!(cids(&ack(&mut l, 'a').unwrap()), vec![4]);
        assert_eq!(cids(&ack(&mut l, 'a').unwrap()), vec![5]);
    }

    #[test]
    fn a_probe_sends_one_block_first() {
        let mut l = PushLanes::new(1000, 100);
        let b = l.enqueue(&'a', "Book", blocks(&[1, 2, 3], 1), true).unwrap();
        assert_eq!((cids(&b), b.remaining), (vec![1], 2));
        assert_eq!(cids(&ack(&mut l, 'a').unwrap()), vec![2, 3]);
    }

    #[test]
    fn a_refusal_drops_the_rest_of_its_collection_only() {
        let mut l = PushLanes::new(1000, 1);
        l.enqueue(&'a', "Book", blocks(&[1, 2], 1), false);
        l.enqueue(&'a', "Author", blocks(&[7], 1), false);
        let lane = l.lanes[&'a'].id;
        let next = l.refused(&'a', lane, "Book").unwrap();
        assert_eq!((next.col.as_str(), cids(&next)), ("Author", vec![7]));
        assert_eq!(ack(&mut l, 'a'), None);
    }

    #[test]
    fn blocks_delivered_otherwise_are_neither_queued_nor_sent_again() {
        let mut l = PushLanes::new(1000, 2);
        l.enqueue(&'a', "Book", blocks(&[1, 2, 3, 4, 5], 1), false);
        l.delivered(&'a', &[3, 4, 9]);
        assert_eq!(l.enqueue(&'a', "Book", blocks(&[9, 6], 1), false), None, "one in flight");
        let mut order = vec![];
        while let Some(b) = ack(&mut l, 'a') {
            order.push(cids(&b));
        }
        assert_eq!(order, vec![vec![5], vec![6]], "3, 4 and 9 were delivered by the outbox");
        l.delivered(&'b', &[1]);
        assert_eq!(l.enqueue(&'b', "Book", blocks(&[1], 1), false), None, "a lane made by a delivery");
    }

    #[test]
    fn the_answers_to_an_earlier_lane_do_not_move_the_new_one() {
        let mut l = PushLanes::new(1000, 1);
        let old = l.enqueue(&'a', "Book", blocks(&[1, 2], 1), false).expect("sent");
        l.drop_lane(&'a'); // the connection closed
        let new = l.enqueue(&'a', "Book", blocks(&[3, 4], 1), false).expect("sent on the new lane");
        assert_ne!(old.lane, new.lane);
        l.failed(&'a', old.lane);
        assert!(l.was_sent(&'a', &3), "an old batch's failure drops nothing");
        assert_eq!(l.acked(&'a', old.lane, &[1]), None, "nor does its answer send the next batch");
        assert!(l.was_sent(&'a', &1), "but what it acknowledged is held");
        assert_eq!(cids(&l.acked(&'a', new.lane, &[3]).expect("the next")), vec![4]);
        l.failed(&'a', new.lane);
        assert!(!l.was_sent(&'a', &4), "the current batch's failure drops the lane");
    }

    #[test]
    fn a_dropped_lane_forgets_what_it_sent() {
        let mut l = PushLanes::new(1000, 10);
        l.enqueue(&'a', "Book", blocks(&[1], 1), false);
        l.drop_lane(&'a');
        assert!(!l.was_sent(&'a', &1));
        assert_eq!(cids(&l.enqueue(&'a', "Book", blocks(&[1], 1), false).unwrap()), vec![1]);
    }

    #[test]
    fn offers_keep_a_document_whole_where_it_fits() {
        let docs = vec![vec![1, 2], vec![3, 4, 5], vec![6], vec![7, 8, 9, 10, 11, 12, 13]];
        assert_eq!(offer_chunks(docs, 4), vec![vec![1, 2], vec![3, 4, 5, 6], vec![7, 8, 9, 10], vec![11, 12, 13]]);
        assert!(offer_chunks(Vec::<Vec<u32>>::new(), 4).is_empty());
    }
}
