//! The block: one signed change to one document, an IPLD node in DAG-CBOR.
//!
//! A block is addressed by its CIDv1 (codec dag-cbor, multihash sha2-256 of
//! its exact bytes) and links to the document's heads at the time it was
//! written, so a document's history is a Merkle DAG like a Git history.
//!
//! ```text
//! {
//!   "v":       1,                      format version
//!   "col":     "Book",                 collection name
//!   "doc":     CID (tag 42),           the document's genesis block; absent in the genesis itself
//!   "parents": [CID, ...],             previous heads, sorted; empty only in the genesis
//!   "height":  u64,                    1 + the greatest parent height; 1 for the genesis
//!   "fields":  { name: value, ... },   the fields this change sets (all of them in the genesis)
//!   "del":     true,                   present only in a tombstone
//!   "nonce":   bytes(8),               genesis only: makes two equal creates two documents
//!   "author":  bytes(32),              ed25519 public key
//!   "sig":     bytes(64)               ed25519 signature over the block encoded without "sig"
//! }
//! ```
//! Map keys are written in DAG-CBOR's canonical order, so decoding and
//! re-encoding a block gives the same bytes and the same CID. A block from
//! outside is taken only in that one encoding ([`SignedBlock::decode`]
//! re-encodes and compares): keys in another order, an unknown key, an
//! integer or length written in more bytes than it needs, `del: false`
//! written out, a float narrower than 64 bits are all refused, so a signed
//! block has exactly one CID.
//!
//! Limits every replica applies to every block, its own included:
//! [`MAX_BLOCK_BYTES`] (1 MiB) in all, [`MAX_PARENTS`] (1,024) parents, and a
//! change block sets at least one field or is a tombstone. (The nesting
//! depth of field values is the schema's:
//! [`crate::core::schema::MAX_VALUE_DEPTH`].)

use std::sync::OnceLock;

use cid::Cid;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use multihash::Multihash;
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// The multicodec of DAG-CBOR.
pub const DAG_CBOR: u64 = 0x71;
/// The multicodec of sha2-256.
const SHA2_256: u64 = 0x12;
/// The largest block accepted from anywhere; a bigger one is refused unread.
pub const MAX_BLOCK_BYTES: usize = 1 << 20;
/// The most parents one block may name. A local write on more heads names
/// the highest this many and leaves the rest to the next write.
pub const MAX_PARENTS: usize = 1024;
const FORMAT_VERSION: u8 = 1;

/// The fields of a block as they are encoded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Block {
    pub v: u8,
    pub col: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub doc: Option<Cid>,
    pub parents: Vec<Cid>,
    pub height: u64,
    pub fields: Map<String, Value>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub del: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<ByteBuf>,
    pub author: ByteBuf,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sig: Option<ByteBuf>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// Why a block was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BlockError {
    #[error("block is {0} bytes, more than the {MAX_BLOCK_BYTES} allowed")]
    TooLarge(usize),
    #[error("block is not valid DAG-CBOR: {0}")]
    Decode(String),
    #[error("block bytes do not hash to the CID {expected} they were sent under")]
    CidMismatch { expected: Cid },
    #[error("block signature does not verify")]
    BadSignature,
    #[error("block is malformed: {0}")]
    Malformed(String),
    #[error("block is not in canonical DAG-CBOR: its bytes differ from the encoding of what they decode to")]
    NotCanonical,
}

/// A block with its CID and the bytes the CID was computed from. Made only
/// by signing or decoding; `cid` and `block` are not changed after (the
/// document's id, [`SignedBlock::doc_id`], is kept once made).
#[derive(Debug, Clone)]
pub struct SignedBlock {
    pub cid: Cid,
    pub bytes: Vec<u8>,
    pub block: Block,
    /// [`SignedBlock::doc_id`], made on first use.
    doc_id: OnceLock<String>,
}

impl PartialEq for SignedBlock {
    fn eq(&self, other: &Self) -> bool {
        (self.cid, &self.bytes, &self.block) == (other.cid, &other.bytes, &other.block)
    }
}

