//! The documents a connected peer may have missed by gossip, because they
//! changed before it told us it holds their collection's topic.
//!
//! On a connection both sides swap heads for every shared collection at
//! once, before either knows the other's topics; a block written or merged
//! after that and before the peer's subscription arrives is gossiped to
//! everyone but that peer. When the subscription comes, heads are swapped
//! again for exactly those documents (`Node::on_subscribed`): noted from
//! the connection on, before the first exchange reads any heads, so the
//! two exchanges leave no gap. Each side swaps what it changed; what the
//! peer changed, the peer swaps on our subscription. Until this
//! log existed a native node swapped them for the whole collection: in a
//! catch-up of 1,000 documents, each side sent all its heads (~100 KB) a
//! second time, where nothing had changed since the first exchange.
//!
//! Bounded per peer: at most [`KEPT`] documents in all; past that a
//! collection is only marked as having missed too much to name (swap all
//! of it).

use std::collections::{BTreeMap, BTreeSet};

/// The most documents kept per peer.
pub const KEPT: usize = 256;

/// What a peer missed of one collection before it subscribed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MissedDocs {
    /// These documents changed since the connection (none, often).
    Docs(BTreeSet<String>),
    /// More than could be kept: all of the collection may have.
    TooMany,
}

/// Per connected peer, by collection, what changed while it had not
/// subscribed to the collection's topic.
#[derive(Debug)]
pub struct Missed<P> {
    peers: BTreeMap<P, Log>,
}

impl<P> Default for Missed<P> {
    fn default() -> Self {
        Missed { peers: BTreeMap::new() }
    }
}

#[derive(Debug, Default)]
struct Log {
    /// By collection: the documents, or `None` past the bound.
    cols: BTreeMap<String, Option<BTreeSet<String>>>,
    /// Documents held in `cols`, all collections together.
    count: usize,
}

impl Log {
    fn note(&mut self, col: &str, doc: &str) {
        match self.cols.get(col) {
            // Swapped whole already, or named already.
            Some(None) => return,
            Some(Some(docs)) if docs.contains(doc) => return,
            _ => {}
        }
        if self.count == KEPT {
            // The collection with the most names loses them (it will be
            // swapped whole): one the peer never subscribes to cannot keep
            // the bound full for all the others.
            if let Some(docs) = self.cols.values_mut().max_by_key(|d| d.as_ref().map_or(0, BTreeSet::len)) {
                self.count -= docs.as_ref().map_or(0, BTreeSet::len);
                *docs = None;
            }
            if matches!(self.cols.get(col), Some(None)) {
                return;
            }
        }
        if let Some(docs) = self.cols.entry(col.to_string()).or_insert_with(|| Some(BTreeSet::new())) {
            docs.insert(doc.to_string());
            self.count += 1;
        }
    }
}

impl<P: Ord + Copy> Missed<P> {
    /// `peer` connected: from now on its misses are noted.
    pub fn connected(&mut self, peer: P) {
        self.peers.entry(peer).or_default();
    }

    /// `peer`'s last connection closed.
    pub fn disconnected(&mut self, peer: &P) {
        self.peers.remove(peer);
    }

    /// `doc` of `col` changed; `has(peer)` says whether a peer has the
    /// change anyway: it holds `col`'s topic (gossip reached it), or it
    /// sent the change.
    pub fn changed(&mut self, col: &str, doc: &str, has: impl Fn(&P) -> bool) {
        for (peer, log) in self.peers.iter_mut() {
            if has(peer) {
                continue;
            }
            log.note(col, doc);
        }
    }

    /// `peer` subscribed to `col`'s topic: what it missed of `col` since
    /// the connection, no longer noted. A peer not connected (not noted)
    /// missed nothing here.
    pub fn subscribed(&mut self, peer: &P, col: &str) -> MissedDocs {
        let Some(log) = self.peers.get_mut(peer) else {
            return MissedDocs::Docs(BTreeSet::new());
        };
        match log.cols.remove(col) {
            None => MissedDocs::Docs(BTreeSet::new()),
            Some(None) => MissedDocs::TooMany,
            Some(Some(docs)) => {
                log.count -= docs.len();
                MissedDocs::Docs(docs)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn docs(names: &[&str]) -> MissedDocs {
        MissedDocs::Docs(names.iter().map(|d| d.to_string()).collect())
    }

    #[test]
    fn a_peer_misses_what_changed_before_it_subscribed() {
        let mut m = Missed::default();
        m.connected(1u8);
        m.connected(2u8);
        // Peer 2 holds the topic already: gossip reaches it.
        m.changed("Books", "a", |p| *p == 2);
        m.changed("Books", "b", |p| *p == 2);
        m.changed("Books", "a", |p| *p == 2);
        m.changed("Users", "u", |_| false);
        assert_eq!(m.subscribed(&1, "Books"), docs(&["a", "b"]));
        // Taken: a second subscription (after an unsubscribe) has none.
        assert_eq!(m.subscribed(&1, "Books"), docs(&[]));
        assert_eq!(m.subscribed(&2, "Books"), docs(&[]));
        assert_eq!(m.subscribed(&2, "Users"), docs(&["u"]));
        // Nothing changed in it: nothing to swap.
        assert_eq!(m.subscribed(&1, "Cars"), docs(&[]));
    }

    #[test]
    fn a_peer_that_left_is_forgotten() {
        let mut m = Missed::default();
        m.connected(1u8);
        m.changed("Books", "a", |_| false);
        m.disconnected(&1);
        m.changed("Books", "b", |_| false);
        assert_eq!(m.subscribed(&1, "Books"), docs(&[]));
        assert!(m.peers.is_empty());
    }

    #[test]
    fn past_the_bound_a_collection_is_swapped_whole() {
        let mut m = Missed::default();
        m.connected(1u8);
        m.changed("Users", "u", |_| false);
        for i in 0..KEPT {
            m.changed("Books", &format!("d{i}"), |_| false);
        }
        // KEPT + 1 documents in all: Books lost its names.
        assert_eq!(m.subscribed(&1, "Books"), MissedDocs::TooMany);
        // What was freed is kept again.
        m.changed("Books", "late", |_| false);
        assert_eq!(m.subscribed(&1, "Users"), docs(&["u"]));
        assert_eq!(m.subscribed(&1, "Books"), docs(&["late"]));
        assert_eq!(m.peers[&1].count, 0);
    }

    #[test]
    fn a_collection_never_subscribed_to_does_not_keep_the_bound_full() {
        let mut m = Missed::default();
        m.connected(1u8);
        for i in 0..KEPT {
            m.changed("Unshared", &format!("d{i}"), |_| false);
        }
        m.changed("Books", "a", |_| false);
        assert_eq!(m.subscribed(&1, "Books"), docs(&["a"]));
        assert_eq!(m.subscribed(&1, "Unshared"), MissedDocs::TooMany);
        assert_eq!(m.peers[&1].count, 0);
    }
}
