// Copyright 2022 Parity Technologies (UK) Ltd.
// Copyright 2023 Protocol Labs.
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
    io,
    pin::Pin,
    sync::{Arc, Mutex, MutexGuard},
    task::{Context, Poll, Waker},
    time::Duration,
};

use bytes::Bytes;
use futures::{
    channel::oneshot,
    prelude::*,
    ready,
    task::{ArcWake, AtomicWaker},
};

use crate::{
    proto::{Flag, Message},
    stream::{
        drop_listener::Dropped,
        framed_dc::FramedDc,
        state::{Closing, State},
    },
};

mod drop_listener;
mod framed_dc;
mod state;

/// Maximum length of a message.
///
/// "As long as message interleaving is not supported, the sender SHOULD limit the maximum message
/// size to 16 KB to avoid monopolization."
/// Source: <https://www.rfc-editor.org/rfc/rfc8831#name-transferring-user-data-on-a>
pub const MAX_MSG_LEN: usize = 16 * 1024;
/// Length of varint, in bytes.
const VARINT_LEN: usize = 2;
/// Overhead of the protobuf encoding, in bytes.
const PROTO_OVERHEAD: usize = 5;
/// Maximum length of data, in bytes.
const MAX_DATA_LEN: usize = MAX_MSG_LEN - VARINT_LEN - PROTO_OVERHEAD;
/// WEFTDB-PATCH: how long the data channel of a dropped stream is kept for the `FIN`/`FIN_ACK`
/// still to come (go-libp2p and litep2p wait about as long) before it is closed without them.
pub(crate) const FIN_ACK_TIMEOUT: Duration = Duration::from_secs(5);

pub use drop_listener::DropListener;
/// A stream backed by a WebRTC data channel.
///
/// To be a proper libp2p stream, we need to implement [`AsyncRead`] and [`AsyncWrite`] as well
/// as support a half-closed state which we do by framing messages in a protobuf envelope.
pub struct Stream<T> {
    /// WEFTDB-PATCH: the framed channel and the stream's state, shared with its drop listener,
    /// which takes in the remote's messages while the stream is not read (see `Shared`).
    shared: Arc<Mutex<Shared<T>>>,
    /// WEFTDB-PATCH: tells the drop listener the stream is gone.
    drop_notifier: Option<oneshot::Sender<Dropped>>,
}

/// WEFTDB-PATCH: where the stream is in the handshake that closes it (libp2p's WebRTC spec,
/// "Closing an `RTCDataChannel`"). The data channel is closed by the drop listener once the
/// stream is gone and both `FIN`s are acknowledged.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Fin {
    /// We sent our `FIN`.
    pub(crate) write_closed: bool,
    /// The remote's `FIN` came in.
    pub(crate) received: bool,
    /// Its `FIN_ACK` is still to be sent.
    pub(crate) ack_owed: bool,
    /// The remote acknowledged our `FIN`.
    pub(crate) acked: bool,
}

/// WEFTDB-PATCH: what the stream and its drop listener share. The drop listener is polled by the
/// connection for the stream's whole life: while nobody reads the stream (a stream a protocol
/// only writes to, as gossipsub's outbound one, or ping's between pings), it takes in the
/// remote's next message (one at a time: data waits in `read_buffer` for the reader), so a
/// `FIN`, `STOP_SENDING` or `RESET` is seen at once and a `FIN_ACK` sent when due. One framed
/// channel serves both (two readers of one channel would split its messages); whichever of the
/// two polls it does so with a waker that wakes both.
pub(crate) struct Shared<T> {
    pub(crate) io: FramedDc<T>,
    state: State,
    read_buffer: Bytes,
    pub(crate) fin: Fin,
    /// We opened the stream: a `FIN` is acknowledged at once (see `ack_due`).
    outbound: bool,
    /// The end of the data (the remote's `FIN`, a `RESET`, the channel's end) was taken in, and
    /// is still to be reported to the reader (once `read_buffer` is empty).
    eof_pending: bool,
    /// The channel ended (or failed to decode): nothing more comes.
    io_done: bool,
    /// A read error, kept for the reader.
    read_error: Option<io::ErrorKind>,
    wakers: Arc<Wakers>,
    waker: Waker,
}

