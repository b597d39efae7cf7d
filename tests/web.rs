//! The JS contract in real Chromium on real IndexedDB. Every call goes
//! through the JS names (`addSchema`, `createMany`, ...) the way a web page
//! makes it, so these tests see what a web developer sees.
#![cfg(target_arch = "wasm32")]
#![allow(clippy::cloned_ref_to_slice_refs)] // argument lists read better as literals

use js_sys::{Array, Function, Promise, Reflect, Uint8Array, JSON};
use serde_json::{json, Value};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;
use weftdb::Database;

wasm_bindgen_test_configure!(run_in_browser);

const SDL: &str =
    "type Book { title: String! @index pages: Int rating: Float read: Boolean tags: [String] published: DateTime }";

fn js(v: Value) -> JsValue {
    JSON::parse(&v.to_string()).unwrap()
}

fn rs(v: &JsValue) -> Value {
    if v.is_undefined() {
        return Value::Null;
    }
    serde_json::from_str(&String::from(JSON::stringify(v).unwrap())).unwrap()
}

/// Calls `obj.method(...args)` and awaits the result if it is a promise.
async fn call(obj: &JsValue, method: &str, args: &[JsValue]) -> Result<JsValue, JsValue> {
    let f: Function = Reflect::get(obj, &method.into())?.dyn_into().expect("a method");
    let out = f.apply(obj, &args.iter().collect::<Array>())?;
    match out.dyn_into::<Promise>() {
        Ok(p) => JsFuture::from(p).await,
        Err(v) => Ok(v),
    }
}

async fn ok(obj: &JsValue, method: &str, args: &[JsValue]) -> JsValue {
    match call(obj, method, args).await {
        Ok(v) => v,
        Err(e) => panic!("{method} failed: {}", error_text(&e)),
    }
}

/// The `code` of the JS Error a call rejected with; panics if it resolved.
async fn code(obj: &JsValue, method: &str, args: &[JsValue]) -> String {
    let err = call(obj, method, args).await.err().unwrap_or_else(|| panic!("{method} should have failed"));
    assert!(err.is_instance_of::<js_sys::Error>(), "errors are JS Errors");
    let message = error_text(&err);
    assert!(message.len() > 10, "a message a developer can read: {message}");
    Reflect::get(&err, &"code".into()).unwrap().as_string().expect("the error has a code")
}

fn error_text(e: &JsValue) -> String {
    Reflect::get(e, &"message".into()).ok().and_then(|m| m.as_string()).unwrap_or_else(|| format!("{e:?}"))
}

async fn open(name: &str) -> JsValue {
    JsFuture::from(Database::open(name.into(), JsValue::UNDEFINED)).await.unwrap()
}

async fn destroy(name: &str) {
    JsFuture::from(Database::destroy(name.into())).await.unwrap();
}

async fn fresh(name: &str) -> JsValue {
    destroy(name).await;
    open(name).await
}

fn collection(db: &JsValue, name: &str) -> JsValue {
    let f: Function = Reflect::get(db, &"collection".into()).unwrap().dyn_into().unwrap();
    f.call1(db, &name.into()).unwrap()
}

