#!/usr/bin/env node
// Browser benchmark runner: weftdb against raw IndexedDB and Dexie 4 in
// Debian's headless Chromium, side by side in one page (www/bench.html).
// Prints a markdown table and writes target/bench.json.
//
//   wasm-pack build --target web --profile wasm     # the weftdb build it measures
//   node tests/browser/bench.mjs               # full sizes (several minutes)
//   node tests/browser/bench.mjs --quick       # small sizes, a smoke run
//   node tests/browser/bench.mjs --only=raw,dexie
//
// Options (--name=value or --name value):
//   --only=raw,dexie,weftdb   engines to run (default: all three; a missing
//                             weftdb build is reported as unavailable)
//   --bulk=10000 --writes=200 --gets=1000 --large=100000 --batch=10000
//   --reopens=21 --queries=50 --authors=N (default large/100) --seed=42
//   --reopen-wait-ms=0        pause between close and reopen (Chromium keeps a
//                             closed database's backing store for ~2 s: 2500
//                             measures a reopen after it was let go)
//   --no-warmup               skip the unmeasured warm-up of each engine
//   --durability=strict|relaxed|default   every engine's write durability
//   --storage=memory|disk     memory (the default): the page in an
//                             off-the-record context, where Chromium keeps
//                             IndexedDB in memory (every row of BENCHMARKS.md
//                             until 2026-12-07); disk: in a profile on disk,
//                             as a user's browser (IndexedDB's files written)
//   --quick                   bulk 1000, writes 50, gets 200, large 10000, batch 2000
//   --timeout-min=60          whole run; --phase-timeout-min=20 per engine and phase
//   --out=target/bench.json   --quiet (don't echo the page's progress lines)
import fs from "node:fs";
import path from "node:path";
import zlib from "node:zlib";
import { serve } from "./serve.mjs";
import { REPO_ROOT, WEB_ROOT, launchChromiumContext, launchChromiumProfile } from "./lib.mjs";

const NUMERIC = ["bulk", "writes", "gets", "large", "batch", "reopens", "queries", "authors", "seed", "reopen-wait-ms"];
const QUICK = { bulk: 1000, writes: 50, gets: 200, large: 10_000, batch: 2000, reopens: 3, queries: 20 };

function usage(msg) {
  if (msg) console.error(`bench: ${msg}`);
  console.error(
    "usage: node tests/browser/bench.mjs [--quick] [--only=raw,dexie,weftdb] [--bulk=N] [--writes=N] [--gets=N]\n" +
      "       [--large=N] [--batch=N] [--reopens=N] [--queries=N] [--authors=N] [--seed=N]\n" +
      "       [--reopen-wait-ms=N] [--no-warmup] [--durability=strict|relaxed|default] [--storage=memory|disk]\n" +
      "       [--timeout-min=N] [--phase-timeout-min=N] [--out=FILE] [--quiet]",
  );
  process.exit(2);
}

function parseArgs(argv) {
  const args = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "-h" || a === "--help") usage();
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(a);
    if (!m) usage(`unexpected argument ${a}`);
    const [, key, inline] = m;
    if (key === "quick" || key === "quiet" || key === "no-warmup") {
      args[key] = true;
      continue;
    }
    const val = inline ?? argv[++i];
    if (val === undefined) usage(`--${key} needs a value`);
    args[key] = val;
  }
  return args;
}

const args = parseArgs(process.argv.slice(2));
const options = {};
if (args.quick) Object.assign(options, QUICK);
if (args["no-warmup"]) options.warmup = false;
for (const k of NUMERIC) {
  if (args[k] === undefined) continue;
  const n = Number(args[k]);
  const min = k === "seed" || k === "reopen-wait-ms" ? 0 : 1;
  if (!Number.isInteger(n) || n < min) usage(`--${k} must be an integer >= ${min}`);
  options[k.replace(/-([a-z])/g, (_, c) => c.toUpperCase())] = n;
}
if (options.large !== undefined && options.batch === undefined) options.batch = Math.min(10_000, options.large);
if (args.only) {
  const only = args.only.split(",").map((s) => s.trim()).filter(Boolean);
  for (const e of only) if (!["raw", "dexie", "weftdb"].includes(e)) usage(`unknown engine ${e}`);
  options.engines = only;
}
if (args.durability) {
  if (!["strict", "relaxed", "default"].includes(args.durability)) usage("bad --durability");
  options.durability = args.durability;
}
const storage = args.storage ?? "memory";
if (!["memory", "disk"].includes(storage)) usage("bad --storage");
if (args["phase-timeout-min"]) options.phaseTimeoutMs = Number(args["phase-timeout-min"]) * 60_000;
const totalTimeoutMs = Number(args["timeout-min"] ?? 60) * 60_000;
const outFile = path.resolve(REPO_ROOT, args.out ?? path.join("target", "bench.json"));
const weftRequested = !options.engines || options.engines.includes("weftdb");
const weftExplicit = !!options.engines?.includes("weftdb");

// ---------------------------------------------------------------------------

function fmt(ms) {
  if (ms == null) return "—";
  if (ms >= 100) return ms.toFixed(0);
  if (ms >= 10) return ms.toFixed(1);
  if (ms >= 1) return ms.toFixed(2);
  return ms.toFixed(3);
}

function cell(r, unit) {
  if (!r) return "—";
  if (r.unavailable) return "unavailable";
  if (r.error) return "error";
  if (unit === "MiB") return r.mib == null ? "—" : `${r.mib}${r.pageMib != null && r.wasmMib != null ? ` (page ${r.pageMib})` : ""}`;
  return fmt(r.ms);
}

