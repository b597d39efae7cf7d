//! The merge rules: which blocks from elsewhere an import takes, sets aside
//! until their parents come, or refuses, and what that writes, planned
//! without a store.
//!
//! [`Planner`] is given the batch of verified blocks and a [`Snapshot`] of
//! what the store holds for it (the collections' definitions, the batch's
//! blocks and parents in `blocks` and `pending`, the documents' states and
//! heads, the blocks refused lately), and applies the rules in the batch's
//! order:
//! - a block held already (stored or pending) is a duplicate;
//! - a block of an unknown collection, a child of a refused block, a block
//!   whose fields do not fit the schema (`VALIDATION`) or are not in its
//!   normal form (`BLOCK_INVALID`), or whose author the
//!   policy refuses (under an owner policy, when the document is here) is
//!   refused ([`check_alone`], [`check_owner`]);
//! - a block with a parent that is not stored waits in `pending`, with a
//!   `waiting` row per missing parent; the parents nowhere here are reported
//!   `missing`;
//! - any other is checked against its parents (same document, height one
//!   more than theirs: [`check_parents`]) and folded into its document
//!   ([`fold`]); then the pending blocks it was the last missing parent of
//!   are released, checked and folded in turn.
//!
//! A refused block takes with it the pending blocks that wait for it,
//! transitively: those of this batch are `refused`, those of earlier
//! imports `dropped` (no fault of this import's sender).
//!
//! ## Reads the snapshot does not hold: sans-IO
//!
//! Releasing and refusing pending blocks of earlier imports walks the
//! stored `waiting` and `pending` tables, which no snapshot can hold
//! whole in general (`waiting` it holds when there are few rows, below).
//! Which parts are needed is known only as the walk goes (a pending
//! child is read only if a parent of it merged or was refused; its parents
//! only if it is pending still), so a transitive prefetch would read more
//! than the walk does. Instead [`Planner::run`] stops where it needs
//! something it does not have and returns the [`Reads`] it needs, without
//! having changed anything for that step; the caller reads them, feeds the
//! answers ([`Planner::waiting_read`], [`Planner::pending_read`],
//! [`Planner::block_read`], [`Planner::collection_read`]) and runs it
//! again, until it returns `None`. Then [`Planner::finish`] gives the
//! [`Plan`]. Each stop asks for one `waiting` prefix, or for a level's
//! pending blocks or a block's parents at once, so the walk costs no more
//! round trips than reading as it goes would.
//!
//! Every read is of the store as the transaction found it: the planner
//! keeps what it has decided to write (an overlay of `pending` and
//! `waiting`, the blocks it folded) and looks through it, and the caller
//! writes the whole plan at the end, in the same transaction. When no
//! `waiting` row was stored before the import ([`Waiting::None`]),
//! nothing but the snapshot is ever needed; when the snapshot holds every
//! stored `waiting` row ([`Waiting::All`]: the store read them with
//! the records, there being few), no stop asks for one, and a merged block
//! under which nothing waits costs no read at all.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::rc::Rc;

use cid::Cid;
use serde_bytes::ByteBuf;
use serde_json::{Map, Value};

use super::block::{BlockError, SignedBlock};
use super::doc::{DocState, Heads};
use super::schema::{hex, CollectionDef, WritePolicy};
use super::{map_of, set_of};
use crate::error::Error;

/// What a committed change did to a document, as subscribers see it.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub collection: String,
    pub id: String,
    pub kind: ChangeKind,
    /// The document as the change's transaction left it; `None` after a
    /// delete.
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
    /// Who it came from, as the importer named it ([`crate::Db::import_from`];
    /// the node: the peer's id). Carried with the block rather than kept
    /// beside the database, so a local write committing while an import
    /// awaits is never taken for the peer's.
    pub source: Option<Rc<[u8]>>,
}

impl Merged {
    /// `doc`: `b`'s document id (`b.doc()` as text), which the caller has
    /// at hand ([`SignedBlock::doc_id`]).
    pub fn new(b: &SignedBlock, doc: String, local: bool, source: Option<Rc<[u8]>>) -> Self {
        debug_assert_eq!(doc, b.doc().to_string());
        Merged {
            cid: b.cid,
            bytes: b.bytes.clone(),
            collection: b.block.col.clone(),
            doc,
            height: b.block.height,
            local,
            source,
        }
    }
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

/// What became of blocks handed to [`crate::Db::import`].
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

/// A document by collection and id.
pub type DocName = (String, String);

/// A document as a transaction leaves it, and as it found it.
#[derive(Debug, Clone, PartialEq)]
pub struct Touched {
    pub col: String,
    pub id: String,
    /// `None`: created in this transaction.
    pub stored: Option<DocState>,
    pub state: DocState,
    pub heads: Heads,
    /// What subscribers hear of the document from the transaction so far,
    /// and when it first changed in it ([`Touched::note`], [`changes_of`]).
    pub change: Option<(usize, ChangeKind)>,
}

impl Touched {
    /// The document as stored (`None`: not yet).
    pub fn new(col: &str, id: &str, stored: Option<(DocState, Heads)>) -> Self {
        let (stored, heads) = match stored {
            Some((state, heads)) => (Some(state), heads),
            None => (None, Vec::new()),
        };
        Touched {
            col: col.into(),
            id: id.into(),
            state: stored.clone().unwrap_or_default(),
            stored,
            heads,
            change: None,
        }
    }

