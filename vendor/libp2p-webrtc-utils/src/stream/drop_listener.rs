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
    task::{Context, Poll},
};

use futures::{
    AsyncRead, AsyncWrite, FutureExt, SinkExt, StreamExt,
    channel::{oneshot, oneshot::Canceled},
};
use futures_timer::Delay;

use crate::{
    proto::{Flag, Message},
    stream::{FIN_ACK_TIMEOUT, framed_dc::FramedDc},
};

#[must_use]
pub struct DropListener<T> {
    state: State<T>,
}

impl<T> DropListener<T> {
    pub fn new(stream: FramedDc<T>, receiver: oneshot::Receiver<GracefullyClosed>) -> Self {
        Self {
            state: State::Idle { stream, receiver },
        }
    }
}

enum State<T> {
    /// The [`DropListener`] is idle and waiting to be activated.
    Idle {
        stream: FramedDc<T>,
        receiver: oneshot::Receiver<GracefullyClosed>,
    },
    /// The stream got dropped and we are sending a reset flag.
    SendingReset {
        stream: FramedDc<T>,
    },
    Flushing {
        stream: FramedDc<T>,
    },
    /// WEFTDB-PATCH: the stream closed its write half and is gone before the remote's `FIN`: that
    /// is still read here (a while), and acknowledged, as the remote waits for it.
    Lingering {
        stream: FramedDc<T>,
        deadline: Delay,
    },
    /// WEFTDB-PATCH: answering the remote's `FIN`.
    SendingFinAck {
        stream: FramedDc<T>,
    },
    /// WEFTDB-PATCH: the stream is gone: its data channel is closed.
    Closing {
        stream: FramedDc<T>,
    },
    /// Bad state transition.
    Poisoned,
}

impl<T> Future for DropListener<T>
where
    T: AsyncRead + AsyncWrite + Unpin,
{
    type Output = io::Result<()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let state = &mut self.get_mut().state;

        loop {
            match std::mem::replace(state, State::Poisoned) {
                State::Idle {
                    stream,
                    mut receiver,
                } => match receiver.poll_unpin(cx) {
                    Poll::Ready(Ok(GracefullyClosed { fin_received: true })) => {
                        *state = State::Closing { stream };
                        continue;
                    }
                    Poll::Ready(Ok(GracefullyClosed {
                        fin_received: false,
                    })) => {
                        let deadline = Delay::new(FIN_ACK_TIMEOUT);
                        *state = State::Lingering { stream, deadline };
                        continue;
                    }
                    Poll::Ready(Err(Canceled)) => {
                        tracing::info!("Stream dropped without graceful close, sending Reset");
                        *state = State::SendingReset { stream };
                        continue;
                    }
                    Poll::Pending => {
                        *state = State::Idle { stream, receiver };
                        return Poll::Pending;
                    }
                },
                State::SendingReset { mut stream } => match stream.poll_ready_unpin(cx)? {
                    Poll::Ready(()) => {
                        stream.start_send_unpin(Message {
                            flag: Some(Flag::Reset as i32),
                            message: None,
                        })?;
                        *state = State::Flushing { stream };
                        continue;
                    }
                    Poll::Pending => {
                        *state = State::SendingReset { stream };
                        return Poll::Pending;
                    }
                },
                State::Flushing { mut stream } => match stream.poll_flush_unpin(cx)? {
                    Poll::Ready(()) => {
                        *state = State::Closing { stream };
                        continue;
                    }
                    Poll::Pending => {
                        *state = State::Flushing { stream };
                        return Poll::Pending;
                    }
                },
                State::Lingering {
                    mut stream,
                    mut deadline,
                } => {
                    if deadline.poll_unpin(cx).is_ready() {
                        *state = State::Closing { stream };
                        continue;
                    }
                    match stream.poll_next_unpin(cx) {
                        Poll::Pending => {
                            *state = State::Lingering { stream, deadline };
                            return Poll::Pending;
                        }
                        Poll::Ready(Some(Ok(Message {
                            flag: Some(flag), ..
                        }))) if flag == Flag::Fin as i32 => {
                            *state = State::SendingFinAck { stream };
                        }
                        // Data nobody reads any more.
                        Poll::Ready(Some(Ok(_))) => {
                            *state = State::Lingering { stream, deadline };
                        }
                        Poll::Ready(Some(Err(_)) | None) => {
                            *state = State::Closing { stream };
                        }
                    }
                    continue;
                }
                State::SendingFinAck { mut stream } => match stream.poll_ready_unpin(cx)? {
                    Poll::Ready(()) => {
                        stream.start_send_unpin(Message {
                            flag: Some(Flag::FinAck as i32),
                            message: None,
                        })?;
                        *state = State::Flushing { stream };
                        continue;
                    }
                    Poll::Pending => {
                        *state = State::SendingFinAck { stream };
                        return Poll::Pending;
                    }
                },
                State::Closing { mut stream } => match stream.poll_close_unpin(cx) {
                    Poll::Ready(result) => return Poll::Ready(result.map_err(Into::into)),
                    Poll::Pending => {
                        *state = State::Closing { stream };
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

/// Indicates that our stream got gracefully closed (WEFTDB-PATCH: sent when it is dropped, with
/// whether the remote's `FIN` was read).
pub struct GracefullyClosed {
    pub(crate) fin_received: bool,
}
