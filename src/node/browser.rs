//! The node in a page: the same node as `weft start` (gossip, block fetch,
//! head exchange, replicators), on IndexedDB, driven by one task on the
//! page's event loop. The JS bindings reach it through a command channel
//! (the swarm cannot be borrowed while that task awaits it); their own
//! writes go to the shared database, whose commit wakes the task to
//! publish and push them. Also here: the page's events the node follows
//! (`online`/`offline`, `pagehide`: [`PageWatch`]).

use std::rc::Rc;
use std::sync::Arc;
use std::task::Poll;

use futures::channel::{mpsc, oneshot};
use futures::future::LocalBoxFuture;
use futures::{FutureExt, StreamExt};
use futures_timer::Delay;
use libp2p::PeerId;
use serde_json::Value;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;

use super::adapters::{verify_batch, wall_now_ms, Verified};
use super::command::{Command, CommandError, Reply};
use super::config::NodeConfig;
use super::error::NodeError;
use super::exchange::next_checked;
use super::run::{keypair_of, Clock, Node, NodeStore, PeerListener, SyncListener, Wake};
use super::state::StatusListener;
use super::swarm::SwarmDriver;
use super::wire::{Input, ReplyId, Request as WireRequest};
use crate::core::sync::{ReplicateRequest, MAX_BATCH_BLOCKS};
use crate::db::Db;
use crate::net::{build_browser_swarm, WireErrors};

enum Request {
    Command(Command, Reply),
    /// The browser's `online` (true) and `offline` (false) events.
    Online(bool),
    Stop,
}

/// A running page node; [`BrowserNode::stop`] ends it.
#[derive(Clone)]
pub(crate) struct BrowserNode {
    requests: mpsc::UnboundedSender<Request>,
}

impl BrowserNode {
    /// Starts the node on `db`, dialling (and keeping connected)
    /// `config.peers`; `on_peer` hears of peers coming and going.
    pub(crate) fn start(
        db: Rc<Db<NodeStore>>,
        config: NodeConfig,
        on_peer: PeerListener,
        on_sync: SyncListener,
        on_status: StatusListener,
        online: bool,
    ) -> Result<Self, NodeError> {
        let wire_errors = Arc::new(WireErrors::default());
        let swarm =
            build_browser_swarm(keypair_of(&db), config.pubsub, wire_errors.clone()).map_err(NodeError::Network)?;
        let (requests, rx) = mpsc::unbounded();
        // A JS write commits outside the node's task: wake it to publish.
        let (wake_tx, wake_rx) = mpsc::unbounded();
        let wake: Wake = Rc::new(move || {
            let _ = wake_tx.unbounded_send(());
        });
        let epoch = web_time::Instant::now();
        let clock = Clock { now: std::time::Duration::ZERO, wall_zero_ms: wall_now_ms() };
        wasm_bindgen_futures::spawn_local(async move {
            match Node::assemble(db.clone(), config, wire_errors, clock, Some(wake)).await {
                Ok(mut node) => {
                    node.on_peer = Some(on_peer);
                    node.on_sync = Some(on_sync);
                    node.status.listener = Some(on_status);
                    // A push is merged while the next ones are verified,
                    // by a worker started now, while the node dials: ready
                    // for a catch-up's first batch.
                    node.verify_aside = true;
                    super::webcrypto::prepare_worker();
                    node.browser_online_at_start(online);
                    node.listen_later();
                    run(node, SwarmDriver::new(swarm), epoch, rx, wake_rx).await;
                }
                Err(e) => {
                    tracing::error!("the page's node did not start: {e}");
                }
            }
        });
        Ok(BrowserNode { requests })
    }

    pub(crate) async fn call(&self, command: Command) -> Result<Value, CommandError> {
        let stopped = || CommandError { code: "NETWORK", message: "the page's network node has stopped".into() };
        let (tx, rx) = oneshot::channel();
        self.requests.unbounded_send(Request::Command(command, tx)).map_err(|_| stopped())?;
        rx.await.map_err(|_| stopped())?
    }

    pub(crate) fn stop(&self) {
        let _ = self.requests.unbounded_send(Request::Stop);
    }

    /// The browser went offline (`false`) or came back (`true`).
    pub(crate) fn set_online(&self, online: bool) {
        let _ = self.requests.unbounded_send(Request::Online(online));
    }

