//! Active replication: replicators, their persisted outbox, and the peers
//! the node keeps dialling.
//!
//! Every block merged in a replicator's scope is written to the outbox
//! (its records and keys: `crate::records`) and
//! deleted only when the peer acknowledges it as durably stored, so a
//! restart of either side loses nothing: the outbox is pushed again when
//! the peer is reachable, with a doubling delay between failures.

use std::collections::{BTreeMap, HashSet};

use cid::Cid;
use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId};
use serde_bytes::ByteBuf;
use serde_json::{json, Value};

use super::command::CommandError;
use super::run::Node;
use super::state::{Push, Replicator, BATCH_BYTES};
use super::wire::{Effect, Request};
use crate::core::replica::dial::Reason;
use crate::core::replica::outbox::OutboxTicket;
use crate::core::sync::{RefusedBlock, ReplicateRequest, MAX_BATCH_BLOCKS};
use crate::records::Queued;

use crate::error::Error;
use crate::records::{PeerKey, ReplicatorRecord};
use crate::store::Store;

/// How the store keys `peer`.
fn peer_key(peer: &PeerId) -> PeerKey {
    PeerKey { text: peer.to_string(), bytes: peer.to_bytes() }
}

/// Splits `…/p2p/<id>` into the id and the address before it.
fn split_peer(addr: &Multiaddr) -> Option<(PeerId, Multiaddr)> {
    let mut rest = addr.clone();
    match rest.pop()? {
        Protocol::P2p(peer) => Some((peer, rest)),
        _ => None,
    }
}

fn not_found(message: String) -> CommandError {
    CommandError { code: "NOT_FOUND", message }
}

impl<S: Store> Node<S> {
    pub(super) async fn load_replicators(&mut self) -> Result<(), Error> {
        for r in self.db.replicators().await? {
            let Ok(peer) = r.peer.parse::<PeerId>() else {
                tracing::warn!(peer = r.peer, "skipping a replicator record with a bad peer id");
                continue;
            };
            let addrs = r.addrs.iter().filter_map(|a| a.parse().ok()).collect();
            self.add_replicator(Replicator { peer, collection: r.collection, docs: r.docs, addrs });
        }
        Ok(())
    }

    fn add_replicator(&mut self, r: Replicator) {
        self.want(r.peer, r.addrs.clone(), Reason::Replicator);
        self.replica.outboxes.add(r.peer);
        self.replicators.borrow_mut().insert((r.peer, r.collection.clone()), r);
    }

    /// A peer mDNS found: kept connected (and redialled, since both sides
    /// dial at once and one may fail) until mDNS reports it gone.
    pub(super) fn want_lan_peer(&mut self, peer: PeerId, addrs: Vec<Multiaddr>) {
        self.want(peer, addrs, Reason::Lan);
        self.redial();
    }

    pub(super) fn lan_peer_gone(&mut self, peer: PeerId) {
        self.replica.dialer.unwant(&peer, Reason::Lan);
    }

    /// Keeps `peer` connected for `reason`; the swarm learns its addresses.
    fn want(&mut self, peer: PeerId, addrs: Vec<Multiaddr>, reason: Reason) {
        if peer != self.peer_id {
            for a in &addrs {
                self.emit(Effect::AddAddress { peer, addr: a.clone() });
            }
        }
        self.replica.dialer.want(peer, addrs, reason);
    }

    /// A `--peers` address: kept connected when it names its peer, dialled
    /// once when it does not.
    pub(super) fn add_bootstrap(&mut self, addr: Multiaddr) {
        match split_peer(&addr) {
            Some((peer, rest)) => self.want(peer, vec![rest], Reason::Bootstrap),
            None => self.emit(Effect::DialAddr(addr)),
        }
    }

    /// Dials every wanted peer that is not connected and is due.
    pub(super) fn redial(&mut self) {
        if self.is_offline() {
            return;
        }
        let now = self.now();
        for (peer, addrs) in self.replica.dialer.due(now) {
            if !self.dial_peer(peer, addrs) {
                self.replica.dialer.dial_failed(&peer, now);
            }
        }
    }

