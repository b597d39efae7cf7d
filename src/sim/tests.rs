//! Properties of replication over random schedules.
//!
//! `cargo test --lib sim::` runs [`DEFAULT_CASES`] schedules;
//! `WEFT_SIM_CASES=100000 cargo test --release --lib sim::tests::schedules_converge`
//! runs more (TESTING.md has the timed run), and `WEFT_SIM_SEED=<seed>`
//! replays one. A failing schedule prints the command that replays it.

use std::time::Duration;

use futures::executor::block_on;
use serde_json::{json, Value};

use super::net::{Faults, Rng, Sim, SimConfig};
use crate::core::block::SignedBlock;
use crate::node::Command;
use crate::store::{KeyRange, Mode, Store, Table, Tx};

const DEFAULT_CASES: u64 = 200;
const SCHEMA: &str = "type Book { title: String @index, n: Int } type Note { text: String }";
const COLLECTIONS: [&str; 2] = ["Book", "Note"];

/// A random set-up: 2–4 replicas on a ring of links with a chord or two,
/// `Book` shared on its topics by all, `Note` carried by replicators
/// around a ring in random order (a block goes all the way round).
fn setup(rng: &mut Rng) -> SimConfig {
    let n = 2 + rng.below(3) as usize;
    let mut links: Vec<(usize, usize)> = (0..n).map(|i| (i, (i + 1) % n)).filter(|(a, b)| a != b).collect();
    links.dedup();
    if n > 3 && rng.chance(0.5) {
        links.push((0, 2));
    }
    let mut order: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        order.swap(i, rng.below(i as u64 + 1) as usize);
    }
    let replicators = (0..n).map(|k| (order[k], order[(k + 1) % n], "Note".to_string())).collect();
    let pages = (0..n).filter(|_| rng.chance(0.3)).collect();
    SimConfig { replicas: n, schema: SCHEMA.into(), p2p: vec!["Book".into()], replicators, links, pages }
}

fn faults(rng: &mut Rng) -> Faults {
    Faults {
        lose: [0.0, 0.002, 0.02][rng.below(3) as usize],
        duplicate: [0.0, 0.05][rng.below(2) as usize],
        stall: [0.0, 0.01, 0.05][rng.below(3) as usize],
        max_delay_ms: [2, 20, 200][rng.below(3) as usize],
    }
}

/// One random write on replica `i`: a create, or an update or delete of a
/// document made anywhere (refused where `i` does not hold it yet).
fn write(sim: &mut Sim, rng: &mut Rng, i: usize, docs: &mut Vec<(String, String)>) {
    if let Some((col, id)) = write_one(sim, rng, i, docs) {
        // What the write acknowledged: its block is among the heads now.
        let heads = block_on(sim.replicas[i].db.heads(&col, &id)).expect("heads");
        sim.written.extend(heads);
    }
}

/// [`write`]'s command; the document it changed, if it was taken.
fn write_one(sim: &mut Sim, rng: &mut Rng, i: usize, docs: &mut Vec<(String, String)>) -> Option<(String, String)> {
    let roll = rng.below(10);
    let n = rng.below(1000);
    let command = match (roll, docs.is_empty()) {
        (0..=4, _) | (_, true) => {
            let col = COLLECTIONS[rng.below(2) as usize];
            let doc = match col {
                "Book" => json!({ "title": format!("t{}", n % 7), "n": n }),
                _ => json!({ "text": format!("note {n}") }),
            };
            let failed = sim.replicas[i].store.failed();
            match sim.command(i, Command::Create { collection: col.into(), doc }) {
                Ok(v) => docs.push((col.into(), v["_id"].as_str().expect("an id").into())),
                // Its store failed the commit: not acknowledged, so not owed.
                Err(_) if sim.replicas[i].store.failed() > failed => return None,
                Err(e) => panic!("a create failed: {e}"),
            }
            return docs.last().cloned();
        }
        (5..=8, _) => {
            let (col, id) = docs[rng.below(docs.len() as u64) as usize].clone();
            let patch = match col.as_str() {
                "Book" => json!({ "n": n }),
                _ => json!({ "text": format!("edited {n}") }),
            };
            Command::Update { collection: col, id, patch }
        }
        _ => {
            let (col, id) = docs[rng.below(docs.len() as u64) as usize].clone();
            Command::Delete { collection: col, id }
        }
    };
    let changed = match &command {
        Command::Update { collection, id, .. } | Command::Delete { collection, id } => (collection.clone(), id.clone()),
        _ => unreachable!("only updates and deletes come here"),
    };
    // Not held here yet, or deleted already: refused, and nothing changes.
    sim.command(i, command).ok().map(|_| changed)
}

