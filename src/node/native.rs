//! The native node's loop: a thread of its own that owns the database (on
//! redb) and the swarm, and serves commands, swarm events, merges and a
//! housekeeping tick in turn; beside it one worker thread of a tokio
//! runtime (`weft-net`) runs what is spawned: the connections, the HTTP
//! API, the transports' own tasks.

use std::collections::HashMap;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::{FutureExt, StreamExt};
use libp2p::multiaddr::Protocol;
use libp2p::swarm::SwarmEvent;
use libp2p::Multiaddr;
use tokio::sync::mpsc;

use super::adapters::wall_now_ms;
use super::command::{Command, Reply};
use super::config::NodeConfig;
use super::error::NodeError;
use super::exchange::next_checked;
use super::handle::NodeHandle;
use super::run::{is_circuit, keypair_of, Clock, Node};
use super::swarm::SwarmDriver;
use super::wire::Input;
use crate::db::Db;
use crate::net::{build_swarm_counting, BehaviourEvent, NativeOptions, WireErrors};
use crate::store::RedbStore;

type CommandRx = mpsc::UnboundedReceiver<(Command, Reply)>;

/// How long start waits for its listeners (a relayed one needs a reservation).
const LISTEN_WAIT: Duration = Duration::from_secs(10);
/// How often the store is brought in step with the WebTransport listener's
/// rotated certificates.
const CERTS_CHECK: Duration = Duration::from_secs(5);
/// The most swarm events the loop takes after a merge before anything
/// else: what a command, a tick or the shutdown may wait for (the push that
/// came during the merge is among the first).
const TAKEN_AFTER_A_MERGE: usize = 8;

async fn next_event(driver: &mut Option<SwarmDriver>) -> SwarmEvent<BehaviourEvent> {
    match driver {
        Some(d) => d.swarm.select_next_some().await,
        None => std::future::pending().await,
    }
}

/// The node on this thread, its swarm, and the clock it runs on.
struct Native {
    node: Node<RedbStore>,
    driver: Option<SwarmDriver>,
    epoch: Instant,
    /// The certificates of the browser transports, and the WebTransport
    /// generation last stored (they rotate while the node runs).
    certs: Option<(crate::net::NodeCerts, u64)>,
}

