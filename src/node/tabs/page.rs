//! The page's driver of [`Tab`]: the Web Lock, the BroadcastChannel, the
//! page's lifecycle events and timers, and this tab's node while it leads
//! (the state machine says what to do; this only does it). No JS API here:
//! the bindings hand it commands and are told events as JSON.
//!
//! Every tab that opens a database with `p2p` asks for the lock
//! `weftdb:<name>` and holds it for its life; the one holding it runs the
//! node ([`BrowserNode`]). All of them listen on the channel `weftdb:<name>`.
//! Without Web Locks or BroadcastChannel a tab runs its own node, alone.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::{Rc, Weak};

use futures::channel::oneshot;
use js_sys::Function;
use libp2p::PeerId;
use serde_json::{json, Value};
use wasm_bindgen::prelude::*;

use super::{Action, Refused, Role, Tab, TabCommand, TabMessage, BEAT_MS, CALL_TIMEOUT_MS};
use crate::db::{Change, Db};
use crate::error::Error;
use crate::node::browser::{browser_online, BrowserNode, PageWatch};
use crate::node::run::{NodeStore, PeerEvent, SyncProgress};
use crate::node::state::StatusSnapshot;
use crate::node::{Command, NodeConfig};

#[wasm_bindgen(inline_js = "
export function tabs_supported() {
  return typeof BroadcastChannel === 'function' && !!(globalThis.navigator && navigator.locks && navigator.locks.request);
}
export function tabs_channel(name, onmessage) {
  const c = new BroadcastChannel(name);
  c.onmessage = (e) => onmessage(e.data);
  return c;
}
export function tabs_lock(name, steal, granted, lost) {
  const ctl = new AbortController();
  const grant = () => new Promise((release) => granted(release) || release());
  navigator.locks.request(name, steal ? { steal: true } : { signal: ctl.signal }, grant).catch((e) => lost(String(e)));
  return ctl;
}
export function tabs_abort(ctl) {
  ctl.abort();
}
export function tabs_visible() {
  return typeof document === 'undefined' || document.visibilityState === 'visible';
}
export function tabs_every(ms, f) {
  return setInterval(f, ms);
}
export function tabs_stop_every(id) {
  clearInterval(id);
}")]
extern "C" {
    /// Whether Web Locks and BroadcastChannel are both here.
    fn tabs_supported() -> bool;
    /// A BroadcastChannel calling `onmessage` with each message's data.
    fn tabs_channel(name: &str, onmessage: &Function) -> Channel;
    /// Asks for the exclusive lock `name` (taking it from its holder with
    /// `steal`). Once it is ours, `granted(release)` says whether to hold
    /// it: until `release()` is called, or the page goes (the browser then
    /// releases it). `lost` hears of a request that failed: the lock was
    /// stolen from us.
    /// Returns the request's `AbortController` (for [`tabs_abort`]; a
    /// steal cannot be aborted).
    fn tabs_lock(name: &str, steal: bool, granted: &Function, lost: &Function) -> JsValue;
    /// Withdraws a lock request not yet granted (nothing once it is).
    fn tabs_abort(ctl: &JsValue);
    fn tabs_every(ms: u32, f: &Function) -> JsValue;
    /// Whether the page is in front (hidden tabs' timers are slowed).
    fn tabs_visible() -> bool;
    fn tabs_stop_every(id: &JsValue);

    type Channel;
    #[wasm_bindgen(method, js_name = postMessage)]
    fn post_message(this: &Channel, message: &str);
    #[wasm_bindgen(method)]
    fn close(this: &Channel);
}

/// How long a leader waits, after the tab that led before it stopped its
/// node, before connecting again.
const RESTART_AFTER_MS: u64 = 500;

/// Milliseconds on the page's clock, for [`Tab`]'s timing.
fn now() -> f64 {
    js_sys::Date::now()
}

/// Where this tab's events go (`peer`, `sync`, `status`: the page's `on`
/// listeners), as JSON, whichever tab's node saw them.
pub(crate) type Tell = Rc<dyn Fn(&str, &Value)>;

/// This tab's node while it runs one, with the page events it follows.
struct Running {
    node: BrowserNode,
    _watch: Option<PageWatch>,
}

