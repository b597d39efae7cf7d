//! Writes the seed corpora of the fuzz targets into `fuzz/corpus/<target>/`:
//! real blocks and messages made with weftdb's own encoders, SDL and
//! queries from its tests. Run from the repository root:
//! `cargo run --manifest-path fuzz/Cargo.toml --example seeds`.
//! The files are named by content, so rerunning changes nothing.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use asynchronous_codec::Encoder;
use bytes::BytesMut;
use ed25519_dalek::SigningKey;
use serde_bytes::ByteBuf;
use serde_json::{json, Map, Value};
use weftdb::core::block::{Block, SignedBlock};
use weftdb::core::doc::{DocState, Heads};
use weftdb::core::schema::parse_sdl;
use weftdb::core::sync::{
    encode, BlocksRequest, BlocksResponse, HeadsRequest, HeadsResponse, PeerAnnouncement, RefusedBlock,
    ReplicateRequest, ReplicateResponse,
};
use weftdb::net::signaling::{codec, Message, MessageType};

fn save(target: &str, bytes: &[u8]) {
    let dir = Path::new("fuzz/corpus").join(target);
    fs::create_dir_all(&dir).unwrap();
    // FNV-1a: a stable name from the content, no dependency.
    let name = bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
    fs::write(dir.join(format!("{name:016x}")), bytes).unwrap();
}

fn tagged(target: &str, kind: u8, bytes: &[u8]) {
    save(target, &[&[kind][..], bytes].concat());
}

