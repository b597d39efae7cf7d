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
    future::Future,
    io,
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll},
};

use futures::{
    AsyncRead, AsyncWrite, FutureExt, SinkExt,
    channel::{oneshot, oneshot::Canceled},
};
use futures_timer::Delay;

use crate::{
    proto::{Flag, Message},
    stream::{FIN_ACK_TIMEOUT, Shared, lock},
};

#[must_use]
pub struct DropListener<T> {
    /// WEFTDB-PATCH: the stream's framed channel and state, shared with it.
    shared: Arc<Mutex<Shared<T>>>,
    state: State,
}

impl<T> DropListener<T> {
    pub(crate) fn new(shared: Arc<Mutex<Shared<T>>>, receiver: oneshot::Receiver<Dropped>) -> Self {
        Self {
            shared,
            state: State::Idle { receiver },
        }
    }
}

enum State {
    /// The [`DropListener`] is idle and waiting to be activated. WEFTDB-PATCH: meanwhile it
    /// takes in what the remote sends while the stream is not read (see `Shared`).
    Idle {
        receiver: oneshot::Receiver<Dropped>,
    },
    /// The stream got dropped and we are sending a reset flag.
    SendingReset,
    Flushing,
    /// WEFTDB-PATCH: the stream closed its write half and is gone: the remote's `FIN` (answered
    /// with `FIN_ACK`) and its `FIN_ACK` of ours are awaited here, a while, before the channel is
    /// closed. Data is discarded: nobody reads it any more.
    Lingering {
        deadline: Delay,
    },
    /// WEFTDB-PATCH: the data channel is closed.
    Closing,
    /// Bad state transition.
    Poisoned,
}

impl<T> Future for DropListener<T>
where
    T: AsyncRead + AsyncWrite + Unpin,
{
    type Output = io::Result<()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let state = &mut this.state;
        let mut s = lock(&this.shared);
        s.wakers.listener.register(cx.waker());
        let waker = s.waker.clone();
        let io_cx = &mut Context::from_waker(&waker);

        loop {
            match std::mem::replace(state, State::Poisoned) {
                State::Idle { mut receiver } => match receiver.poll_unpin(cx) {
                    Poll::Ready(Ok(Dropped)) if s.fin.write_closed => {
                        // Nobody reads any more.
                        s.read_buffer_discard();
                        *state = State::Lingering {
                            deadline: Delay::new(FIN_ACK_TIMEOUT),
                        };
                        continue;
                    }
                    Poll::Ready(Ok(Dropped)) | Poll::Ready(Err(Canceled)) => {
                        tracing::info!("Stream dropped without graceful close, sending Reset");
                        *state = State::SendingReset;
                        continue;
                    }
                    Poll::Pending => {
                        *state = State::Idle { receiver };
                        // WEFTDB-PATCH: the remote's messages while the stream is not read, one
                        // at a time (data waits for the reader), and a FIN_ACK when due.
                        loop {
                            if s.ack_due() {
                                match s.poll_send_fin_ack() {
                                    Poll::Ready(Ok(())) => {}
                                    Poll::Ready(Err(e)) => {
                                        tracing::debug!("could not acknowledge FIN: {e}");
                                        break;
                                    }
                                    Poll::Pending => break,
                                }
                            }
                            if s.has_unread_data() || s.io_done {
                                break;
                            }
                            if s.poll_take_in().is_pending() {
                                break;
                            }
                            s.wakers.stream.wake();
                        }
                        return Poll::Pending;
                    }
                },
                State::SendingReset => match s.io.poll_ready_unpin(io_cx)? {
                    Poll::Ready(()) if s.fin.ack_owed => {
                        // WEFTDB-PATCH: the FIN_ACK the stream owed, before the RESET.
                        s.fin.ack_owed = false;
                        s.io.start_send_unpin(Message {
                            flag: Some(Flag::FinAck as i32),
                            message: None,
                        })?;
                        *state = State::SendingReset;
                        continue;
                    }
                    Poll::Ready(()) => {
                        s.io.start_send_unpin(Message {
                            flag: Some(Flag::Reset as i32),
                            message: None,
                        })?;
                        *state = State::Flushing;
                        continue;
                    }
                    Poll::Pending => {
                        *state = State::SendingReset;
                        return Poll::Pending;
                    }
                },
                State::Flushing => match s.io.poll_flush_unpin(io_cx)? {
                    Poll::Ready(()) => {
                        *state = State::Closing;
                        continue;
                    }
                    Poll::Pending => {
                        *state = State::Flushing;
                        return Poll::Pending;
                    }
                },
                State::Lingering { mut deadline } => {
                    if s.fin.ack_owed {
                        match s.poll_send_fin_ack()? {
                            Poll::Ready(()) => {}
                            Poll::Pending => {
                                *state = State::Lingering { deadline };
                                return Poll::Pending;
                            }
                        }
                    }
                    // Closing flushes what is left.
                    let _ = s.io.poll_flush_unpin(io_cx)?;
                    let fin = s.fin;
                    if (fin.received && fin.acked)
                        || s.io_done
                        || s.reset()
                        || deadline.poll_unpin(cx).is_ready()
                    {
                        *state = State::Closing;
                        continue;
                    }
                    let taken_in = s.poll_take_in();
                    // Nobody reads any more.
                    s.read_buffer_discard();
                    *state = State::Lingering { deadline };
                    if taken_in.is_pending() {
                        return Poll::Pending;
                    }
                    continue;
                }
                State::Closing => match s.io.poll_close_unpin(io_cx) {
                    Poll::Ready(result) => return Poll::Ready(result.map_err(Into::into)),
                    Poll::Pending => {
                        *state = State::Closing;
                        return Poll::Pending;
                    }
                },
                State::Poisoned => {
                    unreachable!()
                }
            }
        }
    }
}

/// WEFTDB-PATCH (was `GracefullyClosed`, sent when the write half was closed): our stream was
/// dropped; where it was in closing is in the shared state.
pub(crate) struct Dropped;
