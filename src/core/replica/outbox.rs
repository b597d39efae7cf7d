//! The outbox's lanes: when a replicator's peer may be sent its next batch.
//!
//! The outbox itself (which blocks each peer is owed) lives in the store,
//! so a restart loses nothing; this is the part that lives in memory: one
//! lane per peer with a replicator, with up to [`PUSH_WINDOW`] pushes in
//! flight (the receiver verifies the next batch while it merges one, as
//! for head exchange's pushes), the blocks each carries (the next batch is
//! read from the outbox without them), and a [`Backoff`] that grows with
//! each failed push and is cleared by an acknowledgement or a fresh
//! connection. Batches may overtake one another on the way: a child that
//! arrives before its parent waits in the receiver's pending blocks.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::core::replica::backoff::Backoff;
pub use crate::core::replica::push::PUSH_WINDOW;

/// One push of an outbox lane in flight, as [`Lanes::sent`] named it: its
/// answer (or failure) is matched to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct OutboxTicket(u64);

#[derive(Debug, Clone)]
struct Lane<C> {
    backoff: Backoff,
    /// The pushes in flight and the blocks each carries.
    inflight: BTreeMap<OutboxTicket, Vec<C>>,
}

/// One lane per peer that replicators send to.
#[derive(Debug, Clone)]
pub struct Lanes<P, C> {
    retry_base: Duration,
    retry_max: Duration,
    lanes: BTreeMap<P, Lane<C>>,
    next_ticket: u64,
}

impl<P: Ord + Clone, C: Ord + Clone> Lanes<P, C> {
    /// A failed push waits `retry_base`, doubling up to `retry_max`.
    pub fn new(retry_base: Duration, retry_max: Duration) -> Self {
        Lanes { retry_base, retry_max, lanes: BTreeMap::new(), next_ticket: 0 }
    }

    /// A replicator sends to `peer` (a lane is kept as it was if it has one).
    pub fn add(&mut self, peer: P) {
        let backoff = Backoff::new(self.retry_base, self.retry_max);
        self.lanes.entry(peer).or_insert(Lane { backoff, inflight: BTreeMap::new() });
    }

    /// The peer's last replicator went.
    pub fn remove(&mut self, peer: &P) {
        self.lanes.remove(peer);
    }

    /// The peers with a lane.
    pub fn peers(&self) -> impl Iterator<Item = &P> {
        self.lanes.keys()
    }

    /// Whether `peer`'s next batch may go now: it has a lane, fewer than
    /// [`PUSH_WINDOW`] pushes in flight, and its backoff allows. (Whether
    /// it is reachable is the caller's to know.)
    pub fn ready(&self, peer: &P, now: Duration) -> bool {
        self.lanes.get(peer).is_some_and(|l| l.inflight.len() < PUSH_WINDOW && l.backoff.ready(now))
    }

    /// The blocks of `peer`'s pushes in flight: the next batch leaves them out.
    pub fn in_flight(&self, peer: &P) -> impl Iterator<Item = &C> {
        self.lanes.get(peer).into_iter().flat_map(|l| l.inflight.values().flatten())
    }

    /// A batch of `blocks` went to `peer`; its answer is matched by the ticket.
    pub fn sent(&mut self, peer: &P, blocks: Vec<C>) -> OutboxTicket {
        self.next_ticket += 1;
        let ticket = OutboxTicket(self.next_ticket);
        if let Some(l) = self.lanes.get_mut(peer) {
            l.inflight.insert(ticket, blocks);
        }
        ticket
    }

    /// `peer` answered the batch (acknowledged or refused its blocks).
    pub fn acked(&mut self, peer: &P, ticket: OutboxTicket) {
        if let Some(l) = self.lanes.get_mut(peer) {
            l.inflight.remove(&ticket);
            l.backoff.succeeded();
        }
    }

