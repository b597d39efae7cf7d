//! The browser backend: one IndexedDB database, one object store per table.
//!
//! Keys are binary IndexedDB keys (IndexedDB orders them bytewise, like
//! `Vec<u8>`), values are `Uint8Array`s. Request futures resolve from the
//! requests' success callbacks, so the core's awaits run while the transaction
//! is still active and it does not auto-commit under us.

use std::ops::Bound;
use std::rc::Rc;

use indexed_db_futures::database::Database;
use indexed_db_futures::internals::SystemRepr;
use indexed_db_futures::object_store::ObjectStore;
use indexed_db_futures::prelude::*;
use indexed_db_futures::transaction::{Transaction, TransactionMode};
use indexed_db_futures::KeyRange as IdbRange;
use js_sys::Uint8Array;
use wasm_bindgen::prelude::*;

use super::{Entries, KeyRange, Mode, Store, StoreError, Table, Tx};

fn err<E: std::fmt::Display>(op: &'static str) -> impl Fn(E) -> StoreError {
    move |e| StoreError(format!("IndexedDB {op} failed: {e}"))
}

fn js_bytes(bytes: &[u8]) -> JsValue {
    Uint8Array::from(bytes).into()
}

/// Keys come back as `ArrayBuffer`s, values as the `Uint8Array`s we stored.
fn rust_bytes(v: &JsValue) -> Vec<u8> {
    match v.dyn_ref::<Uint8Array>() {
        Some(a) => a.to_vec(),
        None => Uint8Array::new(v).to_vec(),
    }
}

/// `undefined` is IndexedDB's "every key" query, so unbounded ranges need no
/// separate code path.
fn idb_range(range: &KeyRange) -> IdbRange<JsValue> {
    let bound = |b: &Bound<Vec<u8>>| match b {
        Bound::Included(k) => Some((js_bytes(k), false)),
        Bound::Excluded(k) => Some((js_bytes(k), true)),
        Bound::Unbounded => None,
    };
    match (bound(&range.lower), bound(&range.upper)) {
        (Some((l, lo)), Some((u, uo))) => IdbRange::Bound(l, lo, u, uo),
        (Some((l, open)), None) => IdbRange::LowerBound(l, open),
        (None, Some((u, open))) => IdbRange::UpperBound(u, open),
        (None, None) => IdbRange::Only(JsValue::UNDEFINED),
    }
}

/// A connection to one IndexedDB database. Clones share the connection, which
/// closes when the last clone is dropped (or on [`IdbStore::close`]).
#[derive(Clone)]
pub struct IdbStore {
    conn: Rc<Conn>,
}

struct Conn {
    db: Database,
    _on_versionchange: Closure<dyn FnMut()>,
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.db.as_sys().set_onversionchange(None);
        self.db.clone().close();
    }
}

impl IdbStore {
    /// Opens the database `name`, creating it and its object stores on first use.
    pub async fn open(name: &str) -> Result<IdbStore, StoreError> {
        let db = Database::open(name)
            .with_version(1u32)
            .with_on_upgrade_needed(|_, db| {
                for t in Table::ALL {
                    db.create_object_store(t.name()).build()?;
                }
                Ok(())
            })
            .await
            .map_err(err("open"))?;
        // Another tab (or `destroy`) deleting or upgrading the database waits
        // until every connection closes, so give ours up instead of blocking it.
        let on_versionchange = Closure::<dyn FnMut()>::new({
            let db = db.clone();
            move || db.clone().close()
        });
        db.as_sys().set_onversionchange(Some(on_versionchange.as_ref().unchecked_ref()));
        Ok(IdbStore { conn: Rc::new(Conn { db, _on_versionchange: on_versionchange }) })
    }

    /// Closes the connection; later transactions on it fail.
    pub fn close(&self) {
        self.conn.db.clone().close();
    }

    /// Deletes the database `name`. Our open connections close themselves.
    pub async fn destroy(name: &str) -> Result<(), StoreError> {
        Database::delete_by_name(name).map_err(err("delete"))?.await.map_err(err("delete"))
    }
}

/// One IndexedDB transaction over every object store. Dropping it without
/// `commit` aborts it: indexed_db_futures' `Transaction` aborts on drop.
pub struct IdbTx<'a> {
    tx: Transaction<'a>,
    mode: Mode,
}

impl Store for IdbStore {
    type Tx<'a> = IdbTx<'a>;

    async fn begin(&self, mode: Mode) -> Result<IdbTx<'_>, StoreError> {
        let idb_mode = match mode {
            Mode::Read => TransactionMode::Readonly,
            Mode::Write => TransactionMode::Readwrite,
        };
        let tx = self.conn.db.transaction(Table::ALL.map(Table::name)).with_mode(idb_mode).build();
        Ok(IdbTx { tx: tx.map_err(err("transaction"))?, mode })
    }

    async fn begin_read(&self, tables: &[Table]) -> Result<IdbTx<'_>, StoreError> {
        let names: Vec<&str> = tables.iter().map(|t| t.name()).collect();
        let tx = self.conn.db.transaction(names).with_mode(TransactionMode::Readonly).build();
        Ok(IdbTx { tx: tx.map_err(err("transaction"))?, mode: Mode::Read })
    }
}

