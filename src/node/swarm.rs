//! The node's driver over libp2p, shared by both targets: the swarm's
//! events become the node's [`Input`]s, and the node's [`Effect`]s become
//! calls on the swarm. What is the transport's own business stays here
//! (telling DCUtR and the swarm our addresses, feeding identify's
//! addresses to Kademlia, which only native nodes run); every decision is
//! the node's.
//!
//! The node names its requests and listeners itself; this keeps the map
//! to libp2p's ids, and names each peer's request the node must answer.

use std::collections::HashMap;
use std::time::Duration;

use libp2p::core::transport::ListenerId;
use libp2p::gossipsub::{self, IdentTopic, PublishError};
use libp2p::request_response::{self, OutboundRequestId, ResponseChannel};
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::swarm::{DialError, SwarmEvent};
use libp2p::{ping, Swarm};
use serde_json::{json, Value};

use super::command::{Command, CommandError};
use super::run::{is_circuit, Node};
use super::wire::{Effect, Failure, Input, ListenId, ReplyId, ReqId, Request, Response};
use crate::core::sync::{BlocksResponse, HeadsResponse, ReplicateResponse};
use crate::net::{Behaviour, BehaviourEvent, Inbound};
use crate::store::Store;

/// Which of the three request-response behaviours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Protocol {
    Blocks,
    Heads,
    Replicate,
}

/// Where a peer's request is answered.
enum Channel {
    Blocks(ResponseChannel<BlocksResponse>),
    Heads(ResponseChannel<HeadsResponse>),
    Replicate(ResponseChannel<ReplicateResponse>),
}

pub(super) struct SwarmDriver {
    pub(super) swarm: Swarm<Behaviour>,
    sent: HashMap<(Protocol, OutboundRequestId), ReqId>,
    replies: HashMap<ReplyId, Channel>,
    next_reply: u64,
    listeners: HashMap<ListenerId, ListenId>,
}

impl SwarmDriver {
    pub(super) fn new(swarm: Swarm<Behaviour>) -> Self {
        SwarmDriver { swarm, sent: HashMap::new(), replies: HashMap::new(), next_reply: 0, listeners: HashMap::new() }
    }

    /// Carries out what `node` asked for, handing it what failed at once,
    /// until it asks for nothing more. `now` reads the driver's clock.
    pub(super) async fn settle<S: Store>(&mut self, node: &mut Node<S>, now: impl Fn() -> Duration) {
        loop {
            let effects = node.take_effects();
            if effects.is_empty() {
                return;
            }
            for input in self.apply(effects) {
                node.handle(input, now()).await;
            }
        }
    }

    /// Hands a swarm event to `node`, and carries out what it calls for.
    pub(super) async fn on_event<S: Store>(
        &mut self,
        node: &mut Node<S>,
        ev: SwarmEvent<BehaviourEvent>,
        now: impl Fn() -> Duration,
    ) {
        node.at(now(), super::adapters::wall_now_ms());
        for input in self.inputs(ev) {
            node.handle(input, now()).await;
        }
        self.settle(node, now).await;
    }

