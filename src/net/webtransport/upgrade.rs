//! The spec's handshake: Noise XX over the first bidirectional stream of
//! the session, the client initiating. The server lists its certhashes in
//! the Noise extension and the client checks that every hash it pinned is
//! among them: Noise binds the TLS certificate to the libp2p identity,
//! which hash-pinned TLS alone cannot (anyone may present a self-signed
//! certificate whose hash they publish).

use std::collections::HashSet;
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::{AsyncRead, AsyncWrite};

use libp2p::core::upgrade::{InboundConnectionUpgrade, OutboundConnectionUpgrade};
use libp2p::{identity, noise, PeerId};
use multihash::Multihash;
use wtransport::endpoint::IncomingSession;
use wtransport::{ClientConfig, Endpoint};

use super::addr::{is_libp2p_request, DialTarget};
use super::connection::{Connection, Stream};
use super::Error;

/// Covers the QUIC, HTTP/3 and Noise round trips; a peer slower than this
/// is holding a slot, not connecting.
pub(super) const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(15);
/// Browsers close idle sessions after about 30 s of silence; keep-alives
/// well inside that keep a quiet libp2p connection up. Every second: the
/// peer's acknowledgements are how the node tells a quiet peer from one
/// that is gone (`connection::SILENCE`).
pub(super) const KEEP_ALIVE: Duration = Duration::from_secs(1);
pub(super) const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
const NOISE: &str = "/noise";
/// How long a finished handshake stream may wait for the peer's end of it.
const HANDSHAKE_LINGER: Duration = Duration::from_secs(5);

/// The Noise handshake's stream. Noise consumes it and drops it when the
/// handshake is done; dropped as is, QUIC would stop the peer's sending
/// side (STOP_SENDING), and a peer still closing its side sees a failed
/// handshake: js-libp2p then refuses the connection ("Received
/// STOP_SENDING" after closing its authentication stream). On drop, a task
/// ends the stream in order instead (`Stream::linger`): the spec's
/// handshake stream is closed by both sides, as go-libp2p's server and the
/// browser's client do.
struct HandshakeStream(Option<Stream>);

impl Drop for HandshakeStream {
    fn drop(&mut self) {
        let (Some(stream), Ok(runtime)) = (self.0.take(), tokio::runtime::Handle::try_current()) else {
            return;
        };
        runtime.spawn(stream.linger(HANDSHAKE_LINGER));
    }
}

impl HandshakeStream {
    fn stream(self: Pin<&mut Self>) -> Pin<&mut Stream> {
        Pin::new(self.get_mut().0.as_mut().expect("the stream is only taken on drop"))
    }
}

impl AsyncRead for HandshakeStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        self.stream().poll_read(cx, buf)
    }
}

impl AsyncWrite for HandshakeStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.stream().poll_write(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.stream().poll_flush(cx)
    }
    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.stream().poll_close(cx)
    }
}

async fn in_time<T>(step: impl Future<Output = Result<T, Error>>) -> Result<T, Error> {
    tokio::time::timeout(HANDSHAKE_TIMEOUT, step).await.map_err(|_| Error::Timeout(HANDSHAKE_TIMEOUT))?
}

/// The server side: refuse anything but the libp2p endpoint, then answer
/// the client's Noise handshake.
pub(super) async fn inbound(
    incoming: IncomingSession,
    keypair: identity::Keypair,
    certhashes: HashSet<Multihash<64>>,
) -> Result<(PeerId, Connection), Error> {
    in_time(async move {
        let request = incoming.await?;
        if !is_libp2p_request(request.path()) {
            let path = request.path().to_owned();
            tracing::debug!(%path, remote = %request.remote_address(), "refused a WebTransport request");
            request.not_found().await;
            return Err(Error::BadRequest(path));
        }
        let session = request.accept().await?;
        let handshake = HandshakeStream(Some(Stream::new(session.accept_bi().await?)));
        let noise = noise::Config::new(&keypair)?.with_webtransport_certhashes(certhashes);
        let (peer, _) = noise.upgrade_inbound(handshake, NOISE).await?;
        tracing::debug!(%peer, remote = %session.remote_address(), "WebTransport connection in");
        Ok((peer, Connection::new(session, None)))
    })
    .await
}

/// The client side: pin the server's certificate by the address's hashes,
/// then open the handshake stream and check its certhashes and peer id.
pub(super) async fn outbound(target: DialTarget, keypair: identity::Keypair) -> Result<(PeerId, Connection), Error> {
    in_time(async move {
        let bind = match target.ip {
            Some(IpAddr::V6(_)) => SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0)),
            _ => SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
        };
        let config = ClientConfig::builder()
            .with_bind_address(bind)
            .with_server_certificate_hashes(target.digests())
            .keep_alive_interval(Some(KEEP_ALIVE))
            .max_idle_timeout(Some(IDLE_TIMEOUT))
            .expect("the idle timeout fits a QUIC varint")
            .build();
        let endpoint = Endpoint::client(config)?;
        let session = endpoint.connect(target.url()).await?;
        let handshake = HandshakeStream(Some(Stream::new(session.open_bi().await?.await?)));
        let noise = noise::Config::new(&keypair)?.with_webtransport_certhashes(target.certhashes.clone());
        let (peer, _) = noise.upgrade_outbound(handshake, NOISE).await?;
        if let Some(expected) = target.peer.filter(|p| *p != peer) {
            session.close(wtransport::VarInt::from_u32(0), b"");
            return Err(Error::PeerIdMismatch { expected, actual: peer });
        }
        tracing::debug!(%peer, url = %target.url(), "WebTransport connection out");
        Ok((peer, Connection::new(session, Some(endpoint))))
    })
    .await
}
