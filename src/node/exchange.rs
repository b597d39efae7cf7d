//! Head exchange (`/weft/heads/1`) and pushes (`/weft/replicate/1`).
//!
//! When two peers connect, each tells the other its heads for every
//! collection they share, and each sends the other what it lacks. Where all
//! of the other side's heads are blocks we hold, the DAG walk below them
//! says exactly what it lacks and we push that; where some are not, we
//! offer the candidates' CIDs first and push only those wanted. So neither
//! side sends a block the other holds, which tests count.
//!
//! Pushes to one peer go in order (parents first), a few batches in
//! flight at a time ([`crate::core::replica::push`]).

use std::collections::{BTreeMap, HashSet, VecDeque};

use futures::FutureExt;

use cid::Cid;
use libp2p::PeerId;
use serde_bytes::ByteBuf;

use super::adapters::{verify_batch, Verified};
use super::run::{col_topic, Node};
use super::state::{Exchange, Offer, Push, Verifying};
use super::wire::{ReplyId, ReqId, Request, Response};
use crate::core::block::{cid_of, SignedBlock};
use crate::core::doc::Heads;
use crate::core::map_of;
use crate::core::replica::push::{offer_chunks, PushBatch};
use crate::core::sync::{HeadsRequest, HeadsResponse, RefusedBlock, ReplicateRequest, ReplicateResponse, MAX_CIDS};
use crate::error::Error;
use crate::records::Queued;
use crate::store::Store;

/// The most documents one head exchange request names (about 2 MB).
const HEADS_CHUNK: usize = 20_000;
/// The most pushes of one peer merged in one transaction.
const MERGED_AT_ONCE: usize = 4;
/// The most documents whose missing blocks one walk finds: a walk holds
/// the packs it read until it ends.
const WALKED_AT_ONCE: usize = 2_048;

fn cids_of(heads: BTreeMap<String, Heads>) -> BTreeMap<String, Vec<Cid>> {
    map_of(heads.into_iter().map(|(id, h)| (id, h.into_iter().map(|(c, _)| c).collect())))
}

/// The check of the oldest push being verified, once it is done (never,
/// while none is): a driver that verifies aside then calls
/// [`Node::merge_checked`].
pub(crate) async fn next_checked(verifying: &mut VecDeque<Verifying>) -> Verified {
    match verifying.front_mut() {
        Some(push) => push.checked().await,
        None => std::future::pending().await,
    }
}

impl<S: Store> Node<S> {
    /// Sends `peer` our heads of `col` (or of its documents `docs`).
    /// Whether they went (not without the network, nor if they could not
    /// be read).
    pub(super) async fn start_exchange(&mut self, peer: PeerId, col: &str, docs: Option<Vec<String>>) -> bool {
        if !self.p2p {
            return false;
        }
        let heads = match self.db.collection_heads(col, docs.as_deref()).await {
            Ok(h) => cids_of(h),
            Err(e) => {
                tracing::debug!(%peer, col, "no head exchange: {e}");
                return false;
            }
        };
        // A large collection goes in requests that each name their
        // documents, so neither a request nor its answer outgrows the
        // message limit. The peer then sends only what we lack of those:
        // documents we have never seen come by its own exchange.
        let col = col.to_string();
        let requests = if heads.len() <= HEADS_CHUNK {
            vec![HeadsRequest { col: col.clone(), docs, heads }]
        } else {
            let mut heads = heads.into_iter().peekable();
            let mut chunks = Vec::new();
            while heads.peek().is_some() {
                let chunk: BTreeMap<String, Vec<Cid>> = map_of(heads.by_ref().take(HEADS_CHUNK));
                let docs = Some(chunk.keys().cloned().collect());
                chunks.push(HeadsRequest { col: col.clone(), docs, heads: chunk });
            }
            chunks
        };
        for request in requests {
            let exchange = Exchange { col: col.clone(), docs: request.docs.clone() };
            let id = self.send(peer, Request::Heads(request));
            self.exchanges.insert(id, exchange);
        }
        true
    }