pub(super) fn start(config: NodeConfig) -> Result<NodeHandle, NodeError> {
    let (commands, command_rx) = mpsc::unbounded_channel();
    let (shutdown, shutdown_rx) = mpsc::unbounded_channel();
    let thread = Arc::new(Mutex::new(None));
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let slot = thread.clone();
    let join = std::thread::Builder::new()
        .name("weft-node".into())
        .spawn(move || {
            // The node's loop runs on this thread (in the `LocalSet`: the
            // node is not `Send`); what is spawned (libp2p's connections,
            // the HTTP API, the transports' tasks) on the runtime's one
            // worker, which also drives its I/O and timers. A merge holds
            // this thread for tens of ms (redb is synchronous; 11-39 ms for
            // a push of 1,024 blocks on a 2-core machine): meanwhile the
            // connections still write what was handed to them before it
            // and read the next pushes, rather than after it (BENCHMARKS.md,
            // "Native replication: connections beside the node"). A long
            // poll on the worker delays this loop's timers too.
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("weft-net")
                .enable_all()
                .build()
            {
                Ok(r) => r,
                Err(e) => {
                    let _ = ready_tx.send(Err(NodeError::Network(format!("cannot start the runtime: {e}"))));
                    return;
                }
            };
            let local = tokio::task::LocalSet::new();
            local.block_on(&runtime, async move {
                let mut node = match Native::open(config).await {
                    Ok(n) => n,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                let listen = match node.listen().await {
                    Ok(a) => a,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                let handle = NodeHandle { commands, peer_id: node.node.peer_id, listen, shutdown, thread: slot };
                if let Some(addr) = node.node.config.api {
                    if let Err(e) = super::api::serve(addr, &node.node.config.allowed_origins, handle.clone()).await {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                }
                let _ = ready_tx.send(Ok(handle));
                node.run(command_rx, shutdown_rx).await;
                // Closing the swarm and then the database here, before the
                // thread ends, lets the same process open the file again.
                drop(node);
            });
        })
        .map_err(|e| NodeError::Network(format!("cannot start the node's thread: {e}")))?;
    *thread.lock().expect("not poisoned") = Some(join);
    match ready_rx.recv() {
        Ok(Ok(handle)) => Ok(handle),
        Ok(Err(e)) => {
            if let Some(t) = thread.lock().expect("not poisoned").take() {
                let _ = t.join();
            }
            Err(e)
        }
        Err(_) => Err(NodeError::Stopped),
    }
}

impl Native {
    async fn open(config: NodeConfig) -> Result<Native, NodeError> {
        // Fails only when a provider is installed already, which is as good.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        std::fs::create_dir_all(&config.store).map_err(|e| {
            NodeError::Store(crate::store::StoreError(format!("cannot create {}: {e}", config.store.display())).into())
        })?;
        let store = RedbStore::open(config.store.join("weft.redb")).map_err(crate::Error::from)?;
        let db = Rc::new(Db::open(store).await?);
        let wire_errors = Arc::new(WireErrors::default());
        let (driver, certs) = if config.p2p {
            let certs = super::certs::load(&db).await?;
            let options = NativeOptions {
                pubsub: config.pubsub,
                mdns: config.mdns,
                relay: config.relay.clone(),
                request_timeout: config.request_timeout,
            };
            let swarm = build_swarm_counting(keypair_of(&db), &options, certs.clone(), wire_errors.clone())
                .await
                .map_err(NodeError::Network)?;
            (Some(SwarmDriver::new(swarm)), Some(certs))
        } else {
            (None, None)
        };
        let epoch = Instant::now();
        let clock = Clock { now: Duration::ZERO, wall_zero_ms: wall_now_ms() };
        let mut node = Node::assemble(db, config, wire_errors, clock, None).await?;
        node.verify_aside = true;
        let certs = certs.map(|c| {
            let generation = c.webtransport.generation();
            (c, generation)
        });
        let mut native = Native { node, driver, epoch, certs };
        native.settle().await;
        Ok(native)
    }

    /// The driver's clock now.
    fn now(&self) -> Duration {
        self.epoch.elapsed()
    }

    /// Carries out what the node asked for.
    async fn settle(&mut self) {
        let epoch = self.epoch;
        if let Some(d) = self.driver.as_mut() {
            d.settle(&mut self.node, || epoch.elapsed()).await;
        }
    }

    /// Starts every listener and waits until each has an address.
    async fn listen(&mut self) -> Result<Vec<Multiaddr>, NodeError> {
        if self.driver.is_none() {
            return Ok(Vec::new());
        }
        let mut waiting = HashMap::new();
        for addr in self.node.config.listen.clone() {
            let id = self.node.listen_on(addr.clone());
            if is_circuit(&addr) {
                self.node.replica.listeners.listening(id, addr.clone());
            }
            waiting.insert(id, addr);
        }
        let epoch = self.epoch;
        let deadline = tokio::time::sleep(LISTEN_WAIT);
        tokio::pin!(deadline);
        let mut inputs = {
            let effects = self.node.take_effects();
            self.driver.as_mut().expect("checked above").apply(effects)
        };
        loop {
            for input in inputs.drain(..) {
                match &input {
                    Input::Listening { id, .. } => {
                        waiting.remove(id);
                    }
                    Input::ListenerClosed { id, reason } => {
                        if let Some(addr) = waiting.remove(id) {
                            return Err(NodeError::Listen { addr, reason: reason.clone() });
                        }
                    }
                    _ => {}
                }
                self.node.handle(input, epoch.elapsed()).await;
            }
            self.settle().await;
            if waiting.is_empty() {
                break;
            }
            tokio::select! {
                ev = next_event(&mut self.driver) => {
                    inputs = self.driver.as_mut().expect("checked above").inputs(ev);
                }
                _ = &mut deadline => {
                    let addr = waiting.into_values().next().expect("not empty");
                    return Err(NodeError::Listen { addr, reason: "no listen address within 10 s".into() });
                }
            }
        }
        let addrs = self.node.addresses();
        if webrtc_on_loopback_only(&addrs) {
            tracing::warn!(
                "WebRTC-direct listens on loopback only: only browsers on this host can dial it; for pages \
                 elsewhere listen on another address (e.g. /ip4/0.0.0.0/udp/0/webrtc-direct)"
            );
        }
        Ok(addrs)
    }

    async fn run(&mut self, mut commands: CommandRx, mut shutdown: mpsc::UnboundedReceiver<()>) {
        // Rotation is the WebTransport listener's own business (days apart);
        // this only keeps the store in step with it.
        let mut certs_check = tokio::time::interval(CERTS_CHECK);
        certs_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let epoch = self.epoch;
        // Set by a merge: the next turn takes what the swarm holds first.
        let mut merged = false;
        loop {
            // After a merge, the swarm first: a push that came during the
            // merge is checked on the verifying threads while this thread
            // merges the next, not after (a `select!` takes its ready
            // branches in a random order, and would often merge first).
            // (The merge's answers need no poll: a response goes to its
            // connection's task, on the worker, as the step is settled.)
            // A few events only, then the `select!`: commands, ticks and
            // merges wait for at most that many.
            if std::mem::take(&mut merged) {
                for _ in 0..TAKEN_AFTER_A_MERGE {
                    let Some(ev) = next_event(&mut self.driver).now_or_never() else { break };
                    self.on_swarm_event(ev).await;
                    self.end_turn().await;
                }
            }
            let due = self.node.next_housekeeping().map(|t| tokio::time::Instant::from_std(epoch + t));
            let housekeeping = async {
                match due {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = shutdown.recv() => break,
                cmd = commands.recv() => match cmd {
                    Some((command, reply)) => {
                        self.node.at(epoch.elapsed(), wall_now_ms());
                        let answer = super::swarm::command(&mut self.node, self.driver.as_ref(), command).await;
                        let _ = reply.send(answer);
                    }
                    None => break,
                },
                ev = next_event(&mut self.driver) => self.on_swarm_event(ev).await,
                _ = housekeeping => {
                    self.node.at(epoch.elapsed(), wall_now_ms());
                    self.node.housekeeping().await;
                }
                _ = certs_check.tick() => self.save_rotated_certs().await,
                // Merged on this thread while the next push is verified on
                // others; with the same peer's pushes checked meanwhile, in
                // one transaction.
                checked = next_checked(&mut self.node.verifying) => {
                    self.node.at(epoch.elapsed(), wall_now_ms());
                    self.node.merge_checked(checked).await;
                    merged = true;
                }
            }
            self.end_turn().await;
        }
    }

    /// Hands a swarm event to the node.
    async fn on_swarm_event(&mut self, ev: SwarmEvent<BehaviourEvent>) {
        let epoch = self.epoch;
        let d = self.driver.as_mut().expect("an event comes from a swarm");
        d.on_event(&mut self.node, ev, || epoch.elapsed()).await;
    }

    /// What every turn of the loop ends with, whatever it took.
    async fn end_turn(&mut self) {
        self.node.at(self.now(), wall_now_ms());
        self.node.after_step().await;
        self.settle().await;
    }

    /// The WebTransport listener rotates its certificates by itself; the
    /// store must follow, or a restart would serve retired ones.
    async fn save_rotated_certs(&mut self) {
        let Some((certs, saved)) = self.certs.as_mut() else { return };
        let now = certs.webtransport.generation();
        if now != *saved {
            match super::certs::save_webtransport(&self.node.db, &certs.webtransport).await {
                Ok(()) => *saved = now,
                Err(e) => tracing::warn!("cannot store the rotated WebTransport certificates: {e}"),
            }
        }
    }
}

/// Whether the node has WebRTC-direct addresses and all are loopback ones,
/// which no browser on another host can reach.
fn webrtc_on_loopback_only(addrs: &[Multiaddr]) -> bool {
    let mut webrtc = addrs.iter().filter(|a| a.iter().any(|p| p == Protocol::WebRTCDirect)).peekable();
    let loopback = |a: &Multiaddr| {
        a.iter().any(|p| match p {
            Protocol::Ip4(ip) => ip.is_loopback(),
            Protocol::Ip6(ip) => ip.is_loopback(),
            _ => false,
        })
    };
    webrtc.peek().is_some() && webrtc.all(loopback)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs(list: &[&str]) -> Vec<Multiaddr> {
        list.iter().map(|a| a.parse().expect("a multiaddr")).collect()
    }

    #[test]
    fn webrtc_on_loopback_only_is_told_apart() {
        let lo4 = "/ip4/127.0.0.1/udp/1/webrtc-direct";
        let lo6 = "/ip6/::1/udp/1/webrtc-direct";
        let lan = "/ip4/192.0.2.7/udp/1/webrtc-direct";
        assert!(webrtc_on_loopback_only(&addrs(&[lo4, lo6, "/ip4/192.0.2.7/tcp/1"])));
        assert!(!webrtc_on_loopback_only(&addrs(&[lo4, lan])));
        assert!(!webrtc_on_loopback_only(&addrs(&["/ip4/127.0.0.1/tcp/1/ws"])));
        assert!(!webrtc_on_loopback_only(&[]));
    }
}