/// The CID of some DAG-CBOR bytes.
pub fn cid_of(bytes: &[u8]) -> Cid {
    let digest = Sha256::digest(bytes);
    let mh = Multihash::<64>::wrap(SHA2_256, &digest).expect("a 32-byte digest fits");
    Cid::new_v1(DAG_CBOR, mh)
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    // Encoding a Block cannot fail: every value in it is representable.
    serde_ipld_dagcbor::to_vec(value).expect("block fields encode as DAG-CBOR")
}

impl Block {
    /// A genesis block: the creation of a document with all its fields.
    pub fn genesis(col: &str, fields: Map<String, Value>, nonce: [u8; 8], key: &SigningKey) -> SignedBlock {
        Block {
            v: FORMAT_VERSION,
            col: col.to_owned(),
            doc: None,
            parents: Vec::new(),
            height: 1,
            fields,
            del: false,
            nonce: Some(ByteBuf::from(nonce.to_vec())),
            author: ByteBuf::new(),
            sig: None,
        }
        .sign(key)
    }

    /// A change on top of `parents` (the document's heads) at `height`.
    pub fn change(
        col: &str,
        doc: Cid,
        mut parents: Vec<Cid>,
        height: u64,
        fields: Map<String, Value>,
        del: bool,
        key: &SigningKey,
    ) -> SignedBlock {
        parents.sort_unstable();
        parents.dedup();
        Block {
            v: FORMAT_VERSION,
            col: col.to_owned(),
            doc: Some(doc),
            parents,
            height,
            fields,
            del,
            nonce: None,
            author: ByteBuf::new(),
            sig: None,
        }
        .sign(key)
    }

    fn sign(mut self, key: &SigningKey) -> SignedBlock {
        self.author = ByteBuf::from(key.verifying_key().to_bytes().to_vec());
        self.sig = None;
        let sig = key.sign(&encode(&self));
        self.sig = Some(ByteBuf::from(sig.to_bytes().to_vec()));
        let bytes = encode(&self);
        SignedBlock::new(cid_of(&bytes), bytes, self)
    }

    /// The document this block belongs to: its genesis block's CID.
    pub fn doc_cid(&self, own: Cid) -> Cid {
        self.doc.unwrap_or(own)
    }

    pub fn is_genesis(&self) -> bool {
        self.doc.is_none()
    }

    /// Checks the block's shape: what can be checked from it alone but the
    /// signature.
    fn check(&self) -> Result<(), BlockError> {
        let malformed = |m: &str| Err(BlockError::Malformed(m.to_owned()));
        if self.v != FORMAT_VERSION {
            return malformed("unknown format version");
        }
        if self.is_genesis() {
            if !self.parents.is_empty() || self.height != 1 || self.del || self.nonce.is_none() {
                return malformed("a genesis block has no parents, height 1, a nonce and no delete");
            }
        } else if self.parents.is_empty() || self.height < 2 || self.nonce.is_some() {
            return malformed("a change block has parents, height above 1 and no nonce");
        } else if !self.del && self.fields.is_empty() {
            return malformed("a change block sets at least one field or deletes");
        }
        if self.parents.len() > MAX_PARENTS {
            return Err(BlockError::Malformed(format!(
                "{} parents, more than the {MAX_PARENTS} a block may name",
                self.parents.len()
            )));
        }
        if !self.parents.windows(2).all(|w| w[0] < w[1]) {
            return malformed("parents are not sorted and unique");
        }
        if self.del && !self.fields.is_empty() {
            return malformed("a delete sets no fields");
        }
        Ok(())
    }
}

/// A block decoded and checked in every way but its signature
/// ([`SignedBlock::decode_unverified`]): what an ed25519 verifier needs.
#[derive(Debug, Clone)]
pub struct Unverified {
    signed: SignedBlock,
    author: [u8; 32],
    sig: [u8; 64],
    /// The bytes the signature covers: the block encoded without `sig`.
    message: Vec<u8>,
}

impl Unverified {
    pub fn cid(&self) -> Cid {
        self.signed.cid
    }

    /// The author's ed25519 public key, as the block carries it.
    pub fn author(&self) -> &[u8; 32] {
        &self.author
    }

    /// The signature, `R ‖ S`, as the block carries it.
    pub fn signature(&self) -> &[u8; 64] {
        &self.sig
    }

