#!/usr/bin/env node
// Before/after of single strict writes: two (or more) builds of weftdb in
// ONE page, each with its own database, and raw IndexedDB, taking turns
// write by write, so that every build meets the same machine, moment and
// disk (separate bench runs on a shared VM differ by more than most
// changes do: BENCHMARKS.md, "Where a single write's time goes").
//
//   AB_ROOT=/tmp/ab  (holds www/ and one folder per build, each a pkg/ copy)
//   BUILDS=pkgA,pkgB N=400 node tests/browser/ab-write.mjs
// Prints each build's and raw's median and p90 in ms.
import { abSetup } from "./lib.mjs";
const N = Number(process.env.N || 400);
const { builds, server, browser } = await abSetup("pkgA,pkgC");
const page = await (await browser.newContext()).newPage();
await page.goto(`${server.url}/www/bench.html`);
const out = await page.evaluate(async ([N, builds]) => {
  const T = () => performance.now();
  const engines = {};
  for (const b of builds) {
    const mod = await import(`/${b}/weftdb.js`);
    await mod.default();
    try { await mod.Database.destroy("ab-" + b); } catch {}
    const db = await mod.Database.open("ab-" + b, { durability: "strict" });
    await db.addSchema("type Item { title: String! pages: Int author: String @index }");
    const items = db.collection("Item");
    engines[b] = (doc) => items.create(doc);
  }
  await new Promise((r) => { const d = indexedDB.deleteDatabase("ab-raw"); d.onsuccess = r; d.onerror = r; });
  const raw = await new Promise((res, rej) => { const r = indexedDB.open("ab-raw", 1); r.onupgradeneeded = () => r.result.createObjectStore("items", { keyPath: "id", autoIncrement: true }).createIndex("author", "author"); r.onsuccess = () => res(r.result); r.onerror = () => rej(r.error); });
  engines.raw = async (doc) => { const tx = raw.transaction("items", "readwrite", { durability: "strict" }); tx.objectStore("items").add(doc); await new Promise((r, j) => { tx.oncomplete = r; tx.onerror = j; }); };
  const names = Object.keys(engines);
  const t = Object.fromEntries(names.map((n) => [n, []]));
  for (let k = 0; k < N; k++) {
    const order = names.slice(k % names.length).concat(names.slice(0, k % names.length));
    for (const n of order) {
      const doc = { title: "title " + k, pages: k, author: "author" + (k % 100) };
      const t0 = T();
      await engines[n](doc);
      t[n].push(T() - t0);
    }
  }
  const med = (a) => { const s = a.slice(30).sort((x, y) => x - y); return +s[s.length >> 1].toFixed(3); };
  const p90 = (a) => { const s = a.slice(30).sort((x, y) => x - y); return +s[Math.floor(s.length * 0.9)].toFixed(3); };
  return Object.fromEntries(names.map((n) => [n, { median: med(t[n]), p90: p90(t[n]) }]));
}, [N, builds]);
console.log(JSON.stringify(out));
await browser.close();
process.exit(0);