impl Running {
    /// Starts the page's node (`config`, [`NodeConfig::page`]); its events go
    /// to `event` as JSON, the form they cross the channel in and JS gets.
    fn start(db: Rc<Db<NodeStore>>, config: NodeConfig, event: Rc<dyn Fn(&'static str, Value)>) -> Result<Self, Error> {
        let tell = event.clone();
        let on_peer = Rc::new(move |ev: PeerEvent, peer: PeerId, transport: &'static str| {
            let kind = match ev {
                PeerEvent::Connected => "connected",
                PeerEvent::Disconnected => "disconnected",
            };
            tell("peer", json!({ "type": kind, "peerId": peer.to_string(), "transport": transport }));
        });
        let tell = event.clone();
        let on_sync = Rc::new(move |p: SyncProgress| {
            let ev = json!({
                "peerId": p.peer.to_string(),
                "blocksReceived": p.blocks_received,
                "blocksWanted": p.blocks_wanted,
            });
            tell("sync", ev);
        });
        let on_status = Rc::new(move |s: &StatusSnapshot| {
            event("status", serde_json::to_value(s).expect("a status serialises"));
        });
        let node = BrowserNode::start(db, config, on_peer, on_sync, on_status, browser_online())
            .map_err(|e| Error::Network(e.to_string()))?;
        let watch = node.watch_page();
        Ok(Running { node, _watch: watch })
    }

    /// Runs a node command; its refusals become errors with their code.
    async fn call(&self, command: Command) -> Result<Value, Error> {
        self.node.call(command).await.map_err(|e| Error::Node { code: e.code, message: e.message })
    }
}

struct Shared {
    lock_name: String,
    db: Rc<Db<NodeStore>>,
    tab: RefCell<Tab>,
    channel: Option<Channel>,
    /// The node to start when this tab comes to run it.
    config: NodeConfig,
    /// This tab's node, while it runs one.
    node: RefCell<Option<Rc<Running>>>,
    /// This tab's calls waiting for an answer.
    waiting: RefCell<HashMap<u64, oneshot::Sender<Result<Value, Refused>>>>,
    /// The last `status` this tab heard (its own node's, or the leader's).
    status: RefCell<Option<Value>>,
    /// The last status this tab's listeners were told: they hear changes only.
    told_status: RefCell<Option<Value>>,
    tell: Tell,
    /// Set while another tab's change is told to this tab's subscribers,
    /// so it is not posted back.
    relaying: Cell<bool>,
    /// Releases the lock this tab holds.
    release: RefCell<Option<Function>>,
    /// This tab's place in the lock's queue, while it waits: the request's
    /// number and its `AbortController`. One at a time; withdrawn while the
    /// page is hidden in the back/forward cache or frozen, so that the lock
    /// never goes to a tab that cannot run.
    queued: RefCell<Option<(u64, JsValue)>>,
    /// Numbers lock requests, and marks those withdrawn on purpose.
    requests: Cell<u64>,
    withdrawn: RefCell<std::collections::HashSet<u64>>,
    /// The timer of [`Tab::tick`], while [`Tab::ticking`].
    ticker: RefCell<Option<JsValue>>,
    /// Its callback, made on the first start.
    tick: RefCell<Option<JsValue>>,
    stopped: Cell<bool>,
    /// JS callbacks that must live as long as the tab.
    _callbacks: RefCell<Vec<JsValue>>,
}

/// This tab's part in the database's network: it runs the node, or reaches
/// the tab that does.
#[derive(Clone)]
pub(crate) struct Tabs {
    shared: Rc<Shared>,
}