    /// What the signature covers: the block encoded without `sig`.
    pub fn message(&self) -> &[u8] {
        &self.message
    }

    /// Checks the signature by the rule every replica applies:
    /// ed25519-dalek's `verify` (S below the group order; R compared byte
    /// for byte with the encoding of `[S]B - [k]A`; a public key is any
    /// encoding of a curve point, small-order ones included, hashed as it
    /// is written).
    pub fn verify(self) -> Result<SignedBlock, BlockError> {
        let key = VerifyingKey::from_bytes(&self.author).map_err(|_| BlockError::BadSignature)?;
        self.verify_by(&key)
    }

    /// [`Unverified::verify`] with the author's key read once for many
    /// blocks: `keys` decompresses each author's key the first time it is
    /// asked for it (4 µs, a fifth of a check). The result is the same.
    pub fn verify_with(self, keys: &mut AuthorKeys) -> Result<SignedBlock, BlockError> {
        let key = keys.get(&self.author).ok_or(BlockError::BadSignature)?;
        self.verify_by(&key)
    }

    fn verify_by(self, key: &VerifyingKey) -> Result<SignedBlock, BlockError> {
        key.verify(&self.message, &Signature::from_bytes(&self.sig)).map_err(|_| BlockError::BadSignature)?;
        Ok(self.signed)
    }

    /// [`Unverified::verify`] of many blocks: each block's result is the
    /// one it has alone, in the order given, the authors' keys from `keys`
    /// ([`Unverified::verify_with`]). dalek's check ends by encoding
    /// `[S]B - [k]A` to compare it with R byte for byte, and the encoding
    /// takes a field inversion: serial code, ~15 % of a block's decode and
    /// check on a CPU with AVX-512 IFMA (whose vector code does the
    /// multiplication). Here one inversion serves all the blocks
    /// (Montgomery's trick: dalek's `compress_batch_alloc`, which gives
    /// each point the bytes `compress` would); the rest is dalek's own
    /// check, step for step. Not dalek's batch verification, which takes
    /// one random combination of all the equations and so accepts some
    /// signatures `verify` refuses: each equation here is checked alone.
    pub fn verify_all(blocks: Vec<Unverified>, keys: &mut AuthorKeys) -> Vec<Result<SignedBlock, BlockError>> {
        use curve25519_dalek_5::edwards::EdwardsPoint;
        use curve25519_dalek_5::scalar::Scalar;
        use sha2::Sha512;
        // `[S]B - [k]A` of each block that has a key and an S below the
        // group order (dalek refuses the others before any arithmetic).
        let mut computed: Vec<Option<usize>> = Vec::with_capacity(blocks.len());
        let mut points = Vec::with_capacity(blocks.len());
        for b in &blocks {
            let (r, s) = b.sig.split_at(32);
            let s: Option<Scalar> = Scalar::from_canonical_bytes(s.try_into().expect("32 bytes")).into();
            computed.push(keys.get(&b.author).zip(s).map(|(key, s)| {
                // k = H(R ‖ A ‖ M), A as written (dalek hashes the key's bytes as given).
                let k = Scalar::from_hash(
                    Sha512::new().chain_update(r).chain_update(key.as_bytes()).chain_update(&b.message),
                );
                points.push(EdwardsPoint::vartime_double_scalar_mul_basepoint(&k, &-key.to_edwards(), &s));
                points.len() - 1
            }));
        }
        let encoded = EdwardsPoint::compress_batch_alloc(&points);
        blocks
            .into_iter()
            .zip(computed)
            .map(|(b, at)| match at {
                Some(i) if encoded[i].as_bytes()[..] == b.sig[..32] => Ok(b.signed),
                _ => Err(BlockError::BadSignature),
            })
            .collect()
    }

    /// The block, once another verifier has found its signature good by
    /// the same rule as [`Unverified::verify`].
    pub fn verified(self) -> SignedBlock {
        self.signed
    }

