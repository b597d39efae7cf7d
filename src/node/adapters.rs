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
/// under its CID: natively on the verifying threads (a batch of more than
/// one chunk) or in line, in a page with WebCrypto.
#[cfg(not(target_arch = "wasm32"))]
pub(super) use native::{decode_claimed, decode_parallel as decode_batch, verify_batch};

/// Those of a batch's blocks that decoded and verified, and a refusal for
/// each of the others: every block once, under its own CID (the node's
/// answer to the push is made of them).
pub(super) type Verified = (Vec<crate::core::block::SignedBlock>, Vec<crate::db::Refusal>);

/// [`decode_batch`] of a batch it owns, as a future that needs nothing
/// of the node: the work starts at once (natively on other threads; in a
/// page as a task of its own on the event loop, whose signature checks
/// WebCrypto runs in the page's worker), so the node merges one batch
/// while the next is verified.
#[cfg(target_arch = "wasm32")]
pub(super) fn verify_batch(blocks: Vec<Vec<u8>>) -> impl std::future::Future<Output = Verified> + 'static {
    let (tx, rx) = futures::channel::oneshot::channel();
    wasm_bindgen_futures::spawn_local(async move {
        let _ = tx.send(decode_batch(&blocks).await);
    });
    async move { rx.await.expect("a page's verifying task sends its result") }
}

/// The wall clock now, in ms since the Unix epoch: for a driver's
/// [`super::run::Clock`] (the node itself reads no clock).
pub(crate) fn wall_now_ms() -> f64 {
    use web_time::{SystemTime, UNIX_EPOCH};
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_millis() as f64)
}

#[cfg(not(target_arch = "wasm32"))]
mod native {
    use cid::Cid;

    use std::panic::{catch_unwind, AssertUnwindSafe};
    use std::sync::PoisonError;

    use super::Verified;
    use crate::core::block::{cid_of, AuthorKeys, BlockError, SignedBlock, Unverified};
    use crate::db::Refusal;

    /// [`SignedBlock::decode`] of one block received under `cid` (async as a
    /// page's check is).
    pub(in crate::node) async fn decode_claimed(bytes: &[u8], cid: Cid) -> Result<SignedBlock, BlockError> {
        SignedBlock::decode(bytes, Some(cid))
    }

    /// Decodes and verifies each of `blocks`, as `crate::db::decode_each`
    /// does, but each author's key is decompressed once ([`AuthorKeys`])
    /// and the signatures are checked together ([`Unverified::verify_all`]):
    /// the same blocks pass. Every decoded block's message is held until
    /// the check ends: a chunk's ([`VERIFY_CHUNK`]), or a whole push's
    /// (at most 1,024 blocks of at most 8 MiB in all) where the node checks
    /// one on its own thread.
    fn decode_each(blocks: &[Vec<u8>]) -> (Vec<SignedBlock>, Vec<Refusal>) {
        let mut keys = AuthorKeys::default();
        let mut unverified = Vec::with_capacity(blocks.len());
        let decoded: Vec<Result<(), BlockError>> = blocks
            .iter()
            .map(|bytes| SignedBlock::decode_unverified(bytes, None).map(|u| unverified.push(u)))
            .collect();
        let mut checked = Unverified::verify_all(unverified, &mut keys).into_iter();
        let mut ok = Vec::with_capacity(blocks.len());
        let mut refused = Vec::new();
        for (bytes, d) in blocks.iter().zip(decoded) {
            match d.and_then(|_| checked.next().expect("one check per decoded block")) {
                Ok(b) => ok.push(b),
                Err(e) => refused.push(Refusal::new(cid_of(bytes), &e.into())),
            }
        }
        (ok, refused)
    }

    /// Decodes and verifies a batch on every core, by the verifying threads
    /// ([`verify_batch`]; after the pushes queued before it, the node
    /// waiting for it): a signature check costs more than storing the
    /// block, and the node's own thread is one core. A batch of one chunk
    /// ([`VERIFY_CHUNK`] blocks) or less is checked in line, where handing
    /// it over would share nothing.
    pub(in crate::node) async fn decode_parallel(blocks: &[Vec<u8>]) -> (Vec<SignedBlock>, Vec<Refusal>) {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        if cores < 2 || blocks.len() <= VERIFY_CHUNK {
            return decode_each(blocks);
        }
        verify_batch(blocks.to_vec()).await
    }

