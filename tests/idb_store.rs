//! The IndexedDB backend in a real browser:
//! `wasm-pack test --headless --chrome --test idb_store`.
#![cfg(target_arch = "wasm32")]

use std::ops::Bound::{Excluded, Included, Unbounded};

use wasm_bindgen_test::*;
use weftdb::store::{IdbStore, KeyRange, Mode, Store, Table, Tx};

wasm_bindgen_test_configure!(run_in_browser);

/// A fresh, empty database.
async fn fresh(name: &str) -> IdbStore {
    IdbStore::destroy(name).await.unwrap();
    IdbStore::open(name).await.unwrap()
}

async fn put_all(store: &IdbStore, table: Table, entries: &[(&[u8], &[u8])]) {
    let mut tx = store.begin(Mode::Write).await.unwrap();
    for (k, v) in entries {
        tx.put(table, k, v).await.unwrap();
    }
    tx.commit().await.unwrap();
}

async fn get(store: &IdbStore, table: Table, key: &[u8]) -> Option<Vec<u8>> {
    let mut tx = store.begin(Mode::Read).await.unwrap();
    let v = tx.get(table, key).await.unwrap();
    tx.commit().await.unwrap();
    v
}

async fn keys(store: &IdbStore, table: Table, range: KeyRange, limit: Option<usize>) -> Vec<Vec<u8>> {
    let mut tx = store.begin(Mode::Read).await.unwrap();
    let entries = tx.scan(table, &range, limit).await.unwrap();
    let keys = tx.scan_keys(table, &range, limit).await.unwrap();
    let count = tx.count(table, &range).await.unwrap();
    // scan, scan_keys and count agree with one another.
    assert_eq!(entries.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>(), keys);
    for (k, v) in &entries {
        assert_eq!(v, &[k.as_slice(), b"!"].concat(), "value belongs to its key");
    }
    if limit.is_none() {
        assert_eq!(count, keys.len());
    }
    keys
}

#[wasm_bindgen_test]
async fn put_get_delete() {
    let store = fresh("idb-put-get-delete").await;
    let mut tx = store.begin(Mode::Write).await.unwrap();
    assert_eq!(tx.get(Table::Pending, b"a").await.unwrap(), None);
    tx.put(Table::Pending, b"a", b"1").await.unwrap();
    tx.put(Table::Pending, b"b", &[]).await.unwrap();
    tx.put(Table::Meta, b"a", b"meta").await.unwrap();
    // A transaction reads its own writes.
    assert_eq!(tx.get(Table::Pending, b"a").await.unwrap(), Some(b"1".to_vec()));
    tx.put(Table::Pending, b"a", b"2").await.unwrap();
    tx.commit().await.unwrap();

    assert_eq!(get(&store, Table::Pending, b"a").await, Some(b"2".to_vec()));
    assert_eq!(get(&store, Table::Pending, b"b").await, Some(Vec::new()), "empty values survive");
    assert_eq!(get(&store, Table::Meta, b"a").await, Some(b"meta".to_vec()), "tables are separate");
    assert_eq!(store.get_one(Table::Pending, b"a").await.unwrap(), Some(b"2".to_vec()), "a read of its own");
    assert_eq!(store.get_one(Table::Meta, b"a").await.unwrap(), Some(b"meta".to_vec()));
    assert_eq!(store.get_one(Table::Meta, b"missing").await.unwrap(), None);

    let mut tx = store.begin(Mode::Write).await.unwrap();
    tx.delete(Table::Pending, b"a").await.unwrap();
    tx.delete(Table::Pending, b"missing").await.unwrap();
    assert_eq!(tx.get(Table::Pending, b"a").await.unwrap(), None);
    tx.commit().await.unwrap();
    assert_eq!(get(&store, Table::Pending, b"a").await, None);
    assert_eq!(get(&store, Table::Meta, b"a").await, Some(b"meta".to_vec()));
}