function markdown(result) {
  const keys = result.config.engines;
  const head = ["Workload"];
  const align = ["---"];
  for (const k of keys) {
    head.push(`${result.engines[k].label} (ms)`);
    align.push("---:");
    if (k !== "raw" && keys.includes("raw")) {
      head.push(`${result.engines[k].label} ÷ raw`);
      align.push("---:");
    }
  }
  const lines = [`| ${head.join(" | ")} |`, `| ${align.join(" | ")} |`];
  for (const w of result.workloads) {
    const row = [w.title];
    const raw = w.results.raw;
    for (const k of keys) {
      const r = w.results[k];
      row.push(cell(r, w.unit));
      if (k !== "raw" && keys.includes("raw")) {
        row.push(!w.unit && raw?.ms > 0 && r?.ms != null ? `${(r.ms / raw.ms).toFixed(2)}×` : "—");
      }
    }
    lines.push(`| ${row.join(" | ")} |`);
  }
  return lines.join("\n");
}

function wasmSize() {
  const file = path.join(WEB_ROOT, "pkg", "weftdb_bg.wasm");
  if (!fs.existsSync(file)) return null;
  const buf = fs.readFileSync(file);
  return {
    file: path.relative(REPO_ROOT, file) || file,
    bytes: buf.length,
    gzipBytes: zlib.gzipSync(buf, { level: 9 }).length,
  };
}

async function main() {
  if (weftExplicit && !fs.existsSync(path.join(WEB_ROOT, "pkg", "weftdb.js"))) {
    console.error("bench: pkg/weftdb.js is missing; build it with: wasm-pack build --target web --profile wasm");
    process.exit(1);
  }
  if (!fs.existsSync(path.join(REPO_ROOT, "tests", "node_modules", "dexie"))) {
    console.error("bench: tests/node_modules is missing; run: bash .ci/setup (or npm ci in tests/)");
    process.exit(1);
  }

  const server = await serve({ root: WEB_ROOT, port: 0 });
  // --storage=disk: a browser whose profile (and so IndexedDB) is on disk;
  // memory, an off-the-record context. Either context's close() ends its browser.
  let context = null;
  let timer;
  const cleanup = async () => {
    clearTimeout(timer);
    await context?.close().catch(() => {});
    await server.close();
  };
  process.on("SIGINT", () => cleanup().then(() => process.exit(130)));

  try {
    context = storage === "disk" ? await launchChromiumProfile() : await launchChromiumContext();
    const page = context.pages()[0] ?? (await context.newPage());
    page.on("console", (msg) => {
      const text = msg.text();
      if (text.startsWith("[bench] ")) {
        if (!args.quiet) console.log(text);
      } else if (msg.type() === "error") {
        console.error(`[page error] ${text}`);
      }
    });
    page.on("pageerror", (err) => console.error(`[page exception] ${err.message}`));
    await page.goto(`${server.url}/www/bench.html`);
    await page.waitForFunction(() => window.benchReady === true, null, { timeout: 60_000 });
    // A persistent context has no Browser object to ask.
    const browserVersion =
      context.browser()?.version() ??
      (await (await context.newCDPSession(page)).send("Browser.getVersion")).product.replace(/^[^/]*\//, "");
    console.log(`bench: Chromium ${browserVersion}, page ${server.url}/www/bench.html`);

    const run = page.evaluate((opts) => window.runBench(opts), options);
    const result = await Promise.race([
      run,
      new Promise((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`the whole run timed out after ${totalTimeoutMs / 60_000} min (--timeout-min)`)),
          totalTimeoutMs,
        );
      }),
    ]);
    clearTimeout(timer);
    result.env.browser = `Chromium ${browserVersion}`;
    result.env.storage = storage;
    result.env.node = process.version;
    result.wasm = wasmSize();

    const table = markdown(result);
    console.log("");
    console.log(table);
    console.log("");
    const c = result.config;
    console.log(
      `Chromium ${browserVersion}, headless; IndexedDB ${storage === "disk" ? "on disk (a profile on disk)" : "in memory (off the record)"}; durability ${c.durability} for every engine; ` +
        `crossOriginIsolated ${result.env.crossOriginIsolated}; ${c.authors} authors; seed ${c.seed}; ` +
        `reopen wait ${c.reopenWaitMs} ms; warm-up ${c.warmup ? "on" : "off"}.`,
    );
    if (result.wasm) {
      console.log(
        `weftdb wasm: ${(result.wasm.bytes / 1024).toFixed(1)} KiB, ${(result.wasm.gzipBytes / 1024).toFixed(1)} KiB gzipped (gzip -9).`,
      );
    }
    result.markdown = table;
    fs.mkdirSync(path.dirname(outFile), { recursive: true });
    fs.writeFileSync(outFile, JSON.stringify(result, null, 2) + "\n");
    console.log(`bench: wrote ${path.relative(process.cwd(), outFile) || outFile}`);

    // Exit status: errors in any engine fail the run; an unavailable weftdb
    // only does when it was asked for by name (--only=...,weftdb).
    let bad = false;
    for (const [key, e] of Object.entries(result.engines)) {
      if (!e.available) {
        const msg = `bench: ${e.label} unavailable: ${e.reason}`;
        if (key === "weftdb" && !weftExplicit && weftRequested) console.warn(`${msg} (run with --only=raw,dexie to silence)`);
        else {
          console.error(msg);
          bad = true;
        }
      }
    }
    for (const w of result.workloads) {
      for (const [key, r] of Object.entries(w.results)) {
        if (r.error) {
          console.error(`bench: ${key} ${w.key}: ${r.error}`);
          bad = true;
        }
      }
    }
    await cleanup();
    process.exit(bad ? 1 : 0);
  } catch (err) {
    console.error(`bench: ${err.message}`);
    await cleanup();
    process.exit(1);
  }
}

main();