    pub(super) async fn on_heads_request(&mut self, peer: PeerId, reply: ReplyId, request: HeadsRequest) {
        self.stats.heads_received += request.heads.len() as u64;
        self.known_to(peer, &request.col);
        let ours = match self.db.collection_heads(&request.col, request.docs.as_deref()).await {
            Ok(h) => Some(h),
            Err(e) => {
                tracing::debug!(%peer, col = request.col, "heads asked: {e}");
                None
            }
        };
        // No schema of it here (none of its documents either): the peer is
        // told, and sends none of its blocks, each of which would be
        // refused. Judged as an import judges it: a schema another tab
        // added since this handle read them is read now.
        let unknown = ours.as_ref().is_some_and(BTreeMap::is_empty)
            && matches!(self.db.collection(&request.col).await, Err(Error::UnknownCollection(_)));
        // Only the documents they named: they can send us nothing
        // for the others, and the answer stays as small as the request.
        let heads: BTreeMap<String, Vec<Cid>> = map_of(
            ours.iter()
                .flatten()
                .filter(|(id, _)| request.docs.is_some() || request.heads.contains_key(*id))
                .map(|(id, h)| (id.clone(), h.iter().map(|(c, _)| *c).collect())),
        );
        self.respond(reply, Response::Heads(HeadsResponse { heads, unknown }));
        // A collection we do not share with this peer: it may have a
        // replicator to us, which our heads serve; nothing goes back.
        if !self.shares_collection(peer, &request.col) {
            self.stats.withheld += 1;
            return;
        }
        // It asked for the collection's heads: it has the collection.
        if let Some(ours) = ours {
            self.send_lacking(peer, &request.col, ours, request.heads, false).await;
        }
    }

    pub(super) async fn on_heads_response(&mut self, peer: PeerId, request: ReqId, response: HeadsResponse) {
        let Some(x) = self.exchanges.remove(&request) else { return };
        self.synced();
        self.replica.exchanged(&peer);
        // The replicator that started it may be gone since.
        if !self.shares_collection(peer, &x.col) {
            return;
        }
        // A peer without the collection would refuse all of it.
        if response.unknown {
            tracing::debug!(%peer, col = x.col, "it has no such collection: sending it none");
            self.unknown_to.entry(peer).or_default().insert(col_topic(&x.col));
            return;
        }
        self.known_to(peer, &x.col);
        // Our heads now, not when we asked: what they pushed us
        // meanwhile need not go back.
        match self.db.collection_heads(&x.col, x.docs.as_deref()).await {
            Ok(ours) => {
                // An answer that is not `unknown` says as much only from a
                // peer that writes the field; one holding the collection's
                // topic has it whichever build it is.
                let may_lack = !self.holds_topic(&peer, &col_topic(&x.col));
                self.send_lacking(peer, &x.col, ours, response.heads, may_lack).await
            }
            Err(e) => tracing::warn!(%peer, col = x.col, "cannot read heads: {e}"),
        }
    }