impl Tabs {
    /// Joins the other tabs that opened `name`, or runs the node alone
    /// where Web Locks or BroadcastChannel are missing. The node, in
    /// whichever tab runs it, is `config`'s; `tell` hears this tab's events.
    pub(crate) fn start(name: &str, db: Rc<Db<NodeStore>>, config: NodeConfig, tell: Tell) -> Result<Tabs, Error> {
        let coordinated = tabs_supported();
        let lock_name = format!("weftdb:{name}");
        // The channel is made first; its callback finds the tab once it exists.
        let slot: Rc<RefCell<Weak<Shared>>> = Rc::default();
        let (channel, onmessage) = if coordinated {
            let slot = slot.clone();
            let onmessage = Closure::<dyn Fn(JsValue)>::new(move |data: JsValue| {
                let (Some(s), Some(text)) = (slot.borrow().upgrade(), data.as_string()) else { return };
                match crate::wasm::json_exact(&text).and_then(TabMessage::from_value) {
                    Ok(msg) => {
                        let actions = s.tab.borrow_mut().receive(msg, now());
                        Tabs { shared: s }.act(actions);
                    }
                    Err(e) => tracing::warn!("an unreadable message between tabs: {e}"),
                }
            })
            .into_js_value();
            (Some(tabs_channel(&lock_name, onmessage.unchecked_ref())), Some(onmessage))
        } else {
            (None, None)
        };
        let mut id = [0u8; 8];
        getrandom::getrandom(&mut id).expect("the platform has a random source");
        let shared = Rc::new(Shared {
            lock_name,
            db,
            tab: RefCell::new(Tab::new(u64::from_le_bytes(id), coordinated, now())),
            channel,
            config,
            node: RefCell::new(None),
            waiting: RefCell::default(),
            status: RefCell::new(None),
            told_status: RefCell::new(None),
            tell,
            relaying: Cell::new(false),
            release: RefCell::new(None),
            queued: RefCell::new(None),
            requests: Cell::new(0),
            withdrawn: RefCell::default(),
            ticker: RefCell::new(None),
            tick: RefCell::new(None),
            stopped: Cell::new(false),
            _callbacks: RefCell::new(onmessage.into_iter().collect()),
        });
        *slot.borrow_mut() = Rc::downgrade(&shared);
        let tabs = Tabs { shared };
        if !coordinated {
            tracing::info!("no Web Locks or BroadcastChannel here: this tab runs its own node");
            tabs.run_node()?;
            return Ok(tabs);
        }
        tabs.watch_db();
        tabs.request_lock(false);
        tabs.watch_page();
        tabs.keep_ticking();
        let hello = tabs.shared.tab.borrow().hello();
        tabs.act(hello);
        Ok(tabs)
    }

    /// Hooks into this tab's database: its changes reach the other tabs'
    /// subscribers, and a follower's new blocks reach the leader.
    fn watch_db(&self) {
        let weak = Rc::downgrade(&self.shared);
        // The other tabs hear a merge once its commit is asked for: a `get`
        // they make then reads after it. (This tab's own subscribers may
        // hear it sooner, from the cache.)
        self.shared.db.subscribe_commits(move |changes: &[Change]| {
            let Some(s) = weak.upgrade() else { return };
            if s.relaying.get() || s.stopped.get() {
                return;
            }
            let actions = s.tab.borrow().changed(changes);
            Tabs { shared: s }.act(actions);
        });
        let weak = Rc::downgrade(&self.shared);
        self.shared.db.on_block(move |m| {
            let Some(s) = weak.upgrade() else { return };
            // A tab running the node (most often the only one) tells no
            // one: no CID's text made per merged block for nothing.
            if s.stopped.get() || s.tab.borrow().runs_node() {
                return;
            }
            let actions = s.tab.borrow_mut().committed(vec![m.cid.to_string()]);
            Tabs { shared: s }.act(actions);
        });
    }

