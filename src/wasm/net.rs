//! The page's libp2p node: a swarm polled by one task on the page's event
//! loop, which JS reaches through a command channel (the swarm cannot be
//! borrowed while that task awaits it).
//!
//! Its identity is the database's signing key, kept in IndexedDB, so the
//! peer id is the same after every reload. A page cannot listen: it dials
//! the peers it is given over WebTransport, WebRTC-direct or WebSocket.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;

use futures::channel::{mpsc, oneshot};
use futures::{FutureExt, StreamExt};
use js_sys::Function;
use libp2p::swarm::{ConnectionId, SwarmEvent};
use libp2p::{identity, Multiaddr, PeerId, Swarm};
use serde_json::json;
use wasm_bindgen::JsValue;

use super::to_js;
use crate::error::Error;
use crate::net::{build_browser_swarm, transport_of, Behaviour, WireErrors};

enum Command {
    Dial(Multiaddr, oneshot::Sender<Result<(), Error>>),
    Stop,
}

/// What JS reads without going through the swarm's task.
#[derive(Default)]
struct Shared {
    connections: RefCell<HashMap<ConnectionId, (PeerId, Multiaddr)>>,
    peer_listeners: RefCell<Vec<(u64, Function)>>,
    next_listener: Cell<u64>,
}

/// A running page node; dropping it does not stop it, [`Net::stop`] does.
pub(super) struct Net {
    commands: mpsc::UnboundedSender<Command>,
    shared: Rc<Shared>,
}

impl Net {
    pub(super) fn start(keypair: identity::Keypair, peers: Vec<Multiaddr>) -> Result<Net, Error> {
        let mut swarm = build_browser_swarm(keypair, true, Arc::new(WireErrors::default())).map_err(Error::Network)?;
        for addr in peers {
            if let Err(e) = swarm.dial(addr.clone()) {
                tracing::warn!(%addr, "cannot dial: {e}");
            }
        }
        let (commands, rx) = mpsc::unbounded();
        let shared = Rc::new(Shared::default());
        wasm_bindgen_futures::spawn_local(run(swarm, rx, shared.clone()));
        Ok(Net { commands, shared })
    }

    pub(super) async fn dial(&self, addr: Multiaddr) -> Result<(), Error> {
        let (tx, rx) = oneshot::channel();
        self.commands.unbounded_send(Command::Dial(addr, tx)).map_err(|_| stopped())?;
        rx.await.map_err(|_| stopped())?
    }

    /// `[{peerId, addr, transport}]`, one per open connection.
    pub(super) fn connections(&self) -> JsValue {
        let mut list: Vec<(String, String, &str)> = self
            .shared
            .connections
            .borrow()
            .values()
            .map(|(peer, addr)| (peer.to_string(), addr.to_string(), transport_of(addr)))
            .collect();
        list.sort();
        let list: Vec<_> =
            list.into_iter().map(|(p, a, t)| json!({ "peerId": p, "addr": a, "transport": t })).collect();
        to_js(&list)
    }

    /// Calls `f` with `{type: "connected"|"disconnected", peerId, transport}`;
    /// returns the id that [`Net::off_peer`] takes.
    pub(super) fn on_peer(&self, f: Function) -> u64 {
        let id = self.shared.next_listener.get();
        self.shared.next_listener.set(id + 1);
        self.shared.peer_listeners.borrow_mut().push((id, f));
        id
    }

    pub(super) fn off_peer(&self, id: u64) {
        self.shared.peer_listeners.borrow_mut().retain(|(l, _)| *l != id);
    }

    pub(super) fn stop(&self) {
        let _ = self.commands.unbounded_send(Command::Stop);
    }
}

fn stopped() -> Error {
    Error::Network("the page's network node has stopped".into())
}

async fn run(mut swarm: Swarm<Behaviour>, mut commands: mpsc::UnboundedReceiver<Command>, shared: Rc<Shared>) {
    loop {
        futures::select! {
            ev = swarm.select_next_some() => on_event(ev, &shared),
            cmd = commands.next().fuse() => match cmd {
                Some(Command::Dial(addr, reply)) => {
                    let result = swarm.dial(addr.clone()).map_err(|e| Error::Network(format!("cannot dial {addr}: {e}")));
                    let _ = reply.send(result);
                }
                Some(Command::Stop) | None => break,
            },
        }
    }
    // Dropping the swarm closes every connection.
    shared.connections.borrow_mut().clear();
}

fn on_event(ev: SwarmEvent<crate::net::BehaviourEvent>, shared: &Shared) {
    match ev {
        SwarmEvent::ConnectionEstablished { peer_id, connection_id, endpoint, num_established, .. } => {
            let addr = endpoint.get_remote_address().clone();
            let transport = transport_of(&addr);
            tracing::info!(peer = %peer_id, %addr, "connected");
            shared.connections.borrow_mut().insert(connection_id, (peer_id, addr));
            if num_established.get() == 1 {
                tell(shared, "connected", peer_id, transport);
            }
        }
        SwarmEvent::ConnectionClosed { peer_id, connection_id, num_established, .. } => {
            let closed = shared.connections.borrow_mut().remove(&connection_id);
            if num_established == 0 {
                let transport = closed.as_ref().map_or("other", |(_, a)| transport_of(a));
                tell(shared, "disconnected", peer_id, transport);
            }
        }
        SwarmEvent::OutgoingConnectionError { peer_id, error, .. } => {
            tracing::warn!(peer = ?peer_id, "dial failed: {error}");
        }
        _ => {}
    }
}

fn tell(shared: &Shared, kind: &str, peer: PeerId, transport: &str) {
    let ev = to_js(&json!({ "type": kind, "peerId": peer.to_string(), "transport": transport }));
    let listeners: Vec<Function> = shared.peer_listeners.borrow().iter().map(|(_, f)| f.clone()).collect();
    for f in listeners {
        if let Err(e) = f.call1(&JsValue::NULL, &ev) {
            web_sys::console::error_2(&"weftdb: a peer listener threw".into(), &e);
        }
    }
}
