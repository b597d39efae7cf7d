//! The node: the database and the swarm, and what happens on each swarm
//! event, command and housekeeping tick. Which loop drives it is the
//! target's business (`native.rs`: a thread with a tokio runtime;
//! `browser.rs`: a task on the page's event loop).
//!
//! The database is single-threaded, so it never leaves the loop's thread;
//! and because the loop awaits each database call before it polls the
//! swarm again, protocol handlers see a database that nothing else is
//! changing under them (in a page, JS writes too; they are merged blocks
//! like any other to the node).

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::num::NonZeroUsize;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use web_time::Instant;

use cid::Cid;
use libp2p::core::transport::ListenerId;
use libp2p::multiaddr::Protocol;
use libp2p::request_response::{self, OutboundRequestId};
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::swarm::ConnectionId;
use libp2p::swarm::SwarmEvent;
use libp2p::{identify, kad, ping, Multiaddr, PeerId, Swarm};
use lru::LruCache;

use super::config::NodeConfig;
use super::error::NodeError;
use super::exchange::{Exchange, Offer, Push};
use super::replicate::{outbox_rows, Replicator};
use crate::core::block::SignedBlock;
use crate::core::pending::PendingLedger;
use crate::core::replica::conduct::{Admission, MAX_STRIKES};
use crate::core::replica::dial::Dialer;
use crate::core::replica::fetch::{FetchId, Fetcher};
use crate::core::replica::push::PushLanes;
use crate::core::replica::{Conditions, Replica, DISCOVERY_EVERY};
use crate::core::sync::PEERS_TOPIC;
use crate::db::{self, Db, ImportReport, Merged, Refusal};
use crate::net::{Behaviour, BehaviourEvent, Inbound, WireErrors};
use crate::store::Store;

/// The shortest time between two housekeeping runs: deadlines closer
/// than this are served together.
pub(super) const TICK: Duration = Duration::from_millis(250);

#[derive(Debug, Default)]
pub(super) struct Stats {
    pub(super) received: u64,
    /// The bytes of every block peers sent us, duplicates included,
    /// counted as they arrive (gossip, pushes, fetch answers).
    pub(super) bytes_received: u64,
    pub(super) sent: u64,
    pub(super) served: u64,
    /// Blocks refused that no honest peer sends (each message with some is a strike).
    pub(super) invalid: u64,
    /// Blocks refused for reasons an honest peer may have: a schema or a
    /// write policy that differs here (not strikes).
    pub(super) refused: u64,
    pub(super) fetch_failures: u64,
    /// Pending blocks dropped because no peer had their parents.
    pub(super) orphans_dropped: u64,
    /// Pending blocks dropped, oldest first, over the caps of
    /// [`PendingLimits`] (per peer and in all).
    pub(super) pending_dropped: u64,
    /// Direct WebRTC connections offered to a page and not made (sync
    /// stays on the relay).
    pub(super) direct_failures: u64,
    /// Peers disconnected and refused for sending invalid data.
    pub(super) peers_dropped: u64,
    /// Relayed connections upgraded to direct ones (DCUtR natively,
    /// browser-to-browser WebRTC in pages).
    pub(super) direct_upgrades: u64,
    /// Requests dropped unanswered because their peer was over its rate.
    pub(super) rate_limited: u64,
    /// Blocks a peer sent again that we had merged lately, or twice in one
    /// message: taken without a database transaction.
    pub(super) replayed: u64,
    /// Blocks and head exchanges refused to a peer we do not share their
    /// collection with (see `share.rs`).
    pub(super) withheld: u64,
}

