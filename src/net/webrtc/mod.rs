//! Browser-to-browser WebRTC (libp2p `webrtc/webrtc.md`), which rust-libp2p
//! does not have: a transport that dials `<relayed addr>/webrtc/p2p/<id>`
//! by signalling over the relayed connection to that peer, and answers
//! such dials while it listens on `/webrtc`.
//!
//! The signalling streams are opened and accepted through libp2p-stream,
//! whose [`Control`] reaches the swarm's connections from inside a
//! transport. The node starts an upgrade once a relayed connection to
//! another page is up (`node::direct`).

mod channel;
mod connection;
mod handshake;

use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};
use libp2p::core::transport::{DialOpts, ListenerId, TransportError, TransportEvent};
use libp2p::core::Endpoint;
use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId};
use libp2p_stream::{Control, IncomingStreams};
use send_wrapper::SendWrapper;

pub use connection::{Connection, Stream};

use super::signaling::SIGNALING_PROTOCOL;
use super::transport::webrtc_dial_peer;

/// Handshakes answered at once; more are refused (each costs the browser
/// a peer connection).
const MAX_INBOUND_HANDSHAKES: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("WebRTC: {0}")]
    Js(String),
    #[error("WebRTC signalling: {0}")]
    Signaling(String),
    #[error("WebRTC signalling took too long")]
    Timeout,
    #[error("the WebRTC connection is closed")]
    Closed,
}

impl From<wasm_bindgen::JsValue> for Error {
    fn from(e: wasm_bindgen::JsValue) -> Self {
        let message = js_sys::Reflect::get(&e, &"message".into()).ok().and_then(|m| m.as_string());
        Error::Js(message.unwrap_or_else(|| format!("{e:?}")))
    }
}

impl From<prost_codec::Error> for Error {
    fn from(e: prost_codec::Error) -> Self {
        Error::Signaling(e.to_string())
    }
}

impl From<libp2p_stream::OpenStreamError> for Error {
    fn from(e: libp2p_stream::OpenStreamError) -> Self {
        Error::Signaling(e.to_string())
    }
}

/// The transport; listening on `/webrtc` is what makes a page answer.
pub struct Transport {
    control: Control,
    listener: Option<(ListenerId, IncomingStreams)>,
    answering: Arc<AtomicUsize>,
}

impl Transport {
    pub fn new(control: Control) -> Self {
        Transport { control, listener: None, answering: Arc::default() }
    }
}

/// One handshake being answered, until it ends or is dropped.
struct Slot(Arc<AtomicUsize>);

impl Slot {
    fn take(count: Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::Relaxed);
        Slot(count)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

type Upgrade = BoxFuture<'static, Result<(PeerId, Connection), Error>>;

impl libp2p::core::Transport for Transport {
    type Output = (PeerId, Connection);
    type Error = Error;
    type ListenerUpgrade = Upgrade;
    type Dial = Upgrade;

    fn listen_on(&mut self, id: ListenerId, addr: Multiaddr) -> Result<(), TransportError<Error>> {
        if addr.iter().collect::<Vec<_>>() != [Protocol::WebRTC] || self.listener.is_some() {
            return Err(TransportError::MultiaddrNotSupported(addr));
        }
        let incoming = self
            .control
            .accept(SIGNALING_PROTOCOL)
            .map_err(|e| TransportError::Other(Error::Signaling(e.to_string())))?;
        self.listener = Some((id, incoming));
        Ok(())
    }

    fn remove_listener(&mut self, id: ListenerId) -> bool {
        // Dropping the incoming streams stops accepting the protocol.
        let ours = self.listener.as_ref().is_some_and(|(l, _)| *l == id);
        if ours {
            self.listener = None;
        }
        ours
    }

    fn dial(&mut self, addr: Multiaddr, opts: DialOpts) -> Result<Upgrade, TransportError<Error>> {
        let Some(peer) = webrtc_dial_peer(&addr) else { return Err(TransportError::MultiaddrNotSupported(addr)) };
        if opts.role != Endpoint::Dialer {
            return Err(TransportError::MultiaddrNotSupported(addr));
        }
        let mut control = self.control.clone();
        let dial = async move {
            let stream = control.open_stream(peer, SIGNALING_PROTOCOL).await?;
            let connection = handshake::offer(stream).await?;
            tracing::info!(%peer, "direct WebRTC connection up (we offered)");
            Ok((peer, connection))
        };
        Ok(SendWrapper::new(dial).boxed())
    }

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<TransportEvent<Upgrade, Error>> {
        let Transport { listener, answering, .. } = &mut *self;
        let Some((listener_id, incoming)) = listener.as_mut() else { return Poll::Pending };
        loop {
            let Some((peer, stream)) = futures::ready!(incoming.poll_next_unpin(cx)) else {
                return Poll::Ready(TransportEvent::ListenerClosed { listener_id: *listener_id, reason: Ok(()) });
            };
            if answering.load(Ordering::Relaxed) >= MAX_INBOUND_HANDSHAKES {
                tracing::warn!(%peer, "too many WebRTC handshakes at once: refusing one");
                continue;
            }
            let slot = Slot::take(answering.clone());
            let upgrade = async move {
                let connection = handshake::answer(stream).await;
                drop(slot);
                let connection = connection?;
                tracing::info!(%peer, "direct WebRTC connection up (we answered)");
                Ok((peer, connection))
            };
            return Poll::Ready(TransportEvent::Incoming {
                listener_id: *listener_id,
                upgrade: SendWrapper::new(upgrade).boxed(),
                local_addr: Multiaddr::empty().with(Protocol::WebRTC),
                send_back_addr: Multiaddr::empty().with(Protocol::WebRTC).with(Protocol::P2p(peer)),
            });
        }
    }
}
