//! The node's boundary with the network: what happens to it ([`Input`])
//! and what it asks to be done ([`Effect`]). The node never holds a socket
//! nor a libp2p `Swarm`: a driver per target (`swarm.rs`, over libp2p)
//! turns the swarm's events into inputs and carries the effects out, and
//! the simulator (`crate::sim`) delivers them between nodes itself.
//!
//! Ids are the node's own: a request it sends is named by a [`ReqId`] it
//! picks, a request it must answer by the [`ReplyId`] the driver picked, a
//! listener by a [`ListenId`], so that nothing here depends on how a
//! transport numbers them. Peer ids, addresses, connection ids and gossip
//! message ids are plain data and are used as they are.

use libp2p::gossipsub::{MessageAcceptance, MessageId};
use libp2p::swarm::ConnectionId;
use libp2p::{Multiaddr, PeerId};

use crate::core::sync::{
    BlocksRequest, BlocksResponse, HeadsRequest, HeadsResponse, ReplicateRequest, ReplicateResponse,
};

/// A request of ours in flight, named by the node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct ReqId(pub u64);

/// A peer's request to be answered, named by the driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct ReplyId(pub u64);

/// A listener the node asked for, named by the node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct ListenId(pub u64);

/// A request on one of the node's three protocols.
#[derive(Debug, Clone)]
pub(crate) enum Request {
    Blocks(BlocksRequest),
    Heads(HeadsRequest),
    Replicate(ReplicateRequest),
}

/// The answer to a [`Request`], on the same protocol.
#[derive(Debug, Clone)]
pub(crate) enum Response {
    Blocks(BlocksResponse),
    Heads(HeadsResponse),
    Replicate(ReplicateResponse),
}

/// Why a request of ours failed, where the node acts on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// The answer did not decode: held against the peer.
    Unreadable,
    /// The connection it went on closed before the answer came. The peer
    /// may still be connected on another (a relayed connection closed
    /// once the direct one is up): what it carried goes again there. (A
    /// stream broken as its connection goes may come first as an I/O
    /// error, `Other`, before the close: that one waits for the backoff.
    /// Not sent again at once: a peer that drops our requests over its
    /// rate resets their streams, and must not see them again at once.)
    Closed,
    /// A time-out, a refused protocol, or anything else.
    Other,
}

/// What happened, as the node is told. The time comes beside it
/// ([`super::run::Node::handle`]).
#[derive(Debug)]
// mDNS, the relay server and DCUtR are native only.
#[cfg_attr(target_arch = "wasm32", allow(dead_code))]
pub(crate) enum Input {
    /// A connection opened.
    Connected { peer: PeerId, conn: ConnectionId, addr: Multiaddr, dialed: bool, transport: &'static str },
    /// A connection closed, `remaining` others to the peer still open.
    Closed { peer: PeerId, conn: ConnectionId, remaining: u32 },
    /// A dial of `peer` failed (at once, or once tried).
    DialFailed { peer: PeerId, error: String },
    /// A listener has an address.
    Listening { id: ListenId, addr: Multiaddr },
    /// A listener's address went away.
    AddrExpired { id: ListenId, addr: Multiaddr },
    /// A listener could not start, or ended.
    ListenerClosed { id: ListenId, reason: String },
    /// A peer's request, to be answered through `reply` (or dropped).
    Request { peer: PeerId, reply: ReplyId, request: Request },
    /// A request the peer sent that did not decode (its stream is dropped).
    Unreadable { peer: PeerId, error: String },
    /// The answer to our request `id`.
    Response { peer: PeerId, id: ReqId, response: Response },
    /// Our request `id` failed, for the reason `failure`, as `error` says;
    /// `conn`: the connection it went on, if it went on one.
    RequestFailed { peer: PeerId, id: ReqId, conn: Option<ConnectionId>, failure: Failure, error: String },
    /// A gossip message, to be judged with [`Effect::Validate`].
    Gossip { source: PeerId, message: MessageId, topic: String, data: Vec<u8> },
    /// A peer joined a topic.
    Subscribed { peer: PeerId, topic: String },
    /// A peer left a topic.
    Unsubscribed { peer: PeerId, topic: String },
    /// A connection's pings fail (it carries nothing).
    PingFailed { peer: PeerId, conn: ConnectionId },
    /// Peers found on the LAN (mDNS), with their addresses.
    LanFound(Vec<(PeerId, Multiaddr)>),
    /// Peers mDNS no longer sees.
    LanGone(Vec<PeerId>),
    /// Peers that provide a topic we looked up.
    Providers(Vec<PeerId>),
    /// The DHT learnt a new peer.
    RoutingGrew,
    /// A peer's reservation on our relay started or ended.
    Reservation { peer: PeerId, held: bool },
    /// A relayed connection was upgraded to a direct one by hole punching.
    HolePunched { peer: PeerId },
}

/// What the node asks its driver to do, in order.
#[derive(Debug, Clone)]
pub(crate) enum Effect {
    /// Sends `request`; its answer or failure comes back under `id`.
    Send {
        id: ReqId,
        peer: PeerId,
        request: Request,
    },
    /// Answers a peer's request.
    Respond {
        reply: ReplyId,
        response: Response,
    },
    /// Drops a peer's request unanswered: its stream closes empty, which
    /// the peer sees as a failed request at once.
    Drop(ReplyId),
    /// Publishes on a gossip topic.
    Publish {
        topic: String,
        data: Vec<u8>,
    },
    Subscribe(String),
    Unsubscribe(String),
    /// Judges a gossip message: forwarded (accepted), dropped, or held
    /// against its source.
    Validate {
        message: MessageId,
        source: PeerId,
        acceptance: MessageAcceptance,
    },
    /// Dials `peer`: unless connected or dialling already, from a fresh
    /// port; `always`: even so (a second, direct connection).
    Dial {
        peer: PeerId,
        addrs: Vec<Multiaddr>,
        always: bool,
    },
    /// Dials an address whose peer we do not know.
    DialAddr(Multiaddr),
    /// Tells the transport an address of `peer`.
    AddAddress {
        peer: PeerId,
        addr: Multiaddr,
    },
    /// Closes one connection.
    Close(ConnectionId),
    /// Closes every connection to a peer.
    Disconnect(PeerId),
    /// Starts a listener; its addresses come as [`Input::Listening`].
    Listen {
        id: ListenId,
        addr: Multiaddr,
    },
    /// Advertises a topic in the DHT and looks up its providers.
    Discover(String),
    /// Stops advertising a topic.
    StopProviding(String),
}