    pub(super) fn dial_failed(&mut self, peer: PeerId) {
        let now = self.now();
        self.replica.dialer.dial_failed(&peer, now);
    }

    pub(super) async fn set_replicator(
        &mut self,
        collection: String,
        docs: Option<Vec<String>>,
        peer: &str,
    ) -> Result<Value, CommandError> {
        let addr: Multiaddr =
            peer.parse().map_err(|e| CommandError::bad_request(format!("not a multiaddr: {peer}: {e}")))?;
        let Some((peer, rest)) = split_peer(&addr) else {
            return Err(CommandError::bad_request(format!(
                "the replicator's address must end in /p2p/<peer id>: {addr}"
            )));
        };
        if peer == self.peer_id {
            return Err(CommandError::bad_request("a node cannot replicate to itself"));
        }
        self.db.collection(&collection).await?;
        let addrs: Vec<Multiaddr> = if rest.is_empty() { Vec::new() } else { vec![rest] };
        let stored = ReplicatorRecord {
            peer: peer.to_string(),
            collection: collection.clone(),
            addrs: addrs.iter().map(Multiaddr::to_string).collect(),
            docs: docs.clone(),
        };
        self.db.put_replicator(&stored).await?;
        self.add_replicator(Replicator {
            peer,
            collection: collection.clone(),
            docs: docs.clone(),
            addrs: addrs.clone(),
        });
        // What the collection holds already goes by head exchange; from
        // now on every new block also goes through the outbox.
        if self.replica.dialer.is_connected(&peer) {
            self.start_exchange(peer, &collection, docs.clone()).await;
        } else {
            self.redial();
        }
        Ok(json!({
            "peerId": peer.to_string(),
            "collection": collection,
            "docs": docs,
            "addrs": stored.addrs,
        }))
    }

    pub(super) async fn list_replicators(&mut self) -> Result<Value, CommandError> {
        let mut queued: BTreeMap<(PeerId, String), usize> = BTreeMap::new();
        for peer in self.replica.outboxes.peers() {
            for (col, n) in self.db.outbox_queued(&peer.to_bytes()).await? {
                queued.insert((*peer, col), n);
            }
        }
        let mut refused: BTreeMap<(String, String), Vec<Value>> = BTreeMap::new();
        for r in self.db.refusals().await? {
            let entry = json!({"cid": r.cid, "code": r.code, "reason": r.reason});
            refused.entry((r.peer, r.collection)).or_default().push(entry);
        }
        let list: Vec<Value> = self
            .replicators
            .borrow()
            .values()
            .map(|r| {
                let refused = refused.remove(&(r.peer.to_string(), r.collection.clone())).unwrap_or_default();
                json!({
                    "peerId": r.peer.to_string(),
                    "collection": r.collection,
                    "docs": r.docs,
                    "addrs": r.addrs.iter().map(Multiaddr::to_string).collect::<Vec<_>>(),
                    "queued": queued.get(&(r.peer, r.collection.clone())).copied().unwrap_or(0),
                    "refused": refused,
                })
            })
            .collect();
        Ok(Value::Array(list))
    }

    pub(super) async fn delete_replicator(&mut self, collection: &str, peer: &str) -> Result<Value, CommandError> {
        let peer: PeerId =
            peer.parse().map_err(|e| CommandError::bad_request(format!("not a peer id: {peer}: {e}")))?;
        if self.replicators.borrow_mut().remove(&(peer, collection.to_string())).is_none() {
            return Err(not_found(format!("no replicator of {collection} to {peer}")));
        }
        self.db.delete_replicator(&peer_key(&peer), collection).await?;
        if !self.replicators.borrow().keys().any(|(p, _)| *p == peer) {
            self.replica.outboxes.remove(&peer);
            self.replica.dialer.unwant(&peer, Reason::Replicator);
        }
        self.count_outbox().await;
        Ok(json!({ "peerId": peer.to_string(), "collection": collection, "deleted": true }))
    }

