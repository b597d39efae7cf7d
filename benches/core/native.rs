// Native benchmarks: the block format, the merge, and the database on redb
// next to what redb alone costs.
//
// `cargo bench --bench core` (about two minutes on two cores); filter with
// `cargo bench --bench core -- redb/`. Results and how to read them are in
// BENCHMARKS.md, "Native (criterion)".
//
// Async APIs are driven with `futures::executor::block_on`: every store
// future is ready at once, so this measures the work, not a scheduler.

use std::hint::black_box;
use std::time::Duration;

use cid::Cid;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, SamplingMode};
use ed25519_dalek::{Signer, SigningKey, Verifier, VerifyingKey};
use futures::executor::block_on;
use redb::{Database, TableDefinition};
use serde_json::{json, Map, Value};
use weftdb::core::block::{cid_of, Block, SignedBlock};
use weftdb::core::doc::DocState;
use weftdb::store::{MemoryStore, RedbStore, Store};
use weftdb::Db;

const SDL: &str = "
type Book {
  title: String! @index
  pages: Int
  rating: Float
  read: Boolean
  shelf: Int @index
}";

/// The raw redb baseline's tables: byte keys to byte values, like the store's.
const RAW: TableDefinition<&[u8], &[u8]> = TableDefinition::new("raw");
const RAW_READ: TableDefinition<&[u8], &[u8]> = TableDefinition::new("raw_read");

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().expect("an object").clone()
}

/// The four fields of the block benchmarks' genesis.
fn dune() -> Map<String, Value> {
    obj(json!({"title": "Dune", "pages": 412, "rating": 4.5, "read": true}))
}

/// The n-th document of the database benchmarks: ten share each shelf in 10k.
fn book(n: usize) -> Map<String, Value> {
    obj(json!({"title": format!("Book {n}"), "pages": n % 1500, "rating": 4.5, "shelf": n % 1000}))
}

async fn books<S: Store>(store: S) -> Db<S> {
    let db = Db::open(store).await.expect("open");
    db.add_schema(SDL).await.expect("schema");
    db
}

/// One document's linear history: its genesis, then `len - 1` changes.
fn history(key: &SigningKey, n: u64, len: u64) -> Vec<SignedBlock> {
    let fields = obj(json!({"title": format!("Book {n}"), "pages": 0, "rating": 4.5, "read": false}));
    let genesis = Block::genesis("Book", fields, n.to_be_bytes(), key);
    let doc = genesis.cid;
    let mut blocks = vec![genesis];
    for height in 2..=len {
        let parent = blocks.last().expect("the genesis at least").cid;
        blocks.push(Block::change("Book", doc, vec![parent], height, obj(json!({"pages": height})), false, key));
    }
    blocks
}

fn bytes(blocks: &[SignedBlock]) -> Vec<Vec<u8>> {
    blocks.iter().map(|b| b.bytes.clone()).collect()
}

/// A pseudo-random 36-byte key, shaped like the CID keys of the `blocks` table.
fn raw_key(n: u64) -> Vec<u8> {
    cid_of(&n.to_be_bytes()).to_bytes()
}

