//! Relayed listeners: a page's reservations on the relays it was given
//! (`<relay>/p2p-circuit`), asked for again with a growing delay until a
//! relay grants one, and again whenever a granted one closes (the relay
//! went away).
//!
//! Nothing here listens: [`Listeners::due`] says which addresses to ask
//! for now, and the driver reports back what the transport said. Generic
//! over the transport's listener id and the address, so tests use plain
//! numbers.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::Duration;

use super::backoff::Backoff;

/// An address to listen on, taken out by [`Listeners::due`] and handed
/// back with what became of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt<A> {
    pub addr: A,
    backoff: Backoff,
}

/// The relayed listeners asked for or to ask for.
#[derive(Debug, Clone)]
pub struct Listeners<L, A> {
    retry_base: Duration,
    retry_max: Duration,
    /// Asked for (granted or not yet answered), by the transport's id.
    active: HashMap<L, Attempt<A>>,
    /// To ask for once their backoff allows.
    waiting: Vec<Attempt<A>>,
}

impl<L: Hash + Eq, A: Clone> Listeners<L, A> {
    /// A listener the relay refuses or drops waits `retry_base`, doubling
    /// up to `retry_max`.
    pub fn new(retry_base: Duration, retry_max: Duration) -> Self {
        Listeners { retry_base, retry_max, active: HashMap::new(), waiting: Vec::new() }
    }

    /// `addr` is to be listened on, at once.
    pub fn add(&mut self, addr: A) {
        self.waiting.push(Attempt { addr, backoff: Backoff::new(self.retry_base, self.retry_max) });
    }

    /// The addresses to ask for at `now`, except those that `waits` holds
    /// back (their relay is to be connected first); each comes back
    /// through [`Self::started`] (and, should it fail, [`Self::closed`])
    /// or [`Self::failed`].
    pub fn due(&mut self, now: Duration, waits: impl Fn(&A) -> bool) -> Vec<Attempt<A>> {
        let (due, kept) =
            std::mem::take(&mut self.waiting).into_iter().partition(|a| a.backoff.ready(now) && !waits(&a.addr));
        self.waiting = kept;
        due
    }

    /// `addr` is listened on already, as listener `id` (the node's own
    /// `--listen` addresses, asked for at start).
    pub fn listening(&mut self, id: L, addr: A) {
        self.active.insert(id, Attempt { addr, backoff: Backoff::new(self.retry_base, self.retry_max) });
    }

    /// The transport took `attempt` as listener `id`.
    pub fn started(&mut self, id: L, attempt: Attempt<A>) {
        self.active.insert(id, attempt);
    }

    /// The transport refused `attempt` at `now`: asked again later.
    pub fn failed(&mut self, mut attempt: Attempt<A>, now: Duration) {
        attempt.backoff.failed(now);
        self.waiting.push(attempt);
    }

    /// Listener `id` got an address: the relay granted it.
    pub fn granted(&mut self, id: &L) {
        if let Some(a) = self.active.get_mut(id) {
            a.backoff.succeeded();
        }
    }

    /// Listener `id` closed at `now`; its address, if it was one of ours,
    /// which is asked for again after its backoff.
    pub fn closed(&mut self, id: &L, now: Duration) -> Option<A> {
        let attempt = self.active.remove(id)?;
        let addr = attempt.addr.clone();
        self.failed(attempt, now);
        Some(addr)
    }

    /// The addresses of every listener asked for (granted or not).
    pub fn active(&self) -> impl Iterator<Item = &A> {
        self.active.values().map(|a| &a.addr)
    }

    /// Every waiting address is due at once (the browser is back online).
    pub fn all_due_now(&mut self) {
        for a in &mut self.waiting {
            a.backoff.reset();
        }
    }

    /// When [`Self::due`] next has an address to give, if ever (those
    /// `waits` holds back wait for an event, not for the time).
    pub fn next_timeout(&self, waits: impl Fn(&A) -> bool) -> Option<Duration> {
        self.waiting.iter().filter(|a| !waits(&a.addr)).map(|a| a.backoff.next_at()).min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    fn listeners() -> Listeners<u32, &'static str> {
        Listeners::new(S, 8 * S)
    }

    #[test]
    fn a_refused_listener_is_asked_again_later_and_a_closed_one_too() {
        let mut l = listeners();
        l.add("relay-a");
        assert_eq!(l.next_timeout(|_| false), Some(Duration::ZERO), "due at once");
        let due = l.due(Duration::ZERO, |_| false);
        assert_eq!(due.len(), 1);
        assert_eq!(l.next_timeout(|_| false), None, "asked: nothing to wait for");
        l.failed(due.into_iter().next().unwrap(), Duration::ZERO);
        assert_eq!(l.next_timeout(|_| false), Some(S));
        assert!(l.due(S / 2, |_| false).is_empty());
        let again = l.due(S, |_| false).pop().expect("due after 1 s");
        l.started(7, again);
        l.granted(&7);
        assert_eq!(l.active().collect::<Vec<_>>(), vec![&"relay-a"]);
        assert_eq!(l.closed(&7, 10 * S), Some("relay-a"));
        assert_eq!(l.next_timeout(|_| false), Some(11 * S), "granted cleared the failures: 1 s again");
        assert_eq!(l.closed(&7, 10 * S), None, "closed once");
    }

    #[test]
    fn an_address_held_back_waits_for_its_relay_not_for_the_time() {
        let mut l = listeners();
        l.add("relay-a");
        assert!(l.due(Duration::ZERO, |_| true).is_empty());
        assert_eq!(l.next_timeout(|_| true), None);
        l.all_due_now();
        assert_eq!(l.due(5 * S, |_| false).len(), 1, "the relay connected");
    }
}
