//! The browser backend: one IndexedDB database, one object store per table.
//!
//! Keys are binary IndexedDB keys (IndexedDB orders them bytewise, like
//! `Vec<u8>`), values are `Uint8Array`s, except in `entries`, whose values
//! are JSON text and are stored as strings (a query the index answers
//! exactly returns them as they are: [`IdbStore::find_exact`]), and in the tables with
//! secondary keys ([`Table::by`]): there a record is `{v, k}`, the value
//! and the list of its secondary keys, and the object store has an index
//! `by` over `k` (`multiEntry`), which IndexedDB keeps as it writes the
//! record. A companion table ([`Table::keys_of`]) is that index: a read of
//! it by secondary key gives the record's primary key. Request futures resolve from the
//! requests' success callbacks, so the core's awaits run while the transaction
//! is still active and it does not auto-commit under us. A read of many
//! keys asks them all in one call into JS and awaits one promise, settled
//! in the last request's callback (`idb_gets`).

use std::ops::Bound;
use std::rc::Rc;

use std::cell::{Cell, RefCell};

use js_sys::Uint8Array;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use super::{Durability, Entries, Forget, Heard, KeyRange, Mode, Notices, Store, StoreError, Table, Tx, When};
use crate::error::Error;

fn js_bytes(bytes: &[u8]) -> JsValue {
    Uint8Array::from(bytes).into()
}

/// A value of `table` as it is stored: `entries`' (JSON text, which
/// serde_json writes as UTF-8) as a string.
fn js_value(table: Table, bytes: &[u8]) -> JsValue {
    match table {
        Table::Entries => JsValue::from_str(&String::from_utf8_lossy(bytes)),
        _ => js_bytes(bytes),
    }
}

/// Keys come back as `ArrayBuffer`s, values as the `Uint8Array`s (or, in
/// `entries`, the strings) we stored.
fn rust_bytes(v: &JsValue) -> Vec<u8> {
    if let Some(text) = v.as_string() {
        return text.into_bytes();
    }
    match v.dyn_ref::<Uint8Array>() {
        Some(a) => a.to_vec(),
        None => Uint8Array::new(v).to_vec(),
    }
}

/// A connection to one IndexedDB database. Clones share the connection, which
/// closes when the last clone is dropped (or on [`IdbStore::close`]).
#[derive(Clone)]
pub struct IdbStore {
    conn: Rc<Conn>,
    durability: Durability,
}

/// What to call when the connection goes stale.
type StaleListeners = Rc<RefCell<Vec<Box<dyn Fn()>>>>;

struct Conn {
    db: web_sys::IdbDatabase,
    /// The database's name: its handles' notices go by the BroadcastChannel
    /// `weftdb-docs:<name>` ([`IdbStore::notices`]).
    name: String,
    /// Its handles' ends of the notices' channel, closed with it (by
    /// `close` or `versionchange`; the page keeps the channel).
    channels: Rc<RefCell<Vec<JsValue>>>,
    /// Set once another connection (a newer build in another tab, or a
    /// deletion) asked for the database with `versionchange`: this one has
    /// closed, and every later transaction fails with [`Error::Stale`].
    stale: Rc<Cell<bool>>,
    on_stale: StaleListeners,
    _on_versionchange: Closure<dyn FnMut()>,
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.db.set_onversionchange(None);
        self.db.close();
    }
}

