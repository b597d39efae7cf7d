//! What the node keeps in the store beside documents and blocks: its
//! `Meta` records (replicators, the blocks their peers refused, and any
//! other small record the node names) and the replicators' outbox. Every
//! key of these lives here, so the node opens no store transaction of
//! its own.
//!
//! | table | key | value |
//! |---|---|---|
//! | `Meta` | `replicator/<peer id>/<collection>` | JSON `{ addrs, docs }` |
//! | `Meta` | `refused/<peer id>/<collection>/<cid>` | JSON `{ code, reason }` |
//! | `Meta` | `p2p/collection/<collection>` ([`META_P2P`]) | empty: the collection is shared by gossip |
//! | `Meta` | `net/webrtc-cert` ([`META_WEBRTC_CERT`]) | the WebRTC certificate, PEM |
//! | `Meta` | `net/webtransport-certs` ([`META_WEBTRANSPORT_CERTS`]) | the WebTransport certificates, DAG-CBOR |
//! | `Outbox` | peer id bytes ‖ `0` ‖ height (8 bytes, big-endian) ‖ CID bytes | height (8 bytes, big-endian) ‖ collection |
//!
//! Outbox rows sort by peer, and a peer's by height, then CID: parents go
//! first, and [`Db::outbox_next`] reads only the front of a peer's rows,
//! whatever the backlog, and has the store count them (IndexedDB's backend;
//! natively a walk over the keys: 19 ms at 200,000 rows). Storage layouts
//! before 4 keyed a peer's rows by CID alone, and each batch read, decoded
//! and sorted the whole outbox: 0.1 s a batch at 200,000 rows natively
//! (BENCHMARKS.md, "A replicator's long outbox"). `db::layout::migrate`
//! rekeys them.

use std::collections::BTreeMap;
use std::ops::Bound;

use cid::Cid;
use serde::{Deserialize, Serialize};

use crate::db::{Db, Merged, Row};
use crate::error::Error;
use crate::store::{KeyRange, Mode, Store, Table, Tx};

const META_REPLICATOR: &str = "replicator/";
const META_REFUSED: &str = "refused/";
/// `p2p/collection/<collection>`: a collection shared by gossip.
pub(crate) const META_P2P: &str = "p2p/collection/";
/// The node's WebRTC certificate (PEM): the same after a restart, so the
/// addresses browsers know stay valid.
#[cfg_attr(target_arch = "wasm32", allow(dead_code))]
pub(crate) const META_WEBRTC_CERT: &str = "net/webrtc-cert";
/// The node's WebTransport certificates (DAG-CBOR), rotated.
#[cfg_attr(target_arch = "wasm32", allow(dead_code))]
pub(crate) const META_WEBTRANSPORT_CERTS: &str = "net/webtransport-certs";

/// A replicator's peer as the store keys it: its id's text (in `Meta`
/// keys) and its bytes (in outbox keys).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerKey {
    pub text: String,
    pub bytes: Vec<u8>,
}

/// A stored replicator: blocks of `collection` (of `docs` only, if given)
/// go to `peer`, dialled at `addrs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicatorRecord {
    /// The peer id's text.
    pub peer: String,
    pub collection: String,
    pub addrs: Vec<String>,
    pub docs: Option<Vec<String>>,
}

#[derive(Serialize, Deserialize)]
struct StoredReplicator {
    addrs: Vec<String>,
    docs: Option<Vec<String>>,
}

/// A block a replicator's peer refused, moved out of its outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusedRecord {
    pub peer: String,
    pub collection: String,
    pub cid: String,
    pub code: String,
    pub reason: String,
}

#[derive(Serialize, Deserialize)]
struct StoredRefusal {
    code: String,
    reason: String,
}

/// An outbox row's place in its peer's queue: the block's height, then its
/// CID (a parent's height is below its children's).
pub type Queued = (u64, Cid);

/// A block the peer refused: where it was queued, the peer's code and reason.
pub type Refused<'a> = (Queued, &'a str, &'a str);

