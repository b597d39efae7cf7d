//! Fetching the blocks a merged block still lacks (`/weft/blocks/1`).
//!
//! A block whose parents are missing waits (pending) while they are asked
//! for: first of the peer that sent it, which has them if it is honest,
//! then of each other connected peer in turn. Each missing block is asked
//! for once at a time however many blocks name it. An answer cut short at
//! the response budget brings some of the blocks: the rest is asked of the
//! same peer. An answer with none of them, or a failed request, sends the
//! rest to a peer not yet asked. When every connected peer has been asked,
//! the blocks are given up on: the blocks waiting for them hang from
//! nothing (a flood of made-up parents looks like this) and are dropped.
//! With no peer to ask at all they are only forgotten, and the next head
//! exchange brings them.

use std::collections::{BTreeMap, BTreeSet};

/// A request this module asked for, named by it (the driver keeps the
/// transport's request id beside it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FetchId(pub u64);

/// What the driver is to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchEffect<P, C> {
    /// Send a blocks request for `want` to `peer`, and report its answer
    /// or failure under `id`.
    Ask { id: FetchId, peer: P, want: Vec<C> },
    /// Nobody (left) to ask for `want`. `orphaned`: every connected peer
    /// was asked and none had them, so the blocks waiting for them are to
    /// be dropped.
    GaveUp { want: Vec<C>, orphaned: bool },
}

#[derive(Debug, Clone)]
struct Fetch<P, C> {
    want: Vec<C>,
    /// Peers asked already; the next try goes to another.
    tried: BTreeSet<P>,
}

/// The fetches in flight.
#[derive(Debug, Clone)]
pub struct Fetcher<P, C> {
    /// Blocks in one request at most.
    max_cids: usize,
    next_id: u64,
    inflight: BTreeMap<FetchId, Fetch<P, C>>,
    /// Every block asked for and not yet answered.
    fetching: BTreeSet<C>,
}

impl<P: Ord + Clone, C: Ord + Clone> Fetcher<P, C> {
    /// At most `max_cids` blocks per request.
    pub fn new(max_cids: usize) -> Self {
        Fetcher { max_cids: max_cids.max(1), next_id: 0, inflight: BTreeMap::new(), fetching: BTreeSet::new() }
    }

    /// Fetches `cids` (those not asked for already), from `prefer` first.
    /// `connected` are the peers that may be asked, in the order to try.
    pub fn fetch(&mut self, cids: Vec<C>, prefer: Option<&P>, connected: &[P]) -> Vec<FetchEffect<P, C>> {
        let cids: Vec<C> = cids.into_iter().filter(|c| self.fetching.insert(c.clone())).collect();
        let mut effects = Vec::new();
        for chunk in cids.chunks(self.max_cids) {
            effects.push(self.ask(chunk.to_vec(), prefer, BTreeSet::new(), connected));
        }
        effects
    }

    /// The blocks request `id` asked for, while it is in flight: an answer
    /// may carry only these.
    pub fn wanted(&self, id: FetchId) -> Option<&[C]> {
        self.inflight.get(&id).map(|f| f.want.as_slice())
    }

    /// `peer` answered request `id` with the blocks `got` (those it asked
    /// for). What is still missing is asked again.
    pub fn answered(&mut self, id: FetchId, peer: &P, got: &BTreeSet<C>, connected: &[P]) -> Vec<FetchEffect<P, C>> {
        let Some(mut fetch) = self.inflight.remove(&id) else { return Vec::new() };
        let still: Vec<C> = fetch.want.iter().filter(|c| !got.contains(c)).cloned().collect();
        for c in fetch.want.iter().filter(|c| got.contains(c)) {
            self.fetching.remove(c);
        }
        if still.is_empty() {
            return Vec::new();
        }
        // Cut short at the budget: the same peer has the rest. None of
        // them: another peer.
        let prefer = if got.is_empty() {
            None
        } else {
            fetch.tried.remove(peer);
            Some(peer)
        };
        vec![self.ask(still, prefer, fetch.tried, connected)]
    }

    /// Request `id` failed (the peer went, timed out, or refused to talk):
    /// another peer is asked.
    pub fn failed(&mut self, id: FetchId, connected: &[P]) -> Vec<FetchEffect<P, C>> {
        let Some(fetch) = self.inflight.remove(&id) else { return Vec::new() };
        vec![self.ask(fetch.want, None, fetch.tried, connected)]
    }

    /// Whether `cid` is being fetched.
    pub fn is_fetching(&self, cid: &C) -> bool {
        self.fetching.contains(cid)
    }

    /// Requests in flight.
    pub fn in_flight(&self) -> usize {
        self.inflight.len()
    }

