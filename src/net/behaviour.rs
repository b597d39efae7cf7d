//! The composed behaviour of a node, native or in a browser.
//!
//! Every native node is a relay server as well as a relay client: a node
//! behind a NAT is reachable through any peer it shares a collection with,
//! and dcutr upgrades relayed connections to direct ones where it can. A
//! browser is a relay client only, and runs no DHT: Kademlia is native
//! (every node a server); a page meets peers through the nodes it dials
//! (their relay's announcements) and leaves finding the peers of its
//! collections to them.

use std::sync::Arc;
use std::time::Duration;

use libp2p::swarm::behaviour::toggle::Toggle;
use libp2p::swarm::NetworkBehaviour;
use libp2p::{connection_limits, gossipsub, identify, identity, ping, relay, request_response, StreamProtocol};
use sha2::{Digest, Sha256};

use super::{Codec, WireErrors};
use crate::core::block::MAX_BLOCK_BYTES;
use crate::core::sync::{
    BlocksRequest, BlocksResponse, HeadsRequest, HeadsResponse, ReplicateRequest, ReplicateResponse,
};

pub const BLOCKS_PROTOCOL: StreamProtocol = StreamProtocol::new("/weft/blocks/1");
pub const HEADS_PROTOCOL: StreamProtocol = StreamProtocol::new("/weft/heads/1");
pub const REPLICATE_PROTOCOL: StreamProtocol = StreamProtocol::new("/weft/replicate/1");
pub const IDENTIFY_PROTOCOL: &str = "/weft/id/1";

/// What identify says this node runs, e.g. `weftdb/0.1.0 (native)`: other
/// libp2p implementations show it, and it tells a page from a node.
fn agent_version() -> String {
    let side = if cfg!(target_arch = "wasm32") { "browser" } else { "native" };
    format!("weftdb/{} ({side})", env!("CARGO_PKG_VERSION"))
}
#[cfg(not(target_arch = "wasm32"))]
pub const KAD_PROTOCOL: StreamProtocol = StreamProtocol::new("/weft/kad/1");

/// A pushed batch is applied (and fsynced) before its answer: generous,
/// so a slow disk is not mistaken for a dead peer. The same limit ends an
/// inbound stream that has not delivered its whole request by then (one
/// opened and never written).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Inbound requests one connection may have open at once on each weft
/// protocol; a stream past it is dropped unread by request-response.
pub const MAX_STREAMS_PER_CONNECTION: usize = 64;
/// Connections one peer may hold to us at once (a page may have a relayed,
/// a direct and a browser-transport one; a node TCP, QUIC and a relayed one).
pub const MAX_CONNECTIONS_PER_PEER: u32 = 8;
/// A ping unanswered for this long fails; two failures in a row close the
/// connection (`node::run`). Half libp2p's default: a dead link is noticed
/// after two of these and one ping interval between them (~35 s natively,
/// every 15 s).
#[cfg_attr(target_arch = "wasm32", allow(dead_code))]
pub const PING_TIMEOUT: Duration = Duration::from_secs(10);
/// A page pings every 5 s and gives each ping 5 s: a dead link (a node that
/// restarted behind a WebRTC-direct connection, which the browser does not
/// notice by itself) is noticed within ~20 s, and an idle page sends a
/// ping a fifth as often as it did each second (its idle CPU: BENCHMARKS.md).
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
pub const PAGE_PING: Duration = Duration::from_secs(5);
pub(super) const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Gossipsub's heartbeat (mesh upkeep, `IHAVE` gossip) on a native node.
#[cfg_attr(target_arch = "wasm32", allow(dead_code))]
pub const NODE_HEARTBEAT: Duration = Duration::from_millis(500);
/// A page's gossipsub heartbeat: each one wakes the page, an idle one
/// too. Nothing waits on it: a page's own blocks are flooded to every peer
/// on their topic, a peer that subscribes joins the mesh at once while
/// the mesh is below `mesh_n_low` (a page's usual case; else at the next
/// heartbeat), and a page relays little; the heartbeat repairs the mesh and sends `IHAVE`
/// for what a peer may have missed (BENCHMARKS.md, "Idle").
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
pub const PAGE_HEARTBEAT: Duration = Duration::from_secs(2);