fn replicator_key(peer: &str, col: &str) -> String {
    format!("{META_REPLICATOR}{peer}/{col}")
}

fn outbox_prefix(peer: &[u8]) -> Vec<u8> {
    let mut k = peer.to_vec();
    k.push(0);
    k
}

fn outbox_key(peer: &[u8], (height, cid): Queued) -> Vec<u8> {
    let mut k = outbox_prefix(peer);
    k.extend(height.to_be_bytes());
    k.extend(cid.to_bytes());
    k
}

/// The height and CID of an outbox row's key, after its peer's prefix.
pub(crate) fn outbox_queued_at(rest: &[u8]) -> Option<Queued> {
    let height = u64::from_be_bytes(rest.get(..8)?.try_into().ok()?);
    Some((height, Cid::try_from(&rest[8..]).ok()?))
}

fn outbox_collection(value: &[u8]) -> String {
    String::from_utf8_lossy(value.get(8..).unwrap_or_default()).into_owned()
}

/// The outbox row that queues `m` for `peer`, written in `m`'s own
/// transaction (a commit hook).
pub(crate) fn outbox_row(peer: &[u8], m: &Merged) -> Row {
    let mut value = m.height.to_be_bytes().to_vec();
    value.extend_from_slice(m.collection.as_bytes());
    (Table::Outbox, outbox_key(peer, (m.height, m.cid)), value)
}

impl<S: Store> Db<S> {
    /// The `Meta` record `key`.
    #[cfg_attr(target_arch = "wasm32", allow(dead_code))] // the node's certificates: native only
    pub(crate) async fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, Error> {
        let mut tx = self.store().begin_read(&[Table::Meta]).await?;
        Ok(tx.get(Table::Meta, key.as_bytes()).await?)
    }

    /// Sets (or with `None` deletes) the `Meta` record `key`.
    pub(crate) async fn set_meta(&self, key: &str, value: Option<&[u8]>) -> Result<(), Error> {
        let mut tx = self.store().begin(Mode::Write).await?;
        match value {
            Some(v) => tx.put(Table::Meta, key.as_bytes(), v).await?,
            None => tx.delete(Table::Meta, key.as_bytes()).await?,
        }
        Ok(tx.commit().await?)
    }

    /// The keys of the `Meta` records under `prefix`, without it.
    pub(crate) async fn meta_keys(&self, prefix: &str) -> Result<Vec<String>, Error> {
        let mut tx = self.store().begin_read(&[Table::Meta]).await?;
        let keys = tx.scan_keys(Table::Meta, &KeyRange::prefix(prefix.as_bytes()), None).await?;
        Ok(keys.iter().map(|k| String::from_utf8_lossy(&k[prefix.len()..]).into_owned()).collect())
    }

    /// Every stored replicator; a corrupt record is skipped with a warning.
    pub(crate) async fn replicators(&self) -> Result<Vec<ReplicatorRecord>, Error> {
        let mut tx = self.store().begin_read(&[Table::Meta]).await?;
        let rows = tx.scan(Table::Meta, &KeyRange::prefix(META_REPLICATOR.as_bytes()), None).await?;
        let mut out = Vec::new();
        for (k, v) in rows {
            let key = String::from_utf8_lossy(&k[META_REPLICATOR.len()..]).into_owned();
            let (Some((peer, collection)), Ok(stored)) =
                (key.split_once('/'), serde_json::from_slice::<StoredReplicator>(&v))
            else {
                tracing::warn!(key, "skipping a corrupt replicator record");
                continue;
            };
            out.push(ReplicatorRecord {
                peer: peer.to_string(),
                collection: collection.to_string(),
                addrs: stored.addrs,
                docs: stored.docs,
            });
        }
        Ok(out)
    }

    /// Stores a replicator (replacing one of the same peer and collection).
    pub(crate) async fn put_replicator(&self, r: &ReplicatorRecord) -> Result<(), Error> {
        let stored = StoredReplicator { addrs: r.addrs.clone(), docs: r.docs.clone() };
        let value = serde_json::to_vec(&stored).expect("serialises");
        self.set_meta(&replicator_key(&r.peer, &r.collection), Some(&value)).await
    }

