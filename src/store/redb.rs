//! The native backend: one redb file per database.

use std::ops::Bound;
use std::path::Path;
use std::sync::Arc;

use redb::{Database, ReadableTable, TableDefinition};

use super::{Entries, KeyRange, Mode, Store, StoreError, Table, Tx};

fn def(table: Table) -> TableDefinition<'static, &'static [u8], &'static [u8]> {
    TableDefinition::new(table.name())
}

/// A database in one redb file. Clones share the open file.
#[derive(Clone)]
pub struct RedbStore {
    db: Arc<Database>,
}

impl RedbStore {
    /// Opens the file at `path`, creating it and its tables if missing.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let db = Database::create(path).map_err(StoreError::new)?;
        let tx = db.begin_write().map_err(StoreError::new)?;
        for t in Table::ALL {
            tx.open_table(def(t)).map_err(StoreError::new)?;
        }
        tx.commit().map_err(StoreError::new)?;
        Ok(RedbStore { db: Arc::new(db) })
    }
}

pub enum RedbTx {
    Read(redb::ReadTransaction),
    // Boxed: a write transaction is several times the size of a read.
    Write(Box<redb::WriteTransaction>),
}

impl Store for RedbStore {
    type Tx<'a> = RedbTx;

    async fn begin(&self, mode: Mode) -> Result<RedbTx, StoreError> {
        Ok(match mode {
            Mode::Read => RedbTx::Read(self.db.begin_read().map_err(StoreError::new)?),
            Mode::Write => RedbTx::Write(Box::new(self.db.begin_write().map_err(StoreError::new)?)),
        })
    }
}

fn bounds(range: &KeyRange) -> (Bound<&[u8]>, Bound<&[u8]>) {
    (range.lower.as_ref().map(Vec::as_slice), range.upper.as_ref().map(Vec::as_slice))
}

fn collect<T: ReadableTable<&'static [u8], &'static [u8]>>(
    t: &T,
    range: &KeyRange,
    limit: Option<usize>,
) -> Result<Entries, StoreError> {
    if range.is_empty() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for entry in t.range::<&[u8]>(bounds(range)).map_err(StoreError::new)? {
        if limit.is_some_and(|l| out.len() >= l) {
            break;
        }
        let (k, v) = entry.map_err(StoreError::new)?;
        out.push((k.value().to_vec(), v.value().to_vec()));
    }
    Ok(out)
}

/// The number of keys in `range`: the table's own count for all of it,
/// else a walk over the keys that copies none.
fn count<T: ReadableTable<&'static [u8], &'static [u8]>>(t: &T, range: &KeyRange) -> Result<usize, StoreError> {
    if range.is_empty() {
        return Ok(0);
    }
    if *range == KeyRange::all() {
        return Ok(t.len().map_err(StoreError::new)? as usize);
    }
    let mut n = 0;
    for entry in t.range::<&[u8]>(bounds(range)).map_err(StoreError::new)? {
        entry.map_err(StoreError::new)?;
        n += 1;
    }
    Ok(n)
}

/// The values of `keys` in `t`, in order, the table opened once for all.
fn get_all<'k, T: ReadableTable<&'static [u8], &'static [u8]>>(
    t: &T,
    keys: impl Iterator<Item = &'k [u8]>,
) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
    keys.map(|k| Ok(t.get(k).map_err(StoreError::new)?.map(|v| v.value().to_vec()))).collect()
}

fn read_only() -> StoreError {
    StoreError("write in a read transaction".into())
}

// The many-key reads and `put_keyed` open each table once, not once a
// key as the trait's defaults would (through `get` and `put`): redb looks
// a table up in its table tree at each `open_table` and, in a write
// transaction, stages its root again when the handle drops. An import
// of 1,024 blocks asks ~2,000 keys of `packs_by` (the CIDs located, then
// the pack's keys written); opened per key that was ~4 % of a merging
// node thread's samples (BENCHMARKS.md, session 36).
impl Tx for RedbTx {
    async fn get_many(&mut self, table: Table, keys: &[Vec<u8>]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let keys = keys.iter().map(Vec::as_slice);
        match self {
            RedbTx::Read(tx) => get_all(&tx.open_table(def(table)).map_err(StoreError::new)?, keys),
            RedbTx::Write(tx) => get_all(&tx.open_table(def(table)).map_err(StoreError::new)?, keys),
        }
    }

