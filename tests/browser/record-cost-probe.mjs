#!/usr/bin/env node
// What a strict write transaction costs in this browser by the records it
// writes, with no weftdb code: plain IndexedDB, in one page, the shapes
// taking turns write by write. For each shape, the median time from
// `transaction()` to `complete` and from `commit()` to `complete` (the
// backend's flush). Shapes (values of weftdb's sizes for one create):
//   raw      one 60 B object, a store with an index on `author` (bench.mjs's raw)
//   weft3    weftdb's three records of a create: a pack {v: 260 B, k: [36 B CID]}
//            in a store with a multiEntry index `by` over `k`, an entry (100 B
//            JSON string), a document record (300 B)
//   weft3/11 the same in a transaction scoped to 11 object stores, as weftdb's
//   noidx    the three records, the pack's store without its index
//   two      the entry and the document only (no pack)
//   weft3+bc weft3, and a BroadcastChannel post after commit(), as weftdb's notice
//   twoidx   the entry, and the document record holding its block (560 B) in the
//            store with the multiEntry index (a block found by CID through it)
//   one      the document record only
// Then a bulk of BULK documents in one strict transaction, raw's objects
// against weftdb's records (an entry and a document record each, a pack per
// 128), and an open + first get of a database of one object store against
// one of twelve, as weftdb's.
// A probe for BENCHMARKS.md, not a test or a bench row.
//
//   node tests/browser/record-cost-probe.mjs
//   N=300 (writes per shape) BULK=10000 BULK_ROUNDS=5 REOPENS=15 REOPEN_DOCS=20000 STORAGE=disk
import { serve } from "./serve.mjs";
import { WEB_ROOT, openProbePage } from "./lib.mjs";
const N = Number(process.env.N || 300);
const server = await serve({ root: WEB_ROOT, port: 0 });
const { context, page } = await openProbePage();
try {
  page.on("console", (m) => console.log("page:", m.text()));
  await page.goto(`${server.url}/www/bench.html`);
  const BULK = Number(process.env.BULK || 10000);
  const BULK_ROUNDS = Number(process.env.BULK_ROUNDS || 5);
  const REOPENS = Number(process.env.REOPENS || 15);
  const REOPEN_DOCS = Number(process.env.REOPEN_DOCS || 20000);
  const out = await page.evaluate(async ({ N, BULK, BULK_ROUNDS, REOPENS, REOPEN_DOCS }) => {
    const T = () => performance.now();
    const NAME = "record-cost-probe";
    await new Promise((r) => { const d = indexedDB.deleteDatabase(NAME); d.onsuccess = r; d.onerror = r; });
    const stores = ["items", "packs", "packsNoIdx", "entries", "documents", "s5", "s6", "s7", "s8", "s9", "s10"];
    const db = await new Promise((res, rej) => {
      const r = indexedDB.open(NAME, 1);
      r.onupgradeneeded = () => {
        const d = r.result;
        d.createObjectStore("items", { keyPath: "id", autoIncrement: true }).createIndex("author", "author");
        d.createObjectStore("packs").createIndex("by", "k", { multiEntry: true });
        for (const s of stores.slice(2)) d.createObjectStore(s);
      };
      r.onsuccess = () => res(r.result);
      r.onerror = () => rej(r.error);
    });
    const bytes = (n, k) => { const a = new Uint8Array(n); crypto.getRandomValues(a); a[0] = k & 255; return a; };
    // An index entry as weftdb stores it: the document as JSON text.
    const entry = (k) => `{"_id":"bafyreia${k}","author":"author${k % 10}","n":${k},"title":"title ${k}"}`;
    const key = (k) => { const a = new Uint8Array(12); new DataView(a.buffer).setUint32(8, k); a[0] = 1; return a; };
    const shapes = {
      raw: [["items"], (tx, k) => tx.objectStore("items").add({ title: "title " + k, author: "author" + (k % 10), n: k })],
      weft3: [["packs", "entries", "documents"], (tx, k, p = "packs") => {
        tx.objectStore(p).put({ v: bytes(260, k), k: [bytes(36, k).buffer] }, key(k));
        tx.objectStore("entries").put(entry(k), key(k + 1e6));
        tx.objectStore("documents").put(bytes(300, k), key(k));
      }],
      "weft3/11": [stores, (tx, k) => shapes.weft3[1](tx, k)],
      noidx: [["packsNoIdx", "entries", "documents"], (tx, k) => shapes.weft3[1](tx, k, "packsNoIdx")],
      two: [["entries", "documents"], (tx, k) => {
        tx.objectStore("entries").put(entry(k), key(k + 1e6));
        tx.objectStore("documents").put(bytes(300, k), key(k));
      }],
      "weft3+bc": [["packs", "entries", "documents"], (tx, k) => shapes.weft3[1](tx, k), true],
      twoidx: [["packs", "entries"], (tx, k) => {
        tx.objectStore("entries").put(entry(k), key(k + 1e6));
        tx.objectStore("packs").put({ v: bytes(560, k), k: [bytes(36, k).buffer] }, key(k));
      }],
      one: [["documents"], (tx, k) => tx.objectStore("documents").put(bytes(300, k), key(k))],
    };
    const names = Object.keys(shapes);
    const total = Object.fromEntries(names.map((n) => [n, []]));
    const flush = Object.fromEntries(names.map((n) => [n, []]));
    const bc = new BroadcastChannel(NAME);
    let k = 0;
    for (let i = 0; i < N; i++) {
      const order = i % 2 ? names : [...names].reverse();
      for (const n of order) {
        k++;
        const [scope, write, post] = shapes[n];
        const t0 = T();
        const tx = db.transaction(scope, "readwrite", { durability: "strict" });
        write(tx, k);
        const tc = T();
        tx.commit();
        if (post) bc.postMessage({ t: "changed", keys: [key(k)] });
        await new Promise((r, j) => { tx.oncomplete = r; tx.onerror = j; });
        const t1 = T();
        if (i >= 20) { total[n].push(t1 - t0); flush[n].push(t1 - tc); }
      }
    }
    const med = (a) => { const s = [...a].sort((x, y) => x - y); return s[s.length >> 1]; };
    const single = Object.fromEntries(names.map((n) => [n, { total: +med(total[n]).toFixed(3), flush: +med(flush[n]).toFixed(3) }]));

    // Bulk: BULK documents in one strict transaction. raw: one object each;
    // weft: per document its entry and document record, and per 128 a pack
    // of 128 blocks naming their 128 CIDs (weftdb's createMany).
    const bulkShapes = {
      raw: [["items"], (tx, base) => { const st = tx.objectStore("items"); for (let i = 0; i < BULK; i++) st.add({ title: "title " + i, author: "author" + (i % 10), n: base + i }); }],
      weft: [stores, (tx, base) => {
        const p = tx.objectStore("packs"), e = tx.objectStore("entries"), d = tx.objectStore("documents");
        for (let i = 0; i < BULK; i++) {
          const k = base + i;
          if (i % 128 === 0) p.put({ v: bytes(260 * Math.min(128, BULK - i), k), k: Array.from({ length: Math.min(128, BULK - i) }, (_, j) => bytes(36, k + j).buffer) }, key(k));
          e.put(entry(k), key(k + 1e7));
          d.put(bytes(300, k), key(k));
        }
      }],
      "weft, no pack": [stores, (tx, base) => {
        const e = tx.objectStore("entries"), d = tx.objectStore("documents");
        for (let i = 0; i < BULK; i++) { const k = base + i; e.put(entry(k), key(k + 1e7)); d.put(bytes(300, k), key(k)); }
      }],
    };
    const bulk = Object.fromEntries(Object.keys(bulkShapes).map((n) => [n, []]));
    for (let round = 0; round < BULK_ROUNDS; round++) {
      const order = round % 2 ? Object.keys(bulkShapes) : Object.keys(bulkShapes).reverse();
      for (const n of order) {
        const [scope, write] = bulkShapes[n];
        const t0 = T();
        const tx = db.transaction(scope, "readwrite", { durability: "strict" });
        write(tx, 1e6 * (round + 2));
        tx.commit();
        await new Promise((r, j) => { tx.oncomplete = r; tx.onerror = j; });
        bulk[n].push(T() - t0);
      }
    }
    db.close();
    await new Promise((r) => { const d = indexedDB.deleteDatabase(NAME); d.onsuccess = r; d.onerror = r; });

    // Reopen + first get: a database of one store (raw's) against one of
    // twelve (weftdb's: one with the multiEntry index), each holding
    // REOPEN_DOCS records, alternating; close, open, one get.
    const made = {};
    for (const [n, count] of [["reopen-1", 1], ["reopen-12", 12]]) {
      await new Promise((r) => { const d = indexedDB.deleteDatabase(n); d.onsuccess = r; d.onerror = r; });
      const names12 = Array.from({ length: count }, (_, i) => "s" + i);
      const open = () => new Promise((res, rej) => {
        const r = indexedDB.open(n, 1);
        r.onupgradeneeded = () => { for (const s of names12) { const st = r.result.createObjectStore(s); if (s === "s1") st.createIndex("by", "k", { multiEntry: true }); } };
        r.onsuccess = () => res(r.result);
        r.onerror = () => rej(r.error);
      });
      const d = await open();
      const tx = d.transaction("s0", "readwrite");
      for (let i = 0; i < REOPEN_DOCS; i++) tx.objectStore("s0").put(bytes(300, i), key(i));
      await new Promise((r) => { tx.oncomplete = r; });
      d.close();
      made[n] = open;
    }
    const reopen = { "reopen-1": [], "reopen-12": [] };
    for (let i = 0; i < REOPENS; i++) {
      for (const n of i % 2 ? ["reopen-1", "reopen-12"] : ["reopen-12", "reopen-1"]) {
        const t0 = T();
        const d = await made[n]();
        const v = await new Promise((r) => { const g = d.transaction("s0").objectStore("s0").get(key(i * 7 % REOPEN_DOCS)); g.onsuccess = () => r(g.result); });
        reopen[n].push(T() - t0);
        if (!v) throw new Error("no record");
        d.close();
      }
    }
    for (const n of Object.keys(reopen)) await new Promise((r) => { const d = indexedDB.deleteDatabase(n); d.onsuccess = r; d.onerror = r; });
    return {
      single,
      bulk: Object.fromEntries(Object.entries(bulk).map(([n, a]) => [n, +med(a).toFixed(1)])),
      reopen: Object.fromEntries(Object.entries(reopen).map(([n, a]) => [n, +med(a).toFixed(3)])),
    };
  }, { N, BULK, BULK_ROUNDS, REOPENS, REOPEN_DOCS });
  console.log(`single strict write, median of ${N - 20}:`);
  for (const [n, r] of Object.entries(out.single)) console.log(`  ${n.padEnd(9)} total ${r.total.toFixed(3)} ms  commit→complete ${r.flush.toFixed(3)} ms  ÷ raw ${(r.total / out.single.raw.total).toFixed(2)}×`);
  console.log(`bulk of ${BULK} in one strict transaction, median of ${BULK_ROUNDS}:`);
  for (const [n, ms] of Object.entries(out.bulk)) console.log(`  ${n.padEnd(14)} ${ms} ms  ÷ raw ${(ms / out.bulk.raw).toFixed(2)}×`);
  console.log(`open + first get of ${REOPEN_DOCS} records, median of ${REOPENS}:`);
  for (const [n, ms] of Object.entries(out.reopen)) console.log(`  ${n.padEnd(10)} ${ms} ms`);
} finally {
  await context.close();
  server.close?.();
}
process.exit(0);