#[wasm_bindgen(inline_js = "
function blocked(what) {
  return new DOMException(`another connection to the database (another tab) did not close for ${what}`, 'BlockedError');
}
// A database's notices: one BroadcastChannel `weftdb-docs:<name>` per name
// in this page, shared by the page's handles of that database. Making one
// takes the page's thread ~0.15 ms and holds back the IndexedDB requests
// then in flight about as long (tests/browser/reopen-probe.mjs), a tenth
// of a reopen and its first get. So a handle joins it only when it needs
// it (`docsJoin`): once a read it made would be kept (`docs_listen_soon`:
// a task after that read's answer), as any write transaction of the
// database begins in this page (`idb_transaction`), or as it posts; at
// once if the page has the channel. The channel outlives its last handle
// by DOCS_GRACE_MS, so that a reopen finds it made. A post goes to the
// other tabs by the channel and to this page's other handles directly, at
// once (a channel does not hear itself). `onopen` is called once the
// handle has joined.
const DOCS_GRACE_MS = 5000;
const docsHubs = new Map();
// Handles not joined yet, by channel name.
const docsDeaf = new Map();
// Runs `f` as a task of its own after those already queued: a message to
// ourselves, not a timer, which the browser delays by a second or more in
// a hidden tab.
let docsTasks = null;
function docsTask(f) {
  if (!docsTasks) {
    const ch = new MessageChannel();
    docsTasks = { ch, queue: [] };
    ch.port1.onmessage = () => docsTasks.queue.shift()();
  }
  docsTasks.queue.push(f);
  docsTasks.ch.port2.postMessage(null);
}
// One handle's callback throwing does not keep the others from hearing.
function docsEach(handles, f) {
  handles.forEach((o) => {
    try {
      f(o);
    } catch (e) {
      console.error(e);
    }
  });
}
export function docs_channel(name, onmessage, onopen) {
  if (typeof BroadcastChannel !== 'function') return null;
  const h = { name: 'weftdb-docs:' + name, onmessage, onopen, hub: null, closed: false, soon: false };
  if (docsHubs.has(h.name)) {
    docsJoin(h);
  } else {
    if (!docsDeaf.has(h.name)) docsDeaf.set(h.name, new Set());
    docsDeaf.get(h.name).add(h);
  }
  return h;
}
function docsHeard(h) {
  const deaf = docsDeaf.get(h.name);
  if (deaf?.delete(h) && !deaf.size) docsDeaf.delete(h.name);
}
function docsJoin(h) {
  docsHeard(h);
  if (h.hub || h.closed) return;
  let hub = docsHubs.get(h.name);
  if (!hub) {
    hub = { c: new BroadcastChannel(h.name), handles: new Set(), timer: 0, closed: false };
    hub.c.onmessage = (e) => docsEach(hub.handles, (o) => o.onmessage(e.data));
    docsHubs.set(h.name, hub);
  }
  clearTimeout(hub.timer);
  hub.handles.add(h);
  h.hub = hub;
  h.onopen();
}
export function docs_listen_soon(h) {
  if (h.hub || h.soon) return;
  h.soon = true;
  docsTask(() => docsJoin(h));
}
export function docs_post(h, keys) {
  docsJoin(h);
  // A handle that never joined wrote nothing (a write joins as it begins).
  // One closed while its write was in flight still tells: the write
  // commits; if the page's channel closed meanwhile, by one made for it.
  const hub = h.hub;
  if (!hub) return;
  if (hub.closed) {
    const c = new BroadcastChannel(h.name);
    c.postMessage(keys);
    c.close();
    return;
  }
  hub.c.postMessage(keys);
  docsEach(hub.handles, (o) => o === h || o.onmessage(keys));
}
export function docs_close(h) {
  h.closed = true;
  docsHeard(h);
  const hub = h.hub;
  if (!hub || !hub.handles.delete(h) || hub.handles.size) return;
  clearTimeout(hub.timer);
  hub.timer = setTimeout(() => {
    if (hub.handles.size) return;
    hub.closed = true;
    hub.c.close();
    if (docsHubs.get(h.name) === hub) docsHubs.delete(h.name);
  }, DOCS_GRACE_MS);
}
export function idb_transaction(db, names, mode, durability) {
  const tx = durability === 'default' ? db.transaction(names, mode) : db.transaction(names, mode, { durability });
  // The database's handles in this page listen from before a write commits:
  // a commit of another tab ordered after this one tells of it as it
  // begins, and must be heard for this one's documents to be kept.
  if (mode === 'readwrite') {
    const deaf = docsDeaf.get('weftdb-docs:' + db.name);
    if (deaf) [...deaf].forEach(docsJoin);
  }
  return tx;
}
export function idb_object_store(tx, name) {
  return tx.objectStore(name);
}
export function idb_put_keyed(store, key, v, k) {
  store.put({ v, k }, key);
}
export function idb_values(list) {
  return list.map((r) => r.v);
}
export function idb_open(name, version, stores, grace, queuedGrace) {
  return new Promise((resolve, reject) => {
    const r = indexedDB.open(name, version);
    let gaveUp = false;
    const giveUp = (why) => {
      gaveUp = true;
      reject(blocked(why));
    };
    // An open queued behind another tab's blocked deletion (or upgrade)
    // gets no event at all: it runs when that tab closes. Its own upgrade
    // ends the wait.
    let timer = setTimeout(() => giveUp('the deletion or upgrade this open waits behind'), queuedGrace);
    r.onupgradeneeded = () => {
      clearTimeout(timer);
      // Given up on, it runs after the deletion: create nothing, or the
      // deleted database would come back empty.
      if (gaveUp) return r.transaction.abort();
      for (const [s, keyed] of stores) {
        const st = r.result.objectStoreNames.contains(s) ? r.transaction.objectStore(s) : r.result.createObjectStore(s);
        if (keyed && !st.indexNames.contains('by')) st.createIndex('by', 'k', { multiEntry: true });
      }
    };
    r.onsuccess = () => {
      clearTimeout(timer);
      gaveUp ? r.result.close() : resolve(r.result);
    };
    r.onerror = () => {
      clearTimeout(timer);
      if (!gaveUp) reject(r.error);
    };
    r.onblocked = () => {
      clearTimeout(timer);
      timer = setTimeout(() => giveUp('an upgrade'), grace);
    };
  });
}
export function idb_delete(name, grace) {
  return new Promise((resolve, reject) => {
    const r = indexedDB.deleteDatabase(name);
    let timer;
    r.onsuccess = () => {
      clearTimeout(timer);
      resolve();
    };
    r.onerror = () => {
      clearTimeout(timer);
      reject(r.error);
    };
    r.onblocked = () => {
      timer = setTimeout(() => reject(blocked('a deletion (it happens once that tab closes it)')), grace);
    };
  });
}")]
extern "C" {
    /// Opens `name` at `version`, creating the missing object stores (each
    /// `[name, keyed]`: a keyed one with its index `by`); an
    /// open still `blocked` after `grace` ms rejects (`BlockedError`)
    /// rather than wait.
    ///
    /// One that gets neither `success` nor an event of its own within
    /// `queued_grace` ms waits behind another tab's blocked deletion, and
    /// rejects (`BlockedError`) too.
    #[wasm_bindgen(catch)]
    fn idb_open(
        name: &str,
        version: u32,
        stores: js_sys::Array,
        grace: u32,
        queued_grace: u32,
    ) -> Result<js_sys::Promise, JsValue>;
    /// Deletes `name`; still `blocked` after `grace` ms, rejects
    /// (`BlockedError`), and the browser deletes it once the others close.
    #[wasm_bindgen(catch)]
    fn idb_delete(name: &str, grace: u32) -> Result<js_sys::Promise, JsValue>;
    /// `store.put({ v, k }, key)`: a record with its secondary keys.
    #[wasm_bindgen(catch)]
    fn idb_put_keyed(
        store: &web_sys::IdbObjectStore,
        key: &JsValue,
        v: &JsValue,
        k: &js_sys::Array,
    ) -> Result<(), JsValue>;
    /// A handle's end of the page's notices channel of database `name`
    /// (joined now if the page has it, else when needed), calling
    /// `onmessage` with each notice from another handle and `onopen` once
    /// it has joined; `null` where the page has no BroadcastChannel.
    fn docs_channel(name: &str, onmessage: &js_sys::Function, onopen: &js_sys::Function) -> JsValue;
    /// Joins in a task of its own, after those already queued.
    fn docs_listen_soon(channel: &JsValue);
    /// Posts a notice: an array of `documents` keys, or `null` for all.
    fn docs_post(channel: &JsValue, keys: &JsValue);
    /// Leaves the channel (kept a few seconds for a reopen).
    fn docs_close(channel: &JsValue);
    /// The values (`v`) of a list of `{v, k}` records.
    fn idb_values(list: &JsValue) -> JsValue;
    /// `db.transaction(names, mode, { durability })`, without the options
    /// for `"default"` (web-sys has the options only behind its unstable cfg).
    #[wasm_bindgen(catch)]
    fn idb_transaction(
        db: &web_sys::IdbDatabase,
        names: &js_sys::Array,
        mode: &JsValue,
        durability: &JsValue,
    ) -> Result<web_sys::IdbTransaction, JsValue>;
    /// `tx.objectStore(name)`, the name a JS string already (see [`JsNames`]).
    #[wasm_bindgen(catch)]
    fn idb_object_store(tx: &web_sys::IdbTransaction, name: &JsValue) -> Result<web_sys::IdbObjectStore, JsValue>;
}

