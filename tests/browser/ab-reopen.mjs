#!/usr/bin/env node
// Before/after of a reopen + first get, of an indexed equality query
// (100 of 30,000), and of a `find` by 200 ids (`_id: {_in}`: a read of
// each record, all asked at once, none cached but the one just read), two
// builds of weftdb in one page taking turns (see ab-write.mjs for why, and
// for AB_ROOT and BUILDS).
//
//   AB_ROOT=/tmp/ab BUILDS=pkgA,pkgB node tests/browser/ab-reopen.mjs
import { abSetup } from "./lib.mjs";
const { builds, server, browser } = await abSetup("pkgA,pkgD");
const page = await (await browser.newContext()).newPage();
await page.goto(`${server.url}/www/bench.html`);
const out = await page.evaluate(async (builds) => {
  const T = () => performance.now();
  const e = {};
  for (const b of builds) {
    const mod = await import(`/${b}/weftdb.js`);
    await mod.default();
    const name = "abr-" + b;
    try { await mod.Database.destroy(name); } catch {}
    let db = await mod.Database.open(name, { durability: "relaxed" });
    await db.addSchema("type Item { title: String! pages: Int author: String @index }");
    const ids = [];
    for (let s = 0; s < 30000; s += 10000) ids.push(...(await db.collection("Item").createMany(Array.from({ length: 10000 }, (_, k) => ({ title: "title " + (s + k), pages: k, author: "author" + ((s + k) % 300) })))));
    e[b] = { mod, name, ids, db, reopen: [], query: [], ids200: [] };
  }
  for (let r = 0; r < 30; r++) {
    for (const b of r % 2 ? builds : [...builds].reverse()) {
      const x = e[b];
      x.db.close();
      const t0 = T();
      x.db = await x.mod.Database.open(x.name, { durability: "relaxed" });
      const d = await x.db.collection("Item").get(x.ids[(r * 997) % x.ids.length]);
      x.reopen.push(T() - t0);
      if (!d) throw new Error("missing");
      const t1 = T();
      const q = await x.db.collection("Item").find({ filter: { author: { _eq: "author" + ((r * 7) % 300) } } });
      x.query.push(T() - t1);
      if (q.length !== 100) throw new Error("query " + q.length);
      const want = Array.from({ length: 200 }, (_, k) => x.ids[(r * 997 + 1 + k * 31) % x.ids.length]);
      const t2 = T();
      const found = await x.db.collection("Item").find({ filter: { _id: { _in: want } } });
      x.ids200.push(T() - t2);
      if (found.length !== 200) throw new Error("found " + found.length);
    }
  }
  const med = (a) => { const s = a.slice(5).sort((x, y) => x - y); return +s[s.length >> 1].toFixed(3); };
  return Object.fromEntries(builds.map((b) => [b, { reopen: med(e[b].reopen), query: med(e[b].query), ids200: med(e[b].ids200) }]));
}, builds);
console.log(JSON.stringify(out));
await browser.close();
process.exit(0);
