//! The composed behaviour of a native node and the swarm around it.
//!
//! Every node is a relay server as well as a relay client: a node behind a
//! NAT is reachable through any peer it shares a collection with, and
//! dcutr upgrades relayed connections to direct ones where it can.

use std::sync::Arc;
use std::time::Duration;

use libp2p::swarm::behaviour::toggle::Toggle;
use libp2p::swarm::NetworkBehaviour;
use libp2p::{
    dcutr, gossipsub, identify, identity, kad, mdns, noise, ping, relay, request_response, tcp, yamux, StreamProtocol,
    Swarm,
};
use libp2p_webrtc::tokio as webrtc;
use sha2::{Digest, Sha256};

use super::{Codec, WireErrors};
use crate::core::block::MAX_BLOCK_BYTES;
use crate::core::sync::{
    BlocksRequest, BlocksResponse, HeadsRequest, HeadsResponse, ReplicateRequest, ReplicateResponse,
};
use crate::node::{NodeConfig, NodeError};

pub const BLOCKS_PROTOCOL: StreamProtocol = StreamProtocol::new("/weft/blocks/1");
pub const HEADS_PROTOCOL: StreamProtocol = StreamProtocol::new("/weft/heads/1");
pub const REPLICATE_PROTOCOL: StreamProtocol = StreamProtocol::new("/weft/replicate/1");
pub const IDENTIFY_PROTOCOL: &str = "/weft/id/1";
pub const KAD_PROTOCOL: StreamProtocol = StreamProtocol::new("/weft/kad/1");

/// A pushed batch is applied (and fsynced) before its answer: generous,
/// so a slow disk is not mistaken for a dead peer.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

pub type BlocksBehaviour = request_response::Behaviour<Codec<BlocksRequest, BlocksResponse>>;
pub type HeadsBehaviour = request_response::Behaviour<Codec<HeadsRequest, HeadsResponse>>;
pub type ReplicateBehaviour = request_response::Behaviour<Codec<ReplicateRequest, ReplicateResponse>>;

#[derive(NetworkBehaviour)]
pub struct Behaviour {
    pub relay_client: relay::client::Behaviour,
    pub relay: relay::Behaviour,
    pub dcutr: dcutr::Behaviour,
    pub identify: identify::Behaviour,
    pub ping: ping::Behaviour,
    pub gossipsub: Toggle<gossipsub::Behaviour>,
    pub blocks: BlocksBehaviour,
    pub heads: HeadsBehaviour,
    pub replicate: ReplicateBehaviour,
    pub mdns: Toggle<mdns::tokio::Behaviour>,
    pub kad: kad::Behaviour<kad::store::MemoryStore>,
}

fn request_response<Req, Resp>(
    protocol: StreamProtocol,
    errors: &Arc<WireErrors>,
) -> request_response::Behaviour<Codec<Req, Resp>>
where
    Codec<Req, Resp>: request_response::Codec<Protocol = StreamProtocol> + Send + Clone + 'static,
{
    let config = request_response::Config::default().with_request_timeout(REQUEST_TIMEOUT);
    request_response::Behaviour::with_codec(
        Codec::counting(errors.clone()),
        [(protocol, request_response::ProtocolSupport::Full)],
        config,
    )
}

/// The identical block published twice is one message: ids are content
/// hashes, so duplicates from several paths are dropped by gossipsub itself.
fn message_id(m: &gossipsub::Message) -> gossipsub::MessageId {
    let mut h = Sha256::new();
    h.update(m.topic.as_str().as_bytes());
    h.update(&m.data);
    gossipsub::MessageId::from(h.finalize().to_vec())
}

fn gossipsub(keypair: &identity::Keypair) -> Result<gossipsub::Behaviour, String> {
    let config = gossipsub::ConfigBuilder::default()
        .validation_mode(gossipsub::ValidationMode::Strict)
        // Blocks are checked by the database before they are forwarded.
        .validate_messages()
        .message_id_fn(message_id)
        // One block plus the envelope (topic, signature, key).
        .max_transmit_size(MAX_BLOCK_BYTES + 64 * 1024)
        .heartbeat_interval(Duration::from_millis(500))
        .build()
        .map_err(|e| e.to_string())?;
    gossipsub::Behaviour::new(gossipsub::MessageAuthenticity::Signed(keypair.clone()), config).map_err(str::to_string)
}

