//! A WebTransport session as a libp2p connection: after the Noise
//! handshake, every bidirectional stream is one libp2p substream, so the
//! session needs no multiplexer of its own (QUIC is one).

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use futures::{AsyncRead, AsyncWrite, FutureExt};
use libp2p::core::muxing::{StreamMuxer, StreamMuxerEvent};
use tokio_util::compat::{Compat, TokioAsyncReadCompatExt};
use wtransport::endpoint::endpoint_side;
use wtransport::error::ConnectionError;
use wtransport::stream::BiStream;
use wtransport::{Endpoint, RecvStream, SendStream, VarInt};

use super::Error;

/// How long a peer may go without a single packet before the session is
/// ended: two and a half of our keep-alives unanswered (3.5 s, three of
/// them, left a closed Firefox page listed past the tests' 5 s in loaded
/// CI runs: the browser's own close took over a second there). A browser's QUIC stack
/// acknowledges our keep-alive PINGs without the page (no script runs), so
/// a live peer, however idle, is heard every
/// [`KEEP_ALIVE`](super::upgrade::KEEP_ALIVE). A tab that goes away may say
/// nothing: on a closed tab Chromium sends neither CONNECTION_CLOSE nor a
/// WebTransport close capsule nor a FIN on the CONNECT stream, and stops
/// acknowledging (seen in quinn's frame log; TESTING.md, Interop); the QUIC
/// idle timeout (Chromium's 30 s, restarted by our keep-alives) kept such a
/// session 30 to 40 s. Checked on our side only: the idle timeout both
/// sides negotiate stays long, so a node that stalls for a few seconds is
/// not dropped by its pages.
pub(super) const SILENCE: Duration = Duration::from_millis(2_500);
/// How often the watch for [`SILENCE`] looks at the session's counters:
/// a session is dropped between `SILENCE` and `SILENCE + SILENCE_CHECK`
/// after the last datagram, which must stay under the 5 s the tests ask
/// (a Firefox page that navigates away says nothing either; with a 1 s
/// check that took over 5 s in CI).
const SILENCE_CHECK: Duration = Duration::from_millis(250);

type Opening = BoxFuture<'static, Result<(SendStream, RecvStream), Error>>;

pub struct Connection {
    session: wtransport::Connection,
    // The pending accept/open survive between polls: the swarm polls
    // again after every wake-up and each call would otherwise start over.
    inbound: Option<Opening>,
    outbound: Option<Opening>,
    closed: BoxFuture<'static, ConnectionError>,
    heard: Heard,
    // A dialler's endpoint is its own UDP socket; it lives as long as the
    // session does.
    _endpoint: Option<Endpoint<endpoint_side::Client>>,
}

impl Connection {
    pub(super) fn new(session: wtransport::Connection, endpoint: Option<Endpoint<endpoint_side::Client>>) -> Self {
        let s = session.clone();
        Connection {
            session,
            inbound: None,
            outbound: None,
            closed: async move { s.closed().await }.boxed(),
            heard: Heard::new(),
            _endpoint: endpoint,
        }
    }

    /// The datagrams received on the session's QUIC connection so far.
    fn datagrams(&self) -> u64 {
        self.session.quic_connection().stats().udp_rx.datagrams
    }
}

/// When the peer was last heard from (any datagram), for [`SILENCE`].
struct Heard {
    check: tokio::time::Interval,
    datagrams: u64,
    at: Instant,
    /// When the counters were last looked at: a look long after the one
    /// before means this node stalled (its thread was busy), and the
    /// datagrams that came meanwhile may not be counted yet.
    looked: Instant,
}

impl Heard {
    fn new() -> Self {
        let mut check = tokio::time::interval(SILENCE_CHECK);
        check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let now = Instant::now();
        Heard { check, datagrams: 0, at: now, looked: now }
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        // The session's driver task holds its own handle to the QUIC
        // connection, so dropping ours would not end it.
        self.session.close(VarInt::from_u32(0), b"");
    }
}

impl StreamMuxer for Connection {
    type Substream = Stream;
    type Error = Error;

    fn poll_inbound(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<Stream, Error>> {
        let session = self.session.clone();
        let accept = self.inbound.get_or_insert_with(|| async move { Ok(session.accept_bi().await?) }.boxed());
        let result = ready!(accept.poll_unpin(cx));
        self.inbound = None;
        Poll::Ready(result.map(Stream::new))
    }

    fn poll_outbound(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<Stream, Error>> {
        let session = self.session.clone();
        // A new stream reaches the peer with its first bytes; the libp2p
        // dialer side of a substream always writes first (multistream-select).
        let open = self.outbound.get_or_insert_with(|| async move { Ok(session.open_bi().await?.await?) }.boxed());
        let result = ready!(open.poll_unpin(cx));
        self.outbound = None;
        Poll::Ready(result.map(Stream::new))
    }

    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.session.close(VarInt::from_u32(0), b"");
        Poll::Ready(Ok(()))
    }

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<StreamMuxerEvent, Error>> {
        if let Poll::Ready(error) = self.closed.poll_unpin(cx) {
            tracing::debug!(%error, "WebTransport session closed");
            return Poll::Ready(Err(error.into()));
        }
        while self.heard.check.poll_tick(cx).is_ready() {
            let datagrams = self.datagrams();
            let stalled = self.heard.looked.elapsed() > 2 * SILENCE_CHECK;
            self.heard.looked = Instant::now();
            if datagrams != self.heard.datagrams || stalled {
                // A stall of ours is not the peer's silence: judged afresh.
                self.heard.datagrams = datagrams;
                self.heard.at = Instant::now();
            } else if self.heard.at.elapsed() > SILENCE {
                tracing::debug!(silence = ?self.heard.at.elapsed(), "WebTransport peer silent; session ended");
                self.session.close(VarInt::from_u32(0), b"");
                return Poll::Ready(Err(Error::Silent(SILENCE)));
            }
        }
        Poll::Pending
    }
}

/// One libp2p substream: a WebTransport bidirectional stream.
pub struct Stream {
    inner: Compat<BiStream>,
    /// libp2p closes a stream more than once (a codec, then its handler);
    /// QUIC refuses to finish a finished stream, so later closes succeed here.
    closed: bool,
}

impl Stream {
    pub(super) fn new(halves: (SendStream, RecvStream)) -> Self {
        Stream { inner: BiStream::join(halves).compat(), closed: false }
    }

    /// Ends the stream as a finished exchange rather than an abandoned
    /// one: finishes our side and reads the peer's to its end, for at most
    /// `within`. Dropping a QUIC stream whose peer has not finished sends
    /// it STOP_SENDING, which a browser that is still closing its side
    /// reports as an error.
    pub(super) async fn linger(self, within: Duration) {
        let (mut send, mut recv) = self.inner.into_inner().split();
        let finish = async {
            if let Err(error) = send.finish().await {
                tracing::trace!(%error, "WebTransport stream not finished cleanly");
            }
        };
        let drain = async {
            let mut buf = [0u8; 256];
            while let Ok(Some(_)) = recv.read(&mut buf).await {}
        };
        if tokio::time::timeout(within, futures::future::join(finish, drain)).await.is_err() {
            tracing::debug!(?within, "WebTransport stream still open; dropped");
        }
    }
}

impl AsyncRead for Stream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Stream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.closed {
            return Poll::Ready(Ok(()));
        }
        let result = ready!(Pin::new(&mut self.inner).poll_close(cx));
        self.closed = true;
        Poll::Ready(result)
    }
}