    /// Sends `peer` the blocks of `col` it lacks, given its heads: of the
    /// documents we share with it. `may_lack_collection`: the peer may
    /// have no schema of the collection (we answer its own request for the
    /// heads: it has; it answered ours: it may, unless it holds the
    /// collection's topic now).
    async fn send_lacking(
        &mut self,
        peer: PeerId,
        col: &str,
        mut ours: BTreeMap<String, Heads>,
        theirs: BTreeMap<String, Vec<Cid>>,
        may_lack_collection: bool,
    ) {
        let shared = self.shared_with(peer);
        ours.retain(|doc, _| self.shares(&shared, col, doc));
        // A peer that reports nothing and may not have the collection at
        // all (an older build, which cannot answer `unknown`): the first
        // batch is one block, and a refusal ends it cheaply. The probe's
        // answer is a round trip before the rest goes (0.28-0.57 s of a
        // page's catch-up of documents it had never seen), so not where
        // the peer has the collection.
        let probe = may_lack_collection && theirs.is_empty();
        // The documents whose heads differ: (ours, theirs, our highest
        // head's height: the walk reads down from it to about theirs).
        let differ: Vec<(Vec<Cid>, Vec<Cid>, usize)> = ours
            .into_iter()
            .filter_map(|(doc, heads)| {
                let mut mine: Vec<Cid> = heads.iter().map(|h| h.0).collect();
                mine.sort_unstable();
                let mut their = theirs.get(&doc).cloned().unwrap_or_default();
                their.sort_unstable();
                their.dedup();
                // All our heads queued for the peer on this connection
                // already (the other of its two exchanges): so is what it
                // lacks below them, and there is nothing to walk.
                let queued = mine.iter().all(|c| self.replica.lanes.was_sent(&peer, c));
                let height = heads.iter().map(|h| h.1).max().unwrap_or(0) as usize;
                (mine != their && !queued).then_some((mine, their, height))
            })
            .collect();
        let mut exact = Vec::new();
        let mut offers: Vec<Vec<Cid>> = Vec::new();
        // Walked many documents at a time (a level of all their graphs in
        // one batch of reads), in chunks that bound what a walk holds.
        for chunk in differ.chunks(WALKED_AT_ONCE) {
            let their: Vec<Cid> = chunk.iter().flat_map(|(_, t, _)| t.iter().copied()).collect();
            let held: HashSet<Cid> = match self.db.has_blocks(&their).await {
                Ok(held) => their.into_iter().zip(held).filter(|(_, h)| *h).map(|(c, _)| c).collect(),
                Err(e) => {
                    tracing::warn!("cannot read blocks: {e}");
                    continue;
                }
            };
            // Our side of each document's walk reads about its height in
            // blocks, less theirs (`blocks_missing_from_each`).
            let reads = chunk.iter().map(|(_, _, h)| *h).sum();
            let heights: Vec<usize> = chunk.iter().map(|(_, _, h)| *h).collect();
            let chunk: Vec<(Vec<Cid>, Vec<Cid>)> = chunk.iter().map(|(o, t, _)| (o.clone(), t.clone())).collect();
            let walked = match self.db.blocks_missing_from_each(&chunk, reads).await {
                Ok(b) => b,
                // One document that cannot be walked (a block stored
                // corrupt) must not hold back the others: each alone.
                Err(e) => {
                    tracing::warn!(col, "cannot walk {} documents together: {e}", chunk.len());
                    let mut each = Vec::with_capacity(chunk.len());
                    for (doc, h) in chunk.iter().zip(&heights) {
                        let walked = self.db.blocks_missing_from_each(std::slice::from_ref(doc), *h).await;
                        each.push(
                            walked
                                .unwrap_or_else(|e| {
                                    tracing::warn!(col, "cannot walk a document: {e}");
                                    Vec::new()
                                })
                                .pop()
                                .unwrap_or_default(),
                        );
                    }
                    each
                }
            };
            let on_its_way = self.on_its_way(peer);
            for ((_, their), blocks) in chunk.iter().zip(walked) {
                let blocks: Vec<(Cid, Vec<u8>)> = blocks.into_iter().filter(|(c, _)| !on_its_way(c)).collect();
                if blocks.is_empty() {
                    continue;
                }
                if their.iter().all(|c| held.contains(c)) {
                    exact.extend(blocks);
                } else {
                    offers.push(blocks.into_iter().map(|(c, _)| c).collect());
                }
            }
        }
        self.enqueue(peer, col, exact, probe);
        for offer in offer_chunks(offers, MAX_CIDS) {
            self.send_offer(peer, col, offer);
        }
    }

    fn send_offer(&mut self, peer: PeerId, col: &str, candidates: Vec<Cid>) {
        if !self.p2p {
            return;
        }
        let id = self.send(peer, Request::Replicate(ReplicateRequest::Offer { cids: candidates.clone() }));
        self.offers.insert(id, Offer { col: col.to_string(), candidates });
    }

    /// Queues blocks for `peer` in batches, skipping any queued before.
    fn enqueue(&mut self, peer: PeerId, col: &str, blocks: Vec<(Cid, Vec<u8>)>, probe: bool) {
        let next = self.replica.lanes.enqueue(&peer, col, blocks, probe);
        self.push(peer, next);
    }

    /// Sends batches of head exchange's lane to `peer`.
    fn push(&mut self, peer: PeerId, batches: Vec<PushBatch<Cid>>) {
        for PushBatch { col, blocks, remaining, ticket } in batches {
            if !self.p2p {
                self.replica.lanes.drop_lane(&peer); // no network: the next exchange works it out again
                return;
            }
            // Each block's height, the key of the outbox row its delivery
            // clears should the peer have one by then (a replicator added
            // meanwhile, or a follower tab's blocks taken over). Our own
            // stored blocks, read back with no check: one that did not decode
            // could not be in an outbox (0 is no block's height).
            let height = |c: Cid, b: &[u8]| SignedBlock::decode_stored(b.to_vec(), c).map_or(0, |s| s.block.height);
            let queued = blocks.iter().map(|(c, b)| (height(*c, b), *c)).collect();
            let blocks = blocks.into_iter().map(|(_, b)| ByteBuf::from(b)).collect();
            let id = self.send(peer, Request::Replicate(ReplicateRequest::Push { blocks, remaining }));
            self.pushes.insert(id, Push::Exchange { col, queued, ticket });
        }
    }