fn block(c: &mut Criterion) {
    let key = SigningKey::from_bytes(&[7; 32]);
    let genesis = Block::genesis("Book", dune(), [1; 8], &key);
    let change = Block::change("Book", genesis.cid, vec![genesis.cid], 2, obj(json!({"pages": 413})), false, &key);
    // What the signature covers: the block encoded without "sig".
    let unsigned = serde_ipld_dagcbor::to_vec(&Block { sig: None, ..genesis.block.clone() }).expect("encodes");
    let sig = key.sign(&unsigned);
    let public: [u8; 32] = key.verifying_key().to_bytes();
    let verifying = key.verifying_key();
    eprintln!(
        "block sizes: genesis {} B (unsigned {} B), change {} B",
        genesis.bytes.len(),
        unsigned.len(),
        change.bytes.len()
    );

    let mut group = c.benchmark_group("block");
    group.sample_size(20).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2));
    group.bench_function("genesis_encode_sign_4_fields", |b| {
        b.iter_batched(dune, |f| Block::genesis("Book", f, [1; 8], &key), BatchSize::SmallInput)
    });
    group.bench_function("change_encode_sign", |b| {
        b.iter_batched(
            || obj(json!({"pages": 413})),
            |f| Block::change("Book", genesis.cid, vec![genesis.cid], 2, f, false, &key),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("decode_verify", |b| {
        b.iter(|| SignedBlock::decode(black_box(&genesis.bytes), Some(genesis.cid)).expect("valid"))
    });
    // What a page does before handing the signature to WebCrypto: all of
    // decode_verify but the check itself.
    group.bench_function("decode_unverified", |b| {
        b.iter(|| SignedBlock::decode_unverified(black_box(&genesis.bytes), Some(genesis.cid)).expect("valid"))
    });
    group.bench_function("cid_of_200B", |b| b.iter(|| cid_of(black_box(&genesis.bytes))));
    group.bench_function("ed25519_sign", |b| b.iter(|| key.sign(black_box(&unsigned))));
    group.bench_function("ed25519_verify", |b| {
        b.iter(|| verifying.verify(black_box(&unsigned), black_box(&sig)).expect("verifies"))
    });
    // The rest of decode_verify, piece by piece.
    group.bench_function("ed25519_public_key_decompress", |b| {
        b.iter(|| VerifyingKey::from_bytes(black_box(&public)).expect("a point"))
    });
    group.bench_function("dagcbor_decode", |b| {
        b.iter(|| serde_ipld_dagcbor::from_slice::<Block>(black_box(&genesis.bytes)).expect("decodes"))
    });
    group.bench_function("dagcbor_encode_unsigned", |b| {
        b.iter(|| {
            let unsigned = Block { sig: None, ..black_box(&genesis.block).clone() };
            serde_ipld_dagcbor::to_vec(&unsigned).expect("encodes")
        })
    });
    group.finish();
}

fn merge(c: &mut Criterion) {
    let key = SigningKey::from_bytes(&[7; 32]);
    let mut group = c.benchmark_group("merge");
    group.sample_size(20).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2));

    let genesis = Block::genesis("Book", dune(), [1; 8], &key);
    let change = Block::change(
        "Book",
        genesis.cid,
        vec![genesis.cid],
        2,
        obj(json!({"pages": 413, "read": false})),
        false,
        &key,
    );
    let mut state = DocState::default();
    state.apply(&genesis);
    group.bench_function("docstate_apply_change", |b| {
        b.iter_batched_ref(|| state.clone(), |s| s.apply(black_box(&change)), BatchSize::SmallInput)
    });

    // One change into a document with 10 blocks; every iteration imports the
    // next block of the chain, so the document keeps one head and its state
    // keeps its size (nothing the merge does grows with the history).
    let db = block_on(books(MemoryStore::new()));
    let prior = history(&key, 0, 10);
    assert_eq!(block_on(db.import(&bytes(&prior))).expect("import").merged, 10);
    let doc = prior[0].cid;
    let (mut parent, mut height): (Cid, u64) = (prior[9].cid, 10);
    group.bench_function("import_1_change_memory", |b| {
        b.iter_batched(
            || {
                height += 1;
                let next = Block::change("Book", doc, vec![parent], height, obj(json!({"pages": height})), false, &key);
                parent = next.cid;
                vec![next.bytes]
            },
            |blocks| {
                let report = block_on(db.import(&blocks)).expect("import");
                debug_assert_eq!(report.merged, 1);
                report
            },
            BatchSize::SmallInput,
        )
    });

    // 100 documents × 10 blocks into an empty database, in one import.
    let causal: Vec<Vec<u8>> = (0..100).flat_map(|n| bytes(&history(&key, n, 10))).collect();
    let reverse: Vec<Vec<u8>> = causal.iter().rev().cloned().collect();
    group.sample_size(10).sampling_mode(SamplingMode::Flat).measurement_time(Duration::from_secs(3));
    for (name, blocks) in [("import_1000_causal_memory", &causal), ("import_1000_reverse_memory", &reverse)] {
        group.bench_function(name, |b| {
            b.iter_batched(
                || block_on(books(MemoryStore::new())),
                |db| {
                    let report = block_on(db.import(blocks)).expect("import");
                    assert_eq!((report.merged, report.pending), (1000, 0));
                    db // dropped outside the measurement
                },
                BatchSize::PerIteration,
            )
        });
    }
    group.finish();
}

