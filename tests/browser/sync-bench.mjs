#!/usr/bin/env node
// Sync benchmark between two pages: a write on page A until it is visible
// (committed to IndexedDB) on page B, over direct browser-to-browser WebRTC
// and over the node's relay, beside Yjs + y-webrtc doing the same in the
// same browser run; then catch-up after B missed many updates.
// Prints a markdown table and writes target/sync-bench.json.
//
//   wasm-pack build --target web --profile wasm && cargo build --bin weft
//   node tests/browser/sync-bench.mjs                 # 200 writes, 10,000 missed updates
//   node tests/browser/sync-bench.mjs --quick         # 50 writes, 1,000 missed updates
//   node tests/browser/sync-bench.mjs --only=direct,relay,yjs --writes=N --missed=N --out=FILE
//   node tests/browser/sync-bench.mjs --only=direct --writes=20 --profile=target/sync-profile
//
// WEFT_BIN names the relay node's binary (tests/browser/node.mjs). After the
// catch-up the bench prints page B's memory: its wasm memory and, the pages
// being cross-origin isolated, performance.measureUserAgentSpecificMemory().
// --profile=DIR also writes Chromium CPU profiles of both pages during the
// catch-up (DIR/<transport>-<mode>-{a,b}.cpuprofile, open them in DevTools) and
// prints the functions that took most time on each page's thread.
// --log=debug prints both pages' weftdb logs (setLogLevel), each line marked [A] or [B]
// (warnings and errors alone from the release package: see README).
// --cpu (Linux) samples the machine's cores (/proc/stat every 10 ms) during
// each catch-up and prints how many of them were busy from B meeting A to
// the first batch heard, and from there to the last.
// --poll=always reads all of B's documents every 250 ms from the start of
// the catch-up (the bench before 2026-12-02), not only once it is told done.
// --catchup=reconnect,reopen (the default) measures B's catch-up twice:
// B back online after it went offline with its page open (Playwright's
// setOffline; like Yjs's B, which keeps its document and reconnects its
// provider), then B reopened (a new page: wasm, database, connections).
// --b-storage=memory (the default) runs B's pages, like A's, in an
// off-the-record context of the bench's browser: IndexedDB in memory and no
// code cache, so every reopened B compiles the wasm again. --b-storage=disk
// runs them in a browser of their own with a profile on disk (under
// target/), as a user's: IndexedDB on disk, and a reopened B finds the
// wasm's compiled code in Chromium's code cache (the test server sends
// files to be revalidated, serve.mjs). Yjs's pages stay off the record
// either way. BENCHMARKS.md, "Catch-up: a reopened page compiles its wasm
// again" (2026-12-07, session 43). --b-storage=apart runs B's pages in a
// browser of their own as disk does, but off the record as memory does (no
// disk, no code cache): what the second browser costs apart from them.
// A catch-up ends when B's subscriber hears the last change (as Yjs's B
// checks its map on each update), which may be before B's last commit
// completes (a merge is told as soon as it is merged, src/lib.rs); a full
// read of B's documents confirms it, and the log gives that time too.
import fs from "node:fs";
import path from "node:path";
import os from "node:os";
import { pathToFileURL } from "node:url";
import { serve } from "./serve.mjs";
import { REPO_ROOT, WEB_ROOT, CHROMIUM_ARGS, CHROMIUM_WEBRTC_ARGS, launchChromium, launchChromiumContext, launchChromiumProfile, watchPage } from "./lib.mjs";
import { startNode } from "./node.mjs";

// measureUserAgentSpecificMemory() otherwise waits for the next full
// garbage collection, which may be 20 s away.
const MEMORY_ARGS = ["--enable-blink-features=ForceEagerMeasureMemory"];
const SDL = "type Item { k: Int! v: Int sent: Float }";
const WARMUP = 20;
const KEYS = 1000;