/// A schedule of writes, partitions, restarts and lossy links, then a
/// healed network: returns the replicas, settled.
fn run_schedule(seed: u64) -> Sim {
    let mut rng = Rng::new(seed);
    let config = setup(&mut rng);
    let faults = faults(&mut rng);
    let mut sim = Sim::new(seed ^ 0x5eed, faults, &config);
    let n = config.replicas;
    let steps = 10 + rng.below(40);
    // Half the schedules have stores that fail a commit now and then.
    let crash = rng.chance(0.5);
    let mut docs = Vec::new();
    for _ in 0..steps {
        sim.run_for(Duration::from_millis(rng.below(400)));
        let i = rng.below(n as u64) as usize;
        match rng.below(20) {
            0..=12 if sim.is_up(i) => write(&mut sim, &mut rng, i, &mut docs),
            13 => {
                let j = rng.below(n as u64) as usize;
                sim.cut(i, j);
            }
            14 | 15 => sim.heal(),
            16 => sim.stop(i),
            17 if crash => sim.fail_commit(i, 1 + rng.below(8)),
            _ => sim.start(i),
        }
    }
    sim.heal();
    sim.faults = Faults::NONE;
    for i in 0..n {
        sim.start(i);
    }
    sim.run_for(Duration::from_secs(120));
    sim
}

/// What every replica must agree on once the network has healed, and what
/// none may hold; `Err` says what is wrong.
fn check(sim: &Sim) -> Result<(), String> {
    let mut views = Vec::new();
    for (i, r) in sim.replicas.iter().enumerate() {
        let mut view = Vec::new();
        for col in COLLECTIONS {
            let heads = block_on(r.db.collection_heads(col, None)).map_err(|e| e.to_string())?;
            let heads: Vec<(String, Vec<String>)> = heads
                .into_iter()
                .map(|(id, h)| {
                    let mut cids: Vec<String> = h.iter().map(|(c, _)| c.to_string()).collect();
                    cids.sort();
                    (id, cids)
                })
                .collect();
            let docs = block_on(r.db.find(col, &json!({}))).map_err(|e| e.to_string())?;
            view.push((heads, docs));
        }
        views.push(view);
        let queued = block_on(r.db.outbox_len()).map_err(|e| e.to_string())?;
        if queued > 0 {
            return Err(format!("replica {i}: {queued} outbox entries left"));
        }
        for (cid, parents) in pending(r) {
            let held = block_on(r.db.has_blocks(&parents)).map_err(|e| e.to_string())?;
            if held.iter().all(|h| *h) {
                return Err(format!("replica {i}: pending block {cid} has all its parents"));
            }
        }
    }
    for (i, view) in views.iter().enumerate().skip(1) {
        for (k, col) in COLLECTIONS.iter().enumerate() {
            if view[k].0 != views[0][k].0 {
                let differ: Vec<_> = view[k].0.iter().filter(|h| !views[0][k].0.contains(h)).collect();
                let theirs: Vec<_> = views[0][k].0.iter().filter(|h| !view[k].0.contains(h)).collect();
                return Err(format!(
                    "replicas 0 and {i} hold other heads of {col}: {i} has {differ:?}, 0 has {theirs:?}; pending: {:?}",
                    sim.replicas.iter().map(|r| pending(r).len()).collect::<Vec<_>>()
                ));
            }
            if view[k].1 != views[0][k].1 {
                return Err(format!("replicas 0 and {i} show other documents of {col}"));
            }
        }
    }
    for (i, r) in sim.replicas.iter().enumerate() {
        let held = block_on(r.db.has_blocks(&sim.written)).map_err(|e| e.to_string())?;
        if let Some((cid, _)) = sim.written.iter().zip(held).find(|(_, h)| !h) {
            return Err(format!("replica {i} lacks {cid}, a write that was acknowledged"));
        }
    }
    for (i, r) in sim.replicas.iter().enumerate() {
        let consistent = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            block_on(crate::db::check::assert_consistent(&r.db));
        }));
        if consistent.is_err() {
            return Err(format!("replica {i}'s store is not consistent (see the panic above)"));
        }
    }
    if sim.observed.unanswered > 0 {
        return Err(format!("{} requests were neither answered nor dropped", sim.observed.unanswered));
    }
    // A replica whose store failed a commit may have lost its note that a
    // peer acknowledged a block (the outbox entry's deletion): pushing it
    // again is then what at-least-once delivery must do.
    let failed = |i: &usize| sim.replicas[*i].store.failed() > 0;
    if let Some((from, to, cid)) = sim.observed.pushed_after_ack.iter().find(|(from, _, _)| !failed(from)) {
        return Err(format!("replica {from} pushed {cid} to {to} again after {to} acknowledged it"));
    }
    Ok(())
}

/// The pending blocks of a replica and their parents.
fn pending(r: &super::net::Replica) -> Vec<(cid::Cid, Vec<cid::Cid>)> {
    block_on(async {
        let mut tx = r.store.begin(Mode::Read).await.expect("a transaction");
        let rows = tx.scan(Table::Pending, &KeyRange::all(), None).await.expect("a scan");
        rows.into_iter()
            .map(|(key, bytes)| {
                let cid = cid::Cid::try_from(key.as_slice()).expect("a CID key");
                let b = SignedBlock::decode_stored(bytes, cid).expect("a stored block");
                (cid, b.block.parents.clone())
            })
            .collect()
    })
}

/// `WEFT_SIM_LOG=<filter>` (e.g. `weftdb=debug`) shows the nodes' logs.
fn log() {
    if let Ok(filter) = std::env::var("WEFT_SIM_LOG") {
        let _ = tracing_subscriber::fmt().with_env_filter(filter).with_test_writer().try_init();
    }
}

