//! The hostile-peer suite. In each class a node X is attacked by a raw
//! libp2p client (`common::Hostile`) while an honest node Y replicates its
//! documents to X: the attack must be refused or bounded, and counted in
//! X's stats, and Y's sync must complete all the same.
//!
//! Adding a class: a `#[test]` that makes an [`Arena`], runs its attack in
//! [`Arena::during`] (which runs the honest sync alongside and checks it
//! afterwards), and asserts X's stats. Memory is checked by every class
//! ([`MEMORY_BOUND`]).
#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;
use serde_bytes::ByteBuf;
use serde_json::{json, Value};
use weftdb::core::block::{cid_of, Block, SignedBlock};
use weftdb::core::replica::conduct::REFUSED_PER_STRIKE;
use weftdb::core::sync::{
    decode, encode, BlocksRequest, BlocksResponse, HeadsRequest, HeadsResponse, ReplicateRequest, ReplicateResponse,
    MAX_CIDS, MAX_MESSAGE_BYTES,
};
use weftdb::node::{Command, NodeConfig, NodeHandle};

/// Documents the honest peer replicates to the node under attack.
const HONEST: usize = 20;

/// The peak resident memory of the whole suite's process: every class runs
/// in it at once, each with two nodes (redb, libp2p, tokio) and a hostile
/// client, in a debug build. Generous: the point is that no attack makes
/// it grow with what the attacker sends (4 GiB of reads, 20,000 requests,
/// thousands of replayed blocks).
const MEMORY_BOUND: u64 = 512 * 1024 * 1024;

/// A node under attack (X) and an honest peer (Y) with [`HONEST`] documents.
struct Arena {
    x: NodeHandle,
    y: NodeHandle,
    _dirs: [tempfile::TempDir; 2],
}

impl Arena {
    /// X shares Book publicly (a p2p collection) when `x_shares`.
    fn new(x_shares: bool) -> Arena {
        Arena::with(x_shares, |c| c)
    }

    fn with(x_shares: bool, configure: impl FnOnce(NodeConfig) -> NodeConfig) -> Arena {
        let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
        let x = start(configure(quiet(dirs[0].path())));
        let y = start(quiet(dirs[1].path()));
        with_book(&x, x_shares);
        with_book(&y, false);
        for i in 0..HONEST {
            create(&y, json!({ "title": format!("honest {i}"), "pages": i }));
        }
        Arena { x, y, _dirs: dirs }
    }

    /// Runs `attack` while Y replicates its documents to X; then checks
    /// that they all arrived, and that a later honest write does too.
    fn during(&self, attack: impl FnOnce() + Send) {
        std::thread::scope(|s| {
            let attacker = s.spawn(attack);
            let peer = addr(&self.x).to_string();
            call(&self.y, Command::SetReplicator { collection: "Book".into(), docs: None, peer });
            wait_for("the honest documents on X", || count(&self.x) >= HONEST);
            if let Err(panic) = attacker.join() {
                std::panic::resume_unwind(panic);
            }
        });
        let id = create(&self.y, json!({"title": "after the attack"}));
        wait_for("a later honest write on X", || get(&self.x, &id)["title"] == json!("after the attack"));
        let rss = peak_rss();
        eprintln!("peak RSS so far: {} MiB", rss / (1024 * 1024));
        assert!(rss < MEMORY_BOUND, "peak RSS {rss} over the bound {MEMORY_BOUND}");
    }
}

impl Drop for Arena {
    fn drop(&mut self) {
        self.x.stop();
        self.y.stop();
    }
}

fn key(seed: u8) -> ed25519_dalek::SigningKey {
    ed25519_dalek::SigningKey::from_bytes(&[seed; 32])
}

fn genesis(title: &str, seed: u8) -> SignedBlock {
    let fields = json!({ "title": title }).as_object().unwrap().clone();
    Block::genesis("Book", fields, [seed; 8], &key(seed))
}

fn push(blocks: Vec<Vec<u8>>) -> Vec<u8> {
    encode(&ReplicateRequest::Push { blocks: blocks.into_iter().map(ByteBuf::from).collect(), remaining: 0 })
}

fn replicate_answer(a: &Answer) -> ReplicateResponse {
    decode(a.as_ref().expect("an answer")).expect("a replicate answer")
}

/// The codes of the blocks a push's answer refused (none merged).
fn refused_codes(a: &Answer) -> Vec<String> {
    match replicate_answer(a) {
        ReplicateResponse::Ack { merged, refused } if merged.is_empty() => {
            refused.into_iter().map(|r| r.code).collect()
        }
        other => panic!("not an Ack refusing everything: {other:?}"),
    }
}

