//! The JS face: `Database` and `Collection` for wasm-bindgen, and with the
//! `net` feature `Replicators`, `Collections` and the network's methods
//! (`net.rs`). Conversion only: values cross as JSON-compatible objects,
//! errors become JS `Error`s with a stable `code`, futures become promises,
//! JS listeners hear events. What the options mean is
//! [`crate::node::OpenOptions`]'s; the tabs and the page's node are
//! [`crate::node::tabs`]'. Without `net` (the `weftdb/local` package) the
//! same API minus the network: `Database.open` takes `{ durability }`
//! alone, `on` only `"stale"`, and the network's methods are not there.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::rc::Rc;

use js_sys::{Array, Function, Promise, Reflect, Uint8Array, JSON};
use serde::Serialize;
use serde_json::{json, Map, Value};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use crate::core::query::json_kind;
use crate::db::Db;
use crate::error::Error;
#[cfg(feature = "net")]
use crate::node::{tabs::Tabs, OpenOptions};
#[cfg(not(feature = "net"))]
use crate::store::Durability;
use crate::store::{IdbStore, StoreError};

mod log;
#[cfg(feature = "net")]
mod net;
#[cfg(feature = "net")]
mod verify;
#[cfg(feature = "net")]
pub use verify::{signed_parts, verify_blocks, webcrypto_judged};

// The package's TypeScript, beside what wasm-bindgen writes from the
// attributes below, kept in its own file (`npm/types.d.ts`, with the package's other hand-written parts) and written by
// hand: `Collection<T>` (a generic class), and, merged into wasm-bindgen's
// `Database` class, `Database.open` (its options optional), `collection<T>`
// and `on` (one payload type per event: a new event goes in `WeftEvents`).
// A new error code goes in `WeftErrorCode` (tests/pkg/package.test.mjs
// compares it with `Error::code`). The package is checked with `tsc
// --strict --target es2022`, whose lib has no `Symbol.dispose`:
// npm/finish.mjs takes out wasm-bindgen's `[Symbol.dispose]` lines and
// `WeftDisposable` puts them back where the lib has the symbol.
// The network's types are in `npm/types-net.d.ts`, merged into these
// (`WeftOpenOptions`, `WeftEvents`) where the build has the network.
#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &str = include_str!("../../npm/types.d.ts");

/// A JS `Error` carrying the error's stable code.
fn js_error(e: &Error) -> JsValue {
    let err = js_sys::Error::new(&e.to_string());
    let _ = Reflect::set(&err, &"code".into(), &e.code().into());
    err.into()
}

fn validation(message: impl Into<String>) -> Error {
    Error::Validation(crate::core::schema::ValidationError { field: None, message: message.into() })
}

/// Values cross the boundary as JSON text: one `JSON.parse` in the engine
/// is far cheaper than building an object property by property from wasm.
fn to_js<T: Serialize>(v: &T) -> JsValue {
    JSON::parse(&json_of(v)).expect("serde_json writes valid JSON")
}

fn json_of<T: Serialize + ?Sized>(v: &T) -> String {
    serde_json::to_string(v).expect("values serialise as JSON")
}

// `JSON.stringify` with every number that serde_json would not read
// exactly taken out into `floats` and written as its index there plus one
// half: serde_json (built without `float_roundtrip`, which would cost the
// page ~11 KB gzipped) reads many doubles of 16-17 digits one ULP off
// (985.6906946328695 as ...696), but reads a small integer and a half
// exactly, and JS's own doubles are exact. So is a safe integer's text;
// an integer past 2^53 is written in its shortest form (2^60 as
// 1152921504606847000), not its value, and is taken out too: put back as
// the integer it is (an `Int` field takes it) where an i64 or u64 holds
// it. A `Number` object, of this realm or another, is taken as its number
// (`JSON.stringify` unwraps it after the replacer); `toJSON`, a Date's,
// has run before the replacer sees its string.
#[wasm_bindgen(inline_js = "export function json_text(v, floats) {
  return JSON.stringify(v, (k, x) => {
    if (Object.prototype.toString.call(x) === '[object Number]') x = Number.prototype.valueOf.call(x);
    const exact = typeof x !== 'number' || !Number.isFinite(x) || Number.isSafeInteger(x);
    return exact ? x : floats.push(x) - 0.5;
  });
}")]
extern "C" {
    #[wasm_bindgen(catch)]
    fn json_text(v: &JsValue, floats: &Array) -> Result<JsValue, JsValue>;
}

