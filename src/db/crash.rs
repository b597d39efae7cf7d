//! Crash runs: a seeded script of operations on a database whose store
//! fails one commit, at every commit in turn, then a restart.
//!
//! For each script a reference database runs it with no failure and keeps,
//! before each operation, a [`Dump`] of its store and what a user reads
//! back (documents and heads). Then, for each commit N of the script, a
//! database on a [`FailingStore`] runs it with commit N failing (once, or
//! for good: a crashed disk), in three ways: fail once and restart, crash
//! and restart, fail once and keep going without a restart (an aborted
//! IndexedDB transaction in a page that lives on). After the failure the
//! store must hold exactly what the operations acknowledged before it made
//! ([`assert_consistent`], and the reference's dump and documents at that
//! point), and finishing the script (the failed operation again, then the
//! rest) must end where the reference ended, byte for byte.
//!
//! The same signing key and the same nonces per operation
//! ([`super::set_nonces`]) make both databases make the same blocks.
//!
//! `WEFT_CRASH_CASES=<n>` runs n scripts (default [`DEFAULT_CASES`]);
//! `WEFT_CRASH_SEED=<seed>` runs one. A failing script prints the command
//! that replays it.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::rc::Rc;

use cid::Cid;
use futures::executor::block_on;
use serde_json::{json, Map, Value};

use super::check::{assert_consistent, dump, seed_key, Dump};
use super::{set_nonces, Db};
use crate::error::Error;
use crate::records::{outbox_queued_at, outbox_row, PeerKey, Queued, Refused};
use crate::store::{FailingStore, MemoryStore, Store, Table};

const BOOKS: &str = "type Book { title: String! @index pages: Int @index note: String }";
const NOTES: &str = "type Note { text: String @index n: Int }";
/// Scripts per `cargo test` run: a few seconds in a debug build.
const DEFAULT_CASES: u64 = 20;
/// The replicator peer every merged block is queued for (an outbox row
/// written by a commit hook, as the node writes them).
const PEER: &[u8] = b"replicator";
const TEST_NAME: &str = "db::crash::every_commit_fails_in_turn";

/// A small deterministic generator (splitmix64): the seed replays it all.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn key(&mut self) -> [u8; 32] {
        let mut k = [0; 32];
        for chunk in k.chunks_mut(8) {
            chunk.copy_from_slice(&self.next().to_le_bytes());
        }
        k
    }

    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            items.swap(i, self.below(i + 1));
        }
    }
}

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().expect("an object").clone()
}

fn book(rng: &mut Rng) -> Map<String, Value> {
    let mut m = obj(json!({ "title": (["a", "b", "c", "d"][rng.below(4)]) }));
    if rng.chance(70) {
        m.insert("pages".into(), json!(rng.below(5)));
    }
    if rng.chance(30) {
        m.insert("note".into(), json!(format!("n{}", rng.below(100))));
    }
    m
}

fn book_patch(rng: &mut Rng) -> Map<String, Value> {
    let mut m = Map::new();
    while m.is_empty() {
        if rng.chance(50) {
            m.insert("title".into(), json!(["a", "b", "c", "d"][rng.below(4)]));
        }
        if rng.chance(50) {
            m.insert("pages".into(), if rng.chance(20) { Value::Null } else { json!(rng.below(5)) });
        }
        if rng.chance(20) {
            m.insert("note".into(), json!(format!("n{}", rng.below(100))));
        }
    }
    m
}

fn note(rng: &mut Rng) -> Map<String, Value> {
    obj(json!({ "text": (["x", "y", "z"][rng.below(3)]), "n": rng.below(10) }))
}

fn fields(rng: &mut Rng, col: &str, patch: bool) -> Map<String, Value> {
    match (col, patch) {
        ("Book", false) => book(rng),
        ("Book", true) => book_patch(rng),
        _ => note(rng),
    }
}

