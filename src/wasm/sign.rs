//! Signing many new blocks at once with the page's WebCrypto
//! (`crypto.subtle.sign("Ed25519")`): Chromium and Firefox run it off the
//! page's thread, where ed25519-dalek in wasm signs on it. A bulk create
//! hands its blocks' messages here before its write transaction begins
//! (an IndexedDB transaction ends when the page awaits anything but its
//! own requests) and builds the blocks from the signatures ([`BatchSigner`]).
//!
//! Ed25519 signatures are deterministic (RFC 8032): WebCrypto's and
//! dalek's are the same bytes for the same key and message. The first use
//! checks that on a probe message; a browser whose signature differs, or
//! that has no Ed25519 or refuses the key, is not asked again and dalek
//! signs. A call that fails leaves its blocks to dalek as well.

use std::cell::RefCell;
use std::rc::Rc;

use ed25519_dalek::{Signer, SigningKey};
use futures::future::LocalBoxFuture;
use js_sys::{Array, Promise, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{CryptoKey, SubtleCrypto};

use crate::db::BatchSigner;

/// An Ed25519 private key as PKCS #8 (RFC 8410): this prefix, then the
/// 32-byte seed.
const PKCS8_ED25519: [u8; 16] =
    [0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20];
const PROBE: &[u8] = b"weftdb: does WebCrypto sign as dalek does?";

thread_local! {
    /// Signatures WebCrypto has made for this page's blocks, for the test
    /// that shows a bulk create asks it.
    static SIGNED: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

enum Key {
    /// Not imported yet.
    Unknown,
    Ready(CryptoKey),
    /// No Ed25519 here, or its signature differs from dalek's.
    Unusable,
}

/// A signer for `key` through the page's WebCrypto.
pub(crate) fn webcrypto_signer(key: &SigningKey) -> BatchSigner {
    let state = Rc::new(RefCell::new(Key::Unknown));
    let key = key.clone();
    Rc::new(move |messages: Vec<Vec<u8>>| -> LocalBoxFuture<'static, Vec<Option<[u8; 64]>>> {
        let (state, key) = (state.clone(), key.clone());
        Box::pin(async move {
            let Some(subtle) = subtle() else { return vec![None; messages.len()] };
            if matches!(*state.borrow(), Key::Unknown) {
                let found = import(&subtle, &key).await;
                *state.borrow_mut() = found;
            }
            let crypto_key = match &*state.borrow() {
                Key::Ready(k) => k.clone(),
                _ => return vec![None; messages.len()],
            };
            let sigs = sign_all(&subtle, &crypto_key, &messages).await.unwrap_or_else(|| vec![None; messages.len()]);
            SIGNED.set(SIGNED.get() + sigs.iter().flatten().count() as u64);
            sigs
        })
    })
}

/// The page's WebCrypto, if it has one (only secure contexts do).
fn subtle() -> Option<SubtleCrypto> {
    let crypto = Reflect::get(&js_sys::global(), &"crypto".into()).ok().filter(|c| c.is_object())?;
    let subtle = Reflect::get(&crypto, &"subtle".into()).ok().filter(|s| s.is_object())?;
    Some(subtle.unchecked_into())
}

/// `key` imported, if WebCrypto signs the probe as dalek does.
async fn import(subtle: &SubtleCrypto, key: &SigningKey) -> Key {
    let der = Uint8Array::from([PKCS8_ED25519.as_slice(), key.as_bytes()].concat().as_slice());
    let Ok(p) = subtle.import_key_with_str("pkcs8", &der, "Ed25519", false, &Array::of1(&"sign".into())) else {
        return Key::Unusable;
    };
    let Ok(crypto_key) = JsFuture::from(p).await.and_then(|k| k.dyn_into::<CryptoKey>()) else {
        return Key::Unusable;
    };
    match sign_all(subtle, &crypto_key, &[PROBE.to_vec()]).await.as_deref() {
        Some([Some(sig)]) if *sig == key.sign(PROBE).to_bytes() => Key::Ready(crypto_key),
        _ => {
            tracing::info!("WebCrypto's Ed25519 signature differs from ours: blocks are signed in wasm");
            Key::Unusable
        }
    }
}

/// The signature of each message, all asked at once; `None` if the call
/// failed.
async fn sign_all(subtle: &SubtleCrypto, key: &CryptoKey, messages: &[Vec<u8>]) -> Option<Vec<Option<[u8; 64]>>> {
    let promises = Array::new();
    for m in messages {
        let p = subtle.sign_with_str_and_u8_array("Ed25519", key, m).ok()?;
        promises.push(&p);
    }
    let answers: Array = JsFuture::from(Promise::all(&promises)).await.ok()?.unchecked_into();
    Some(
        answers
            .iter()
            .map(|sig| {
                let sig = Uint8Array::new(&sig).to_vec();
                sig.try_into().ok()
            })
            .collect(),
    )
}

/// Signs `messages` with the key whose seed is `seed` through WebCrypto,
/// for the test that shows it signs as dalek does: each signature, or
/// `null` where this page would sign in wasm.
#[doc(hidden)]
#[wasm_bindgen::prelude::wasm_bindgen(js_name = __signWithWebcrypto, skip_typescript)]
pub fn sign_with_webcrypto(seed: &[u8], messages: Array) -> Promise {
    let seed: Result<[u8; 32], _> = seed.try_into();
    let messages: Vec<Vec<u8>> = messages.iter().map(|m| Uint8Array::new(&m).to_vec()).collect();
    wasm_bindgen_futures::future_to_promise(async move {
        let seed = seed.map_err(|_| JsValue::from_str("a seed is 32 bytes"))?;
        let signer = webcrypto_signer(&SigningKey::from_bytes(&seed));
        let sigs = signer(messages).await;
        Ok(sigs
            .into_iter()
            .map(|s| s.map_or(JsValue::NULL, |s| Uint8Array::from(s.as_slice()).into()))
            .collect::<Array>()
            .into())
    })
}

/// How many signatures WebCrypto has made for this page's blocks so far.
#[doc(hidden)]
#[wasm_bindgen::prelude::wasm_bindgen(js_name = __webcryptoSigned, skip_typescript)]
pub fn webcrypto_signed() -> f64 {
    SIGNED.get() as f64
}
