//! Passive replication: blocks published on per-document and
//! per-collection topics, and the blocks a received one still lacks,
//! fetched with `/weft/blocks/1` before its document shows it.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::time::Duration;

use cid::Cid;
use libp2p::gossipsub::MessageAcceptance;
use libp2p::PeerId;
use serde_bytes::ByteBuf;

use super::run::{col_topic, doc_topic, Node};
use super::state::{source_of, BATCH_BYTES};
use super::wire::{Effect, ReplyId, ReqId, Request, Response};
use crate::core::block::{cid_of, SignedBlock};
use crate::core::replica::fetch::FetchEffect;
use crate::core::replica::missed::MissedDocs;
use crate::core::replica::REPAIR_EVERY;
use crate::core::schema::WritePolicy;
use crate::core::sync::{BlocksRequest, BlocksResponse, MAX_BATCH_BLOCKS, PEERS_TOPIC};
use crate::db::{ImportReport, Merged};
use crate::error::Error;
use crate::store::Store;

impl<S: Store> Node<S> {
    /// Whether the node gossips at all (with a network and pubsub on).
    pub(super) fn gossips(&self) -> bool {
        self.p2p && self.config.pubsub
    }

    pub(super) fn subscribe(&mut self, topic: &str) {
        if self.gossips() && self.topics.insert(topic.to_string()) {
            self.emit(Effect::Subscribe(topic.to_string()));
        }
    }

    pub(super) fn unsubscribe(&mut self, topic: &str) {
        if self.topics.remove(topic) {
            self.emit(Effect::Unsubscribe(topic.to_string()));
        }
    }

    /// Whether a connected peer told us it holds `topic`.
    pub(super) fn anyone_holds(&self, topic: &str) -> bool {
        self.peer_topics.values().any(|t| t.contains(topic))
    }

    /// Whether `peer` told us it holds `topic` (a collection's: then it
    /// has the collection's schema).
    pub(super) fn holds_topic(&self, peer: &PeerId, topic: &str) -> bool {
        self.peer_topics.get(peer).is_some_and(|t| t.contains(topic))
    }

    /// Marks a document recently used, holding its topic and letting go of
    /// the least recently used one past the limit.
    pub(super) fn touch_doc(&mut self, doc: &str) {
        let Some(hot) = self.doc_topics.as_mut() else { return };
        if hot.get(doc).is_some() {
            return;
        }
        let evicted = hot.push(doc.to_string(), ()).map(|(old, ())| old);
        if let Some(old) = evicted {
            self.unsubscribe(&doc_topic(&old));
        }
        self.subscribe(&doc_topic(doc));
    }

    /// Notes a block of a p2p collection for the connected peers it did
    /// not reach by gossip (see [`Node::on_subscribed`]): those that hold
    /// no topic of its collection, but the peer that sent it. (A peer that
    /// holds the topic and is outside our mesh of it gets a forwarded
    /// block by gossipsub's `IHAVE` later, as any subscriber does.)
    pub(super) fn note_missed(&mut self, m: &Merged) {
        if !self.gossips() || !self.p2p_collections.contains(&m.collection) {
            return;
        }
        let topic = col_topic(&m.collection);
        let (topics, from) = (&self.peer_topics, source_of(m));
        let has = |p: &PeerId| from == Some(*p) || topics.get(p).is_some_and(|t| t.contains(&topic));
        self.replica.missed.changed(&m.collection, &m.doc, has);
    }

    /// Publishes a local block on its document's topic, and on its
    /// collection's if that is a p2p collection here: a collection we do
    /// not share is not sent to whoever listens (see `share.rs`). The
    /// peers it cannot reach are noted with the topics it went by
    /// ([`Node::note_missed`]).
    pub(super) fn publish(&mut self, m: &Merged) {
        self.note_missed(m);
        let mut topics = vec![doc_topic(&m.doc)];
        if self.p2p_collections.contains(&m.collection) {
            topics.push(col_topic(&m.collection));
        }
        if !self.gossips() {
            return;
        }
        let mut unheard = false;
        for topic in topics {
            // Nobody listening yet: head exchange brings them up to date.
            if !self.anyone_holds(&topic) {
                unheard |= topic == col_topic(&m.collection);
                continue;
            }
            self.emit(Effect::Publish { topic, data: m.bytes.clone() });
        }
        // A page's connection may be a second one of its peer id on the
        // node, beside a tab that led until it hung (its lock was stolen):
        // gossipsub tells a peer its topics on the first connection only, so
        // this page never learns the node's and every publish reaches
        // nobody, for as long as the connection lasts. Swapping heads for
        // the document does not wait for the topics (`repair_unheard`).
        if unheard && self.config.repair_unheard && self.replica.dialer.any_connected() {
            self.replica.unheard.entry(m.collection.clone()).or_default().insert(m.doc.clone());
        }
    }

