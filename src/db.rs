//! The database: the core's rules applied to a [`Store`], one transaction
//! per change.
//!
//! Local writes and blocks from elsewhere take the same path: a block is
//! built (or decoded and verified), then [`Db::merge`]d inside one write
//! transaction that stores the block, moves the heads, folds the block into
//! the document's registers and keeps the indexes right. Because heads are
//! read and written inside that transaction, two writers on one database
//! (two tabs) never lose each other's change.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::num::NonZeroUsize;
use std::rc::Rc;

use lru::LruCache;

use cid::Cid;
use ed25519_dalek::SigningKey;
use serde_bytes::ByteBuf;
use serde_json::{Map, Value};

use crate::core::block::{cid_of, Block, BlockError, SignedBlock, MAX_BLOCK_BYTES, MAX_PARENTS};
use crate::core::doc::{DocState, Heads};
use crate::core::query::{encode_index_value, encoded_range, Filter, IndexPlan, Query};
use crate::core::schema::{hex, parse_sdl, CollectionDef, SchemaError, ValidationError, WritePolicy};
use crate::error::Error;
use crate::store::{KeyRange, Mode, Store, StoreError, Table, Tx};

const META_KEY: &[u8] = b"signing-key";
const META_SCHEMA: &[u8] = b"schema/";

/// What a committed change did to a document, as subscribers see it.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub collection: String,
    pub id: String,
    pub kind: ChangeKind,
    /// The document after the change; `None` after a delete.
    pub doc: Option<Map<String, Value>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Create,
    Update,
    Delete,
}

impl ChangeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Create => "create",
            ChangeKind::Update => "update",
            ChangeKind::Delete => "delete",
        }
    }
}

/// A block newly stored and folded in, as the network layer sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Merged {
    pub cid: Cid,
    pub bytes: Vec<u8>,
    pub collection: String,
    pub doc: String,
    pub height: u64,
    /// Written on this replica (not merged from elsewhere).
    pub local: bool,
    /// Who it came from, as the importer named it ([`Db::import_from`]; the
    /// node: the peer's id). Carried with the block rather than kept beside
    /// the database, so a local write committing while an import awaits is
    /// never taken for the peer's.
    pub source: Option<Rc<[u8]>>,
}

/// A row that a [`Db::on_commit`] hook adds to the transaction of the block
/// that calls for it.
pub type Row = (Table, Vec<u8>, Vec<u8>);

/// What one transaction did, told to listeners once it has committed.
#[derive(Debug, Default)]
struct Effects {
    changes: Vec<Change>,
    blocks: Vec<Merged>,
    /// Documents changed in this transaction, written once at commit
    /// however many of their blocks it folds in (a backfill brings a
    /// document's whole history in one batch).
    docs: BTreeMap<Vec<u8>, Touched>,
    /// Document and height of the blocks folded in by this transaction,
    /// so a child's check finds its parent without decoding it again.
    folded: HashMap<Cid, (Cid, String, u64)>,
    /// Where the blocks of this transaction came from ([`Merged::source`]).
    source: Option<Rc<[u8]>>,
}

/// What an import reads before it merges anything, in a few batched reads
/// rather than several awaited ones per block (each a round trip to
/// IndexedDB's backend in a page).
struct Prefetched {
    /// Blocks stored or pending already; the import adds each it takes.
    stored: HashSet<Cid>,
    /// Stored parents from outside the batch, with their bytes.
    parents: HashMap<Cid, Vec<u8>>,
    /// State and heads of the stored documents the batch changes.
    docs: HashMap<Vec<u8>, (DocState, Heads)>,
    /// Whether any block was pending before this import.
    waiters: bool,
}