    /// Sends our request `id` to `peer` again, after the connection it
    /// went on closed while another to the peer is up (`request_failed`):
    /// a heads request (with our heads now), an offer, a push of head
    /// exchange's lane (the same blocks under the same ticket, so the
    /// lane's window holds; not if its lane is gone since), or an outbox's push
    /// (its blocks are owed again, with no backoff, and go in the outbox's
    /// next batch). Whether it was one of those and went again.
    pub(super) async fn send_again(&mut self, peer: PeerId, id: ReqId) -> bool {
        if let Some(x) = self.exchanges.remove(&id) {
            tracing::debug!(%peer, col = x.col, "its connection closed: swapping heads again on another");
            if self.start_exchange(peer, &x.col, x.docs.clone()).await {
                return true;
            }
            self.exchanges.insert(id, x);
            return false;
        }
        if let Some(o) = self.offers.remove(&id) {
            if self.p2p {
                self.send_offer(peer, &o.col, o.candidates);
                return true;
            }
            self.offers.insert(id, o);
            return false;
        }
        if let Some(Push::Outbox { ticket, .. }) = self.pushes.get(&id) {
            let ticket = *ticket;
            self.pushes.remove(&id);
            self.replica.outboxes.lost(&peer, ticket);
            self.pump_outbox(peer).await;
            return true;
        }
        let Some(Push::Exchange { queued, ticket, .. }) = self.pushes.get(&id) else { return false };
        let cids: Vec<Cid> = queued.iter().map(|(_, c)| *c).collect();
        // Of a lane dropped since (another of its batches failed): the
        // exchange that dropped it works out again what it held.
        let Some(remaining) = self.replica.lanes.again(&peer, *ticket) else {
            self.pushes.remove(&id);
            return true;
        };
        let blocks = match self.db.get_blocks(&cids).await {
            Ok(blocks) => blocks.into_iter().collect::<Option<Vec<Vec<u8>>>>(),
            Err(e) => {
                tracing::warn!(%peer, "cannot read a push to send again: {e}");
                None
            }
        };
        // Not read, or no network: left for the failure path (the lane
        // drops it and the exchange works it out again).
        let (Some(blocks), true) = (blocks, self.p2p) else { return false };
        let Some(push) = self.pushes.remove(&id) else { return false };
        tracing::debug!(%peer, blocks = blocks.len(), "its connection closed: pushing again on another");
        let blocks = blocks.into_iter().map(ByteBuf::from).collect();
        let again = self.send(peer, Request::Replicate(ReplicateRequest::Push { blocks, remaining }));
        self.pushes.insert(again, push);
        true
    }

    /// A peer's offer or push. A push takes the check its driver began of
    /// it as it came ([`Node::begun`]), unless it changes here (a block in
    /// it twice) or needs none (all merged lately).
    pub(super) async fn on_replicate_request(&mut self, peer: PeerId, reply: ReplyId, request: ReplicateRequest) {
        match request {
            ReplicateRequest::Offer { cids } => {
                let response = match self.db.held_or_pending(&cids).await {
                    Ok(held) => ReplicateResponse::Want {
                        cids: cids.into_iter().zip(held).filter(|(_, h)| !h).map(|(c, _)| c).collect(),
                    },
                    Err(e) => ReplicateResponse::Refused { reason: e.to_string() },
                };
                self.respond(reply, Response::Replicate(response));
            }
            ReplicateRequest::Push { blocks, remaining } => {
                let n = blocks.len();
                // Each block hashed once here: a block named twice is
                // carried once, and a push of blocks all merged lately is
                // answered without a transaction (a peer replaying a valid
                // block costs a hash, and in a page the check its driver
                // began if the push came while the node merged that peer's
                // push before: `node::browser`).
                let mut seen = HashSet::new();
                let (cids, blocks): (Vec<Cid>, Vec<Vec<u8>>) =
                    blocks.into_iter().map(|b| (cid_of(&b), b.into_vec())).filter(|(c, _)| seen.insert(*c)).unzip();
                self.stats.replayed += (n - blocks.len()) as u64;
                self.stats.bytes_received += blocks.iter().map(|b| b.len() as u64).sum::<u64>();
                if !cids.is_empty() && cids.iter().all(|c| self.recent.contains(c)) {
                    self.stats.replayed += cids.len() as u64;
                    self.respond(
                        reply,
                        Response::Replicate(ReplicateResponse::Ack { merged: cids, refused: Vec::new() }),
                    );
                    return;
                }
                let check = match self.begun.take() {
                    Some((r, check)) if r == reply && blocks.len() == n => check,
                    _ => Box::pin(verify_batch(blocks)),
                };
                self.verifying.push_back(Verifying { peer, reply, remaining, check });
                if !self.verify_aside {
                    while let Some(mut push) = self.verifying.pop_front() {
                        let checked = push.checked().await;
                        self.merge_pushes(vec![(push, checked)]).await;
                    }
                }
            }
        }
    }