#[cfg(not(target_arch = "wasm32"))]
type Mdns = libp2p::mdns::tokio::Behaviour;
/// No LAN discovery in a page: the field stays, always off.
#[cfg(target_arch = "wasm32")]
type Mdns = libp2p::swarm::dummy::Behaviour;

/// Hole punching and serving circuits are for nodes others can dial; a
/// page is neither, so its build leaves their code out.
#[cfg(not(target_arch = "wasm32"))]
type Dcutr = libp2p::dcutr::Behaviour;
#[cfg(target_arch = "wasm32")]
type Dcutr = libp2p::swarm::dummy::Behaviour;
#[cfg(not(target_arch = "wasm32"))]
type RelayServer = relay::Behaviour;
#[cfg(target_arch = "wasm32")]
type RelayServer = libp2p::swarm::dummy::Behaviour;
/// The DHT, in which nodes advertise their p2p collections and find the
/// peers that hold them. Not in a page: a page's peers are the nodes it is
/// given and the pages they announce, and a DHT client cost its wasm
/// ~80 KB gzipped (issue 11, BENCHMARKS.md).
#[cfg(not(target_arch = "wasm32"))]
pub type Kad = libp2p::kad::Behaviour<libp2p::kad::store::MemoryStore>;
#[cfg(target_arch = "wasm32")]
pub type Kad = libp2p::swarm::dummy::Behaviour;

/// Pages open and answer `/webrtc-signaling/0.0.1` streams (browser-to-
/// browser WebRTC); a native node has no browser WebRTC to signal for.
#[cfg(target_arch = "wasm32")]
pub type Signaling = libp2p_stream::Behaviour;
#[cfg(not(target_arch = "wasm32"))]
pub type Signaling = libp2p::swarm::dummy::Behaviour;

/// Limits of the circuit relay server, sized for sync sessions rather than
/// libp2p's defaults (2 minutes, 128 KiB per circuit), which cut sync off.
#[derive(Debug, Clone)]
pub struct RelayLimits {
    pub max_reservations: usize,
    /// Reservations one peer may hold at once.
    pub max_reservations_per_peer: usize,
    pub max_circuits: usize,
    pub max_circuits_per_peer: usize,
    pub max_circuit_duration: Duration,
    /// 0: no byte limit.
    pub max_circuit_bytes: u64,
}

impl Default for RelayLimits {
    fn default() -> Self {
        RelayLimits {
            max_reservations: 1024,
            max_reservations_per_peer: 4,
            max_circuits: 256,
            max_circuits_per_peer: 16,
            max_circuit_duration: Duration::from_secs(24 * 3600),
            max_circuit_bytes: 0,
        }
    }
}

/// What a node's behaviour is made with.
#[derive(Debug, Clone)]
pub struct BehaviourConfig {
    pub pubsub: bool,
    /// LAN discovery (native only).
    pub mdns: bool,
    /// Serve circuits for others, with these limits (native nodes).
    pub relay_server: Option<RelayLimits>,
    /// How often a connection is pinged, and how long a ping may take
    /// (`PING_TIMEOUT` natively, `PAGE_PING` in a page). (Pages pinged
    /// each second once, to wake gossipsub's handler on a second connection
    /// to a peer, which was not woken by the messages queued for it: fixed
    /// in `vendor/libp2p-gossipsub`.)
    pub ping_interval: Duration,
    pub ping_timeout: Duration,
    /// [`REQUEST_TIMEOUT`] but in tests.
    pub request_timeout: Duration,
    /// Gossipsub's heartbeat: `NODE_HEARTBEAT`, `PAGE_HEARTBEAT`.
    pub heartbeat: Duration,
}

pub type BlocksBehaviour = request_response::Behaviour<Codec<BlocksRequest, BlocksResponse>>;
pub type HeadsBehaviour = request_response::Behaviour<Codec<HeadsRequest, HeadsResponse>>;
pub type ReplicateBehaviour = request_response::Behaviour<Codec<ReplicateRequest, ReplicateResponse>>;

#[derive(NetworkBehaviour)]
pub struct Behaviour {
    pub limits: connection_limits::Behaviour,
    pub relay_client: relay::client::Behaviour,
    pub relay: Toggle<RelayServer>,
    pub dcutr: Dcutr,
    pub identify: identify::Behaviour,
    pub ping: ping::Behaviour,
    pub gossipsub: Toggle<Gossipsub>,
    pub blocks: BlocksBehaviour,
    pub heads: HeadsBehaviour,
    pub replicate: ReplicateBehaviour,
    pub mdns: Toggle<Mdns>,
    pub kad: Kad,
    pub signaling: Signaling,
}