/// WEFTDB-PATCH: the stream's task and its drop listener's, both woken by the channel.
#[derive(Default)]
pub(crate) struct Wakers {
    pub(crate) stream: AtomicWaker,
    pub(crate) listener: AtomicWaker,
}

impl ArcWake for Wakers {
    fn wake_by_ref(arc_self: &Arc<Self>) {
        arc_self.stream.wake();
        arc_self.listener.wake();
    }
}

/// WEFTDB-PATCH: locks the shared state (a poisoned lock is taken as is: every transition is
/// complete before anything that may panic).
pub(crate) fn lock<T>(shared: &Mutex<Shared<T>>) -> MutexGuard<'_, Shared<T>> {
    shared.lock().unwrap_or_else(|e| e.into_inner())
}

impl<T> Shared<T>
where
    T: AsyncRead + AsyncWrite + Unpin,
{
    fn new(io: FramedDc<T>, outbound: bool) -> Self {
        let wakers = Arc::new(Wakers::default());
        let waker = futures::task::waker(wakers.clone());
        Self {
            io,
            state: State::Open,
            read_buffer: Bytes::default(),
            fin: Fin::default(),
            outbound,
            eof_pending: false,
            io_done: false,
            read_error: None,
            wakers,
            waker,
        }
    }

    /// A `FIN_ACK` is due: at once on a stream we opened (the remote answers, and no libp2p
    /// protocol's answerer reads after its own `FIN`: js-libp2p and go-libp2p take a `FIN_ACK`
    /// at any time, and js-libp2p's connection close waits for one on every stream), else once
    /// our own write half is closed: a peer with the unpatched crate, which fails its read on
    /// an unknown flag, has read to our `FIN` by then and reads no further (an opener reads
    /// the answer after its own `FIN`: request-response, identify).
    pub(crate) fn ack_due(&self) -> bool {
        self.fin.ack_owed && (self.fin.write_closed || self.outbound)
    }

    /// Queues the `FIN_ACK` owed for the remote's `FIN` and hands it to the channel.
    pub(crate) fn poll_send_fin_ack(&mut self) -> Poll<io::Result<()>> {
        let waker = self.waker.clone();
        let mut cx = Context::from_waker(&waker);
        ready!(self.io.poll_ready_unpin(&mut cx))?;
        self.fin.ack_owed = false;
        self.io.start_send_unpin(Message {
            flag: Some(Flag::FinAck as i32),
            message: None,
        })?;
        // Whoever flushes next waits for the rest (the channel takes it at once).
        if let Poll::Ready(Err(e)) = self.io.poll_flush_unpin(&mut cx) {
            return Poll::Ready(Err(e.into()));
        }
        Poll::Ready(Ok(()))
    }

    /// Takes in the remote's next message, if one came. Ready once one was taken in, or the
    /// channel ended.
    pub(crate) fn poll_take_in(&mut self) -> Poll<()> {
        if self.io_done {
            return Poll::Ready(());
        }
        let waker = self.waker.clone();
        let mut cx = Context::from_waker(&waker);
        match ready!(io_poll_next(&mut self.io, &mut cx)) {
            Ok(Some((flag, message))) => self.take_in(flag, message),
            Ok(None) => {
                self.io_done = true;
                if self.state.read_barrier().is_ok() {
                    self.eof_pending = true;
                }
                self.state
                    .handle_inbound_flag(Flag::Fin, &mut self.read_buffer);
            }
            Err(e) => {
                self.io_done = true;
                self.read_error = Some(e.kind());
            }
        }
        Poll::Ready(())
    }

    /// Data taken in and not read yet.
    pub(crate) fn has_unread_data(&self) -> bool {
        !self.read_buffer.is_empty()
    }

    /// Drops the data taken in: nobody reads it any more.
    pub(crate) fn read_buffer_discard(&mut self) {
        self.read_buffer = Bytes::new();
    }

    /// The remote reset the stream.
    pub(crate) fn reset(&self) -> bool {
        self.state.is_reset()
    }

    fn take_in(&mut self, flag: Option<Flag>, message: Option<Vec<u8>>) {
        let readable = self.state.read_barrier().is_ok() && !self.eof_pending;
        if let Some(data) = message.filter(|m| !m.is_empty()) {
            // Data after the end, or after we closed our read half, is discarded.
            if readable {
                debug_assert!(self.read_buffer.is_empty());
                self.read_buffer = data.into();
            }
        }
        let Some(flag) = flag else { return };
        match flag {
            Flag::Fin if !self.fin.received => {
                self.fin.received = true;
                self.fin.ack_owed = true;
                self.eof_pending |= readable;
            }
            Flag::FinAck => self.fin.acked = true,
            // As the published crate: the reader sees the end once, then the reset.
            Flag::Reset => self.eof_pending |= readable,
            _ => {}
        }
        self.state.handle_inbound_flag(flag, &mut self.read_buffer);
    }
}