#[wasm_bindgen_test]
async fn scans_follow_bytewise_key_order() {
    let store = fresh("idb-scan").await;
    let all: Vec<Vec<u8>> = vec![
        vec![],
        vec![0x00],
        vec![0x00, 0x00],
        vec![0x01],
        vec![0x01, 0xff],
        vec![0x02],
        vec![0x80],
        vec![0xff],
        vec![0xff, 0xff, 0x01],
    ];
    // Inserted out of order.
    let mut tx = store.begin(Mode::Write).await.unwrap();
    for k in all.iter().rev() {
        tx.put(Table::Waiting, k, &[k.as_slice(), b"!"].concat()).await.unwrap();
    }
    tx.commit().await.unwrap();

    let v = |ks: &[&[u8]]| ks.iter().map(|k| k.to_vec()).collect::<Vec<_>>();
    assert_eq!(keys(&store, Table::Waiting, KeyRange::all(), None).await, all, "bytewise order, shorter prefix first");
    assert_eq!(keys(&store, Table::Waiting, KeyRange::prefix(&[0x01]), None).await, v(&[&[0x01], &[0x01, 0xff]]));
    assert_eq!(keys(&store, Table::Waiting, KeyRange::prefix(&[0x00]), None).await, v(&[&[0x00], &[0x00, 0x00]]));
    // 0xff prefixes have no upper bound.
    assert_eq!(keys(&store, Table::Waiting, KeyRange::prefix(&[0xff]), None).await, v(&[&[0xff], &[0xff, 0xff, 0x01]]));
    assert_eq!(keys(&store, Table::Waiting, KeyRange::prefix(&[0x03]), None).await, Vec::<Vec<u8>>::new());
    assert_eq!(keys(&store, Table::Waiting, KeyRange::prefix(&[]), Some(3)).await, all[..3].to_vec());

    let range = |lower, upper| KeyRange { lower, upper };
    let (k01, k80) = (vec![0x01], vec![0x80]);
    assert_eq!(
        keys(&store, Table::Waiting, range(Included(k01.clone()), Included(k80.clone())), None).await,
        v(&[&[0x01], &[0x01, 0xff], &[0x02], &[0x80]])
    );
    assert_eq!(
        keys(&store, Table::Waiting, range(Excluded(k01.clone()), Excluded(k80.clone())), None).await,
        v(&[&[0x01, 0xff], &[0x02]])
    );
    assert_eq!(keys(&store, Table::Waiting, range(Unbounded, Excluded(vec![0x01])), None).await, all[..3].to_vec());
    assert_eq!(keys(&store, Table::Waiting, range(Excluded(vec![0x80]), Unbounded), None).await, all[7..].to_vec());
    assert_eq!(
        keys(&store, Table::Waiting, range(Included(k01.clone()), Unbounded), Some(2)).await,
        v(&[&[0x01], &[0x01, 0xff]])
    );
    assert_eq!(keys(&store, Table::Waiting, KeyRange::all(), Some(0)).await, Vec::<Vec<u8>>::new());
    // Empty ranges (IndexedDB would throw on them) return nothing.
    for empty in [
        range(Included(k80.clone()), Included(k01.clone())),
        range(Excluded(k01.clone()), Included(k01.clone())),
        range(Included(k01.clone()), Excluded(k01.clone())),
    ] {
        assert!(empty.is_empty());
        assert_eq!(keys(&store, Table::Waiting, empty, None).await, Vec::<Vec<u8>>::new());
    }
    assert_eq!(keys(&store, Table::Waiting, range(Included(k01.clone()), Included(k01)), None).await, v(&[&[0x01]]));
    assert_eq!(keys(&store, Table::Outbox, KeyRange::all(), None).await, Vec::<Vec<u8>>::new(), "other tables empty");
}

#[wasm_bindgen_test]
async fn bulk_writes_land() {
    let store = fresh("idb-bulk").await;
    let mut tx = store.begin(Mode::Write).await.unwrap();
    for i in 0u32..2000 {
        let k = i.to_be_bytes();
        tx.put(Table::Outbox, &k, &[k.as_slice(), b"!"].concat()).await.unwrap();
    }
    for i in (0u32..2000).step_by(2) {
        tx.delete(Table::Outbox, &i.to_be_bytes()).await.unwrap();
    }
    // Reads queue behind the writes before them.
    assert_eq!(tx.count(Table::Outbox, &KeyRange::all()).await.unwrap(), 1000);
    tx.commit().await.unwrap();
    let ks = keys(&store, Table::Outbox, KeyRange::all(), None).await;
    assert_eq!(ks, (0u32..2000).filter(|i| i % 2 == 1).map(|i| i.to_be_bytes().to_vec()).collect::<Vec<_>>());
}

#[wasm_bindgen_test]
async fn commit_makes_writes_visible() {
    let store = fresh("idb-commit").await;
    let other = IdbStore::open("idb-commit").await.unwrap();
    put_all(&store, Table::Documents, &[(b"k", b"v")]).await;
    assert_eq!(get(&store, Table::Documents, b"k").await, Some(b"v".to_vec()));
    assert_eq!(get(&other, Table::Documents, b"k").await, Some(b"v".to_vec()), "another connection sees it");
    // A read transaction's commit is fine too.
    let tx = store.begin(Mode::Read).await.unwrap();
    tx.commit().await.unwrap();
}