/// The strings every transaction passes to IndexedDB, made JS strings once
/// per page: a `&str` crosses into JS through a `TextDecoder` call each
/// time, and a single write named every object store in its transaction,
/// then its mode, its durability and each object store it wrote (~17
/// such calls).
struct JsNames {
    /// Each table's name, by its place in [`Table::ALL`].
    tables: Vec<JsValue>,
    /// Every object store: a write's scope.
    every_store: js_sys::Array,
    readwrite: JsValue,
    readonly: JsValue,
    /// By [`Durability`]: `default`, `strict`, `relaxed`.
    durability: [JsValue; 3],
}

impl JsNames {
    fn new() -> Self {
        let tables = Table::ALL.iter().map(|t| JsValue::from_str(t.name())).collect();
        let mut stores: Vec<&str> = object_stores().map(Table::name).collect();
        stores.sort_unstable();
        JsNames {
            tables,
            every_store: stores.into_iter().map(JsValue::from_str).collect(),
            readwrite: JsValue::from_str("readwrite"),
            readonly: JsValue::from_str("readonly"),
            durability: [Durability::Default, Durability::Strict, Durability::Relaxed]
                .map(|d| JsValue::from_str(d.name())),
        }
    }

    fn table(&self, table: Table) -> &JsValue {
        let at = Table::ALL.iter().position(|t| *t == table).expect("every table is in Table::ALL");
        &self.tables[at]
    }

    fn durability(&self, d: Durability) -> &JsValue {
        &self.durability[match d {
            Durability::Default => 0,
            Durability::Strict => 1,
            Durability::Relaxed => 2,
        }]
    }
}

thread_local! {
    static JS_NAMES: JsNames = JsNames::new();
}

/// `table`'s name as a JS string.
fn js_name(table: Table) -> JsValue {
    JS_NAMES.with(|n| n.table(table).clone())
}

/// How long an open or a deletion waits, once `blocked`, for the other
/// connections to close. `blocked` fires for a connection that is closing
/// too (`close()` waits for its transactions to finish): `db.close()` then
/// `Database.destroy(name)` at once is blocked for a moment by the closing
/// connection itself. A connection that ignores `versionchange` (an older
/// build's tab) keeps it blocked past this.
const BLOCKED_GRACE_MS: u32 = 3_000;

/// How long an open may wait with no event at all: one queued behind a
/// deletion another tab blocks (that tab ignores `versionchange`) waits
/// until the tab closes. Longer than [`BLOCKED_GRACE_MS`]: a first open on
/// a busy machine is slow, but it is never this slow.
const QUEUED_GRACE_MS: u32 = 10_000;

/// This build's database version: the object stores of [`Table::ALL`]
/// (2: layout 2's `packs` with its index `by`, `documents` and `entries`,
/// beside layout 1's stores, kept empty; the data of layout 1 moves on the
/// first open, `crate::db::layout`; 3: the same stores, written by builds
/// whose tabs tell each other what they commit, for their caches of
/// documents: a tab of a build before that, which would write without
/// telling, gets `versionchange` and closes, as below; 4: the same, by
/// builds whose tabs read a commit's changes in one message,
/// `TabMessage::Changes`, which a tab of version 3 would not understand,
/// its subscribers missing those changes; 5: the same stores in layout 3,
/// whose index entries carry the document as JSON, `crate::db::layout`:
/// a tab of version 4 would write layout 2's entries into it; 6: the same
/// stores in layout 4, whose outbox rows are keyed by height, then CID,
/// `crate::records`: a tab of version 5 would queue blocks under keys
/// this build does not read; the same version holds layout 5, which
/// differs only in the signing key's record: a tab of layout 4 open on it
/// is not closed, as it reads that record only as it opens and writes
/// everything else in layout 5's form, and a new open by a layout-4 build
/// finds `layout` 5 and refuses the database as `STALE`). An older build's
/// tab gets `VersionError` (`STALE`) rather than read a layout it does not
/// know.
const VERSION: u32 = 6;

/// The object stores: every table but the companions, which are indexes.
fn object_stores() -> impl Iterator<Item = Table> {
    Table::ALL.into_iter().filter(|t| t.keys_of().is_none())
}

