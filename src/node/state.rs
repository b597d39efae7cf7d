//! The data the node's parts share, in a file that imports none of them:
//! what is in flight (head exchanges, offers, pushes), replicators, the
//! page's status, and the batch limit. The parts (`run`, `exchange`,
//! `replicate`, `gossip`, `status`, ...) import this and `run`'s `Node`;
//! `run` imports none of them, so nothing imports in a circle.

use std::cell::Cell;
use std::collections::{BTreeMap, HashSet};
use std::rc::Rc;

use cid::Cid;
use futures::future::LocalBoxFuture;
use libp2p::{Multiaddr, PeerId};
use serde::Serialize;

use super::adapters::Verified;
use super::wire::ReplyId;
use crate::core::replica::outbox::OutboxTicket;
use crate::core::replica::push::Ticket;
use crate::db::{Merged, Row};
use crate::records::{outbox_row, Queued};

/// What a batch of blocks may weigh, under the message limit with room
/// for the envelope.
pub(super) const BATCH_BYTES: usize = crate::core::sync::MAX_MESSAGE_BYTES - 64 * 1024;

/// Our `HeadsRequest` in flight.
pub(super) struct Exchange {
    pub(super) col: String,
    pub(super) docs: Option<Vec<String>>,
}

/// Our `Offer` in flight: the candidates, in the order to push them.
pub(super) struct Offer {
    pub(super) col: String,
    pub(super) candidates: Vec<Cid>,
}

/// Our `Push` in flight.
pub(super) enum Push {
    /// Each block's height and CID: the key of the outbox row its delivery
    /// clears.
    Exchange {
        col: String,
        queued: Vec<Queued>,
        ticket: Ticket,
    },
    Outbox {
        queued: Vec<Queued>,
        ticket: OutboxTicket,
    },
}

/// A peer's push whose blocks are being decoded and verified: merged and
/// answered once they are, in the order pushes came.
pub(crate) struct Verifying {
    pub(super) peer: PeerId,
    pub(super) reply: ReplyId,
    /// The blocks the pusher said were queued behind these.
    pub(super) remaining: u64,
    pub(super) check: LocalBoxFuture<'static, Verified>,
}

impl Verifying {
    /// The result of its check, once it is done.
    pub(crate) async fn checked(&mut self) -> Verified {
        (&mut self.check).await
    }
}

pub(super) struct Replicator {
    pub(super) peer: PeerId,
    pub(super) collection: String,
    /// Only these documents; the whole collection when `None`.
    pub(super) docs: Option<Vec<String>>,
    pub(super) addrs: Vec<Multiaddr>,
}

impl Replicator {
    pub(super) fn covers(&self, doc: &str) -> bool {
        self.docs.as_ref().is_none_or(|d| d.iter().any(|x| x == doc))
    }

    /// Whether `m` goes to this replicator's peer: in its scope, and not
    /// merged from that very peer.
    pub(super) fn queues(&self, m: &Merged) -> bool {
        self.collection == m.collection && source_of(m) != Some(self.peer) && self.covers(&m.doc)
    }
}

/// The peer a merged block came from (the node imports under the peer's id).
pub(super) fn source_of(m: &Merged) -> Option<PeerId> {
    m.source.as_ref().and_then(|b| PeerId::from_bytes(b).ok())
}

/// The outbox entries a block calls for: one for each replicator whose
/// scope holds it, but for the peer it came from. Keyed by peer and CID,
/// valued by height (parents go first) and collection.
pub(super) fn outbox_rows(replicators: &BTreeMap<(PeerId, String), Replicator>, m: &Merged) -> Vec<Row> {
    replicators.values().filter(|r| r.queues(m)).map(|r| outbox_row(&r.peer.to_bytes(), m)).collect()
}

/// The status a page reads and is told of when it changes.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StatusSnapshot {
    /// The browser says it has a network (`navigator.onLine` and its
    /// `online`/`offline` events); a native node is always online.
    pub online: bool,
    /// This tab runs the origin's network node.
    pub leader: bool,
    /// Peers with an open connection.
    pub peers: usize,
    /// Outbox entries: blocks waiting for a replicator's peer to
    /// acknowledge them (a block queued for two peers counts twice).
    pub queued_blocks: u64,
    /// When an exchange with a peer last finished (heads answered, a push
    /// acknowledged, pushed blocks merged), in milliseconds since the Unix
    /// epoch, as JS `Date.now()`; `None` before the first.
    pub last_sync: Option<f64>,
}

impl Default for StatusSnapshot {
    fn default() -> Self {
        StatusSnapshot { online: true, leader: true, peers: 0, queued_blocks: 0, last_sync: None }
    }
}

pub(crate) type StatusListener = Rc<dyn Fn(&StatusSnapshot)>;

/// The node's side of the status.
pub(crate) struct Status {
    /// What the browser says (`navigator.onLine` at start, then its events).
    pub(super) online: bool,
    /// Dialling and sending paused by an `offline` event, until `online`.
    /// Not by `navigator.onLine` being false at start: a host with only
    /// loopback says so for good and fires no event, while a node on this
    /// machine is reachable; a page that starts without a network only
    /// dials in vain until its `online` event.
    pub(super) paused: bool,
    /// Outbox entries, counted up by the commit hook that writes them and
    /// counted again from the store when entries leave.
    pub(super) queued: Rc<Cell<u64>>,
    pub(super) last_sync: Option<f64>,
    /// Peers whose connections we closed on going offline, until they are
    /// gone: a closing connection waits for the peer's word, which an
    /// offline browser neither sends nor gets (Chromium holds its WebSocket
    /// open, frames and all, until it is back online or pings fail).
    pub(super) closing: HashSet<PeerId>,
    /// The last snapshot told, so listeners hear only of changes.
    pub(super) told: Option<StatusSnapshot>,
    pub(super) listener: Option<StatusListener>,
}

impl Default for Status {
    fn default() -> Self {
        Status {
            online: true,
            paused: false,
            queued: Rc::default(),
            last_sync: None,
            closing: HashSet::new(),
            told: None,
            listener: None,
        }
    }
}
