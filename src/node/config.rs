//! How a node is started.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use libp2p::Multiaddr;

pub use crate::core::pending::PendingLimits;
pub use crate::net::RelayLimits;

#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// Where the redb file (`weft.redb`) lives.
    pub store: PathBuf,
    /// Run the database with no network at all.
    pub p2p: bool,
    pub listen: Vec<Multiaddr>,
    /// Peers to dial at start (bootstrap).
    pub peers: Vec<Multiaddr>,
    /// Passive replication over gossipsub; replicators work without it.
    pub pubsub: bool,
    pub mdns: bool,
    /// Advertise our p2p collections in the DHT and dial the peers that
    /// hold them too.
    pub discovery: bool,
    pub relay: RelayLimits,
    /// How many per-document topics a node holds (most recently used).
    pub doc_topics: usize,
    /// First retry delay of an unacknowledged push; it doubles up to `retry_max`.
    pub retry_base: Duration,
    pub retry_max: Duration,
    /// The local HTTP API; `None` serves none (tests drive the handle).
    pub api: Option<SocketAddr>,
    /// Web origins (`scheme://host[:port]`, as a browser sends them in
    /// `Origin`) whose pages may call the HTTP API; any other page is
    /// refused. Empty by default: no page at all.
    pub allowed_origins: Vec<String>,
    /// Dial the peers a relay announces holding reservations on it (pages
    /// meeting through the node they were given).
    pub meet_peers: bool,
    /// Offer a direct WebRTC connection over each relayed one we dial
    /// (pages: browser-to-browser WebRTC; a native node has DCUtR).
    pub direct_upgrade: bool,
    /// Caps on blocks waiting for their parents, per peer and in all.
    pub pending: PendingLimits,
    /// How long a request to a peer may take, and an inbound request may
    /// take to arrive (a stream opened and never written is dropped then).
    pub request_timeout: Duration,
    /// When a block's publish reaches nobody while a connected peer's
    /// topics were never heard, swap heads with that peer for the document
    /// (`Node::repair_unheard`): a page's tab that takes the lead from a
    /// hung one connects beside its connection, and gossipsub tells topics
    /// on a peer id's first connection only. Pages set it.
    pub repair_unheard: bool,
}

impl NodeConfig {
    /// A node storing in `store`, listening on the defaults of `weft start`.
    pub fn new(store: impl Into<PathBuf>) -> Self {
        NodeConfig {
            store: store.into(),
            p2p: true,
            listen: vec!["/ip4/0.0.0.0/tcp/9171".parse().unwrap(), "/ip4/0.0.0.0/udp/9171/quic-v1".parse().unwrap()],
            peers: Vec::new(),
            pubsub: true,
            mdns: true,
            discovery: true,
            relay: RelayLimits::default(),
            doc_topics: 1000,
            retry_base: Duration::from_secs(1),
            retry_max: Duration::from_secs(60),
            api: Some("127.0.0.1:9181".parse().unwrap()),
            allowed_origins: Vec::new(),
            meet_peers: false,
            direct_upgrade: false,
            pending: PendingLimits::default(),
            request_timeout: crate::net::REQUEST_TIMEOUT,
            repair_unheard: false,
        }
    }

    /// A node for tests: loopback TCP on a free port, no mDNS, no API, fast retries.
    pub fn loopback(store: impl Into<PathBuf>) -> Self {
        NodeConfig {
            listen: vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()],
            mdns: false,
            api: None,
            retry_base: Duration::from_millis(100),
            retry_max: Duration::from_secs(2),
            ..NodeConfig::new(store)
        }
    }
}
