//! How far a catch-up from one peer has come: the numbers of a page's
//! `sync` events.
//!
//! Each push names how many blocks its lane still held behind it when it
//! was sent (`remaining`). Pushes travel on streams of their own and are
//! merged in the order they arrive, which is not always the order they
//! were sent in: a small last push overtakes the large ones sent before
//! it. A push that comes after one sent later counts in its `remaining`
//! blocks that came already, so adding it to what came would promise
//! blocks that never come (a catch-up of 2,200 blocks ended at "2,200 of
//! 2,351"). So the estimate is taken only from a push that names fewer
//! blocks behind it than any before it in this catch-up (sent later, unless
//! the peer queued more meanwhile), never falls while the catch-up lasts,
//! and is never below what came; once everything it promised came, the
//! next push starts a new one.

/// One peer's catch-up, since it connected.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Blocks pushed to us since the peer connected.
    pub received: u64,
    /// What we expect `received` to reach.
    pub wanted: u64,
    /// The fewest blocks a push of this catch-up said were behind it
    /// (`None` once the catch-up is done).
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
        if self.received >= self.wanted {
            self.wanted = self.received;
            self.least = None;
        }
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
    }

    #[test]
    fn a_catch_up_after_one_that_ended_starts_anew() {
        let seen = run(&[(10, 0), (3, 5), (5, 0)]);
        assert_eq!(seen, [(10, 10), (13, 18), (18, 18)]);
    }

    #[test]
    fn more_queued_during_a_catch_up_is_never_fewer_than_came() {
        // The peer's lane grew after its first push: the next names more
        // behind it, which could as well be a push sent before the first
        // and overtaken, so it moves nothing; the catch-up reads as done
        // when what the first promised came, and the next push starts
        // another.
        let seen = run(&[(100, 100), (100, 400), (100, 300)]);
        assert_eq!(seen, [(100, 200), (200, 200), (300, 600)]);
        for (received, wanted) in seen {
            assert!(wanted >= received);
        }
    }
}
