//! Past the signature: a document's fields (any JSON object) validated
//! against a collection as `create` does, made into a genesis block signed
//! with a fixed key, and that block decoded as a peer would.
//!
//! Checks: whatever the schema accepts makes a block that every peer
//! decodes (canonical, within the size limit, same CID and content), whose
//! document state the store reads back equal, and whose indexed values
//! have index keys. Fields the schema refuses must never get that far in a
//! replica, so they are only decoded, to prove the decoder survives them.
#![no_main]

use std::sync::OnceLock;

use ed25519_dalek::SigningKey;
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};
use weftdb::core::block::{Block, BlockError, SignedBlock};
use weftdb::core::doc::DocState;
use weftdb::core::query::encode_index_value;
use weftdb::core::schema::{parse_sdl, CollectionDef};

const SDL: &str = "type T {
  s: String @index
  i: Int @index
  f: Float
  b: Boolean
  t: DateTime @index
  l: [Int!]
  j: JSON
  k: JSON
}";

fn def() -> &'static CollectionDef {
    static DEF: OnceLock<CollectionDef> = OnceLock::new();
    DEF.get_or_init(|| parse_sdl(SDL).expect("the fuzz schema parses").remove(0))
}

fn key() -> &'static SigningKey {
    static KEY: OnceLock<SigningKey> = OnceLock::new();
    KEY.get_or_init(|| SigningKey::from_bytes(&[7; 32]))
}

fuzz_target!(|data: &[u8]| {
    let Ok(fields) = serde_json::from_slice::<Map<String, Value>>(data) else { return };
    let Ok(valid) = def().validate_create(&fields) else {
        // Refused input: the decoder still meets such blocks from peers.
        let g = Block::genesis("T", fields, [1; 8], key());
        let _ = SignedBlock::decode(&g.bytes, Some(g.cid));
        return;
    };
    let g = Block::genesis("T", valid, [0; 8], key());
    let b = match SignedBlock::decode(&g.bytes, Some(g.cid)) {
        Ok(b) => b,
        Err(BlockError::TooLarge(_)) => return,
        Err(e) => panic!("a block of valid fields is refused: {e}"),
    };
    assert_eq!(b, g, "decoded as made");
    let mut state = DocState::default();
    state.apply(&b);
    let stored = serde_ipld_dagcbor::to_vec(&state).expect("a document state encodes");
    let back: DocState = serde_ipld_dagcbor::from_slice(&stored).expect("the store reads back a valid document");
    assert_eq!(back, state);
    for f in def().fields.iter().filter(|f| f.indexed) {
        let value = state.value(&f.name).unwrap_or(&Value::Null);
        assert!(encode_index_value(value).is_some(), "indexed field {} holds {value}", f.name);
    }
});
