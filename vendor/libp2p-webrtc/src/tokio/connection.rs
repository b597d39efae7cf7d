// Copyright 2022 Parity Technologies (UK) Ltd.
//
// Permission is hereby granted, free of charge, to any person obtaining a
// copy of this software and associated documentation files (the "Software"),
// to deal in the Software without restriction, including without limitation
// the rights to use, copy, modify, merge, publish, distribute, sublicense,
// and/or sell copies of the Software, and to permit persons to whom the
// Software is furnished to do so, subject to the following conditions:
//
// The above copyright notice and this permission notice shall be included in
// all copies or substantial portions of the Software.
//
// THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS
// OR IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
// FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
// AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
// LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING
// FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER
// DEALINGS IN THE SOFTWARE.

use std::{
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, Waker},
    time::Duration,
};

use futures::{
    FutureExt, StreamExt,
    channel::{
        mpsc,
        oneshot::{self, Sender},
    },
    future::BoxFuture,
    lock::Mutex as FutMutex,
    ready,
    stream::FuturesUnordered,
};
use libp2p_core::muxing::{StreamMuxer, StreamMuxerEvent};
use webrtc::{
    data::data_channel::DataChannel as DetachedDataChannel,
    data_channel::{RTCDataChannel, data_channel_init::RTCDataChannelInit},
    peer_connection::{RTCPeerConnection, peer_connection_state::RTCPeerConnectionState},
};

use crate::tokio::{error::Error, stream, stream::Stream};

/// Maximum number of unprocessed data channels.
/// See [`Connection::poll_inbound`].
const MAX_DATA_CHANNELS_IN_FLIGHT: usize = 10;

/// A WebRTC connection, wrapping [`RTCPeerConnection`] and implementing [`StreamMuxer`] trait.
pub struct Connection {
    /// [`RTCPeerConnection`] to the remote peer.
    ///
    /// Uses futures mutex because used in async code (see poll_outbound and poll_close).
    peer_conn: Arc<FutMutex<RTCPeerConnection>>,

    /// Channel onto which incoming data channels are put.
    incoming_data_channels_rx: mpsc::Receiver<Arc<DetachedDataChannel>>,

    /// Future, which, once polled, will result in an outbound stream.
    outbound_fut: Option<BoxFuture<'static, Result<Arc<DetachedDataChannel>, Error>>>,

    /// Future, which, once polled, will result in closing the entire connection.
    close_fut: Option<BoxFuture<'static, Result<(), Error>>>,

    /// A list of futures, which, once completed, signal that a [`Stream`] has been dropped.
    drop_listeners: FuturesUnordered<stream::DropListener>,
    no_drop_listeners_waker: Option<Waker>,

    /// Resolves when the peer connection has failed or closed (WEFTDB-PATCH).
    ended: oneshot::Receiver<RTCPeerConnectionState>,
    /// Resolves when the SCTP association has closed (WEFTDB-PATCH).
    association_closed: BoxFuture<'static, ()>,
}

impl Unpin for Connection {}

/// What [`Connection::prepare`] set up before the handshake (WEFTDB-PATCH).
pub(crate) struct Setup {
    incoming_data_channels_rx: mpsc::Receiver<Arc<DetachedDataChannel>>,
    ended: oneshot::Receiver<RTCPeerConnectionState>,
}

impl Connection {
    /// WEFTDB-PATCH: sets up, before the Noise handshake, the handlers that take the
    /// remote's channels and watch the peer connection's state. Set up after the handshake
    /// (as published), a channel the remote opened meanwhile was dropped: webrtc-rs hands an
    /// incoming channel to the handler in place when it arrives, or to no one. The side that
    /// ends its handshake first opens its streams (identify, a push) while the other may
    /// still be in its own.
    pub(crate) async fn prepare(rtc_conn: &RTCPeerConnection) -> Setup {
        let (data_channel_tx, data_channel_rx) = mpsc::channel(MAX_DATA_CHANNELS_IN_FLIGHT);

        Connection::register_incoming_data_channels_handler(
            rtc_conn,
            Arc::new(FutMutex::new(data_channel_tx)),
        )
        .await;
        Setup {
            incoming_data_channels_rx: data_channel_rx,
            ended: Connection::register_state_change_handler(rtc_conn),
        }
    }

