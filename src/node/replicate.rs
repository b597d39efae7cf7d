//! Active replication: replicators, their persisted outbox, and the peers
//! the node keeps dialling.
//!
//! Every block merged in a replicator's scope is written to the outbox
//! (`Table::Outbox`, key `peer ‖ 0 ‖ cid`, value `height ‖ collection`) and
//! deleted only when the peer acknowledges it as durably stored, so a
//! restart of either side loses nothing: the outbox is pushed again when
//! the peer is reachable, with a doubling delay between failures.

use std::collections::BTreeMap;

use cid::Cid;
use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId};
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;
use serde_json::{json, Value};

use super::command::CommandError;
use super::exchange::Push;
use super::gossip::BATCH_BYTES;
use super::run::Node;
use crate::core::replica::dial::Reason;
use crate::core::sync::{RefusedBlock, ReplicateRequest, MAX_BATCH_BLOCKS};
use crate::db::{Merged, Row};
use crate::error::Error;
use crate::store::{KeyRange, Mode, Store, Table, Tx};

const META_REPLICATOR: &str = "replicator/";
/// `refused/<peer>/<collection>/<cid>` → [`StoredRefusal`]: blocks a
/// replicator's peer refused, moved out of its outbox.
const META_REFUSED: &str = "refused/";

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

#[derive(Serialize, Deserialize)]
struct StoredRefusal {
    code: String,
    reason: String,
}

#[derive(Serialize, Deserialize)]
struct StoredReplicator {
    addrs: Vec<String>,
    docs: Option<Vec<String>>,
}

fn outbox_prefix(peer: &PeerId) -> Vec<u8> {
    let mut k = peer.to_bytes();
    k.push(0);
    k
}

type Batch = Vec<(Cid, Vec<u8>)>;

