//! Blocks signed in every way the signature check must judge, each with our
//! rule's verdict (ed25519-dalek's `verify`): honest ones, tampered ones, and
//! the malleable cases on which ed25519 verifiers differ (S + ℓ, small-order
//! and non-canonical keys and R, keys and R with a small-order component).
//! Shared by the page's test of WebCrypto against our rule (`tests/web.rs`)
//! and the native one of the batch check (`tests/signatures.rs`).

use curve25519_dalek::constants::EIGHT_TORSION;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use serde_bytes::ByteBuf;
use sha2::{Digest, Sha512};
use weftdb::core::block::Block;

pub struct Case {
    pub name: String,
    pub bytes: Vec<u8>,
    /// Whether our rule takes it.
    pub accepted: bool,
}

fn scalar(seed: &str) -> Scalar {
    Scalar::from_bytes_mod_order_wide(&Sha512::digest(seed.as_bytes()).into())
}

fn block(title: &str, author: [u8; 32]) -> Block {
    let mut fields = serde_json::Map::new();
    fields.insert("title".into(), title.into());
    Block {
        v: 1,
        col: "Book".into(),
        doc: None,
        parents: Vec::new(),
        height: 1,
        fields,
        del: false,
        nonce: Some(ByteBuf::from(vec![7; 8])),
        author: ByteBuf::from(author.to_vec()),
        sig: None,
    }
}

fn encode(b: &Block) -> Vec<u8> {
    serde_ipld_dagcbor::to_vec(b).unwrap()
}

/// k = H(R ‖ A ‖ M) for `b` signed with `r`.
fn challenge(r: &[u8; 32], b: &Block) -> Scalar {
    let mut h = Sha512::new();
    h.update(r);
    h.update(&b.author);
    h.update(encode(b));
    Scalar::from_bytes_mod_order_wide(&h.finalize().into())
}

fn signed(mut b: Block, r: [u8; 32], s: [u8; 32]) -> Vec<u8> {
    b.sig = Some(ByteBuf::from([r, s].concat()));
    encode(&b)
}

/// A signature by a key whose secret scalar is `a` (A = aB + `torsion`),
/// with the nonce point R = rB + `r_torsion`, retried over nonces until
/// `k` passes `want`.
fn sign(title: &str, author: [u8; 32], a: Scalar, r_torsion: EdwardsPoint, want: impl Fn(&Scalar) -> bool) -> Vec<u8> {
    let b = block(title, author);
    for i in 0.. {
        let r = scalar(&format!("{title} nonce {i}"));
        let big_r = (EdwardsPoint::mul_base(&r) + r_torsion).compress().to_bytes();
        let k = challenge(&big_r, &b);
        if want(&k) {
            return signed(b, big_r, (r + k * a).to_bytes());
        }
    }
    unreachable!()
}

/// Whether [k]T is the identity.
fn kills(k: &Scalar, t: &EdwardsPoint) -> bool {
    (k * t).compress() == EdwardsPoint::default().compress()
}