    /// Whether `peer` may want collection `col`'s changes: it holds the
    /// collection's topic (so it has its schema), or we never heard its
    /// topics and it has not said it has no such collection
    /// (`unknown_to`). One that told us its topics and holds none of this
    /// collection's does not want them.
    fn may_want(&self, peer: &PeerId, col: &str) -> bool {
        let topic = col_topic(col);
        match self.peer_topics.get(peer) {
            Some(t) if !t.is_empty() => t.contains(&topic),
            _ => !self.unknown_to.get(peer).is_some_and(|u| u.contains(&topic)),
        }
    }

    /// `peer` has collection `col` after all (it asked for its heads,
    /// answered them as known, took a push of it): not `unknown_to` it.
    pub(super) fn known_to(&mut self, peer: PeerId, col: &str) {
        if let Some(unknown) = self.unknown_to.get_mut(&peer) {
            unknown.remove(&col_topic(col));
        }
    }

    /// Notes the documents of shared collections that `peer`'s push just
    /// merged (still in `merged`), to be offered to the other peers
    /// ([`crate::core::replica::Replica::relayed`]).
    pub(super) fn note_relayed(&mut self, peer: PeerId, remaining: u64) {
        // Passed on once the peer's transfer is done: its later batches
        // would change the same documents again, and a peer offered them
        // midway would push us back what the first one is still sending.
        if remaining > 0 {
            let now = self.now();
            self.pushing.insert(peer, now);
        } else {
            self.pushing.remove(&peer);
        }
        let merged = self.merged.borrow();
        let pushed = |m: &&Merged| super::state::source_of(m) == Some(peer);
        for m in merged.iter().filter(pushed).filter(|m| self.p2p_collections.contains(&m.collection)) {
            let docs = self.replica.relayed.entry(m.collection.clone()).or_default();
            docs.entry(m.doc.clone()).or_default().insert(peer);
        }
    }

    /// Swaps heads with every connected peer for the documents published to
    /// nobody on their collection's topic (see `publish`), and with the
    /// peers that did not push them for documents a push changed (see
    /// `note_relayed`): at once, then at most once per [`REPAIR_EVERY`], each
    /// time for those since.
    pub(super) async fn repair_unheard(&mut self) {
        /// How long a peer counts as pushing after a push said more was coming.
        const PUSHING_FORGOTTEN: Duration = Duration::from_secs(5);
        if (self.replica.unheard.is_empty() && self.replica.relayed.is_empty()) || self.now() < self.replica.next_repair
        {
            return;
        }
        self.replica.next_repair = self.now() + REPAIR_EVERY;
        // A transfer's pushes may arrive out of order (several in flight):
        // one that said more was coming, come after the last, is forgotten
        // once no push has followed it for a while.
        let now = self.now();
        self.pushing.retain(|_, at| now < *at + PUSHING_FORGOTTEN);
        let relayed = match self.pushing.is_empty() {
            true => std::mem::take(&mut self.replica.relayed),
            false => BTreeMap::new(),
        };
        let peers: Vec<PeerId> = self.replica.dialer.connected_peers().copied().filter(|p| self.reachable(p)).collect();
        for (col, docs) in relayed {
            let peers: Vec<PeerId> = peers.iter().copied().filter(|p| self.may_want(p, &col)).collect();
            for peer in peers {
                let docs: Vec<String> =
                    docs.iter().filter(|(_, from)| !from.contains(&peer)).map(|(d, _)| d.clone()).collect();
                if !docs.is_empty() {
                    tracing::debug!(%peer, col, docs = docs.len(), "passing on what a push changed");
                    self.start_exchange(peer, &col, Some(docs)).await;
                }
            }
        }
        if self.replica.unheard.is_empty() {
            return;
        }
        let unheard = std::mem::take(&mut self.replica.unheard);
        if !self.gossips() {
            return;
        }
        let peers: Vec<PeerId> = self.replica.dialer.connected_peers().copied().collect();
        for (col, docs) in unheard {
            let docs: Vec<String> = docs.into_iter().collect();
            // Those that hold the collection's topic now did not when we
            // published (they told us just after: the publish missed them).
            let sharing: Vec<PeerId> =
                peers.iter().copied().filter(|p| self.may_want(p, &col) && self.shares_collection(*p, &col)).collect();
            for peer in sharing {
                tracing::debug!(%peer, col, docs = docs.len(), "published to nobody: swapping heads");
                self.start_exchange(peer, &col, Some(docs.clone())).await;
            }
        }
    }

