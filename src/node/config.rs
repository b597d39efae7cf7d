//! How a node is started: [`NodeConfig`], natively from `weft start`'s
//! flags, in a page from `Database.open`'s options ([`OpenOptions`], checked
//! here so that the bindings only convert them).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use libp2p::multiaddr::Protocol;
use libp2p::Multiaddr;
use serde_json::Value;

use crate::core::schema::ValidationError;
use crate::store::Durability;

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
    /// hold them too. Native only: a page's build has no Kademlia, and
    /// [`NodeConfig::page`] leaves it off.
    pub discovery: bool,
    pub relay: RelayLimits,
    /// How many per-document topics a node holds (most recently used), at
    /// most [`crate::net::MAX_DOC_TOPICS`]: a peer refuses more of a node's
    /// topics than [`crate::net::MAX_PEER_TOPICS`].
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

impl NodeConfig {
    /// A page's node: it dials `peers` and keeps them connected, listens
    /// through each of them that is named by peer id (a relay reservation,
    /// `<peer>/p2p-circuit`, so that other pages reach it there), and with
    /// `direct_upgrade` for browser-to-browser WebRTC over those relayed
    /// connections. No mDNS, no HTTP API, no DHT (a page's build has no
    /// Kademlia: `net::Kad`); it meets the pages its relays announce, and
    /// the nodes it dials find the other peers of its collections.
    pub fn page(peers: Vec<Multiaddr>, direct_upgrade: bool) -> Self {
        // Only peers named by id can relay: `<peer>/p2p-circuit` needs it.
        let mut listen: Vec<Multiaddr> = peers
            .iter()
            .filter(|a| matches!(a.iter().last(), Some(Protocol::P2p(_))))
            .map(|a| a.clone().with(Protocol::P2pCircuit))
            .collect();
        if direct_upgrade {
            listen.push(Multiaddr::empty().with(Protocol::WebRTC));
        }
        NodeConfig {
            peers,
            listen,
            mdns: false,
            discovery: false,
            api: None,
            meet_peers: true,
            direct_upgrade,
            repair_unheard: true,
            ..NodeConfig::new("")
        }
    }
}

/// How a page opens its database: `Database.open(name, options)`'s
/// options, checked. Built with the `with_*` setters or read from the
/// options object ([`OpenOptions::from_json`]); [`OpenOptions::build`]
/// says what to open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenOptions {
    peers: Vec<Multiaddr>,
    /// `None`: a node when peers are given.
    p2p: Option<bool>,
    direct_upgrade: bool,
    durability: Durability,
}

impl Default for OpenOptions {
    /// No network, the browser's durability.
    fn default() -> Self {
        OpenOptions { peers: Vec::new(), p2p: None, direct_upgrade: true, durability: Durability::Default }
    }
}

/// What [`OpenOptions::build`] says to open.
#[derive(Debug, Clone)]
pub struct Open {
    pub durability: Durability,
    /// The page's node, when opened with `peers` or `p2p: true`.
    pub node: Option<NodeConfig>,
}

/// Open options that do not fit. Every one is a `VALIDATION` error in JS;
/// the messages name the option as JS spells it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OptionsError {
    #[error("the open options must be an object: {{ {known} }}", known = OpenOptions::KNOWN.join(", "))]
    NotAnObject,
    #[error("unknown open option \"{0}\": expected {known}", known = OpenOptions::KNOWN.join(", "))]
    Unknown(String),
    #[error("peers must be an array of multiaddr strings")]
    PeersNotAList,
    #[error("peers must be multiaddr strings")]
    PeerNotAString,
    #[error("not a multiaddr: {addr}: {reason}")]
    NotAMultiaddr { addr: String, reason: String },
    #[error("{0} must be true or false")]
    NotABool(&'static str),
    #[error("peers were given with p2p: false")]
    PeersWithoutP2p,
    #[error("durability must be \"default\", \"strict\" or \"relaxed\", not \"{0}\"")]
    UnknownDurability(String),
    #[error("durability must be \"default\", \"strict\" or \"relaxed\"")]
    DurabilityNotAString,
}

