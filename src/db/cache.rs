//! The cache of hot documents: the state and heads of the documents this
//! handle read or wrote lately, so that a `get` of one costs no store
//! transaction.
//!
//! What it may assume, and what it does not (the crate docs' "Storage
//! layout" says the same to users):
//! - **Only what this handle committed, or read after the last notice it
//!   heard.** Every other handle on the database (another tab, another
//!   connection in the page) tells it which documents it is committing
//!   ([`crate::store::Notices`]), as it begins to commit (IndexedDB) or
//!   once it is done (the memory store): from then on no read of the store
//!   shows the record as it was ([`crate::store::When`]). The cache
//!   forgets those documents as soon as it hears, and a record read from
//!   the store while a notice arrived or while this handle committed is
//!   not kept (it may be older than the notice says).
//! - **Nothing before it listens.** A page's handle of a database whose
//!   channel the page does not have yet starts to listen for notices once
//!   a read of its would be kept (its first `get` the cache missed) or as
//!   any write transaction of the database begins in the page, not as it
//!   opens (making the page's channel would delay that read,
//!   `crate::store::idb`; later handles in the page find it made); until
//!   it listens it keeps nothing, and starting counts as a notice (a read
//!   begun before is not kept).
//! - **A notice takes its time.** Between another tab's commit and this
//!   tab hearing of it (a BroadcastChannel message: well under a
//!   millisecond on an idle page, but the page may be busy), a `get` here
//!   may return the document as it stood before that commit, as a `get`
//!   made a moment earlier would. Writes never use the cache: a change
//!   reads its parents inside its own write transaction, which the store
//!   runs after every other write to the same records (no lost update).
//! - **A commit of this handle** first forgets the documents it writes (a
//!   merge's subscribers hear of it before the commit completes, and a
//!   `get` they make must not return the state before it), then keeps them
//!   as committed. A commit that fails keeps nothing.
//! - **A peer's next change of a cached document** (its parents are the
//!   cached heads) is merged here first, before its transaction begins:
//!   the cache keeps the result ([`Cache::provisional`]) and the merge's
//!   subscribers hear of it at once. The transaction then merges it
//!   again from the stored record; if that differs (another tab's commit
//!   not heard yet), the subscribers hear the stored outcome too, and a
//!   merge that fails forgets the document.
//! - **Bounded:** at most [`MAX_BYTES`] of memory as estimated from the
//!   records' sizes, least recently used dropped first.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use lru::LruCache;

use crate::core::doc::{DocState, Heads};
use crate::store::{Forget, Notices, When};

/// The memory a cache may take, as estimated by [`entry_bytes`]: about
/// 7,000 small documents (`{title, pages, author}`: records of ~300 bytes,
/// each field's register with its value, height and CID).
pub const MAX_BYTES: usize = 8 << 20;
/// What an entry is counted for beyond twice its record: its key, the
/// registers' map and strings, the heads, the LRU's node, the `Rc`.
const ENTRY_BYTES: usize = 512;

/// An entry's memory, estimated from its stored record's size: decoded, a
/// record's strings and values take about as much again as their bytes.
fn entry_bytes(record: usize) -> usize {
    2 * record + ENTRY_BYTES
}
/// The most documents a notice names; a commit of more says "all" (a bulk
/// create of thousands would otherwise post thousands of keys to every tab).
pub const NAMED_AT_MOST: usize = 256;

/// A document as cached: its state and heads.
pub type Doc = Rc<(DocState, Heads)>;

struct Entry {
    doc: Doc,
    size: usize,
    /// Kept by [`Cache::provisional`], not yet committed.
    provisional: bool,
}

/// When a read from the store began: what this handle had heard and
/// committed by then.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    heard: u64,
    commits: u64,
}

pub struct Cache {
    notices: Notices,
    docs: RefCell<LruCache<Vec<u8>, Entry>>,
    bytes: Cell<usize>,
    /// Bumped as this handle begins and as it completes each commit.
    commits: Cell<u64>,
}

impl Cache {
    pub fn new(notices: Notices) -> Self {
        Cache { notices, docs: RefCell::new(LruCache::unbounded()), bytes: Cell::new(0), commits: Cell::new(0) }
    }

    /// The document under `key` (collection `\0` id), if cached.
    pub fn get(&self, key: &[u8]) -> Option<Doc> {
        self.forget_heard();
        self.docs.borrow_mut().get(key).map(|e| e.doc.clone())
    }