    /// Pushes `peer`'s outbox, lowest heights (parents) first, if it is
    /// connected and due: batch after batch until its lane's window is
    /// full, each without the blocks already in flight.
    pub(super) async fn pump_outbox(&mut self, peer: PeerId) {
        loop {
            let now = self.now();
            let ready = self.replica.outboxes.ready(&peer, now);
            if !ready || !self.replica.dialer.is_connected(&peer) || !self.reachable(&peer) || !self.p2p {
                return;
            }
            let skip = self.on_its_way(peer);
            let next = self.db.outbox_next(&peer.to_bytes(), skip, MAX_BATCH_BLOCKS, BATCH_BYTES).await;
            let (batch, total) = match next {
                Ok((b, _)) if b.is_empty() => {
                    self.replica.outboxes.nothing_owed(&peer);
                    return;
                }
                Ok(b) => b,
                Err(e) => {
                    tracing::error!("cannot read the outbox: {e}");
                    // Tried again after the lane's backoff (no tick would).
                    self.replica.outboxes.held_up(&peer, now);
                    return;
                }
            };
            // Queued behind this push; not the blocks in flight before it
            // (fewer than will go if one of those fails and goes again), but
            // blocks head exchange sent and the peer has not acknowledged yet
            // are counted if they lie past the batch (they leave the outbox
            // as it does).
            let remaining = total.saturating_sub(batch.len()) as u64;
            let queued: Vec<Queued> = batch.iter().map(|(q, _)| *q).collect();
            let blocks = batch.into_iter().map(|(_, b)| ByteBuf::from(b)).collect();
            let ticket = self.replica.outboxes.sent(&peer, queued.iter().map(|(_, c)| *c).collect());
            let id = self.send(peer, Request::Replicate(ReplicateRequest::Push { blocks, remaining }));
            self.pushes.insert(id, Push::Outbox { queued, ticket });
        }
    }

    /// Whether a block is on its way to `peer` already: in one of its
    /// outbox's pushes in flight, or sent by head exchange on this
    /// connection (either clears the outbox's row once answered). Neither
    /// sends the other's again.
    pub(super) fn on_its_way(&self, peer: PeerId) -> impl Fn(&Cid) -> bool + '_ {
        let outbox: HashSet<Cid> = self.replica.outboxes.in_flight(&peer).copied().collect();
        move |c| outbox.contains(c) || self.replica.lanes.was_sent(&peer, c)
    }

    /// Clears what `peer` acknowledged from its outbox, and what it
    /// refused, which is kept aside (`replicators.list()` → `refused`) so
    /// one block the peer will never take does not hold up the rest.
    pub(super) async fn outbox_acked(
        &mut self,
        peer: PeerId,
        ticket: OutboxTicket,
        done: &[Queued],
        refused: &[(u64, RefusedBlock)],
    ) {
        self.clear_outbox(peer, done, refused).await;
        // Not pushed again by head exchange while this connection lasts.
        let cids: Vec<Cid> = done.iter().map(|(_, c)| *c).collect();
        self.replica.lanes.delivered(&peer, &cids);
        self.replica.outboxes.acked(&peer, ticket);
        self.synced();
        self.pump_outbox(peer).await;
    }

    /// Takes `cids` out of `peer`'s outbox (and sets `refused` aside): what
    /// it acknowledged to the outbox's push, or to head exchange's, which
    /// the outbox would otherwise push again.
    pub(super) async fn clear_outbox(&mut self, peer: PeerId, done: &[Queued], refused: &[(u64, RefusedBlock)]) {
        let refused: Vec<_> = refused.iter().map(|(h, r)| ((*h, r.cid), r.code.as_str(), r.reason.as_str())).collect();
        if let Err(e) = self.db.outbox_done(&peer_key(&peer), done, &refused).await {
            tracing::error!("cannot clear the outbox: {e}");
        }
        self.count_outbox().await;
    }

    pub(super) fn outbox_failed(&mut self, peer: PeerId, ticket: OutboxTicket) {
        let now = self.now();
        self.replica.outboxes.failed(&peer, ticket, now);
    }
}
