//! The database: the core's rules applied to a [`Store`], one transaction
//! per change.
//!
//! Local writes and blocks from elsewhere end the same way: inside one
//! write transaction the block is stored, folded into the document's
//! registers and heads ([`crate::core::merge::fold`]), and the indexes are
//! kept right (`Db::write_touched`). A local write builds its block from
//! the heads it reads in that transaction, so two writers on one database
//! (two tabs) never lose each other's change. Blocks from elsewhere are
//! planned by [`crate::core::merge::Planner`], which holds the merge rules
//! and knows no store: [`Db::import_from`] reads it a snapshot, answers the
//! reads it stops for, and writes its plan, all in that one transaction.

use std::cell::{Cell, OnceCell, RefCell};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::num::NonZeroUsize;
use std::ops::Bound;
use std::rc::Rc;

use lru::LruCache;

use cid::Cid;
use ed25519_dalek::SigningKey;
use serde_json::{Map, Value};

use crate::core::block::{cid_of, Block, SignedBlock, MAX_BLOCK_BYTES, MAX_PARENTS};
use crate::core::doc::{DocState, Heads};
use crate::core::merge::{
    changes_of, check_owner, fold, malformed, refuses_block, unauthorized, DocName, Planner, Reads, Snapshot, Touched,
    Waiting,
};
use crate::core::query::{encode_index_value, encoded_range, CmpOp, Filter, IndexPlan, Query};
use crate::core::schema::{hex, parse_sdl, CollectionDef, SchemaError, ValidationError, WritePolicy};
use crate::error::Error;
use crate::store::{KeyRange, Mode, Store, StoreError, Table, Tx};
use layout::{
    entry, key_record, record, record_doc, record_state, seed_of, unentry, unrecord, Blocks, LAYOUT, LAYOUT_2,
    LAYOUT_3, LAYOUT_4, LAYOUT_KEY,
};

pub(crate) mod cache;
#[cfg(any(all(test, feature = "net"), feature = "sim"))]
pub(crate) mod check;
pub(crate) mod layout;
pub(crate) mod recent;
// The crash runs use the node's records (outbox, refusals).
#[cfg(all(test, feature = "net"))]
mod crash;

/// `meta`: the signing key's record ([`layout::key_record`]). It sorts just
/// after the schemas, and no other `meta` key may sort between them
/// ([`open_range`]): a commit hook's row there is refused.
pub(crate) const META_KEY: &[u8] = b"signing-key";
/// `meta`: `schema/<collection>` → the collection's definition, JSON.
const META_SCHEMA: &[u8] = b"schema/";

/// The `meta` keys an open reads: every schema, then the signing key's record.
pub(crate) fn open_range() -> KeyRange {
    KeyRange { lower: Bound::Included(META_SCHEMA.to_vec()), upper: Bound::Included(META_KEY.to_vec()) }
}

/// Whether `key` is in [`open_range`], without making it (a commit hook's
/// every row is asked).
pub(crate) fn read_on_open(key: &[u8]) -> bool {
    (META_SCHEMA..=META_KEY).contains(&key)
}

pub use crate::core::merge::{Change, ChangeKind, ImportReport, Merged, Refusal};

/// A row that a [`Db::on_commit`] hook adds to the transaction of the block
/// that calls for it.
pub type Row = (Table, Vec<u8>, Vec<u8>);

/// What one transaction did, told to listeners once it has committed.
#[derive(Debug, Default)]
struct Effects {
    /// What subscribers hear. Those of the documents in `docs` are kept as
    /// notes on each document until `flush` writes it ([`changes_of`]).
    changes: Vec<Change>,
    blocks: Vec<Merged>,
    /// Documents changed in this transaction, written once at commit
    /// however many of their blocks it folds in (a backfill brings a
    /// document's whole history in one batch).
    docs: BTreeMap<DocName, Touched>,
    /// How many of `blocks` are written already ([`Db::flush`]).
    packed: usize,
    /// The records of `docs` written so far (key, document, size), for the
    /// cache once the transaction commits.
    written: Vec<(Vec<u8>, cache::Doc, usize)>,
    /// Changes the subscribers heard of before the transaction began
    /// ([`Db::tell_ahead`]): not told again unless the commit's differ.
    told: Vec<Change>,
}

/// Decodes and verifies each of `blocks` on its own: those that pass, and
/// a refusal for each that does not.
pub fn decode_each(blocks: &[Vec<u8>]) -> (Vec<SignedBlock>, Vec<Refusal>) {
    let mut ok = Vec::with_capacity(blocks.len());
    let mut refused = Vec::new();
    for bytes in blocks {
        match SignedBlock::decode(bytes, None) {
            Ok(b) => ok.push(b),
            Err(e) => refused.push(Refusal::new(cid_of(bytes), &e.into())),
        }
    }
    (ok, refused)
}

/// How many refused blocks a database remembers, to refuse their children.
const REFUSED_REMEMBERED: usize = 4096;
pub type ListenerId = u64;
type Listener = Rc<dyn Fn(&Change)>;
/// Whether a listener hears merges told ahead of their commit
/// ([`Db::subscribe`]) or only once it is asked for ([`Db::subscribe_stored`]).
type Ahead = bool;
type CommitListener = Rc<dyn Fn(&[Change])>;
type BlockListener = Rc<dyn Fn(&Merged)>;
type CommitHook = Rc<dyn Fn(Commit, &Merged) -> Vec<Row>>;

/// Where a block's transaction is when an [`Db::on_commit`] hook hears of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Commit {
    /// Being written: the rows the hook returns commit with the block.
    Writing,
    /// Committed: durable (rows returned now are not written).
    Done,
}

pub struct Db<S: Store> {
    store: S,
    /// The signing key, made from `seed` on first use ([`Db::signing_key`]):
    /// making it derives the public key, a scalar multiplication (~50 µs
    /// in a page), which an open that only reads need not wait for.
    key: OnceCell<SigningKey>,
    /// The stored secret, until `key` is made from it.
    seed: Cell<[u8; 32]>,
    schemas: RefCell<BTreeMap<String, Rc<CollectionDef>>>,
    /// Each with whether it hears merges told ahead ([`Db::tell_ahead`]).
    listeners: RefCell<Vec<(ListenerId, Listener, Ahead)>>,
    /// [`Db::subscribe_commits`]'s: a commit's changes at once.
    commit_listeners: RefCell<Vec<(ListenerId, CommitListener)>>,
    block_listeners: RefCell<Vec<(ListenerId, BlockListener)>>,
    commit_hooks: RefCell<Vec<(ListenerId, CommitHook)>>,
    next_listener: Cell<ListenerId>,
    /// Blocks refused lately, and why: their children are refused on sight
    /// rather than kept pending for a parent that will never merge.
    refused_lately: RefCell<LruCache<Cid, Error>>,
    /// Hot documents, where the store can tell this handle what the others
    /// commit ([`cache`]).
    cache: Option<cache::Cache>,
    /// The blocks this handle committed lately ([`recent`]).
    pub(crate) recent: RefCell<recent::RecentBlocks>,
}

/// For each change in `told` (ahead of its commit) of a document the
/// commit's `changes` do not name (the stored record already had what won),
/// the document as `written`, where that is not what was told.
fn told_otherwise(told: &[Change], changes: &[Change], written: &[(Vec<u8>, cache::Doc, usize)]) -> Vec<Change> {
    let mut out = Vec::new();
    for t in told {
        if changes.iter().any(|c| c.collection == t.collection && c.id == t.id) {
            continue;
        }
        let key = doc_key(&t.collection, &t.id);
        let Some((_, stored, _)) = written.iter().find(|(k, _, _)| *k == key) else { continue };
        let doc = (!stored.0.deleted).then(|| stored.0.document(&t.id));
        if doc != t.doc {
            let kind = if doc.is_some() { ChangeKind::Update } else { ChangeKind::Delete };
            out.push(Change { collection: t.collection.clone(), id: t.id.clone(), kind, doc });
        }
    }
    out
}

/// The documents `names` whose records `values` (read in that order) are
/// stored, decoded.
fn records_of(
    names: impl IntoIterator<Item = DocName>,
    values: impl IntoIterator<Item = Option<Vec<u8>>>,
) -> Result<HashMap<DocName, (DocState, Heads)>, Error> {
    let mut docs = HashMap::new();
    for (name, doc) in names.into_iter().zip(values) {
        if let Some(doc) = doc {
            docs.insert(name, unrecord(&doc)?);
        }
    }
    Ok(docs)
}

/// Whether every block of `blocks` is a change of its document whose
/// parents are all among the document's heads as `heads_of` gives them
/// (none is a genesis, and no two share a document).
fn next_of_heads<'a>(blocks: &[SignedBlock], heads_of: impl Fn(&DocName) -> Option<&'a Heads>) -> bool {
    let mut seen = HashSet::new();
    blocks.iter().all(|b| {
        let name: DocName = (b.block.col.clone(), b.doc_id().to_owned());
        let parents_are_heads =
            heads_of(&name).is_some_and(|heads| b.block.parents.iter().all(|p| heads.iter().any(|(h, _)| h == p)));
        !b.block.is_genesis() && parents_are_heads && seen.insert(name)
    })
}

pub(crate) fn doc_key(col: &str, id: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(col.len() + id.len() + 1);
    k.extend_from_slice(col.as_bytes());
    k.push(0);
    k.extend_from_slice(id.as_bytes());
    k
}

/// [`doc_key`]'s collection and id, if `key` is one.
pub(crate) fn split_doc_key(key: &[u8]) -> Option<(String, String)> {
    let at = key.iter().position(|b| *b == 0)?;
    Some((String::from_utf8(key[..at].to_vec()).ok()?, String::from_utf8(key[at + 1..].to_vec()).ok()?))
}

fn index_prefix(col: &str, field: &str) -> Vec<u8> {
    let mut k = doc_key(col, field);
    k.push(0);
    k
}

fn index_key(col: &str, field: &str, value: &Value, id: &str) -> Option<Vec<u8>> {
    let mut k = index_prefix(col, field);
    k.extend(encode_index_value(value)?);
    k.extend_from_slice(id.as_bytes());
    Some(k)
}

