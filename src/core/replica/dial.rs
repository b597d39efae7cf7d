//! Dialling: which peers a replica keeps connections to, and when it dials
//! each one again.
//!
//! A peer is wanted for reasons ([`Reason`]): a `--peers` address names it
//! (kept for good), a replicator points at it, or mDNS sees it on the LAN.
//! It is dropped when its last reason goes. A wanted peer that is not
//! connected is dialled when its [`Backoff`] allows: a failed dial, or one
//! still unanswered after [`DIAL_TIMEOUT`], doubles the wait; a connection
//! clears it. Nothing here dials: [`Dialer::due`] says whom to dial, and
//! the driver reports back what happened.
//!
//! Generic over the peer id and the address, so tests use plain numbers;
//! the node uses libp2p's `PeerId` and `Multiaddr`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::core::replica::backoff::Backoff;

/// A dial that has not ended after this long counts as failed.
pub const DIAL_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a peer is kept connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// A `--peers` (bootstrap) address names it: kept for good.
    Bootstrap,
    /// A replicator sends it blocks.
    Replicator,
    /// mDNS sees it on the LAN.
    Lan,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Reasons {
    bootstrap: bool,
    replicator: bool,
    lan: bool,
}

impl Reasons {
    fn flag(&mut self, r: Reason) -> &mut bool {
        match r {
            Reason::Bootstrap => &mut self.bootstrap,
            Reason::Replicator => &mut self.replicator,
            Reason::Lan => &mut self.lan,
        }
    }

    fn any(&self) -> bool {
        self.bootstrap || self.replicator || self.lan
    }
}

#[derive(Debug, Clone)]
struct Wanted<A> {
    addrs: Vec<A>,
    backoff: Backoff,
    /// When the dial in progress started.
    dialing: Option<Duration>,
    reasons: Reasons,
}

/// The peers a replica keeps connected, and when each is due a dial.
#[derive(Debug, Clone)]
pub struct Dialer<P, A> {
    me: P,
    retry_base: Duration,
    retry_max: Duration,
    wanted: BTreeMap<P, Wanted<A>>,
    /// Every peer with at least one open connection, wanted or not (one
    /// may connect first and be wanted later).
    connected: BTreeSet<P>,
}

impl<P: Ord + Clone, A: Clone + PartialEq> Dialer<P, A> {
    /// `me` is never wanted; failed dials wait `retry_base`, doubling up
    /// to `retry_max`.
    pub fn new(me: P, retry_base: Duration, retry_max: Duration) -> Self {
        Dialer { me, retry_base, retry_max, wanted: BTreeMap::new(), connected: BTreeSet::new() }
    }

    /// Keeps `peer` connected for `reason`, dialling it at `addrs` (added
    /// to those it has).
    pub fn want(&mut self, peer: P, addrs: Vec<A>, reason: Reason) {
        if peer == self.me {
            return;
        }
        let backoff = Backoff::new(self.retry_base, self.retry_max);
        let w = self.wanted.entry(peer).or_insert_with(|| Wanted {
            addrs: Vec::new(),
            backoff,
            dialing: None,
            reasons: Reasons::default(),
        });
        *w.reasons.flag(reason) = true;
        for a in addrs {
            if !w.addrs.contains(&a) {
                w.addrs.push(a);
            }
        }
    }

    /// `reason` no longer holds for `peer`; it stops being dialled when no
    /// reason is left.
    pub fn unwant(&mut self, peer: &P, reason: Reason) {
        if let Some(w) = self.wanted.get_mut(peer) {
            *w.reasons.flag(reason) = false;
            if !w.reasons.any() {
                self.wanted.remove(peer);
            }
        }
    }

    pub fn is_wanted(&self, peer: &P) -> bool {
        self.wanted.contains_key(peer)
    }

    pub fn is_connected(&self, peer: &P) -> bool {
        self.connected.contains(peer)
    }

    /// Every peer with an open connection, in order.
    pub fn connected_peers(&self) -> impl Iterator<Item = &P> {
        self.connected.iter()
    }

    pub fn any_connected(&self) -> bool {
        !self.connected.is_empty()
    }

    /// The peer's first connection opened.
    pub fn connected(&mut self, peer: P) {
        if let Some(w) = self.wanted.get_mut(&peer) {
            w.backoff.succeeded();
            w.dialing = None;
        }
        self.connected.insert(peer);
    }

    /// The peer's last connection closed: it is due a dial at once (its
    /// backoff was cleared when it connected).
    pub fn disconnected(&mut self, peer: &P) {
        if let Some(w) = self.wanted.get_mut(peer) {
            w.dialing = None;
        }
        self.connected.remove(peer);
    }

    /// A dial of `peer` failed, or could not start.
    pub fn dial_failed(&mut self, peer: &P, now: Duration) {
        if let Some(w) = self.wanted.get_mut(peer) {
            w.dialing = None;
            if !self.connected.contains(peer) {
                w.backoff.failed(now);
            }
        }
    }

    /// Every wanted peer is due at once, whatever its last failures said
    /// (the browser is back online).
    pub fn all_due_now(&mut self) {
        for w in self.wanted.values_mut() {
            w.backoff.reset();
        }
    }

