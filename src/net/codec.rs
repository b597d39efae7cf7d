//! The request-response codec of weftdb's protocols: one DAG-CBOR message
//! per stream, written whole and read to the end, refused unread past
//! [`MAX_MESSAGE_BYTES`]. A request that cannot be read reaches the node as
//! [`Inbound::Unreadable`], with its sender.

use std::io;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::StreamProtocol;
use serde::{Deserialize, Serialize};

use crate::core::sync::{decode, encode, Limits, MessageError, MAX_MESSAGE_BYTES};

/// Messages from peers that could not be taken. Counted here because
/// request-response reports no event for a request it could not read.
#[derive(Debug, Default)]
pub struct WireErrors {
    /// Not DAG-CBOR, not the expected shape, or over the item limits.
    pub decode: AtomicU64,
    /// Over [`MAX_MESSAGE_BYTES`].
    pub oversized: AtomicU64,
    /// Requests that never arrived whole: the stream stalled until the
    /// request timeout dropped it (one opened and never written), or
    /// closed half-written. request-response reports neither.
    pub stalled: AtomicU64,
}

/// Counts a read that ends before its message does (its future dropped).
struct Unfinished<'a> {
    counter: &'a AtomicU64,
    done: bool,
}

impl Drop for Unfinished<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.counter.fetch_add(1, Ordering::Relaxed);
        }
    }
}

pub struct Codec<Req, Resp> {
    errors: Arc<WireErrors>,
    _messages: PhantomData<fn() -> (Req, Resp)>,
}

impl<Req, Resp> Codec<Req, Resp> {
    /// A codec that counts the messages it refuses in `errors`.
    pub fn counting(errors: Arc<WireErrors>) -> Self {
        Codec { errors, _messages: PhantomData }
    }
}

impl<Req, Resp> Default for Codec<Req, Resp> {
    fn default() -> Self {
        Codec::counting(Arc::default())
    }
}

impl<Req, Resp> Clone for Codec<Req, Resp> {
    fn clone(&self) -> Self {
        Codec::counting(self.errors.clone())
    }
}

/// A request as read off the wire. request-response reports nothing of a
/// request its codec could not read, so an unreadable one is handed on as
/// such, for the node to hold against the peer that sent it.
#[derive(Debug)]
pub enum Inbound<T> {
    Request(T),
    Unreadable(MessageError),
}

impl<T> From<T> for Inbound<T> {
    fn from(request: T) -> Self {
        Inbound::Request(request)
    }
}

/// Reads one message; `Err(MessageError)` inside when it is not one.
async fn read_message<T, M>(io: &mut T, errors: &WireErrors, answer: bool) -> io::Result<Result<M, MessageError>>
where
    T: AsyncRead + Unpin + Send,
    M: for<'de> Deserialize<'de> + Limits,
{
    let mut buf = Vec::new();
    // One byte over the limit tells an oversized message from one that fits.
    io.take(MAX_MESSAGE_BYTES as u64 + 1).read_to_end(&mut buf).await?;
    // A peer that drops our request unanswered (over its rate limit, or
    // shutting down) closes the stream with nothing on it: a failed
    // request, not garbage to hold against it.
    if answer && buf.is_empty() {
        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the peer closed the stream unanswered"));
    }
    Ok(decode(&buf).inspect_err(|e| {
        let counter = if matches!(e, MessageError::TooLarge(_)) { &errors.oversized } else { &errors.decode };
        counter.fetch_add(1, Ordering::Relaxed);
    }))
}

/// Takes the encoded bytes, not the message: the future then holds no
/// reference to it and is `Send` whatever the message type.
async fn write_message<T>(io: &mut T, bytes: Vec<u8>) -> io::Result<()>
where
    T: AsyncWrite + Unpin + Send,
{
    io.write_all(&bytes).await?;
    io.close().await
}

impl<Req, Resp> libp2p::request_response::Codec for Codec<Req, Resp>
where
    Req: Serialize + for<'de> Deserialize<'de> + Limits + Send + 'static,
    Resp: Serialize + for<'de> Deserialize<'de> + Limits + Send + 'static,
{
    type Protocol = StreamProtocol;
    type Request = Inbound<Req>;
    type Response = Resp;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Inbound<Req>>
    where
        T: AsyncRead + Unpin + Send,
    {
        let mut unfinished = Unfinished { counter: &self.errors.stalled, done: false };
        let read = read_message(io, &self.errors, false).await;
        unfinished.done = true;
        Ok(match read? {
            Ok(req) => Inbound::Request(req),
            Err(e) => Inbound::Unreadable(e),
        })
    }

    /// An unreadable answer fails the request (`OutboundFailure::Io`,
    /// `InvalidData`), which names the peer; no answer at all fails it
    /// with `UnexpectedEof`.
    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Resp>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_message(io, &self.errors, true).await?.map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
    }

    async fn write_request<T>(&mut self, _: &StreamProtocol, io: &mut T, req: Inbound<Req>) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        match req {
            Inbound::Request(req) => write_message(io, encode(&req)).await,
            Inbound::Unreadable(_) => Err(io::Error::other("an unreadable request is not sent")),
        }
    }

    async fn write_response<T>(&mut self, _: &StreamProtocol, io: &mut T, resp: Resp) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_message(io, encode(&resp)).await
    }
}