fn cbor<T: serde::Serialize>(v: &T) -> Vec<u8> {
    serde_ipld_dagcbor::to_vec(v).expect("stored records encode as DAG-CBOR")
}

pub(crate) fn uncbor<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, StoreError> {
    serde_ipld_dagcbor::from_slice(bytes).map_err(|e| StoreError(format!("corrupt record: {e}")))
}

fn parse_id(collection: &str, id: &str) -> Result<Cid, Error> {
    Cid::try_from(id).map_err(|_| Error::NotFound { collection: collection.into(), id: id.into() })
}

#[cfg(any(test, feature = "sim"))]
thread_local! {
    /// The next genesis nonce on this thread, when a test or the simulator
    /// set one ([`set_nonces`]): its runs then make the same blocks again.
    static NEXT_NONCE: Cell<Option<u64>> = const { Cell::new(None) };
}

/// Makes this thread's creates take the nonces `from`, `from + 1`, …
/// (`None`: random ones again), so that a seeded run replays exactly.
#[cfg(any(test, feature = "sim"))]
#[cfg_attr(not(all(test, feature = "net")), allow(dead_code))] // for the simulator and crash runs
pub(crate) fn set_nonces(from: Option<u64>) {
    NEXT_NONCE.set(from);
}

fn random_nonce() -> [u8; 8] {
    #[cfg(any(test, feature = "sim"))]
    if let Some(n) = NEXT_NONCE.get() {
        NEXT_NONCE.set(Some(n.wrapping_add(1)));
        return n.to_be_bytes();
    }
    let mut n = [0; 8];
    getrandom::getrandom(&mut n).expect("the platform has a random source");
    n
}

impl<S: Store> Db<S> {
    /// Opens a database on `store`, making its signing key on first open.
    /// Only the key, the layout and the schemas are read: nothing grows
    /// with the data (but the first open of a database of an older layout,
    /// which moves it: `layout::migrate`).
    pub async fn open(store: S) -> Result<Self, Error> {
        let (seed, schemas) = Self::key_and_schemas_in(&store).await?;
        let cache = store.notices().map(cache::Cache::new);
        let db = Db {
            store,
            key: OnceCell::new(),
            seed: Cell::new(seed),
            schemas: RefCell::default(),
            listeners: RefCell::default(),
            commit_listeners: RefCell::default(),
            block_listeners: RefCell::default(),
            commit_hooks: RefCell::default(),
            next_listener: Cell::new(0),
            refused_lately: RefCell::new(LruCache::new(NonZeroUsize::new(REFUSED_REMEMBERED).expect("not zero"))),
            cache,
            recent: RefCell::default(),
        };
        // Unless a row among them is not a schema, which a commit hook of a
        // build before layout 5 may have written (those read the schemas by
        // their prefix): then they are read by it.
        if schemas.is_none_or(|rows| db.keep_schemas(rows).is_err()) {
            db.reload_schemas().await?;
        }
        Ok(db)
    }

