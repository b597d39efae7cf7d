//! The SDL parser, `core::schema::parse_sdl`, on any text (`addSchema`, the
//! local API's `POST /api/v0/schema`).
//!
//! Checks, for SDL it accepts: every collection has a unique, non-scalar
//! name and at least one field; field names are unique and never start with
//! `_`; `@index` only on scalar, non-JSON fields; the collections round-trip
//! through serde_json (as the store keeps them) and through SDL printed back
//! from them (with their `@policy`).
#![no_main]

use std::fmt::Write;

use libfuzzer_sys::fuzz_target;
use weftdb::core::schema::{parse_sdl, CollectionDef, ScalarKind, WritePolicy};

fn print(cols: &[CollectionDef]) -> String {
    let mut sdl = String::new();
    for c in cols {
        let policy = match &c.policy {
            WritePolicy::Anyone => String::new(),
            WritePolicy::Owner => r#" @policy(writers: "owner")"#.to_string(),
            WritePolicy::Writers(keys) => format!(" @policy(writers: {})", serde_json::to_string(keys).unwrap()),
        };
        writeln!(sdl, "type {}{policy} {{", c.name).unwrap();
        for f in &c.fields {
            writeln!(sdl, "  {}: {}{}", f.name, f.ty, if f.indexed { " @index" } else { "" }).unwrap();
        }
        sdl.push_str("}\n");
    }
    sdl
}

fuzz_target!(|data: &[u8]| {
    let Ok(sdl) = std::str::from_utf8(data) else { return };
    let Ok(cols) = parse_sdl(sdl) else { return };
    assert!(!cols.is_empty());
    for (i, c) in cols.iter().enumerate() {
        assert!(ScalarKind::from_name(&c.name).is_none(), "no collection named like a scalar");
        assert!(cols[..i].iter().all(|p| p.name != c.name), "collection names are unique");
        assert!(!c.fields.is_empty(), "a collection has fields");
        for (j, f) in c.fields.iter().enumerate() {
            assert!(!f.name.starts_with('_'), "names starting with _ are reserved");
            assert!(c.fields[..j].iter().all(|p| p.name != f.name), "field names are unique");
            assert!(!f.indexed || (!f.ty.list && f.ty.kind != ScalarKind::Json), "@index on scalars only");
            assert!(f.ty.list || !f.ty.item_required);
        }
    }
    let json = serde_json::to_vec(&cols).expect("collections encode");
    assert_eq!(serde_json::from_slice::<Vec<CollectionDef>>(&json).expect("and decode"), cols);
    let printed = print(&cols);
    assert_eq!(parse_sdl(&printed).as_ref(), Ok(&cols), "SDL printed from the collections parses back:\n{printed}");
});