fn blocks_request(want: Vec<cid::Cid>) -> Vec<u8> {
    encode(&BlocksRequest { want })
}

fn blocks_answer(a: &Answer) -> Vec<ByteBuf> {
    decode::<BlocksResponse>(a.as_ref().expect("an answer")).expect("a blocks answer").blocks
}

fn ids(n: &NodeHandle) -> Vec<String> {
    let docs = call(n, Command::Find { collection: "Book".into(), query: json!({}) });
    docs.as_array().unwrap().iter().map(|d| d["_id"].as_str().unwrap().to_string()).collect()
}

/// Waits while the hostile peer answers the node's requests.
fn drive_until(h: &mut Hostile, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + WAIT;
    while !done() {
        assert!(std::time::Instant::now() < deadline, "timed out waiting for {what}");
        h.drive_for(Duration::from_millis(100));
    }
}

#[test]
fn a_block_under_the_wrong_cid_is_refused_and_counted() {
    let arena = Arena::new(true);
    let x = &arena.x;
    arena.during(|| {
        let mut h = Hostile::connect(addr(x), 11);
        // A change whose parent the node will ask us for; we answer with
        // another (valid) block in its place.
        let parent = genesis("the parent", 11);
        let other = genesis("slipped in", 12);
        let fields = json!({ "pages": 1 }).as_object().unwrap().clone();
        let child = Block::change("Book", parent.cid, vec![parent.cid], 2, fields, false, &key(11));
        let wrong = other.bytes.clone();
        h.respond_with(move |_, _| encode(&BlocksResponse { blocks: vec![ByteBuf::from(wrong.clone())] }));
        let answer = h.request(Proto::Replicate, push(vec![child.bytes.clone()]));
        assert!(matches!(replicate_answer(&answer), ReplicateResponse::Ack { .. }), "held pending its parent");
        drive_until(&mut h, "the wrong block to be refused", || stat(x, "invalid") >= 1);
        assert_eq!(get(x, &other.cid.to_string()), Value::Null, "a block nobody asked for is not merged");
        assert_eq!(get(x, &parent.cid.to_string()), Value::Null);
    });
    assert_eq!(stat(x, "invalid"), 1);
}

#[test]
fn a_bad_signature_is_refused_and_counted() {
    let arena = Arena::new(true);
    let x = &arena.x;
    arena.during(|| {
        let mut h = Hostile::connect(addr(x), 21);
        let mut forged = genesis("forged", 21).bytes;
        let n = forged.len();
        forged[n - 10] ^= 0xff;
        let answer = h.request(Proto::Replicate, push(vec![forged.clone()]));
        assert!(refused_codes(&answer) == ["BLOCK_INVALID"], "{answer:?}");
        assert_eq!(get(x, &cid_of(&forged).to_string()), Value::Null);
    });
    assert_eq!(stat(x, "invalid"), 1);
}

#[test]
fn a_stream_opened_and_never_written_times_out_and_the_node_keeps_serving() {
    const STALLED: usize = 40;
    let arena = Arena::with(true, |c| NodeConfig { request_timeout: Duration::from_secs(2), ..c });
    let x = &arena.x;
    arena.during(|| {
        let mut h = Hostile::connect(addr(x), 31);
        h.send_only(Proto::Stall, vec![Vec::new(); STALLED]);
        wait_for("the stalled streams to time out", || stat(x, "stalled") >= STALLED as u64);
        // The same peer is still served.
        let id: cid::Cid = ids(x).first().map_or_else(|| cid_of(b"none"), |i| i.parse().unwrap());
        let answer = h.request(Proto::Blocks, blocks_request(vec![id]));
        assert!(answer.is_some(), "the node still answers the peer");
    });
    assert_eq!(stat(x, "stalled"), STALLED as u64);
}

