//! The JS side of the page's node ([`crate::node::browser`]): commands as
//! promises, `peer` events as callbacks.
//!
//! Its identity is the database's signing key, kept in IndexedDB, so the
//! peer id is the same after every reload. It dials the peers it is given
//! over WebTransport, WebRTC-direct or WebSocket and keeps them connected;
//! other pages reach it through their relays, then over direct WebRTC.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use js_sys::Function;
use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId};
use serde_json::{json, Value};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};

use super::status::{browser_online, OnlineWatch};
use super::to_js;
use crate::error::Error;
use crate::node::browser::BrowserNode;
use crate::node::{Command, CommandError, NodeConfig, NodeStore, PeerEvent, StatusSnapshot, SyncProgress};
use crate::Db;

/// JS listeners by event name (`peer`, `sync`, `status`).
#[derive(Default)]
struct Listeners {
    all: RefCell<Vec<(u64, &'static str, Function)>>,
    next: Cell<u64>,
}

impl Listeners {
    fn tell(&self, event: &str, ev: &Value) {
        let ev = to_js(ev);
        let listeners: Vec<Function> =
            self.all.borrow().iter().filter(|(_, e, _)| *e == event).map(|(_, _, f)| f.clone()).collect();
        for f in listeners {
            if let Err(e) = f.call1(&JsValue::NULL, &ev) {
                web_sys::console::error_2(&format!("weftdb: a {event} listener threw").into(), &e);
            }
        }
    }
}

/// The events `Database.on` takes.
pub(super) const EVENTS: [&str; 3] = ["peer", "sync", "status"];

/// A running page node.
pub(super) struct Net {
    node: BrowserNode,
    listeners: Rc<Listeners>,
    _page_hide: Option<PageHide>,
    _online: Option<OnlineWatch>,
}

/// Stops the node when the page goes away for good (a closed tab, a
/// navigation it will not come back from). Closing its WebRTC-direct
/// connections sends the SCTP ABORT that ends them on the node at once; a
/// page torn down with them open sends nothing, and the node notices only
/// when its ICE consent checks have been missing for seconds.
struct PageHide {
    target: web_sys::EventTarget,
    listener: Closure<dyn FnMut(web_sys::PageTransitionEvent)>,
}

impl PageHide {
    /// `None` where there are no pages (a worker).
    fn install(node: BrowserNode) -> Option<PageHide> {
        let target = js_sys::global().dyn_into::<web_sys::EventTarget>().ok()?;
        let listener =
            Closure::<dyn FnMut(web_sys::PageTransitionEvent)>::new(move |ev: web_sys::PageTransitionEvent| {
                // A page kept in the back/forward cache may come back, connections and all.
                if !ev.persisted() {
                    node.stop();
                }
            });
        target.add_event_listener_with_callback("pagehide", listener.as_ref().unchecked_ref()).ok()?;
        Some(PageHide { target, listener })
    }
}

impl Drop for PageHide {
    fn drop(&mut self) {
        let _ = self.target.remove_event_listener_with_callback("pagehide", self.listener.as_ref().unchecked_ref());
    }
}

impl Net {
    /// Starts the page's node: it dials `peers`, reserves a slot on each
    /// (so other pages reach it through them), meets the other pages they
    /// announce, and with `direct_upgrade` moves to direct WebRTC with them.
    pub(super) fn start(db: Rc<Db<NodeStore>>, peers: Vec<Multiaddr>, direct_upgrade: bool) -> Result<Net, Error> {
        let listeners = Rc::new(Listeners::default());
        let tell = listeners.clone();
        let on_peer = Rc::new(move |ev: PeerEvent, peer: PeerId, transport: &'static str| {
            let kind = match ev {
                PeerEvent::Connected => "connected",
                PeerEvent::Disconnected => "disconnected",
            };
            tell.tell("peer", &json!({ "type": kind, "peerId": peer.to_string(), "transport": transport }));
        });
        let tell = listeners.clone();
        let on_sync = Rc::new(move |p: SyncProgress| {
            let ev = json!({
                "peerId": p.peer.to_string(),
                "blocksReceived": p.blocks_received,
                "blocksWanted": p.blocks_wanted,
            });
            tell.tell("sync", &ev);
        });
        let online = browser_online();
        // Kept by the tabs' glue for `db.status()`, in this tab and the others.
        let tell = listeners.clone();
        let on_status = Rc::new(move |s: &StatusSnapshot| {
            tell.tell("status", &serde_json::to_value(s).expect("a status serialises"));
        });
        // Only peers named by id can relay: `<peer>/p2p-circuit` needs it.
        let mut listen: Vec<Multiaddr> = peers
            .iter()
            .filter(|a| matches!(a.iter().last(), Some(Protocol::P2p(_))))
            .map(|a| a.clone().with(Protocol::P2pCircuit))
            .collect();
        if direct_upgrade {
            listen.push(Multiaddr::empty().with(Protocol::WebRTC));
        }
        let config = NodeConfig {
            peers,
            listen,
            mdns: false,
            discovery: true,
            api: None,
            meet_peers: true,
            direct_upgrade,
            repair_unheard: true,
            ..NodeConfig::new("")
        };
        let node = BrowserNode::start(db, config, on_peer, on_sync, on_status, online)
            .map_err(|e| Error::Network(e.to_string()))?;
        let page_hide = PageHide::install(node.clone());
        let online = OnlineWatch::install(node.clone());
        Ok(Net { node, listeners, _page_hide: page_hide, _online: online })
    }

    /// Runs a node command; its refusals become errors with their code.
    pub(super) async fn call(&self, command: Command) -> Result<Value, Error> {
        self.node.call(command).await.map_err(command_error)
    }

    /// Calls `f` on each `event` (one of [`EVENTS`]): the tabs' glue
    /// (`tabs.rs`), which tells every tab.
    pub(super) fn on(&self, event: &'static str, f: Function) -> u64 {
        let id = self.listeners.next.get();
        self.listeners.next.set(id + 1);
        self.listeners.all.borrow_mut().push((id, event, f));
        id
    }

    pub(super) fn stop(&self) {
        self.node.stop();
    }
}

/// A node refusal as a database error: the same message and code.
fn command_error(e: CommandError) -> Error {
    Error::Node { code: e.code, message: e.message }
}