    /// Whether the signature is one on which every RFC 8032 verifier that
    /// checks `[S]B = R + [k]A` without the cofactor agrees with
    /// [`Unverified::verify`], given a key that passes [`plain_key`]: S
    /// below the group order, and R the canonical encoding of a point not
    /// of small order. Verifiers differ on the others (RFC 8032 and
    /// WebCrypto refuse a small-order R, which ours takes when the equation
    /// holds), so those are left to [`Unverified::verify`].
    pub fn plain_signature(&self) -> bool {
        let (r, s) = self.sig.split_at(32);
        let y = y_of(r);
        below(s, &GROUP_ORDER) && below(&y, &FIELD_PRIME) && !SMALL_ORDER_Y.contains(&y)
    }
}

/// Authors' public keys as ed25519-dalek reads them (`None`: not a curve
/// point), each decompressed once: a batch of one author's blocks costs
/// one decompression, not one per block. Keeps at most [`AuthorKeys::MAX`]
/// authors, then starts again.
#[derive(Debug, Default)]
pub struct AuthorKeys(std::collections::HashMap<[u8; 32], Option<VerifyingKey>>);

impl AuthorKeys {
    pub const MAX: usize = 4096;

    /// `author`'s key, if it is one.
    pub fn get(&mut self, author: &[u8; 32]) -> Option<VerifyingKey> {
        if let Some(key) = self.0.get(author) {
            return *key;
        }
        if self.0.len() >= Self::MAX {
            self.0.clear();
        }
        let key = VerifyingKey::from_bytes(author).ok();
        self.0.insert(*author, key);
        key
    }
}

/// Whether `author` is a public key every verifier reads alike: the
/// canonical encoding of a curve point not of small order (RFC 8032 reads
/// a non-canonical y, WebCrypto refuses small-order keys; ours takes both).
/// It costs a point decompression: callers keep the answer per author.
pub fn plain_key(author: &[u8; 32]) -> bool {
    VerifyingKey::from_bytes(author).is_ok_and(|key| !key.is_weak() && key.to_edwards().compress().as_bytes() == author)
}

