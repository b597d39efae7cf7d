//! A page checks the signatures of the blocks its peers send in batches
//! (head exchange, pushes, fetches) with the browser's WebCrypto Ed25519
//! (`crypto.subtle.verify`) rather than ed25519-dalek in wasm: 54–57 µs a
//! block against 86–92 µs in Chromium 156 and Firefox ESR 153
//! (BENCHMARKS.md, "Browser: the signature check of a receiving page"). A
//! block alone (gossip) stays with dalek: see [`MIN_BATCH`].
//!
//! **In a worker.** Chromium checks an Ed25519 signature within the call,
//! on the caller's thread (a loop of 4,096 calls took as long to make as to
//! be answered: ~59 µs a call), so a catch-up's checks took half of the
//! receiving page's thread. The page hands each batch to a worker of its
//! own (`verify_aside`, made from a `blob:` URL as a page's node starts,
//! or on first use): its signatures and
//! messages in one transferred buffer, its authors' `CryptoKey`s cloned.
//! The page's thread merges one push while the worker checks the next.
//! Where the worker fails (a CSP that forbids `blob:` workers refuses it
//! after it is made; a batch it fails or does not answer within 30 s), the
//! batches it held go to dalek, and the page calls WebCrypto itself from
//! then on.
//!
//! The accept/refuse rule stays ours ([`Unverified::verify`]): WebCrypto is
//! asked only about blocks on which every cofactorless RFC 8032 verifier
//! agrees with it ([`plain_key`], [`Unverified::plain_signature`]); the
//! rest (small-order or non-canonical keys and R, S past the group order),
//! and every block where WebCrypto is missing (an insecure context, a
//! browser without Ed25519) or fails, go to dalek. Firefox's WebCrypto
//! refuses non-canonical keys that ours takes; Chromium's agreed with ours
//! on every case tried. `tests/web.rs`
//! `webcrypto_agrees_with_our_signature_rule` proves the same result on
//! valid, tampered and malleable signatures in both.

use std::cell::RefCell;
use std::collections::HashMap;

use cid::Cid;
use js_sys::{Array, Promise, Reflect, Uint32Array, Uint8Array};
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{CryptoKey, SubtleCrypto};

use crate::core::block::{cid_of, plain_key, BlockError, SignedBlock, Unverified};
use crate::db::Refusal;

#[wasm_bindgen(inline_js = "
let worker, asked = 0;
// Blocks WebCrypto has judged: [in this page, in the worker].
const judged = [0, 0];
const waiting = new Map();
// Each block's check: its key keys[i], its signature (64 bytes) then its
// message in parts, ending at ends[i].
async function check(keys, parts, ends) {
  const all = [];
  for (let i = 0, at = 0; i < keys.length; at = ends[i++]) {
    all.push(crypto.subtle.verify('Ed25519', keys[i], parts.subarray(at, at + 64), parts.subarray(at + 64, ends[i])));
  }
  return Uint8Array.from(await Promise.all(all), (ok) => (ok ? 1 : 0));
}
// The worker is given up (terminated, never made again: the page checks
// from then on) on its error event (a CSP that refuses it, among others),
// on a message either side could not read, when it fails a batch, or when
// a batch has had no answer for `PATIENCE` ms (a worker the browser
// stopped): the batches it held are refused here, and dalek checks them.
const PATIENCE = 30000;
function give_up(why) {
  worker?.terminate();
  worker = null;
  for (const p of waiting.values()) p.reject(why);
  waiting.clear();
}
function aside() {
  if (worker !== undefined) return worker;
  worker = null;
  try {
    const src = `const check = ${check}; onmessage = async ({ data: { id, args } }) => {
      try { const ok = await check(...args); postMessage({ id, ok }, [ok.buffer]); }
      catch (e) { postMessage({ id, error: String(e) }); }
    }; onmessageerror = () => { throw new Error('a batch the worker could not read'); };`;
    worker = new Worker(URL.createObjectURL(new Blob([src], { type: 'text/javascript' })));
    worker.onmessage = ({ data }) => {
      const p = waiting.get(data.id);
      if (!p) return;
      waiting.delete(data.id);
      clearTimeout(p.timer);
      if (data.error !== undefined) {
        p.reject(data.error);
        return give_up(data.error);
      }
      judged[1] += data.ok.length;
      p.resolve(data.ok);
    };
    worker.onerror = (e) => give_up(e.message || 'the worker failed');
    worker.onmessageerror = () => give_up('an answer the page could not read');
  } catch (e) {
    worker = null;
  }
  return worker;
}
export function verify_aside(keys, parts, ends) {
  const w = aside();
  if (!w) return check(keys, parts, ends).then((ok) => ((judged[0] += ok.length), ok));
  return new Promise((resolve, reject) => {
    const id = asked++;
    const timer = setTimeout(() => waiting.has(id) && give_up('no answer from the worker'), PATIENCE);
    waiting.set(id, { resolve, reject, timer });
    try {
      w.postMessage({ id, args: [keys, parts, ends] }, [parts.buffer, ends.buffer]);
    } catch (e) {
      give_up(String(e));
    }
  });
}
// Makes the worker now, if the page can have one: it starts in the
// background, ready by the time the first batch comes.
export function prepare() {
  if (typeof Worker === 'function' && globalThis.crypto?.subtle) aside();
}
export function judged_by(in_worker) {
  return judged[in_worker ? 1 : 0];
}
")]
extern "C" {
    /// Whether each block's signature holds (1) or not (0), by WebCrypto
    /// in a worker of the page's (in the page itself once the worker is
    /// given up or could not be made).
    fn verify_aside(keys: &Array, parts: &Uint8Array, ends: &Uint32Array) -> Promise;
    /// Makes the page's checking worker now, if it can have one and has
    /// none yet (a page node calls this as it starts): a worker takes tens
    /// of ms to start, which the first batch of a catch-up would otherwise
    /// wait for. It stays for the page's life, as it did when made by the
    /// first batch.
    #[wasm_bindgen(js_name = prepare)]
    pub(crate) fn prepare_worker();
    /// How many blocks WebCrypto has judged in this page's worker
    /// (`worker`), or in the page itself.
    fn judged_by(worker: bool) -> f64;
}

