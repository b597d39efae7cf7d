//! Native replication between real nodes over loopback TCP:
//! `cargo bench --bench replication` (about 30 s after the build).
//!
//! 1. Backfill: node A holds 2,000 documents × 10 blocks; B is empty. Time
//!    from `SetReplicator` (or from B dialling A, when they share the
//!    collection) until B has merged all 20,000 blocks.
//! 2. Catch-up: A and B hold the same 1,000 documents; while B is down, A
//!    makes 10,000 updates. Time from B's dial to B holding A's heads for
//!    every document, and the bytes on the wire (counted by a TCP proxy
//!    between them) against the bytes of the blocks B lacked.
//!
//! Stores are prepared offline (blocks signed with A's key and imported in
//! one transaction), copied fresh for every repetition, and the nodes are
//! started on the copies: only the replication itself is timed. Results and
//! how to read them are in BENCHMARKS.md, "Native replication".
//!
//! `WEFT_BENCH_BACKFILL_DOCS=20000` backfills that many documents instead
//! (a long outbox: 200,000 blocks).

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    native::main()
}

#[cfg(target_arch = "wasm32")]
fn main() {}

#[cfg(not(target_arch = "wasm32"))]
mod native {
    use std::collections::{BTreeMap, BTreeSet};
    use std::io::{Read, Write};
    use std::net::{Shutdown, TcpListener, TcpStream};
    use std::path::Path;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use cid::Cid;
    use ed25519_dalek::SigningKey;
    use futures::executor::block_on;
    use libp2p::multiaddr::Protocol;
    use serde_bytes::ByteBuf;
    use serde_json::{json, Map, Value};
    use weftdb::core::block::{cid_of, AuthorKeys, Block, SignedBlock, Unverified};
    use weftdb::core::sync::{
        encode, HeadsRequest, HeadsResponse, ReplicateRequest, ReplicateResponse, MAX_BATCH_BLOCKS,
    };
    use weftdb::node::{Command, NodeConfig, NodeHandle};
    use weftdb::store::{MemoryStore, RedbStore, Store};
    use weftdb::Db;

    const SDL: &str = "type Book { title: String @index  pages: Int }";
    const REPS: usize = 3;
    const POLL: Duration = Duration::from_millis(5);
    const WAIT: Duration = Duration::from_secs(120);