fn cases() -> (u64, u64) {
    let env = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<u64>().ok());
    match env("WEFT_SIM_SEED") {
        Some(seed) => (seed, 1),
        None => (1, env("WEFT_SIM_CASES").unwrap_or(DEFAULT_CASES)),
    }
}

#[test]
fn schedules_converge() {
    log();
    let (first, n) = cases();
    let started = std::time::Instant::now();
    let (mut messages, mut failed, mut restarts) = (0, 0, 0);
    for seed in first..first + n {
        let sim = run_schedule(seed);
        messages += sim.observed.messages;
        failed += sim.replicas.iter().map(|r| r.store.failed()).sum::<u64>();
        restarts += sim.replicas.iter().map(|r| r.restarts()).sum::<u64>();
        if let Err(e) = check(&sim) {
            panic!(
                "schedule {seed}: {e}\nreplay: WEFT_SIM_SEED={seed} cargo test --lib sim::tests::schedules_converge -- --nocapture"
            );
        }
    }
    let secs = started.elapsed().as_secs_f64();
    eprintln!("{n} schedules, {messages} events, {failed} failed commits, {restarts} restarts, in {secs:.1} s");
}

/// The same seed, the same run: the same number of events, and every
/// replica ends with the very same blocks.
#[test]
fn a_seed_replays_exactly() {
    let export = |sim: &Sim| -> Vec<Vec<Vec<u8>>> {
        let all = sim.replicas.iter().map(|r| block_on(r.db.export()).expect("an export"));
        all.map(|mut blocks| {
            blocks.sort();
            blocks
        })
        .collect()
    };
    for seed in [3, 4, 17] {
        let (a, b) = (run_schedule(seed), run_schedule(seed));
        assert_eq!(a.observed.messages, b.observed.messages, "seed {seed}: another number of events");
        assert!(export(&a)[0].len() > 1, "seed {seed}: nothing was written");
        assert_eq!(export(&a), export(&b), "seed {seed}: other blocks");
    }
}

/// Two native replicas, linked, sharing `Book` on its topics.
fn pair() -> SimConfig {
    SimConfig {
        replicas: 2,
        schema: SCHEMA.into(),
        p2p: vec!["Book".into()],
        replicators: Vec::new(),
        links: vec![(0, 1)],
        pages: Vec::new(),
    }
}

/// The checks can fail: replicas cut apart for good do not converge, and
/// the check says so.
#[test]
fn a_lasting_partition_is_caught() {
    let config = pair();
    let mut sim = Sim::new(1, Faults::NONE, &config);
    sim.run_for(Duration::from_secs(1));
    sim.cut(0, 1);
    let doc = json!({ "title": "alone", "n": 1 });
    sim.command(0, Command::Create { collection: "Book".into(), doc }).expect("a create");
    sim.run_for(Duration::from_secs(30));
    let e = check(&sim).expect_err("a partition left standing diverges");
    assert!(e.contains("heads"), "{e}");
    sim.heal();
    sim.run_for(Duration::from_secs(30));
    check(&sim).expect("healed, they converge");
}

/// A write on one replica reaches the other by gossip within a few
/// simulated milliseconds, on a link without faults.
#[test]
fn a_write_reaches_a_connected_replica() {
    let config = pair();
    let mut sim = Sim::new(7, Faults::NONE, &config);
    sim.run_for(Duration::from_secs(1));
    let doc = json!({ "title": "hello", "n": 1 });
    let id = sim.command(0, Command::Create { collection: "Book".into(), doc }).expect("a create")["_id"].clone();
    sim.run_for(Duration::from_millis(50));
    let got = sim.command(1, Command::Get { collection: "Book".into(), id: id.as_str().expect("an id").into() });
    assert_eq!(got.expect("a get")["title"], Value::from("hello"));
}

/// Head exchange sends each side exactly the blocks it lacks, no block
/// twice, after both sides wrote to the same documents while apart.
#[test]
fn head_exchange_sends_exactly_what_the_other_side_lacks() {
    let config = pair();
    let mut sim = Sim::new(11, Faults { max_delay_ms: 20, ..Faults::NONE }, &config);
    let mut ids = Vec::new();
    for i in 0..50 {
        let doc = json!({ "title": format!("book {i}"), "n": i });
        let made = sim.command(0, Command::Create { collection: "Book".into(), doc }).expect("a create");
        ids.push(made["_id"].as_str().expect("an id").to_string());
    }
    sim.run_for(Duration::from_secs(5));
    assert_eq!(block_on(sim.replicas[1].db.find("Book", &json!({}))).expect("a find").len(), 50);
    let stats = |sim: &mut Sim, i: usize| sim.command(i, Command::Stats).expect("stats");
    let before = [stats(&mut sim, 0), stats(&mut sim, 1)];
    sim.cut(0, 1);
    let mut rng = Rng::new(7);
    for k in 0..500 {
        let a = ids[rng.below(ids.len() as u64) as usize].clone();
        let b = ids[rng.below(ids.len() as u64) as usize].clone();
        sim.command(0, Command::Update { collection: "Book".into(), id: a, patch: json!({ "n": 1000 + k }) })
            .expect("an update on 0");
        sim.command(
            1,
            Command::Update { collection: "Book".into(), id: b, patch: json!({ "title": format!("b {k}") }) },
        )
        .expect("an update on 1");
    }
    let blocks = |sim: &Sim, i: usize| -> std::collections::BTreeSet<Vec<u8>> {
        block_on(sim.replicas[i].db.export()).expect("an export").into_iter().collect()
    };
    let (b0, b1) = (blocks(&sim, 0), blocks(&sim, 1));
    let (lacks0, lacks1) = (b1.difference(&b0).count() as u64, b0.difference(&b1).count() as u64);
    assert_eq!((lacks0, lacks1), (500, 500));
    sim.heal();
    sim.run_for(Duration::from_secs(30));
    check(&sim).expect("converged");
    let after = [stats(&mut sim, 0), stats(&mut sim, 1)];
    let delta = |k: &str, i: usize| after[i][k].as_u64().expect("a count") - before[i][k].as_u64().expect("a count");
    assert_eq!(delta("sent", 0), lacks1, "0 sent exactly what 1 lacked: {}", after[0]);
    assert_eq!(delta("sent", 1), lacks0, "1 sent exactly what 0 lacked: {}", after[1]);
    assert_eq!((delta("received", 0), delta("received", 1)), (lacks0, lacks1));
    assert_eq!((after[0]["pending"].clone(), after[1]["pending"].clone()), (json!(0), json!(0)));
}

