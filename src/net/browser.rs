//! The swarm of a page: it dials out only (a page cannot listen), over
//! WebTransport, WebRTC-direct and WebSocket, and through relays.

use std::sync::Arc;

use libp2p::core::upgrade::Version;
use libp2p::core::Transport as _;
use libp2p::{identity, noise, webrtc_websys, websocket_websys, webtransport_websys, yamux, Swarm, SwarmBuilder};

use super::behaviour::{Behaviour, BehaviourConfig, IDLE_TIMEOUT};
use super::WireErrors;

/// A page's swarm; `errors` counts what its protocols refuse.
pub fn build_browser_swarm(
    keypair: identity::Keypair,
    pubsub: bool,
    errors: Arc<WireErrors>,
) -> Result<Swarm<Behaviour>, String> {
    let config = BehaviourConfig { pubsub, mdns: false, relay_server: None, kad_server: false };
    let swarm = SwarmBuilder::with_existing_identity(keypair)
        .with_wasm_bindgen()
        .with_other_transport(|key| webtransport_websys::Transport::new(webtransport_websys::Config::new(key)))
        .map_err(|e| e.to_string())?
        .with_other_transport(|key| webrtc_websys::Transport::new(webrtc_websys::Config::new(key)))
        .map_err(|e| e.to_string())?
        .with_other_transport(|key| {
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(
                websocket_websys::Transport::default()
                    .upgrade(Version::V1Lazy)
                    .authenticate(noise::Config::new(key)?)
                    .multiplex(yamux::Config::default()),
            )
        })
        .map_err(|e| e.to_string())?
        .with_relay_client(noise::Config::new, yamux::Config::default)
        .map_err(|e| e.to_string())?
        .with_behaviour(|key, relay_client| Behaviour::new(key, relay_client, &config, &errors))
        .map_err(|e| e.to_string())?
        .with_swarm_config(|c| c.with_idle_connection_timeout(IDLE_TIMEOUT))
        .build();
    Ok(swarm)
}
