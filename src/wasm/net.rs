//! The JS side of the page's node ([`crate::node::browser`]): commands as
//! promises, `peer` events as callbacks.
//!
//! Its identity is the database's signing key, kept in IndexedDB, so the
//! peer id is the same after every reload. A page cannot listen: it dials
//! the peers it is given over WebTransport, WebRTC-direct or WebSocket,
//! and keeps them connected.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use js_sys::Function;
use libp2p::{Multiaddr, PeerId};
use serde_json::{json, Value};
use wasm_bindgen::JsValue;

use super::to_js;
use crate::error::Error;
use crate::node::browser::BrowserNode;
use crate::node::{Command, CommandError, NodeConfig, NodeStore, PeerEvent};
use crate::Db;

#[derive(Default)]
struct Listeners {
    peer: RefCell<Vec<(u64, Function)>>,
    next: Cell<u64>,
}

/// A running page node.
pub(super) struct Net {
    node: BrowserNode,
    listeners: Rc<Listeners>,
}

impl Net {
    pub(super) fn start(db: Rc<Db<NodeStore>>, peers: Vec<Multiaddr>) -> Result<Net, Error> {
        let listeners = Rc::new(Listeners::default());
        let tell = listeners.clone();
        let on_peer = Rc::new(move |ev: PeerEvent, peer: PeerId, transport: &'static str| {
            let kind = match ev {
                PeerEvent::Connected => "connected",
                PeerEvent::Disconnected => "disconnected",
            };
            let ev = to_js(&json!({ "type": kind, "peerId": peer.to_string(), "transport": transport }));
            let peer_listeners: Vec<Function> = tell.peer.borrow().iter().map(|(_, f)| f.clone()).collect();
            for f in peer_listeners {
                if let Err(e) = f.call1(&JsValue::NULL, &ev) {
                    web_sys::console::error_2(&"weftdb: a peer listener threw".into(), &e);
                }
            }
        });
        let config =
            NodeConfig { peers, listen: Vec::new(), mdns: false, discovery: true, api: None, ..NodeConfig::new("") };
        let node = BrowserNode::start(db, config, on_peer).map_err(|e| Error::Network(e.to_string()))?;
        Ok(Net { node, listeners })
    }

    /// Runs a node command; its refusals become errors with their code.
    pub(super) async fn call(&self, command: Command) -> Result<Value, Error> {
        self.node.call(command).await.map_err(command_error)
    }

    /// Calls `f` with `{type: "connected"|"disconnected", peerId, transport}`;
    /// returns the id that [`Net::off_peer`] takes.
    pub(super) fn on_peer(&self, f: Function) -> u64 {
        let id = self.listeners.next.get();
        self.listeners.next.set(id + 1);
        self.listeners.peer.borrow_mut().push((id, f));
        id
    }

    pub(super) fn off_peer(&self, id: u64) {
        self.listeners.peer.borrow_mut().retain(|(l, _)| *l != id);
    }

    pub(super) fn stop(&self) {
        self.node.stop();
    }
}

/// A node refusal as a database error: the same message and code.
fn command_error(e: CommandError) -> Error {
    Error::Node { code: e.code, message: e.message }
}
