//! Head exchange's pushes: the blocks one peer lacks, sent batch after
//! batch (`/weft/replicate/1`).
//!
//! Each peer has a lane: a queue of batches, sent in the order queued
//! (parents first), with up to [`PUSH_WINDOW`] of them in flight: the
//! receiver verifies the next batch while it merges one, and never waits
//! on a round trip for the next. Batches go on streams of their own and may
//! overtake one another on the way; a child that arrives before its
//! parent waits in the receiver's pending blocks until the parent merges.
//! Each answer is matched to its batch (the caller keeps a batch's
//! [`Ticket`] with its request). A lane remembers every block queued or in
//! flight on it and the latest [`SENT_REMEMBERED`] answered: the two
//! exchanges of a connection (ours and the peer's) never send a block
//! twice, however long the queue. A batch refused drops the rest of
//! its collection's queue (the peer will not take that collection); a
//! failed one drops the lane, and the next exchange works out again what
//! the peer lacks. The first batch to a peer that reported no heads at all
//! holds one block, and nothing follows it until it is answered: a peer
//! without the collection refuses it cheaply.
//!
//! Offers (CIDs first, for blocks below heads we do not hold, so we cannot
//! tell what the peer lacks) are cut by [`offer_chunks`].

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::hash::Hash;
use std::num::NonZeroUsize;

use lru::LruCache;

use crate::core::set_of;

/// How many answered blocks a lane remembers sending (or the peer
/// acknowledging), the first queued forgotten first: a connection that lasts for
/// months of replication must not keep every CID it carried. One forgotten
/// is at worst pushed once more, and the peer answers it as a replay. A
/// busy lane has room besides for every block queued or in flight: its
/// queue may hold more blocks than this (a peer lacking 200,000), and a
/// second walk from heads as old as the first's must find each of them
/// (their bytes are held meanwhile anyway).
pub const SENT_REMEMBERED: usize = 65_536;

/// How many pushes a lane has in flight at most: enough that the
/// receiver always holds the next batch (verifying it while it merges
/// the one before), few enough that a refusal or a failure wastes little.
pub const PUSH_WINDOW: usize = 3;

/// One push: a collection's blocks with their CIDs, parents first, how
/// many blocks are queued behind it, and its ticket (its answer or
/// failure names it back).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushBatch<C> {
    pub col: String,
    pub blocks: Blocks<C>,
    pub remaining: u64,
    pub ticket: Ticket,
}

/// What the answer to a batch names back: the lane it is of, and whether
/// it was a probe (the lane sends nothing more until a probe is answered).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket {
    pub lane: LaneId,
    pub probe: bool,
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
    /// Batches of a collection, in the order to send them, each marked
    /// when it is a probe.
    queue: VecDeque<(String, Blocks<C>, bool)>,
    /// Batches sent and not yet answered.
    inflight: usize,
    /// A probe is among them.
    probing: bool,
    sent: LruCache<C, ()>,
}

impl<C: Hash + Eq> Lane<C> {
    /// How many blocks are queued (not yet sent).
    fn queued(&self) -> usize {
        self.queue.iter().map(|(_, b, _)| b.len()).sum()
    }

    /// Sizes the lane's memory to hold the latest [`SENT_REMEMBERED`]
    /// answered blocks and every block queued or in flight (`more` about
    /// to be queued; a batch in flight counted full), so that a second
    /// walk finds each of those however long the queue. (The memory is in
    /// the order blocks were queued, and the queue is sent in that order:
    /// those still queued or in flight are the latest, and a shrink
    /// forgets answered ones first.) It grows at least
    /// twofold (growing costs a pass over the map), and shrinks once it is
    /// more than twice what it needs, to [`SENT_REMEMBERED`] when the lane
    /// is idle: a lane that is never idle is bounded by its queue.
    fn fit(&mut self, more: usize, batch_blocks: usize) {
        let room = SENT_REMEMBERED + self.queued() + self.inflight * batch_blocks + more;
        let cap = self.sent.cap().get();
        let to = match () {
            _ if room > cap => room.max(2 * cap),
            _ if cap > 2 * room || (room == SENT_REMEMBERED && cap > room) => room,
            _ => return,
        };
        self.sent.resize(NonZeroUsize::new(to).expect("not zero"));
    }
}

