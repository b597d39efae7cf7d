//! An `RTCPeerConnection` between two pages, and the libp2p connection it
//! becomes: one libp2p stream per data channel, framed as libp2p's WebRTC
//! spec says (libp2p-webrtc-utils).

use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use futures::channel::mpsc;
use futures::stream::FuturesUnordered;
use futures::{AsyncRead, AsyncWrite, StreamExt};
use libp2p::core::muxing::{StreamMuxer, StreamMuxerEvent};
use send_wrapper::SendWrapper;
use wasm_bindgen::prelude::*;
use web_sys::{
    Event, RtcConfiguration, RtcDataChannelEvent, RtcPeerConnection, RtcPeerConnectionIceEvent, RtcPeerConnectionState,
};

use super::channel::DataChannel;
use super::Error;

/// The data channel the dialler opens so that its offer has a data
/// section; it carries no stream.
pub(super) const INIT_LABEL: &str = "init";

/// The browser's peer connection with its event handlers, from the first
/// offer on.
pub(super) struct Peer {
    pub(super) pc: RtcPeerConnection,
    /// Local ICE candidates as `RTCIceCandidateInit` JSON; `None` once gathered.
    pub(super) candidates: mpsc::UnboundedReceiver<Option<String>>,
    /// Woken on every change of the connection's state.
    pub(super) state_changes: mpsc::UnboundedReceiver<()>,
    /// Wrapped as they arrive: a message the browser delivers before a
    /// channel has its handlers would be lost.
    inbound: mpsc::Receiver<DataChannel>,
    _on_candidate: Closure<dyn FnMut(RtcPeerConnectionIceEvent)>,
    /// Also the SCTP transport's handler (`watch_sctp`).
    on_state: Closure<dyn FnMut(Event)>,
    _on_channel: Closure<dyn FnMut(RtcDataChannelEvent)>,
}

impl Peer {
    /// A peer connection with no STUN or TURN server: pages that meet
    /// through our relay reach each other by their host candidates, or the
    /// relayed connection stays.
    pub(super) fn new() -> Result<Self, Error> {
        let pc = RtcPeerConnection::new_with_configuration(&RtcConfiguration::new())?;
        let (candidate_tx, candidates) = mpsc::unbounded();
        let on_candidate = Closure::<dyn FnMut(_)>::new(move |ev: RtcPeerConnectionIceEvent| {
            let json = ev.candidate().and_then(|c| js_sys::JSON::stringify(&c.to_json()).ok()).map(String::from);
            let _ = candidate_tx.unbounded_send(json);
        });
        pc.set_onicecandidate(Some(on_candidate.as_ref().unchecked_ref()));
        let (state_tx, state_changes) = mpsc::unbounded();
        let on_state = Closure::<dyn FnMut(_)>::new(move |_: Event| {
            let _ = state_tx.unbounded_send(());
        });
        pc.set_onconnectionstatechange(Some(on_state.as_ref().unchecked_ref()));
        // Bounded: a peer opening channels faster than we take them is refused.
        let (mut channel_tx, inbound) = mpsc::channel(16);
        let on_channel = Closure::<dyn FnMut(_)>::new(move |ev: RtcDataChannelEvent| {
            let channel = ev.channel();
            if channel.label() == INIT_LABEL {
                return;
            }
            if channel_tx.try_send(DataChannel::new(channel.clone())).is_err() {
                tracing::warn!("a peer opens data channels faster than they are taken: closing one");
                channel.close();
            }
        });
        pc.set_ondatachannel(Some(on_channel.as_ref().unchecked_ref()));
        Ok(Peer {
            pc,
            candidates,
            state_changes,
            inbound,
            _on_candidate: on_candidate,
            on_state,
            _on_channel: on_channel,
        })
    }
}

impl Peer {
    /// The SCTP transport under the data channels, watched for its end: a
    /// page that closes its peer connection aborts the association at once,
    /// while the ICE state only fails after consent checks time out. web-sys
    /// has no binding for it, so it is reached by name.
    fn sctp(&self) -> Option<JsValue> {
        js_sys::Reflect::get(&self.pc, &"sctp".into()).ok().filter(|s| s.is_object())
    }

    pub(super) fn watch_sctp(&self) {
        if let Some(sctp) = self.sctp() {
            let _ = js_sys::Reflect::set(&sctp, &"onstatechange".into(), self.on_state.as_ref());
        }
    }