impl<T> Stream<T>
where
    T: AsyncRead + AsyncWrite + Unpin + Clone,
{
    /// Returns a new [`Stream`] and a [`DropListener`],
    /// which will notify the receiver when/if the stream is dropped.
    ///
    /// WEFTDB-PATCH: for a stream the remote opened (see [`Stream::new_outbound`]).
    pub fn new(data_channel: T) -> (Self, DropListener<T>) {
        Self::with_direction(data_channel, false)
    }

    /// WEFTDB-PATCH: as [`Stream::new`], for a stream we opened: the remote's `FIN` is
    /// acknowledged at once, rather than once our own write half is closed.
    pub fn new_outbound(data_channel: T) -> (Self, DropListener<T>) {
        Self::with_direction(data_channel, true)
    }

    fn with_direction(data_channel: T, outbound: bool) -> (Self, DropListener<T>) {
        let (sender, receiver) = oneshot::channel();
        let shared = Arc::new(Mutex::new(Shared::new(
            framed_dc::new(data_channel),
            outbound,
        )));

        let stream = Self {
            shared: shared.clone(),
            drop_notifier: Some(sender),
        };
        let listener = DropListener::new(shared, receiver);

        (stream, listener)
    }

    /// Gracefully closes the "read-half" of the stream.
    pub fn poll_close_read(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut s = lock(&self.shared);
        s.wakers.stream.register(cx.waker());
        let waker = s.waker.clone();
        let cx = &mut Context::from_waker(&waker);
        loop {
            match s.state.close_read_barrier()? {
                Some(Closing::Requested) => {
                    ready!(s.io.poll_ready_unpin(cx))?;

                    s.io.start_send_unpin(Message {
                        flag: Some(Flag::StopSending as i32),
                        message: None,
                    })?;
                    s.state.close_read_message_sent();

                    continue;
                }
                Some(Closing::MessageSent) => {
                    ready!(s.io.poll_flush_unpin(cx))?;

                    s.state.read_closed();
                    // Unread data is dropped; the listener takes in flags from here on.
                    s.read_buffer = Bytes::new();
                    s.wakers.listener.wake();

                    return Poll::Ready(Ok(()));
                }
                None => return Poll::Ready(Ok(())),
            }
        }
    }
}

impl<T> AsyncRead for Stream<T>
where
    T: AsyncRead + AsyncWrite + Unpin,
{
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let mut s = lock(&self.shared);
        s.wakers.stream.register(cx.waker());
        loop {
            // WEFTDB-PATCH: a FIN_ACK that is due goes before the end is reported.
            if s.ack_due()
                && let Err(e) = ready!(s.poll_send_fin_ack())
            {
                tracing::debug!("could not acknowledge FIN: {e}");
            }

            // WEFTDB-PATCH: data and the end, as taken in by the stream or its listener.
            if !s.read_buffer.is_empty() {
                let n = std::cmp::min(s.read_buffer.len(), buf.len());
                let data = s.read_buffer.split_to(n);
                buf[0..n].copy_from_slice(&data[..]);
                if s.read_buffer.is_empty() {
                    // The listener takes in the next message if we don't.
                    s.wakers.listener.wake();
                }

                return Poll::Ready(Ok(n));
            }
            if s.eof_pending {
                s.eof_pending = false;
                tracing::debug!("poll_read: the remote's data ended");
                return Poll::Ready(Ok(0));
            }
            if let Some(kind) = s.read_error {
                return Poll::Ready(Err(kind.into()));
            }

            s.state.read_barrier()?;

            if s.io_done {
                return Poll::Ready(Ok(0));
            }
            ready!(s.poll_take_in());
        }
    }
}

