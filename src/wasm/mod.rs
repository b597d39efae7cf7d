//! The JS face: `Database` and `Collection` for wasm-bindgen. Conversion
//! only: values cross as JSON-compatible objects, errors become JS `Error`s
//! with a stable `code`, futures become promises.

use std::cell::Cell;
use std::future::Future;
use std::rc::Rc;

use js_sys::{Array, Function, Object, Promise, Reflect, Uint8Array, JSON};
use serde::Serialize;
use serde_json::{Map, Value};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use crate::core::query::json_kind;
use crate::db::Db;
use crate::error::Error;
use crate::node::tabs::TabCommand as Command;
use crate::store::{Durability, IdbStore, StoreError};

mod log;
mod net;
mod status;
mod tabs;
use tabs::{Stale, Tabs};

// The package's TypeScript, beside what wasm-bindgen writes from the
// attributes below. Written here by hand: `Collection<T>` (a generic class),
// and, merged into wasm-bindgen's `Database` class, `Database.open` (its
// options optional), `collection<T>` and `on` (one payload type per event:
// a new event goes in `WeftEvents`). A new error code goes in `WeftErrorCode`
// (tests/pkg/package.test.mjs compares it with `Error::code`). The package
// is checked with `tsc --strict --target es2022`, whose lib has no
// `Symbol.dispose`: npm/finish.mjs takes out wasm-bindgen's
// `[Symbol.dispose]` lines and `WeftDisposable` puts them back where the lib
// has the symbol.
#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &str = r#"
/** A collection's fields when no type is given: check them before use. */
export type WeftFields = Record<string, unknown>;
/** A stored document: its fields and its `_id`. */
export type WeftDocument<T extends object = WeftFields> = T & { _id: string };
/** A new document's fields (weftdb makes the `_id`). `Date`s are stored as RFC 3339 strings, as JSON writes them. */
export type WeftNew<T extends object = WeftFields> = Omit<T, "_id">;
/** The fields an update sets; the others keep their values. */
export type WeftPatch<T extends object = WeftFields> = Partial<Omit<T, "_id">>;
/** A filter operand: a list field's operators take its elements too. */
export type WeftOperand<V> = NonNullable<V> extends readonly (infer E)[] ? E | NonNullable<V> : NonNullable<V>;
/** The operators on one field (DefraDB's). `%` and `_` are wildcards in `_like`, `_nlike` and `_ilike` (case-insensitive), a backslash escapes. */
export interface WeftOperators<V> {
  _eq?: WeftOperand<V> | null;
  _ne?: WeftOperand<V> | null;
  _gt?: WeftOperand<V>;
  _ge?: WeftOperand<V>;
  _lt?: WeftOperand<V>;
  _le?: WeftOperand<V>;
  _in?: Array<WeftOperand<V> | null>;
  _nin?: Array<WeftOperand<V> | null>;
  _like?: string;
  _nlike?: string;
  _ilike?: string;
}
/** A filter: field operators, all of which must hold, combined with `_and`, `_or` and `_not`. */
export type WeftFilter<T extends object = WeftFields> = (string extends keyof T
  ? { [field: string]: unknown }
  : { [K in keyof T & string]?: WeftOperators<T[K]> }) & {
  _id?: WeftOperators<string>;
  _and?: WeftFilter<T>[];
  _or?: WeftFilter<T>[];
  _not?: WeftFilter<T>;
};
/** Sort keys: `{ title: "ASC" }`, or several, most significant first; ties go by `_id`. */
export type WeftOrder<T extends object = WeftFields> = { [K in (keyof T & string) | "_id"]?: "ASC" | "DESC" };
/** A query: a filter, an order, paging. Without `order`, results come in `_id` order. */
export interface WeftQuery<T extends object = WeftFields> {
  filter?: WeftFilter<T>;
  order?: WeftOrder<T> | WeftOrder<T>[];
  limit?: number;
  offset?: number;
}
/** What a subscriber hears after each committed change. */
export interface WeftChangeEvent<T extends object = WeftFields> {
  type: "create" | "update" | "delete";
  id: string;
  /** The document after the change; null after a delete. */
  doc: WeftDocument<T> | null;
}
/** A block an import did not take (nothing of it was stored). */
export interface WeftRefusal { cid: string; code: WeftErrorCode; message: string }
export interface WeftImportReport { merged: number; duplicate: number; pending: number; refused: WeftRefusal[] }
/** How `Database.open` joins the network; without options it does not. */
export interface WeftOpenOptions {
  /** Multiaddrs (ending in /p2p/<peer id>) of peers to dial: a weft node's WebTransport, WebRTC-direct or WebSocket address. */
  peers?: string[];
  /** Run the page's libp2p node (default: true when peers are given). With false no network code runs. */
  p2p?: boolean;
  /**
   * Pages that meet through a node's relay upgrade their relayed connection to a
   * direct WebRTC one (default: true). With false they stay on the relay.
   */
  directUpgrade?: boolean;
  /**
   * How far each write is flushed before its promise resolves (IndexedDB's transaction
   * durability). "default" (the default): the browser's choice, relaxed in Chromium and
   * Firefox, as Dexie and RxDB use; "strict": flushed to disk, survives a power cut, at
   * about one disk flush per write; "relaxed": survives a crash of the tab or the browser,
   * not of the machine.
   */
  durability?: "default" | "strict" | "relaxed";
}
export type WeftTransport = "webtransport" | "webrtc-direct" | "websocket" | "webrtc" | "relay" | "tcp" | "quic" | "other";
export interface WeftConnection { peerId: string; addr: string; transport: WeftTransport; direction: "inbound" | "outbound" }
export interface WeftReplicatorSpec { collection: string; peer: string; docs?: string[] }
/** A replicator as `replicators.set` stored it. */
export interface WeftReplicatorSet { peerId: string; collection: string; docs: string[] | null; addrs: string[] }
/** A block the replicator's peer refused; it left the queue. `code` is the peer's. */
export interface WeftRefusedBlock { cid: string; code: string; reason: string }
export interface WeftReplicator { peerId: string; collection: string; docs: string[] | null; addrs: string[]; queued: number; refused: WeftRefusedBlock[] }
export interface WeftNetworkStats {
  /** Blocks taken from peers, and their size in bytes (duplicates included). */
  received: number; bytesReceived: number;
  sent: number; served: number; invalid: number; refused: number; decodeErrors: number; oversized: number;
  fetchFailures: number; orphansDropped: number; pendingDropped: number;
  /** Relayed connections to other pages that became direct WebRTC ones, and offers that failed. */
  directUpgrades: number; directFailures: number;
  /** Peers disconnected (and refused for ten minutes) for sending invalid data. */
  peersDropped: number;
  /**
   * Requests dropped because their peer was over its rate; requests that never
   * arrived whole; blocks sent again (taken without a transaction); blocks and
   * head exchanges withheld from peers we do not share them with.
   */
  rateLimited: number; stalled: number; replayed: number; withheld: number;
  pending: number; peers: string[]; mesh: Record<string, number>;
  /**
   * This tab's part: "leader" runs the node for every tab of the origin that
   * opened the database, a "follower" reaches the network through it, and
   * "alone" runs its own node (no Web Locks or BroadcastChannel here).
   */
  tabs: "alone" | "leader" | "follower";
}
export interface WeftPeerEvent { type: "connected" | "disconnected"; peerId: string; transport: WeftTransport }
/** After each batch a peer pushes while bringing this replica up to date. */
export interface WeftSyncEvent { peerId: string; blocksReceived: number; blocksWanted: number }
/** The events of `db.on(event, listener)`, each with what its listener is given. */
export interface WeftEvents {
  /** A peer connected or disconnected. */
  peer: WeftPeerEvent;
  /** Progress while a peer brings this replica up to date. */
  sync: WeftSyncEvent;
  /** One of the fields of `db.status()` changed. */
  status: WeftStatus;
  /** A newer build in another tab upgraded the database (or a page deleted it): this tab's connection closed and its calls now reject with `STALE`; reload the page. */
  stale: undefined;
}
/**
 * The code of every error weftdb rejects or throws with:
 * - `SCHEMA_INVALID`: bad GraphQL SDL, or a collection that already exists;
 * - `VALIDATION`: a document, patch, query or option that does not fit (also: a document too large for one 1 MiB block, or nested more than 64 deep);
 * - `UNKNOWN_COLLECTION`: no such collection (add it with `addSchema`);
 * - `NOT_FOUND`: no such document (or it was deleted), replicator or subscribed collection;
 * - `BLOCK_INVALID`: a block that does not decode or verify;
 * - `UNAUTHORIZED`: the collection's write policy does not let this replica's key write;
 * - `STORAGE`: IndexedDB failed, or the database is closed;
 * - `NETWORK`: the page's network node could not start or has stopped;
 * - `BAD_REQUEST`: the page's node refused a command it cannot read (a bad multiaddr, a replicator to itself);
 * - `STALE`: a newer build in another tab upgraded the database (or a page deleted it): this tab's connection is closed, reload;
 * - `BLOCKED`: another tab kept the database open through a deletion or an upgrade (or an open waited behind such a deletion).
 */
