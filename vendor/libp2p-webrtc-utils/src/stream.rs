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
    task::{Context, Poll},
    time::Duration,
};

use bytes::{Bytes, BytesMut};
use futures::{channel::oneshot, prelude::*, ready};
use futures_timer::Delay;

use crate::{
    proto::{Flag, Message},
    stream::{
        drop_listener::GracefullyClosed,
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
/// WEFTDB-PATCH: how long a close waits for the remote's `FIN_ACK` before it gives up on it
/// (go-libp2p and litep2p wait about as long). A peer that never sends one costs this much per
/// close, not the data: our FIN has been sent by then.
pub(crate) const FIN_ACK_TIMEOUT: Duration = Duration::from_secs(5);
/// WEFTDB-PATCH: what a close waiting for `FIN_ACK` keeps of the data the remote still sends, for
/// the reader; past it the channel is left unread until the reader catches up or the wait ends.
const MAX_READ_AHEAD: usize = 16 * MAX_MSG_LEN;

pub use drop_listener::DropListener;
/// A stream backed by a WebRTC data channel.
///
/// To be a proper libp2p stream, we need to implement [`AsyncRead`] and [`AsyncWrite`] as well
/// as support a half-closed state which we do by framing messages in a protobuf envelope.
pub struct Stream<T> {
    io: FramedDc<T>,
    state: State,
    read_buffer: Bytes,
    /// Dropping this will close the oneshot and notify the receiver by emitting `Canceled`.
    drop_notifier: Option<oneshot::Sender<GracefullyClosed>>,
    /// WEFTDB-PATCH: the `FIN`/`FIN_ACK` handshake.
    fin: Fin,
}

/// WEFTDB-PATCH: where the stream is in the handshake that closes it, as libp2p's WebRTC spec has
/// it ("Closing an `RTCDataChannel`"): a `FIN` is answered by `FIN_ACK`, a close waits for the
/// `FIN_ACK` of its `FIN`, and the data channel is closed once both halves are done.
struct Fin {
    /// The remote's `FIN` (or the channel's end) came in.
    received: bool,
    /// Its `FIN_ACK` is still to be sent.
    ack_owed: bool,
    /// The reader was told of the end the remote's `FIN` set.
    end_read: bool,
    /// The remote acknowledged our `FIN`.
    acked: bool,
    /// Our write half was closed by us: dropping the stream then needs no `RESET`.
    write_closed: bool,
    timeout: Duration,
    /// Runs while a close waits for `FIN_ACK`.
    deadline: Option<Delay>,
}

impl<T> Stream<T>
where
    T: AsyncRead + AsyncWrite + Unpin + Clone,
{
    /// Returns a new [`Stream`] and a [`DropListener`],
    /// which will notify the receiver when/if the stream is dropped.
    pub fn new(data_channel: T) -> (Self, DropListener<T>) {
        let (sender, receiver) = oneshot::channel();

        let stream = Self {
            io: framed_dc::new(data_channel.clone()),
            state: State::Open,
            read_buffer: Bytes::default(),
            drop_notifier: Some(sender),
            fin: Fin {
                received: false,
                ack_owed: false,
                end_read: false,
                acked: false,
                write_closed: false,
                timeout: FIN_ACK_TIMEOUT,
                deadline: None,
            },
        };
        let listener = DropListener::new(framed_dc::new(data_channel), receiver);

        (stream, listener)
    }

    /// Gracefully closes the "read-half" of the stream.
    pub fn poll_close_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            match self.state.close_read_barrier()? {
                Some(Closing::Requested) => {
                    ready!(self.io.poll_ready_unpin(cx))?;

                    self.io.start_send_unpin(Message {
                        flag: Some(Flag::StopSending as i32),
                        message: None,
                    })?;
                    self.state.close_read_message_sent();

                    continue;
                }
                Some(Closing::MessageSent) => {
                    ready!(self.io.poll_flush_unpin(cx))?;

                    self.state.read_closed();

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
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        loop {
            // WEFTDB-PATCH: the remote's FIN is acknowledged before anything else; what came
            // before it is read first (a close waiting for our FIN_ACK may have taken both in),
            // then the end, once.
            if self.fin.ack_owed {
                if let Err(e) = ready!(self.poll_send_fin_ack(cx)) {
                    tracing::debug!("could not acknowledge FIN: {e}");
                }
            }
            if self.fin.received && !self.fin.end_read {
                if !self.read_buffer.is_empty() {
                    let n = std::cmp::min(self.read_buffer.len(), buf.len());
                    let data = self.read_buffer.split_to(n);
                    buf[0..n].copy_from_slice(&data[..]);
                    return Poll::Ready(Ok(n));
                }
                self.fin.end_read = true;
                return Poll::Ready(Ok(0));
            }

            self.state.read_barrier()?;

            if !self.read_buffer.is_empty() {
                let n = std::cmp::min(self.read_buffer.len(), buf.len());
                let data = self.read_buffer.split_to(n);
                buf[0..n].copy_from_slice(&data[..]);

                return Poll::Ready(Ok(n));
            }

            let Self {
                read_buffer,
                io,
                state,
                fin,
                ..
            } = &mut *self;

            match ready!(io_poll_next(io, cx))? {
                Some((flag, message)) => {
                    if let Some(flag) = flag {
                        handle_flag(state, fin, flag, read_buffer);
                    }

                    debug_assert!(read_buffer.is_empty());
                    match message {
                        Some(msg) if !msg.is_empty() => {
                            *read_buffer = msg.into();
                        }
                        // WEFTDB-PATCH: a flag alone is no end of the data (a FIN's end is
                        // taken at the top of the loop, after its FIN_ACK).
                        _ if flag.is_some() => {}
                        _ => {
                            tracing::debug!("poll_read buffer is empty, received None");
                            return Poll::Ready(Ok(0));
                        }
                    }
                }
                None => {
                    state.handle_inbound_flag(Flag::Fin, read_buffer);
                    return Poll::Ready(Ok(0));
                }
            }
        }
    }
}

impl<T> AsyncWrite for Stream<T>
where
    T: AsyncRead + AsyncWrite + Unpin,
{
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        while self.state.read_flags_in_async_write() {
            // TODO: In case AsyncRead::poll_read encountered an error or returned None earlier, we
            // will poll the underlying I/O resource once more. Is that allowed? How
            // about introducing a state IoReadClosed?

            let Self {
                read_buffer,
                io,
                state,
                ..
            } = &mut *self;

            match io_poll_next(io, cx)? {
                Poll::Ready(Some((Some(flag), message))) => {
                    // Read side is closed. Discard any incoming messages.
                    drop(message);
                    // But still handle flags, e.g. a `Flag::StopSending`.
                    state.handle_inbound_flag(flag, read_buffer)
                }
                Poll::Ready(Some((None, message))) => drop(message),
                Poll::Ready(None) | Poll::Pending => break,
            }
        }

        self.state.write_barrier()?;

        ready!(self.io.poll_ready_unpin(cx))?;

        let n = usize::min(buf.len(), MAX_DATA_LEN);

        Pin::new(&mut self.io).start_send(Message {
            flag: None,
            message: Some(buf[0..n].into()),
        })?;

        Poll::Ready(Ok(n))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.io.poll_flush_unpin(cx).map_err(Into::into)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            match self.state.close_write_barrier()? {
                Some(Closing::Requested) => {
                    ready!(self.io.poll_ready_unpin(cx))?;

                    self.io.start_send_unpin(Message {
                        flag: Some(Flag::Fin as i32),
                        message: None,
                    })?;
                    self.state.close_write_message_sent();

                    continue;
                }
                Some(Closing::MessageSent) => {
                    ready!(self.io.poll_flush_unpin(cx))?;

                    // WEFTDB-PATCH: the write half is closed once the remote acknowledged our
                    // FIN (or the wait ended); the drop listener closes the channel after.
                    ready!(self.poll_fin_ack(cx));
                    if !matches!(self.state, State::ClosingWrite { .. }) {
                        continue; // reset meanwhile
                    }
                    self.state.write_closed();
                    self.fin.write_closed = true;

                    return Poll::Ready(Ok(()));
                }
                None => return Poll::Ready(Ok(())),
            }
        }
    }
}

impl<T> Stream<T>
where
    T: AsyncRead + AsyncWrite + Unpin,
{
    /// WEFTDB-PATCH: queues the `FIN_ACK` owed for the remote's `FIN` and hands it to the channel.
    fn poll_send_fin_ack(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.io.poll_ready_unpin(cx))?;
        self.fin.ack_owed = false;
        self.io.start_send_unpin(Message {
            flag: Some(Flag::FinAck as i32),
            message: None,
        })?;
        // Whoever flushes next waits for the rest (the browser takes it at once).
        if let Poll::Ready(Err(e)) = self.io.poll_flush_unpin(cx) {
            return Poll::Ready(Err(e.into()));
        }
        Poll::Ready(Ok(()))
    }

    /// WEFTDB-PATCH: waits for the `FIN_ACK` of the `FIN` we sent, the channel's end or the
    /// timeout, answering a `FIN` and keeping the data the reader may still want meanwhile.
    fn poll_fin_ack(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let timeout = self.fin.timeout;
        loop {
            if self.fin.ack_owed {
                if let Err(e) = ready!(self.poll_send_fin_ack(cx)) {
                    tracing::debug!("could not acknowledge FIN: {e}");
                }
            }
            if self.fin.acked || !matches!(self.state, State::ClosingWrite { .. }) {
                return Poll::Ready(());
            }
            let deadline = self.fin.deadline.get_or_insert_with(|| Delay::new(timeout));
            if deadline.poll_unpin(cx).is_ready() {
                tracing::debug!("no FIN_ACK within {timeout:?}, closing without it");
                return Poll::Ready(());
            }
            let read_open = matches!(
                self.state,
                State::ClosingWrite {
                    read_closed: false,
                    ..
                }
            );
            if read_open && self.read_buffer.len() >= MAX_READ_AHEAD {
                return Poll::Pending; // the deadline wakes us
            }
            match ready!(io_poll_next(&mut self.io, cx)) {
                Ok(Some((flag, message))) => {
                    if let Some(flag) = flag {
                        handle_flag(&mut self.state, &mut self.fin, flag, &mut self.read_buffer);
                    }
                    match message {
                        Some(msg) if read_open && !msg.is_empty() => {
                            let mut buffer = BytesMut::from(std::mem::take(&mut self.read_buffer));
                            buffer.extend_from_slice(&msg);
                            self.read_buffer = buffer.freeze();
                        }
                        _ => {}
                    }
                }
                Ok(None) => {
                    self.state.handle_inbound_flag(Flag::Fin, &mut self.read_buffer);
                    self.fin.received = true;
                    return Poll::Ready(());
                }
                Err(e) => {
                    tracing::debug!("channel failed while waiting for FIN_ACK: {e}");
                    return Poll::Ready(());
                }
            }
        }
    }
}

