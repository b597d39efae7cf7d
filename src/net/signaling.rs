//! The messages of `/webrtc-signaling/0.0.1` (libp2p `webrtc/webrtc.md`):
//! how two pages that share a relayed connection agree on a direct WebRTC
//! one. Protobuf, each message prefixed by its uvarint length:
//!
//! ```protobuf
//! message Message {
//!   enum Type { SDP_OFFER = 0; SDP_ANSWER = 1; ICE_CANDIDATE = 2; }
//!   optional Type type = 1;
//!   optional string data = 2;
//! }
//! ```
//!
//! The dialler of the relayed connection sends its SDP offer, the other
//! side its answer, and both trickle ICE candidates (JSON of
//! `RTCIceCandidateInit`) until the direct connection is up.

use libp2p::StreamProtocol;

pub const SIGNALING_PROTOCOL: StreamProtocol = StreamProtocol::new("/webrtc-signaling/0.0.1");

/// An SDP is a few KiB; anything near this is not one.
pub const MAX_SIGNALING_BYTES: usize = 64 * 1024;

/// ICE candidates one side may send in a handshake; a host has a handful.
pub const MAX_CANDIDATES: usize = 64;

#[derive(Clone, Copy, Debug, PartialEq, Eq, prost::Enumeration)]
#[repr(i32)]
pub enum MessageType {
    SdpOffer = 0,
    SdpAnswer = 1,
    IceCandidate = 2,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Message {
    #[prost(enumeration = "MessageType", optional, tag = "1")]
    pub r#type: Option<i32>,
    #[prost(string, optional, tag = "2")]
    pub data: Option<String>,
}

impl Message {
    pub fn new(kind: MessageType, data: impl Into<String>) -> Self {
        Message { r#type: Some(kind as i32), data: Some(data.into()) }
    }

    /// The type, if it is one the spec names.
    pub fn kind(&self) -> Option<MessageType> {
        MessageType::try_from(self.r#type?).ok()
    }
}

/// The codec of a signalling stream, refusing messages over [`MAX_SIGNALING_BYTES`].
pub fn codec() -> prost_codec::Codec<Message> {
    prost_codec::Codec::new(MAX_SIGNALING_BYTES)
}

#[cfg(test)]
mod tests {
    use asynchronous_codec::{Decoder, Encoder};
    use bytes::BytesMut;

    use super::*;

    #[test]
    fn wire_bytes_are_the_specs() {
        let mut buf = BytesMut::new();
        codec().encode(Message::new(MessageType::SdpAnswer, "v=0"), &mut buf).unwrap();
        // length 7; field 1 varint = 1; field 2 length-delimited "v=0".
        assert_eq!(&buf[..], &[7, 0x08, 1, 0x12, 3, b'v', b'=', b'0']);
        let back = codec().decode(&mut buf).unwrap().unwrap();
        assert_eq!(back.kind(), Some(MessageType::SdpAnswer));
        assert_eq!(back.data.as_deref(), Some("v=0"));
    }

    #[test]
    fn a_message_arrives_whole_or_not_yet() {
        let mut whole = BytesMut::new();
        codec().encode(Message::new(MessageType::IceCandidate, "{}"), &mut whole).unwrap();
        let mut part = BytesMut::from(&whole[..whole.len() - 1]);
        assert!(codec().decode(&mut part).unwrap().is_none());
    }

    #[test]
    fn oversized_and_unknown_messages_are_refused() {
        let mut buf = BytesMut::new();
        let mut len = unsigned_varint::encode::usize_buffer();
        buf.extend_from_slice(unsigned_varint::encode::usize(MAX_SIGNALING_BYTES + 1, &mut len));
        assert!(codec().decode(&mut buf).is_err());

        let mut buf = BytesMut::new();
        codec().encode(Message { r#type: Some(9), data: None }, &mut buf).unwrap();
        assert_eq!(codec().decode(&mut buf).unwrap().unwrap().kind(), None);
    }
}