/// A write made after the connection's head exchange but before the
/// writer hears the peer's subscription is gossiped to nobody there; the
/// subscription, when it comes, swaps heads for exactly that document.
#[test]
fn a_write_its_gossip_missed_is_swapped_when_the_peer_subscribes() {
    log();
    let config = pair();
    let mut sim = Sim::new(3, Faults::NONE, &config);
    sim.hold_subscriptions(0, 1);
    sim.run_for(Duration::from_secs(1));
    let stats = |sim: &mut Sim, i: usize| sim.command(i, Command::Stats).expect("stats");
    let before = stats(&mut sim, 1);
    let doc = json!({ "title": "unheard", "n": 1 });
    let id = sim.command(0, Command::Create { collection: "Book".into(), doc }).expect("a create")["_id"].clone();
    let id = id.as_str().expect("an id").to_string();
    sim.run_for(Duration::from_secs(5));
    let get = |sim: &mut Sim| sim.command(1, Command::Get { collection: "Book".into(), id: id.clone() });
    assert_eq!(get(&mut sim).expect("a get"), Value::Null, "the gossip went to a peer not known to hold its topic");
    sim.release();
    sim.run_for(Duration::from_millis(100));
    assert_eq!(get(&mut sim).expect("swapped on the subscription")["title"], Value::from("unheard"));
    let after = stats(&mut sim, 1);
    let received = |s: &Value| s["headsReceived"].as_u64().expect("a count");
    assert_eq!(received(&after) - received(&before), 1, "heads of the one missed document: {after}");
    check(&sim).expect("converged");
}

/// Replica 0's node alone, fed inputs by hand: a peer connected twice,
/// and the effects it asks for. Nothing is carried out.
fn twice_connected(seed: u64, docs: usize) -> (Sim, libp2p::PeerId) {
    twice_connected_as(seed, docs, Vec::new())
}

/// [`twice_connected`], replica 0 configured as a page when `pages` says so.
fn twice_connected_as(seed: u64, docs: usize, pages: Vec<usize>) -> (Sim, libp2p::PeerId) {
    let config = SimConfig { links: Vec::new(), pages, ..pair() };
    let mut sim = Sim::new(seed, Faults::NONE, &config);
    sim.run_for(Duration::from_secs(1));
    for n in 0..docs {
        let doc = json!({ "title": format!("book {n}"), "n": n });
        sim.command(0, Command::Create { collection: "Book".into(), doc }).expect("a create");
    }
    let peer = connect_twice(&mut sim);
    (sim, peer)
}

/// Tells replica 0's node, by hand, that replica 1 connected twice (its
/// effects until then dropped); replica 1's peer id.
fn connect_twice(sim: &mut Sim) -> libp2p::PeerId {
    use crate::node::wire::Input;
    use libp2p::swarm::ConnectionId;
    let peer = sim.replicas[1].peer;
    let now = sim.now;
    let node = sim.replicas[0].node.as_mut().expect("up");
    node.take_effects();
    for c in [1, 2] {
        let conn = ConnectionId::new_unchecked(c);
        let input = Input::Connected { peer, conn, addr: super::net::addr_of(1), dialed: true, transport: "memory" };
        block_on(node.handle(input, now));
    }
    peer
}

/// The pushes among `effects`: (request id, the blocks).
fn pushes(effects: Vec<crate::node::wire::Effect>) -> Vec<(crate::node::wire::ReqId, Vec<Vec<u8>>)> {
    use crate::core::sync::ReplicateRequest;
    use crate::node::wire::{Effect, Request};
    effects
        .into_iter()
        .filter_map(|e| match e {
            Effect::Send { id, request: Request::Replicate(ReplicateRequest::Push { blocks, .. }), .. } => {
                Some((id, blocks.into_iter().map(|b| b.into_vec()).collect()))
            }
            _ => None,
        })
        .collect()
}

