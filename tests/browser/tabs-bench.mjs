#!/usr/bin/env node
// How long a change committed in one tab takes to reach a subscriber in
// another tab of the same origin (the BroadcastChannel notice of
// src/node/tabs/page.rs), in Debian's headless Chromium. Two tabs of one context
// open one database with `p2p: true` (so they coordinate; no peers, no
// node); tab A updates one document N times, one after another; each
// change's latency is the time from A's own subscriber hearing it (right
// after the commit) to B's subscriber hearing it, both read from
// `performance.timeOrigin + performance.now()` (one machine clock).
// Prints p50 / p99 / max and writes target/tabs-bench.json.
//
//   wasm-pack build --target web --profile wasm && node tests/browser/tabs-bench.mjs [--changes=500]
import fs from "node:fs";
import path from "node:path";
import { serve } from "./serve.mjs";
import { REPO_ROOT, WEB_ROOT, launchChromium } from "./lib.mjs";

const changes = Number((process.argv.find((a) => a.startsWith("--changes=")) ?? "--changes=500").split("=")[1]);

const server = await serve({ root: WEB_ROOT, port: 0 });
const browser = await launchChromium();
try {
  const context = await browser.newContext();
  const tabs = [];
  for (let i = 0; i < 2; i++) {
    const page = await context.newPage();
    await page.goto(`${server.url}/tests/browser/blank.html`);
    await page.evaluate(async () => {
      const weft = await import("/pkg/weftdb.js");
      await weft.default();
      window.db = await weft.Database.open("tabs-bench", { p2p: true });
      if (!window.db.collectionNames().includes("Note")) await window.db.addSchema("type Note { n: Int }").catch(() => {});
      window.heard = [];
      const now = () => performance.timeOrigin + performance.now();
      window.db.collection("Note").subscribe((ev) => window.heard.push([ev.doc?.n ?? -1, now()]));
    });
    tabs.push(page);
  }
  const [a, b] = tabs;
  const id = await a.evaluate(() => window.db.collection("Note").create({ n: -1 }));
  await b.waitForFunction(() => window.heard.length >= 1);
  await a.evaluate(
    async ({ id, changes }) => {
      window.heard = [];
      const notes = window.db.collection("Note");
      for (let n = 0; n < changes; n++) await notes.update(id, { n });
    },
    { id, changes },
  );
  await b.evaluate(() => (window.heard = window.heard.filter((h) => h[0] >= 0)));
  await b.waitForFunction((changes) => window.heard.length >= changes, changes, { timeout: 60_000 });
  const sent = new Map(await a.evaluate(() => window.heard));
  const got = await b.evaluate(() => window.heard);
  const order = got.map((h) => h[0]);
  if (order.some((n, i) => n !== i)) throw new Error(`tab B heard the changes out of order: ${order.slice(0, 20)}…`);
  const ms = got.map(([n, t]) => t - sent.get(n)).sort((x, y) => x - y);
  const q = (p) => ms[Math.min(ms.length - 1, Math.floor((p / 100) * ms.length))];
  const result = { changes, p50: q(50), p99: q(99), max: ms[ms.length - 1], browser: browser.version() };
  console.log(`| change in tab A heard by tab B's subscriber (${changes} updates) | ${result.p50.toFixed(2)} | ${result.p99.toFixed(2)} | ${result.max.toFixed(2)} |`);
  const out = path.join(REPO_ROOT, "target", "tabs-bench.json");
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, JSON.stringify(result, null, 2));
} finally {
  await browser.close();
  await server.close();
}