#[test]
fn a_valid_block_replayed_thousands_of_times_costs_no_transaction() {
    const REPEATS: usize = 300;
    let arena = Arena::new(true);
    let x = &arena.x;
    let block = genesis("replayed", 41);
    arena.during(|| {
        let mut h = Hostile::connect(addr(x), 41);
        let first = h.request(Proto::Replicate, push(vec![block.bytes.clone()]));
        assert!(matches!(replicate_answer(&first), ReplicateResponse::Ack { merged, .. } if merged == vec![block.cid]));
        // One push naming it as often as a message may, then push after push.
        let many = h.request(Proto::Replicate, push(vec![block.bytes.clone(); MAX_CIDS]));
        assert!(matches!(replicate_answer(&many), ReplicateResponse::Ack { merged, .. } if merged == vec![block.cid]));
        for _ in 0..REPEATS {
            let again = h.request(Proto::Replicate, push(vec![block.bytes.clone()]));
            assert!(matches!(replicate_answer(&again), ReplicateResponse::Ack { .. }));
        }
    });
    let s = stats(x);
    // The copies in the big push, then each push of a block merged lately.
    assert_eq!(s["replayed"], json!((MAX_CIDS - 1) + 1 + REPEATS), "{s}");
    assert_eq!(s["invalid"], json!(0));
    assert_eq!(s["rateLimited"], json!(0), "a few hundred requests are within the rate");
    assert_eq!(get(x, &block.cid.to_string())["title"], json!("replayed"));
}

#[test]
fn oversized_messages_are_refused_counted_and_their_sender_dropped() {
    let arena = Arena::new(true);
    let x = &arena.x;
    arena.during(|| {
        let mut h = Hostile::connect(addr(x), 51);
        let huge = vec![0u8; MAX_MESSAGE_BYTES + 1024];
        for proto in [Proto::Heads, Proto::Blocks] {
            let answer = h.request(proto, huge.clone());
            assert!(answer.is_none_or(|a| a.is_empty()), "no answer to an oversized {proto:?} request");
        }
        assert_eq!(stat(x, "peersDropped"), 0, "two strikes");
        let _ = h.request(Proto::Replicate, huge);
        wait_for("the peer dropped", || stat(x, "peersDropped") == 1);
    });
    assert_eq!(stat(x, "oversized"), 3);
}

#[test]
fn duplicate_cids_collapse_and_an_answer_stops_at_its_byte_budget() {
    const BIG: usize = 12;
    let arena = Arena::new(true);
    let x = &arena.x;
    // Twelve blocks of 900 KB: more than one answer holds.
    let big: Vec<cid::Cid> = (0..BIG)
        .map(|i| create(x, json!({ "title": format!("{i}{}", "x".repeat(900_000)) })).parse().unwrap())
        .collect();
    arena.during(|| {
        let mut h = Hostile::connect(addr(x), 61);
        let answer = h.request(Proto::Blocks, blocks_request(vec![big[0]; MAX_CIDS]));
        let blocks = blocks_answer(&answer);
        assert_eq!(blocks.len(), 1, "one block, not {MAX_CIDS} copies of it");
        assert_eq!(cid_of(&blocks[0]), big[0]);

        let mut got = Vec::new();
        let mut rounds = 0;
        while got.len() < BIG {
            let rest: Vec<cid::Cid> = big.iter().filter(|c| !got.contains(*c)).copied().collect();
            let answer = h.request(Proto::Blocks, blocks_request(rest));
            let blocks = blocks_answer(&answer);
            let size: usize = blocks.iter().map(|b| b.len()).sum();
            assert!(size <= MAX_MESSAGE_BYTES && !blocks.is_empty(), "{} blocks, {size} bytes", blocks.len());
            got.extend(blocks.iter().map(|b| cid_of(b)));
            rounds += 1;
        }
        assert!(rounds >= 2, "{BIG} blocks of 900 KB do not fit one answer");
    });
}

#[test]
fn an_empty_heads_request_from_a_stranger_for_an_unshared_collection_gets_nothing() {
    let arena = Arena::new(false);
    let x = &arena.x;
    let own: Vec<String> = (0..3).map(|i| create(x, json!({ "title": format!("x's own {i}") }))).collect();
    arena.during(|| {
        let mut h = Hostile::connect(addr(x), 71);
        let ask = HeadsRequest { col: "Book".into(), docs: None, heads: BTreeMap::new() };
        let answer = h.request(Proto::Heads, encode(&ask));
        let heads = decode::<HeadsResponse>(answer.as_ref().unwrap()).unwrap().heads;
        assert!(heads.is_empty(), "no heads of documents it did not name: {heads:?}");
        let want: Vec<cid::Cid> = own.iter().map(|i| i.parse().unwrap()).collect();
        let blocks = blocks_answer(&h.request(Proto::Blocks, blocks_request(want)));
        assert!(blocks.is_empty(), "no blocks of a collection not shared with it");
        // Anything pushed would have come by now: the node answers in turn.
        h.drive_for(Duration::from_secs(1));
        let pushed: Vec<_> = h.received.iter().filter(|(p, _)| *p == Proto::Replicate).collect();
        assert!(pushed.is_empty(), "the node pushed {} requests", pushed.len());
    });
    assert!(stat(x, "withheld") >= 4, "{}", stats(x));
}

