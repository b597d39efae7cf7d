//! Hooks for the signature-check test and benchmark: not part of the API.
//! `tests/web.rs` ("webcrypto_agrees") calls them as Rust functions; the
//! page's package exports them to JS (`__verifyBlocks`, `__signedParts`,
//! `__webcryptoJudged`, for `tests/browser/verify-bench.mjs`) only when
//! built with the `bench-exports` feature: ~1.5 KB of gzipped wasm that no
//! user's page should pay for.

use js_sys::{Array, Promise, Uint8Array};
use wasm_bindgen::prelude::*;

use crate::core::block::SignedBlock;
use crate::node::webcrypto::verify_all;

/// Whether each of `blocks` (`Uint8Array`s) passes the page's checks:
/// with WebCrypto as the page's node does, or with ed25519-dalek alone.
#[doc(hidden)]
#[cfg_attr(feature = "bench-exports", wasm_bindgen(js_name = __verifyBlocks, skip_typescript))]
pub fn verify_blocks(blocks: Array, webcrypto: bool) -> Promise {
    let blocks: Vec<Vec<u8>> = blocks.iter().map(|b| Uint8Array::new(&b).to_vec()).collect();
    wasm_bindgen_futures::future_to_promise(async move {
        let accepted: Vec<bool> = match webcrypto {
            true => {
                let decoded = blocks.iter().map(|b| SignedBlock::decode_unverified(b, None)).collect();
                verify_all(decoded).await.iter().map(Result::is_ok).collect()
            }
            false => blocks.iter().map(|b| SignedBlock::decode(b, None).is_ok()).collect(),
        };
        Ok(accepted.into_iter().map(JsValue::from).collect::<Array>().into())
    })
}

/// How many signatures WebCrypto has judged in this page so far: in the
/// page's worker (`worker`), or in the page itself (where no worker could
/// be made).
#[doc(hidden)]
#[cfg_attr(feature = "bench-exports", wasm_bindgen(js_name = __webcryptoJudged, skip_typescript))]
pub fn webcrypto_judged(worker: bool) -> f64 {
    crate::node::webcrypto::judged(worker) as f64
}

/// `[message, signature, author]` of a block that decodes, else `undefined`:
/// what `crypto.subtle.verify` is given for it.
#[doc(hidden)]
#[cfg_attr(feature = "bench-exports", wasm_bindgen(js_name = __signedParts, skip_typescript))]
pub fn signed_parts(block: &[u8]) -> JsValue {
    match SignedBlock::decode_unverified(block, None) {
        Ok(b) => Array::of3(
            &Uint8Array::from(b.message()),
            &Uint8Array::from(b.signature().as_slice()),
            &Uint8Array::from(b.author().as_slice()),
        )
        .into(),
        Err(_) => JsValue::UNDEFINED,
    }
}
