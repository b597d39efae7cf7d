//! # weftdb
//!
//! A local-first document database: collections declared in GraphQL SDL,
//! documents kept as Merkle CRDTs (every change a signed, content-addressed
//! block linking to the document's previous heads), stored in IndexedDB in
//! the browser and in redb natively.
//!
//! ## Module map
//!
//! | module | what it is | knows about |
//! |---|---|---|
//! | [`core::schema`] | SDL → [`core::schema::CollectionDef`] (its own GraphQL SDL parser, for any text: at most [`core::schema::MAX_SDL_BYTES`], [`core::schema::MAX_SDL_TOKENS`] tokens, [`core::schema::MAX_SDL_DEPTH`] levels of nesting); validation and normalisation of input | nothing but data |
//! | [`core::block`] | the block format: DAG-CBOR, CIDv1/sha2-256, ed25519 signatures | nothing but data |
//! | [`core::doc`] | a document's state: one last-writer-wins register per field, a tombstone | nothing but data |
//! | [`core::merge`] | the merge rules: an import planned from a snapshot of the store (checks, blocks set aside as pending, their release and refusal), stopping for the reads it lacks | nothing but data |
//! | [`core::query`] | filters, order, paging, index plans, order-preserving index keys | nothing but data |
//! | [`store`] | the async [`store::Store`]/[`store::Tx`] traits; memory, redb (native), IndexedDB (wasm32); the notices between handles on one database ([`store::Notices`]); for tests and the simulator (feature `sim`) a store that fails its Nth commit, once or until healed | one storage engine each |
//! | [`db`] | [`Db`]: the core's rules over a store, one transaction per change; an import reads [`core::merge`]'s snapshot and writes its plan; `db::layout` (the records), `db::cache` (hot documents, forgotten on other handles' notices), `db::recent` (the blocks this handle committed lately, which a head exchange's walk reads from memory); under test, `db::check` (what every store must hold after any failure: rows that point at something, documents, heads and indexes that are what the blocks make) and the crash runs | the store trait |
//! | [`core::sync`] | the replication messages and their limits | nothing but data |
//! | [`core::pending`] | which blocks wait for parents on whose account; what to drop over the caps | nothing but data |
//! | [`core::replica`] | the replication state's parts, each a state machine in a file of its own: dialling (which peers are kept connected, when each is dialled again), fetching missing blocks (whom to ask, once per block, when to give up), head exchange's push lanes (batches in order, up to three in flight, a probe alone until answered, no block twice per connection, lanes with ids so a dead connection's answers cannot move a new one), the outbox lanes (up to three pushes in flight per replicator's peer, each with its blocks so the next batch leaves them out, the retry backoff), relayed listeners (asked for again with a backoff), each peer's request allowance, strikes and bans; [`core::replica::Replica`] holds them, the documents to pass on or repair, the peers whose exchange failed while connected (swapped again after a backoff), and says when the next of their deadlines falls (no fixed tick: an idle node sleeps until an input, a command or a deadline) | nothing but data |
//! | `dag` | [`Db`]'s replication queries: collection heads, held or pending blocks, blocks read within a budget, the blocks a peer lacks | the store trait |
//! | `records` | [`Db`]'s node records: `Meta` records by name, replicators, the blocks their peers refused, the outbox (every key of them in one place: the node opens no store transaction) | the store trait |
//! | `wasm` | the JS bindings, conversion only (wasm32 only): `Database` / `Collection`, and with the `net` feature `Replicators` / `Collections` and the network's methods (`wasm/net.rs`), JS values to JSON and back, errors to `Error`s with a `code`, futures to promises, the `on` listeners (`peer`, `sync`, `status`, `stale`); `setLogLevel`, the page's `tracing` events on the console; the hand-written TypeScript (`npm/types.d.ts`, included) | wasm-bindgen |
//! | [`net`] | the request-response codec, the composed libp2p behaviour (one for both targets), each target's swarm: native TCP, QUIC, WebSocket, WebRTC-direct and [`net::webtransport`] (our WebTransport server); in a page the transports a browser dials, and `net::webrtc` (our browser-to-browser WebRTC transport, wasm32 only) with its [`net::signaling`] messages | libp2p, wtransport; web-sys's WebRTC in a page |
//! | [`node`] | the node: the replica's logic over a [`Db`] — gossip, block fetch, head exchange, replicators, pages meeting through a relay and upgrading to direct WebRTC, commands (`run`, `gossip`, `exchange`, `replicate`, `direct`, `answer`, `share`, `status`; the data they share in `state`, which imports none of them, and none of them is imported by `run`, so no file imports in a circle) — as a state machine at the network's edge: inputs in with the time, effects out (see "The replica, its inputs and effects") (`wire`), generic over its store, with no socket, no swarm and no clock, the same code on both targets (the target's store, block checks and wall clock: `adapters`; a few `cfg_attr` allow dead code that one target does not call); one driver over libp2p for both targets (`swarm`: swarm events to inputs, effects to swarm calls), run natively by a thread with tokio (`native`) behind the HTTP API, in a page by a task on the event loop (`browser`, with the page's `online`/`offline`/`pagehide`); many tabs as one peer ([`node::tabs`]: the state machine; `tabs/page.rs` drives it on the Web Lock, the BroadcastChannel and the page's lifecycle); its config ([`node::NodeConfig`], and a page's [`node::OpenOptions`]) | libp2p's data types; the drivers: libp2p, tokio and axum natively, web-sys in a page |
//! | `sim` (tests only) | the deterministic simulator: many nodes on [`store::MemoryStore`], a network that delays, loses, duplicates and reorders from a seed, partitions, restarts, a virtual clock; convergence properties over random schedules | the node's inputs and effects |
//! | `src/bin/weft.rs` | the `weft` command line (`start`, `client ...`) | clap, ureq |
//!
//! `cfg(target_arch = "wasm32")` picks the adapters: the store backend
//! ([`store`]), each target's swarm and transports ([`net`]), the loop that
//! drives the node, its store type and block checks (`node/adapters.rs`),
//! and the JS bindings.
//! Everything else is the same code on both targets and is tested natively
//! with `cargo test`; the browser tests check the adapters for real.
//!
//! The feature `net` (on by default) is the network: [`net`], [`node`],
//! `records`, and in the page WebCrypto batch verification and the
//! network's part of the JS API. Built without it (`--no-default-features`)
//! the crate is the database alone: the npm package's second entry point,
//! `weftdb/local` (`pkg/local/`, built by `.ci/test`), the same API minus
//! `peerId`, `status`, `networkStats`, `connections`, `dial`,
//! `replicators`, `collections`, the `peers`/`p2p`/`directUpgrade` options
//! (refused with `VALIDATION`) and the `peer`/`sync`/`status` events, in a
//! third of the wasm (BENCHMARKS.md, "wasm size"). Its records are the same,
//! so one database opens with either package. Like a tab of `weftdb` opened
//! without `p2p`, a tab of `weftdb/local` takes no part in "Many tabs of one
//! origin": it reads and writes the shared IndexedDB (no lost update, as
//! below), its subscribers hear its own writes only, and nothing it writes
//! is queued in a replicator's outbox (only a running node fills it).
//! `tests/browser/local.test.mjs` checks all of this.
//!
//! Every byte of the page's wasm is paid by every user (issue 11: at most
//! 900 KiB gzipped with the network, 400 KiB without; BENCHMARKS.md, "wasm
//! size"). Besides the feature `net`, what keeps it there:
//! - a page runs no Kademlia, DCUtR or relay server, and its release build
//!   compiles `tracing` out below warn (`setLogLevel` shows every level
//!   only in a debug build);
//! - crates patched in `vendor/` for size (one also for speed), each with
//!   its `WEFTDB-PATCH.md`:
//!   - libp2p-noise: no cipher or hash that `Noise_XX_25519_ChaChaPoly_SHA256`
//!     never runs;
//!   - multibase and multiaddr: no data-encoding, but one small RFC 4648
//!     codec, held to data-encoding by `tests/vendored.rs`;
//!   - curve25519-dalek: its basepoint tables are computed on first use
//!     rather than carried as 37 KB of constants. A page pays for it once,
//!     where `Database.open` derives its public key: about 0.5 ms natively,
//!     and not measurable against the spread of a fresh page's open. For
//!     speed, not size, natively: its AVX-512 IFMA backend is compiled into
//!     every x86_64 build (published, only with target features or a
//!     `--cfg` naming it) and taken at run time where the CPU has it, a
//!     block's check ~1.7× as fast as with AVX2;
//! - wasm-opt runs `-O`, then `--flatten --rereloop`, then `-O --converge`
//!   (`Cargo.toml`'s `[package.metadata.wasm-pack.profile.custom]`): 5.7 KB
//!   less gzipped than `-O` alone;
//! - the signature bench's hooks (`__verifyBlocks`, `__signedParts`,
//!   `__webcryptoJudged`) are exported only with the feature
//!   `bench-exports`, never in the package.
//!
//! ## The path of one write
//!
//! `books.update(id, { pages: 413 })` in a web page:
//! 1. `wasm::Collection::update` turns the JS object into JSON
//!    (`JSON.stringify`: `Date`s become RFC 3339 strings) and returns a
//!    promise.
//! 2. [`Db::update`] validates the patch against the collection's schema
//!    ([`core::schema::CollectionDef::validate_update`]): unknown fields,
//!    wrong types, a required field set to null are refused here, before
//!    anything is written.
//! 3. It opens one IndexedDB `readwrite` transaction over all object
//!    stores, reads the document's record (state and heads) *inside* it, and builds
//!    the block ([`core::block::Block::change`]): parents = the heads,
//!    height = 1 + their greatest height, signed with the replica's key.
//! 4. The block is folded into its document by the same rule that merges
//!    blocks from elsewhere ([`core::merge::fold`]: registers updated,
//!    heads replaced by the new block). At commit `Db` stores the block in
//!    a pack, the document's record, and its index entries, each the
//!    document as a query returns it (`Db::write_touched`). Then the transaction commits, and only then
//!    do subscribers hear of the change. The transaction's durability is
//!    the one `Database.open(name, { durability })` chose
//!    ([`store::Durability`]): by default the browser's (relaxed in
//!    Chromium and Firefox: the write survives the tab and the browser
//!    crashing, not the machine), `"strict"` to flush it to disk before the
//!    promise resolves.
//!
//! Because the heads are read and written in the writer's own transaction,
//! and IndexedDB runs overlapping `readwrite` transactions one after the
//! other, two tabs writing the same document never lose a change: the
//! second builds on the first's block. A crash before commit leaves nothing;
//! after, everything.
//!
//! With a node running (natively always; in a page opened with `peers`,
//! the leader tab's node: see "Many tabs of one origin" for a follower's),
//! the same transaction also queues the block, in the persisted `outbox`
//! table, for every replicator whose scope it is in (a [`Db::on_commit`]
//! hook: block and outbox entry commit together). Once it has committed,
//! the node's loop hears of it (its [`Db::on_commit`] hook, told again once
//! the block is durable; in a page the commit also wakes the node's task), publishes the block on gossipsub (topics
//! `weft/doc/<id>` and `weft/col/<Collection>`) and pushes the outbox to
//! each replicator's peer. In a page that is a libp2p connection to a weft
//! node over WebTransport, WebRTC-direct or WebSocket, and to other pages
//! over direct WebRTC or through the node's relay.
//!
//! On the page that receives it, the block arrives as a gossip message:
//! the node checks its signature (ed25519-dalek for a block alone;
//! WebCrypto for batches) and hands it to [`Db::import_from`]. If the
//! document is in the cache (below, "Storage layout") and the block is its
//! next change (its parents are the cached heads), the block is merged
//! into the cached document by the same rules first and the page's
//! `subscribe` callbacks hear of it at once, before any IndexedDB request
//! (`Db::tell_ahead`); then one `readwrite` transaction reads the
//! document's record and whether any block waits (one round trip: the
//! record says the parents are its heads, so no block row, pending row or
//! pack is read), merges the block again by the record, writes and
//! commits. Where the record differs from the cache (another tab's commit
//! not heard yet) the subscribers also hear the stored outcome; the other
//! tabs hear the change as the commit is asked for
//! ([`Db::subscribe_commits`], each commit's changes in one message), when
//! a read they make runs after it.
//!
//! A batch (a push of head exchange or of an outbox, a fetch's answer) is
//! imported the same way, by reads in as few round trips as its blocks
//! allow (`Db::snapshot`). Every first read also takes `waiting`'s keys,
//! whole while there are at most 16 a block of the batch (64 to 16,384):
//! a block merged while others wait looks under it for those it
//! releases, and a read there per block cost a round trip each; past
//! that, each is read as the walk comes to it. Up to 8 blocks the cache
//! does not guess ask for every row they may need at once (the records,
//! where each block and parent is stored, their `pending` rows); a larger
//! batch reads its documents' records first, and whether `pending` holds
//! anything, then only what the records leave open: a block whose height
//! is above its document's highest head cannot be stored (heights follow
//! the parents at every merge), and a parent that is a head is. A
//! catch-up's batch of new changes reads its records (and `waiting`) and
//! nothing else while nothing is pending (else also the `pending` rows of
//! its blocks and outside parents); each IndexedDB request costs ~70 µs of
//! the backend's time in a page, one after another. A batch the cache
//! guesses right (each block the next change of its cached document) reads
//! only the records and `waiting`, whatever its size. Its subscribers hear
//! one change per document the batch changed, with the document as the
//! batch leaves it ([`core::merge::changes_of`]): a backfill's batch may
//! hold many of a document's blocks, and no read sees the states between
//! them (nor a document the batch creates and deletes: not told of).
//!
//! ## The replica, its inputs and effects, and the simulator
//!
//! The node (`node/run.rs` and the files beside it) is a state machine at
//! the network's edge. A driver hands it one input at a time with the time
//! on the driver's clock (`Node::handle(input, now)`; commands and
//! deadlines come with `Node::advance(now)`), and after each it takes the
//! effects the node queued (`Node::take_effects`), carries them out in
//! order, and asks when the node is next due (`Node::next_housekeeping`,
//! from [`core::replica::Replica::next_timeout`]). Store awaits stay in the
//! node: a handler reads and writes its [`Db`] and then says what to send.
//!
//! - **Inputs** (`node::wire::Input`): a connection opened or closed, a
//!   dial failed, a listener's address came or went, a listener closed, a
//!   peer's request (named by a reply id the driver picks) or an unreadable
//!   one, the answer to our request (named by the request id the node
//!   picked) or its failure, a gossip message, a peer joining or leaving a
//!   topic, a connection whose pings fail, LAN peers found or gone, DHT
//!   providers, the DHT growing (native: a page runs no DHT), a reservation
//!   on our relay, a hole punched.
//! - **Effects** (`node::wire::Effect`): send a request, answer one,
//!   publish, subscribe, unsubscribe, judge a gossip message (forward,
//!   ignore, reject), dial a peer or an address, tell the transport an
//!   address, close a connection or all of a peer's, listen, advertise or
//!   stop advertising a topic in the DHT.
//! - What only libp2p knows stays in the driver (`node/swarm.rs`): the map
//!   from our request, reply and listener ids to libp2p's, telling DCUtR and
//!   the swarm our listen addresses, feeding identify's addresses to
//!   Kademlia (native only: a page's build has no Kademlia, and its node
//!   config asks for no discovery), and gossipsub's mesh in `stats`. The node keeps what it
//!   decides on: open connections, our listen addresses, our topics and
//!   each peer's (from inputs), so a publish that no connected peer
//!   holds is known unheard without asking gossipsub.
//!
//! **The simulator** (`src/sim`, `cargo test` only) runs N such nodes on
//! [`store::MemoryStore`] with a simulated network: every message after a
//! delay drawn from a seed (so messages overtake each other), a message
//! lost now and then (its connection resets: a lost frame kills a stream),
//! requests delivered twice (replayed pushes), gossip handed on twice (past
//! the seen-cache), links cut and healed, and replicas that restart (their
//! store kept; memory, connections and messages in flight lost). Gossip is
//! relayed as gossipsub does, once per replica and message (named by topic
//! and content, as the node's gossipsub names them), to the subscribers
//! among its connections whose subscription it has heard (one still on its
//! way misses the message), once the node accepted it. A virtual clock jumps
//! to the next event; keys, nonces and every choice come from the seed, so
//! a seed replays exactly (`a_seed_replays_exactly`). Requests also time
//! out on live connections, stores fail commits (`store::FailingStore`;
//! the replica restarts), and some replicas run a page's settings.
//! Gossipsub's subscriptions and messages keep their order per connection.
//!
//! `schedules_converge` runs random schedules (2–4 replicas on a ring of
//! links, a collection shared on topics, another carried by replicators
//! around a ring; writes, updates, deletes, cuts, heals, restarts, lossy
//! links), heals the network and runs two more virtual minutes, then
//! checks: every replica holds the same heads and documents, every outbox
//! is empty, every acknowledged write is held everywhere, every store is
//! consistent (`db::check`), every request was answered or dropped, no
//! block was pushed to a peer holding it merged after that peer
//! acknowledged it (but by a replica whose store failed since), and no
//! pending block has all its parents. `cargo test --lib sim::` runs 200 schedules in
//! seconds; `WEFT_SIM_CASES=100000` runs more, `WEFT_SIM_SEED=<n>` one
//! (a failure prints this command), and `WEFT_SIM_LOG=weftdb=debug` shows
//! every input, effect and command of a run. TESTING.md records the long
//! runs and what they found.
//!
//! ## Many tabs of one origin
//!
//! Tabs of one origin that open the same database name with `peers` (or
//! `p2p: true`) act as one peer (`node::tabs` holds the messages and each
//! tab's state machine, tested by `cargo test`, and `node/tabs/page.rs`
//! drives it with the browser's Web Lock and BroadcastChannel; `tests/browser/tabs.test.mjs` checks it in real tabs):
//! - **Leader election.** Every such tab asks for the Web Lock
//!   `weftdb:<name>` (`navigator.locks.request`, exclusive) and holds it for
//!   its life. The tab holding it, the leader, runs the node (the same
//!   `node::browser` task as a tab alone): one libp2p identity, one
//!   connection per peer for the whole origin. When the leader closes,
//!   crashes the browser releases the lock (a leader also gives it up on
//!   `pagehide` and on `freeze`, and asks again on `pageshow` from the
//!   back/forward cache or on `resume`), and the next tab in the lock's
//!   queue starts its node and dials at once (0.5–0.8 s to connected in the
//!   tests). A tab frozen or hung without a word keeps its lock, so the
//!   leader also posts `beat` every 200 ms while it hears from followers
//!   (each says `here` every 4 s it posts nothing else; a leader alone
//!   posts nothing, as each post costs its page a structured clone, most of
//!   an idle page's CPU before, and runs no timer at all: its 200 ms timer
//!   runs only while it leads followers or follows,
//!   [`node::tabs::Tab::ticking`]); a visible follower that hears
//!   none for 300 ms asks `who` (a hidden leader's timers are slowed to one
//!   a second, but it answers a message at once), and when that question
//!   goes unanswered for 500 ms more takes the lock (`steal: true`) and leads
//!   (1.5 s to connected in the tests). Never on a silence alone: a
//!   follower back from hidden or the back/forward cache sees one on its
//!   first tick, its own timers having been slowed. Hidden tabs never steal: with their own timers slowed they
//!   would take the lead from each other forever. A tab hung in the middle
//!   of an IndexedDB transaction keeps that transaction's locks too, until
//!   the browser aborts it (60 s in Chromium): the other tabs' reads and
//!   writes of those stores, the new leader's node included, wait as long.
//!   The old leader, once it runs again, finds its lock
//!   request rejected, stops its node, follows, and posts `followed`: its
//!   connection had stayed open beside the new leader's under the same peer
//!   id, and a native node kept its gossip on the old one, so the new leader
//!   restarts its node half a second later to be seen on one connection.
//! - **The channel** `weftdb:<name>` (BroadcastChannel, JSON text, one
//!   [`node::tabs::TabMessage`] each): `who` (a tab that opened asks who
//!   leads) and `leader {tab}` (the answer, and the leader's word when it
//!   takes over); `call {from, id, command}` and `reply {to, id, result}` (a
//!   follower's node command — `connections`, `dial`, `replicators.*`,
//!   `collections.*`, `networkStats` — run by the leader's node, its result or
//!   coded refusal sent back; a call not yet answered is sent again to each
//!   new leader, so one may run twice across a hand-over, which every one of
//!   these commands bears; one in flight when the leader's node stops
//!   rejects with `NETWORK`, and any call unanswered for 30 s too);
//!   `event {event, data}` (the leader's `peer`, `sync` and `status` events,
//!   for every tab's `on` listeners; the leader also answers `who` with its
//!   status as it stands, and `db.status().leader` is each tab's own); `committed {from, cids}`
//!   and `taken {to, cids}` (a follower's new blocks, see below); `changed
//!   {collection, id, kind, doc}` and `changes {changes: [{collection, id,
//!   kind, doc}]}` (after every commit in any tab); `beat {tab}`, `here
//!   {tab}` and `followed {tab}` (above).
//! - **A follower** runs no network code. Its writes commit to the shared
//!   IndexedDB like any tab's; then it posts `committed` with their CIDs and
//!   keeps them until the leader answers `taken`, posting them again to every
//!   new leader (and adopting them itself should it come to lead, keeping them until its node has). The leader
//!   reads those blocks back from the store, publishes them, writes their
//!   outbox entries for its replicators (they could not commit with the block:
//!   the replicators live in the leader's node) and pushes them. Telling the
//!   leader was chosen over the leader watching the store: IndexedDB has no
//!   change feed, so watching would mean scanning `packs` on a timer, and it
//!   could not tell a follower's new block from an old one without more state.
//!   What a lost message can leave (a follower closing between its commit and
//!   its post, with the leader gone too) the head exchange repairs: the next
//!   leader swaps heads with every peer it connects to, and a native node
//!   swaps them again for a collection when a peer joins its topic (a new
//!   leader writes at once, before either side knows the other's topics,
//!   when a publish reaches nobody). A page instead swaps heads for each
//!   document whose block it published to nobody on its collection's topic
//!   while connected (at once, then at most once a second): a leader that
//!   took the lock from a hung one connects beside the hung one's
//!   connection under the same peer id, and gossipsub tells a peer its
//!   topics on its first connection only, so that page never learns the
//!   node's and every publish of its reaches nobody until it reconnects.
//! - **Changes cross tabs**: every tab posts the changes of each commit it
//!   sees (its own writes; in the leader also every merge from the network,
//!   posted once it is written, as its commit is asked for and before it
//!   completes, [`Db::subscribe_commits`]: should the commit fail, the
//!   senders send it again and it is heard again; `Db::commit`), one per
//!   document the commit changed, with the document as the commit left it
//!   ([`core::merge::changes_of`]: a batch with ten of a document's blocks is
//!   one change, as its own tab's subscribers hear it), and every other
//!   tab hands them to its own `subscribe` callbacks. A commit's changes go
//!   in one `changes` message: a post costs the page's thread ~10–15 µs,
//!   and a catch-up's or a bulk create's commit holds a thousand; a lone
//!   change goes as `changed`. Every tab with the database open reads
//!   `changes`: IndexedDB version 4 (and later) marks the builds that do, so a tab of an
//!   earlier one gets `versionchange` and closes when this build opens the
//!   database (as for version 3, below). The document travels in
//!   the message rather than being read again from IndexedDB by each tab: a
//!   read made after a later commit would show subscribers the later state
//!   twice, and a read per notice per tab costs a transaction each.
//!   BroadcastChannel keeps one sender's messages in order, so every tab hears
//!   a document's changes in commit order.
//! - **No lost update**: a change's parents (the document's heads) and state
//!   are read inside the `readwrite` transaction that writes it, and IndexedDB
//!   runs overlapping `readwrite` transactions one after the other, so two
//!   tabs writing one document build on each other's blocks. No cache stands
//!   in the way: writes never read the cache of hot documents, which serves
//!   `get` alone and forgets what other tabs commit as they tell it
//!   ("Storage layout").
//! - **Versions**: a newer build opening the database at a higher version (or
//!   a deletion) fires `versionchange` here: the connection closes at once,
//!   the tab stops leading, `db.on("stale")` listeners are called and every
//!   later call rejects with `STALE`; opening a database a newer build
//!   upgraded rejects with `STALE` too. An open or `Database.destroy` that
//!   another connection blocks (one that ignores `versionchange`) rejects
//!   with `BLOCKED` after 3 s rather than hang (`blocked` fires for a
//!   connection still closing too, `db.close()` then `destroy` at once; it
//!   gets those 3 s to finish its transactions; a blocked deletion still happens
//!   once that connection closes; an `open` made meanwhile waits behind
//!   it with no event to tell, and rejects with `BLOCKED` after 10 s). An
//!   open that another tab's
//!   upgrade overtakes rejects with `STALE` and starts no node.
//! - **Alone**: where Web Locks or BroadcastChannel is missing, each tab runs
//!   its own node as before (then the node sees one connection per tab).
//!   `db.networkStats().tabs` says which of `"leader"`, `"follower"`,
//!   `"alone"` a tab is.
//!
//! ## Offline, and the page's status
//!
//! `db.status()` is `{ online, leader, peers, queuedBlocks, lastSync }`,
//! and `db.on("status", f)` calls `f` with it whenever one of them changes
//! (`node/status.rs`; a tab's own view, [`node::tabs::Role::status`]). `online` follows the browser's
//! `online`/`offline` events (`navigator.onLine` at start). After an
//! `offline` event the page's node closes its connections and dials nothing (no redial, no
//! relay reservation, no discovery dial): the browser has no network, and
//! a connection it still holds would be found dead only by failing pings
//! (~20 s); a connection that opens offline anyway (dialled just before
//! the event) is closed at once. Writes go on committing; a replicator's blocks wait in the
//! outbox (`queuedBlocks`: outbox entries, counted by the commit hook that
//! writes them and again from the store when a peer acknowledges some).
//! Back online, every wanted peer's backoff is forgotten and it is dialled
//! at once (peers whose connections were still closing, as soon as they
//! close: at the next housekeeping, which their closing brings due); the connection brings the head
//! exchange and the outbox push, as any connection does, and a relay's
//! reservation is asked for on the new connection at once: while the old
//! connections close it waits, rather than fail on one of them and wait
//! out a backoff. A connection lost while online is redialled
//! with the usual doubling backoff. `lastSync` is when an exchange last
//! finished (heads answered, a push acknowledged, pushed blocks merged),
//! as JS `Date.now()`. `leader` is whether this tab runs the origin's
//! node (see "Many tabs of one origin"): a follower tab shows the
//! leader's status (forwarded like `peer` and `sync`) with `leader: false`.
//! `navigator.onLine` false at start pauses nothing: a host with only
//! loopback says so for good and fires no event, while a node on the same
//! machine is reachable (`tests/browser/loopback.test.mjs`). Tests:
//! `tests/browser/status.test.mjs`, `tests/browser/demo.test.mjs`.
//!
//! ## Transports
//!
//! A native node listens on TCP and QUIC for other nodes and on WebSocket
//! (`/ws`), WebRTC-direct (`/webrtc-direct/certhash/…`, libp2p-webrtc) and
//! WebTransport (`/quic-v1/webtransport/certhash/…/certhash/…`, our server
//! on wtransport: HTTP/3 CONNECT to `/.well-known/libp2p-webtransport?type=noise`,
//! Noise over the first stream with the certificate hashes in its
//! extension, a libp2p stream per WebTransport stream; certificates valid
//! 14 days, rotated before they expire) for pages. The certificates are
//! kept in the store, so the addresses survive restarts. WebRTC-direct runs
//! on a patched libp2p-webrtc (`vendor/libp2p-webrtc`, WEFTDB-PATCH.md): it
//! serves on hosts with only loopback, and drops a connection at once when
//! the page aborts it (a page stops its node on `pagehide`, so a closed tab
//! does) or after 3.5 s without a packet from the page (a crashed or killed
//! browser): the node, ICE-lite, sends an SCTP keepalive every second that a
//! live page's browser acknowledges off the page's thread. (The keepalive
//! is a DCEP ACK on a channel id browsers ignore; a native dialer on an
//! unpatched webrtc-rs, stock rust-libp2p or a weft node built before it,
//! takes it for a new channel and then opens no streams to this node over
//! WebRTC-direct: native nodes meet over TCP and QUIC, and `vendor/libp2p-webrtc`
//! says why an SCTP HEARTBEAT, which every stack answers, was not used. A
//! weft dialer has the channel before it sends its first handshake message,
//! and its handler of the node's streams before the handshake: the node,
//! done with the handshake first, pings and opens streams at once; patch 6
//! there.) A WebTransport
//! session is ended likewise after 2.5 s without a packet, the node sending
//! QUIC keep-alives every second (Chromium closes a tab's session without a
//! word). Not met: Firefox, in about one run in four, ends a closed or
//! navigated-away page's streams but keeps its session, acknowledging the
//! keep-alives, for over a minute (TESTING.md). Tests: `tests/browser/net.test.mjs` (close, vanish and idle cases),
//! `tests/browser/interop.test.mjs` (js-libp2p tabs closed),
//! `tests/webtransport.rs` (a peer gone silent), `tests/browser/loopback.test.mjs`
//! (the `loopback-webrtc` step of `.ci/test`). Every node is a circuit
//! relay v2 server with limits sized for sync sessions, and DCUtR upgrades
//! relayed connections between nodes to direct ones. A page's
//! identity is the database's signing key, so its peer id survives reloads.
//!
//! A page dials the nodes it is given and reserves a relay slot on each
//! (`<node>/p2p-circuit`), so it is dialable at
//! `<node>/p2p-circuit/p2p/<page>`. It runs no DHT (its wasm has no
//! Kademlia, issue 11): native nodes advertise and look up their p2p
//! collections in Kademlia, and a page's peers are the nodes it is given
//! and the pages they announce. The node announces who holds a
//! reservation on the topic `weft/relay/peers`; of two pages on one node,
//! the one with the smaller peer id dials the other through it. A page
//! keeps each relay's last list: a page listed anew while we still hold a
//! connection to it is a new page under the same id (a reload), which the
//! relay had dropped: that old connection is closed at once (noticing the
//! old page gone may take seconds), and the new page dialled once it has
//! (the relay's list need not change again to say so). Over the
//! relayed connection the dialler runs `/webrtc-signaling/0.0.1` (libp2p's
//! `webrtc/webrtc.md`): SDP offer, answer and trickled ICE candidates, then
//! a direct `RTCPeerConnection` whose data channels carry libp2p streams
//! (address `<relayed>/webrtc/p2p/<id>`). No Noise runs on it: the DTLS
//! fingerprints crossed the authenticated relayed connection. Once it is
//! up the relayed connection closes (the answering page closes it 2 s
//! later if the offerer left it open, as js-libp2p does: it runs no
//! gossipsub on a relayed connection, which it counts limited); if it
//! fails, or a page opened with `directUpgrade: false`, sync stays on the
//! relay.
//!
//! ## Conformance: the specs each transport follows, and their tests
//!
//! Any libp2p client may use a node; js-libp2p (versions in TESTING.md,
//! "Interop") is checked against `weft start` in headless Chromium by
//! `tests/browser/interop.test.mjs`, for each browser transport: dial, ping,
//! identify, 20 pings, ten fresh dials, stream and connection close, a
//! closed tab, gossipsub both ways; circuit relay v2 between two js pages;
//! a js page and one of ours meeting through the relay, then over direct
//! WebRTC. Our own pages run the same transports in Chromium and Firefox
//! (`net.test.mjs`, `cross.test.mjs`).
//!
//! | transport | specs (libp2p/specs unless named) | where | tests |
//! |---|---|---|---|
//! | WebSocket | `websockets`, `noise`, `yamux`, multistream-select | libp2p (the page's libp2p-websocket-websys patched in `vendor/`: its interval watching the send buffer runs only while a write or a flush waits for it to drain, every 5 ms, not every 100 ms for the connection's life) | `interop.test.mjs` (`over websocket`), `net.test.mjs` |
//! | WebTransport | `webtransport/webtransport.md`: HTTP/3 CONNECT to `/.well-known/libp2p-webtransport?type=noise`, Noise XX on the first stream with the certhashes in its extension, that stream then finished and read to its end by both sides (never stopped: a browser still closing it fails the dial on STOP_SENDING) | [`net::webtransport`] | `tests/webtransport.rs` (handshake, certhashes, paths, rotation, the handshake stream's clean close), `interop.test.mjs` (`over webtransport`) |
//! | WebRTC-direct | `webrtc/webrtc-direct.md`, `webrtc/README.md` (framing, `FIN`/`FIN_ACK`, `RESET_STREAM`) | libp2p-webrtc (node), libp2p-webrtc-websys (page), libp2p-webrtc-utils (framing, with `FIN_ACK`), patched in `vendor/` | `interop.test.mjs` (`over webrtc-direct`), `net.test.mjs` (large messages, restarts, every exchange's data channel closed), the vendored libp2p-webrtc-utils' `fin_ack_tests` |
//! | WebRTC (browser to browser) | `webrtc/webrtc.md`: `/webrtc-signaling/0.0.1` on a relayed connection, then data channels framed as above | `net::webrtc`, [`net::signaling`] | `net.test.mjs` (finished exchanges' data channels closed), `interop.test.mjs` (a js page and ours, each offering) |
//! | circuit relay v2 | `relay/circuit-v2.md` (hop and stop), DCUtR between nodes | libp2p-relay | `interop.test.mjs` (two js pages), `tests/p2p.rs` |
//! | identify, ping | `identify`, `ping` | libp2p (identify patched: observed addresses only when IP or DNS; ping patched: an answered inbound ping's stream is read at once, so a closing peer's `FIN` is acknowledged) | `interop.test.mjs` (the agent version is `weftdb/<version> (native)` or `(browser)`) |
//! | gossipsub | `pubsub/gossipsub` v1.1 | libp2p-gossipsub, patched (`vendor/libp2p-gossipsub`): our subscriptions are sent again over the connections left when one of several to a peer closes (the published crate sends them once, on the first, and a peer's connections share one queue, so one that js-libp2p runs no gossipsub on, a relayed one, lost them); a connection's handler without a stream is woken by a message queued for it (the published one looked only when polled for something else, so a second connection to a peer waited for its next ping) | `interop.test.mjs` (a node's document reaches js, js junk refused, a valid block from js merged; gossip both ways between a js page and ours over direct WebRTC alone, whichever offers) |
//!
//! A connection whose pings fail twice in a row (a page pings every 5 s
//! and waits 5 s for each, ~20 s in all; a node every 15 s and waits
//! 10 s, ~35 s) is closed, so
//! its peer is dialled again: a browser's WebRTC connection to a node that
//! restarted is otherwise never noticed dead. The node reads WebRTC
//! messages up to the spec's 16 KiB (`vendor/webrtc-data`: webrtc-rs read
//! clones of a data channel into 8 KiB).
//!
//! ## Wire protocols (see [`core::sync`])
//!
//! - **gossipsub**: a message is one block's bytes; the receiver re-hashes
//!   them for the CID, merges, and reports the message valid or invalid to
//!   gossipsub (invalid blocks count against the sender). Missing parents
//!   are fetched by CID with `/weft/blocks/1`, from the sender first.
//!   Heartbeat (mesh upkeep, `IHAVE` gossip): every 500 ms on a native
//!   node, every 2 s in a page, where each one wakes an idle page (a
//!   page's own blocks are flooded to every peer on their topic, and a peer
//!   that subscribes joins the mesh at once while the mesh is below
//!   `mesh_n_low`, a page's usual case; else it waits for a heartbeat).
//! - **`/weft/heads/1`**: on connect (and when a replicator reconnects;
//!   when a peer joins a collection's gossip topic, for the documents that
//!   changed here since it connected, which gossip missed it for
//!   ([`core::replica::missed`]; the whole collection once a peer's 256
//!   names are spent); for the
//!   documents a push changed, with the other connected peers once the
//!   pusher's transfer is done; for documents published to nobody; and
//!   again, after a doubling backoff, when an exchange failed while the peer
//!   stayed connected; at once when the connection a request went on closed
//!   while another to the peer stays up), peers swap their heads for each shared collection; each side then sends
//!   the other exactly the blocks it lacks: directly when all the other's
//!   heads are known, else by `Offer`/`Want` of CIDs first. A peer with no
//!   schema of the collection (a relay that only routes) answers `{heads:
//!   {}, unknown: true}` (the field is absent otherwise, and older peers
//!   ignore it) and is sent nothing of it. A peer whose answer to our
//!   request holds none of the documents, and that does not hold the
//!   collection's topic (which says it has the schema), may be an older
//!   peer without it: its first push is one block, the rest waiting for
//!   its answer (a probe); what we send in answer to a peer's own heads
//!   request is never probed (it asked: it has the schema). One that
//!   refuses a push's blocks as
//!   `UNKNOWN_COLLECTION` is sent no more of the collection on that
//!   exchange, and the blocks refused or dropped count as never sent.
//!   Either is then left out of the swaps for documents published to
//!   nobody and for those a push changed, until it shows it has the
//!   collection (joins its topic, asks for its heads, answers them as
//!   known, takes a push of it) or its last connection closes; the other
//!   exchanges above still go. (Before, such a peer was pushed the whole
//!   collection at every exchange, to refuse block by block, and a page
//!   writing beside such a relay swapped heads with it every second.)
//! - **`/weft/replicate/1`**: `Push` of blocks (parents first, with how many
//!   more the pusher has queued, which a page reports as `sync` progress:
//!   pushes may be merged out of the order they were sent in, so only a
//!   push naming fewer behind it than any before moves the estimate,
//!   `core::replica::progress`),
//!   answered by `Ack` once merged durably; unacknowledged pushes stay in
//!   the outbox and are retried with backoff, across restarts of either side.
//!   A push is taken block by block: `Ack {merged, refused: [{cid, code,
//!   reason}]}` (`refused` absent when empty, so older peers read it), and
//!   the pusher moves refused blocks out of its outbox into a list
//!   (`replicators.list()` → `refused`; meta keys
//!   `refused/<peer>/<collection>/<cid>`), so one block the peer will never
//!   take holds up nothing behind it. Head exchange and each replicator's
//!   outbox keep up to three pushes in flight to a peer (each `Ack`
//!   answers its own request; the outbox's next batch leaves out the blocks
//!   in flight, and a failed push's go again after the backoff or once
//!   another push is answered). A request whose connection closed under
//!   it while the peer stays connected on another goes again there at
//!   once: request-response spreads a peer's requests over its
//!   connections, and the relayed one closes once the direct one is up.
//!   A push of head exchange goes again with the same blocks under its
//!   ticket, so the lane's window holds (it may now arrive after later
//!   batches, as pushes in flight may anyway); an outbox's push's blocks
//!   are owed again with no backoff. Not to a peer being dropped, nor while
//!   offline. With several in flight,
//!   pushes may arrive out of order: a child before its parent waits in the
//!   receiver's pending blocks. A native receiver verifies a push's blocks
//!   on its verifying threads (one per core, chunks of 128 blocks taken in
//!   the order the pushes came, so the oldest is checked first on every
//!   core; a fetched batch of more than 128 blocks too, after them, the
//!   node waiting for it; a chunk's signatures checked together by dalek's
//!   rule, with one field inversion for all: `Unverified::verify_all`)
//!   while its node thread merges the one before; its
//!   connections run on a worker thread of their own, so they write the
//!   answers given before a merge and read the next pushes during it (redb
//!   holds the node's thread), and after a merge the node first takes up to
//!   8 swarm events (a push that came goes to the verifying threads) before
//!   it merges the next push (a
//!   page: WebCrypto in the page's worker, made as the node starts, checks
//!   the next pushes while it merges one; the page's driver keeps polling
//!   the swarm during a merge, holds up to 8 inputs that come for the node
//!   to take after it, and begins the check of up to two pushes among them
//!   at once, if they are the merged peer's and of at most 1,024 blocks), and
//!   merges and answers pushes in the order they came, a peer's pushes
//!   checked meanwhile in the same transaction (up to four).
//!
//! - **`/webrtc-signaling/0.0.1`** (pages): protobuf messages, uvarint
//!   length-prefixed, at most 64 KiB each, at most 64 ICE candidates, 15 s
//!   for the whole handshake, 8 answered at once ([`net::signaling`]).
//! - **WebRTC streams** (WebRTC-direct both ways, and pages' direct WebRTC):
//!   one data channel per stream, framed as libp2p's `webrtc/README.md` says
//!   by libp2p-webrtc-utils, which we carry patched
//!   (`vendor/libp2p-webrtc-utils`, its `WEFTDB-PATCH.md`) for the spec's
//!   `FIN`/`FIN_ACK`: on a stream we opened a `FIN` is answered by
//!   `FIN_ACK` at once; on one the remote opened, once our own write half
//!   is closed (at once if it was, else after our `FIN`: peers on the
//!   unpatched crate fail a read on the flag, and an opener reads the
//!   answer after its own `FIN`; no answerer reads after its `FIN`). A
//!   stream's drop listener, polled by the connection, takes in the
//!   remote's messages while nobody reads the stream (data waits for the
//!   reader, one message at a time), so a `FIN` on a stream a protocol only
//!   writes to (gossipsub's outbound stream, ping's between pings) is
//!   acknowledged too: js-libp2p's connection `close()` sends `FIN` on every
//!   stream and waits (1 s in all) for each `FIN_ACK` before it closes the
//!   peer connection (`close()` now takes 4 to 71 ms, median 6, and the
//!   node has dropped the connection 9 to 87 ms after it began; before,
//!   `close()` failed after 1 s and the node kept the connection ~10 s). A dropped stream's data channel is closed once
//!   both `FIN`s are acknowledged, or after 5 s. A close does not wait for
//!   its `FIN_ACK`. js-libp2p waits for it on every stream it closes: a
//!   ping or identify from js over WebRTC-direct took 5 to 10 s without it,
//!   a few ms with it. `vendor/libp2p-ping` polls an inbound ping's stream
//!   at once after answering it, so its `FIN` is read (and acknowledged)
//!   then.
//!   Proved by the vendored crate's `fin_ack_tests` and, end to end, by
//!   `tests/browser/net.test.mjs` ("every exchange closes its streams" over
//!   WebRTC-direct, "finished exchanges close their data channels" between
//!   pages) and `interop.test.mjs` ("a closed connection leaves the node
//!   within 5 s" over WebRTC-direct).
//! - **`weft/relay/peers`** (gossipsub, node → pages): a DAG-CBOR
//!   [`core::sync::PeerAnnouncement`] of at most 1,024 peer ids, taken only
//!   from a relay the page holds a reservation on, and never forwarded.
//!
//! Every weft message is DAG-CBOR, read to at most 8 MiB, and every block in it
//! is verified (size, canonical encoding, CID, signature, schema, policy,
//! height) before it is merged; each block is taken or refused on its own
//! ([`db::Refusal`]). A page checks the signatures of a batch of blocks
//! with the browser's WebCrypto Ed25519 (1.6× faster than ed25519-dalek in
//! wasm), in a worker of the page's (Chromium checks within the call, on
//! the caller's thread), but only those on which every
//! cofactorless verifier agrees with dalek's `verify`, our rule; dalek
//! judges the rest, and lone blocks (`node::webcrypto`). Only refusals that no honest peer causes
//! (`BLOCK_INVALID`: undecodable, not canonical, a bad signature, CID or
//! height) count against the sender (`p2p stats` → `invalid`); a schema or
//! policy that differs between replicas (`VALIDATION`, `UNKNOWN_COLLECTION`,
//! `UNAUTHORIZED`) is counted (`refused`) and the block dropped, never
//! stored, served or forwarded. A peer that sends three messages with
//! invalid blocks or unreadable messages (or floods requests far over its
//! rate) within ten minutes of each other is disconnected and its
//! connections are refused for ten minutes, in a page as natively;
//! reconnecting forgets no strike. Gossip messages are anonymous (no
//! gossipsub signature): a block is signed by its author, and where the
//! sender matters the node goes by the authenticated connection the
//! message came on.
//!
//! Blocks waiting for missing parents are checked as far as they can be
//! without them (shape, signature, schema, a writers list, an owner policy
//! when the document's genesis is here) before they are stored in
//! `pending`, and booked to the peer that sent them ([`core::pending`]): at
//! most 4,096 blocks or 32 MiB per peer and 16,384 blocks or 128 MiB in all
//! (`NodeConfig::pending`); past a cap the oldest go first, the sender's
//! own when it is over its share, else those of the peer holding the most
//! (`pendingDropped`). A pending block that turns out refused when its
//! parents come is dropped (`ImportReport::dropped`, `pendingDropped`) and
//! held against no one: whoever brought the parent did nothing wrong.
//! Pending blocks whose parents no connected peer has (each asked in turn,
//! [`core::replica::fetch`]) are dropped too (`orphansDropped`).
//!
//! **What is shared with whom** (`node/share.rs`): a peer gets a block of
//! ours (served, pushed, offered) only if we share its document with that
//! peer: its collection is a p2p collection here, or we have a replicator
//! to that peer covering it, or both of us hold the document's gossip
//! topic. Local blocks are published on their document's topic, and on
//! their collection's only for a p2p collection. A `HeadsRequest` for a
//! collection we do not share with the peer (it may have a replicator to
//! us) is answered with our heads of the documents it names, and nothing
//! is pushed back; `Offer`s are answered for any collection (they are the
//! peer's blocks coming in).
//!
//! **Limits** (per peer unless stated; over a limit a request is dropped
//! or refused and counted in `p2p stats`):
//!
//! | limit | value | counted as |
//! |---|---|---|
//! | message size ([`core::sync::MAX_MESSAGE_BYTES`]) | 8 MiB | `oversized`, a strike |
//! | CIDs, blocks per message ([`core::sync::MAX_CIDS`]) / heads ([`core::sync::MAX_HEADS`]) | 4,096 / 200,000 | `decodeErrors`, a strike |
//! | a `BlocksRequest`'s answer | each CID once, read one block at a time up to 8 MiB − 64 KiB or 1,024 blocks; the requester asks the same peer for the rest | `served` |
//! | a whole request to arrive ([`net::REQUEST_TIMEOUT`]) | 30 s, then the stream is dropped | `stalled` |
//! | inbound streams open at once ([`net::MAX_STREAMS_PER_CONNECTION`]) | 64 per connection and protocol; more are dropped unread | |
//! | connections ([`net::MAX_CONNECTIONS_PER_PEER`]) | 8 | |
//! | requests on the weft protocols ([`core::replica::conduct::TokenBucket`]) | 1,000 at once, then 250 per second | `rateLimited`; a strike per 250 refused before its allowance is full again |
//! | strikes ([`core::replica::conduct::MAX_STRIKES`]) | 3 within 10 minutes of each other, then a 10-minute ban | `peersDropped` |
//! | peers whose strikes, bans, request allowances are kept ([`core::replica::conduct::MAX_CONDUCT_ENTRIES`]) | 4,096 each (oldest forgotten first) | |
//! | blocks a head exchange lane remembers sending to a peer, or the peer acknowledging ([`core::replica::push::SENT_REMEMBERED`]) | 65,536 per connected peer while its lane is idle (the first queued forgotten first; one forgotten is at worst pushed once more and answered as a replay); a busy lane has room besides for every block queued or in flight (their bytes are held meanwhile anyway), at most twice that; the memory is taken as blocks are queued, not at once | `replayed` on the receiver |
//! | gossipsub topics a peer holds, and names in one message ([`net::MAX_PEER_TOPICS`]) | 4,096 (a node holds at most [`net::MAX_DOC_TOPICS`], 2,048, documents' topics), each at most [`net::MAX_TOPIC_BYTES`], 256 bytes (a longer one is not taken; a collection whose name makes one is not gossiped, head exchange still carries it); a message naming more is ignored whole; a message's control part (subscriptions, `IHAVE`...) is read to at most 400 KB, past which the stream is dropped | |
//! | documents changed while a peer had not yet joined their collection's topic ([`core::replica::missed::KEPT`]) | 256 per connected peer, all collections together; past it the collection with the most loses its names and is swapped whole | |
//! | relay reservations ([`net::RelayLimits`]) | 4 per peer, 1,024 in all | |
//! | relayed circuits | 16 per peer, 256 in all, 24 h each | |
//! | a block replayed (merged lately, or twice in one push) | no database transaction | `replayed` |
//! | blocks, head exchanges of what is not shared | refused | `withheld` |
//! | blocks pending their parents ([`core::pending::PendingLimits`]) | 4,096 or 32 MiB per peer, 16,384 or 128 MiB in all; oldest dropped first | `pendingDropped` |
//!
//! The hostile-peer suite (`tests/hostile.rs`) runs every class at once in
//! one process, a debug build with two nodes per class, and holds its peak
//! resident memory under 512 MiB (measured: about 260 MiB).
//!
//! ## Blocks and documents
//!
//! The format is written down in [`core::block`]. A document's id is the
//! CID (base32 CIDv1 string) of its genesis block, which carries an 8-byte
//! random nonce, so ids are unique, stable, and checkable by anyone holding
//! the genesis. Later blocks name the genesis in `doc`.
//!
//! A field's value is the one written by the block with the greatest
//! `(height, CID)` that set it; a delete is a tombstone block, and a
//! tombstone wins over every update (see [`core::doc`]). Height, not
//! time: a change made on a replica that has not merged a peer's later
//! changes yet is concurrent with them, and loses a field to any of greater
//! height, though made after them. The state is a
//! function of the *set* of blocks, so replicas that hold the same blocks
//! show the same document, whatever the order or repetition of delivery.
//!
//! A block from elsewhere ([`Db::import`], [`Db::merge`]) is checked before
//! it touches anything: size, canonical bytes (a signed block has exactly
//! one encoding, so one CID), CID (re-hashed from its bytes), signature,
//! shape (at most 1,024 parents; a change sets a field or deletes); then its
//! fields against the schema (values nested at most
//! [`core::schema::MAX_VALUE_DEPTH`] = 64 deep) and the collection's write
//! policy; then, inside the transaction, its height against its parents'
//! (these rules, and those below, are [`core::merge`]'s).
//! A block whose parents are missing is kept in `pending` (and a `waiting`
//! entry per missing parent) and merged the moment the last parent
//! arrives, so no document shows a state with a hole in its history. An
//! import merges every block it can and returns a [`db::Refusal`] (CID,
//! code, message) for each of the others. A child of a refused block can
//! never merge, so it is refused with it: in the same import whatever the
//! order, from `pending`, and in later imports while the database
//! remembers the refusal (the last 4,096, in memory).
//!
//! A local write obeys the same rules, so it never makes a block a peer
//! with the same schema would refuse: a document whose block would pass
//! 1 MiB, or a value nested too deep (lists of JSON included), is a
//! `VALIDATION` error; a write on a document with more than
//! 1,024 heads names the 1,024 highest (the rest stay heads, merged by the
//! next write); a write the policy refuses fails with `UNAUTHORIZED` before
//! any block is made.
//!
//! ## Write policies
//!
//! A collection says who may write it in its SDL, and every replica
//! enforces it on every path, its own writes and every block from
//! elsewhere (gossip, fetch, push, head exchange, `importBlocks`):
//! - no `@policy`: any key;
//! - `@policy(writers: "owner")`: anyone creates; only the key that signed
//!   a document's genesis changes or deletes it (the state keeps that key,
//!   `owner`, for such collections);
//! - `@policy(writers: ["<ed25519 public key, 64 hex digits>", ...])`: only
//!   these keys create, change or delete. A replica's key is `db.authorKey`
//!   in a page and `authorKey` in `weft client p2p info`.
//!
//! What a policy stops: a key outside it changing what others see on any
//! replica that has the policy. Those replicas never merge, serve or
//! push such a block, so honest replicas converge on the writers' blocks
//! alone. (A change whose document's genesis a replica does not hold yet
//! cannot be judged under an owner policy: it waits in `pending`, is not
//! forwarded by gossip, and is dropped when the genesis comes if the policy
//! refuses it.) What it cannot stop: a replica whose schema lacks the policy (an
//! older app, a hostile peer) writing for itself and its like-minded peers;
//! anyone reading (blocks are signed, not encrypted); a writer whose key is
//! stolen; a listed writer vandalising; and it is fixed when the
//! collection is added (schemas cannot change yet), so a key is removed
//! only by a new collection.
//!
//! ## Storage layout
//!
//! Layout 5 (`db::layout`; `meta`'s `layout` = 5; IndexedDB version 6). One database is ordered
//! byte-keyed tables ([`store::Table`]); IndexedDB's cost is per request, so
//! a new document costs one record, as in raw IndexedDB, plus one per
//! `@index` field, plus its share of a pack (layout 1: four and more):
//!
//! | table (IndexedDB object store) | key → value | secondary keys |
//! | --- | --- | --- |
//! | `documents` | collection `\0` id → the document record: DAG-CBOR `[id, state, heads]` (field registers; heads with heights) | |
//! | `entries` | collection `\0` field `\0` [`core::query::encode_index_value`] ‖ id, one per `@index` field of a visible document → the document as a query returns it, JSON text `{"_id": …, field: value, …}` (no null fields; in IndexedDB a string): a covering index, so a query is one range read | |
//! | `packs` | SHA-256 of its CIDs → blocks stored by one transaction (at most 128 or 64 KiB a pack; a transaction writes as many packs as it needs), each as u32-LE length, CID, u32-LE length, block | its blocks' CIDs |
//! | `meta` | name → a value: `schema/<collection>` → the collection's schema as JSON with its `policy`; `signing-key` → the signing key's 32-byte seed followed by the layout (5), which sorts just after the schemas, so an open reads all of them and the key in one range read (`db::open_range`; no other key may sort among them: a commit hook's row there is refused); `layout` → the layout; a node's replicators, p2p collections and the blocks replicators' peers refused (`records`) | |
//! | `pending` | CID → a verified block whose parents are not all here | |
//! | `waiting` | missing parent CID ‖ child CID → nothing | |
//! | `outbox` | replicator peer id ‖ `0` ‖ height (8 bytes, big-endian) ‖ CID → height and collection: a peer's rows in the order it is sent them, parents first, so a batch reads the front of its queue, not all of it (`records`) | |
//!
//! Secondary keys are kept by the store with the record, in the same
//! transaction: IndexedDB keeps them in an index `by` of the object store
//! (records there are `{v, k}`: the value and the list of keys, the index
//! `multiEntry` over `k`), written by its own backend, with no request of
//! ours per key; redb and the memory store keep them in a companion table
//! (`packs_by`: CID → pack key) that `Tx::put_keyed` writes. A block is
//! found by CID through its pack's key, each pack read once per
//! transaction; a block alone in its pack (a local change) also by the
//! pack's key, the hash of its CID, in one request. Head exchange walks
//! the graphs of the documents a peer lacks together (2,048 at a time, each
//! alone should that fail), a level per batch of reads: down from our heads,
//! and below the peer's heads only as deep as the heights our walk reaches
//! (a block below a head has a smaller height than it), so a peer one change
//! behind costs a read or two whatever the history. It reads every
//! pack first when the walk would read at least 256 blocks (our heads'
//! heights less the peer's) and the store has at most two packs for each
//! (at most 8 MiB of them). A walk holds every
//! pack it read until it ends: its memory is bounded by the 2,048
//! documents' histories, not by bytes (open). (IndexedDB's own index over the document records'
//! index entries was measured for queries too: its `getAll` fetches each
//! record by key, 2–4 times the time of the covering range read for 100
//! documents, so `entries` stays.) A query whose filter is one `_eq` (or
//! an `_in` of one value) on an indexed field, with no order, is exactly
//! the entries of one range, in `_id` order as `find` returns it
//! ([`Db::exact_find`]): in a page one `getAll` of those strings and one
//! `JSON.parse` of them joined, made in JS with no call back into wasm
//! (`IdbStore::find_exact`); [`Db::find_text`] joins them as they are for
//! a caller that wants the JSON text (the tests hold it to `find`). Any
//! other query parses each entry it reads and checks it against the
//! filter, except a document whose entry holds a number that is not an
//! integer: that one is read from its record, since the page's serde_json
//! (built without `float_roundtrip`, which would cost the page ~11 KB
//! gzipped; native builds have it) may read a shortest-form double back
//! one ULP off. (A page's input does not go by that parse for its doubles:
//! `wasm::from_js` takes each from JS as it is.) An entry keeps a JSON
//! field's object keys in the order its writer gave them; a read of the
//! record gives them in DAG-CBOR's order (shorter first, then bytewise), as
//! a `get` after a reopen or from another tab does: JSON objects are
//! unordered, and a caller must not rely on their key order (open: one
//! order everywhere would cost the page ~0.3 KB that it does not have). The keys of the node's records and of the outbox are
//! written down in `src/records.rs`. Opening a database reads only `meta`, in
//! one request (the range above), so it
//! costs the same at 100 documents as at 100,000 (but the first open of a
//! database of an earlier layout, below).
//!
//! **What is cached in memory** between transactions: the schemas (another
//! tab may only add schemas, which a miss reloads), the blocks refused
//! lately, the blocks this handle committed lately (`db::recent`: up to 4
//! MiB counted with 128 bytes of cost each, the oldest dropped first; a
//! head exchange's walk for a peer takes them from memory, and weighs the
//! reads it expects by the share of its blocks not found there before it
//! reads every pack; never stale, as a block never changes under its CID
//! and none is deleted; another tab's blocks are read from the store), and
//! hot documents (`db::cache`): the state and heads of the
//! documents this handle read or wrote lately, up to about 8 MiB of memory
//! (some 10,000 small documents), least recently used dropped first. A `get` (and `heads`) of a cached document
//! reads nothing. What the cache may assume:
//! - Every other handle on the database tells this one which documents it
//!   commits ([`store::Notices`]: in a page the BroadcastChannel
//!   `weftdb-docs:<name>`, which reaches every other connection of the
//!   origin, local databases' and followers' alike; between clones of a
//!   memory store, at once). A notice is an array of `documents` keys, or
//!   `null` ("forget everything", for a commit of more than 256
//!   documents); IndexedDB's is posted as the commit begins, just after
//!   the page asks for it, so the post overlaps the flush (a read
//!   transaction made after a `readwrite` one over the same records runs
//!   after it, so a tab that heard and then reads sees the commit: one
//!   post per commit), a memory store's once it is done. The cache forgets
//!   what it hears before each lookup, and keeps no
//!   record read from the store while a notice arrived or while this handle
//!   committed (it may be older than the notice).
//! - A page makes one channel per database name, shared by its handles
//!   (a post reaches this page's other handles directly and at once: a
//!   channel does not hear itself) and kept 5 s after the last one closes.
//!   Making one takes the page's thread ~0.15 ms and holds back the
//!   IndexedDB requests in flight about as long, a tenth of a reopen and
//!   its first `get`. So a reopen finds it made, and a handle of a database
//!   whose channel the page does not have joins it when it first needs it:
//!   in a task just after a read of its that the cache would keep (its
//!   first `get` that missed), or as any write transaction of the database
//!   begins in the page (a commit of another tab ordered after it must be
//!   heard for its own documents to be kept), not as it opens. Until a
//!   handle listens it keeps nothing, and starting to listen counts as a
//!   notice: a read begun before is not kept. (The browser registers a new
//!   channel a moment after it is made; a notice posted in that moment
//!   would not reach it. No write that could make a kept record stale
//!   posts so early: a change or a merge reads the document's record in
//!   its own write transaction before it commits, so after any read of it
//!   begun before, and a create writes documents no one has read.)
//! - So a tab sees another tab's commit once the notice arrives, at the
//!   latest just after that commit: in between, a `get` may return the
//!   document as it stood just before it, as a `get` made a moment earlier
//!   would. Two `get`s of different documents are two reads either way,
//!   not one snapshot.
//! - Writes never go by the cache: a change reads its document's record
//!   inside its own write transaction (no lost update, above), and so does
//!   a merge. The cache only guesses which reads a merge needs (the
//!   record, read anyway, confirms the guess or the rest is read after
//!   it), and lets a peer's next change of a cached document be told to
//!   this handle's subscribers before its transaction: the merged document
//!   is kept in the cache (`Cache::provisional`) until the commit, and
//!   forgotten if the merge fails; until then no other merge is told ahead
//!   on top of it. Queries read `entries`. A commit of this
//!   handle first forgets the documents it writes (subscribers hear a
//!   merge before its commit completes), then keeps them once committed; a
//!   failed commit keeps nothing.
//! - Every build with a cache tells: IndexedDB version 3 (and later) marks them, so a
//!   tab of an earlier build (which would write without telling) gets
//!   `versionchange` and closes when this build opens the database.
//! - Natively (redb) one process owns the file and the store gives no
//!   notices, so the node keeps no cache; nor does a page without
//!   BroadcastChannel.
//!
//! Layout 4 (IndexedDB version 6, 2026-12-05 to 2026-12-07) was layout 5
//! but for the signing key's record, the seed alone: an open read the key,
//! the layout and the schemas in three requests, ~0.2 ms more of a reopen
//! in Chromium (BENCHMARKS.md, "Reopen: one read of `meta`"). Layout 5
//! keeps IndexedDB version 6, so a tab of layout 4 open on the database is
//! not closed: it reads the key's record only as it opens, and everything
//! it writes (documents, packs, entries, the outbox, schemas) is in layout
//! 5's form; a new open by a layout-4 build finds `layout` 5 and refuses
//! the database (`STALE`).
//! Layout 3 (IndexedDB version 5, 2026-12-04 to 2026-12-05) was layout 4
//! but for the outbox, whose rows were keyed peer `\0` CID: each batch read,
//! decoded and sorted the peer's whole queue (0.1 s a batch at 200,000
//! rows natively). Layout 2 (IndexedDB versions 2, 3 and 4, 2026-12-02 to
//! 2026-12-04; 3 and 4 only marked builds whose tabs speak to each other as
//! above) was layout 3 but for `entries`, whose values were the document
//! record (DAG-CBOR, as in `documents`), decoded by every query. Layout 1
//! (IndexedDB version 1; before 2026-12-02) had a record per block
//! (`blocks`), per document's heads (`heads`) and state (`docs`), and per
//! index entry (`index`, which carried the document). The first open by
//! this build moves any of them into layout 5 in one transaction
//! (`db::layout::migrate`: layout 1's blocks into packs and its documents
//! into records, then every index entry made anew from the records; every
//! outbox row keyed anew with its height; the signing key's record written
//! anew, the one change from layout 4), tested with stores the layout-1,
//! layout-2, layout-3 and layout-4 code wrote (`tests/layout.rs`,
//! `db::layout`'s tests, `tests/browser/layout.test.mjs`, at IndexedDB
//! versions 1, 3, 4, 5 and 6), and empties layout 1's tables (IndexedDB
//! keeps their empty object stores). A tab of a build before version 6
//! open on the database gets `versionchange` and closes (it would write
//! layout 2's entries, or layout 3's outbox keys). Data written before write
//! policies opens as it is: a schema without `policy` is open to anyone, a
//! state without `owner` belongs to such a collection.
//!
//! ## The local HTTP API
//!
//! A native node serves `/api/v0/...` (`node::api`, native only) for
//! `weft client`, on `127.0.0.1:9181` by default. It has no accounts; what
//! it keeps out is the web pages of the operator's browser. It answers only
//! requests whose `Host` names the address it listens on (no DNS
//! rebinding), whose `Origin`, if they carry one, is in the node's allowed
//! origins (`--allowed-origins`, none by default; CORS for those alone),
//! and whose writes carry `Content-Type: application/json`
//! (`application/graphql` for the schema's SDL), which no HTML form nor
//! CORS-simple request can send. Refusals: 403 `HOST_NOT_ALLOWED`, 403
//! `ORIGIN_NOT_ALLOWED`, 415 `UNSUPPORTED_MEDIA_TYPE`.
//!
//! ## Errors
//!
//! [`Error`] has one variant per kind of failure and a stable
//! [`Error::code`]: `SCHEMA_INVALID`, `VALIDATION`, `UNKNOWN_COLLECTION`,
//! `NOT_FOUND`, `BLOCK_INVALID`, `UNAUTHORIZED` (a write policy), `STORAGE`, and in a page `STALE`
//! and `BLOCKED` ("Many tabs of one origin", Versions). In JS every rejection is an
//! `Error` with that `code` property.

pub mod core;
mod dag;
pub mod db;
pub mod error;
#[cfg(feature = "net")] // the node's records (replicators, outbox, certificates)
mod records;
pub mod store;

// The network (feature `net`, on by default): without it, the database
// alone, as the page's `weftdb/local` package is built.
#[cfg(feature = "net")]
pub mod net;
#[cfg(feature = "net")]
pub mod node;
#[cfg(all(test, feature = "net", not(target_arch = "wasm32")))]
mod sim;

pub use db::{Change, ChangeKind, Db, ImportReport, Merged};
pub use error::Error;

#[cfg(target_arch = "wasm32")]
mod wasm;
#[cfg(all(target_arch = "wasm32", feature = "net"))]
#[doc(hidden)]
pub use wasm::{signed_parts, verify_blocks, webcrypto_judged};
#[cfg(target_arch = "wasm32")]
pub use wasm::{Collection, Database};