    const BACKFILL_DOCS_DEFAULT: u64 = 2_000;
    const BACKFILL_LEN: u64 = 10;
    const CATCHUP_DOCS: u64 = 1_000;
    const CATCHUP_UPDATES: u64 = 10_000;
    /// The most blocks one push carries.
    const BATCH: usize = MAX_BATCH_BLOCKS;
    /// The documents a node walks at once for a peer (`WALKED_AT_ONCE` in
    /// src/node/exchange.rs, private there).
    const WALKED_AT_ONCE: usize = 2_048;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().expect("an object").clone()
    }

    fn call(n: &NodeHandle, c: Command) -> Value {
        let what = format!("{c:?}");
        n.call_blocking(c).unwrap_or_else(|e| panic!("{what}: {} {}", e.code, e.message))
    }

    fn stats(n: &NodeHandle) -> Value {
        call(n, Command::Stats)
    }

    fn counter(s: &Value, name: &str) -> u64 {
        s[name].as_u64().unwrap_or_else(|| panic!("no {name} in {s}"))
    }

    fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
        let deadline = Instant::now() + WAIT;
        while !done() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(POLL);
        }
    }

    /// A loopback node that looks for no one on its own.
    fn start(dir: &Path) -> NodeHandle {
        NodeHandle::start(NodeConfig { discovery: false, ..NodeConfig::loopback(dir) }).expect("node starts")
    }

    fn open_db(dir: &Path) -> Db<RedbStore> {
        std::fs::create_dir_all(dir).expect("store dir");
        let store = RedbStore::open(dir.join("weft.redb")).expect("redb opens");
        block_on(Db::open(store)).expect("db opens")
    }

    /// A database at `dir` with the Book collection and `blocks` imported
    /// (parents first) in one transaction; `blocks` is given the store's
    /// signing key, the node's identity once it runs there.
    fn prepare(dir: &Path, blocks: impl FnOnce(&SigningKey) -> Vec<Vec<u8>>) {
        let db = open_db(dir);
        block_on(db.add_schema(SDL)).expect("schema");
        let key = db.signing_key().clone();
        let blocks = blocks(&key);
        if !blocks.is_empty() {
            let report = block_on(db.import(&blocks)).expect("import");
            assert_eq!(report.merged, blocks.len(), "{report:?}");
        }
    }

    /// Blocks per second over the median of `REPS` passes of `total` blocks.
    fn rate(total: u64, mut pass: impl FnMut() -> Duration) -> f64 {
        median((0..REPS).map(|_| total as f64 / pass().as_secs_f64()).collect())
    }

    /// `Db::import` of `blocks` in batches as large as a push's.
    fn import_batches<S: Store>(db: &Db<S>, blocks: &[Vec<u8>]) -> Duration {
        let started = Instant::now();
        for chunk in blocks.chunks(BATCH) {
            block_on(db.import(chunk)).expect("import");
        }
        started.elapsed()
    }

    fn export(dir: &Path) -> BTreeSet<Vec<u8>> {
        block_on(open_db(dir).export()).expect("export").into_iter().collect()
    }

    /// A fresh copy of a prepared (closed) store.
    fn copy_store(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).expect("dir");
        std::fs::copy(from.join("weft.redb"), to.join("weft.redb")).expect("copy");
    }

    /// One document's chain as it grows.
    struct Chain {
        doc: Cid,
        head: Cid,
        height: u64,
    }

    fn genesis(key: &SigningKey, n: u64) -> SignedBlock {
        Block::genesis("Book", obj(json!({"title": format!("book {n}"), "pages": 0})), n.to_be_bytes(), key)
    }

    impl Chain {
        fn new(g: &SignedBlock) -> Chain {
            Chain { doc: g.cid, head: g.cid, height: 1 }
        }

        fn update(&mut self, key: &SigningKey, pages: u64) -> SignedBlock {
            self.height += 1;
            let b =
                Block::change("Book", self.doc, vec![self.head], self.height, obj(json!({"pages": pages})), false, key);
            self.head = b.cid;
            b
        }
    }

    /// A small deterministic generator, so every run updates the same documents.
    struct Lcg(u64);

    impl Lcg {
        fn below(&mut self, n: u64) -> u64 {
            self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (self.0 >> 33) % n
        }
    }

    /// Every live thread of this process: its id, its name, and the time it
    /// has run on a CPU (`/proc/self/task/*/schedstat`, nanoseconds).
    fn cpu_by_thread() -> Vec<(u64, String, Duration)> {
        let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return Vec::new() };
        let mut out = Vec::new();
        for t in tasks.flatten() {
            let tid: u64 = t.file_name().to_string_lossy().parse().unwrap_or(0);
            let comm = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default().trim().to_string();
            let ns = std::fs::read_to_string(t.path().join("schedstat"))
                .ok()
                .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
                .unwrap_or(0);
            out.push((tid, comm, Duration::from_nanos(ns)));
        }
        out
    }

    fn node_tids() -> BTreeSet<u64> {
        cpu_by_thread().into_iter().filter(|(_, c, _)| c == "weft-node").map(|(t, _, _)| t).collect()
    }

    /// The CPU time of the whole process, threads that ended included
    /// (`/proc/self/stat`: utime + stime, in clock ticks of 10 ms).
    fn cpu_of_process() -> Duration {
        let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
        let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
        let fields: Vec<u64> = after_name.split_whitespace().map(|f| f.parse().unwrap_or(0)).collect();
        // utime and stime are fields 14 and 15; `after_name` starts at field 3.
        let ticks = fields.get(11).copied().unwrap_or(0) + fields.get(12).copied().unwrap_or(0);
        Duration::from_millis(ticks * 10)
    }

    /// CPU used between two snapshots: by the whole process (threads that
    /// ended meanwhile included: the receiver's verifying threads), by
    /// thread `a`, by thread `b`.
    struct Cpu {
        before: Vec<(u64, String, Duration)>,
        process: Duration,
    }

    impl Cpu {
        fn start() -> Cpu {
            Cpu { before: cpu_by_thread(), process: cpu_of_process() }
        }

        fn used(&self, a: u64, b: u64) -> (Duration, Duration, Duration) {
            let after = cpu_by_thread();
            let total = cpu_of_process().saturating_sub(self.process);
            let was = |tid: u64| self.before.iter().find(|x| x.0 == tid).map_or(Duration::ZERO, |x| x.2);
            let (mut da, mut db) = (Duration::ZERO, Duration::ZERO);
            for (tid, _, t) in &after {
                let d = t.saturating_sub(was(*tid));
                if *tid == a {
                    da = d;
                }
                if *tid == b {
                    db = d;
                }
            }
            (total, da, db)
        }
    }

    /// A TCP proxy on loopback that counts the bytes each way: what the
    /// nodes' transports (Noise, yamux, every protocol) actually send.
    struct Proxy {
        port: u16,
        /// Dialler → listener (B → A).
        up: Arc<AtomicU64>,
        /// Listener → dialler (A → B).
        down: Arc<AtomicU64>,
        connections: Arc<AtomicU64>,
    }

    fn pipe(mut from: TcpStream, mut to: TcpStream, count: Arc<AtomicU64>) {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    count.fetch_add(n as u64, Ordering::Relaxed);
                    if to.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = to.shutdown(Shutdown::Write);
        let _ = from.shutdown(Shutdown::Read);
    }

    impl Proxy {
        /// Forwards every connection made to it to `127.0.0.1:target`.
        /// Its threads end with the process.
        fn start(target: u16) -> Proxy {
            let listener = TcpListener::bind("127.0.0.1:0").expect("proxy listens");
            let port = listener.local_addr().expect("addr").port();
            let up = Arc::new(AtomicU64::new(0));
            let down = Arc::new(AtomicU64::new(0));
            let connections = Arc::new(AtomicU64::new(0));
            let (u, d, c) = (up.clone(), down.clone(), connections.clone());
            std::thread::spawn(move || {
                for client in listener.incoming() {
                    let Ok(client) = client else { continue };
                    let Ok(server) = TcpStream::connect(("127.0.0.1", target)) else { continue };
                    let _ = client.set_nodelay(true);
                    let _ = server.set_nodelay(true);
                    c.fetch_add(1, Ordering::Relaxed);
                    let (c2, s2) = (client.try_clone().expect("clone"), server.try_clone().expect("clone"));
                    let (u, d) = (u.clone(), d.clone());
                    std::thread::spawn(move || pipe(client, server, u));
                    std::thread::spawn(move || pipe(s2, c2, d));
                }
            });
            Proxy { port, up, down, connections }
        }

        fn counts(&self) -> (u64, u64) {
            (self.up.load(Ordering::Relaxed), self.down.load(Ordering::Relaxed))
        }
    }

    fn tcp_port(n: &NodeHandle) -> u16 {
        n.addrs()[0].iter().find_map(|p| if let Protocol::Tcp(port) = p { Some(port) } else { None }).expect("tcp")
    }

    /// How B reaches A: directly, or through a counting proxy.
    fn a_addr(a: &NodeHandle, proxy: Option<&Proxy>) -> String {
        match proxy {
            None => a.addrs()[0].to_string(),
            Some(p) => format!("/ip4/127.0.0.1/tcp/{}/p2p/{}", p.port, a.peer_id()),
        }
    }

    /// `12345` as `12,345`.
    fn th(v: u64) -> String {
        let digits = v.to_string();
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                out.push(',');
            }
            out.push(c);
        }
        out
    }

    fn thf(v: f64) -> String {
        th(v.round() as u64)
    }

    fn median(mut v: Vec<f64>) -> f64 {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    }

    fn range(v: &[f64]) -> (f64, f64) {
        (v.iter().copied().fold(f64::INFINITY, f64::min), v.iter().copied().fold(0.0, f64::max))
    }

    struct Run {
        secs: f64,
        /// From the start to the first block B has merged (as polled, every
        /// `POLL`): the connection, the exchange, A's walk, the first push
        /// and B's first merge.
        first: f64,
        cpu_total: Duration,
        cpu_a: Duration,
        cpu_b: Duration,
        /// B → A and A → B bytes through the proxy when B's blocks were all merged.
        bytes: Option<(u64, u64)>,
        connections: u64,
    }

    /// One repetition: the stores to start A and B on, and how B reaches A.
    struct Setup<'a> {
        a_tpl: &'a Path,
        b_tpl: &'a Path,
        /// The blocks B lacks.
        expected: u64,
        via_proxy: bool,
        /// Both hold Book as a p2p collection.
        shared: bool,
    }

    /// Starts A and B on copies of the templates, lets `begin` start the
    /// replication, and times it until B has merged `expected` blocks.
    fn replicate(
        tmp: &Path,
        rep: &str,
        setup: Setup,
        // A, B, and A's address as B dials it.
        begin: impl FnOnce(&NodeHandle, &NodeHandle, String),
        check: impl FnOnce(&NodeHandle, &NodeHandle),
    ) -> Run {
        let Setup { a_tpl, b_tpl, expected, via_proxy, shared } = setup;
        let (da, db) = (tmp.join(format!("{rep}-a")), tmp.join(format!("{rep}-b")));
        copy_store(a_tpl, &da);
        copy_store(b_tpl, &db);
        let before = node_tids();
        let a = start(&da);
        let with_a = node_tids();
        let b = start(&db);
        // 0 (no thread) where /proc is not there to tell.
        let a_tid = with_a.difference(&before).next().copied().unwrap_or(0);
        let b_tid = node_tids().difference(&with_a).next().copied().unwrap_or(0);
        if shared {
            for n in [&a, &b] {
                call(n, Command::AddP2pCollection { collection: "Book".into() });
            }
        }
        let proxy = via_proxy.then(|| Proxy::start(tcp_port(&a)));
        let addr = a_addr(&a, proxy.as_ref());
        let cpu = Cpu::start();
        let started = Instant::now();
        begin(&a, &b, addr);
        let mut first = None;
        wait_for("B to merge every block", || {
            let s = stats(&b);
            if first.is_none() && counter(&s, "received") > 0 {
                first = Some(started.elapsed().as_secs_f64());
            }
            counter(&s, "received") >= expected && counter(&s, "pending") == 0
        });
        let secs = started.elapsed().as_secs_f64();
        let first = first.unwrap_or(secs);
        let bytes = proxy.as_ref().map(Proxy::counts);
        let (cpu_total, cpu_a, cpu_b) = cpu.used(a_tid, b_tid);
        check(&a, &b);
        wait_for("A's acknowledgements", || counter(&stats(&a), "sent") >= expected);
        let (sa, sb) = (stats(&a), stats(&b));
        assert_eq!(counter(&sb, "received"), expected, "B received each block once: {sb}");
        assert_eq!(counter(&sa, "sent"), expected, "A sent exactly what B lacked: {sa}");
        let connections = proxy.as_ref().map_or(0, |p| p.connections.load(Ordering::Relaxed));
        a.stop();
        b.stop();
        let _ = std::fs::remove_dir_all(&da);
        let _ = std::fs::remove_dir_all(&db);
        Run { secs, first, cpu_total, cpu_a, cpu_b, bytes, connections }
    }

    fn cpu_line(runs: &[Run], blocks: u64) -> String {
        let pct = |f: fn(&Run) -> Duration| median(runs.iter().map(|r| 100.0 * f(r).as_secs_f64() / r.secs).collect());
        let per_block =
            |f: fn(&Run) -> Duration| median(runs.iter().map(|r| f(r).as_secs_f64() * 1e6 / blocks as f64).collect());
        format!(
            "CPU during the transfer (median, % of one core): sender A's node thread {:.0} %, \
             receiver B's {:.0} %, whole process {:.0} %; per block: {:.1} µs of wall time, \
             CPU {:.1} µs in all, {:.1} µs on B's node thread; B's first block after {:.0} ms",
            pct(|r| r.cpu_a),
            pct(|r| r.cpu_b),
            pct(|r| r.cpu_total),
            median(runs.iter().map(|r| r.secs * 1e6 / blocks as f64).collect()),
            per_block(|r| r.cpu_total),
            per_block(|r| r.cpu_b),
            median(runs.iter().map(|r| r.first * 1e3).collect()),
        )
    }

    fn heads_equal(a: &NodeHandle, b: &NodeHandle, ids: &[String]) {
        for id in ids {
            let heads = |n: &NodeHandle| call(n, Command::Heads { collection: "Book".into(), id: id.clone() });
            assert_eq!(heads(a), heads(b), "heads of {id}");
        }
    }

    /// The weft messages of a catch-up where A holds `heads_a` and B only
    /// the `geneses`, and B lacks `lacking`: `(sent by A, what, DAG-CBOR bytes)`.
    /// Each is one request-response stream; the codec adds no framing.
    fn catchup_messages(
        geneses: &[SignedBlock],
        heads_a: &BTreeMap<String, Vec<Cid>>,
        lacking: &[Vec<u8>],
    ) -> Vec<(bool, String, u64)> {
        let heads_b: BTreeMap<String, Vec<Cid>> = geneses.iter().map(|g| (g.cid.to_string(), vec![g.cid])).collect();
        let request = |heads: &BTreeMap<String, Vec<Cid>>| {
            encode(&HeadsRequest { col: "Book".into(), docs: None, heads: heads.clone() }).len() as u64
        };
        let response = |heads: &BTreeMap<String, Vec<Cid>>| {
            encode(&HeadsResponse { heads: heads.clone(), unknown: false }).len() as u64
        };
        let chunks: Vec<&[Vec<u8>]> = lacking.chunks(BATCH).collect();
        let pushes: u64 = chunks
            .iter()
            .map(|c| {
                encode(&ReplicateRequest::Push { blocks: c.iter().cloned().map(ByteBuf::from).collect(), remaining: 0 })
                    .len() as u64
            })
            .sum();
        let acks: u64 = chunks
            .iter()
            .map(|c| {
                encode(&ReplicateResponse::Ack { merged: c.iter().map(|b| cid_of(b)).collect(), refused: Vec::new() })
                    .len() as u64
            })
            .sum();
        let offer = encode(&ReplicateRequest::Offer { cids: geneses.iter().map(|g| g.cid).collect() }).len() as u64;
        let want = encode(&ReplicateResponse::Want { cids: Vec::new() }).len() as u64;
        vec![
            (true, "heads request".into(), request(heads_a)),
            (true, "heads response".into(), response(heads_a)),
            (true, format!("{} pushes", chunks.len()), pushes),
            (true, "want".into(), want),
            (false, "heads request".into(), request(&heads_b)),
            (false, "heads response".into(), response(&heads_b)),
            (false, format!("{} acks", chunks.len()), acks),
            (false, "offer of the geneses".into(), offer),
        ]
    }

    fn count(n: &NodeHandle) -> usize {
        call(n, Command::Find { collection: "Book".into(), query: json!({}) }).as_array().expect("an array").len()
    }

    pub fn main() {
        // `cargo bench` passes `--bench`; nothing here takes arguments.
        let tmp = tempfile::tempdir().expect("tempdir");
        let tmp = tmp.path();
        let mut rows: Vec<[String; 3]> = Vec::new();
        let mut notes: Vec<String> = Vec::new();

        // ---- 1. Backfill: 2,000 documents × 10 blocks, native → native.
        let backfill_docs: u64 = match std::env::var("WEFT_BENCH_BACKFILL_DOCS") {
            Ok(n) => n.parse().expect("WEFT_BENCH_BACKFILL_DOCS: a number of documents"),
            Err(_) => BACKFILL_DOCS_DEFAULT,
        };
        let total = backfill_docs * BACKFILL_LEN;
        let (a_tpl, b_tpl) = (tmp.join("backfill-a"), tmp.join("backfill-b"));
        let prep = Instant::now();
        let mut all_blocks: Vec<Vec<u8>> = Vec::new();
        prepare(&a_tpl, |key| {
            for n in 0..backfill_docs {
                let g = genesis(key, n);
                let mut chain = Chain::new(&g);
                all_blocks.push(g.bytes);
                for i in 1..BACKFILL_LEN {
                    all_blocks.push(chain.update(key, i).bytes);
                }
            }
            all_blocks.clone()
        });
        prepare(&b_tpl, |_| Vec::new());
        let block_bytes: usize = all_blocks.iter().map(Vec::len).sum();
        eprintln!(
            "backfill: prepared {total} blocks ({} B, {:.0} B/block) in {:.1?}",
            block_bytes,
            block_bytes as f64 / total as f64,
            prep.elapsed()
        );

        // The receiver's work without a network: verify + merge + commit
        // in batches as large as a push's.
        // Each the median of REPS passes over the 20,000 blocks.
        let verify_rate = rate(total, || {
            let started = Instant::now();
            for b in &all_blocks {
                SignedBlock::decode(b, None).expect("valid");
            }
            started.elapsed()
        });
        let keyed_rate = rate(total, || {
            let started = Instant::now();
            let mut keys = AuthorKeys::default();
            for b in &all_blocks {
                SignedBlock::decode_with(b, None, &mut keys).expect("valid");
            }
            started.elapsed()
        });
        // As a native node's verifying threads check a push: chunks of 128
        // decoded, then their signatures checked together, the authors'
        // keys decompressed once a chunk.
        let together_rate = rate(total, || {
            let started = Instant::now();
            for chunk in all_blocks.chunks(128) {
                let mut keys = AuthorKeys::default();
                let unverified =
                    chunk.iter().map(|b| SignedBlock::decode_unverified(b, None).expect("decodes")).collect();
                for r in Unverified::verify_all(unverified, &mut keys) {
                    r.expect("valid");
                }
            }
            started.elapsed()
        });
        let memory_rate = rate(total, || {
            let db = block_on(Db::open(MemoryStore::new())).expect("db opens");
            block_on(db.add_schema(SDL)).expect("schema");
            import_batches(&db, &all_blocks)
        });
        let mut pass = 0;
        let import_rate = rate(total, || {
            pass += 1;
            let dir = tmp.join(format!("import-only{pass}"));
            prepare(&dir, |_| Vec::new());
            let db = open_db(&dir);
            let took = import_batches(&db, &all_blocks);
            drop(db);
            let _ = std::fs::remove_dir_all(&dir);
            took
        });
        drop(all_blocks);
        // The sender's work alone before its first push to a peer that
        // holds nothing: its heads read, and the walk from every head down,
        // in chunks of documents as `Node::send_lacking` walks them.
        let walk_dir = tmp.join("walk-only");
        copy_store(&a_tpl, &walk_dir);
        let walk_db = open_db(&walk_dir);
        let walk_rate = rate(total, || {
            let started = Instant::now();
            let heads = block_on(walk_db.collection_heads("Book", None)).expect("heads");
            let docs: Vec<(Vec<Cid>, Vec<Cid>, usize)> = heads
                .into_values()
                .map(|h| {
                    let height = h.iter().map(|(_, height)| *height as usize).max().unwrap_or(0);
                    (h.into_iter().map(|(c, _)| c).collect(), Vec::new(), height)
                })
                .collect();
            let mut walked = 0;
            for chunk in docs.chunks(WALKED_AT_ONCE) {
                let reads = chunk.iter().map(|(_, _, height)| height).sum();
                let chunk: Vec<(Vec<Cid>, Vec<Cid>)> = chunk.iter().map(|(o, t, _)| (o.clone(), t.clone())).collect();
                let blocks = block_on(walk_db.blocks_missing_from_each(&chunk, reads)).expect("walk");
                walked += blocks.iter().map(Vec::len).sum::<usize>();
            }
            let took = started.elapsed();
            assert_eq!(walked as u64, total, "the walk finds every block");
            took
        });
        drop(walk_db);
        let _ = std::fs::remove_dir_all(&walk_dir);
        eprintln!(
            "backfill, no network: decode+verify {verify_rate:.0} blocks/s, {keyed_rate:.0} with one key \
             decompression per author; Db::import in batches of {BATCH}: \
             in memory {memory_rate:.0} blocks/s, on redb {import_rate:.0} blocks/s; \
             the sender's walk {walk_rate:.0} blocks/s"
        );

        let check_backfill = |_: &NodeHandle, b: &NodeHandle| assert_eq!(count(b), backfill_docs as usize);
        let mut replicator_runs = Vec::new();
        for rep in 0..REPS {
            let run = replicate(
                tmp,
                &format!("replicator{rep}"),
                Setup { a_tpl: &a_tpl, b_tpl: &b_tpl, expected: total, via_proxy: false, shared: false },
                |a, b, _| {
                    let peer = b.addrs()[0].to_string();
                    call(a, Command::SetReplicator { collection: "Book".into(), docs: None, peer });
                },
                check_backfill,
            );
            eprintln!("backfill by replicator, run {rep}: {total} blocks in {:.3} s", run.secs);
            replicator_runs.push(run);
        }
        let mut exchange_runs = Vec::new();
        for rep in 0..REPS {
            let run = replicate(
                tmp,
                &format!("exchange{rep}"),
                Setup { a_tpl: &a_tpl, b_tpl: &b_tpl, expected: total, via_proxy: rep == 0, shared: true },
                |_, b, addr| {
                    call(b, Command::Dial { addr });
                },
                check_backfill,
            );
            eprintln!(
                "backfill by head exchange, run {rep}{}: {total} blocks in {:.3} s",
                if rep == 0 { " (through the proxy)" } else { "" },
                run.secs
            );
            exchange_runs.push(run);
        }
        for (name, runs) in [
            ("by replicator (`SetReplicator` on A)", &replicator_runs),
            ("by head exchange (shared p2p collection, B dials A)", &exchange_runs),
        ] {
            let rates: Vec<f64> = runs.iter().map(|r| total as f64 / r.secs).collect();
            let (lo, hi) = range(&rates);
            rows.push([
                format!("Backfill {} blocks ({} docs × {BACKFILL_LEN}) {name}", th(total), th(backfill_docs)),
                format!(
                    "**{} blocks/s** ({:.2} s; runs {}–{})",
                    thf(median(rates.clone())),
                    total as f64 / median(rates),
                    thf(lo),
                    thf(hi)
                ),
                "≥ 50,000 blocks/s".into(),
            ]);
            notes.push(format!("backfill {name}: {}", cpu_line(runs, total)));
        }
        if let Some((up, down)) = exchange_runs[0].bytes {
            notes.push(format!(
                "backfill by head exchange through the proxy: A → B {down} B, B → A {up} B for {block_bytes} B \
                 of blocks ({:.3} ×, {:.3} × both ways); {} TCP connection(s)",
                down as f64 / block_bytes as f64,
                (up + down) as f64 / block_bytes as f64,
                exchange_runs[0].connections
            ));
        }
        rows.push([
            "Receiver's work alone: decode + verify (1 thread)".into(),
            format!("{} blocks/s", thf(verify_rate)),
            "".into(),
        ]);
        rows.push([
            "Same, one key decompression per author (`AuthorKeys`; block by block, as the node did before session 38)"
                .into(),
            format!("{} blocks/s", thf(keyed_rate)),
            "".into(),
        ]);
        rows.push([
            "Same, checked together in chunks of 128 (`Unverified::verify_all`, as the node does)".into(),
            format!("{} blocks/s", thf(together_rate)),
            "".into(),
        ]);
        rows.push([
            format!("Receiver's work alone: `Db::import` in memory (`MemoryStore`), batches of {BATCH}"),
            format!("{} blocks/s", thf(memory_rate)),
            "".into(),
        ]);
        rows.push([
            format!("Receiver's work alone: `Db::import` on redb, batches of {BATCH}"),
            format!("{} blocks/s", thf(import_rate)),
            "".into(),
        ]);
        rows.push([
            "Sender's work alone: its heads and the walk from them, for a peer that holds nothing".into(),
            format!("{} blocks/s ({:.0} ms)", thf(walk_rate), total as f64 / walk_rate * 1e3),
            "".into(),
        ]);

        // ---- 2. Catch-up: 10,000 missed updates on 1,000 documents.
        let (a_tpl, b_tpl) = (tmp.join("catchup-a"), tmp.join("catchup-b"));
        let prep = Instant::now();
        let mut geneses = Vec::new();
        let mut updates: Vec<Vec<u8>> = Vec::new();
        let mut heads_a = BTreeMap::new();
        prepare(&a_tpl, |key| {
            geneses = (0..CATCHUP_DOCS).map(|n| genesis(key, n)).collect();
            let mut chains: Vec<Chain> = geneses.iter().map(Chain::new).collect();
            let mut rng = Lcg(7);
            for i in 0..CATCHUP_UPDATES {
                let doc = rng.below(CATCHUP_DOCS) as usize;
                updates.push(chains[doc].update(key, 1000 + i).bytes);
            }
            heads_a = chains.iter().map(|c| (c.doc.to_string(), vec![c.head])).collect();
            geneses.iter().map(|g| g.bytes.clone()).chain(updates.iter().cloned()).collect()
        });
        // B: the same documents, none of the updates (it was down).
        prepare(&b_tpl, |_| geneses.iter().map(|g| g.bytes.clone()).collect());
        let ids: Vec<String> = geneses.iter().map(|g| g.cid.to_string()).collect();
        let lacking: Vec<Vec<u8>> = export(&a_tpl).difference(&export(&b_tpl)).cloned().collect();
        let missing_bytes: u64 = lacking.iter().map(|b| b.len() as u64).sum();
        assert_eq!(lacking.len() as u64, CATCHUP_UPDATES);
        assert_eq!(missing_bytes, updates.iter().map(|b| b.len() as u64).sum::<u64>());
        let touched: BTreeSet<Cid> =
            updates.iter().map(|b| SignedBlock::decode(b, None).expect("valid").block.doc.expect("a change")).collect();
        eprintln!(
            "catch-up: prepared in {:.1?}; B lacks {} blocks, {missing_bytes} B ({:.0} B/block), \
             on {} of {CATCHUP_DOCS} documents",
            prep.elapsed(),
            lacking.len(),
            missing_bytes as f64 / lacking.len() as f64,
            touched.len()
        );

        let model = catchup_messages(&geneses, &heads_a, &lacking);
        eprintln!("catch-up messages (DAG-CBOR payload, one stream each): {model:?}");

        let mut direct = Vec::new();
        let mut proxied = Vec::new();
        for rep in 0..2 * REPS {
            let via_proxy = rep % 2 == 1;
            let run = replicate(
                tmp,
                &format!("catchup{rep}"),
                Setup { a_tpl: &a_tpl, b_tpl: &b_tpl, expected: CATCHUP_UPDATES, via_proxy, shared: true },
                |_, b, addr| {
                    call(b, Command::Dial { addr });
                },
                |a, b| heads_equal(a, b, &ids),
            );
            let how = if via_proxy { "through the proxy" } else { "direct" };
            eprintln!("catch-up, run {rep} ({how}): {CATCHUP_UPDATES} blocks in {:.3} s, heads equal", run.secs);
            if via_proxy {
                proxied.push(run)
            } else {
                direct.push(run)
            }
        }
        let secs: Vec<f64> = direct.iter().map(|r| r.secs).collect();
        let (lo, hi) = range(&secs);
        let mid = median(secs);
        rows.push([
            format!(
                "Catch-up: {} missed updates on {} docs, B's dial → equal heads (direct TCP)",
                th(CATCHUP_UPDATES),
                th(CATCHUP_DOCS)
            ),
            format!("**{mid:.2} s** (runs {lo:.2}–{hi:.2}; {} blocks/s)", thf(CATCHUP_UPDATES as f64 / mid)),
            "≤ 2 s".into(),
        ]);
        let psecs: Vec<f64> = proxied.iter().map(|r| r.secs).collect();
        rows.push([
            "Same, through the counting proxy".into(),
            format!("{:.2} s (runs {:.2}–{:.2})", median(psecs.clone()), range(&psecs).0, range(&psecs).1),
            "".into(),
        ]);
        let down: Vec<f64> = proxied.iter().map(|r| r.bytes.expect("counted").1 as f64).collect();
        let both: Vec<f64> = proxied.iter().map(|r| r.bytes.map(|(u, d)| (u + d) as f64).expect("counted")).collect();
        rows.push([
            "Catch-up bytes on the wire A → B ÷ bytes of the blocks B lacked".into(),
            format!(
                "**{:.3} ×** ({} B for {} B)",
                median(down.clone()) / missing_bytes as f64,
                thf(median(down)),
                th(missing_bytes)
            ),
            "≤ 1.1 ×".into(),
        ]);
        rows.push([
            "Same, both directions ÷ blocks B lacked".into(),
            format!("{:.3} × ({} B)", median(both.clone()) / missing_bytes as f64, thf(median(both))),
            "".into(),
        ]);
        rows.push([
            "Catch-up blocks pushed (A's `sent`) ÷ blocks B lacked".into(),
            format!("1.000 × ({0} of {0}, checked each run)", th(CATCHUP_UPDATES)),
            "".into(),
        ]);
        let (up, down) = proxied.iter().map(|r| r.bytes.expect("counted")).min_by_key(|(u, d)| u + d).expect("runs");
        let a_payload: u64 = model.iter().filter(|m| m.0).map(|m| m.2).sum();
        let b_payload: u64 = model.iter().filter(|m| !m.0).map(|m| m.2).sum();
        let listing = |from_a: bool| {
            model.iter().filter(|m| m.0 == from_a).map(|m| format!("{} {} B", m.1, m.2)).collect::<Vec<_>>().join(", ")
        };
        notes.push(format!(
            "catch-up wire bytes against the weft messages (smallest run): A → B {down} B on the wire for {a_payload} B \
             of messages ({}), so {} B ({:.1} %) of transport and libp2p's own protocols; B → A {up} B for \
             {b_payload} B ({}), {} B of the rest",
            listing(true),
            down as i64 - a_payload as i64,
            100.0 * (down as f64 - a_payload as f64) / down as f64,
            listing(false),
            up as i64 - b_payload as i64,
        ));
        notes.push(format!("catch-up (direct): {}", cpu_line(&direct, CATCHUP_UPDATES)));
        notes.push(format!(
            "catch-up through the proxy: {} TCP connection(s) per run",
            proxied.iter().map(|r| r.connections.to_string()).collect::<Vec<_>>().join(", ")
        ));

        println!("| Measurement | Result | Aim |");
        println!("| --- | ---: | --- |");
        for [what, result, aim] in &rows {
            println!("| {what} | {result} | {aim} |");
        }
        println!();
        for n in &notes {
            println!("- {n}");
        }
    }
}