#[wasm_bindgen_test]
async fn the_whole_contract() {
    let db = fresh("contract").await;
    assert_eq!(rs(&ok(&db, "addSchema", &[SDL.into()]).await), json!(["Book"]));
    let books = collection(&db, "Book");

    let events = Array::new();
    let sink = events.clone();
    let listener = wasm_bindgen::closure::Closure::<dyn FnMut(JsValue)>::new(move |ev| {
        sink.push(&ev);
    });
    let stop = ok(&books, "subscribe", &[listener.as_ref().clone()]).await;

    let id =
        ok(&books, "create", &[js(json!({"title": "Dune", "pages": 412}))]).await.as_string().expect("an id string");
    assert_eq!(rs(&ok(&books, "get", &[id.clone().into()]).await), json!({"_id": id, "title": "Dune", "pages": 412}));
    ok(&books, "update", &[id.clone().into(), js(json!({"pages": 413}))]).await;
    assert_eq!(rs(&ok(&books, "get", &[id.clone().into()]).await), json!({"_id": id, "title": "Dune", "pages": 413}));

    let more: Vec<Value> = (0..20).map(|i| json!({"title": format!("B{i:02}"), "pages": i * 50})).collect();
    let ids = rs(&ok(&books, "createMany", &[js(Value::Array(more))]).await);
    assert_eq!(ids.as_array().unwrap().len(), 20);

    let q = js(json!({"filter": {"pages": {"_gt": 100}}, "order": {"title": "ASC"}, "limit": 3, "offset": 1}));
    let found = rs(&ok(&books, "find", &[q]).await);
    let titles: Vec<&str> = found.as_array().unwrap().iter().map(|d| d["title"].as_str().unwrap()).collect();
    assert_eq!(titles, ["B04", "B05", "B06"]);
    let n = ok(&books, "count", &[js(json!({"filter": {"pages": {"_gt": 100}}}))]).await;
    assert_eq!(n.as_f64(), Some(18.0));
    assert_eq!(ok(&books, "count", &[]).await.as_f64(), Some(21.0));
    let by_index = rs(&ok(&books, "find", &[js(json!({"filter": {"title": {"_eq": "Dune"}}}))]).await);
    assert_eq!(by_index[0]["_id"], json!(id));

    let heads = rs(&ok(&books, "heads", &[id.clone().into()]).await);
    assert_eq!(heads.as_array().unwrap().len(), 1);
    assert!(heads[0].as_str().unwrap().starts_with("bafy"), "CID strings: {heads}");

    // Another replica takes every block and converges.
    let other = fresh("contract-other").await;
    ok(&other, "addSchema", &[SDL.into()]).await;
    let blocks = ok(&db, "exportBlocks", &[]).await;
    let blocks_arr = Array::from(&blocks);
    assert_eq!(blocks_arr.length(), 22);
    assert!(blocks_arr.get(0).is_instance_of::<Uint8Array>());
    ok(&other, "importBlocks", &[blocks]).await;
    let other_books = collection(&other, "Book");
    assert_eq!(
        rs(&ok(&other_books, "get", &[id.clone().into()]).await),
        rs(&ok(&books, "get", &[id.clone().into()]).await)
    );
    assert_eq!(rs(&ok(&other_books, "heads", &[id.clone().into()]).await), heads);
    assert_eq!(ok(&other_books, "count", &[]).await.as_f64(), Some(21.0));

    ok(&books, "delete", &[id.clone().into()]).await;
    assert!(ok(&books, "get", &[id.clone().into()]).await.is_null());

    let seen: Vec<Value> = events.iter().map(|e| rs(&e)).collect();
    assert_eq!(seen[0]["type"], "create");
    assert_eq!(seen[0]["id"], json!(id));
    assert_eq!(seen[0]["doc"]["title"], "Dune");
    assert_eq!(seen[1]["type"], "update");
    assert_eq!(seen[1]["doc"]["pages"], 413);
    assert_eq!(seen.len(), 1 + 1 + 20 + 1);
    assert_eq!(seen.last().unwrap()["type"], "delete");
    assert!(seen.last().unwrap()["doc"].is_null());
    stop.dyn_ref::<Function>().expect("subscribe returns a function").call0(&JsValue::NULL).unwrap();
    ok(&books, "create", &[js(json!({"title": "after stop"}))]).await;
    assert_eq!(events.length() as usize, seen.len(), "stop() ends the subscription");

    ok(&db, "close", &[]).await;
    ok(&other, "close", &[]).await;
    destroy("contract").await;
    destroy("contract-other").await;
}