    /// The replica's key, made and stored on first open, and the store in
    /// this build's layout ([`layout::migrate`] on the first open of a
    /// database of layouts 1 to 4); with the stored schemas when one read
    /// found all that: every open but the first of a database and of a
    /// layout reads the schemas and the key's record, which names the
    /// layout, in one request ([`open_range`]). An open that finds them
    /// takes no write lock.
    async fn key_and_schemas_in(store: &S) -> Result<([u8; 32], Option<Vec<Vec<u8>>>), Error> {
        let mut rows = store.begin_read(&[Table::Meta]).await?.scan_values(Table::Meta, &open_range(), None).await?;
        if let Some(seed) = rows.last().map(Vec::as_slice).and_then(seed_of) {
            rows.pop();
            return Ok((seed, Some(rows)));
        }
        let mut tx = store.begin(Mode::Write).await?;
        // Another tab may have made the key, or moved the data, meanwhile.
        let stored = tx.get(Table::Meta, META_KEY).await?;
        // The layout this database is moved from, if it is not this build's.
        let from = match tx.get(Table::Meta, LAYOUT_KEY).await?.as_deref() {
            Some([LAYOUT]) => None,
            // Layout 1 wrote no `layout`.
            None => Some(None),
            Some([from @ (LAYOUT_2 | LAYOUT_3 | LAYOUT_4)]) => Some(Some(*from)),
            // Anything else is a layout this build cannot read, left as it is.
            Some(other) => {
                return Err(Error::Stale(format!(
                    "the database is in storage layout {other:?}, not this build's {LAYOUT}: update the app"
                )))
            }
        };
        let seed = match (&stored, from) {
            (None, _) => {
                let mut seed = [0u8; 32];
                getrandom::getrandom(&mut seed).expect("the platform has a random source");
                Some(seed)
            }
            (Some(record), None) => seed_of(record),
            // Layouts before 5 stored the seed alone.
            (Some(record), Some(_)) => record.as_slice().try_into().ok(),
        };
        let seed = seed.ok_or_else(|| StoreError("corrupt signing key".into()))?;
        if let Some(from) = from {
            if layout::migrate(&mut tx, from).await? {
                tracing::info!("moved the database into storage layout {LAYOUT}");
            }
        }
        if stored.is_none() || from.is_some() {
            tx.put(Table::Meta, META_KEY, &key_record(&seed)).await?;
        }
        tx.commit().await?;
        Ok((seed, None))
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    /// The key that signs this replica's blocks (and is its network identity).
    pub fn signing_key(&self) -> &SigningKey {
        self.key.get_or_init(|| SigningKey::from_bytes(&self.seed.replace([0; 32])))
    }

    /// This replica's public key in lowercase hex: the form a collection's
    /// `@policy(writers: [...])` lists.
    pub fn author_key(&self) -> String {
        hex(self.signing_key().verifying_key().as_bytes())
    }

    async fn reload_schemas(&self) -> Result<(), Error> {
        let mut tx = self.store.begin_read(&[Table::Meta]).await?;
        let rows = tx.scan_values(Table::Meta, &KeyRange::prefix(META_SCHEMA), None).await?;
        self.keep_schemas(rows)
    }

    /// Keeps the schemas stored as `rows`, in place of those it had.
    fn keep_schemas(&self, rows: Vec<Vec<u8>>) -> Result<(), Error> {
        let mut schemas = BTreeMap::new();
        for v in rows {
            let def: CollectionDef =
                serde_json::from_slice(&v).map_err(|e| StoreError(format!("corrupt schema: {e}")))?;
            schemas.insert(def.name.clone(), Rc::new(def));
        }
        *self.schemas.borrow_mut() = schemas;
        Ok(())
    }

    /// Adds the collections declared in `sdl`; all of them or none.
    pub async fn add_schema(&self, sdl: &str) -> Result<Vec<String>, Error> {
        let defs = parse_sdl(sdl)?;
        let mut tx = self.store.begin(Mode::Write).await?;
        for def in &defs {
            let key = [META_SCHEMA, def.name.as_bytes()].concat();
            if tx.get(Table::Meta, &key).await?.is_some() {
                return Err(
                    SchemaError { line: None, message: format!("collection \"{}\" already exists", def.name) }.into()
                );
            }
            tx.put(Table::Meta, &key, &serde_json::to_vec(def).expect("schemas serialise")).await?;
        }
        tx.commit().await?;
        let mut schemas = self.schemas.borrow_mut();
        for def in &defs {
            schemas.insert(def.name.clone(), Rc::new(def.clone()));
        }
        Ok(defs.into_iter().map(|d| d.name).collect())
    }

    pub fn collections(&self) -> Vec<Rc<CollectionDef>> {
        self.schemas.borrow().values().cloned().collect()
    }

    /// The collection's definition; another tab may have added it since we looked.
    pub async fn collection(&self, name: &str) -> Result<Rc<CollectionDef>, Error> {
        if let Some(def) = self.schemas.borrow().get(name) {
            return Ok(def.clone());
        }
        self.reload_schemas().await?;
        self.schemas.borrow().get(name).cloned().ok_or_else(|| Error::UnknownCollection(name.into()))
    }

    pub async fn create(&self, col: &str, input: &Map<String, Value>) -> Result<String, Error> {
        Ok(self.create_many(col, std::slice::from_ref(input)).await?.remove(0))
    }

    /// Creates documents in one transaction: all of them or, on any invalid
    /// input, none.
    pub async fn create_many(&self, col: &str, inputs: &[Map<String, Value>]) -> Result<Vec<String>, Error> {
        let def = self.collection(col).await?;
        self.may_write(&def, None)?;
        let fields = inputs.iter().map(|input| def.validate_create(input)).collect::<Result<Vec<_>, _>>()?;
        let mut tx = self.store.begin(Mode::Write).await?;
        let mut fx = Effects::default();
        let mut ids = Vec::with_capacity(inputs.len());
        // A pack's worth at a time, written before the next is signed: the
        // store (IndexedDB's backend, off this thread) writes one while
        // this thread signs the next. A block too large fails the whole
        // transaction, which is then dropped: nothing is written.
        for (i, fields) in fields.into_iter().enumerate() {
            let b = fits_a_block(Block::genesis(col, fields, random_nonce(), self.signing_key()))?;
            ids.push(b.doc_id().to_owned());
            self.apply(&mut tx, &b, &def, None, &mut fx).await?;
            if (i + 1) % layout::PACK_BLOCKS == 0 {
                self.flush(&mut tx, &mut fx).await?;
            }
        }
        self.commit(tx, fx).await?;
        Ok(ids)
    }

    /// Sets the fields in `patch`, leaving the others as they are.
    pub async fn update(&self, col: &str, id: &str, patch: &Map<String, Value>) -> Result<(), Error> {
        let def = self.collection(col).await?;
        let patch = def.validate_update(patch)?;
        self.change(&def, id, patch, false).await
    }

    pub async fn delete(&self, col: &str, id: &str) -> Result<(), Error> {
        let def = self.collection(col).await?;
        self.change(&def, id, Map::new(), true).await
    }

    async fn change(&self, def: &CollectionDef, id: &str, fields: Map<String, Value>, del: bool) -> Result<(), Error> {
        let col = def.name.as_str();
        let doc = parse_id(col, id)?;
        let mut tx = self.store.begin(Mode::Write).await?;
        let (state, heads) = match self.doc(&mut tx, col, id).await? {
            None => return Err(Error::NotFound { collection: col.into(), id: id.into() }),
            Some((s, _)) if s.deleted => return Err(Error::Deleted { collection: col.into(), id: id.into() }),
            Some(doc) => doc,
        };
        self.may_write(def, Some((id, &state)))?;
        // At most MAX_PARENTS parents, the highest heads: a wider block no
        // peer would take. The heads left out stay heads for the next write.
        let mut by_height = heads.clone();
        by_height.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        by_height.truncate(MAX_PARENTS);
        let height = by_height.iter().map(|h| h.1).max().unwrap_or(0) + 1;
        let parents = by_height.iter().map(|h| h.0).collect();
        let b = fits_a_block(Block::change(col, doc, parents, height, fields, del, self.signing_key()))?;
        let mut fx = Effects::default();
        self.apply(&mut tx, &b, def, Some((state, heads)), &mut fx).await?;
        self.commit(tx, fx).await?;
        Ok(())
    }

    /// Whether the collection's policy lets this replica's key write: a new
    /// document (`None`), or a change to `doc`. Checked before any block is
    /// made, by the same rule ([`WritePolicy::allows`]) every peer applies.
    fn may_write(&self, def: &CollectionDef, doc: Option<(&str, &DocState)>) -> Result<(), Error> {
        let author = self.signing_key().verifying_key().to_bytes();
        let owner = doc.and_then(|(_, s)| s.owner.as_ref().map(|o| o.as_slice()));
        if def.policy.allows(&author, doc.is_none(), owner) {
            return Ok(());
        }
        Err(unauthorized(def, &author, doc.map(|(id, _)| id)))
    }

    /// The document's state and heads, from its record.
    async fn doc(&self, tx: &mut S::Tx<'_>, col: &str, id: &str) -> Result<Option<(DocState, Heads)>, Error> {
        match tx.get(Table::Documents, &doc_key(col, id)).await? {
            Some(bytes) => Ok(Some(unrecord(&bytes)?)),
            None => Ok(None),
        }
    }

    async fn state(&self, tx: &mut S::Tx<'_>, col: &str, id: &str) -> Result<Option<DocState>, Error> {
        match tx.get(Table::Documents, &doc_key(col, id)).await? {
            Some(bytes) => Ok(Some(record_state(&bytes)?)),
            None => Ok(None),
        }
    }

    pub(crate) async fn heads_in(&self, tx: &mut S::Tx<'_>, col: &str, id: &str) -> Result<Heads, Error> {
        Ok(self.doc(tx, col, id).await?.map(|(_, heads)| heads).unwrap_or_default())
    }

    /// Folds a block this replica made into its document. The block, the
    /// document's record and its index entries are written at commit
    /// ([`Db::write_touched`], [`layout::put_blocks`]). (Blocks from
    /// elsewhere are planned by [`Planner`] and written by [`Db::import_from`].)
    async fn apply(
        &self,
        tx: &mut S::Tx<'_>,
        b: &SignedBlock,
        def: &CollectionDef,
        // The document's state and heads when the caller has just read them
        // in this transaction (a change), so they are not read twice.
        known: Option<(DocState, Heads)>,
        fx: &mut Effects,
    ) -> Result<(), Error> {
        let col = def.name.as_str();
        let id = b.doc_id().to_owned();
        let name: DocName = (col.into(), id.clone());
        if def.policy == WritePolicy::Owner && !b.block.is_genesis() {
            let owner = match (fx.docs.get(&name), &known) {
                (Some(t), _) => t.state.owner.clone(),
                (None, Some((state, _))) => state.owner.clone(),
                (None, None) => self.state(tx, col, &id).await?.and_then(|s| s.owner),
            };
            check_owner(b, def, owner.as_ref())?;
        }
        let mut touched = match fx.docs.remove(&name) {
            Some(t) => t,
            None => {
                let stored = match known {
                    Some(known) => Some(known),
                    None if b.block.is_genesis() => None,
                    None => {
                        let doc = self.doc(tx, col, &id).await?;
                        Some(doc.ok_or_else(|| malformed("the document's genesis is missing"))?)
                    }
                };
                Touched::new(col, &id, stored)
            }
        };
        if let Some(kind) = fold(&mut touched, b, def) {
            touched.note(kind, fx.blocks.len());
        }
        fx.blocks.push(Merged::new(b, id, true, None));
        fx.docs.insert(name, touched);
        Ok(())
    }

    /// Writes the record of each document the transaction touched (its
    /// state and heads), and its index entries: each carries the document
    /// as a query returns it (`layout::entry`), and an entry whose value
    /// moved is deleted. Returns the records
    /// written, for the cache.
    async fn write_touched(
        &self,
        tx: &mut S::Tx<'_>,
        docs: BTreeMap<DocName, Touched>,
    ) -> Result<Vec<(Vec<u8>, cache::Doc, usize)>, Error> {
        let mut written = Vec::with_capacity(docs.len());
        for t in docs.into_values() {
            let def = self.collection(&t.col).await?;
            let old = t.stored.as_ref().map(|s| layout::index_keys(&def, &t.id, s)).unwrap_or_default();
            let new = layout::index_keys(&def, &t.id, &t.state);
            let record = record(&t.id, &t.state, &t.heads);
            for k in old.iter().filter(|k| !new.contains(k)) {
                tx.delete(Table::Entries, k).await?;
            }
            if !new.is_empty() {
                let entry = entry(&t.id, &t.state);
                for k in &new {
                    tx.put(Table::Entries, k, &entry).await?;
                }
            }
            let key = doc_key(&t.col, &t.id);
            tx.put(Table::Documents, &key, &record).await?;
            if self.cache.is_some() {
                written.push((key, Rc::new((t.state, t.heads)), record.len()));
            }
        }
        Ok(written)
    }

    /// Merges blocks from anywhere (another replica, an export, the
    /// network) in one transaction: every block it can, and a
    /// [`Refusal`] for each of the others (nothing of which is stored).
    /// Blocks whose parents are missing wait in `pending` and are merged
    /// when the parents arrive. Only the store's failures fail the import.
    pub async fn import(&self, blocks: &[Vec<u8>]) -> Result<ImportReport, Error> {
        let (ok, refused) = decode_each(blocks);
        let mut report = self.import_from(ok, None).await?;
        report.refused.splice(0..0, refused);
        Ok(report)
    }

    /// Merges one block received under `cid` (which it must hash to).
    pub async fn merge(&self, cid: Cid, bytes: &[u8]) -> Result<ImportReport, Error> {
        match SignedBlock::decode(bytes, Some(cid)) {
            Ok(b) => self.import_from(vec![b], None).await,
            Err(e) => Ok(ImportReport { refused: vec![Refusal::new(cid, &e.into())], ..Default::default() }),
        }
    }

    /// [`Db::import`] of blocks already decoded and verified with
    /// [`SignedBlock::decode`] (a caller with threads verifies in parallel).
    pub async fn import_verified(&self, blocks: Vec<SignedBlock>) -> Result<ImportReport, Error> {
        self.import_from(blocks, None).await
    }

    /// [`Db::import_verified`] of blocks that came from `source`, an
    /// opaque name the importer gives them, which the [`Merged`] of each
    /// carries to the hooks and listeners.
    ///
    /// The merge rules are [`Planner`]'s: this reads what it needs (a
    /// [`Snapshot`] in one batched read, then whatever releasing or refusing
    /// pending blocks of earlier imports walks to), and writes its plan, all
    /// in one transaction.
    ///
    /// A peer's next change of documents in this handle's cache is merged
    /// first from the cache, and its subscribers told before the
    /// transaction begins (`Db::tell_ahead`).
    pub async fn import_from(&self, blocks: Vec<SignedBlock>, source: Option<Rc<[u8]>>) -> Result<ImportReport, Error> {
        let mut defs: BTreeMap<String, Result<Rc<CollectionDef>, Error>> = BTreeMap::new();
        for b in &blocks {
            if !defs.contains_key(&b.block.col) {
                defs.insert(b.block.col.clone(), self.collection_or_refusal(&b.block.col).await?);
            }
        }
        // Looked up before anything changes the cache (what is told ahead
        // is kept in it). The guess of which reads the transaction needs
        // may build on an import still under way (its commit comes first,
        // and the record confirms the guess); what is told may not.
        let committed = self.cached_next(&blocks, true);
        let guess = committed.is_some() || self.cached_next(&blocks, false).is_some();
        let (told, kept) = match committed {
            Some(docs) => self.tell_ahead(&blocks, &defs, &source, docs),
            None => (Vec::new(), Vec::new()),
        };
        let result = self.import_planned(blocks, source, defs, guess, told).await;
        // Kept ahead and not committed (the import failed, or did not write
        // the document): forgotten.
        if let Some(cache) = &self.cache {
            cache.forget_provisional(&kept);
        }
        result
    }

    /// The most blocks whose snapshot is read in one round trip, every row
    /// they may need at once, when the cache does not guess them
    /// ([`Db::snapshot`]); a larger batch reads its records first, then
    /// only what they leave open.
    const ONE_READ_BLOCKS: usize = 8;

    /// The most `waiting` rows an import of `blocks` blocks reads with its
    /// records ([`Db::snapshot`]), to hand the planner whole: 16 a block,
    /// at least 64 and at most 16,384 (as many as a node keeps pending
    /// blocks in all, [`crate::core::pending::PendingLimits`], each with a
    /// parent missing). A key read costs its ~72 bytes copied into wasm
    /// (~1 µs in a page); the rows under a block, read as its walk comes to
    /// it, a round trip each (~70–300 µs in a page, one after another:
    /// 0.1–0.3 s for a batch of 1,024 while one stale block waited). Past
    /// the limit the keys read are dropped and the walks read as they go.
    #[doc(hidden)]
    pub fn waiting_read_at_once(blocks: usize) -> usize {
        blocks.saturating_mul(16).clamp(64, 16_384)
    }

    /// The most blocks [`Db::tell_ahead`] merges from the cache: gossip
    /// brings one at a time; a larger batch is a transfer, which no one
    /// watches block by block.
    const TELL_AHEAD_BLOCKS: usize = 8;

    /// The cached documents of `blocks`, if the cache has every one (with
    /// `committed`, as committed: not one an import under way told ahead,
    /// which may still fail) and each block is its document's next change
    /// ([`next_of_heads`]).
    fn cached_next(&self, blocks: &[SignedBlock], committed: bool) -> Option<HashMap<DocName, cache::Doc>> {
        let cache = self.cache.as_ref()?;
        let mut docs = HashMap::new();
        for b in blocks {
            let name: DocName = (b.block.col.clone(), b.doc_id().to_owned());
            let key = doc_key(&name.0, &name.1);
            let doc = if committed { cache.get_committed(&key) } else { cache.get(&key) }?;
            docs.insert(name, doc);
        }
        (!blocks.is_empty() && next_of_heads(blocks, |name| docs.get(name).map(|d| &d.1))).then_some(docs)
    }

    /// Merges `blocks` into their cached documents `docs` (each block the
    /// next change of one, [`Db::cached_next`]), keeps the results in the
    /// cache and tells the subscribers; returns the changes told and the
    /// cache keys kept (none if it did not: a merge that changes nothing
    /// visible keeps its document and tells nothing). A block the cached
    /// documents refuse, or keep pending, tells nothing: the transaction
    /// judges it by the records.
    fn tell_ahead(
        &self,
        blocks: &[SignedBlock],
        defs: &BTreeMap<String, Result<Rc<CollectionDef>, Error>>,
        source: &Option<Rc<[u8]>>,
        docs: HashMap<DocName, cache::Doc>,
    ) -> (Vec<Change>, Vec<Vec<u8>>) {
        let none = (Vec::new(), Vec::new());
        let Some(cache) = &self.cache else { return none };
        let listening = self.listeners.borrow().iter().any(|(_, _, ahead)| *ahead);
        if blocks.len() > Self::TELL_AHEAD_BLOCKS || !listening {
            return none;
        }
        // The planner folds into documents of its own: copies of the cached.
        let docs = docs.into_iter().map(|(name, doc)| (name, (*doc).clone())).collect();
        let snapshot =
            Snapshot { defs: defs.clone(), docs, refused_lately: self.refused_lately(blocks), ..Snapshot::default() };
        let mut planner = Planner::new(blocks.to_vec(), snapshot, source.clone());
        // Without `waiting` rows read, the planner needs nothing more.
        if !matches!(planner.run(), Ok(None)) {
            return none;
        }
        let plan = planner.finish();
        if plan.report.merged != blocks.len() || !plan.pending.is_empty() {
            return none;
        }
        let mut kept = Vec::with_capacity(plan.docs.len());
        for t in plan.docs.values() {
            let key = doc_key(&t.col, &t.id);
            cache.provisional(&key, Rc::new((t.state.clone(), t.heads.clone())));
            kept.push(key);
        }
        let changes = changes_of(&plan.docs);
        self.tell_only(&changes, |ahead| ahead);
        (changes, kept)
    }

    /// [`Db::import_from`] once the collections are known; `guess`: the
    /// cache says each block is its document's next change; `told`: the
    /// changes its subscribers heard of already.
    async fn import_planned(
        &self,
        blocks: Vec<SignedBlock>,
        source: Option<Rc<[u8]>>,
        defs: BTreeMap<String, Result<Rc<CollectionDef>, Error>>,
        guess: bool,
        told: Vec<Change>,
    ) -> Result<ImportReport, Error> {
        let mut tx = self.store.begin(Mode::Write).await?;
        let snapshot = self.snapshot(&mut tx, &blocks, defs, guess).await?;
        let mut planner = Planner::new(blocks, snapshot, source);
        while let Some(reads) = planner.run()? {
            self.read_for(&mut tx, reads, &mut planner).await?;
        }
        let plan = planner.finish();
        for (cid, row) in &plan.pending {
            match row {
                Some(bytes) => tx.put(Table::Pending, &cid.to_bytes(), bytes).await?,
                None => tx.delete(Table::Pending, &cid.to_bytes()).await?,
            }
        }
        for (parent, child, put) in &plan.waiting {
            let key = [parent.to_bytes().as_slice(), child].concat();
            match put {
                true => tx.put(Table::Waiting, &key, &[]).await?,
                false => tx.delete(Table::Waiting, &key).await?,
            }
        }
        let fx = Effects { blocks: plan.merged, docs: plan.docs, told, ..Effects::default() };
        self.commit(tx, fx).await?;
        // Refusals that hold whatever else arrives (not a collection this
        // replica may add later): their children are refused on sight.
        let mut lately = self.refused_lately.borrow_mut();
        for cid in &plan.recalled {
            lately.get(cid);
        }
        for (cid, e) in plan.refused {
            if !matches!(e, Error::UnknownCollection(_)) {
                lately.put(cid, e);
            }
        }
        Ok(plan.report)
    }

    /// The collection's definition, or the error that refuses its blocks;
    /// an error of the store fails.
    async fn collection_or_refusal(&self, name: &str) -> Result<Result<Rc<CollectionDef>, Error>, Error> {
        match self.collection(name).await {
            Err(e) if !refuses_block(&e) => Err(e),
            def => Ok(def),
        }
    }

    /// What the planner is given before it starts, in one or two batched
    /// reads rather than several awaited ones per block (each a round trip
    /// to IndexedDB's backend in a page, whose requests cost ~70 µs each
    /// there, one after another): the batch and its parents from outside
    /// it in `blocks` and `pending`, the documents' states and heads, and
    /// `waiting`'s keys, up to one more than [`Db::waiting_read_at_once`]:
    /// handed over whole when no more came, else only to say that it holds
    /// some. They are read with the records in every case below.
    ///
    /// Without `guess`, a batch of up to [`Db::ONE_READ_BLOCKS`] blocks
    /// asks for every row it may need with the records, in one read.
    /// Otherwise the first read is the documents' records, `waiting`, and
    /// whether (without a guess) `pending` holds anything. With `guess`
    /// (this handle's cache says every block's parents are heads of its
    /// document: a peer's next change of a document this page holds, most
    /// gossip) that is all when the records confirm it ([`next_of_heads`]).
    /// Else the second read asks only what the records leave open:
    /// - where a block of the batch is stored, unless it cannot be: a
    ///   stored block belongs to a document with a record, and is a head
    ///   of it or below one, so its height is at most the record's highest
    ///   head's (heights are checked against the parents at every merge).
    ///   A batch of new changes (a catch-up) reads none;
    /// - where a parent from outside the batch is stored, unless it is a
    ///   head of its document (the record says so);
    /// - the `pending` rows of all of them, only if `pending` holds any
    ///   (or, after a guess the records denied, was not asked).
    ///
    /// A second read with nothing to ask is not made.
    async fn snapshot(
        &self,
        tx: &mut S::Tx<'_>,
        blocks: &[SignedBlock],
        defs: BTreeMap<String, Result<Rc<CollectionDef>, Error>>,
        guess: bool,
    ) -> Result<Snapshot, Error> {
        let mut names: Vec<DocName> = blocks.iter().map(|b| (b.block.col.clone(), b.doc_id().to_owned())).collect();
        names.sort_unstable();
        names.dedup();
        let batch: HashSet<Cid> = blocks.iter().map(|b| b.cid).collect();
        let mut outside: Vec<Cid> =
            blocks.iter().flat_map(|b| b.block.parents.iter().copied()).filter(|p| !batch.contains(p)).collect();
        outside.sort_unstable();
        outside.dedup();
        let cids: Vec<Cid> = blocks.iter().map(|b| b.cid).chain(outside.iter().copied()).collect();
        // A few blocks without a guess: everything in one read, as a second
        // round trip would cost more than the requests it saves.
        let at_once = !guess && blocks.len() <= Self::ONE_READ_BLOCKS;
        let mut reads: Vec<(Table, Vec<u8>)> =
            names.iter().map(|(col, id)| (Table::Documents, doc_key(col, id))).collect();
        if at_once {
            reads.extend(cids.iter().map(|c| (Table::PacksBy, c.to_bytes())));
            reads.extend(cids.iter().map(|c| (Table::Pending, c.to_bytes())));
        }
        // After a guess the records deny, every `pending` row is read.
        let most = Self::waiting_read_at_once(blocks.len());
        let first = (Table::Waiting, most + 1);
        let tables: &[(Table, usize)] = if guess || at_once { &[first] } else { &[first, (Table::Pending, 1)] };
        let (values, mut keys) = tx.get_each_and_keys(&reads, tables).await?;
        let any_pending = keys.get(1).is_none_or(|k| !k.is_empty());
        let rows = keys.swap_remove(0);
        let waiting = Waiting::of((rows.len() <= most).then_some(rows));
        let mut values = values.into_iter();
        let docs = records_of(names.iter().cloned(), values.by_ref().take(names.len()))?;
        if guess {
            if next_of_heads(blocks, |name| docs.get(name).map(|d| &d.1)) {
                // Every parent is stored (a head), and so no block of the
                // batch is: a stored block's parents are heads no more. Nor
                // is one pending: a pending block lacks a parent.
                return Ok(Snapshot {
                    defs,
                    blocks: HashMap::new(),
                    pending: HashMap::new(),
                    docs,
                    waiting,
                    refused_lately: self.refused_lately(blocks),
                });
            }
            tracing::debug!("the cache's heads were not the records': the rest of the snapshot read after");
        }
        let heads: HashSet<Cid> = docs.values().flat_map(|(_, h)| h.iter().map(|(c, _)| *c)).collect();
        // Where each block may be stored: a parent that is a head of its
        // document is (the planner knows it from the record), so its pack
        // is not read.
        type Rows = HashMap<Cid, Option<Vec<u8>>>;
        let (located, pending): (Rows, Rows) = if at_once {
            let located = cids.iter().copied().zip(values.by_ref().take(cids.len()));
            let located = located.filter(|(c, _)| batch.contains(c) || !heads.contains(c)).collect();
            (located, cids.iter().copied().zip(values).collect())
        } else {
            let highest = |b: &SignedBlock| {
                let name: DocName = (b.block.col.clone(), b.doc_id().to_owned());
                docs.get(&name).and_then(|(_, h)| h.iter().map(|(_, height)| *height).max())
            };
            let may_be_stored: Vec<Cid> = blocks
                .iter()
                .filter(|b| highest(b).is_some_and(|top| b.block.height <= top))
                .map(|b| b.cid)
                .chain(outside.iter().copied().filter(|p| !heads.contains(p)))
                .collect();
            let mut reads: Vec<(Table, Vec<u8>)> =
                may_be_stored.iter().map(|c| (Table::PacksBy, c.to_bytes())).collect();
            if any_pending {
                reads.extend(cids.iter().map(|c| (Table::Pending, c.to_bytes())));
            }
            let values = if reads.is_empty() { Vec::new() } else { tx.get_each(&reads).await? };
            let mut values = values.into_iter();
            let located = may_be_stored.iter().copied().zip(values.by_ref().take(may_be_stored.len())).collect();
            let pending = match any_pending {
                true => cids.iter().copied().zip(values).collect(),
                false => cids.iter().map(|c| (*c, None)).collect(),
            };
            (located, pending)
        };
        // The stored ones among the batch and its parents (usually none: a
        // batch is mostly new, and its parents heads), read from their packs.
        let located = cids.iter().map(|c| located.get(c).cloned().flatten());
        let found = Blocks::default().read(tx, &cids, located.collect()).await?;
        let blocks_rows: HashMap<Cid, Option<Vec<u8>>> = cids.iter().copied().zip(found).collect();
        let refused_lately = self.refused_lately(blocks);
        Ok(Snapshot { defs, blocks: blocks_rows, pending, docs, waiting, refused_lately })
    }

    /// The batch's parents refused by earlier imports, and why.
    fn refused_lately(&self, blocks: &[SignedBlock]) -> HashMap<Cid, Error> {
        let lately = self.refused_lately.borrow();
        blocks.iter().flat_map(|b| &b.block.parents).filter_map(|p| Some((*p, lately.peek(p)?.clone()))).collect()
    }

    /// Reads what the planner stopped for, and feeds it the answers.
    async fn read_for(&self, tx: &mut S::Tx<'_>, reads: Reads, planner: &mut Planner) -> Result<(), Error> {
        for parent in reads.waiting {
            let prefix = parent.to_bytes();
            let keys = tx.scan_keys(Table::Waiting, &KeyRange::prefix(&prefix), None).await?;
            planner.waiting_read(parent, keys.into_iter().map(|k| k[prefix.len()..].to_vec()).collect());
        }
        let rows: Vec<(Table, Vec<u8>)> = reads.pending.iter().map(|c| (Table::Pending, c.to_bytes())).collect();
        if !rows.is_empty() {
            for (cid, row) in reads.pending.into_iter().zip(tx.get_each(&rows).await?) {
                planner.pending_read(cid, row);
            }
        }
        if !reads.blocks.is_empty() {
            let found = Blocks::default().get(tx, &reads.blocks).await?;
            for (cid, row) in reads.blocks.into_iter().zip(found) {
                planner.block_read(cid, row);
            }
        }
        for name in reads.collections {
            let def = self.collection_or_refusal(&name).await?;
            planner.collection_read(name, def);
        }
        Ok(())
    }
    /// Drops the pending blocks that wait for any of `parents`, and those
    /// that wait for them in turn: for parents no peer has, so that blocks
    /// hanging from nothing do not pile up. Returns the dropped blocks.
    /// (Should the parents turn up after all, head exchange sends the
    /// dropped blocks again.)
    pub async fn drop_pending(&self, parents: &[Cid]) -> Result<Vec<Cid>, Error> {
        let mut tx = self.store.begin(Mode::Write).await?;
        let mut dropped = Vec::new();
        let mut queue: VecDeque<Vec<u8>> = parents.iter().map(Cid::to_bytes).collect();
        while let Some(parent) = queue.pop_front() {
            for key in tx.scan_keys(Table::Waiting, &KeyRange::prefix(&parent), None).await? {
                tx.delete(Table::Waiting, &key).await?;
                let child = key[parent.len()..].to_vec();
                if let Some(bytes) = tx.get(Table::Pending, &child).await? {
                    let cid = Cid::try_from(child.as_slice()).map_err(StoreError::new)?;
                    // Its rows under its other missing parents go too, or
                    // they would name a block that is not pending.
                    for p in SignedBlock::decode_stored(bytes, cid)?.block.parents {
                        tx.delete(Table::Waiting, &[p.to_bytes(), child.clone()].concat()).await?;
                    }
                    tx.delete(Table::Pending, &child).await?;
                    dropped.push(cid);
                    queue.push_back(child);
                }
            }
        }
        tx.commit().await?;
        Ok(dropped)
    }

    /// Drops these pending blocks (those still pending), with their
    /// `waiting` entries. Returns how many were dropped.
    pub async fn drop_pending_blocks(&self, cids: &[Cid]) -> Result<usize, Error> {
        let mut tx = self.store.begin(Mode::Write).await?;
        let mut dropped = 0;
        for cid in cids {
            let key = cid.to_bytes();
            let Some(bytes) = tx.get(Table::Pending, &key).await? else { continue };
            let b = SignedBlock::decode_stored(bytes, *cid)?;
            for p in &b.block.parents {
                tx.delete(Table::Waiting, &[p.to_bytes(), key.clone()].concat()).await?;
            }
            tx.delete(Table::Pending, &key).await?;
            dropped += 1;
        }
        tx.commit().await?;
        Ok(dropped)
    }

    /// How many verified blocks wait for missing parents.
    pub async fn pending_count(&self) -> Result<usize, Error> {
        let mut tx = self.store.begin_read(&[Table::Pending]).await?;
        Ok(tx.count(Table::Pending, &KeyRange::all()).await?)
    }

    /// Every merged block, to hand to another replica's [`Db::import`].
    /// In CID order.
    pub async fn export(&self) -> Result<Vec<Vec<u8>>, Error> {
        let mut tx = self.store.begin_read(&[Table::Packs]).await?;
        Ok(layout::all_blocks(&mut tx).await?.into_iter().map(|(_, v)| v).collect())
    }

    pub async fn get(&self, col: &str, id: &str) -> Result<Option<Map<String, Value>>, Error> {
        self.collection(col).await?;
        Ok(self.read_doc(col, id).await?.filter(|d| !d.0.deleted).map(|d| d.0.document(id)))
    }

    /// The document's heads, as CIDs.
    pub async fn heads(&self, col: &str, id: &str) -> Result<Vec<Cid>, Error> {
        self.collection(col).await?;
        let heads: Vec<Cid> =
            self.read_doc(col, id).await?.map(|d| d.1.iter().map(|h| h.0).collect()).unwrap_or_default();
        if heads.is_empty() {
            return Err(Error::NotFound { collection: col.into(), id: id.into() });
        }
        Ok(heads)
    }

    /// A document's state and heads, from the cache or from its record
    /// (then kept in the cache).
    async fn read_doc(&self, col: &str, id: &str) -> Result<Option<cache::Doc>, Error> {
        let key = doc_key(col, id);
        if let Some(doc) = self.cache.as_ref().and_then(|c| c.get(&key)) {
            return Ok(Some(doc));
        }
        let stamp = self.cache.as_ref().map(|c| c.stamp());
        let Some(bytes) = self.store.get_one(Table::Documents, &key).await? else { return Ok(None) };
        let doc = Rc::new(unrecord(&bytes)?);
        if let (Some(cache), Some(stamp)) = (&self.cache, stamp) {
            cache.fill(stamp, key, doc.clone(), bytes.len());
        }
        Ok(Some(doc))
    }

    /// The documents that match `query` (a JSON object: filter, order, limit, offset).
    pub async fn find(&self, col: &str, query: &Value) -> Result<Vec<Map<String, Value>>, Error> {
        let def = self.collection(col).await?;
        let query = Query::parse(query, &def)?;
        // Without an order the page is a slice of the matches in `_id`
        // order, so only its end's worth of them is needed, in that order.
        let first = match (query.order.is_empty(), query.limit) {
            (true, Some(limit)) => Some(query.offset.saturating_add(limit)),
            _ => None,
        };
        let mut docs = self.matching(&def, query.filter.as_ref(), first).await?;
        query.sort(&mut docs);
        Ok(query.page(docs))
    }

    /// [`Db::find`]'s documents as JSON text (an array). A query the index
    /// answers exactly ([`Db::exact_find`]) returns its index entries as
    /// they are stored, decoding none: they are the documents as `find`
    /// returns them, in the same order.
    pub async fn find_text(&self, col: &str, query: &Value) -> Result<String, Error> {
        self.collection(col).await?;
        let Some(exact) = self.exact_find(col, query) else {
            let docs = self.find(col, query).await?;
            return Ok(serde_json::to_string(&docs).expect("documents encode as JSON"));
        };
        let mut tx = self.store.begin_read(&[Table::Entries]).await?;
        let rows = tx.scan_values(Table::Entries, &exact.range, exact.enough()).await?;
        let rows = rows.get(exact.offset..).unwrap_or_default();
        let mut text = Vec::with_capacity(rows.iter().map(|r| r.len() + 1).sum::<usize>() + 2);
        text.push(b'[');
        for (i, row) in rows.iter().enumerate() {
            if i > 0 {
                text.push(b',');
            }
            text.extend_from_slice(row);
        }
        text.push(b']');
        String::from_utf8(text).map_err(|_| StoreError("corrupt index entry: not UTF-8".into()).into())
    }

    /// Where `find(col, query)`'s documents are stored as it returns them,
    /// when they are: a query with no order whose filter is one `_eq` (or
    /// an `_in` of one value) on an indexed field (`exact_ranges`) reads
    /// one range of index entries, in `_id` order as `find` without an order
    /// returns them, and each entry is the document as `find` returns it
    /// (`layout::entry`). `None` for any other query, or when `col`'s
    /// schema is not loaded yet, or the query is not valid: `find` answers
    /// those (and says what is wrong). Reads nothing.
    pub fn exact_find(&self, col: &str, query: &Value) -> Option<ExactFind> {
        let def = self.schemas.borrow().get(col).cloned()?;
        let query = Query::parse(query, &def).ok()?;
        if !query.order.is_empty() {
            return None;
        }
        // The entries of one value are in id order; those of several are not.
        let [range] = <[KeyRange; 1]>::try_from(exact_ranges(&def, query.filter.as_ref())?).ok()?;
        Some(ExactFind { range, offset: query.offset, limit: query.limit })
    }

    pub async fn count(&self, col: &str, query: &Value) -> Result<usize, Error> {
        let def = self.collection(col).await?;
        let query = Query::parse(query, &def)?;
        Ok(self.matching(&def, query.filter.as_ref(), None).await?.len())
    }

    /// The visible documents that match `filter`, found through an index
    /// when the filter allows it. `first`: the caller needs only the first
    /// that many in `_id` order. The scan of the `docs` table meets documents
    /// in that order, so it stops there; an index meets them in value order,
    /// where the first few are not the first few by id, and an id lookup
    /// reads only the documents it names anyway.
    async fn matching(
        &self,
        def: &CollectionDef,
        filter: Option<&Filter>,
        first: Option<usize>,
    ) -> Result<Vec<Map<String, Value>>, Error> {
        let col = def.name.as_str();
        let plan = filter.map_or(IndexPlan::Scan, |f| f.plan(def));
        let mut tx = self.store.begin_read(&[Table::Documents, Table::Entries]).await?;
        let ranges: Vec<KeyRange> = match plan {
            IndexPlan::Scan => {
                let prefix = doc_key(col, "");
                let rows = tx.scan_values(Table::Documents, &KeyRange::prefix(&prefix), None).await?;
                return collect_matching(rows, filter, first);
            }
            IndexPlan::Id { ids } => {
                let keys: Vec<Vec<u8>> = ids.iter().map(|id| doc_key(col, id)).collect();
                let rows = tx.get_many(Table::Documents, &keys).await?.into_iter().flatten().collect();
                return collect_matching(rows, filter, None);
            }
            IndexPlan::Eq { field, values } => eq_ranges(col, &field, &values),
            IndexPlan::Range { field, lower, upper } => {
                let prefix = index_prefix(col, &field);
                let (lo, hi) = encoded_range(&lower, &upper);
                let with = |b: std::ops::Bound<Vec<u8>>| b.map(|k| [prefix.as_slice(), &k].concat());
                let mut range = KeyRange { lower: with(lo), upper: with(hi) };
                if matches!(range.upper, std::ops::Bound::Unbounded) {
                    range.upper = KeyRange::prefix(&prefix).upper;
                }
                vec![range]
            }
        };
        let mut out = Vec::new();
        // The page's serde_json (without `float_roundtrip`, ~11 KB of its
        // wasm; native builds have it) may read a shortest-form double back
        // one ULP off: a document whose entry holds a number that is not an
        // integer is read from its record instead (DAG-CBOR keeps the bits).
        let mut exact = Vec::new();
        for range in ranges {
            for row in tx.scan_values(Table::Entries, &range, None).await? {
                let doc = unentry(&row)?;
                if doc.values().any(has_float) {
                    exact.push(doc_key(col, doc.get("_id").and_then(Value::as_str).unwrap_or_default()));
                } else if filter.is_none_or(|f| f.matches(&doc)) {
                    out.push(doc);
                }
            }
        }
        if !exact.is_empty() {
            let rows = tx.get_many(Table::Documents, &exact).await?.into_iter().flatten().collect();
            out.extend(collect_matching(rows, filter, None)?);
        }
        Ok(out)
    }

    /// Calls `f` after every committed change, local or merged: once per
    /// document a transaction changed, with the document as it left it
    /// (a batch that brings ten of a document's blocks is one change; no
    /// read ever saw the states between them, nor a document a batch both
    /// creates and deletes, which is not told of). A change
    /// merged from a peer as soon as it is merged, which may be before its
    /// commit (a `get` then shows it, from the cache) and, for the next
    /// change of a cached document, before its transaction begins
    /// (`Db::tell_ahead`). If the store then merges it otherwise (another
    /// tab's commit not heard yet), `f` hears the stored outcome too; if
    /// the import fails, nothing more: the document is as it was, and the
    /// peer sends the change again (then heard again). Within one commit,
    /// [`Db::subscribe_stored`] listeners hear a merge before these.
    pub fn subscribe(&self, f: impl Fn(&Change) + 'static) -> ListenerId {
        self.listen(f, true)
    }

    /// [`Db::subscribe`], but a merged change only once its commit is
    /// asked for, when a read through another connection to the store (the
    /// other tabs) runs after it: when the other tabs are told
    /// ([`Db::subscribe_commits`], which they hear through).
    pub fn subscribe_stored(&self, f: impl Fn(&Change) + 'static) -> ListenerId {
        self.listen(f, false)
    }

    /// [`Db::subscribe_stored`], but the changes one commit told at once,
    /// in one call (the other tabs hear them in one post).
    pub fn subscribe_commits(&self, f: impl Fn(&[Change]) + 'static) -> ListenerId {
        let id = self.next_id();
        self.commit_listeners.borrow_mut().push((id, Rc::new(f)));
        id
    }

    fn listen(&self, f: impl Fn(&Change) + 'static, ahead: Ahead) -> ListenerId {
        let id = self.next_id();
        self.listeners.borrow_mut().push((id, Rc::new(f), ahead));
        id
    }

    fn next_id(&self) -> ListenerId {
        let id = self.next_listener.get();
        self.next_listener.set(id + 1);
        id
    }

    pub fn unsubscribe(&self, id: ListenerId) {
        self.listeners.borrow_mut().retain(|(l, _, _)| *l != id);
        self.commit_listeners.borrow_mut().retain(|(l, _)| *l != id);
    }

    /// Removes every listener of changes ([`Db::subscribe`],
    /// [`Db::subscribe_stored`], [`Db::subscribe_commits`]): a closed
    /// database tells no one of anything, and lets go of what its listeners
    /// hold.
    pub fn unsubscribe_all(&self) {
        self.listeners.borrow_mut().clear();
        self.commit_listeners.borrow_mut().clear();
    }

    /// Tells the subscribers of `changes`.
    fn tell(&self, changes: &[Change]) {
        self.tell_only(changes, |_| true);
    }

    /// Tells the subscribers `who` picks of `changes`.
    fn tell_only(&self, changes: &[Change], who: impl Fn(Ahead) -> bool) {
        // A listener may subscribe or unsubscribe while it runs.
        let listeners: Vec<Listener> =
            self.listeners.borrow().iter().filter(|(_, _, a)| who(*a)).map(|(_, l, _)| l.clone()).collect();
        for c in changes {
            for l in &listeners {
                l(c);
            }
        }
        if who(false) && !changes.is_empty() {
            let commits: Vec<CommitListener> = self.commit_listeners.borrow().iter().map(|(_, l)| l.clone()).collect();
            for l in commits {
                l(changes);
            }
        }
    }

    /// Tells this database's subscribers of a change committed through
    /// another connection to the same store (another tab of the page's
    /// origin), as if it had been committed here.
    pub fn notify(&self, change: &Change) {
        // Whatever order the tabs' channels deliver in, a subscriber's `get`
        // must not show the document as it was before this change.
        if let Some(cache) = &self.cache {
            cache.forget(&doc_key(&change.collection, &change.id));
        }
        self.tell(std::slice::from_ref(change));
    }

    /// Calls `f` for every block stored and folded in after its
    /// transaction commits: local writes and merges alike.
    /// Returns the id [`Db::remove_hook`] takes.
    pub fn on_block(&self, f: impl Fn(&Merged) + 'static) -> ListenerId {
        let id = self.next_id();
        self.block_listeners.borrow_mut().push((id, Rc::new(f)));
        id
    }

    /// Calls `f` for every block stored and folded in, twice: inside its
    /// transaction ([`Commit::Writing`]), where the rows it returns commit
    /// with the block or not at all (the node's replication outbox is
    /// written this way), and once that has committed ([`Commit::Done`]).
    /// A node hears of every block through this one hook.
    /// Returns the id [`Db::remove_hook`] takes.
    pub fn on_commit(&self, f: impl Fn(Commit, &Merged) -> Vec<Row> + 'static) -> ListenerId {
        let id = self.next_id();
        self.commit_hooks.borrow_mut().push((id, Rc::new(f)));
        id
    }

    /// Removes an [`Db::on_block`] listener or an [`Db::on_commit`] hook:
    /// a node that stops takes its own away (a page's node stops and starts
    /// again on one database as tabs hand the lead over), so no stopped
    /// node's sinks keep filling nor its old replicators writing outbox rows.
    pub fn remove_hook(&self, id: ListenerId) {
        self.block_listeners.borrow_mut().retain(|(l, _)| *l != id);
        self.commit_hooks.borrow_mut().retain(|(l, _)| *l != id);
    }

    /// Writes what the transaction has made so far: its new blocks in
    /// packs, and the records of the documents it touched (a later block of
    /// the same document reads the record back from the transaction).
    async fn flush(&self, tx: &mut S::Tx<'_>, fx: &mut Effects) -> Result<(), Error> {
        let blocks: Vec<(Cid, &[u8])> = fx.blocks[fx.packed..].iter().map(|m| (m.cid, m.bytes.as_slice())).collect();
        layout::put_blocks(tx, &blocks).await?;
        fx.packed = fx.blocks.len();
        // Told once per document per flush: a document touched again
        // after a flush midway (only `create_many` flushes so, and it
        // creates) would be told again, each state in order.
        fx.changes.extend(changes_of(&fx.docs));
        let written = self.write_touched(tx, std::mem::take(&mut fx.docs)).await?;
        fx.written.extend(written);
        Ok(())
    }

    /// Writes the rest and commits. Subscribers ([`Db::subscribe`]) hear
    /// the changes of blocks from elsewhere once they are verified, merged
    /// and written, before the commit completes: should it fail (the page
    /// dies, the disk fails), those blocks are still their senders', who
    /// send them again (an ack follows the commit; head exchange repairs
    /// the rest on the next connection). A local write's subscribers hear
    /// it only once it is durable, as its promise resolves. Hooks and block
    /// listeners always hear after the commit.
    async fn commit(&self, mut tx: S::Tx<'_>, mut fx: Effects) -> Result<(), Error> {
        self.flush(&mut tx, &mut fx).await?;
        // Forgotten (and told to the other tabs) before any subscriber
        // hears: one may `get` the document at once.
        let keys: Vec<&[u8]> = fx.written.iter().map(|(k, _, _)| k.as_slice()).collect();
        let stamp = self.cache.as_ref().map(|c| c.committing(&keys));
        let hooks: Vec<CommitHook> = self.commit_hooks.borrow().iter().map(|(_, h)| h.clone()).collect();
        for b in &fx.blocks {
            for hook in &hooks {
                for (table, key, value) in hook(Commit::Writing, b) {
                    // An open takes every value there for a schema or the key.
                    if table == Table::Meta && read_on_open(&key) {
                        return Err(
                            StoreError("a commit hook may not write meta from schema/ to signing-key".into()).into()
                        );
                    }
                    tx.put(table, &key, &value).await?;
                }
            }
        }
        // IndexedDB asks for the commit as `commit` is called, before the
        // future is awaited: the other tabs are told while it flushes.
        let done = tx.commit();
        if let Some(cache) = &self.cache {
            cache.commit_asked(&keys);
        }
        drop(keys);
        // Merged blocks from elsewhere: heard while the commit flushes (or
        // before, from the cache: then only where the records differed).
        if !fx.blocks.is_empty() && fx.blocks.iter().all(|b| !b.local) {
            let changes = std::mem::take(&mut fx.changes);
            self.tell_only(&changes, |ahead| !ahead);
            if fx.told.is_empty() {
                self.tell_only(&changes, |ahead| ahead);
            } else {
                let mut fresh: Vec<Change> = changes.iter().filter(|c| !fx.told.contains(c)).cloned().collect();
                fresh.extend(told_otherwise(&fx.told, &changes, &fx.written));
                self.tell_only(&fresh, |ahead| ahead);
            }
        }
        done.await?;
        if let (Some(cache), Some(stamp)) = (&self.cache, stamp) {
            cache.committed(stamp, std::mem::take(&mut fx.written));
        }
        for b in &fx.blocks {
            self.recent.borrow_mut().keep(&b.cid, &b.bytes);
            for hook in &hooks {
                hook(Commit::Done, b);
            }
        }
        self.emit(fx);
        Ok(())
    }

    fn emit(&self, fx: Effects) {
        self.tell(&fx.changes);
        let block_listeners: Vec<BlockListener> =
            self.block_listeners.borrow().iter().map(|(_, l)| l.clone()).collect();
        for b in &fx.blocks {
            for l in &block_listeners {
                l(b);
            }
        }
    }
}

/// The index entries that are exactly a query's result ([`Db::exact_find`]):
/// those in `range`, past the first `offset`, at most `limit` of them.
#[derive(Debug, Clone, PartialEq)]
pub struct ExactFind {
    pub range: KeyRange,
    pub offset: usize,
    pub limit: Option<usize>,
}

impl ExactFind {
    /// How many entries the read needs from the range's start (`None`: all).
    pub fn enough(&self) -> Option<usize> {
        self.limit.map(|l| l.saturating_add(self.offset))
    }
}

/// The index ranges of an equality plan: one per value (a value that no
/// field can hold, an object or a list, has none).
fn eq_ranges(col: &str, field: &str, values: &[Value]) -> Vec<KeyRange> {
    let prefix = index_prefix(col, field);
    values
        .iter()
        .filter_map(encode_index_value)
        .map(|enc| KeyRange::prefix(&[prefix.as_slice(), &enc].concat()))
        .collect()
}

/// The index ranges that hold exactly the documents `filter` matches, when
/// there are such: a filter of one `_eq` or `_in` on an indexed field.
/// Every visible document has an entry per indexed field (null included),
/// and two values encode alike exactly when they compare equal
/// ([`encode_index_value`]), so the entries under the values' keys are the
/// matches: by value, then by id (a value's are in the order [`Db::find`]
/// gives them without an order).
fn exact_ranges(def: &CollectionDef, filter: Option<&Filter>) -> Option<Vec<KeyRange>> {
    let Some(filter @ Filter::Cmp { field, op: CmpOp::Eq | CmpOp::In, .. }) = filter else { return None };
    match filter.plan(def) {
        IndexPlan::Eq { field: planned, values } if planned == *field => Some(eq_ranges(&def.name, field, &values)),
        _ => None,
    }
}

/// Whether a value holds a number that is not an integer.
pub(crate) fn has_float(v: &Value) -> bool {
    match v {
        Value::Number(n) => n.is_f64(),
        Value::Array(items) => items.iter().any(has_float),
        Value::Object(o) => o.values().any(has_float),
        _ => false,
    }
}

/// The visible documents among stored document records that match
/// `filter`: all of them, or the first `enough` in the rows' order.
fn collect_matching(
    rows: Vec<Vec<u8>>,
    filter: Option<&Filter>,
    enough: Option<usize>,
) -> Result<Vec<Map<String, Value>>, Error> {
    let enough = enough.unwrap_or(usize::MAX);
    let mut out = Vec::new();
    for v in rows {
        let (id, state) = record_doc(&v)?;
        if state.deleted {
            continue;
        }
        let doc = state.document(&id);
        if filter.is_none_or(|f| f.matches(&doc)) {
            out.push(doc);
            if out.len() >= enough {
                break;
            }
        }
    }
    Ok(out)
}

/// A block this replica made, if every peer would take it by size.
fn fits_a_block(b: SignedBlock) -> Result<SignedBlock, Error> {
    if b.bytes.len() > MAX_BLOCK_BYTES {
        return Err(ValidationError {
            field: None,
            message: format!(
                "the document is too large: its block would be {} bytes, more than the {MAX_BLOCK_BYTES} a block may have",
                b.bytes.len()
            ),
        }
        .into());
    }
    Ok(b)
}

/// The length of every document id: a CIDv1 (dag-cbor, sha2-256) in
/// base32 is `b` and 58 characters.
pub const ID_LEN: usize = 59;

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::rc::Rc;

