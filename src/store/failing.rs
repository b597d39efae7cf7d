//! A store that fails commits on request, to prove what a failed or
//! crashed write leaves behind (redb proves its crash safety by freezing
//! its disk at the Nth sync; this freezes a [`Store`] at its Nth commit).
//!
//! [`FailingStore`] wraps any store and counts the commits of its write
//! transactions. Told to fail the Nth from now ([`FailingStore::fail_commit`]),
//! it drops that transaction instead of committing it, so the failed commit
//! writes nothing, as the [`Tx::commit`] contract allows, and returns a
//! [`StoreError`]. Told to crash at the Nth ([`FailingStore::crash_at`]),
//! it fails that commit and every later one until [`FailingStore::heal`]:
//! a disk that stopped taking writes. Told to ([`FailingStore::fail_begin`]),
//! it fails the next write transaction as it begins. Reads keep working
//! throughout.
//!
//! Clones share the inner store and the faults, like [`super::MemoryStore`]
//! clones share their data: a test keeps one clone, hands another to
//! [`crate::Db::open`], and reopens on its clone after a "restart". It is
//! deterministic and single-threaded, for tests and the simulator (feature
//! `sim`); the page's build does not contain it.

use std::cell::Cell;
use std::rc::Rc;

use super::{Entries, KeyRange, Mode, Store, StoreError, Table, Tx};

/// The commit counter and the fault it is armed with, shared by clones.
#[derive(Debug, Default)]
struct Faults {
    /// Write commits attempted so far, failed ones included.
    commits: Cell<u64>,
    /// Write commits that failed.
    failed: Cell<u64>,
    /// The attempt number (of `commits`) that fails next.
    fail_at: Cell<Option<u64>>,
    /// Whether the next write transaction fails to begin.
    fail_begin: Cell<bool>,
    /// Whether the armed failure crashes the store (every commit after it fails).
    sticky: Cell<bool>,
    /// Crashed: every write commit fails until healed.
    crashed: Cell<bool>,
    /// Records returned by scans (keys, values or both), for tests of what
    /// a read costs.
    scanned: Cell<u64>,
}

impl Faults {
    /// Counts one write commit; whether it must fail.
    fn fails_next(&self) -> Option<u64> {
        let n = self.commits.get() + 1;
        self.commits.set(n);
        let fail = if self.crashed.get() {
            true
        } else if self.fail_at.get() == Some(n) {
            self.fail_at.set(None);
            self.crashed.set(self.sticky.get());
            true
        } else {
            false
        };
        fail.then(|| {
            self.failed.set(self.failed.get() + 1);
            n
        })
    }
}

/// A [`Store`] over `S` whose write commits fail when told to.
#[derive(Debug, Clone, Default)]
pub struct FailingStore<S> {
    inner: S,
    faults: Rc<Faults>,
}

impl<S: Store> FailingStore<S> {
    /// `inner`, with no fault armed.
    pub fn new(inner: S) -> Self {
        FailingStore { inner, faults: Rc::default() }
    }

    /// The store underneath, as the failures left it.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// Fails the `n`th write commit from now (1: the next one), only that one.
    pub fn fail_commit(&self, n: u64) {
        self.arm(n, false);
    }

    /// Fails the next write transaction as it begins (nothing read or
    /// written), only that one.
    pub fn fail_begin(&self) {
        self.faults.fail_begin.set(true);
    }

    /// Fails the `n`th write commit from now and every one after it until
    /// [`FailingStore::heal`]: the disk crashed at that commit.
    pub fn crash_at(&self, n: u64) {
        self.arm(n, true);
    }

    fn arm(&self, n: u64, sticky: bool) {
        assert!(n >= 1, "commits are counted from 1");
        self.faults.fail_at.set(Some(self.faults.commits.get() + n));
        self.faults.sticky.set(sticky);
        self.faults.crashed.set(false);
    }

    /// Disarms any fault and lets commits through again.
    pub fn heal(&self) {
        self.faults.fail_at.set(None);
        self.faults.crashed.set(false);
    }

