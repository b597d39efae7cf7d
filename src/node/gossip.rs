//! Passive replication: blocks published on per-document and
//! per-collection topics, and the blocks a received one still lacks,
//! fetched with `/weft/blocks/1` before its document shows it.

use std::collections::HashSet;

use cid::Cid;
use libp2p::gossipsub::{self, IdentTopic, MessageAcceptance, PublishError};
use libp2p::request_response::{self, Message};
use libp2p::PeerId;
use serde_bytes::ByteBuf;

use super::run::{col_topic, doc_topic, Node};
use crate::core::block::{cid_of, SignedBlock};
use crate::core::schema::WritePolicy;
use crate::core::sync::{BlocksRequest, BlocksResponse, MAX_BATCH_BLOCKS, MAX_CIDS, PEERS_TOPIC};
use crate::db::{ImportReport, Merged};
use crate::error::Error;
use crate::store::{Mode, Store, Table, Tx};

/// What a batch of blocks may weigh, under the message limit with room
/// for the envelope.
pub(super) const BATCH_BYTES: usize = crate::core::sync::MAX_MESSAGE_BYTES - 64 * 1024;

/// How often a page swaps heads for documents it published to nobody.
const REPAIR_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// One `/weft/blocks/1` request in flight.
pub(super) struct Fetch {
    want: Vec<Cid>,
    /// Peers asked already; the next try goes to another.
    tried: HashSet<PeerId>,
}

impl Node {
    pub(super) fn gossip(&mut self) -> Option<&mut gossipsub::Behaviour> {
        self.swarm.as_mut()?.behaviour_mut().gossipsub.as_mut()
    }

    pub(super) fn subscribe(&mut self, topic: &str) {
        if let Some(g) = self.gossip() {
            if let Err(e) = g.subscribe(&IdentTopic::new(topic)) {
                tracing::warn!(topic, "cannot subscribe: {e}");
            }
        }
    }

