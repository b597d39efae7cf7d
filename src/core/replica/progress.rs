//! How far a catch-up from one peer has come: the numbers of a page's
//! `sync` events.
//!
//! Each push names how many blocks its lane still held behind it when it
//! was sent (`remaining`). Pushes travel on streams of their own and are
//! merged in the order they arrive, which is not always the order they
//! were sent in: a small last push overtakes the large ones sent before
//! it. A push that comes after one sent later counts in its `remaining`
//! blocks that came already, so adding it to what came promised blocks
//! that never come (a catch-up of 2,200 blocks ended at "2,200 of 2,351"
//! for good). So the estimate moves only on a push that names fewer blocks
//! behind it than any before it from this peer: every push that came
//! before such a one was sent before it, so what came plus its
//! `remaining` is at most what the peer had to send, and once every push
//! has come the estimate is exactly what came, whatever their order. It
//! never falls and is never below what came. What it gives up: while an
//! earlier push is still on its way the estimate may read as done, and a
//! later catch-up on the same connection (the peer queued more after its
//! lane ran dry) reads as done at each push; the peer's next connection
//! starts afresh. (If the peer queues more between two pushes that then
//! arrive out of order, the estimate can end above what came.)

/// One peer's catch-up, since it connected.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Blocks pushed to us since the peer connected.
    pub received: u64,
    /// What we expect `received` to reach.
    pub wanted: u64,
    /// The fewest blocks any push of this peer's said were behind it.
    least: Option<u64>,
}

impl Progress {
    /// A push of `blocks` blocks was merged; `remaining` were behind it as
    /// it was sent.
    pub fn pushed(&mut self, blocks: u64, remaining: u64) {
        self.received += blocks;
        if self.least.is_none_or(|least| remaining < least) {
            self.least = Some(remaining);
            self.wanted = self.wanted.max(self.received + remaining);
        }
        self.wanted = self.wanted.max(self.received);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(pushes: &[(u64, u64)]) -> Vec<(u64, u64)> {
        let mut p = Progress::default();
        pushes
            .iter()
            .map(|&(blocks, remaining)| {
                p.pushed(blocks, remaining);
                (p.received, p.wanted)
            })
            .collect()
    }

    #[test]
    fn pushes_in_the_order_sent_count_down_to_done() {
        let seen = run(&[(1, 2199), (1024, 1175), (1024, 151), (151, 0)]);
        assert_eq!(seen, [(1, 2200), (1025, 2200), (2049, 2200), (2200, 2200)]);
    }

    // Seen in a browser test: the last push (151 blocks) came second.
    #[test]
    fn a_push_that_overtook_those_sent_before_it_promises_nothing_twice() {
        let seen = run(&[(1, 2199), (151, 0), (1024, 1175), (1024, 151)]);
        assert_eq!(seen, [(1, 2200), (152, 2200), (1176, 2200), (2200, 2200)]);
        // With no probe first, the last push may come first of all.
        let seen = run(&[(152, 0), (1024, 1176), (1024, 152)]);
        assert_eq!(seen, [(152, 152), (1176, 1176), (2200, 2200)]);
        let seen = run(&[(1024, 152), (152, 0), (1024, 1176)]);
        assert_eq!(seen, [(1024, 1176), (1176, 1176), (2200, 2200)]);
    }

    /// Every order in which a catch-up's pushes can arrive: the estimate
    /// never falls, is never below what came nor above what was queued,
    /// and ends at what came.
    #[test]
    fn in_any_order_it_ends_at_what_came_and_never_promises_more() {
        let sent = [(1, 3599), (1024, 2575), (1024, 1551), (1024, 527), (527, 0)];
        let total = 3600;
        let mut order: Vec<usize> = (0..sent.len()).collect();
        let mut orders = 0;
        permutations(&mut order, 0, &mut |order| {
            orders += 1;
            let seen = run(&order.iter().map(|&i| sent[i]).collect::<Vec<_>>());
            for w in seen.windows(2) {
                assert!(w[1].1 >= w[0].1, "{order:?}: {seen:?}");
            }
            for &(received, wanted) in &seen {
                assert!(received <= wanted && wanted <= total, "{order:?}: {seen:?}");
            }
            assert_eq!(seen.last(), Some(&(total, total)), "{order:?}");
        });
        assert_eq!(orders, 120);
    }

    fn permutations(v: &mut Vec<usize>, k: usize, f: &mut impl FnMut(&[usize])) {
        if k == v.len() {
            return f(v);
        }
        for i in k..v.len() {
            v.swap(k, i);
            permutations(v, k + 1, f);
            v.swap(k, i);
        }
    }

    #[test]
    fn more_queued_during_a_catch_up_is_never_fewer_than_came() {
        // The peer's lane grew after its first push: the next names more
        // behind it, which could as well be a push sent before the first
        // and overtaken, so it moves nothing; what came past the estimate
        // raises it.
        let seen = run(&[(100, 100), (100, 400), (100, 300)]);
        assert_eq!(seen, [(100, 200), (200, 200), (300, 300)]);
    }
}