#[wasm_bindgen_test]
async fn data_survives_close_and_reopen() {
    let db = fresh("persist").await;
    ok(&db, "addSchema", &[SDL.into()]).await;
    let id = ok(&collection(&db, "Book"), "create", &[js(json!({"title": "Kept", "read": true}))]).await;
    ok(&collection(&db, "Book"), "update", &[id.clone(), js(json!({"rating": 4.5}))]).await;
    let heads = rs(&ok(&collection(&db, "Book"), "heads", &[id.clone()]).await);
    ok(&db, "close", &[]).await;
    assert_eq!(code(&collection(&db, "Book"), "get", &[id.clone()]).await, "STORAGE", "a closed database says so");

    let db = open("persist").await;
    let books = collection(&db, "Book");
    let doc = rs(&ok(&books, "get", &[id.clone()]).await);
    assert_eq!(doc, json!({"_id": id.as_string().unwrap(), "title": "Kept", "read": true, "rating": 4.5}));
    assert_eq!(rs(&ok(&books, "heads", &[id.clone()]).await), heads);
    assert_eq!(code(&db, "addSchema", &[SDL.into()]).await, "SCHEMA_INVALID", "the schema was kept");
    ok(&db, "close", &[]).await;
    destroy("persist").await;

    let db = open("persist").await;
    assert_eq!(code(&collection(&db, "Book"), "get", &[id]).await, "UNKNOWN_COLLECTION", "destroy removed it all");
    ok(&db, "close", &[]).await;
    destroy("persist").await;
}

#[wasm_bindgen_test]
async fn databases_with_different_names_are_isolated() {
    let a = fresh("iso-a").await;
    let b = fresh("iso-b").await;
    ok(&a, "addSchema", &[SDL.into()]).await;
    ok(&b, "addSchema", &[SDL.into()]).await;
    let id = ok(&collection(&a, "Book"), "create", &[js(json!({"title": "only in a"}))]).await;
    assert!(ok(&collection(&b, "Book"), "get", &[id]).await.is_null());
    assert_eq!(ok(&collection(&b, "Book"), "count", &[]).await.as_f64(), Some(0.0));
    for (db, name) in [(a, "iso-a"), (b, "iso-b")] {
        ok(&db, "close", &[]).await;
        destroy(name).await;
    }
}

#[wasm_bindgen_test]
async fn each_error_code_and_nothing_changes() {
    let db = fresh("errors").await;
    assert_eq!(code(&db, "addSchema", &["type Book { title: Strng }".into()]).await, "SCHEMA_INVALID");
    assert_eq!(code(&db, "addSchema", &["type Book { title: String".into()]).await, "SCHEMA_INVALID");
    ok(&db, "addSchema", &[SDL.into()]).await;
    let books = collection(&db, "Book");
    let id = ok(&books, "create", &[js(json!({"title": "Dune", "pages": 1}))]).await;
    let snapshot = |db: JsValue| async move { rs(&ok(&db, "exportBlocks", &[]).await) };
    let before = (snapshot(db.clone()).await, rs(&ok(&books, "find", &[]).await));

    let bad_inputs = [
        json!({"pages": 3}),                     // missing required field
        json!({"title": "X", "pages": "three"}), // wrong type
        json!({"title": "X", "colour": "red"}),  // unknown field
    ];
    for input in bad_inputs {
        assert_eq!(code(&books, "create", &[js(input)]).await, "VALIDATION");
    }
    assert_eq!(code(&books, "create", &[JsValue::from(5)]).await, "VALIDATION");
    assert_eq!(code(&books, "update", &[id.clone(), js(json!({"pages": 1.5}))]).await, "VALIDATION");
    assert_eq!(code(&books, "find", &[js(json!({"filter": {"pages": {"_like": 1}}}))]).await, "VALIDATION");
    assert_eq!(code(&collection(&db, "Movie"), "create", &[js(json!({"title": "X"}))]).await, "UNKNOWN_COLLECTION");
    assert_eq!(code(&books, "update", &["no-such-id".into(), js(json!({"pages": 2}))]).await, "NOT_FOUND");
    let garbage = Array::of1(&Uint8Array::from(&b"\xa1not a block"[..]));
    // Imports take what they can and say why they refused the rest.
    let refused_code = |report: &JsValue| rs(report)["refused"][0]["code"].as_str().unwrap_or_default().to_string();
    let report = ok(&db, "importBlocks", &[garbage.into()]).await;
    assert_eq!(refused_code(&report), "BLOCK_INVALID");
    assert_eq!(rs(&report)["merged"], 0);
    // A real block with one flipped byte: its signature no longer verifies.
    let blocks = Array::from(&ok(&db, "exportBlocks", &[]).await);
    let bytes = blocks.get(0).dyn_into::<Uint8Array>().unwrap().to_vec();
    let mut tampered = bytes.clone();
    *tampered.last_mut().unwrap() ^= 1;
    let tampered = Array::of1(&Uint8Array::from(tampered.as_slice()));
    assert_eq!(refused_code(&ok(&db, "importBlocks", &[tampered.into()]).await), "BLOCK_INVALID");

    assert_eq!(
        (snapshot(db.clone()).await, rs(&ok(&books, "find", &[]).await)),
        before,
        "refused writes changed nothing"
    );

    ok(&books, "delete", &[id.clone()]).await;
    let err = call(&books, "update", &[id.clone(), js(json!({"pages": 2}))]).await.unwrap_err();
    assert_eq!(Reflect::get(&err, &"code".into()).unwrap().as_string().unwrap(), "NOT_FOUND");
    assert!(error_text(&err).contains("deleted"), "{}", error_text(&err));

    ok(&db, "close", &[]).await;
    assert_eq!(code(&books, "create", &[js(json!({"title": "late"}))]).await, "STORAGE");
    destroy("errors").await;
}