fn request_response<Req, Resp>(
    protocol: StreamProtocol,
    errors: &Arc<WireErrors>,
    timeout: Duration,
) -> request_response::Behaviour<Codec<Req, Resp>>
where
    Codec<Req, Resp>: request_response::Codec<Protocol = StreamProtocol> + Send + Clone + 'static,
{
    let config = request_response::Config::default()
        .with_request_timeout(timeout)
        .with_max_concurrent_streams(MAX_STREAMS_PER_CONNECTION);
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

/// The most topics a peer may hold with us, all of which may come in one
/// message (its first names all it holds). A node holds up to
/// [`MAX_DOC_TOPICS`] documents' topics and one per shared collection.
/// gossipsub's default filter allowed 100 of each and refused a message
/// past that whole (and its default control size, 16 KB, ~200 topics):
/// a node with more than ~100 hot documents told its peers none of its
/// topics, and they never published to it. Bounded still, with
/// [`MAX_TOPIC_BYTES`]: a peer's topics are memory held for it (twice:
/// gossipsub's and the node's `peer_topics`), at most ~2 MB.
pub const MAX_PEER_TOPICS: usize = 4_096;
/// The most documents' topics a node holds (`NodeConfig::doc_topics` is
/// capped at it): the rest of [`MAX_PEER_TOPICS`] is for collections.
pub const MAX_DOC_TOPICS: usize = 2_048;
/// The longest topic a peer may hold with us, in bytes. Ours are
/// `weft/doc/<CID>` (68), `weft/col/<collection>` and `weft/relay/peers`.
/// Without it a peer's topics were bounded in number only, and 4,096 of
/// up to 400 KB each (the control size) are memory no peer may cost.
pub const MAX_TOPIC_BYTES: usize = 256;

/// gossipsub with our filter of a peer's topics.
pub type Gossipsub =
    gossipsub::Behaviour<gossipsub::IdentityTransform, gossipsub::MaxCountSubscriptionFilter<TopicLength>>;

/// Takes a topic of at most [`MAX_TOPIC_BYTES`] (gossipsub asks it of
/// each topic a peer subscribes to, and of each of ours).
#[derive(Debug, Default, Clone, Copy)]
pub struct TopicLength;

impl gossipsub::TopicSubscriptionFilter for TopicLength {
    fn can_subscribe(&mut self, topic: &gossipsub::TopicHash) -> bool {
        topic.as_str().len() <= MAX_TOPIC_BYTES
    }
}

/// Messages are anonymous: a block is signed by its author and its CID is
/// its hash, so a second signature (gossipsub's, by the publisher) would
/// prove nothing more and cost a signing and a check per message on the
/// path of every write. Where the sender matters (a relay's announcements)
/// the node looks at the connection it came on, which Noise or DTLS
/// authenticated.
fn gossipsub(heartbeat: Duration) -> Result<Gossipsub, String> {
    let config = gossipsub::ConfigBuilder::default()
        .validation_mode(gossipsub::ValidationMode::Anonymous)
        // Blocks are checked by the database before they are forwarded.
        .validate_messages()
        .message_id_fn(message_id)
        // One block plus the envelope (topic).
        .max_transmit_size(MAX_BLOCK_BYTES + 64 * 1024)
        .heartbeat_interval(heartbeat)
        // A peer's first message names all its topics: ~75 bytes each as
        // protobuf (a document's topic is 68 characters). The default, 16 KB,
        // refused a node with more than ~200 hot documents.
        .max_control_message_size(MAX_PEER_TOPICS * 100)
        .build()
        .map_err(|e| e.to_string())?;
    let topics = gossipsub::MaxCountSubscriptionFilter {
        filter: TopicLength,
        max_subscribed_topics: MAX_PEER_TOPICS,
        max_subscriptions_per_request: MAX_PEER_TOPICS,
    };
    gossipsub::Behaviour::new_with_subscription_filter(gossipsub::MessageAuthenticity::Anonymous, config, topics)
        .map_err(str::to_string)
}

impl Behaviour {
    pub(super) fn new(
        keypair: &identity::Keypair,
        relay_client: relay::client::Behaviour,
        signaling: Signaling,
        config: &BehaviourConfig,
        errors: &Arc<WireErrors>,
    ) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        #[cfg(not(target_arch = "wasm32"))]
        let peer_id = keypair.public().to_peer_id();
        #[cfg(not(target_arch = "wasm32"))]
        let relay = config.relay_server.as_ref().map(|limits| relay::Config {
            max_reservations: limits.max_reservations,
            max_reservations_per_peer: limits.max_reservations_per_peer,
            max_circuits: limits.max_circuits,
            max_circuits_per_peer: limits.max_circuits_per_peer,
            max_circuit_duration: limits.max_circuit_duration,
            max_circuit_bytes: limits.max_circuit_bytes,
            // The default rate limits refuse a node that reconnects often
            // (a phone on and off Wi-Fi); the limits above bound the load.
            reservation_rate_limiters: Vec::new(),
            circuit_src_rate_limiters: Vec::new(),
            ..relay::Config::default()
        });
        let gossipsub = if config.pubsub { Some(gossipsub(config.heartbeat)?) } else { None };
        #[cfg(not(target_arch = "wasm32"))]
        let mdns = if config.mdns { Some(Mdns::new(libp2p::mdns::Config::default(), peer_id)?) } else { None };
        #[cfg(target_arch = "wasm32")]
        let mdns: Option<Mdns> = None;
        #[cfg(not(target_arch = "wasm32"))]
        let kad = {
            use libp2p::kad;
            let mut kad =
                Kad::with_config(peer_id, kad::store::MemoryStore::new(peer_id), kad::Config::new(KAD_PROTOCOL));
            // Every native node serves the DHT.
            kad.set_mode(Some(kad::Mode::Server));
            kad
        };
        #[cfg(target_arch = "wasm32")]
        let kad = Kad {};
        #[cfg(not(target_arch = "wasm32"))]
        let (relay, dcutr) = (relay.map(|c| relay::Behaviour::new(peer_id, c)), Dcutr::new(peer_id));
        // A page serves no circuits: not even the server's config (and its
        // default rate limiters) is built there.
        #[cfg(target_arch = "wasm32")]
        let (relay, dcutr): (Option<RelayServer>, Dcutr) =
            (config.relay_server.as_ref().map(|_| RelayServer {}), Dcutr {});
        let limits = connection_limits::ConnectionLimits::default()
            .with_max_established_per_peer(Some(MAX_CONNECTIONS_PER_PEER));
        Ok(Behaviour {
            limits: connection_limits::Behaviour::new(limits),
            relay_client,
            relay: relay.into(),
            dcutr,
            identify: identify::Behaviour::new(
                identify::Config::new(IDENTIFY_PROTOCOL.into(), keypair.public()).with_agent_version(agent_version()),
            ),
            ping: ping::Behaviour::new(
                ping::Config::new().with_interval(config.ping_interval).with_timeout(config.ping_timeout),
            ),
            gossipsub: gossipsub.into(),
            blocks: request_response(BLOCKS_PROTOCOL, errors, config.request_timeout),
            heads: request_response(HEADS_PROTOCOL, errors, config.request_timeout),
            replicate: request_response(REPLICATE_PROTOCOL, errors, config.request_timeout),
            mdns: mdns.into(),
            kad,
            signaling,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gossipsub::{TopicHash, TopicSubscriptionFilter};

    #[test]
    fn a_topic_past_the_length_is_refused_and_ours_fit() {
        let mut filter = TopicLength;
        assert!(filter.can_subscribe(&TopicHash::from_raw("t".repeat(MAX_TOPIC_BYTES))));
        assert!(!filter.can_subscribe(&TopicHash::from_raw("t".repeat(MAX_TOPIC_BYTES + 1))));
        // A document's topic names its genesis CID (CIDv1, base32).
        let cid = crate::core::block::cid_of(b"a genesis");
        let doc = format!("weft/doc/{cid}");
        assert_eq!(doc.len(), 68);
        assert!(filter.can_subscribe(&TopicHash::from_raw(doc)));
        assert!(filter.can_subscribe(&TopicHash::from_raw(crate::core::sync::PEERS_TOPIC)));
    }
}