#[wasm_bindgen_test]
async fn dropped_transaction_rolls_back() {
    let store = fresh("idb-rollback").await;
    put_all(&store, Table::Pending, &[(b"kept", b"1")]).await;
    {
        let mut tx = store.begin(Mode::Write).await.unwrap();
        tx.put(Table::Pending, b"new", b"x").await.unwrap();
        tx.delete(Table::Pending, b"kept").await.unwrap();
        // Awaited requests are rolled back too, not only pending ones.
        assert_eq!(tx.get(Table::Pending, b"new").await.unwrap(), Some(b"x".to_vec()));
        tx.put(Table::Pending, b"later", b"y").await.unwrap();
    }
    assert_eq!(get(&store, Table::Pending, b"new").await, None);
    assert_eq!(get(&store, Table::Pending, b"later").await, None);
    assert_eq!(get(&store, Table::Pending, b"kept").await, Some(b"1".to_vec()));
}

#[wasm_bindgen_test]
async fn databases_are_isolated() {
    let a = fresh("idb-iso-a").await;
    let b = fresh("idb-iso-b").await;
    put_all(&a, Table::Meta, &[(b"k", b"a")]).await;
    assert_eq!(get(&b, Table::Meta, b"k").await, None);
    put_all(&b, Table::Meta, &[(b"k", b"b")]).await;
    assert_eq!(get(&a, Table::Meta, b"k").await, Some(b"a".to_vec()));
    assert_eq!(get(&b, Table::Meta, b"k").await, Some(b"b".to_vec()));
}

#[wasm_bindgen_test]
async fn data_survives_close_and_reopen() {
    let store = fresh("idb-reopen").await;
    put_all(&store, Table::Pending, &[(&[0xff, 0x00], &[1, 2, 3])]).await;
    store.close();
    let err = match store.begin(Mode::Read).await {
        Err(e) => e.to_string(),
        Ok(_) => panic!("a closed store began a transaction"),
    };
    assert!(err.contains("IndexedDB transaction failed"), "{err}");
    drop(store);
    let store = IdbStore::open("idb-reopen").await.unwrap();
    assert_eq!(get(&store, Table::Pending, &[0xff, 0x00]).await, Some(vec![1, 2, 3]));
}

#[wasm_bindgen_test]
async fn destroy_removes_the_database() {
    let store = fresh("idb-destroy").await;
    put_all(&store, Table::Waiting, &[(b"k", b"v")]).await;
    store.close();
    IdbStore::destroy("idb-destroy").await.unwrap();
    let store = IdbStore::open("idb-destroy").await.unwrap();
    assert_eq!(get(&store, Table::Waiting, b"k").await, None);

    // Open connections give way instead of blocking the deletion forever.
    put_all(&store, Table::Waiting, &[(b"k", b"v")]).await;
    let other = IdbStore::open("idb-destroy").await.unwrap();
    IdbStore::destroy("idb-destroy").await.unwrap();
    assert!(other.begin(Mode::Read).await.is_err(), "the deletion closed the other connection");
    let store = IdbStore::open("idb-destroy").await.unwrap();
    assert_eq!(get(&store, Table::Waiting, b"k").await, None);
    IdbStore::destroy("idb-destroy-never-created").await.unwrap();
}

#[wasm_bindgen_test]
async fn write_transactions_serialise() {
    async fn increment(store: &IdbStore) {
        let mut tx = store.begin(Mode::Write).await.unwrap();
        let n = tx.get(Table::Meta, b"counter").await.unwrap().map_or(0, |v| v[0]);
        tx.put(Table::Meta, b"counter", &[n + 1]).await.unwrap();
        tx.commit().await.unwrap();
    }
    let a = fresh("idb-serialise").await;
    let b = IdbStore::open("idb-serialise").await.unwrap();
    futures::future::join(increment(&a), increment(&b)).await;
    assert_eq!(get(&a, Table::Meta, b"counter").await, Some(vec![2]));
    futures::future::join3(increment(&a), increment(&b), increment(&a.clone())).await;
    assert_eq!(get(&b, Table::Meta, b"counter").await, Some(vec![5]));
}

