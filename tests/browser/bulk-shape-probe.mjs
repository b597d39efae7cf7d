#!/usr/bin/env node
// Plain IndexedDB, no weftdb code: a bulk of BULK documents in one strict
// transaction, by the shape of its records, every value made before the
// clock starts (record-cost-probe.mjs makes them inside it):
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
// A probe for BENCHMARKS.md ("Bulk: where a page's thread goes").
//
//   node tests/browser/bulk-shape-probe.mjs    (BULK=10000 ROUNDS=5)
import { serve } from "./serve.mjs";
import { WEB_ROOT, launchChromium } from "./lib.mjs";
const server = await serve({ root: WEB_ROOT, port: 0 });
const browser = await launchChromium();
const page = await (await browser.newContext()).newPage();
await page.goto(`${server.url}/www/bench.html`);
const BULK = Number(process.env.BULK || 10000);
const ROUNDS = Number(process.env.ROUNDS || 5);
const out = await page.evaluate(async ({ BULK, ROUNDS }) => {
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
for (const [n, ms] of Object.entries(out)) console.log(`  ${n.padEnd(30)} ${ms} ms  ÷ raw ${(ms / out.raw).toFixed(2)}×`);
await browser.close();
server.close?.();
process.exit(0);