    use futures::executor::block_on;
    use serde_json::json;

    use super::*;
    use crate::store::{FailingStore, MemoryStore};

    const SDL: &str = "type Book { title: String @index }";

    /// A block whose commit failed is not stored, so a walk for a peer
    /// must not find it in memory (`db::recent`): only a commit that is
    /// done keeps its blocks.
    #[test]
    fn a_failed_commit_keeps_no_block_in_memory() {
        block_on(async {
            let store = FailingStore::new(MemoryStore::new());
            let db = Db::open(store.clone()).await.unwrap();
            db.add_schema(SDL).await.unwrap();
            let id = db.create("Book", json!({"title": "Dune"}).as_object().unwrap()).await.unwrap();
            let kept = db.heads("Book", &id).await.unwrap();
            store.fail_commit(1);
            let err = db.update("Book", &id, json!({"title": "Dune II"}).as_object().unwrap()).await.unwrap_err();
            assert_eq!(err.code(), "STORAGE");
            assert_eq!(db.heads("Book", &id).await.unwrap(), kept, "the head stays");
            let recent = db.recent.borrow();
            assert!(recent.get(&kept[0].to_bytes()).is_some(), "the committed block is kept");
            assert_eq!(recent.len(), 1, "and nothing else: the failed change's block is not");
        });
    }

