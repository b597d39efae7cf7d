//! The replica's replication logic as state machines: inputs carry the
//! time, outputs say what to do, and nothing here dials, sends or reads a
//! clock. Each part has its own state and its own file; [`Replica`] holds
//! them together and says when the next of their deadlines falls, which is
//! when the driver (`crate::node`, from libp2p's events) wakes it next.
//!
//! Moved here so far: dialling ([`dial`]), fetching missing blocks
//! ([`fetch`]), head exchange's push lanes ([`push`]), the outbox lanes
//! ([`outbox`]), what a peer missed before it subscribed ([`missed`]),
//! relayed listeners ([`listen`]), a catch-up's progress ([`progress`]),
//! request allowances, strikes and bans ([`conduct`]), and the retry rule
//! they share ([`backoff`]).

pub mod backoff;
pub mod conduct;
pub mod dial;
pub mod fetch;
pub mod listen;
pub mod missed;
pub mod outbox;
pub mod progress;
pub mod push;

use std::collections::{BTreeMap, BTreeSet};
use std::hash::Hash;
use std::time::Duration;

use backoff::Backoff;
use conduct::Conduct;
use dial::Dialer;
use fetch::Fetcher;
use listen::Listeners;
use missed::Missed;
use outbox::Lanes;
use push::PushLanes;

/// How often collection providers are looked up again in the DHT.
pub const DISCOVERY_EVERY: Duration = Duration::from_secs(30);
/// How often documents published to nobody are repaired by head exchange.
pub const REPAIR_EVERY: Duration = Duration::from_secs(1);

/// What a replica's deadlines depend on that it does not hold itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conditions {
    /// Dialling and listening are allowed (a page's browser is not offline).
    pub online: bool,
    /// Collections are looked up in the DHT.
    pub discovering: bool,
}

/// The replication state of one replica: peer ids `P`, addresses `A`,
/// block ids `C`, and the transport's listener ids `L`.
#[derive(Debug)]
pub struct Replica<P, A, C: Hash + Eq, L> {
    /// The peers with an open connection, those kept connected (bootstrap,
    /// replicators, mDNS), and when each is due a dial.
    pub dialer: Dialer<P, A>,
    /// Missing blocks asked for, each once at a time, and whom to ask next.
    pub fetcher: Fetcher<P, C>,
    /// Head exchange's pushes to each peer, batch after batch.
    pub lanes: PushLanes<P, C>,
    /// When each replicator's peer may be pushed its next outbox batch.
    pub outboxes: Lanes<P, C>,
    /// Request allowances, strikes and bans per peer, across reconnects.
    pub conduct: Conduct<P>,
    /// Relayed listeners (a page's reservations on its relays).
    pub listeners: Listeners<L, A>,
    /// Peers whose direct WebRTC offer we answered, and when their relayed
    /// connections are to be closed if the offerer left them open.
    pub answered: BTreeMap<P, Duration>,
    /// In a page: documents whose blocks were published on their
    /// collection's topic to nobody while peers were connected, by
    /// collection, to be repaired by head exchange.
    pub unheard: BTreeMap<String, BTreeSet<String>>,
    /// Documents of shared collections that changed by a peer's push
    /// (head exchange, after a partition or a restart), with the peers
    /// whose pushes changed them: the other connected peers are offered
    /// them by head exchange, as gossip would have carried them had they
    /// been written while everyone was connected. Without this, a peer that
    /// reaches the writer only through us would never see them.
    pub relayed: BTreeMap<String, BTreeMap<String, BTreeSet<P>>>,
    /// Per connected peer, the documents that changed before it subscribed
    /// to their collection (gossip missed it), swapped when it does.
    pub missed: Missed<P>,
    /// Peers whose head exchange failed while they stayed connected (a
    /// request that timed out: a slow peer, a stalled stream), to swap heads
    /// with again after a backoff that doubles while it keeps failing.
    /// Without it nothing would, until they reconnect.
    /// The flag: waiting for the backoff (not yet swapped again).
    pub resync: BTreeMap<P, (Backoff, bool)>,
    /// When `unheard` and `relayed` may be repaired next.
    pub next_repair: Duration,
    /// The first wait after a failure, and the longest.
    retry: (Duration, Duration),
    /// When collections are next looked up in the DHT.
    pub next_discovery: Duration,
}