/// Records every transaction a database whose name starts with `prefix`
/// opens: `[mode, the durability asked for, the durability the browser
/// gave the transaction]`.
fn record_transactions(prefix: &str) -> JsValue {
    let install = Function::new_with_args(
        "prefix",
        "const seen = [];
         const transaction = IDBDatabase.prototype.transaction;
         IDBDatabase.prototype.transaction = function (names, mode, options) {
           const tx = transaction.apply(this, arguments);
           if (this.name.startsWith(prefix)) seen.push([mode ?? 'readonly', options?.durability ?? null, tx.durability ?? null]);
           return tx;
         };
         seen.restore = () => { IDBDatabase.prototype.transaction = transaction; };
         return seen;",
    );
    install.call1(&JsValue::NULL, &prefix.into()).unwrap()
}

#[wasm_bindgen_test]
async fn writes_use_the_durability_asked_for_and_a_bad_one_is_refused() {
    let seen = record_transactions("durability-");
    let open_with = |name: &str, options: Value| {
        let name = name.to_string();
        async move { JsFuture::from(Database::open(name, js(options))).await }
    };
    let modes = |seen: &JsValue| -> Vec<Value> {
        let all = rs(seen);
        Reflect::set(seen, &"length".into(), &0.into()).unwrap();
        all.as_array().unwrap().clone()
    };
    for (name, asked, given) in
        [("durability-strict", json!("strict"), "strict"), ("durability-relaxed", json!("relaxed"), "relaxed")]
    {
        destroy(name).await;
        let db = open_with(name, json!({ "durability": asked })).await.unwrap();
        ok(&db, "addSchema", &[SDL.into()]).await;
        let books = collection(&db, "Book");
        let id = ok(&books, "create", &[js(json!({"title": "Dune"}))]).await;
        ok(&books, "update", &[id.clone(), js(json!({"pages": 412}))]).await;
        assert_eq!(rs(&ok(&books, "get", &[id]).await)["pages"], 412);
        let txs = modes(&seen);
        let writes: Vec<&Value> = txs.iter().filter(|t| t[0] == "readwrite").collect();
        assert!(writes.len() >= 3, "schema, create, update: {txs:?}");
        for t in &writes {
            assert_eq!(t[1], asked, "every write asks for {asked}: {txs:?}");
            // Browsers that know the attribute say what they gave it.
            assert!(t[2].is_null() || t[2] == given, "{txs:?}");
        }
        assert!(txs.iter().filter(|t| t[0] == "readonly").all(|t| t[1].is_null()), "reads ask for nothing: {txs:?}");
        ok(&db, "close", &[]).await;
        destroy(name).await;
    }
    // Without the option the browser chooses, as it does for Dexie.
    let db = open_with("durability-default", json!({})).await.unwrap();
    ok(&db, "addSchema", &[SDL.into()]).await;
    let txs = modes(&seen);
    assert!(txs.iter().any(|t| t[0] == "readwrite"));
    assert!(txs.iter().all(|t| t[1].is_null()), "{txs:?}");
    ok(&db, "close", &[]).await;
    destroy("durability-default").await;

    // A bad value is refused before anything is opened.
    for bad in [json!("fast"), json!(1), json!(true)] {
        let err = open_with("durability-bad", json!({ "durability": bad })).await.unwrap_err();
        assert_eq!(Reflect::get(&err, &"code".into()).unwrap().as_string().unwrap(), "VALIDATION");
        assert!(error_text(&err).contains("strict"), "says what it takes: {}", error_text(&err));
    }
    assert!(modes(&seen).is_empty(), "no transaction for a refused open");
    call(&seen, "restore", &[]).await.unwrap();
    let names = JsFuture::from(web_sys_databases()).await.unwrap();
    assert!(!JSON::stringify(&names).unwrap().as_string().unwrap().contains("durability-bad"), "not created");
}