    /// A merged change reaches subscribers before its commit completes; a
    /// local write only once it has committed.
    #[test]
    fn subscribers_hear_a_merge_before_its_commit_and_a_local_write_after() {
        block_on(async {
            let theirs = Db::open(MemoryStore::new()).await.unwrap();
            theirs.add_schema(SDL).await.unwrap();
            let id = theirs.create("Book", json!({"title": "Dune"}).as_object().unwrap()).await.unwrap();
            let store = FailingStore::new(MemoryStore::new());
            let db = Db::open(store.clone()).await.unwrap();
            db.add_schema(SDL).await.unwrap();
            let heard = Rc::new(RefCell::new(Vec::new()));
            db.subscribe({
                let heard = heard.clone();
                move |c| heard.borrow_mut().push(c.id.clone())
            });
            store.fail_commit(1);
            let err = db.import(&theirs.export().await.unwrap()).await.unwrap_err();
            assert_eq!(err.code(), "STORAGE");
            assert_eq!(*heard.borrow(), vec![id.clone()], "heard before the commit, which then failed");
            assert_eq!(db.get("Book", &id).await.unwrap(), None, "not stored");
            // Sent again, it merges and is heard again.
            db.import(&theirs.export().await.unwrap()).await.unwrap();
            assert_eq!(heard.borrow().len(), 2);
            assert!(db.get("Book", &id).await.unwrap().is_some());
            // A local write whose commit fails is never heard.
            store.fail_commit(1);
            let err = db.create("Book", json!({"title": "Emma"}).as_object().unwrap()).await.unwrap_err();
            assert_eq!(err.code(), "STORAGE");
            assert_eq!(heard.borrow().len(), 2);
            // A change whose commit fails is not kept: the get reads it as stored.
            store.fail_commit(1);
            let err = db.update("Book", &id, json!({"title": "Dune II"}).as_object().unwrap()).await.unwrap_err();
            assert_eq!(err.code(), "STORAGE");
            assert_eq!(db.get("Book", &id).await.unwrap().unwrap()["title"], "Dune");
        });
    }