export type WeftErrorCode =
  | "SCHEMA_INVALID" | "VALIDATION" | "UNKNOWN_COLLECTION" | "NOT_FOUND" | "BLOCK_INVALID" | "UNAUTHORIZED"
  | "STORAGE" | "NETWORK" | "BAD_REQUEST" | "STALE" | "BLOCKED";
/** Every error weftdb rejects or throws with: an `Error` with a stable `code`. */
export interface WeftError extends Error { code: WeftErrorCode }
/** `using db = ...` where the TypeScript lib has `Symbol.dispose` (esnext, es2025 and later); nothing where it does not. */
type WeftDisposable = SymbolConstructor extends { readonly dispose: infer S extends symbol } ? { [K in S]: () => void } : {};

/**
 * The documents of one collection, typed by `T` when `db.collection<T>(name)`
 * gave one (`T` is not checked at run time: the schema is).
 */
export class Collection<T extends object = WeftFields> {
  private constructor();
  free(): void;
  readonly name: string;
  /**
   * Creates a document; resolves to its id.
   * @throws {WeftError} `VALIDATION`, `UNKNOWN_COLLECTION`, `UNAUTHORIZED`, `STORAGE`
   */
  create(fields: WeftNew<T>): Promise<string>;
  /**
   * Creates many documents in one transaction (all or none); resolves to their ids.
   * @throws {WeftError} `VALIDATION`, `UNKNOWN_COLLECTION`, `UNAUTHORIZED`, `STORAGE`
   */
  createMany(docs: WeftNew<T>[]): Promise<string[]>;
  /**
   * The document with this id, or null.
   * @throws {WeftError} `UNKNOWN_COLLECTION`, `STORAGE`
   */
  get(id: string): Promise<WeftDocument<T> | null>;
  /**
   * Sets the given fields; the others keep their values.
   * @throws {WeftError} `NOT_FOUND`, `VALIDATION`, `UNKNOWN_COLLECTION`, `UNAUTHORIZED`, `STORAGE`
   */
  update(id: string, patch: WeftPatch<T>): Promise<void>;
  /**
   * Deletes the document.
   * @throws {WeftError} `NOT_FOUND`, `UNKNOWN_COLLECTION`, `UNAUTHORIZED`, `STORAGE`
   */
  delete(id: string): Promise<void>;
  /**
   * The documents matching a query (all of them without one).
   * @throws {WeftError} `VALIDATION` (a field or operator the schema lacks), `UNKNOWN_COLLECTION`, `STORAGE`
   */
  find(query?: WeftQuery<T>): Promise<WeftDocument<T>[]>;
  /**
   * How many documents match a query's filter (all of them without one).
   * @throws {WeftError} `VALIDATION`, `UNKNOWN_COLLECTION`, `STORAGE`
   */
  count(query?: WeftQuery<T>): Promise<number>;
  /**
   * The document's heads, as CID strings.
   * @throws {WeftError} `NOT_FOUND`, `UNKNOWN_COLLECTION`, `STORAGE`
   */
  heads(id: string): Promise<string[]>;
  /**
   * Calls `listener` after every committed change to this collection, local
   * or from a peer; returns a function that ends the subscription. Never
   * throws a {@link WeftError}: a listener that throws is logged and skipped.
   */
  subscribe(listener: (event: WeftChangeEvent<T>) => void): () => void;
}
export interface Collection<T extends object = WeftFields> extends WeftDisposable {}