impl<P: Ord + Copy + Hash, A: Clone + PartialEq, C: Ord + Clone + Hash, L: Hash + Eq> Replica<P, A, C, L> {
    /// A replica `me` with nothing connected: failed dials, pushes,
    /// listeners and head exchanges wait `retry_base`, doubling up to
    /// `retry_max`.
    pub fn new(
        me: P,
        retry_base: Duration,
        retry_max: Duration,
        fetcher: Fetcher<P, C>,
        lanes: PushLanes<P, C>,
    ) -> Self {
        Replica {
            retry: (retry_base, retry_max),
            dialer: Dialer::new(me, retry_base, retry_max),
            fetcher,
            lanes,
            outboxes: Lanes::new(retry_base, retry_max),
            conduct: Conduct::default(),
            listeners: Listeners::new(retry_base, retry_max),
            answered: BTreeMap::new(),
            unheard: BTreeMap::new(),
            relayed: BTreeMap::new(),
            missed: Missed::default(),
            resync: BTreeMap::new(),
            next_repair: Duration::ZERO,
            next_discovery: Duration::ZERO,
        }
    }

    /// `peer`'s head exchange failed at `now` while it stayed connected:
    /// swapped again after its backoff.
    pub fn exchange_failed(&mut self, peer: P, now: Duration) {
        let (base, max) = self.retry;
        let (backoff, waiting) = self.resync.entry(peer).or_insert_with(|| (Backoff::new(base, max), true));
        backoff.failed(now);
        *waiting = true;
    }

    /// `peer` answered a head exchange: its backoff is forgotten.
    pub fn exchanged(&mut self, peer: &P) {
        self.resync.remove(peer);
    }

    /// The connected peers whose failed exchange is due again at `now`;
    /// each waits no more until it fails again.
    pub fn resyncs_due(&mut self, now: Duration) -> Vec<P> {
        let mut due = Vec::new();
        for (p, (backoff, waiting)) in &mut self.resync {
            if *waiting && self.dialer.is_connected(p) && backoff.ready(now) {
                *waiting = false;
                due.push(*p);
            }
        }
        due
    }

    /// The earliest deadline of every part, if any part has one: when the
    /// driver is to call back with the time. A deadline that only an event
    /// can make good (a dial while offline, an outbox push to a peer not
    /// connected, a listener whose relay is not connected, which `waits`
    /// says) is not one. Time runs from the epoch the driver chose.
    pub fn next_timeout(&self, when: Conditions, waits: impl Fn(&A) -> bool) -> Option<Duration> {
        let connected = |p: &P| self.dialer.is_connected(p);
        let waiting = self.resync.iter().filter(|(p, (_, waiting))| *waiting && connected(p));
        let resync = waiting.map(|(_, (b, _))| b.next_at()).min();
        let online = [self.dialer.next_timeout(), self.listeners.next_timeout(waits), resync];
        let discovery = (when.online && when.discovering && self.dialer.any_connected()).then_some(self.next_discovery);
        let repair = (!self.unheard.is_empty() || !self.relayed.is_empty()).then_some(self.next_repair);
        online
            .into_iter()
            .filter(|_| when.online)
            .chain([
                // Offline (a page's browser), nothing is pushed whatever the time.
                self.outboxes.next_timeout(connected).filter(|_| when.online),
                self.answered.values().min().copied(),
                discovery,
                repair,
            ])
            .flatten()
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::sync::MAX_CIDS;
    use dial::Reason;

    const S: Duration = Duration::from_secs(1);
    const ON: Conditions = Conditions { online: true, discovering: true };

    fn replica() -> Replica<u32, &'static str, u64, u32> {
        Replica::new(0, S, 8 * S, Fetcher::new(MAX_CIDS), PushLanes::new(1 << 20, 1024))
    }