/// A push of head exchange whose connection closed under it, while the
/// peer stays connected on another (a page's relayed connection, closed
/// once the direct one is up), goes again at once with the same blocks,
/// and its answer moves the lane on. Before, the lane was dropped and the
/// peer waited for the backoff of a failed exchange and a new walk.
#[test]
fn a_push_whose_connection_closed_goes_again_on_another() {
    use crate::core::sync::{HeadsResponse, ReplicateResponse};
    use crate::node::wire::{Effect, Failure, Input, Request, Response};
    use libp2p::swarm::ConnectionId;
    // How the push failed: its connection closed with another left; closed
    // with none left (a heads request in flight then fails too); a
    // time-out on a connection that stays up; closed while offline.
    for case in ["closed", "the last closed", "timed out", "offline"] {
        let (mut sim, peer) = twice_connected(9, 3);
        let now = sim.now;
        let node = sim.replicas[0].node.as_mut().expect("up");
        let effects = node.take_effects();
        let heads = effects.iter().find_map(|e| match e {
            Effect::Send { id, request: Request::Heads(r), .. } if r.col == "Book" => Some(*id),
            _ => None,
        });
        let heads = heads.expect("a heads request");
        let close = |node: &mut crate::node::run::Node<_>, c: usize, remaining: u32| {
            block_on(node.handle(Input::Closed { peer, conn: ConnectionId::new_unchecked(c), remaining }, now));
        };
        let conn = Some(ConnectionId::new_unchecked(1));
        if case == "the last closed" {
            // The heads request in flight fails with the peer's last
            // connection: it would go again, were another up.
            close(node, 2, 1);
            close(node, 1, 0);
            node.take_effects();
            let (id, failure, error) = (heads, Failure::Closed, case.to_string());
            block_on(node.handle(Input::RequestFailed { peer, id, conn, failure, error }, now));
            let sent: Vec<_> = node.take_effects().into_iter().filter(|e| matches!(e, Effect::Send { .. })).collect();
            assert!(sent.is_empty(), "{case}: nothing goes again: {sent:?}");
            continue;
        }
        let response = Response::Heads(HeadsResponse { heads: Default::default(), unknown: false });
        block_on(node.handle(Input::Response { peer, id: heads, response }, now));
        // The peer said it holds nothing of Book: one block goes first (a probe).
        let sent = pushes(node.take_effects());
        assert_eq!(sent.len(), 1, "one push");
        let (id, blocks) = sent[0].clone();
        assert_eq!(blocks.len(), 1, "a probe");
        if case == "offline" {
            block_on(node.set_online(false));
        }
        if case != "timed out" {
            close(node, 1, 1);
        }
        node.take_effects();
        let failure = if case == "timed out" { Failure::Other } else { Failure::Closed };
        let error = case.to_string();
        block_on(node.handle(Input::RequestFailed { peer, id, conn, failure, error }, now));
        let effects = node.take_effects();
        if case != "closed" {
            let sent: Vec<_> = effects.iter().filter(|e| matches!(e, Effect::Send { .. })).collect();
            assert!(sent.is_empty(), "{case}: nothing goes again at once: {sent:?}");
            continue;
        }
        let again = pushes(effects);
        assert_eq!(again.len(), 1, "{case}: pushed again");
        assert_eq!(again[0].1, blocks, "the same blocks");
        let merged = blocks.iter().map(|b| crate::core::block::cid_of(b)).collect();
        let ack = Response::Replicate(ReplicateResponse::Ack { merged, refused: Vec::new() });
        block_on(node.handle(Input::Response { peer, id: again[0].0, response: ack }, now));
        let rest = pushes(node.take_effects());
        assert_eq!(rest.iter().map(|(_, b)| b.len()).sum::<usize>(), 2, "the lane went on: {rest:?}");
    }
}

/// The same for a replicator's push: its blocks go again at once on the
/// other connection, not after the outbox's backoff.
#[test]
fn an_outbox_push_whose_connection_closed_goes_again_on_another() {
    use crate::node::wire::{Failure, Input};
    use libp2p::swarm::ConnectionId;
    for failure in [Failure::Closed, Failure::Other] {
        let config = SimConfig { links: Vec::new(), replicators: vec![(0, 1, "Note".into())], ..pair() };
        // Not run: the simulator's own connection to 1, which the
        // replicator dialled, never comes, and these inputs are the node's.
        let mut sim = Sim::new(13, Faults::NONE, &config);
        let doc = json!({ "text": "for 1" });
        sim.command(0, Command::Create { collection: "Note".into(), doc }).expect("a create");
        let peer = connect_twice(&mut sim);
        let now = sim.now;
        let node = sim.replicas[0].node.as_mut().expect("up");
        let sent = pushes(node.take_effects());
        assert_eq!(sent.len(), 1, "the outbox's push");
        let (id, blocks) = sent[0].clone();
        // A time-out on a connection that stays up: no connection closed.
        if failure == Failure::Closed {
            let closed = Input::Closed { peer, conn: ConnectionId::new_unchecked(1), remaining: 1 };
            block_on(node.handle(closed, now));
        }
        let error = "the connection closed".to_string();
        let conn = Some(ConnectionId::new_unchecked(1));
        block_on(node.handle(Input::RequestFailed { peer, id, conn, failure, error }, now));
        let again = pushes(node.take_effects());
        match failure {
            Failure::Closed => assert_eq!(again.iter().map(|(_, b)| b.clone()).collect::<Vec<_>>(), [blocks]),
            _ => assert!(again.is_empty(), "a push that timed out waits out the backoff: {again:?}"),
        }
    }
}