#[test]
fn a_request_flood_is_rate_limited_and_its_peer_dropped() {
    let arena = Arena::new(true);
    let x = &arena.x;
    arena.during(|| {
        let mut h = Hostile::connect(addr(x), 81);
        let ask = blocks_request(vec![cid_of(b"nothing")]);
        for _ in 0..40 {
            if stat(x, "peersDropped") >= 1 {
                break;
            }
            h.requests(Proto::Blocks, vec![ask.clone(); 500]);
        }
        wait_for("the flooding peer dropped", || stat(x, "peersDropped") == 1);
    });
    let s = stats(x);
    assert!(s["rateLimited"].as_u64().unwrap() >= 3 * REFUSED_PER_STRIKE, "{s}");
}

#[test]
fn strikes_survive_a_reconnect() {
    let arena = Arena::new(true);
    let x = &arena.x;
    arena.during(|| {
        let mut h = Hostile::connect(addr(x), 91);
        let garbage = b"\xff\xfe not DAG-CBOR".to_vec();
        h.request(Proto::Replicate, garbage.clone());
        h.request(Proto::Heads, garbage.clone());
        wait_for("two strikes", || stat(x, "decodeErrors") == 2);
        h.disconnect();
        let peer = h.peer_id();
        wait_for("X to see the peer gone", || !connected(x, peer));
        h.dial();
        h.request(Proto::Blocks, garbage);
        wait_for("the third strike to drop it", || stat(x, "peersDropped") == 1);
    });
    assert_eq!(stat(x, "decodeErrors"), 3);
}

#[test]
fn an_answer_cut_at_its_byte_budget_is_completed_by_asking_the_same_peer_again() {
    const BIG: usize = 12;
    let arena = Arena::new(false);
    let x = &arena.x;
    // W holds twelve blocks of 900 KB, more than one answer holds, and
    // shares them with X by their documents' topics only (no collection
    // shared, so no head exchange brings them).
    let dir = tempfile::tempdir().unwrap();
    let w = start(quiet(dir.path()));
    with_book(&w, false);
    let big: Vec<String> =
        (0..BIG).map(|i| create(&w, json!({ "title": format!("{i}{}", "x".repeat(900_000)) }))).collect();
    for id in &big {
        assert_eq!(get(x, id), Value::Null, "X holds the topic of a document it asked for");
    }
    call(x, Command::Dial { addr: addr(&w).to_string() });
    wait_for("W's mesh on every document's topic", || {
        let s = stats(&w);
        big.iter().all(|id| s["mesh"][format!("weft/doc/{id}")].as_u64().unwrap_or(0) >= 1)
    });
    arena.during(|| {
        // A change to each, pushed without its parent: X fetches the twelve.
        let mut h = Hostile::connect(addr(x), 101);
        h.respond_with(|_, _| encode(&BlocksResponse { blocks: Vec::new() }));
        let changes: Vec<Vec<u8>> = big
            .iter()
            .map(|id| {
                let doc: cid::Cid = id.parse().unwrap();
                let fields = json!({ "pages": 7 }).as_object().unwrap().clone();
                Block::change("Book", doc, vec![doc], 2, fields, false, &key(101)).bytes
            })
            .collect();
        let answer = h.request(Proto::Replicate, push(changes));
        assert!(matches!(replicate_answer(&answer), ReplicateResponse::Ack { .. }), "{answer:?}");
        drive_until(&mut h, "the twelve documents on X", || big.iter().all(|id| get(x, id)["pages"] == json!(7)));
    });
    assert_eq!(stats(x)["pending"], json!(0));
    assert_eq!(stat(&w, "served"), BIG as u64, "each block once, in two answers or more");
    w.stop();
}

// Blocks whose content no peer may send, pushed by a raw client: each is
// refused on its own (the answer says which and why), never stored, and
// counted; those no honest peer makes are strikes.

/// A genesis re-encoded without changing what it decodes to, so its
/// signature still verifies: `v: 1` as a two-byte integer.
fn non_canonical(g: &SignedBlock) -> Vec<u8> {
    let at = g.bytes.windows(3).position(|w| w == [0x61, b'v', 0x01]).expect("the v key");
    let mut b = g.bytes[..at + 2].to_vec();
    b.extend([0x18, 0x01]);
    b.extend(&g.bytes[at + 3..]);
    b
}