/// `indexedDB.databases()`.
fn web_sys_databases() -> Promise {
    Function::new_no_args("return indexedDB.databases()").call0(&JsValue::NULL).unwrap().dyn_into().unwrap()
}

#[wasm_bindgen_test]
async fn blocks_with_missing_parents_stay_pending() {
    let a = fresh("pending-a").await;
    let b = fresh("pending-b").await;
    ok(&a, "addSchema", &[SDL.into()]).await;
    ok(&b, "addSchema", &[SDL.into()]).await;
    let books_a = collection(&a, "Book");
    let id = ok(&books_a, "create", &[js(json!({"title": "v1"}))]).await;
    let genesis = ok(&a, "exportBlocks", &[]).await;
    ok(&books_a, "update", &[id.clone(), js(json!({"title": "v2"}))]).await;
    ok(&books_a, "update", &[id.clone(), js(json!({"title": "v3"}))]).await;
    let all = Array::from(&ok(&a, "exportBlocks", &[]).await);
    let genesis_bytes = Array::from(&genesis).get(0).dyn_into::<Uint8Array>().unwrap().to_vec();
    let children: Array = all.iter().filter(|b| b.dyn_ref::<Uint8Array>().unwrap().to_vec() != genesis_bytes).collect();
    assert_eq!(children.length(), 2);

    let books_b = collection(&b, "Book");
    let report = rs(&ok(&b, "importBlocks", &[children.into()]).await);
    assert_eq!(report["pending"], 2);
    assert!(ok(&books_b, "get", &[id.clone()]).await.is_null(), "nothing shows before the parents arrive");
    // Pending blocks survive a reopen.
    ok(&b, "close", &[]).await;
    let b = open("pending-b").await;
    let books_b = collection(&b, "Book");
    let report = rs(&ok(&b, "importBlocks", &[genesis]).await);
    assert_eq!(report["merged"], 3);
    assert_eq!(rs(&ok(&books_b, "get", &[id.clone()]).await)["title"], "v3");
    assert_eq!(rs(&ok(&books_b, "heads", &[id.clone()]).await), rs(&ok(&books_a, "heads", &[id]).await));
    for (db, name) in [(a, "pending-a"), (b, "pending-b")] {
        ok(&db, "close", &[]).await;
        destroy(name).await;
    }
}

#[wasm_bindgen_test]
async fn two_handles_on_one_database_never_lose_a_change() {
    // Two tabs of one origin are two connections to the same IndexedDB database.
    let tab1 = fresh("two-tabs").await;
    ok(&tab1, "addSchema", &[SDL.into()]).await;
    let tab2 = open("two-tabs").await;
    let (books1, books2) = (collection(&tab1, "Book"), collection(&tab2, "Book"));
    let id = ok(&books1, "create", &[js(json!({"title": "shared"}))]).await;
    let updates: Vec<_> = (0..10)
        .map(|i| {
            let (books, field) = if i % 2 == 0 { (books1.clone(), "pages") } else { (books2.clone(), "rating") };
            let args = [id.clone(), js(json!({ field: i }))];
            async move { call(&books, "update", &args).await }
        })
        .collect();
    for r in futures::future::join_all(updates).await {
        r.unwrap();
    }
    let doc = rs(&ok(&books2, "get", &[id.clone()]).await);
    assert_eq!((doc["pages"].as_f64(), doc["rating"].as_f64()), (Some(8.0), Some(9.0)), "{doc}");
    // Each commit read the heads the one before it wrote: one linear history.
    assert_eq!(rs(&ok(&books1, "heads", &[id.clone()]).await).as_array().unwrap().len(), 1);
    assert_eq!(Array::from(&ok(&tab1, "exportBlocks", &[]).await).length(), 11);
    ok(&tab1, "close", &[]).await;
    ok(&tab2, "close", &[]).await;
    destroy("two-tabs").await;
}