export interface Collections extends WeftDisposable {}
export interface Replicators extends WeftDisposable {}
export interface Database extends WeftDisposable {
  /**
   * A handle on a collection, its documents typed as `T` (unchecked: the
   * schema checks them). Operations on an unknown collection reject with
   * `UNKNOWN_COLLECTION`.
   */
  collection<T extends object = WeftFields>(name: string): Collection<T>;
  /**
   * Listens to network events (see {@link WeftEvents}); returns a function
   * that stops listening. Without `p2p` none come.
   * @throws {WeftError} `VALIDATION` for an event weftdb does not emit
   */
  on<E extends keyof WeftEvents>(event: E, listener: (event: WeftEvents[E]) => void): () => void;
}
export declare namespace Database {
  /**
   * Opens (creating on first use) the database `name`, one IndexedDB
   * database of this origin; with `peers` (or `p2p: true`) it also starts
   * the page's libp2p node and dials them.
   * @throws {WeftError} `VALIDATION` (bad options), `STORAGE`, `NETWORK`
   */
  function open(name: string, options?: WeftOpenOptions): Promise<Database>;
}
"#;

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
    let text = serde_json::to_string(v).expect("values serialise as JSON");
    JSON::parse(&text).expect("serde_json writes valid JSON")
}

/// JS input as JSON, through `JSON.stringify`: `Date`s become RFC 3339
/// strings (for DateTime fields) as they do anywhere in JSON.
fn from_js(v: JsValue, what: &str) -> Result<Value, Error> {
    let not_json = |why: String| validation(format!("{what} is not plain JSON data: {why}"));
    let text = JSON::stringify(&v).map_err(|e| not_json(js_message(&e)))?;
    let text = text.as_string().ok_or_else(|| not_json("it is undefined".into()))?;
    serde_json::from_str(&text).map_err(|e| not_json(e.to_string()))
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
    future_to_promise(async move { f.await.map(Into::into).map_err(|e| js_error(&e)) })
}