    /// Merges the oldest push, whose check is done (`checked`: see
    /// [`next_checked`]), with the same peer's pushes behind it whose
    /// checks are done too, in one transaction: for a driver that verifies
    /// aside (`verify_aside`), which merges one push while the next ones
    /// are checked.
    pub(crate) async fn merge_checked(&mut self, checked: Verified) {
        let push = self.verifying.pop_front().expect("the push just checked");
        let mut group = vec![(push, checked)];
        while group.len() < MERGED_AT_ONCE {
            let Some(next) = self.verifying.front_mut().filter(|p| p.peer == group[0].0.peer) else { break };
            let Some(checked) = next.checked().now_or_never() else { break };
            let next = self.verifying.pop_front().expect("the push just checked");
            group.push((next, checked));
        }
        self.merge_pushes(group).await;
    }

    /// Merges pushes of one peer whose blocks are checked, in one
    /// transaction (one commit for several batches), and answers each.
    /// Every block that can be taken is; the others are answered one by
    /// one, so the pusher moves past them. Acknowledged only once the
    /// transaction has committed: the pusher deletes its outbox entries on
    /// this answer.
    pub(crate) async fn merge_pushes(&mut self, pushes: Vec<(Verifying, Verified)>) {
        let Some(peer) = pushes.first().map(|(p, _)| p.peer) else { return };
        debug_assert!(pushes.iter().all(|(p, _)| p.peer == peer), "one peer's pushes");
        let mut answers = Vec::with_capacity(pushes.len());
        let (mut ok, mut refused) = (Vec::new(), Vec::new());
        let (mut unique, mut taking) = (HashSet::new(), HashSet::new());
        for (push, (taken, not)) in pushes {
            // Each block of a push either passed its check or was refused.
            let cids: Vec<Cid> = taken.iter().map(|b| b.cid).chain(not.iter().map(|r| r.cid)).collect();
            unique.extend(cids.iter().copied());
            // A block in two of them is merged once.
            ok.extend(taken.into_iter().filter(|b| taking.insert(b.cid)));
            refused.extend(not);
            answers.push((push, cids));
        }
        let response = match self.import_decoded_from(peer, ok, refused).await {
            Ok(report) => {
                for (push, cids) in &answers {
                    self.note_relayed(peer, push.remaining);
                    self.sync_progress(peer, cids.len() as u64, push.remaining);
                }
                self.stats.received += unique.len().saturating_sub(report.duplicate + report.refused.len()) as u64;
                self.take_merged().await;
                self.fetch(report.missing, Some(peer));
                Ok(report.refused)
            }
            Err(e) => {
                tracing::debug!(%peer, "push not taken: {e}");
                Err(e.to_string())
            }
        };
        for (push, cids) in answers {
            let answer = match &response {
                Ok(refusals) => {
                    let theirs: HashSet<Cid> = cids.iter().copied().collect();
                    let refused: Vec<RefusedBlock> = refusals
                        .iter()
                        .filter(|r| theirs.contains(&r.cid))
                        .map(|r| RefusedBlock { cid: r.cid, code: r.code.into(), reason: r.message.clone() })
                        .collect();
                    let out: HashSet<Cid> = refused.iter().map(|r| r.cid).collect();
                    ReplicateResponse::Ack { merged: cids.into_iter().filter(|c| !out.contains(c)).collect(), refused }
                }
                Err(reason) => ReplicateResponse::Refused { reason: reason.clone() },
            };
            self.respond(push.reply, Response::Replicate(answer));
        }
    }

