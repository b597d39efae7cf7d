//! The block decoder, as every block from outside meets it (gossip, fetch,
//! push, `importBlocks`): `SignedBlock::decode(bytes, None)` and under a
//! claimed CID.
//!
//! Checks, for every input the decoder accepts: the CID is the hash of the
//! exact bytes and the same under a claimed CID, while any other claimed CID
//! is refused; the decoded block re-encodes to the very same bytes (so one
//! signed block has one CID); the document state it folds into survives the
//! store's DAG-CBOR round trip.
#![no_main]

use cid::Cid;
use libfuzzer_sys::fuzz_target;
use weftdb::core::block::{cid_of, BlockError, SignedBlock};
use weftdb::core::doc::DocState;

fuzz_target!(|data: &[u8]| {
    let decoded = SignedBlock::decode(data, None);
    let Ok(b) = decoded else { return };
    assert_eq!(b.cid, cid_of(data), "the CID is the hash of the bytes");
    assert_eq!(b.bytes, data);
    assert_eq!(SignedBlock::decode(data, Some(b.cid)).as_ref(), Ok(&b), "the same under its own CID");
    let other = Cid::new_v1(b.cid.codec(), cid::multihash::Multihash::wrap(0x12, &[0; 32]).unwrap());
    assert!(matches!(SignedBlock::decode(data, Some(other)), Err(BlockError::CidMismatch { .. })));

    // Canonical: the bytes are the DAG-CBOR encoding of what they decode to.
    let again = serde_ipld_dagcbor::to_vec(&b.block).expect("a decoded block encodes");
    assert_eq!(cid_of(&again), b.cid, "a decoded block re-encodes to bytes with its CID");

    // What a merge stores of it reads back (db.rs: cbor / uncbor).
    let mut state = DocState::default();
    state.apply(&b);
    let stored = serde_ipld_dagcbor::to_vec(&state).expect("a document state encodes");
    let back: DocState = serde_ipld_dagcbor::from_slice(&stored).expect("a stored state decodes");
    assert_eq!(back, state);
});
