//! The simulated network and the replicas on it (see the module docs).

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use cid::Cid;
use futures::executor::block_on;
use libp2p::gossipsub::{MessageAcceptance, MessageId};
use libp2p::multiaddr::Protocol;
use libp2p::swarm::ConnectionId;
use libp2p::{Multiaddr, PeerId};

use crate::core::block::cid_of;
use crate::core::sync::{ReplicateRequest, ReplicateResponse};
use crate::db::Db;
use crate::node::run::{keypair_of, Clock, Node};
use crate::node::wire::{Effect, Failure, Input, ReplyId, ReqId, Request, Response};
use crate::node::{Command, NodeConfig};
use crate::store::{FailingStore, MemoryStore, Mode, Store, Table, Tx};

/// A replica's store: in memory, failing a commit when the schedule says.
pub(crate) type SimStore = FailingStore<MemoryStore>;

/// A small, fast generator, so that a seed means the same schedule on
/// every machine and every version of `rand`.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// SplitMix64.
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// True with probability `p`.
    pub(crate) fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p && p > 0.0
    }
}

/// What goes wrong on the network, as probabilities per message.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Faults {
    /// A message lost: its connection resets.
    pub lose: f64,
    /// A request delivered twice, or a gossip message handed on twice.
    pub duplicate: f64,
    /// A request that times out on a live connection: delivered or not,
    /// its answer never comes, and the asker hears it failed.
    pub stall: f64,
    /// The longest delay of one message, in ms (the shortest is 1 ms).
    pub max_delay_ms: u64,
}

impl Faults {
    pub(crate) const NONE: Faults = Faults { lose: 0.0, duplicate: 0.0, stall: 0.0, max_delay_ms: 5 };
}

/// How the replicas are set up.
#[derive(Debug, Clone)]
pub(crate) struct SimConfig {
    pub replicas: usize,
    pub schema: String,
    /// Collections every replica shares on their topics.
    pub p2p: Vec<String>,
    /// `(from, to, collection)`: replicators, each a replica's outbox to another.
    pub replicators: Vec<(usize, usize, String)>,
    /// `(a, b)`: replica `a` keeps `b` connected (bootstrap).
    pub links: Vec<(usize, usize)>,
    /// Replicas configured as a page's node is (`NodeConfig::page`'s
    /// replication settings).
    pub pages: Vec<usize>,
}

enum Event {
    /// An input for a replica's incarnation, over a connection (dropped if
    /// that connection has closed since).
    Deliver { to: usize, life: u64, conn: Option<u64>, input: Input },
    /// A replica's next housekeeping.
    Wake { to: usize, life: u64 },
    /// A dial from `from` reaches `to`.
    Establish { from: usize, to: usize, life: u64 },
    /// The answer to request `key` (responder, reply) reaches its asker.
    Answer { key: (usize, ReplyId), input: Input },
}

struct Connection {
    a: usize,
    b: usize,
}

/// A request delivered to `responder`, whose answer goes back to `asker`
/// (`None`: a copy the network made, whose answer nobody waits for).
struct Outstanding {
    asker: Option<(usize, ReqId)>,
    conn: u64,
    pushed: Vec<Cid>,
    /// The CIDs the answer acknowledges, once it is on its way.
    acks: Option<Vec<Cid>>,
}

pub(crate) struct Replica {
    pub store: SimStore,
    pub db: Rc<Db<SimStore>>,
    pub node: Option<Node<SimStore>>,
    /// Failed commits the simulator has restarted the replica for.
    failed_seen: u64,
    pub peer: PeerId,
    config: NodeConfig,
    /// Restarts so far: messages for an earlier life are lost.
    life: u64,
    wake_at: Option<Duration>,
    /// Gossip message ids seen (gossipsub's duplicate cache).
    seen: BTreeSet<MessageId>,
    /// Gossip awaiting the node's judgement: topic and data, to pass on.
    judging: BTreeMap<MessageId, (String, Vec<u8>)>,
    /// Topics the node holds (as its gossipsub would tell peers).
    topics: BTreeSet<String>,
    /// `(replica, topic)`: the subscriptions of its connected peers it
    /// has been told of. Gossipsub publishes and passes on only to those,
    /// so a subscription still on its way misses what is sent meanwhile.
    heard: BTreeSet<(usize, String)>,
}

