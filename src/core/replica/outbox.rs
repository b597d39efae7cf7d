//! The outbox's lanes: when a replicator's peer may be sent its next batch.
//!
//! The outbox itself (which blocks each peer is owed) lives in the store,
//! so a restart loses nothing; this is the part that lives in memory: one
//! lane per peer with a replicator, with at most one push in flight, and a
//! [`Backoff`] that grows with each failed push and is cleared by an
//! acknowledgement or a fresh connection.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::core::replica::backoff::Backoff;

#[derive(Debug, Clone)]
struct Lane {
    backoff: Backoff,
    inflight: bool,
}

/// One lane per peer that replicators send to.
#[derive(Debug, Clone)]
pub struct Lanes<P> {
    retry_base: Duration,
    retry_max: Duration,
    lanes: BTreeMap<P, Lane>,
}

impl<P: Ord + Clone> Lanes<P> {
    /// A failed push waits `retry_base`, doubling up to `retry_max`.
    pub fn new(retry_base: Duration, retry_max: Duration) -> Self {
        Lanes { retry_base, retry_max, lanes: BTreeMap::new() }
    }

    /// A replicator sends to `peer` (a lane is kept as it was if it has one).
    pub fn add(&mut self, peer: P) {
        let backoff = Backoff::new(self.retry_base, self.retry_max);
        self.lanes.entry(peer).or_insert(Lane { backoff, inflight: false });
    }

    /// The peer's last replicator went.
    pub fn remove(&mut self, peer: &P) {
        self.lanes.remove(peer);
    }

    /// The peers with a lane.
    pub fn peers(&self) -> impl Iterator<Item = &P> {
        self.lanes.keys()
    }

    /// Whether `peer`'s next batch may go now: it has a lane, nothing in
    /// flight, and its backoff allows. (Whether it is reachable is the
    /// caller's to know.)
    pub fn ready(&self, peer: &P, now: Duration) -> bool {
        self.lanes.get(peer).is_some_and(|l| !l.inflight && l.backoff.ready(now))
    }

    /// A batch went to `peer`.
    pub fn sent(&mut self, peer: &P) {
        if let Some(l) = self.lanes.get_mut(peer) {
            l.inflight = true;
        }
    }

    /// `peer` answered the batch (acknowledged or refused its blocks).
    pub fn acked(&mut self, peer: &P) {
        if let Some(l) = self.lanes.get_mut(peer) {
            l.inflight = false;
            l.backoff.succeeded();
        }
    }

    /// The batch got no answer (a failed request): wait before the next.
    pub fn failed(&mut self, peer: &P, now: Duration) {
        if let Some(l) = self.lanes.get_mut(peer) {
            l.inflight = false;
            l.backoff.failed(now);
        }
    }

    /// `peer` is owed nothing now: there is no push to try again, so no
    /// deadline (the next block queued for it is pushed when it commits).
    pub fn nothing_owed(&mut self, peer: &P) {
        if let Some(l) = self.lanes.get_mut(peer).filter(|l| !l.inflight) {
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
    /// connect, not when the time comes).
    pub fn next_timeout(&self, reachable: impl Fn(&P) -> bool) -> Option<Duration> {
        let waiting = self.lanes.iter().filter(|(p, l)| !l.inflight && l.backoff.failures() > 0 && reachable(p));
        waiting.map(|(_, l)| l.backoff.next_at()).min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn one_batch_in_flight_at_a_time() {
        let mut l = Lanes::new(S, 4 * S);
        assert!(!l.ready(&1, Duration::ZERO), "no lane, no push");
        l.add(1);
        assert!(l.ready(&1, Duration::ZERO));
        l.sent(&1);
        assert!(!l.ready(&1, Duration::ZERO));
        l.acked(&1);
        assert!(l.ready(&1, Duration::ZERO));
    }

    #[test]
    fn failures_back_off_and_a_connection_or_an_ack_clears_them() {
        let mut l = Lanes::new(S, 4 * S);
        l.add(1);
        let mut now = Duration::ZERO;
        let mut waits = Vec::new();
        for _ in 0..4 {
            assert!(l.ready(&1, now));
            l.sent(&1);
            assert_eq!(l.next_timeout(|_| true), None, "in flight: the answer comes first");
            l.failed(&1, now);
            let next = l.next_timeout(|_| true).expect("waits");
            assert!(!l.ready(&1, next - Duration::from_millis(1)));
            waits.push((next - now).as_secs());
            now = next;
        }
        assert_eq!(waits, vec![1, 2, 4, 4]);
        l.sent(&1);
        l.failed(&1, now);
        l.due_now(&1);
        assert!(l.ready(&1, now), "a fresh connection tries at once");
        l.sent(&1);
        l.acked(&1);
        l.sent(&1);
        l.failed(&1, now);
        assert_eq!(l.next_timeout(|_| true), Some(now + S), "an ack cleared the failures");
    }

    #[test]
    fn adding_a_second_replicator_keeps_the_lane_as_it_is() {
        let mut l = Lanes::new(S, 4 * S);
        l.add(1);
        l.sent(&1);
        l.add(1);
        assert!(!l.ready(&1, Duration::ZERO), "still in flight");
        l.remove(&1);
        assert_eq!(l.peers().count(), 0);
    }

    #[test]
    fn a_lane_owed_nothing_or_unreachable_has_no_deadline() {
        let mut l = Lanes::new(S, 4 * S);
        l.add(1);
        l.sent(&1);
        l.failed(&1, Duration::ZERO);
        assert_eq!(l.next_timeout(|_| false), None, "not connected: pushed when it connects");
        assert_eq!(l.next_timeout(|_| true), Some(S));
        l.nothing_owed(&1);
        assert_eq!(l.next_timeout(|_| true), None, "nothing to try again");
        assert!(l.ready(&1, Duration::ZERO));
    }
}
