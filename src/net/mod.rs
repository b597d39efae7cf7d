//! libp2p for weftdb: the request-response codec of its protocols, the
//! composed behaviour, and the swarm around it on each target (a native
//! node: TCP, QUIC, WebSocket and WebRTC-direct listeners; a page: the
//! transports a browser can dial).

mod behaviour;
#[cfg(target_arch = "wasm32")]
mod browser;
mod codec;
#[cfg(not(target_arch = "wasm32"))]
mod native;
pub mod signaling;
mod transport;
#[cfg(target_arch = "wasm32")]
pub mod webrtc;
#[cfg(not(target_arch = "wasm32"))]
pub mod webtransport;

pub use behaviour::{
    Behaviour, BehaviourConfig, BehaviourEvent, RelayLimits, Signaling, MAX_CONNECTIONS_PER_PEER, MAX_DOC_TOPICS,
    MAX_PEER_TOPICS, MAX_STREAMS_PER_CONNECTION, MAX_TOPIC_BYTES, REQUEST_TIMEOUT,
};
#[cfg(target_arch = "wasm32")]
pub use browser::build_browser_swarm;
pub use codec::{Codec, Inbound, WireErrors};
#[cfg(not(target_arch = "wasm32"))]
pub use native::{build_swarm, build_swarm_counting, NativeOptions, NodeCerts};
pub use transport::{transport_of, transport_of_endpoint, webrtc_addr_of, webrtc_dial_peer};