/// An open or delete that failed, with the code a page can act on.
fn open_error(op: &'static str, name: &str, e: &JsValue) -> Error {
    match e.dyn_ref::<web_sys::DomException>().map(|d| d.name()).as_deref() {
        Some("VersionError") => Error::Stale(format!(
            "database \"{name}\" was upgraded by a newer version of this app (in another tab): reload the page"
        )),
        Some("BlockedError") => Error::Blocked(format!("{op} \"{name}\": {}", js_message(e))),
        _ => Error::Storage(dom_error(op, e)),
    }
}

fn js_message(e: &JsValue) -> String {
    js_sys::Reflect::get(e, &"message".into()).ok().and_then(|m| m.as_string()).unwrap_or_default()
}

impl IdbStore {
    /// Opens the database `name`, creating it and its object stores on first
    /// use. A database a newer build upgraded fails with [`Error::Stale`];
    /// an open another tab blocks fails with [`Error::Blocked`] after [`BLOCKED_GRACE_MS`].
    pub async fn open(name: &str) -> Result<IdbStore, Error> {
        Self::open_with(name, Durability::Default).await
    }

    /// [`IdbStore::open`], its write transactions with `durability`.
    pub async fn open_with(name: &str, durability: Durability) -> Result<IdbStore, Error> {
        let stores: js_sys::Array = object_stores()
            .map(|t| -> JsValue {
                [JsValue::from_str(t.name()), JsValue::from_bool(t.by().is_some())]
                    .iter()
                    .collect::<js_sys::Array>()
                    .into()
            })
            .collect();
        let opening = idb_open(name, VERSION, stores, BLOCKED_GRACE_MS, QUEUED_GRACE_MS)
            .map_err(|e| open_error("open", name, &e))?;
        let db: web_sys::IdbDatabase =
            JsFuture::from(opening).await.map_err(|e| open_error("open", name, &e))?.unchecked_into();
        // Another tab (a newer build, or `destroy`) upgrading or deleting the
        // database waits until every connection closes: give ours up at
        // once, and tell the page (`db.on("stale")`).
        let stale = Rc::new(Cell::new(false));
        let on_stale = StaleListeners::default();
        let channels: Rc<RefCell<Vec<JsValue>>> = Rc::default();
        let on_versionchange = Closure::<dyn FnMut()>::new({
            let (db, stale, on_stale, channels) = (db.clone(), stale.clone(), on_stale.clone(), channels.clone());
            move || {
                db.close();
                for c in channels.borrow_mut().drain(..) {
                    docs_close(&c);
                }
                if !stale.replace(true) {
                    for f in on_stale.borrow().iter() {
                        f();
                    }
                }
            }
        });
        db.set_onversionchange(Some(on_versionchange.as_ref().unchecked_ref()));
        let conn =
            Rc::new(Conn { db, name: name.into(), channels, stale, on_stale, _on_versionchange: on_versionchange });
        Ok(IdbStore { conn, durability })
    }

    /// Closes the connection (later transactions on it fail) and lets go of
    /// its `on_stale` callbacks (they hold the page's listeners, which hold
    /// the page's database object).
    pub fn close(&self) {
        self.conn.db.close();
        for c in self.conn.channels.borrow_mut().drain(..) {
            docs_close(&c);
        }
        self.conn.on_stale.borrow_mut().clear();
    }

    /// Whether another tab's upgrade or deletion closed this connection.
    pub fn is_stale(&self) -> bool {
        self.conn.stale.get()
    }

    /// Calls `f` once when another tab's upgrade or deletion closes this
    /// connection.
    pub fn on_stale(&self, f: impl Fn() + 'static) {
        self.conn.on_stale.borrow_mut().push(Box::new(f));
    }

    /// Deletes the database `name`. Our open connections close themselves;
    /// one that does not (a tab of an older build, a page's own raw
    /// connection) makes this fail with [`Error::Blocked`] after [`BLOCKED_GRACE_MS`]; the
    /// browser still deletes the database when that connection closes.
    pub async fn destroy(name: &str) -> Result<(), Error> {
        let deleting = idb_delete(name, BLOCKED_GRACE_MS).map_err(|e| open_error("delete", name, &e))?;
        JsFuture::from(deleting).await.map(drop).map_err(|e| open_error("delete", name, &e))
    }
}

/// One IndexedDB transaction, used through the browser's own objects: each
/// request is a promise (see `request`), a write's commit is a promise that
/// settles on `complete` or `abort`. A write dropped before its commit is
/// aborted, so it leaves nothing behind. A read registers no listeners and
/// simply ends when its last request is done, as a read in plain JS does:
/// measurably cheaper than an abort or an explicit commit.
pub struct IdbTx<'a> {
    sys: web_sys::IdbTransaction,
    /// A write not yet committed: dropping it aborts.
    uncommitted_write: bool,
    _store: std::marker::PhantomData<&'a IdbStore>,
}

impl Drop for IdbTx<'_> {
    fn drop(&mut self) {
        if self.uncommitted_write {
            let _ = self.sys.abort();
        }
    }
}

