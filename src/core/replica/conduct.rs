//! A peer's conduct: its request allowance ([`TokenBucket`]), and the
//! strikes and bans ([`Conduct`]) that invalid data and floods earn it.
//! Both are kept across its reconnects, and capped in number so a crowd
//! of throwaway identities cannot grow the replica's memory.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::Duration;

/// A peer's allowance of requests: a bucket of `burst` tokens refilled at
/// `per_second`, one token per request. Time is passed in, never read.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenBucket {
    burst: f64,
    per_second: f64,
    tokens: f64,
    /// When `tokens` was last brought up to date.
    at: Duration,
    /// Requests refused since the bucket was last full: a peer that keeps
    /// over its rate keeps counting up, one that calms down starts afresh.
    refused: u64,
}

/// What a [`TokenBucket`] says to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Admitted,
    Refused,
    /// Refused, and the peer is so far over its rate (every
    /// [`REFUSED_PER_STRIKE`]th refusal before its bucket is full again)
    /// that it earns a strike.
    RefusedStrike,
}

/// Requests a peer may send at once on the weft protocols, before the rate applies.
pub const REQUEST_BURST: u32 = 1000;
/// Requests per second a peer may send on the weft protocols, sustained.
pub const REQUESTS_PER_SECOND: u32 = 250;
/// Refused requests (before the peer's bucket is full again) that count as one strike.
pub const REFUSED_PER_STRIKE: u64 = 250;

impl TokenBucket {
    /// A full bucket at `now`.
    pub fn new(burst: u32, per_second: u32, now: Duration) -> Self {
        let burst = f64::from(burst.max(1));
        TokenBucket { burst, per_second: f64::from(per_second), tokens: burst, at: now, refused: 0 }
    }

    fn refill(&mut self, now: Duration) {
        let elapsed = now.saturating_sub(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.burst);
        self.at = self.at.max(now);
        if self.tokens >= self.burst {
            self.refused = 0;
        }
    }

    /// Takes a token for one request at `now`, if there is one.
    pub fn admit(&mut self, now: Duration) -> Admission {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return Admission::Admitted;
        }
        self.refused += 1;
        if self.refused.is_multiple_of(REFUSED_PER_STRIKE) {
            Admission::RefusedStrike
        } else {
            Admission::Refused
        }
    }

    /// Whether the bucket is full again at `now`: it is then the same as a
    /// fresh one, and need not be kept.
    pub fn is_full(&self, now: Duration) -> bool {
        let mut b = self.clone();
        b.refill(now);
        b.tokens >= b.burst
    }
}

/// Invalid blocks or unreadable messages a peer may send before it is
/// banned: an honest peer sends none, but one bad block may be a bug
/// rather than an attack.
pub const MAX_STRIKES: u32 = 3;
/// How long a banned peer's connections are refused, and how long a
/// strike is remembered (across reconnects).
pub const BAN: Duration = Duration::from_secs(600);
/// The most peers whose strikes, and the most whose bans, are remembered:
/// past it the oldest strikes and the soonest-ending bans are forgotten,
/// so a crowd of throwaway identities cannot grow the node's memory.
pub const MAX_CONDUCT_ENTRIES: usize = 4096;

/// Request allowances, strikes and bans per peer: a peer that misbehaves
/// [`MAX_STRIKES`] times within [`BAN`] of its previous strike is banned
/// for [`BAN`]. Disconnecting forgets nothing. Time is passed in, never read.
#[derive(Debug, Clone)]
pub struct Conduct<P> {
    /// Strikes and when the last one was given.
    strikes: HashMap<P, (u32, Duration)>,
    /// Until when each banned peer is refused.
    banned: HashMap<P, Duration>,
    /// Each peer's request allowance; a full bucket is the same as a fresh
    /// one, so only peers that asked lately are kept.
    buckets: HashMap<P, TokenBucket>,
    cap: usize,
}