/// A push whose check its driver began while the node was busy (a page's
/// driver, `node::browser::polling_while`) is merged on that check's
/// verdict, not checked again; a push the node changes before checking it
/// (a block in it twice) is checked anew. The begun check here refuses
/// every block, so the answer shows which check was taken.
#[test]
fn a_push_is_merged_on_the_check_its_driver_began_if_it_came_unchanged() {
    use crate::core::block::{cid_of, BlockError};
    use crate::core::merge::Refusal;
    use crate::core::sync::{ReplicateRequest, ReplicateResponse};
    use crate::node::wire::{Effect, Input, ReplyId, Request, Response};
    use futures::FutureExt;
    use libp2p::swarm::ConnectionId;
    use serde_bytes::ByteBuf;
    let (mut sim, _) = twice_connected(11, 2);
    let blocks = block_on(sim.replicas[0].db.export()).expect("the blocks");
    assert_eq!(blocks.len(), 2);
    let from = sim.replicas[0].peer;
    let now = sim.now;
    let node = sim.replicas[1].node.as_mut().expect("up");
    let conn = ConnectionId::new_unchecked(7);
    block_on(node.handle(
        Input::Connected { peer: from, conn, addr: super::net::addr_of(0), dialed: false, transport: "memory" },
        now,
    ));
    // (merged, refused) in the answer to a push of `pushed`, its check begun as `begun` refuses all of `blocks`.
    let answer = |node: &mut crate::node::run::Node<_>, reply: u64, pushed: Vec<Vec<u8>>| {
        let refusing = blocks.clone();
        let begun = async move {
            let refused = refusing.iter().map(|b| Refusal::new(cid_of(b), &BlockError::BadSignature.into())).collect();
            (Vec::new(), refused)
        };
        node.take_effects();
        node.begun = Some((ReplyId(reply), begun.boxed_local()));
        let request = ReplicateRequest::Push { blocks: pushed.into_iter().map(ByteBuf::from).collect(), remaining: 0 };
        block_on(
            node.handle(
                Input::Request { peer: from, reply: ReplyId(reply), request: Request::Replicate(request) },
                now,
            ),
        );
        assert!(node.begun.is_none(), "the begun check is taken or dropped");
        node.take_effects()
            .into_iter()
            .find_map(|e| match e {
                Effect::Respond {
                    reply: r,
                    response: Response::Replicate(ReplicateResponse::Ack { merged, refused }),
                } if r == ReplyId(reply) => Some((merged.len(), refused.len())),
                _ => None,
            })
            .expect("an answer to the push")
    };
    // As it came: the begun check's verdict.
    assert_eq!(answer(node, 77, blocks.clone()), (0, 2));
    // A check begun for another push: not this one's.
    node.begun = Some((ReplyId(1), async { unreachable!("another push's check") }.boxed_local()));
    let request = ReplicateRequest::Push { blocks: vec![ByteBuf::from(blocks[1].clone())], remaining: 0 };
    block_on(node.handle(Input::Request { peer: from, reply: ReplyId(76), request: Request::Replicate(request) }, now));
    node.begun = None;
    // A block in it twice: checked anew, and merged.
    let twice = vec![blocks[0].clone(), blocks[1].clone(), blocks[0].clone()];
    assert_eq!(answer(node, 78, twice), (2, 0));
    assert_eq!(block_on(sim.replicas[1].db.export()).expect("the blocks").len(), 2);
}

/// Pushes sent: (request id, the blocks).
type Pushes = Vec<(crate::node::wire::ReqId, Vec<Vec<u8>>)>;

/// Replica 0, with `docs` books, connected to replica 1 twice by hand,
/// gets `response` to its heads request for Book: the blocks it then
/// pushes, and the offers it makes.
fn after_heads(docs: usize, response: crate::core::sync::HeadsResponse) -> (Sim, libp2p::PeerId, Pushes, usize) {
    after_heads_of(docs, &[], |_| response)
}

/// [`after_heads`], the answer made from replica 0's document ids, the
/// peer holding gossip `topics` before it answers.
fn after_heads_of(
    docs: usize,
    topics: &[&str],
    response: impl FnOnce(Vec<String>) -> crate::core::sync::HeadsResponse,
) -> (Sim, libp2p::PeerId, Pushes, usize) {
    use crate::core::sync::ReplicateRequest;
    use crate::node::wire::{Effect, Input, Request, Response};
    // A page: what it writes and its gossip misses is swapped with its
    // peers (`NodeConfig::repair_unheard`).
    let (mut sim, peer) = twice_connected_as(5, docs, vec![0]);
    let found = block_on(sim.replicas[0].db.find("Book", &json!({}))).expect("a find");
    let ids = found.iter().map(|d| d["_id"].as_str().expect("an id").to_string()).collect();
    let response = response(ids);
    let now = sim.now;
    let node = sim.replicas[0].node.as_mut().expect("up");
    for topic in topics {
        block_on(node.handle(Input::Subscribed { peer, topic: topic.to_string() }, now));
    }
    let heads = node.take_effects().iter().find_map(|e| match e {
        Effect::Send { id, request: Request::Heads(r), .. } if r.col == "Book" => Some(*id),
        _ => None,
    });
    let id = heads.expect("a heads request");
    block_on(node.handle(Input::Response { peer, id, response: Response::Heads(response) }, now));
    let effects = node.take_effects();
    let offers = effects
        .iter()
        .filter(|e| matches!(e, Effect::Send { request: Request::Replicate(ReplicateRequest::Offer { .. }), .. }))
        .count();
    (sim, peer, pushes(effects), offers)
}