#[wasm_bindgen(inline_js = "export function idb_request(r) {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
}
// Many gets in one call: key i is bytes[ends[i-1]..ends[i]], read from
// sources[which[i]] (sources[0] if `which` is empty), an object store or,
// where indexes[that] is 1, a companion table's index `by` (its primary
// key). One promise, settled in the last request's event (IndexedDB
// answers a transaction's requests in order), so the awaiting code runs
// while the transaction is still active; the first failure rejects it.
export function idb_gets(sources, indexes, which, bytes, ends) {
  return new Promise((resolve, reject) => {
    const n = ends.length;
    const out = new Array(n);
    let left = n;
    if (!n) return resolve(out);
    let start = 0;
    for (let i = 0; i < n; i++) {
      const at = which.length ? which[i] : 0;
      const key = bytes.subarray(start, ends[i]);
      start = ends[i];
      const r = indexes[at] ? sources[at].getKey(key) : sources[at].get(key);
      r.onsuccess = () => {
        out[i] = r.result;
        if (--left === 0) resolve(out);
      };
      r.onerror = () => reject(r.error);
    }
  });
}
export function idb_get_one(db, name, key) {
  return new Promise((resolve, reject) => {
    const r = db.transaction(name, 'readonly').objectStore(name).get(key);
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
}
export function idb_find_text(tx, name, range, offset, count) {
  return new Promise((resolve, reject) => {
    const failed = (message) => reject(Object.assign(new Error('storage failed: ' + message), { code: 'STORAGE' }));
    let r;
    try {
      r = tx.objectStore(name).getAll(range, count);
    } catch (e) {
      return failed('IndexedDB scan failed: ' + e);
    }
    r.onsuccess = () => {
      const list = offset ? r.result.slice(offset) : r.result;
      try {
        resolve(JSON.parse('[' + list.join(',') + ']'));
      } catch (e) {
        failed('corrupt index entry: ' + e.message);
      }
    };
    r.onerror = () => failed('IndexedDB scan failed: ' + r.error);
  });
}
export function idb_commit(tx) {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onabort = () => reject(tx.error || new DOMException('the transaction was aborted', 'AbortError'));
    tx.commit();
  });
}")]
extern "C" {
    fn idb_request(req: &web_sys::IdbRequest) -> js_sys::Promise;
    /// The gets of `ends.len()` keys, concatenated in `bytes`, each from
    /// `sources[which[i]]` (an object store, or an index where `indexes`
    /// says 1), all asked in this call; settles with their results in order.
    #[wasm_bindgen(catch)]
    fn idb_gets(
        sources: &js_sys::Array,
        indexes: &[u8],
        which: &[u8],
        bytes: &[u8],
        ends: &[u32],
    ) -> Result<js_sys::Promise, JsValue>;
    /// One `get` in a read transaction of its own, made in one call.
    #[wasm_bindgen(catch)]
    fn idb_get_one(db: &web_sys::IdbDatabase, name: &JsValue, key: &JsValue) -> Result<js_sys::Promise, JsValue>;
    /// Commits and settles once the writes are durable (`complete`), or
    /// rejects with the cause if the transaction aborted (or had already).
    fn idb_commit(tx: &web_sys::IdbTransaction) -> js_sys::Promise;
    /// The strings (JSON texts) in `range` of object store `name`, past the
    /// first `offset`, at most `count` from the range's start (0: all),
    /// parsed as one JSON array; a failure rejects with an `Error` whose
    /// `code` is `STORAGE`, as the crate's storage errors do.
    fn idb_find_text(
        tx: &web_sys::IdbTransaction,
        name: &JsValue,
        range: &JsValue,
        offset: u32,
        count: u32,
    ) -> js_sys::Promise;
}

/// A request's result. The promise settles inside the request's event, so
/// the awaiting code runs while the transaction is still active.
async fn request(req: Result<web_sys::IdbRequest, JsValue>, op: &'static str) -> Result<JsValue, StoreError> {
    let req = req.map_err(|e| dom_error(op, &e))?;
    JsFuture::from(idb_request(&req)).await.map_err(|e| dom_error(op, &e))
}

fn stale_error() -> StoreError {
    StoreError("the database was upgraded or deleted in another tab: reload the page".into())
}

async fn request_promise(p: Result<js_sys::Promise, JsValue>, op: &'static str) -> Result<JsValue, StoreError> {
    let p = p.map_err(|e| dom_error(op, &e))?;
    JsFuture::from(p).await.map_err(|e| dom_error(op, &e))
}

fn dom_error(op: &str, e: &JsValue) -> StoreError {
    match e.dyn_ref::<web_sys::DomException>() {
        Some(d) => StoreError(format!("IndexedDB {op} failed: {}: {}", d.name(), d.message())),
        None => StoreError(format!("IndexedDB {op} failed: {e:?}")),
    }
}

fn sys_range(range: &KeyRange) -> Result<JsValue, StoreError> {
    let r = match (&range.lower, &range.upper) {
        (Bound::Unbounded, Bound::Unbounded) => return Ok(JsValue::UNDEFINED),
        (lower, Bound::Unbounded) => {
            let (k, open) = bound_key(lower);
            web_sys::IdbKeyRange::lower_bound_with_open(&k, open)
        }
        (Bound::Unbounded, upper) => {
            let (k, open) = bound_key(upper);
            web_sys::IdbKeyRange::upper_bound_with_open(&k, open)
        }
        (lower, upper) => {
            let ((l, lo), (u, uo)) = (bound_key(lower), bound_key(upper));
            web_sys::IdbKeyRange::bound_with_lower_open_and_upper_open(&l, &u, lo, uo)
        }
    };
    r.map(JsValue::from).map_err(|e| dom_error("key range", &e))
}

fn bound_key(b: &Bound<Vec<u8>>) -> (JsValue, bool) {
    match b {
        Bound::Included(k) => (js_bytes(k), false),
        Bound::Excluded(k) => (js_bytes(k), true),
        Bound::Unbounded => unreachable!("unbounded ends are handled by the caller"),
    }
}

fn byte_list(list: JsValue) -> Vec<Vec<u8>> {
    js_sys::Array::from(&list).iter().map(|v| rust_bytes(&v)).collect()
}

impl Store for IdbStore {
    type Tx<'a> = IdbTx<'a>;