impl<P: Hash + Eq + Copy> Default for Conduct<P> {
    fn default() -> Self {
        Conduct::with_capacity(MAX_CONDUCT_ENTRIES)
    }
}

impl<P: Hash + Eq + Copy> Conduct<P> {
    pub fn with_capacity(cap: usize) -> Self {
        Conduct { strikes: HashMap::new(), banned: HashMap::new(), buckets: HashMap::new(), cap: cap.max(1) }
    }

    /// One strike against `peer` at `now`; `true` when it makes the peer
    /// banned (its strikes then start again from nothing).
    pub fn strike(&mut self, peer: P, now: Duration) -> bool {
        let fresh = |(n, last): (u32, Duration)| if now.saturating_sub(last) >= BAN { 0 } else { n };
        let before = self.strikes.get(&peer).copied().map_or(0, fresh);
        if before == 0 && !self.strikes.contains_key(&peer) && self.strikes.len() >= self.cap {
            self.strikes.retain(|_, (_, last)| now.saturating_sub(*last) < BAN);
            if self.strikes.len() >= self.cap {
                let oldest = self.strikes.iter().min_by_key(|(_, (_, last))| *last).map(|(p, _)| *p);
                if let Some(p) = oldest {
                    self.strikes.remove(&p);
                }
            }
        }
        if before + 1 < MAX_STRIKES {
            self.strikes.insert(peer, (before + 1, now));
            return false;
        }
        self.strikes.remove(&peer);
        if !self.banned.contains_key(&peer) && self.banned.len() >= self.cap {
            self.banned.retain(|_, until| *until > now);
            if self.banned.len() >= self.cap {
                let soonest = self.banned.iter().min_by_key(|(_, until)| **until).map(|(p, _)| *p);
                if let Some(p) = soonest {
                    self.banned.remove(&p);
                }
            }
        }
        self.banned.insert(peer, now + BAN);
        true
    }

    /// The strikes standing against `peer` at `now`.
    pub fn strikes(&self, peer: &P, now: Duration) -> u32 {
        self.strikes.get(peer).map_or(0, |(n, last)| if now.saturating_sub(*last) >= BAN { 0 } else { *n })
    }

    pub fn is_banned(&self, peer: &P, now: Duration) -> bool {
        self.banned.get(peer).is_some_and(|until| *until > now)
    }

    /// Takes one request of `peer` at `now` against its allowance
    /// ([`REQUEST_BURST`] at once, then [`REQUESTS_PER_SECOND`]). A
    /// [`Admission::RefusedStrike`] is the caller's to [`Self::strike`],
    /// as it may have more to do when the strike bans.
    pub fn admit(&mut self, peer: P, now: Duration) -> Admission {
        if !self.buckets.contains_key(&peer) && self.buckets.len() >= self.cap {
            self.buckets.retain(|_, b| !b.is_full(now));
            if self.buckets.len() >= self.cap {
                // The one nearest full has the least to remember.
                let fullest = self.buckets.iter().max_by(|a, b| a.1.tokens.total_cmp(&b.1.tokens)).map(|(p, _)| *p);
                if let Some(p) = fullest {
                    self.buckets.remove(&p);
                }
            }
        }
        let bucket =
            self.buckets.entry(peer).or_insert_with(|| TokenBucket::new(REQUEST_BURST, REQUESTS_PER_SECOND, now));
        bucket.admit(now)
    }

    /// Forgets strikes and bans that have run out, and full allowances.
    pub fn prune(&mut self, now: Duration) {
        self.strikes.retain(|_, (_, last)| now.saturating_sub(*last) < BAN);
        self.banned.retain(|_, until| *until > now);
        self.buckets.retain(|_, b| !b.is_full(now));
    }

    /// Peers remembered, with strikes and banned.
    pub fn len(&self) -> (usize, usize) {
        (self.strikes.len(), self.banned.len())
    }