impl<T> AsyncWrite for Stream<T>
where
    T: AsyncRead + AsyncWrite + Unpin,
{
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let mut s = lock(&self.shared);
        s.wakers.stream.register(cx.waker());
        // Flags (a `STOP_SENDING`) on a stream whose read half is closed. WEFTDB-PATCH: the drop
        // listener takes them in too; data is discarded (see `take_in`).
        while s.state.read_flags_in_async_write() && !s.io_done {
            if s.poll_take_in().is_pending() {
                break;
            }
        }

        s.state.write_barrier()?;

        let waker = s.waker.clone();
        let cx = &mut Context::from_waker(&waker);
        ready!(s.io.poll_ready_unpin(cx))?;

        let n = usize::min(buf.len(), MAX_DATA_LEN);

        s.io.start_send_unpin(Message {
            flag: None,
            message: Some(buf[0..n].into()),
        })?;

        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut s = lock(&self.shared);
        s.wakers.stream.register(cx.waker());
        let waker = s.waker.clone();
        s.io.poll_flush_unpin(&mut Context::from_waker(&waker))
            .map_err(Into::into)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut s = lock(&self.shared);
        s.wakers.stream.register(cx.waker());
        let waker = s.waker.clone();
        let cx = &mut Context::from_waker(&waker);
        loop {
            match s.state.close_write_barrier()? {
                Some(Closing::Requested) => {
                    ready!(s.io.poll_ready_unpin(cx))?;

                    s.io.start_send_unpin(Message {
                        flag: Some(Flag::Fin as i32),
                        message: None,
                    })?;
                    s.state.close_write_message_sent();

                    continue;
                }
                Some(Closing::MessageSent) => {
                    // WEFTDB-PATCH: a FIN read before is acknowledged after ours. The close does
                    // not wait for our FIN_ACK (as go-libp2p's): the channel is only closed once
                    // it came (see `Fin`), and peers without it would hold every close.
                    if s.fin.ack_owed {
                        ready!(s.poll_send_fin_ack())?;
                    }
                    ready!(s.io.poll_flush_unpin(cx))?;

                    s.state.write_closed();
                    s.fin.write_closed = true;

                    return Poll::Ready(Ok(()));
                }
                None => return Poll::Ready(Ok(())),
            }
        }
    }
}

impl<T> Drop for Stream<T> {
    /// WEFTDB-PATCH: the drop listener finishes what the stream leaves: a `RESET` unless we
    /// closed our write half, the `FIN`/`FIN_ACK` still to come, then closing the channel.
    fn drop(&mut self) {
        if let Some(notifier) = self.drop_notifier.take() {
            let _ = notifier.send(Dropped);
        }
    }
}

fn io_poll_next<T>(
    io: &mut FramedDc<T>,
    cx: &mut Context<'_>,
) -> Poll<io::Result<Option<(Option<Flag>, Option<Vec<u8>>)>>>
where
    T: AsyncRead + AsyncWrite + Unpin,
{
    match ready!(io.poll_next_unpin(cx))
        .transpose()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?
    {
        Some(Message { flag, message }) => {
            let flag = flag
                .map(|f| {
                    Flag::try_from(f).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
                })
                .transpose()?;
            Poll::Ready(Ok(Some((flag, message))))
        }
        None => Poll::Ready(Ok(None)),
    }
}

#[cfg(test)]
mod tests {
    use asynchronous_codec::Encoder;
    use bytes::BytesMut;

    use super::*;
    use crate::stream::framed_dc::codec;

    #[test]
    fn max_data_len() {
        // Largest possible message.
        let message = [0; MAX_DATA_LEN];

        let protobuf = Message {
            flag: Some(Flag::Fin as i32),
            message: Some(message.to_vec()),
        };

        let mut codec = codec();

        let mut dst = BytesMut::new();
        codec.encode(protobuf, &mut dst).unwrap();

        // Ensure the varint prefixed and protobuf encoded largest message is no longer than the
        // maximum limit specified in the libp2p WebRTC specification.
        assert_eq!(dst.len(), MAX_MSG_LEN);
    }
}