    async fn begin(&self, mode: Mode) -> Result<IdbTx<'_>, StoreError> {
        // Every object store (`None`: the one array made once per page).
        match mode {
            Mode::Read => self.transaction(None, web_sys::IdbTransactionMode::Readonly),
            Mode::Write => self.transaction(None, web_sys::IdbTransactionMode::Readwrite),
        }
    }

    async fn begin_read(&self, tables: &[Table]) -> Result<IdbTx<'_>, StoreError> {
        self.transaction(Some(tables), web_sys::IdbTransactionMode::Readonly)
    }

    /// The transaction, its object store and the request made in one call
    /// into JS, and one promise awaited: a `get` of a document not cached
    /// spent ~0.1 ms more than raw IndexedDB's in the crossings of the
    /// general path.
    async fn get_one(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        if table.keys_of().is_some() {
            return self.begin_read(&[table]).await?.get(table, key).await;
        }
        if self.is_stale() {
            return Err(stale_error());
        }
        let v = request_promise(idb_get_one(&self.conn.db, &js_name(table), &js_bytes(key)), "get").await?;
        Ok(value(table, v))
    }

    /// Notices over the BroadcastChannel `weftdb-docs:<name>`, which
    /// reaches every other connection to the database in this origin
    /// (other tabs by the channel, which this page's handles share, and
    /// this page's other connections directly), never the sender. The
    /// handle starts deaf ([`Heard::deaf`]) unless this page has the
    /// channel already: it joins once a read of its would be kept
    /// ([`Notices::listen`]), as any write transaction of the database
    /// begins in the page, or as it posts. A page without BroadcastChannel
    /// gets none (and keeps no cache).
    fn notices(&self) -> Option<Notices> {
        let (notices, channel) = docs_notices(&self.conn.name)?;
        self.conn.channels.borrow_mut().push(channel);
        Some(notices)
    }
}

/// A handle's notices on the page's channel `weftdb-docs:<name>`, and its
/// end of it (for the connection to close), or `None` without
/// BroadcastChannel.
fn docs_notices(name: &str) -> Option<(Notices, JsValue)> {
    let heard = Rc::new(Heard::deaf());
    let on_message = Closure::<dyn FnMut(JsValue)>::new({
        let heard = heard.clone();
        move |data: JsValue| heard.hear(forget_from_js(&data))
    });
    let on_open = Closure::<dyn FnMut()>::new({
        let heard = heard.clone();
        move || heard.listening()
    });
    let channel = docs_channel(name, on_message.as_ref().unchecked_ref(), on_open.as_ref().unchecked_ref());
    if channel.is_null() {
        return None;
    }
    let docs = Rc::new(DocsChannel { channel: channel.clone(), _on_message: on_message, _on_open: on_open });
    let listen = docs.clone();
    let notices = Notices::new(heard, When::Committing, move |forget| docs_post(&docs.channel, &forget_to_js(forget)));
    Some((notices.listening_when_asked(move || docs_listen_soon(&listen.channel)), channel))
}

/// A handle's end of the page's notices channel (which it joins on first
/// use), closed when its [`Notices`] go.
struct DocsChannel {
    channel: JsValue,
    _on_message: Closure<dyn FnMut(JsValue)>,
    _on_open: Closure<dyn FnMut()>,
}

impl Drop for DocsChannel {
    fn drop(&mut self) {
        docs_close(&self.channel);
    }
}

fn forget_to_js(forget: &Forget) -> JsValue {
    match forget {
        Forget::All => JsValue::NULL,
        Forget::Keys(keys) => {
            keys.iter().map(|k| JsValue::from(Uint8Array::from(k.as_slice()))).collect::<js_sys::Array>().into()
        }
    }
}

/// A notice as posted by [`forget_to_js`]; anything else (another build's,
/// or a page's own message on the channel) forgets everything, which is
/// always safe.
fn forget_from_js(data: &JsValue) -> Forget {
    if !js_sys::Array::is_array(data) {
        return Forget::All;
    }
    let mut keys = Vec::new();
    for k in js_sys::Array::from(data).iter() {
        match k.dyn_into::<Uint8Array>() {
            Ok(k) => keys.push(k.to_vec()),
            Err(_) => return Forget::All,
        }
    }
    Forget::Keys(keys)
}

impl IdbStore {
    /// The documents of a query whose result is index entries as they are
    /// stored ([`crate::db::Db::exact_find`]), as the JS array `find`
    /// resolves to: one read transaction and one `getAll`, the entries
    /// parsed by one `JSON.parse` in the page, with no call back into wasm.
    /// `None` for a limit of 0 or a transaction that cannot begin: `find`
    /// answers those.
    pub fn find_exact(&self, exact: &crate::db::ExactFind) -> Option<js_sys::Promise> {
        let offset = u32::try_from(exact.offset).ok()?;
        // To IndexedDB a count of 0 is all: a limit of 0 is `find`'s to answer.
        let count = u32::try_from(exact.enough().unwrap_or(0)).ok().filter(|&n| n > 0 || exact.limit.is_none())?;
        let tx = self.transaction(Some(&[Table::Entries]), web_sys::IdbTransactionMode::Readonly).ok()?;
        Some(idb_find_text(&tx.sys, &js_name(Table::Entries), &sys_range(&exact.range).ok()?, offset, count))
    }