    /// [`Cache::get`], but not a document kept by [`Cache::provisional`]
    /// whose merge has not committed yet: what a merge may build on.
    pub fn get_committed(&self, key: &[u8]) -> Option<Doc> {
        self.forget_heard();
        self.docs.borrow_mut().get(key).filter(|e| !e.provisional).map(|e| e.doc.clone())
    }

    /// Taken before reading a record from the store, for [`Cache::fill`].
    pub fn stamp(&self) -> Stamp {
        Stamp { heard: self.notices.heard.count(), commits: self.commits.get() }
    }

    /// Keeps a record read from the store since `stamp`, unless a notice
    /// or a commit of this handle came in between. A handle not listening
    /// yet keeps nothing, and asks to listen.
    pub fn fill(&self, stamp: Stamp, key: Vec<u8>, doc: Doc, size: usize) {
        self.forget_heard();
        if self.notices.heard.is_deaf() {
            return self.notices.listen();
        }
        if stamp == self.stamp() {
            self.keep(key, doc, size);
        }
    }

    /// This handle is about to commit these documents' records: the stamp
    /// [`Cache::committed`] takes. The other handles hear of it from
    /// [`Cache::commit_asked`].
    pub fn committing(&self, keys: &[&[u8]]) -> Stamp {
        if keys.is_empty() {
            return self.stamp();
        }
        self.commits.set(self.commits.get() + 1);
        for k in keys {
            self.forget(k);
        }
        self.stamp()
    }

    /// The store was asked to commit these documents' records: a store
    /// whose notices go as the commit begins ([`When::Committing`]) tells
    /// the other handles now. Told after the ask, not before it: the post
    /// (~0.1 ms in a page) then overlaps the commit's flush instead of
    /// delaying it, and every read another handle makes once it heard is
    /// still made after the write transaction, so runs after it.
    pub fn commit_asked(&self, keys: &[&[u8]]) {
        if !keys.is_empty() && self.notices.when == When::Committing {
            self.notices.tell(&notice(keys));
        }
    }

    /// This handle committed these records (key, document, stored size),
    /// begun at `stamp`. They are kept unless another handle's notice came
    /// since: that handle may have committed after this one.
    pub fn committed(&self, stamp: Stamp, docs: Vec<(Vec<u8>, Doc, usize)>) {
        if docs.is_empty() {
            return;
        }
        self.commits.set(self.commits.get() + 1);
        if self.notices.when == When::Committed {
            let keys: Vec<&[u8]> = docs.iter().map(|(k, _, _)| k.as_slice()).collect();
            self.notices.tell(&notice(&keys));
        }
        if self.notices.heard.count() != stamp.heard || self.notices.heard.is_deaf() {
            return;
        }
        for (key, doc, size) in docs {
            self.keep(key, doc, size);
        }
    }

    /// A cached document as a merge of this handle is about to change it,
    /// kept before the merge's transaction begins, for the subscribers it
    /// tells at once (`Db::import_from`): a `get` they make shows the
    /// change. [`Cache::committing`] drops it as the merge commits, and
    /// [`Cache::committed`] keeps what was committed; a merge that fails
    /// forgets it ([`Cache::forget_provisional`]). Reads from the store
    /// begun before it do not fill over it.
    pub fn provisional(&self, key: &[u8], doc: Doc) {
        self.forget_heard();
        self.commits.set(self.commits.get() + 1);
        let mut docs = self.docs.borrow_mut();
        // Only a document cached now: the merge read it from here.
        if let Some(e) = docs.get_mut(key) {
            e.doc = doc;
            e.provisional = true;
        }
    }

    /// Forgets those of `keys` still kept by [`Cache::provisional`]: their
    /// merge failed, or did not write them.
    pub fn forget_provisional(&self, keys: &[Vec<u8>]) {
        for k in keys {
            if self.docs.borrow().peek(k).is_some_and(|e| e.provisional) {
                self.forget(k);
            }
        }
    }

    /// Forgets one document (one being committed, here or in another tab).
    pub fn forget(&self, key: &[u8]) {
        if let Some(e) = self.docs.borrow_mut().pop(key) {
            self.bytes.set(self.bytes.get() - e.size);
        }
    }

    fn keep(&self, key: Vec<u8>, doc: Doc, size: usize) {
        let size = entry_bytes(size);
        if size > MAX_BYTES {
            return;
        }
        let mut docs = self.docs.borrow_mut();
        if let Some(old) = docs.put(key, Entry { doc, size, provisional: false }) {
            self.bytes.set(self.bytes.get() - old.size);
        }
        self.bytes.set(self.bytes.get() + size);
        while self.bytes.get() > MAX_BYTES {
            let Some((_, e)) = docs.pop_lru() else { break };
            self.bytes.set(self.bytes.get() - e.size);
        }
    }