    fn ask(&mut self, want: Vec<C>, prefer: Option<&P>, mut tried: BTreeSet<P>, connected: &[P]) -> FetchEffect<P, C> {
        let peer = prefer
            .filter(|p| connected.contains(p) && !tried.contains(p))
            .or_else(|| connected.iter().find(|p| !tried.contains(p)))
            .cloned();
        let Some(peer) = peer else {
            for c in &want {
                self.fetching.remove(c);
            }
            return FetchEffect::GaveUp { orphaned: !tried.is_empty(), want };
        };
        tried.insert(peer.clone());
        let id = FetchId(self.next_id);
        self.next_id += 1;
        self.inflight.insert(id, Fetch { want: want.clone(), tried });
        FetchEffect::Ask { id, peer, want }
    }
}

#[cfg(test)]
mod tests {
    use super::FetchEffect::*;
    use super::*;

    type F = Fetcher<char, u32>;

    fn ask(e: &FetchEffect<char, u32>) -> (FetchId, char, Vec<u32>) {
        match e {
            Ask { id, peer, want } => (*id, *peer, want.clone()),
            other => panic!("not an ask: {other:?}"),
        }
    }

    fn set(cids: &[u32]) -> BTreeSet<u32> {
        cids.iter().copied().collect()
    }

    #[test]
    fn the_sender_is_asked_first_and_each_block_once() {
        let mut f = F::new(100);
        let e = f.fetch(vec![1, 2], Some(&'b'), &['a', 'b']);
        assert_eq!(e.iter().map(ask).map(|(_, p, w)| (p, w)).collect::<Vec<_>>(), vec![('b', vec![1, 2])]);
        assert!(f.fetch(vec![2, 1], Some(&'a'), &['a', 'b']).is_empty(), "asked for already");
        let e = f.fetch(vec![2, 3], None, &['a', 'b']);
        assert_eq!(ask(&e[0]).1, 'a');
        assert_eq!(ask(&e[0]).2, vec![3]);
    }

    #[test]
    fn a_sender_that_is_gone_is_not_asked() {
        let mut f = F::new(100);
        let e = f.fetch(vec![1], Some(&'z'), &['a']);
        assert_eq!(ask(&e[0]).1, 'a');
    }

    #[test]
    fn requests_are_cut_to_the_limit() {
        let mut f = F::new(2);
        let e = f.fetch(vec![1, 2, 3, 4, 5], None, &['a']);
        let wants: Vec<Vec<u32>> = e.iter().map(|e| ask(e).2).collect();
        assert_eq!(wants, vec![vec![1, 2], vec![3, 4], vec![5]]);
        assert_eq!(f.in_flight(), 3);
    }

    #[test]
    fn an_answer_cut_short_asks_the_same_peer_for_the_rest() {
        let mut f = F::new(100);
        let (id, _, _) = ask(&f.fetch(vec![1, 2, 3], Some(&'a'), &['a', 'b'])[0]);
        assert_eq!(f.wanted(id), Some(&[1, 2, 3][..]));
        let e = f.answered(id, &'a', &set(&[1]), &['a', 'b']);
        let (id2, peer, want) = ask(&e[0]);
        assert_eq!((peer, want), ('a', vec![2, 3]));
        assert!(!f.is_fetching(&1) && f.is_fetching(&2));
        assert!(f.answered(id2, &'a', &set(&[2, 3]), &['a', 'b']).is_empty());
        assert!(!f.is_fetching(&2) && f.in_flight() == 0);
        assert_eq!(f.wanted(id), None, "answered");
    }

    #[test]
    fn an_empty_answer_or_a_failure_tries_the_next_peer_then_gives_up_as_orphans() {
        let mut f = F::new(100);
        let peers = ['a', 'b', 'c'];
        let (id, p1, _) = ask(&f.fetch(vec![7], Some(&'b'), &peers)[0]);
        assert_eq!(p1, 'b');
        let (id, p2, _) = ask(&f.answered(id, &'b', &set(&[]), &peers)[0]);
        assert_eq!(p2, 'a');
        let (id, p3, _) = ask(&f.failed(id, &peers)[0]);
        assert_eq!(p3, 'c');
        assert_eq!(f.answered(id, &'c', &set(&[]), &peers), vec![GaveUp { want: vec![7], orphaned: true }]);
        assert!(!f.is_fetching(&7));
        assert_eq!(ask(&f.fetch(vec![7], None, &peers)[0]).1, 'a', "asked afresh later");
    }

    #[test]
    fn with_nobody_to_ask_the_blocks_wait_for_the_next_exchange() {
        let mut f = F::new(100);
        assert_eq!(f.fetch(vec![1], None, &[]), vec![GaveUp { want: vec![1], orphaned: false }]);
        assert!(!f.is_fetching(&1));
        let (id, _, _) = ask(&f.fetch(vec![1], None, &['a'])[0]);
        // The peer went before answering, and nobody else is there: the
        // one peer asked had no chance to answer, but it was asked.
        assert_eq!(f.failed(id, &[]), vec![GaveUp { want: vec![1], orphaned: true }]);
    }

    #[test]
    fn an_unknown_answer_changes_nothing() {
        let mut f = F::new(100);
        assert!(f.answered(FetchId(9), &'a', &set(&[1]), &['a']).is_empty());
        assert!(f.failed(FetchId(9), &['a']).is_empty());
    }
}