    /// Deletes a replicator with its queued blocks and its refusals, in one
    /// transaction.
    pub(crate) async fn delete_replicator(&self, peer: &PeerKey, collection: &str) -> Result<(), Error> {
        let mut tx = self.store().begin(Mode::Write).await?;
        tx.delete(Table::Meta, replicator_key(&peer.text, collection).as_bytes()).await?;
        let rows = tx.scan(Table::Outbox, &KeyRange::prefix(&outbox_prefix(&peer.bytes)), None).await?;
        for (k, v) in rows {
            if v.get(8..) == Some(collection.as_bytes()) {
                tx.delete(Table::Outbox, &k).await?;
            }
        }
        let refused = format!("{META_REFUSED}{}/{collection}/", peer.text);
        for k in tx.scan_keys(Table::Meta, &KeyRange::prefix(refused.as_bytes()), None).await? {
            tx.delete(Table::Meta, &k).await?;
        }
        Ok(tx.commit().await?)
    }

    /// How many blocks `peer`'s outbox holds, by collection.
    pub(crate) async fn outbox_queued(&self, peer: &[u8]) -> Result<BTreeMap<String, usize>, Error> {
        let mut tx = self.store().begin_read(&[Table::Outbox]).await?;
        let mut queued = BTreeMap::new();
        for (_, v) in tx.scan(Table::Outbox, &KeyRange::prefix(&outbox_prefix(peer)), None).await? {
            *queued.entry(outbox_collection(&v)).or_default() += 1;
        }
        Ok(queued)
    }