    /// The inputs a swarm event makes for the node (none for most).
    pub(super) fn inputs(&mut self, ev: SwarmEvent<BehaviourEvent>) -> Vec<Input> {
        match ev {
            SwarmEvent::Behaviour(ev) => self.behaviour_inputs(ev),
            SwarmEvent::ConnectionEstablished { peer_id, connection_id, endpoint, .. } => vec![Input::Connected {
                peer: peer_id,
                conn: connection_id,
                addr: endpoint.get_remote_address().clone(),
                dialed: endpoint.is_dialer(),
                transport: crate::net::transport_of_endpoint(&endpoint),
            }],
            SwarmEvent::ConnectionClosed { peer_id, connection_id, num_established, .. } => {
                vec![Input::Closed { peer: peer_id, conn: connection_id, remaining: num_established }]
            }
            SwarmEvent::OutgoingConnectionError { peer_id: Some(peer), error, .. } => {
                vec![Input::DialFailed { peer, error: error.to_string() }]
            }
            SwarmEvent::NewListenAddr { listener_id, address } => {
                // A relay server hands out reservations only with an address
                // to put in them; loopback and LAN addresses serve for that
                // until something better (AutoNAT) confirms a public one.
                if !is_circuit(&address) {
                    // DCUtR offers as hole-punch candidates only the
                    // addresses identify saw others observe, and identify
                    // reports none already external: hand it ours.
                    #[cfg(not(target_arch = "wasm32"))]
                    {
                        use libp2p::swarm::{FromSwarm, NetworkBehaviour, NewExternalAddrCandidate};
                        let candidate = NewExternalAddrCandidate { addr: &address };
                        self.swarm.behaviour_mut().dcutr.on_swarm_event(FromSwarm::NewExternalAddrCandidate(candidate));
                    }
                    self.swarm.add_external_address(address.clone());
                }
                self.listeners
                    .get(&listener_id)
                    .map(|id| Input::Listening { id: *id, addr: address })
                    .into_iter()
                    .collect()
            }
            SwarmEvent::ExpiredListenAddr { listener_id, address } => {
                self.swarm.remove_external_address(&address);
                self.listeners
                    .get(&listener_id)
                    .map(|id| Input::AddrExpired { id: *id, addr: address })
                    .into_iter()
                    .collect()
            }
            SwarmEvent::ListenerClosed { listener_id, reason, .. } => {
                let reason = match reason {
                    Ok(()) => "closed".to_string(),
                    Err(e) => e.to_string(),
                };
                self.listeners.remove(&listener_id).map(|id| Input::ListenerClosed { id, reason }).into_iter().collect()
            }
            SwarmEvent::ListenerError { error, .. } => {
                tracing::debug!("listener error: {error}");
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    fn behaviour_inputs(&mut self, ev: BehaviourEvent) -> Vec<Input> {
        let input = match ev {
            BehaviourEvent::Gossipsub(ev) => match ev {
                gossipsub::Event::Message { propagation_source, message_id, message } => Some(Input::Gossip {
                    source: propagation_source,
                    message: message_id,
                    topic: message.topic.into_string(),
                    data: message.data,
                }),
                gossipsub::Event::Subscribed { peer_id, topic } => {
                    Some(Input::Subscribed { peer: peer_id, topic: topic.into_string() })
                }
                gossipsub::Event::Unsubscribed { peer_id, topic } => {
                    Some(Input::Unsubscribed { peer: peer_id, topic: topic.into_string() })
                }
                _ => None,
            },
            BehaviourEvent::Blocks(ev) => {
                self.request_input(Protocol::Blocks, ev, Request::Blocks, Response::Blocks, Channel::Blocks)
            }
            BehaviourEvent::Heads(ev) => {
                self.request_input(Protocol::Heads, ev, Request::Heads, Response::Heads, Channel::Heads)
            }
            BehaviourEvent::Replicate(ev) => {
                self.request_input(Protocol::Replicate, ev, Request::Replicate, Response::Replicate, Channel::Replicate)
            }
            BehaviourEvent::Ping(ping::Event { peer, connection, result: Err(failure) })
                if !matches!(failure, ping::Failure::Unsupported) =>
            {
                tracing::debug!(%peer, %failure, "ping failed");
                Some(Input::PingFailed { peer, conn: connection })
            }
            #[cfg(not(target_arch = "wasm32"))]
            BehaviourEvent::Identify(libp2p::identify::Event::Received { peer_id, info, .. }) => {
                for addr in info.listen_addrs {
                    self.swarm.behaviour_mut().kad.add_address(&peer_id, addr);
                }
                None
            }
            #[cfg(not(target_arch = "wasm32"))]
            BehaviourEvent::Mdns(libp2p::mdns::Event::Discovered(found)) => Some(Input::LanFound(found)),
            #[cfg(not(target_arch = "wasm32"))]
            BehaviourEvent::Mdns(libp2p::mdns::Event::Expired(gone)) => {
                let peers: std::collections::BTreeSet<_> = gone.into_iter().map(|(p, _)| p).collect();
                Some(Input::LanGone(peers.into_iter().collect()))
            }
            #[cfg(not(target_arch = "wasm32"))]
            BehaviourEvent::Kad(libp2p::kad::Event::OutboundQueryProgressed {
                result:
                    libp2p::kad::QueryResult::GetProviders(Ok(libp2p::kad::GetProvidersOk::FoundProviders {
                        providers,
                        ..
                    })),
                ..
            }) => Some(Input::Providers(providers.into_iter().collect())),
            #[cfg(not(target_arch = "wasm32"))]
            BehaviourEvent::Kad(libp2p::kad::Event::RoutingUpdated { is_new_peer: true, .. }) => {
                Some(Input::RoutingGrew)
            }
            #[cfg(not(target_arch = "wasm32"))]
            BehaviourEvent::Relay(libp2p::relay::Event::ReservationReqAccepted { src_peer_id, .. }) => {
                Some(Input::Reservation { peer: src_peer_id, held: true })
            }
            #[cfg(not(target_arch = "wasm32"))]
            BehaviourEvent::Relay(libp2p::relay::Event::ReservationTimedOut { src_peer_id }) => {
                Some(Input::Reservation { peer: src_peer_id, held: false })
            }
            #[cfg(not(target_arch = "wasm32"))]
            BehaviourEvent::Dcutr(libp2p::dcutr::Event { remote_peer_id, result }) => match result {
                Ok(_) => Some(Input::HolePunched { peer: remote_peer_id }),
                Err(e) => {
                    tracing::debug!(peer = %remote_peer_id, "no direct connection: {e}");
                    None
                }
            },
            _ => None,
        };
        input.into_iter().collect()
    }

    /// The input of one request-response event. An unreadable request (the
    /// codec counted it) comes as [`Inbound::Unreadable`], an unreadable
    /// answer as a failure with `InvalidData`: the node holds both against
    /// their sender.
    fn request_input<Req, Resp>(
        &mut self,
        protocol: Protocol,
        ev: request_response::Event<Inbound<Req>, Resp>,
        request: fn(Req) -> Request,
        response: fn(Resp) -> Response,
        channel: fn(ResponseChannel<Resp>) -> Channel,
    ) -> Option<Input> {
        use request_response::{Event, Message};
        match ev {
            Event::Message {
                peer, message: Message::Request { request: Inbound::Request(r), channel: c, .. }, ..
            } => {
                self.next_reply += 1;
                let reply = ReplyId(self.next_reply);
                self.replies.insert(reply, channel(c));
                Some(Input::Request { peer, reply, request: request(r) })
            }
            Event::Message { peer, message: Message::Request { request: Inbound::Unreadable(e), .. }, .. } => {
                Some(Input::Unreadable { peer, error: e.to_string() })
            }
            Event::Message { peer, message: Message::Response { request_id, response: r }, .. } => {
                let id = self.sent.remove(&(protocol, request_id))?;
                Some(Input::Response { peer, id, response: response(r) })
            }
            Event::OutboundFailure { peer, request_id, error, connection_id } => {
                let id = self.sent.remove(&(protocol, request_id))?;
                use request_response::OutboundFailure;
                let failure = match &error {
                    OutboundFailure::Io(e) if e.kind() == std::io::ErrorKind::InvalidData => Failure::Unreadable,
                    OutboundFailure::ConnectionClosed => Failure::Closed,
                    _ => Failure::Other,
                };
                Some(Input::RequestFailed { peer, id, conn: Some(connection_id), failure, error: error.to_string() })
            }
            Event::InboundFailure { peer, error, .. } => {
                // Undecodable and oversized messages are counted by the
                // codec and held against their sender as `Unreadable`;
                // these failures are only logged.
                tracing::debug!(%peer, "inbound request failed: {error}");
                None
            }
            Event::ResponseSent { .. } => None,
        }
    }

    /// Carries out `effects` in order; the inputs of those that failed at once.
    pub(super) fn apply(&mut self, effects: Vec<Effect>) -> Vec<Input> {
        let mut failed = Vec::new();
        for effect in effects {
            match effect {
                Effect::Send { id, peer, request } => {
                    let b = self.swarm.behaviour_mut();
                    let key = match request {
                        Request::Blocks(r) => (Protocol::Blocks, b.blocks.send_request(&peer, r.into())),
                        Request::Heads(r) => (Protocol::Heads, b.heads.send_request(&peer, r.into())),
                        Request::Replicate(r) => (Protocol::Replicate, b.replicate.send_request(&peer, r.into())),
                    };
                    self.sent.insert(key, id);
                }
                Effect::Respond { reply, response } => {
                    let b = self.swarm.behaviour_mut();
                    // An answer whose peer has gone is dropped.
                    let _ = match (self.replies.remove(&reply), response) {
                        (Some(Channel::Blocks(c)), Response::Blocks(r)) => b.blocks.send_response(c, r).is_ok(),
                        (Some(Channel::Heads(c)), Response::Heads(r)) => b.heads.send_response(c, r).is_ok(),
                        (Some(Channel::Replicate(c)), Response::Replicate(r)) => {
                            b.replicate.send_response(c, r).is_ok()
                        }
                        (_, response) => {
                            tracing::error!(?reply, "an answer for no request of its protocol: {response:?}");
                            false
                        }
                    };
                }
                Effect::Drop(reply) => {
                    self.replies.remove(&reply);
                }
                Effect::Publish { topic, data } => {
                    let Some(g) = self.swarm.behaviour_mut().gossipsub.as_mut() else { continue };
                    match g.publish(IdentTopic::new(&topic), data) {
                        Ok(_) | Err(PublishError::Duplicate) => {}
                        Err(PublishError::NoPeersSubscribedToTopic) => tracing::debug!(topic, "published to nobody"),
                        Err(e) => tracing::warn!(topic, "cannot publish: {e}"),
                    }
                }
                Effect::Subscribe(topic) => {
                    if let Some(g) = self.swarm.behaviour_mut().gossipsub.as_mut() {
                        if let Err(e) = g.subscribe(&IdentTopic::new(&topic)) {
                            tracing::warn!(topic, "cannot subscribe: {e}");
                        }
                    }
                }
                Effect::Unsubscribe(topic) => {
                    if let Some(g) = self.swarm.behaviour_mut().gossipsub.as_mut() {
                        g.unsubscribe(&IdentTopic::new(&topic));
                    }
                }
                Effect::Validate { message, source, acceptance } => {
                    if let Some(g) = self.swarm.behaviour_mut().gossipsub.as_mut() {
                        g.report_message_validation_result(&message, &source, acceptance);
                    }
                }
                Effect::Dial { peer, addrs, always } => {
                    let opts = DialOpts::peer_id(peer).addresses(addrs);
                    let opts = match always {
                        true => opts.condition(PeerCondition::Always).build(),
                        // A fresh source port: see `Node::dial_peer`.
                        false => opts.condition(PeerCondition::DisconnectedAndNotDialing).allocate_new_port().build(),
                    };
                    match self.swarm.dial(opts) {
                        // Connected or being dialled already: not a failure.
                        Ok(()) | Err(DialError::DialPeerConditionFalse(_)) => {}
                        Err(e) => failed.push(Input::DialFailed { peer, error: e.to_string() }),
                    }
                }
                Effect::DialAddr(addr) => {
                    if let Err(e) = self.swarm.dial(addr.clone()) {
                        tracing::warn!(%addr, "cannot dial: {e}");
                    }
                }
                Effect::AddAddress { peer, addr } => self.swarm.add_peer_address(peer, addr),
                Effect::Close(conn) => {
                    self.swarm.close_connection(conn);
                }
                Effect::Disconnect(peer) => {
                    let _ = self.swarm.disconnect_peer_id(peer);
                }
                Effect::Listen { id, addr } => match self.swarm.listen_on(addr.clone()) {
                    Ok(listener) => {
                        self.listeners.insert(listener, id);
                    }
                    Err(e) => {
                        tracing::debug!(%addr, "cannot listen: {e}");
                        failed.push(Input::ListenerClosed { id, reason: e.to_string() });
                    }
                },
                #[cfg(not(target_arch = "wasm32"))]
                Effect::Discover(topic) => {
                    let kad = &mut self.swarm.behaviour_mut().kad;
                    let key = libp2p::kad::RecordKey::new(&topic);
                    if let Err(e) = kad.start_providing(key.clone()) {
                        tracing::debug!(topic, "cannot provide: {e}");
                    }
                    kad.get_providers(key);
                }
                #[cfg(not(target_arch = "wasm32"))]
                Effect::StopProviding(topic) => {
                    self.swarm.behaviour_mut().kad.stop_providing(&libp2p::kad::RecordKey::new(&topic))
                }
                // A page runs no DHT (`net::Kad`): its node config asks
                // for no discovery, and a stray request is nothing to do.
                #[cfg(target_arch = "wasm32")]
                Effect::Discover(topic) | Effect::StopProviding(topic) => {
                    tracing::debug!(topic, "no DHT in a page");
                }
            }
        }
        failed
    }

    /// Gossipsub's mesh: how many peers each of our topics reaches, as
    /// `stats` shows it (tests wait for it).
    pub(super) fn mesh(&self) -> Value {
        let Some(g) = self.swarm.behaviour().gossipsub.as_ref() else { return json!({}) };
        let mesh: serde_json::Map<String, Value> =
            g.topics().map(|t| (t.to_string(), json!(g.mesh_peers(t).count()))).collect();
        Value::Object(mesh)
    }
}

/// Runs `command` on `node`, with what only the swarm knows added to the
/// answer (`stats`'s gossip mesh); `driver` is `None` without a network.
/// A native node takes the documents' commands too ([`Node::command`]); a
/// page's node only the node's ([`Node::node_command`], `page_command`), so
/// the page's wasm leaves the others out.
#[cfg_attr(target_arch = "wasm32", allow(dead_code))]
pub(super) async fn command<S: Store>(
    node: &mut Node<S>,
    driver: Option<&SwarmDriver>,
    command: Command,
) -> Result<Value, CommandError> {
    let stats = matches!(command, Command::Stats);
    with_mesh(driver, stats, node.command(command).await)
}

/// [`command`] for a page's node: the node's commands alone.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
pub(super) async fn page_command<S: Store>(
    node: &mut Node<S>,
    driver: &SwarmDriver,
    command: Command,
) -> Result<Value, CommandError> {
    let stats = matches!(command, Command::Stats);
    with_mesh(Some(driver), stats, node.node_command(command).await)
}

fn with_mesh(
    driver: Option<&SwarmDriver>,
    stats: bool,
    mut answer: Result<Value, CommandError>,
) -> Result<Value, CommandError> {
    if let (Some(d), true, Ok(Value::Object(map))) = (driver, stats, answer.as_mut()) {
        map.insert("mesh".into(), d.mesh());
    }
    answer
}