    /// Write commits attempted through any clone, failed ones included.
    pub fn commits(&self) -> u64 {
        self.faults.commits.get()
    }

    /// Write commits that failed.
    pub fn failed(&self) -> u64 {
        self.faults.failed.get()
    }

    /// Records every scan through any clone has returned so far.
    pub fn scanned(&self) -> u64 {
        self.faults.scanned.get()
    }

    /// Whether every write commit fails (a crash, not yet healed).
    pub fn is_crashed(&self) -> bool {
        self.faults.crashed.get()
    }
}

/// A transaction of a [`FailingStore`]: the inner store's, with its
/// commit counted and perhaps failed.
pub struct FailingTx<'a, S: Store + 'a> {
    inner: S::Tx<'a>,
    faults: &'a Faults,
    mode: Mode,
}

impl<S: Store> Store for FailingStore<S> {
    type Tx<'a>
        = FailingTx<'a, S>
    where
        Self: 'a;

    async fn begin(&self, mode: Mode) -> Result<FailingTx<'_, S>, StoreError> {
        if mode == Mode::Write && self.faults.fail_begin.replace(false) {
            return Err(StoreError("the write transaction could not begin (FailingStore)".into()));
        }
        Ok(FailingTx { inner: self.inner.begin(mode).await?, faults: &self.faults, mode })
    }

    async fn begin_read(&self, tables: &[Table]) -> Result<FailingTx<'_, S>, StoreError> {
        Ok(FailingTx { inner: self.inner.begin_read(tables).await?, faults: &self.faults, mode: Mode::Read })
    }

    async fn get_one(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.get_one(table, key).await
    }

    fn notices(&self) -> Option<super::Notices> {
        self.inner.notices()
    }
}

