//! Many tabs of one origin as one peer: the messages tabs exchange over
//! their `BroadcastChannel`, and each tab's state machine (sans IO: the
//! page's driver, `page.rs`, posts what [`Tab`] returns and feeds it what
//! arrives, over the Web Lock and the channel). The leader, the one tab
//! holding the database's Web Lock, runs the node; the others send it their
//! node commands and the blocks they commit. See the crate docs, "Many tabs
//! of one origin".
//!
//! Also here: `Node::adopt`, the leader taking blocks a follower committed.

use std::collections::{BTreeMap, BTreeSet};

use cid::Cid;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::command::{Command, CommandError};
use super::run::Node;
use super::state::outbox_rows;
use super::state::StatusSnapshot;
use crate::core::block::SignedBlock;
use crate::db::{Change, ChangeKind, Merged};
use crate::error::Error;

mod json;
#[cfg(target_arch = "wasm32")]
mod page;
#[cfg(target_arch = "wasm32")]
pub(crate) use page::Tabs;

/// A tab, named at random when it opens the database.
pub type TabId = u64;

/// What this tab is to the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// No Web Locks or no BroadcastChannel here: the tab runs its own node,
    /// as every tab did before tabs coordinated.
    Alone,
    /// Holds the lock and runs the node for every tab.
    Leader,
    /// Reaches the network through the leader.
    Follower,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Alone => "alone",
            Role::Leader => "leader",
            Role::Follower => "follower",
        }
    }

    /// `db.status()` in a tab of this role: the last status a node told it
    /// (its own, or the leader's, forwarded like `peer` and `sync`) with
    /// `leader` its own; before any, the browser's `online` and nothing else.
    pub fn status(self, told: Option<&Value>, online: bool) -> Value {
        let mut status = match told {
            Some(told) => told.clone(),
            None => serde_json::to_value(StatusSnapshot { online, ..StatusSnapshot::default() })
                .expect("a status serialises"),
        };
        if let Value::Object(o) = &mut status {
            o.insert("leader".into(), (self != Role::Follower).into());
        }
        status
    }
}

/// A node command crossing the channel, with the node's answer or refusal.
///
/// Its JSON is written by hand ([`TabMessage::to_json`]): serde's derive for
/// an internally tagged enum buffers every field through its `Content`
/// machinery, ~20 KB of the page's gzipped wasm for these two enums
/// (BENCHMARKS.md, "wasm size"). Under test the derive is kept as the
/// oracle the hand-written encoding is checked against.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(test, derive(Serialize, Deserialize), serde(tag = "command", rename_all = "camelCase"))]
pub enum TabCommand {
    Stats,
    Connections,
    Dial { addr: String },
    SetReplicator { collection: String, docs: Option<Vec<String>>, peer: String },
    ListReplicators,
    DeleteReplicator { collection: String, peer_id: String },
    AddP2pCollection { collection: String },
    RemoveP2pCollection { collection: String },
    ListP2pCollections,
}

impl From<TabCommand> for Command {
    fn from(c: TabCommand) -> Command {
        match c {
            TabCommand::Stats => Command::Stats,
            TabCommand::Connections => Command::Connections,
            TabCommand::Dial { addr } => Command::Dial { addr },
            TabCommand::SetReplicator { collection, docs, peer } => Command::SetReplicator { collection, docs, peer },
            TabCommand::ListReplicators => Command::ListReplicators,
            TabCommand::DeleteReplicator { collection, peer_id } => Command::DeleteReplicator { collection, peer_id },
            TabCommand::AddP2pCollection { collection } => Command::AddP2pCollection { collection },
            TabCommand::RemoveP2pCollection { collection } => Command::RemoveP2pCollection { collection },
            TabCommand::ListP2pCollections => Command::ListP2pCollections,
        }
    }
}

/// A refusal as it crosses the channel; the receiving tab maps `code` back
/// to one of the node's static codes.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(test, derive(Serialize, Deserialize))]
pub struct Refused {
    pub code: String,
    pub message: String,
}

/// The codes a refusal from the leader may carry (others become `NETWORK`).
const CODES: [&str; 10] = [
    "BAD_REQUEST",
    "VALIDATION",
    "NOT_FOUND",
    "UNKNOWN_COLLECTION",
    "UNAUTHORIZED",
    "STORAGE",
    "NETWORK",
    "STALE",
    "BLOCKED",
    "SCHEMA_INVALID",
];

impl Refused {
    /// The leader's node refused a command: its code and message, to send.
    pub fn of(e: &Error) -> Refused {
        Refused { code: e.code().into(), message: e.to_string() }
    }

    /// The refusal as the calling tab rejects with it: the same code (a
    /// code this build does not know, from another build, as `NETWORK`).
    pub fn into_error(self) -> Error {
        let code = CODES.iter().copied().find(|c| *c == self.code).unwrap_or("NETWORK");
        Error::Node { code, message: self.message }
    }
}