/// What the simulator saw that a property forbids.
#[derive(Debug, Default)]
pub(crate) struct Observed {
    /// `(pusher, receiver, cid)`: a block pushed again after the receiver acknowledged it.
    pub pushed_after_ack: Vec<(usize, usize, Cid)>,
    /// Requests a node neither answered nor dropped.
    pub unanswered: u64,
    pub messages: u64,
}

pub(crate) struct Sim {
    pub rng: Rng,
    pub now: Duration,
    pub faults: Faults,
    pub replicas: Vec<Replica>,
    pub observed: Observed,
    /// Blocks of local writes whose command answered Ok: what no replica
    /// may lose.
    pub written: Vec<Cid>,
    seq: u64,
    queue: BTreeMap<(Duration, u64), Event>,
    conns: BTreeMap<u64, Connection>,
    next_conn: u64,
    cut: BTreeSet<(usize, usize)>,
    outstanding: BTreeMap<(usize, ReplyId), Outstanding>,
    next_reply: u64,
    /// When the last gossip delivery on a connection to a replica lands
    /// (gossipsub's stream is ordered).
    gossip_order: BTreeMap<(u64, usize), Duration>,
    /// `(pusher, receiver)` → CIDs the receiver acknowledged.
    acked: BTreeMap<(usize, usize), HashSet<Cid>>,
    /// `(to, from)`: subscriptions (and unsubscriptions, in their order) of
    /// `from` held back from `to` (a test's knob: a subscription that
    /// arrives late), and those held so far.
    hold: Option<(usize, usize)>,
    held: Vec<(u64, Input)>,
}

/// The simulated address of replica `i`.
pub(crate) fn addr_of(i: usize) -> Multiaddr {
    Multiaddr::empty().with(Protocol::Memory(i as u64 + 1))
}

fn index_of(addr: &Multiaddr) -> Option<usize> {
    addr.iter().find_map(|p| match p {
        Protocol::Memory(n) => (n as usize).checked_sub(1),
        _ => None,
    })
}

fn pushed_cids(request: &Request) -> Vec<Cid> {
    match request {
        Request::Replicate(ReplicateRequest::Push { blocks, .. }) => blocks.iter().map(|b| cid_of(b)).collect(),
        _ => Vec::new(),
    }
}

