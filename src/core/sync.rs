//! Replication without the network: the messages peers exchange, their
//! limits, the retry schedule of a replicator's outbox, and what a peer is
//! allowed: its request rate ([`TokenBucket`]) and its strikes and bans
//! ([`Conduct`]), remembered across reconnects. The libp2p
//! behaviours carry these bytes; deciding what to send is done here and in
//! the DAG queries of [`crate::Db`].
//!
//! Protocols (each a request and one response, DAG-CBOR, length-prefixed
//! by the request-response codec):
//! - `/weft/blocks/1`: [`BlocksRequest`] `{want: [CID]}` → [`BlocksResponse`]
//!   `{blocks: [bytes]}`, the held blocks among those wanted that are shared
//!   with the asker, each once, in its order, cut short at the answer's
//!   byte budget (the asker asks again for the rest).
//! - `/weft/heads/1`: [`HeadsRequest`] `{col, docs?, heads: {id: [CID]}}` →
//!   [`HeadsResponse`] `{heads}`: both sides learn the other's heads for a
//!   collection (or some of its documents) and send what the other lacks.
//! - `/weft/replicate/1`: [`ReplicateRequest`] `Offer {cids}` → `Want
//!   {cids}`, and `Push {blocks}` → `Ack {merged}`, sent once the blocks are
//!   durably merged (or held pending their parents).

use std::collections::BTreeMap;
use std::time::Duration;

use cid::Cid;
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

use super::block::MAX_BLOCK_BYTES;