/// JS input as JSON, through `JSON.stringify` (`json_text`): `Date`s
/// become RFC 3339 strings (for DateTime fields) as they do anywhere in
/// JSON, and every double is taken to the bit (but -0, which JSON writes
/// as 0).
fn from_js(v: JsValue, what: &str) -> Result<Value, Error> {
    let not_json = |why: String| validation(format!("{what} is not plain JSON data: {why}"));
    let floats = Array::new();
    let text = json_text(&v, &floats).map_err(|e| not_json(js_message(&e)))?;
    let text = text.as_string().ok_or_else(|| not_json("it is undefined".into()))?;
    let mut value = serde_json::from_str(&text).map_err(|e| not_json(e.to_string()))?;
    let mut next = 0;
    if !exact_floats(&mut value, &floats, &mut next) || next != floats.length() {
        // A number the replacer did not see (`JSON.rawJSON`'s text): not
        // one of the placeholders, in their order.
        return Err(not_json("a number in it was not read exactly".into()));
    }
    Ok(value)
}

/// Puts the doubles `json_text` took out back in place of their indexes,
/// which serde_json meets in the order `JSON.stringify` wrote them; false
/// if a double is not the next index (it was not the replacer's).
fn exact_floats(v: &mut Value, floats: &Array, next: &mut u32) -> bool {
    match v {
        Value::Number(n) if n.is_f64() => {
            let placeholder = f64::from(*next) + 0.5;
            // A whole one that an i64 or a u64 holds is that integer (`as`
            // is exact there; `u64::MAX as f64` is 2^64).
            let exact = floats.get(*next).as_f64().and_then(|x| match x.fract() == 0.0 {
                true if x >= i64::MIN as f64 && x < 0.0 => Some((x as i64).into()),
                true if x >= 0.0 && x < u64::MAX as f64 => Some((x as u64).into()),
                _ => serde_json::Number::from_f64(x),
            });
            match exact {
                Some(x) if n.as_f64() == Some(placeholder) => {
                    *n = x;
                    *next += 1;
                    true
                }
                _ => false,
            }
        }
        Value::Array(items) => items.iter_mut().all(|v| exact_floats(v, floats, next)),
        Value::Object(fields) => fields.values_mut().all(|v| exact_floats(v, floats, next)),
        _ => true,
    }
}

/// JSON text another tab wrote (serde_json's, every double in its
/// shortest form), read with its doubles to the bit: text that holds any
/// is parsed again by JS's `JSON.parse`, taken as [`from_js`] takes a
/// page's values, and its doubles put in place of serde_json's (its
/// integers, which JS would round past 2^53, are serde_json's).
#[cfg(feature = "net")]
pub(crate) fn json_exact(text: &str) -> Result<Value, String> {
    let mut value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    if !crate::db::has_float(&value) {
        return Ok(value);
    }
    let parsed = JSON::parse(text).map_err(|e| js_message(&e))?;
    take_doubles(&mut value, from_js(parsed, "a message").map_err(|e| e.to_string())?);
    Ok(value)
}

/// Each double of `v` as `exact` has it (the same JSON, read exactly).
#[cfg(feature = "net")]
fn take_doubles(v: &mut Value, exact: Value) {
    match (v, exact) {
        // Only where they differ: JSON has no -0, and JS reads a -0.0 of
        // serde_json's text as 0.
        (Value::Number(n), Value::Number(e)) if n.is_f64() && n.as_f64() != e.as_f64() => {
            if let Some(x) = e.as_f64().and_then(serde_json::Number::from_f64) {
                *n = x;
            }
        }
        (Value::Array(items), Value::Array(e)) => items.iter_mut().zip(e).for_each(|(v, e)| take_doubles(v, e)),
        (Value::Object(fields), Value::Object(mut e)) => {
            for (k, v) in fields.iter_mut() {
                if let Some(e) = e.remove(k) {
                    take_doubles(v, e);
                }
            }
        }
        _ => {}
    }
}

