//! libp2p over WebTransport, native side: the server browsers dial, and a
//! native dialler for tests and node-to-node use.
//!
//! Why this exists: browsers can open WebTransport sessions to a server
//! they know only by IP address and certificate hash, without a CA-signed
//! certificate or a relay, but rust-libp2p ships only the browser half
//! (`webtransport-websys`); its server is an open issue (rust-libp2p#2993).
//! This module is that server, on the `wtransport` crate, following the
//! [libp2p WebTransport spec](https://github.com/libp2p/specs/blob/master/webtransport/README.md):
//!
//! - Address: `/ip4/A/udp/P/quic-v1/webtransport/certhash/<current>/certhash/<next>`.
//!   Listen on the address without certhashes; the listener reports it
//!   with them ([`Transport`]).
//! - Session: HTTP/3 CONNECT to `/.well-known/libp2p-webtransport?type=noise`;
//!   any other request is answered 404.
//! - Security: Noise XX on the first bidirectional stream, the client
//!   initiating; the server lists its certhashes in the Noise extension,
//!   and the client checks each hash it pinned is listed (`upgrade`).
//! - Streams: every later bidirectional stream is one libp2p substream
//!   ([`Connection`] is the `StreamMuxer`).
//! - Certificates: self-signed ECDSA P-256, valid 14 days, two advertised
//!   and rolled before they expire ([`Certificates`]); on a rotation the
//!   listener serves the new certificate and reports its old addresses
//!   expired and the new ones (new certhashes) as new addresses.
//!
//! Persist [`Certificates::to_der`] and restore it with
//! [`Certificates::from_der`] so an address a browser saved keeps working
//! across restarts (until its certificates are rotated out).

mod addr;
mod certs;
mod connection;
mod error;
mod transport;
mod upgrade;

pub use addr::PATH;
pub use certs::{CertError, Certificates, Clock, StoredCert, SystemClock, VALIDITY};
pub use connection::{Connection, Stream};
pub use error::Error;
pub use transport::Transport;