    /// Hands the page's `online` and `offline` events to the node, and
    /// stops it on `pagehide` when the page goes for good, for as long as
    /// the watch is kept; `None` where the global is no event target (a
    /// worker has no pages).
    pub(crate) fn watch_page(&self) -> Option<PageWatch> {
        let target = js_sys::global().dyn_into::<web_sys::EventTarget>().ok()?;
        let mut watch = PageWatch { target, listeners: Vec::new() };
        let node = self.clone();
        watch.listen("online", move |_| node.set_online(true))?;
        let node = self.clone();
        watch.listen("offline", move |_| node.set_online(false))?;
        // Closing its WebRTC-direct connections sends the SCTP ABORT that
        // ends them on the node at once; a page torn down with them open
        // sends nothing, and the node notices only when its ICE consent
        // checks have been missing for seconds. A page kept in the
        // back/forward cache may come back, connections and all.
        let node = self.clone();
        watch.listen("pagehide", move |ev| {
            if !ev.dyn_ref::<web_sys::PageTransitionEvent>().is_some_and(|ev| ev.persisted()) {
                node.stop();
            }
        })?;
        Some(watch)
    }
}

type EventListener = Closure<dyn FnMut(web_sys::Event)>;

/// The page's events a running node follows ([`BrowserNode::watch_page`]);
/// dropped, it stops listening.
pub(crate) struct PageWatch {
    target: web_sys::EventTarget,
    listeners: Vec<(&'static str, EventListener)>,
}

impl PageWatch {
    fn listen(&mut self, event: &'static str, f: impl FnMut(web_sys::Event) + 'static) -> Option<()> {
        let f = EventListener::new(f);
        self.target.add_event_listener_with_callback(event, f.as_ref().unchecked_ref()).ok()?;
        self.listeners.push((event, f));
        Some(())
    }
}

impl Drop for PageWatch {
    fn drop(&mut self) {
        for (event, f) in &self.listeners {
            let _ = self.target.remove_event_listener_with_callback(event, f.as_ref().unchecked_ref());
        }
    }
}

/// `navigator.onLine`; true where there is no navigator to ask.
pub(crate) fn browser_online() -> bool {
    js_sys::Reflect::get(&js_sys::global(), &"navigator".into())
        .and_then(|n| js_sys::Reflect::get(&n, &"onLine".into()))
        .ok()
        .and_then(|v| v.as_bool())
        .unwrap_or(true)
}

async fn run(
    mut node: Node,
    mut driver: SwarmDriver,
    epoch: web_time::Instant,
    mut requests: mpsc::UnboundedReceiver<Request>,
    mut wake: mpsc::UnboundedReceiver<()>,
) {
    let now = move || epoch.elapsed();
    driver.settle(&mut node, now).await;
    let mut housekeeping = Housekeeping::default();
    loop {
        housekeeping.due(node.next_housekeeping(), now);
        futures::select! {
            request = requests.next() => match request {
                Some(Request::Command(command, reply)) => {
                    node.at(now(), wall_now_ms());
                    let answer = super::swarm::page_command(&mut node, &driver, command).await;
                    let _ = reply.send(answer);
                }
                Some(Request::Online(online)) => {
                    node.at(now(), wall_now_ms());
                    node.set_online(online).await;
                }
                Some(Request::Stop) | None => break,
            },
            ev = driver.swarm.select_next_some() => driver.on_event(&mut node, ev, now).await,
            _ = wake.next() => {}
            checked = next_checked(&mut node.verifying).fuse() => {
                node.at(now(), wall_now_ms());
                let pusher = node.verifying.front().map(|p| p.peer);
                let held = polling_while(&mut driver, pusher, node.merge_checked(checked)).await;
                // The merge's step ends first (its answers: the pusher's
                // next push waits on them), then each held input is taken
                // as it would have been had it come after.
                for (input, begun) in held {
                    node.at(now(), wall_now_ms());
                    node.after_step().await;
                    driver.settle(&mut node, now).await;
                    node.begun = begun;
                    node.handle(input, now()).await;
                    node.begun = None;
                    driver.settle(&mut node, now).await;
                }
            }
            () = housekeeping.fired().fuse() => {
                node.at(now(), wall_now_ms());
                node.housekeeping().await;
            }
        }
        node.at(now(), wall_now_ms());
        node.after_step().await;
        driver.settle(&mut node, now).await;
    }
    // Dropping the swarm closes every connection.
    drop(driver);
}

/// The timer of the node's next housekeeping, kept from one turn of the
/// loop to the next while its deadline stays: a turn comes with every
/// event of the swarm, and a timer made and cleared on each
/// (`setTimeout`, `clearTimeout`, a closure) took ~60 ms of a reopened
/// page's thread in a catch-up of 10,000 blocks (BENCHMARKS.md, "Catch-up:
/// the page's timer kept, a document's id encoded once").
#[derive(Default)]
struct Housekeeping {
    /// The deadline (since the node's epoch) and its timer.
    timer: Option<(std::time::Duration, Delay)>,
}

impl Housekeeping {
    /// Sets the deadline (`None`: nothing due); a new timer only if it
    /// moved or the last one fired, and only then is the clock read (`now`:
    /// the time since the epoch).
    fn due(&mut self, at: Option<std::time::Duration>, now: impl FnOnce() -> std::time::Duration) {
        if self.timer.as_ref().map(|(t, _)| *t) != at {
            self.timer = at.map(|at| (at, Delay::new(at.saturating_sub(now()))));
        }
    }