fn js_message(e: &JsValue) -> String {
    Reflect::get(e, &"message".into()).ok().and_then(|m| m.as_string()).unwrap_or_else(|| format!("{e:?}"))
}

fn object_from_js(v: JsValue, what: &str) -> Result<Map<String, Value>, Error> {
    match from_js(v, what)? {
        Value::Object(m) => Ok(m),
        other => Err(validation(format!("{what} must be an object of fields, got {}", json_kind(&other)))),
    }
}

fn promise<F, T>(f: F) -> Promise
where
    F: Future<Output = Result<T, Error>> + 'static,
    T: Into<JsValue>,
{
    // Boxed: `future_to_promise` is made once for every method, not once
    // per method's future.
    let f: std::pin::Pin<Box<dyn Future<Output = Result<JsValue, JsValue>>>> =
        Box::pin(async move { f.await.map(Into::into).map_err(|e| js_error(&e)) });
    future_to_promise(f)
}

/// The page's `on` listeners, by event (`peer`, `sync`, `status`, `stale`;
/// without the network only `stale`).
#[derive(Default)]
struct Listeners {
    all: RefCell<Vec<(u64, &'static str, Function)>>,
    next: Cell<u64>,
}

impl Listeners {
    #[cfg(feature = "net")]
    const EVENTS: [&'static str; 4] = ["peer", "sync", "status", "stale"];
    #[cfg(not(feature = "net"))]
    const EVENTS: [&'static str; 1] = ["stale"];

    fn on(&self, event: &'static str, f: Function) -> u64 {
        let id = self.next.get();
        self.next.set(id + 1);
        self.all.borrow_mut().push((id, event, f));
        id
    }

    /// Calls `event`'s listeners with `data` (`stale` with nothing).
    fn tell(&self, event: &str, data: Option<&Value>) {
        let ev = data.map(to_js);
        let listeners: Vec<Function> =
            self.all.borrow().iter().filter(|(_, e, _)| *e == event).map(|(_, _, f)| f.clone()).collect();
        for f in listeners {
            let told = match &ev {
                Some(ev) => f.call1(&JsValue::NULL, ev),
                None => f.call0(&JsValue::NULL),
            };
            if let Err(e) = told {
                web_sys::console::error_2(&format!("weftdb: a {event} listener threw").into(), &e);
            }
        }
    }
}

struct Inner {
    name: String,
    /// Shared with the page's node, which merges into it and publishes
    /// what JS writes.
    db: Rc<Db<IdbStore>>,
    closed: Cell<bool>,
    /// The page's network (its own node, or the leader tab's), when
    /// opened with `p2p`.
    #[cfg(feature = "net")]
    net: Option<Tabs>,
    /// The page's functions, which hold the page's database object: let go
    /// of on close.
    listeners: Rc<Listeners>,
}

impl Inner {
    fn check_open(&self) -> Result<(), Error> {
        if self.db.store().is_stale() {
            return Err(Error::Stale(format!(
                "database \"{}\" was upgraded or deleted in another tab: reload the page",
                self.name
            )));
        }
        if self.closed.get() {
            return Err(Error::Storage(StoreError(format!("database \"{}\" is closed", self.name))));
        }
        Ok(())
    }
}

/// A weftdb database: one IndexedDB database of this origin.
#[wasm_bindgen]
pub struct Database {
    inner: Rc<Inner>,
}

#[wasm_bindgen]
impl Database {
    /// Opens (creating on first use) the database `name`; with `peers`
    /// (or `p2p: true`) it also starts the page's libp2p node and dials them.
    #[wasm_bindgen(skip_typescript)] // typed in TS_TYPES: the options are optional
    pub fn open(name: String, options: JsValue) -> Promise {
        console_error_panic_hook::set_once();
        promise(async move {
            if name.is_empty() {
                return Err(validation("a database needs a name"));
            }
            let options = match options.is_undefined() || options.is_null() {
                true => Value::Null,
                false => from_js(options, "the open options")?,
            };
            #[cfg(feature = "net")]
            let options = OpenOptions::from_json(&options).and_then(OpenOptions::build)?;
            #[cfg(feature = "net")]
            let durability = options.durability;
            #[cfg(not(feature = "net"))]
            let durability = local_durability(&options)?;
            let store = IdbStore::open_with(&name, durability).await?;
            let db = Rc::new(Db::open(store).await?);
            // Another tab's upgrade may have closed the connection while
            // `Db::open` read it: no lead, no node, for a stale database.
            if db.store().is_stale() {
                return Err(Error::Stale(format!("database \"{name}\" was upgraded or deleted by another tab")));
            }
            let listeners = Rc::new(Listeners::default());
            #[cfg(feature = "net")]
            let net = match options.node {
                Some(config) => {
                    let tell = listeners.clone();
                    Some(Tabs::start(
                        &name,
                        db.clone(),
                        config,
                        Rc::new(move |e: &str, data: &Value| tell.tell(e, Some(data))),
                    )?)
                }
                None => None,
            };
            db.store().on_stale({
                // Weak: the database holds this callback, and must not
                // keep its own network (which holds it) alive.
                let listeners = Rc::downgrade(&listeners);
                #[cfg(feature = "net")]
                let net = net.as_ref().map(Tabs::downgrade);
                move || {
                    // A newer build leads now; this tab stays out of its way.
                    #[cfg(feature = "net")]
                    if let Some(net) = net.as_ref().and_then(|n| n.upgrade()) {
                        net.stop();
                    }
                    if let Some(listeners) = listeners.upgrade() {
                        listeners.tell("stale", None);
                    }
                }
            });
            let inner = Inner {
                name,
                db,
                closed: Cell::new(false),
                #[cfg(feature = "net")]
                net,
                listeners,
            };
            Ok(Database { inner: Rc::new(inner) })
        })
    }

    /// This replica's public key (64 hex digits), which signs its blocks:
    /// the form a collection's `@policy(writers: [...])` lists.
    #[wasm_bindgen(getter, js_name = authorKey)]
    pub fn author_key(&self) -> String {
        self.inner.db.author_key()
    }

    /// Listens to network events: `"peer"` (`WeftPeerEvent`: a peer
    /// connected or disconnected), `"sync"` (`WeftSyncEvent`: progress
    /// while a peer brings this replica up to date) and `"status"`
    /// (`WeftStatus`, when one of its fields changes), the same in every
    /// tab; and `"stale"`: a newer build in another tab upgraded the
    /// database (or a page deleted it), this tab's connection closed, and
    /// its calls now reject with `STALE`. Returns a function that stops
    /// listening.
    #[wasm_bindgen(skip_typescript)] // typed in TS_TYPES: one payload type per event (WeftEvents)
    pub fn on(&self, event: String, listener: Function) -> Result<JsValue, JsValue> {
        let Some(event) = Listeners::EVENTS.iter().copied().find(|e| *e == event) else {
            #[cfg(feature = "net")]
            let emits = "weftdb emits \"peer\", \"sync\", \"status\" and \"stale\"";
            #[cfg(not(feature = "net"))]
            let emits = "weftdb/local has no network and emits only \"stale\" (the \"weftdb\" package has the rest)";
            return Err(js_error(&validation(format!("unknown event \"{event}\": {emits}"))));
        };
        #[cfg(feature = "net")]
        if event != "stale" && self.inner.net.is_none() {
            // Without a network there are no peers: nothing will be called.
            return Ok(Closure::<dyn FnMut()>::new(|| {}).into_js_value());
        }
        let id = self.inner.listeners.on(event, listener);
        let listeners = self.inner.listeners.clone();
        Ok(Closure::<dyn FnMut()>::new(move || listeners.all.borrow_mut().retain(|(l, _, _)| *l != id)).into_js_value())
    }

    /// Deletes the database `name` and everything in it.
    /// @throws {WeftError} `STORAGE`
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn destroy(name: String) -> Promise {
        promise(async move {
            IdbStore::destroy(&name).await?;
            Ok(JsValue::UNDEFINED)
        })
    }

    #[wasm_bindgen(getter)]
    pub fn name(&self) -> String {
        self.inner.name.clone()
    }

    /// Adds the collections declared in GraphQL SDL; resolves to their names.
    /// @throws {WeftError} `SCHEMA_INVALID` (also: a collection that already exists), `STORAGE`
    #[wasm_bindgen(js_name = addSchema, unchecked_return_type = "Promise<string[]>")]
    pub fn add_schema(&self, sdl: String) -> Promise {
        let inner = self.inner.clone();
        promise(async move {
            inner.check_open()?;
            Ok(to_js(&inner.db.add_schema(&sdl).await?))
        })
    }

    /// The names of the collections defined so far.
    #[wasm_bindgen(js_name = collectionNames)]
    pub fn collection_names(&self) -> Vec<String> {
        self.inner.db.collections().iter().map(|c| c.name.clone()).collect()
    }

    /// A handle on a collection; operations on an unknown one reject with
    /// `UNKNOWN_COLLECTION`.
    #[wasm_bindgen(skip_typescript)] // typed in TS_TYPES: `collection<T>(name)`
    pub fn collection(&self, name: String) -> Collection {
        Collection { inner: self.inner.clone(), name: Rc::from(name) }
    }

    /// Every block of this replica, each a DAG-CBOR `Uint8Array`.
    /// @throws {WeftError} `STORAGE`
    #[wasm_bindgen(js_name = exportBlocks, unchecked_return_type = "Promise<Uint8Array[]>")]
    pub fn export_blocks(&self) -> Promise {
        let inner = self.inner.clone();
        promise(async move {
            inner.check_open()?;
            let blocks = inner.db.export().await?;
            Ok(blocks.iter().map(|b| Uint8Array::from(b.as_slice())).collect::<Array>())
        })
    }

    /// Merges blocks from another replica: every one that can be taken, and
    /// `refused` says which were not and why (nothing of those is stored).
    /// @throws {WeftError} `VALIDATION` (not an array of `Uint8Array`s), `STORAGE`
    #[wasm_bindgen(js_name = importBlocks, unchecked_return_type = "Promise<WeftImportReport>")]
    pub fn import_blocks(&self, #[wasm_bindgen(unchecked_param_type = "Uint8Array[]")] blocks: JsValue) -> Promise {
        let inner = self.inner.clone();
        promise(async move {
            inner.check_open()?;
            if !Array::is_array(&blocks) {
                return Err(validation("importBlocks expects an array of Uint8Array blocks"));
            }
            let mut bytes = Vec::new();
            for b in Array::from(&blocks).iter() {
                let b = b
                    .dyn_into::<Uint8Array>()
                    .map_err(|_| validation("importBlocks expects an array of Uint8Array blocks"))?;
                bytes.push(b.to_vec());
            }
            let r = inner.db.import(&bytes).await?;
            let refused: Vec<Value> = r
                .refused
                .iter()
                .map(|r| json!({ "cid": r.cid.to_string(), "code": r.code, "message": r.message }))
                .collect();
            let report =
                json!({ "merged": r.merged, "duplicate": r.duplicate, "pending": r.pending, "refused": refused });
            Ok(to_js(&report))
        })
    }

    /// Closes the database; later calls on it reject.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn close(&self) -> Promise {
        let inner = self.inner.clone();
        promise(async move {
            if !inner.closed.replace(true) {
                #[cfg(feature = "net")]
                if let Some(net) = inner.net.as_ref() {
                    net.stop();
                }
                inner.db.store().close();
                // Subscribers and `on` listeners are the page's functions,
                // which hold the page's database object: let go of them.
                inner.db.unsubscribe_all();
                inner.listeners.all.borrow_mut().clear();
            }
            Ok(JsValue::UNDEFINED)
        })
    }
}

/// The documents of one collection. Its TypeScript class is written by
/// hand in TS_TYPES (generic over the document type): a method added here
/// goes there too.
#[wasm_bindgen(skip_typescript)]
pub struct Collection {
    inner: Rc<Inner>,
    name: Rc<str>,
}

#[wasm_bindgen]
impl Collection {
    #[wasm_bindgen(getter)]
    pub fn name(&self) -> String {
        self.name.to_string()
    }