/// One step of a script, with everything it acts on decided.
#[derive(Debug, Clone)]
enum Op {
    AddSchema(&'static str),
    /// `create` for one input, `create_many` for more.
    Create(&'static str, Vec<Map<String, Value>>),
    Update(&'static str, String, Map<String, Value>),
    Delete(&'static str, String),
    /// Blocks of another database, in the order given (children may come
    /// before their parents, and wait in `pending`).
    Import(Vec<Vec<u8>>),
    /// What the node does with pending blocks: drops those that wait for
    /// parents no peer has, or those over its caps.
    DropPending(Vec<Cid>),
    DropPendingBlocks(Vec<Cid>),
    /// The replicator's peer acknowledged some queued blocks and refused others.
    OutboxDone(Vec<Queued>, Vec<Queued>),
}

/// What the operation returned, as text to compare.
async fn run<S: Store>(db: &Db<S>, op: &Op) -> Result<String, Error> {
    Ok(match op {
        Op::AddSchema(sdl) => format!("{:?}", db.add_schema(sdl).await?),
        Op::Create(col, inputs) if inputs.len() == 1 => db.create(col, &inputs[0]).await?,
        Op::Create(col, inputs) => format!("{:?}", db.create_many(col, inputs).await?),
        Op::Update(col, id, patch) => format!("{:?}", db.update(col, id, patch).await?),
        Op::Delete(col, id) => format!("{:?}", db.delete(col, id).await?),
        Op::Import(blocks) => format!("{:?}", db.import(blocks).await?),
        Op::DropPending(parents) => format!("{:?}", db.drop_pending(parents).await?),
        Op::DropPendingBlocks(cids) => format!("{:?}", db.drop_pending_blocks(cids).await?),
        Op::OutboxDone(acked, refused) => {
            let peer = PeerKey { text: String::from_utf8_lossy(PEER).into_owned(), bytes: PEER.to_vec() };
            let refused: Vec<Refused> = refused.iter().map(|c| (*c, "VALIDATION", "does not fit")).collect();
            format!("{:?}", db.outbox_done(&peer, acked, &refused).await?)
        }
    })
}

/// The nonces of operation `i`'s creates: the same however often it runs.
fn nonces_of(seed: u64, i: usize) -> u64 {
    Rng(seed ^ ((i as u64 + 1) << 40)).next()
}

/// Opens `store` as a restarted replica would: with its commit hook
/// queueing every merged block for the replicator peer.
async fn open<S: Store>(store: S) -> Db<S> {
    let db = Db::open(store).await.expect("the database opens");
    // Rows returned once the block has committed are not written.
    db.on_commit(|_, m| vec![outbox_row(PEER, m)]);
    db
}

/// What a user reads back: each collection's visible documents, each with
/// its heads.
type View = BTreeMap<String, Vec<(Map<String, Value>, Vec<String>)>>;

async fn view<S: Store>(db: &Db<S>) -> View {
    let mut out = View::new();
    for def in db.collections() {
        let mut docs = Vec::new();
        for doc in db.find(&def.name, &json!({})).await.expect("a scan") {
            let id = doc["_id"].as_str().expect("an id").to_owned();
            let mut heads: Vec<String> =
                db.heads(&def.name, &id).await.expect("heads").iter().map(ToString::to_string).collect();
            heads.sort();
            docs.push((doc, heads));
        }
        out.insert(def.name.clone(), docs);
    }
    out
}

/// The blocks two other databases make, in the order they made them. They
/// edit the same documents and now and then import each other's blocks,
/// so some blocks have two parents (a merge of concurrent heads).
async fn peer_blocks(rng: &mut Rng) -> Vec<Vec<u8>> {
    let made = Rc::new(RefCell::new((Vec::new(), HashSet::new())));
    let mut peers = Vec::new();
    for _ in 0..2 {
        let store = MemoryStore::new();
        seed_key(&store, rng.key()).await;
        let db = Db::open(store).await.unwrap();
        db.add_schema(BOOKS).await.unwrap();
        db.add_schema(NOTES).await.unwrap();
        let sink = made.clone();
        db.on_block(move |m| {
            let (blocks, seen) = &mut *sink.borrow_mut();
            if seen.insert(m.cid) {
                blocks.push(m.bytes.clone());
            }
        });
        peers.push(db);
    }
    set_nonces(Some(rng.next()));
    let mut created = 0;
    for _ in 0..6 + rng.below(14) {
        let (db, other) = if rng.chance(50) { (&peers[0], &peers[1]) } else { (&peers[1], &peers[0]) };
        let mut docs = Vec::new();
        for col in ["Book", "Note"] {
            for doc in db.find(col, &json!({})).await.unwrap() {
                docs.push((col, doc["_id"].as_str().unwrap().to_owned()));
            }
        }
        // Few documents, long chains: a block's parent is most often a
        // block made shortly before it.
        if docs.is_empty() || (created < 3 && rng.chance(15)) {
            let col = if rng.chance(70) { "Book" } else { "Note" };
            db.create(col, &fields(rng, col, false)).await.unwrap();
            created += 1;
        } else if rng.chance(30) {
            db.import(&other.export().await.unwrap()).await.unwrap();
        } else {
            let (col, id) = &docs[rng.below(docs.len())];
            db.update(col, id, &fields(rng, col, true)).await.unwrap();
            if rng.chance(5) {
                db.delete(col, id).await.unwrap();
            }
        }
    }
    set_nonces(None);
    let blocks = made.borrow().0.clone();
    blocks
}

/// Hands out the peer's blocks as replication would: mostly the next few
/// in the order they were made, shuffled, with the oldest held back until
/// the next import (its children wait in `pending` until then); now and
/// then a few from anywhere, held already or not.
struct Feed<'a> {
    peer: &'a [Vec<u8>],
    next: usize,
    held_back: Option<Vec<u8>>,
}

impl Feed<'_> {
    fn some(&mut self, rng: &mut Rng) -> Vec<Vec<u8>> {
        let mut some: Vec<Vec<u8>> = if rng.chance(25) || self.next >= self.peer.len() {
            (0..1 + rng.below(3)).map(|_| self.peer[rng.below(self.peer.len())].clone()).collect()
        } else {
            let end = (self.next + 1 + rng.below(5)).min(self.peer.len());
            let mut window = self.peer[self.next..end].to_vec();
            self.next = end;
            let keep = self.held_back.take();
            if window.len() > 1 {
                // The oldest: most often a parent of another in the window.
                self.held_back = Some(window.remove(0));
            }
            window.extend(keep);
            window
        };
        rng.shuffle(&mut some);
        some
    }
}

/// A script and what it does with no failure: `dumps[i]` and `views[i]`
/// before operation `i` (the last after them all), `outcomes[i]` what it
/// returned, `commits[i]` the commits made before it.
struct Reference {
    ops: Vec<Op>,
    outcomes: Vec<String>,
    dumps: Vec<Dump>,
    views: Vec<View>,
    commits: Vec<u64>,
}

/// Makes a script while running it on a database with no failure: each
/// operation is chosen from what the database holds at that point.
async fn reference(seed: u64, rng: &mut Rng, key: [u8; 32], peer: &[Vec<u8>]) -> Reference {
    let inner = MemoryStore::new();
    seed_key(&inner, key).await;
    let store = FailingStore::new(inner);
    let db = open(store.clone()).await;
    // Counted from here, as `fail_commit` counts: the first open commits
    // too (the store's layout), before any operation.
    let opened = store.commits();
    let mut r = Reference { ops: vec![], outcomes: vec![], dumps: vec![], views: vec![], commits: vec![] };
    let mut feed = Feed { peer, next: 0, held_back: None };
    let steps = 8 + rng.below(16);
    let notes_at = 1 + rng.below(steps);
    for i in 0..=steps {
        assert_consistent(&db).await;
        r.dumps.push(dump(store.inner()).await);
        r.views.push(view(&db).await);
        r.commits.push(store.commits() - opened);
        let op = if i == 0 {
            Op::AddSchema(BOOKS)
        } else if i == notes_at {
            Op::AddSchema(NOTES)
        } else if i == steps {
            // Everything the peer made, shuffled: what was pending is released.
            let mut all = peer.to_vec();
            rng.shuffle(&mut all);
            Op::Import(all)
        } else {
            let cols: Vec<&'static str> = ["Book", "Note"][..if i > notes_at { 2 } else { 1 }].to_vec();
            let col = cols[rng.below(cols.len())];
            let docs: Vec<String> =
                db.find(col, &json!({})).await.unwrap().iter().map(|d| d["_id"].as_str().unwrap().to_owned()).collect();
            let now = r.dumps.last().expect("dumped before each op");
            let some_of =
                |rng: &mut Rng, keys: Vec<Cid>| -> Vec<Cid> { keys.into_iter().filter(|_| rng.chance(50)).collect() };
            let waited_for: BTreeSet<Cid> =
                now[&Table::Waiting].keys().map(|k| Cid::read_bytes(k.as_slice()).unwrap()).collect();
            let pending: Vec<Cid> = now[&Table::Pending].keys().map(|k| Cid::try_from(k.as_slice()).unwrap()).collect();
            let queued: Vec<Queued> =
                now[&Table::Outbox].keys().map(|k| outbox_queued_at(&k[PEER.len() + 1..]).unwrap()).collect();
            match rng.below(13) {
                0..=2 => Op::Import(feed.some(rng)),
                10 if !waited_for.is_empty() => Op::DropPending(some_of(rng, waited_for.into_iter().collect())),
                11 if !pending.is_empty() => Op::DropPendingBlocks(some_of(rng, pending)),
                12 if !queued.is_empty() => {
                    let (mut acked, mut refused) = (Vec::new(), Vec::new());
                    for c in queued {
                        match rng.below(10) {
                            0..=3 => acked.push(c),
                            4 => refused.push(c),
                            _ => {}
                        }
                    }
                    Op::OutboxDone(acked, refused)
                }
                10..=12 => Op::Import(feed.some(rng)),
                3 | 4 => Op::Create(col, (0..1 + rng.below(2)).map(|_| fields(rng, col, false)).collect()),
                _ if docs.is_empty() => Op::Create(col, vec![fields(rng, col, false)]),
                5..=8 => Op::Update(col, docs[rng.below(docs.len())].clone(), fields(rng, col, true)),
                _ => Op::Delete(col, docs[rng.below(docs.len())].clone()),
            }
        };
        set_nonces(Some(nonces_of(seed, i)));
        let out = run(&db, &op).await.unwrap_or_else(|e| panic!("op {i} {op:?} fails with no failure: {e}"));
        r.outcomes.push(out);
        r.ops.push(op);
    }
    r.dumps.push(dump(store.inner()).await);
    r.views.push(view(&db).await);
    r.commits.push(store.commits() - opened);
    assert_consistent(&db).await;
    r
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// Commit N fails; the replica restarts.
    FailOnce,
    /// Commit N and every one after fail until the disk is healed; the
    /// replica restarts.
    Crash,
    /// Commit N fails; the database goes on without a restart.
    FailAndGoOn,
}

/// Runs the script with commit `n` failing, then checks and finishes it.
async fn crash_run(seed: u64, key: [u8; 32], r: &Reference, n: u64, fault: Fault) {
    let ctx = format!("commit {n} failing ({fault:?})");
    let inner = MemoryStore::new();
    seed_key(&inner, key).await;
    let store = FailingStore::new(inner);
    let mut db = open(store.clone()).await;
    match fault {
        Fault::Crash => store.crash_at(n),
        Fault::FailOnce | Fault::FailAndGoOn => store.fail_commit(n),
    }
    let mut failed = None;
    for (i, op) in r.ops.iter().enumerate() {
        set_nonces(Some(nonces_of(seed, i)));
        match run(&db, op).await {
            Ok(out) => assert_eq!(out, r.outcomes[i], "{ctx}: op {i} {op:?} returns what it did with no failure"),
            Err(Error::Storage(_)) => {
                failed = Some(i);
                break;
            }
            Err(e) => panic!("{ctx}: op {i} {op:?} fails with {e}, not the store's failure"),
        }
    }
    let f = failed.unwrap_or_else(|| panic!("{ctx}: some operation fails"));
    assert!(r.commits[f] < n && n <= r.commits[f + 1], "{ctx}: op {f} is the one whose commit failed");
    if fault == Fault::Crash {
        set_nonces(Some(nonces_of(seed, f)));
        let again = run(&db, &r.ops[f]).await;
        assert!(matches!(again, Err(Error::Storage(_))), "{ctx}: a crashed store fails the retry too: {again:?}");
    }
    store.heal();
    if fault != Fault::FailAndGoOn {
        drop(db);
        db = open(store.clone()).await;
    }

    // Nothing acknowledged is lost, nothing of the failed op is half there.
    assert_consistent(&db).await;
    assert!(dump(store.inner()).await == r.dumps[f], "{ctx}: the store holds what ops 0..{f} made, nothing else");
    assert_eq!(view(&db).await, r.views[f], "{ctx}: documents and heads as ops 0..{f} left them");

    // The failed op again, then the rest: where the reference ended.
    for (i, op) in r.ops.iter().enumerate().skip(f) {
        set_nonces(Some(nonces_of(seed, i)));
        let out = run(&db, op).await.unwrap_or_else(|e| panic!("{ctx}: op {i} {op:?} after the failure: {e}"));
        assert_eq!(out, r.outcomes[i], "{ctx}: op {i} {op:?} after the failure returns what it did with none");
    }
    // The reference's store was consistent at every step: equal to it is too.
    assert!(dump(store.inner()).await == r.dumps[r.ops.len()], "{ctx}: the finished script's store is the reference's");
    assert_eq!(view(&db).await, r.views[r.ops.len()], "{ctx}: documents and heads at the end");
}

/// One script, failing at each of its commits in turn; how many commits
/// it has.
async fn case(seed: u64) -> u64 {
    let mut rng = Rng(seed);
    let peer = peer_blocks(&mut rng).await;
    let key = rng.key();
    let r = reference(seed, &mut rng, key, &peer).await;
    let total = *r.commits.last().expect("commits counted");
    for n in 1..=total {
        for fault in [Fault::FailOnce, Fault::Crash, Fault::FailAndGoOn] {
            crash_run(seed, key, &r, n, fault).await;
        }
    }
    total
}

fn env_u64(name: &str) -> Option<u64> {
    let v = std::env::var(name).ok()?;
    Some(v.parse().unwrap_or_else(|_| panic!("{name} is a number: {v}")))
}

#[test]
fn every_commit_fails_in_turn() {
    let seeds: Vec<u64> = match env_u64("WEFT_CRASH_SEED") {
        Some(seed) => vec![seed],
        None => (0..env_u64("WEFT_CRASH_CASES").unwrap_or(DEFAULT_CASES)).collect(),
    };
    let mut commits = 0;
    for seed in &seeds {
        let seed = *seed;
        let result = std::panic::catch_unwind(|| block_on(case(seed)));
        set_nonces(None);
        match result {
            Ok(n) => commits += n,
            Err(panic) => {
                eprintln!(
                    "crash script {seed} failed; replay it with:\n  WEFT_CRASH_SEED={seed} cargo test --lib {TEST_NAME}"
                );
                std::panic::resume_unwind(panic);
            }
        }
    }
    // Seen with --nocapture: what a recorded run covered.
    println!("{} crash scripts, {commits} commits failed in turn, each in 3 ways", seeds.len());
}

/// A merge of two heads, to a replica that has neither: it waits for two
/// parents. Dropping it for one of them must not leave the other's
/// `waiting` row behind, pointing at nothing.
#[test]
fn dropping_a_pending_block_for_one_parent_drops_its_other_waiting_rows() {
    block_on(async {
        let (a, b) = (open(MemoryStore::new()).await, open(MemoryStore::new()).await);
        a.add_schema(BOOKS).await.unwrap();
        b.add_schema(BOOKS).await.unwrap();
        let id = a.create("Book", &obj(json!({ "title": "a" }))).await.unwrap();
        b.import(&a.export().await.unwrap()).await.unwrap();
        a.update("Book", &id, &obj(json!({ "pages": 1 }))).await.unwrap();
        b.update("Book", &id, &obj(json!({ "pages": 2 }))).await.unwrap();
        a.import(&b.export().await.unwrap()).await.unwrap();
        let parents = a.heads("Book", &id).await.unwrap();
        assert_eq!(parents.len(), 2, "two concurrent heads");
        a.update("Book", &id, &obj(json!({ "title": "b" }))).await.unwrap();
        let merge = a.heads("Book", &id).await.unwrap()[0];
        let bytes = a.get_blocks(&[merge]).await.unwrap().remove(0).unwrap();

        let c = open(MemoryStore::new()).await;
        c.add_schema(BOOKS).await.unwrap();
        let report = c.import(&[bytes]).await.unwrap();
        assert_eq!(report.pending, 1, "{report:?}");
        assert_consistent(&c).await;
        assert_eq!(c.drop_pending(&parents[..1]).await.unwrap(), [merge]);
        assert_eq!(c.pending_count().await.unwrap(), 0);
        assert_consistent(&c).await;
    });
}