    /// Resolves when the deadline passes (never without one), and forgets
    /// it: in a page a `Delay` polled again once it has fired throws (gloo's
    /// `TimeoutFuture`), so a fired timer is never kept. Nothing is awaited
    /// between the two, so a turn that drops this future midway leaves
    /// either the timer not yet fired or none.
    async fn fired(&mut self) {
        match &mut self.timer {
            Some((_, delay)) => delay.await,
            None => futures::future::pending().await,
        }
        self.timer = None;
    }
}

/// Inputs taken from the swarm while the node merged, held for it at
/// most: past them the swarm waits for the merge, as it did before. As
/// few as a connection's own buffer holds: each may be a message of up to
/// 8 MiB.
const HELD_INPUTS: usize = 8;

/// Pushes among the held inputs whose checks begin at once: WebCrypto's
/// worker checks one batch at a time, and each is decoded on this thread.
const BEGUN_AT_ONCE: usize = 2;

/// A held input, with the check begun of the push it carries.
type Held = (Input, Option<(ReplyId, LocalBoxFuture<'static, Verified>)>);

/// Runs `merge` while the swarm keeps being polled. The node takes no
/// input until the merge is done (it holds the node), so what happens
/// meanwhile is held, in order, for it to take after; but a push among it
/// has its check begun now, so that the worker checks the next batch
/// while this thread merges one, rather than after (BENCHMARKS.md,
/// "Catch-up: a push checked while the node merges"). Only a push of
/// `pusher` (the peer whose push is merged: admitted a moment ago) and
/// of an honest push's size at most: the node may yet refuse it, or find
/// its blocks repeated or merged lately and check fewer, and the work
/// begun is not called back, so a peer gets at most two batches' worth
/// checked in vain per merge of its own.
async fn polling_while(
    driver: &mut SwarmDriver,
    pusher: Option<PeerId>,
    merge: impl std::future::Future<Output = ()>,
) -> Vec<Held> {
    let mut held: Vec<Held> = Vec::new();
    let mut merge = std::pin::pin!(merge);
    // By hand rather than `select!`: the page pays for each state machine.
    std::future::poll_fn(|cx| {
        if merge.as_mut().poll(cx).is_ready() {
            return Poll::Ready(());
        }
        while held.len() < HELD_INPUTS {
            let Poll::Ready(Some(ev)) = driver.swarm.poll_next_unpin(cx) else { break };
            for input in driver.inputs(ev) {
                let begun = held.iter().filter(|(_, b)| b.is_some()).count();
                let check = match &input {
                    Input::Request {
                        peer,
                        reply,
                        request: WireRequest::Replicate(ReplicateRequest::Push { blocks, .. }),
                    } if begun < BEGUN_AT_ONCE && Some(*peer) == pusher && blocks.len() <= MAX_BATCH_BLOCKS => {
                        let blocks = blocks.iter().map(|b| b.to_vec()).collect();
                        Some((*reply, verify_batch(blocks).boxed_local()))
                    }
                    _ => None,
                };
                held.push((input, check));
            }
        }
        Poll::Pending
    })
    .await;
    held
}
