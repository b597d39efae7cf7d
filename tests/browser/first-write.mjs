#!/usr/bin/env node
// What a fresh page's open and first write cost, build against build: the
// first public key or signature of a page computes curve25519-dalek's
// basepoint table (vendor/curve25519-dalek, WEFTDB-PATCH.md), which an
// unpatched build has compiled in; `Database.open` derives the page's public
// key from its stored key, so the table is built there. Each round opens a new
// browser context (a new module instance, nothing cached), times
// `Database.open` of a new database, then its first `create`, its second, and
// the median of the next 20. The builds take turns round by round, so they
// meet the same machine and moment (BENCHMARKS.md, "wasm size").
//
//   AB_ROOT=/tmp/ab  (holds www/ and one folder per build, each a pkg/ copy)
//   BUILDS=pkgBefore,pkgAfter ROUNDS=30 node tests/browser/first-write.mjs
// Prints each build's medians over the rounds, in ms. A fresh page's open and
// first write vary by several ms from page to page: with fewer than 30
// rounds a build can show a difference that is not there.
import { abSetup } from "./lib.mjs";

const ROUNDS = Number(process.env.ROUNDS || 30);
const { builds, server, browser } = await abSetup("pkgBefore,pkgAfter");

async function round(build, k) {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${server.url}/www/bench.html`);
  const out = await page.evaluate(async ([build, name]) => {
    const T = () => performance.now();
    const mod = await import(`/${build}/weftdb.js`);
    await mod.default();
    const t0 = T();
    const db = await mod.Database.open(name);
    const open = T() - t0;
    await db.addSchema("type Item { title: String! pages: Int }");
    const items = db.collection("Item");
    const times = [];
    for (let i = 0; i < 22; i++) {
      const t0 = T();
      await items.create({ title: "title " + i, pages: i });
      times.push(T() - t0);
    }
    const rest = times.slice(2).sort((a, b) => a - b);
    return { open, first: times[0], second: times[1], steady: rest[rest.length >> 1] };
  }, [build, `first-write-${build}-${k}`]);
  await context.close();
  return out;
}

const results = Object.fromEntries(builds.map((b) => [b, []]));
for (let k = 0; k < ROUNDS; k++) {
  const order = k % 2 ? [...builds].reverse() : builds;
  for (const b of order) results[b].push(await round(b, k));
}
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return +(s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2).toFixed(2);
};
for (const b of builds) {
  const r = results[b];
  console.log(`${b}: open ${median(r.map((x) => x.open))} ms, first ${median(r.map((x) => x.first))} ms, second ${median(r.map((x) => x.second))} ms, `
    + `steady ${median(r.map((x) => x.steady))} ms (medians of ${r.length} fresh pages)`);
}
await browser.close();
await server.close?.();
process.exit(0);
