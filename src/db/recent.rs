//! The blocks this handle committed lately, by CID: a walk for a peer
//! (head exchange) finds them without reading the store, and a peer
//! catching up mostly lacks what was written last. A page's walk for a
//! peer lacking 10,000 recent blocks read all ~21,000 packs first (~0.3
//! s of its thread, which held back everything else its node had to do:
//! BENCHMARKS.md, "Catch-up: the walk from memory").
//!
//! Never stale: a block never changes under its CID, and a stored block
//! is never deleted. A block is kept once its commit is done (a failed
//! commit keeps none). Blocks other handles (tabs) commit are not here and
//! are read from the store.

use std::collections::{HashMap, VecDeque};

use cid::Cid;

/// The most memory the blocks kept take, their bytes and [`ENTRY_BYTES`]
/// each (then the oldest go first): about 11,000 blocks of a small
/// document's change.
pub(crate) const RECENT_BYTES: usize = 4 << 20;
/// What a block kept costs beside its bytes: its CID's bytes as the key,
/// two vectors and their allocations, the map's slot.
const ENTRY_BYTES: usize = 128;

/// CID bytes → the block's bytes, oldest first in `order`.
#[derive(Default)]
pub(crate) struct RecentBlocks {
    blocks: HashMap<Vec<u8>, Vec<u8>>,
    order: VecDeque<Vec<u8>>,
    /// What the blocks kept take, counted as [`RECENT_BYTES`] is.
    bytes: usize,
}

impl RecentBlocks {
    /// A block by its CID's bytes. (`&Vec`: the map lookup the pack
    /// reads make already, so the page's wasm carries no second one.)
    #[allow(clippy::ptr_arg)]
    pub(crate) fn get(&self, cid: &Vec<u8>) -> Option<&Vec<u8>> {
        self.blocks.get(cid)
    }

    /// How many blocks are kept.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.blocks.len()
    }

    /// Keeps a committed block, dropping the oldest past [`RECENT_BYTES`].
    pub(crate) fn keep(&mut self, cid: &Cid, block: &[u8]) {
        let key = cid.to_bytes();
        if self.blocks.contains_key(&key) {
            return;
        }
        self.bytes += block.len() + ENTRY_BYTES;
        self.blocks.insert(key.clone(), block.to_vec());
        self.order.push_back(key);
        while self.bytes > RECENT_BYTES {
            let Some(old) = self.order.pop_front() else { break };
            self.bytes -= self.blocks.remove(&old).map_or(0, |b| b.len() + ENTRY_BYTES);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::block::cid_of;

    #[test]
    fn it_holds_the_newest_blocks_up_to_its_limit() {
        let mut recent = RecentBlocks::default();
        let block = |n: usize| {
            let mut b = n.to_be_bytes().to_vec();
            b.resize(64 << 10, 7);
            b
        };
        let get = |recent: &RecentBlocks, n| recent.get(&cid_of(&block(n)).to_bytes()).cloned();
        let fit = RECENT_BYTES / ((64 << 10) + ENTRY_BYTES);
        for n in 0..3 * fit {
            recent.keep(&cid_of(&block(n)), &block(n));
            assert!(recent.bytes <= RECENT_BYTES, "{} bytes after block {n}", recent.bytes);
            assert_eq!(get(&recent, n), Some(block(n)), "the newest is kept");
            if n >= fit {
                assert_eq!(get(&recent, n - fit), None, "block {} went", n - fit);
                assert_eq!(get(&recent, n + 1 - fit), Some(block(n + 1 - fit)), "the oldest of the last {fit} is kept");
            }
        }
        let held: usize = recent.blocks.values().map(|b| b.len() + ENTRY_BYTES).sum();
        assert_eq!(held, recent.bytes, "the count is what is held");
        recent.keep(&cid_of(&block(0)), &block(0));
        recent.keep(&cid_of(&block(0)), &block(0));
        assert_eq!(recent.order.len(), recent.blocks.len(), "a block kept twice is one entry");
    }
}
