//! Why a node could not start, or stopped.

use libp2p::Multiaddr;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NodeError {
    #[error("cannot open the store: {0}")]
    Store(#[from] crate::Error),
    #[error("cannot listen on {addr}: {reason}")]
    Listen { addr: Multiaddr, reason: String },
    #[error("network setup failed: {0}")]
    Network(String),
    #[error("cannot serve the API on {addr}: {reason}")]
    Api { addr: std::net::SocketAddr, reason: String },
    #[error("the node has stopped")]
    Stopped,
}
