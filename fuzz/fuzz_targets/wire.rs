//! The wire codec of `/weft/blocks/1`, `/weft/heads/1`, `/weft/replicate/1`
//! and the relay's peer announcements: `core::sync::decode::<T>` of each
//! message type, and the request-response codec (`net::Codec`) that reads
//! them off a stream. The first byte picks the type, the rest is the message.
//!
//! Checks: an accepted message is within its item limit and survives
//! encode → decode unchanged; the stream codec takes exactly what `decode`
//! takes (a request it cannot read arrives as `Inbound::Unreadable` and is
//! counted once, an unreadable response fails the read with `InvalidData`,
//! an empty one with `UnexpectedEof`, uncounted).
#![no_main]

use std::fmt::Debug;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use futures::executor::block_on;
use futures::io::Cursor;
use libfuzzer_sys::fuzz_target;
use libp2p::request_response::Codec as _;
use libp2p::StreamProtocol;
use serde::de::DeserializeOwned;
use serde::Serialize;
use weftdb::core::sync::{
    decode, encode, BlocksRequest, BlocksResponse, HeadsRequest, HeadsResponse, Limits, PeerAnnouncement,
    ReplicateRequest, ReplicateResponse,
};
use weftdb::net::{Codec, Inbound, WireErrors};

trait Message: Serialize + DeserializeOwned + Limits + PartialEq + Debug + Send + 'static {}
impl<T: Serialize + DeserializeOwned + Limits + PartialEq + Debug + Send + 'static> Message for T {}

fn message<T: Message>(bytes: &[u8]) {
    let Ok(msg) = decode::<T>(bytes) else { return };
    assert!(msg.items() <= T::MAX_ITEMS, "an accepted message is within its limit");
    let again = encode(&msg);
    assert_eq!(decode::<T>(&again).as_ref(), Ok(&msg), "encode then decode gives the message back");
    assert_eq!(encode(&msg), again, "encoding is deterministic");
}

const PROTOCOL: StreamProtocol = StreamProtocol::new("/weft/fuzz/1");

/// What the node's codec makes of `bytes` sent as a request, and as a response.
fn stream<Req: Message, Resp: Message>(bytes: &[u8]) {
    let errors = Arc::new(WireErrors::default());
    let mut codec = Codec::<Req, Resp>::counting(errors.clone());
    let read = block_on(codec.read_request(&PROTOCOL, &mut Cursor::new(bytes))).expect("a cursor never fails");
    let refused = || errors.decode.load(Ordering::Relaxed) + errors.oversized.load(Ordering::Relaxed);
    match (read, decode::<Req>(bytes)) {
        (Inbound::Request(got), Ok(want)) => assert_eq!(got, want),
        (Inbound::Unreadable(got), Err(want)) => assert_eq!(got, want),
        (read, want) => panic!("the codec read {read:?} where decode gives {want:?}"),
    }
    let before = refused();
    assert_eq!(before, u64::from(decode::<Req>(bytes).is_err()), "a refused request is counted once");
    let read = block_on(codec.read_response(&PROTOCOL, &mut Cursor::new(bytes)));
    if bytes.is_empty() {
        // A stream closed unanswered is a failed request, held against no one.
        assert_eq!(read.expect_err("no answer").kind(), std::io::ErrorKind::UnexpectedEof);
        assert_eq!(refused(), before, "an unanswered request is not counted");
        return;
    }
    match (read, decode::<Resp>(bytes)) {
        (Ok(got), Ok(want)) => assert_eq!(got, want),
        (Err(e), Err(_)) => assert_eq!(e.kind(), std::io::ErrorKind::InvalidData),
        (read, want) => panic!("the codec read {read:?} where decode gives {want:?}"),
    }
    assert_eq!(refused() - before, u64::from(decode::<Resp>(bytes).is_err()), "a refused response is counted once");
}

fuzz_target!(|data: &[u8]| {
    let Some((&kind, bytes)) = data.split_first() else { return };
    match kind % 10 {
        0 => message::<BlocksRequest>(bytes),
        1 => message::<BlocksResponse>(bytes),
        2 => message::<HeadsRequest>(bytes),
        3 => message::<HeadsResponse>(bytes),
        4 => message::<ReplicateRequest>(bytes),
        5 => message::<ReplicateResponse>(bytes),
        6 => message::<PeerAnnouncement>(bytes),
        7 => stream::<BlocksRequest, BlocksResponse>(bytes),
        8 => stream::<HeadsRequest, HeadsResponse>(bytes),
        _ => stream::<ReplicateRequest, ReplicateResponse>(bytes),
    }
});
