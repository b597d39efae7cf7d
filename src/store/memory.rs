//! The in-memory backend: for tests, the simulator, and as a database that
//! lives as long as its handles.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use super::notices::Handles;
use super::{Entries, KeyRange, Mode, Notices, Store, StoreError, Table, Tx};

type Tables = [BTreeMap<Vec<u8>, Vec<u8>>; Table::ALL.len()];

/// A store in memory. Clones share the same data, like two handles on one
/// database.
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    tables: Rc<RefCell<Tables>>,
    handles: Rc<Handles>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }
}

/// Writes are kept aside until commit, so a dropped transaction leaves no trace.
pub struct MemoryTx<'a> {
    store: &'a MemoryStore,
    writes: [BTreeMap<Vec<u8>, Option<Vec<u8>>>; Table::ALL.len()],
}

impl Store for MemoryStore {
    type Tx<'a> = MemoryTx<'a>;

    async fn begin(&self, _mode: Mode) -> Result<MemoryTx<'_>, StoreError> {
        Ok(MemoryTx { store: self, writes: Default::default() })
    }

    fn notices(&self) -> Option<Notices> {
        Some(self.handles.join())
    }
}

impl Tx for MemoryTx<'_> {
    async fn get(&mut self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        if let Some(w) = self.writes[table.idx()].get(key) {
            return Ok(w.clone());
        }
        Ok(self.store.tables.borrow()[table.idx()].get(key).cloned())
    }

    async fn put(&mut self, table: Table, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        self.writes[table.idx()].insert(key.to_vec(), Some(value.to_vec()));
        Ok(())
    }

    async fn delete(&mut self, table: Table, key: &[u8]) -> Result<(), StoreError> {
        self.writes[table.idx()].insert(key.to_vec(), None);
        Ok(())
    }

    async fn scan(&mut self, table: Table, range: &KeyRange, limit: Option<usize>) -> Result<Entries, StoreError> {
        if range.is_empty() {
            return Ok(Vec::new());
        }
        let bounds = (range.lower.clone(), range.upper.clone());
        let tables = self.store.tables.borrow();
        // The committed entries overlaid with this transaction's own writes.
        let mut merged: BTreeMap<&[u8], Option<&[u8]>> =
            tables[table.idx()].range(bounds.clone()).map(|(k, v)| (k.as_slice(), Some(v.as_slice()))).collect();
        for (k, v) in self.writes[table.idx()].range(bounds) {
            merged.insert(k.as_slice(), v.as_deref());
        }
        Ok(merged
            .into_iter()
            .filter_map(|(k, v)| Some((k.to_vec(), v?.to_vec())))
            .take(limit.unwrap_or(usize::MAX))
            .collect())
    }

    async fn commit(self) -> Result<(), StoreError> {
        let mut tables = self.store.tables.borrow_mut();
        for (table, writes) in tables.iter_mut().zip(self.writes) {
            for (k, v) in writes {
                match v {
                    Some(v) => table.insert(k, v),
                    None => table.remove(&k),
                };
            }
        }
        Ok(())
    }
}