    /// The batch got no answer (a failed request): its blocks may go again
    /// once the lane has waited, or as soon as another of its pushes is
    /// answered (the peer takes pushes again). The other pushes in flight
    /// stay so. Pushes that fail while the lane already waits (together:
    /// a connection's end, one timeout for all) count as one failure.
    pub fn failed(&mut self, peer: &P, ticket: OutboxTicket, now: Duration) {
        if let Some(l) = self.lanes.get_mut(peer) {
            l.inflight.remove(&ticket);
            if l.backoff.ready(now) {
                l.backoff.failed(now);
            }
        }
    }

    /// The batch's connection closed under it while `peer` stays connected
    /// on another: its blocks may go again at once, with no wait (the peer
    /// did not fail to answer; the connection it went on is gone).
    pub fn lost(&mut self, peer: &P, ticket: OutboxTicket) {
        if let Some(l) = self.lanes.get_mut(peer) {
            l.inflight.remove(&ticket);
        }
    }

    /// `peer`'s next batch could not be made (the store failed): wait
    /// before trying again, as after a failed push.
    pub fn held_up(&mut self, peer: &P, now: Duration) {
        if let Some(l) = self.lanes.get_mut(peer) {
            l.backoff.failed(now);
        }
    }

    /// `peer` is owed nothing now but what is in flight: when nothing is,
    /// there is no push to try again, so no deadline (the next block queued
    /// for it is pushed when it commits).
    pub fn nothing_owed(&mut self, peer: &P) {
        if let Some(l) = self.lanes.get_mut(peer).filter(|l| l.inflight.is_empty()) {
            l.backoff.succeeded();
        }
    }

    /// A fresh connection to `peer` (or back online): try at once.
    pub fn due_now(&mut self, peer: &P) {
        if let Some(l) = self.lanes.get_mut(peer) {
            l.backoff.reset();
        }
    }