/// One message on the database's channel (`weftdb:<name>`), as JSON
/// ([`TabMessage::to_json`], [`TabMessage::from_json`]): an object with the
/// variant's name in camelCase under `type` and its fields by name.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(test, derive(Serialize, Deserialize), serde(tag = "type", rename_all = "camelCase"))]
pub enum TabMessage {
    /// A tab that opened asks who leads.
    Who,
    /// The leader says so: when it takes the lock, and to every `Who`.
    Leader { tab: TabId },
    /// The leader is alive: every [`BEAT_MS`] while it hears from
    /// followers (within [`FOLLOWERS_TTL_MS`]); a leader alone posts
    /// nothing. A leader silent for [`SILENCE_MS`] (a frozen tab still
    /// holds its lock) has its lock stolen by a follower.
    Beat { tab: TabId },
    /// A follower is still open: every [`HERE_MS`] (unless it asked `who`
    /// meanwhile), so its leader keeps beating.
    Here { tab: TabId },
    /// A tab that led until its lock was stolen (it was frozen) has stopped
    /// its node. The nodes it was connected to may have kept talking gossip
    /// to its connection while the new leader's came up beside it under the
    /// same peer id: the new leader connects again, alone now.
    Followed { tab: TabId },
    /// A follower's node command for the leader to run.
    Call { from: TabId, id: u64, command: TabCommand },
    /// The leader's answer to one `Call`.
    Reply { to: TabId, id: u64, result: Result<Value, Refused> },
    /// A follower committed these blocks (CIDs): the leader publishes them
    /// and queues them for its replicators.
    Committed { from: TabId, cids: Vec<String> },
    /// The leader took a follower's blocks: it may forget them.
    Taken { to: TabId, cids: Vec<String> },
    /// A network event from the leader's node (`peer`, `sync`), for every
    /// tab's `on` listeners.
    Event { event: String, data: Value },
    /// A change committed in the sending tab (a local write, or a merge in
    /// the leader): the document right after it, `null` once deleted.
    Changed { collection: String, id: String, kind: String, doc: Option<Value> },
    /// The changes of one commit of the sending tab, in order, when it
    /// made more than one: one post instead of one a change (a post costs
    /// ~10–15 µs of the page's thread; a catch-up or a bulk create commits a
    /// thousand at once). Every tab with the database open reads it: the
    /// builds before it had IndexedDB version 3 and are closed by this one's
    /// open (`store::idb`'s `VERSION`).
    Changes { changes: Vec<TabChange> },
}

/// One change in [`TabMessage::Changes`]: [`TabMessage::Changed`]'s fields.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(test, derive(Serialize, Deserialize))]
pub struct TabChange {
    pub collection: String,
    pub id: String,
    pub kind: String,
    pub doc: Option<Value>,
}

/// How often a leader says it is alive, in milliseconds.
pub const BEAT_MS: u32 = 200;
/// How long followers wait for a silent leader before one steals its lock.
pub const SILENCE_MS: f64 = 800.0;
/// After this long without a beat a follower asks `who` leads: a hidden
/// leader's timers (its beats) are slowed to one a second, but it answers
/// a message at once; a frozen one does not.
pub const PROBE_MS: f64 = 300.0;
/// How often a follower that has posted nothing else says it is still
/// there ([`TabMessage::Here`]).
pub const HERE_MS: f64 = 4_000.0;
/// How long a leader keeps beating after it last heard from a follower.
/// A tab alone never posts: its beats would reach nobody, and each post
/// costs the page's thread a structured clone (most of an idle page's
/// CPU when it beat regardless; see `tests/browser/idle-bench.mjs`).
pub const FOLLOWERS_TTL_MS: f64 = 10_000.0;

/// How long a tab's node command waits for an answer, from its own node or
/// through the channel: no leader for that long (every tab hidden, a leader
/// of another build that cannot read the command) rejects it with
/// `NETWORK` rather than leave the page's promise pending for ever.
pub const CALL_TIMEOUT_MS: u64 = 30_000;

/// What the glue is to do after an input.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Post on the channel.
    Post(TabMessage),
    /// Run a command on this tab's own node (it leads); answer `Reply`
    /// to `from` (or resolve our own call `id` when `from` is us).
    Run { from: TabId, id: u64, command: TabCommand },
    /// Resolve this tab's call `id`.
    Resolve { id: u64, result: Result<Value, Refused> },
    /// Hand these blocks, committed in some tab, to this tab's node.
    Adopt { from: TabId, cids: Vec<String> },
    /// Tell this tab's `on(event)` listeners.
    Event { event: String, data: Value },
    /// Tell this tab's subscribers of a change another tab committed.
    Changed(Change),
    /// Take the lock from the tab holding it (`steal: true`): it has been
    /// silent too long.
    Steal,
    /// Restart this tab's node, so that its peers see it on one connection.
    Restart,
}

/// One tab's side of the coordination.
#[derive(Debug)]
pub struct Tab {
    id: TabId,
    role: Role,
    /// The tab known to lead, if any.
    leader: Option<TabId>,
    /// When a leader was last heard of (or this tab started), in ms.
    heard: f64,
    /// Leading: when another tab was last heard from (it beats while that
    /// is within [`FOLLOWERS_TTL_MS`]).
    followers_heard: f64,
    /// Following: when this tab last posted (it says `Here` after
    /// [`HERE_MS`] of saying nothing).
    said: f64,
    /// The last `status` event of this tab's node, for a tab that asks
    /// `who` (a follower that opened after the status last changed).
    last_status: Option<Value>,
    /// When this tab asked `who` after a silence and has heard nothing
    /// since: it steals only once that question went unanswered.
    asked: Option<f64>,
    /// A steal asked for and not yet granted.
    stealing: bool,
    next_call: u64,
    /// Calls not yet answered: posted again to each new leader.
    calls: BTreeMap<u64, TabCommand>,
    /// Blocks committed here that no leader has taken yet: posted again to
    /// each new leader, adopted by this tab itself if it comes to lead.
    untaken: BTreeSet<String>,
}

impl Tab {
    /// A tab that waits for the lock (`coordinated`), or one alone.
    /// `now` in milliseconds, on the clock [`Tab::tick`] and
    /// [`Tab::receive`] are given.
    pub fn new(id: TabId, coordinated: bool, now: f64) -> Tab {
        let role = if coordinated { Role::Follower } else { Role::Alone };
        let (calls, untaken) = (BTreeMap::new(), BTreeSet::new());
        Tab {
            id,
            role,
            leader: None,
            heard: now,
            followers_heard: f64::NEG_INFINITY,
            said: now,
            last_status: None,
            asked: None,
            stealing: false,
            next_call: 0,
            calls,
            untaken,
        }
    }