    /// Joins the queue for the lock (or, with `steal`, takes it from a
    /// leader gone silent); once it is ours this tab leads.
    fn request_lock(&self, steal: bool) {
        if !steal && self.shared.queued.borrow().is_some() {
            return; // in the queue already
        }
        let seq = self.shared.requests.get();
        self.shared.requests.set(seq + 1);
        let weak = Rc::downgrade(&self.shared);
        let granted = Closure::<dyn Fn(Function) -> bool>::new(move |release: Function| {
            let Some(s) = weak.upgrade() else { return false };
            if s.queued.borrow().as_ref().is_some_and(|(q, _)| *q == seq) {
                s.queued.borrow_mut().take();
            }
            // Closed, or leading already (a steal and the queued request both granted).
            if s.stopped.get() || s.tab.borrow().role() == Role::Leader {
                return false;
            }
            let tabs = Tabs { shared: s };
            // The old leader's peers and queue are not this node's: it tells its own.
            *tabs.shared.status.borrow_mut() = None;
            if let Err(e) = tabs.run_node() {
                tracing::error!("this tab took the lead but its node did not start: {e}");
                return false;
            }
            *tabs.shared.release.borrow_mut() = Some(release);
            let actions = tabs.shared.tab.borrow_mut().lead();
            tracing::info!("this tab leads: it runs the node for every tab of the database");
            tabs.act(actions);
            tabs.tell_role();
            true
        })
        .into_js_value();
        let weak = Rc::downgrade(&self.shared);
        let lost = Closure::<dyn Fn(String)>::new(move |why: String| {
            let Some(s) = weak.upgrade() else { return };
            if s.queued.borrow().as_ref().is_some_and(|(q, _)| *q == seq) {
                s.queued.borrow_mut().take();
            }
            // Withdrawn by this tab (hidden or frozen): it asks again on return.
            if s.withdrawn.borrow_mut().remove(&seq) {
                return;
            }
            let tabs = Tabs { shared: s };
            if tabs.role() == Role::Leader {
                tracing::info!("another tab took the lead from this one ({why}): it follows");
                tabs.step_down();
                let tab = tabs.shared.tab.borrow().id();
                tabs.post(&TabMessage::Followed { tab });
            } else {
                tabs.shared.tab.borrow_mut().step_down(now());
            }
            tabs.tell_role();
            if !tabs.shared.stopped.get() {
                tabs.request_lock(false);
            }
        })
        .into_js_value();
        let ctl = tabs_lock(&self.shared.lock_name, steal, granted.unchecked_ref(), lost.unchecked_ref());
        if !steal {
            *self.shared.queued.borrow_mut() = Some((seq, ctl));
        }
    }

    /// Leaves the lock's queue (a page going into the back/forward cache or
    /// frozen): the lock must go to a tab that can run.
    fn withdraw(&self) {
        if let Some((seq, ctl)) = self.shared.queued.borrow_mut().take() {
            self.shared.withdrawn.borrow_mut().insert(seq);
            tabs_abort(&ctl);
        }
    }

    /// Runs [`Tab::tick`] every [`BEAT_MS`] while [`Tab::ticking`] says
    /// it may do something (beat while leading followers, watch the leader
    /// while following, steal a silent leader's lock), and no timer
    /// otherwise: called after every input that may change that.
    fn keep_ticking(&self) {
        let s = &self.shared;
        let wanted = !s.stopped.get() && s.tab.borrow().ticking(now());
        let running = s.ticker.borrow().is_some();
        if wanted && !running {
            let mut tick = s.tick.borrow_mut();
            let tick = tick.get_or_insert_with(|| {
                let weak = Rc::downgrade(s);
                Closure::<dyn Fn()>::new(move || {
                    let Some(s) = weak.upgrade() else { return };
                    if s.stopped.get() {
                        return;
                    }
                    let actions = s.tab.borrow_mut().tick(now(), tabs_visible());
                    let tabs = Tabs { shared: s };
                    tabs.act(actions);
                    tabs.keep_ticking();
                })
                .into_js_value()
            });
            *s.ticker.borrow_mut() = Some(tabs_every(BEAT_MS, tick.unchecked_ref()));
        } else if !wanted && running {
            if let Some(id) = s.ticker.borrow_mut().take() {
                tabs_stop_every(&id);
            }
        }
    }

    /// A page going into the back/forward cache, or frozen in the
    /// background, gives up the lead (a frozen tab would hold the network
    /// for every other) and asks again when it comes back; a page going for
    /// good releases everything at once rather than when the browser tears
    /// it down.
    fn watch_page(&self) {
        let Ok(target) = js_sys::global().dyn_into::<web_sys::EventTarget>() else { return };
        let weak = Rc::downgrade(&self.shared);
        let hide = Closure::<dyn Fn(web_sys::PageTransitionEvent)>::new(move |_: web_sys::PageTransitionEvent| {
            if let Some(s) = weak.upgrade() {
                Tabs { shared: s }.go_away();
            }
        })
        .into_js_value();
        let weak = Rc::downgrade(&self.shared);
        let show = Closure::<dyn Fn(web_sys::PageTransitionEvent)>::new(move |ev: web_sys::PageTransitionEvent| {
            if let Some(s) = weak.upgrade().filter(|_| ev.persisted()) {
                Tabs { shared: s }.come_back();
            }
        })
        .into_js_value();
        let _ = target.add_event_listener_with_callback("pagehide", hide.unchecked_ref());
        let _ = target.add_event_listener_with_callback("pageshow", show.unchecked_ref());
        // A tab the browser freezes in the background (Page Lifecycle) does the same.
        let weak = Rc::downgrade(&self.shared);
        let freeze = Closure::<dyn Fn()>::new(move || {
            if let Some(s) = weak.upgrade() {
                Tabs { shared: s }.go_away();
            }
        })
        .into_js_value();
        let weak = Rc::downgrade(&self.shared);
        let resume = Closure::<dyn Fn()>::new(move || {
            if let Some(s) = weak.upgrade() {
                Tabs { shared: s }.come_back();
            }
        })
        .into_js_value();
        if let Some(document) = web_sys::window().and_then(|w| w.document()) {
            let _ = document.add_event_listener_with_callback("freeze", freeze.unchecked_ref());
            let _ = document.add_event_listener_with_callback("resume", resume.unchecked_ref());
        }
        self.shared._callbacks.borrow_mut().extend([hide, show, freeze, resume]);
    }

