//! libp2p for weftdb: the request-response codec of its protocols and the
//! composed behaviour of a native node.

mod behaviour;
mod codec;
mod transport;
#[cfg(not(target_arch = "wasm32"))]
pub mod webtransport;

pub use behaviour::{build_swarm, build_swarm_counting, Behaviour, BehaviourEvent};
pub use codec::{Codec, WireErrors};
pub use transport::transport_of;