impl Sim {
    /// Replicas with the schema, the p2p collections and the replicators
    /// of `config`, connected as its links say.
    pub(crate) fn new(seed: u64, faults: Faults, config: &SimConfig) -> Sim {
        let mut sim = Sim {
            rng: Rng::new(seed),
            now: Duration::ZERO,
            faults,
            replicas: Vec::new(),
            observed: Observed::default(),
            written: Vec::new(),
            seq: 0,
            queue: BTreeMap::new(),
            conns: BTreeMap::new(),
            next_conn: 0,
            cut: BTreeSet::new(),
            outstanding: BTreeMap::new(),
            next_reply: 0,
            gossip_order: BTreeMap::new(),
            acked: BTreeMap::new(),
            hold: None,
            held: Vec::new(),
        };
        crate::db::set_nonces(Some(seed.wrapping_mul(1 << 20)));
        let stores: Vec<SimStore> = (0..config.replicas).map(|_| sim.seeded_store()).collect();
        let dbs: Vec<Rc<Db<SimStore>>> = stores
            .iter()
            .map(|s| {
                let db = Rc::new(block_on(Db::open(s.clone())).expect("a database"));
                block_on(db.add_schema(&config.schema)).expect("the schema");
                db
            })
            .collect();
        let peers: Vec<PeerId> = dbs.iter().map(|db| keypair_of(db).public().to_peer_id()).collect();
        for (i, (store, db)) in stores.into_iter().zip(dbs).enumerate() {
            let mut node_config = NodeConfig::loopback("");
            node_config.listen = Vec::new();
            node_config.discovery = false;
            // A page's settings: unheard publishes repaired by head
            // exchange.
            if config.pages.contains(&i) {
                node_config.repair_unheard = true;
            }
            node_config.peers = config
                .links
                .iter()
                .filter(|(a, _)| *a == i)
                .map(|(_, b)| addr_of(*b).with(Protocol::P2p(peers[*b])))
                .collect();
            sim.replicas.push(Replica {
                store,
                db,
                node: None,
                failed_seen: 0,
                peer: peers[i],
                config: node_config,
                life: 0,
                wake_at: None,
                seen: BTreeSet::new(),
                judging: BTreeMap::new(),
                topics: BTreeSet::new(),
                heard: BTreeSet::new(),
            });
        }
        tracing::debug!(target: "weftdb::sim", "links {:?}, pages {:?}", config.links, config.pages);
        for i in 0..config.replicas {
            sim.start(i);
            for col in &config.p2p {
                sim.command(i, Command::AddP2pCollection { collection: col.clone() }).expect("a p2p collection");
            }
        }
        for (from, to, col) in &config.replicators {
            let peer = addr_of(*to).with(Protocol::P2p(peers[*to])).to_string();
            sim.command(*from, Command::SetReplicator { collection: col.clone(), docs: None, peer })
                .expect("a replicator");
        }
        sim
    }

    /// An empty store whose signing key comes from the seed, so that peer
    /// ids, and so every order that follows them, replay.
    fn seeded_store(&mut self) -> SimStore {
        let store = MemoryStore::new();
        let key: Vec<u8> = (0..4).flat_map(|_| self.rng.next().to_be_bytes()).collect();
        block_on(async {
            let mut tx = store.begin(Mode::Write).await.expect("a transaction");
            tx.put(Table::Meta, crate::db::META_KEY, &key).await.expect("a put");
            tx.commit().await.expect("a commit");
        });
        FailingStore::new(store)
    }

    fn index(&self, peer: &PeerId) -> Option<usize> {
        self.replicas.iter().position(|r| r.peer == *peer)
    }

    fn at(&mut self, after: Duration, event: Event) {
        self.seq += 1;
        self.queue.insert((self.now + after, self.seq), event);
    }

    fn delay(&mut self) -> Duration {
        Duration::from_millis(1 + self.rng.below(self.faults.max_delay_ms.max(1)))
    }

    /// Starts replica `i`'s node on its store (again, after a restart).
    pub(crate) fn start(&mut self, i: usize) {
        let r = &mut self.replicas[i];
        if r.node.is_some() {
            return;
        }
        tracing::debug!(target: "weftdb::sim", "{:?} {i} starts", self.now);
        if r.life > 0 {
            r.db = Rc::new(block_on(Db::open(r.store.clone())).expect("the database reopens"));
        }
        let clock = Clock { now: self.now, wall_zero_ms: 0.0 };
        let node =
            block_on(Node::assemble(r.db.clone(), r.config.clone(), Arc::default(), clock, None)).expect("a node");
        r.node = Some(node);
        r.topics.clear();
        r.heard.clear();
        r.seen.clear();
        r.judging.clear();
        r.wake_at = None;
        self.after(i);
    }

    /// Stops replica `i` as a crash does: its connections close, what it
    /// had in flight is lost, its store stays.
    pub(crate) fn stop(&mut self, i: usize) {
        tracing::debug!(target: "weftdb::sim", "{:?} {i} stops", self.now);
        if self.replicas[i].node.is_none() {
            return;
        }
        let conns: Vec<u64> = self.conns.iter().filter(|(_, c)| c.a == i || c.b == i).map(|(id, _)| *id).collect();
        for c in conns {
            self.close(c);
        }
        let r = &mut self.replicas[i];
        r.node = None;
        r.life += 1;
        self.outstanding.retain(|(responder, _), o| *responder != i && o.asker.is_none_or(|(a, _)| a != i));
    }