    /// When a lane that waits out a failure is next ready, if any does,
    /// among the peers `reachable` holds (the others are pushed when they
    /// connect, not when the time comes). A lane with a push in flight
    /// waits for its answer instead.
    pub fn next_timeout(&self, reachable: impl Fn(&P) -> bool) -> Option<Duration> {
        let waiting =
            self.lanes.iter().filter(|(p, l)| l.inflight.is_empty() && l.backoff.failures() > 0 && reachable(p));
        waiting.map(|(_, l)| l.backoff.next_at()).min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    fn lanes() -> Lanes<u8, u32> {
        Lanes::new(S, 4 * S)
    }

    #[test]
    fn up_to_a_window_of_batches_in_flight_each_answered_alone() {
        let mut l = lanes();
        assert!(!l.ready(&1, Duration::ZERO), "no lane, no push");
        l.add(1);
        let mut tickets = Vec::new();
        for batch in 0..PUSH_WINDOW as u32 {
            assert!(l.ready(&1, Duration::ZERO));
            tickets.push(l.sent(&1, vec![2 * batch, 2 * batch + 1]));
        }
        assert!(!l.ready(&1, Duration::ZERO), "the window is full");
        let mut flying: Vec<u32> = l.in_flight(&1).copied().collect();
        flying.sort_unstable();
        assert_eq!(flying, (0..2 * PUSH_WINDOW as u32).collect::<Vec<_>>());
        // The second answer comes first: its blocks leave the flight, the others stay.
        l.acked(&1, tickets[1]);
        assert!(l.ready(&1, Duration::ZERO));
        let mut flying: Vec<u32> = l.in_flight(&1).copied().collect();
        flying.sort_unstable();
        assert_eq!(flying, [0, 1, 4, 5]);
        assert_eq!(l.in_flight(&2).count(), 0, "another peer's lane is its own");
    }

    #[test]
    fn a_failed_batch_goes_again_after_the_backoff_while_the_others_fly() {
        let mut l = lanes();
        l.add(1);
        let first = l.sent(&1, vec![1]);
        let second = l.sent(&1, vec![2]);
        l.failed(&1, first, Duration::ZERO);
        assert_eq!(l.in_flight(&1).copied().collect::<Vec<_>>(), [2], "the failed batch's block may go again");
        assert!(!l.ready(&1, Duration::ZERO), "not before the backoff");
        assert!(l.ready(&1, S));
        assert_eq!(l.next_timeout(|_| true), None, "a push in flight: its answer comes first");
        l.acked(&1, second);
        assert!(l.ready(&1, Duration::ZERO), "an answer clears the failures");
    }

    #[test]
    fn a_batch_whose_connection_closed_goes_again_at_once() {
        let mut l = lanes();
        l.add(1);
        let first = l.sent(&1, vec![1]);
        let _second = l.sent(&1, vec![2]);
        l.lost(&1, first);
        assert_eq!(l.in_flight(&1).copied().collect::<Vec<_>>(), [2], "its block may go again");
        assert!(l.ready(&1, Duration::ZERO), "with no backoff");
        assert_eq!(l.next_timeout(|_| true), None, "nothing to wait out");
    }

    #[test]
    fn pushes_failing_together_count_as_one_failure() {
        let mut l = lanes();
        l.add(1);
        let flying: Vec<OutboxTicket> = (0..PUSH_WINDOW as u32).map(|b| l.sent(&1, vec![b])).collect();
        for t in flying {
            l.failed(&1, t, Duration::ZERO);
        }
        assert_eq!(l.next_timeout(|_| true), Some(S), "one wait of the first length, not three doublings");
        let t = l.sent(&1, vec![0]);
        l.failed(&1, t, S);
        assert_eq!(l.next_timeout(|_| true), Some(3 * S), "the next round doubles it");
    }

    #[test]
    fn failures_back_off_and_a_connection_or_an_ack_clears_them() {
        let mut l = lanes();
        l.add(1);
        let mut now = Duration::ZERO;
        let mut waits = Vec::new();
        for _ in 0..4 {
            assert!(l.ready(&1, now));
            let t = l.sent(&1, vec![1]);
            assert_eq!(l.next_timeout(|_| true), None, "in flight: the answer comes first");
            l.failed(&1, t, now);
            let next = l.next_timeout(|_| true).expect("waits");
            assert!(!l.ready(&1, next - Duration::from_millis(1)));
            waits.push((next - now).as_secs());
            now = next;
        }
        assert_eq!(waits, vec![1, 2, 4, 4]);
        let t = l.sent(&1, vec![1]);
        l.failed(&1, t, now);
        l.due_now(&1);
        assert!(l.ready(&1, now), "a fresh connection tries at once");
        let t = l.sent(&1, vec![1]);
        l.acked(&1, t);
        let t = l.sent(&1, vec![1]);
        l.failed(&1, t, now);
        assert_eq!(l.next_timeout(|_| true), Some(now + S), "an ack cleared the failures");
    }

    #[test]
    fn adding_a_second_replicator_keeps_the_lane_as_it_is() {
        let mut l = lanes();
        l.add(1);
        l.sent(&1, vec![7]);
        l.add(1);
        assert_eq!(l.in_flight(&1).copied().collect::<Vec<_>>(), [7], "still in flight");
        l.remove(&1);
        assert_eq!(l.peers().count(), 0);
        assert_eq!(l.in_flight(&1).count(), 0);
    }

    #[test]
    fn a_lane_owed_nothing_or_unreachable_has_no_deadline() {
        let mut l = lanes();
        l.add(1);
        let t = l.sent(&1, vec![1]);
        l.failed(&1, t, Duration::ZERO);
        assert_eq!(l.next_timeout(|_| false), None, "not connected: pushed when it connects");
        assert_eq!(l.next_timeout(|_| true), Some(S));
        l.nothing_owed(&1);
        assert_eq!(l.next_timeout(|_| true), None, "nothing to try again");
        assert!(l.ready(&1, Duration::ZERO));
    }
}