/// The fewest blocks worth a trip to WebCrypto. One answer takes Firefox
/// 150–230 µs to come back (Chromium 45–60 µs), more than dalek's 90–105 µs
/// a block; a batch's answers come back together (~55 µs a block in both).
const MIN_BATCH: usize = 4;
/// How many authors' keys a page keeps imported (then it starts again).
const KEYS_KEPT: usize = 4096;

/// An author's key as the page checks it.
#[derive(Clone)]
enum Author {
    /// Imported into WebCrypto.
    Browser(CryptoKey),
    /// Checked here: a key WebCrypto may read otherwise, or one it refused.
    Here,
}

thread_local! {
    static AUTHORS: RefCell<HashMap<[u8; 32], Author>> = RefCell::new(HashMap::new());
}

/// The page's WebCrypto, if it has one (only secure contexts do).
fn subtle() -> Option<SubtleCrypto> {
    let crypto = Reflect::get(&js_sys::global(), &"crypto".into()).ok().filter(|c| c.is_object())?;
    let subtle = Reflect::get(&crypto, &"subtle".into()).ok().filter(|s| s.is_object())?;
    Some(subtle.unchecked_into())
}

/// Decodes and verifies each of `blocks` on its own, as
/// [`crate::db::decode_each`] does: those that pass, and a refusal for
/// each that does not.
pub(crate) async fn decode_batch(blocks: &[Vec<u8>]) -> (Vec<SignedBlock>, Vec<Refusal>) {
    let decoded = blocks.iter().map(|b| SignedBlock::decode_unverified(b, None)).collect();
    let checked = verify_all(decoded).await;
    let mut all = (Vec::with_capacity(blocks.len()), Vec::new());
    for (bytes, result) in blocks.iter().zip(checked) {
        match result {
            Ok(b) => all.0.push(b),
            Err(e) => all.1.push(Refusal::new(cid_of(bytes), &e.into())),
        }
    }
    all
}

/// [`SignedBlock::decode`] of one block received under `cid`.
pub(crate) async fn decode_claimed(bytes: &[u8], cid: Cid) -> Result<SignedBlock, BlockError> {
    let decoded = SignedBlock::decode_unverified(bytes, Some(cid));
    verify_all(vec![decoded]).await.pop().expect("one result for one block")
}