pub(super) struct Node {
    pub(super) db: Rc<Db<NodeStore>>,
    /// This node's listeners and commit hooks on `db`, taken away when it
    /// is dropped: the database outlives the node (a page's tabs stop and
    /// start nodes on one database as the lead moves).
    pub(super) hooks: Vec<db::ListenerId>,
    pub(super) swarm: Option<Swarm<Behaviour>>,
    /// Local blocks built and about to commit: published at once, while
    /// IndexedDB (or redb) makes them durable, so a write reaches peers one
    /// commit sooner. Should the commit fail, peers hold a valid block this
    /// replica lacks, which merges like any concurrent change.
    pub(super) early: Rc<RefCell<Vec<Merged>>>,
    /// Blocks the database merged since we last looked, filled by its
    /// `on_block` listener and taken right after each database call, so
    /// the caller still knows where they came from.
    pub(super) merged: Rc<RefCell<Vec<Merged>>>,
    pub(super) peer_id: PeerId,
    pub(super) config: NodeConfig,
    epoch: Instant,
    pub(super) stats: Stats,
    pub(super) p2p_collections: BTreeSet<String>,
    /// Documents whose topics we hold, most recently used first; `None`
    /// without pubsub.
    pub(super) doc_topics: Option<LruCache<String, ()>>,
    /// Shared with the database's commit hook, which writes each new
    /// block's outbox entries in the block's own transaction.
    pub(super) replicators: Rc<RefCell<BTreeMap<(PeerId, String), Replicator>>>,
    /// The replication state: dialling, fetching, push and outbox lanes,
    /// relayed listeners, conduct, and when the node is next due to act.
    pub(super) replica: Replica<PeerId, Multiaddr, Cid, ListenerId>,
    /// When housekeeping last ran (on [`Node::now`]).
    last_housekeeping: Duration,
    /// The blocks requests in flight, by the transport's request id.
    pub(super) fetches: HashMap<OutboundRequestId, FetchId>,
    /// Open connections: peer, remote address, whether we dialled, transport.
    pub(super) connections: HashMap<ConnectionId, (PeerId, Multiaddr, bool, &'static str)>,
    /// Parents no peer had, whose waiting blocks are to be dropped.
    pub(super) orphaned: Vec<Cid>,
    pub(super) exchanges: HashMap<OutboundRequestId, Exchange>,
    pub(super) offers: HashMap<OutboundRequestId, Offer>,
    pub(super) pushes: HashMap<OutboundRequestId, Push>,
    pub(super) wire_errors: Arc<WireErrors>,
    /// The certificates of the browser transports, and the WebTransport
    /// generation last stored (they rotate while the node runs).
    #[cfg(not(target_arch = "wasm32"))]
    pub(super) certs: Option<(crate::net::NodeCerts, u64)>,
    /// Told when the first connection to a peer opens and the last closes
    /// (a page's `peer` events).
    pub(super) on_peer: Option<PeerListener>,
    /// Told after each batch a peer pushes (a page's `sync` events).
    pub(super) on_sync: Option<SyncListener>,
    /// Online, leader, queued blocks, last sync: what `db.status()` says.
    pub(super) status: super::status::Status,
    /// Blocks each connected peer pushed since it connected.
    pub(super) received_from: HashMap<PeerId, u64>,
    /// Peers holding a reservation on our relay, as announced to pages.
    pub(super) reserved: BTreeSet<PeerId>,
    pub(super) announce_seq: u64,
    /// Pages we offered a direct connection to, until it is up or failed.
    pub(super) upgrading: HashSet<PeerId>,
    /// Blocks merged lately, so gossip that repeats one skips the database.
    pub(super) recent: LruCache<Cid, ()>,
    /// The pending blocks each peer sent, against the caps (pending blocks
    /// found in the store at start are left to orphan dropping).
    pub(super) pending: PendingLedger<PeerId>,
}

/// How many merged blocks [`Node::recent`] remembers.
const RECENT_BLOCKS: usize = 4096;

/// Catching up with a peer: blocks received from it since it connected,
/// and how many that makes with what it still has queued for us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SyncProgress {
    pub peer: PeerId,
    pub blocks_received: u64,
    pub blocks_wanted: u64,
}

pub(crate) type SyncListener = Rc<dyn Fn(SyncProgress)>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PeerEvent {
    Connected,
    Disconnected,
}