    /// [`decode_parallel`] of a batch, started now on the verifying
    /// threads ([`Verifiers`]); the future is its result.
    pub(in crate::node) fn verify_batch(blocks: Vec<Vec<u8>>) -> impl std::future::Future<Output = Verified> + 'static {
        use std::sync::{Arc, Mutex};
        let (tx, rx) = futures::channel::oneshot::channel::<()>();
        let blocks = Arc::new(blocks);
        let chunks = blocks.len().div_ceil(VERIFY_CHUNK).max(1);
        // Each chunk's result, and the sender the last chunk done fires.
        type Parts =
            (Vec<Option<(Vec<SignedBlock>, Vec<Refusal>)>>, usize, Option<futures::channel::oneshot::Sender<()>>);
        let parts: Arc<Mutex<Parts>> = Arc::new(Mutex::new((vec![None; chunks], chunks, Some(tx))));
        let mut jobs: Vec<Job> = Vec::with_capacity(chunks);
        for i in 0..chunks {
            let (blocks, parts) = (blocks.clone(), parts.clone());
            jobs.push(Box::new(move || {
                let range = i * VERIFY_CHUNK..((i + 1) * VERIFY_CHUNK).min(blocks.len());
                let result = catch_unwind(AssertUnwindSafe(|| decode_each(&blocks[range])));
                let mut p = parts.lock().unwrap_or_else(PoisonError::into_inner);
                match result {
                    Ok(result) => {
                        p.0[i] = Some(result);
                        p.1 -= 1;
                        if p.1 == 0 {
                            if let Some(tx) = p.2.take() {
                                let _ = tx.send(());
                            }
                        }
                    }
                    // A bug, not input (decoding refuses, never panics):
                    // the future hears no answer and checks the push on the
                    // node's thread, where the same panic stops the node
                    // loudly rather than leaving every push behind it waiting.
                    Err(_) => drop(p.2.take()),
                }
            }));
        }
        let queued = Verifiers::get().is_some_and(|v| v.push(jobs));
        async move {
            if !(queued && rx.await.is_ok()) {
                tracing::warn!("verifying blocks on the node's thread: no verifying thread ran them");
                return decode_each(&blocks);
            }
            let parts = std::mem::take(&mut parts.lock().unwrap_or_else(PoisonError::into_inner).0);
            joined(parts.into_iter().flatten(), blocks.len())
        }
    }

    /// Blocks a verifying thread checks at a time: a push of 1,024 is
    /// shared by every core, and the pushes before it go first.
    const VERIFY_CHUNK: usize = 128;

    type Job = Box<dyn FnOnce() + Send>;

    /// The process's verifying threads, one per core, taking chunks of
    /// the pushes in the order they came: the oldest push, which the node
    /// merges next, is checked first on every core, rather than each push
    /// on threads of its own sharing the cores with the ones after it (then
    /// all of them ended together, and the merges waited for the last).
    struct Verifiers {
        queue: std::sync::Mutex<std::collections::VecDeque<Job>>,
        ready: std::sync::Condvar,
    }

    impl Verifiers {
        /// The pool, started on first use; `None` while no thread starts
        /// (tried again on the next push). Two nodes of one process (the
        /// benches, the tests) start it once.
        fn get() -> Option<&'static Verifiers> {
            static POOL: Verifiers = Verifiers {
                queue: std::sync::Mutex::new(std::collections::VecDeque::new()),
                ready: std::sync::Condvar::new(),
            };
            static STARTED: std::sync::Mutex<bool> = std::sync::Mutex::new(false);
            let mut started = STARTED.lock().unwrap_or_else(PoisonError::into_inner);
            if !*started {
                let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
                let spawn = |i| std::thread::Builder::new().name(format!("weft-verify-{i}")).spawn(|| POOL.work());
                *started = (0..threads).filter(|i| spawn(*i).is_ok()).count() > 0;
            }
            started.then_some(&POOL)
        }

        fn push(&self, jobs: Vec<Job>) -> bool {
            let Ok(mut queue) = self.queue.lock() else { return false };
            queue.extend(jobs);
            self.ready.notify_all();
            true
        }

        fn work(&self) {
            loop {
                let job = {
                    let Ok(mut queue) = self.queue.lock() else { return };
                    loop {
                        if let Some(job) = queue.pop_front() {
                            break job;
                        }
                        queue = match self.ready.wait(queue) {
                            Ok(q) => q,
                            Err(_) => return,
                        };
                    }
                };
                // A job catches its own panic; this keeps the thread should
                // one not.
                let _ = catch_unwind(AssertUnwindSafe(job));
            }
        }
    }

    /// The blocks that passed and the refusals of consecutive parts of a
    /// batch of `len` blocks, in order.
    fn joined(
        parts: impl IntoIterator<Item = (Vec<SignedBlock>, Vec<Refusal>)>,
        len: usize,
    ) -> (Vec<SignedBlock>, Vec<Refusal>) {
        let mut all = (Vec::with_capacity(len), Vec::new());
        for (ok, refused) in parts {
            all.0.extend(ok);
            all.1.extend(refused);
        }
        all
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use crate::core::block::Block;
        use ed25519_dalek::SigningKey;
        use serde_json::json;

        /// A push of 300 blocks (three chunks), some of them tampered with
        /// in each chunk (undecodable, or a signature byte flipped): the
        /// pool answers what one thread checking them one by one with
        /// dalek's `verify` answers (`crate::db::decode_each`), the same
        /// blocks and refusals in the same order; so does a batch checked
        /// by `decode_parallel`.
        #[test]
        fn the_verifying_threads_answer_as_one_thread_in_order() {
            let key = SigningKey::from_bytes(&[7; 32]);
            let blocks: Vec<Vec<u8>> = (0..300u32)
                .map(|i| {
                    let fields = json!({ "n": i }).as_object().expect("an object").clone();
                    let b = Block::genesis("Book", fields, i.to_be_bytes().repeat(2).try_into().expect("8"), &key);
                    let mut bytes = b.bytes;
                    if i % 97 == 5 {
                        let last = bytes.len() - 1;
                        bytes[last] ^= 1;
                    }
                    if i % 89 == 7 {
                        // A byte of R, then one of S.
                        let sig = b.block.sig.as_ref().expect("signed");
                        let at = bytes.windows(64).position(|w| w == sig.as_slice()).expect("the signature");
                        bytes[at + if i % 2 == 0 { 3 } else { 40 }] ^= 1;
                    }
                    bytes
                })
                .collect();
            let (ok, refused) = decode_each(&blocks);
            let (one_ok, one_refused) = crate::db::decode_each(&blocks);
            let cids = |v: &[SignedBlock]| v.iter().map(|b| b.cid).collect::<Vec<_>>();
            assert_eq!(cids(&ok), cids(&one_ok));
            assert_eq!(format!("{refused:?}"), format!("{one_refused:?}"));
            let bad_signatures = format!("{refused:?}").matches("signature").count();
            assert_eq!((refused.len(), bad_signatures), (8, 4), "4 undecodable, 4 bad signatures: {refused:?}");
            let (pool_ok, pool_refused) = futures::executor::block_on(verify_batch(blocks.clone()));
            assert_eq!(cids(&pool_ok), cids(&ok));
            assert_eq!(format!("{pool_refused:?}"), format!("{refused:?}"));
            // A fetched batch (`decode_parallel`, of more than one chunk:
            // on these threads where there are two cores) answers alike.
            let (fetched_ok, fetched_refused) = futures::executor::block_on(decode_parallel(&blocks));
            assert_eq!(cids(&fetched_ok), cids(&ok));
            assert_eq!(format!("{fetched_refused:?}"), format!("{refused:?}"));
        }
    }
}