/// The outbox entries a block calls for: one for each replicator whose
/// scope holds it, but for the peer it came from. Keyed by peer and CID,
/// valued by height (parents go first) and collection.
pub(super) fn outbox_rows(replicators: &BTreeMap<(PeerId, String), Replicator>, m: &Merged) -> Vec<Row> {
    replicators
        .values()
        .filter(|r| r.queues(m))
        .map(|r| {
            let mut key = outbox_prefix(&r.peer);
            key.extend(m.cid.to_bytes());
            let mut value = m.height.to_be_bytes().to_vec();
            value.extend_from_slice(m.collection.as_bytes());
            (Table::Outbox, key, value)
        })
        .collect()
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

impl Node {
    fn replicator_key(peer: &PeerId, col: &str) -> String {
        format!("{META_REPLICATOR}{peer}/{col}")
    }

    pub(super) async fn load_replicators(&mut self) -> Result<(), Error> {
        let mut tx = self.db.store().begin(Mode::Read).await?;
        let rows = tx.scan(Table::Meta, &KeyRange::prefix(META_REPLICATOR.as_bytes()), None).await?;
        drop(tx);
        for (k, v) in rows {
            let key = String::from_utf8_lossy(&k[META_REPLICATOR.len()..]).into_owned();
            let parsed = key.split_once('/').and_then(|(p, c)| Some((p.parse::<PeerId>().ok()?, c.to_string())));
            let stored = serde_json::from_slice::<StoredReplicator>(&v);
            let (Some((peer, collection)), Ok(stored)) = (parsed, stored) else {
                tracing::warn!(key, "skipping a corrupt replicator record");
                continue;
            };
            let addrs = stored.addrs.iter().filter_map(|a| a.parse().ok()).collect();
            self.add_replicator(Replicator { peer, collection, docs: stored.docs, addrs });
        }
        Ok(())
    }

    fn add_replicator(&mut self, r: Replicator) {
        self.want(r.peer, r.addrs.clone(), Reason::Replicator);
        self.outboxes.add(r.peer);
        self.replicators.borrow_mut().insert((r.peer, r.collection.clone()), r);
    }

    /// A peer mDNS found: kept connected (and redialled, since both sides
    /// dial at once and one may fail) until mDNS reports it gone.
    #[cfg(not(target_arch = "wasm32"))]
    pub(super) fn want_lan_peer(&mut self, peer: PeerId, addrs: Vec<Multiaddr>) {
        self.want(peer, addrs, Reason::Lan);
        self.redial();
    }

    #[cfg(not(target_arch = "wasm32"))]
    pub(super) fn lan_peer_gone(&mut self, peer: PeerId) {
        self.dialer.unwant(&peer, Reason::Lan);
    }

    /// Keeps `peer` connected for `reason`; the swarm learns its addresses.
    fn want(&mut self, peer: PeerId, addrs: Vec<Multiaddr>, reason: Reason) {
        if let Some(s) = self.swarm.as_mut().filter(|_| peer != self.peer_id) {
            for a in &addrs {
                s.add_peer_address(peer, a.clone());
            }
        }
        self.dialer.want(peer, addrs, reason);
    }

    /// A `--peers` address: kept connected when it names its peer, dialled
    /// once when it does not.
    pub(super) fn add_bootstrap(&mut self, addr: Multiaddr) {
        match split_peer(&addr) {
            Some((peer, rest)) => self.want(peer, vec![rest], Reason::Bootstrap),
            None => {
                if let Some(s) = self.swarm.as_mut() {
                    if let Err(e) = s.dial(addr.clone()) {
                        tracing::warn!(%addr, "cannot dial: {e}");
                    }
                }
            }
        }
    }

    /// Dials every wanted peer that is not connected and is due.
    pub(super) fn redial(&mut self) {
        if self.is_offline() {
            return;
        }
        let now = self.now();
        for (peer, addrs) in self.dialer.due(now) {
            if !self.dial_peer(peer, addrs) {
                self.dialer.dial_failed(&peer, now);
            }
        }
    }

    pub(super) fn dial_failed(&mut self, peer: PeerId) {
        let now = self.now();
        self.dialer.dial_failed(&peer, now);
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
        let stored = StoredReplicator { addrs: addrs.iter().map(Multiaddr::to_string).collect(), docs: docs.clone() };
        let mut tx = self.db.store().begin(Mode::Write).await.map_err(Error::from)?;
        let key = Self::replicator_key(&peer, &collection);
        tx.put(Table::Meta, key.as_bytes(), &serde_json::to_vec(&stored).expect("serialises"))
            .await
            .map_err(Error::from)?;
        tx.commit().await.map_err(Error::from)?;
        self.add_replicator(Replicator {
            peer,
            collection: collection.clone(),
            docs: docs.clone(),
            addrs: addrs.clone(),
        });
        // What the collection holds already goes by head exchange; from
        // now on every new block also goes through the outbox.
        if self.connected.contains(&peer) {
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
        let mut tx = self.db.store().begin(Mode::Read).await.map_err(Error::from)?;
        for peer in self.outboxes.peers() {
            let rows =
                tx.scan(Table::Outbox, &KeyRange::prefix(&outbox_prefix(peer)), None).await.map_err(Error::from)?;
            for (_, v) in rows {
                let col = String::from_utf8_lossy(v.get(8..).unwrap_or_default()).into_owned();
                *queued.entry((*peer, col)).or_default() += 1;
            }
        }
        let mut refused: BTreeMap<(String, String), Vec<Value>> = BTreeMap::new();
        let rows = tx.scan(Table::Meta, &KeyRange::prefix(META_REFUSED.as_bytes()), None).await.map_err(Error::from)?;
        for (k, v) in rows {
            let key = String::from_utf8_lossy(&k[META_REFUSED.len()..]).into_owned();
            let (Some((peer, rest)), Ok(r)) = (key.split_once('/'), serde_json::from_slice::<StoredRefusal>(&v)) else {
                continue;
            };
            let Some((col, cid)) = rest.rsplit_once('/') else { continue };
            let entry = json!({"cid": cid, "code": r.code, "reason": r.reason});
            refused.entry((peer.to_string(), col.to_string())).or_default().push(entry);
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
        let mut tx = self.db.store().begin(Mode::Write).await.map_err(Error::from)?;
        tx.delete(Table::Meta, Self::replicator_key(&peer, collection).as_bytes()).await.map_err(Error::from)?;
        let rows = tx.scan(Table::Outbox, &KeyRange::prefix(&outbox_prefix(&peer)), None).await.map_err(Error::from)?;
        for (k, v) in rows {
            if v.get(8..) == Some(collection.as_bytes()) {
                tx.delete(Table::Outbox, &k).await.map_err(Error::from)?;
            }
        }
        let refused = format!("{META_REFUSED}{peer}/{collection}/");
        for k in tx.scan_keys(Table::Meta, &KeyRange::prefix(refused.as_bytes()), None).await.map_err(Error::from)? {
            tx.delete(Table::Meta, &k).await.map_err(Error::from)?;
        }
        tx.commit().await.map_err(Error::from)?;
        if !self.replicators.borrow().keys().any(|(p, _)| *p == peer) {
            self.outboxes.remove(&peer);
            self.dialer.unwant(&peer, Reason::Replicator);
        }
        self.count_outbox().await;
        Ok(json!({ "peerId": peer.to_string(), "collection": collection, "deleted": true }))
    }

    /// Pushes the next batch of `peer`'s outbox, lowest heights (parents)
    /// first, if it is connected, idle and due.
    pub(super) async fn pump_outbox(&mut self, peer: PeerId) {
        let now = self.now();
        let ready = self.outboxes.ready(&peer, now);
        if !ready || !self.connected.contains(&peer) || !self.reachable(&peer) || self.swarm.is_none() {
            return;
        }
        // The next batch, and how many entries the outbox holds in all.
        let batch: Result<(Batch, usize), Error> = async {
            let mut tx = self.db.store().begin(Mode::Read).await?;
            let prefix = outbox_prefix(&peer);
            let rows = tx.scan(Table::Outbox, &KeyRange::prefix(&prefix), None).await?;
            let mut entries: Vec<(u64, Cid)> = rows
                .into_iter()
                .filter_map(|(k, v)| {
                    let height = u64::from_be_bytes(v.get(..8)?.try_into().ok()?);
                    Some((height, Cid::try_from(&k[prefix.len()..]).ok()?))
                })
                .collect();
            entries.sort();
            let total = entries.len();
            entries.truncate(MAX_BATCH_BLOCKS);
            let keys: Vec<Vec<u8>> = entries.iter().map(|(_, c)| c.to_bytes()).collect();
            let blocks = tx.get_many(Table::Blocks, &keys).await?;
            let mut batch = Vec::new();
            let mut size = 0;
            for ((_, cid), bytes) in entries.into_iter().zip(blocks) {
                let Some(bytes) = bytes else { continue };
                if !batch.is_empty() && size + bytes.len() > BATCH_BYTES {
                    break;
                }
                size += bytes.len();
                batch.push((cid, bytes));
            }
            Ok((batch, total))
        }
        .await;
        let (batch, total) = match batch {
            Ok((b, _)) if b.is_empty() => return,
            Ok(b) => b,
            Err(e) => {
                tracing::error!("cannot read the outbox: {e}");
                return;
            }
        };
        let remaining = (total - batch.len()) as u64;
        let cids = batch.iter().map(|(c, _)| *c).collect();
        let blocks = batch.into_iter().map(|(_, b)| ByteBuf::from(b)).collect();
        let swarm = self.swarm.as_mut().expect("checked above");
        let id =
            swarm.behaviour_mut().replicate.send_request(&peer, ReplicateRequest::Push { blocks, remaining }.into());
        self.pushes.insert(id, Push::Outbox { cids });
        self.outboxes.sent(&peer);
    }

    /// Clears what `peer` acknowledged from its outbox, and what it
    /// refused, which is kept aside (`replicators.list()` → `refused`) so
    /// one block the peer will never take does not hold up the rest.
    pub(super) async fn outbox_acked(&mut self, peer: PeerId, cids: &[Cid], refused: &[RefusedBlock]) {
        let result: Result<(), Error> = async {
            let mut tx = self.db.store().begin(Mode::Write).await?;
            for c in cids {
                let mut key = outbox_prefix(&peer);
                key.extend(c.to_bytes());
                tx.delete(Table::Outbox, &key).await?;
            }
            for r in refused {
                let mut key = outbox_prefix(&peer);
                key.extend(r.cid.to_bytes());
                let Some(entry) = tx.get(Table::Outbox, &key).await? else { continue };
                tx.delete(Table::Outbox, &key).await?;
                let collection = String::from_utf8_lossy(entry.get(8..).unwrap_or_default()).into_owned();
                tracing::info!(%peer, cid = %r.cid, code = r.code, collection, "replicator's peer refused a block: {}", r.reason);
                let stored = StoredRefusal { code: r.code.clone(), reason: r.reason.clone() };
                let key = format!("{META_REFUSED}{peer}/{collection}/{}", r.cid);
                tx.put(Table::Meta, key.as_bytes(), &serde_json::to_vec(&stored).expect("serialises")).await?;
            }
            Ok(tx.commit().await?)
        }
        .await;
        if let Err(e) = result {
            tracing::error!("cannot clear the outbox: {e}");
        }
        self.outboxes.acked(&peer);
        self.synced();
        self.count_outbox().await;
        self.pump_outbox(peer).await;
    }

    pub(super) fn outbox_failed(&mut self, peer: PeerId) {
        let now = self.now();
        self.outboxes.failed(&peer, now);
    }
}