    /// Every [`BEAT_MS`]: a leader beats; a `visible` follower that has
    /// not heard of a leader for [`PROBE_MS`] asks `who`, and steals the
    /// lock when that question goes unanswered for `SILENCE_MS - PROBE_MS`
    /// more. Never on silence alone: a follower whose own timers were
    /// slowed (hidden, or back from the back/forward cache) sees a long
    /// silence on its first tick however well the leader is, and a hidden
    /// leader, its timers slowed too, still answers a message at once. Only
    /// a visible follower: hidden tabs would take the lead from each other
    /// forever; the tab in front takes it from a frozen leader once.
    ///
    /// A leader beats only while it hears from followers; a follower that
    /// has posted nothing for [`HERE_MS`] says it is still there.
    pub fn tick(&mut self, now: f64, visible: bool) -> Vec<Action> {
        match self.role {
            Role::Leader if now - self.followers_heard < FOLLOWERS_TTL_MS => {
                vec![Action::Post(TabMessage::Beat { tab: self.id })]
            }
            Role::Follower if visible && !self.stealing && now - self.heard >= PROBE_MS => match self.asked {
                Some(asked) if now - asked >= SILENCE_MS - PROBE_MS => {
                    self.stealing = true;
                    vec![Action::Steal]
                }
                Some(_) => Vec::new(),
                None => {
                    self.asked = Some(now);
                    self.said = now;
                    vec![Action::Post(TabMessage::Who)]
                }
            },
            Role::Follower if now - self.said >= HERE_MS => {
                self.said = now;
                vec![Action::Post(TabMessage::Here { tab: self.id })]
            }
            _ => Vec::new(),
        }
    }

    /// Whether [`Tab::tick`] may have something to do: a follower's
    /// always (it watches its leader and says it is there), a leader's
    /// while it hears from followers (within [`FOLLOWERS_TTL_MS`] of
    /// `now`). A leader alone, or a tab alone, needs no timer: the glue
    /// stops it, and starts it again after any input that makes this true
    /// (an idle page woke five times a second for nothing:
    /// BENCHMARKS.md, "Idle").
    pub fn ticking(&self, now: f64) -> bool {
        match self.role {
            Role::Follower => true,
            Role::Leader => now - self.followers_heard < FOLLOWERS_TTL_MS,
            Role::Alone => false,
        }
    }

    pub fn id(&self) -> TabId {
        self.id
    }

    pub fn role(&self) -> Role {
        self.role
    }

    /// Whether this tab runs the node.
    pub fn runs_node(&self) -> bool {
        self.role != Role::Follower
    }

    /// What a tab posts when it opens: the leader, if any, answers.
    pub fn hello(&self) -> Vec<Action> {
        match self.role {
            Role::Follower => vec![Action::Post(TabMessage::Who)],
            _ => Vec::new(),
        }
    }

    /// A node command from this tab's JS: `id` names its answer.
    pub fn call(&mut self, command: TabCommand) -> (u64, Vec<Action>) {
        let id = self.next_call;
        self.next_call += 1;
        if self.runs_node() {
            return (id, vec![Action::Run { from: self.id, id, command }]);
        }
        self.calls.insert(id, command.clone());
        (id, vec![Action::Post(TabMessage::Call { from: self.id, id, command })])
    }

    /// This tab stopped waiting for the answer to its call `id` (see
    /// `CALL_TIMEOUT_MS`): it is sent to no new leader.
    pub fn give_up(&mut self, id: u64) {
        self.calls.remove(&id);
    }

    /// Blocks this tab committed. A follower tells the leader and keeps
    /// them until taken; a tab running the node publishes them itself.
    pub fn committed(&mut self, cids: Vec<String>) -> Vec<Action> {
        if self.runs_node() || cids.is_empty() {
            return Vec::new();
        }
        self.untaken.extend(cids.iter().cloned());
        vec![Action::Post(TabMessage::Committed { from: self.id, cids })]
    }

    /// The changes of one commit in this tab: the others' subscribers hear
    /// of them, in one post.
    pub fn changed(&self, changes: &[Change]) -> Vec<Action> {
        if self.role == Role::Alone || changes.is_empty() {
            return Vec::new();
        }
        let each = changes.iter().map(|c| TabChange {
            collection: c.collection.clone(),
            id: c.id.clone(),
            kind: c.kind.as_str().into(),
            doc: c.doc.clone().map(Value::Object),
        });
        if changes.len() > 1 {
            return vec![Action::Post(TabMessage::Changes { changes: each.collect() })];
        }
        each.map(|TabChange { collection, id, kind, doc }| {
            Action::Post(TabMessage::Changed { collection, id, kind, doc })
        })
        .collect()
    }

    /// This tab took the lock: it runs the node, answers the calls it had
    /// sent, and adopts the blocks no leader took.
    pub fn lead(&mut self) -> Vec<Action> {
        if self.role != Role::Follower {
            return Vec::new();
        }
        self.role = Role::Leader;
        self.leader = Some(self.id);
        self.stealing = false;
        let mut out = vec![Action::Post(TabMessage::Leader { tab: self.id })];
        for (id, command) in std::mem::take(&mut self.calls) {
            out.push(Action::Run { from: self.id, id, command });
        }
        // Kept until this tab's node has taken them (`adopted`): should it
        // stop first (hidden, frozen, its node failing to start), they go
        // to the next leader as any follower's do.
        if !self.untaken.is_empty() {
            out.push(Action::Adopt { from: self.id, cids: self.untaken.iter().cloned().collect() });
        }
        out
    }