/// A peer that has no schema of a collection (a relay that only routes,
/// a node serving other apps) says so in its heads, and is sent nothing of
/// it: no walk, no push, no offer. Before, it was pushed the whole
/// collection at every exchange and refused every block (a reopened page
/// pushed its 10,000 blocks to its relay while catching up).
#[test]
fn a_peer_without_the_collection_is_sent_none_of_it() {
    use crate::core::sync::HeadsResponse;
    let (_, _, sent, offers) = after_heads(3, HeadsResponse { heads: Default::default(), unknown: true });
    assert_eq!((sent.len(), offers), (0, 0), "nothing goes: {sent:?}");
    // One that says nothing of the collection (no `unknown`, none of its
    // documents, no topic of it) may be an older peer without it: probed.
    let (_, _, sent, _) = after_heads(3, HeadsResponse { heads: Default::default(), unknown: false });
    assert_eq!(sent.iter().map(|(_, b)| b.len()).collect::<Vec<_>>(), [1], "a probe");
    // Heads of ours unknown here are offered (what lies below them is not
    // known), unless the peer says it has no such collection.
    let strange = |unknown| {
        move |ids: Vec<String>| HeadsResponse {
            heads: ids.into_iter().map(|id| (id, vec![crate::core::block::cid_of(b"not a block here")])).collect(),
            unknown,
        }
    };
    let (_, _, sent, offers) = after_heads_of(3, &[], strange(false));
    assert_eq!((sent.len(), offers), (0, 1), "an offer");
    let (_, _, sent, offers) = after_heads_of(3, &[], strange(true));
    assert_eq!((sent.len(), offers), (0, 0), "nothing goes");
}

/// A peer that holds the collection's topic has its schema, whatever its
/// build: one holding none of the collection's documents is sent them in
/// a whole batch, not a one-block probe first whose answer the rest waits
/// for (a page catching up on documents it had never seen waited a round
/// trip for it, 0.28-0.57 s of a busy page's catch-up). A peer that asks
/// for the collection's heads has it too. One that holds the topic and
/// says `unknown` is still sent nothing.
#[test]
fn a_peer_known_to_have_the_collection_is_sent_no_probe() {
    use crate::core::sync::{HeadsRequest, HeadsResponse};
    use crate::node::wire::{Input, ReplyId, Request};
    let sizes = |sent: Pushes| sent.iter().map(|(_, b)| b.len()).collect::<Vec<_>>();
    let none = |_| HeadsResponse { heads: Default::default(), unknown: false };
    let (_, _, sent, _) = after_heads_of(3, &["weft/col/Book"], none);
    assert_eq!(sizes(sent), [3], "one whole batch");
    let unknown = |_| HeadsResponse { heads: Default::default(), unknown: true };
    let (_, _, sent, offers) = after_heads_of(3, &["weft/col/Book"], unknown);
    assert_eq!((sent.len(), offers), (0, 0), "`unknown` still sends nothing");
    // Another collection's topic says nothing of this one.
    let (_, _, sent, _) = after_heads_of(3, &["weft/col/Film"], none);
    assert_eq!(sizes(sent), [1], "a probe");
    // Asked for Book's heads by a peer that holds none.
    let (mut sim, peer) = twice_connected_as(5, 3, vec![0]);
    let (now, node) = (sim.now, sim.replicas[0].node.as_mut().expect("up"));
    node.take_effects();
    let request = Request::Heads(HeadsRequest { col: "Book".into(), docs: None, heads: Default::default() });
    block_on(node.handle(Input::Request { peer, reply: ReplyId(7), request }, now));
    assert_eq!(sizes(pushes(node.take_effects())), [3], "asked: one whole batch");
}

/// Replica 0's node makes a write and, `n` minutes on, its housekeeping:
/// the heads requests it then sends `peer`.
fn asked_after_a_write(
    node: &mut crate::node::run::Node<super::net::SimStore>,
    peer: libp2p::PeerId,
    now: Duration,
    n: u64,
) -> usize {
    use crate::node::wire::{Effect, Request};
    let doc = json!({ "title": format!("written after {n}"), "n": n });
    block_on(node.command(Command::Create { collection: "Book".into(), doc })).expect("a create");
    node.advance(now + Duration::from_secs(n * 60));
    block_on(node.after_step());
    let asked = |e: &Effect| matches!(e, Effect::Send { peer: p, request: Request::Heads(_), .. } if *p == peer);
    node.take_effects().iter().filter(|e| asked(e)).count()
}