    /// A peer joined one of our topics: on [`PEERS_TOPIC`], a relay
    /// announces its peers to it; on a collection topic, heads are swapped
    /// again for what it missed. The exchange on connect ran before either
    /// side knew the other's topics, and what was written or merged in
    /// between was gossiped to everyone but this peer (a new leader tab
    /// writes at once, so this happens): those documents, each side its
    /// own ([`Missed`](crate::core::replica::missed::Missed)), or the
    /// whole collection when they were too many to name.
    ///
    /// (A native node swapped the whole collection here every time, a
    /// page never: it left its own misses to the node's exchange. Pages
    /// stopped for a node change "lost" in tests/browser/tabs.test.mjs that
    /// turned out to be the test's own race, a change made on an older
    /// head: see TESTING.md.) Not covered: a page's second connection
    /// under the same peer id (a tab taking the lead from a hung one) tells
    /// topics the node already counts it holding, so no subscription comes
    /// for it here; what it misses meanwhile the page repairs itself
    /// (`repair_unheard`) or its next exchange brings.
    pub(super) async fn on_subscribed(&mut self, peer: PeerId, topic: &str) {
        if topic == PEERS_TOPIC {
            if !self.config.meet_peers {
                self.announce_reserved();
            }
            return;
        }
        let col = topic.strip_prefix(&col_topic("")).map(str::to_owned);
        let Some(col) = col.filter(|c| self.p2p_collections.contains(c)) else { return };
        match self.replica.missed.subscribed(&peer, &col) {
            MissedDocs::Docs(docs) if docs.is_empty() => {}
            MissedDocs::Docs(docs) => {
                tracing::debug!(%peer, col, docs = docs.len(), "swapping heads of what it missed");
                self.start_exchange(peer, &col, Some(docs.into_iter().collect())).await;
            }
            MissedDocs::TooMany => {
                tracing::debug!(%peer, col, "it missed too much to name: swapping heads of the collection");
                self.start_exchange(peer, &col, None).await;
            }
        }
    }

    /// A gossip message from `source` (who passed it on): merged if it can
    /// be, and judged for forwarding.
    pub(super) async fn on_gossip(&mut self, source: PeerId, topic: &str, data: Vec<u8>) -> MessageAcceptance {
        if topic == PEERS_TOPIC {
            return self.on_announcement(source, &data);
        }
        self.stats.bytes_received += data.len() as u64;
        let cid = cid_of(&data);
        // The same block comes on its document's topic and its collection's:
        // the second need not cost a transaction.
        if self.recent.get(&cid).is_some() {
            self.stats.replayed += 1;
            return MessageAcceptance::Accept;
        }
        match self.db_merge_from(source, cid, &data).await {
            // Not forwarded: an invalid block is held against the peer
            // that sent it (`held_against`), a refused one only dropped.
            Ok(report) if report.refused.iter().any(|r| r.is_fault()) => MessageAcceptance::Reject,
            Ok(report) if !report.refused.is_empty() => MessageAcceptance::Ignore,
            Ok(report) => {
                let new = report.duplicate == 0;
                self.stats.received += u64::from(new);
                self.take_merged().await;
                let block = SignedBlock::decode_stored(data, cid).ok();
                if let Some(b) = block.as_ref().filter(|_| new) {
                    self.touch_doc(b.doc_id());
                }
                self.fetch(report.missing, Some(source));
                // A change waiting for its document's genesis cannot be
                // judged under an owner policy yet: kept, not forwarded.
                let unjudged = match block.filter(|_| report.pending > 0) {
                    Some(b) => self.db.collection(&b.block.col).await.is_ok_and(|d| d.policy == WritePolicy::Owner),
                    None => false,
                };
                if unjudged {
                    MessageAcceptance::Ignore
                } else {
                    MessageAcceptance::Accept
                }
            }
            Err(e) => {
                tracing::debug!(%source, %cid, "block not taken: {e}");
                MessageAcceptance::Ignore
            }
        }
    }