    pub(crate) fn is_up(&self, i: usize) -> bool {
        self.replicas[i].node.is_some()
    }
}

impl Replica {
    /// How many times it stopped (crashed or was stopped).
    pub(crate) fn restarts(&self) -> u64 {
        self.life
    }
}

impl Sim {
    /// Runs a command on replica `i`'s node, as its API would.
    pub(crate) fn command(&mut self, i: usize, command: Command) -> Result<serde_json::Value, String> {
        let now = self.now;
        let node = self.replicas[i].node.as_mut().ok_or("the replica is down")?;
        node.advance(now);
        tracing::debug!(target: "weftdb::sim", "{now:?} {i} runs {}", brief(&command));
        let answer = block_on(node.command(command)).map_err(|e| e.to_string());
        tracing::debug!(target: "weftdb::sim", "{now:?} {i} answers {}", brief(&answer));
        self.after(i);
        answer
    }

    /// Cuts the link between `a` and `b` (their connections close, dials fail).
    pub(crate) fn cut(&mut self, a: usize, b: usize) {
        tracing::debug!(target: "weftdb::sim", "{:?} cut {a} {b}", self.now);
        self.cut.insert((a.min(b), a.max(b)));
        let conns: Vec<u64> = self
            .conns
            .iter()
            .filter(|(_, c)| (c.a, c.b) == (a, b) || (c.a, c.b) == (b, a))
            .map(|(id, _)| *id)
            .collect();
        for c in conns {
            self.close(c);
        }
    }

    pub(crate) fn heal(&mut self) {
        tracing::debug!(target: "weftdb::sim", "{:?} heal", self.now);
        self.cut.clear();
    }

    /// Makes replica `i`'s `n`th write commit from now fail (writing
    /// nothing); the replica restarts once it has (see [`Sim::after`]).
    pub(crate) fn fail_commit(&mut self, i: usize, n: u64) {
        self.replicas[i].store.fail_commit(n);
    }

    /// Lets the node of `i` finish its turn, and carries out what it asked.
    /// A replica whose store failed a commit restarts, as a process whose
    /// disk failed would: what it held in memory is gone, its store holds
    /// exactly what committed.
    fn after(&mut self, i: usize) {
        let failed = self.replicas[i].store.failed();
        if failed > self.replicas[i].failed_seen && self.replicas[i].node.is_some() {
            self.replicas[i].failed_seen = failed;
            tracing::debug!(target: "weftdb::sim", "{:?} {i}'s store failed a commit: restarting", self.now);
            self.stop(i);
            self.start(i);
            return;
        }
        let now = self.now;
        let Some(node) = self.replicas[i].node.as_mut() else { return };
        node.advance(now);
        block_on(node.after_step());
        let effects = node.take_effects();
        let next = node.next_housekeeping();
        for effect in effects {
            self.carry_out(i, effect);
        }
        let r = &mut self.replicas[i];
        if let Some(t) = next {
            if r.wake_at.is_none_or(|w| t < w || w < self.now) {
                r.wake_at = Some(t);
                let life = r.life;
                let after = t.saturating_sub(self.now);
                self.at(after, Event::Wake { to: i, life });
            }
        }
    }

    fn conn_between(&self, a: usize, b: usize) -> Option<u64> {
        self.conns.iter().find(|(_, c)| (c.a, c.b) == (a, b) || (c.a, c.b) == (b, a)).map(|(id, _)| *id)
    }

