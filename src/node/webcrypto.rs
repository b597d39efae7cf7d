//! A page checks the signatures of the blocks its peers send in batches
//! (head exchange, pushes, fetches) with the browser's WebCrypto Ed25519
//! (`crypto.subtle.verify`: native code, off the page's thread) rather
//! than ed25519-dalek in wasm: 54–57 µs a block against 86–92 µs in
//! Chromium 156 and Firefox ESR 153 (BENCHMARKS.md, "Browser: the
//! signature check of a receiving page"). A block alone (gossip) stays
//! with dalek: see [`MIN_BATCH`].
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
use js_sys::{Array, Promise, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{CryptoKey, SubtleCrypto};

use crate::core::block::{cid_of, plain_key, BlockError, SignedBlock, Unverified};
use crate::db::Refusal;

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
    /// Signatures WebCrypto has judged, for the test that shows it is asked.
    static JUDGED: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
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

/// How many signatures WebCrypto has judged in this page so far.
pub(crate) fn judged() -> u64 {
    JUDGED.get()
}

/// The signature check of every block decoded so far, in order.
pub(crate) async fn verify_all(decoded: Vec<Result<Unverified, BlockError>>) -> Vec<Result<SignedBlock, BlockError>> {
    let subtle = subtle().filter(|_| decoded.len() >= MIN_BATCH);
    let Some(subtle) = subtle else {
        return decoded.into_iter().map(|d| d.and_then(Unverified::verify)).collect();
    };
    import_keys(&subtle, &decoded).await;
    // Every block WebCrypto is asked about, and the promise of its answer.
    let mut asked = Vec::new();
    let promises = Array::new();
    AUTHORS.with_borrow(|authors| {
        for (i, d) in decoded.iter().enumerate() {
            let Ok(block) = d else { continue };
            let Some(Author::Browser(key)) = authors.get(block.author()) else { continue };
            if !block.plain_signature() {
                continue;
            }
            if let Ok(p) =
                subtle.verify_with_str_and_u8_array_and_u8_array("Ed25519", key, block.signature(), block.message())
            {
                asked.push(i);
                promises.push(&p);
            }
        }
    });
    let answers = match asked.is_empty() {
        true => Array::new(),
        false => match JsFuture::from(Promise::all(&promises)).await {
            Ok(a) => a.unchecked_into(),
            // A browser that fails a call rather than answering false:
            // every block is checked here.
            Err(_) => {
                asked.clear();
                Array::new()
            }
        },
    };
    JUDGED.set(JUDGED.get() + asked.len() as u64);
    let mut answers = asked.into_iter().zip(answers.iter()).peekable();
    let mut out = Vec::with_capacity(decoded.len());
    for (i, d) in decoded.into_iter().enumerate() {
        out.push(match answers.next_if(|(j, _)| *j == i) {
            Some((_, good)) => match d {
                Ok(block) if good.as_bool() == Some(true) => Ok(block.verified()),
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