/// The largest message a peer may send: a batch of blocks and some slack.
pub const MAX_MESSAGE_BYTES: usize = 8 * MAX_BLOCK_BYTES;
/// The most CIDs one request may name.
pub const MAX_CIDS: usize = 4096;
/// The most document heads one head exchange message may name: a
/// collection's worth, still under the size limit.
pub const MAX_HEADS: usize = 200_000;
/// The most blocks one push or response carries; bigger sets go in batches.
pub const MAX_BATCH_BLOCKS: usize = 1024;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BlocksRequest {
    pub want: Vec<Cid>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BlocksResponse {
    pub blocks: Vec<ByteBuf>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeadsRequest {
    pub col: String,
    /// Only these documents; all of the collection when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docs: Option<Vec<String>>,
    pub heads: BTreeMap<String, Vec<Cid>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeadsResponse {
    pub heads: BTreeMap<String, Vec<Cid>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ReplicateRequest {
    /// "I have these; which do you lack?"
    Offer { cids: Vec<Cid> },
    /// Blocks, parents before children; `remaining`: how many more the
    /// pusher has queued for this peer now (so the receiver can tell its
    /// progress while catching up; absent from older peers: 0).
    Push {
        blocks: Vec<ByteBuf>,
        #[serde(default)]
        remaining: u64,
    },
}

/// A relay's list of the peers holding a reservation on it, published on
/// [`PEERS_TOPIC`]: how pages that know only the relay find each other.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeerAnnouncement {
    /// Grows with each announcement, so two equal lists are two messages.
    pub seq: u64,
    /// Peer ids, as bytes.
    pub peers: Vec<serde_bytes::ByteBuf>,
}

pub const PEERS_TOPIC: &str = "weft/relay/peers";

/// Peers one announcement may name.
pub const MAX_ANNOUNCED_PEERS: usize = 1024;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ReplicateResponse {
    Want {
        cids: Vec<Cid>,
    },
    /// The pushed blocks now stored durably (merged or pending), and those
    /// refused, with why (absent from older peers, which refused whole
    /// pushes): the pusher moves past both.
    Ack {
        merged: Vec<Cid>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        refused: Vec<RefusedBlock>,
    },
    Refused {
        reason: String,
    },
}

/// A pushed block the receiver did not take: its CID, the error code
/// (`UNAUTHORIZED`, `VALIDATION`, `UNKNOWN_COLLECTION`, `BLOCK_INVALID`)
/// and a message for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefusedBlock {
    pub cid: Cid,
    pub code: String,
    pub reason: String,
}

/// A message that cannot be taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MessageError {
    #[error("message of {0} bytes is over the {MAX_MESSAGE_BYTES}-byte limit")]
    TooLarge(usize),
    #[error("message is not valid DAG-CBOR: {0}")]
    Decode(String),
    #[error("message names {0} CIDs, heads or blocks, over the limit")]
    TooMany(usize),
}

/// Encodes a message; the caller keeps batches under the limits.
pub fn encode<T: Serialize>(msg: &T) -> Vec<u8> {
    serde_ipld_dagcbor::to_vec(msg).expect("messages encode as DAG-CBOR")
}

/// Decodes a message from a peer, refusing what is over the limits.
pub fn decode<T: for<'de> Deserialize<'de> + Limits>(bytes: &[u8]) -> Result<T, MessageError> {
    if bytes.len() > MAX_MESSAGE_BYTES {
        return Err(MessageError::TooLarge(bytes.len()));
    }
    let msg: T = serde_ipld_dagcbor::from_slice(bytes).map_err(|e| MessageError::Decode(e.to_string()))?;
    let n = msg.items();
    if n > T::MAX_ITEMS {
        return Err(MessageError::TooMany(n));
    }
    Ok(msg)
}

/// How many CIDs or blocks a message carries, for the limit check.
pub trait Limits {
    const MAX_ITEMS: usize = MAX_CIDS;
    fn items(&self) -> usize;
}

impl Limits for BlocksRequest {
    fn items(&self) -> usize {
        self.want.len()
    }
}
impl Limits for BlocksResponse {
    fn items(&self) -> usize {
        self.blocks.len()
    }
}
impl Limits for HeadsRequest {
    const MAX_ITEMS: usize = MAX_HEADS;
    fn items(&self) -> usize {
        self.heads.values().map(Vec::len).sum::<usize>().max(self.docs.as_ref().map_or(0, Vec::len))
    }
}
impl Limits for HeadsResponse {
    const MAX_ITEMS: usize = MAX_HEADS;
    fn items(&self) -> usize {
        self.heads.values().map(Vec::len).sum()
    }
}
impl Limits for PeerAnnouncement {
    const MAX_ITEMS: usize = MAX_ANNOUNCED_PEERS;
    fn items(&self) -> usize {
        self.peers.len()
    }
}
impl Limits for ReplicateRequest {
    fn items(&self) -> usize {
        match self {
            ReplicateRequest::Offer { cids } => cids.len(),
            ReplicateRequest::Push { blocks, .. } => blocks.len(),
        }
    }
}
impl Limits for ReplicateResponse {
    fn items(&self) -> usize {
        match self {
            ReplicateResponse::Want { cids } => cids.len(),
            ReplicateResponse::Ack { merged, refused } => merged.len() + refused.len(),
            ReplicateResponse::Refused { .. } => 0,
        }
    }
}

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

/// Strikes and bans per peer: a peer that misbehaves [`MAX_STRIKES`] times
/// within [`BAN`] of its previous strike is banned for [`BAN`].
/// Disconnecting forgets nothing. Time is passed in, never read.
#[derive(Debug, Clone)]
pub struct Conduct<P> {
    /// Strikes and when the last one was given.
    strikes: std::collections::HashMap<P, (u32, Duration)>,
    /// Until when each banned peer is refused.
    banned: std::collections::HashMap<P, Duration>,
    cap: usize,
}

impl<P: std::hash::Hash + Eq + Copy> Default for Conduct<P> {
    fn default() -> Self {
        Conduct::with_capacity(MAX_CONDUCT_ENTRIES)
    }
}

impl<P: std::hash::Hash + Eq + Copy> Conduct<P> {
    pub fn with_capacity(cap: usize) -> Self {
        Conduct { strikes: Default::default(), banned: Default::default(), cap: cap.max(1) }
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

    /// Forgets strikes and bans that have run out.
    pub fn prune(&mut self, now: Duration) {
        self.strikes.retain(|_, (_, last)| now.saturating_sub(*last) < BAN);
        self.banned.retain(|_, until| *until > now);
    }

    /// Peers remembered, with strikes and banned.
    pub fn len(&self) -> (usize, usize) {
        (self.strikes.len(), self.banned.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::block::cid_of;

    #[test]
    fn messages_round_trip() {
        let c = cid_of(b"x");
        let req = ReplicateRequest::Push { blocks: vec![ByteBuf::from(b"abc".to_vec())], remaining: 7 };
        assert_eq!(decode::<ReplicateRequest>(&encode(&req)).unwrap(), req);
        let heads = HeadsRequest { col: "Book".into(), docs: None, heads: BTreeMap::from([("id".into(), vec![c])]) };
        assert_eq!(decode::<HeadsRequest>(&encode(&heads)).unwrap(), heads);
    }

    #[test]
    fn hostile_messages_are_refused() {
        assert!(matches!(decode::<BlocksRequest>(b"\xff\xff"), Err(MessageError::Decode(_))));
        assert!(matches!(decode::<BlocksRequest>(&vec![0; MAX_MESSAGE_BYTES + 1]), Err(MessageError::TooLarge(_))));
        let many = BlocksRequest { want: vec![cid_of(b"x"); MAX_CIDS + 1] };
        assert!(matches!(decode::<BlocksRequest>(&encode(&many)), Err(MessageError::TooMany(_))));
    }

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
}
