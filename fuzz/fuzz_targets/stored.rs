//! The decoders of what a store holds, as `Db` reads it back: a document's
//! `DocState` and its `Heads` (DAG-CBOR, `db.rs` `uncbor`), and a
//! collection's `CollectionDef` (JSON, `Db::reload_schemas`). The first byte
//! picks the record, the rest is its bytes, as if a disk or another process
//! had changed them.
//!
//! Checks: a record that decodes re-encodes and decodes equal (so a corrupt
//! record is refused when read, never written back differently); a
//! document as users see it has `_id` first, no null fields, and the values
//! `DocState::value` gives.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use weftdb::core::doc::{DocState, Heads};
use weftdb::core::schema::CollectionDef;

fn uncbor<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Option<T> {
    serde_ipld_dagcbor::from_slice(bytes).ok()
}

fn cbor<T: serde::Serialize>(v: &T) -> Vec<u8> {
    serde_ipld_dagcbor::to_vec(v).expect("a decoded record encodes")
}

fn doc_state(bytes: &[u8]) {
    let Some(state) = uncbor::<DocState>(bytes) else { return };
    let again = cbor(&state);
    assert_eq!(uncbor::<DocState>(&again).as_ref(), Some(&state), "a state reads back as written");
    let doc = state.document("bafyid");
    let mut keys = doc.keys();
    assert_eq!(keys.next().map(String::as_str), Some("_id"), "`_id` comes first");
    assert!(doc.values().all(|v| !v.is_null()), "null fields are left out");
    // A stored `_id` field (which no schema allows) is not asked about.
    for (name, register) in state.fields.iter().filter(|(name, _)| *name != "_id") {
        assert_eq!(doc.get(name), state.value(name));
        assert_eq!(state.value(name).is_some(), !register.value.is_null());
    }
}

fn heads(bytes: &[u8]) {
    let Some(heads) = uncbor::<Heads>(bytes) else { return };
    assert_eq!(uncbor::<Heads>(&cbor(&heads)).as_ref(), Some(&heads), "heads read back as written");
}

fn schema(bytes: &[u8]) {
    let Ok(def) = serde_json::from_slice::<CollectionDef>(bytes) else { return };
    let again = serde_json::to_vec(&def).expect("a collection encodes");
    assert_eq!(serde_json::from_slice::<CollectionDef>(&again).ok().as_ref(), Some(&def));
    let value: Value = serde_json::from_slice(&again).expect("JSON");
    assert_eq!(serde_json::from_value::<CollectionDef>(value).ok().as_ref(), Some(&def));
}

fuzz_target!(|data: &[u8]| {
    let Some((&kind, bytes)) = data.split_first() else { return };
    match kind % 3 {
        0 => doc_state(bytes),
        1 => heads(bytes),
        _ => schema(bytes),
    }
});