    /// Writes outbox rows ([`outbox_row`]) for blocks already stored (a
    /// follower tab's, which the leader takes over), in one transaction.
    pub(crate) async fn queue_outbox(&self, rows: &[Row]) -> Result<(), Error> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut tx = self.store().begin(Mode::Write).await?;
        for (table, key, value) in rows {
            tx.put(*table, key, value).await?;
        }
        Ok(tx.commit().await?)
    }

    /// How many blocks every outbox holds together.
    pub(crate) async fn outbox_len(&self) -> Result<usize, Error> {
        let mut tx = self.store().begin_read(&[Table::Outbox]).await?;
        Ok(tx.count(Table::Outbox, &KeyRange::all()).await?)
    }

    /// Every block a replicator's peer refused.
    pub(crate) async fn refusals(&self) -> Result<Vec<RefusedRecord>, Error> {
        let mut tx = self.store().begin_read(&[Table::Meta]).await?;
        let rows = tx.scan(Table::Meta, &KeyRange::prefix(META_REFUSED.as_bytes()), None).await?;
        let mut out = Vec::new();
        for (k, v) in rows {
            let key = String::from_utf8_lossy(&k[META_REFUSED.len()..]).into_owned();
            let (Some((peer, rest)), Ok(r)) = (key.split_once('/'), serde_json::from_slice::<StoredRefusal>(&v)) else {
                continue;
            };
            let Some((collection, cid)) = rest.rsplit_once('/') else { continue };
            out.push(RefusedRecord {
                peer: peer.to_string(),
                collection: collection.to_string(),
                cid: cid.to_string(),
                code: r.code,
                reason: r.reason,
            });
        }
        Ok(out)
    }

    /// The next batch of `peer`'s outbox: lowest heights (parents) first,
    /// at most `max_blocks` blocks and `max_bytes` bytes (one block may
    /// weigh more, alone), none that `skip` names (the pushes in flight,
    /// what head exchange sent); and how many blocks the outbox holds in
    /// all but those. It reads the front of the peer's rows, in key order,
    /// as far as the batch needs. The count is the store's: one request in
    /// IndexedDB, counted by its backend; natively a walk over the peer's
    /// keys that copies none (19 ms at 200,000 rows; open: a count kept by
    /// the outbox's lane cost the page's wasm 2.1 KB, BENCHMARKS.md, "A
    /// replicator's long outbox"), less the skipped rows the batch met (so
    /// a block head exchange sent that lies past them is counted).
    pub(crate) async fn outbox_next(
        &self,
        peer: &[u8],
        skip: impl Fn(&Cid) -> bool,
        max_blocks: usize,
        max_bytes: usize,
    ) -> Result<(Vec<(Queued, Vec<u8>)>, usize), Error> {
        let mut tx = self.store().begin_read(&[Table::Outbox, Table::Packs]).await?;
        let prefix = outbox_prefix(peer);
        let whole = KeyRange::prefix(&prefix);
        let mut range = whole.clone();
        let mut chosen: Vec<Queued> = Vec::new();
        let mut skipped = 0;
        let chunk = max_blocks.saturating_add(64);
        loop {
            let keys = tx.scan_keys(Table::Outbox, &range, Some(chunk)).await?;
            let last = keys.len() < chunk;
            for k in &keys {
                // A malformed key (none is written) is passed over.
                match outbox_queued_at(&k[prefix.len()..]) {
                    Some((_, cid)) if skip(&cid) => skipped += 1,
                    Some(q) if chosen.len() < max_blocks => chosen.push(q),
                    Some(_) => break,
                    None => {}
                }
            }
            match keys.last() {
                Some(k) if !last && chosen.len() < max_blocks => range.lower = Bound::Excluded(k.clone()),
                _ => break,
            }
        }
        let total = tx.count(Table::Outbox, &whole).await?.saturating_sub(skipped);
        let cids: Vec<Cid> = chosen.iter().map(|(_, c)| *c).collect();
        let blocks = crate::db::layout::Blocks::default().get(&mut tx, &cids).await?;
        let mut batch = Vec::new();
        let mut size = 0;
        for (q, bytes) in chosen.into_iter().zip(blocks) {
            let Some(bytes) = bytes else { continue };
            if !batch.is_empty() && size + bytes.len() > max_bytes {
                break;
            }
            size += bytes.len();
            batch.push((q, bytes));
        }
        Ok((batch, total))
    }

    /// Clears from `peer`'s outbox what it acknowledged, and moves what it
    /// refused aside (kept as [`RefusedRecord`]s), so one block the peer
    /// will never take does not hold up the rest. Only blocks its outbox
    /// held are touched.
    pub(crate) async fn outbox_done(
        &self,
        peer: &PeerKey,
        acked: &[Queued],
        refused: &[Refused<'_>],
    ) -> Result<(), Error> {
        let mut tx = self.store().begin(Mode::Write).await?;
        for q in acked {
            tx.delete(Table::Outbox, &outbox_key(&peer.bytes, *q)).await?;
        }
        for ((height, cid), code, reason) in refused {
            let key = outbox_key(&peer.bytes, (*height, *cid));
            let Some(entry) = tx.get(Table::Outbox, &key).await? else { continue };
            tx.delete(Table::Outbox, &key).await?;
            let collection = outbox_collection(&entry);
            tracing::info!(peer = peer.text, %cid, code, collection, "replicator's peer refused a block: {reason}");
            let stored = StoredRefusal { code: code.to_string(), reason: reason.to_string() };
            let key = format!("{META_REFUSED}{}/{collection}/{cid}", peer.text);
            tx.put(Table::Meta, key.as_bytes(), &serde_json::to_vec(&stored).expect("serialises")).await?;
        }
        Ok(tx.commit().await?)
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use crate::store::MemoryStore;

    /// An open reads `meta` from the schemas to the signing key's record
    /// in one range (`db::open_range`); none of the node's records may sort
    /// within it, or an open would read them too, and take the last for the
    /// key's record when the key's is missing.
    #[test]
    fn no_record_of_the_node_sorts_among_what_an_open_reads() {
        let range = crate::db::open_range();
        let peer = "12D3KooWQYhTNQdmr3ArTeUHRYzFg94BKyTkoWBDWez9kSCVe2Xo";
        let keys = [
            replicator_key(peer, "Book"),
            format!("{META_REFUSED}{peer}/Book/bafyrei"),
            format!("{META_P2P}Book"),
            META_WEBRTC_CERT.into(),
            META_WEBTRANSPORT_CERTS.into(),
        ];
        for k in keys.iter().map(String::as_bytes).chain([crate::db::layout::LAYOUT_KEY]) {
            assert!(!range.contains(k) && !crate::db::read_on_open(k), "{}", String::from_utf8_lossy(k));
        }
        for k in [b"schema/Book".as_slice(), crate::db::META_KEY] {
            assert!(range.contains(k) && crate::db::read_on_open(k), "{}", String::from_utf8_lossy(k));
        }
    }

    fn merged(cid: Cid, height: u64, col: &str) -> Merged {
        Merged { cid, bytes: Vec::new(), height, collection: col.into(), doc: "d".into(), local: true, source: None }
    }

    async fn write<S: Store>(db: &Db<S>, rows: Vec<Row>) {
        let mut tx = db.store().begin(Mode::Write).await.unwrap();
        for (t, k, v) in rows {
            tx.put(t, &k, &v).await.unwrap();
        }
        tx.commit().await.unwrap();
    }

    #[test]
    fn an_outbox_goes_parents_first_and_keeps_what_was_refused_aside() {
        futures::executor::block_on(async {
            let db = Db::open(MemoryStore::default()).await.unwrap();
            db.add_schema("type Book { title: String }").await.unwrap();
            let mut cids = Vec::new();
            for i in 0..3 {
                let id = db.create("Book", serde_json::json!({ "title": format!("t{i}") }).as_object().unwrap()).await;
                let id = id.unwrap();
                cids.push(db.heads("Book", &id).await.unwrap()[0]);
            }
            let peer = PeerKey { text: "peer-a".into(), bytes: vec![1, 2, 3] };
            // Heights out of CID order: the batch goes by height.
            let rows = vec![
                outbox_row(&peer.bytes, &merged(cids[0], 3, "Book")),
                outbox_row(&peer.bytes, &merged(cids[1], 1, "Book")),
                outbox_row(&peer.bytes, &merged(cids[2], 2, "Book")),
                outbox_row(&[9], &merged(cids[0], 1, "Book")),
            ];
            write(&db, rows).await;
            assert_eq!(db.outbox_len().await.unwrap(), 4);
            let none = |_: &Cid| false;
            let (batch, total) = db.outbox_next(&peer.bytes, none, 2, usize::MAX).await.unwrap();
            assert_eq!(total, 3);
            assert_eq!(batch.iter().map(|(q, _)| *q).collect::<Vec<_>>(), vec![(1, cids[1]), (2, cids[2])]);
            let (one, _) = db.outbox_next(&peer.bytes, none, 3, 1).await.unwrap();
            assert_eq!(one.len(), 1, "a block over the byte budget goes alone");
            // With the first batch in flight, the next leaves it out.
            let flying = std::collections::HashSet::from([cids[1], cids[2]]);
            let (next, total) = db.outbox_next(&peer.bytes, |c| flying.contains(c), 2, usize::MAX).await.unwrap();
            assert_eq!((next.iter().map(|(q, _)| *q).collect::<Vec<_>>(), total), (vec![(3, cids[0])], 1));

            db.outbox_done(&peer, &[(1, cids[1])], &[((2, cids[2]), "UNAUTHORIZED", "not a writer")]).await.unwrap();
            assert_eq!(db.outbox_queued(&peer.bytes).await.unwrap(), BTreeMap::from([("Book".to_string(), 1)]));
            let refused = db.refusals().await.unwrap();
            assert_eq!(refused.len(), 1);
            assert_eq!(
                (refused[0].cid.as_str(), refused[0].code.as_str()),
                (cids[2].to_string().as_str(), "UNAUTHORIZED")
            );
            assert_eq!((refused[0].peer.as_str(), refused[0].collection.as_str()), ("peer-a", "Book"));
            // A refusal of a block the outbox does not hold is not stored.
            db.outbox_done(&peer, &[], &[((1, cids[1]), "X", "y")]).await.unwrap();
            assert_eq!(db.refusals().await.unwrap().len(), 1);

            let r = ReplicatorRecord { peer: "peer-a".into(), collection: "Book".into(), addrs: vec![], docs: None };
            db.put_replicator(&r).await.unwrap();
            assert_eq!(db.replicators().await.unwrap(), vec![r]);
            db.delete_replicator(&peer, "Book").await.unwrap();
            assert!(db.replicators().await.unwrap().is_empty());
            assert!(db.refusals().await.unwrap().is_empty());
            assert_eq!(db.outbox_len().await.unwrap(), 1, "only the other peer's row is left");
        });
    }

    /// A replicator's peer offline for long leaves a long outbox; each batch
    /// must read the front of it, not all of it (a batch read, decoded and
    /// sorted every row: 0.1 s a batch at 200,000 rows natively).
    #[test]
    fn a_batch_reads_the_front_of_the_outbox_whatever_its_length() {
        futures::executor::block_on(async {
            let store = crate::store::FailingStore::new(MemoryStore::default());
            let db = Db::open(store.clone()).await.unwrap();
            db.add_schema("type Book { title: String }").await.unwrap();
            let peer = PeerKey { text: "peer-a".into(), bytes: vec![1, 2, 3] };
            let id = db.create("Book", serde_json::json!({ "title": "t" }).as_object().unwrap()).await.unwrap();
            let genesis = db.heads("Book", &id).await.unwrap()[0];
            // 5,000 queued blocks (only the genesis is stored: the others'
            // rows name blocks this test never wrote, which a batch leaves out).
            let mut rows = vec![outbox_row(&peer.bytes, &merged(genesis, 1, "Book"))];
            for i in 0..4_999u64 {
                let cid = crate::core::block::cid_of(&i.to_be_bytes());
                rows.push(outbox_row(&peer.bytes, &merged(cid, 2 + i % 7, "Book")));
            }
            write(&db, rows).await;
            let before = store.scanned();
            let (batch, total) = db.outbox_next(&peer.bytes, |_| false, 10, usize::MAX).await.unwrap();
            let read = store.scanned() - before;
            assert_eq!((batch.len(), total), (1, 5_000), "the genesis, lowest, and the whole outbox counted");
            assert!(read <= 100, "a batch of 10 read {read} outbox rows");
        });
    }

    /// More skipped rows at the front than one read takes (the pushes in
    /// flight, what head exchange sent): the batch is the next rows past
    /// them, in order, and the count leaves them out.
    #[test]
    fn a_batch_reads_past_the_blocks_in_flight() {
        futures::executor::block_on(async {
            let db = Db::open(MemoryStore::default()).await.unwrap();
            db.add_schema("type Book { title: String }").await.unwrap();
            let docs: Vec<_> = (0..300).map(|i| serde_json::json!({ "title": format!("t{i}") })).collect();
            let docs: Vec<_> = docs.iter().map(|d| d.as_object().unwrap().clone()).collect();
            let ids = db.create_many("Book", &docs).await.unwrap();
            let mut cids: Vec<Cid> = ids.iter().map(|id| Cid::try_from(id.as_str()).unwrap()).collect();
            let peer = PeerKey { text: "peer-a".into(), bytes: vec![0, 36, 8, 1] };
            write(&db, cids.iter().map(|c| outbox_row(&peer.bytes, &merged(*c, 1, "Book"))).collect()).await;
            cids.sort_by_key(|c| c.to_bytes());
            let flying: std::collections::HashSet<Cid> = cids[..200].iter().copied().collect();
            let (batch, total) = db.outbox_next(&peer.bytes, |c| flying.contains(c), 10, usize::MAX).await.unwrap();
            let got: Vec<Cid> = batch.iter().map(|((_, c), _)| *c).collect();
            assert_eq!((got, total), (cids[200..210].to_vec(), 100));
        });
    }
}