    #[test]
    fn an_idle_replica_has_no_deadline() {
        let r = replica();
        assert_eq!(r.next_timeout(ON, |_| false), None, "nothing to wake for: no tick");
    }

    #[test]
    fn the_earliest_deadline_of_any_part_is_the_next_timeout() {
        let mut r = replica();
        r.dialer.want(1, vec!["a"], Reason::Bootstrap);
        assert_eq!(r.next_timeout(ON, |_| false), Some(Duration::ZERO), "a wanted peer is due at once");
        let due = r.dialer.due(Duration::ZERO);
        assert_eq!(due.len(), 1);
        r.dialer.dial_failed(&1, Duration::ZERO);
        assert_eq!(r.next_timeout(ON, |_| false), Some(S), "its backoff");
        r.answered.insert(2, S / 2);
        assert_eq!(r.next_timeout(ON, |_| false), Some(S / 2), "a relayed connection to close sooner");
        let off = Conditions { online: false, discovering: true };
        r.answered.clear();
        assert_eq!(r.next_timeout(off, |_| false), None, "offline: no dial is due, whatever the time");
    }

    #[test]
    fn a_failed_exchange_with_a_connected_peer_is_swapped_again_after_its_backoff() {
        let mut r = replica();
        // No discovery: it would be due at once with a peer connected.
        const ON: Conditions = Conditions { online: true, discovering: false };
        r.dialer.connected(7);
        r.exchange_failed(7, Duration::ZERO);
        assert_eq!(r.next_timeout(ON, |_| false), Some(S), "after the first backoff");
        assert!(r.resyncs_due(S / 2).is_empty(), "not before");
        assert_eq!(r.resyncs_due(S), vec![7]);
        assert_eq!(r.next_timeout(ON, |_| false), None, "swapping again: no deadline until it fails again");
        r.exchange_failed(7, S);
        assert_eq!(r.next_timeout(ON, |_| false), Some(3 * S), "the backoff doubles");
        r.exchanged(&7);
        assert_eq!(r.next_timeout(ON, |_| false), None, "an answered exchange forgets it");
        r.exchange_failed(8, Duration::ZERO);
        assert_eq!(r.next_timeout(ON, |_| false), None, "a peer not connected waits for its connection");
    }

    #[test]
    fn deadlines_that_wait_for_an_event_are_not_timeouts() {
        let mut r = replica();
        // An outbox lane that failed, to a peer that is not connected.
        r.outboxes.add(5);
        let push = r.outboxes.sent(&5, Vec::new());
        r.outboxes.failed(&5, push, Duration::ZERO);
        assert_eq!(r.next_timeout(ON, |_| false), None, "pushed when the peer connects");
        // Discovery runs only with a peer connected, repair only with something to repair.
        r.next_discovery = 30 * S;
        r.dialer.connected(5);
        assert_eq!(r.next_timeout(ON, |_| false), Some(S), "the lane's backoff comes first");
        let off = Conditions { online: false, discovering: true };
        assert_eq!(r.next_timeout(off, |_| false), None, "offline: no push, no discovery");
        r.outboxes.remove(&5);
        assert_eq!(r.next_timeout(ON, |_| false), Some(30 * S));
        let quiet = Conditions { online: true, discovering: false };
        assert_eq!(r.next_timeout(quiet, |_| false), None);
        r.unheard.entry("Book".into()).or_default().insert("doc".into());
        r.next_repair = 2 * S;
        assert_eq!(r.next_timeout(quiet, |_| false), Some(2 * S));
        r.unheard.clear();
        r.relayed.entry("Book".into()).or_default().entry("doc".into()).or_default().insert(5);
        assert_eq!(r.next_timeout(quiet, |_| false), Some(2 * S), "a pushed change to pass on");
        r.relayed.clear();
        // A relayed listener whose relay is not connected waits for it.
        r.unheard.clear();
        r.listeners.add("relay");
        assert_eq!(r.next_timeout(quiet, |_| true), None);
        assert_eq!(r.next_timeout(quiet, |_| false), Some(Duration::ZERO));
    }
}