/// WEFTDB-PATCH: the `FIN`/`FIN_ACK` handshake, over an in-memory channel: what the stream and
/// its drop listener send for what they are fed, and when the channel is closed.
#[cfg(test)]
mod fin_ack_tests {
    use std::{
        collections::VecDeque,
        sync::{Arc, Mutex},
        task::Waker,
    };

    use asynchronous_codec::{Decoder, Encoder};
    use bytes::BytesMut;
    use futures::{executor::block_on, future::poll_fn};

    use super::*;
    use crate::stream::framed_dc::codec;

    /// A data channel as the stream sees it: what the remote sent us, what we sent, and whether
    /// the channel was closed.
    #[derive(Clone, Default)]
    struct Channel(Arc<Mutex<Wire>>);

    #[derive(Default)]
    struct Wire {
        inbound: VecDeque<u8>,
        outbound: BytesMut,
        closed: bool,
        reader: Option<Waker>,
    }

    impl Channel {
        fn feed(&self, flag: Option<Flag>, data: &[u8]) {
            let mut frame = BytesMut::new();
            let message = Message {
                flag: flag.map(|f| f as i32),
                message: (!data.is_empty()).then(|| data.to_vec()),
            };
            codec().encode(message, &mut frame).unwrap();
            let mut wire = self.0.lock().unwrap();
            wire.inbound.extend(frame);
            if let Some(w) = wire.reader.take() {
                w.wake();
            }
        }

        /// The messages sent since the last call, as (flag, data).
        fn sent(&self) -> Vec<(Option<Flag>, Vec<u8>)> {
            let mut wire = self.0.lock().unwrap();
            let mut codec = codec();
            let mut messages = Vec::new();
            while let Some(m) = codec.decode(&mut wire.outbound).unwrap() {
                let flag = m.flag.map(|f| Flag::try_from(f).unwrap());
                messages.push((flag, m.message.unwrap_or_default()));
            }
            messages
        }

        fn closed(&self) -> bool {
            self.0.lock().unwrap().closed
        }
    }

    impl AsyncRead for Channel {
        fn poll_read(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut [u8],
        ) -> Poll<io::Result<usize>> {
            let mut wire = self.0.lock().unwrap();
            if wire.inbound.is_empty() {
                if wire.closed {
                    return Poll::Ready(Ok(0));
                }
                wire.reader = Some(cx.waker().clone());
                return Poll::Pending;
            }
            let n = buf.len().min(wire.inbound.len());
            for (to, from) in buf.iter_mut().zip(wire.inbound.drain(..n)) {
                *to = from;
            }
            Poll::Ready(Ok(n))
        }
    }

    impl AsyncWrite for Channel {
        fn poll_write(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            let mut wire = self.0.lock().unwrap();
            if wire.closed {
                return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
            }
            wire.outbound.extend_from_slice(buf);
            Poll::Ready(Ok(buf.len()))
        }

        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }

        fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            self.0.lock().unwrap().closed = true;
            Poll::Ready(Ok(()))
        }
    }

    fn stream() -> (Stream<Channel>, DropListener<Channel>, Channel) {
        let channel = Channel::default();
        let (stream, listener) = Stream::new(channel.clone());
        (stream, listener, channel)
    }

    fn read_all(stream: &mut Stream<Channel>) -> io::Result<Vec<u8>> {
        let mut data = Vec::new();
        block_on(stream.read_to_end(&mut data))?;
        Ok(data)
    }

    fn poll_listener(listener: &mut DropListener<Channel>) -> Poll<io::Result<()>> {
        block_on(poll_fn(|cx| Poll::Ready(listener.poll_unpin(cx))))
    }

    const FIN: (Option<Flag>, Vec<u8>) = (Some(Flag::Fin), vec![]);
    const FIN_ACK: (Option<Flag>, Vec<u8>) = (Some(Flag::FinAck), vec![]);
    const RESET: (Option<Flag>, Vec<u8>) = (Some(Flag::Reset), vec![]);

    #[test]
    fn a_fin_after_our_own_is_acknowledged_before_the_reader_sees_the_end() {
        let (mut stream, _listener, channel) = stream();
        block_on(stream.write_all(b"request")).unwrap();
        block_on(stream.close()).unwrap();
        channel.feed(Some(Flag::FinAck), b"");
        channel.feed(None, b"response");
        channel.feed(Some(Flag::Fin), b"");

        // The FIN_ACK is no end of the data.
        assert_eq!(read_all(&mut stream).unwrap(), b"response");
        assert_eq!(
            channel.sent(),
            vec![(None, b"request".to_vec()), FIN, FIN_ACK]
        );
    }

    #[test]
    fn a_request_response_client_reads_the_response_to_its_end() {
        let (mut stream, _listener, channel) = stream();
        block_on(stream.write_all(b"request")).unwrap();
        block_on(stream.close()).unwrap();
        block_on(stream.close()).unwrap();
        channel.feed(None, b"response");
        let mut frames = BytesMut::new();
        for flag in [Flag::Fin, Flag::FinAck] {
            let message = Message {
                flag: Some(flag as i32),
                message: None,
            };
            codec().encode(message, &mut frames).unwrap();
        }
        channel.0.lock().unwrap().inbound.extend(frames);

        assert_eq!(read_all(&mut stream).unwrap(), b"response");
        assert_eq!(
            channel.sent(),
            vec![(None, b"request".to_vec()), FIN, FIN_ACK]
        );
    }

    #[test]
    fn a_fin_before_our_own_is_acknowledged_after_it() {
        let (mut stream, _listener, channel) = stream();
        channel.feed(None, b"request");
        channel.feed(Some(Flag::Fin), b"");
        assert_eq!(read_all(&mut stream).unwrap(), b"request");
        // A peer without FIN_ACK reads on to our FIN: it must not meet a FIN_ACK first.
        assert_eq!(channel.sent(), vec![]);

        block_on(stream.write_all(b"response")).unwrap();
        block_on(stream.close()).unwrap();
        assert_eq!(
            channel.sent(),
            vec![(None, b"response".to_vec()), FIN, FIN_ACK]
        );
    }

    #[test]
    fn a_close_does_not_wait_for_fin_ack() {
        let (mut stream, _listener, channel) = stream();
        block_on(stream.close()).unwrap();
        assert_eq!(channel.sent(), vec![FIN]);
        let error = block_on(stream.write_all(b"more")).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::BrokenPipe);
    }

    #[test]
    fn a_fin_ack_or_stop_sending_is_no_end_of_the_data() {
        let (mut stream, _listener, channel) = stream();
        channel.feed(Some(Flag::StopSending), b"");
        channel.feed(Some(Flag::FinAck), b"");
        channel.feed(None, b"data");
        channel.feed(Some(Flag::Fin), b"");

        assert_eq!(read_all(&mut stream).unwrap(), b"data");
    }

    #[test]
    fn the_channel_is_closed_once_the_stream_is_gone_and_both_fins_acknowledged() {
        let (mut stream, mut listener, channel) = stream();
        block_on(stream.close()).unwrap();
        channel.feed(Some(Flag::Fin), b"");
        assert_eq!(read_all(&mut stream).unwrap(), b"");
        assert!(
            poll_listener(&mut listener).is_pending(),
            "the stream is alive"
        );
        drop(stream);

        assert!(
            poll_listener(&mut listener).is_pending(),
            "our FIN_ACK is still to come"
        );
        assert!(!channel.closed());
        channel.feed(Some(Flag::FinAck), b"");
        assert!(matches!(poll_listener(&mut listener), Poll::Ready(Ok(()))));
        assert!(channel.closed());
        assert_eq!(channel.sent(), vec![FIN, FIN_ACK]);
    }

    #[test]
    fn a_stream_dropped_before_the_remote_fin_leaves_the_listener_to_acknowledge_it() {
        let (mut stream, mut listener, channel) = stream();
        block_on(stream.write_all(b"identify")).unwrap();
        block_on(stream.close()).unwrap();
        drop(stream);

        assert!(poll_listener(&mut listener).is_pending());
        channel.feed(Some(Flag::FinAck), b"");
        channel.feed(None, b"unread");
        assert!(
            poll_listener(&mut listener).is_pending(),
            "the remote's FIN is still to come"
        );
        channel.feed(Some(Flag::Fin), b"");
        assert!(matches!(poll_listener(&mut listener), Poll::Ready(Ok(()))));
        assert!(channel.closed());
        assert_eq!(
            channel.sent(),
            vec![(None, b"identify".to_vec()), FIN, FIN_ACK]
        );
    }

    #[test]
    fn a_peer_without_fin_ack_holds_the_channel_only_until_the_timeout() {
        let (mut stream, listener, channel) = stream();
        block_on(stream.close()).unwrap();
        channel.feed(Some(Flag::Fin), b"");
        assert_eq!(read_all(&mut stream).unwrap(), b"");
        drop(stream);

        block_on(listener).unwrap(); // FIN_ACK_TIMEOUT
        assert!(channel.closed());
        assert_eq!(channel.sent(), vec![FIN, FIN_ACK]);
    }

    #[test]
    fn a_stream_dropped_unclosed_acknowledges_the_fin_it_read_then_resets_and_closes() {
        let (mut stream, listener, channel) = stream();
        channel.feed(None, b"ping");
        channel.feed(Some(Flag::Fin), b"");
        assert_eq!(read_all(&mut stream).unwrap(), b"ping");
        drop(stream);

        block_on(listener).unwrap();
        assert!(channel.closed());
        assert_eq!(channel.sent(), vec![FIN_ACK, RESET]);
    }

    #[test]
    fn a_fin_on_a_stream_we_opened_and_do_not_read_is_acknowledged_at_once() {
        // gossipsub's outbound stream, ping's between pings: written, not read. js-libp2p's
        // connection close sends FIN on them and waits for FIN_ACK.
        let channel = Channel::default();
        let (mut stream, mut listener) = Stream::new_outbound(channel.clone());
        block_on(stream.write_all(b"gossip")).unwrap();
        channel.feed(Some(Flag::Fin), b"");

        assert!(
            poll_listener(&mut listener).is_pending(),
            "the stream is alive"
        );
        assert_eq!(channel.sent(), vec![(None, b"gossip".to_vec()), FIN_ACK]);
        // Our write half is still open; the reader sees the end.
        block_on(stream.write_all(b"more")).unwrap();
        block_on(stream.flush()).unwrap();
        assert_eq!(read_all(&mut stream).unwrap(), b"");
        assert_eq!(channel.sent(), vec![(None, b"more".to_vec())]);
    }

    #[test]
    fn the_listener_takes_in_a_fin_the_stream_does_not_read_and_keeps_data_for_the_reader() {
        let (mut stream, mut listener, channel) = stream();
        channel.feed(None, b"request");
        channel.feed(Some(Flag::Fin), b"");

        assert!(poll_listener(&mut listener).is_pending());
        assert!(poll_listener(&mut listener).is_pending());
        // A stream the remote opened: its FIN is acknowledged after our own.
        assert_eq!(channel.sent(), vec![]);
        assert_eq!(read_all(&mut stream).unwrap(), b"request");
        assert!(poll_listener(&mut listener).is_pending());
        assert_eq!(channel.sent(), vec![]);

        block_on(stream.write_all(b"response")).unwrap();
        block_on(stream.close()).unwrap();
        assert_eq!(
            channel.sent(),
            vec![(None, b"response".to_vec()), FIN, FIN_ACK]
        );
    }

    #[test]
    fn the_listener_takes_in_a_stop_sending_while_the_stream_is_not_read() {
        let channel = Channel::default();
        let (mut stream, mut listener) = Stream::new_outbound(channel.clone());
        channel.feed(Some(Flag::StopSending), b"");
        assert!(poll_listener(&mut listener).is_pending());

        let error = block_on(stream.write_all(b"gossip")).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::BrokenPipe);
    }

    #[test]
    fn a_stream_dropped_unclosed_is_reset_and_its_channel_closed() {
        let (stream, listener, channel) = stream();
        drop(stream);

        block_on(listener).unwrap();
        assert!(channel.closed());
        assert_eq!(channel.sent(), vec![RESET]);
    }
}
