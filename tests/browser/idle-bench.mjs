#!/usr/bin/env node
// Idle cost: how much of a core a page with weftdb open uses while nothing
// happens, alone (no network: the floor), connected to a `weft start` node
// over each browser transport, and two pages connected to each other
// (direct WebRTC, met through the node); and the node's own CPU meanwhile.
// A page's time is its main thread's task time (CDP Performance metrics
// `TaskDuration`), where weftdb's wasm and its timers run; the browser's
// network and storage threads are not counted. Issue 11 aims at <= 0.5 %
// of a core per idle page.
//
//   wasm-pack build --target web --profile wasm && cargo build --bin weft
//   node tests/browser/idle-bench.mjs                   # 20 s per row
//   node tests/browser/idle-bench.mjs --seconds=N --out=FILE
//   WEFTDB_WEB_ROOT=<another checkout> ...              # that checkout's pkg/
import fs from "node:fs";
import path from "node:path";
import { serve } from "./serve.mjs";
import { REPO_ROOT, WEB_ROOT, launchBrowser } from "./lib.mjs";
import { startNode } from "./node.mjs";
import { parseArgs, until, openPage as openIdlePage, twoPages } from "./idle-pages.mjs";

const SETTLE_MS = 5_000;

/** A shared idle page (idle-pages.mjs) with its CDP session for the metrics. */
async function openPage(context, baseUrl, name, options) {
  const { page, problems, peerId } = await openIdlePage(context, baseUrl, name, options);
  const cdp = await context.newCDPSession(page);
  await cdp.send("Performance.enable");
  return { page, problems, peerId, cdp };
}

async function taskSeconds(p) {
  const { metrics } = await p.cdp.send("Performance.getMetrics");
  return metrics.find((m) => m.name === "TaskDuration").value;
}

/** The node's user + system CPU seconds so far (Linux /proc). */
function nodeCpuSeconds(node) {
  const fields = fs.readFileSync(`/proc/${node.pid}/stat`, "utf8").split(") ")[1].split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Percent of one core each page (and the node) used over `seconds` of quiet. */
async function measure(pages, node, seconds) {
  await new Promise((r) => setTimeout(r, SETTLE_MS));
  const before = await Promise.all(pages.map(taskSeconds));
  const nodeBefore = nodeCpuSeconds(node);
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const wall = (performance.now() - t0) / 1000;
  const after = await Promise.all(pages.map(taskSeconds));
  const perPage = after.map((a, i) => (100 * (a - before[i])) / wall);
  return { perPage, node: (100 * (nodeCpuSeconds(node) - nodeBefore)) / wall };
}

async function main() {
  const args = parseArgs(process.argv.slice(2), { seconds: 20, out: "target/idle-bench.json" });
  const node = await startNode();
  const server = await serve({ root: WEB_ROOT, port: 0 });
  const browser = await launchBrowser("chromium");
  const rows = [];
  const log = (m) => console.error(`[idle-bench] ${m}`);
  try {
    const row = async (label, open) => {
      const contexts = [];
      const context = async () => {
        const c = await browser.newContext();
        contexts.push(c);
        return c;
      };
      try {
        const pages = await open(context);
        const r = await measure(pages, node, args.seconds);
        for (const p of pages) if (p.problems.length) throw new Error(`${label}: page problems: ${p.problems.join("; ")}`);
        rows.push({ label, ...r });
        log(`${label}: ${r.perPage.map((x) => x.toFixed(2)).join(" + ")} % per page; node ${r.node.toFixed(2)} %`);
      } finally {
        for (const c of contexts) await c.close();
      }
    };
    await row("one page, no network", async (ctx) => [await openPage(await ctx(), server.url, "idle", {})]);
    for (const transport of ["websocket", "webrtc-direct", "webtransport"]) {
      await row(`one page connected to the node (${transport})`, async (ctx) => {
        const p = await openPage(await ctx(), server.url, "idle", { peers: [node.addr(transport)] });
        await until("a connection", async () => (await p.page.evaluate(() => window.db.connections())).length > 0);
        return [p];
      });
    }
    await row("two pages connected to each other (direct WebRTC) and to the node (websocket)", async (ctx) => {
      const addr = node.addr("websocket");
      const [a, b] = await twoPages(ctx, server.url, addr, openPage);
      return [a, b];
    });
  } finally {
    await browser.close();
    await server.close();
    await node.stop();
  }
  const version = JSON.parse(fs.readFileSync(path.join(WEB_ROOT, "pkg", "package.json"), "utf8")).version;
  console.log(`\n| Idle ${args.seconds} s (pkg ${version} from ${path.relative(REPO_ROOT, WEB_ROOT) || "."}) | each page, % of a core | node, % of a core |`);
  console.log("| --- | ---: | ---: |");
  for (const r of rows) console.log(`| ${r.label} | ${r.perPage.map((x) => x.toFixed(2)).join(" + ")} | ${r.node.toFixed(2)} |`);
  const out = path.resolve(REPO_ROOT, args.out);
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, JSON.stringify(rows, null, 2));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