fn fields(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

fn blocks() -> Vec<SignedBlock> {
    let k1 = SigningKey::from_bytes(&[1; 32]);
    let k2 = SigningKey::from_bytes(&[2; 32]);
    let g = Block::genesis(
        "Book",
        fields(json!({"title": "Dune", "pages": 412, "rating": 4.5, "read": true, "tags": ["sf", null],
                       "meta": {"a": [1, -2, 3.25, null, false]}, "published": "1965-08-01T00:00:00.000Z"})),
        [7; 8],
        &k1,
    );
    let small = Block::genesis("T", fields(json!({"n": 1})), [0; 8], &k2);
    let a = Block::change("Book", g.cid, vec![g.cid], 2, fields(json!({"pages": 413})), false, &k2);
    let b =
        Block::change("Book", g.cid, vec![g.cid], 2, fields(json!({"title": "Dune Messiah", "pages": -1})), false, &k1);
    let merge = Block::change("Book", g.cid, vec![a.cid, b.cid], 3, fields(json!({"read": false})), false, &k1);
    let del = Block::change("Book", g.cid, vec![merge.cid], 4, Map::new(), true, &k2);
    vec![g, small, a, b, merge, del]
}

fn main() {
    let blocks = blocks();
    let cids: Vec<_> = blocks.iter().map(|b| b.cid).collect();
    let bytes: Vec<ByteBuf> = blocks.iter().map(|b| ByteBuf::from(b.bytes.clone())).collect();

    for b in &blocks {
        save("block", &b.bytes);
    }

    let heads: BTreeMap<String, Vec<_>> =
        [(cids[0].to_string(), vec![cids[4]]), (cids[1].to_string(), vec![cids[1]])].into();
    let refused = RefusedBlock { cid: cids[2], code: "UNAUTHORIZED".into(), reason: "not a writer".into() };
    let messages: [(u8, Vec<u8>); 10] = [
        (0, encode(&BlocksRequest { want: cids[..3].to_vec() })),
        (1, encode(&BlocksResponse { blocks: bytes[..2].to_vec() })),
        (2, encode(&HeadsRequest { col: "Book".into(), docs: Some(vec![cids[0].to_string()]), heads: heads.clone() })),
        (2, encode(&HeadsRequest { col: "Book".into(), docs: None, heads: BTreeMap::new() })),
        (3, encode(&HeadsResponse { heads, unknown: false })),
        (3, encode(&HeadsResponse { heads: BTreeMap::new(), unknown: true })),
        (4, encode(&ReplicateRequest::Offer { cids: cids.clone() })),
        (4, encode(&ReplicateRequest::Push { blocks: bytes[2..4].to_vec(), remaining: 3 })),
        (5, encode(&ReplicateResponse::Ack { merged: cids[..2].to_vec(), refused: vec![refused] })),
        (6, encode(&PeerAnnouncement { seq: 9, peers: vec![ByteBuf::from(b"\x00\x24\x08\x01\x12\x20peer".to_vec())] })),
    ];
    let more = [
        (5, encode(&ReplicateResponse::Want { cids: vec![cids[5]] })),
        (5, encode(&ReplicateResponse::Refused { reason: "no such collection".into() })),
    ];
    for (kind, msg) in messages.iter().chain(&more) {
        tagged("wire", *kind, msg);
    }
    // The stream codec's selectors (7: blocks, 8: heads, 9: replicate) with
    // a request and a response of each protocol.
    for (kind, msg) in &messages {
        match kind {
            0 | 1 => tagged("wire", 7, msg),
            2 | 3 => tagged("wire", 8, msg),
            4 | 5 => tagged("wire", 9, msg),
            _ => {}
        }
    }

    let sdp = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\na=ice-ufrag:abcd\r\na=ice-pwd:0123456789abcdef01234567\r\na=fingerprint:sha-256 AB:CD\r\na=setup:actpass\r\na=mid:0\r\na=sctp-port:5000\r\n";
    let candidate =
        r#"{"candidate":"candidate:1 1 udp 2122260223 127.0.0.1 54321 typ host","sdpMid":"0","sdpMLineIndex":0}"#;
    let frame = |m: Message| {
        let mut buf = BytesMut::new();
        codec().encode(m, &mut buf).unwrap();
        buf.to_vec()
    };
    save("signaling", &frame(Message::new(MessageType::SdpOffer, sdp)));
    save(
        "signaling",
        &[frame(Message::new(MessageType::SdpAnswer, sdp)), frame(Message::new(MessageType::IceCandidate, candidate))]
            .concat(),
    );
    save("signaling", &frame(Message::new(MessageType::IceCandidate, "")));
    save("signaling", &frame(Message { r#type: Some(9), data: None }));

    let mut state = DocState::default();
    for b in &blocks[..5] {
        state.apply(b);
    }
    tagged("stored", 0, &serde_ipld_dagcbor::to_vec(&state).unwrap());
    state.apply(&blocks[5]);
    tagged("stored", 0, &serde_ipld_dagcbor::to_vec(&state).unwrap());
    let doc_heads: Heads = vec![(cids[2], 2), (cids[3], 2)];
    tagged("stored", 1, &serde_ipld_dagcbor::to_vec(&doc_heads).unwrap());

    let sdls = [
        "type Book {\n  title: String! @index\n  pages: Int\n  rating: Float\n  read: Boolean\n  tags: [String]\n  meta: JSON\n  published: DateTime\n}",
        "# library\n  type Author { name: String a: [Int!] b: [Float]! c: [DateTime!]! d: [JSON] }\n  \"\"\"doc\"\"\"\n  type Shelf { at: DateTime! @index, n: Int @index }",
        "type Book {\n  title: String\n  pages Int\n}",
        "type T { xs: [[Int]] y: Author @index(a: 1) } extend type T { z: Int }",
        "type Note @policy(writers: \"owner\") { text: String }\ntype Log @policy(writers: [\"8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c\"]) { line: String! @index }",
    ];
    for sdl in sdls {
        save("sdl", sdl.as_bytes());
    }
    for def in [sdls[0], sdls[1], sdls[4]].iter().flat_map(|sdl| parse_sdl(sdl).unwrap()) {
        tagged("stored", 2, &serde_json::to_vec(&def).unwrap());
    }

    let queries = [
        json!({"filter": {"pages": {"_gt": 100, "_lt": 450}, "title": {"_like": "Dune%"}}, "order": [{"title": "ASC"}, {"pages": "DESC"}], "limit": 10, "offset": 1}),
        json!({"filter": {"_or": [{"pages": {"_lt": 100}}, {"rating": {"_gt": 4.8}}], "_not": {"tags": {"_eq": null}}}}),
        json!({"filter": {"published": {"_in": ["1965-07-31T20:00:00-04:00", null]}, "_id": {"_le": "b2"}}}),
        json!({"filter": {"title": {"_ilike": "%É_e%"}, "meta": {"_eq": {"a": [1, 2.5]}}}, "order": {"rating": "desc"}}),
        json!({"filter": {"read": {"_ne": true}, "pages": {"_nin": [412, 9007199254740993_u64, -1]}, "tags": {"_gt": ["sf"]}}}),
        json!({"filter": {"title": {"_nlike": "100\\%"}, "rating": {"_ge": -0.0, "_le": 1e300}}}),
        json!({"filter": {"_and": [{"_id": {"_in": ["b1", "b9"]}}, {"read": {"_eq": false}}]}, "limit": 0}),
    ];
    for q in queries {
        save("query", &serde_json::to_vec(&q).unwrap());
    }
}
