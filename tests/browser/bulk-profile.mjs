#!/usr/bin/env node
// Where a bulk create's page thread goes: a CPU profile of ROUNDS
// `createMany(N)` (strict), self and inclusive time by function, per
// document, and the page thread's busy share of the wall time.
//   AB_ROOT=/tmp/ab BUILDS=named N=10000 ROUNDS=3 node tests/browser/bulk-profile.mjs
// (names need a build whose wasm kept them: `cargo build --profile wasm
// --target wasm32-unknown-unknown --lib`, then `wasm-bindgen --target web`
// without wasm-opt, into a folder of AB_ROOT).
import { abSetup, profileByFunction } from "./lib.mjs";
const N = Number(process.env.N || 10_000);
const ROUNDS = Number(process.env.ROUNDS || 3);
const { builds, server, browser } = await abSetup("named");
const b = builds[0];
const page = await (await browser.newContext()).newPage();
await page.goto(`${server.url}/www/bench.html`);
await page.evaluate(async ([b, N]) => {
  globalThis.mod = await import(`/${b}/weftdb.js`);
  await mod.default();
  globalThis.docs = Array.from({ length: N }, (_, k) => ({ title: "title " + k, pages: k, author: "author" + (k % 100) }));
}, [b, N]);
const cdp = await page.context().newCDPSession(page);
await cdp.send("Profiler.enable");
await cdp.send("Profiler.setSamplingInterval", { interval: 50 });
await cdp.send("Profiler.start");
const wall = await page.evaluate(async (ROUNDS) => {
  const out = [];
  for (let r = 0; r < ROUNDS; r++) {
    const name = "bulkprof" + r;
    try { await mod.Database.destroy(name); } catch {}
    const db = await mod.Database.open(name, { durability: "strict" });
    await db.addSchema("type Item { title: String! pages: Int author: String @index }");
    const t0 = performance.now();
    await db.collection("Item").createMany(docs.map((d) => ({ ...d })));
    out.push(performance.now() - t0);
    db.close();
    try { await mod.Database.destroy(name); } catch {}
  }
  return out;
}, ROUNDS);
const { profile } = await cdp.send("Profiler.stop");
const { self, incl, total } = profileByFunction(profile);
const idle = (self.get("(idle)") || 0) + (self.get("(program)") || 0) * 0;
console.log("wall ms:", wall.map((x) => Math.round(x)).join(", "), " profile total ms:", Math.round(total / 1000), " idle ms:", Math.round(idle / 1000));
const per = ROUNDS * N;
console.log("inclusive, µs per document:");
for (const [k, v] of [...incl].filter(([k]) => !/^\((root|idle)/.test(k)).sort((a, b) => b[1] - a[1]).slice(0, 60)) console.log(`${(v / per).toFixed(2).padStart(7)}  ${k.slice(0, 140)}`);
console.log("self:");
for (const [k, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 40)) console.log(`${(v / per).toFixed(2).padStart(7)}  ${k.slice(0, 140)}`);
await browser.close();
server.close?.();
process.exit(0);