    fn title(doc: Option<Map<String, Value>>) -> Option<Value> {
        doc.map(|d| d["title"].clone())
    }

    /// Two handles on one memory store, and a book "Dune" the first made.
    async fn two_handles_and_a_book() -> (Db<MemoryStore>, Db<MemoryStore>, String) {
        let store = MemoryStore::new();
        let a = Db::open(store.clone()).await.unwrap();
        a.add_schema(SDL).await.unwrap();
        let b = Db::open(store).await.unwrap();
        let id = a.create("Book", json!({"title": "Dune"}).as_object().unwrap()).await.unwrap();
        (a, b, id)
    }

    /// A peer's change of `doc`'s title on `parents`, at `height`.
    fn titled(doc: Cid, parents: Vec<Cid>, height: u64, title: &str) -> SignedBlock {
        let key = SigningKey::from_bytes(&[9; 32]);
        Block::change("Book", doc, parents, height, json!({ "title": title }).as_object().unwrap().clone(), false, &key)
    }

    /// A peer's change merged by a handle whose cache is behind another
    /// handle's commit (its notice not heard yet): the cache says the
    /// change's parent is the document's head, the record says otherwise,
    /// and the merge goes by the record (the change is a branch beside the
    /// other handle's).
    #[test]
    fn a_merge_goes_by_the_record_when_the_cached_heads_are_behind() {
        block_on(async {
            let (a, b, id) = two_handles_and_a_book().await;
            assert_eq!(title(b.get("Book", &id).await.unwrap()), Some(json!("Dune")));
            let genesis = b.heads("Book", &id).await.unwrap();
            let heard = Rc::new(RefCell::new(Vec::new()));
            b.subscribe({
                let heard = heard.clone();
                move |c| heard.borrow_mut().push(title(c.doc.clone()))
            });
            // A peer's change on the genesis, made elsewhere.
            let doc: Cid = id.parse().unwrap();
            let theirs = titled(doc, genesis.clone(), 2, "Dune!");
            // The other handle changes the book twice (its title then wins
            // by height); this one does not hear of it.
            a.update("Book", &id, json!({"title": "Dune I"}).as_object().unwrap()).await.unwrap();
            a.update("Book", &id, json!({"title": "Dune II"}).as_object().unwrap()).await.unwrap();
            b.cache.as_ref().unwrap().lose_heard();
            assert_eq!(b.cache.as_ref().unwrap().get(&doc_key("Book", &id)).unwrap().1[0].0, genesis[0], "stale");
            let report = b.import(std::slice::from_ref(&theirs.bytes)).await.unwrap();
            assert_eq!((report.merged, report.duplicate, report.pending), (1, 0, 0));
            let mut heads = a.heads("Book", &id).await.unwrap();
            heads.sort();
            let mut theirs_view = b.heads("Book", &id).await.unwrap();
            theirs_view.sort();
            assert_eq!(theirs_view, heads);
            let ours = a.heads("Book", &id).await.unwrap().into_iter().find(|c| *c != theirs.cid).unwrap();
            let mut want = vec![ours, theirs.cid];
            want.sort();
            assert_eq!(heads, want, "both branches");
            // Both handles show the higher title; b's subscribers heard the
            // cache's guess first, then the stored outcome.
            assert_eq!(title(a.get("Book", &id).await.unwrap()), Some(json!("Dune II")));
            assert_eq!(title(b.get("Book", &id).await.unwrap()), Some(json!("Dune II")));
            assert_eq!(*heard.borrow(), vec![Some(json!("Dune!")), Some(json!("Dune II"))]);
        });
    }