    fn deliver(&mut self, to: usize, conn: Option<u64>, input: Input) {
        let mut after = self.delay();
        // Gossipsub speaks over one stream per connection and direction:
        // its subscriptions and messages arrive in the order sent.
        let gossip = matches!(input, Input::Subscribed { .. } | Input::Unsubscribed { .. } | Input::Gossip { .. });
        if let (true, Some(c)) = (gossip, conn) {
            let last = self.gossip_order.entry((c, to)).or_default();
            after = after.max(last.saturating_sub(self.now));
            *last = self.now + after;
        }
        let life = self.replicas[to].life;
        self.at(after, Event::Deliver { to, life, conn, input });
    }

    /// Delivers `i`'s request to `j` over `conn`, under a reply id of its
    /// own, whose answer goes back to `asker` (`None`: to nobody).
    fn request_to(
        &mut self,
        i: usize,
        j: usize,
        conn: u64,
        asker: Option<(usize, ReqId)>,
        pushed: Vec<Cid>,
        request: Request,
    ) {
        self.next_reply += 1;
        let reply = ReplyId(self.next_reply);
        self.outstanding.insert((j, reply), Outstanding { asker, conn, pushed, acks: None });
        let from = self.replicas[i].peer;
        self.deliver(j, Some(conn), Input::Request { peer: from, reply, request });
    }

    /// Fails the request `asker` sent `peer`, on connection `conn` if it
    /// went on one. A failure with its connection's end (`Closed`) comes
    /// at once, right after the `Closed` input, as the swarm hands it on.
    fn fail_request(&mut self, asker: (usize, ReqId), peer: PeerId, conn: Option<u64>, failure: Failure, error: &str) {
        let (i, id) = asker;
        let conn_id = conn.map(|c| ConnectionId::new_unchecked(c as usize));
        let input = Input::RequestFailed { peer, id, conn: conn_id, failure, error: error.into() };
        if failure == Failure::Closed {
            let life = self.replicas[i].life;
            self.at(Duration::ZERO, Event::Deliver { to: i, life, conn: None, input });
        } else {
            self.deliver(i, None, input);
        }
    }