impl Prefetched {
    async fn read<T: Tx>(tx: &mut T, blocks: &[SignedBlock]) -> Result<Self, Error> {
        let batch: HashSet<Cid> = blocks.iter().map(|b| b.cid).collect();
        let mut outside: Vec<Cid> =
            blocks.iter().flat_map(|b| b.block.parents.iter().copied()).filter(|p| !batch.contains(p)).collect();
        outside.sort();
        outside.dedup();
        let mut doc_keys: Vec<Vec<u8>> = blocks.iter().map(|b| doc_key(&b.block.col, &b.doc().to_string())).collect();
        doc_keys.sort();
        doc_keys.dedup();
        // Every read at once: the batch in blocks and pending, the parents
        // from outside it, the documents' states and heads.
        let (n, m, d) = (blocks.len(), outside.len(), doc_keys.len());
        let mut reads: Vec<(Table, Vec<u8>)> = Vec::with_capacity(2 * n + m + 2 * d);
        reads.extend(blocks.iter().map(|b| (Table::Blocks, b.cid.to_bytes())));
        reads.extend(blocks.iter().map(|b| (Table::Pending, b.cid.to_bytes())));
        reads.extend(outside.iter().map(|c| (Table::Blocks, c.to_bytes())));
        reads.extend(doc_keys.iter().map(|k| (Table::Docs, k.clone())));
        reads.extend(doc_keys.iter().map(|k| (Table::Heads, k.clone())));
        let (values, waiters) = tx.get_each_and_any(&reads, Table::Waiting).await?;
        let mut values = values.into_iter();
        let in_blocks: Vec<Option<Vec<u8>>> = values.by_ref().take(n).collect();
        let in_pending: Vec<Option<Vec<u8>>> = values.by_ref().take(n).collect();
        let stored: HashSet<Cid> = blocks
            .iter()
            .zip(in_blocks.iter().zip(&in_pending))
            .filter(|(_, (a, b))| a.is_some() || b.is_some())
            .map(|(b, _)| b.cid)
            .collect();
        // Stored parents: from outside the batch, and batch blocks stored before.
        let mut parents: HashMap<Cid, Vec<u8>> =
            outside.into_iter().zip(values.by_ref().take(m)).filter_map(|(c, v)| Some((c, v?))).collect();
        parents.extend(blocks.iter().zip(in_blocks).filter_map(|(b, v)| Some((b.cid, v?))));
        let states: Vec<Option<Vec<u8>>> = values.by_ref().take(d).collect();
        let mut docs = HashMap::new();
        for ((key, state), heads) in doc_keys.into_iter().zip(states).zip(values) {
            if let Some(state) = state {
                let heads: Heads = match heads {
                    Some(h) => uncbor(&h)?,
                    None => Vec::new(),
                };
                docs.insert(key, (uncbor(&state)?, heads));
            }
        }
        Ok(Prefetched { stored, parents, docs, waiters })
    }
}

/// A document as this transaction leaves it, and as it found it.
#[derive(Debug)]
struct Touched {
    col: String,
    id: String,
    /// `None`: created in this transaction.
    stored: Option<DocState>,
    state: DocState,
    heads: Heads,
}

/// A block an import did not take, and why. Nothing of it is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub cid: Cid,
    /// [`Error::code`] of the reason: `BLOCK_INVALID` (a block no honest
    /// replica makes: undecodable, not canonical, a bad signature or
    /// height), `UNAUTHORIZED` (the collection's policy), `UNKNOWN_COLLECTION`
    /// or `VALIDATION` (its fields do not fit this replica's schema).
    pub code: &'static str,
    pub message: String,
}

impl Refusal {
    pub fn new(cid: Cid, e: &Error) -> Self {
        Refusal { cid, code: e.code(), message: e.to_string() }
    }