    /// A transaction over `tables`, or over every object store (`None`).
    fn transaction(
        &self,
        tables: Option<&[Table]>,
        mode: web_sys::IdbTransactionMode,
    ) -> Result<IdbTx<'_>, StoreError> {
        if self.is_stale() {
            return Err(stale_error());
        }
        let uncommitted_write = mode == web_sys::IdbTransactionMode::Readwrite;
        let sys = JS_NAMES.with(|n| {
            let names = match tables {
                None => n.every_store.clone(),
                Some(tables) => {
                    let mut stores: Vec<Table> = tables.iter().map(|t| t.keys_of().unwrap_or(*t)).collect();
                    stores.sort_unstable_by_key(|t| t.name());
                    stores.dedup();
                    stores.into_iter().map(|t| n.table(t).clone()).collect()
                }
            };
            // Durability is a write's: a read asks for nothing.
            let (mode, durability) = match uncommitted_write {
                true => (&n.readwrite, n.durability(self.durability)),
                false => (&n.readonly, n.durability(Durability::Default)),
            };
            idb_transaction(&self.conn.db, &names, mode, durability)
        });
        let sys = sys.map_err(|e| dom_error("transaction", &e))?;
        Ok(IdbTx { sys, uncommitted_write, _store: std::marker::PhantomData })
    }
}

/// Which half of a range's entries one `getAll`-style request returns.
enum Half {
    Keys,
    Values,
}

impl IdbTx<'_> {
    fn store(&self, table: Table) -> Result<web_sys::IdbObjectStore, StoreError> {
        if let Some(of) = table.keys_of() {
            return Err(StoreError(format!("{} is an index of {}, not an object store", table.name(), of.name())));
        }
        idb_object_store(&self.sys, &js_name(table)).map_err(|e| dom_error("object store", &e))
    }

    /// The index of a keyed table's secondary keys.
    fn index(&self, table: Table) -> Result<web_sys::IdbIndex, StoreError> {
        idb_object_store(&self.sys, &js_name(table)).and_then(|s| s.index("by")).map_err(|e| dom_error("index", &e))
    }

    /// A read of one key: of a companion table, the primary key its
    /// secondary key names.
    fn get_request(&self, table: Table, key: &[u8]) -> Result<web_sys::IdbRequest, StoreError> {
        let k = js_bytes(key);
        let req = match table.keys_of() {
            Some(of) => self.index(of)?.get_key(&k),
            None => self.store(table)?.get(&k),
        };
        req.map_err(|e| dom_error("get", &e))
    }

    async fn get_all(
        &self,
        table: Table,
        range: &KeyRange,
        limit: Option<usize>,
        half: Half,
    ) -> Result<Vec<Vec<u8>>, StoreError> {
        if range.is_empty() || limit == Some(0) {
            return Ok(Vec::new());
        }
        let (query, n) = (sys_range(range)?, idb_limit(limit));
        if let Some(of) = table.keys_of() {
            // A companion's values are primary keys; its keys (the
            // secondary keys) IndexedDB gives only through a cursor.
            if let Half::Keys = half {
                return Err(StoreError(format!("the keys of index {} are not read in a page", table.name())));
            }
            let req = self.index(of)?.get_all_keys_with_key_and_limit(&query, n);
            return Ok(byte_list(request(req, "scan").await?));
        }
        let store = self.store(table)?;
        let req = match half {
            Half::Keys => store.get_all_keys_with_key_and_limit(&query, n),
            Half::Values => store.get_all_with_key_and_limit(&query, n),
        };
        let list = request(req, "scan").await?;
        Ok(byte_list(match (half, table.by()) {
            (Half::Values, Some(_)) => idb_values(&list),
            _ => list,
        }))
    }
}

/// IndexedDB treats a limit of 0 as "no limit".
fn idb_limit(limit: Option<usize>) -> u32 {
    limit.map_or(0, |l| u32::try_from(l).unwrap_or(u32::MAX))
}

impl IdbTx<'_> {
    /// The reads of `reads`, all asked in one call into JS before any is
    /// awaited and answered by one promise: a batch costs a call for each
    /// table it reads and one for each answer, not a request, a promise and
    /// a future each. The promise is watched from here on (a rejection no
    /// one awaits would be reported as unhandled).
    fn gets<'r>(&self, reads: impl Iterator<Item = (Table, &'r [u8])>) -> Result<JsFuture, StoreError> {
        let sources = js_sys::Array::new();
        let (mut tables, mut indexes, mut which): (Vec<Table>, Vec<u8>, Vec<u8>) = (Vec::new(), Vec::new(), Vec::new());
        let (mut bytes, mut ends) = (Vec::new(), Vec::new());
        for (table, key) in reads {
            let at = match tables.iter().position(|t| *t == table) {
                Some(at) => at,
                None => {
                    match table.keys_of() {
                        Some(of) => sources.push(&self.index(of)?.into()),
                        None => sources.push(&self.store(table)?.into()),
                    };
                    indexes.push(table.keys_of().is_some() as u8);
                    tables.push(table);
                    tables.len() - 1
                }
            };
            which.push(at as u8);
            bytes.extend_from_slice(key);
            ends.push(bytes.len() as u32);
        }
        if tables.len() == 1 {
            which.clear();
        }
        let promise = idb_gets(&sources, &indexes, &which, &bytes, &ends).map_err(|e| dom_error("get", &e))?;
        Ok(JsFuture::from(promise))
    }
}

impl IdbTx<'_> {
    /// [`IdbTx::gets`] of `reads`, each from its table.
    fn gets_each(&self, reads: &[(Table, Vec<u8>)]) -> Result<JsFuture, StoreError> {
        self.gets(reads.iter().map(|(t, k)| (*t, k.as_slice())))
    }
}

/// The answers of [`IdbTx::gets`], in the order asked.
async fn answers(gets: JsFuture) -> Result<Vec<JsValue>, StoreError> {
    let list = gets.await.map_err(|e| dom_error("get", &e))?;
    Ok(list.unchecked_into::<js_sys::Array>().iter().collect())
}

