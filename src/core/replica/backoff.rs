//! When to try again after a failure: the one retry rule that dialling,
//! relayed listeners and the outbox lanes share.

use std::time::Duration;

/// When to try a failed push again: doubling delays from `base` up to
/// `max`, as DefraDB's replicators do (30 s … 32 min there; configurable
/// here so tests run in milliseconds). Time is passed in, never read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backoff {
    base: Duration,
    max: Duration,
    failures: u32,
    /// Nothing may be tried before this instant (time since an epoch the caller chooses).
    not_before: Duration,
}

impl Backoff {
    pub fn new(base: Duration, max: Duration) -> Self {
        Backoff { base, max, failures: 0, not_before: Duration::ZERO }
    }

    pub fn failed(&mut self, now: Duration) {
        let delay = self.base.saturating_mul(1 << self.failures.min(20)).min(self.max);
        self.failures += 1;
        self.not_before = now + delay;
    }

    pub fn succeeded(&mut self) {
        self.failures = 0;
        self.not_before = Duration::ZERO;
    }

    /// A fresh connection is a reason to try at once.
    pub fn reset(&mut self) {
        self.not_before = Duration::ZERO;
    }

    pub fn ready(&self, now: Duration) -> bool {
        now >= self.not_before
    }

    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// When the next try is due, if it is not already.
    pub fn next_at(&self) -> Duration {
        self.not_before
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_and_resets() {
        let s = Duration::from_secs;
        let mut b = Backoff::new(s(1), s(8));
        assert!(b.ready(s(0)));
        b.failed(s(0));
        assert!(!b.ready(s(0)) && b.ready(s(1)));
        b.failed(s(1));
        assert_eq!(b.next_at(), s(3));
        b.failed(s(3));
        b.failed(s(7));
        assert_eq!(b.next_at(), s(15), "capped at 8 s");
        b.reset();
        assert!(b.ready(s(7)));
        b.succeeded();
        assert_eq!(b.failures(), 0);
    }
}