async fn found_ids(col: &JsValue, query: Value) -> Vec<String> {
    let found = rs(&ok(col, "find", &[js(query)]).await);
    found.as_array().unwrap().iter().map(|d| d["_id"].as_str().unwrap().to_string()).collect()
}

/// On IndexedDB too: pages without `order` are slices of `_id` order, through
/// an index and without one, `offset` works alone, and `_like` escapes `%`.
#[wasm_bindgen_test]
async fn pages_meet_every_document_once() {
    let db = fresh("paging").await;
    ok(&db, "addSchema", &["type Num { n: Int @index m: Int label: String }".into()]).await;
    let nums = collection(&db, "Num");
    let docs: Vec<Value> =
        ["100%", "1000", "1000", "1000"].iter().map(|l| json!({"n": 0, "m": 0, "label": l})).collect();
    let mut ids: Vec<String> =
        serde_json::from_value(rs(&ok(&nums, "createMany", &[js(Value::Array(docs))]).await)).unwrap();
    ids.sort();
    // n and m run against id order: the index meets the documents in the
    // reverse of the pages' order.
    for (id, n) in ids.iter().zip([4, 3, 2, 1]) {
        ok(&nums, "update", &[id.clone().into(), js(json!({"n": n, "m": n}))]).await;
    }
    for filter in [json!({"n": {"_ge": 0}}), json!({"n": {"_in": [1, 2, 3, 4]}}), json!({"m": {"_ge": 0}}), json!(null)]
    {
        let first = found_ids(&nums, json!({"filter": filter, "limit": 2, "offset": 0})).await;
        let second = found_ids(&nums, json!({"filter": filter, "limit": 2, "offset": 2})).await;
        assert_eq!([first, second].concat(), ids, "{filter}: each document on exactly one page");
    }
    assert_eq!(found_ids(&nums, json!({"offset": 1})).await, ids[1..]);
    assert_eq!(found_ids(&nums, json!({"filter": {"label": {"_like": "100\\%"}}})).await.len(), 1);
    assert_eq!(code(&nums, "find", &[js(json!({"filter": {"label": {"_like": "100\\"}}}))]).await, "VALIDATION");
    ok(&db, "close", &[]).await;
    destroy("paging").await;
}

