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
    stream::{FIN_ACK_TIMEOUT, Fin, framed_dc::FramedDc},
};

#[must_use]
pub struct DropListener<T> {
    state: State<T>,
}

impl<T> DropListener<T> {
    pub fn new(stream: FramedDc<T>, receiver: oneshot::Receiver<Dropped>) -> Self {
        Self {
            state: State::Idle { stream, receiver },
        }
    }
}

enum State<T> {
    /// The [`DropListener`] is idle and waiting to be activated.
    Idle {
        stream: FramedDc<T>,
        receiver: oneshot::Receiver<Dropped>,
    },
    /// The stream got dropped and we are sending a reset flag.
    SendingReset {
        stream: FramedDc<T>,
        /// WEFTDB-PATCH: after the `FIN_ACK` the stream owed.
        fin_ack: bool,
    },
    Flushing {
        stream: FramedDc<T>,
    },
    /// WEFTDB-PATCH: the stream closed its write half and is gone: the remote's `FIN` (answered
    /// with `FIN_ACK`) and its `FIN_ACK` of ours are awaited here, a while, before the channel is
    /// closed. Data is discarded: nobody reads it any more.
    Lingering {
        stream: FramedDc<T>,
        fin: Fin,
        deadline: Delay,
    },
    /// WEFTDB-PATCH: the data channel is closed.
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
                    Poll::Ready(Ok(Dropped { fin })) if fin.write_closed => {
                        let deadline = Delay::new(FIN_ACK_TIMEOUT);
                        *state = State::Lingering {
                            stream,
                            fin,
                            deadline,
                        };
                        continue;
                    }
                    Poll::Ready(Ok(Dropped { fin })) => {
                        tracing::info!("Stream dropped without graceful close, sending Reset");
                        *state = State::SendingReset {
                            stream,
                            fin_ack: fin.ack_owed,
                        };
                        continue;
                    }
                    Poll::Ready(Err(Canceled)) => {
                        tracing::info!("Stream dropped without graceful close, sending Reset");
                        *state = State::SendingReset {
                            stream,
                            fin_ack: false,
                        };
                        continue;
                    }
                    Poll::Pending => {
                        *state = State::Idle { stream, receiver };
                        return Poll::Pending;
                    }
                },
                State::SendingReset {
                    mut stream,
                    fin_ack,
                } => match stream.poll_ready_unpin(cx)? {
                    Poll::Ready(()) if fin_ack => {
                        stream.start_send_unpin(Message {
                            flag: Some(Flag::FinAck as i32),
                            message: None,
                        })?;
                        *state = State::SendingReset {
                            stream,
                            fin_ack: false,
                        };
                        continue;
                    }
                    Poll::Ready(()) => {
                        stream.start_send_unpin(Message {
                            flag: Some(Flag::Reset as i32),
                            message: None,
                        })?;
                        *state = State::Flushing { stream };
                        continue;
                    }
                    Poll::Pending => {
                        *state = State::SendingReset { stream, fin_ack };
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
                    mut fin,
                    mut deadline,
                } => {
                    if fin.ack_owed {
                        match stream.poll_ready_unpin(cx)? {
                            Poll::Ready(()) => {
                                stream.start_send_unpin(Message {
                                    flag: Some(Flag::FinAck as i32),
                                    message: None,
                                })?;
                                fin.ack_owed = false;
                            }
                            Poll::Pending => {
                                *state = State::Lingering {
                                    stream,
                                    fin,
                                    deadline,
                                };
                                return Poll::Pending;
                            }
                        }
                    }
                    // Closing flushes what is left.
                    let _ = stream.poll_flush_unpin(cx)?;
                    if (fin.received && fin.acked) || deadline.poll_unpin(cx).is_ready() {
                        *state = State::Closing { stream };
                        continue;
                    }
                    match stream.poll_next_unpin(cx) {
                        Poll::Pending => {
                            *state = State::Lingering {
                                stream,
                                fin,
                                deadline,
                            };
                            return Poll::Pending;
                        }
                        Poll::Ready(Some(Ok(Message { flag, .. }))) => {
                            match flag.and_then(|f| Flag::try_from(f).ok()) {
                                Some(Flag::Fin) if !fin.received => {
                                    fin.received = true;
                                    fin.ack_owed = true;
                                }
                                Some(Flag::FinAck) => fin.acked = true,
                                // The remote gave up on the stream: nothing more to wait for.
                                Some(Flag::Reset) => {
                                    fin.received = true;
                                    fin.acked = true;
                                }
                                _ => {}
                            }
                            *state = State::Lingering {
                                stream,
                                fin,
                                deadline,
                            };
                        }
                        Poll::Ready(Some(Err(_)) | None) => *state = State::Closing { stream },
                    }
                    continue;
                }
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

/// WEFTDB-PATCH (was `GracefullyClosed`, sent when the write half was closed): our stream was
/// dropped, and where it was in closing.
pub struct Dropped {
    pub(crate) fin: Fin,
}
