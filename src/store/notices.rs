//! Notices between handles on one database: which document records another
//! handle (another tab, another connection in the page, a clone of a
//! memory store) is committing. A handle's cache of documents
//! (`crate::db::cache`) forgets each one as it hears of it; a backend that
//! cannot tell its handles apart (redb: one process owns the file) gives
//! none, and its database keeps no cache.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

/// What a notice says to forget.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Forget {
    /// These `documents` keys.
    Keys(Vec<Vec<u8>>),
    /// Everything (a commit of more documents than a notice names).
    All,
}

/// The most keys a handle keeps heard and not yet acted on.
pub const PENDING_AT_MOST: usize = 1024;

/// What one handle has heard and not yet acted on.
#[derive(Debug, Default)]
pub struct Heard {
    /// How many notices this handle has heard, ever: a read that began at
    /// another count may have read a record older than a notice says.
    count: Cell<u64>,
    pending: RefCell<Option<Forget>>,
    /// Not listening yet ([`Heard::deaf`]): notices sent now are not heard.
    deaf: Cell<bool>,
}

impl Heard {
    /// A handle that starts to listen only later ([`Notices::listen`],
    /// then [`Heard::listening`]): until then it hears nothing, so what it
    /// reads may not be kept.
    pub fn deaf() -> Self {
        Heard { deaf: Cell::new(true), ..Heard::default() }
    }

    pub fn is_deaf(&self) -> bool {
        self.deaf.get()
    }

    /// The backend listens from now on. Counted as a notice: a read begun
    /// before may have missed one.
    pub fn listening(&self) {
        self.deaf.set(false);
        self.count.set(self.count.get() + 1);
    }

    /// Called by the backend with each notice from another handle. Keys
    /// pile up only to `PENDING_AT_MOST`: past that, a handle that never
    /// looks (one that only queries, a stale tab) forgets everything at once.
    pub fn hear(&self, forget: Forget) {
        self.count.set(self.count.get() + 1);
        let mut pending = self.pending.borrow_mut();
        *pending = match (pending.take(), forget) {
            (Some(Forget::All), _) | (_, Forget::All) => Some(Forget::All),
            (Some(Forget::Keys(a)), Forget::Keys(b)) if a.len() + b.len() > PENDING_AT_MOST => Some(Forget::All),
            (Some(Forget::Keys(mut a)), Forget::Keys(b)) => {
                a.extend(b);
                Some(Forget::Keys(a))
            }
            (None, keys) => Some(keys),
        };
    }

    pub fn count(&self) -> u64 {
        self.count.get()
    }

    /// What was heard since the last call.
    pub fn take(&self) -> Option<Forget> {
        self.pending.borrow_mut().take()
    }
}

/// When a handle tells the others of a commit: the one moment, per
/// backend, after which no other handle can read the record as it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// As the commit begins (just after it is asked for, `Cache::commit_asked`). IndexedDB runs a read transaction made after
    /// a `readwrite` one over the same records after it, so a handle that
    /// heard and then reads sees the commit (or, if it failed, the record
    /// as it still is); one post per commit, not two.
    Committing,
    /// Once it is done: reads see only committed data (the memory store).
    Committed,
}

/// One handle's end of the notices: what it hears, and how it tells the
/// others.
pub struct Notices {
    pub heard: Rc<Heard>,
    pub when: When,
    tell: Box<dyn Fn(&Forget)>,
    listen: Option<Box<dyn Fn()>>,
}

impl Notices {
    /// `tell` reaches every other handle's [`Heard::hear`] (every one that
    /// listens: not a [`Heard::deaf`] one), never this one's.
    pub fn new(heard: Rc<Heard>, when: When, tell: impl Fn(&Forget) + 'static) -> Self {
        Notices { heard, when, tell: Box::new(tell), listen: None }
    }

    /// For a [`Heard::deaf`] handle: `listen` asks the backend to start
    /// listening soon (it calls [`Heard::listening`] once it does).
    pub fn listening_when_asked(self, listen: impl Fn() + 'static) -> Self {
        Notices { listen: Some(Box::new(listen)), ..self }
    }

    /// Asks a deaf handle's backend to start listening.
    pub fn listen(&self) {
        if let Some(listen) = &self.listen {
            listen()
        }
    }

    /// Tells the other handles that this one is committing `forget`.
    pub fn tell(&self, forget: &Forget) {
        (self.tell)(forget)
    }
}

impl std::fmt::Debug for Notices {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notices").field("heard", &self.heard).finish_non_exhaustive()
    }
}

/// The handles of one in-process database (clones of a memory store), each
/// with what it has heard: a notice from one reaches the others at once.
#[derive(Debug, Default)]
pub(crate) struct Handles(RefCell<Vec<std::rc::Weak<Heard>>>);

impl Handles {
    /// A new handle's notices.
    pub(crate) fn join(self: &Rc<Self>) -> Notices {
        let heard = Rc::new(Heard::default());
        self.0.borrow_mut().retain(|h| h.strong_count() > 0);
        self.0.borrow_mut().push(Rc::downgrade(&heard));
        let (handles, me) = (Rc::downgrade(self), Rc::downgrade(&heard));
        Notices::new(heard, When::Committed, move |forget| {
            let Some(handles) = handles.upgrade() else { return };
            let others: Vec<Rc<Heard>> = handles.0.borrow().iter().filter_map(|h| h.upgrade()).collect();
            for h in others.iter().filter(|h| !std::ptr::eq(Rc::as_ptr(h), me.as_ptr())) {
                h.hear(forget.clone());
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_notice_reaches_the_other_handles_and_not_its_sender() {
        let handles = Rc::new(Handles::default());
        let (a, b, c) = (handles.join(), handles.join(), handles.join());
        a.tell(&Forget::Keys(vec![b"k1".to_vec()]));
        a.tell(&Forget::Keys(vec![b"k2".to_vec()]));
        assert_eq!(a.heard.take(), None);
        assert_eq!(b.heard.take(), Some(Forget::Keys(vec![b"k1".to_vec(), b"k2".to_vec()])));
        assert_eq!(c.heard.count(), 2);
        c.tell(&Forget::All);
        assert_eq!(c.heard.take(), Some(Forget::Keys(vec![b"k1".to_vec(), b"k2".to_vec()])));
        assert_eq!(b.heard.take(), Some(Forget::All));
        b.tell(&Forget::Keys(vec![b"k3".to_vec()]));
        assert_eq!(a.heard.take(), Some(Forget::All), "all, then keys: still all");
        drop(b);
        a.tell(&Forget::All);
        assert_eq!(c.heard.take(), Some(Forget::All));
        // A handle that never looks holds at most PENDING_AT_MOST keys.
        for i in 0..=PENDING_AT_MOST {
            a.tell(&Forget::Keys(vec![i.to_le_bytes().to_vec()]));
        }
        assert_eq!(c.heard.take(), Some(Forget::All));
    }
}