/// A read's bytes: a keyed table's record gives its value `v`.
fn value(table: Table, v: JsValue) -> Option<Vec<u8>> {
    if v.is_undefined() {
        return None;
    }
    Some(match table.by() {
        Some(_) => rust_bytes(&js_sys::Reflect::get(&v, &"v".into()).unwrap_or(JsValue::UNDEFINED)),
        None => rust_bytes(&v),
    })
}

fn values(reads: &[(Table, Vec<u8>)], results: Vec<JsValue>) -> Vec<Option<Vec<u8>>> {
    reads.iter().zip(results).map(|((table, _), v)| value(*table, v)).collect()
}

impl Tx for IdbTx<'_> {
    async fn get(&mut self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let v = request(Ok(self.get_request(table, key)?), "get").await?;
        Ok(value(table, v))
    }

    /// All the reads go out at once, in one call; IndexedDB answers them in order.
    async fn get_many(&mut self, table: Table, keys: &[Vec<u8>]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let got = answers(self.gets(keys.iter().map(|k| (table, k.as_slice())))?).await?;
        Ok(got.into_iter().map(|v| value(table, v)).collect())
    }

    async fn get_each(&mut self, reads: &[(Table, Vec<u8>)]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        Ok(values(reads, answers(self.gets_each(reads)?).await?))
    }

    async fn get_each_and_keys(
        &mut self,
        reads: &[(Table, Vec<u8>)],
        tables: &[(Table, usize)],
    ) -> Result<(Vec<Option<Vec<u8>>>, Vec<Vec<Vec<u8>>>), StoreError> {
        let all = sys_range(&KeyRange::all())?;
        let firsts = tables
            .iter()
            .map(|(t, limit)| {
                debug_assert!(*limit > 0, "a limit of 0 is none to IndexedDB");
                Ok(request(self.store(*t)?.get_all_keys_with_key_and_limit(&all, idb_limit(Some(*limit))), "scan"))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let requests = answers(self.gets_each(reads)?);
        let (gets, firsts) = futures::join!(requests, futures::future::join_all(firsts));
        let keys = firsts.into_iter().map(|f| Ok(byte_list(f?))).collect::<Result<_, StoreError>>()?;
        Ok((values(reads, gets?), keys))
    }

    // Writes are not awaited: IndexedDB runs a transaction's requests in order,
    // so later reads see them, and a failed write aborts the transaction, which
    // `commit` reports. Not waiting a task per write makes bulk writes fast.
    async fn put(&mut self, table: Table, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        if table.by().is_some() {
            return self.put_keyed(table, key, value, &[], &[]).await;
        }
        self.store(table)?
            .put_with_key(&js_value(table, value), &js_bytes(key))
            .map(drop)
            .map_err(|e| dom_error("put", &e))
    }

    /// One request: IndexedDB's backend updates the index `by` itself.
    async fn put_keyed(
        &mut self,
        table: Table,
        key: &[u8],
        value: &[u8],
        _old: &[Vec<u8>],
        new: &[Vec<u8>],
    ) -> Result<(), StoreError> {
        let k: js_sys::Array = new.iter().map(|k| js_bytes(k)).collect();
        idb_put_keyed(&self.store(table)?, &js_bytes(key), &js_bytes(value), &k).map_err(|e| dom_error("put", &e))
    }

    async fn clear(&mut self, table: Table) -> Result<(), StoreError> {
        self.store(table)?.clear().map(drop).map_err(|e| dom_error("clear", &e))
    }

    async fn delete(&mut self, table: Table, key: &[u8]) -> Result<(), StoreError> {
        self.store(table)?.delete(&js_bytes(key)).map(drop).map_err(|e| dom_error("delete", &e))
    }

    async fn scan(&mut self, table: Table, range: &KeyRange, limit: Option<usize>) -> Result<Entries, StoreError> {
        // getAll + getAllKeys beat a cursor by far; issued back to back in one
        // transaction they see the same records.
        let keys = self.get_all(table, range, limit, Half::Keys);
        let values = self.get_all(table, range, limit, Half::Values);
        let (keys, values) = futures::future::join(keys, values).await;
        Ok(keys?.into_iter().zip(values?).collect())
    }

    async fn scan_values(
        &mut self,
        table: Table,
        range: &KeyRange,
        limit: Option<usize>,
    ) -> Result<Vec<Vec<u8>>, StoreError> {
        self.get_all(table, range, limit, Half::Values).await
    }

    async fn scan_keys(
        &mut self,
        table: Table,
        range: &KeyRange,
        limit: Option<usize>,
    ) -> Result<Vec<Vec<u8>>, StoreError> {
        self.get_all(table, range, limit, Half::Keys).await
    }

    async fn count(&mut self, table: Table, range: &KeyRange) -> Result<usize, StoreError> {
        if range.is_empty() {
            return Ok(0);
        }
        let n = request(self.store(table)?.count_with_key(&sys_range(range)?), "count").await?;
        Ok(n.as_f64().unwrap_or(0.0) as usize)
    }

    /// Resolves once IndexedDB fires `complete`, i.e. the writes are durable.
    /// Asks IndexedDB to commit at once, as it is called, not when the
    /// future is first polled: the caller tells the other tabs while the
    /// backend flushes (`Db::commit`).
    fn commit(mut self) -> impl std::future::Future<Output = Result<(), StoreError>> {
        // A read has nothing to make durable.
        let done = std::mem::replace(&mut self.uncommitted_write, false).then(|| JsFuture::from(idb_commit(&self.sys)));
        async move {
            match done {
                Some(done) => done.await.map(drop).map_err(|e| dom_error("commit", &e)),
                None => Ok(()),
            }
        }
    }
}