    /// Creates a new connection from what [`Connection::prepare`] set up and the watch of its
    /// association, [`Connection::watch_association`] (WEFTDB-PATCH).
    pub(crate) fn new(
        rtc_conn: RTCPeerConnection,
        setup: Setup,
        association_closed: BoxFuture<'static, ()>,
    ) -> Self {
        Self {
            peer_conn: Arc::new(FutMutex::new(rtc_conn)),
            incoming_data_channels_rx: setup.incoming_data_channels_rx,
            outbound_fut: None,
            close_fut: None,
            drop_listeners: FuturesUnordered::default(),
            no_drop_listeners_waker: None,
            ended: setup.ended,
            association_closed,
        }
    }

    /// WEFTDB-PATCH: resolves when the SCTP association closes, as it does at once when the
    /// remote aborts it (a page closing its `RTCPeerConnection` sends an SCTP ABORT). webrtc-rs
    /// tells no one but the association's streams, so this keeps one of its own: a negotiated
    /// data channel (nothing is sent to open it) on an id the remote never opens, read until
    /// it ends.
    ///
    /// With `keepalive`, it also sends a DCEP `DATA_CHANNEL_ACK` (one byte, PPID 50) on that
    /// channel that often, for the SCTP acknowledgement it draws: an ICE-lite node hears an
    /// idle remote only through the remote's ICE consent checks (every ~2.6 s in Chromium, 4
    /// to 6 s in Firefox), and webrtc-ice counts any packet from the remote as a sign of life
    /// (`validate_non_stun_traffic` refreshes the pair's `last_received`). With a packet back
    /// every second from a live remote, a short ICE timeout fails only a remote that is gone.
    /// The remote's SCTP stack answers without its page (no script runs), and both browsers
    /// drop a DCEP ACK for a channel they do not have: Chromium's `DataChannelController`
    /// finds no channel for the id, Firefox's `HandleOpenAckMessage` returns. An empty or
    /// binary message would not do: Firefox queues data for an unknown channel, for good.
    /// A patched dialer has the channel (the same id on both sides) and webrtc-data drops
    /// the ACK there; an unpatched native dialer on webrtc-rs would take the id for a new
    /// channel, fail to open it and accept no more channels from us. So would a patched
    /// dialer that made its channel only after its handshake: the listener ends the handshake
    /// first (it sends the last message) and pings at once, so a dialer makes its channel
    /// before it sends its own first handshake message (`upgrade::outbound`).
    pub(crate) async fn watch_association(
        rtc_conn: &RTCPeerConnection,
        id: u16,
        keepalive: Option<Duration>,
    ) -> BoxFuture<'static, ()> {
        let init = RTCDataChannelInit {
            negotiated: Some(id),
            ..RTCDataChannelInit::default()
        };
        let channel = match rtc_conn.create_data_channel("", Some(init)).await {
            Ok(channel) => channel,
            Err(e) => {
                tracing::debug!("Cannot watch the SCTP association: {e}");
                return futures::future::pending().boxed();
            }
        };
        let (tx, rx) = oneshot::channel();
        register_data_channel_open_handler(channel, tx).await;
        async move {
            let Ok(detached) = rx.await else {
                return futures::future::pending().await;
            };
            let read = async {
                let mut buf = vec![0; 16 * 1024];
                // Ok(0): the stream was shut down with its association.
                while let Ok(n) = detached.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                }
            };
            let ping = async {
                let Some(period) = keepalive else {
                    return futures::future::pending().await;
                };
                let mut tick = tokio::time::interval(period);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tick.tick().await;
                    if let Err(e) = detached.write_data_channel_ack().await {
                        // The association is going: `read` ends with it.
                        tracing::debug!("SCTP keepalive not sent: {e}");
                        return futures::future::pending().await;
                    }
                }
            };
            futures::pin_mut!(read, ping);
            futures::future::select(read, ping).await;
        }
        .boxed()
    }

    /// WEFTDB-PATCH: the connection ends with its peer connection. Without this, a remote
    /// that went away (ICE failed: no consent checks) left the connection open until a new
    /// outbound stream happened to fail, or for good.
    fn register_state_change_handler(
        rtc_conn: &RTCPeerConnection,
    ) -> oneshot::Receiver<RTCPeerConnectionState> {
        let (tx, rx) = oneshot::channel();
        let tx = Arc::new(std::sync::Mutex::new(Some(tx)));
        let end = move |state: RTCPeerConnectionState| {
            if matches!(
                state,
                RTCPeerConnectionState::Failed | RTCPeerConnectionState::Closed
            ) {
                if let Some(tx) = tx.lock().expect("not poisoned").take() {
                    let _ = tx.send(state);
                }
            }
        };
        let end_on_change = end.clone();
        rtc_conn.on_peer_connection_state_change(Box::new(move |state| {
            end_on_change(state);
            Box::pin(async {})
        }));
        // It may have ended before the handler was in place.
        end(rtc_conn.connection_state());
        rx
    }

    /// Registers a handler for incoming data channels.
    ///
    /// NOTE: `mpsc::Sender` is wrapped in `Arc` because cloning a raw sender would make the channel
    /// unbounded. "The channel’s capacity is equal to buffer + num-senders. In other words, each
    /// sender gets a guaranteed slot in the channel capacity..."
    /// See <https://docs.rs/futures/latest/futures/channel/mpsc/fn.channel.html>
    async fn register_incoming_data_channels_handler(
        rtc_conn: &RTCPeerConnection,
        tx: Arc<FutMutex<mpsc::Sender<Arc<DetachedDataChannel>>>>,
    ) {
        rtc_conn.on_data_channel(Box::new(move |data_channel: Arc<RTCDataChannel>| {
            tracing::debug!(channel=%data_channel.id(), "Incoming data channel");

            let tx = tx.clone();

            Box::pin(async move {
                data_channel.on_open({
                    let data_channel = data_channel.clone();
                    Box::new(move || {
                        tracing::debug!(channel=%data_channel.id(), "Data channel open");

                        Box::pin(async move {
                            let data_channel = data_channel.clone();
                            let id = data_channel.id();
                            match data_channel.detach().await {
                                Ok(detached) => {
                                    let mut tx = tx.lock().await;
                                    if let Err(e) = tx.try_send(detached.clone()) {
                                        tracing::error!(channel=%id, "Can't send data channel: {}", e);
                                        // We're not accepting data channels fast enough =>
                                        // close this channel.
                                        //
                                        // Ideally we'd refuse to accept a data channel
                                        // during the negotiation process, but it's not
                                        // possible with the current API.
                                        if let Err(e) = detached.close().await {
                                            tracing::error!(
                                                channel=%id,
                                                "Failed to close data channel: {}",
                                                e
                                            );
                                        }
                                    }
                                }
                                Err(e) => {
                                    tracing::error!(channel=%id, "Can't detach data channel: {}", e);
                                }
                            };
                        })
                    })
                });
            })
        }));
    }
}