/// Every peer's push lane.
#[derive(Debug, Clone)]
pub struct PushLanes<P, C: Hash + Eq> {
    /// A batch weighs at most this many bytes (one block may weigh more,
    /// alone)...
    batch_bytes: usize,
    /// ...and holds at most this many blocks.
    batch_blocks: usize,
    /// At most this many batches in flight per lane.
    window: usize,
    lanes: BTreeMap<P, Lane<C>>,
    made: u64,
}

impl<P: Ord + Clone, C: Ord + Clone + Hash> PushLanes<P, C> {
    pub fn new(batch_bytes: usize, batch_blocks: usize) -> Self {
        PushLanes {
            batch_bytes,
            batch_blocks: batch_blocks.max(1),
            window: PUSH_WINDOW,
            lanes: BTreeMap::new(),
            made: 0,
        }
    }

    /// At most `window` batches in flight per lane (1: each waits for the
    /// answer to the one before).
    pub fn with_window(mut self, window: usize) -> Self {
        self.window = window.max(1);
        self
    }

    /// `peer`'s lane, made if it has none.
    fn lane(&mut self, peer: &P) -> &mut Lane<C> {
        let made = &mut self.made;
        self.lanes.entry(peer.clone()).or_insert_with(|| {
            *made += 1;
            // Its map grows as blocks are queued: `LruCache::new` would
            // take room for all 65,536 at once (~1 MB in a page, ~2 MB
            // natively) for every peer pushed to, even just a probe.
            let mut sent = LruCache::unbounded();
            sent.resize(NonZeroUsize::new(SENT_REMEMBERED).expect("not zero"));
            Lane { id: LaneId(*made), queue: VecDeque::new(), inflight: 0, probing: false, sent }
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
    /// batches to send now, as many as the lane's window has room for.
    pub fn enqueue(&mut self, peer: &P, col: &str, blocks: Blocks<C>, probe: bool) -> Vec<PushBatch<C>> {
        let batch_blocks = self.batch_blocks;
        let batch_bytes = self.batch_bytes;
        let lane = self.lane(peer);
        lane.fit(blocks.len(), batch_blocks);
        let mut batch = Vec::new();
        let mut size = 0;
        let mut limit = if probe { 1 } else { batch_blocks };
        // The first batch cut is the probe.
        let mut first = probe;
        for (cid, bytes) in blocks {
            // Not moved up when it is there already (`acked`).
            if lane.sent.contains(&cid) {
                continue;
            }
            lane.sent.put(cid.clone(), ());
            if !batch.is_empty() && (batch.len() >= limit || size + bytes.len() > batch_bytes) {
                lane.queue.push_back((col.to_string(), std::mem::take(&mut batch), first));
                first = false;
                size = 0;
                limit = batch_blocks;
            }
            size += bytes.len();
            batch.push((cid, bytes));
        }
        if !batch.is_empty() {
            lane.queue.push_back((col.to_string(), batch, first));
        }
        self.next(peer)
    }

    /// `peer` acknowledged `cids` some other way (the outbox's push): they
    /// are not queued for it again on this connection, and those queued
    /// and not yet sent are taken out.
    pub fn delivered(&mut self, peer: &P, cids: &[C]) {
        // A lane made now still counts: a head exchange whose heads were read
        // before these arrived may yet queue them.
        let batch_blocks = self.batch_blocks;
        let lane = self.lane(peer);
        lane.fit(0, batch_blocks);
        for c in cids {
            lane.sent.put(c.clone(), ());
        }
        let gone: BTreeSet<&C> = set_of(cids.iter());
        for (_, blocks, _) in lane.queue.iter_mut() {
            blocks.retain(|(c, _)| !gone.contains(c));
        }
        lane.queue.retain(|(_, blocks, _)| !blocks.is_empty());
    }

    /// `peer` took the batch of `ticket`, holding `cids` now: the next
    /// batches, if any. (The answer to a batch of an earlier lane only says
    /// what the peer holds.)
    pub fn acked(&mut self, peer: &P, ticket: Ticket, cids: &[C]) -> Vec<PushBatch<C>> {
        if let Some(l) = self.lanes.get_mut(peer) {
            // Kept in the order they were queued, not moved up: the blocks
            // still queued or in flight, queued after those answered, stay
            // the latest, and a memory that shrinks keeps them (`Lane::fit`).
            for c in cids {
                if !l.sent.contains(c) {
                    l.sent.put(c.clone(), ());
                }
            }
        }
        if !self.answered(peer, ticket) {
            return Vec::new();
        }
        self.next(peer)
    }

    /// `peer` refused the batch of `ticket`, of `col`, not taking its
    /// blocks `untaken`: the rest of `col` is dropped; the next batches of
    /// other collections, if any. (Batches of `col` still in flight are
    /// answered on their own.) None of those blocks counts as sent: a later
    /// exchange on this connection (the peer has the collection since)
    /// sends them.
    pub fn refused(&mut self, peer: &P, ticket: Ticket, col: &str, untaken: &[C]) -> Vec<PushBatch<C>> {
        if !self.answered(peer, ticket) {
            return Vec::new();
        }
        if let Some(l) = self.lanes.get_mut(peer) {
            let mut dropped = Vec::new();
            l.queue.retain(|(c, blocks, _)| {
                if c == col {
                    dropped.extend(blocks.iter().map(|(c, _)| c.clone()));
                }
                c != col
            });
            for c in untaken.iter().chain(&dropped) {
                l.sent.pop(c);
            }
        }
        self.next(peer)
    }

    /// The batch of `ticket` is to go again as it was, its connection
    /// having closed under it while `peer` stays connected on another: how
    /// many blocks are queued behind it now (its `remaining`), if it is of
    /// the current lane (else the lane it was of is gone, and so is it).
    /// It stays in flight, under its ticket.
    pub fn again(&self, peer: &P, ticket: Ticket) -> Option<u64> {
        let lane = self.lanes.get(peer).filter(|l| l.id == ticket.lane)?;
        Some(lane.queued() as u64)
    }

    /// The batch of `ticket` got no answer: the lane goes, and what it held
    /// is worked out again by the next exchange (but for what the peer
    /// acknowledged, which it holds). A batch of an earlier lane changes
    /// nothing.
    pub fn failed(&mut self, peer: &P, ticket: Ticket) {
        if self.current(peer, ticket.lane).is_some() {
            self.drop_lane(peer);
        }
    }

    /// The connection went: the lane goes, and what it held is worked out
    /// again by the next exchange.
    pub fn drop_lane(&mut self, peer: &P) {
        self.lanes.remove(peer);
    }

    /// The batch of `ticket` is answered: whether it was of the current lane.
    fn answered(&mut self, peer: &P, ticket: Ticket) -> bool {
        let Some(l) = self.current(peer, ticket.lane) else { return false };
        l.inflight = l.inflight.saturating_sub(1);
        if ticket.probe {
            l.probing = false;
        }
        true
    }

    /// The batches the lane's window has room for, in the order queued; none
    /// while a probe is unanswered.
    fn next(&mut self, peer: &P) -> Vec<PushBatch<C>> {
        let window = self.window;
        let mut out = Vec::new();
        let batch_blocks = self.batch_blocks;
        let Some(lane) = self.lanes.get_mut(peer) else { return out };
        lane.fit(0, batch_blocks);
        while lane.inflight < window && !lane.probing {
            let Some((col, blocks, probe)) = lane.queue.pop_front() else { break };
            lane.inflight += 1;
            lane.probing = probe;
            let remaining = lane.queued() as u64;
            out.push(PushBatch { col, blocks, remaining, ticket: Ticket { lane: lane.id, probe } });
        }
        out
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

    /// The one batch of `sent`.
    fn one(sent: Vec<PushBatch<u32>>) -> PushBatch<u32> {
        assert_eq!(sent.len(), 1, "{sent:?}");
        sent.into_iter().next().expect("one")
    }

    /// Lanes that send one batch at a time.
    fn single(bytes: usize, blocks: usize) -> PushLanes<char, u32> {
        PushLanes::new(bytes, blocks).with_window(1)
    }

    /// The answer to the one batch in flight on `peer`'s lane (not a probe).
    fn ack(l: &mut PushLanes<char, u32>, peer: char) -> Option<PushBatch<u32>> {
        let lane = l.lanes.get(&peer)?.id;
        l.acked(&peer, Ticket { lane, probe: false }, &[]).into_iter().next()
    }

    #[test]
    fn one_batch_at_a_time_in_order_and_no_block_twice() {
        let mut l = single(1000, 2);
        let first = one(l.enqueue(&'a', "Book", blocks(&[1, 2, 3, 4, 5], 10), false));
        assert_eq!((cids(&first), first.remaining), (vec![1, 2], 3));
        assert!(l.enqueue(&'a', "Book", blocks(&[5, 6, 1], 10), false).is_empty(), "one in flight");
        assert!(l.was_sent(&'a', &6) && !l.was_sent(&'b', &6));
        let mut order = vec![];
        while let Some(b) = ack(&mut l, 'a') {
            order.push(cids(&b));
        }
        assert_eq!(order, vec![vec![3, 4], vec![5], vec![6]], "5 and 1 were queued once");
    }

    #[test]
    fn a_window_of_batches_in_flight_each_answer_sends_one_more() {
        let mut l = PushLanes::new(1000, 2).with_window(3);
        let sent = l.enqueue(&'a', "Book", blocks(&[1, 2, 3, 4, 5, 6, 7, 8, 9], 1), false);
        let got: Vec<_> = sent.iter().map(|b| (cids(b), b.remaining)).collect();
        assert_eq!(got, vec![(vec![1, 2], 7), (vec![3, 4], 5), (vec![5, 6], 3)], "three in flight, in order");
        assert!(l.enqueue(&'a', "Book", blocks(&[10], 1), false).is_empty(), "the window is full");
        // Answers come in any order: each makes room for one.
        let next = one(l.acked(&'a', sent[1].ticket, &[3, 4]));
        assert_eq!(cids(&next), vec![7, 8]);
        let next = one(l.refused(&'a', sent[0].ticket, "Author", &[]));
        assert_eq!(cids(&next), vec![9], "a refusal of another collection drops nothing of this one");
        let last = one(l.acked(&'a', sent[2].ticket, &[]));
        assert_eq!(cids(&last), vec![10], "queued by the second call");
        assert!(l.acked(&'a', next.ticket, &[]).is_empty(), "nothing more queued");
        assert!(l.acked(&'a', last.ticket, &[]).is_empty());
        let sent = l.enqueue(&'a', "Book", blocks(&[11, 12, 13], 1), false);
        assert_eq!(sent.len(), 2, "room again for all of it: {sent:?}");
    }

    #[test]
    fn batches_stop_at_their_bytes_but_a_large_block_goes_alone() {
        let mut l = single(25, 100);
        let b = one(l.enqueue(&'a', "Book", blocks(&[1, 2, 3], 10), false));
        assert_eq!(cids(&b), vec![1, 2]);
        let mut big = blocks(&[4], 100);
        big.extend(blocks(&[5], 1));
        l.enqueue(&'a', "Book", big, false);
        assert_eq!(cids(&ack(&mut l, 'a').unwrap()), vec![3]);
        assert_eq!(cids(&ack(&mut l, 'a').unwrap()), vec![4]);
        assert_eq!(cids(&ack(&mut l, 'a').unwrap()), vec![5]);
    }

    #[test]
    fn a_probe_sends_one_block_first_and_nothing_until_it_is_answered() {
        let mut l = PushLanes::new(1000, 2).with_window(3);
        let b = one(l.enqueue(&'a', "Book", blocks(&[1, 2, 3, 4, 5, 6, 7], 1), true));
        assert_eq!((cids(&b), b.remaining), (vec![1], 6));
        assert!(b.ticket.probe);
        assert!(l.enqueue(&'a', "Author", blocks(&[9], 1), false).is_empty(), "nothing while the probe is out");
        let sent = l.acked(&'a', b.ticket, &[1]);
        let got: Vec<_> = sent.iter().map(cids).collect();
        assert_eq!(got, vec![vec![2, 3], vec![4, 5], vec![6, 7]], "then the window fills");
        assert!(sent.iter().all(|b| !b.ticket.probe));
    }

    #[test]
    fn a_refused_probe_drops_its_collection() {
        let mut l = PushLanes::new(1000, 2).with_window(3);
        let b = one(l.enqueue(&'a', "Book", blocks(&[1, 2, 3], 1), true));
        l.enqueue(&'a', "Author", blocks(&[7], 1), false);
        let next = one(l.refused(&'a', b.ticket, "Book", &[1]));
        assert_eq!((next.col.as_str(), cids(&next)), ("Author", vec![7]));
    }

    #[test]
    fn a_refusal_drops_the_rest_of_its_collection_only() {
        let mut l = single(1000, 1);
        l.enqueue(&'a', "Book", blocks(&[1, 2], 1), false);
        l.enqueue(&'a', "Author", blocks(&[7], 1), false);
        let lane = l.lanes[&'a'].id;
        let next = one(l.refused(&'a', Ticket { lane, probe: false }, "Book", &[1]));
        assert_eq!((next.col.as_str(), cids(&next)), ("Author", vec![7]));
        assert_eq!(ack(&mut l, 'a'), None);
    }

    #[test]
    fn blocks_delivered_otherwise_are_neither_queued_nor_sent_again() {
        let mut l = single(1000, 2);
        l.enqueue(&'a', "Book", blocks(&[1, 2, 3, 4, 5], 1), false);
        l.delivered(&'a', &[3, 4, 9]);
        assert!(l.enqueue(&'a', "Book", blocks(&[9, 6], 1), false).is_empty(), "one in flight");
        let mut order = vec![];
        while let Some(b) = ack(&mut l, 'a') {
            order.push(cids(&b));
        }
        assert_eq!(order, vec![vec![5], vec![6]], "3, 4 and 9 were delivered by the outbox");
        l.delivered(&'b', &[1]);
        assert!(l.enqueue(&'b', "Book", blocks(&[1], 1), false).is_empty(), "a lane made by a delivery");
    }

    #[test]
    fn the_answers_to_an_earlier_lane_do_not_move_the_new_one() {
        let mut l = single(1000, 1);
        let old = one(l.enqueue(&'a', "Book", blocks(&[1, 2], 1), false));
        l.drop_lane(&'a'); // the connection closed
        let new = one(l.enqueue(&'a', "Book", blocks(&[3, 4], 1), false));
        assert_ne!(old.ticket.lane, new.ticket.lane);
        l.failed(&'a', old.ticket);
        assert!(l.was_sent(&'a', &3), "an old batch's failure drops nothing");
        assert!(l.acked(&'a', old.ticket, &[1]).is_empty(), "nor does its answer send the next batch");
        assert!(l.was_sent(&'a', &1), "but what it acknowledged is held");
        assert_eq!(cids(&one(l.acked(&'a', new.ticket, &[3]))), vec![4]);
        l.failed(&'a', new.ticket);
        assert!(!l.was_sent(&'a', &4), "the current batch's failure drops the lane");
    }

    #[test]
    fn a_batch_goes_again_only_in_its_own_lane_with_what_is_queued_now() {
        let mut l = single(1000, 1).with_window(2);
        let sent = l.enqueue(&'a', "c", blocks(&[1, 2, 3, 4], 10), false);
        let tickets: Vec<Ticket> = sent.iter().map(|b| b.ticket).collect();
        assert_eq!(sent.iter().map(|b| b.remaining).collect::<Vec<_>>(), [3, 2]);
        assert_eq!(l.again(&'a', tickets[0]), Some(2), "two blocks are queued behind it now");
        l.acked(&'a', tickets[1], &[2]);
        assert_eq!(l.again(&'a', tickets[0]), Some(1));
        l.failed(&'a', tickets[1]);
        l.drop_lane(&'a');
        l.enqueue(&'a', "c", blocks(&[5], 10), false);
        assert_eq!(l.again(&'a', tickets[0]), None, "its lane is gone");
    }

    #[test]
    fn a_dropped_lane_forgets_what_it_sent() {
        let mut l = single(1000, 10);
        l.enqueue(&'a', "Book", blocks(&[1], 1), false);
        l.drop_lane(&'a');
        assert!(!l.was_sent(&'a', &1));
        assert_eq!(cids(&one(l.enqueue(&'a', "Book", blocks(&[1], 1), false))), vec![1]);
    }

    /// A lane with more blocks queued than it remembers (the walk for a
    /// peer that lacks 200,000 blocks) still queues none twice while it is
    /// queued or in flight: the second of a connection's two exchanges,
    /// walked from heads as old as the first's, sent one or two batches
    /// again (`cargo bench --bench replication` at 200,000 blocks).
    #[test]
    fn a_queue_longer_than_the_memory_of_sent_blocks_holds_no_block_twice() {
        let mut l = PushLanes::new(1 << 20, 1024).with_window(3);
        let all: Vec<u32> = (0..SENT_REMEMBERED as u32 + 10_000).collect();
        let mut flying = l.enqueue(&'a', "Book", blocks(&all, 1), false);
        let mut sent = 0;
        // A few batches answered, then the other exchange's walk queues
        // the same blocks (its heads were read before any arrived).
        for _ in 0..2 {
            let b = flying.remove(0);
            sent += b.blocks.len();
            let cids = cids(&b);
            flying.extend(l.acked(&'a', b.ticket, &cids));
        }
        flying.extend(l.enqueue(&'a', "Book", blocks(&all, 1), false));
        while !flying.is_empty() {
            let b = flying.remove(0);
            sent += b.blocks.len();
            let cids = cids(&b);
            flying.extend(l.acked(&'a', b.ticket, &cids));
        }
        assert_eq!(sent, all.len(), "each block once");
        // Idle again, it remembers only the latest.
        assert_eq!(l.lanes[&'a'].sent.len(), SENT_REMEMBERED);
        assert!(l.was_sent(&'a', all.last().expect("blocks")) && !l.was_sent(&'a', &0));
    }

    /// The lane's memory shrinks while its queue drains; what is still
    /// queued or in flight stays known (a later exchange during the
    /// transfer, a peer joining the topic, walks from old heads again).
    #[test]
    fn blocks_still_queued_stay_known_while_the_memory_shrinks() {
        let mut l = PushLanes::new(1 << 20, 1024).with_window(3);
        let all: Vec<u32> = (0..3 * SENT_REMEMBERED as u32).collect();
        let mut flying = l.enqueue(&'a', "Book", blocks(&all, 1), false);
        let (mut sent, mut walked_again) = (0, false);
        while !flying.is_empty() {
            let b = flying.remove(0);
            sent += b.blocks.len();
            if b.remaining < 20_000 && !walked_again {
                walked_again = true;
                assert!(l.lanes[&'a'].sent.cap().get() < 2 * SENT_REMEMBERED, "shrunk by now");
                // The last 30,000: those still queued or in flight, and
                // some answered lately.
                let last = &all[all.len() - 30_000..];
                flying.extend(l.enqueue(&'a', "Book", blocks(last, 1), false));
            }
            let cids = cids(&b);
            flying.extend(l.acked(&'a', b.ticket, &cids));
        }
        assert!(walked_again);
        assert_eq!(sent, all.len(), "each block once");
    }

    /// A lane that is never idle (a peer sent a steady stream, one batch
    /// always in flight) does not keep every block it ever carried.
    #[test]
    fn a_lane_never_idle_keeps_a_bounded_memory() {
        let mut l = PushLanes::new(1 << 20, 8).with_window(1);
        let mut flying = l.enqueue(&'a', "Book", blocks(&[0], 1), false);
        for n in 1..(3 * SENT_REMEMBERED as u32 / 8) {
            // The next batch is queued before the one in flight is answered.
            let next: Vec<u32> = (n * 8..n * 8 + 8).collect();
            assert!(l.enqueue(&'a', "Book", blocks(&next, 1), false).is_empty());
            let b = flying.remove(0);
            let cids = cids(&b);
            flying.extend(l.acked(&'a', b.ticket, &cids));
        }
        let sent = &l.lanes[&'a'].sent;
        assert!(sent.cap().get() <= 2 * (SENT_REMEMBERED + 16), "{}", sent.cap());
        assert!(sent.len() <= sent.cap().get());
    }

    /// Blocks a refused batch left untaken, and those of its collection
    /// dropped with it, were never sent: a later exchange sends them.
    #[test]
    fn a_refused_collection_s_blocks_are_not_counted_as_sent() {
        let mut l = PushLanes::new(1000, 2).with_window(1);
        let b = one(l.enqueue(&'a', "Book", blocks(&[1, 2, 3, 4], 1), true));
        assert!(l.refused(&'a', b.ticket, "Book", &[1]).is_empty());
        assert!(![1, 2, 3, 4].iter().any(|c| l.was_sent(&'a', c)));
        let again = one(l.enqueue(&'a', "Book", blocks(&[1, 2], 1), false));
        assert_eq!(cids(&again), vec![1, 2]);
    }

    /// What the outbox delivered to a peer whose lane is idle is
    /// remembered as an idle lane remembers, the oldest forgotten.
    #[test]
    fn an_idle_lane_remembers_deliveries_within_its_bound() {
        let mut l = single(1000, 2);
        let delivered: Vec<u32> = (0..SENT_REMEMBERED as u32 + 100).collect();
        l.delivered(&'a', &delivered);
        let sent = &l.lanes[&'a'].sent;
        assert_eq!((sent.len(), sent.cap().get()), (SENT_REMEMBERED, SENT_REMEMBERED));
        assert!(l.was_sent(&'a', &(SENT_REMEMBERED as u32 + 99)) && !l.was_sent(&'a', &0));
    }

    #[test]
    fn offers_keep_a_document_whole_where_it_fits() {
        let docs = vec![vec![1, 2], vec![3, 4, 5], vec![6], vec![7, 8, 9, 10, 11, 12, 13]];
        assert_eq!(offer_chunks(docs, 4), vec![vec![1, 2], vec![3, 4, 5, 6], vec![7, 8, 9, 10], vec![11, 12, 13]]);
        assert!(offer_chunks(Vec::<Vec<u32>>::new(), 4).is_empty());
    }
}
