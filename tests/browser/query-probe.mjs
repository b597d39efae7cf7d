#!/usr/bin/env node
// Where an indexed equality query's time goes: 100 of 30,000 documents,
// weftdb's `find` beside raw IndexedDB's `index.getAll` on the same
// documents, and a raw `getAll` of 100 of weftdb's own `entries` records
// (the first 100 of the `author` index: IndexedDB's part of weftdb's
// query, the same count of records of the same kind). With
// PROFILE=1, a CPU profile of weftdb's queries, self time by function.
//
//   AB_ROOT=/tmp/ab BUILDS=pkg node tests/browser/query-probe.mjs
import { abSetup, profileByFunction } from "./lib.mjs";
const { builds, server, browser } = await abSetup("pkg");
const page = await (await browser.newContext()).newPage();
await page.goto(`${server.url}/www/bench.html`);
const b = builds[0];
await page.evaluate(async (b) => {
  const mod = await import(`/${b}/weftdb.js`);
  await mod.default();
  window.mod = mod;
  try { await mod.Database.destroy("qp"); } catch {}
  const db = await mod.Database.open("qp", { durability: "relaxed" });
  await db.addSchema("type Item { title: String! pages: Int author: String @index }");
  const docs = (s) => Array.from({ length: 10000 }, (_, k) => ({ title: "title " + (s + k), pages: k, author: "author-" + ((s + k) % 300) }));
  for (let s = 0; s < 30000; s += 10000) await db.collection("Item").createMany(docs(s));
  db.close();
  window.wdb = await mod.Database.open("qp", { durability: "relaxed" });
  await new Promise((res) => indexedDB.deleteDatabase("qraw").onsuccess = res);
  window.raw = await new Promise((res, rej) => {
    const r = indexedDB.open("qraw", 1);
    r.onupgradeneeded = () => r.result.createObjectStore("items", { autoIncrement: true }).createIndex("author", "author");
    r.onsuccess = () => res(r.result); r.onerror = () => rej(r.error);
  });
  await new Promise((res) => { const tx = raw.transaction("items", "readwrite"); for (let s = 0; s < 30000; s += 10000) for (const d of docs(s)) tx.objectStore("items").put(d); tx.oncomplete = res; });
  window.wraw = await new Promise((res) => { const r = indexedDB.open("qp"); r.onsuccess = () => res(r.result); });
}, b);
const run = (n) => page.evaluate(async (n) => {
  const T = () => performance.now();
  const enc = new TextEncoder();
  const out = { raw: [], weft: [], entries: [], count: [] };
  // weftdb's entry keys: "Item" 0 "author" 0 <encoded string> || id.
  for (let r = 0; r < n; r++) {
    const a = "author-" + ((r * 7) % 300);
    let t = T();
    const x = await new Promise((res) => { const q = raw.transaction("items").objectStore("items").index("author").getAll(IDBKeyRange.only(a)); q.onsuccess = () => res(q.result); });
    out.raw.push(T() - t);
    t = T();
    const y = await wdb.collection("Item").find({ filter: { author: { _eq: a } } });
    out.weft.push(T() - t);
    if (x.length !== 100 || y.length !== 100) throw new Error(`${x.length} ${y.length}`);
    t = T();
    const c = await wdb.collection("Item").count({ filter: { author: { _eq: a } } });
    out.count.push(T() - t);
    if (c !== 100) throw new Error("count " + c);
    const lo = new Uint8Array([...enc.encode("Item\0author\0"), 0]);
    const hi = new Uint8Array([...enc.encode("Item\0author\0"), 255]);
    t = T();
    await new Promise((res) => { const q = wraw.transaction("entries").objectStore("entries").getAll(IDBKeyRange.bound(lo, hi), 100); q.onsuccess = () => res(q.result); });
    out.entries.push(T() - t);
  }
  const med = (a) => { const s = [...a].sort((x, y) => x - y); return +s[s.length >> 1].toFixed(3); };
  return Object.fromEntries(Object.entries(out).filter(([, v]) => v.length).map(([k, v]) => [k, med(v)]));
}, n);
console.log(JSON.stringify(await run(60)));
if (process.env.PROFILE) {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("Profiler.enable");
  await cdp.send("Profiler.setSamplingInterval", { interval: 50 });
  await cdp.send("Profiler.start");
  await page.evaluate(async () => {
    for (let r = 0; r < 400; r++) await wdb.collection("Item").find({ filter: { author: { _eq: "author-" + ((r * 7) % 300) } } });
  });
  const { profile } = await cdp.send("Profiler.stop");
  const { self, incl, total } = profileByFunction(profile);
  const topIncl = [...incl].filter(([k]) => !/^\((root|program|idle)/.test(k)).sort((a, b) => b[1] - a[1]).slice(0, 60);
  console.log("inclusive:");
  for (const [k, v] of topIncl) console.log(`${(v / 400).toFixed(1).padStart(7)} µs/query  ${k.slice(0, 140)}`);
  const top = [...self].sort((a, b) => b[1] - a[1]).slice(0, 45);
  console.log(`total ${(total / 1000).toFixed(0)} ms over 400 queries`);
  for (const [k, v] of top) console.log(`${(v / 400).toFixed(1).padStart(7)} µs/query  ${(100 * v / total).toFixed(1).padStart(5)} %  ${k.slice(0, 140)}`);
}
await browser.close();
process.exit(0);
