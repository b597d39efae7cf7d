//! Storage under the core: ordered byte-keyed tables and one transaction per
//! change. Backends: IndexedDB in the browser, redb natively, memory anywhere.
//!
//! The trait is async because IndexedDB is. A write transaction is atomic:
//! [`Tx::commit`] makes all of its writes visible together, and a transaction
//! dropped without `commit` leaves nothing behind. Between `begin` and
//! `commit` the core awaits only the transaction's own requests, which keeps
//! an IndexedDB transaction alive.

use std::ops::Bound;

mod memory;
pub use memory::MemoryStore;

mod notices;
pub use notices::{Forget, Heard, Notices, When};

#[cfg(any(test, feature = "sim"))]
mod failing;
#[cfg(any(test, feature = "sim"))]
pub use failing::{FailingStore, FailingTx};

#[cfg(not(target_arch = "wasm32"))]
mod redb;
#[cfg(not(target_arch = "wasm32"))]
pub use self::redb::RedbStore;

#[cfg(target_arch = "wasm32")]
mod idb;
#[cfg(target_arch = "wasm32")]
pub use idb::IdbStore;

/// The tables (IndexedDB object stores, redb tables) of one database, in
/// layout 5 (the crate docs' "Storage layout").
///
/// `packs` keeps its records findable by secondary keys as well
/// ([`Table::by`]): a pack by the CIDs of its blocks. IndexedDB keeps
/// those in an index of the object store,
/// written by its own backend with the record (no request of ours per
/// key); the other backends keep them in a companion table, written by
/// [`Tx::put_keyed`] in the same transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Table {
    /// Pack key → a pack: blocks stored by one transaction
    /// (`crate::db::layout`). Secondary keys: its blocks' CIDs.
    Packs,
    /// Block CID → the key of the pack that holds it ([`Table::Packs`]'s
    /// secondary keys).
    PacksBy,
    /// Document key (collection `\0` id) → the document record: its id,
    /// state (field registers) and heads.
    Documents,
    /// Index entry (collection `\0` field `\0` encoded value ‖ id) → the
    /// document as a query returns it, JSON text: a covering index, so that
    /// a query through it is one range read.
    Entries,
    /// Name → value: the signing key, the layout, the schemas.
    Meta,
    /// CID bytes → bytes of a verified block whose parents are not all here.
    Pending,
    /// Missing parent CID ++ waiting child CID → nothing.
    Waiting,
    /// Replicator peer id ++ `\0` ++ block CID → nothing: pushes not yet
    /// acknowledged, kept across restarts.
    Outbox,
    /// Layout 1's CID → block, read only to migrate (then empty).
    LegacyBlocks,
    /// Layout 1's document key → heads, read only to migrate.
    LegacyHeads,
    /// Layout 1's document key → state, read only to migrate.
    LegacyDocs,
    /// Layout 1's index entries, emptied by the migration.
    LegacyIndex,
}

impl Table {
    pub const ALL: [Table; 12] = [
        Table::Packs,
        Table::PacksBy,
        Table::Documents,
        Table::Entries,
        Table::Meta,
        Table::Pending,
        Table::Waiting,
        Table::Outbox,
        Table::LegacyBlocks,
        Table::LegacyHeads,
        Table::LegacyDocs,
        Table::LegacyIndex,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Table::Packs => "packs",
            Table::PacksBy => "packs_by",
            Table::Documents => "documents",
            Table::Entries => "entries",
            Table::Meta => "meta",
            Table::Pending => "pending",
            Table::Waiting => "waiting",
            Table::Outbox => "outbox",
            Table::LegacyBlocks => "blocks",
            Table::LegacyHeads => "heads",
            Table::LegacyDocs => "docs",
            Table::LegacyIndex => "index",
        }
    }

    /// The table of this table's secondary keys, if it has them.
    pub fn by(self) -> Option<Table> {
        match self {
            Table::Packs => Some(Table::PacksBy),
            _ => None,
        }
    }

    /// The table whose secondary keys this table holds, if it is such a
    /// companion (IndexedDB: an index of that object store, not a store).
    pub fn keys_of(self) -> Option<Table> {
        match self {
            Table::PacksBy => Some(Table::Packs),
            _ => None,
        }
    }

    #[cfg_attr(target_arch = "wasm32", allow(dead_code))]
    fn idx(self) -> usize {
        self as usize
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Read,
    Write,
}