    /// The peers to dial now, with their addresses; each is taken to be
    /// dialling from `now` until [`Self::connected`] or
    /// [`Self::dial_failed`] (or [`DIAL_TIMEOUT`]).
    pub fn due(&mut self, now: Duration) -> Vec<(P, Vec<A>)> {
        let mut due = Vec::new();
        for (p, w) in self.wanted.iter_mut().filter(|(p, _)| !self.connected.contains(p)) {
            if let Some(started) = w.dialing {
                if now < started + DIAL_TIMEOUT {
                    continue;
                }
                w.dialing = None;
                w.backoff.failed(now);
            }
            if w.backoff.ready(now) {
                w.dialing = Some(now);
                due.push((p.clone(), w.addrs.clone()));
            }
        }
        due
    }

    /// When [`Self::due`] next has something to say, if ever.
    pub fn next_timeout(&self) -> Option<Duration> {
        self.wanted
            .iter()
            .filter(|(p, _)| !self.connected.contains(p))
            .map(|(_, w)| match w.dialing {
                Some(started) => started + DIAL_TIMEOUT,
                None => w.backoff.next_at(),
            })
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    fn dialer() -> Dialer<u8, &'static str> {
        Dialer::new(0, S, 8 * S)
    }

    fn peers(due: Vec<(u8, Vec<&'static str>)>) -> Vec<u8> {
        due.into_iter().map(|(p, _)| p).collect()
    }

    #[test]
    fn a_wanted_peer_is_dialled_once_until_the_dial_ends() {
        let mut d = dialer();
        d.want(1, vec!["a"], Reason::Bootstrap);
        d.want(1, vec!["b", "a"], Reason::Replicator);
        assert_eq!(d.due(S), vec![(1, vec!["a", "b"])]);
        assert!(d.due(2 * S).is_empty(), "dialling already");
        d.connected(1);
        assert!(d.due(3 * S).is_empty(), "connected");
        assert_eq!(d.next_timeout(), None);
    }

    #[test]
    fn failures_double_the_wait_up_to_the_max_and_a_connection_clears_it() {
        let mut d = dialer();
        d.want(1, vec!["a"], Reason::Replicator);
        let mut now = Duration::ZERO;
        let mut waits = Vec::new();
        for _ in 0..6 {
            assert_eq!(peers(d.due(now)), vec![1]);
            d.dial_failed(&1, now);
            let next = d.next_timeout().expect("due again");
            waits.push((next - now).as_secs());
            assert!(d.due(next - Duration::from_millis(1)).is_empty(), "not before its time");
            now = next;
        }
        assert_eq!(waits, vec![1, 2, 4, 8, 8, 8]);
        assert_eq!(peers(d.due(now)), vec![1]);
        d.connected(1);
        d.disconnected(&1);
        assert_eq!(peers(d.due(now)), vec![1], "a lost connection is dialled again at once");
    }

    #[test]
    fn a_dial_that_never_ends_counts_as_a_failure() {
        let mut d = dialer();
        d.want(1, vec!["a"], Reason::Lan);
        assert_eq!(peers(d.due(Duration::ZERO)), vec![1]);
        assert_eq!(d.next_timeout(), Some(DIAL_TIMEOUT));
        assert!(d.due(DIAL_TIMEOUT - S).is_empty());
        assert!(d.due(DIAL_TIMEOUT).is_empty(), "timed out: it waits its backoff first");
        assert_eq!(peers(d.due(DIAL_TIMEOUT + S)), vec![1]);
    }

    #[test]
    fn a_peer_is_dropped_with_its_last_reason_and_never_when_it_is_us() {
        let mut d = dialer();
        d.want(0, vec!["self"], Reason::Bootstrap);
        assert!(!d.is_wanted(&0));
        d.want(1, vec!["a"], Reason::Replicator);
        d.want(1, vec![], Reason::Lan);
        d.unwant(&1, Reason::Lan);
        assert!(d.is_wanted(&1), "its replicator still wants it");
        d.unwant(&1, Reason::Replicator);
        assert!(!d.is_wanted(&1));
        d.want(2, vec!["b"], Reason::Bootstrap);
        d.unwant(&2, Reason::Lan);
        assert!(d.is_wanted(&2), "a bootstrap peer is kept for good");
    }

    #[test]
    fn a_peer_connected_before_it_is_wanted_is_not_dialled() {
        let mut d = dialer();
        d.connected(1);
        d.want(1, vec!["a"], Reason::Replicator);
        assert!(d.due(Duration::ZERO).is_empty());
        d.disconnected(&1);
        assert_eq!(peers(d.due(Duration::ZERO)), vec![1]);
    }

    #[test]
    fn a_failure_while_connected_does_not_delay_the_next_dial() {
        // Both sides dial at once (mDNS): one dial fails although a
        // connection is up; when that connection goes, dial at once.
        let mut d = dialer();
        d.want(1, vec!["a"], Reason::Lan);
        d.due(Duration::ZERO);
        d.connected(1);
        d.dial_failed(&1, S);
        d.disconnected(&1);
        assert_eq!(peers(d.due(S)), vec![1]);
    }

    #[test]
    fn back_online_every_peer_is_due_at_once() {
        let mut d = dialer();
        d.want(1, vec!["a"], Reason::Bootstrap);
        d.want(2, vec!["b"], Reason::Replicator);
        for _ in 0..4 {
            for (p, _) in d.due(Duration::ZERO) {
                d.dial_failed(&p, Duration::ZERO);
            }
        }
        assert!(d.due(Duration::ZERO).is_empty());
        d.all_due_now();
        assert_eq!(peers(d.due(Duration::ZERO)), vec![1, 2]);
    }
}
