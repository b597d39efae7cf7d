//! The swarm of a native node.

use std::sync::Arc;
use std::time::Duration;

use libp2p::{identity, noise, tcp, yamux, Swarm};
use libp2p_webrtc::tokio as webrtc;

use super::behaviour::{Behaviour, BehaviourConfig, RelayLimits, IDLE_TIMEOUT};
use super::{webtransport, WireErrors};

/// The certificates whose hashes are part of the node's browser addresses.
#[derive(Clone)]
pub struct NodeCerts {
    /// `/webrtc-direct/certhash/...`
    pub webrtc: webrtc::Certificate,
    /// `/webtransport/certhash/.../certhash/...`, rotated every 14 days.
    pub webtransport: webtransport::Certificates,
}

impl NodeCerts {
    /// Fresh certificates (a node that keeps none, such as a test's).
    pub fn generate() -> Result<Self, String> {
        Ok(NodeCerts {
            webrtc: webrtc::Certificate::generate(&mut rand::rng()).map_err(|e| e.to_string())?,
            webtransport: webtransport::Certificates::generate().map_err(|e| e.to_string())?,
        })
    }
}

/// What a native node's swarm serves besides the weft protocols.
#[derive(Debug, Clone)]
pub struct NativeOptions {
    /// Gossipsub (passive replication).
    pub pubsub: bool,
    /// LAN discovery.
    pub mdns: bool,
    /// The limits of the circuits it relays for others.
    pub relay: RelayLimits,
    /// How long a request may wait for its answer.
    pub request_timeout: Duration,
}

/// The swarm of a node: TCP and QUIC; WebTransport, WebRTC-direct and
/// WebSocket for browsers (all Noise-authenticated where they need it);
/// DNS names, and relayed connections.
pub async fn build_swarm(
    keypair: identity::Keypair,
    options: &NativeOptions,
    certs: NodeCerts,
) -> Result<Swarm<Behaviour>, String> {
    build_swarm_counting(keypair, options, certs, Arc::default()).await
}

/// [`build_swarm`], counting the messages its protocols refuse in `errors`.
pub async fn build_swarm_counting(
    keypair: identity::Keypair,
    options: &NativeOptions,
    certs: NodeCerts,
    errors: Arc<WireErrors>,
) -> Result<Swarm<Behaviour>, String> {
    let net = |e: &dyn std::fmt::Display| e.to_string();
    let swarm = libp2p::SwarmBuilder::with_existing_identity(keypair)
        .with_tokio()
        .with_tcp(tcp::Config::default().nodelay(true), noise::Config::new, yamux::Config::default)
        .map_err(|e| net(&e))?
        .with_quic()
        .with_other_transport(|key| webtransport::Transport::new(key.clone(), certs.webtransport))
        .map_err(|e| net(&e))?
        .with_other_transport(|key| webrtc::Transport::new(key.clone(), certs.webrtc))
        .map_err(|e| net(&e))?
        .with_dns()
        .map_err(|e| net(&e))?
        .with_websocket(noise::Config::new, yamux::Config::default)
        .await
        .map_err(|e| net(&e))?
        .with_relay_client(noise::Config::new, yamux::Config::default)
        .map_err(|e| net(&e))?
        .with_behaviour(|keypair, relay_client| {
            let behaviour = BehaviourConfig {
                pubsub: options.pubsub,
                mdns: options.mdns,
                relay_server: Some(options.relay.clone()),
                ping_interval: Duration::from_secs(15),
                ping_timeout: super::behaviour::PING_TIMEOUT,
                request_timeout: options.request_timeout,
                heartbeat: super::behaviour::NODE_HEARTBEAT,
            };
            Behaviour::new(keypair, relay_client, libp2p::swarm::dummy::Behaviour, &behaviour, &errors)
        })
        .map_err(|e| net(&e))?;
    Ok(swarm.with_swarm_config(|c| c.with_idle_connection_timeout(IDLE_TIMEOUT)).build())
}