/// A failure of the storage backend itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("storage failed: {0}")]
pub struct StoreError(pub String);

impl StoreError {
    pub fn new(e: impl std::fmt::Display) -> Self {
        StoreError(e.to_string())
    }
}

/// Key-value pairs as a scan returns them.
pub type Entries = Vec<(Vec<u8>, Vec<u8>)>;

/// A range of keys, owned so it can be held across awaits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRange {
    pub lower: Bound<Vec<u8>>,
    pub upper: Bound<Vec<u8>>,
}

impl KeyRange {
    /// Every key that starts with `prefix`.
    pub fn prefix(prefix: &[u8]) -> KeyRange {
        KeyRange {
            lower: Bound::Included(prefix.to_vec()),
            upper: prefix_end(prefix).map_or(Bound::Unbounded, Bound::Excluded),
        }
    }

    pub fn all() -> KeyRange {
        KeyRange { lower: Bound::Unbounded, upper: Bound::Unbounded }
    }

    pub fn contains(&self, key: &[u8]) -> bool {
        let above = match &self.lower {
            Bound::Included(l) => key >= l.as_slice(),
            Bound::Excluded(l) => key > l.as_slice(),
            Bound::Unbounded => true,
        };
        let below = match &self.upper {
            Bound::Included(u) => key <= u.as_slice(),
            Bound::Excluded(u) => key < u.as_slice(),
            Bound::Unbounded => true,
        };
        above && below
    }

    /// True when no key can be in the range (IndexedDB refuses such ranges).
    pub fn is_empty(&self) -> bool {
        match (&self.lower, &self.upper) {
            (Bound::Included(l), Bound::Included(u)) => l > u,
            (Bound::Included(l) | Bound::Excluded(l), Bound::Excluded(u))
            | (Bound::Excluded(l), Bound::Included(u)) => l >= u,
            _ => false,
        }
    }
}

/// A storage backend.
#[allow(async_fn_in_trait)] // single-threaded by design: IndexedDB handles are not Send
pub trait Store {
    type Tx<'a>: Tx
    where
        Self: 'a;

    async fn begin(&self, mode: Mode) -> Result<Self::Tx<'_>, StoreError>;

    /// A read transaction over only `tables`; a narrower scope is cheaper
    /// where the backend locks per table (IndexedDB).
    async fn begin_read(&self, tables: &[Table]) -> Result<Self::Tx<'_>, StoreError> {
        let _ = tables;
        self.begin(Mode::Read).await
    }

    /// The value of one key, in a read transaction of its own; a backend
    /// where each call costs a crossing (IndexedDB from wasm) does it in one.
    async fn get_one(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.begin_read(&[table]).await?.get(table, key).await
    }

    /// This handle's end of the notices between the handles on one
    /// database ([`Notices`]), a new one each call; `None` where the
    /// backend has no other handles to hear from (then the database keeps
    /// no cache of documents).
    fn notices(&self) -> Option<Notices> {
        None
    }
}

