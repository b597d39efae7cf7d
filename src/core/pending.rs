//! Which blocks wait for their parents on whose account, and which to drop
//! when a peer, or all of them, hold more than the caps.
//!
//! A block whose parents are missing is stored aside (`pending`) until they
//! arrive. Without a cap a peer could fill the store with blocks that hang
//! from nothing; with one cap for all, one peer could crowd out the others.
//! So each block is booked to the peer that sent it, and past either cap
//! the oldest go first: the sender's own when it is over its share, else
//! those of the peer that holds the most. Time plays no part; the caller stores and deletes.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;

use cid::Cid;

/// Caps on pending blocks, in blocks and in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PendingLimits {
    pub per_peer_blocks: usize,
    pub per_peer_bytes: usize,
    pub total_blocks: usize,
    pub total_bytes: usize,
}

impl Default for PendingLimits {
    /// 4,096 blocks or 32 MiB per peer; 16,384 blocks or 128 MiB in all.
    fn default() -> Self {
        PendingLimits { per_peer_blocks: 4096, per_peer_bytes: 32 << 20, total_blocks: 16_384, total_bytes: 128 << 20 }
    }
}

#[derive(Debug, Default, Clone, Copy)]
struct Usage {
    blocks: usize,
    bytes: usize,
}

impl Usage {
    fn add(&mut self, bytes: usize) {
        self.blocks += 1;
        self.bytes += bytes;
    }

    fn remove(&mut self, bytes: usize) {
        self.blocks -= 1;
        self.bytes -= bytes;
    }
}

/// The pending blocks booked to peers of type `P`, oldest first.
#[derive(Debug)]
pub struct PendingLedger<P> {
    limits: PendingLimits,
    /// Still pending: who sent it, and its size.
    live: HashMap<Cid, (P, usize)>,
    /// Arrival order per peer; entries no longer live are skipped when
    /// met (and compacted away when they pile up).
    by_peer: HashMap<P, VecDeque<Cid>>,
    usage: HashMap<P, Usage>,
    total: Usage,
}

impl<P: Clone + Eq + Hash> PendingLedger<P> {
    pub fn new(limits: PendingLimits) -> Self {
        PendingLedger {
            limits,
            live: HashMap::new(),
            by_peer: HashMap::new(),
            usage: HashMap::new(),
            total: Usage::default(),
        }
    }

    /// Books a block `peer` sent that is now pending; returns the blocks to
    /// drop (their owners' books already cleared), perhaps this one.
    pub fn add(&mut self, cid: Cid, peer: P, bytes: usize) -> Vec<Cid> {
        if self.live.contains_key(&cid) {
            return Vec::new();
        }
        self.live.insert(cid, (peer.clone(), bytes));
        self.by_peer.entry(peer.clone()).or_default().push_back(cid);
        self.usage.entry(peer.clone()).or_default().add(bytes);
        self.total.add(bytes);
        let mut dropped = Vec::new();
        let limits = self.limits;
        while self
            .usage
            .get(&peer)
            .is_some_and(|u| u.blocks > limits.per_peer_blocks || u.bytes > limits.per_peer_bytes)
        {
            let Some(oldest) = self.oldest_of(&peer) else { break };
            self.resolved(&oldest);
            dropped.push(oldest);
        }
        while self.total.blocks > limits.total_blocks || self.total.bytes > limits.total_bytes {
            // The oldest of the peer that holds the most: many identities
            // of one attacker do not flush the others' blocks.
            let heaviest = self.usage.iter().max_by_key(|(_, u)| (u.blocks, u.bytes)).map(|(p, _)| p.clone());
            let Some(oldest) = heaviest.and_then(|p| self.oldest_of(&p)) else { break };
            self.resolved(&oldest);
            dropped.push(oldest);
        }
        self.compact();
        dropped
    }

    /// A block that is pending no more (merged, or dropped otherwise).
    pub fn resolved(&mut self, cid: &Cid) {
        let Some((peer, bytes)) = self.live.remove(cid) else { return };
        self.total.remove(bytes);
        if let Some(u) = self.usage.get_mut(&peer) {
            u.remove(bytes);
            if u.blocks == 0 {
                self.usage.remove(&peer);
                self.by_peer.remove(&peer);
            }
        }
    }

    /// How many blocks are booked, to `peer` or in all.
    pub fn blocks(&self, peer: Option<&P>) -> usize {
        match peer {
            Some(p) => self.usage.get(p).map_or(0, |u| u.blocks),
            None => self.total.blocks,
        }
    }

    fn oldest_of(&mut self, peer: &P) -> Option<Cid> {
        let queue = self.by_peer.get_mut(peer)?;
        while let Some(c) = queue.pop_front() {
            if self.live.get(&c).is_some_and(|(p, _)| p == peer) {
                return Some(c);
            }
        }
        None
    }

    fn queued(&self) -> usize {
        self.by_peer.values().map(VecDeque::len).sum()
    }

    /// Drops the skipped entries once they outnumber the live ones, so the
    /// queues stay within twice the live count.
    fn compact(&mut self) {
        if self.queued() > 2 * self.live.len() + 64 {
            let live = &self.live;
            for queue in self.by_peer.values_mut() {
                queue.retain(|c| live.contains_key(c));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::block::cid_of;

    fn cid(i: u32) -> Cid {
        cid_of(&i.to_be_bytes())
    }

    fn small() -> PendingLimits {
        PendingLimits { per_peer_blocks: 3, per_peer_bytes: 1000, total_blocks: 5, total_bytes: 10_000 }
    }

    #[test]
    fn a_peer_over_its_share_loses_its_own_oldest() {
        let mut l = PendingLedger::new(small());
        for i in 0..3 {
            assert!(l.add(cid(i), "mallory", 10).is_empty());
        }
        assert_eq!(l.add(cid(3), "mallory", 10), [cid(0)]);
        assert_eq!(l.blocks(Some(&"mallory")), 3);
        // By bytes too: one large block pushes out the older ones.
        assert_eq!(l.add(cid(4), "mallory", 990), [cid(1), cid(2)], "1,010 bytes, then 1,000");
        assert_eq!(l.blocks(Some(&"mallory")), 2);
    }

    #[test]
    fn over_the_total_the_heaviest_peer_loses_its_oldest() {
        let mut l = PendingLedger::new(small());
        for i in 0..3 {
            l.add(cid(i), "alice", 1);
        }
        l.add(cid(10), "bob", 1);
        assert!(l.add(cid(11), "bob", 1).is_empty(), "five in all: at the cap");
        assert_eq!(l.add(cid(20), "carol", 1), [cid(0)], "Alice holds the most: her oldest goes");
        assert_eq!((l.blocks(Some(&"alice")), l.blocks(Some(&"bob")), l.blocks(None)), (2, 2, 5));
    }

    #[test]
    fn resolved_blocks_free_their_room_and_repeats_are_booked_once() {
        let mut l = PendingLedger::new(small());
        l.add(cid(0), "alice", 10);
        assert!(l.add(cid(0), "bob", 10).is_empty());
        assert_eq!(l.blocks(None), 1);
        l.resolved(&cid(0));
        l.resolved(&cid(0));
        assert_eq!(l.blocks(None), 0);
        for i in 1..=3 {
            assert!(l.add(cid(i), "alice", 10).is_empty());
        }
        // Many add/resolve rounds keep the queues short.
        for i in 100..1000 {
            l.add(cid(i), "bob", 1);
            l.resolved(&cid(i));
        }
        assert!(l.queued() <= 2 * l.live.len() + 64);
    }
}