function parseArgs(argv) {
  const args = { writes: 200, missed: 10_000, only: "direct,relay,yjs", catchup: "reconnect,reopen", out: "target/sync-bench.json", profile: "", log: "", poll: "", cpu: false, "b-storage": "memory" };
  for (const a of argv) {
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(a);
    if (!m) throw new Error(`unexpected argument ${a}`);
    if (m[1] === "quick") Object.assign(args, { writes: 50, missed: 1000 });
    else if (!Object.hasOwn(args, m[1])) throw new Error(`unknown option --${m[1]}`);
    else if (m[2] === undefined && m[1] !== "cpu") throw new Error(`--${m[1]} needs a value (--${m[1]}=...)`);
    else args[m[1]] = m[2];
  }
  args.writes = Number(args.writes);
  args.missed = Number(args.missed);
  for (const k of ["writes", "missed"]) if (!Number.isInteger(args[k]) || args[k] < 1) throw new Error(`--${k} takes a positive integer`);
  args.cpu = args.cpu !== false;
  args.only = new Set(String(args.only).split(","));
  args.catchup = [...new Set(String(args.catchup).split(","))];
  for (const m of args.catchup) if (m !== "reconnect" && m !== "reopen") throw new Error(`--catchup takes reconnect and/or reopen, not ${m}`);
  if (!["disk", "memory", "apart"].includes(args["b-storage"])) throw new Error(`--b-storage takes disk, memory or apart, not ${args["b-storage"]}`);
  return args;
}

/**
 * Samples the machine's busy and total CPU time (/proc/stat, jiffies) every
 * 10 ms until stopped; `busy(from, to)` is how many cores were busy on
 * average between two times in ms since the epoch. Linux only.
 */
function sampleCores() {
  const cores = os.cpus().length;
  const samples = [];
  const read = () => {
    const f = fs.readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1).map(Number);
    const total = f.reduce((a, b) => a + b, 0);
    samples.push([Date.now(), total - f[3] - f[4], total]);
  };
  read();
  const timer = setInterval(read, 10);
  return {
    cores,
    stop: () => clearInterval(timer),
    busy(from, to) {
      const a = samples.find((s) => s[0] >= from);
      const b = samples.findLast((s) => s[0] <= to);
      if (!a || !b || b[2] <= a[2]) return null;
      return ((b[1] - a[1]) / (b[2] - a[2])) * cores;
    },
  };
}

/** Nearest-rank percentile of sorted numbers. */
export function percentile(sorted, p) {
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)];
}

export async function until(what, fn, ms = 60_000, every = 50) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, every));
  }
}

/**
 * A CPU profile of `page`'s thread, sampled every `interval` µs, started
 * now ({@link stopProfiling} ends it).
 */
export async function startProfiling(page, interval = 200) {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("Profiler.enable");
  await cdp.send("Profiler.setSamplingInterval", { interval });
  await cdp.send("Profiler.start");
  return cdp;
}

async function stopProfiling(cdp) {
  const { profile } = await cdp.send("Profiler.stop");
  await cdp.detach().catch(() => {});
  return profile;
}

/** The functions with the most self time in a CPU profile, as text lines. */
function topFunctions(profile, n = 25) {
  const self = new Map();
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const deltas = profile.timeDeltas;
  for (let i = 0; i < profile.samples.length; i++) {
    const node = byId.get(profile.samples[i]);
    const { functionName, url, lineNumber } = node.callFrame;
    const name = `${functionName || "(anonymous)"} ${url ? path.basename(url) : ""}${url && lineNumber >= 0 ? ":" + lineNumber : ""}`;
    self.set(name, (self.get(name) ?? 0) + (deltas[i + 1] ?? 0) / 1000);
  }
  const total = [...self.values()].reduce((s, v) => s + v, 0);
  return [...self.entries()]
    .sort((x, y) => y[1] - x[1])
    .slice(0, n)
    .map(([name, ms]) => `  ${ms.toFixed(0).padStart(7)} ms ${((100 * ms) / total).toFixed(1).padStart(5)} %  ${name}`)
    .concat(`  ${total.toFixed(0).padStart(7)} ms in all`)
    .join("\n");
}

