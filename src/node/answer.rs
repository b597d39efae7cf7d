//! How the node answers each [`Command`]: JSON in, JSON out, documents
//! as `{_id, ...}`, refusals as [`CommandError`]s with the database's codes.

use std::sync::atomic::Ordering;

use cid::Cid;
use libp2p::{Multiaddr, PeerId};
use serde_json::{json, Value};

use super::command::{Command, CommandError};
use super::run::{col_topic, Node};
use super::wire::Effect;
use crate::records::META_P2P;
use crate::store::Store;

impl<S: Store> Node<S> {
    /// Runs `command`: the documents' commands here (the HTTP API's and the
    /// simulator's), the node's in [`Node::node_command`]. A page's build
    /// never calls it.
    #[cfg_attr(target_arch = "wasm32", allow(dead_code))]
    pub(crate) async fn command(&mut self, command: Command) -> Result<Value, CommandError> {
        let object = |v: Value, what: &str| match v {
            Value::Object(m) => Ok(m),
            _ => Err(CommandError::bad_request(format!("the {what} must be a JSON object"))),
        };
        match command {
            Command::AddSchema { sdl } => Ok(json!(self.db.add_schema(&sdl).await?)),
            Command::ListCollections => Ok(Value::Array(
                self.db
                    .collections()
                    .iter()
                    .map(|d| {
                        let fields: Vec<Value> = d
                            .fields
                            .iter()
                            .map(|f| json!({"name": f.name, "type": f.ty.to_string(), "indexed": f.indexed}))
                            .collect();
                        json!({"name": d.name, "fields": fields, "policy": d.policy})
                    })
                    .collect(),
            )),
            Command::Create { collection, doc } => {
                let id = self.db.create(&collection, &object(doc, "document")?).await?;
                self.take_merged().await;
                Ok(json!({ "_id": id }))
            }
            Command::Get { collection, id } => {
                let doc = self.db.get(&collection, &id).await?;
                // Asking for a document not here yet holds its topic too: its
                // next change arrives by gossip, and its history by fetch.
                if doc.is_some() || Cid::try_from(id.as_str()).is_ok() {
                    self.touch_doc(&id);
                }
                Ok(doc.map_or(Value::Null, Value::Object))
            }
            Command::Update { collection, id, patch } => {
                self.db.update(&collection, &id, &object(patch, "patch")?).await?;
                self.take_merged().await;
                Ok(self.db.get(&collection, &id).await?.map_or(Value::Null, Value::Object))
            }
            Command::Delete { collection, id } => {
                self.db.delete(&collection, &id).await?;
                self.take_merged().await;
                Ok(json!({ "_id": id, "deleted": true }))
            }
            Command::Find { collection, query } => {
                Ok(Value::Array(self.db.find(&collection, &query).await?.into_iter().map(Value::Object).collect()))
            }
            Command::Heads { collection, id } => {
                let heads = self.db.heads(&collection, &id).await?;
                Ok(json!(heads.iter().map(Cid::to_string).collect::<Vec<_>>()))
            }
            other => self.node_command(other).await,
        }
    }

