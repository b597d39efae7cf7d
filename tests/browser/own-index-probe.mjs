#!/usr/bin/env node
// Plain IndexedDB, no weftdb code, in one page, strict transactions: what
// IndexedDB's own index over the document record (a multiEntry index `by`
// over `k`, instead of layout 3's `entries` records) would cost a single
// write and an indexed equality query (100 of DOCS), beside raw's object
// with an index on `author` (bench.mjs's raw). Shapes of one write:
//   raw                         one 60 B object
//   weft3                       layout 3's three records: a pack {v: 260 B,
//                               k: [36 B CID]} (indexed), an entry (JSON
//                               text), a document record (300 B)
//   doc{v,k} (300) + pack       the pack, and the document record {v, k:
//                               [its index key]} in a store indexed over k
//   doc{j,v,k} + pack           the same, the record also holding the JSON
//                               text a query returns (j)
//   doc{v:json‖cbor,k} + pack   the JSON as bytes before the record's
// Queries: raw's index getAll; layout 3's covering range read of entries
// and one JSON.parse; the index getAll of the records, their JSON taken out
// (from bytes, or from j, with a 300 B or a 130 B record beside it).
// Then a bulk of BULK documents in one strict transaction, by the shape
// of its records, every value made before the clock starts
// (record-cost-probe.mjs makes them inside it):
//   raw                           one object each, a store indexed on `author`
//   weft3 (300)                   layout 3: an entry and a 300 B document
//                                 record each, a pack per 128 (indexed by CID)
//   weft3 (130)                   the same with a 130 B document record
//   no pack (300)                 the entries and records alone
//   pack no idx + (300)           packs in a store without the CID index
//   doc {v,k} idx (300) + pack    no entries: the document record {v, k} in
//                                 a store with a multiEntry index over k
//                                 (IndexedDB's own index), and the packs
//   doc {v,k} idx (300), no pack  the records alone
// A probe for BENCHMARKS.md ("Bulk: where a page's thread goes"), not a
// test or a bench row.
//
//   node tests/browser/own-index-probe.mjs   (N=300 DOCS=20000 Q=60 BULK=10000 ROUNDS=5 STORAGE=disk)
import { serve } from "./serve.mjs";
import { WEB_ROOT, openProbePage } from "./lib.mjs";
const server = await serve({ root: WEB_ROOT, port: 0 });
const { context, page } = await openProbePage();
try {
  await page.goto(`${server.url}/www/bench.html`);
  const N = Number(process.env.N || 300);
  const DOCS = Number(process.env.DOCS || 20000);
  const Q = Number(process.env.Q || 60);
  const out = await page.evaluate(async ({ N, DOCS, Q }) => {
    const T = () => performance.now();
    const NAME = "own-index-probe";
    await new Promise((r) => { const d = indexedDB.deleteDatabase(NAME); d.onsuccess = r; d.onerror = r; });
    const ALL = ["items", "packs", "entries", "documents", "docidx", "docidx2", "docj", "docj130"];
    const db = await new Promise((res, rej) => {
      const r = indexedDB.open(NAME, 1);
      r.onupgradeneeded = () => {
        const d = r.result;
        d.createObjectStore("items", { keyPath: "id", autoIncrement: true }).createIndex("author", "author");
        d.createObjectStore("packs").createIndex("by", "k", { multiEntry: true });
        d.createObjectStore("entries");
        d.createObjectStore("documents");
        d.createObjectStore("docidx").createIndex("by", "k", { multiEntry: true });
        d.createObjectStore("docidx2").createIndex("by", "k", { multiEntry: true });
        d.createObjectStore("docj").createIndex("by", "k", { multiEntry: true });
        d.createObjectStore("docj130").createIndex("by", "k", { multiEntry: true });
      };
      r.onsuccess = () => res(r.result);
      r.onerror = () => rej(r.error);
    });
    const bytes = (n, k) => { const a = new Uint8Array(n); crypto.getRandomValues(a); a[0] = k & 255; return a; };
    const enc = new TextEncoder();
    const entry = (k) => `{"_id":"bafyreia${k}","author":"author${k % 200}","n":${k},"title":"title ${k}"}`;
    const key = (k) => { const a = new Uint8Array(12); new DataView(a.buffer).setUint32(8, k); a[0] = 1; return a; };
    const ik = (k) => { const a = new Uint8Array(40); new DataView(a.buffer).setUint32(4, k % 200); new DataView(a.buffer).setUint32(36, k); a[0] = 1; return a.buffer; };
    const pre = (k) => ({ k, key: key(k), ekey: ik(k), entry: entry(k), d300: bytes(300, k), ik: ik(k), pv: bytes(260, k), pk: [bytes(36, k).buffer], dj: (() => { const j = enc.encode(entry(k)); const a = new Uint8Array(4 + j.length + 220); new DataView(a.buffer).setUint32(0, j.length, true); a.set(j, 4); a.set(bytes(220, k), 4 + j.length); return a; })() });
    const shapes = {
      raw: (tx, x) => tx.objectStore("items").add({ title: "title " + x.k, author: "author" + (x.k % 200), n: x.k }),
      weft3: (tx, x) => { tx.objectStore("packs").put({ v: x.pv, k: x.pk }, x.key); tx.objectStore("entries").put(x.entry, x.ekey); tx.objectStore("documents").put(x.d300, x.key); },
      "doc{v,k} (300) + pack": (tx, x) => { tx.objectStore("packs").put({ v: x.pv, k: x.pk }, x.key); tx.objectStore("docidx").put({ v: x.d300, k: [x.ik] }, x.key); },
      "doc{j,v,k} + pack": (tx, x) => { tx.objectStore("packs").put({ v: x.pv, k: x.pk }, x.key); tx.objectStore("docj").put({ j: x.entry, v: x.d300, k: [x.ik] }, x.key); },
      "doc{v:json‖cbor,k} + pack": (tx, x) => { tx.objectStore("packs").put({ v: x.pv, k: x.pk }, x.key); tx.objectStore("docidx2").put({ v: x.dj, k: [x.ik] }, x.key); },
    };
    const names = Object.keys(shapes);
    const total = Object.fromEntries(names.map((n) => [n, []]));
    let k = 0;
    for (let i = 0; i < N; i++) {
      for (const n of i % 2 ? names : [...names].reverse()) {
        const x = pre(++k);
        const t0 = T();
        const tx = db.transaction(ALL, "readwrite", { durability: "strict" });
        shapes[n](tx, x);
        tx.commit();
        await new Promise((r, j) => { tx.oncomplete = r; tx.onerror = j; });
        if (i >= 20) total[n].push(T() - t0);
      }
    }
    // Fill for queries: DOCS each (author k % 200: 100 a value at 20,000).
    for (let base = 0; base < DOCS; base += 2000) {
      const tx = db.transaction(ALL, "readwrite");
      for (let k = 1e6 + base; k < 1e6 + base + 2000; k++) { const x = pre(k); shapes.raw(tx, x); shapes.weft3(tx, x); tx.objectStore("docidx2").put({ v: x.dj, k: [x.ik] }, x.key); tx.objectStore("docj").put({ j: x.entry, v: x.d300, k: [x.ik] }, x.key); tx.objectStore("docj130").put({ j: x.entry, v: x.d300.subarray(0, 130), k: [x.ik] }, x.key); }
      await new Promise((r) => { tx.oncomplete = r; });
    }
    const dec = new TextDecoder();
    const queries = {
      raw: async (a) => new Promise((r) => { const g = db.transaction("items").objectStore("items").index("author").getAll(IDBKeyRange.only("author" + a)); g.onsuccess = () => r(g.result.length); }),
      "entries (layout 3)": async (a) => new Promise((r) => { const lo = ik(a), hi = new Uint8Array(ik(a)); hi.fill(255, 8); const g = db.transaction("entries").objectStore("entries").getAll(IDBKeyRange.bound(lo, hi.buffer)); g.onsuccess = () => r(JSON.parse("[" + g.result.join(",") + "]").length); }),
      "docidx2 index getAll + json": async (a) => new Promise((r) => { const lo = ik(a), hi = new Uint8Array(ik(a)); hi.fill(255, 8); const g = db.transaction("docidx2").objectStore("docidx2").index("by").getAll(IDBKeyRange.bound(lo, hi.buffer)); g.onsuccess = () => { const parts = g.result.map((o) => { const n = new DataView(o.v.buffer, o.v.byteOffset).getUint32(0, true); return dec.decode(o.v.subarray(4, 4 + n)); }); r(JSON.parse("[" + parts.join(",") + "]").length); }; }),
      "docj {j,v300,k}": async (a) => new Promise((r) => { const lo = ik(a), hi = new Uint8Array(ik(a)); hi.fill(255, 8); const g = db.transaction("docj").objectStore("docj").index("by").getAll(IDBKeyRange.bound(lo, hi.buffer)); g.onsuccess = () => r(JSON.parse("[" + g.result.map((o) => o.j).join(",") + "]").length); }),
      "docj130 {j,v130,k}": async (a) => new Promise((r) => { const lo = ik(a), hi = new Uint8Array(ik(a)); hi.fill(255, 8); const g = db.transaction("docj130").objectStore("docj130").index("by").getAll(IDBKeyRange.bound(lo, hi.buffer)); g.onsuccess = () => r(JSON.parse("[" + g.result.map((o) => o.j).join(",") + "]").length); }),
    };
    const qn = Object.keys(queries);
    const qt = Object.fromEntries(qn.map((n) => [n, []]));
    for (let i = 0; i < Q; i++) for (const n of i % 2 ? qn : [...qn].reverse()) { const a = (i * 37) % 200; const t0 = T(); const c = await queries[n](a); qt[n].push(T() - t0); if (c < 50) throw new Error(n + " found " + c); }
    const med = (a) => { const s = [...a].sort((x, y) => x - y); return s[s.length >> 1]; };
    db.close();
    return { single: Object.fromEntries(names.map((n) => [n, +med(total[n]).toFixed(3)])), query: Object.fromEntries(qn.map((n) => [n, +med(qt[n]).toFixed(3)])) };
  }, { N, DOCS, Q });
  console.log(JSON.stringify(out));
  for (const g of ["single", "query"]) { const base = out[g].raw; for (const [n, ms] of Object.entries(out[g])) console.log(`${g}  ${n.padEnd(30)} ${ms} ms  ÷ raw ${(ms / base).toFixed(2)}×`); }
  const BULK = Number(process.env.BULK || 10000);
  const ROUNDS = Number(process.env.ROUNDS || 5);
  const bulk = await page.evaluate(async ({ BULK, ROUNDS }) => {
    const T = () => performance.now();
    const NAME = "bulk-shape-probe";
    const STORES = ["items", "packs", "entries", "documents", "docidx", "packsNoIdx"];
    await new Promise((r) => { const d = indexedDB.deleteDatabase(NAME); d.onsuccess = r; d.onerror = r; });
    const db = await new Promise((res, rej) => {
      const r = indexedDB.open(NAME, 1);
      r.onupgradeneeded = () => {
        const d = r.result;
        d.createObjectStore("items", { keyPath: "id", autoIncrement: true }).createIndex("author", "author");
        d.createObjectStore("packs").createIndex("by", "k", { multiEntry: true });
        d.createObjectStore("entries");
        d.createObjectStore("documents");
        d.createObjectStore("docidx").createIndex("by", "k", { multiEntry: true });
        d.createObjectStore("packsNoIdx");
      };
      r.onsuccess = () => res(r.result);
      r.onerror = () => rej(r.error);
    });
    const bytes = (n, k) => { const a = new Uint8Array(n); crypto.getRandomValues(a); a[0] = k & 255; return a; };
    const entry = (k) => `{"_id":"bafyreia${k}","author":"author${k % 10}","n":${k},"title":"title ${k}"}`;
    const key = (k) => { const a = new Uint8Array(12); new DataView(a.buffer).setUint32(8, k); a[0] = 1; return a; };
    const pre = (base) => {
      const v = [];
      for (let i = 0; i < BULK; i++) { const k = base + i; v.push({ k, key: key(k), ekey: key(k + 1e7), entry: entry(k), d300: bytes(300, k), d130: bytes(130, k), ik: bytes(40, k).buffer }); }
      const packs = [];
      for (let i = 0; i < BULK; i += 128) { const n = Math.min(128, BULK - i); packs.push({ key: key(base + i), v: bytes(260 * n, i), k: Array.from({ length: n }, (_, j) => bytes(36, i + j).buffer), n: bytes(200 * n, i) }); }
      return { v, packs };
    };
    const pk = (tx, P) => { const p = tx.objectStore("packs"); for (const x of P.packs) p.put({ v: x.v, k: x.k }, x.key); };
    const shapes = {
      raw: (tx, P) => { const st = tx.objectStore("items"); for (const x of P.v) st.add({ title: "title " + x.k, author: "author" + (x.k % 10), n: x.k }); },
      "weft3 (300)": (tx, P) => { pk(tx, P); const e = tx.objectStore("entries"), d = tx.objectStore("documents"); for (const x of P.v) { e.put(x.entry, x.ekey); d.put(x.d300, x.key); } },
      "weft3 (130)": (tx, P) => { pk(tx, P); const e = tx.objectStore("entries"), d = tx.objectStore("documents"); for (const x of P.v) { e.put(x.entry, x.ekey); d.put(x.d130, x.key); } },
      "no pack (300)": (tx, P) => { const e = tx.objectStore("entries"), d = tx.objectStore("documents"); for (const x of P.v) { e.put(x.entry, x.ekey); d.put(x.d300, x.key); } },
      "pack no idx + (300)": (tx, P) => { const p = tx.objectStore("packsNoIdx"); for (const x of P.packs) p.put(x.v, x.key); const e = tx.objectStore("entries"), d = tx.objectStore("documents"); for (const x of P.v) { e.put(x.entry, x.ekey); d.put(x.d300, x.key); } },
      "doc {v,k} idx (300) + pack": (tx, P) => { pk(tx, P); const d = tx.objectStore("docidx"); for (const x of P.v) d.put({ v: x.d300, k: [x.ik] }, x.key); },
      "doc {v,k} idx (300), no pack": (tx, P) => { const d = tx.objectStore("docidx"); for (const x of P.v) d.put({ v: x.d300, k: [x.ik] }, x.key); },
    };
    const names = Object.keys(shapes);
    const res = Object.fromEntries(names.map((n) => [n, []]));
    let round = 0;
    for (let r = 0; r < ROUNDS; r++) {
      const order = r % 2 ? names : [...names].reverse();
      for (const n of order) {
        const P = pre(1e6 * (++round));
        const t0 = T();
        const tx = db.transaction(STORES, "readwrite", { durability: "strict" });
        shapes[n](tx, P);
        tx.commit();
        await new Promise((r, j) => { tx.oncomplete = r; tx.onerror = j; });
        res[n].push(T() - t0);
        const c = db.transaction(STORES, "readwrite");
        for (const s of STORES) c.objectStore(s).clear();
        await new Promise((r) => { c.oncomplete = r; });
      }
    }
    const med = (a) => { const s = [...a].sort((x, y) => x - y); return s[s.length >> 1]; };
    return Object.fromEntries(names.map((n) => [n, +med(res[n]).toFixed(1)]));
  }, { BULK, ROUNDS });
  console.log(`bulk of ${BULK} in one strict transaction, median of ${ROUNDS}:`);
  for (const [n, ms] of Object.entries(bulk)) console.log(`  ${n.padEnd(30)} ${ms} ms  ÷ raw ${(ms / bulk.raw).toFixed(2)}×`);
} finally {
  await context.close();
  server.close?.();
}
process.exit(0);
