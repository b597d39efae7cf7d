//! What this node shares with whom.
//!
//! **The rule: a peer gets a block of ours (served, pushed or offered) only
//! if we share its document with that peer: its collection is a p2p
//! collection here, or we have a replicator to that peer covering it, or
//! both of us hold the document's gossip topic.**
//!
//! - A p2p collection is public: we publish it on `weft/col/<name>` and
//!   advertise it in the DHT, so anyone may have it.
//! - A replicator of ours names the peer, the collection and maybe the
//!   documents it gets.
//! - A document's topic (`weft/doc/<id>`) is held by a page or node that
//!   `get`s or writes the document. Its changes are published there in the
//!   open, so a peer on that topic sees them anyway; its history, fetched
//!   by `/weft/blocks/1` when a change arrives by gossip without its
//!   parents, is no more secret than that. The peer must be on the topic
//!   too, as gossipsub tells us: a stranger naming CIDs gets nothing.
//!
//! A replicator the *peer* has to us cannot be known in advance. So a
//! `HeadsRequest` for a collection we do not share with it is answered
//! with our heads for the documents it names (it knows them already, and
//! our heads let it send exactly what we lack), and we push nothing back:
//! a replicator is one-way. Offers are answered whatever the collection:
//! they are the peer's blocks coming in, and the answer says only which of
//! the CIDs the peer named we lack.

use std::collections::BTreeSet;

use libp2p::PeerId;

use super::run::{doc_topic, Node};
use crate::store::Store;

/// What a peer may get from us, worked out once per request.
pub(super) struct Shared {
    peer: PeerId,
    /// The gossip topics the peer is subscribed to.
    topics: BTreeSet<String>,
}

impl<S: Store> Node<S> {
    /// Whether the whole of `col`, or some of its documents, is shared with
    /// `peer` by our side (a p2p collection or a replicator to it).
    pub(super) fn shares_collection(&self, peer: PeerId, col: &str) -> bool {
        self.p2p_collections.contains(col) || self.replicators.borrow().contains_key(&(peer, col.to_string()))
    }

    /// The peer's view of what we share, for [`Node::shares`].
    pub(super) fn shared_with(&mut self, peer: PeerId) -> Shared {
        let topics = self.peer_topics.get(&peer).cloned().unwrap_or_default();
        Shared { peer, topics }
    }

    /// Whether document `doc` of `col` may go to the peer of `shared`.
    pub(super) fn shares(&self, shared: &Shared, col: &str, doc: &str) -> bool {
        if self.p2p_collections.contains(col) {
            return true;
        }
        if self.replicators.borrow().get(&(shared.peer, col.to_string())).is_some_and(|r| r.covers(doc)) {
            return true;
        }
        let ours = self.doc_topics.as_ref().is_some_and(|t| t.contains(doc));
        ours && shared.topics.contains(&doc_topic(doc))
    }
}