    /// The node's own commands: the network, replicators, p2p collections,
    /// stats. A page's node is given only these (its documents go through
    /// its `Db`, not the node), so a page's build calls this and not
    /// [`Node::command`], whose documents' commands its wasm then leaves out.
    pub(crate) async fn node_command(&mut self, command: Command) -> Result<Value, CommandError> {
        match command {
            Command::Info => Ok(json!({
                "peerId": self.peer_id.to_string(),
                // The key that signs this node's blocks, as `@policy(writers: [...])` lists it.
                "authorKey": self.db.author_key(),
                "addresses": self.addresses().iter().map(Multiaddr::to_string).collect::<Vec<_>>(),
                "pubsub": self.config.p2p && self.config.pubsub,
                "mdns": self.config.p2p && self.config.mdns,
            })),
            Command::Stats => {
                let pending = self.db.pending_count().await?;
                let mut peers: Vec<String> = self.replica.dialer.connected_peers().map(PeerId::to_string).collect();
                peers.sort_unstable();
                let s = &self.stats;
                Ok(json!({
                    "received": s.received,
                    "bytesReceived": s.bytes_received,
                    "sent": s.sent,
                    "served": s.served,
                    "headsReceived": s.heads_received,
                    "invalid": s.invalid,
                    "refused": s.refused,
                    "decodeErrors": self.wire_errors.decode.load(Ordering::Relaxed),
                    "oversized": self.wire_errors.oversized.load(Ordering::Relaxed),
                    "fetchFailures": s.fetch_failures,
                    "orphansDropped": s.orphans_dropped,
                    "pendingDropped": s.pending_dropped,
                    "directUpgrades": s.direct_upgrades,
                    "directFailures": s.direct_failures,
                    "peersDropped": s.peers_dropped,
                    "rateLimited": s.rate_limited,
                    "stalled": self.wire_errors.stalled.load(Ordering::Relaxed),
                    "replayed": s.replayed,
                    "withheld": s.withheld,
                    "pending": pending,
                    "peers": peers,
                    // Gossipsub's own: the driver puts it in (`swarm.rs`).
                    "mesh": {},
                }))
            }
            Command::SetReplicator { collection, docs, peer } => self.set_replicator(collection, docs, &peer).await,
            Command::ListReplicators => self.list_replicators().await,
            Command::DeleteReplicator { collection, peer_id } => self.delete_replicator(&collection, &peer_id).await,
            Command::AddP2pCollection { collection } => {
                self.db.collection(&collection).await?;
                self.db.set_meta(&format!("{META_P2P}{collection}"), Some(b"")).await?;
                if self.p2p_collections.insert(collection.clone()) {
                    let topic = col_topic(&collection);
                    self.subscribe(&topic);
                    self.discover(&topic);
                    let peers: Vec<PeerId> = self.replica.dialer.connected_peers().copied().collect();
                    for peer in peers {
                        self.start_exchange(peer, &collection, None).await;
                    }
                }
                Ok(json!(self.p2p_collections))
            }
            Command::RemoveP2pCollection { collection } => {
                if !self.p2p_collections.remove(&collection) {
                    return Err(CommandError {
                        code: "NOT_FOUND",
                        message: format!("{collection} is not a p2p collection"),
                    });
                }
                self.db.set_meta(&format!("{META_P2P}{collection}"), None).await?;
                let topic = col_topic(&collection);
                self.unsubscribe(&topic);
                self.emit(Effect::StopProviding(topic));
                Ok(json!(self.p2p_collections))
            }
            Command::ListP2pCollections => Ok(json!(self.p2p_collections)),
            Command::Dial { addr } => {
                let addr: Multiaddr =
                    addr.parse().map_err(|e| CommandError::bad_request(format!("not a multiaddr: {addr}: {e}")))?;
                if !self.p2p {
                    return Err(CommandError::bad_request("the node runs without p2p"));
                }
                self.emit(Effect::DialAddr(addr.clone()));
                Ok(json!({ "dialing": addr.to_string() }))
            }
            Command::Topics => Ok(json!(self.topics)),
            Command::Committed { cids } => self.adopt(cids).await,
            Command::Connections => {
                let mut list: Vec<(String, String, &str, &str)> = self
                    .connections
                    .values()
                    .map(|(peer, addr, dialed, transport)| {
                        let direction = if *dialed { "outbound" } else { "inbound" };
                        (peer.to_string(), addr.to_string(), *transport, direction)
                    })
                    .collect();
                list.sort_unstable();
                Ok(json!(list
                    .into_iter()
                    .map(|(peer, addr, transport, direction)| json!({
                        "peerId": peer, "addr": addr, "transport": transport, "direction": direction,
                    }))
                    .collect::<Vec<_>>()))
            }
            Command::AddSchema { .. }
            | Command::ListCollections
            | Command::Create { .. }
            | Command::Get { .. }
            | Command::Update { .. }
            | Command::Delete { .. }
            | Command::Find { .. }
            | Command::Heads { .. } => Err(CommandError::bad_request("a document's command goes to the database")),
        }
    }
}