    /// The page goes into the back/forward cache or is frozen: it stops
    /// leading and leaves the lock's queue.
    fn go_away(&self) {
        self.step_down();
        self.withdraw();
    }

    /// The page is back (from the cache, or resumed): it queues for the lock
    /// again, unless it holds it or the database was closed.
    fn come_back(&self) {
        if !self.shared.stopped.get() && self.shared.release.borrow().is_none() {
            self.request_lock(false);
        }
    }

    /// Stops this tab's node and releases the lock (if it led).
    fn step_down(&self) {
        if let Some(node) = self.shared.node.borrow_mut().take() {
            node.node.stop();
        }
        self.shared.tab.borrow_mut().step_down(now());
        if let Some(release) = self.shared.release.borrow_mut().take() {
            let _ = release.call0(&JsValue::NULL);
        }
        self.tell_role();
    }

    /// Starts this tab's node, its events going to every tab.
    fn run_node(&self) -> Result<(), Error> {
        let s = &self.shared;
        let weak = Rc::downgrade(s);
        let event = Rc::new(move |event: &'static str, data: Value| {
            let Some(s) = weak.upgrade() else { return };
            let actions = s.tab.borrow_mut().event(event, data);
            Tabs { shared: s }.act(actions);
        });
        let node = Running::start(s.db.clone(), s.config.clone(), event)?;
        *s.node.borrow_mut() = Some(Rc::new(node));
        Ok(())
    }

    /// Does what the state machine said.
    fn act(&self, actions: Vec<Action>) {
        for action in actions {
            match action {
                Action::Post(msg) => self.post(&msg),
                Action::Run { from, id, command } => {
                    let tabs = self.clone();
                    wasm_bindgen_futures::spawn_local(async move {
                        let result = tabs.run(command.into()).await.map_err(|e| Refused::of(&e));
                        let actions = tabs.shared.tab.borrow_mut().answered(from, id, result);
                        tabs.act(actions);
                    });
                }
                Action::Resolve { id, result } => {
                    if let Some(tx) = self.shared.waiting.borrow_mut().remove(&id) {
                        let _ = tx.send(result);
                    }
                }
                Action::Adopt { from, cids } => {
                    let tabs = self.clone();
                    wasm_bindgen_futures::spawn_local(async move {
                        match tabs.run(Command::Committed { cids: cids.clone() }).await {
                            Ok(_) => {
                                let actions = tabs.shared.tab.borrow_mut().adopted(from, cids);
                                tabs.act(actions);
                            }
                            // Not taken: the tab that committed them (this one
                            // included) keeps them and sends them to the next leader.
                            Err(e) => tracing::warn!("cannot take another tab's blocks: {e}"),
                        }
                    });
                }
                Action::Event { event, data } => self.tell(&event, &data),
                Action::Restart => {
                    let tabs = self.clone();
                    wasm_bindgen_futures::spawn_local(async move {
                        // Time for the old leader's connections to close.
                        futures_timer::Delay::new(std::time::Duration::from_millis(RESTART_AFTER_MS)).await;
                        if tabs.role() != Role::Leader || tabs.shared.stopped.get() {
                            return;
                        }
                        tracing::info!("the tab that led before has stopped its node: connecting again");
                        if let Some(node) = tabs.shared.node.borrow_mut().take() {
                            node.node.stop();
                        }
                        if let Err(e) = tabs.run_node() {
                            tracing::error!("this tab's node did not start again: {e}");
                        }
                    });
                }
                Action::Steal => {
                    tracing::info!("the leading tab has been silent for a second (frozen?): taking the lead");
                    self.request_lock(true);
                }
                Action::Changed(change) => {
                    self.shared.relaying.set(true);
                    self.shared.db.notify(&change);
                    self.shared.relaying.set(false);
                }
            }
        }
        self.keep_ticking();
    }

    fn post(&self, msg: &TabMessage) {
        if let Some(channel) = self.shared.channel.as_ref() {
            if !self.shared.stopped.get() {
                channel.post_message(&msg.to_json());
            }
        }
    }

    /// A command on this tab's own node.
    async fn run(&self, command: Command) -> Result<Value, Error> {
        // Not held across the await: the node's task answers.
        let node = self.shared.node.borrow().clone();
        match node {
            Some(node) => node.call(command).await,
            None => Err(Error::Network("this tab's network node is not running".into())),
        }
    }

    /// A node command from this tab's JS: run here, or by the leader.
    pub(crate) async fn call(&self, command: TabCommand) -> Result<Value, Error> {
        let stats = command == TabCommand::Stats;
        let (tx, rx) = oneshot::channel();
        let (id, actions) = self.shared.tab.borrow_mut().call(command);
        self.shared.waiting.borrow_mut().insert(id, tx);
        self.act(actions);
        let timeout = futures_timer::Delay::new(std::time::Duration::from_millis(CALL_TIMEOUT_MS));
        let answered = match futures::future::select(rx, timeout).await {
            futures::future::Either::Left((answered, _)) => answered,
            futures::future::Either::Right(_) => {
                self.shared.waiting.borrow_mut().remove(&id);
                self.shared.tab.borrow_mut().give_up(id);
                return Err(Error::Network(format!(
                    "no tab's node answered within {} s (no tab leads, or the leader cannot read the command)",
                    CALL_TIMEOUT_MS / 1000
                )));
            }
        };
        let mut answer = match answered {
            Ok(result) => result.map_err(Refused::into_error)?,
            Err(_) => return Err(Error::Network("the database was closed".into())),
        };
        if stats {
            // Which tab answered does not matter; which this one is does.
            if let Value::Object(o) = &mut answer {
                o.insert("tabs".into(), self.role().as_str().into());
            }
        }
        Ok(answer)
    }

    /// `db.status()` ([`Role::status`]).
    pub(crate) fn status(&self) -> Value {
        self.role().status(self.shared.status.borrow().as_ref(), browser_online())
    }

    fn role(&self) -> Role {
        self.shared.tab.borrow().role()
    }

    fn tell(&self, event: &str, data: &Value) {
        if event == "status" {
            *self.shared.status.borrow_mut() = Some(data.clone());
            self.tell_role();
            return;
        }
        (self.shared.tell)(event, data);
    }

    /// Tells the `status` listeners this tab's status: when a node told one,
    /// and when this tab's role changed (`leader` is its own).
    fn tell_role(&self) {
        self.keep_ticking();
        let status = self.status();
        if self.shared.told_status.borrow().as_ref() == Some(&status) {
            return;
        }
        *self.shared.told_status.borrow_mut() = Some(status.clone());
        (self.shared.tell)("status", &status);
    }

    /// Leaves the other tabs: the node stops, the lock goes to another tab.
    pub(crate) fn stop(&self) {
        self.go_away();
        self.shared.stopped.set(true);
        if let Some(id) = self.shared.ticker.borrow_mut().take() {
            tabs_stop_every(&id);
        }
        if let Some(channel) = self.shared.channel.as_ref() {
            channel.close();
        }
        for (_, tx) in self.shared.waiting.borrow_mut().drain() {
            drop(tx);
        }
    }

    /// A handle that does not keep this tab's part alive (for callbacks
    /// the database itself holds).
    pub(crate) fn downgrade(&self) -> WeakTabs {
        WeakTabs(Rc::downgrade(&self.shared))
    }
}

pub(crate) struct WeakTabs(Weak<Shared>);

impl WeakTabs {
    pub(crate) fn upgrade(&self) -> Option<Tabs> {
        self.0.upgrade().map(|shared| Tabs { shared })
    }
}
