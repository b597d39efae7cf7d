//! The swarm of a native node.

use std::sync::Arc;
use std::time::Duration;

use libp2p::{identity, noise, tcp, yamux, Swarm};
use libp2p_webrtc::tokio as webrtc;

use super::behaviour::{Behaviour, BehaviourConfig, IDLE_TIMEOUT};
use super::{webtransport, WireErrors};
use crate::node::{NodeConfig, NodeError};

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
    pub fn generate() -> Result<Self, NodeError> {
        let net = |e: &dyn std::fmt::Display| NodeError::Network(e.to_string());
        Ok(NodeCerts {
            webrtc: webrtc::Certificate::generate(&mut rand::rng()).map_err(|e| net(&e))?,
            webtransport: webtransport::Certificates::generate().map_err(|e| net(&e))?,
        })
    }
}

/// The swarm of a node: TCP and QUIC; WebTransport, WebRTC-direct and
/// WebSocket for browsers (all Noise-authenticated where they need it);
/// DNS names, and relayed connections.
pub async fn build_swarm(
    keypair: identity::Keypair,
    config: &NodeConfig,
    certs: NodeCerts,
) -> Result<Swarm<Behaviour>, NodeError> {
    build_swarm_counting(keypair, config, certs, Arc::default()).await
}

/// [`build_swarm`], counting the messages its protocols refuse in `errors`.
pub async fn build_swarm_counting(
    keypair: identity::Keypair,
    config: &NodeConfig,
    certs: NodeCerts,
    errors: Arc<WireErrors>,
) -> Result<Swarm<Behaviour>, NodeError> {
    let net = |e: &dyn std::fmt::Display| NodeError::Network(e.to_string());
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
                pubsub: config.pubsub,
                mdns: config.mdns,
                relay_server: Some(config.relay.clone()),
                kad_server: true,
                ping_interval: Duration::from_secs(15),
                request_timeout: config.request_timeout,
            };
            Behaviour::new(keypair, relay_client, libp2p::swarm::dummy::Behaviour, &behaviour, &errors)
        })
        .map_err(|e| net(&e))?;
    Ok(swarm.with_swarm_config(|c| c.with_idle_connection_timeout(IDLE_TIMEOUT)).build())
}