impl From<OptionsError> for crate::Error {
    fn from(e: OptionsError) -> Self {
        crate::Error::Validation(ValidationError { field: None, message: e.to_string() })
    }
}

/// A peer's address as a page gives it (`peers`, `db.dial`).
pub fn parse_multiaddr(addr: &str) -> Result<Multiaddr, OptionsError> {
    addr.parse().map_err(|e: libp2p::multiaddr::Error| OptionsError::NotAMultiaddr {
        addr: addr.to_owned(),
        reason: e.to_string(),
    })
}

impl OpenOptions {
    /// The options JS may give, in the order the messages list them.
    const KNOWN: [&'static str; 4] = ["peers", "p2p", "directUpgrade", "durability"];

    /// Peers to dial; with none and no `p2p`, no node runs.
    pub fn with_peers(mut self, peers: Vec<Multiaddr>) -> Self {
        self.peers = peers;
        self
    }

    /// Run the page's node (`true`) or none (`false`, which takes no peers).
    pub fn with_p2p(mut self, p2p: bool) -> Self {
        self.p2p = Some(p2p);
        self
    }

    /// Offer direct WebRTC over relayed connections to other pages.
    pub fn with_direct_upgrade(mut self, direct_upgrade: bool) -> Self {
        self.direct_upgrade = direct_upgrade;
        self
    }

    pub fn with_durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// The options object as JSON (`null` for none): `{ peers, p2p,
    /// directUpgrade, durability }`, each optional, `null` as if absent.
    pub fn from_json(options: &Value) -> Result<Self, OptionsError> {
        let o = match options {
            Value::Null => return Ok(OpenOptions::default()),
            Value::Object(o) => o,
            _ => return Err(OptionsError::NotAnObject),
        };
        if let Some(k) = o.keys().find(|k| !Self::KNOWN.contains(&k.as_str())) {
            return Err(OptionsError::Unknown(k.clone()));
        }
        let flag = |name: &'static str| match o.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(OptionsError::NotABool(name)),
        };
        let peers = match o.get("peers") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(list)) => list
                .iter()
                .map(|p| p.as_str().ok_or(OptionsError::PeerNotAString).and_then(parse_multiaddr))
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(OptionsError::PeersNotAList),
        };
        let p2p = flag("p2p")?;
        let direct_upgrade = flag("directUpgrade")?.unwrap_or(true);
        let durability = match o.get("durability") {
            None | Some(Value::Null) => Durability::Default,
            Some(Value::String(s)) => Durability::parse(s).ok_or_else(|| OptionsError::UnknownDurability(s.clone()))?,
            Some(_) => return Err(OptionsError::DurabilityNotAString),
        };
        Ok(OpenOptions { peers, p2p, direct_upgrade, durability })
    }

    /// The store's durability and, with `p2p` (by default when peers are
    /// given), the page's node ([`NodeConfig::page`]).
    pub fn build(self) -> Result<Open, OptionsError> {
        let p2p = self.p2p.unwrap_or(!self.peers.is_empty());
        if !p2p && !self.peers.is_empty() {
            return Err(OptionsError::PeersWithoutP2p);
        }
        let node = p2p.then(|| NodeConfig::page(self.peers, self.direct_upgrade));
        Ok(Open { durability: self.durability, node })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const NODE: &str = "/ip4/127.0.0.1/udp/9172/webrtc-direct/p2p/12D3KooWEyoppNCUx8Yx66oV9fJnriXwCcXwDDUA2kj6vnc6iDEp";

    fn open(options: Value) -> Result<Open, String> {
        OpenOptions::from_json(&options).and_then(OpenOptions::build).map_err(|e| e.to_string())
    }

    #[test]
    fn no_options_open_without_a_network() {
        for none in [Value::Null, json!({}), json!({ "peers": null, "p2p": null, "durability": null })] {
            let open = open(none).unwrap();
            assert!(open.node.is_none());
            assert_eq!(open.durability, Durability::Default);
        }
    }

    #[test]
    fn peers_start_a_node_that_listens_through_them() {
        let node = open(json!({ "peers": [NODE] })).unwrap().node.expect("peers start a node");
        assert_eq!(node.peers, vec![NODE.parse::<Multiaddr>().unwrap()]);
        let listen: Vec<String> = node.listen.iter().map(|a| a.to_string()).collect();
        assert_eq!(listen, vec![format!("{NODE}/p2p-circuit"), "/webrtc".to_string()]);
        assert!(node.meet_peers && node.direct_upgrade && node.repair_unheard && !node.discovery);
        assert!(!node.mdns && node.api.is_none());
    }

    #[test]
    fn a_peer_without_an_id_cannot_relay_and_no_direct_upgrade_listens_for_no_webrtc() {
        let node = open(json!({ "peers": ["/ip4/127.0.0.1/tcp/9171/ws"], "directUpgrade": false })).unwrap().node;
        let node = node.expect("a node");
        assert!(node.listen.is_empty(), "{:?}", node.listen);
        assert!(!node.direct_upgrade);
        // p2p: true with no peers: a node that waits to be told whom to dial.
        let node = open(json!({ "p2p": true })).unwrap().node.expect("a node");
        assert!(node.peers.is_empty());
        assert_eq!(node.listen, vec![Multiaddr::empty().with(Protocol::WebRTC)]);
    }

    #[test]
    fn durability_by_name() {
        for (name, d) in
            [("default", Durability::Default), ("strict", Durability::Strict), ("relaxed", Durability::Relaxed)]
        {
            assert_eq!(open(json!({ "durability": name })).unwrap().durability, d);
        }
    }

    #[test]
    fn options_that_do_not_fit_say_which_and_why() {
        let cases = [
            (json!(["peers"]), "the open options must be an object: { peers, p2p, directUpgrade, durability }"),
            (json!({ "peer": [NODE] }), "unknown open option \"peer\": expected peers, p2p, directUpgrade, durability"),
            (json!({ "peers": NODE }), "peers must be an array of multiaddr strings"),
            (json!({ "peers": [1] }), "peers must be multiaddr strings"),
            (json!({ "p2p": "yes" }), "p2p must be true or false"),
            (json!({ "directUpgrade": 0 }), "directUpgrade must be true or false"),
            (json!({ "peers": [NODE], "p2p": false }), "peers were given with p2p: false"),
            (
                json!({ "durability": "full" }),
                "durability must be \"default\", \"strict\" or \"relaxed\", not \"full\"",
            ),
            (json!({ "durability": true }), "durability must be \"default\", \"strict\" or \"relaxed\""),
        ];
        for (options, message) in cases {
            assert_eq!(open(options.clone()).unwrap_err(), message, "{options}");
        }
        let bad = open(json!({ "peers": ["not a multiaddr"] })).unwrap_err();
        assert!(bad.starts_with("not a multiaddr: not a multiaddr: "), "{bad}");
        let e: crate::Error = OptionsError::PeersWithoutP2p.into();
        assert_eq!(e.code(), "VALIDATION");
    }

    #[test]
    fn the_builder_checks_what_the_object_would() {
        let peer: Multiaddr = NODE.parse().unwrap();
        let open = OpenOptions::default().with_peers(vec![peer.clone()]).with_durability(Durability::Strict).build();
        let open = open.unwrap();
        assert_eq!(open.durability, Durability::Strict);
        assert_eq!(open.node.unwrap().peers, vec![peer.clone()]);
        let refused = OpenOptions::default().with_peers(vec![peer]).with_p2p(false).build();
        assert_eq!(refused.unwrap_err(), OptionsError::PeersWithoutP2p);
        assert!(OpenOptions::default().with_p2p(false).build().unwrap().node.is_none());
    }
}
