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

use std::collections::HashMap;

use cid::Cid;

/// The most bytes of blocks kept: about 18,000 blocks of a small
/// document's change. Kept in two generations of up to half each, the
/// older dropped whole when the newer fills (no order to keep per block).
pub(crate) const RECENT_BLOCK_BYTES: usize = 4 << 20;

/// CID bytes → the block's bytes, in two generations.
#[derive(Default)]
pub(crate) struct RecentBlocks {
    newer: HashMap<Vec<u8>, Vec<u8>>,
    older: HashMap<Vec<u8>, Vec<u8>>,
    /// The bytes of the blocks in `newer`.
    bytes: usize,
}

impl RecentBlocks {
    /// A block by its CID's bytes.
    pub(crate) fn get(&self, cid: &[u8]) -> Option<&Vec<u8>> {
        self.newer.get(cid).or_else(|| self.older.get(cid))
    }

    /// Keeps a committed block.
    pub(crate) fn keep(&mut self, cid: &Cid, block: &[u8]) {
        self.bytes += block.len();
        self.newer.insert(cid.to_bytes(), block.to_vec());
        if self.bytes > RECENT_BLOCK_BYTES / 2 {
            self.older = std::mem::take(&mut self.newer);
            self.bytes = 0;
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
        let last = 3 * (RECENT_BLOCK_BYTES >> 16);
        for n in 0..=last {
            recent.keep(&cid_of(&block(n)), &block(n));
        }
        let get = |n| recent.get(&cid_of(&block(n)).to_bytes()).cloned();
        assert_eq!(get(0), None, "the oldest went");
        assert_eq!(get(last), Some(block(last)), "the newest is kept");
        assert_eq!(get(last - 1), Some(block(last - 1)), "and the one before");
        let held: usize = recent.newer.values().chain(recent.older.values()).map(Vec::len).sum();
        assert!(held <= RECENT_BLOCK_BYTES, "{held} bytes held");
    }
}
