//! The swarm of a page: it dials out over WebTransport, WebRTC-direct and
//! WebSocket, and through relays; it is reached through a relay, and
//! directly by other pages over browser-to-browser WebRTC.

use std::sync::Arc;

use libp2p::core::upgrade::Version;
use libp2p::core::Transport as _;
use libp2p::{
    identity, noise, relay, webrtc_websys, websocket_websys, webtransport_websys, yamux, Swarm, SwarmBuilder,
};

use super::behaviour::{Behaviour, BehaviourConfig, IDLE_TIMEOUT};
use super::{webrtc, WireErrors};

/// A page's swarm; `errors` counts what its protocols refuse.
pub fn build_browser_swarm(
    keypair: identity::Keypair,
    pubsub: bool,
    errors: Arc<WireErrors>,
) -> Result<Swarm<Behaviour>, String> {
    let config = BehaviourConfig {
        pubsub,
        mdns: false,
        relay_server: None,
        ping_interval: super::behaviour::PAGE_PING,
        ping_timeout: super::behaviour::PAGE_PING,
        request_timeout: super::behaviour::REQUEST_TIMEOUT,
        heartbeat: super::behaviour::PAGE_HEARTBEAT,
    };
    let signaling = libp2p_stream::Behaviour::new();
    let control = signaling.new_control();
    let (relay_transport, relay_client) = relay::client::new(keypair.public().to_peer_id());
    let swarm = SwarmBuilder::with_existing_identity(keypair)
        .with_wasm_bindgen()
        // Transports are tried in turn. WebRTC first: its addresses hold a
        // `/p2p-circuit`, and the relay transport takes any such address
        // (which is why the relay is not added by `with_relay_client`,
        // which puts it first). Then the relay, which the others would
        // misread as their own.
        .with_other_transport(|_| webrtc::Transport::new(control))
        .map_err(|e| e.to_string())?
        .with_other_transport(|key| {
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(
                relay_transport
                    .upgrade(Version::V1Lazy)
                    .authenticate(noise::Config::new(key)?)
                    .multiplex(yamux::Config::default()),
            )
        })
        .map_err(|e| e.to_string())?
        .with_other_transport(|key| webtransport_websys::Transport::new(webtransport_websys::Config::new(key)))
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
        // WebRTC-direct last: in Firefox, on a page served from localhost,
        // the published libp2p-webrtc-websys 0.5 failed the dial of *every*
        // address, not only its own, and a transport that fails (rather
        // than declining the address) ends the search: before WebSocket, it
        // left Firefox no WebSocket at all. Our patched copy
        // (vendor/libp2p-webrtc-websys) no longer does; last stays a
        // safeguard against a transport that fails what it should decline.
        .with_other_transport(|key| webrtc_websys::Transport::new(webrtc_websys::Config::new(key)))
        .map_err(|e| e.to_string())?
        .with_behaviour(|key| Behaviour::new(key, relay_client, signaling, &config, &errors))
        .map_err(|e| e.to_string())?
        .with_swarm_config(|c| c.with_idle_connection_timeout(IDLE_TIMEOUT))
        .build();
    Ok(swarm)
}