pub(crate) type PeerListener = Rc<dyn Fn(PeerEvent, PeerId, &'static str)>;

/// The store a node keeps its replica in: redb natively, IndexedDB in a page.
#[cfg(not(target_arch = "wasm32"))]
pub(crate) type NodeStore = crate::store::RedbStore;
#[cfg(target_arch = "wasm32")]
pub(crate) type NodeStore = crate::store::IdbStore;

/// The replica's signing key is its network identity, so the peer id
/// survives restarts and names the author of its blocks.
pub(crate) fn keypair_of<S: Store>(db: &Db<S>) -> libp2p::identity::Keypair {
    libp2p::identity::Keypair::ed25519_from_bytes(db.signing_key().to_bytes()).expect("an ed25519 secret is 32 bytes")
}

fn peer_id_of<S: Store>(db: &Db<S>) -> PeerId {
    keypair_of(db).public().to_peer_id()
}

pub(super) fn is_circuit(addr: &Multiaddr) -> bool {
    addr.iter().any(|p| p == Protocol::P2pCircuit)
}

pub(super) fn doc_topic(doc: &str) -> String {
    format!("weft/doc/{doc}")
}

pub(super) fn col_topic(col: &str) -> String {
    format!("weft/col/{col}")
}

/// Whether a relayed listener waits for its relay: a relay we keep a
/// connection to anyway is asked once that connection is up, or the relay
/// client would open a second one (by any address it knows).
fn waits_for(dialer: &Dialer<PeerId, Multiaddr>, circuit: &Multiaddr) -> bool {
    let parts: Vec<Protocol> = circuit.iter().collect();
    let relay = parts.windows(2).find_map(|w| match w {
        [Protocol::P2p(relay), Protocol::P2pCircuit] => Some(*relay),
        _ => None,
    });
    relay.is_some_and(|r| dialer.is_wanted(&r) && !dialer.is_connected(&r))
}

impl Node {
    /// A node around `db` and (unless P2P is off) `swarm`, with its
    /// replicators and p2p collections loaded and its bootstrap peers wanted.
    pub(super) async fn assemble(
        db: Rc<Db<NodeStore>>,
        swarm: Option<Swarm<Behaviour>>,
        config: NodeConfig,
        wire_errors: Arc<WireErrors>,
    ) -> Result<Node, NodeError> {
        let merged = Rc::new(RefCell::new(Vec::new()));
        let sink = merged.clone();
        let mut hooks = vec![db.on_block(move |m| sink.borrow_mut().push(m.clone()))];
        let replicators: Rc<RefCell<BTreeMap<(PeerId, String), Replicator>>> = Rc::default();
        let scopes = replicators.clone();
        let status = super::status::Status::default();
        let queued = status.queued.clone();
        hooks.push(db.on_commit(move |m| {
            let rows = outbox_rows(&scopes.borrow(), m);
            queued.set(queued.get() + rows.len() as u64);
            rows
        }));
        let early: Rc<RefCell<Vec<Merged>>> = Rc::default();
        let sink = early.clone();
        hooks.push(db.on_commit(move |m| {
            if m.local {
                sink.borrow_mut().push(m.clone());
            }
            Vec::new()
        }));
        let peer_id = peer_id_of(&db);
        let doc_topics = (config.p2p && config.pubsub).then_some(()).and_then(|_| NonZeroUsize::new(config.doc_topics));
        let mut node = Node {
            db,
            hooks,
            swarm,
            early,
            merged,
            peer_id,
            epoch: Instant::now(),
            stats: Stats::default(),
            p2p_collections: BTreeSet::new(),
            doc_topics: doc_topics.map(LruCache::new),
            replicators,
            replica: Replica::new(
                peer_id,
                config.retry_base,
                config.retry_max,
                Fetcher::new(crate::core::sync::MAX_CIDS),
                PushLanes::new(super::gossip::BATCH_BYTES, crate::core::sync::MAX_BATCH_BLOCKS),
            ),
            last_housekeeping: Duration::ZERO,
            fetches: HashMap::new(),
            connections: HashMap::new(),
            orphaned: Vec::new(),
            exchanges: HashMap::new(),
            offers: HashMap::new(),
            pushes: HashMap::new(),
            wire_errors,
            #[cfg(not(target_arch = "wasm32"))]
            certs: None,
            on_peer: None,
            on_sync: None,
            status,
            received_from: HashMap::new(),
            reserved: BTreeSet::new(),
            announce_seq: 0,
            upgrading: HashSet::new(),
            recent: LruCache::new(NonZeroUsize::new(RECENT_BLOCKS).expect("not zero")),
            pending: PendingLedger::new(config.pending),
            config,
        };
        node.load_p2p_collections().await?;
        node.load_replicators().await?;
        node.count_outbox().await;
        for addr in node.config.peers.clone() {
            node.add_bootstrap(addr);
        }
        if node.config.meet_peers {
            node.subscribe(PEERS_TOPIC);
        }
        Ok(node)
    }

    /// Starts the listeners of `config.listen` without waiting for them:
    /// a relayed one is asked for again, with a growing delay, until the
    /// relay grants it (a page's reservations on the nodes it was given).
    #[cfg(target_arch = "wasm32")]
    pub(super) fn listen_later(&mut self) {
        for addr in self.config.listen.clone() {
            if is_circuit(&addr) {
                self.replica.listeners.add(addr);
            } else if let Some(swarm) = self.swarm.as_mut() {
                if let Err(e) = swarm.listen_on(addr.clone()) {
                    tracing::warn!(%addr, "cannot listen: {e}");
                }
            }
        }
        self.relisten();
    }

    /// Time since the node started: the clock every backoff runs on.
    pub(super) fn now(&self) -> Duration {
        self.epoch.elapsed()
    }

    /// The instant `t` after the node started (a deadline on [`Node::now`]'s
    /// clock), for a driver whose timers take instants.
    #[cfg_attr(target_arch = "wasm32", allow(dead_code))]
    pub(super) fn instant_at(&self, t: Duration) -> Instant {
        self.epoch + t
    }

    /// Our listen addresses, each ending in `/p2p/<our id>`.
    pub(super) fn addresses(&self) -> Vec<Multiaddr> {
        let Some(swarm) = self.swarm.as_ref() else { return Vec::new() };
        swarm.listeners().map(|a| a.clone().with_p2p(self.peer_id).unwrap_or_else(|a| a)).collect()
    }

    /// What every turn of a node's loop ends with, whatever woke it.
    pub(super) async fn after_step(&mut self) {
        let early = std::mem::take(&mut *self.early.borrow_mut());
        for m in early {
            // Once, whichever comes first: this or `take_merged`.
            if self.recent.put(m.cid, ()).is_none() {
                self.publish(&m);
            }
        }
        // Every merge path takes its blocks itself; this only keeps a missed
        // one (in a page: a JS write) from waiting for the next merge.
        self.take_merged().await;
        self.repair_unheard().await;
        self.drop_orphans().await;
        self.tell_status();
    }

    async fn drop_orphans(&mut self) {
        if self.orphaned.is_empty() {
            return;
        }
        let parents = std::mem::take(&mut self.orphaned);
        match self.db.drop_pending(&parents).await {
            Ok(dropped) => {
                for c in &dropped {
                    self.pending.resolved(c);
                }
                let n = dropped.len();
                if n > 0 {
                    tracing::info!(n, "dropped pending blocks whose parents no peer has");
                }
                self.stats.orphans_dropped += n as u64;
            }
            Err(e) => tracing::warn!("cannot drop orphaned blocks: {e}"),
        }
    }

    /// When the node is next due for [`Node::housekeeping`], on
    /// [`Node::now`]'s clock: the replica's next deadline, but never sooner
    /// than [`TICK`] after the last run (a deadline that is already past
    /// waits for an event, not for the time; see [`Replica::next_timeout`]).
    /// `None`: nothing is due until something happens.
    pub(super) fn next_housekeeping(&self) -> Option<Duration> {
        self.swarm.as_ref()?;
        let when = Conditions {
            online: !self.is_offline(),
            discovering: self.config.discovery && !self.p2p_collections.is_empty(),
        };
        let next = self.replica.next_timeout(when, |addr| waits_for(&self.replica.dialer, addr))?;
        Some(next.max(self.last_housekeeping + TICK))
    }

    /// Whatever is due: dials, relayed listeners, outbox pushes, relayed
    /// connections to close, discovery, and forgetting old conduct.
    pub(super) async fn housekeeping(&mut self) {
        if self.swarm.is_none() {
            return;
        }
        self.last_housekeeping = self.now();
        self.redial();
        self.relisten();
        self.close_answered_relays();
        let peers: Vec<PeerId> = self.replica.outboxes.peers().copied().collect();
        for peer in peers {
            self.pump_outbox(peer).await;
        }
        let now = self.now();
        self.replica.conduct.prune(now);
        if now >= self.replica.next_discovery && self.replica.dialer.any_connected() && !self.is_offline() {
            self.replica.next_discovery = now + DISCOVERY_EVERY;
            for col in self.p2p_collections.clone() {
                self.discover(&col_topic(&col));
            }
        }
    }

    pub(super) fn relisten(&mut self) {
        if self.is_offline() || self.swarm.is_none() {
            return;
        }
        let now = self.now();
        let dialer = &self.replica.dialer;
        let due = self.replica.listeners.due(now, |addr| waits_for(dialer, addr));
        let Some(swarm) = self.swarm.as_mut() else { return };
        for attempt in due {
            match swarm.listen_on(attempt.addr.clone()) {
                Ok(id) => self.replica.listeners.started(id, attempt),
                Err(e) => {
                    tracing::debug!(addr = %attempt.addr, "cannot listen again: {e}");
                    self.replica.listeners.failed(attempt, now);
                }
            }
        }
    }

    /// Advertises `topic` in the DHT and looks for others holding it, so a
    /// node that knows only a bootstrap peer finds the peers it shares
    /// collections with.
    pub(super) fn discover(&mut self, topic: &str) {
        if !self.config.discovery {
            return;
        }
        let Some(swarm) = self.swarm.as_mut() else { return };
        let key = kad::RecordKey::new(&topic);
        if let Err(e) = swarm.behaviour_mut().kad.start_providing(key.clone()) {
            tracing::debug!(topic, "cannot provide: {e}");
        }
        swarm.behaviour_mut().kad.get_providers(key);
    }

    pub(super) fn dial_peer(&mut self, peer: PeerId, addrs: Vec<Multiaddr>) -> bool {
        if self.is_banned(peer) || self.is_offline() {
            return false;
        }
        let Some(swarm) = self.swarm.as_mut() else { return false };
        if peer == self.peer_id || swarm.is_connected(&peer) {
            return false;
        }
        // A fresh source port: two peers that dial each other at the same
        // instant (mDNS finds both at once) from their listening ports would
        // make one TCP connection by simultaneous open, on which both sides
        // start Noise as initiator and the handshake fails.
        let opts = DialOpts::peer_id(peer)
            .addresses(addrs)
            .condition(PeerCondition::DisconnectedAndNotDialing)
            .allocate_new_port()
            .build();
        match swarm.dial(opts) {
            Ok(()) => true,
            Err(e) => {
                tracing::debug!(%peer, "dial: {e}");
                false
            }
        }
    }

    pub(super) async fn on_swarm_event(&mut self, ev: SwarmEvent<BehaviourEvent>) {
        match ev {
            SwarmEvent::Behaviour(ev) => self.on_behaviour_event(ev).await,
            SwarmEvent::ConnectionEstablished { peer_id, connection_id, .. } if self.is_banned(peer_id) => {
                tracing::debug!(peer = %peer_id, "refusing a connection from a dropped peer");
                if let Some(s) = self.swarm.as_mut() {
                    s.close_connection(connection_id);
                }
            }
            SwarmEvent::ConnectionEstablished { peer_id, connection_id, endpoint, .. } => {
                let dialed = endpoint.is_dialer();
                let addr = endpoint.get_remote_address().clone();
                let transport = crate::net::transport_of_endpoint(&endpoint);
                self.connections.insert(connection_id, (peer_id, addr.clone(), dialed, transport));
                if !self.connection_opened(peer_id, connection_id).await {
                    return;
                }
                if transport == "webrtc" {
                    self.stats.direct_upgrades += 1;
                }
                if self.consider_upgrade(peer_id, &addr, dialed, transport) {
                    self.upgrading.remove(&peer_id);
                    self.exchange_with(peer_id).await;
                }
                // The peer's first connection, or its first kept one (those
                // that opened offline were closed at once, see status.rs).
                if !self.replica.dialer.is_connected(&peer_id) {
                    if let Some(tell) = &self.on_peer {
                        tell(PeerEvent::Connected, peer_id, transport);
                    }
                    // Between pages the relayed connection is about to be
                    // replaced by a direct one: swap heads on that (or on
                    // the relay once the upgrade has failed), rather than
                    // start an exchange the upgrade cuts off.
                    let defer = self.config.direct_upgrade && transport == "relay";
                    self.on_connected(peer_id, defer).await;
                }
            }
            SwarmEvent::ConnectionClosed { peer_id, connection_id, num_established, .. } => {
                let closed = self.connections.remove(&connection_id);
                if closed.as_ref().is_some_and(|c| c.3 == "relay") && self.relayed_closed(peer_id, num_established) {
                    self.exchange_with(peer_id).await;
                }
                if num_established == 0 {
                    if let Some(tell) = self.on_peer.as_ref().filter(|_| self.replica.dialer.is_connected(&peer_id)) {
                        let transport = closed.as_ref().map_or("other", |c| c.3);
                        tell(PeerEvent::Disconnected, peer_id, transport);
                    }
                    self.on_disconnected(peer_id);
                    self.reservation(peer_id, false);
                }
            }
            SwarmEvent::OutgoingConnectionError { peer_id: Some(peer), error, .. } => {
                tracing::debug!(%peer, "dial failed: {error}");
                self.dial_failed(peer);
                if self.upgrading.remove(&peer) && self.replica.dialer.is_connected(&peer) {
                    tracing::info!(%peer, "no direct WebRTC connection; syncing over the relay: {error}");
                    self.stats.direct_failures += 1;
                    self.exchange_with(peer).await;
                }
            }
            SwarmEvent::NewListenAddr { listener_id, address } => {
                tracing::info!(%address, "listening");
                self.replica.listeners.granted(&listener_id);
                // A relay server hands out reservations only with an address
                // to put in them; loopback and LAN addresses serve for that
                // until something better (AutoNAT) confirms a public one.
                if !is_circuit(&address) {
                    if let Some(s) = self.swarm.as_mut() {
                        // DCUtR offers as hole-punch candidates only the
                        // addresses identify saw others observe, and identify
                        // reports none already external: hand it ours.
                        #[cfg(not(target_arch = "wasm32"))]
                        {
                            use libp2p::swarm::{FromSwarm, NetworkBehaviour, NewExternalAddrCandidate};
                            let candidate = NewExternalAddrCandidate { addr: &address };
                            s.behaviour_mut().dcutr.on_swarm_event(FromSwarm::NewExternalAddrCandidate(candidate));
                        }
                        s.add_external_address(address);
                    }
                }
            }
            SwarmEvent::ListenerClosed { listener_id, reason, .. } => {
                if let Some(addr) = self.replica.listeners.closed(&listener_id, self.now()) {
                    tracing::warn!(%addr, "relayed listener closed: {reason:?}");
                }
            }
            SwarmEvent::ExpiredListenAddr { address, .. } => {
                if let Some(s) = self.swarm.as_mut() {
                    s.remove_external_address(&address);
                }
            }
            _ => {}
        }
    }

    async fn on_behaviour_event(&mut self, ev: BehaviourEvent) {
        match ev {
            BehaviourEvent::Gossipsub(ev) => self.on_gossip(ev).await,
            BehaviourEvent::Blocks(ev) => {
                if let Some(ev) = self.readable(ev) {
                    self.on_blocks(ev).await;
                }
            }
            BehaviourEvent::Heads(ev) => {
                if let Some(ev) = self.readable(ev) {
                    self.on_heads(ev).await;
                }
            }
            BehaviourEvent::Replicate(ev) => {
                if let Some(ev) = self.readable(ev) {
                    self.on_replicate(ev).await;
                }
            }
            BehaviourEvent::Ping(ping::Event { peer, connection, result: Err(failure) })
                if !matches!(failure, ping::Failure::Unsupported) =>
            {
                // libp2p reports a connection's ping failures from the
                // second in a row (the first is free, for peers that take
                // one stream per ping), and no longer closes it. A
                // connection that cannot carry a ping carries nothing: a
                // page's WebRTC connection to a node that restarted is
                // never noticed dead by the browser's libp2p, and its
                // replicator would push into it forever. Closed, the peer
                // is dialled again.
                tracing::debug!(%peer, %failure, "closing a connection whose pings fail");
                if let Some(s) = self.swarm.as_mut() {
                    s.close_connection(connection);
                }
            }
            BehaviourEvent::Identify(identify::Event::Received { peer_id, info, .. }) => {
                if let Some(s) = self.swarm.as_mut() {
                    for addr in info.listen_addrs {
                        s.behaviour_mut().kad.add_address(&peer_id, addr);
                    }
                }
            }
            #[cfg(not(target_arch = "wasm32"))]
            BehaviourEvent::Mdns(libp2p::mdns::Event::Discovered(found)) => {
                let mut by_peer: HashMap<PeerId, Vec<Multiaddr>> = HashMap::new();
                for (peer, addr) in found {
                    by_peer.entry(peer).or_default().push(addr);
                }
                for (peer, addrs) in by_peer {
                    self.want_lan_peer(peer, addrs);
                }
            }
            #[cfg(not(target_arch = "wasm32"))]
            BehaviourEvent::Mdns(libp2p::mdns::Event::Expired(gone)) => {
                let peers: HashSet<PeerId> = gone.into_iter().map(|(p, _)| p).collect();
                for peer in peers {
                    self.lan_peer_gone(peer);
                }
            }
            BehaviourEvent::Kad(kad::Event::OutboundQueryProgressed {
                result: kad::QueryResult::GetProviders(Ok(kad::GetProvidersOk::FoundProviders { providers, .. })),
                ..
            }) => {
                // Dialled while the query runs: it still holds their addresses.
                for peer in providers {
                    self.dial_peer(peer, Vec::new());
                }
            }
            #[cfg(not(target_arch = "wasm32"))]
            BehaviourEvent::Relay(libp2p::relay::Event::ReservationReqAccepted { src_peer_id, .. }) => {
                self.reservation(src_peer_id, true);
            }
            #[cfg(not(target_arch = "wasm32"))]
            BehaviourEvent::Relay(libp2p::relay::Event::ReservationTimedOut { src_peer_id }) => {
                self.reservation(src_peer_id, false);
            }
            #[cfg(not(target_arch = "wasm32"))]
            BehaviourEvent::Dcutr(libp2p::dcutr::Event { remote_peer_id, result }) => match result {
                Ok(_) => {
                    tracing::info!(peer = %remote_peer_id, "relayed connection upgraded to a direct one");
                    self.stats.direct_upgrades += 1;
                }
                Err(e) => tracing::debug!(peer = %remote_peer_id, "no direct connection: {e}"),
            },
            BehaviourEvent::Kad(kad::Event::RoutingUpdated { is_new_peer: true, .. }) => {
                // The first peers make a DHT to look in: look soon.
                let soon = self.now() + Duration::from_millis(500);
                self.replica.next_discovery = self.replica.next_discovery.min(soon);
            }
            _ => {}
        }
    }

    async fn on_connected(&mut self, peer: PeerId, defer_exchange: bool) {
        self.replica.dialer.connected(peer);
        if !defer_exchange {
            self.exchange_with(peer).await;
        }
        self.replica.outboxes.due_now(&peer);
        self.pump_outbox(peer).await;
        // A reservation that waited for this peer.
        self.relisten();
    }

    /// Exchanges heads with `peer` for every collection we share with it.
    pub(super) async fn exchange_with(&mut self, peer: PeerId) {
        // The collections shared with this peer, each once: a replicator's
        // document list is dropped when the whole collection is shared anyway.
        let mut scopes: BTreeMap<String, Option<Vec<String>>> =
            self.p2p_collections.iter().map(|c| (c.clone(), None)).collect();
        for r in self.replicators.borrow().values().filter(|r| r.peer == peer) {
            let scope = scopes.entry(r.collection.clone()).or_insert_with(|| r.docs.clone());
            if r.docs.is_none() {
                *scope = None;
            }
        }
        for (col, docs) in scopes {
            self.start_exchange(peer, &col, docs).await;
        }
    }

    /// Counts a pushed batch from `peer` and tells the sync listener.
    pub(super) fn sync_progress(&mut self, peer: PeerId, received: u64, remaining: u64) {
        self.synced();
        let total = self.received_from.entry(peer).or_default();
        *total += received;
        if let Some(tell) = &self.on_sync {
            tell(SyncProgress { peer, blocks_received: *total, blocks_wanted: *total + remaining });
        }
    }

    fn on_disconnected(&mut self, peer: PeerId) {
        self.status_disconnected(&peer);
        self.upgrading.remove(&peer);
        self.replica.answered.remove(&peer);
        self.received_from.remove(&peer);
        self.replica.lanes.drop_lane(&peer);
        self.replica.dialer.disconnected(&peer);
    }

    /// Blocks merged since the last call: local ones are published, and
    /// every one goes to the outbox of each replicator whose scope holds it,
    /// except the peer it came from.
    pub(super) async fn take_merged(&mut self) {
        let merged = std::mem::take(&mut *self.merged.borrow_mut());
        if merged.is_empty() {
            return;
        }
        let mut peers = BTreeSet::new();
        for m in &merged {
            self.pending.resolved(&m.cid);
            // A local block in `recent` already was published, while it committed.
            let published = self.recent.put(m.cid, ()).is_some();
            if m.local {
                self.touch_doc(&m.doc);
                if !published {
                    self.publish(m);
                }
            }
            // Their outbox entries committed with the blocks (`outbox_rows`).
            peers.extend(self.replicators.borrow().values().filter(|r| r.queues(m)).map(|r| r.peer));
        }
        for peer in peers {
            self.pump_outbox(peer).await;
        }
    }

    /// Merges every block `peer` sent that can be taken, under its name so
    /// that no replicator queues them back to it. A message with a block no
    /// honest peer makes is one strike against `peer`; the other refusals
    /// (a schema or policy that differs here) are only counted. Only the
    /// store's failures are errors.
    pub(super) async fn db_import_from(
        &mut self,
        peer: PeerId,
        blocks: &[Vec<u8>],
    ) -> Result<ImportReport, crate::Error> {
        let (ok, refused) = decode_batch(blocks).await;
        self.import_decoded_from(peer, ok, refused).await
    }

    /// One block `peer` sent under `cid` (which it must hash to).
    pub(super) async fn db_merge_from(
        &mut self,
        peer: PeerId,
        cid: Cid,
        bytes: &[u8],
    ) -> Result<ImportReport, crate::Error> {
        match decode_claimed(bytes, cid).await {
            Ok(b) => self.import_decoded_from(peer, vec![b], Vec::new()).await,
            Err(e) => self.import_decoded_from(peer, Vec::new(), vec![Refusal::new(cid, &e.into())]).await,
        }
    }

    async fn import_decoded_from(
        &mut self,
        peer: PeerId,
        blocks: Vec<SignedBlock>,
        refused: Vec<Refusal>,
    ) -> Result<ImportReport, crate::Error> {
        let mut report = match blocks.is_empty() {
            true => ImportReport::default(),
            false => self.db.import_from(blocks, Some(peer.to_bytes().into())).await?,
        };
        report.refused.splice(0..0, refused);
        self.held_against(peer, &report.refused);
        // Pending blocks of earlier imports, refused now: not this peer's doing.
        for r in &report.dropped {
            tracing::debug!(cid = %r.cid, code = r.code, "dropped a pending block: {}", r.message);
            self.pending.resolved(&r.cid);
        }
        self.stats.pending_dropped += report.dropped.len() as u64;
        let mut over: Vec<Cid> = Vec::new();
        for (cid, bytes) in &report.held {
            over.extend(self.pending.add(*cid, peer, *bytes));
        }
        if !over.is_empty() {
            let dropped = self.db.drop_pending_blocks(&over).await?;
            tracing::debug!(%peer, dropped, "pending blocks over the caps dropped, oldest first");
            self.stats.pending_dropped += dropped as u64;
        }
        Ok(report)
    }

    /// Counts what `peer` sent and was refused; a strike if any of it is
    /// what no honest peer sends.
    fn held_against(&mut self, peer: PeerId, refused: &[Refusal]) {
        if refused.is_empty() {
            return;
        }
        for r in refused {
            tracing::debug!(%peer, cid = %r.cid, code = r.code, "block refused: {}", r.message);
        }
        let faults = refused.iter().filter(|r| r.is_fault()).count() as u64;
        self.stats.refused += refused.len() as u64 - faults;
        if faults > 0 {
            self.stats.invalid += faults - 1;
            self.invalid_from(peer);
        }
    }

    /// An invalid block from `peer`: counted, and a strike against it.
    pub(super) fn invalid_from(&mut self, peer: PeerId) {
        self.stats.invalid += 1;
        self.strike(peer, "an invalid block");
    }

    // Undecodable and oversized messages are counted by the codec, which
    // sees them in both directions, and held against their sender by
    // `readable`; these failures are only logged.
    pub(super) fn log_inbound_failure(&self, peer: PeerId, error: &request_response::InboundFailure) {
        tracing::debug!(%peer, "inbound request failed: {error}");
    }

    pub(super) fn log_outbound_failure(&self, peer: PeerId, error: &request_response::OutboundFailure) {
        tracing::debug!(%peer, "outbound request failed: {error}");
    }

    /// `ev` with its request unwrapped. An unreadable message (the codec
    /// counted it) is a strike against its sender: a request comes as
    /// [`Inbound::Unreadable`], its stream dropped unanswered (`None`); an
    /// answer fails its request with `InvalidData`.
    fn readable<Req, Resp>(
        &mut self,
        ev: request_response::Event<Inbound<Req>, Resp>,
    ) -> Option<request_response::Event<Req, Resp>> {
        use request_response::{Event, Message};
        Some(match ev {
            Event::Message { peer, connection_id, message } => {
                let message = match message {
                    Message::Request { request_id, request: Inbound::Request(request), channel } => {
                        if !self.admit(peer) {
                            // Dropped: the peer sees its stream closed unanswered.
                            return None;
                        }
                        Message::Request { request_id, request, channel }
                    }
                    Message::Request { request: Inbound::Unreadable(e), .. } => {
                        tracing::debug!(%peer, "unreadable request: {e}");
                        self.strike(peer, "an unreadable request");
                        return None;
                    }
                    Message::Response { request_id, response } => Message::Response { request_id, response },
                };
                Event::Message { peer, connection_id, message }
            }
            Event::OutboundFailure { peer, connection_id, request_id, error } => {
                if matches!(&error, request_response::OutboundFailure::Io(e) if e.kind() == std::io::ErrorKind::InvalidData)
                {
                    self.strike(peer, "an unreadable answer");
                }
                Event::OutboundFailure { peer, connection_id, request_id, error }
            }
            Event::InboundFailure { peer, connection_id, request_id, error } => {
                Event::InboundFailure { peer, connection_id, request_id, error }
            }
            Event::ResponseSent { peer, connection_id, request_id } => {
                Event::ResponseSent { peer, connection_id, request_id }
            }
        })
    }

    /// At [`MAX_STRIKES`] within the ban duration (reconnecting forgets
    /// nothing) the peer is disconnected and refused for the ban duration.
    pub(super) fn strike(&mut self, peer: PeerId, what: &str) {
        if !self.replica.conduct.strike(peer, self.now()) {
            return;
        }
        tracing::warn!(%peer, "dropping a peer that sent {MAX_STRIKES} invalid messages, the last {what}");
        self.stats.peers_dropped += 1;
        if let Some(s) = self.swarm.as_mut() {
            let _ = s.disconnect_peer_id(peer);
        }
    }

    pub(super) fn is_banned(&mut self, peer: PeerId) -> bool {
        self.replica.conduct.is_banned(&peer, self.now())
    }

    /// Takes one request of `peer` against its rate: refused requests are
    /// counted, and a peer far over its rate earns strikes.
    fn admit(&mut self, peer: PeerId) -> bool {
        let now = self.now();
        match self.replica.conduct.admit(peer, now) {
            Admission::Admitted => true,
            Admission::Refused => {
                self.stats.rate_limited += 1;
                false
            }
            Admission::RefusedStrike => {
                self.stats.rate_limited += 1;
                self.strike(peer, "requests far over its rate");
                false
            }
        }
    }

    async fn load_p2p_collections(&mut self) -> Result<(), NodeError> {
        for col in self.db.meta_keys(crate::records::META_P2P).await? {
            self.subscribe(&col_topic(&col));
            self.p2p_collections.insert(col);
        }
        Ok(())
    }
}

/// Decodes and verifies a batch of blocks from a peer, and one block sent
/// under its CID: natively on every core, in a page with WebCrypto.
#[cfg(not(target_arch = "wasm32"))]
use super::native::{decode_claimed, decode_parallel as decode_batch};

#[cfg(target_arch = "wasm32")]
use super::webcrypto::{decode_batch, decode_claimed};

impl Drop for Node {
    fn drop(&mut self) {
        for id in self.hooks.drain(..) {
            self.db.remove_hook(id);
        }
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use crate::node::Command;
    use serde_json::{json, Map, Value};

    async fn outbox_len(db: &Db<NodeStore>) -> usize {
        db.outbox_len().await.expect("a count")
    }

    /// A page's tabs stop and start nodes on one database as the lead
    /// moves: a stopped node's replicators must queue nothing more.
    #[test]
    fn a_dropped_node_queues_nothing_for_its_replicators() {
        futures::executor::block_on(async {
            let dir = tempfile::tempdir().expect("a temp dir");
            let store = NodeStore::open(dir.path().join("db.redb")).expect("a store");
            let db = Rc::new(Db::open(store).await.expect("a database"));
            db.add_schema("type Book { title: String }").await.expect("a schema");
            let mut node =
                Node::assemble(db.clone(), None, NodeConfig::new(dir.path()), Arc::default()).await.expect("a node");
            let peer = PeerId::random();
            let set = Command::SetReplicator {
                collection: "Book".into(),
                docs: None,
                peer: format!("/ip4/127.0.0.1/tcp/1/p2p/{peer}"),
            };
            node.command(set).await.expect("a replicator");
            let book = |title: &str| -> Map<String, Value> {
                json!({ "title": title }).as_object().expect("an object").clone()
            };
            db.create("Book", &book("queued")).await.expect("a write");
            assert_eq!(outbox_len(&db).await, 1, "a running node queues its replicator's block");
            drop(node);
            db.create("Book", &book("after the node stopped")).await.expect("a write");
            assert_eq!(outbox_len(&db).await, 1, "a stopped node's hook still wrote an outbox row");
        });
    }
}