/** The page's wasm memory and, where the page may ask, what the browser says the page uses. */
async function pageMemory(page) {
  return page.evaluate(async () => {
    const wasmBytes = window.wasm.memory.buffer.byteLength;
    let pageBytes = null;
    if (self.crossOriginIsolated && performance.measureUserAgentSpecificMemory) {
      pageBytes = (await performance.measureUserAgentSpecificMemory()).bytes;
    }
    return { wasmBytes, pageBytes };
  });
}

/** A page in its own context with weftdb loaded and database "syncbench" open. */
export async function openPage(context, baseUrl, relayAddr, directUpgrade, profile = false, logLevel = "", name = "B") {
  const page = await context.newPage();
  const problems = watchPage(page);
  if (logLevel) page.on("console", (msg) => console.error(`[${name}] ${msg.text()}`));
  await page.goto(`${baseUrl}/tests/browser/blank.html`);
  const profiler = profile ? await startProfiling(page) : null;
  const peerId = await page.evaluate(
    async ({ addr, sdl, directUpgrade, logLevel }) => {
      const weft = await import("/pkg/weftdb.js");
      window.wasm = await weft.default();
      if (logLevel) weft.setLogLevel(logLevel);
      const now = () => performance.timeOrigin + performance.now();
      window.timeline = { opening: now(), peers: [], sync: [], changed: null };
      window.db = await weft.Database.open("syncbench", { peers: [addr], directUpgrade });
      window.timeline.opened = now();
      window.db.on("peer", (ev) => window.timeline.peers.push({ at: now(), ...ev }));
      window.db.on("sync", (ev) => window.timeline.sync.push({ at: now(), ...ev }));
      if (!window.db.collectionNames().includes("Item")) await window.db.addSchema(sdl);
      // When this page's subscribers last heard a change: a catch-up ends
      // at the change that completed it (the polls below only confirm it).
      window.db.collection("Item").subscribe(() => (window.timeline.changed = now()));
      await window.db.collections.subscribe("Item");
      return window.db.peerId;
    },
    { addr: relayAddr, sdl: SDL, directUpgrade, logLevel },
  );
  return { page, problems, peerId, profiler };
}

/** Which transports page `p` has to peer `other`. */
async function linked(p, other) {
  return p.evaluate(async (id) => (await window.db.connections()).filter((c) => c.peerId === id).map((c) => c.transport), other);
}

/**
 * Once pages `a` and `b` are connected by `transport` alone, B records when
 * each value `v` of a document becomes visible to its subscriber
 * (`window.arrived`), and A creates that document; returns its id once B
 * has it.
 */
export async function latencySetup(a, b, transport, log = () => {}) {
  await until(`a ${transport} connection between the pages`, async () => {
    const [ta, tb] = [await linked(a.page, b.peerId), await linked(b.page, a.peerId)];
    return ta.length === 1 && ta[0] === transport && tb.length === 1 && tb[0] === transport;
  });
  log(`${transport}: pages connected`);
  await b.page.evaluate(() => {
    window.arrived = new Map();
    window.db.collection("Item").subscribe((ev) => {
      if (ev.doc) window.arrived.set(ev.doc.v, performance.timeOrigin + performance.now());
    });
  });
  const id = await a.page.evaluate(() => window.db.collection("Item").create({ k: -1, v: -1 }));
  await until("the first document on B", () => b.page.evaluate((id) => window.db.collection("Item").get(id).then((d) => d !== null), id).catch(() => false));
  return id;
}