    /// A refusal that no honest peer causes, held against the sender.
    /// The others come of schemas and policies that differ between
    /// replicas, and of blocks forwarded in good faith.
    pub fn is_fault(&self) -> bool {
        self.code == "BLOCK_INVALID"
    }
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

/// Whether `e` refuses one block (and the import goes on with the others)
/// rather than failing the whole import (the store's errors).
fn refuses_block(e: &Error) -> bool {
    matches!(e, Error::Block(_) | Error::Unauthorized(_) | Error::UnknownCollection(_) | Error::Validation(_))
}

/// What an import has done so far: its report, what it refused (with
/// why, for their children), and the blocks it set aside as pending.
#[derive(Default)]
struct Outcome {
    report: ImportReport,
    refused: HashMap<Cid, Error>,
    set_aside: BTreeSet<Cid>,
}

/// How many refused blocks a database remembers, to refuse their children.
const REFUSED_REMEMBERED: usize = 4096;

/// What became of blocks handed to [`Db::import`].
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ImportReport {
    /// Blocks merged into their documents (including pending ones they released).
    pub merged: usize,
    /// Blocks already held.
    pub duplicate: usize,
    /// Blocks kept aside until their missing parents arrive.
    pub pending: usize,
    /// Parents that blocks wait for and that are nowhere here, to fetch.
    pub missing: Vec<Cid>,
    /// Blocks of this import not taken, in the order they came; the
    /// others were. A child of a refused block is refused with it.
    pub refused: Vec<Refusal>,
    /// Blocks pending from earlier imports that turned out refused (a
    /// parent arrived and they do not fit it, or a parent was refused):
    /// dropped, and not the doing of whoever sent this import.
    pub dropped: Vec<Refusal>,
    /// The blocks of `pending`, with their sizes (the node books them to
    /// their sender, [`crate::core::pending`]).
    pub held: Vec<(Cid, usize)>,
}

pub type ListenerId = u64;
type Listener = Rc<dyn Fn(&Change)>;
type BlockListener = Rc<dyn Fn(&Merged)>;
type CommitHook = Rc<dyn Fn(&Merged) -> Vec<Row>>;

pub struct Db<S: Store> {
    store: S,
    key: SigningKey,
    schemas: RefCell<BTreeMap<String, Rc<CollectionDef>>>,
    listeners: RefCell<Vec<(ListenerId, Listener)>>,
    block_listeners: RefCell<Vec<BlockListener>>,
    commit_hooks: RefCell<Vec<CommitHook>>,
    next_listener: Cell<ListenerId>,
    /// Blocks refused lately, and why: their children are refused on sight
    /// rather than kept pending for a parent that will never merge.
    refused_lately: RefCell<LruCache<Cid, Error>>,
}

pub(crate) fn doc_key(col: &str, id: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(col.len() + id.len() + 1);
    k.extend_from_slice(col.as_bytes());
    k.push(0);
    k.extend_from_slice(id.as_bytes());
    k
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

fn random_nonce() -> [u8; 8] {
    let mut n = [0; 8];
    getrandom::getrandom(&mut n).expect("the platform has a random source");
    n
}

impl<S: Store> Db<S> {
    /// Opens a database on `store`, making its signing key on first open.
    /// Only the key and the schemas are read: nothing grows with the data.
    pub async fn open(store: S) -> Result<Self, Error> {
        let key = Self::signing_key_in(&store).await?;
        let db = Db {
            store,
            key,
            schemas: RefCell::default(),
            listeners: RefCell::default(),
            block_listeners: RefCell::default(),
            commit_hooks: RefCell::default(),
            next_listener: Cell::new(0),
            refused_lately: RefCell::new(LruCache::new(NonZeroUsize::new(REFUSED_REMEMBERED).expect("not zero"))),
        };
        db.reload_schemas().await?;
        Ok(db)
    }

    /// The replica's key, made and stored on first open. Read first, so an
    /// open that finds it takes no write lock.
    async fn signing_key_in(store: &S) -> Result<SigningKey, Error> {
        let stored = store.begin_read(&[Table::Meta]).await?.get(Table::Meta, META_KEY).await?;
        let seed = match stored {
            Some(seed) => seed,
            None => {
                let mut tx = store.begin(Mode::Write).await?;
                // Another tab may have made it in the meantime.
                let seed = match tx.get(Table::Meta, META_KEY).await? {
                    Some(seed) => seed,
                    None => {
                        let mut seed = vec![0u8; 32];
                        getrandom::getrandom(&mut seed).expect("the platform has a random source");
                        tx.put(Table::Meta, META_KEY, &seed).await?;
                        seed
                    }
                };
                tx.commit().await?;
                seed
            }
        };
        let seed: [u8; 32] = seed.try_into().map_err(|_| StoreError("corrupt signing key".into()))?;
        Ok(SigningKey::from_bytes(&seed))
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    /// The key that signs this replica's blocks (and is its network identity).
    pub fn signing_key(&self) -> &SigningKey {
        &self.key
    }

    /// This replica's public key in lowercase hex: the form a collection's
    /// `@policy(writers: [...])` lists.
    pub fn author_key(&self) -> String {
        hex(self.key.verifying_key().as_bytes())
    }

    async fn reload_schemas(&self) -> Result<(), Error> {
        let mut tx = self.store.begin_read(&[Table::Meta]).await?;
        let rows = tx.scan(Table::Meta, &KeyRange::prefix(META_SCHEMA), None).await?;
        let mut schemas = BTreeMap::new();
        for (_, v) in rows {
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
        let blocks = inputs
            .iter()
            .map(|input| fits_a_block(Block::genesis(col, def.validate_create(input)?, random_nonce(), &self.key)))
            .collect::<Result<Vec<_>, Error>>()?;
        let mut tx = self.store.begin(Mode::Write).await?;
        let mut fx = Effects::default();
        for b in &blocks {
            self.apply(&mut tx, b, &def, None, true, &mut fx).await?;
        }
        self.commit(tx, fx).await?;
        Ok(blocks.iter().map(|b| b.cid.to_string()).collect())
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
        let state = match self.state(&mut tx, col, id).await? {
            None => return Err(Error::NotFound { collection: col.into(), id: id.into() }),
            Some(s) if s.deleted => return Err(Error::Deleted { collection: col.into(), id: id.into() }),
            Some(s) => s,
        };
        self.may_write(def, Some((id, &state)))?;
        let heads = self.heads_in(&mut tx, col, id).await?;
        // At most MAX_PARENTS parents, the highest heads: a wider block no
        // peer would take. The heads left out stay heads for the next write.
        let mut by_height = heads.clone();
        by_height.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        by_height.truncate(MAX_PARENTS);
        let height = by_height.iter().map(|h| h.1).max().unwrap_or(0) + 1;
        let parents = by_height.iter().map(|h| h.0).collect();
        let b = fits_a_block(Block::change(col, doc, parents, height, fields, del, &self.key))?;
        let mut fx = Effects::default();
        self.apply(&mut tx, &b, def, Some((state, heads)), true, &mut fx).await?;
        self.commit(tx, fx).await?;
        Ok(())
    }

    /// Whether the collection's policy lets this replica's key write: a new
    /// document (`None`), or a change to `doc`. Checked before any block is
    /// made, by the same rule ([`WritePolicy::allows`]) every peer applies.
    fn may_write(&self, def: &CollectionDef, doc: Option<(&str, &DocState)>) -> Result<(), Error> {
        let author = self.key.verifying_key().to_bytes();
        let owner = doc.and_then(|(_, s)| s.owner.as_ref().map(|o| o.as_slice()));
        if def.policy.allows(&author, doc.is_none(), owner) {
            return Ok(());
        }
        Err(unauthorized(def, &author, doc.map(|(id, _)| id)))
    }

    async fn state(&self, tx: &mut S::Tx<'_>, col: &str, id: &str) -> Result<Option<DocState>, Error> {
        match tx.get(Table::Docs, &doc_key(col, id)).await? {
            Some(bytes) => Ok(Some(uncbor(&bytes)?)),
            None => Ok(None),
        }
    }

    pub(crate) async fn heads_in(&self, tx: &mut S::Tx<'_>, col: &str, id: &str) -> Result<Heads, Error> {
        match tx.get(Table::Heads, &doc_key(col, id)).await? {
            Some(bytes) => Ok(uncbor(&bytes)?),
            None => Ok(Vec::new()),
        }
    }

    /// Folds a block whose parents are all stored into its document. The
    /// document, its heads and index entries are written at commit
    /// ([`Db::write_touched`]); the block itself at once.
    async fn apply(
        &self,
        tx: &mut S::Tx<'_>,
        b: &SignedBlock,
        def: &CollectionDef,
        // The document's state and heads when the caller has just read them
        // in this transaction (a local change), so they are not read twice.
        known: Option<(DocState, Heads)>,
        local: bool,
        fx: &mut Effects,
    ) -> Result<(), Error> {
        let col = def.name.as_str();
        let doc = b.doc();
        let id = doc.to_string();
        let key = doc_key(col, &id);
        if def.policy == WritePolicy::Owner && !b.block.is_genesis() {
            let owner = match (fx.docs.get(&key), &known) {
                (Some(t), _) => t.state.owner.clone(),
                (None, Some((state, _))) => state.owner.clone(),
                (None, None) => self.state(tx, col, &id).await?.and_then(|s| s.owner),
            };
            self.check_owner(b, def, owner.as_ref())?;
        }
        let mut touched = match fx.docs.remove(&key) {
            Some(t) => t,
            None => {
                let (stored, heads) = match known {
                    Some((state, heads)) => (Some(state), heads),
                    None if b.block.is_genesis() => (None, Vec::new()),
                    None => {
                        let state = self.state(tx, col, &id).await?;
                        let state = state.ok_or_else(|| malformed("the document's genesis is missing"))?;
                        (Some(state), self.heads_in(tx, col, &id).await?)
                    }
                };
                let state = stored.clone().unwrap_or_default();
                Touched { col: col.into(), id: id.clone(), stored, state, heads }
            }
        };
        let was_visible = !b.block.is_genesis() && !touched.state.deleted;
        if b.block.is_genesis() && def.policy == WritePolicy::Owner {
            touched.state.owner = Some(b.block.author.clone());
        }
        let applied = touched.state.apply(b);
        touched.heads.retain(|(c, _)| !b.block.parents.contains(c));
        touched.heads.push((b.cid, b.block.height));
        touched.heads.sort();
        tx.put(Table::Blocks, &b.cid.to_bytes(), &b.bytes).await?;
        fx.folded.insert(b.cid, (doc, col.into(), b.block.height));
        fx.blocks.push(Merged {
            cid: b.cid,
            bytes: b.bytes.clone(),
            collection: col.into(),
            doc: id.clone(),
            height: b.block.height,
            local,
            source: fx.source.clone(),
        });

        let kind = if b.block.is_genesis() {
            Some(ChangeKind::Create)
        } else if applied.deleted {
            Some(ChangeKind::Delete)
        } else if was_visible && !applied.changed.is_empty() {
            Some(ChangeKind::Update)
        } else {
            None
        };
        // A deleted document tells of nothing but its deletion.
        if let Some(kind) = kind.filter(|k| *k == ChangeKind::Delete || !touched.state.deleted) {
            let doc = (kind != ChangeKind::Delete).then(|| touched.state.document(&id));
            fx.changes.push(Change { collection: col.into(), id, kind, doc });
        }
        fx.docs.insert(key, touched);
        Ok(())
    }

    /// Writes each document the transaction touched: its state, its heads,
    /// and its index entries as they differ from what was stored.
    async fn write_touched(&self, tx: &mut S::Tx<'_>, docs: &BTreeMap<Vec<u8>, Touched>) -> Result<(), Error> {
        for (key, t) in docs {
            let def = self.collection(&t.col).await?;
            let col = t.col.as_str();
            let state_bytes = cbor(&t.state);
            let entry_bytes = [t.id.as_bytes(), &state_bytes].concat();
            for field in def.fields.iter().filter(|f| f.indexed) {
                // A visible document has one index entry per indexed field,
                // null included. The entry carries the document (its id,
                // then its state), so a query through the index is one
                // range read of values, not a read per document.
                let entry = |s: &DocState| s.value(&field.name).cloned().unwrap_or(Value::Null);
                let old = t.stored.as_ref().filter(|s| !s.deleted).map(entry);
                let new = (!t.state.deleted).then(|| entry(&t.state));
                if old != new {
                    if let Some(k) = old.and_then(|v| index_key(col, &field.name, &v, &t.id)) {
                        tx.delete(Table::Index, &k).await?;
                    }
                }
                if let Some(k) = new.and_then(|v| index_key(col, &field.name, &v, &t.id)) {
                    tx.put(Table::Index, &k, &entry_bytes).await?;
                }
            }
            tx.put(Table::Heads, key, &cbor(&t.heads)).await?;
            tx.put(Table::Docs, key, &state_bytes).await?;
        }
        Ok(())
    }

    /// Checks what a block from elsewhere must satisfy whatever else is
    /// stored, so before it may wait in `pending`: its fields fit the
    /// collection's schema (in normal form) and, under a writers list, its
    /// author is on it.
    fn check_alone(b: &SignedBlock, def: &CollectionDef) -> Result<(), Error> {
        if let WritePolicy::Writers(_) = def.policy {
            if !def.policy.allows(&b.block.author, b.block.is_genesis(), None) {
                let doc = (!b.block.is_genesis()).then(|| b.doc().to_string());
                return Err(unauthorized(def, &b.block.author, doc.as_deref()));
            }
        }
        // Fields that do not fit are this replica's schema differing from
        // the writer's (VALIDATION); fields that fit but are not in the form
        // every replica writes are no honest replica's (BLOCK_INVALID).
        let normalised = if b.block.is_genesis() {
            def.validate_create(&b.block.fields)?
        } else if !b.block.fields.is_empty() {
            def.validate_update(&b.block.fields)?
        } else {
            return Ok(());
        };
        if normalised != b.block.fields {
            return Err(malformed("fields are not in normal form"));
        }
        Ok(())
    }

    /// Checks what a block from elsewhere must satisfy against its stored
    /// parents: they belong to the same document and its height follows
    /// theirs.
    async fn check_parents(
        &self,
        tx: &mut S::Tx<'_>,
        b: &SignedBlock,
        fx: &Effects,
        stored: &HashMap<Cid, Vec<u8>>,
    ) -> Result<(), Error> {
        if b.block.is_genesis() {
            return Ok(());
        }
        let mut max = 0;
        for p in &b.block.parents {
            let (doc, col, height) = match fx.folded.get(p) {
                Some(folded) => folded.clone(),
                None => {
                    let bytes = match stored.get(p) {
                        Some(bytes) => bytes.clone(),
                        None => tx
                            .get(Table::Blocks, &p.to_bytes())
                            .await?
                            .ok_or_else(|| malformed("a parent is missing"))?,
                    };
                    let parent = SignedBlock::decode_stored(bytes, *p)?;
                    (parent.doc(), parent.block.col, parent.block.height)
                }
            };
            if doc != b.doc() || col != b.block.col {
                return Err(malformed("a parent belongs to another document"));
            }
            max = max.max(height);
        }
        if b.block.height != max + 1 {
            return Err(malformed("height does not follow the parents'"));
        }
        Ok(())
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
    pub async fn import_from(&self, blocks: Vec<SignedBlock>, source: Option<Rc<[u8]>>) -> Result<ImportReport, Error> {
        let mut defs: BTreeMap<String, Result<Rc<CollectionDef>, Error>> = BTreeMap::new();
        for b in &blocks {
            if !defs.contains_key(&b.block.col) {
                let def = match self.collection(&b.block.col).await {
                    Err(e) if !refuses_block(&e) => return Err(e),
                    def => def,
                };
                defs.insert(b.block.col.clone(), def);
            }
        }
        let mut out = Outcome::default();
        let mut sizes: HashMap<Cid, usize> = HashMap::new();
        let mut fx = Effects { source, ..Effects::default() };
        let mut tx = self.store.begin(Mode::Write).await?;
        let mut known = Prefetched::read(&mut tx, &blocks).await?;
        for b in blocks {
            // Duplicates within the batch count as duplicates too.
            if known.stored.contains(&b.cid) {
                out.report.duplicate += 1;
                continue;
            }
            let key = doc_key(&b.block.col, &b.doc().to_string());
            let checked = match &defs[&b.block.col] {
                Err(e) => Err(e.clone()),
                Ok(def) => match self.refused_parent(&b, &out.refused) {
                    Some(e) => Err(e),
                    None => Self::check_alone(&b, def)
                        .and_then(|()| {
                            // The owner, where the document is here already.
                            let state = fx.docs.get(&key).map(|t| &t.state).or(known.docs.get(&key).map(|d| &d.0));
                            match state {
                                Some(state) if !b.block.is_genesis() => self.check_owner(&b, def, state.owner.as_ref()),
                                _ => Ok(()),
                            }
                        })
                        .map(|()| def.clone()),
                },
            };
            let def = match checked {
                Ok(def) => def,
                Err(e) => {
                    self.refuse(&mut tx, (b.cid, true), e, &mut out, known.waiters).await?;
                    continue;
                }
            };
            known.stored.insert(b.cid);
            let cid_key = b.cid.to_bytes();
            let mut missing = Vec::new();
            for p in &b.block.parents {
                let present = fx.folded.contains_key(p) || known.parents.contains_key(p);
                if !present {
                    missing.push(*p);
                }
            }
            if !missing.is_empty() {
                tx.put(Table::Pending, &cid_key, &b.bytes).await?;
                for p in missing {
                    tx.put(Table::Waiting, &[p.to_bytes(), cid_key.clone()].concat(), &[]).await?;
                    if tx.get(Table::Pending, &p.to_bytes()).await?.is_none() {
                        out.report.missing.push(p);
                    }
                }
                out.set_aside.insert(b.cid);
                sizes.insert(b.cid, b.bytes.len());
                continue;
            }
            let doc = known.docs.remove(&key);
            let folded = match self.check_parents(&mut tx, &b, &fx, &known.parents).await {
                Ok(()) => self.apply(&mut tx, &b, &def, doc.clone(), false, &mut fx).await,
                Err(e) => Err(e),
            };
            match folded {
                Ok(()) => out.report.merged += 1,
                Err(e) if refuses_block(&e) => {
                    if let Some(doc) = doc {
                        known.docs.insert(key, doc);
                    }
                    known.stored.remove(&b.cid);
                    self.refuse(&mut tx, (b.cid, true), e, &mut out, known.waiters).await?;
                    continue;
                }
                Err(e) => return Err(e),
            }
            // No one waits for this block unless something was pending
            // before, or was set aside just now.
            if known.waiters || !out.set_aside.is_empty() {
                self.release_waiting(&mut tx, b.cid, &mut fx, &mut out).await?;
            }
        }
        let mut report = out.report;
        report.pending = out.set_aside.len();
        report.held = out.set_aside.iter().map(|c| (*c, sizes.get(c).copied().unwrap_or(0))).collect();
        // A set, not a scan of the merged list per parent: large imports in
        // reverse order would otherwise be quadratic.
        let merged: BTreeSet<Cid> = fx.blocks.iter().map(|m| m.cid).collect();
        report.missing.retain(|c| !merged.contains(c) && !out.set_aside.contains(c));
        report.missing.sort();
        report.missing.dedup();
        self.commit(tx, fx).await?;
        // Refusals that hold whatever else arrives (not a collection this
        // replica may add later): their children are refused on sight.
        let mut lately = self.refused_lately.borrow_mut();
        for (cid, e) in out.refused {
            if !matches!(e, Error::UnknownCollection(_)) {
                lately.put(cid, e);
            }
        }
        Ok(report)
    }

    /// The refusal of a block's parent, in this import or lately: a block
    /// whose parent is refused can never merge here, so it is refused too.
    fn refused_parent(&self, b: &SignedBlock, refused: &HashMap<Cid, Error>) -> Option<Error> {
        let mut lately = self.refused_lately.borrow_mut();
        b.block.parents.iter().find_map(|p| refused.get(p).cloned().or_else(|| lately.get(p).cloned()))
    }

    /// Under an owner policy, whether `b`'s author owns the document `state`.
    fn check_owner(&self, b: &SignedBlock, def: &CollectionDef, owner: Option<&ByteBuf>) -> Result<(), Error> {
        let owner = owner.map(|o| o.as_slice());
        if def.policy == WritePolicy::Owner && !def.policy.allows(&b.block.author, false, owner) {
            return Err(unauthorized(def, &b.block.author, Some(&b.doc().to_string())));
        }
        Ok(())
    }

    /// Refuses `cid` for `e`, and with it the pending blocks that wait for
    /// it, transitively: they can never merge here. Those of this import
    /// (`cid` itself when `ours`) are reported `refused`; those that waited
    /// from earlier imports `dropped` (they are not the sender's doing).
    async fn refuse(
        &self,
        tx: &mut S::Tx<'_>,
        (cid, ours): (Cid, bool),
        e: Error,
        out: &mut Outcome,
        waiters: bool,
    ) -> Result<(), Error> {
        let refusal = Refusal::new(cid, &e);
        if ours {
            out.report.refused.push(refusal);
        } else {
            out.report.dropped.push(refusal);
        }
        out.refused.insert(cid, e.clone());
        if !waiters && out.set_aside.is_empty() {
            return Ok(());
        }
        let mut queue = VecDeque::from([cid]);
        while let Some(parent) = queue.pop_front() {
            let prefix = parent.to_bytes();
            for key in tx.scan_keys(Table::Waiting, &KeyRange::prefix(&prefix), None).await? {
                let child_key = &key[prefix.len()..];
                let Some(bytes) = tx.get(Table::Pending, child_key).await? else {
                    tx.delete(Table::Waiting, &key).await?;
                    continue;
                };
                let child = SignedBlock::decode_stored(bytes, Cid::try_from(child_key).map_err(StoreError::new)?)?;
                for p in &child.block.parents {
                    tx.delete(Table::Waiting, &[p.to_bytes(), child_key.to_vec()].concat()).await?;
                }
                tx.delete(Table::Pending, child_key).await?;
                let r = Refusal::new(child.cid, &e);
                if out.set_aside.remove(&child.cid) {
                    out.report.refused.push(r);
                } else {
                    out.report.dropped.push(r);
                }
                out.refused.insert(child.cid, e.clone());
                queue.push_back(child.cid);
            }
        }
        Ok(())
    }

    /// Merges the pending blocks that were waiting only for `cid` (and,
    /// transitively, for what they release). A pending block that turns out
    /// to be refused is dropped with what waits for it (the block that
    /// released it was valid and stays merged).
    async fn release_waiting(
        &self,
        tx: &mut S::Tx<'_>,
        cid: Cid,
        fx: &mut Effects,
        out: &mut Outcome,
    ) -> Result<(), Error> {
        let mut queue = VecDeque::from([cid]);
        while let Some(parent) = queue.pop_front() {
            let prefix = parent.to_bytes();
            let waiting = tx.scan_keys(Table::Waiting, &KeyRange::prefix(&prefix), None).await?;
            for key in waiting {
                tx.delete(Table::Waiting, &key).await?;
                let child_key = &key[prefix.len()..];
                let Some(bytes) = tx.get(Table::Pending, child_key).await? else { continue };
                let child = SignedBlock::decode_stored(bytes, Cid::try_from(child_key).map_err(StoreError::new)?)?;
                let mut ready = true;
                for p in &child.block.parents {
                    ready &= tx.get(Table::Blocks, &p.to_bytes()).await?.is_some();
                }
                if !ready {
                    continue;
                }
                tx.delete(Table::Pending, child_key).await?;
                let in_batch = out.set_aside.remove(&child.cid);
                let folded = match self.collection(&child.block.col).await {
                    Ok(def) => match self.check_parents(tx, &child, fx, &HashMap::new()).await {
                        Ok(()) => self.apply(tx, &child, &def, None, false, fx).await,
                        Err(e) => Err(e),
                    },
                    Err(e) => Err(e),
                };
                match folded {
                    Ok(()) => {
                        out.report.merged += 1;
                        queue.push_back(child.cid);
                    }
                    Err(e) if refuses_block(&e) => {
                        tracing::debug!(cid = %child.cid, error = %e, "dropping a refused pending block");
                        self.refuse(tx, (child.cid, in_batch), e, out, true).await?;
                    }
                    Err(e) => return Err(e),
                }
            }
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
                if tx.get(Table::Pending, &child).await?.is_some() {
                    tx.delete(Table::Pending, &child).await?;
                    dropped.push(Cid::try_from(child.as_slice()).map_err(StoreError::new)?);
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
    pub async fn export(&self) -> Result<Vec<Vec<u8>>, Error> {
        let mut tx = self.store.begin_read(&[Table::Blocks]).await?;
        Ok(tx.scan(Table::Blocks, &KeyRange::all(), None).await?.into_iter().map(|(_, v)| v).collect())
    }

    pub async fn get(&self, col: &str, id: &str) -> Result<Option<Map<String, Value>>, Error> {
        self.collection(col).await?;
        let mut tx = self.store.begin_read(&[Table::Docs]).await?;
        Ok(self.state(&mut tx, col, id).await?.filter(|s| !s.deleted).map(|s| s.document(id)))
    }

    /// The document's heads, as CIDs.
    pub async fn heads(&self, col: &str, id: &str) -> Result<Vec<Cid>, Error> {
        self.collection(col).await?;
        let mut tx = self.store.begin_read(&[Table::Heads]).await?;
        let heads = self.heads_in(&mut tx, col, id).await?;
        if heads.is_empty() {
            return Err(Error::NotFound { collection: col.into(), id: id.into() });
        }
        Ok(heads.into_iter().map(|h| h.0).collect())
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
        let mut tx = self.store.begin_read(&[Table::Docs, Table::Index]).await?;
        let ranges: Vec<KeyRange> = match plan {
            IndexPlan::Scan => {
                let prefix = doc_key(col, "");
                let rows = tx.scan(Table::Docs, &KeyRange::prefix(&prefix), None).await?;
                let rows = rows.into_iter().map(|(mut k, v)| (k.split_off(prefix.len()), v)).collect();
                return collect_matching(rows, filter, first);
            }
            IndexPlan::Id { ids } => {
                let keys: Vec<Vec<u8>> = ids.iter().map(|id| doc_key(col, id)).collect();
                let values = tx.get_many(Table::Docs, &keys).await?;
                let rows = ids.into_iter().zip(values).filter_map(|(id, v)| Some((id.into_bytes(), v?))).collect();
                return collect_matching(rows, filter, None);
            }
            IndexPlan::Eq { field, values } => {
                let prefix = index_prefix(col, &field);
                values
                    .iter()
                    .filter_map(encode_index_value)
                    .map(|enc| KeyRange::prefix(&[prefix.as_slice(), &enc].concat()))
                    .collect()
            }
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
        let mut rows = Vec::new();
        for range in ranges {
            for mut entry in tx.scan_values(Table::Index, &range, None).await? {
                if entry.len() < ID_LEN {
                    return Err(StoreError("corrupt index entry".into()).into());
                }
                let state = entry.split_off(ID_LEN);
                rows.push((entry, state));
            }
        }
        collect_matching(rows, filter, None)
    }

    /// Calls `f` after every committed change, local or merged.
    pub fn subscribe(&self, f: impl Fn(&Change) + 'static) -> ListenerId {
        let id = self.next_listener.get();
        self.next_listener.set(id + 1);
        self.listeners.borrow_mut().push((id, Rc::new(f)));
        id
    }

    pub fn unsubscribe(&self, id: ListenerId) {
        self.listeners.borrow_mut().retain(|(l, _)| *l != id);
    }

    /// Tells this database's subscribers of a change committed through
    /// another connection to the same store (another tab of the page's
    /// origin), as if it had been committed here.
    pub fn notify(&self, change: &Change) {
        let listeners: Vec<Listener> = self.listeners.borrow().iter().map(|(_, l)| l.clone()).collect();
        for l in &listeners {
            l(change);
        }
    }

    /// Calls `f` for every block stored and folded in after its
    /// transaction commits: local writes and merges alike.
    pub fn on_block(&self, f: impl Fn(&Merged) + 'static) {
        self.block_listeners.borrow_mut().push(Rc::new(f));
    }

    /// Calls `f` for every block stored and folded in, inside its
    /// transaction: the rows it returns commit with the block or not at all
    /// (the node's replication outbox is written this way).
    pub fn on_commit(&self, f: impl Fn(&Merged) -> Vec<Row> + 'static) {
        self.commit_hooks.borrow_mut().push(Rc::new(f));
    }

    async fn commit(&self, mut tx: S::Tx<'_>, fx: Effects) -> Result<(), Error> {
        self.write_touched(&mut tx, &fx.docs).await?;
        let hooks: Vec<CommitHook> = self.commit_hooks.borrow().clone();
        for b in &fx.blocks {
            for hook in &hooks {
                for (table, key, value) in hook(b) {
                    tx.put(table, &key, &value).await?;
                }
            }
        }
        tx.commit().await?;
        self.emit(fx);
        Ok(())
    }

    fn emit(&self, fx: Effects) {
        // A listener may subscribe or unsubscribe while it runs.
        let listeners: Vec<Listener> = self.listeners.borrow().iter().map(|(_, l)| l.clone()).collect();
        for c in &fx.changes {
            for l in &listeners {
                l(c);
            }
        }
        let block_listeners: Vec<BlockListener> = self.block_listeners.borrow().clone();
        for b in &fx.blocks {
            for l in &block_listeners {
                l(b);
            }
        }
    }
}

/// The visible documents among stored `(id, state)` rows that match
/// `filter`: all of them, or the first `enough` in the rows' order.
fn collect_matching(
    rows: Vec<(Vec<u8>, Vec<u8>)>,
    filter: Option<&Filter>,
    enough: Option<usize>,
) -> Result<Vec<Map<String, Value>>, Error> {
    let enough = enough.unwrap_or(usize::MAX);
    let mut out = Vec::new();
    for (id, v) in rows {
        let state: DocState = uncbor(&v)?;
        if state.deleted {
            continue;
        }
        let doc = state.document(std::str::from_utf8(&id).unwrap_or_default());
        if filter.is_none_or(|f| f.matches(&doc)) {
            out.push(doc);
            if out.len() >= enough {
                break;
            }
        }
    }
    Ok(out)
}

fn malformed(m: &str) -> Error {
    Error::Block(BlockError::Malformed(m.into()))
}

fn unauthorized(def: &CollectionDef, author: &[u8], doc: Option<&str>) -> Error {
    let (col, key) = (&def.name, hex(author));
    Error::Unauthorized(match (&def.policy, doc) {
        (WritePolicy::Owner, Some(id)) => {
            format!("{col} lets only a document's owner change it; key {key} does not own \"{id}\"")
        }
        _ => format!("key {key} is not among the writers of {col}"),
    })
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
