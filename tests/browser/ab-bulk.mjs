#!/usr/bin/env node
// Before/after of a bulk create: two (or more) builds of weftdb in ONE
// page, each with its own database, and raw IndexedDB (one readwrite
// transaction of puts), taking turns round by round, each round a fresh
// database of N documents (`createMany`), every engine at the same
// durability, so that every build meets the same machine, moment and disk.
//
//   AB_ROOT=/tmp/ab  (holds www/ and one folder per build, each a pkg/ copy)
//   BUILDS=pkgA,pkgB N=10000 ROUNDS=5 DURABILITY=strict node tests/browser/ab-bulk.mjs
// Prints each engine's median ms and its ratio to raw's median.
import { abSetup } from "./lib.mjs";
const N = Number(process.env.N || 10_000);
const ROUNDS = Number(process.env.ROUNDS || 5);
const DURABILITY = process.env.DURABILITY || "strict";
const { builds, server, browser } = await abSetup("pkgA,pkgC");
const page = await (await browser.newContext()).newPage();
await page.goto(`${server.url}/www/bench.html`);
const out = await page.evaluate(async ([N, ROUNDS, DURABILITY, builds]) => {
  const T = () => performance.now();
  const docs = Array.from({ length: N }, (_, k) => ({ title: "title " + k, pages: k, author: "author" + (k % 100) }));
  const gone = (name) => new Promise((r) => { const d = indexedDB.deleteDatabase(name); d.onsuccess = r; d.onerror = r; d.onblocked = r; });
  const mods = {};
  for (const b of builds) {
    mods[b] = await import(`/${b}/weftdb.js`);
    await mods[b].default();
  }
  const engines = {};
  for (const b of builds) {
    engines[b] = async (round) => {
      const name = `ab-bulk-${b}-${round}`;
      try { await mods[b].Database.destroy(name); } catch {}
      const db = await mods[b].Database.open(name, { durability: DURABILITY });
      await db.addSchema("type Item { title: String! pages: Int author: String @index }");
      const t0 = T();
      await db.collection("Item").createMany(docs.map((d) => ({ ...d })));
      const ms = T() - t0;
      db.close();
      try { await mods[b].Database.destroy(name); } catch {}
      return ms;
    };
  }
  engines.raw = async (round) => {
    const name = `ab-bulk-raw-${round}`;
    await gone(name);
    const raw = await new Promise((res, rej) => { const r = indexedDB.open(name, 1); r.onupgradeneeded = () => r.result.createObjectStore("items", { keyPath: "id", autoIncrement: true }).createIndex("author", "author"); r.onsuccess = () => res(r.result); r.onerror = () => rej(r.error); });
    const t0 = T();
    const tx = raw.transaction("items", "readwrite", { durability: DURABILITY });
    const store = tx.objectStore("items");
    for (const d of docs) store.put({ ...d });
    await new Promise((r, j) => { tx.oncomplete = r; tx.onerror = j; });
    const ms = T() - t0;
    raw.close();
    await gone(name);
    return ms;
  };
  const names = Object.keys(engines);
  const t = Object.fromEntries(names.map((n) => [n, []]));
  for (let k = 0; k < ROUNDS; k++) {
    const order = names.slice(k % names.length).concat(names.slice(0, k % names.length));
    for (const n of order) t[n].push(await engines[n](k));
  }
  const med = (a) => { const s = a.slice().sort((x, y) => x - y); return s[s.length >> 1]; };
  const raw = med(t.raw);
  return Object.fromEntries(names.map((n) => [n, { median: +med(t[n]).toFixed(1), ratio: +(med(t[n]) / raw).toFixed(2), runs: t[n].map((x) => Math.round(x)) }]));
}, [N, ROUNDS, DURABILITY, builds]);
console.log(JSON.stringify(out));
await browser.close();
process.exit(0);