/// ℓ, the order of the ed25519 base point, little-endian.
const GROUP_ORDER: [u8; 32] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
];
/// p = 2^255 - 19, little-endian: a y at or above it is written non-canonically.
const FIELD_PRIME: [u8; 32] = [
    0xed, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f,
];
/// The y coordinates of the eight points of small order (1, -1, 0 and
/// the two of order 8), little-endian: a point is of small order exactly
/// when its y is one of these.
const SMALL_ORDER_Y: [[u8; 32]; 5] = [
    [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    FIELD_PRIME_MINUS_ONE,
    [0; 32],
    [
        0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67, 0x0f, 0x2a, 0x20,
        0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac, 0x03, 0x7a,
    ],
    [
        0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef, 0x98, 0xf0, 0xd5, 0xdf,
        0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53, 0xfc, 0x05,
    ],
];
const FIELD_PRIME_MINUS_ONE: [u8; 32] = {
    let mut y = FIELD_PRIME;
    y[0] -= 1;
    y
};

/// The y of a point's encoding: the encoding without its sign bit.
fn y_of(encoding: &[u8]) -> [u8; 32] {
    let mut y: [u8; 32] = encoding.try_into().expect("32 bytes");
    y[31] &= 0x7f;
    y
}

/// Whether the little-endian number `a` is below `b`.
fn below(a: &[u8], b: &[u8; 32]) -> bool {
    a.iter().rev().lt(b.iter().rev())
}

/// What the signature of `block` covers, cut from its bytes: the block
/// encoded without `sig`. `bytes` must be `block`'s canonical encoding, of
/// a block that passed [`Block::check`] (as [`SignedBlock::decode_unverified`]
/// has checked): a canonical map is its count then its entries in canonical
/// order, each written alone, so the same map without `sig` is the count
/// less one and the same bytes without `sig`'s entry. Before `sig` come
/// `v` (1), `col`, then `del` and `doc` when present. `None` unless they
/// are as most blocks have them: a name under 24 bytes, no `del`, a `doc`
/// CID of 23 to 254 bytes (its length in the byte after `0x58`); the caller
/// then encodes the block without `sig` instead (a tombstone, a long
/// collection name, a short CID). One encoding of the block fewer for
/// nearly every block received (BENCHMARKS.md, "Catch-up: one encoding
/// fewer").
fn unsigned(bytes: &[u8], block: &Block) -> Option<Vec<u8>> {
    // The map's count (one byte: at most ten entries), `v` (3 bytes: it is
    // 1) and `col` (4, its length in one byte, the name): 1 + 3 + 4 + 1.
    // Only the offset is taken from `block`; the bytes at it are checked.
    if block.col.len() > 23 {
        return None;
    }
    let mut at = 9 + block.col.len();
    // `doc`: tag 42, then `0x58` and its bytes' length (a sha2-256 CID's).
    if let Some([0x63, b'd', b'o', b'c', 0xd8, 0x2a, 0x58, n]) = bytes.get(at..at + 8) {
        at += 8 + *n as usize;
    }
    let rest = bytes.get(at + 70..)?;
    if bytes[at..at + 6] != *b"\x63sig\x58\x40" {
        return None;
    }
    Some([&[bytes[0].checked_sub(1)?], &bytes[1..at], rest].concat())
}

impl SignedBlock {
    /// Decodes and verifies bytes from outside: size, DAG-CBOR in its
    /// canonical form, the CID they were sent under (when there is one),
    /// shape and signature. Whether the parents exist and the fields fit the
    /// schema is the merge's business.
    pub fn decode(bytes: &[u8], claimed: Option<Cid>) -> Result<SignedBlock, BlockError> {
        Self::decode_unverified(bytes, claimed)?.verify()
    }

    /// [`SignedBlock::decode`] with authors' keys from `keys`
    /// ([`Unverified::verify_with`]): the same result.
    pub fn decode_with(bytes: &[u8], claimed: Option<Cid>, keys: &mut AuthorKeys) -> Result<SignedBlock, BlockError> {
        Self::decode_unverified(bytes, claimed)?.verify_with(keys)
    }

    /// [`SignedBlock::decode`] but for the signature check, which is left
    /// to the caller: [`Unverified::verify`] here, or another verifier that
    /// applies the same rule (a page hands it to the browser's WebCrypto).
    pub fn decode_unverified(bytes: &[u8], claimed: Option<Cid>) -> Result<Unverified, BlockError> {
        if bytes.len() > MAX_BLOCK_BYTES {
            return Err(BlockError::TooLarge(bytes.len()));
        }
        let cid = cid_of(bytes);
        if let Some(expected) = claimed {
            if expected != cid {
                return Err(BlockError::CidMismatch { expected });
            }
        }
        let mut block: Block = serde_ipld_dagcbor::from_slice(bytes).map_err(|e| BlockError::Decode(e.to_string()))?;
        // The signature covers the canonical encoding, so any other encoding
        // of the same block would verify too: under another CID, and for a
        // genesis as another document. Only the canonical bytes are taken.
        if encode(&block) != bytes {
            return Err(BlockError::NotCanonical);
        }
        block.check()?;
        let author: [u8; 32] = block.author.as_slice().try_into().map_err(|_| BlockError::BadSignature)?;
        let sig: [u8; 64] =
            block.sig.as_ref().and_then(|s| s.as_slice().try_into().ok()).ok_or(BlockError::BadSignature)?;
        let message = match unsigned(bytes, &block) {
            Some(message) => message,
            // A tombstone, a long collection name, a short CID.
            None => {
                let taken = block.sig.take();
                let message = encode(&block);
                block.sig = taken;
                message
            }
        };
        Ok(Unverified { signed: SignedBlock::new(cid, bytes.to_vec(), block), author, sig, message })
    }

    /// Decodes bytes this replica verified before storing them: no
    /// re-hash, no signature check.
    pub fn decode_stored(bytes: Vec<u8>, cid: Cid) -> Result<SignedBlock, BlockError> {
        let block = serde_ipld_dagcbor::from_slice(&bytes).map_err(|e| BlockError::Decode(e.to_string()))?;
        Ok(SignedBlock::new(cid, bytes, block))
    }

    fn new(cid: Cid, bytes: Vec<u8>, block: Block) -> SignedBlock {
        SignedBlock { cid, bytes, block, doc_id: OnceLock::new() }
    }

    pub fn doc(&self) -> Cid {
        self.block.doc_cid(self.cid)
    }

    /// [`SignedBlock::doc`] as text (the CID's multibase base32), the
    /// document's id: encoded on first use and kept, as an import asks for
    /// it several times a block.
    pub fn doc_id(&self) -> &str {
        self.doc_id.get_or_init(|| self.doc().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    fn fields(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn encode_decode_keeps_the_cid() {
        let g = Block::genesis("Book", fields(json!({"title": "Dune", "pages": 412, "rating": 4.5})), [1; 8], &key(1));
        let back = SignedBlock::decode(&g.bytes, Some(g.cid)).unwrap();
        assert_eq!(back, g);
        assert_eq!(encode(&back.block), g.bytes, "re-encoding gives the same bytes");
        assert_eq!(g.cid.codec(), DAG_CBOR);
        assert_eq!(g.cid.hash().code(), SHA2_256);
        assert_eq!(g.cid.version(), cid::Version::V1);

        let c = Block::change("Book", g.cid, vec![g.cid], 2, fields(json!({"pages": 413})), false, &key(2));
        let back = SignedBlock::decode(&c.bytes, None).unwrap();
        assert_eq!(back.doc(), g.cid);
        assert_eq!(back.block.parents, vec![g.cid]);
    }

    #[test]
    fn same_content_different_nonce_is_a_different_document() {
        let a = Block::genesis("Book", fields(json!({"title": "Dune"})), [1; 8], &key(1));
        let b = Block::genesis("Book", fields(json!({"title": "Dune"})), [2; 8], &key(1));
        assert_ne!(a.cid, b.cid);
    }

    #[test]
    fn tampered_bytes_are_refused() {
        let g = Block::genesis("Book", fields(json!({"title": "Dune"})), [1; 8], &key(1));
        let mut bytes = g.bytes.clone();
        let pos = bytes.windows(4).position(|w| w == b"Dune").unwrap();
        bytes[pos] = b'J';
        assert!(matches!(SignedBlock::decode(&bytes, Some(g.cid)), Err(BlockError::CidMismatch { .. })));
        // Re-addressed under its new hash it still fails: the signature covers the content.
        assert_eq!(SignedBlock::decode(&bytes, None), Err(BlockError::BadSignature));
    }

    #[test]
    fn garbage_and_oversized_input_is_refused() {
        assert!(matches!(SignedBlock::decode(b"\xff\x00garbage", None), Err(BlockError::Decode(_))));
        assert!(matches!(SignedBlock::decode(&vec![0; MAX_BLOCK_BYTES + 1], None), Err(BlockError::TooLarge(_))));
    }

    #[test]
    fn a_forged_author_is_refused() {
        let g = Block::genesis("Book", fields(json!({"title": "Dune"})), [1; 8], &key(1));
        let mut forged = g.block.clone();
        forged.author = ByteBuf::from(key(9).verifying_key().to_bytes().to_vec());
        let bytes = encode(&forged);
        assert_eq!(SignedBlock::decode(&bytes, None), Err(BlockError::BadSignature));
    }

    /// A block's message is the block encoded without `sig`, cut from its
    /// bytes where its entries before `sig` are as most blocks have them,
    /// and encoded where not: collection names whose lengths take one, two and
    /// three bytes to write, a tombstone's `del`, and documents named by
    /// CIDs of other lengths, one of them holding the very bytes that start
    /// `sig`'s entry.
    #[test]
    fn the_message_cut_from_the_bytes_is_the_encoding_without_sig() {
        let mut trap = b"\x63sig\x58\x40".to_vec();
        trap.extend([7; 58]);
        let docs = [
            Block::genesis("Book", fields(json!({"title": "Dune"})), [1; 8], &key(1)).cid,
            Cid::new_v1(DAG_CBOR, Multihash::<64>::wrap(0, &trap[..]).unwrap()),
            Cid::new_v1(0x55, Multihash::<64>::wrap(0, b"").unwrap()),
        ];
        let (mut checked, mut cuts) = (0, 0);
        for col in ["", "B", &"c".repeat(23), &"c".repeat(24), &"c".repeat(255), &"c".repeat(256), &"c".repeat(70)] {
            let mut blocks = vec![Block::genesis(col, fields(json!({"t": "x", "n": [1, {"a": 2}]})), [3; 8], &key(2))];
            for doc in docs {
                for del in [false, true] {
                    let set = if del { Map::new() } else { fields(json!({"t": "y"})) };
                    blocks.push(Block::change(col, doc, vec![doc], 2, set, del, &key(3)));
                }
            }
            for b in blocks {
                let mut unsigned_block = b.block.clone();
                unsigned_block.sig = None;
                // Cut where the entries before `sig` are as most blocks
                // have them (see `unsigned`); encoded otherwise.
                let cut = col.len() < 24 && !b.block.del && b.block.doc.is_none_or(|d| d.encoded_len() >= 23);
                let expected = cut.then(|| encode(&unsigned_block));
                assert_eq!(unsigned(&b.bytes, &b.block), expected, "{col:?} {:?}", b.block.doc);
                cuts += cut as usize;
                assert_eq!(b.bytes, encode(&b.block));
                let decoded = SignedBlock::decode_unverified(&b.bytes, None).unwrap();
                assert_eq!(decoded.message(), encode(&unsigned_block));
                assert_eq!(decoded.verify().as_ref(), Ok(&b));
                checked += 1;
            }
        }
        assert_eq!((checked, cuts), (49, 9));
        // Bytes too short, or without `sig`'s entry at the offset the
        // block's fields give, give none (the function trusts the caller
        // that the bytes are the block's, and does not check it).
        let g = Block::genesis("Book", fields(json!({"t": "x"})), [3; 8], &key(2));
        let other = Block::genesis("Books", fields(json!({"t": "x"})), [3; 8], &key(2));
        assert_eq!(unsigned(b"", &g.block), None);
        assert_eq!(unsigned(&other.bytes, &g.block), None);
        assert_eq!(unsigned(&g.bytes[..40], &g.block), None);
    }

    #[test]
    fn a_block_s_document_id_is_its_document_s_cid_as_text() {
        let g = Block::genesis("Book", fields(json!({"t": "x"})), [1; 8], &key(1));
        let c = Block::change("Book", g.cid, vec![g.cid], 2, fields(json!({"t": "y"})), false, &key(1));
        assert_eq!(g.doc_id(), g.cid.to_string());
        assert_eq!(c.doc_id(), g.cid.to_string());
        // No part of what makes two blocks equal; a clone keeps it.
        let decoded = SignedBlock::decode(&c.bytes, Some(c.cid)).unwrap();
        assert_eq!(decoded, c);
        let copy = c.clone();
        assert_eq!(copy.doc_id(), g.cid.to_string());
        assert_eq!(decoded.doc_id(), g.cid.to_string());
    }

    #[test]
    fn small_order_points_are_the_eight_torsion_points() {
        use curve25519_dalek::constants::EIGHT_TORSION;
        let ys: std::collections::BTreeSet<[u8; 32]> =
            EIGHT_TORSION.iter().map(|t| y_of(t.compress().as_bytes())).collect();
        assert_eq!(ys, SMALL_ORDER_Y.into_iter().collect());
    }

    /// What a page hands to WebCrypto: honest keys and signatures only;
    /// small-order and non-canonical keys and R, and S past the group
    /// order, stay with dalek (tests/web.rs checks both verifiers agree).
    #[test]
    fn plain_keys_and_signatures() {
        let g = Block::genesis("Book", fields(json!({"title": "Dune"})), [1; 8], &key(1));
        let honest = SignedBlock::decode_unverified(&g.bytes, None).unwrap();
        assert!(plain_key(honest.author()) && honest.plain_signature());
        let mut identity = [0; 32];
        identity[0] = 1;
        let mut identity_above_p = FIELD_PRIME;
        identity_above_p[0] += 1;
        let mut negative_zero = identity;
        negative_zero[31] |= 0x80;
        for weak in [identity, identity_above_p, negative_zero, [0; 32], FIELD_PRIME] {
            assert!(VerifyingKey::from_bytes(&weak).is_ok() && !plain_key(&weak), "{weak:?}");
        }
        for (r, s) in
            [(identity, [0; 32]), (identity_above_p, [0; 32]), (honest.sig[..32].try_into().unwrap(), GROUP_ORDER)]
        {
            let mut other = honest.clone();
            other.sig = [r, s].concat().try_into().unwrap();
            assert!(!other.plain_signature());
        }
    }
}
