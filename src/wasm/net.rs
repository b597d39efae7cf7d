//! The network's part of the JS face (feature `net`): the page's node
//! status, stats, connections and dials, `Replicators` and `Collections`.
//! The `weftdb/local` package is built without it.

use std::rc::Rc;

use js_sys::{Array, Promise};
use serde_json::{Map, Value};
use wasm_bindgen::prelude::*;

use super::{object_from_js, promise, to_js, validation, Database, Inner};
use crate::error::Error;
use crate::node::browser::browser_online;
use crate::node::parse_multiaddr;
use crate::node::tabs::{Role, TabCommand as Command, Tabs};

impl Inner {
    /// The page's node, for what needs the network.
    fn net(&self) -> Result<&Tabs, Error> {
        self.check_open()?;
        self.net
            .as_ref()
            .ok_or_else(|| validation("this database was opened without p2p: open it with { peers } or { p2p: true }"))
    }
}

#[wasm_bindgen]
impl Database {
    /// This replica's libp2p peer id (its block-signing key), the same
    /// after every reload.
    #[wasm_bindgen(getter, js_name = peerId)]
    pub fn peer_id(&self) -> String {
        crate::node::keypair_of(&self.inner.db).public().to_peer_id().to_string()
    }

    /// The page's network at a glance: `{ online, leader, peers,
    /// queuedBlocks, lastSync }`. `db.on("status", f)` calls `f` with the
    /// same object whenever one of them changes. Without `p2p` it reports
    /// the browser's online state, no peers and nothing queued.
    #[wasm_bindgen(unchecked_return_type = "WeftStatus")]
    pub fn status(&self) -> JsValue {
        match self.inner.net.as_ref() {
            Some(tabs) => to_js(&tabs.status()),
            None => to_js(&Role::Alone.status(None, browser_online())),
        }
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
            parse_multiaddr(&addr).map_err(Error::from)?;
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

// The network's TypeScript (`WeftStatus`, `WeftNetworkStats`, ...), and its
// part of `WeftOpenOptions` and `WeftEvents` (interfaces TypeScript merges
// with npm/types.d.ts's).
#[wasm_bindgen(typescript_custom_section)]
const TS_NET_TYPES: &str = include_str!("../../npm/types-net.d.ts");