    /// This tab stopped leading (its page is hidden, its database closed):
    /// it becomes a follower until it takes the lock again.
    pub fn step_down(&mut self, now: f64) {
        if self.role == Role::Leader {
            self.role = Role::Follower;
            self.leader = None;
            self.heard = now;
        }
        self.last_status = None;
        self.asked = None;
        self.stealing = false;
    }

    /// The leader's node answered a command it ran; `from` asked.
    pub fn answered(&mut self, from: TabId, id: u64, result: Result<Value, Refused>) -> Vec<Action> {
        if from == self.id {
            self.calls.remove(&id);
            return vec![Action::Resolve { id, result }];
        }
        vec![Action::Post(TabMessage::Reply { to: from, id, result })]
    }

    /// The leader's node took blocks `from` committed.
    pub fn adopted(&mut self, from: TabId, cids: Vec<String>) -> Vec<Action> {
        if from == self.id {
            for c in &cids {
                self.untaken.remove(c);
            }
            return Vec::new();
        }
        vec![Action::Post(TabMessage::Taken { to: from, cids })]
    }

    /// An event of this tab's node: its own listeners and the other tabs'.
    pub fn event(&mut self, event: &str, data: Value) -> Vec<Action> {
        if event == "status" {
            self.last_status = Some(data.clone());
        }
        let mut out = vec![Action::Event { event: event.into(), data: data.clone() }];
        if self.role == Role::Leader {
            out.push(Action::Post(TabMessage::Event { event: event.into(), data }));
        }
        out
    }

    /// A message from another tab, at `now`.
    pub fn receive(&mut self, msg: TabMessage, now: f64) -> Vec<Action> {
        if matches!(msg, TabMessage::Leader { .. } | TabMessage::Beat { .. }) {
            self.heard = now;
            self.asked = None;
        } else if self.role == Role::Leader {
            // Anything else comes from a follower (or a tab about to be one).
            self.followers_heard = now;
        }
        match (self.role, msg) {
            (Role::Alone, _) => Vec::new(),
            (Role::Leader, TabMessage::Who) => {
                let mut out = vec![Action::Post(TabMessage::Leader { tab: self.id })];
                // The status as it stands: it is told only when it changes.
                if let Some(data) = self.last_status.clone() {
                    out.push(Action::Post(TabMessage::Event { event: "status".into(), data }));
                }
                out
            }
            // Our own id on another tab's message: no tab sends that (ids are
            // random); answering it would resolve one of our own calls.
            (Role::Leader, TabMessage::Call { from, .. }) if from == self.id => Vec::new(),
            (Role::Leader, TabMessage::Call { from, id, command }) => vec![Action::Run { from, id, command }],
            (Role::Leader, TabMessage::Committed { from, cids }) => vec![Action::Adopt { from, cids }],
            (Role::Leader, TabMessage::Followed { .. }) => vec![Action::Restart],
            (Role::Follower, TabMessage::Leader { tab } | TabMessage::Beat { tab }) => {
                if self.leader == Some(tab) {
                    return Vec::new();
                }
                // A new leader: whatever the old one may not have done, again.
                self.leader = Some(tab);
                let mut out: Vec<Action> = self
                    .calls
                    .iter()
                    .map(|(id, command)| {
                        Action::Post(TabMessage::Call { from: self.id, id: *id, command: command.clone() })
                    })
                    .collect();
                if !self.untaken.is_empty() {
                    let cids = self.untaken.iter().cloned().collect();
                    out.push(Action::Post(TabMessage::Committed { from: self.id, cids }));
                }
                out
            }
            (Role::Follower, TabMessage::Reply { to, id, result }) if to == self.id => match self.calls.remove(&id) {
                Some(_) => vec![Action::Resolve { id, result }],
                None => Vec::new(),
            },
            (Role::Follower, TabMessage::Taken { to, cids }) if to == self.id => {
                for c in &cids {
                    self.untaken.remove(c);
                }
                Vec::new()
            }
            (Role::Follower, TabMessage::Event { event, data }) => vec![Action::Event { event, data }],
            (_, TabMessage::Changed { collection, id, kind, doc }) => {
                vec![Action::Changed(TabChange { collection, id, kind, doc }.into_change())]
            }
            (_, TabMessage::Changes { changes }) => {
                changes.into_iter().map(|c| Action::Changed(c.into_change())).collect()
            }
            _ => Vec::new(),
        }
    }
}

impl TabChange {
    fn into_change(self) -> Change {
        let kind = match self.kind.as_str() {
            "create" => ChangeKind::Create,
            "delete" => ChangeKind::Delete,
            _ => ChangeKind::Update,
        };
        let doc = match self.doc {
            Some(Value::Object(m)) => Some(m),
            _ => None,
        };
        Change { collection: self.collection, id: self.id, kind, doc }
    }
}