pub fn cases() -> Vec<Case> {
    let mut out = Vec::new();
    let mut case = |name: String, bytes: Vec<u8>, accepted: bool| out.push(Case { name, bytes, accepted });
    let none = EdwardsPoint::default();
    let any = |_: &Scalar| true;
    for n in 0..3 {
        let a = scalar(&format!("author {n}"));
        let author = EdwardsPoint::mul_base(&a).compress().to_bytes();
        for i in 0..4 {
            let good = sign(&format!("book {n}.{i}"), author, a, none, any);
            case(format!("valid {n}.{i}"), good.clone(), true);
            let title = good.windows(5).position(|w| w == b"book ").unwrap();
            let mut payload = good.clone();
            payload[title] ^= 0x01;
            case(format!("payload byte flipped {n}.{i}"), payload, false);
            let written: Block = serde_ipld_dagcbor::from_slice(&good).unwrap();
            let sig = good.windows(64).position(|w| w == written.sig.as_ref().unwrap().as_slice()).unwrap();
            for (at, what) in [(0, "R"), (40, "S")] {
                let mut tampered = good.clone();
                tampered[sig + at] ^= 0x01;
                case(format!("{what} byte flipped {n}.{i}"), tampered, false);
            }
            // S + ℓ: the same equation, S written past the group order.
            let mut s = [0u8; 32];
            s.copy_from_slice(&good[sig + 32..sig + 64]);
            let mut carry = 0u16;
            for (byte, l) in s.iter_mut().zip(L) {
                let sum = *byte as u16 + l as u16 + carry;
                *byte = sum as u8;
                carry = sum >> 8;
            }
            let mut malleable = good.clone();
            malleable[sig + 32..sig + 64].copy_from_slice(&s);
            case(format!("S + l {n}.{i}"), malleable, false);
            // High bits of S set.
            let mut high = good.clone();
            high[sig + 63] |= 0xe0;
            case(format!("S with its top bits set {n}.{i}"), high, false);
        }
        // R of small order (the identity): S = k·a satisfies the equation.
        let b = block(&format!("identity R {n}"), author);
        let r = EdwardsPoint::default().compress().to_bytes();
        let k = challenge(&r, &b);
        case(format!("small-order R {n}"), signed(b, r, (k * a).to_bytes()), true);
        // The same identity R written non-canonically (y = p + 1).
        let b = block(&format!("non-canonical R {n}"), author);
        let mut r = [0xff; 32];
        r[0] = 0xee;
        r[31] = 0x7f;
        let k = challenge(&r, &b);
        case(format!("non-canonical R {n}"), signed(b, r, (k * a).to_bytes()), false);
        // R with a small-order component: cofactored verifiers take it, ours does not.
        for (t, torsion) in EIGHT_TORSION.iter().enumerate().skip(1) {
            let title = format!("mixed R {n}.{t}");
            case(format!("R with a torsion component {n}.{t}"), sign(&title, author, a, *torsion, any), false);
        }
        // A key with a small-order component: ours takes a signature
        // only where [k]T vanishes; cofactored verifiers take both.
        for (t, torsion) in EIGHT_TORSION.iter().enumerate().skip(1) {
            let mixed = (EdwardsPoint::mul_base(&a) + torsion).compress().to_bytes();
            let title = format!("mixed key {n}.{t}");
            case(
                format!("mixed-order key, [k]T = 0 {n}.{t}"),
                sign(&title, mixed, a, none, |k| kills(k, torsion)),
                true,
            );
            let title = format!("mixed key other {n}.{t}");
            case(
                format!("mixed-order key, [k]T != 0 {n}.{t}"),
                sign(&title, mixed, a, none, |k| !kills(k, torsion)),
                false,
            );
        }
    }
    // Small-order keys: ours takes any message whose [k]T vanishes.
    for (t, torsion) in EIGHT_TORSION.iter().enumerate() {
        let key = torsion.compress().to_bytes();
        let title = format!("small-order key {t}");
        case(
            format!("small-order key {t}"),
            sign(&title, key, Scalar::ZERO, EdwardsPoint::default(), |k| kills(k, torsion)),
            true,
        );
        // The same point with the sign bit set (x = 0 for two of them).
        let mut flipped = key;
        flipped[31] ^= 0x80;
        if CompressedEdwardsY(flipped).decompress().is_some() {
            let p = CompressedEdwardsY(flipped).decompress().unwrap();
            let title = format!("small-order key, sign bit flipped {t}");
            case(title.clone(), sign(&title, flipped, Scalar::ZERO, EdwardsPoint::default(), |k| kills(k, &p)), true);
        }
    }
    // Non-canonical keys: y = p + 0 (a point of order 4) and y = p + 1 (the identity).
    for (name, first) in [("y = p", 0xed), ("y = p + 1", 0xee)] {
        let mut key = [0xff; 32];
        key[0] = first;
        key[31] = 0x7f;
        let p = CompressedEdwardsY(key).decompress().unwrap();
        let title = format!("non-canonical key {name}");
        case(title.clone(), sign(&title, key, Scalar::ZERO, EdwardsPoint::default(), |k| kills(k, &p)), true);
    }
    // A key that is no curve point.
    let mut off = [0u8; 32];
    off[0] = 2;
    while CompressedEdwardsY(off).decompress().is_some() {
        off[0] += 1;
    }
    let a = scalar("off curve");
    case("key off the curve".into(), sign("off curve", off, a, EdwardsPoint::default(), any), false);
    out
}

/// ℓ, little-endian.
const L: [u8; 32] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
];
