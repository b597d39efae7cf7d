#!/usr/bin/env node
// Where weftdb's reopen + first get goes: `Database.open` then
// `collection(..).get(id)` on a database of DOCS documents, against raw
// IndexedDB's open + get of its own database of the same documents, in
// turns, in one page. Wraps the IndexedDB and BroadcastChannel calls the
// page makes and prints, for each engine, the median time of each event
// from the operation's start, with the median time the call itself took
// in parentheses. A probe for BENCHMARKS.md, not a test or a bench row.
//
//   wasm-pack build --target web --profile wasm && node tests/browser/reopen-probe.mjs
//   N=40 (reopens per engine) DOCS=20000; WEFTDB_WEB_ROOT=<dir> serves another build's www/ and pkg/
import { serve } from "./serve.mjs";
import { WEB_ROOT, eventMedians, launchChromium, profileByFunction } from "./lib.mjs";
const N = Number(process.env.N || 40);
const DOCS = Number(process.env.DOCS || 20000);
const server = await serve({ root: WEB_ROOT, port: 0 });
const browser = await launchChromium();
const page = await (await browser.newContext()).newPage();
page.on("console", (m) => console.log("page:", m.text()));
await page.goto(`${server.url}/www/bench.html`);
const out = await page.evaluate(async ({ N, DOCS }) => {
  const mod = await import("/pkg/weftdb.js");
  await mod.default();
  const ev = [];
  const T = () => performance.now();
  const wrap = (proto, m, name) => {
    const f = proto[m];
    proto[m] = function (...a) {
      const t = T();
      const r = f.apply(this, a);
      ev.push([name(this, a), t, T() - t]);
      if (r && typeof r === "object" && "onsuccess" in r && r instanceof IDBRequest) {
        r.addEventListener("success", () => ev.push([name(this, a) + ">ok", T()]));
      }
      return r;
    };
  };
  for (const m of ["get", "getAll"]) wrap(IDBObjectStore.prototype, m, (s) => m + ":" + s.name);
  wrap(IDBDatabase.prototype, "transaction", (_, a) => "tx" + [].concat(a[0]).length);
  wrap(IDBFactory.prototype, "open", () => "open");
  const BC = BroadcastChannel;
  globalThis.BroadcastChannel = function (n) { const t = T(); const b = new BC(n); ev.push(["newBC", t, T() - t]); return b; };
  globalThis.BroadcastChannel.prototype = BC.prototype;
  const doc = (k) => ({ title: "title " + k, author: "author" + (k % 1000), pages: k });
  const schema = "type Item { title: String! pages: Int author: String @index }";
  try { await mod.Database.destroy("reopenprobe"); } catch {}
  let db = await mod.Database.open("reopenprobe", { durability: "strict" });
  await db.addSchema(schema);
  const ids = [];
  for (let s = 0; s < DOCS; s += 10000) ids.push(...(await db.collection("Item").createMany(Array.from({ length: Math.min(10000, DOCS - s) }, (_, i) => doc(s + i)))));
  await new Promise((r) => { const d = indexedDB.deleteDatabase("rawreopen"); d.onsuccess = r; d.onerror = r; });
  const rawOpen = () => new Promise((res, rej) => { const r = indexedDB.open("rawreopen", 1); r.onupgradeneeded = () => r.result.createObjectStore("items", { keyPath: "id", autoIncrement: true }).createIndex("author", "author"); r.onsuccess = () => res(r.result); r.onerror = () => rej(r.error); });
  let raw = await rawOpen();
  { const tx = raw.transaction("items", "readwrite"); for (let k = 0; k < DOCS; k++) tx.objectStore("items").add(doc(k)); await new Promise((r) => { tx.oncomplete = r; }); }
  const runs = { raw: [], weft: [] };
  const traces = { raw: [], weft: [] };
  for (let k = 0; k < N; k++) {
    for (const which of k % 2 ? ["raw", "weft"] : ["weft", "raw"]) {
      const i = (k * 7919) % DOCS;
      if (which === "raw") raw.close(); else await db.close();
      ev.length = 0;
      const t0 = T();
      let got;
      if (which === "raw") {
        raw = await rawOpen();
        got = await new Promise((r) => { const g = raw.transaction("items").objectStore("items").get(i + 1); g.onsuccess = () => r(g.result); });
      } else {
        db = await mod.Database.open("reopenprobe", { durability: "strict" });
        ev.push(["opened", T()]);
        got = await db.collection("Item").get(ids[i]);
      }
      const t1 = T();
      if (!got || got.title !== "title " + i) throw new Error("wrong document " + JSON.stringify(got));
      runs[which].push(t1 - t0);
      if (k >= 4) traces[which].push([t0, t1, ev.slice()]);
    }
  }
  const med = (a) => { const s = [...a].sort((x, y) => x - y); return s[s.length >> 1]; };
  const res = { raw: med(runs.raw.slice(4)), weft: med(runs.weft.slice(4)) };
  // The open alone, no weftdb code: raw's database, and weftdb's own file
  // (its 12 object stores), with and without a BroadcastChannel made while
  // it opens (as weftdb makes its notices' channel).
  await db.close();
  raw.close();
  const version = (await indexedDB.databases()).find((d) => d.name === "reopenprobe").version;
  const openOnly = { raw: [], weftFile: [], "weftFile+bc": [] };
  for (let k = 0; k < 3 * N; k++) {
    for (const which of k % 2 ? Object.keys(openOnly) : Object.keys(openOnly).reverse()) {
      const t0 = T();
      const r = which === "raw" ? indexedDB.open("rawreopen", 1) : indexedDB.open("reopenprobe", version);
      const bc = which === "weftFile+bc" ? new BroadcastChannel("probe-bc") : null;
      const d = await new Promise((res, rej) => { r.onsuccess = () => res(r.result); r.onerror = () => rej(r.error); });
      openOnly[which].push(T() - t0);
      d.close();
      bc?.close();
    }
  }
  res.openOnly = Object.fromEntries(Object.entries(openOnly).map(([k, v]) => [k, +med(v.slice(4)).toFixed(3)]));
  db = await mod.Database.open("reopenprobe", { durability: "strict" });
  raw = await rawOpen();
  await db.close();
  raw.close();
  return { ...res, traces };
}, { N, DOCS });
for (const which of ["raw", "weft"]) out[which + "_events"] = eventMedians(out.traces[which]).events;
delete out.traces;
console.log(JSON.stringify(out, null, 1));
if (process.env.PROFILE) {
  // A CPU profile of 200 weftdb reopens + first gets: inclusive time by
  // function (names need a build whose wasm kept them: wasm-bindgen
  // without wasm-opt, served with WEFTDB_WEB_ROOT).
  await page.evaluate(async () => {
    globalThis.mod = await import("/pkg/weftdb.js");
    globalThis.pdb = await mod.Database.open("reopenprobe", { durability: "strict" });
    globalThis.pid = (await pdb.collection("Item").find({ limit: 1 }))[0]._id;
  });
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("Profiler.enable");
  await cdp.send("Profiler.setSamplingInterval", { interval: 25 });
  await cdp.send("Profiler.start");
  const R = 200;
  await page.evaluate(async (R) => {
    for (let r = 0; r < R; r++) {
      await pdb.close();
      pdb = await mod.Database.open("reopenprobe", { durability: "strict" });
      await pdb.collection("Item").get(pid);
    }
  }, R);
  const { profile } = await cdp.send("Profiler.stop");
  const { self, incl } = profileByFunction(profile);
  console.log("inclusive, µs per reopen + get:");
  for (const [k, v] of [...incl].filter(([k]) => !/^\((root|program|idle)/.test(k)).sort((a, b) => b[1] - a[1]).slice(0, 50)) console.log(`${(v / R).toFixed(1).padStart(7)}  ${k.slice(0, 150)}`);
  console.log("self:");
  for (const [k, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 30)) console.log(`${(v / R).toFixed(1).padStart(7)}  ${k.slice(0, 150)}`);
}
await browser.close();
server.close?.();
process.exit(0);
