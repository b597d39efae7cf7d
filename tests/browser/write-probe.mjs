#!/usr/bin/env node
// Where a single durable write's time goes: weftdb's `create` against raw
// IndexedDB's `add`, both strict, in turns, in one page. Wraps the
// IndexedDB and BroadcastChannel calls the page makes and prints, for each
// engine, the median time of each call from the operation's start, with
// the median time the call itself took in parentheses (BENCHMARKS.md,
// "Where a single write's time goes"). A probe, not a test or a bench row.
//
//   wasm-pack build --target web --profile wasm && node tests/browser/write-probe.mjs
//   N=300 (writes per engine); WEFTDB_WEB_ROOT=<dir> serves another build's www/ and pkg/; STORAGE=disk
import { serve } from "./serve.mjs";
import { WEB_ROOT, eventMedians, openProbePage } from "./lib.mjs";
const root = WEB_ROOT;
const N = Number(process.env.N || 300);
const server = await serve({ root, port: 0 });
const { context, page } = await openProbePage();
try {
  page.on("console", (m) => console.log("page:", m.text()));
  await page.goto(`${server.url}/www/bench.html`);
  const out = await page.evaluate(async (N) => {
    const mod = await import("/pkg/weftdb.js");
    await mod.default();
    const ev = [];
    const T = () => performance.now();
    const P = IDBObjectStore.prototype;
    for (const m of ["put", "add", "get", "delete"]) {
      const f = P[m];
      P[m] = function (...a) { const t = T(); const r = f.apply(this, a); ev.push([m + ":" + this.name, t, T() - t]); return r; };
    }
    const tf = IDBDatabase.prototype.transaction;
    IDBDatabase.prototype.transaction = function (...a) {
      const t = T();
      const tx = tf.apply(this, a);
      ev.push(["tx" + [].concat(a[0]).length, t, T() - t]);
      tx.addEventListener("complete", () => ev.push(["complete", T()]));
      return tx;
    };
    const cf = IDBTransaction.prototype.commit;
    IDBTransaction.prototype.commit = function () { const t = T(); const r = cf.apply(this); ev.push(["commit", t, T() - t]); return r; };
    const bp = BroadcastChannel.prototype.postMessage;
    BroadcastChannel.prototype.postMessage = function (m) { const t = T(); const r = bp.call(this, m); ev.push(["bc", t, T() - t]); return r; };
    const schema = "type Item { title: String  author: String @index  n: Int }";
    try { await mod.Database.destroy("probe"); } catch {}
    const db = await mod.Database.open("probe", { durability: "strict" });
    await db.addSchema(schema);
    const items = db.collection("Item");
    // raw
    await new Promise((r) => { const d = indexedDB.deleteDatabase("rawprobe"); d.onsuccess = r; d.onerror = r; });
    const raw = await new Promise((res, rej) => { const r = indexedDB.open("rawprobe", 1); r.onupgradeneeded = () => r.result.createObjectStore("items", { keyPath: "id", autoIncrement: true }).createIndex("author", "author"); r.onsuccess = () => res(r.result); r.onerror = () => rej(r.error); });
    const doc = (k) => ({ title: "title " + k, author: "author" + (k % 10), n: k });
    const runs = { raw: [], weft: [] };
    const traces = { raw: [], weft: [] };
    for (let k = 0; k < N; k++) {
      for (const which of k % 2 ? ["raw", "weft"] : ["weft", "raw"]) {
        ev.length = 0;
        const t0 = T();
        if (which === "raw") {
          const tx = raw.transaction("items", "readwrite", { durability: "strict" });
          tx.objectStore("items").add(doc(k));
          tx.commit();
          await new Promise((r, j) => { tx.oncomplete = r; tx.onerror = j; });
        } else {
          await items.create(doc(k));
        }
        const t1 = T();
        runs[which].push(t1 - t0);
        if (k >= 20) traces[which].push([t0, t1, ev.slice()]);
      }
    }
    const med = (a) => { const s = [...a].sort((x, y) => x - y); return s[s.length >> 1]; };
    return { raw: med(runs.raw.slice(20)), weft: med(runs.weft.slice(20)), traces };
  }, N);
  for (const which of ["raw", "weft"]) {
    const { events, end } = eventMedians(out.traces[which]);
    Object.assign(out, { [which + "_events"]: events, [which + "_end"]: end });
  }
  delete out.traces;
  console.log(JSON.stringify(out, null, 1));
} finally {
  await context.close();
  server.close?.();
}
process.exit(0);