/** weftdb between two pages, `transport` "webrtc" or "relay". */
async function measureWeft({ browser, baseUrl, relay, transport, writes, missed, log, profile, logLevel, poll, modes, cpu, bStorage }) {
  // --b-storage=disk: B's pages in a browser of their own whose profile is
  // on disk, as a user's. Off the record (the default) Chromium keeps
  // IndexedDB in memory and no code cache: a reopened B compiled the wasm
  // again, its thread pool (V8's optimising compiler) taking 0.9-1.0 s of
  // CPU during the catch-up on this 2-core machine, 0.3 s with the code kept.
  // --b-storage=apart: B's pages in a browser of their own, off the record.
  const contexts = [];
  try {
    contexts.push(await browser.newContext());
    // A profile on disk's first page (about:blank) stays open, unused: the
    // browser then never depends on a headless rule to outlive its last page.
    const bArgs = [...CHROMIUM_ARGS, ...CHROMIUM_WEBRTC_ARGS, ...MEMORY_ARGS];
    if (bStorage === "disk") contexts.push(await launchChromiumProfile(bArgs));
    else if (bStorage === "apart") contexts.push(await launchChromiumContext(bArgs));
    else contexts.push(await browser.newContext());
    const direct = transport === "webrtc";
    const a = await openPage(contexts[0], baseUrl, relay.addr("websocket"), direct, false, logLevel, "A");
    let b = await openPage(contexts[1], baseUrl, relay.addr("websocket"), direct, false, logLevel);
    const id = await latencySetup(a, b, transport, log);
    const samples = [];
    for (let i = 0; i < WARMUP + writes; i++) {
      const arrival = b.page.evaluate(
        (v) =>
          new Promise((resolve, reject) => {
            const t = setInterval(() => {
              if (window.arrived.has(v)) {
                clearInterval(t);
                resolve(window.arrived.get(v));
              }
            }, 0);
            setTimeout(() => reject(new Error(`value ${v} never arrived`)), 30_000);
          }),
        i,
      );
      const sent = await a.page.evaluate(
        async ({ id, v }) => {
          const t = performance.timeOrigin + performance.now();
          await window.db.collection("Item").update(id, { v, sent: t });
          return t;
        },
        { id, v: i },
      );
      const got = await arrival;
      if (i >= WARMUP) samples.push(got - sent);
    }
    log(`${transport}: ${writes} writes measured`);

    // Catch-up, twice. "reconnect": B stays open but goes offline (as
    // Yjs's B keeps its document and drops its provider), A makes `missed`
    // changes over KEYS documents, B comes back online. "reopen": B closes,
    // A makes as many changes again, B opens anew (loads the wasm, opens
    // the database, connects).
    const catchups = {};
    for (const mode of modes) {
      let profiler = null;
      let started;
      const write = async () => {
        const last = await a.page.evaluate(
          async ({ missed, keys }) => {
            const items = window.db.collection("Item");
            const ids = await items.createMany(Array.from({ length: Math.min(keys, missed) }, (_, k) => ({ k, v: 0 })));
            let done = ids.length;
            for (let round = 1; done < missed; round++) {
              const n = Math.min(ids.length, missed - done);
              for (let j = 0; j < n; j++) await items.update(ids[j], { v: round });
              done += n;
            }
            return items.count({ filter: { k: { _ge: 0 } } });
          },
          { missed, keys: KEYS },
        );
        const want = await a.page.evaluate(async () => {
          const all = await window.db.collection("Item").find({ filter: { k: { _ge: 0 } }, limit: 100000 });
          return all.reduce((s, d) => s + d.k * 7 + d.v, 0);
        });
        return { last, want };
      };
      let last, want, before;
      if (mode === "reconnect") {
        const stats = await b.page.evaluate(() => window.db.networkStats());
        before = stats.bytesReceived;
        await b.page.context().setOffline(true);
        await until("B offline", async () => (await linked(b.page, a.peerId)).length === 0 && (await linked(a.page, b.peerId)).length === 0);
        ({ last, want } = await write());
        await b.page.evaluate(() => {
          window.timeline.sync = [];
          window.timeline.peers = [];
          window.timeline.changed = null;
        });
        profiler = profile ? await startProfiling(a.page) : null;
        b.profiler = profile ? await startProfiling(b.page) : null;
        started = Date.now();
        await b.page.evaluate(() => (window.timeline.opening = window.timeline.opened = performance.timeOrigin + performance.now()));
        await b.page.context().setOffline(false);
      } else {
        const bState = b.page.context();
        await b.page.evaluate(() => window.db.close());
        await b.page.close();
        ({ last, want } = await write());
        before = 0;
        profiler = profile ? await startProfiling(a.page) : null;
        started = Date.now();
        b = await openPage(bState, baseUrl, relay.addr("websocket"), direct, profile, logLevel);
      }
      const cores = cpu ? sampleCores() : null;
      await until(`B reconnected over ${transport}`, async () => (await linked(b.page, a.peerId)).includes(transport));
      const connectMs = Date.now() - started;
      // A full read of B's documents competes with the merge it waits for on
      // the page's one thread: it is made every 250 ms, and (unless
      // --poll=always, the bench before 2026-12-02) only once B's sync events
      // say it received what it wanted (which may read so a moment early,
      // when pushes come out of order), or none came for a second. Only when
      // the reads begin depends on it: the check is the read.
      await until(
        "B to catch up",
        () =>
          b.page.evaluate(
            async ({ last, want, always }) => {
              const sync = window.timeline.sync.at(-1);
              const quiet = performance.timeOrigin + performance.now() - (sync?.at ?? window.timeline.opened) > 1000;
              if (!always && !quiet && !(sync && sync.blocksReceived >= sync.blocksWanted)) return false;
              const all = await window.db.collection("Item").find({ filter: { k: { _ge: 0 } }, limit: 100000 });
              return all.length === last && all.reduce((s, d) => s + d.k * 7 + d.v, 0) === want;
            },
            { last, want, always: poll === "always" },
          ),
        300_000,
        250,
      );
      const confirmedMs = Date.now() - started;
      cores?.stop();
      // On B's clock when B was there all along (its `opening` was set as
      // it came back online); a reopened B's clock starts with its page, so
      // the start is the bench's (both are milliseconds since the epoch).
      const { changed, opening } = await b.page.evaluate(() => window.timeline);
      if (!changed) throw new Error(`${transport} ${mode}: B's subscriber heard no change`);
      const catchupMs = mode === "reconnect" ? changed - opening : changed - started;
      if (profile) {
        fs.mkdirSync(profile, { recursive: true });
        for (const [name, p] of [["a", profiler], ["b", b.profiler]]) {
          if (!p) continue;
          const file = path.join(profile, `${transport}-${mode}-${name}.cpuprofile`);
          const cpu = await stopProfiling(p);
          fs.writeFileSync(file, JSON.stringify(cpu));
          log(`${transport} ${mode}: page ${name.toUpperCase()}'s profile in ${file}; its busiest functions (self ms):\n${topFunctions(cpu)}`);
        }
      }
      const stats = await b.page.evaluate(() => window.db.networkStats());
      const timeline = await b.page.evaluate(() => window.timeline);
      // From B coming back online, or from the bench's start of a reopen
      // (before B's page is made: its load and the wasm's are counted).
      const zero = mode === "reconnect" ? timeline.opening : started;
      const since = (t) => Math.round(t - zero);
      const firstPeer = timeline.peers.find((p) => p.peerId === a.peerId && p.type === "connected");
      log(
        `${transport} ${mode}: ${mode === "reopen" ? `B's wasm ready after ${since(timeline.opening)} ms, its database open after ${since(timeline.opened)} ms, ` : ""}met A after ${firstPeer ? since(firstPeer.at) : "?"} ms; ` +
          `${timeline.sync.length} batches heard, the first after ${timeline.sync.length ? since(timeline.sync[0].at) : "?"} ms, ` +
          `the last after ${timeline.sync.length ? since(timeline.sync.at(-1).at) : "?"} ms; its subscriber's last change after ${since(changed)} ms`,
      );
      if (cores && firstPeer && timeline.sync.length) {
        const [met, first, last] = [firstPeer.at, timeline.sync[0].at, timeline.sync.at(-1).at];
        const busy = (a, b) => cores.busy(a, b)?.toFixed(2) ?? "?";
        log(
          `${transport} ${mode}: cores busy (of ${cores.cores}): ${busy(met, first)} from meeting A to the first batch heard ` +
            `(${Math.round(first - met)} ms), ${busy(first, last)} from there to the last (${Math.round(last - first)} ms)`,
        );
      }
      const memory = await pageMemory(b.page);
      log(
        `${transport} ${mode}: caught up with ${missed} updates in ${Math.round(catchupMs)} ms (its subscriber's last change; ` +
          `confirmed by a full read after ${confirmedMs} ms); B's memory ${JSON.stringify(memory)}`,
      );
      catchups[mode] = { catchupMs, confirmedMs, connectMs, catchupBytes: stats.bytesReceived - before, memory, timeline };
    }
    const problems = [...a.problems, ...b.problems];
    return { samples, ...catchups[modes.at(-1)], catchups, updates: missed, problems };
  } finally {
    for (const c of contexts) await c.close().catch(() => {});
  }
}