impl Behaviour {
    fn new(
        keypair: &identity::Keypair,
        relay_client: relay::client::Behaviour,
        config: &NodeConfig,
        errors: &Arc<WireErrors>,
    ) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        let peer_id = keypair.public().to_peer_id();
        let limits = &config.relay;
        let relay_config = relay::Config {
            max_reservations: limits.max_reservations,
            max_circuits: limits.max_circuits,
            max_circuits_per_peer: limits.max_circuits_per_peer,
            max_circuit_duration: limits.max_circuit_duration,
            max_circuit_bytes: limits.max_circuit_bytes,
            // The default rate limits refuse a node that reconnects often
            // (a phone on and off Wi-Fi); the limits above bound the load.
            reservation_rate_limiters: Vec::new(),
            circuit_src_rate_limiters: Vec::new(),
            ..relay::Config::default()
        };
        let gossipsub = if config.pubsub { Some(gossipsub(keypair)?) } else { None };
        let mdns =
            if config.mdns { Some(mdns::tokio::Behaviour::new(mdns::Config::default(), peer_id)?) } else { None };
        let mut kad =
            kad::Behaviour::with_config(peer_id, kad::store::MemoryStore::new(peer_id), kad::Config::new(KAD_PROTOCOL));
        // Every native node serves the DHT; only browsers stay clients.
        kad.set_mode(Some(kad::Mode::Server));
        Ok(Behaviour {
            relay_client,
            relay: relay::Behaviour::new(peer_id, relay_config),
            dcutr: dcutr::Behaviour::new(peer_id),
            identify: identify::Behaviour::new(identify::Config::new(IDENTIFY_PROTOCOL.into(), keypair.public())),
            ping: ping::Behaviour::default(),
            gossipsub: gossipsub.into(),
            blocks: request_response(BLOCKS_PROTOCOL, errors),
            heads: request_response(HEADS_PROTOCOL, errors),
            replicate: request_response(REPLICATE_PROTOCOL, errors),
            mdns: mdns.into(),
            kad,
        })
    }
}

/// The swarm of a node: TCP and QUIC, WebRTC-direct and WebSocket for
/// browsers (all Noise-authenticated where they need it), DNS names, and
/// relayed connections. `webrtc` is the node's WebRTC certificate: its hash
/// is part of the node's `/webrtc-direct` address.
pub async fn build_swarm(
    keypair: identity::Keypair,
    config: &NodeConfig,
    webrtc: webrtc::Certificate,
) -> Result<Swarm<Behaviour>, NodeError> {
    build_swarm_counting(keypair, config, webrtc, Arc::default()).await
}

/// [`build_swarm`], counting the messages its protocols refuse in `errors`.
pub async fn build_swarm_counting(
    keypair: identity::Keypair,
    config: &NodeConfig,
    webrtc: webrtc::Certificate,
    errors: Arc<WireErrors>,
) -> Result<Swarm<Behaviour>, NodeError> {
    let net = |e: &dyn std::fmt::Display| NodeError::Network(e.to_string());
    let swarm = libp2p::SwarmBuilder::with_existing_identity(keypair)
        .with_tokio()
        .with_tcp(tcp::Config::default().nodelay(true), noise::Config::new, yamux::Config::default)
        .map_err(|e| net(&e))?
        .with_quic()
        .with_other_transport(|key| webrtc::Transport::new(key.clone(), webrtc))
        .map_err(|e| net(&e))?
        .with_dns()
        .map_err(|e| net(&e))?
        .with_websocket(noise::Config::new, yamux::Config::default)
        .await
        .map_err(|e| net(&e))?
        .with_relay_client(noise::Config::new, yamux::Config::default)
        .map_err(|e| net(&e))?
        .with_behaviour(|keypair, relay_client| Behaviour::new(keypair, relay_client, config, &errors))
        .map_err(|e| net(&e))?;
    Ok(swarm.with_swarm_config(|c| c.with_idle_connection_timeout(IDLE_TIMEOUT)).build())
}