fn redb(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut group = c.benchmark_group("redb");
    group.sample_size(20).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3));

    // The baseline: redb alone, one 200-byte value per durable commit.
    let raw = Database::create(dir.path().join("raw.redb")).expect("raw redb");
    let value = [0xab_u8; 200];
    let mut n = 0_u64;
    group.bench_function("raw_insert_200B_own_tx", |b| {
        b.iter_batched(
            || {
                n += 1;
                raw_key(n)
            },
            |k| {
                let tx = raw.begin_write().expect("begin");
                tx.open_table(RAW).expect("table").insert(k.as_slice(), value.as_slice()).expect("insert");
                tx.commit().expect("commit");
            },
            BatchSize::SmallInput,
        )
    });
    let keys: Vec<Vec<u8>> = (0..10_000).map(raw_key).collect();
    let tx = raw.begin_write().expect("begin");
    {
        let mut t = tx.open_table(RAW_READ).expect("table");
        for k in &keys {
            t.insert(k.as_slice(), value.as_slice()).expect("insert");
        }
    }
    tx.commit().expect("commit");
    let mut i = 0;
    group.bench_function("raw_get_200B_of_10k", |b| {
        b.iter(|| {
            i = (i + 7919) % keys.len();
            let tx = raw.begin_read().expect("begin");
            let t = tx.open_table(RAW_READ).expect("table");
            let v = t.get(keys[i].as_slice()).expect("get").expect("present");
            v.value().to_vec()
        })
    });

    // Writes on a database that starts empty.
    let db = block_on(books(RedbStore::open(dir.path().join("writes.redb")).expect("redb")));
    let mut n = 0;
    group.bench_function("db_create_1", |b| {
        b.iter(|| {
            n += 1;
            block_on(db.create("Book", &book(n))).expect("create")
        })
    });
    let id = block_on(db.create("Book", &book(0))).expect("create");
    let mut pages = 0;
    group.bench_function("db_update_1", |b| {
        b.iter(|| {
            pages += 1;
            block_on(db.update("Book", &id, &obj(json!({"pages": pages})))).expect("update")
        })
    });

    // Reads on 10,000 documents.
    let reads = block_on(books(RedbStore::open(dir.path().join("reads.redb")).expect("redb")));
    let mut ids = Vec::new();
    for batch in 0..10 {
        let docs: Vec<_> = (batch * 1000..(batch + 1) * 1000).map(book).collect();
        ids.extend(block_on(reads.create_many("Book", &docs)).expect("create_many"));
    }
    let mut i = 0;
    group.bench_function("db_get_of_10k", |b| {
        b.iter(|| {
            i = (i + 7919) % ids.len();
            block_on(reads.get("Book", &ids[i])).expect("get").expect("present")
        })
    });
    let queries: Vec<Value> = (0..1000).map(|s| json!({"filter": {"shelf": {"_eq": s}}})).collect();
    assert_eq!(block_on(reads.find("Book", &queries[0])).expect("find").len(), 10);
    let mut s = 0;
    group.bench_function("db_find_eq_10_of_10k", |b| {
        b.iter(|| {
            s = (s + 7) % queries.len();
            block_on(reads.find("Book", &queries[s])).expect("find")
        })
    });

    // No filter, no order, a limit: the first 10 documents are the answer.
    let first10 = json!({"limit": 10});
    assert_eq!(block_on(reads.find("Book", &first10)).expect("find").len(), 10);
    group.bench_function("db_find_limit_10_of_10k", |b| {
        b.iter(|| block_on(reads.find("Book", black_box(&first10))).expect("find"))
    });

    // Batches: 1,000 of each in one durable commit.
    group.sample_size(10).sampling_mode(SamplingMode::Flat).measurement_time(Duration::from_secs(4));
    let mut n = 1 << 32; // above the keys inserted one at a time
    group.bench_function("raw_insert_1000x200B_one_tx", |b| {
        b.iter_batched(
            || {
                n += 1000;
                (n - 1000..n).map(raw_key).collect::<Vec<_>>()
            },
            |keys| {
                let tx = raw.begin_write().expect("begin");
                {
                    let mut t = tx.open_table(RAW).expect("table");
                    for k in &keys {
                        t.insert(k.as_slice(), value.as_slice()).expect("insert");
                    }
                }
                tx.commit().expect("commit");
            },
            BatchSize::PerIteration,
        )
    });
    let mut n = 1_000_000;
    group.bench_function("db_create_many_1000", |b| {
        b.iter_batched(
            || {
                n += 1000;
                (n - 1000..n).map(book).collect::<Vec<_>>()
            },
            |docs| block_on(db.create_many("Book", &docs)).expect("create_many"),
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, block, merge, redb);
criterion_main!(benches);