impl<S: crate::store::Store> Node<S> {
    /// Blocks another tab of this origin committed (it runs no node): they
    /// are in the shared store already, so they are read back, published
    /// like this tab's own writes, and queued for each replicator whose
    /// scope holds them. Their outbox entries could not commit with them
    /// (the follower's database has no replicators), so they are written
    /// here, in one transaction.
    pub(super) async fn adopt(&mut self, cids: Vec<String>) -> Result<Value, CommandError> {
        let cids: Vec<Cid> = cids
            .iter()
            .map(|c| Cid::try_from(c.as_str()).map_err(|_| CommandError::bad_request(format!("not a CID: {c}"))))
            .collect::<Result<_, _>>()?;
        let stored = self.db.get_blocks(&cids).await?;
        let mut merged = Vec::new();
        for (cid, bytes) in cids.iter().zip(stored) {
            // Not there: a block the follower's transaction never committed.
            let Some(bytes) = bytes else { continue };
            let Ok(b) = SignedBlock::decode_stored(bytes, *cid) else { continue };
            merged.push(Merged {
                cid: *cid,
                collection: b.block.col.clone(),
                doc: b.doc_id().to_owned(),
                height: b.block.height,
                bytes: b.bytes,
                local: true,
                source: None,
            });
        }
        let rows: Vec<_> = merged.iter().flat_map(|m| outbox_rows(&self.replicators.borrow(), m)).collect();
        self.db.queue_outbox(&rows).await?;
        let taken = merged.len();
        self.merged.borrow_mut().extend(merged);
        self.take_merged().await;
        Ok(json!({ "taken": taken }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn posts(actions: &[Action]) -> Vec<&TabMessage> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Post(m) => Some(m),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn messages_round_trip_as_json() {
        let msgs = [
            TabMessage::Who,
            TabMessage::Leader { tab: 7 },
            TabMessage::Call {
                from: 1,
                id: 2,
                command: TabCommand::SetReplicator { collection: "Book".into(), docs: None, peer: "/p2p/x".into() },
            },
            TabMessage::Reply { to: 1, id: 2, result: Err(Refused { code: "NOT_FOUND".into(), message: "no".into() }) },
            TabMessage::Committed { from: 1, cids: vec!["bafy".into()] },
            TabMessage::Changed { collection: "Book".into(), id: "b".into(), kind: "delete".into(), doc: None },
            TabMessage::Changes { changes: Vec::new() },
        ];
        for m in msgs {
            let text = m.to_json();
            assert_eq!(TabMessage::from_json(&text).unwrap(), m, "{text}");
        }
        let text = TabMessage::Call { from: 1, id: 0, command: TabCommand::Stats }.to_json();
        assert_eq!(text, r#"{"type":"call","from":1,"id":0,"command":{"command":"stats"}}"#);
    }

    /// The hand-written JSON is serde's derive's (kept under test as the
    /// oracle), byte for byte, both ways, for every message and command.
    #[test]
    fn messages_are_json_as_serde_writes_them() {
        let commands = [
            TabCommand::Stats,
            TabCommand::Connections,
            TabCommand::Dial { addr: "/ip4/127.0.0.1/tcp/1".into() },
            TabCommand::SetReplicator { collection: "Book".into(), docs: None, peer: "/p2p/x".into() },
            TabCommand::SetReplicator {
                collection: "Book".into(),
                docs: Some(vec!["a".into(), "b\"".into()]),
                peer: "/p2p/x".into(),
            },
            TabCommand::ListReplicators,
            TabCommand::DeleteReplicator { collection: "Book".into(), peer_id: "12D3".into() },
            TabCommand::AddP2pCollection { collection: "Book".into() },
            TabCommand::RemoveP2pCollection { collection: "Book".into() },
            TabCommand::ListP2pCollections,
        ];
        let mut msgs = vec![
            TabMessage::Who,
            TabMessage::Leader { tab: u64::MAX },
            TabMessage::Beat { tab: 1 },
            TabMessage::Here { tab: 2 },
            TabMessage::Followed { tab: 3 },
            TabMessage::Reply { to: 1, id: 2, result: Ok(json!({ "a": [1, 2.5, null], "b": "é" })) },
            TabMessage::Reply { to: 1, id: 2, result: Ok(Value::Null) },
            TabMessage::Reply { to: 1, id: 2, result: Err(Refused { code: "NOT_FOUND".into(), message: "no".into() }) },
            TabMessage::Committed { from: 1, cids: vec![] },
            TabMessage::Taken { to: 1, cids: vec!["bafy".into(), "bafz".into()] },
            TabMessage::Event { event: "peer".into(), data: json!({ "peerId": "12D3", "type": "connected" }) },
            TabMessage::Changed { collection: "Book".into(), id: "b".into(), kind: "delete".into(), doc: None },
            TabMessage::Changed {
                collection: "Book".into(),
                id: "b".into(),
                kind: "update".into(),
                doc: Some(json!({ "title": "t", "pages": 3 })),
            },
            TabMessage::Changes {
                changes: vec![
                    TabChange { collection: "Book".into(), id: "b".into(), kind: "delete".into(), doc: None },
                    TabChange {
                        collection: "Book".into(),
                        id: "c".into(),
                        kind: "create".into(),
                        doc: Some(json!({ "title": "t" })),
                    },
                ],
            },
        ];
        msgs.extend(commands.into_iter().enumerate().map(|(i, command)| TabMessage::Call {
            from: 9,
            id: i as u64,
            command,
        }));
        for m in msgs {
            let text = m.to_json();
            assert_eq!(text, serde_json::to_string(&m).unwrap());
            assert_eq!(TabMessage::from_json(&text).unwrap(), m, "{text}");
        }
        // What serde reads as a missing option, and an unknown field, read alike.
        let text = r#"{"type":"call","from":1,"id":0,"extra":1,"command":{"command":"setReplicator","collection":"B","peer":"p"}}"#;
        assert_eq!(TabMessage::from_json(text).unwrap(), serde_json::from_str::<TabMessage>(text).unwrap());
        let text = r#"{"doc":null,"type":"changed","collection":"B","id":"i","kind":"delete"}"#;
        assert_eq!(TabMessage::from_json(text).unwrap(), serde_json::from_str::<TabMessage>(text).unwrap());
        // And what neither takes.
        for bad in [
            r#"{"type":"leader","tab":-1}"#,
            r#"{"type":"leader","tab":1.5}"#,
            r#"{"type":"leader"}"#,
            r#"{"type":"nobody"}"#,
            r#"{"type":"reply","to":1,"id":2,"result":{"Ok":1,"Err":{"code":"c","message":"m"}}}"#,
            r#"{"type":"committed","from":1,"cids":[1]}"#,
            r#"{"type":"changes","changes":{}}"#,
            r#"{"type":"changes","changes":[{"collection":"B","id":"i"}]}"#,
            r#"{"type":"call","from":1,"id":0,"command":{"command":"nothing"}}"#,
            r#"[]"#,
        ] {
            assert!(TabMessage::from_json(bad).is_err(), "{bad}");
            assert!(serde_json::from_str::<TabMessage>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_follower_calls_the_leader_and_is_answered() {
        let (mut leader, mut follower) = (Tab::new(1, true, 0.0), Tab::new(2, true, 0.0));
        leader.lead();
        let (id, out) = follower.call(TabCommand::Connections);
        let [msg] = posts(&out)[..] else { panic!("{out:?}") };
        let run = leader.receive(msg.clone(), 0.0);
        assert_eq!(run, vec![Action::Run { from: 2, id, command: TabCommand::Connections }]);
        let reply = leader.answered(2, id, Ok(json!([])));
        let [msg] = posts(&reply)[..] else { panic!("{reply:?}") };
        // Another follower ignores a reply to someone else.
        assert_eq!(Tab::new(3, true, 0.0).receive(msg.clone(), 0.0), vec![]);
        assert_eq!(follower.receive(msg.clone(), 0.0), vec![Action::Resolve { id, result: Ok(json!([])) }]);
        // Answered once: a repeat is ignored.
        assert_eq!(follower.receive(msg.clone(), 0.0), vec![]);
    }

    #[test]
    fn a_leader_runs_its_own_calls() {
        let mut t = Tab::new(1, true, 0.0);
        t.lead();
        let (id, out) = t.call(TabCommand::Stats);
        assert_eq!(out, vec![Action::Run { from: 1, id, command: TabCommand::Stats }]);
        assert_eq!(t.answered(1, id, Ok(json!(1))), vec![Action::Resolve { id, result: Ok(json!(1)) }]);
        assert!(t.committed(vec!["c".into()]).is_empty(), "its own node publishes its blocks");
    }

    #[test]
    fn a_new_leader_gets_the_unanswered_calls_and_the_untaken_blocks_again() {
        let mut f = Tab::new(2, true, 0.0);
        assert_eq!(f.receive(TabMessage::Leader { tab: 1 }, 0.0), vec![]);
        let (id, _) = f.call(TabCommand::ListP2pCollections);
        f.committed(vec!["a".into(), "b".into()]);
        f.receive(TabMessage::Taken { to: 2, cids: vec!["a".into()] }, 0.0);
        // The leader is gone; tab 3 takes over.
        let again = f.receive(TabMessage::Leader { tab: 3 }, 0.0);
        assert_eq!(
            posts(&again),
            vec![
                &TabMessage::Call { from: 2, id, command: TabCommand::ListP2pCollections },
                &TabMessage::Committed { from: 2, cids: vec!["b".into()] },
            ]
        );
        // The same leader announcing again changes nothing.
        assert_eq!(f.receive(TabMessage::Leader { tab: 3 }, 0.0), vec![]);
    }

    #[test]
    fn a_follower_that_comes_to_lead_runs_its_calls_and_adopts_its_blocks() {
        let mut f = Tab::new(2, true, 0.0);
        let (id, _) = f.call(TabCommand::Stats);
        f.committed(vec!["b".into()]);
        let out = f.lead();
        assert_eq!(f.role(), Role::Leader);
        assert_eq!(
            out,
            vec![
                Action::Post(TabMessage::Leader { tab: 2 }),
                Action::Run { from: 2, id, command: TabCommand::Stats },
                Action::Adopt { from: 2, cids: vec!["b".into()] },
            ]
        );
        assert_eq!(f.receive(TabMessage::Who, 0.0), vec![Action::Post(TabMessage::Leader { tab: 2 })]);
        // It stopped leading before its node took them: the next leader gets them.
        f.step_down(0.0);
        assert_eq!(f.role(), Role::Follower);
        assert_eq!(f.receive(TabMessage::Who, 0.0), vec![]);
        assert_eq!(
            f.receive(TabMessage::Leader { tab: 3 }, 0.0),
            vec![Action::Post(TabMessage::Committed { from: 2, cids: vec!["b".into()] })]
        );
        // Once its own node has taken them, they are nobody's business.
        let mut g = Tab::new(4, true, 0.0);
        g.committed(vec!["c".into()]);
        g.lead();
        assert_eq!(g.adopted(4, vec!["c".into()]), vec![]);
        g.step_down(0.0);
        assert_eq!(g.receive(TabMessage::Leader { tab: 5 }, 0.0), vec![]);
    }

    #[test]
    fn events_and_changes_reach_every_tab() {
        let mut leader = Tab::new(1, true, 0.0);
        leader.lead();
        let out = leader.event("peer", json!({"type": "connected"}));
        assert_eq!(out.len(), 2, "its own listeners and a post: {out:?}");
        let mut f = Tab::new(2, true, 0.0);
        assert_eq!(
            f.receive(posts(&out)[0].clone(), 0.0),
            vec![Action::Event { event: "peer".into(), data: json!({"type": "connected"}) }]
        );
        let doc = json!({"_id": "x", "title": "Dune"}).as_object().cloned();
        let c = Change { collection: "Book".into(), id: "x".into(), kind: ChangeKind::Update, doc };
        let posted = f.changed(std::slice::from_ref(&c));
        assert_eq!(leader.receive(posts(&posted)[0].clone(), 0.0), vec![Action::Changed(c)]);
        let gone = Change { collection: "Book".into(), id: "x".into(), kind: ChangeKind::Delete, doc: None };
        let posted = f.changed(std::slice::from_ref(&gone));
        assert_eq!(leader.receive(posts(&posted)[0].clone(), 0.0), vec![Action::Changed(gone)]);
    }

    /// A commit's changes go in one post, heard as each change in order; a
    /// lone change as the message for one.
    #[test]
    fn a_commits_changes_go_in_one_post() {
        let mut leader = Tab::new(1, true, 0.0);
        leader.lead();
        let change = |n: u32| {
            let doc = json!({"_id": format!("x{n}"), "n": n}).as_object().cloned();
            Change { collection: "Book".into(), id: format!("x{n}"), kind: ChangeKind::Create, doc }
        };
        let commit: Vec<Change> = (0..3).map(change).collect();
        let posted = leader.changed(&commit);
        assert!(matches!(posts(&posted)[..], [TabMessage::Changes { .. }]), "one post: {posted:?}");
        let msg = TabMessage::from_json(&posts(&posted)[0].to_json()).unwrap();
        let mut f = Tab::new(2, true, 0.0);
        let heard: Vec<Action> = commit.iter().cloned().map(Action::Changed).collect();
        assert_eq!(f.receive(msg, 0.0), heard);
        assert!(matches!(posts(&leader.changed(&commit[..1]))[..], [TabMessage::Changed { .. }]));
        assert!(leader.changed(&[]).is_empty());
    }

    #[test]
    fn a_silent_leader_has_its_lock_stolen_once() {
        let (mut leader, mut f) = (Tab::new(1, true, 0.0), Tab::new(2, true, 0.0));
        leader.lead();
        leader.receive(TabMessage::Here { tab: 2 }, 50.0);
        let beat = posts(&leader.tick(100.0, true))[0].clone();
        assert_eq!(beat, TabMessage::Beat { tab: 1 });
        f.receive(beat.clone(), 100.0);
        assert_eq!(f.tick(300.0, true), vec![], "heard 200 ms ago");
        // A hidden leader beats once a second, but answers `who` at once.
        assert_eq!(f.tick(500.0, true), vec![Action::Post(TabMessage::Who)]);
        assert_eq!(leader.receive(TabMessage::Who, 510.0), vec![Action::Post(TabMessage::Leader { tab: 1 })]);
        f.receive(TabMessage::Leader { tab: 1 }, 520.0);
        assert_eq!(f.tick(700.0, true), vec![]);
        // The leader froze: nothing more. A silence alone is no reason (a
        // follower's own slowed timers make one): it asks first.
        assert_eq!(f.tick(1400.0, false), vec![], "a hidden tab never steals");
        assert_eq!(f.tick(1400.0, true), vec![Action::Post(TabMessage::Who)]);
        assert_eq!(f.tick(1600.0, true), vec![], "asked 200 ms ago");
        assert_eq!(f.tick(1900.0, true), vec![Action::Steal], "asked 500 ms ago, no answer");
        assert_eq!(f.tick(2000.0, true), vec![], "one steal at a time");
        assert!(matches!(f.lead()[0], Action::Post(TabMessage::Leader { tab: 2 })));
        f.receive(TabMessage::Who, 2000.0);
        assert_eq!(f.tick(2000.0, true), vec![Action::Post(TabMessage::Beat { tab: 2 })]);
        // The old leader thaws, learns its lock was stolen, and follows;
        // the new one connects again once the old one's node has stopped.
        leader.step_down(2100.0);
        assert_eq!(f.receive(TabMessage::Followed { tab: 1 }, 2100.0), vec![Action::Restart]);
        assert_eq!(leader.role(), Role::Follower);
        leader.receive(TabMessage::Beat { tab: 2 }, 2200.0);
        assert_eq!(leader.tick(2300.0, true), vec![]);
    }

    #[test]
    fn a_leader_alone_posts_nothing_and_beats_while_followers_are_there() {
        let (mut leader, mut f) = (Tab::new(1, true, 0.0), Tab::new(2, true, 0.0));
        leader.lead();
        assert_eq!(leader.tick(200.0, true), vec![], "no follower heard: no beat");
        // A follower opens: it asks who leads, and the leader beats from then on.
        assert_eq!(posts(&f.hello()), vec![&TabMessage::Who]);
        leader.receive(TabMessage::Who, 300.0);
        assert_eq!(posts(&leader.tick(400.0, true)), vec![&TabMessage::Beat { tab: 1 }]);
        // While it hears beats, the follower says it is there every HERE_MS.
        let mut here = 0;
        let mut t = 400.0;
        while t < 20_000.0 {
            f.receive(TabMessage::Beat { tab: 1 }, t);
            for m in f.tick(t + 1.0, true).iter().filter_map(|a| match a {
                Action::Post(m) => Some(m.clone()),
                _ => None,
            }) {
                assert_eq!(m, TabMessage::Here { tab: 2 }, "beats heard: no `who`");
                here += 1;
                leader.receive(m, t + 2.0);
            }
            assert!(!leader.tick(t + 3.0, true).is_empty(), "the leader beats at {t}");
            t += f64::from(BEAT_MS);
        }
        assert_eq!(here, 4, "one `here` per {HERE_MS} ms");
        // The follower closed: the leader stops beating FOLLOWERS_TTL_MS later.
        assert!(!leader.tick(t + FOLLOWERS_TTL_MS / 2.0, true).is_empty());
        assert_eq!(leader.tick(t + FOLLOWERS_TTL_MS, true), vec![]);
    }

    #[test]
    fn only_a_tab_with_something_to_tick_for_needs_its_timer() {
        let (mut leader, f) = (Tab::new(1, true, 0.0), Tab::new(2, true, 0.0));
        assert!(f.ticking(0.0), "a follower watches for a leader");
        assert!(!Tab::new(3, false, 0.0).ticking(0.0), "a tab alone has nothing to tick for");
        leader.lead();
        assert!(!leader.ticking(0.0), "a leader alone: no timer");
        // A follower speaks: the leader beats, so it ticks, until it has
        // heard nothing for FOLLOWERS_TTL_MS; every tick meanwhile beats.
        leader.receive(TabMessage::Who, 100.0);
        assert!(leader.ticking(100.0));
        assert!(!leader.tick(100.0 + FOLLOWERS_TTL_MS - 1.0, true).is_empty());
        assert!(leader.ticking(100.0 + FOLLOWERS_TTL_MS - 1.0));
        assert!(!leader.ticking(100.0 + FOLLOWERS_TTL_MS), "the follower went quiet");
        assert_eq!(leader.tick(100.0 + FOLLOWERS_TTL_MS, true), vec![], "and no tick would have beaten");
        // A leader that steps down follows, and ticks again.
        leader.step_down(20_000.0);
        assert!(leader.ticking(20_000.0));
    }

    #[test]
    fn a_follower_back_from_a_long_sleep_asks_before_it_steals() {
        let (mut leader, mut f) = (Tab::new(1, true, 0.0), Tab::new(2, true, 0.0));
        leader.lead();
        f.receive(TabMessage::Beat { tab: 1 }, 0.0);
        // The follower's timers were slowed for a minute (hidden, cached):
        // its first tick sees a long silence, the leader is fine.
        assert_eq!(f.tick(60_000.0, true), vec![Action::Post(TabMessage::Who)]);
        let answer = leader.receive(TabMessage::Who, 60_005.0);
        f.receive(posts(&answer)[0].clone(), 60_010.0);
        assert!(!f.tick(60_600.0, true).contains(&Action::Steal), "answered: no steal");
    }

    #[test]
    fn a_tab_that_opens_late_is_told_the_status_as_it_stands() {
        let mut leader = Tab::new(1, true, 0.0);
        leader.lead();
        assert_eq!(leader.receive(TabMessage::Who, 0.0), vec![Action::Post(TabMessage::Leader { tab: 1 })]);
        let status = json!({"online": true, "peers": 2, "queuedBlocks": 0});
        leader.event("status", status.clone());
        // The status is told when it changes; a follower that opens later asks.
        let mut f = Tab::new(2, true, 0.0);
        let answer = leader.receive(posts(&f.hello())[0].clone(), 0.0);
        let told: Vec<Action> = posts(&answer).into_iter().flat_map(|m| f.receive(m.clone(), 0.0)).collect();
        assert!(told.contains(&Action::Event { event: "status".into(), data: status }), "{told:?}");
        // A node that stopped has no status to tell.
        leader.step_down(0.0);
        leader.lead();
        assert_eq!(leader.receive(TabMessage::Who, 0.0), vec![Action::Post(TabMessage::Leader { tab: 1 })]);
    }

    #[test]
    fn a_call_under_the_leaders_own_id_is_not_run_and_a_given_up_call_is_not_sent_again() {
        let mut leader = Tab::new(1, true, 0.0);
        leader.lead();
        let spoof = TabMessage::Call { from: 1, id: 0, command: TabCommand::Stats };
        assert_eq!(leader.receive(spoof, 0.0), vec![]);
        let mut f = Tab::new(2, true, 0.0);
        let (id, _) = f.call(TabCommand::Connections);
        f.give_up(id);
        assert_eq!(f.receive(TabMessage::Leader { tab: 3 }, 0.0), vec![], "nothing to send the new leader");
    }

    #[test]
    fn a_tab_alone_posts_nothing_and_runs_everything_itself() {
        let mut t = Tab::new(1, false, 0.0);
        assert_eq!(t.role(), Role::Alone);
        assert!(t.hello().is_empty());
        let c = Change { collection: "B".into(), id: "x".into(), kind: ChangeKind::Create, doc: None };
        assert!(t.changed(std::slice::from_ref(&c)).is_empty());
        assert!(matches!(t.call(TabCommand::Stats).1[..], [Action::Run { .. }]));
        assert_eq!(t.receive(TabMessage::Who, 0.0), vec![]);
        assert_eq!(t.event("sync", json!({})).len(), 1);
    }

    #[test]
    fn a_tab_shows_the_status_it_was_told_with_its_own_part() {
        let (mut leader, follower) = (Tab::new(1, true, 0.0), Tab::new(2, true, 0.0));
        // Before any node told one: the browser's word, nothing connected.
        let none = follower.role().status(None, false);
        assert_eq!(none, json!({"online": false, "leader": false, "peers": 0, "queuedBlocks": 0, "lastSync": null}));
        // The leader's status, told to a follower: the follower does not lead.
        let told = json!({"online": true, "leader": true, "peers": 2, "queuedBlocks": 1, "lastSync": 5.0});
        assert_eq!(follower.role().status(Some(&told), false)["leader"], json!(false));
        assert_eq!(follower.role().status(Some(&told), false)["peers"], json!(2));
        leader.lead();
        assert_eq!(leader.role().status(Some(&told), true), told);
        // A tab alone (or a page without p2p) runs its node, if any.
        assert_eq!(Tab::new(3, false, 0.0).role().status(None, true)["leader"], json!(true));
    }

    #[test]
    fn a_refusal_crosses_the_channel_with_its_code() {
        let e = Error::Node { code: "NOT_FOUND", message: "no replicator".into() };
        let back = Refused::of(&e).into_error();
        assert_eq!((back.code(), back.to_string()), ("NOT_FOUND", "no replicator".into()));
        let v =
            Refused::of(&Error::Validation(crate::core::schema::ValidationError { field: None, message: "x".into() }));
        assert_eq!(v.into_error().code(), "VALIDATION");
        // A code of another build's: the caller cannot act on it, so NETWORK.
        let other = Refused { code: "NEWER_CODE".into(), message: "m".into() };
        assert_eq!(other.into_error().code(), "NETWORK");
    }
}