    /// Notes that one more block of the transaction, its `at`th, changed
    /// the document so: a document the transaction created stays created,
    /// and is not told of at all if it also deleted it (no read ever saw
    /// it); a deletion is the last word (`fold` tells nothing after it).
    pub fn note(&mut self, kind: ChangeKind, at: usize) {
        self.change = match (self.change, kind) {
            (Some((_, ChangeKind::Create)), ChangeKind::Delete) => None,
            (Some((first, ChangeKind::Create)), _) => Some((first, ChangeKind::Create)),
            (Some((first, _)), _) => Some((first, kind)),
            (None, _) => Some((at, kind)),
        };
    }
}

/// What subscribers hear of a transaction that leaves `docs` so: one
/// change per document it changed ([`Touched::note`]), whatever number of
/// its blocks the transaction folded in, with the document as the
/// transaction leaves it, in the order the documents first changed. (No
/// read ever sees a state between two blocks of one transaction, and a
/// backfill brings a document's history in one: telling each state would
/// build, copy and hand over a document per block.) Called once the
/// documents are done with: as their records are written.
pub fn changes_of(docs: &BTreeMap<DocName, Touched>) -> Vec<Change> {
    // Each document's first block has an index of its own: a slot each,
    // read in order (no sort, whose code the page's wasm would carry),
    // from the first noted (a bulk write's later packs start far in).
    let noted = || docs.values().filter_map(|t| Some((t.change?, t)));
    let Some(first) = noted().map(|((at, _), _)| at).min() else { return Vec::new() };
    let mut slots: Vec<Option<Change>> = Vec::new();
    for ((at, kind), t) in noted() {
        let doc = (kind != ChangeKind::Delete).then(|| t.state.document(&t.id));
        let i = at - first;
        if slots.len() <= i {
            slots.resize_with(i + 1, || None);
        }
        slots[i] = Some(Change { collection: t.col.clone(), id: t.id.clone(), kind, doc });
    }
    let mut changes = Vec::with_capacity(slots.len());
    // Not `flatten()`: its iterator's code costs the page's wasm more.
    #[allow(clippy::manual_flatten)]
    for c in slots {
        if let Some(c) = c {
            changes.push(c);
        }
    }
    changes
}

/// Folds `b`, whose checks have passed, into `doc`: its registers and its
/// heads. Returns what subscribers hear of it, if anything (to note:
/// [`Touched::note`]).
pub fn fold(doc: &mut Touched, b: &SignedBlock, def: &CollectionDef) -> Option<ChangeKind> {
    let was_visible = !b.block.is_genesis() && !doc.state.deleted;
    if b.block.is_genesis() && def.policy == WritePolicy::Owner {
        doc.state.owner = Some(b.block.author.clone());
    }
    let applied = doc.state.apply(b);
    doc.heads.retain(|(c, _)| !b.block.parents.contains(c));
    doc.heads.push((b.cid, b.block.height));
    doc.heads.sort_unstable();
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
    kind.filter(|k| *k == ChangeKind::Delete || !doc.state.deleted)
}

pub(crate) fn malformed(m: &str) -> Error {
    Error::Block(BlockError::Malformed(m.into()))
}

pub(crate) fn unauthorized(def: &CollectionDef, author: &[u8], doc: Option<&str>) -> Error {
    let (col, key) = (&def.name, hex(author));
    Error::Unauthorized(match (&def.policy, doc) {
        (WritePolicy::Owner, Some(id)) => {
            format!("{col} lets only a document's owner change it; key {key} does not own \"{id}\"")
        }
        _ => format!("key {key} is not among the writers of {col}"),
    })
}

/// Whether `e` refuses one block (and the import goes on with the others)
/// rather than failing the whole import (the store's errors).
pub(crate) fn refuses_block(e: &Error) -> bool {
    matches!(e, Error::Block(_) | Error::Unauthorized(_) | Error::UnknownCollection(_) | Error::Validation(_))
}

/// Checks what a block from elsewhere must satisfy whatever else is
/// stored, so before it may wait in `pending`: its fields fit the
/// collection's schema (in normal form) and, under a writers list, its
/// author is on it.
pub fn check_alone(b: &SignedBlock, def: &CollectionDef) -> Result<(), Error> {
    if let WritePolicy::Writers(_) = def.policy {
        if !def.policy.allows(&b.block.author, b.block.is_genesis(), None) {
            let doc = (!b.block.is_genesis()).then(|| b.doc_id());
            return Err(unauthorized(def, &b.block.author, doc));
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

/// Under an owner policy, whether `b`'s author is `owner`, the key that
/// signed the document's genesis.
pub fn check_owner(b: &SignedBlock, def: &CollectionDef, owner: Option<&ByteBuf>) -> Result<(), Error> {
    let owner = owner.map(|o| o.as_slice());
    if def.policy == WritePolicy::Owner && !def.policy.allows(&b.block.author, false, owner) {
        return Err(unauthorized(def, &b.block.author, Some(b.doc_id())));
    }
    Ok(())
}

/// Checks `b` against its parents, given each parent's document,
/// collection and height (`None`: not stored): they belong to `b`'s
/// document and its height is one more than the greatest of theirs.
pub fn check_parents(
    b: &SignedBlock,
    mut parent: impl FnMut(&Cid) -> Result<Option<(Cid, String, u64)>, Error>,
) -> Result<(), Error> {
    if b.block.is_genesis() {
        return Ok(());
    }
    let mut max = 0;
    for p in &b.block.parents {
        let (doc, col, height) = parent(p)?.ok_or_else(|| malformed("a parent is missing"))?;
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

/// Document, collection and height of every head in `docs`' records.
/// A record's heads are stored blocks of its document (a block is merged
/// with its parents stored, and takes their place among the heads in the
/// same transaction), so a parent that is a head of its document needs no
/// read of its block: not its bytes, nor whether it is stored or pending.
pub fn stored_heads(docs: &HashMap<DocName, (DocState, Heads)>) -> HashMap<Cid, (Cid, String, u64)> {
    let mut out = HashMap::new();
    for ((col, id), (_, heads)) in docs {
        let Ok(doc) = Cid::try_from(id.as_str()) else { continue };
        for (cid, height) in heads {
            out.insert(*cid, (doc, col.clone(), *height));
        }
    }
    out
}

/// What the store holds for a batch, read before planning it.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// The batch's collections: each one's definition, or why there is none.
    pub defs: BTreeMap<String, Result<Rc<CollectionDef>, Error>>,
    /// `blocks` rows of the batch's blocks and their parents (`None`: absent).
    pub blocks: HashMap<Cid, Option<Vec<u8>>>,
    /// `pending` rows of the batch's blocks and their parents (`None`: absent).
    pub pending: HashMap<Cid, Option<Vec<u8>>>,
    /// State and heads of the batch's documents that are stored.
    pub docs: HashMap<DocName, (DocState, Heads)>,
    /// What the store's `waiting` rows are known to be.
    pub waiting: Waiting,
    /// The batch's parents refused by earlier imports, and why.
    pub refused_lately: HashMap<Cid, Error>,
}

/// The stored `waiting` rows as a [`Snapshot`] knows them.
#[derive(Debug, Default)]
pub enum Waiting {
    /// None: no stored block waits.
    #[default]
    None,
    /// Every stored key (a parent's CID, then the child's key), in key
    /// order, read with the records, there being few: no walk reads
    /// `waiting`.
    All(Vec<Vec<u8>>),
    /// Some, not read: each walk reads the rows under a parent as it comes
    /// to it, one round trip each.
    Unread,
}

impl Waiting {
    /// What `keys` (every stored key, in key order; `None` when there were
    /// more than the store was asked to read) say.
    pub fn of(keys: Option<Vec<Vec<u8>>>) -> Waiting {
        match keys {
            Some(keys) if keys.is_empty() => Waiting::None,
            Some(keys) => Waiting::All(keys),
            None => Waiting::Unread,
        }
    }
}

/// What the planner needs read before it can go on: from the store as the
/// transaction found it.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Reads {
    /// The `waiting` rows under each of these parents: the children's keys.
    pub waiting: Vec<Cid>,
    /// These `pending` rows.
    pub pending: Vec<Cid>,
    /// These `blocks` rows.
    pub blocks: Vec<Cid>,
    /// These collections' definitions.
    pub collections: Vec<String>,
}

/// What an import writes and reports, to write in its transaction.
#[derive(Debug, Default)]
pub struct Plan {
    pub report: ImportReport,
    /// Blocks to store (under their CIDs) and tell of once committed, in
    /// the order folded.
    pub merged: Vec<Merged>,
    /// The documents changed: their state and heads to write (and their
    /// index entries to move), and what subscribers hear of each
    /// ([`changes_of`]).
    pub docs: BTreeMap<DocName, Touched>,
    /// `pending` rows to put (`Some`) or delete.
    pub pending: BTreeMap<Cid, Option<Vec<u8>>>,
    /// `waiting` rows (a parent's bytes, then the child's key) to put
    /// (`true`) or delete.
    pub waiting: Vec<(Cid, Vec<u8>, bool)>,
    /// Blocks refused (or dropped) by this import, and why: their children
    /// are refused on sight by later imports ([`Snapshot::refused_lately`]).
    pub refused: Vec<(Cid, Error)>,
    /// Blocks refused by earlier imports that this one met again.
    pub recalled: Vec<Cid>,
}

/// The children's keys under `parent` (its CID's bytes) among `keys`,
/// `waiting`'s keys in key order ([`Waiting::All`]).
fn children_under<'a>(keys: &'a [Vec<u8>], parent: &'a [u8]) -> impl Iterator<Item = &'a [u8]> {
    let from = keys.partition_point(|k| k.as_slice() < parent);
    keys[from..].iter().take_while(|k| k.starts_with(parent)).map(|k| &k[parent.len()..])
}

/// A walk of the `waiting` rows from a block: releasing the pending blocks
/// it was the last missing parent of, or refusing those that wait for it.
#[derive(Debug)]
struct Walk {
    /// `None`: release; else the refusal that passes down.
    refusal: Option<Error>,
    queue: VecDeque<Cid>,
    /// The parent being walked, and the children's keys left under it.
    under: Option<(Cid, VecDeque<Vec<u8>>)>,
}

impl Walk {
    fn new(from: Cid, refusal: Option<Error>) -> Self {
        Walk { refusal, queue: VecDeque::from([from]), under: None }
    }
}

/// One step of a walk.
enum Stepped {
    /// Read these, then take the same step again.
    Need(Reads),
    /// Done; and a walk to run first, if the step refused a block.
    Went(Option<Walk>),
    /// The walk is over.
    Over,
}

/// Plans the merge of one batch; see the module docs.
#[derive(Debug)]
pub struct Planner {
    batch: VecDeque<SignedBlock>,
    source: Option<Rc<[u8]>>,
    known: Snapshot,
    /// `waiting` rows read, per parent: the children's keys (unless the
    /// snapshot held them all, [`Waiting::All`]).
    waiting_known: HashMap<Cid, Vec<Vec<u8>>>,
    /// Blocks of the batch held already or taken by this import.
    held: HashSet<Cid>,
    /// Document, collection and height of the blocks folded in.
    folded: HashMap<Cid, (Cid, String, u64)>,
    /// The same of the stored heads of the batch's documents, as their
    /// records say ([`stored_heads`]).
    heads: HashMap<Cid, (Cid, String, u64)>,
    /// `pending` as this import leaves it, where it differs from the store.
    pending: BTreeMap<Cid, Option<Vec<u8>>>,
    /// `waiting` likewise, per parent.
    waiting: HashMap<Cid, BTreeMap<Vec<u8>, bool>>,
    docs: BTreeMap<DocName, Touched>,
    merged: Vec<Merged>,
    report: ImportReport,
    refused: HashMap<Cid, Error>,
    /// In the order refused (the map above answers lookups).
    refused_order: Vec<Cid>,
    recalled: Vec<Cid>,
    /// Blocks of this batch set aside as pending, with their sizes.
    set_aside: BTreeMap<Cid, usize>,
    /// Walks under way, the innermost last.
    walks: Vec<Walk>,
}

impl Planner {
    /// Plans `batch`, whose blocks came from `source` ([`Merged::source`]).
    pub fn new(batch: Vec<SignedBlock>, known: Snapshot, source: Option<Rc<[u8]>>) -> Self {
        let heads = stored_heads(&known.docs);
        let row = |m: &HashMap<Cid, Option<Vec<u8>>>, c: &Cid| m.get(c).is_some_and(Option::is_some);
        let held = batch
            .iter()
            .map(|b| b.cid)
            .filter(|c| row(&known.blocks, c) || row(&known.pending, c) || heads.contains_key(c))
            .collect();
        Planner {
            batch: batch.into(),
            source,
            known,
            heads,
            waiting_known: HashMap::new(),
            held,
            folded: HashMap::new(),
            pending: BTreeMap::new(),
            waiting: HashMap::new(),
            docs: BTreeMap::new(),
            merged: Vec::new(),
            report: ImportReport::default(),
            refused: HashMap::new(),
            refused_order: Vec::new(),
            recalled: Vec::new(),
            set_aside: BTreeMap::new(),
            walks: Vec::new(),
        }
    }

    /// Plans on until done (`None`) or until it needs these read.
    /// Fails only on what fails the whole import: a corrupt stored record.
    pub fn run(&mut self) -> Result<Option<Reads>, Error> {
        loop {
            if let Some(mut walk) = self.walks.pop() {
                match self.step(&mut walk)? {
                    Stepped::Need(reads) => {
                        self.walks.push(walk);
                        return Ok(Some(reads));
                    }
                    Stepped::Went(inner) => {
                        self.walks.push(walk);
                        self.walks.extend(inner);
                    }
                    Stepped::Over => {}
                }
                continue;
            }
            let Some(b) = self.batch.front() else { return Ok(None) };
            if !self.known.defs.contains_key(&b.block.col) {
                return Ok(Some(Reads { collections: vec![b.block.col.clone()], ..Reads::default() }));
            }
            let b = self.batch.pop_front().expect("a front block");
            self.take(b)?;
        }
    }

    /// The children's keys of the `waiting` rows stored under `parent`.
    pub fn waiting_read(&mut self, parent: Cid, children: Vec<Vec<u8>>) {
        self.waiting_known.insert(parent, children);
    }

    pub fn pending_read(&mut self, cid: Cid, row: Option<Vec<u8>>) {
        self.known.pending.insert(cid, row);
    }

    pub fn block_read(&mut self, cid: Cid, row: Option<Vec<u8>>) {
        self.known.blocks.insert(cid, row);
    }

    pub fn collection_read(&mut self, name: String, def: Result<Rc<CollectionDef>, Error>) {
        self.known.defs.insert(name, def);
    }

    /// The plan, once [`Planner::run`] has returned `None`.
    pub fn finish(self) -> Plan {
        let mut report = self.report;
        report.pending = self.set_aside.len();
        report.held = self.set_aside.iter().map(|(c, n)| (*c, *n)).collect();
        // A set, not a scan of the merged list per parent: large imports in
        // reverse order would otherwise be quadratic.
        let merged: BTreeSet<Cid> = set_of(self.merged.iter().map(|m| m.cid));
        report.missing.retain(|c| !merged.contains(c) && !self.set_aside.contains_key(c));
        report.missing.sort_unstable();
        report.missing.dedup();
        // Rows put and deleted again in this import, and never stored, are
        // left out.
        let known = &self.known;
        let pending = map_of(
            self.pending.into_iter().filter(|(c, row)| row.is_some() || !matches!(known.pending.get(c), Some(None))),
        );
        let mut waiting = Vec::new();
        for (parent, rows) in self.waiting {
            for (child, put) in rows {
                // A row under a parent not read may be stored: its delete goes.
                let stored = match &known.waiting {
                    Waiting::None => false,
                    Waiting::All(keys) => keys.binary_search(&[parent.to_bytes().as_slice(), &child].concat()).is_ok(),
                    Waiting::Unread => self.waiting_known.get(&parent).is_none_or(|stored| stored.contains(&child)),
                };
                if put || stored {
                    waiting.push((parent, child, put));
                }
            }
        }
        let mut refused = self.refused;
        let refused = self.refused_order.into_iter().filter_map(|c| Some((c, refused.remove(&c)?))).collect();
        Plan { report, merged: self.merged, docs: self.docs, pending, waiting, refused, recalled: self.recalled }
    }

    /// Takes one block of the batch: a duplicate, refused, set aside, or
    /// folded in (and what it releases after it).
    fn take(&mut self, b: SignedBlock) -> Result<(), Error> {
        // Duplicates within the batch count as duplicates too.
        if self.held.contains(&b.cid) {
            self.report.duplicate += 1;
            return Ok(());
        }
        let name: DocName = (b.block.col.clone(), b.doc_id().to_owned());
        let checked = match self.known.defs[&b.block.col].clone() {
            Err(e) => Err(e),
            Ok(def) => match self.refused_parent(&b) {
                Some(e) => Err(e),
                None => check_alone(&b, &def)
                    .and_then(|()| {
                        // The owner, where the document is here already.
                        let state = self.docs.get(&name).map(|t| &t.state).or(self.known.docs.get(&name).map(|d| &d.0));
                        match state {
                            Some(state) if !b.block.is_genesis() => check_owner(&b, &def, state.owner.as_ref()),
                            _ => Ok(()),
                        }
                    })
                    .map(|()| def),
            },
        };
        let def = match checked {
            Ok(def) => def,
            Err(e) => {
                self.refuse(b.cid, true, e);
                return Ok(());
            }
        };
        self.held.insert(b.cid);
        let missing: Vec<Cid> = b.block.parents.iter().filter(|p| !self.stored(p)).copied().collect();
        if !missing.is_empty() {
            let key = b.cid.to_bytes();
            self.pending.insert(b.cid, Some(b.bytes.clone()));
            for p in missing {
                self.waiting.entry(p).or_default().insert(key.clone(), true);
                if !self.is_pending(&p) {
                    self.report.missing.push(p);
                }
            }
            self.set_aside.insert(b.cid, b.bytes.len());
            return Ok(());
        }
        let doc = self.known.docs.remove(&name);
        match self.check_parents(&b).and_then(|()| self.fold_in(&b, &def, doc.clone())) {
            Ok(()) => self.report.merged += 1,
            Err(e) if refuses_block(&e) => {
                if let Some(doc) = doc {
                    self.known.docs.insert(name, doc);
                }
                self.held.remove(&b.cid);
                self.refuse(b.cid, true, e);
                return Ok(());
            }
            Err(e) => return Err(e),
        }
        // No one waits for this block unless something was pending
        // before, or was set aside just now.
        if self.may_wait_for_any() {
            self.walks.push(Walk::new(b.cid, None));
        }
        Ok(())
    }

    /// The refusal of a block's parent, in this import or lately: a block
    /// whose parent is refused can never merge here, so it is refused too.
    fn refused_parent(&mut self, b: &SignedBlock) -> Option<Error> {
        b.block.parents.iter().find_map(|p| {
            self.refused.get(p).cloned().or_else(|| {
                let e = self.known.refused_lately.get(p).cloned()?;
                self.recalled.push(*p);
                Some(e)
            })
        })
    }

    /// Whether any block may wait for another: one was stored in
    /// `waiting` before this import, or this import set one aside.
    fn may_wait_for_any(&self) -> bool {
        !matches!(self.known.waiting, Waiting::None) || !self.set_aside.is_empty()
    }

    /// Refuses `cid` for `e`; those of this import (`cid` itself when
    /// `ours`) are reported `refused`, those that waited from earlier
    /// imports `dropped`. Then the pending blocks that wait for it are
    /// refused too, by a walk, when there may be any.
    fn refuse(&mut self, cid: Cid, ours: bool, e: Error) {
        self.record_refusal(cid, ours, &e);
        if self.may_wait_for_any() {
            self.walks.push(Walk::new(cid, Some(e)));
        }
    }

    fn record_refusal(&mut self, cid: Cid, ours: bool, e: &Error) {
        let refusal = Refusal::new(cid, e);
        if ours {
            self.report.refused.push(refusal);
        } else {
            self.report.dropped.push(refusal);
        }
        if self.refused.insert(cid, e.clone()).is_none() {
            self.refused_order.push(cid);
        }
    }

    /// Whether `cid` is in `blocks` as this import leaves it.
    fn stored(&self, cid: &Cid) -> bool {
        self.folded.contains_key(cid)
            || self.heads.contains_key(cid)
            || self.known.blocks.get(cid).is_some_and(Option::is_some)
    }

    /// Whether `cid` is in `pending` as this import leaves it (a row not
    /// read counts as absent: the snapshot holds every one a batch block
    /// asks about).
    fn is_pending(&self, cid: &Cid) -> bool {
        self.pending_row(cid).is_some_and(|row| row.is_some())
    }

    /// `cid`'s `pending` row as this import leaves it; `None` if not read.
    fn pending_row(&self, cid: &Cid) -> Option<Option<&Vec<u8>>> {
        self.pending.get(cid).or_else(|| self.known.pending.get(cid)).map(Option::as_ref)
    }

    /// The children's keys under `parent` in `waiting` as this import
    /// leaves it; `None` if the stored rows are not read yet.
    fn waiting_under(&self, parent: &Cid) -> Option<VecDeque<Vec<u8>>> {
        let mut keys: BTreeSet<Vec<u8>> = BTreeSet::new();
        match &self.known.waiting {
            Waiting::None => {}
            Waiting::All(all) => keys.extend(children_under(all, &parent.to_bytes()).map(<[u8]>::to_vec)),
            Waiting::Unread => keys.extend(self.waiting_known.get(parent)?.iter().cloned()),
        }
        for (child, put) in self.waiting.get(parent).into_iter().flatten() {
            if *put {
                keys.insert(child.clone());
            } else {
                keys.remove(child);
            }
        }
        Some(keys.into_iter().collect())
    }

    fn unwait(&mut self, parent: Cid, child: &[u8]) {
        self.waiting.entry(parent).or_default().insert(child.to_vec(), false);
    }

    fn check_parents(&self, b: &SignedBlock) -> Result<(), Error> {
        check_parents(b, |p| {
            if let Some(known) = self.folded.get(p).or_else(|| self.heads.get(p)) {
                return Ok(Some(known.clone()));
            }
            match self.known.blocks.get(p) {
                Some(Some(bytes)) => {
                    let parent = SignedBlock::decode_stored(bytes.clone(), *p)?;
                    Ok(Some((parent.doc(), parent.block.col, parent.block.height)))
                }
                _ => Ok(None),
            }
        })
    }

    /// Folds a block whose parents are all stored into its document.
    /// `known`: the document's stored state and heads, when the caller has
    /// them at hand.
    fn fold_in(&mut self, b: &SignedBlock, def: &CollectionDef, known: Option<(DocState, Heads)>) -> Result<(), Error> {
        let name: DocName = (def.name.clone(), b.doc_id().to_owned());
        let touched = self.docs.get(&name);
        let fresh = touched.is_none();
        if def.policy == WritePolicy::Owner && !b.block.is_genesis() {
            let owner = match touched {
                Some(t) => t.state.owner.as_ref(),
                None => {
                    known.as_ref().or_else(|| self.known.docs.get(&name)).and_then(|(state, _)| state.owner.as_ref())
                }
            };
            check_owner(b, def, owner)?;
        }
        // The document as this import leaves it so far; else as given, or
        // as stored (a released block's document is always touched
        // already: its parent was just folded). Read and copied once a
        // document, not once a block.
        if fresh {
            let known = known.or_else(|| self.known.docs.get(&name).cloned());
            if known.is_none() && !b.block.is_genesis() {
                return Err(malformed("the document's genesis is missing"));
            }
            self.docs.insert(name.clone(), Touched::new(&name.0, &name.1, known));
        }
        let touched = self.docs.get_mut(&name).expect("touched above");
        if let Some(kind) = fold(touched, b, def) {
            touched.note(kind, self.merged.len());
        }
        self.folded.insert(b.cid, (b.doc(), def.name.clone(), b.block.height));
        self.merged.push(Merged::new(b, name.1, false, self.source.clone()));
        Ok(())
    }

    /// One step of `walk`: the next parent's rows, or the next child under it.
    fn step(&mut self, walk: &mut Walk) -> Result<Stepped, Error> {
        let Some((parent, children)) = &mut walk.under else {
            let Some(parent) = walk.queue.front().copied() else { return Ok(Stepped::Over) };
            let Some(children) = self.waiting_under(&parent) else {
                return Ok(Stepped::Need(Reads { waiting: vec![parent], ..Reads::default() }));
            };
            walk.queue.pop_front();
            walk.under = Some((parent, children));
            return Ok(Stepped::Went(None));
        };
        let parent = *parent;
        let Some(key) = children.front().cloned() else {
            walk.under = None;
            return Ok(Stepped::Went(None));
        };
        let cid = Cid::try_from(key.as_slice()).ok();
        let row = match cid.map(|c| self.pending_row(&c)) {
            // A key no pending block can have: no row.
            None => None,
            Some(Some(row)) => row.cloned(),
            Some(None) => {
                // Read the rows of every child left under this parent at once.
                let pending = children
                    .iter()
                    .filter_map(|k| Cid::try_from(k.as_slice()).ok())
                    .filter(|c| self.pending_row(c).is_none())
                    .collect();
                return Ok(Stepped::Need(Reads { pending, ..Reads::default() }));
            }
        };
        let (Some(cid), Some(bytes)) = (cid, row) else {
            // Not pending (any more): only the row that named it goes.
            self.unwait(parent, &key);
            children.pop_front();
            return Ok(Stepped::Went(None));
        };
        let child = SignedBlock::decode_stored(bytes, cid)?;
        let inner = match &walk.refusal {
            None => match self.release(parent, &key, &child)? {
                Some(Released::Need(reads)) => return Ok(Stepped::Need(reads)),
                Some(Released::Merged) => {
                    walk.queue.push_back(cid);
                    None
                }
                Some(Released::Refused(inner)) => Some(inner),
                None => None,
            },
            Some(e) => {
                let e = e.clone();
                for p in &child.block.parents {
                    self.unwait(*p, &key);
                }
                self.pending.insert(cid, None);
                let ours = self.set_aside.remove(&cid).is_some();
                self.record_refusal(cid, ours, &e);
                walk.queue.push_back(cid);
                None
            }
        };
        children.pop_front();
        Ok(Stepped::Went(inner))
    }

    /// Merges `child`, pending under `parent`, if its parents are all
    /// stored now (`None` if not). A child that turns out refused is
    /// dropped with what waits for it (the block that released it was
    /// valid and stays merged).
    fn release(&mut self, parent: Cid, key: &[u8], child: &SignedBlock) -> Result<Option<Released>, Error> {
        let unread: Vec<Cid> = child
            .block
            .parents
            .iter()
            .filter(|p| !self.folded.contains_key(p) && !self.known.blocks.contains_key(p))
            .copied()
            .collect();
        if !unread.is_empty() {
            return Ok(Some(Released::Need(Reads { blocks: unread, ..Reads::default() })));
        }
        let ready = child.block.parents.iter().all(|p| self.stored(p));
        if ready && !self.known.defs.contains_key(&child.block.col) {
            return Ok(Some(Released::Need(Reads { collections: vec![child.block.col.clone()], ..Reads::default() })));
        }
        self.unwait(parent, key);
        if !ready {
            return Ok(None);
        }
        self.pending.insert(child.cid, None);
        let in_batch = self.set_aside.remove(&child.cid).is_some();
        let folded = match self.known.defs[&child.block.col].clone() {
            Ok(def) => self.check_parents(child).and_then(|()| self.fold_in(child, &def, None)),
            Err(e) => Err(e),
        };
        match folded {
            Ok(()) => {
                self.report.merged += 1;
                Ok(Some(Released::Merged))
            }
            Err(e) if refuses_block(&e) => {
                tracing::debug!(cid = %child.cid, error = %e, "dropping a refused pending block");
                self.record_refusal(child.cid, in_batch, &e);
                Ok(Some(Released::Refused(Walk::new(child.cid, Some(e)))))
            }
            Err(e) => Err(e),
        }
    }
}

/// What [`Planner::release`] did with a ready child.
enum Released {
    Need(Reads),
    Merged,
    Refused(Walk),
}

#[cfg(test)]
mod tests {
    //! The rules without a store: `Tables` is the five tables an import
    //! touches as plain maps, which answer the planner's reads and take its
    //! plan, so a test can run imports one after another.

    use super::*;
    use crate::core::block::Block;
    use crate::core::schema::parse_sdl;
    use ed25519_dalek::SigningKey;
    use serde_json::json;

    const SDL: &str = r#"type Book { title: String pages: Int } type Note @policy(writers: "owner") { text: String }"#;

    #[derive(Default)]
    struct Tables {
        defs: BTreeMap<String, Rc<CollectionDef>>,
        blocks: HashMap<Cid, Vec<u8>>,
        pending: HashMap<Cid, Vec<u8>>,
        /// (parent, child key)
        waiting: BTreeSet<(Cid, Vec<u8>)>,
        docs: HashMap<DocName, (DocState, Heads)>,
        refused: HashMap<Cid, Error>,
        /// How many times the planner stopped to read.
        stops: usize,
    }

    impl Tables {
        fn new() -> Self {
            let defs = parse_sdl(SDL).unwrap().into_iter().map(|d| (d.name.clone(), Rc::new(d))).collect();
            Tables { defs, ..Tables::default() }
        }

        fn def(&self, name: &str) -> Result<Rc<CollectionDef>, Error> {
            self.defs.get(name).cloned().ok_or_else(|| Error::UnknownCollection(name.into()))
        }

        /// Plans `batch` twice, with the `waiting` rows read as the walks
        /// ask and with all of them in the snapshot ([`Waiting::All`]),
        /// checks that both plan the same, and carries out the first.
        fn import(&mut self, batch: &[&SignedBlock]) -> Plan {
            let batch: Vec<SignedBlock> = batch.iter().map(|b| (*b).clone()).collect();
            let plan = self.plan(batch.clone(), false);
            let whole = self.plan(batch, true);
            // A delete of a row never stored changes nothing: the planner
            // asks for it when it did not read the row's parent.
            let effect = |plan: &Plan| {
                let mut waiting: Vec<_> =
                    plan.waiting.iter().filter(|(p, c, put)| *put || self.waiting.contains(&(*p, c.clone()))).collect();
                waiting.sort();
                let rest = (&plan.report, &plan.merged, &plan.docs, &plan.pending, &plan.refused);
                format!("{rest:?} {waiting:?} {:?}", plan.recalled)
            };
            assert_eq!(effect(&plan), effect(&whole), "the same plan with every `waiting` row in the snapshot");
            for (c, row) in &plan.pending {
                match row {
                    Some(bytes) => self.pending.insert(*c, bytes.clone()),
                    None => self.pending.remove(c),
                };
            }
            for (p, child, put) in &plan.waiting {
                match put {
                    true => self.waiting.insert((*p, child.clone())),
                    false => self.waiting.remove(&(*p, child.clone())),
                };
            }
            for m in &plan.merged {
                self.blocks.insert(m.cid, m.bytes.clone());
            }
            for (name, t) in &plan.docs {
                self.docs.insert(name.clone(), (t.state.clone(), t.heads.clone()));
            }
            for (c, e) in &plan.refused {
                self.refused.insert(*c, e.clone());
            }
            plan
        }

        /// The plan of `batch` on the tables as they are; `whole`: with
        /// every `waiting` row in the snapshot, and then the planner must
        /// never ask for one (the other counts its stops).
        fn plan(&mut self, batch: Vec<SignedBlock>, whole: bool) -> Plan {
            let mut known = Snapshot::default();
            for b in &batch {
                known.defs.insert(b.block.col.clone(), self.def(&b.block.col));
                for c in std::iter::once(&b.cid).chain(&b.block.parents) {
                    known.blocks.insert(*c, self.blocks.get(c).cloned());
                    known.pending.insert(*c, self.pending.get(c).cloned());
                    if let Some(e) = self.refused.get(c) {
                        known.refused_lately.insert(*c, e.clone());
                    }
                }
                let name = (b.block.col.clone(), b.doc_id().to_owned());
                if let Some(doc) = self.docs.get(&name) {
                    known.docs.insert(name, doc.clone());
                }
            }
            let keys: BTreeSet<Vec<u8>> =
                self.waiting.iter().map(|(p, c)| [p.to_bytes(), c.clone()].concat()).collect();
            known.waiting = match (keys.is_empty(), whole) {
                (true, _) => Waiting::None,
                (false, true) => Waiting::All(keys.into_iter().collect()),
                (false, false) => Waiting::Unread,
            };
            let mut planner = Planner::new(batch, known, None);
            while let Some(reads) = planner.run().unwrap() {
                assert!(!whole || reads.waiting.is_empty(), "`waiting` read whole, yet asked for {:?}", reads.waiting);
                self.stops += usize::from(!whole);
                for p in reads.waiting {
                    let rows = self.waiting.iter().filter(|(q, _)| *q == p).map(|(_, c)| c.clone()).collect();
                    planner.waiting_read(p, rows);
                }
                for c in reads.pending {
                    planner.pending_read(c, self.pending.get(&c).cloned());
                }
                for c in reads.blocks {
                    planner.block_read(c, self.blocks.get(&c).cloned());
                }
                for name in reads.collections {
                    let def = self.def(&name);
                    planner.collection_read(name, def);
                }
            }
            planner.finish()
        }

        fn heads(&self, g: &SignedBlock) -> Vec<Cid> {
            self.docs[&(g.block.col.clone(), g.cid.to_string())].1.iter().map(|h| h.0).collect()
        }
    }

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    fn fields(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    fn book(title: &str) -> SignedBlock {
        let def = &parse_sdl(SDL).unwrap()[0];
        Block::genesis("Book", def.validate_create(&fields(json!({"title": title}))).unwrap(), [1; 8], &key(1))
    }

    /// A change of `g`'s document on `parents`, at the height that follows them.
    fn on(g: &SignedBlock, parents: &[&SignedBlock], patch: Value) -> SignedBlock {
        let height = parents.iter().map(|p| p.block.height).max().unwrap() + 1;
        change_at(g, parents, height, patch, &key(1))
    }

    fn change_at(g: &SignedBlock, parents: &[&SignedBlock], height: u64, patch: Value, k: &SigningKey) -> SignedBlock {
        let parents = parents.iter().map(|p| p.cid).collect();
        Block::change(&g.block.col, g.cid, parents, height, fields(patch), false, k)
    }

    fn cids(refusals: &[Refusal]) -> Vec<(Cid, &'static str)> {
        refusals.iter().map(|r| (r.cid, r.code)).collect()
    }

    #[test]
    fn a_chain_in_order_merges_with_no_reads_past_the_snapshot() {
        let g = book("Dune");
        let a = on(&g, &[&g], json!({"pages": 1}));
        let b = on(&g, &[&a], json!({"pages": 2}));
        let mut t = Tables::new();
        let plan = t.import(&[&g, &a, &b]);
        assert_eq!((plan.report.merged, plan.report.pending, plan.report.duplicate), (3, 0, 0));
        assert_eq!(plan.merged.iter().map(|m| m.cid).collect::<Vec<_>>(), [g.cid, a.cid, b.cid]);
        // One change for the document, as the import leaves it: no read
        // sees it between the blocks.
        let changes = changes_of(&plan.docs);
        let kinds: Vec<ChangeKind> = changes.iter().map(|c| c.kind).collect();
        assert_eq!(kinds, [ChangeKind::Create]);
        assert_eq!(changes[0].doc.as_ref().unwrap()["pages"], json!(2));
        assert!(plan.pending.is_empty() && plan.waiting.is_empty(), "nothing set aside, nothing to undo");
        assert_eq!(t.heads(&g), [b.cid]);
        assert_eq!(t.stops, 0);
    }

    #[test]
    fn an_import_tells_each_document_once_in_the_order_first_changed() {
        let (x, y) = (book("Dune"), book("Emma"));
        let x1 = on(&x, &[&x], json!({"pages": 1}));
        let y1 = on(&y, &[&y], json!({"pages": 5}));
        let y2 = on(&y, &[&y1], json!({"pages": 6}));
        let gone = Block::change("Book", x.cid, vec![x1.cid], x1.block.height + 1, Map::new(), true, &key(1));
        // Created and deleted by the same import: never seen, not told.
        let z = book("Ulysses");
        let z_gone = Block::change("Book", z.cid, vec![z.cid], z.block.height + 1, Map::new(), true, &key(1));
        let x_told = (x.cid.to_string(), ChangeKind::Delete, None);
        let y_told = (y.cid.to_string(), ChangeKind::Update, Some(json!(6)));
        // Both orders of the two documents: not the order of their ids.
        for (batch, want) in [
            (vec![&x1, &y1, &z, &gone, &z_gone, &y2], vec![x_told.clone(), y_told.clone()]),
            (vec![&y1, &z, &x1, &y2, &z_gone, &gone], vec![y_told, x_told]),
        ] {
            let mut t = Tables::new();
            t.import(&[&x, &y]);
            let plan = t.import(&batch);
            assert_eq!(plan.report.merged, 6, "{:?}", plan.report);
            let told: Vec<(String, ChangeKind, Option<Value>)> = changes_of(&plan.docs)
                .iter()
                .map(|c| (c.id.clone(), c.kind, c.doc.as_ref().map(|d| d["pages"].clone())))
                .collect();
            assert_eq!(told, want);
        }
    }

    #[test]
    fn a_chain_reversed_is_set_aside_and_released_in_one_import() {
        let g = book("Dune");
        let a = on(&g, &[&g], json!({"pages": 1}));
        let b = on(&g, &[&a], json!({"pages": 2}));
        let mut t = Tables::new();
        let plan = t.import(&[&b, &a, &g]);
        assert_eq!((plan.report.merged, plan.report.pending), (3, 0));
        assert!(plan.report.missing.is_empty() && plan.report.held.is_empty());
        assert_eq!(plan.merged.iter().map(|m| m.cid).collect::<Vec<_>>(), [g.cid, a.cid, b.cid]);
        // Put and taken back in one import, and never stored: no row written.
        assert!(plan.pending.is_empty() && plan.waiting.is_empty(), "{:?} {:?}", plan.pending, plan.waiting);
        assert_eq!(t.heads(&g), [b.cid]);
        assert_eq!(t.stops, 0, "nothing waited before: the batch alone decides");
    }

    #[test]
    fn a_missing_parent_sets_the_block_aside_and_is_reported() {
        let g = book("Dune");
        let a = on(&g, &[&g], json!({"pages": 1}));
        let b = on(&g, &[&a], json!({"pages": 2}));
        let mut t = Tables::new();
        t.import(&[&g]);
        let plan = t.import(&[&b]);
        assert_eq!((plan.report.merged, plan.report.pending), (0, 1));
        assert_eq!(plan.report.missing, [a.cid]);
        assert_eq!(plan.report.held, [(b.cid, b.bytes.len())]);
        assert_eq!(plan.pending, BTreeMap::from([(b.cid, Some(b.bytes.clone()))]));
        assert_eq!(plan.waiting, [(a.cid, b.cid.to_bytes(), true)]);
        // Sent again while it waits: a duplicate; and a parent that is
        // pending itself is not missing.
        let c = on(&g, &[&b], json!({"pages": 3}));
        let plan = t.import(&[&b, &c]);
        assert_eq!((plan.report.duplicate, plan.report.pending), (1, 1));
        assert!(plan.report.missing.is_empty());
    }

    #[test]
    fn a_parent_arriving_releases_the_chain_waiting_for_it() {
        let g = book("Dune");
        let a = on(&g, &[&g], json!({"pages": 1}));
        let b = on(&g, &[&a], json!({"pages": 2}));
        let c = on(&g, &[&b], json!({"pages": 3}));
        let mut t = Tables::new();
        t.import(&[&g]);
        t.import(&[&c]);
        t.import(&[&b]);
        assert_eq!(t.pending.len(), 2);
        let plan = t.import(&[&a]);
        assert_eq!((plan.report.merged, plan.report.pending), (3, 0));
        assert_eq!(plan.merged.iter().map(|m| m.cid).collect::<Vec<_>>(), [a.cid, b.cid, c.cid]);
        assert!(t.pending.is_empty() && t.waiting.is_empty(), "every row of the released blocks goes");
        assert_eq!(t.heads(&g), [c.cid]);
        assert_eq!(t.docs[&("Book".into(), g.cid.to_string())].0.value("pages"), Some(&json!(3)));
        assert!(t.stops > 0, "the walk read the stored rows it needed");
    }

    #[test]
    fn a_refused_parent_refuses_its_children_dropped_from_before_refused_from_now() {
        let g = book("Dune");
        let bad = change_at(&g, &[&g], 5, json!({"pages": 1}), &key(1));
        let old = change_at(&g, &[&bad], 6, json!({"pages": 2}), &key(1));
        let new = change_at(&g, &[&old], 7, json!({"pages": 3}), &key(1));
        let mut t = Tables::new();
        t.import(&[&g]);
        assert_eq!(t.import(&[&old]).report.pending, 1);
        let plan = t.import(&[&new, &bad]);
        assert_eq!(cids(&plan.report.refused), [(bad.cid, "BLOCK_INVALID"), (new.cid, "BLOCK_INVALID")]);
        assert_eq!(cids(&plan.report.dropped), [(old.cid, "BLOCK_INVALID")]);
        assert_eq!((plan.report.merged, plan.report.pending), (0, 0));
        assert!(t.pending.is_empty() && t.waiting.is_empty());
        // And later children of a refused block are refused on sight.
        let later = change_at(&g, &[&new], 8, json!({"pages": 4}), &key(1));
        let plan = t.import(&[&later]);
        assert_eq!(cids(&plan.report.refused), [(later.cid, "BLOCK_INVALID")]);
        assert_eq!(plan.recalled, [new.cid]);
    }

    #[test]
    fn duplicates_within_a_batch_and_across_imports_count_once() {
        let g = book("Dune");
        let a = on(&g, &[&g], json!({"pages": 1}));
        let mut t = Tables::new();
        let plan = t.import(&[&g, &g, &a, &a]);
        assert_eq!((plan.report.merged, plan.report.duplicate), (2, 2));
        assert_eq!(plan.merged.len(), 2);
        let plan = t.import(&[&a, &g]);
        assert_eq!((plan.report.merged, plan.report.duplicate), (0, 2));
        assert!(plan.merged.is_empty() && plan.docs.is_empty());
    }

    #[test]
    fn only_the_owner_changes_a_document_under_an_owner_policy() {
        let def = parse_sdl(SDL).unwrap().remove(1);
        let text = |s: &str| def.validate_update(&fields(json!({"text": s}))).unwrap();
        let g = Block::genesis("Note", def.validate_create(&fields(json!({"text": "mine"}))).unwrap(), [2; 8], &key(1));
        let owners = Block::change("Note", g.cid, vec![g.cid], 2, text("still mine"), false, &key(1));
        let strangers = Block::change("Note", g.cid, vec![g.cid], 2, text("yours"), false, &key(9));
        let mut t = Tables::new();
        // Before the genesis the owner is unknown: the stranger's block waits.
        assert_eq!(t.import(&[&strangers]).report.pending, 1);
        let plan = t.import(&[&g, &owners]);
        assert_eq!(plan.report.merged, 2);
        assert_eq!(cids(&plan.report.dropped), [(strangers.cid, "UNAUTHORIZED")]);
        assert!(plan.report.refused.is_empty(), "the sender of the genesis did nothing wrong");
        let again = Block::change("Note", g.cid, vec![owners.cid], 3, text("mine now"), false, &key(9));
        assert_eq!(cids(&t.import(&[&again]).report.refused), [(again.cid, "UNAUTHORIZED")]);
        assert_eq!(t.heads(&g), [owners.cid]);
    }

    #[test]
    fn a_parent_of_another_document_or_a_wrong_height_is_refused() {
        let (x, y) = (book("X"), book("Y"));
        let mut t = Tables::new();
        t.import(&[&x, &y]);
        let across = change_at(&y, &[&x], 2, json!({"pages": 1}), &key(1));
        let too_high = change_at(&x, &[&x], 3, json!({"pages": 1}), &key(1));
        let plan = t.import(&[&across, &too_high]);
        let why = ["a parent belongs to another document", "height does not follow the parents'"];
        assert_eq!(cids(&plan.report.refused), [(across.cid, "BLOCK_INVALID"), (too_high.cid, "BLOCK_INVALID")]);
        for (r, why) in plan.report.refused.iter().zip(why) {
            assert!(r.message.ends_with(why), "{}", r.message);
        }
        assert!(plan.merged.is_empty() && plan.docs.is_empty());
        assert_eq!((t.heads(&x), t.heads(&y)), (vec![x.cid], vec![y.cid]));
    }

    #[test]
    fn a_block_of_an_unknown_collection_is_refused() {
        let g = Block::genesis("Film", fields(json!({"title": "Dune"})), [4; 8], &key(1));
        let mut t = Tables::new();
        let plan = t.import(&[&g]);
        assert_eq!(cids(&plan.report.refused), [(g.cid, "UNKNOWN_COLLECTION")]);
        assert!(plan.merged.is_empty());
    }
}