#[wasm_bindgen_test]
async fn errors_are_readable() {
    let store = fresh("idb-errors").await;
    let mut tx = store.begin(Mode::Read).await.unwrap();
    let err = tx.put(Table::Meta, b"k", b"v").await.unwrap_err().to_string();
    assert!(err.contains("IndexedDB put failed") && err.contains("ReadOnlyError"), "{err}");
}

/// Another tab's deletion (or a newer build's upgrade) closes this
/// connection at once instead of blocking it: the store says it is stale,
/// tells its listeners once, and refuses transactions.
#[wasm_bindgen_test]
async fn a_deletion_elsewhere_leaves_the_store_stale() {
    let store = fresh("idb-stale").await;
    let heard = std::rc::Rc::new(std::cell::Cell::new(0));
    let h = heard.clone();
    store.on_stale(move || h.set(h.get() + 1));
    assert!(!store.is_stale());
    IdbStore::destroy("idb-stale").await.unwrap();
    assert!(store.is_stale());
    assert_eq!(heard.get(), 1);
    let Err(e) = store.begin(Mode::Read).await else { panic!("a stale store began a transaction") };
    assert!(e.to_string().contains("another tab"), "{e}");
    let Err(e) = store.get_one(Table::Meta, b"k").await else { panic!("a stale store read") };
    assert!(e.to_string().contains("another tab"), "{e}");
}

/// A table with secondary keys: IndexedDB's own index finds a record by
/// each of them and follows a put that changes them.
#[wasm_bindgen_test]
async fn secondary_keys_follow_their_record() {
    let store = fresh("idb-secondary").await;
    let mut tx = store.begin(Mode::Write).await.unwrap();
    tx.put_keyed(Table::Packs, b"p1", b"one", &[], &[b"b1".to_vec(), b"x".to_vec()]).await.unwrap();
    tx.put_keyed(Table::Packs, b"p2", b"two", &[], &[b"a2".to_vec()]).await.unwrap();
    tx.put_keyed(Table::Packs, b"p3", b"three", &[], &[]).await.unwrap();
    tx.commit().await.unwrap();
    let mut tx = store.begin(Mode::Read).await.unwrap();
    assert_eq!(tx.get(Table::Packs, b"p1").await.unwrap(), Some(b"one".to_vec()), "a get reads the value");
    let by = tx.get_many(Table::PacksBy, &[b"b1".to_vec(), b"x".to_vec(), b"a2".to_vec(), b"zz".to_vec()]).await;
    assert_eq!(by.unwrap(), vec![Some(b"p1".to_vec()), Some(b"p1".to_vec()), Some(b"p2".to_vec()), None]);
    let values = tx.scan_values(Table::Packs, &KeyRange::all(), None).await.unwrap();
    assert_eq!(values, vec![b"one".to_vec(), b"two".to_vec(), b"three".to_vec()], "a scan reads values");
    // An open reads `meta` so: a range whose upper end is a key it holds.
    let both = KeyRange { lower: Included(b"p2".to_vec()), upper: Included(b"p3".to_vec()) };
    let values = tx.scan_values(Table::Packs, &both, None).await.unwrap();
    assert_eq!(values, vec![b"two".to_vec(), b"three".to_vec()], "a range read takes both ends in");
    let (got, keys) = tx
        .get_each_and_keys(
            &[(Table::PacksBy, b"a2".to_vec()), (Table::Packs, b"p2".to_vec())],
            &[(Table::Packs, 2), (Table::Pending, 1)],
        )
        .await
        .unwrap();
    let firsts = vec![vec![b"p1".to_vec(), b"p2".to_vec()], vec![]];
    assert_eq!(
        (got, keys),
        (vec![Some(b"p2".to_vec()), Some(b"two".to_vec())], firsts),
        "reads and first keys at once"
    );
    drop(tx);
    let mut tx = store.begin(Mode::Write).await.unwrap();
    tx.put_keyed(Table::Packs, b"p1", b"uno", &[b"b1".to_vec(), b"x".to_vec()], &[b"c1".to_vec()]).await.unwrap();
    assert_eq!(tx.get(Table::PacksBy, b"b1").await.unwrap(), None, "an old secondary key is gone");
    assert_eq!(tx.get(Table::PacksBy, b"c1").await.unwrap(), Some(b"p1".to_vec()));
    tx.clear(Table::Packs).await.unwrap();
    assert_eq!(tx.get(Table::PacksBy, b"c1").await.unwrap(), None, "a cleared table's index is empty");
    tx.commit().await.unwrap();
    IdbStore::destroy("idb-secondary").await.unwrap();
}