    /// Imports blocks a peer sent in answer to a fetch: every one that can
    /// be taken ([`Node::db_import_from`]).
    pub(super) async fn import_from(&mut self, peer: PeerId, blocks: &[Vec<u8>]) -> ImportReport {
        if blocks.is_empty() {
            return ImportReport::default();
        }
        match self.db_import_from(peer, blocks).await {
            Ok(report) => {
                self.stats.received += blocks.len().saturating_sub(report.duplicate + report.refused.len()) as u64;
                self.take_merged().await;
                report
            }
            Err(e) => {
                tracing::warn!(%peer, "cannot import blocks: {e}");
                ImportReport::default()
            }
        }
    }

    /// Fetches blocks that merged blocks wait for, from `prefer` first
    /// ([`crate::core::replica::fetch`]).
    pub(super) fn fetch(&mut self, cids: Vec<Cid>, prefer: Option<PeerId>) {
        let connected = self.fetch_candidates();
        let effects = self.replica.fetcher.fetch(cids, prefer.as_ref(), &connected);
        self.carry_out(effects);
    }

    /// The peers a fetch may ask, in a fixed order.
    pub(super) fn fetch_candidates(&self) -> Vec<PeerId> {
        self.replica.dialer.connected_peers().copied().collect()
    }

    pub(super) fn carry_out(&mut self, effects: Vec<FetchEffect<PeerId, Cid>>) {
        for effect in effects {
            match effect {
                FetchEffect::Ask { id, peer, want } => match self.p2p {
                    true => {
                        let request = self.send(peer, Request::Blocks(BlocksRequest { want }));
                        self.fetches.insert(request, id);
                    }
                    // No network: nobody can be asked.
                    false => {
                        let effects = self.replica.fetcher.failed(id, &[]);
                        self.carry_out(effects);
                    }
                },
                FetchEffect::GaveUp { want, orphaned } => {
                    tracing::debug!(n = want.len(), "no peer has the missing blocks");
                    self.stats.fetch_failures += 1;
                    if orphaned {
                        self.orphaned.extend(want);
                    }
                }
            }
        }
    }

    /// The blocks of `want` we hold and share with `peer`, in its order,
    /// each CID once, read one at a time until the next would take the
    /// answer past [`BATCH_BYTES`] (or [`MAX_BATCH_BLOCKS`]): a request
    /// costs at most [`MAX_CIDS`] lookups and one block's read beyond the
    /// budget, however it repeats itself. The peer asks again for the rest.
    async fn serve_blocks(&mut self, peer: PeerId, want: Vec<Cid>) -> Result<Vec<ByteBuf>, Error> {
        let mut seen = HashSet::new();
        let want: Vec<Cid> = want.into_iter().filter(|c| seen.insert(*c)).collect();
        let shared = self.shared_with(peer);
        let keep = |b: &SignedBlock| self.shares(&shared, &b.block.col, b.doc_id());
        let (blocks, withheld) = self.db.blocks_within(&want, MAX_BATCH_BLOCKS, BATCH_BYTES, keep).await?;
        self.stats.withheld += withheld;
        let blocks = blocks.into_iter().map(ByteBuf::from).collect();
        Ok(blocks)
    }

    pub(super) async fn on_blocks_request(&mut self, peer: PeerId, reply: ReplyId, request: BlocksRequest) {
        let blocks = match self.serve_blocks(peer, request.want).await {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(%peer, "cannot read blocks: {e}");
                Vec::new()
            }
        };
        self.stats.served += blocks.len() as u64;
        self.respond(reply, Response::Blocks(BlocksResponse { blocks }));
    }

    pub(super) async fn on_blocks_response(&mut self, peer: PeerId, request: ReqId, response: BlocksResponse) {
        self.stats.bytes_received += response.blocks.iter().map(|b| b.len() as u64).sum::<u64>();
        let Some(id) = self.fetches.remove(&request) else { return };
        let want: HashSet<Cid> = self.replica.fetcher.wanted(id).unwrap_or_default().iter().copied().collect();
        let mut got = BTreeSet::new();
        let mut blocks = Vec::new();
        for b in response.blocks {
            let cid = cid_of(&b);
            // Only what was asked for: anything else is a peer
            // trying to slip blocks past the CID we named.
            if !want.contains(&cid) || !got.insert(cid) {
                self.invalid_from(peer);
                continue;
            }
            blocks.push(b.into_vec());
        }
        let report = self.import_from(peer, &blocks).await;
        let connected = self.fetch_candidates();
        let effects = self.replica.fetcher.answered(id, &peer, &got, &connected);
        self.carry_out(effects);
        self.fetch(report.missing, Some(peer));
    }
}
