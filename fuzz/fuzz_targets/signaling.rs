//! The `/webrtc-signaling/0.0.1` codec (`net::signaling::codec`): uvarint
//! length-prefixed protobuf `Message`s as they arrive on a stream from the
//! other page, read one after another until the bytes run out or one is
//! refused.
//!
//! Checks: no message over `MAX_SIGNALING_BYTES` is taken; a partial message
//! consumes nothing; each message read re-encodes and reads back equal, with
//! the same `kind()`, consuming exactly its encoded length.
#![no_main]

use asynchronous_codec::{Decoder, Encoder};
use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use weftdb::net::signaling::{codec, Message, MAX_SIGNALING_BYTES};

fuzz_target!(|data: &[u8]| {
    let mut buf = BytesMut::from(data);
    let mut codec = codec();
    loop {
        let before = buf.len();
        match codec.decode(&mut buf) {
            Ok(Some(msg)) => {
                let taken = before - buf.len();
                let mut again = BytesMut::new();
                codec.encode(msg.clone(), &mut again).expect("a message read is one that can be written");
                assert!(taken <= MAX_SIGNALING_BYTES + 10, "no message over the limit is taken");
                assert!(prost::Message::encoded_len(&msg) <= MAX_SIGNALING_BYTES);
                let len = again.len();
                let back: Message = codec.decode(&mut again).expect("re-encoded reads").expect("whole");
                assert!(again.is_empty(), "exactly {len} bytes taken");
                assert_eq!(back, msg);
                assert_eq!(back.kind(), msg.kind());
            }
            Ok(None) => {
                assert_eq!(buf.len(), before, "a partial message consumes nothing");
                break;
            }
            Err(_) => break,
        }
    }
});