struct Inner {
    name: String,
    /// Shared with the page's node, which merges into it and publishes
    /// what JS writes.
    db: Rc<Db<IdbStore>>,
    closed: Cell<bool>,
    /// The page's network (its own node, or the leader tab's), when
    /// opened with `p2p`.
    net: Option<Tabs>,
    stale: Rc<Stale>,
}

impl Inner {
    /// The page's node, for what needs the network.
    fn net(&self) -> Result<&Tabs, Error> {
        self.check_open()?;
        self.net
            .as_ref()
            .ok_or_else(|| validation("this database was opened without p2p: open it with { peers } or { p2p: true }"))
    }

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
            let options = OpenOptions::from_js(options)?;
            let store = IdbStore::open_with(&name, options.durability).await?;
            let db = Rc::new(Db::open(store).await?);
            // Another tab's upgrade may have closed the connection while
            // `Db::open` read it: no lead, no node, for a stale database.
            if db.store().is_stale() {
                return Err(Error::Stale(format!("database \"{name}\" was upgraded or deleted by another tab")));
            }
            let net = match options.p2p {
                true => Some(Tabs::start(&name, db.clone(), options.peers, options.direct_upgrade)?),
                false => None,
            };
            let stale = Rc::new(Stale::default());
            db.store().on_stale({
                // Weak: the database holds this callback, and must not
                // keep its own network (which holds it) alive.
                let (stale, net) = (Rc::downgrade(&stale), net.as_ref().map(Tabs::downgrade));
                move || {
                    // A newer build leads now; this tab stays out of its way.
                    if let Some(net) = net.as_ref().and_then(|n| n.upgrade()) {
                        net.stop();
                    }
                    if let Some(stale) = stale.upgrade() {
                        stale.tell();
                    }
                }
            });
            Ok(Database { inner: Rc::new(Inner { name, db, closed: Cell::new(false), net, stale }) })
        })
    }

    /// This replica's libp2p peer id (its block-signing key), the same
    /// after every reload.
    #[wasm_bindgen(getter, js_name = peerId)]
    pub fn peer_id(&self) -> String {
        crate::node::keypair_of(&self.inner.db).public().to_peer_id().to_string()
    }

    /// This replica's public key (64 hex digits), which signs its blocks:
    /// the form a collection's `@policy(writers: [...])` lists.
    #[wasm_bindgen(getter, js_name = authorKey)]
    pub fn author_key(&self) -> String {
        self.inner.db.author_key()
    }

    /// What the page's node has done: blocks and block bytes received
    /// from peers, sent, refused, direct upgrades, and the gossip mesh
    /// (the same counters as a native node's `p2p/stats`).
    /// @throws {WeftError} `VALIDATION` (opened without p2p), `NETWORK`, `STORAGE`
    #[wasm_bindgen(js_name = networkStats, unchecked_return_type = "Promise<WeftNetworkStats>")]
    pub fn network_stats(&self) -> Promise {
        node_call(&self.inner, || Ok(Command::Stats))
    }

    /// The open connections of the page's node (none without `p2p`).
    /// @throws {WeftError} `NETWORK`, `STORAGE` (closed)
    #[wasm_bindgen(unchecked_return_type = "Promise<WeftConnection[]>")]
    pub fn connections(&self) -> Promise {
        let inner = self.inner.clone();
        promise(async move {
            inner.check_open()?;
            match inner.net.as_ref() {
                Some(net) => Ok(to_js(&net.call(Command::Connections).await?)),
                None => Ok(Array::new().into()),
            }
        })
    }

    /// Dials a peer's multiaddr (ending in `/p2p/<peer id>`).
    /// @throws {WeftError} `VALIDATION` (not a multiaddr, or opened without p2p), `BAD_REQUEST`, `NETWORK`
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn dial(&self, addr: String) -> Promise {
        let inner = self.inner.clone();
        promise(async move {
            inner.check_open()?;
            parse_multiaddr(&addr)?;
            inner.net()?.call(Command::Dial { addr }).await?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Active replication: `set`, `list`, `delete` (kept across reloads).
    #[wasm_bindgen(getter)]
    pub fn replicators(&self) -> Replicators {
        Replicators { inner: self.inner.clone() }
    }

    /// Collection topics: `subscribe`, `unsubscribe`, `list`.
    #[wasm_bindgen(getter)]
    pub fn collections(&self) -> Collections {
        Collections { inner: self.inner.clone() }
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
        if event == "stale" {
            let id = self.inner.stale.on(listener);
            let stale = self.inner.stale.clone();
            return Ok(Closure::<dyn FnMut()>::new(move || stale.off(id)).into_js_value());
        }
        let Some(event) = net::EVENTS.iter().copied().find(|e| *e == event) else {
            return Err(js_error(&validation(format!(
                "unknown event \"{event}\": weftdb emits \"peer\", \"sync\", \"status\" and \"stale\""
            ))));
        };
        let Some(net) = self.inner.net.as_ref() else {
            // Without a network there are no peers: nothing will be called.
            return Ok(Closure::<dyn FnMut()>::new(|| {}).into_js_value());
        };
        let id = net.on(event, listener);
        let inner = self.inner.clone();
        Ok(Closure::<dyn FnMut()>::new(move || {
            if let Some(net) = inner.net.as_ref() {
                net.off(id);
            }
        })
        .into_js_value())
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
            let report = inner.db.import(&bytes).await?;
            let out = Object::new();
            for (k, v) in [("merged", report.merged), ("duplicate", report.duplicate), ("pending", report.pending)] {
                let _ = Reflect::set(&out, &k.into(), &(v as f64).into());
            }
            let refused = Array::new();
            for r in &report.refused {
                let o = Object::new();
                let _ = Reflect::set(&o, &"cid".into(), &r.cid.to_string().into());
                let _ = Reflect::set(&o, &"code".into(), &r.code.into());
                let _ = Reflect::set(&o, &"message".into(), &r.message.as_str().into());
                refused.push(&o);
            }
            let _ = Reflect::set(&out, &"refused".into(), &refused);
            Ok(JsValue::from(out))
        })
    }

    /// Closes the database; later calls on it reject.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn close(&self) -> Promise {
        let inner = self.inner.clone();
        promise(async move {
            if !inner.closed.replace(true) {
                if let Some(net) = inner.net.as_ref() {
                    net.stop();
                    net.forget_listeners();
                }
                inner.db.store().close();
                // Subscribers and `on` listeners are the page's functions,
                // which hold the page's database object: let go of them.
                inner.db.unsubscribe_all();
                inner.stale.clear();
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
        promise(async move {
            inner.check_open()?;
            let query = query_from_js(query)?;
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

    /// Calls `listener` after every committed change to this collection;
    /// returns a function that ends the subscription.
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
            let ev = Object::new();
            let _ = Reflect::set(&ev, &"type".into(), &change.kind.as_str().into());
            let _ = Reflect::set(&ev, &"id".into(), &change.id.as_str().into());
            let doc = change.doc.as_ref().map_or(JsValue::NULL, to_js);
            let _ = Reflect::set(&ev, &"doc".into(), &doc);
            if let Err(e) = listener.call1(&JsValue::NULL, &ev) {
                tracing::warn!(error = ?e, "a subscriber threw");
            }
        });
        let inner = self.inner.clone();
        Closure::<dyn FnMut()>::new(move || inner.db.unsubscribe(id)).into_js_value()
    }
}

/// Runs a command on the page's node; resolves to its JSON answer.
fn node_call(inner: &Rc<Inner>, command: impl FnOnce() -> Result<Command, Error> + 'static) -> Promise {
    let inner = inner.clone();
    promise(async move {
        let command = command()?;
        Ok(to_js(&inner.net()?.call(command).await?))
    })
}

fn string_field(o: &Map<String, Value>, key: &str, what: &str) -> Result<String, Error> {
    match o.get(key) {
        Some(Value::String(s)) => Ok(s.clone()),
        _ => Err(validation(format!("{what} needs \"{key}\" as a string"))),
    }
}

/// A page's replicators: each pushes every change in its scope to one peer
/// until that peer acknowledges it, across reloads.
#[wasm_bindgen]
pub struct Replicators {
    inner: Rc<Inner>,
}

#[wasm_bindgen]
impl Replicators {
    /// Pushes every change of `collection` (or of its `docs`) to `peer`
    /// (`"<multiaddr>/p2p/<id>"`) until acknowledged, across reloads.
    /// @throws {WeftError} `BAD_REQUEST` (not a multiaddr with /p2p/, or this replica), `UNKNOWN_COLLECTION`, `VALIDATION`, `NETWORK`, `STORAGE`
    #[wasm_bindgen(unchecked_return_type = "Promise<WeftReplicatorSet>")]
    pub fn set(&self, #[wasm_bindgen(unchecked_param_type = "WeftReplicatorSpec")] spec: JsValue) -> Promise {
        node_call(&self.inner, move || {
            let o = object_from_js(spec, "the replicator")?;
            let docs = match o.get("docs") {
                None | Some(Value::Null) => None,
                Some(Value::Array(ids)) => Some(
                    ids.iter()
                        .map(|v| v.as_str().map(str::to_owned).ok_or_else(|| validation("docs must be document ids")))
                        .collect::<Result<_, _>>()?,
                ),
                Some(_) => return Err(validation("docs must be an array of document ids")),
            };
            let collection = string_field(&o, "collection", "a replicator")?;
            let peer = string_field(&o, "peer", "a replicator")?;
            Ok(Command::SetReplicator { collection, docs, peer })
        })
    }

    /// Every replicator, with its queued and refused blocks.
    /// @throws {WeftError} `VALIDATION` (opened without p2p), `NETWORK`, `STORAGE`
    #[wasm_bindgen(unchecked_return_type = "Promise<WeftReplicator[]>")]
    pub fn list(&self) -> Promise {
        node_call(&self.inner, || Ok(Command::ListReplicators))
    }

    /// Stops replicating `collection` to `peerId` and drops its queue.
    /// @throws {WeftError} `NOT_FOUND`, `BAD_REQUEST` (not a peer id), `VALIDATION`, `NETWORK`, `STORAGE`
    #[wasm_bindgen(unchecked_return_type = "Promise<{ peerId: string; collection: string; deleted: true }>")]
    pub fn delete(
        &self,
        #[wasm_bindgen(unchecked_param_type = "{ collection: string; peerId: string }")] spec: JsValue,
    ) -> Promise {
        node_call(&self.inner, move || {
            let o = object_from_js(spec, "the replicator")?;
            let collection = string_field(&o, "collection", "deleting a replicator")?;
            let peer_id = string_field(&o, "peerId", "deleting a replicator")?;
            Ok(Command::DeleteReplicator { collection, peer_id })
        })
    }
}

/// The collections whose topic the page's node holds: it gets every change
/// to them that any peer on the topic publishes, and swaps heads for them
/// with every peer it meets.
#[wasm_bindgen]
pub struct Collections {
    inner: Rc<Inner>,
}

#[wasm_bindgen]
impl Collections {
    /// Holds the collection's topic (kept across reloads); resolves to every
    /// collection held.
    /// @throws {WeftError} `UNKNOWN_COLLECTION`, `VALIDATION` (opened without p2p), `NETWORK`, `STORAGE`
    #[wasm_bindgen(unchecked_return_type = "Promise<string[]>")]
    pub fn subscribe(&self, collection: String) -> Promise {
        node_call(&self.inner, move || Ok(Command::AddP2pCollection { collection }))
    }

    /// Leaves the collection's topic; resolves to the collections still held.
    /// @throws {WeftError} `NOT_FOUND` (not subscribed), `VALIDATION`, `NETWORK`, `STORAGE`
    #[wasm_bindgen(unchecked_return_type = "Promise<string[]>")]
    pub fn unsubscribe(&self, collection: String) -> Promise {
        node_call(&self.inner, move || Ok(Command::RemoveP2pCollection { collection }))
    }

    /// The collections whose topic the page's node holds.
    /// @throws {WeftError} `VALIDATION` (opened without p2p), `NETWORK`
    #[wasm_bindgen(unchecked_return_type = "Promise<string[]>")]
    pub fn list(&self) -> Promise {
        node_call(&self.inner, || Ok(Command::ListP2pCollections))
    }
}

fn parse_multiaddr(addr: &str) -> Result<libp2p::Multiaddr, Error> {
    addr.parse().map_err(|e| validation(format!("not a multiaddr: {addr}: {e}")))
}

struct OpenOptions {
    p2p: bool,
    peers: Vec<libp2p::Multiaddr>,
    direct_upgrade: bool,
    durability: Durability,
}

impl OpenOptions {
    fn from_js(v: JsValue) -> Result<Self, Error> {
        if v.is_undefined() || v.is_null() {
            return Ok(OpenOptions {
                p2p: false,
                peers: Vec::new(),
                direct_upgrade: true,
                durability: Durability::Default,
            });
        }
        const KNOWN: [&str; 4] = ["peers", "p2p", "directUpgrade", "durability"];
        let Value::Object(o) = from_js(v, "the open options")? else {
            return Err(validation("the open options must be an object: { peers, p2p, directUpgrade, durability }"));
        };
        if let Some(k) = o.keys().find(|k| !KNOWN.contains(&k.as_str())) {
            return Err(validation(format!("unknown open option \"{k}\": expected {}", KNOWN.join(", "))));
        }
        let peers = match o.get("peers") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(list)) => list
                .iter()
                .map(|p| {
                    p.as_str().ok_or_else(|| validation("peers must be multiaddr strings")).and_then(parse_multiaddr)
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(validation("peers must be an array of multiaddr strings")),
        };
        let p2p = match o.get("p2p") {
            None | Some(Value::Null) => !peers.is_empty(),
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(validation("p2p must be true or false")),
        };
        if !p2p && !peers.is_empty() {
            return Err(validation("peers were given with p2p: false"));
        }
        let direct_upgrade = match o.get("directUpgrade") {
            None | Some(Value::Null) => true,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(validation("directUpgrade must be true or false")),
        };
        let durability = match o.get("durability") {
            None | Some(Value::Null) => Durability::Default,
            Some(Value::String(s)) => Durability::parse(s).ok_or_else(|| {
                validation(format!("durability must be \"default\", \"strict\" or \"relaxed\", not \"{s}\""))
            })?,
            Some(_) => return Err(validation("durability must be \"default\", \"strict\" or \"relaxed\"")),
        };
        Ok(OpenOptions { p2p, peers, direct_upgrade, durability })
    }
}

fn query_from_js(q: JsValue) -> Result<Value, Error> {
    if q.is_undefined() || q.is_null() {
        return Ok(Value::Object(Map::new()));
    }
    from_js(q, "the query")
}
