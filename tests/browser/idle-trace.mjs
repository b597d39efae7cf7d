#!/usr/bin/env node
// What wakes an idle page: a Chromium trace (devtools.timeline, toplevel)
// of the idle-bench case of two pages connected to each other (direct
// WebRTC) and to a `weft start` node (WebSocket), or of one page connected
// to the node, summed per page main thread by what each task ran (timer
// fired, event dispatched, function called, GC). A companion to
// idle-bench.mjs, which measures; this says where the time goes.
//
//   node tests/browser/idle-trace.mjs                    # two pages, 20 s
//   node tests/browser/idle-trace.mjs --case=websocket --seconds=N --out=FILE
//   (--case: two, websocket, webrtc-direct, webtransport; the raw trace goes to FILE)
import fs from "node:fs";
import path from "node:path";
import { serve } from "./serve.mjs";
import { REPO_ROOT, WEB_ROOT, launchBrowser } from "./lib.mjs";
import { startNode } from "./node.mjs";
import { parseArgs, until, openPage, twoPages } from "./idle-pages.mjs";

const SETTLE_MS = 5_000;

/** What a main-thread task ran, from the events nested in it. */
function label(children) {
  const parts = [];
  for (const e of children) {
    const d = e.args?.data ?? {};
    if (e.name === "TimerFire") parts.push(`TimerFire`);
    else if (e.name === "EventDispatch") parts.push(`Event:${d.type}`);
    else if (e.name === "FunctionCall") parts.push(`Fn:${d.functionName || "?"}@${(d.url || "").split("/").pop()}:${d.lineNumber ?? ""}`);
    else if (e.name === "RunMicrotasks") parts.push("Microtasks");
    else if (/GC|Scavenge|MarkCompact/i.test(e.name)) parts.push(`GC:${e.name}`);
    else if (e.name === "FireAnimationFrame" || e.name === "FireIdleCallback") parts.push(e.name);
    if (parts.length >= 3) break;
  }
  return parts.join(" > ") || (children[0]?.name ?? "(empty)");
}

/** Per renderer main thread: total task time and the tasks grouped by label. */
function summarise(events, seconds) {
  const mains = new Map(); // pid -> tid
  for (const e of events) if (e.ph === "M" && e.name === "thread_name" && e.args?.name === "CrRendererMain") mains.set(e.pid, e.tid);
  const out = [];
  for (const [pid, tid] of mains) {
    const ev = events.filter((e) => e.pid === pid && e.tid === tid && e.ph === "X").sort((a, b) => a.ts - b.ts || b.dur - a.dur);
    const tasks = ev.filter((e) => e.name === "ThreadControllerImpl::RunTask" || e.name === "RunTask");
    if (!tasks.length) continue;
    const groups = new Map();
    let total = 0;
    let j = 0;
    for (const t of tasks) {
      total += t.dur;
      const end = t.ts + t.dur;
      const children = [];
      while (j < ev.length && ev[j].ts < t.ts) j++;
      for (let k = j; k < ev.length && ev[k].ts < end; k++) if (ev[k] !== t) children.push(ev[k]);
      const key = label(children);
      const g = groups.get(key) ?? { count: 0, us: 0 };
      g.count++;
      g.us += t.dur;
      groups.set(key, g);
    }
    out.push({ pid, total, tasks: tasks.length, groups: [...groups].sort((a, b) => b[1].us - a[1].us) });
  }
  for (const p of out) {
    console.log(`\nrenderer ${p.pid}: ${p.tasks} tasks, ${(p.total / 1000).toFixed(1)} ms = ${((100 * p.total) / 1e6 / seconds).toFixed(2)} % of a core`);
    for (const [k, g] of p.groups.slice(0, 25)) console.log(`  ${(g.us / 1000).toFixed(1).padStart(8)} ms ${String(g.count).padStart(5)}x  ${k}`);
  }
}

async function main() {
  const args = parseArgs(process.argv.slice(2), { seconds: 20, case: "two", out: "target/idle-trace.json" });
  const node = await startNode();
  const server = await serve({ root: WEB_ROOT, port: 0 });
  const browser = await launchBrowser("chromium");
  const log = (m) => console.error(`[idle-trace] ${m}`);
  try {
    const ctx = async () => browser.newContext();
    let pages;
    if (args.case === "two") {
      const addr = node.addr("websocket");
      const [a, b] = await twoPages(ctx, server.url, addr);
      pages = [a, b];
    } else {
      const p = await openPage(await ctx(), server.url, "idle", { peers: [node.addr(args.case)] });
      await until("a connection", async () => (await p.page.evaluate(() => window.db.connections())).length > 0);
      pages = [p];
    }
    await new Promise((r) => setTimeout(r, SETTLE_MS));
    const cdp = await browser.newBrowserCDPSession();
    const chunks = [];
    cdp.on("Tracing.dataCollected", (e) => chunks.push(...e.value));
    const done = new Promise((r) => cdp.once("Tracing.tracingComplete", r));
    await cdp.send("Tracing.start", {
      traceConfig: {
        includedCategories: [
          "devtools.timeline",
          "disabled-by-default-devtools.timeline",
          "toplevel",
          "v8",
          "v8.execute",
          "blink",
          "webrtc",
        ],
      },
      transferMode: "ReportEvents",
    });
    log(`tracing ${args.seconds} s`);
    await new Promise((r) => setTimeout(r, args.seconds * 1000));
    await cdp.send("Tracing.end");
    await done;
    for (const p of pages) if (p.problems.length) log(`page problems: ${p.problems.join("; ")}`);
    const out = path.resolve(REPO_ROOT, args.out);
    fs.mkdirSync(path.dirname(out), { recursive: true });
    fs.writeFileSync(out, JSON.stringify({ traceEvents: chunks }));
    log(`${chunks.length} events, written to ${out}`);
    summarise(chunks, args.seconds);
  } finally {
    await browser.close();
    await server.close();
    await node.stop();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