    fn carry_out(&mut self, i: usize, effect: Effect) {
        tracing::debug!(target: "weftdb::sim", "{:?} {i} does {}", self.now, brief(&effect));
        match effect {
            Effect::Send { id, peer, request } => {
                let Some(j) = self.index(&peer) else {
                    return self.fail_request((i, id), peer, None, Failure::Other, "no such peer");
                };
                let Some(conn) = self.conn_between(i, j) else {
                    return self.fail_request((i, id), peer, None, Failure::Other, "not connected");
                };
                if self.rng.chance(self.faults.lose) {
                    self.close(conn);
                    return self.fail_request((i, id), peer, Some(conn), Failure::Closed, "connection reset");
                }
                if self.rng.chance(self.faults.stall) {
                    // The request may still arrive and be acted on; its
                    // answer is lost either way (nobody waits for it).
                    if self.rng.chance(0.5) {
                        self.request_to(i, j, conn, None, Vec::new(), request);
                    }
                    let life = self.replicas[i].life;
                    let input = Input::RequestFailed {
                        peer,
                        id,
                        conn: Some(ConnectionId::new_unchecked(conn as usize)),
                        failure: Failure::Other,
                        error: "timeout".into(),
                    };
                    // Failed whether or not the connection lasts that long.
                    self.at(Duration::from_secs(2), Event::Deliver { to: i, life, conn: None, input });
                    return;
                }
                let pushed = pushed_cids(&request);
                let again: Vec<Cid> = match self.acked.get(&(i, j)) {
                    Some(acked) => pushed.iter().filter(|c| acked.contains(c)).copied().collect(),
                    None => Vec::new(),
                };
                if !again.is_empty() {
                    // Only a merged block is below `j`'s heads. One `j`
                    // holds waiting for its parents is in none of them, and
                    // one it dropped for want of them it no longer holds: a
                    // later connection's head exchange cannot know of either
                    // and sends the block again with its parents.
                    let merged = block_on(self.replicas[j].db.has_blocks(&again)).expect("a read");
                    for (c, _) in again.iter().zip(merged).filter(|(_, m)| *m) {
                        self.observed.pushed_after_ack.push((i, j, *c));
                    }
                }
                let copies = if self.rng.chance(self.faults.duplicate) { 2 } else { 1 };
                for copy in 0..copies {
                    let asker = (copy == 0).then_some((i, id));
                    self.request_to(i, j, conn, asker, pushed.clone(), request.clone());
                }
            }
            Effect::Respond { reply, response } => {
                let key = (i, reply);
                let Some(o) = self.outstanding.get_mut(&key) else { return };
                let Some((_, id)) = o.asker else {
                    self.outstanding.remove(&key);
                    return;
                };
                let acks = match &response {
                    Response::Replicate(ReplicateResponse::Ack { merged, .. }) => {
                        let merged: HashSet<Cid> = merged.iter().copied().collect();
                        o.pushed.iter().filter(|c| merged.contains(c)).copied().collect()
                    }
                    _ => Vec::new(),
                };
                o.acks = Some(acks);
                let peer = self.replicas[i].peer;
                let after = self.delay();
                self.at(after, Event::Answer { key, input: Input::Response { peer, id, response } });
            }
            Effect::Drop(reply) => {
                if let Some(Outstanding { asker: Some(asker), conn, .. }) = self.outstanding.remove(&(i, reply)) {
                    let peer = self.replicas[i].peer;
                    self.fail_request(asker, peer, Some(conn), Failure::Other, "closed unanswered");
                }
            }
            Effect::Publish { topic, data } => {
                // As the node's gossipsub names them: by topic and content.
                let id = {
                    use sha2::{Digest, Sha256};
                    MessageId::from(
                        Sha256::new().chain_update(topic.as_bytes()).chain_update(&data).finalize().to_vec(),
                    )
                };
                self.replicas[i].seen.insert(id.clone());
                self.pass_on(i, None, id, topic, data);
            }
            Effect::Subscribe(topic) => {
                self.replicas[i].topics.insert(topic.clone());
                let me = self.replicas[i].peer;
                for (conn, other) in self.neighbours(i) {
                    self.deliver(other, Some(conn), Input::Subscribed { peer: me, topic: topic.clone() });
                }
            }
            Effect::Unsubscribe(topic) => {
                self.replicas[i].topics.remove(&topic);
                let me = self.replicas[i].peer;
                for (conn, other) in self.neighbours(i) {
                    self.deliver(other, Some(conn), Input::Unsubscribed { peer: me, topic: topic.clone() });
                }
            }
            Effect::Validate { message, source, acceptance } => {
                let Some((topic, data)) = self.replicas[i].judging.remove(&message) else { return };
                if acceptance == MessageAcceptance::Accept {
                    let from = self.index(&source);
                    self.pass_on(i, from, message, topic, data);
                }
            }
            Effect::Dial { peer, .. } => match self.index(&peer) {
                Some(j) => self.dial(i, j),
                None => self.deliver(i, None, Input::DialFailed { peer, error: "no such peer".into() }),
            },
            Effect::DialAddr(addr) => {
                if let Some(j) = index_of(&addr).filter(|j| *j < self.replicas.len()) {
                    self.dial(i, j);
                }
            }
            Effect::Close(conn) => {
                let id = self.conns.keys().copied().find(|id| ConnectionId::new_unchecked(*id as usize) == conn);
                if let Some(id) = id {
                    self.close(id);
                }
            }
            Effect::Disconnect(peer) => {
                if let Some(j) = self.index(&peer) {
                    while let Some(c) = self.conn_between(i, j) {
                        self.close(c);
                    }
                }
            }
            Effect::AddAddress { .. } | Effect::Listen { .. } | Effect::Discover(_) | Effect::StopProviding(_) => {}
        }
    }

    /// The open connections of `i`, and who is at their other end.
    fn neighbours(&self, i: usize) -> Vec<(u64, usize)> {
        self.conns
            .iter()
            .filter_map(|(id, c)| match (c.a == i, c.b == i) {
                (true, _) => Some((*id, c.b)),
                (_, true) => Some((*id, c.a)),
                _ => None,
            })
            .collect()
    }