// Every method is passed on, the provided ones too: the inner store may
// override them (IndexedDB batches its reads).
impl<S: Store> Tx for FailingTx<'_, S> {
    async fn get(&mut self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.get(table, key).await
    }

    async fn get_many(&mut self, table: Table, keys: &[Vec<u8>]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        self.inner.get_many(table, keys).await
    }

    async fn get_each(&mut self, reads: &[(Table, Vec<u8>)]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        self.inner.get_each(reads).await
    }

    async fn get_each_and_keys(
        &mut self,
        reads: &[(Table, Vec<u8>)],
        tables: &[(Table, usize)],
    ) -> Result<(Vec<Option<Vec<u8>>>, Vec<Vec<Vec<u8>>>), StoreError> {
        self.inner.get_each_and_keys(reads, tables).await
    }

    async fn put(&mut self, table: Table, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        self.inner.put(table, key, value).await
    }

    async fn delete(&mut self, table: Table, key: &[u8]) -> Result<(), StoreError> {
        self.inner.delete(table, key).await
    }

    async fn scan(&mut self, table: Table, range: &KeyRange, limit: Option<usize>) -> Result<Entries, StoreError> {
        let rows = self.inner.scan(table, range, limit).await?;
        self.faults.scanned.set(self.faults.scanned.get() + rows.len() as u64);
        Ok(rows)
    }

    async fn scan_values(
        &mut self,
        table: Table,
        range: &KeyRange,
        limit: Option<usize>,
    ) -> Result<Vec<Vec<u8>>, StoreError> {
        let rows = self.inner.scan_values(table, range, limit).await?;
        self.faults.scanned.set(self.faults.scanned.get() + rows.len() as u64);
        Ok(rows)
    }

    async fn scan_keys(
        &mut self,
        table: Table,
        range: &KeyRange,
        limit: Option<usize>,
    ) -> Result<Vec<Vec<u8>>, StoreError> {
        let rows = self.inner.scan_keys(table, range, limit).await?;
        self.faults.scanned.set(self.faults.scanned.get() + rows.len() as u64);
        Ok(rows)
    }

    async fn count(&mut self, table: Table, range: &KeyRange) -> Result<usize, StoreError> {
        self.inner.count(table, range).await
    }

    async fn put_keyed(
        &mut self,
        table: Table,
        key: &[u8],
        value: &[u8],
        old: &[Vec<u8>],
        new: &[Vec<u8>],
    ) -> Result<(), StoreError> {
        self.inner.put_keyed(table, key, value, old, new).await
    }

    async fn clear(&mut self, table: Table) -> Result<(), StoreError> {
        self.inner.clear(table).await
    }

    async fn commit(self) -> Result<(), StoreError> {
        if self.mode == Mode::Write {
            if let Some(n) = self.faults.fails_next() {
                // Dropped uncommitted: the transaction leaves nothing behind.
                drop(self.inner);
                return Err(StoreError(format!("injected failure of write commit {n}")));
            }
        }
        self.inner.commit().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;
    use futures::executor::block_on;

    async fn write(store: &FailingStore<MemoryStore>, key: &[u8]) -> Result<(), StoreError> {
        let mut tx = store.begin(Mode::Write).await?;
        tx.put(Table::Meta, key, b"v").await?;
        tx.commit().await
    }

    async fn has(store: &MemoryStore, key: &[u8]) -> bool {
        store.begin(Mode::Read).await.unwrap().get(Table::Meta, key).await.unwrap().is_some()
    }

    #[test]
    fn the_nth_commit_fails_and_writes_nothing() {
        block_on(async {
            let store = FailingStore::new(MemoryStore::new());
            write(&store, b"a").await.unwrap();
            store.fail_commit(2);
            write(&store, b"b").await.unwrap();
            let err = write(&store, b"c").await.unwrap_err();
            assert!(err.0.contains("commit 3"), "{err}");
            assert!(!has(store.inner(), b"c").await, "a failed commit writes nothing");
            write(&store, b"d").await.unwrap();
            assert!(has(store.inner(), b"a").await && has(store.inner(), b"b").await && has(store.inner(), b"d").await);
            assert_eq!((store.commits(), store.failed()), (4, 1));
        });
    }

    /// Over redb, a failed commit is a dropped write transaction, which
    /// redb aborts: the file reopened holds what committed before it.
    #[cfg(not(target_arch = "wasm32"))]
    #[test]
    fn over_redb_a_failed_commit_is_not_in_the_reopened_file() {
        use crate::store::RedbStore;
        block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("db.redb");
            {
                let store = FailingStore::new(RedbStore::open(&path).unwrap());
                let mut tx = store.begin(Mode::Write).await.unwrap();
                tx.put(Table::Meta, b"a", b"v").await.unwrap();
                tx.commit().await.unwrap();
                store.fail_commit(1);
                let mut tx = store.begin(Mode::Write).await.unwrap();
                tx.put(Table::Meta, b"b", b"v").await.unwrap();
                tx.commit().await.unwrap_err();
            }
            let store = RedbStore::open(&path).unwrap();
            let mut tx = store.begin(Mode::Read).await.unwrap();
            assert!(tx.get(Table::Meta, b"a").await.unwrap().is_some());
            assert!(tx.get(Table::Meta, b"b").await.unwrap().is_none());
        });
    }

    #[test]
    fn a_crash_fails_every_commit_until_healed_and_reads_go_on() {
        block_on(async {
            let store = FailingStore::new(MemoryStore::new());
            let other = store.clone();
            store.crash_at(1);
            write(&store, b"a").await.unwrap_err();
            write(&other, b"b").await.unwrap_err();
            assert!(other.is_crashed(), "clones share the fault");
            // A read transaction's commit is not a write: it goes through.
            store.begin_read(&[Table::Meta]).await.unwrap().commit().await.unwrap();
            store.heal();
            write(&other, b"c").await.unwrap();
            assert!(!has(store.inner(), b"a").await && !has(store.inner(), b"b").await);
            assert!(has(store.inner(), b"c").await);
            assert_eq!(store.failed(), 2);
        });
    }
}