impl<T> Drop for Stream<T> {
    /// WEFTDB-PATCH: the drop listener closes the data channel once the stream is gone, after
    /// a `RESET` unless we closed our write half, or after the remote's `FIN` if it is still to
    /// come.
    fn drop(&mut self) {
        if self.fin.write_closed {
            if let Some(notifier) = self.drop_notifier.take() {
                let _ = notifier.send(GracefullyClosed {
                    fin_received: self.fin.received,
                });
            }
        }
    }
}

/// WEFTDB-PATCH: an inbound flag's transition of the state, and of the `FIN` handshake.
fn handle_flag(state: &mut State, fin: &mut Fin, flag: Flag, read_buffer: &mut Bytes) {
    match flag {
        Flag::Fin if !fin.received => {
            fin.received = true;
            fin.ack_owed = true;
        }
        Flag::FinAck => fin.acked = true,
        _ => {}
    }
    state.handle_inbound_flag(flag, read_buffer);
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

/// WEFTDB-PATCH: the `FIN`/`FIN_ACK` handshake, over an in-memory channel: what the stream
/// sends for what it is fed, and when it says closed.
#[cfg(test)]
mod fin_ack_tests {
    use std::{
        collections::VecDeque,
        sync::{Arc, Mutex},
        task::Waker,
    };

    use asynchronous_codec::{Decoder, Encoder};
    use futures::{executor::block_on, future::poll_fn};

    use super::*;
    use crate::stream::framed_dc::codec;

    /// Both ends of a data channel as the stream sees them: what the remote sent us, what we
    /// sent, and whether the channel was closed.
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

    fn poll_close(stream: &mut Stream<Channel>) -> Poll<io::Result<()>> {
        let mut close = stream.close();
        block_on(poll_fn(|cx| Poll::Ready(close.poll_unpin(cx))))
    }

    fn read_all(stream: &mut Stream<Channel>) -> io::Result<Vec<u8>> {
        let mut data = Vec::new();
        block_on(stream.read_to_end(&mut data))?;
        Ok(data)
    }

    #[test]
    fn a_fin_is_answered_by_fin_ack_before_the_reader_sees_the_end() {
        let (mut stream, _listener, channel) = stream();
        channel.feed(None, b"ping");
        channel.feed(Some(Flag::Fin), b"");

        assert_eq!(read_all(&mut stream).unwrap(), b"ping");
        assert_eq!(channel.sent(), vec![(Some(Flag::FinAck), vec![])]);
        assert!(!channel.closed(), "our write half is still open");
    }

    #[test]
    fn a_close_sends_fin_and_is_done_only_once_the_fin_ack_comes() {
        let (mut stream, _listener, channel) = stream();
        block_on(stream.write_all(b"request")).unwrap();

        assert!(poll_close(&mut stream).is_pending());
        assert_eq!(
            channel.sent(),
            vec![(None, b"request".to_vec()), (Some(Flag::Fin), vec![])]
        );
        assert!(poll_close(&mut stream).is_pending(), "no FIN_ACK yet");

        channel.feed(Some(Flag::FinAck), b"");
        assert!(matches!(poll_close(&mut stream), Poll::Ready(Ok(()))));
        assert_eq!(channel.sent(), vec![], "nothing more to send");
        let error = block_on(stream.write_all(b"more")).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::BrokenPipe);
    }

    #[test]
    fn what_comes_while_a_close_waits_is_still_read_then_the_end() {
        let (mut stream, _listener, channel) = stream();
        assert!(poll_close(&mut stream).is_pending());
        channel.feed(None, b"response ");
        channel.feed(Some(Flag::FinAck), b"");
        channel.feed(None, b"and more");
        assert!(matches!(poll_close(&mut stream), Poll::Ready(Ok(()))));

        channel.feed(Some(Flag::Fin), b"");
        assert_eq!(read_all(&mut stream).unwrap(), b"response and more");
        assert_eq!(
            channel.sent(),
            vec![(Some(Flag::Fin), vec![]), (Some(Flag::FinAck), vec![])]
        );
    }

    #[test]
    fn both_sides_closing_at_once_acknowledge_each_other() {
        let (mut stream, _listener, channel) = stream();
        channel.feed(None, b"last words");
        channel.feed(Some(Flag::Fin), b"");

        assert!(poll_close(&mut stream).is_pending());
        assert_eq!(
            channel.sent(),
            vec![(Some(Flag::Fin), vec![]), (Some(Flag::FinAck), vec![])]
        );
        channel.feed(Some(Flag::FinAck), b"");
        assert!(matches!(poll_close(&mut stream), Poll::Ready(Ok(()))));
        // The data and the end the remote's FIN set, once.
        assert_eq!(read_all(&mut stream).unwrap(), b"last words");
        assert_eq!(channel.sent(), vec![]);
    }

    #[test]
    fn a_peer_without_fin_ack_holds_a_close_only_until_the_timeout() {
        let (mut stream, _listener, channel) = stream();
        stream.fin.timeout = Duration::from_millis(20);

        block_on(stream.close()).unwrap();
        assert_eq!(channel.sent(), vec![(Some(Flag::Fin), vec![])]);
        // The remote's data and FIN still reach the reader, and are acknowledged.
        channel.feed(None, b"late");
        channel.feed(Some(Flag::Fin), b"");
        assert_eq!(read_all(&mut stream).unwrap(), b"late");
        assert_eq!(channel.sent(), vec![(Some(Flag::FinAck), vec![])]);
    }

    #[test]
    fn the_channel_ending_ends_the_wait_for_fin_ack() {
        let (mut stream, _listener, channel) = stream();
        assert!(poll_close(&mut stream).is_pending());
        channel.0.lock().unwrap().closed = true;
        channel.feed(None, b""); // wakes the reader
        channel.0.lock().unwrap().inbound.clear();

        assert!(matches!(poll_close(&mut stream), Poll::Ready(Ok(()))));
    }

    #[test]
    fn a_reset_while_a_close_waits_fails_the_close() {
        let (mut stream, _listener, channel) = stream();
        assert!(poll_close(&mut stream).is_pending());
        channel.feed(Some(Flag::Reset), b"");

        let error = block_on(stream.close()).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::ConnectionReset);
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
    fn a_stream_dropped_after_both_halves_closed_has_its_channel_closed() {
        let (mut stream, listener, channel) = stream();
        channel.feed(Some(Flag::Fin), b"");
        assert_eq!(read_all(&mut stream).unwrap(), b"");
        assert!(poll_close(&mut stream).is_pending());
        channel.feed(Some(Flag::FinAck), b"");
        assert!(matches!(poll_close(&mut stream), Poll::Ready(Ok(()))));
        assert!(!channel.closed(), "closed by the drop listener, once the stream is gone");

        drop(stream);
        block_on(listener).unwrap();
        assert!(channel.closed());
        assert_eq!(
            channel.sent(),
            vec![(Some(Flag::FinAck), vec![]), (Some(Flag::Fin), vec![])]
        );
    }

    #[test]
    fn a_stream_dropped_before_the_remote_fin_still_acknowledges_it_then_closes_the_channel() {
        let (mut stream, mut listener, channel) = stream();
        block_on(stream.write_all(b"identify")).unwrap();
        assert!(poll_close(&mut stream).is_pending());
        channel.feed(Some(Flag::FinAck), b"");
        assert!(matches!(poll_close(&mut stream), Poll::Ready(Ok(()))));
        drop(stream);

        let mut listen = || block_on(poll_fn(|cx| Poll::Ready(listener.poll_unpin(cx))));
        assert!(listen().is_pending(), "waits for the remote's FIN");
        channel.feed(None, b"unread");
        channel.feed(Some(Flag::Fin), b"");
        assert!(matches!(listen(), Poll::Ready(Ok(()))));
        assert!(channel.closed());
        assert_eq!(
            channel.sent(),
            vec![
                (None, b"identify".to_vec()),
                (Some(Flag::Fin), vec![]),
                (Some(Flag::FinAck), vec![])
            ]
        );
    }

    #[test]
    fn a_stream_dropped_unclosed_is_reset_and_its_channel_closed() {
        let (mut stream, listener, channel) = stream();
        channel.feed(Some(Flag::Fin), b"");
        assert_eq!(read_all(&mut stream).unwrap(), b"");

        drop(stream);
        block_on(listener).unwrap();
        assert!(channel.closed());
        assert_eq!(
            channel.sent(),
            vec![(Some(Flag::FinAck), vec![]), (Some(Flag::Reset), vec![])]
        );
    }
}