/// One transaction over all tables.
#[allow(async_fn_in_trait)]
pub trait Tx {
    async fn get(&mut self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;
    /// Values of many keys, in the order asked. Backends that can have
    /// several reads in flight at once (IndexedDB) override this.
    async fn get_many(&mut self, table: Table, keys: &[Vec<u8>]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let mut out = Vec::with_capacity(keys.len());
        for k in keys {
            out.push(self.get(table, k).await?);
        }
        Ok(out)
    }
    /// [`Tx::get_many`] across tables: the values of `(table, key)` reads,
    /// in the order asked, all in flight at once where the backend can.
    async fn get_each(&mut self, reads: &[(Table, Vec<u8>)]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let mut out = Vec::with_capacity(reads.len());
        for (table, key) in reads {
            out.push(self.get(*table, key).await?);
        }
        Ok(out)
    }
    /// [`Tx::get_each`], and the first keys of each of `tables`, at most
    /// its limit, which is at least 1 (one list each, in order), in one go where the backend
    /// can (an import asks whether `pending` holds any key, and reads
    /// `waiting` whole when it is small, with the records before it merges).
    async fn get_each_and_keys(
        &mut self,
        reads: &[(Table, Vec<u8>)],
        tables: &[(Table, usize)],
    ) -> Result<(Vec<Option<Vec<u8>>>, Vec<Vec<Vec<u8>>>), StoreError> {
        let values = self.get_each(reads).await?;
        let mut keys = Vec::with_capacity(tables.len());
        for (table, limit) in tables {
            keys.push(self.scan_keys(*table, &KeyRange::all(), Some(*limit)).await?);
        }
        Ok((values, keys))
    }
    async fn put(&mut self, table: Table, key: &[u8], value: &[u8]) -> Result<(), StoreError>;
    async fn delete(&mut self, table: Table, key: &[u8]) -> Result<(), StoreError>;
    /// Entries with keys in `range`, in key order, at most `limit`.
    async fn scan(&mut self, table: Table, range: &KeyRange, limit: Option<usize>) -> Result<Entries, StoreError>;
    /// Values of the entries in `range`, in key order, at most `limit`.
    async fn scan_values(
        &mut self,
        table: Table,
        range: &KeyRange,
        limit: Option<usize>,
    ) -> Result<Vec<Vec<u8>>, StoreError> {
        Ok(self.scan(table, range, limit).await?.into_iter().map(|(_, v)| v).collect())
    }
    /// Keys in `range`, in key order, at most `limit`.
    async fn scan_keys(
        &mut self,
        table: Table,
        range: &KeyRange,
        limit: Option<usize>,
    ) -> Result<Vec<Vec<u8>>, StoreError> {
        Ok(self.scan(table, range, limit).await?.into_iter().map(|(k, _)| k).collect())
    }
    /// The number of keys in `range`.
    async fn count(&mut self, table: Table, range: &KeyRange) -> Result<usize, StoreError> {
        Ok(self.scan_keys(table, range, None).await?.len())
    }
    /// Puts a record of a table with secondary keys ([`Table::by`]):
    /// `new` are its secondary keys from now on, `old` those it had (none
    /// for a new record). Each secondary key names one record at most.
    /// A backend that keeps the index itself (IndexedDB) ignores `old`.
    async fn put_keyed(
        &mut self,
        table: Table,
        key: &[u8],
        value: &[u8],
        old: &[Vec<u8>],
        new: &[Vec<u8>],
    ) -> Result<(), StoreError> {
        let by = table.by().expect("put_keyed: a table with secondary keys");
        for k in old.iter().filter(|k| !new.contains(k)) {
            self.delete(by, k).await?;
        }
        for k in new.iter().filter(|k| !old.contains(k)) {
            self.put(by, k, key).await?;
        }
        self.put(table, key, value).await
    }
    /// Deletes every record of `table`.
    async fn clear(&mut self, table: Table) -> Result<(), StoreError> {
        for k in self.scan_keys(table, &KeyRange::all(), None).await? {
            self.delete(table, &k).await?;
        }
        Ok(())
    }
    async fn commit(self) -> Result<(), StoreError>;
}

/// The smallest key above every key that starts with `prefix`, if any.
pub fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// How far a write transaction's data is flushed before it completes (the
/// `durability` of IndexedDB's `transaction()`): the caller's choice, the
/// same for every write of one open database.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Durability {
    /// The browser's own choice: relaxed in Chromium since 121 and in
    /// Firefox; what Dexie and RxDB use unless told otherwise.
    #[default]
    Default,
    /// Flushed to disk before the transaction completes: a write whose
    /// promise resolved survives a power cut, at about one flush per write.
    Strict,
    /// Handed to the operating system: survives the tab and the browser
    /// crashing, not the machine.
    Relaxed,
}

impl Durability {
    /// The name JS uses (`Database.open(name, { durability })`).
    pub fn name(self) -> &'static str {
        match self {
            Durability::Default => "default",
            Durability::Strict => "strict",
            Durability::Relaxed => "relaxed",
        }
    }

    pub fn parse(s: &str) -> Option<Durability> {
        [Durability::Default, Durability::Strict, Durability::Relaxed].into_iter().find(|d| d.name() == s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_end_is_the_next_key_after_the_prefix() {
        assert_eq!(prefix_end(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_end(&[1, 0xff]), Some(vec![2]));
        assert_eq!(prefix_end(&[0xff, 0xff]), None);
    }
}