    fn sctp_closed(&self) -> bool {
        self.sctp()
            .and_then(|s| js_sys::Reflect::get(&s, &"state".into()).ok())
            .and_then(|s| s.as_string())
            .is_some_and(|s| s == "closed")
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        if let Some(sctp) = self.sctp() {
            let _ = js_sys::Reflect::set(&sctp, &"onstatechange".into(), &JsValue::NULL);
        }
        self.pc.set_onicecandidate(None);
        self.pc.set_onconnectionstatechange(None);
        self.pc.set_ondatachannel(None);
        self.pc.close();
    }
}

/// A libp2p stream over one data channel.
pub struct Stream(SendWrapper<libp2p_webrtc_utils::Stream<DataChannel>>);

type DropListener = SendWrapper<libp2p_webrtc_utils::DropListener<DataChannel>>;

impl Stream {
    /// `outbound` for a stream we opened: the remote's `FIN` on it is
    /// acknowledged at once (libp2p-webrtc-utils, patched).
    fn new(channel: DataChannel, outbound: bool) -> (Self, DropListener) {
        let (stream, listener) = if outbound {
            libp2p_webrtc_utils::Stream::new_outbound(channel)
        } else {
            libp2p_webrtc_utils::Stream::new(channel)
        };
        (Stream(SendWrapper::new(stream)), SendWrapper::new(listener))
    }
}

impl AsyncRead for Stream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut *self.get_mut().0).poll_read(cx, buf)
    }
}

impl AsyncWrite for Stream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut *self.get_mut().0).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut *self.get_mut().0).poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut *self.get_mut().0).poll_close(cx)
    }
}

/// A direct WebRTC connection to another page.
pub struct Connection {
    peer: SendWrapper<Peer>,
    /// Streams' drop listeners: once its stream is dropped, each resets the
    /// stream if it was not closed, waits for the `FIN`/`FIN_ACK` still to
    /// come (a few seconds at most), then closes its data channel.
    drop_listeners: FuturesUnordered<DropListener>,
    idle: Option<Waker>,
}

impl Connection {
    pub(super) fn new(peer: Peer) -> Self {
        peer.watch_sctp();
        Connection { peer: SendWrapper::new(peer), drop_listeners: FuturesUnordered::new(), idle: None }
    }

    fn stream(&mut self, channel: DataChannel, outbound: bool) -> Stream {
        let (stream, listener) = Stream::new(channel, outbound);
        self.drop_listeners.push(listener);
        if let Some(w) = self.idle.take() {
            w.wake();
        }
        stream
    }

    /// Failed, or closed by either side (`close()` makes the state
    /// `Closed` at once).
    fn is_dead(&self) -> bool {
        self.peer.sctp_closed()
            || matches!(
                self.peer.pc.connection_state(),
                RtcPeerConnectionState::Failed | RtcPeerConnectionState::Closed
            )
    }
}

impl StreamMuxer for Connection {
    type Substream = Stream;
    type Error = Error;

    fn poll_inbound(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<Stream, Error>> {
        match futures::ready!(self.peer.inbound.poll_next_unpin(cx)) {
            Some(channel) => Poll::Ready(Ok(self.stream(channel, false))),
            None => Poll::Ready(Err(Error::Closed)),
        }
    }

    fn poll_outbound(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<Stream, Error>> {
        if self.is_dead() {
            return Poll::Ready(Err(Error::Closed));
        }
        let channel = DataChannel::new(self.peer.pc.create_data_channel(""));
        Poll::Ready(Ok(self.stream(channel, true)))
    }

    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.peer.pc.close();
        Poll::Ready(Ok(()))
    }

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<StreamMuxerEvent, Error>> {
        // A failed peer connection ends the libp2p one: there is no other
        // way to learn that the remote page went away.
        while let Poll::Ready(Some(())) = self.peer.state_changes.poll_next_unpin(cx) {}
        if self.is_dead() {
            return Poll::Ready(Err(Error::Closed));
        }
        loop {
            match self.drop_listeners.poll_next_unpin(cx) {
                Poll::Ready(Some(Err(e))) => tracing::debug!("a dropped stream's channel did not close cleanly: {e}"),
                Poll::Ready(Some(Ok(()))) => {}
                Poll::Ready(None) => {
                    self.idle = Some(cx.waker().clone());
                    return Poll::Pending;
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}