#[test]
fn block_contents_no_peer_may_send_are_refused_one_by_one() {
    let arena = Arena::new(true);
    let x = &arena.x;
    call(x, Command::AddSchema { sdl: "type Blob { meta: JSON }".into() });
    arena.during(|| {
        let g = genesis("a genesis", 41);
        let fields = |v: Value| v.as_object().unwrap().clone();
        let empty = Block::change("Book", g.cid, vec![g.cid], 2, Default::default(), false, &key(41));
        let parents: Vec<_> = (0..1025u32).map(|i| cid_of(&i.to_be_bytes())).collect();
        let wide = Block::change("Book", g.cid, parents, 2, fields(json!({"pages": 1})), false, &key(41));
        let deep = (0..100).fold(json!(1), |v, _| json!([v]));
        let too_deep = Block::genesis("Blob", fields(json!({ "meta": deep })), [2; 8], &key(41));
        let classes: Vec<(&str, Vec<u8>, &str)> = vec![
            ("a non-canonical encoding", non_canonical(&g), "BLOCK_INVALID"),
            ("a change with nothing in it", empty.bytes, "BLOCK_INVALID"),
            ("1,025 parents", wide.bytes, "BLOCK_INVALID"),
            ("a value nested 100 deep", too_deep.bytes, "VALIDATION"),
        ];
        // One client each: three strikes from one would ban it.
        for (seed, (what, bytes, code)) in (42..).zip(classes) {
            let mut h = Hostile::connect(addr(x), seed);
            let answer = h.request(Proto::Replicate, push(vec![bytes.clone()]));
            assert_eq!(refused_codes(&answer), [code], "{what}");
            assert_eq!(get(x, &cid_of(&bytes).to_string()), Value::Null, "{what}");
        }
        // One valid block among refused ones is taken.
        let mut h = Hostile::connect(addr(x), 41);
        let answer = h.request(Proto::Replicate, push(vec![non_canonical(&g), g.bytes.clone()]));
        let ReplicateResponse::Ack { merged, refused } = replicate_answer(&answer) else { panic!("{answer:?}") };
        assert_eq!((merged, refused.len()), (vec![g.cid], 1));
        assert_eq!(get(x, &g.cid.to_string())["title"], json!("a genesis"));
    });
    assert_eq!(stat(x, "invalid"), 4, "three faults alone, one beside a valid block");
    assert_eq!(stat(x, "refused"), 1, "the deep value: this schema's limit");
    assert_eq!(pending_of(x), 0, "nothing of it waits for parents");
    assert_eq!(stat(x, "peersDropped"), 0, "one strike each");
}

fn pending_of(n: &NodeHandle) -> u64 {
    stat(n, "pending")
}

#[test]
fn blocks_a_write_policy_refuses_are_dropped_and_no_strike() {
    let arena = Arena::new(true);
    let x = &arena.x;
    call(x, Command::AddSchema { sdl: r#"type Note @policy(writers: "owner") { text: String }"#.into() });
    call(x, Command::AddP2pCollection { collection: "Note".into() });
    let id = call(x, Command::Create { collection: "Note".into(), doc: json!({"text": "x's"}) })["_id"]
        .as_str()
        .unwrap()
        .to_string();
    let g = SignedBlock::decode(&blocks_of_note(x, &id), None).unwrap();
    arena.during(|| {
        let mut h = Hostile::connect(addr(x), 51);
        for i in 0..10 {
            let fields = json!({ "text": format!("defaced {i}") }).as_object().unwrap().clone();
            let change = Block::change("Note", g.cid, vec![g.cid], 2, fields, false, &key(51));
            let answer = h.request(Proto::Replicate, push(vec![change.bytes]));
            assert_eq!(refused_codes(&answer), ["UNAUTHORIZED"]);
        }
    });
    let note = call(x, Command::Get { collection: "Note".into(), id: id.clone() });
    assert_eq!(note["text"], json!("x's"));
    assert_eq!(stat(x, "refused"), 10);
    assert_eq!(stat(x, "peersDropped"), 0, "a policy that differs is no fault");
}

/// The genesis block of a document, through the replicate protocol's own
/// answer: a raw client asks for it by CID.
fn blocks_of_note(x: &NodeHandle, id: &str) -> Vec<u8> {
    let mut h = Hostile::connect(addr(x), 52);
    let cid: cid::Cid = id.parse().unwrap();
    let answer = h.request(Proto::Blocks, blocks_request(vec![cid]));
    blocks_answer(&answer).remove(0).into_vec()
}