    /// Gossip from `i` to its neighbours it knows hold `topic`, but the one
    /// it came from.
    fn pass_on(&mut self, i: usize, from: Option<usize>, id: MessageId, topic: String, data: Vec<u8>) {
        let source = self.replicas[i].peer;
        for (conn, other) in self.neighbours(i) {
            if Some(other) == from || !self.replicas[i].heard.contains(&(other, topic.clone())) {
                continue;
            }
            if self.rng.chance(self.faults.lose) {
                self.close(conn);
                continue;
            }
            let input = Input::Gossip { source, message: id.clone(), topic: topic.clone(), data: data.clone() };
            self.deliver(other, Some(conn), input);
        }
    }

    fn dial(&mut self, i: usize, j: usize) {
        let after = self.delay();
        let life = self.replicas[i].life;
        self.at(after, Event::Establish { from: i, to: j, life });
    }

    fn close(&mut self, id: u64) {
        let Some(c) = self.conns.remove(&id) else { return };
        // Gossipsub forgets a peer's topics with its last connection.
        for (me, other) in [(c.a, c.b), (c.b, c.a)] {
            self.replicas[me].heard.retain(|(o, _)| *o != other);
        }
        let conn = ConnectionId::new_unchecked(id as usize);
        for (me, other) in [(c.a, c.b), (c.b, c.a)] {
            let peer = self.replicas[other].peer;
            // The node hears of it at once: a closed connection fails its
            // requests before anything else happens on it.
            let life = self.replicas[me].life;
            self.at(
                Duration::ZERO,
                Event::Deliver { to: me, life, conn: None, input: Input::Closed { peer, conn, remaining: 0 } },
            );
        }
        let failed: Vec<(usize, ReplyId)> =
            self.outstanding.iter().filter(|(_, o)| o.conn == id).map(|(k, _)| *k).collect();
        for key in failed {
            let o = self.outstanding.remove(&key).expect("listed");
            if let Some(asker) = o.asker {
                let peer = self.replicas[key.0].peer;
                self.fail_request(asker, peer, Some(id), Failure::Closed, "connection closed");
            }
        }
    }

    fn establish(&mut self, from: usize, to: usize) {
        let peer = self.replicas[to].peer;
        let refused = !self.is_up(to) || self.cut.contains(&(from.min(to), from.max(to))) || from == to;
        if refused || self.conn_between(from, to).is_some() {
            let error = if refused { "unreachable" } else { "connected already" };
            self.deliver(from, None, Input::DialFailed { peer, error: error.into() });
            return;
        }
        self.next_conn += 1;
        let id = self.next_conn;
        self.conns.insert(id, Connection { a: from, b: to });
        let conn = ConnectionId::new_unchecked(id as usize);
        for (me, other, dialed) in [(from, to, true), (to, from, false)] {
            let peer = self.replicas[other].peer;
            let input = Input::Connected { peer, conn, addr: addr_of(other), dialed, transport: "memory" };
            // Queued like its closing, so that the two reach the node in order.
            let life = self.replicas[me].life;
            self.at(Duration::ZERO, Event::Deliver { to: me, life, conn: None, input });
            let topics: Vec<String> = self.replicas[other].topics.iter().cloned().collect();
            for topic in topics {
                self.deliver(me, Some(id), Input::Subscribed { peer, topic });
            }
        }
    }

    /// Hands `input` to replica `i`'s node now.
    fn handle(&mut self, i: usize, input: Input) {
        let now = self.now;
        tracing::debug!(target: "weftdb::sim", "{now:?} {i} hears {}", brief(&input));
        let Some(node) = self.replicas[i].node.as_mut() else { return };
        let request = match &input {
            Input::Request { reply, .. } => Some(*reply),
            _ => None,
        };
        block_on(node.handle(input, now));
        self.after(i);
        // Every request is answered or dropped (`Effect::Drop`) while the
        // node handles it: one left waiting would hold its stream open.
        if let Some(reply) = request {
            if self.outstanding.get(&(i, reply)).is_some_and(|o| o.acks.is_none()) {
                self.observed.unanswered += 1;
            }
        }
    }