    /// Creates a document; resolves to its id.
    #[wasm_bindgen(unchecked_return_type = "Promise<string>")]
    pub fn create(&self, fields: JsValue) -> Promise {
        let (inner, col) = (self.inner.clone(), self.name.clone());
        promise(async move {
            inner.check_open()?;
            let fields = object_from_js(fields, "a new document")?;
            inner.db.create(&col, &fields).await
        })
    }

    /// Creates many documents in one transaction; resolves to their ids.
    #[wasm_bindgen(js_name = createMany, unchecked_return_type = "Promise<string[]>")]
    pub fn create_many(&self, docs: JsValue) -> Promise {
        let (inner, col) = (self.inner.clone(), self.name.clone());
        promise(async move {
            inner.check_open()?;
            if !Array::is_array(&docs) {
                return Err(validation("createMany expects an array of documents"));
            }
            let docs = Array::from(&docs)
                .iter()
                .enumerate()
                .map(|(i, d)| object_from_js(d, &format!("document {i}")))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(to_js(&inner.db.create_many(&col, &docs).await?))
        })
    }

    /// The document with this id, or null.
    #[wasm_bindgen(unchecked_return_type = "Promise<WeftDocument | null>")]
    pub fn get(&self, id: String) -> Promise {
        let (inner, col) = (self.inner.clone(), self.name.clone());
        promise(async move {
            inner.check_open()?;
            Ok(match inner.db.get(&col, &id).await? {
                Some(doc) => to_js(&doc),
                None => JsValue::NULL,
            })
        })
    }

