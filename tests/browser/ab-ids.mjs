#!/usr/bin/env node
// Before/after of a `find` by 200 ids (`_id: {_in}`: one read of each
// record, all asked at once), right after a reopen so no cache answers,
// two builds of weftdb in one page taking turns (see ab-write.mjs for why,
// and for AB_ROOT and BUILDS).
//
//   AB_ROOT=/tmp/ab BUILDS=pkgA,pkgB node tests/browser/ab-ids.mjs
import { abSetup } from "./lib.mjs";
const { builds, server, browser } = await abSetup("pkgA,pkgB");
const page = await (await browser.newContext()).newPage();
await page.goto(`${server.url}/www/bench.html`);
const out = await page.evaluate(async (builds) => {
  const T = () => performance.now();
  const e = {};
  for (const b of builds) {
    const mod = await import(`/${b}/weftdb.js`);
    await mod.default();
    const name = "abi-" + b;
    try { await mod.Database.destroy(name); } catch {}
    const db = await mod.Database.open(name, { durability: "relaxed" });
    await db.addSchema("type Item { title: String! pages: Int author: String @index }");
    const items = Array.from({ length: 10000 }, (_, k) => ({ title: "title " + k, pages: k, author: "author" + (k % 300) }));
    const ids = await db.collection("Item").createMany(items);
    db.close();
    e[b] = { mod, name, ids, find: [] };
  }
  for (let r = 0; r < 40; r++) {
    for (const b of r % 2 ? builds : [...builds].reverse()) {
      const x = e[b];
      const db = await x.mod.Database.open(x.name, { durability: "relaxed" });
      const want = Array.from({ length: 200 }, (_, k) => x.ids[(r * 997 + k * 31) % x.ids.length]);
      const t0 = T();
      const found = await db.collection("Item").find({ filter: { _id: { _in: want } } });
      x.find.push(T() - t0);
      if (found.length !== 200) throw new Error("found " + found.length);
      db.close();
    }
  }
  const med = (a) => { const s = a.slice(5).sort((x, y) => x - y); return +s[s.length >> 1].toFixed(3); };
  return Object.fromEntries(builds.map((b) => [b, { find200ids: med(e[b].find) }]));
}, builds);
console.log(JSON.stringify(out));
await browser.close();
process.exit(0);