/// A query the index answers exactly (one `_eq`, or an `_in` of one value,
/// on an indexed field; read and parsed in the page without wasm by
/// `IdbStore::find_exact` but for a limit of 0): every offset and limit
/// gives the slice of the matching documents in `_id` order, as any other
/// `find` does, with neighbouring values and a deleted document left out.
#[wasm_bindgen_test]
async fn exact_queries_page_like_any_other() {
    let db = fresh("exact-pages").await;
    ok(&db, "addSchema", &["type Num { n: Int @index label: String }".into()]).await;
    let nums = collection(&db, "Num");
    let ns = [0, 1, 2, 1, 1, 0, 1, 2, 1, 1, 1];
    let docs: Vec<Value> = ns.iter().enumerate().map(|(i, n)| json!({"n": n, "label": format!("d{i}")})).collect();
    let ids: Vec<String> =
        serde_json::from_value(rs(&ok(&nums, "createMany", &[js(Value::Array(docs))]).await)).unwrap();
    let mut ones: Vec<String> = ids.iter().zip(ns).filter(|(_, n)| *n == 1).map(|(id, _)| id.clone()).collect();
    ok(&nums, "delete", &[ones.remove(2).into()]).await;
    ones.sort();
    let sizes = [None, Some(0), Some(1), Some(2), Some(3), Some(ones.len()), Some(ones.len() + 5)];
    for filter in [json!({"n": {"_eq": 1}}), json!({"n": {"_in": [1]}})] {
        for offset in 0..=ones.len() + 1 {
            for limit in sizes {
                let query = json!({"filter": filter, "offset": offset, "limit": limit});
                let expected: Vec<String> =
                    ones.iter().skip(offset).take(limit.unwrap_or(usize::MAX)).cloned().collect();
                let found = rs(&ok(&nums, "find", &[js(query.clone())]).await);
                let found = found.as_array().unwrap();
                let got: Vec<String> = found.iter().map(|d| d["_id"].as_str().unwrap().to_string()).collect();
                assert_eq!(got, expected, "{query}");
                assert!(found.iter().all(|d| d["n"] == 1 && d["label"].is_string()), "{query}: whole documents");
            }
        }
    }
    // Offsets and limits past 32 bits (a page's `usize`, IndexedDB's
    // counts) are answered, not refused.
    for (offset, limit) in [(1u64 << 33, None), (1, Some(1u64 << 33)), (1 << 40, Some(1u64 << 40))] {
        let query = json!({"filter": {"n": {"_eq": 1}}, "offset": offset, "limit": limit});
        let expected: Vec<String> = ones.iter().skip(offset.min(99) as usize).cloned().collect();
        assert_eq!(found_ids(&nums, query.clone()).await, expected, "{query}");
    }
    ok(&db, "close", &[]).await;
    destroy("exact-pages").await;
}

/// Blocks signed in every way the signature check must judge, each with our
/// rule's verdict: `tests/support/signatures.rs`.
// WebCrypto batch verification is the network's (feature `net`).
#[cfg(feature = "net")]
#[path = "support/signatures.rs"]
mod signatures;

// vendor/curve25519-dalek's tables computed on first use, against its
// constants, with the page's 32-bit limbs and serial backend (native tests
// do not reach every table there: `tests/support/curve25519.rs`).
#[path = "support/cases.rs"]
mod cases;
#[path = "support/curve25519.rs"]
mod curve25519_tables;

#[wasm_bindgen_test]
fn curve25519s_computed_tables_equal_its_constants() {
    curve25519_tables::computed_tables_equal_constants();
}

/// What the browser's own `crypto.subtle.verify` says of a block, or why it would not.
#[cfg(feature = "net")]
async fn webcrypto_alone(block: &[u8]) -> String {
    let Some(parts) = weftdb::signed_parts(block).dyn_into::<Array>().ok() else { return "undecodable".into() };
    let subtle = Reflect::get(&Reflect::get(&js_sys::global(), &"crypto".into()).unwrap(), &"subtle".into()).unwrap();
    let usages = Array::of1(&"verify".into());
    let import = ["raw".into(), parts.get(2), "Ed25519".into(), false.into(), usages.into()];
    let key = match call(&subtle, "importKey", &import).await {
        Ok(k) => k,
        Err(e) => return format!("importKey refused: {}", error_text(&e)),
    };
    match call(&subtle, "verify", &["Ed25519".into(), key, parts.get(1), parts.get(0)]).await {
        Ok(v) => if v.as_bool() == Some(true) { "accepted" } else { "refused" }.into(),
        Err(e) => format!("verify failed: {}", error_text(&e)),
    }
}