    pub(super) fn unsubscribe(&mut self, topic: &str) {
        if let Some(g) = self.gossip() {
            g.unsubscribe(&IdentTopic::new(topic));
        }
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

    /// Publishes a local block on its document's topic, and on its
    /// collection's if that is a p2p collection here: a collection we do
    /// not share is not sent to whoever listens (see `share.rs`).
    pub(super) fn publish(&mut self, m: &Merged) {
        let mut topics = vec![doc_topic(&m.doc)];
        if self.p2p_collections.contains(&m.collection) {
            topics.push(col_topic(&m.collection));
        }
        let Some(g) = self.gossip() else { return };
        let mut unheard = false;
        for topic in topics {
            match g.publish(IdentTopic::new(&topic), m.bytes.clone()) {
                Ok(_) | Err(PublishError::Duplicate) => {}
                // Nobody listening yet: head exchange brings them up to date.
                Err(PublishError::NoPeersSubscribedToTopic) => unheard |= topic == col_topic(&m.collection),
                Err(e) => tracing::warn!(topic, cid = %m.cid, "cannot publish: {e}"),
            }
        }
        // A page's connection may be a second one of its peer id on the
        // node, beside a tab that led until it hung (its lock was stolen):
        // gossipsub tells a peer its topics on the first connection only, so
        // this page never learns the node's and every publish reaches
        // nobody, for as long as the connection lasts. Swapping heads for
        // the document does not wait for the topics (`repair_unheard`).
        if unheard && cfg!(target_arch = "wasm32") && !self.connected.is_empty() {
            self.unheard.entry(m.collection.clone()).or_default().insert(m.doc.clone());
        }
    }

    /// Swaps heads with every connected peer for the documents published to
    /// nobody on their collection's topic (see `publish`): at once, then at
    /// most once per [`REPAIR_EVERY`], each time for those published since.
    pub(super) async fn repair_unheard(&mut self) {
        if self.unheard.is_empty() || self.now() < self.next_repair {
            return;
        }
        self.next_repair = self.now() + REPAIR_EVERY;
        let unheard = std::mem::take(&mut self.unheard);
        let peers: Vec<PeerId> = self.connected.iter().copied().collect();
        for (col, docs) in unheard {
            tracing::debug!(col, docs = docs.len(), "published to nobody: swapping heads for them");
            let docs: Vec<String> = docs.into_iter().collect();
            for peer in &peers {
                self.start_exchange(*peer, &col, Some(docs.clone())).await;
            }
        }
    }

    pub(super) async fn on_gossip(&mut self, ev: gossipsub::Event) {
        let (source, message_id, message) = match ev {
            gossipsub::Event::Message { propagation_source, message_id, message } => {
                (propagation_source, message_id, message)
            }
            gossipsub::Event::Subscribed { topic, .. } if topic.as_str() == PEERS_TOPIC => {
                if !self.config.meet_peers {
                    self.announce_reserved();
                }
                return;
            }
            // A peer joined one of our collection topics: swap heads for it
            // again. The exchange on connect ran before either side knew the
            // other's topics, and what was written in between was published
            // to nobody (a new leader tab writes at once, so this happens).
            // Natively only: the node's exchange repairs both directions.
            // (It was taken from pages for a node change "lost" in
            // tests/browser/tabs.test.mjs that turned out to be the test's
            // own race, a change made on an older head: see TESTING.md.)
            #[cfg(not(target_arch = "wasm32"))]
            gossipsub::Event::Subscribed { peer_id, topic } => {
                let col = topic.as_str().strip_prefix(&col_topic("")).map(str::to_owned);
                if let Some(col) = col.filter(|c| self.p2p_collections.contains(c)) {
                    self.start_exchange(peer_id, &col, None).await;
                }
                return;
            }
            _ => return,
        };
        if message.topic.as_str() == PEERS_TOPIC {
            let acceptance = self.on_announcement(source, &message.data);
            if let Some(g) = self.gossip() {
                g.report_message_validation_result(&message_id, &source, acceptance);
            }
            return;
        }
        self.stats.bytes_received += message.data.len() as u64;
        let cid = cid_of(&message.data);
        // The same block comes on its document's topic and its collection's:
        // the second need not cost a transaction.
        if self.recent.get(&cid).is_some() {
            self.stats.replayed += 1;
            if let Some(g) = self.gossip() {
                g.report_message_validation_result(&message_id, &source, MessageAcceptance::Accept);
            }
            return;
        }
        let acceptance = match self.db_merge_from(source, cid, &message.data).await {
            // Not forwarded: an invalid block is held against the peer
            // that sent it (`held_against`), a refused one only dropped.
            Ok(report) if report.refused.iter().any(|r| r.is_fault()) => MessageAcceptance::Reject,
            Ok(report) if !report.refused.is_empty() => MessageAcceptance::Ignore,
            Ok(report) => {
                let new = report.duplicate == 0;
                self.stats.received += u64::from(new);
                self.take_merged().await;
                let block = SignedBlock::decode_stored(message.data, cid).ok();
                if let Some(b) = block.as_ref().filter(|_| new) {
                    self.touch_doc(&b.doc().to_string());
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
        };
        if let Some(g) = self.gossip() {
            g.report_message_validation_result(&message_id, &source, acceptance);
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

    /// Fetches blocks that merged blocks wait for, from `prefer` first.
    pub(super) fn fetch(&mut self, cids: Vec<Cid>, prefer: Option<PeerId>) {
        let cids: Vec<Cid> = cids.into_iter().filter(|c| self.fetching.insert(*c)).collect();
        for chunk in cids.chunks(MAX_CIDS) {
            self.send_fetch(chunk.to_vec(), prefer, HashSet::new());
        }
    }

    fn send_fetch(&mut self, want: Vec<Cid>, prefer: Option<PeerId>, mut tried: HashSet<PeerId>) {
        let peer = prefer
            .filter(|p| self.connected.contains(p) && !tried.contains(p))
            .or_else(|| self.connected.iter().find(|p| !tried.contains(p)).copied());
        let (Some(peer), Some(swarm)) = (peer, self.swarm.as_mut()) else {
            tracing::debug!(n = want.len(), "no peer has the missing blocks");
            self.stats.fetch_failures += 1;
            for c in &want {
                self.fetching.remove(c);
            }
            // Every peer was asked and none has them: the blocks waiting
            // for them hang from nothing (a flood of made-up parents looks
            // like this) and are dropped. With nobody asked, they wait for
            // the next head exchange.
            if !tried.is_empty() {
                self.orphaned.extend(want);
            }
            return;
        };
        tried.insert(peer);
        let id = swarm.behaviour_mut().blocks.send_request(&peer, BlocksRequest { want: want.clone() }.into());
        self.fetches.insert(id, Fetch { want, tried });
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
        let mut tx = self.db.store().begin(Mode::Read).await?;
        let mut blocks = Vec::new();
        let mut size = 0;
        for cid in want {
            if blocks.len() >= MAX_BATCH_BLOCKS {
                break;
            }
            let Some(bytes) = tx.get(Table::Blocks, &cid.to_bytes()).await? else { continue };
            if size + bytes.len() > BATCH_BYTES {
                break;
            }
            let Ok(block) = SignedBlock::decode_stored(bytes, cid) else { continue };
            if !self.shares(&shared, &block.block.col, &block.doc().to_string()) {
                self.stats.withheld += 1;
                continue;
            }
            size += block.bytes.len();
            blocks.push(ByteBuf::from(block.bytes));
        }
        Ok(blocks)
    }

    pub(super) async fn on_blocks(&mut self, ev: request_response::Event<BlocksRequest, BlocksResponse>) {
        match ev {
            request_response::Event::Message { message: Message::Request { request, channel, .. }, peer, .. } => {
                let blocks = match self.serve_blocks(peer, request.want).await {
                    Ok(b) => b,
                    Err(e) => {
                        tracing::warn!(%peer, "cannot read blocks: {e}");
                        Vec::new()
                    }
                };
                self.stats.served += blocks.len() as u64;
                if let Some(s) = self.swarm.as_mut() {
                    let _ = s.behaviour_mut().blocks.send_response(channel, BlocksResponse { blocks });
                }
            }
            request_response::Event::Message { message: Message::Response { request_id, response }, peer, .. } => {
                self.stats.bytes_received += response.blocks.iter().map(|b| b.len() as u64).sum::<u64>();
                let Some(fetch) = self.fetches.remove(&request_id) else { return };
                let want: HashSet<Cid> = fetch.want.iter().copied().collect();
                let mut got = HashSet::new();
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
                for c in &fetch.want {
                    self.fetching.remove(c);
                }
                let still: Vec<Cid> = fetch.want.iter().filter(|c| !got.contains(c)).copied().collect();
                if !still.is_empty() {
                    self.fetching.extend(still.iter().copied());
                    // An answer cut short at the response budget came with
                    // blocks: the rest is asked of the same peer. One with
                    // none of them sends us to another.
                    let mut tried = fetch.tried;
                    let prefer = if got.is_empty() {
                        None
                    } else {
                        tried.remove(&peer);
                        Some(peer)
                    };
                    self.send_fetch(still, prefer, tried);
                }
                self.fetch(report.missing, Some(peer));
            }
            request_response::Event::OutboundFailure { request_id, error, peer, .. } => {
                self.log_outbound_failure(peer, &error);
                if let Some(f) = self.fetches.remove(&request_id) {
                    self.send_fetch(f.want, None, f.tried);
                }
            }
            request_response::Event::InboundFailure { error, peer, .. } => self.log_inbound_failure(peer, &error),
            request_response::Event::ResponseSent { .. } => {}
        }
    }
}