    /// Runs events until the virtual clock passes `until` or nothing is left.
    pub(crate) fn run_until(&mut self, until: Duration) {
        while let Some(entry) = self.queue.first_entry() {
            let (at, _) = *entry.key();
            if at > until {
                break;
            }
            let event = entry.remove();
            self.now = self.now.max(at);
            self.observed.messages += 1;
            match event {
                Event::Deliver { to, life, conn, input } => {
                    if self.replicas[to].life != life || conn.is_some_and(|c| !self.conns.contains_key(&c)) {
                        continue;
                    }
                    let from = match &input {
                        Input::Subscribed { peer, .. } | Input::Unsubscribed { peer, .. } => self.index(peer),
                        _ => None,
                    };
                    if let (Some(from), Some(c)) = (from, conn) {
                        if self.hold == Some((to, from)) {
                            self.held.push((c, input));
                            continue;
                        }
                    }
                    match (&input, from) {
                        (Input::Subscribed { topic, .. }, Some(from)) => {
                            self.replicas[to].heard.insert((from, topic.clone()));
                        }
                        (Input::Unsubscribed { topic, .. }, Some(from)) => {
                            self.replicas[to].heard.remove(&(from, topic.clone()));
                        }
                        _ => {}
                    }
                    if let Input::Gossip { message, topic, data, .. } = &input {
                        let r = &mut self.replicas[to];
                        // Handed on twice now and then, past the seen-cache.
                        let again = self.rng.chance(self.faults.duplicate);
                        if !r.seen.insert(message.clone()) && !again {
                            continue;
                        }
                        r.judging.insert(message.clone(), (topic.clone(), data.clone()));
                    }
                    self.handle(to, input);
                }
                Event::Wake { to, life } => {
                    let r = &mut self.replicas[to];
                    if r.life != life || r.wake_at.is_none_or(|w| w > self.now) {
                        continue;
                    }
                    r.wake_at = None;
                    let now = self.now;
                    if let Some(node) = r.node.as_mut() {
                        node.advance(now);
                        block_on(node.housekeeping());
                    }
                    self.after(to);
                }
                Event::Answer { key, input } => {
                    // Gone with its connection (which failed the request).
                    let Some(o) = self.outstanding.remove(&key) else { continue };
                    let Some((asker, _)) = o.asker else { continue };
                    self.acked.entry((asker, key.0)).or_default().extend(o.acks.unwrap_or_default());
                    self.handle(asker, input);
                }
                Event::Establish { from, to, life } => {
                    if self.replicas[from].life == life && self.is_up(from) {
                        self.establish(from, to);
                    }
                }
            }
        }
        self.now = self.now.max(until);
    }

    /// Holds back the subscriptions and unsubscriptions `from` sends `to`
    /// until [`Sim::release`]: a subscription that arrives late.
    pub(crate) fn hold_subscriptions(&mut self, to: usize, from: usize) {
        self.hold = Some((to, from));
    }

    /// Delivers the subscriptions held back, in their order, on their
    /// connections (dropped with a connection closed meanwhile).
    pub(crate) fn release(&mut self) {
        let Some((to, _)) = self.hold.take() else { return };
        for (conn, input) in std::mem::take(&mut self.held) {
            self.deliver(to, Some(conn), input);
        }
    }

    /// Runs for `span` more of virtual time.
    pub(crate) fn run_for(&mut self, span: Duration) {
        let until = self.now + span;
        self.run_until(until);
    }
}

/// An event's first words, for the simulator's log.
fn brief(x: &impl std::fmt::Debug) -> String {
    let text = format!("{x:?}");
    text.chars().take(160).collect()
}