    /// Peers whose request allowance is not full.
    pub fn allowances(&self) -> usize {
        self.buckets.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_admits_its_burst_then_its_rate_and_strikes_far_over_it() {
        let ms = Duration::from_millis;
        let mut b = TokenBucket::new(10, 100, ms(0));
        assert!((0..10).all(|_| b.admit(ms(0)) == Admission::Admitted));
        assert_eq!(b.admit(ms(0)), Admission::Refused);
        // 100 per second: one more token each 10 ms.
        assert_eq!(b.admit(ms(10)), Admission::Admitted);
        assert_eq!(b.admit(ms(10)), Admission::Refused);
        let strikes = (1..REFUSED_PER_STRIKE * 2).filter(|_| b.admit(ms(10)) == Admission::RefusedStrike).count();
        assert_eq!(strikes, 2, "a strike every {REFUSED_PER_STRIKE} refusals, admitted ones between");
        assert!(!b.is_full(ms(50)));
        assert!(b.is_full(ms(110)), "full again after burst / rate");
        assert_eq!(b.admit(ms(5)), Admission::Refused, "time going backwards adds nothing");
        assert_eq!(b.admit(ms(110)), Admission::Admitted);
    }

    #[test]
    fn strikes_are_remembered_for_the_ban_duration_and_bans_end() {
        let s = Duration::from_secs;
        let mut c = Conduct::default();
        assert!(!c.strike(1u8, s(0)));
        assert!(!c.strike(1, s(10)));
        assert_eq!(c.strikes(&1, s(20)), 2, "nothing forgets a strike but time");
        assert!(c.strike(1, s(20)), "the third strike bans");
        assert!(c.is_banned(&1, s(20)) && c.is_banned(&1, s(20) + BAN - s(1)));
        assert!(!c.is_banned(&1, s(20) + BAN));
        assert_eq!(c.strikes(&1, s(20)), 0);
        // Strikes further apart than the ban duration never add up.
        assert!(!c.strike(2, s(0)));
        assert!(!c.strike(2, BAN));
        assert!(!c.strike(2, BAN * 2 + s(1)));
        assert_eq!(c.strikes(&2, BAN * 2 + s(1)), 1);
        c.prune(BAN * 4);
        assert_eq!(c.len(), (0, 0));
    }

    #[test]
    fn conduct_memory_is_capped() {
        let s = Duration::from_secs;
        let mut c = Conduct::with_capacity(100);
        for p in 0..10_000u32 {
            c.strike(p, s(u64::from(p)));
        }
        assert_eq!(c.len().0, 100, "the oldest strikes are forgotten first");
        assert_eq!(c.strikes(&9_999, s(9_999)), 1);
        for p in 0..10_000u32 {
            for _ in 0..MAX_STRIKES {
                c.strike(p, s(20_000));
            }
        }
        assert_eq!(c.len().1, 100);
        assert!(c.is_banned(&9_999, s(20_000)));
    }

    #[test]
    fn allowances_are_per_peer_forgotten_when_full_and_capped() {
        let ms = Duration::from_millis;
        let mut c = Conduct::with_capacity(10);
        let burst = (0..REQUEST_BURST).filter(|_| c.admit(1u32, ms(0)) == Admission::Admitted).count();
        assert_eq!(burst, REQUEST_BURST as usize);
        assert_eq!(c.admit(1, ms(0)), Admission::Refused, "peer 1 spent its burst");
        assert_eq!(c.admit(2, ms(0)), Admission::Admitted, "peer 2 has its own");
        for p in 3..100u32 {
            c.admit(p, ms(0));
        }
        assert!(c.allowances() <= 10, "capped: {}", c.allowances());
        assert_eq!(c.admit(1, ms(0)), Admission::Refused, "the crowd evicted full allowances, not peer 1's spent one");
        c.prune(ms(60_000));
        assert_eq!(c.allowances(), 0, "full again: forgotten");
    }
}