/// A peer that said it has no such collection is not asked again for
/// every write its gossip misses (a page writing with only a relay that
/// routes for it swapped heads with the relay each second), until it joins
/// the collection's topic; then a write it misses is swapped again.
#[test]
fn a_peer_without_the_collection_is_not_asked_again_for_each_write() {
    use crate::core::sync::HeadsResponse;
    use crate::node::wire::Input;
    let (mut sim, peer, _, _) = after_heads(3, HeadsResponse { heads: Default::default(), unknown: true });
    let now = sim.now;
    let node = sim.replicas[0].node.as_mut().expect("up");
    assert_eq!(asked_after_a_write(node, peer, now, 1), 0, "not asked again");
    // It joins the topic (it has the schema now), then leaves it: a write
    // published to nobody is swapped with it again.
    let topic = "weft/col/Book".to_string();
    for input in [Input::Subscribed { peer, topic: topic.clone() }, Input::Unsubscribed { peer, topic }] {
        block_on(node.handle(input, now));
    }
    node.take_effects();
    assert_eq!(asked_after_a_write(node, peer, now, 2), 1, "asked once more");
    // Said unknown again, then it asks for the collection's heads itself:
    // it has the schema.
    let (mut sim, peer, _, _) = after_heads(3, HeadsResponse { heads: Default::default(), unknown: true });
    let node = sim.replicas[0].node.as_mut().expect("up");
    let heads = crate::core::sync::HeadsRequest { col: "Book".into(), docs: None, heads: Default::default() };
    let request = crate::node::wire::Request::Heads(heads);
    block_on(node.handle(Input::Request { peer, reply: crate::node::wire::ReplyId(7), request }, now));
    node.take_effects();
    assert_eq!(asked_after_a_write(node, peer, now, 3), 1, "asked after its own request");
}

/// An older peer without the collection does not say so; it refuses the
/// first push's blocks as `UNKNOWN_COLLECTION`, and then no more of the
/// collection goes to it.
#[test]
fn a_push_refused_as_an_unknown_collection_ends_the_collection_s_pushes() {
    use crate::core::block::cid_of;
    use crate::core::sync::{HeadsResponse, RefusedBlock, ReplicateResponse};
    use crate::node::wire::{Input, Response};
    for code in ["UNKNOWN_COLLECTION", "VALIDATION"] {
        let (mut sim, peer, sent, _) = after_heads(3, HeadsResponse { heads: Default::default(), unknown: false });
        let (id, blocks) = sent.into_iter().next().expect("a probe");
        let refused = blocks
            .iter()
            .map(|b| RefusedBlock { cid: cid_of(b), code: code.into(), reason: "no such collection".into() })
            .collect();
        let now = sim.now;
        let node = sim.replicas[0].node.as_mut().expect("up");
        let ack = Response::Replicate(ReplicateResponse::Ack { merged: Vec::new(), refused });
        block_on(node.handle(Input::Response { peer, id, response: ack }, now));
        let rest: usize = pushes(node.take_effects()).iter().map(|(_, b)| b.len()).sum();
        match code {
            "UNKNOWN_COLLECTION" => {
                assert_eq!(rest, 0, "no more of Book");
                assert_eq!(asked_after_a_write(node, peer, now, 1), 0, "nor asked again for a write");
            }
            // A block refused for itself: the others still go, and a
            // write is swapped with the peer.
            _ => {
                assert_eq!(rest, 2, "the lane goes on");
                assert_eq!(asked_after_a_write(node, peer, now, 1), 1, "asked for a write");
            }
        }
    }
}

/// The answering side: heads asked of a collection this replica has no
/// schema of say so; of one it has (none of whose documents it holds),
/// they do not.
#[test]
fn heads_asked_of_an_unknown_collection_say_so() {
    use crate::core::sync::{HeadsRequest, HeadsResponse};
    use crate::node::wire::{Effect, Input, ReplyId, Request, Response};
    let (mut sim, peer) = twice_connected(13, 0);
    let now = sim.now;
    let store = sim.replicas[0].db.store().clone();
    let node = sim.replicas[0].node.as_mut().expect("up");
    let mut ask = |col: &str, reply: u64| {
        node.take_effects();
        let heads = [("some-doc".to_string(), Vec::new())].into_iter().collect();
        let request = Request::Heads(HeadsRequest { col: col.into(), docs: None, heads });
        block_on(node.handle(Input::Request { peer, reply: ReplyId(reply), request }, now));
        node.take_effects()
            .into_iter()
            .find_map(|e| match e {
                Effect::Respond { reply: r, response: Response::Heads(h) } if r == ReplyId(reply) => Some(h),
                _ => None,
            })
            .expect("an answer")
    };
    assert_eq!(ask("Film", 1), HeadsResponse { heads: Default::default(), unknown: true });
    assert_eq!(ask("Book", 2), HeadsResponse { heads: Default::default(), unknown: false });
    // A schema another handle of the store added (another tab, in a
    // page), which the node's handle has not read yet: known.
    let other = block_on(crate::Db::open(store)).expect("a second handle");
    block_on(other.add_schema("type Film { name: String }")).expect("the schema");
    assert_eq!(ask("Film", 3), HeadsResponse { heads: Default::default(), unknown: false });
}
