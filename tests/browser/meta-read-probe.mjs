#!/usr/bin/env node
// What an open's read of the `meta` store costs by its shape, with no
// weftdb code: plain IndexedDB in one page, a database of twelve object
// stores (weftdb's has eleven) with binary keys, closed and opened again
// before each read, the shapes in turns. For each shape, the median time from
// `indexedDB.open` to its last answer and from `transaction()` to it:
//   three   the signing key's `get`, the layout's `get`, and a `getAll` of
//           the schemas' key range (storage layout 4's open)
//   range   one `getAll` over the schemas and the signing key's record
//           ("schema/" ..= "signing-key"), the key record ending with the
//           layout (storage layout 5's open)
//   two     the same range with layout 4's 32-byte key, and the layout's `get`
//   one     one `get` of one record (a lower bound: raw's read)
// A probe for BENCHMARKS.md, not a test or a bench row.
//
//   node tests/browser/meta-read-probe.mjs      N=60 (reopens per shape) SCHEMAS=2
import { serve } from "./serve.mjs";
import { WEB_ROOT, launchChromium } from "./lib.mjs";
const N = Number(process.env.N || 60);
const SCHEMAS = Number(process.env.SCHEMAS || 2);
const server = await serve({ root: WEB_ROOT, port: 0 });
const browser = await launchChromium();
const page = await (await browser.newContext()).newPage();
page.on("console", (m) => console.log("page:", m.text()));
await page.goto(`${server.url}/www/bench.html`);
const out = await page.evaluate(async ({ N, SCHEMAS }) => {
  const T = () => performance.now();
  const NAME = "meta-read-probe";
  const STORES = ["meta", "docs", "entries", "packs", "heads", "outbox", "waiting", "pending", "a", "b", "c", "d"];
  const enc = (s) => new TextEncoder().encode(s);
  const req = (r) => new Promise((res, rej) => { r.onsuccess = () => res(r.result); r.onerror = () => rej(r.error); });
  await new Promise((r) => { const d = indexedDB.deleteDatabase(NAME); d.onsuccess = r; d.onerror = r; });
  const open = () => new Promise((res, rej) => {
    const r = indexedDB.open(NAME, 1);
    r.onupgradeneeded = () => { for (const s of STORES) r.result.createObjectStore(s); };
    r.onsuccess = () => res(r.result);
    r.onerror = () => rej(r.error);
  });
  let db = await open();
  {
    const tx = db.transaction(STORES, "readwrite");
    const meta = tx.objectStore("meta");
    const seed = crypto.getRandomValues(new Uint8Array(32));
    meta.put(seed, enc("signing-key"));
    meta.put(new Uint8Array([4]), enc("layout"));
    meta.put(new Uint8Array([...seed, 5]), enc("signing-key5"));
    for (let s = 0; s < SCHEMAS; s++) {
      const def = JSON.stringify({ name: "Item" + s, fields: [{ name: "title", kind: "String", index: false }, { name: "author", kind: "String", index: true }, { name: "pages", kind: "Int", index: false }], policy: null });
      meta.put(enc(def), enc("schema/Item" + s));
    }
    for (let k = 0; k < 20; k++) meta.put(enc("{}"), enc("refused/peer/Item0/cid" + k));
    for (let k = 0; k < 2000; k++) tx.objectStore("docs").put(crypto.getRandomValues(new Uint8Array(300)), enc("doc" + k));
    await new Promise((r) => { tx.oncomplete = r; });
  }
  const prefix = (p) => IDBKeyRange.bound(enc(p), enc(p + "\uffff"), false, true);
  const shapes = {
    three: async (tx) => {
      const m = tx.objectStore("meta");
      const [a, b, c] = await Promise.all([req(m.get(enc("signing-key"))), req(m.get(enc("layout"))), req(m.getAll(prefix("schema/")))]);
      if (!a || !b || c.length !== SCHEMAS) throw new Error("three: missing");
    },
    range: async (tx) => {
      const m = tx.objectStore("meta");
      // "signing-key5" stands for layout 5's key record here; the probe's
      // database holds the old one too, so its range ends at it.
      const all = await req(m.getAll(IDBKeyRange.bound(enc("schema/"), enc("signing-key5"))));
      if (all.length !== SCHEMAS + 2) throw new Error("range: " + all.length);
    },
    two: async (tx) => {
      const m = tx.objectStore("meta");
      const [all, l] = await Promise.all([req(m.getAll(IDBKeyRange.bound(enc("schema/"), enc("signing-key")))), req(m.get(enc("layout")))]);
      if (all.length !== SCHEMAS + 1 || !l) throw new Error("two: " + all.length);
    },
    one: async (tx) => {
      if (!(await req(tx.objectStore("meta").get(enc("signing-key"))))) throw new Error("one: missing");
    },
  };
  const times = Object.fromEntries(Object.keys(shapes).map((s) => [s, { total: [], tx: [] }]));
  for (let k = 0; k < N; k++) {
    const order = Object.keys(shapes);
    for (let r = 0; r < k % order.length; r++) order.push(order.shift());
    for (const s of order) {
      db.close();
      const t0 = T();
      db = await open();
      const t1 = T();
      await shapes[s](db.transaction("meta", "readonly"));
      const t2 = T();
      times[s].total.push(t2 - t0);
      times[s].tx.push(t2 - t1);
    }
  }
  db.close();
  const med = (a) => { const s = [...a].sort((x, y) => x - y); return s[s.length >> 1]; };
  return Object.fromEntries(Object.entries(times).map(([s, t]) => [s, { total: med(t.total), tx: med(t.tx) }]));
}, { N, SCHEMAS });
console.log(`meta read shapes, ${N} reopens each, medians (ms):`);
for (const [s, t] of Object.entries(out)) console.log(`  ${s.padEnd(6)} open→answered ${t.total.toFixed(3)}  transaction→answered ${t.tx.toFixed(3)}`);
await browser.close();
server.close();