    /// Sets the given fields; the others keep their values.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn update(&self, id: String, patch: JsValue) -> Promise {
        let (inner, col) = (self.inner.clone(), self.name.clone());
        promise(async move {
            inner.check_open()?;
            let patch = object_from_js(patch, "an update")?;
            inner.db.update(&col, &id, &patch).await?;
            Ok(JsValue::UNDEFINED)
        })
    }

    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn delete(&self, id: String) -> Promise {
        let (inner, col) = (self.inner.clone(), self.name.clone());
        promise(async move {
            inner.check_open()?;
            inner.db.delete(&col, &id).await?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// The documents matching a query: `{ filter, order, limit, offset }`.
    #[wasm_bindgen(unchecked_return_type = "Promise<WeftDocument[]>")]
    pub fn find(&self, #[wasm_bindgen(unchecked_param_type = "WeftQuery")] query: JsValue) -> Promise {
        let (inner, col) = (self.inner.clone(), self.name.clone());
        // A query whose result is index entries as they are stored is read
        // and parsed in the page, the promise IndexedDB's own (`Db::exact_find`).
        // Converted from JS once: the other path takes the query as read.
        let query = match inner.check_open().and_then(|()| query_from_js(query)) {
            Ok(q) => q,
            Err(e) => return Promise::reject(&js_error(&e)),
        };
        if let Some(found) = inner.db.exact_find(&col, &query).and_then(|exact| inner.db.store().find_exact(&exact)) {
            return found;
        }
        promise(async move {
            // A `close()` called meanwhile says so, as every other call's check does.
            inner.check_open()?;
            Ok(to_js(&inner.db.find(&col, &query).await?))
        })
    }

    /// How many documents match a query's filter.
    #[wasm_bindgen(unchecked_return_type = "Promise<number>")]
    pub fn count(&self, #[wasm_bindgen(unchecked_param_type = "WeftQuery")] query: JsValue) -> Promise {
        let (inner, col) = (self.inner.clone(), self.name.clone());
        promise(async move {
            inner.check_open()?;
            let query = query_from_js(query)?;
            Ok(JsValue::from(inner.db.count(&col, &query).await? as f64))
        })
    }

    /// The document's heads, as CID strings.
    #[wasm_bindgen(unchecked_return_type = "Promise<string[]>")]
    pub fn heads(&self, id: String) -> Promise {
        let (inner, col) = (self.inner.clone(), self.name.clone());
        promise(async move {
            inner.check_open()?;
            let heads: Vec<String> = inner.db.heads(&col, &id).await?.iter().map(|c| c.to_string()).collect();
            Ok(to_js(&heads))
        })
    }

    /// Calls `listener` after every committed change to this collection,
    /// once per document a transaction changed, with the document as it
    /// left it (ten updates of a document that a peer's batch brings at
    /// once are one event; a document it creates and deletes, none);
    /// returns a function that ends the subscription. A change from a peer
    /// is heard as soon as it is verified and merged, which may be before
    /// this tab's commit of it completes (should that fail, the peer sends
    /// it again); for the next change of a document this tab read or wrote
    /// lately, before its transaction begins, and if the stored document
    /// then merges otherwise (another tab's change not heard yet), the
    /// listener hears the stored outcome too. A `get` it makes shows the
    /// change.
    #[wasm_bindgen(unchecked_return_type = "() => void")]
    pub fn subscribe(
        &self,
        #[wasm_bindgen(unchecked_param_type = "(event: WeftChangeEvent) => void")] listener: Function,
    ) -> JsValue {
        let col = self.name.clone();
        let id = self.inner.db.subscribe(move |change| {
            if *change.collection != *col {
                return;
            }
            // One JSON text, parsed once: fewer crossings than an object
            // built field by field (a catch-up tells thousands).
            let doc = change.doc.as_ref().map_or_else(|| "null".into(), json_of);
            let ev = format!(r#"{{"type":"{}","id":{},"doc":{doc}}}"#, change.kind.as_str(), json_of(&change.id));
            let ev = JSON::parse(&ev).expect("serde_json writes valid JSON");
            if let Err(e) = listener.call1(&JsValue::NULL, &ev) {
                tracing::warn!(error = ?e, "a subscriber threw");
            }
        });
        let inner = self.inner.clone();
        Closure::<dyn FnMut()>::new(move || inner.db.unsubscribe(id)).into_js_value()
    }
}

fn query_from_js(q: JsValue) -> Result<Value, Error> {
    if q.is_undefined() || q.is_null() {
        return Ok(Value::Object(Map::new()));
    }
    from_js(q, "the query")
}

/// `Database.open`'s options without the network: `{ durability }`, and
/// `p2p: false` (which is what this build does anyway). The network's
/// options are refused with a word on where they are.
#[cfg(not(feature = "net"))]
fn local_durability(options: &Value) -> Result<Durability, Error> {
    let o = match options {
        Value::Null => return Ok(Durability::Default),
        Value::Object(o) => o,
        _ => return Err(validation("the open options must be an object: { durability }")),
    };
    for (k, v) in o {
        match (k.as_str(), v) {
            ("durability", _) | (_, Value::Null) | ("p2p", Value::Bool(false)) => {}
            ("peers" | "p2p" | "directUpgrade", _) => {
                return Err(validation(format!(
                    "open option \"{k}\": weftdb/local is built without the network; import \"weftdb\" for peers"
                )))
            }
            _ => return Err(validation(format!("unknown open option \"{k}\": expected durability"))),
        }
    }
    match o.get("durability") {
        None | Some(Value::Null) => Ok(Durability::Default),
        Some(Value::String(s)) => Durability::parse(s).ok_or_else(|| {
            validation(format!("durability must be \"default\", \"strict\" or \"relaxed\", not \"{s}\""))
        }),
        Some(_) => Err(validation("durability must be \"default\", \"strict\" or \"relaxed\"")),
    }
}