    pub(super) async fn on_replicate_response(&mut self, peer: PeerId, request: ReqId, response: ReplicateResponse) {
        if let Some(offer) = self.offers.remove(&request) {
            self.on_want(peer, offer, response).await;
        } else if let Some(push) = self.pushes.remove(&request) {
            self.on_push_answer(peer, push, response).await;
        }
    }

    async fn on_want(&mut self, peer: PeerId, offer: Offer, response: ReplicateResponse) {
        let ReplicateResponse::Want { cids } = response else {
            tracing::debug!(%peer, "offer answered with {response:?}");
            return;
        };
        let want: HashSet<Cid> = cids.into_iter().collect();
        let chosen: Vec<Cid> = offer.candidates.into_iter().filter(|c| want.contains(c)).collect();
        let blocks = match self.db.get_blocks(&chosen).await {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!("cannot read blocks: {e}");
                return;
            }
        };
        let blocks = chosen.into_iter().zip(blocks).filter_map(|(c, b)| Some((c, b?))).collect();
        self.enqueue(peer, &offer.col, blocks, false);
    }

    async fn on_push_answer(&mut self, peer: PeerId, push: Push, response: ReplicateResponse) {
        match (push, response) {
            (Push::Exchange { queued, ticket, col }, ReplicateResponse::Ack { merged, refused }) => {
                let acked: HashSet<Cid> = merged.into_iter().collect();
                let cleared: Vec<Queued> = queued.iter().copied().filter(|(_, c)| acked.contains(c)).collect();
                let done: Vec<Cid> = cleared.iter().map(|(_, c)| *c).collect();
                self.stats.sent += done.len() as u64;
                // What the peer now holds leaves its outbox too.
                if !done.is_empty() && self.replica.outboxes.peers().any(|p| *p == peer) {
                    self.clear_outbox(peer, &cleared, &[]).await;
                }
                // A peer without the collection (one that says so in its
                // heads is sent nothing: this is an older one) refuses
                // each block of it: none more goes. (A batch is of one
                // collection.)
                let next = match refused.iter().any(|r| r.code == "UNKNOWN_COLLECTION") {
                    true => {
                        self.unknown_to.entry(peer).or_default().insert(col_topic(&col));
                        let untaken: Vec<Cid> = queued.iter().map(|(_, c)| *c).filter(|c| !acked.contains(c)).collect();
                        self.replica.lanes.refused(&peer, ticket, &col, &untaken)
                    }
                    false => {
                        self.known_to(peer, &col);
                        self.replica.lanes.acked(&peer, ticket, &done)
                    }
                };
                self.push(peer, next);
            }
            (Push::Exchange { col, ticket, queued }, other) => {
                tracing::debug!(%peer, col, "push of {col} answered with {other:?}");
                let untaken: Vec<Cid> = queued.iter().map(|(_, c)| *c).collect();
                let next = self.replica.lanes.refused(&peer, ticket, &col, &untaken);
                self.push(peer, next);
            }
            (Push::Outbox { queued, ticket }, ReplicateResponse::Ack { merged, refused }) => {
                let acked: HashSet<Cid> = merged.into_iter().collect();
                // Only what this push carried: the peer cannot clear or
                // fill other entries of the outbox. (A refusal is rare.)
                let height = |cid: &Cid| queued.iter().find_map(|(h, c)| (c == cid).then_some(*h));
                let refused: Vec<(u64, RefusedBlock)> =
                    refused.into_iter().filter_map(|r| Some((height(&r.cid)?, r))).collect();
                let done: Vec<Queued> = queued.into_iter().filter(|(_, c)| acked.contains(c)).collect();
                self.stats.sent += done.len() as u64;
                self.outbox_acked(peer, ticket, &done, &refused).await;
            }
            (Push::Outbox { ticket, .. }, other) => {
                tracing::debug!(%peer, "outbox push answered with {other:?}");
                self.outbox_failed(peer, ticket);
            }
        }
    }
}