impl StreamMuxer for Connection {
    type Substream = Stream;
    type Error = Error;

    fn poll_inbound(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Self::Substream, Self::Error>> {
        match ready!(self.incoming_data_channels_rx.poll_next_unpin(cx)) {
            Some(detached) => {
                tracing::trace!(stream=%detached.stream_identifier(), "Incoming stream");

                let (stream, drop_listener) = Stream::new(detached, false); // WEFTDB-PATCH: inbound
                self.drop_listeners.push(drop_listener);
                if let Some(waker) = self.no_drop_listeners_waker.take() {
                    waker.wake()
                }

                Poll::Ready(Ok(stream))
            }
            None => {
                debug_assert!(
                    false,
                    "Sender-end of channel should be owned by `RTCPeerConnection`"
                );

                // Return `Pending` without registering a waker: If the channel is
                // closed, we don't need to be called anymore.
                Poll::Pending
            }
        }
    }

    fn poll(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<StreamMuxerEvent, Self::Error>> {
        // WEFTDB-PATCH: report a failed or closed peer connection, so that the connection is
        // closed rather than kept with no way to the remote.
        if let Poll::Ready(Ok(state)) = self.ended.poll_unpin(cx) {
            tracing::debug!(%state, "Peer connection ended");
            return Poll::Ready(Err(Error::Internal(format!("peer connection {state}"))));
        }
        if self.association_closed.poll_unpin(cx).is_ready() {
            tracing::debug!("SCTP association closed");
            return Poll::Ready(Err(Error::Internal("SCTP association closed".into())));
        }

        loop {
            match ready!(self.drop_listeners.poll_next_unpin(cx)) {
                Some(Ok(())) => {}
                Some(Err(e)) => {
                    tracing::debug!("a DropListener failed: {e}")
                }
                None => {
                    self.no_drop_listeners_waker = Some(cx.waker().clone());
                    return Poll::Pending;
                }
            }
        }
    }

    fn poll_outbound(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Self::Substream, Self::Error>> {
        let peer_conn = self.peer_conn.clone();
        let fut = self.outbound_fut.get_or_insert_with(|| {
            Box::pin(async move {
                let peer_conn = peer_conn.lock().await;

                let data_channel = peer_conn.create_data_channel("", None).await?;

                // No need to hold the lock during the DTLS handshake.
                drop(peer_conn);

                tracing::trace!(channel=%data_channel.id(), "Opening data channel");

                let (tx, rx) = oneshot::channel::<Arc<DetachedDataChannel>>();

                // Wait until the data channel is opened and detach it.
                register_data_channel_open_handler(data_channel, tx).await;

                // Wait until data channel is opened and ready to use
                match rx.await {
                    Ok(detached) => Ok(detached),
                    Err(e) => Err(Error::Internal(e.to_string())),
                }
            })
        });

        match ready!(fut.as_mut().poll(cx)) {
            Ok(detached) => {
                self.outbound_fut = None;

                tracing::trace!(stream=%detached.stream_identifier(), "Outbound stream");

                let (stream, drop_listener) = Stream::new(detached, true); // WEFTDB-PATCH: outbound
                self.drop_listeners.push(drop_listener);
                if let Some(waker) = self.no_drop_listeners_waker.take() {
                    waker.wake()
                }

                Poll::Ready(Ok(stream))
            }
            Err(e) => {
                self.outbound_fut = None;
                Poll::Ready(Err(e))
            }
        }
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        tracing::debug!("Closing connection");

        let peer_conn = self.peer_conn.clone();
        let fut = self.close_fut.get_or_insert_with(|| {
            Box::pin(async move {
                let peer_conn = peer_conn.lock().await;
                peer_conn.close().await?;

                Ok(())
            })
        });

        match ready!(fut.as_mut().poll(cx)) {
            Ok(()) => {
                self.incoming_data_channels_rx.close();
                self.close_fut = None;
                Poll::Ready(Ok(()))
            }
            Err(e) => {
                self.close_fut = None;
                Poll::Ready(Err(e))
            }
        }
    }
}

pub(crate) async fn register_data_channel_open_handler(
    data_channel: Arc<RTCDataChannel>,
    data_channel_tx: Sender<Arc<DetachedDataChannel>>,
) {
    data_channel.on_open({
        let data_channel = data_channel.clone();
        Box::new(move || {
            tracing::debug!(channel=%data_channel.id(), "Data channel open");

            Box::pin(async move {
                let data_channel = data_channel.clone();
                let id = data_channel.id();
                match data_channel.detach().await {
                    Ok(detached) => {
                        if let Err(e) = data_channel_tx.send(detached.clone()) {
                            tracing::error!(channel=%id, "Can't send data channel: {:?}", e);
                            if let Err(e) = detached.close().await {
                                tracing::error!(channel=%id, "Failed to close data channel: {}", e);
                            }
                        }
                    }
                    Err(e) => {
                        tracing::error!(channel=%id, "Can't detach data channel: {}", e);
                    }
                };
            })
        })
    });
}
