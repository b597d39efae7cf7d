// Smoke test of the benchmark page (www/bench.html): every workload runs on
// every engine at tiny sizes and checks its own results (ids returned, gets
// find their documents, queries return the expected count). Keeps the
// harness working; the real numbers come from `node tests/browser/bench.mjs`.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { serve } from "./serve.mjs";
import { WEB_ROOT, BROWSER, launchBrowser, watchPage } from "./lib.mjs";

let server;
let browser;
let page;
let problems = [];

before(async () => {
  const pkgJs = path.join(WEB_ROOT, "pkg", "weftdb.js");
  assert.ok(fs.existsSync(pkgJs), `${pkgJs} is missing: build it first with "wasm-pack build --target web --profile wasm"`);
  server = await serve({ root: WEB_ROOT, port: 0 });
  // WEFT_BROWSER=firefox runs it in Firefox ESR (see lib.mjs). Chromium
  // answers measureUserAgentSpecificMemory at its next garbage collection,
  // up to 20 s later, once per engine; this Blink feature makes it measure
  // at once (the bench's own runs, bench.mjs, keep the browser's timing).
  browser = await launchBrowser(BROWSER, { chromiumArgs: ["--enable-blink-features=ForceEagerMeasureMemory"] });
  page = await (await browser.newContext()).newPage();
  problems = watchPage(page);
  await page.goto(`${server.url}/www/bench.html`);
  for (const deadline = Date.now() + 60_000; !(await page.evaluate(() => window.benchReady === true)); ) {
    assert.ok(Date.now() < deadline, "the bench page never got ready");
    await new Promise((r) => setTimeout(r, 100));
  }
});

after(async () => {
  await browser?.close().catch(() => {});
  await server?.close();
});

async function tinyRun() {
  return page.evaluate(() =>
    window.runBench({
      bulk: 300,
      writes: 10,
      gets: 50,
      large: 1200,
      batch: 400,
      reopens: 2,
      queries: 5,
      authors: 40,
      phaseTimeoutMs: 120_000,
    }),
  );
}

test(`${BROWSER}: the bench page runs every workload on raw IndexedDB, Dexie and weftdb`, { timeout: 300_000 }, async () => {
  const result = await tinyRun();
  for (const key of ["raw", "dexie", "weftdb"]) {
    assert.equal(result.engines[key].available, true, `${key} unavailable: ${result.engines[key].reason}`);
  }
  const keys = result.workloads.map((w) => w.key);
  assert.deepEqual(keys, ["bulk", "write", "get", "build", "reopen", "getCold", "memory", "query"]);
  for (const w of result.workloads) {
    for (const key of ["raw", "dexie", "weftdb"]) {
      const r = w.results[key];
      assert.ok(r, `${w.key}/${key}: no result`);
      assert.equal(r.error, undefined, `${w.key}/${key}: ${r.error}`);
      if (w.unit === "MiB") continue;
      assert.equal(typeof r.ms, "number", `${w.key}/${key}: no time`);
      assert.ok(r.ms >= 0, `${w.key}/${key}: negative time`);
    }
  }
  // Memory: weftdb's wasm memory always; the page's where the browser
  // measures it (Chromium, cross-origin isolated), else null.
  const memory = result.workloads.find((w) => w.key === "memory");
  assert.ok(memory.results.weftdb.wasmMib > 0, `weftdb's wasm memory: ${JSON.stringify(memory.results.weftdb)}`);
  for (const key of ["raw", "dexie"]) {
    const mib = memory.results[key].mib;
    assert.ok(mib === null || mib > 0, `${key}'s page memory: ${mib}`);
  }
  const q = result.workloads.find((w) => w.key === "query");
  assert.equal(q.results.weftdb.rowsPerQuery, 30, "1200 docs over 40 authors: 30 per query");
});

test(`${BROWSER}: a second run in the same page works (fresh databases again)`, { timeout: 300_000 }, async () => {
  const result = await tinyRun();
  for (const w of result.workloads) {
    for (const [key, r] of Object.entries(w.results)) assert.equal(r.error, undefined, `${w.key}/${key}: ${r.error}`);
  }
});

test(`${BROWSER}: no uncaught errors on the bench page`, () => {
  assert.deepEqual(problems, []);
});