/// How many signatures WebCrypto has judged in this page so far: in its
/// worker (`worker`), or in the page itself.
pub(crate) fn judged(worker: bool) -> u64 {
    judged_by(worker) as u64
}

/// The signature check of every block decoded so far, in order.
pub(crate) async fn verify_all(decoded: Vec<Result<Unverified, BlockError>>) -> Vec<Result<SignedBlock, BlockError>> {
    let subtle = subtle().filter(|_| decoded.len() >= MIN_BATCH);
    let Some(subtle) = subtle else {
        return decoded.into_iter().map(|d| d.and_then(Unverified::verify)).collect();
    };
    import_keys(&subtle, &decoded).await;
    // Every block WebCrypto is asked about: its author's key (the same
    // key is cloned once per message), and its signature then its
    // message, laid end to end.
    let (mut asked, mut parts, mut ends) = (Vec::new(), Vec::new(), Vec::new());
    let keys = Array::new();
    AUTHORS.with_borrow(|authors| {
        for (i, d) in decoded.iter().enumerate() {
            let Ok(block) = d else { continue };
            let Some(Author::Browser(key)) = authors.get(block.author()) else { continue };
            if !block.plain_signature() {
                continue;
            }
            asked.push(i);
            keys.push(key);
            parts.extend_from_slice(block.signature());
            parts.extend_from_slice(block.message());
            ends.push(parts.len() as u32);
        }
    });
    let answers: Vec<u8> = match asked.is_empty() {
        true => Vec::new(),
        false => {
            let verdicts =
                verify_aside(&keys, &Uint8Array::from(parts.as_slice()), &Uint32Array::from(ends.as_slice()));
            match JsFuture::from(verdicts).await {
                Ok(a) => Uint8Array::new(&a).to_vec(),
                // The worker given up with the batch, or a browser that
                // fails a call rather than answering false: every block is
                // checked here.
                Err(_) => {
                    asked.clear();
                    Vec::new()
                }
            }
        }
    };
    let mut answers = asked.into_iter().zip(answers).peekable();
    let mut out = Vec::with_capacity(decoded.len());
    for (i, d) in decoded.into_iter().enumerate() {
        out.push(match answers.next_if(|(j, _)| *j == i) {
            Some((_, good)) => match d {
                Ok(block) if good == 1 => Ok(block.verified()),
                Ok(_) => Err(BlockError::BadSignature),
                Err(e) => Err(e),
            },
            None => d.and_then(Unverified::verify),
        });
    }
    out
}

/// Imports the keys of the authors not seen yet, at once; a key WebCrypto
/// may read otherwise than we do, or refuses, is checked here from then on.
async fn import_keys(subtle: &SubtleCrypto, decoded: &[Result<Unverified, BlockError>]) {
    let mut new: Vec<[u8; 32]> = AUTHORS.with_borrow(|authors| {
        decoded.iter().flatten().map(|b| *b.author()).filter(|a| !authors.contains_key(a)).collect()
    });
    new.sort_unstable();
    new.dedup();
    let mut imported = Vec::new();
    let promises = Array::new();
    let mut found = Vec::new();
    for author in new {
        let promise = match plain_key(&author) {
            true => subtle
                .import_key_with_str(
                    "raw",
                    &Uint8Array::from(author.as_slice()),
                    "Ed25519",
                    false,
                    &Array::of1(&"verify".into()),
                )
                .ok(),
            false => None,
        };
        match promise {
            Some(p) => {
                promises.push(&p);
                imported.push(author);
            }
            None => found.push((author, Author::Here)),
        }
    }
    if !imported.is_empty() {
        // One refusal must not fail the others: each settles on its own.
        let settled: Array = match JsFuture::from(Promise::all_settled(&promises)).await {
            Ok(a) => a.unchecked_into(),
            Err(_) => Array::new(),
        };
        for (i, author) in imported.into_iter().enumerate() {
            let key = Reflect::get(&settled.get(i as u32), &"value".into()).unwrap_or(JsValue::UNDEFINED);
            found.push((author, key.dyn_into::<CryptoKey>().map_or(Author::Here, Author::Browser)));
        }
    }
    AUTHORS.with_borrow_mut(|authors| {
        if authors.len() + found.len() > KEYS_KEPT {
            authors.clear();
        }
        authors.extend(found);
    });
}