function summarise(r) {
  const sorted = [...r.samples].sort((x, y) => x - y);
  return { ...r, p50: percentile(sorted, 50), p99: percentile(sorted, 99), samples: undefined };
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const log = (m) => console.error(`[sync-bench] ${m}`);
  const relay = await startNode();
  const server = await serve({ root: WEB_ROOT, port: 0 });
  const browser = await launchChromium({ args: [...CHROMIUM_ARGS, ...CHROMIUM_WEBRTC_ARGS, ...MEMORY_ARGS] });
  const results = {};
  try {
    const opts = { browser, baseUrl: server.url, relay, writes: args.writes, missed: args.missed, log, profile: args.profile, logLevel: args.log, poll: args.poll, modes: args.catchup, cpu: args.cpu, bStorage: args["b-storage"] };
    if (args.only.has("yjs")) {
      const { measureYjs } = await import("./yjs-baseline.mjs");
      results.yjs = summarise(await measureYjs(opts));
    }
    if (args.only.has("direct")) results.direct = summarise(await measureWeft({ ...opts, transport: "webrtc" }));
    if (args.only.has("relay")) results.relay = summarise(await measureWeft({ ...opts, transport: "relay" }));
  } finally {
    await browser.close().catch(() => {});
    await server.close();
    await relay.stop();
  }
  const y = results.yjs;
  const catchup = (r, mode) => {
    const c = r.catchups ? r.catchups[mode] : mode === "reconnect" ? r : null;
    return c ? `${Math.round(c.catchupMs)} ms (${Math.round(c.connectMs ?? c.catchupConnectMs)} ms), ${c.catchupBytes} B` : "-";
  };
  const rows = [
    [
      "",
      "p50 ms",
      "p99 ms",
      "p50 / y-webrtc",
      `catch-up of ${args.missed} updates, B back online (of which reconnecting), bytes`,
      "the same, B reopened",
      "B's wasm memory / page memory after the last catch-up",
    ],
  ];
  const mib = (b) => (b == null ? "-" : `${(b / 1048576).toFixed(1)} MiB`);
  for (const [name, r] of Object.entries(results)) {
    rows.push([
      { yjs: "Yjs + y-webrtc", direct: "weftdb, direct WebRTC", relay: "weftdb, relayed" }[name],
      r.p50.toFixed(2),
      r.p99.toFixed(2),
      y ? (r.p50 / y.p50).toFixed(2) + "×" : "-",
      catchup(r, "reconnect"),
      catchup(r, "reopen"),
      r.memory ? `${mib(r.memory.wasmBytes)} / ${mib(r.memory.pageBytes)}` : "-",
    ]);
  }
  const table = rows.map((r) => `| ${r.join(" | ")} |`);
  table.splice(1, 0, `|${rows[0].map(() => "---").join("|")}|`);
  console.log(table.join("\n"));
  const out = path.resolve(REPO_ROOT, args.out);
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, JSON.stringify({ args: { ...args, only: [...args.only] }, results }, null, 2));
  for (const [name, r] of Object.entries(results)) {
    if (r.problems?.length) console.error(`[sync-bench] ${name}: the pages reported ${JSON.stringify(r.problems)}`);
  }
}

// Run as a script; latency-probe.mjs imports its pages from here.
if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
