//! An `RTCDataChannel` as a byte stream (`AsyncRead` + `AsyncWrite`), for
//! libp2p-webrtc-utils to frame into a libp2p stream.
//!
//! The browser hands us data by events, so what arrives is kept in a
//! buffer until read, and the tasks waiting on the channel are woken from
//! its event handlers.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use futures::{AsyncRead, AsyncWrite};
use libp2p_webrtc_utils::MAX_MSG_LEN;
use wasm_bindgen::prelude::*;
use web_sys::{Event, MessageEvent, RtcDataChannel, RtcDataChannelState, RtcDataChannelType};

/// What a peer may have sent us and we have not read yet. libp2p's framing
/// reads as it goes, so a full buffer means a peer that ignores it.
const MAX_UNREAD: usize = 16 * MAX_MSG_LEN;
/// What we queue in the browser before a write waits for it to drain.
const MAX_BUFFERED: u32 = 16 * MAX_MSG_LEN as u32;

#[derive(Default)]
struct Shared {
    unread: VecDeque<u8>,
    overloaded: bool,
    /// Readers, writers and closers waiting for an event; every event wakes
    /// them all, and each looks again at what it waits for.
    waiting: Vec<Waker>,
}

impl Shared {
    fn wait(&mut self, cx: &Context<'_>) {
        if !self.waiting.iter().any(|w| w.will_wake(cx.waker())) {
            self.waiting.push(cx.waker().clone());
        }
    }
}

fn wake_all(shared: &RefCell<Shared>) {
    let waiting = std::mem::take(&mut shared.borrow_mut().waiting);
    waiting.into_iter().for_each(Waker::wake);
}

struct Handlers {
    channel: RtcDataChannel,
    _on_event: Closure<dyn FnMut(Event)>,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
}

impl Drop for Handlers {
    // The channel may outlive us (the browser keeps it until it closes):
    // an event must not reach a closure that is gone.
    fn drop(&mut self) {
        self.channel.set_onopen(None);
        self.channel.set_onclose(None);
        self.channel.set_onbufferedamountlow(None);
        self.channel.set_onmessage(None);
    }
}

/// One data channel; clones are the same channel (libp2p's framing keeps
/// one to read and one to learn of the stream's end).
#[derive(Clone)]
pub(crate) struct DataChannel {
    channel: RtcDataChannel,
    shared: Rc<RefCell<Shared>>,
    _handlers: Rc<Handlers>,
}

impl DataChannel {
    pub(crate) fn new(channel: RtcDataChannel) -> Self {
        channel.set_binary_type(RtcDataChannelType::Arraybuffer);
        channel.set_buffered_amount_low_threshold(0);
        let shared = Rc::new(RefCell::new(Shared::default()));
        let on_event = Closure::<dyn FnMut(Event)>::new({
            let shared = shared.clone();
            move |_: Event| wake_all(&shared)
        });
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new({
            let shared = shared.clone();
            move |ev: MessageEvent| {
                let data = js_sys::Uint8Array::new(&ev.data());
                {
                    let mut s = shared.borrow_mut();
                    if s.unread.len() + data.length() as usize > MAX_UNREAD {
                        tracing::warn!("a peer sends faster than its stream is read: resetting it");
                        s.overloaded = true;
                    } else {
                        s.unread.extend(data.to_vec());
                    }
                }
                wake_all(&shared);
            }
        });
        let handler = on_event.as_ref().unchecked_ref();
        channel.set_onopen(Some(handler));
        channel.set_onclose(Some(handler));
        channel.set_onbufferedamountlow(Some(handler));
        channel.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        let handlers = Handlers { channel: channel.clone(), _on_event: on_event, _on_message: on_message };
        DataChannel { channel, shared, _handlers: Rc::new(handlers) }
    }

    fn overloaded(&self) -> io::Result<()> {
        if self.shared.borrow().overloaded {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "the peer overran the stream's buffer"));
        }
        Ok(())
    }

    /// Ready once the channel is open; an error once it is closing.
    fn poll_open(&self, cx: &Context<'_>) -> Poll<io::Result<()>> {
        match self.channel.ready_state() {
            RtcDataChannelState::Open => Poll::Ready(Ok(())),
            RtcDataChannelState::Connecting => {
                self.shared.borrow_mut().wait(cx);
                Poll::Pending
            }
            _ => Poll::Ready(Err(io::ErrorKind::BrokenPipe.into())),
        }
    }
}

impl AsyncRead for DataChannel {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        self.overloaded()?;
        let mut s = self.shared.borrow_mut();
        if !s.unread.is_empty() {
            let n = buf.len().min(s.unread.len());
            for (to, from) in buf.iter_mut().zip(s.unread.drain(..n)) {
                *to = from;
            }
            return Poll::Ready(Ok(n));
        }
        match self.channel.ready_state() {
            RtcDataChannelState::Closing | RtcDataChannelState::Closed => Poll::Ready(Ok(0)),
            _ => {
                s.wait(cx);
                Poll::Pending
            }
        }
    }
}

impl AsyncWrite for DataChannel {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.overloaded()?;
        futures::ready!(self.poll_open(cx))?;
        if self.channel.buffered_amount() > MAX_BUFFERED {
            self.shared.borrow_mut().wait(cx);
            return Poll::Pending;
        }
        // One libp2p frame at most per message, as the spec sizes them.
        let n = buf.len().min(MAX_MSG_LEN);
        self.channel.send_with_u8_array(&buf[..n]).map_err(|e| io::Error::other(format!("{e:?}")))?;
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        futures::ready!(self.poll_open(cx))?;
        if self.channel.buffered_amount() > 0 {
            self.shared.borrow_mut().wait(cx);
            return Poll::Pending;
        }
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.channel.ready_state() {
            RtcDataChannelState::Closed => Poll::Ready(Ok(())),
            state => {
                if state != RtcDataChannelState::Closing {
                    self.channel.close();
                }
                self.shared.borrow_mut().wait(cx);
                Poll::Pending
            }
        }
    }
}
