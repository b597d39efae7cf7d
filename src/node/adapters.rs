//! What the node is given per target: its store, how it checks a peer's
//! blocks, and the wall clock its drivers read. The node's own files are
//! the same on both targets.

/// The store a node keeps its replica in: redb natively, IndexedDB in a page.
#[cfg(not(target_arch = "wasm32"))]
pub(crate) type NodeStore = crate::store::RedbStore;
#[cfg(target_arch = "wasm32")]
pub(crate) type NodeStore = crate::store::IdbStore;

#[cfg(target_arch = "wasm32")]
pub(super) use super::webcrypto::{decode_batch, decode_claimed};
/// Decodes and verifies a batch of blocks from a peer, and one block sent
/// under its CID: natively on every core, in a page with WebCrypto.
#[cfg(not(target_arch = "wasm32"))]
pub(super) use native::{decode_claimed, decode_parallel as decode_batch};

/// The wall clock now, in ms since the Unix epoch: for a driver's
/// [`super::run::Clock`] (the node itself reads no clock).
pub(crate) fn wall_now_ms() -> f64 {
    use web_time::{SystemTime, UNIX_EPOCH};
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_millis() as f64)
}

#[cfg(not(target_arch = "wasm32"))]
mod native {
    use cid::Cid;

    use crate::core::block::{BlockError, SignedBlock};
    use crate::db::{decode_each, Refusal};

    /// [`SignedBlock::decode`] of one block received under `cid` (async as a
    /// page's check is).
    pub(in crate::node) async fn decode_claimed(bytes: &[u8], cid: Cid) -> Result<SignedBlock, BlockError> {
        SignedBlock::decode(bytes, Some(cid))
    }

    /// Decodes and verifies a batch on every core: a signature check costs more
    /// than storing the block, and the node's own thread is one core.
    pub(in crate::node) async fn decode_parallel(blocks: &[Vec<u8>]) -> (Vec<SignedBlock>, Vec<Refusal>) {
        const MIN_PER_THREAD: usize = 64;
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(blocks.len() / MIN_PER_THREAD);
        if threads <= 1 {
            return decode_each(blocks);
        }
        let chunk = blocks.len().div_ceil(threads);
        let decoded: Vec<(Vec<SignedBlock>, Vec<Refusal>)> = std::thread::scope(|s| {
            let workers: Vec<_> = blocks.chunks(chunk).map(|part| s.spawn(move || decode_each(part))).collect();
            workers.into_iter().map(|w| w.join().expect("block decoding does not panic")).collect()
        });
        let mut all = (Vec::with_capacity(blocks.len()), Vec::new());
        for (ok, refused) in decoded {
            all.0.extend(ok);
            all.1.extend(refused);
        }
        all
    }
}