    /// Drops what the other handles said they are committing.
    fn forget_heard(&self) {
        match self.notices.heard.take() {
            None => {}
            Some(Forget::All) => {
                self.docs.borrow_mut().clear();
                self.bytes.set(0);
            }
            Some(Forget::Keys(keys)) => {
                for k in keys {
                    self.forget(&k);
                }
            }
        }
    }

    /// Drops what was heard and not yet acted on, as if those notices were
    /// still on their way.
    #[cfg(test)]
    pub fn lose_heard(&self) {
        self.notices.heard.take();
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.docs.borrow().len()
    }
}

fn notice(keys: &[&[u8]]) -> Forget {
    match keys.len() > NAMED_AT_MOST {
        true => Forget::All,
        false => Forget::Keys(keys.iter().map(|k| k.to_vec()).collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Heard, MemoryStore, Store};

    fn doc(title: &str) -> Doc {
        let mut state = DocState::default();
        let register = crate::core::doc::Register { value: title.into(), height: 1, cid: Default::default() };
        state.fields.insert("title".into(), register);
        Rc::new((state, Vec::new()))
    }

    fn title(d: Option<Doc>) -> Option<String> {
        d.map(|d| d.0.value("title").unwrap().as_str().unwrap().to_string())
    }

    /// A store whose notices go as the commit begins (IndexedDB's) tells
    /// the other handles once the commit was asked for, not before
    /// (`Db::commit`: the post overlaps the flush), and once per commit;
    /// one that tells after the commit (the memory store's) not then.
    #[test]
    fn notices_as_the_commit_begins_go_once_the_commit_is_asked_for() {
        for when in [When::Committing, When::Committed] {
            let posted: Rc<RefCell<Vec<Forget>>> = Rc::default();
            let notices = Notices::new(Rc::default(), when, {
                let posted = posted.clone();
                move |f: &Forget| posted.borrow_mut().push(f.clone())
            });
            let cache = Cache::new(notices);
            let stamp = cache.committing(&[b"j", b"k"]);
            assert!(posted.borrow().is_empty(), "{when:?}: nothing told before the commit is asked for");
            cache.commit_asked(&[b"j", b"k"]);
            let told = match when {
                When::Committing => vec![Forget::Keys(vec![b"j".to_vec(), b"k".to_vec()])],
                When::Committed => vec![],
            };
            assert_eq!(*posted.borrow(), told, "{when:?}");
            cache.committed(stamp, vec![(b"j".to_vec(), doc("j"), 10), (b"k".to_vec(), doc("k"), 10)]);
            assert_eq!(posted.borrow().len(), 1, "{when:?}: one notice per commit");
        }
    }

    /// A handle that starts deaf (a page's, whose channel is made after
    /// its first read) keeps nothing it reads or commits until it listens,
    /// asks to listen when it first would have kept a read, and does not
    /// keep a read begun before it listened (a notice may have gone by
    /// unheard); what it reads once it listens it keeps, and then it
    /// forgets what it hears.
    #[test]
    fn a_handle_that_does_not_listen_yet_keeps_nothing() {
        let heard = Rc::new(Heard::deaf());
        let asked = Rc::new(Cell::new(0));
        let notices = Notices::new(heard.clone(), When::Committing, |_: &Forget| {}).listening_when_asked({
            let asked = asked.clone();
            move || asked.set(asked.get() + 1)
        });
        let cache = Cache::new(notices);
        let before = cache.stamp();
        cache.fill(before, b"k".to_vec(), doc("read deaf"), 10);
        assert_eq!(title(cache.get(b"k")), None, "read while deaf: not kept");
        assert_eq!(asked.get(), 1, "the first read asks to listen");
        let committing = cache.committing(&[b"j"]);
        cache.commit_asked(&[b"j"]);
        cache.committed(committing, vec![(b"j".to_vec(), doc("committed deaf"), 10)]);
        assert_eq!(title(cache.get(b"j")), None, "committed while deaf: not kept");
        let begun_deaf = cache.stamp();
        heard.listening();
        cache.fill(begun_deaf, b"k".to_vec(), doc("begun deaf"), 10);
        assert_eq!(title(cache.get(b"k")), None, "a read begun before listening: not kept");
        let listening = cache.stamp();
        cache.fill(listening, b"k".to_vec(), doc("stored"), 10);
        assert_eq!(title(cache.get(b"k")), Some("stored".into()));
        heard.hear(Forget::Keys(vec![b"k".to_vec()]));
        assert_eq!(title(cache.get(b"k")), None, "forgotten once heard");
        assert_eq!(asked.get(), 1, "asked once: the handle listens now");
    }

    /// A document kept ahead of its merge's commit is what a `get` shows,
    /// but not what another merge may build on until it is committed; a
    /// read begun before it does not fill over it.
    #[test]
    fn a_provisional_document_is_read_but_not_built_on_until_committed() {
        let store = MemoryStore::new();
        let cache = Cache::new(store.notices().unwrap());
        let stamp = cache.stamp();
        cache.fill(stamp, b"k".to_vec(), doc("stored"), 10);
        assert_eq!(title(cache.get_committed(b"k")), Some("stored".into()));
        let read = cache.stamp();
        cache.provisional(b"k", doc("merged"));
        assert_eq!(title(cache.get(b"k")), Some("merged".into()));
        assert_eq!(title(cache.get_committed(b"k")), None, "its merge may still fail");
        cache.fill(read, b"k".to_vec(), doc("stored"), 10);
        assert_eq!(title(cache.get(b"k")), Some("merged".into()), "an older read does not fill over it");
        let committing = cache.committing(&[b"k"]);
        assert_eq!(title(cache.get(b"k")), None, "forgotten as its merge commits");
        cache.committed(committing, vec![(b"k".to_vec(), doc("merged"), 10)]);
        assert_eq!(title(cache.get_committed(b"k")), Some("merged".into()));
        // Only a cached document is kept ahead.
        cache.provisional(b"j", doc("j"));
        assert_eq!(title(cache.get(b"j")), None);
    }

    /// A record read while a notice arrived, or while this handle
    /// committed, may be older than the notice: it is not kept.
    #[test]
    fn a_read_overtaken_by_a_notice_or_a_commit_is_not_kept() {
        let store = MemoryStore::new();
        let (mine, theirs) = (Cache::new(store.notices().unwrap()), store.notices().unwrap());
        let stamp = mine.stamp();
        theirs.tell(&Forget::Keys(vec![b"k".to_vec()]));
        mine.fill(stamp, b"k".to_vec(), doc("old"), 10);
        assert_eq!(title(mine.get(b"k")), None);
        let stamp = mine.stamp();
        let committing = mine.committing(&[b"j"]);
        mine.fill(stamp, b"k".to_vec(), doc("old"), 10);
        assert_eq!(title(mine.get(b"k")), None);
        mine.committed(committing, vec![(b"j".to_vec(), doc("new"), 10)]);
        let stamp = mine.stamp();
        mine.fill(stamp, b"k".to_vec(), doc("read"), 10);
        assert_eq!(title(mine.get(b"k")), Some("read".into()));
        assert_eq!(title(mine.get(b"j")), Some("new".into()));
        // Heard after the fill: forgotten at the next get.
        theirs.tell(&Forget::Keys(vec![b"k".to_vec()]));
        assert_eq!(title(mine.get(b"k")), None);
        assert_eq!(title(mine.get(b"j")), Some("new".into()));
        theirs.tell(&Forget::All);
        assert_eq!(title(mine.get(b"j")), None);
        // Another handle's notice between this one's commit and its end: that
        // handle may have committed after, so nothing is kept.
        let committing = mine.committing(&[b"j"]);
        theirs.tell(&Forget::Keys(vec![b"x".to_vec()]));
        assert!(mine.get(b"x").is_none());
        mine.committed(committing, vec![(b"j".to_vec(), doc("mine"), 10)]);
        assert_eq!(title(mine.get(b"j")), None);
    }

    #[test]
    fn it_keeps_at_most_max_bytes_least_recently_used_first() {
        let cache = Cache::new(MemoryStore::new().notices().unwrap());
        let size = (MAX_BYTES / 4 - ENTRY_BYTES) / 2;
        let keep = |k: &[u8], size| {
            let stamp = cache.committing(&[k]);
            cache.committed(stamp, vec![(k.to_vec(), doc("x"), size)]);
        };
        for k in [b"a", b"b", b"c", b"d"] {
            keep(k, size);
        }
        assert_eq!(cache.len(), 4);
        cache.get(b"a");
        keep(b"e", size);
        assert_eq!(cache.len(), 4);
        assert!(cache.get(b"b").is_none(), "the least recently used went");
        assert!(cache.get(b"a").is_some());
        keep(b"huge", MAX_BYTES);
        assert!(cache.get(b"huge").is_none(), "larger than the whole cache: not kept");
        assert_eq!(cache.bytes.get(), 4 * MAX_BYTES / 4);
    }
}