    /// A change by a handle whose cache is behind another handle's commit
    /// (its notice not heard yet) goes by the record read in its
    /// transaction: its parent is the other handle's last block, and the
    /// document keeps one head (no lost update). `Db::change` never looks
    /// at the cache; this guards against a change that would build on the
    /// cached heads. (Session 44 tried signing the block from them while
    /// the record was read, kept only if the record's heads matched; not
    /// kept, BENCHMARKS.md. This test failed that build with its check of
    /// the heads taken out.)
    #[test]
    fn a_change_goes_by_the_record_when_the_cached_heads_are_behind() {
        block_on(async {
            let (a, b, id) = two_handles_and_a_book().await;
            assert_eq!(title(b.get("Book", &id).await.unwrap()), Some(json!("Dune")));
            let genesis = b.heads("Book", &id).await.unwrap();
            a.update("Book", &id, json!({"title": "Dune I"}).as_object().unwrap()).await.unwrap();
            a.update("Book", &id, json!({"title": "Dune II"}).as_object().unwrap()).await.unwrap();
            b.cache.as_ref().unwrap().lose_heard();
            let key = doc_key("Book", &id);
            assert_eq!(b.cache.as_ref().unwrap().get_committed(&key).unwrap().1[0].0, genesis[0], "stale");
            let before = a.heads("Book", &id).await.unwrap();
            b.update("Book", &id, json!({"title": "Dune III"}).as_object().unwrap()).await.unwrap();
            let after = a.heads("Book", &id).await.unwrap();
            assert_eq!(after.len(), 1, "one head, not a branch beside a's");
            assert_eq!(b.heads("Book", &id).await.unwrap(), after);
            let (ours, _) = decode_each(&b.export().await.unwrap());
            let made = ours.into_iter().find(|block| block.cid == after[0]).unwrap();
            assert_eq!(made.block.parents, before, "built on a's last change");
            assert_eq!(title(a.get("Book", &id).await.unwrap()), Some(json!("Dune III")));
        });
    }