impl IdbTx<'_> {
    fn store(&self, table: Table) -> Result<ObjectStore<'_>, StoreError> {
        self.tx.object_store(table.name()).map_err(err("object store"))
    }
}

/// IndexedDB treats a limit of 0 as "no limit".
fn idb_limit(limit: Option<usize>) -> u32 {
    limit.map_or(0, |l| u32::try_from(l).unwrap_or(u32::MAX))
}

impl Tx for IdbTx<'_> {
    async fn get(&mut self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let store = self.store(table)?;
        let value: Option<JsValue> = store.get::<JsValue, JsValue, _>(js_bytes(key)).await.map_err(err("get"))?;
        Ok(value.as_ref().map(rust_bytes))
    }

    /// All the reads go out at once; IndexedDB answers them in order.
    async fn get_many(&mut self, table: Table, keys: &[Vec<u8>]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let store = self.store(table)?;
        let reads = keys
            .iter()
            .map(|k| store.get::<JsValue, JsValue, _>(js_bytes(k)).primitive().map_err(err("get")))
            .collect::<Result<Vec<_>, _>>()?;
        futures::future::join_all(reads)
            .await
            .into_iter()
            .map(|v| Ok(v.map_err(err("get"))?.as_ref().map(rust_bytes)))
            .collect()
    }

    // Writes are not awaited: IndexedDB runs a transaction's requests in order,
    // so later reads see them, and a failed write aborts the transaction, which
    // `commit` reports. Not waiting a task per write makes bulk writes fast.
    async fn put(&mut self, table: Table, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        let store = self.store(table)?;
        store.put(js_bytes(value)).with_key(js_bytes(key)).without_key_type().primitive().map(drop).map_err(err("put"))
    }

    async fn delete(&mut self, table: Table, key: &[u8]) -> Result<(), StoreError> {
        let store = self.store(table)?;
        store.delete::<JsValue, _>(js_bytes(key)).primitive().map(drop).map_err(err("delete"))
    }

    async fn scan(&mut self, table: Table, range: &KeyRange, limit: Option<usize>) -> Result<Entries, StoreError> {
        if range.is_empty() || limit == Some(0) {
            return Ok(Vec::new());
        }
        let store = self.store(table)?;
        // getAll + getAllKeys beat a cursor by far; issued back to back in one
        // transaction they see the same records.
        let (query, n) = (idb_range(range), idb_limit(limit));
        let keys = store.get_all_keys::<JsValue>().with_query::<JsValue, _>(query.clone()).with_limit(n);
        let keys = keys.primitive().map_err(err("scan"))?;
        let values = store.get_all::<JsValue>().with_query::<JsValue, _>(query).with_limit(n);
        let values = values.primitive().map_err(err("scan"))?;
        let (keys, values) = (keys.await.map_err(err("scan"))?, values.await.map_err(err("scan"))?);
        keys.zip(values)
            .map(|(k, v)| Ok((rust_bytes(&k.map_err(err("scan"))?), rust_bytes(&v.map_err(err("scan"))?))))
            .collect()
    }

    async fn scan_keys(
        &mut self,
        table: Table,
        range: &KeyRange,
        limit: Option<usize>,
    ) -> Result<Vec<Vec<u8>>, StoreError> {
        if range.is_empty() || limit == Some(0) {
            return Ok(Vec::new());
        }
        let store = self.store(table)?;
        let keys =
            store.get_all_keys::<JsValue>().with_query::<JsValue, _>(idb_range(range)).with_limit(idb_limit(limit));
        keys.await.map_err(err("scan"))?.map(|k| Ok(rust_bytes(&k.map_err(err("scan"))?))).collect()
    }

    async fn count(&mut self, table: Table, range: &KeyRange) -> Result<usize, StoreError> {
        if range.is_empty() {
            return Ok(0);
        }
        let store = self.store(table)?;
        let n = store.count().with_query::<JsValue, _>(idb_range(range)).await.map_err(err("count"))?;
        Ok(n as usize)
    }

    /// Resolves once IndexedDB fires `complete`, i.e. the writes are durable.
    async fn commit(self) -> Result<(), StoreError> {
        if self.mode == Mode::Read {
            // Nothing to make durable; letting it end (drop aborts) saves a wait.
            return Ok(());
        }
        // When a write failed after we returned, or the commit itself failed
        // (QuotaExceededError), indexed_db_futures only reports "transaction
        // finished" or "aborted"; the cause is on the transaction.
        let sys = self.tx.as_sys().clone();
        self.tx.commit().await.map_err(|e| match sys.error() {
            Some(cause) => StoreError(format!("IndexedDB commit failed: {}: {}", cause.name(), cause.message())),
            None => err("commit")(e),
        })
    }
}
