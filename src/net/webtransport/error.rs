//! What can go wrong on a WebTransport connection, named for the step.

use std::time::Duration;

use libp2p::PeerId;

use super::certs::CertError;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("socket: {0}")]
    Io(#[from] std::io::Error),
    #[error("connecting: {0}")]
    Connecting(#[from] wtransport::error::ConnectingError),
    #[error("WebTransport session: {0}")]
    Connection(#[from] wtransport::error::ConnectionError),
    #[error("opening a stream: {0}")]
    StreamOpening(#[from] wtransport::error::StreamOpeningError),
    #[error("Noise handshake: {0}")]
    Noise(#[from] libp2p::noise::Error),
    #[error("refused a request for {0}: not the libp2p WebTransport endpoint")]
    BadRequest(String),
    #[error("dialled {expected}, reached {actual}")]
    PeerIdMismatch { expected: PeerId, actual: PeerId },
    #[error("handshake not done within {0:?}")]
    Timeout(Duration),
    #[error("nothing heard from the peer for {0:?}")]
    Silent(Duration),
    #[error("certificates: {0}")]
    Certificates(#[from] CertError),
}