    async fn get_each(&mut self, reads: &[(Table, Vec<u8>)]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let mut out = Vec::with_capacity(reads.len());
        for run in reads.chunk_by(|a, b| a.0 == b.0) {
            let keys = run.iter().map(|(_, k)| k.as_slice());
            out.extend(match self {
                RedbTx::Read(tx) => get_all(&tx.open_table(def(run[0].0)).map_err(StoreError::new)?, keys)?,
                RedbTx::Write(tx) => get_all(&tx.open_table(def(run[0].0)).map_err(StoreError::new)?, keys)?,
            });
        }
        Ok(out)
    }

    async fn put_keyed(
        &mut self,
        table: Table,
        key: &[u8],
        value: &[u8],
        old: &[Vec<u8>],
        new: &[Vec<u8>],
    ) -> Result<(), StoreError> {
        let by = table.by().expect("put_keyed: a table with secondary keys");
        let RedbTx::Write(tx) = self else { return Err(read_only()) };
        {
            let mut index = tx.open_table(def(by)).map_err(StoreError::new)?;
            for k in old.iter().filter(|k| !new.contains(k)) {
                index.remove(k.as_slice()).map_err(StoreError::new)?;
            }
            for k in new.iter().filter(|k| !old.contains(k)) {
                index.insert(k.as_slice(), key).map_err(StoreError::new)?;
            }
        }
        tx.open_table(def(table)).map_err(StoreError::new)?.insert(key, value).map_err(StoreError::new)?;
        Ok(())
    }

    async fn get(&mut self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let found = |v: Option<redb::AccessGuard<&[u8]>>| v.map(|v| v.value().to_vec());
        match self {
            RedbTx::Read(tx) => {
                Ok(found(tx.open_table(def(table)).map_err(StoreError::new)?.get(key).map_err(StoreError::new)?))
            }
            RedbTx::Write(tx) => {
                Ok(found(tx.open_table(def(table)).map_err(StoreError::new)?.get(key).map_err(StoreError::new)?))
            }
        }
    }

    async fn put(&mut self, table: Table, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        match self {
            RedbTx::Read(_) => Err(read_only()),
            RedbTx::Write(tx) => {
                tx.open_table(def(table)).map_err(StoreError::new)?.insert(key, value).map_err(StoreError::new)?;
                Ok(())
            }
        }
    }

    async fn delete(&mut self, table: Table, key: &[u8]) -> Result<(), StoreError> {
        match self {
            RedbTx::Read(_) => Err(read_only()),
            RedbTx::Write(tx) => {
                tx.open_table(def(table)).map_err(StoreError::new)?.remove(key).map_err(StoreError::new)?;
                Ok(())
            }
        }
    }

    async fn scan(&mut self, table: Table, range: &KeyRange, limit: Option<usize>) -> Result<Entries, StoreError> {
        match self {
            RedbTx::Read(tx) => collect(&tx.open_table(def(table)).map_err(StoreError::new)?, range, limit),
            RedbTx::Write(tx) => collect(&tx.open_table(def(table)).map_err(StoreError::new)?, range, limit),
        }
    }

    async fn count(&mut self, table: Table, range: &KeyRange) -> Result<usize, StoreError> {
        match self {
            RedbTx::Read(tx) => count(&tx.open_table(def(table)).map_err(StoreError::new)?, range),
            RedbTx::Write(tx) => count(&tx.open_table(def(table)).map_err(StoreError::new)?, range),
        }
    }

    async fn commit(self) -> Result<(), StoreError> {
        match self {
            RedbTx::Read(_) => Ok(()),
            RedbTx::Write(tx) => tx.commit().map_err(StoreError::new),
        }
    }
}
