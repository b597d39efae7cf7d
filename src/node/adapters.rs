//! What the node is given per target: its store, how it checks a peer's
//! blocks, and the wall clock its drivers read. The node's own files are
//! the same on both targets.

/// The store a node keeps its replica in: redb natively, IndexedDB in a page.
#[cfg(not(target_arch = "wasm32"))]
pub(crate) type NodeStore = crate::store::RedbStore;
#[cfg(target_arch = "wasm32")]
pub(crate) type NodeStore = crate::store::IdbStore;

/// Decodes and verifies a batch of blocks from a peer, and one block sent
/// under its CID: natively on every core, in a page with WebCrypto.
#[cfg(not(target_arch = "wasm32"))]
pub(super) use super::native::{decode_claimed, decode_parallel as decode_batch};
#[cfg(target_arch = "wasm32")]
pub(super) use super::webcrypto::{decode_batch, decode_claimed};

/// The wall clock now, in ms since the Unix epoch: for a driver's
/// [`super::run::Clock`] (the node itself reads no clock).
pub(crate) fn wall_now_ms() -> f64 {
    use web_time::{SystemTime, UNIX_EPOCH};
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_millis() as f64)
}
