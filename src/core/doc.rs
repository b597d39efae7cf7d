//! A document's current state: one last-writer-wins register per field and
//! a tombstone, folded from its blocks.
//!
//! The winner of a register is the write with the greatest `(height, CID)`,
//! so the state depends only on the set of blocks merged, never on their
//! order or on how often one arrived. A tombstone wins over every update:
//! once any replica has merged a delete, the document is gone everywhere.

use std::collections::BTreeMap;

use cid::Cid;
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;
use serde_json::{Map, Value};

use super::block::SignedBlock;

/// One field's current value and the write that set it. The CID is kept
/// as its bytes: registers are read on every get and query, and only
/// compared, never parsed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Register {
    pub value: Value,
    pub height: u64,
    pub cid: ByteBuf,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DocState {
    pub fields: BTreeMap<String, Register>,
    #[serde(default)]
    pub deleted: bool,
    /// The key that signed the genesis, kept only for documents of a
    /// collection with an owner policy (absent from states stored before).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<ByteBuf>,
}

/// What merging one block changed.
#[derive(Debug, Default, PartialEq)]
pub struct Applied {
    /// Fields whose winning value changed, with the value they had before.
    pub changed: Vec<(String, Option<Value>)>,
    /// The block deleted a document that was visible until now.
    pub deleted: bool,
}

impl DocState {
    pub fn apply(&mut self, b: &SignedBlock) -> Applied {
        let mut applied = Applied::default();
        let cid = b.cid.to_bytes();
        if b.block.del {
            applied.deleted = !self.deleted;
            self.deleted = true;
            return applied;
        }
        for (name, value) in &b.block.fields {
            let wins =
                self.fields.get(name).is_none_or(|r| (b.block.height, cid.as_slice()) > (r.height, r.cid.as_slice()));
            if wins {
                let new = Register { value: value.clone(), height: b.block.height, cid: ByteBuf::from(cid.clone()) };
                let old = self.fields.insert(name.clone(), new).map(|r| r.value);
                if old.as_ref() != Some(value) {
                    applied.changed.push((name.clone(), old));
                }
            }
        }
        applied
    }

    /// The document as users see it: `_id` first, then its non-null fields.
    pub fn document(&self, id: &str) -> Map<String, Value> {
        let mut doc = Map::with_capacity(self.fields.len() + 1);
        doc.insert("_id".into(), Value::String(id.into()));
        for (name, r) in &self.fields {
            if !r.value.is_null() {
                doc.insert(name.clone(), r.value.clone());
            }
        }
        doc
    }

    pub fn value(&self, field: &str) -> Option<&Value> {
        self.fields.get(field).map(|r| &r.value).filter(|v| !v.is_null())
    }
}

/// A document's heads: the blocks no other block of it names as parent.
pub type Heads = Vec<(Cid, u64)>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::block::Block;
    use ed25519_dalek::SigningKey;
    use serde_json::json;

    fn fields(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn the_greater_height_then_cid_wins_in_any_order() {
        let k = SigningKey::from_bytes(&[1; 32]);
        let g = Block::genesis("Book", fields(json!({"title": "Dune", "pages": 1})), [0; 8], &k);
        let a = Block::change("Book", g.cid, vec![g.cid], 2, fields(json!({"pages": 2})), false, &k);
        let b = Block::change("Book", g.cid, vec![g.cid], 2, fields(json!({"pages": 3})), false, &k);
        let c = Block::change("Book", g.cid, vec![a.cid, b.cid], 3, fields(json!({"title": "D"})), false, &k);
        let order = [&g, &a, &b, &c];
        let mut states = Vec::new();
        for perm in [[0, 1, 2, 3], [0, 2, 1, 3], [3, 2, 1, 0], [1, 3, 0, 2]] {
            let mut s = DocState::default();
            for i in perm {
                s.apply(order[i]);
            }
            s.apply(order[1]); // a duplicate changes nothing
            states.push(s);
        }
        assert!(states.windows(2).all(|w| w[0] == w[1]));
        let winner = if a.cid.to_bytes() > b.cid.to_bytes() { 2 } else { 3 };
        assert_eq!(states[0].document("x")["pages"], json!(winner));
        assert_eq!(states[0].document("x")["title"], json!("D"));
    }

    #[test]
    fn a_tombstone_wins() {
        let k = SigningKey::from_bytes(&[1; 32]);
        let g = Block::genesis("Book", fields(json!({"title": "Dune"})), [0; 8], &k);
        let d = Block::change("Book", g.cid, vec![g.cid], 2, Map::new(), true, &k);
        let u = Block::change("Book", g.cid, vec![d.cid], 3, fields(json!({"title": "X"})), false, &k);
        let mut s = DocState::default();
        s.apply(&g);
        assert!(s.apply(&d).deleted);
        s.apply(&u);
        assert!(s.deleted);
    }
}