    /// A peer's next change of a cached document is heard before its
    /// transaction; if the import then fails, the cache forgets it (a `get`
    /// reads the store, which has the document as it was), and the change
    /// sent again is merged and heard again.
    #[test]
    fn a_change_told_ahead_whose_import_fails_is_not_kept() {
        block_on(async {
            let store = FailingStore::new(MemoryStore::new());
            let db = Db::open(store.clone()).await.unwrap();
            db.add_schema(SDL).await.unwrap();
            let id = db.create("Book", json!({"title": "Dune"}).as_object().unwrap()).await.unwrap();
            let doc: Cid = id.parse().unwrap();
            let heads = db.heads("Book", &id).await.unwrap();
            let theirs = titled(doc, heads, 2, "Dune!");
            let heard = Rc::new(RefCell::new(Vec::new()));
            db.subscribe({
                let heard = heard.clone();
                move |c| heard.borrow_mut().push(title(c.doc.clone()))
            });
            // The commit fails, or the transaction cannot even begin.
            for fail in [FailingStore::fail_commit as fn(&FailingStore<MemoryStore>, u64), |s, _| s.fail_begin()] {
                heard.borrow_mut().clear();
                fail(&store, 1);
                let err = db.import(std::slice::from_ref(&theirs.bytes)).await.unwrap_err();
                assert_eq!(err.code(), "STORAGE");
                assert_eq!(*heard.borrow(), vec![Some(json!("Dune!"))], "told ahead, once");
                assert_eq!(title(db.get("Book", &id).await.unwrap()), Some(json!("Dune")), "not kept");
            }
            db.import(std::slice::from_ref(&theirs.bytes)).await.unwrap();
            assert_eq!(heard.borrow().len(), 2, "heard again");
            assert_eq!(title(db.get("Book", &id).await.unwrap()), Some(json!("Dune!")));
            // A change that shows nothing new (the same title) is kept in the
            // cache ahead of its transaction and told to no one; failing, it
            // is forgotten too: the heads are the stored ones.
            let heads = db.heads("Book", &id).await.unwrap();
            let same = titled(doc, heads.clone(), 3, "Dune!");
            store.fail_begin();
            db.import(std::slice::from_ref(&same.bytes)).await.unwrap_err();
            assert_eq!(heard.borrow().len(), 2, "nothing to tell");
            assert_eq!(db.heads("Book", &id).await.unwrap(), heads);
        });
    }

    /// A tab's subscribers hear another tab's change (`Db::notify`, from
    /// the tabs' channel), which may arrive before that tab's cache notice
    /// (another channel): a `get` they make shows the change, not the
    /// document cached before it.
    #[test]
    fn a_change_told_by_another_tab_is_not_read_from_the_cache() {
        block_on(async {
            let (a, b, id) = two_handles_and_a_book().await;
            assert_eq!(title(b.get("Book", &id).await.unwrap()), Some(json!("Dune")));
            a.update("Book", &id, json!({"title": "Dune II"}).as_object().unwrap()).await.unwrap();
            b.cache.as_ref().unwrap().lose_heard();
            assert_eq!(title(b.get("Book", &id).await.unwrap()), Some(json!("Dune")), "the notice not arrived yet");
            let doc = a.get("Book", &id).await.unwrap();
            b.notify(&Change { collection: "Book".into(), id: id.clone(), kind: ChangeKind::Update, doc });
            assert_eq!(title(b.get("Book", &id).await.unwrap()), Some(json!("Dune II")));
        });
    }

    /// Two handles on one store (two tabs on one IndexedDB database): each
    /// keeps the documents it reads or writes in its cache, and a commit by
    /// the other makes it forget them, so it never shows the older state.
    #[test]
    fn a_cached_document_follows_the_other_handles_commits() {
        block_on(async {
            let (a, b, id) = two_handles_and_a_book().await;
            assert_eq!(a.cache.as_ref().unwrap().len(), 1, "a write is kept");
            assert_eq!(title(b.get("Book", &id).await.unwrap()), Some(json!("Dune")));
            assert_eq!(b.cache.as_ref().unwrap().len(), 1, "a read is kept");
            a.update("Book", &id, json!({"title": "Dune II"}).as_object().unwrap()).await.unwrap();
            assert_eq!(title(b.get("Book", &id).await.unwrap()), Some(json!("Dune II")));
            assert_eq!(b.heads("Book", &id).await.unwrap(), a.heads("Book", &id).await.unwrap());
            b.update("Book", &id, json!({"title": "Dune III"}).as_object().unwrap()).await.unwrap();
            assert_eq!(title(a.get("Book", &id).await.unwrap()), Some(json!("Dune III")));
            b.delete("Book", &id).await.unwrap();
            assert_eq!(a.get("Book", &id).await.unwrap(), None);
            // A commit of more documents than a notice names: the others forget all.
            let other = a.create("Book", json!({"title": "Emma"}).as_object().unwrap()).await.unwrap();
            assert_eq!(title(b.get("Book", &other).await.unwrap()), Some(json!("Emma")));
            let many: Vec<Map<String, Value>> = (0..=cache::NAMED_AT_MOST)
                .map(|i| json!({"title": format!("t{i}")}).as_object().unwrap().clone())
                .collect();
            a.create_many("Book", &many).await.unwrap();
            a.update("Book", &other, json!({"title": "Emma II"}).as_object().unwrap()).await.unwrap();
            assert_eq!(title(b.get("Book", &other).await.unwrap()), Some(json!("Emma II")));
            // Merged blocks from elsewhere are told too.
            let c = Db::open(MemoryStore::new()).await.unwrap();
            c.add_schema(SDL).await.unwrap();
            c.import(&a.export().await.unwrap()).await.unwrap();
            c.update("Book", &other, json!({"title": "Emma III"}).as_object().unwrap()).await.unwrap();
            b.import(&c.export().await.unwrap()).await.unwrap();
            assert_eq!(title(a.get("Book", &other).await.unwrap()), Some(json!("Emma III")));
            assert_eq!(title(b.get("Book", &other).await.unwrap()), Some(json!("Emma III")));
        });
    }
}