/// The page's signature check (WebCrypto where it agrees with ours, dalek
/// for the rest) takes and refuses exactly the blocks our rule does, on
/// honest, tampered and malleable signatures; and the browser's WebCrypto
/// alone, which differs on some of the malleable ones, is shown where it does.
#[cfg(feature = "net")]
#[wasm_bindgen_test]
async fn webcrypto_agrees_with_our_signature_rule() {
    let cases = signatures::cases();
    let blocks: Array = cases.iter().map(|c| JsValue::from(Uint8Array::from(c.bytes.as_slice()))).collect();
    let judged = weftdb::webcrypto_judged(true);
    let page: Vec<bool> = Array::from(&JsFuture::from(weftdb::verify_blocks(blocks.clone(), true)).await.unwrap())
        .iter()
        .map(|v| v.as_bool().unwrap())
        .collect();
    // A page whose WebCrypto failed would fall back to dalek and agree all
    // the same: this shows WebCrypto judged the plain ones, in the page's
    // worker (Chromium checks within the call, ~59 µs of the calling
    // thread a block: BENCHMARKS.md, "Catch-up: signature checks in a worker").
    let plain = cases.iter().filter(|c| {
        weftdb::core::block::SignedBlock::decode_unverified(&c.bytes, None)
            .is_ok_and(|b| weftdb::core::block::plain_key(b.author()) && b.plain_signature())
    });
    assert!(
        weftdb::webcrypto_judged(true) - judged >= plain.count() as f64 / 2.0,
        "WebCrypto judged the batch in a worker"
    );
    // One at a time too: the gossip path checks blocks alone.
    for (i, c) in cases.iter().enumerate() {
        let alone = JsFuture::from(weftdb::verify_blocks(Array::of1(&blocks.get(i as u32)), true)).await.unwrap();
        assert_eq!(Array::from(&alone).get(0).as_bool(), Some(c.accepted), "{} alone", c.name);
    }
    let mut differ = Vec::new();
    for (c, page) in cases.iter().zip(page) {
        let dalek = weftdb::core::block::SignedBlock::decode(&c.bytes, None).is_ok();
        assert_eq!(dalek, c.accepted, "{}: our rule", c.name);
        assert_eq!(page, c.accepted, "{}: the page's check", c.name);
        let alone = webcrypto_alone(&c.bytes).await;
        // What the page hands to WebCrypto, WebCrypto alone judges as we do.
        let plain = weftdb::core::block::SignedBlock::decode_unverified(&c.bytes, None)
            .is_ok_and(|b| weftdb::core::block::plain_key(b.author()) && b.plain_signature());
        if plain {
            assert_eq!(
                alone,
                if c.accepted { "accepted" } else { "refused" },
                "{}: WebCrypto on a plain signature",
                c.name
            );
        }
        if alone != if c.accepted { "accepted" } else { "refused" } {
            differ.push(format!("{}: ours {}, WebCrypto alone {alone}", c.name, c.accepted));
        }
    }
    web_sys::console::log_1(
        &format!("{} cases; WebCrypto alone differs on {}:\n{}", cases.len(), differ.len(), differ.join("\n")).into(),
    );
}

/// A bulk create that fails past its first packs (written to IndexedDB
/// before the rest is signed) leaves nothing, in the page and after a
/// reopen: the IndexedDB transaction is aborted, not committed in part.
#[wasm_bindgen_test]
async fn a_bulk_create_with_one_document_too_large_writes_none() {
    let db = fresh("bulk-abort").await;
    ok(&db, "addSchema", &[SDL.into()]).await;
    let books = collection(&db, "Book");
    // Past two packs' worth (`PACK_BLOCKS`, 128), written before it is signed.
    let mut docs: Vec<Value> = (0..300).map(|i| json!({"title": format!("t{i}")})).collect();
    docs[260] = json!({"title": "x".repeat(weftdb::core::block::MAX_BLOCK_BYTES + 1)});
    assert_eq!(code(&books, "createMany", &[js(Value::Array(docs.clone()))]).await, "VALIDATION");
    assert_eq!(ok(&books, "count", &[]).await.as_f64(), Some(0.0));
    assert_eq!(Array::from(&ok(&db, "exportBlocks", &[]).await).length(), 0, "no block of the others is stored");
    ok(&db, "close", &[]).await;

    let db = open("bulk-abort").await;
    let books = collection(&db, "Book");
    assert_eq!(ok(&books, "count", &[]).await.as_f64(), Some(0.0), "nothing after a reopen either");
    assert_eq!(Array::from(&ok(&db, "exportBlocks", &[]).await).length(), 0);
    docs.remove(260);
    assert_eq!(Array::from(&ok(&books, "createMany", &[js(Value::Array(docs))]).await).length(), 299);
    assert_eq!(ok(&books, "count", &[]).await.as_f64(), Some(299.0));
    ok(&db, "close", &[]).await;
    destroy("bulk-abort").await;
}
