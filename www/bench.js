// Browser benchmarks: weftdb against raw IndexedDB and Dexie 4, side by side
// in one page, each engine in its own fresh database.
//
// Scripted: `node tests/browser/bench.mjs` (headless Chromium; prints a
// markdown table, writes target/bench.json). By hand: open www/bench.html
// from `bash .ci/demo` and press Run. Both call window.runBench(options).
//
// Workloads (defaults):
//   bulk     insert 10k docs {title, pages, author} at once
//            (raw: one readwrite txn of puts; Dexie: bulkAdd; weftdb: createMany)
//   write    one durable write, 200 times in sequence; per-op median
//            (raw: one txn per put, awaiting complete; Dexie: add; weftdb: create)
//   get      get by id, 1000 random ids of the bulk set; per-op median
//            (weftdb: its cache of hot documents holds the ~7,000 of the bulk set it wrote last)
//   memory   after the 100k build: weftdb's wasm memory; raw's and Dexie's
//            page (measureUserAgentSpecificMemory; for weftdb in brackets)
//   reopen   close, open, one get, on a 100k-doc database (built in 10k
//            batches); time from open start to the get's result; median of 21
//   getCold  then 1000 gets of random ids of the 100k set, none read before
//            (no engine has them cached); per-op median
//   query    equality on an indexed field (author: 1000 distinct values, so
//            ~100 docs each) over the 100k docs; median of 50 queries
//            (raw: index.getAll(IDBKeyRange.only(v)); Dexie:
//            where().equals().toArray(); weftdb: find({filter:{author:{_eq:v}}}))

export const DEFAULTS = {
  engines: ["raw", "dexie", "weftdb"],
  bulk: 10_000,
  writes: 200,
  gets: 1_000,
  large: 100_000,
  batch: 10_000,
  // The first reopen after the 100k build takes 4-10 ms for every engine
  // (the backend's own work after the build), the second often twice the
  // rest: with 5 the median caught them (BENCHMARKS.md, "Reopen: one read
  // of `meta`"); 21 reads the reopen as it is after that.
  reopens: 21,
  queries: 50,
  authors: 0, // 0: large / 100, so that a query returns ~100 docs
  seed: 42,
  // Pause between close and reopen. Chromium keeps a closed database's
  // backing store open for a grace period (about 2 s), so with 0 the reopen
  // is warm; 2500 measures a reopen after the store was let go.
  reopenWaitMs: 0,
  // Warm each engine up (a tiny create/insert/get/destroy) before measuring.
  warmup: true,
  // Write durability, the same for every engine (like with like): "strict"
  // (flushed to disk before complete, what a "durable write" means),
  // "relaxed" or "default" (the browser's default). weftdb takes it as
  // `Database.open(name, { durability })`.
  durability: "strict",
  phaseTimeoutMs: 20 * 60_000,
};

export const WEFT_SCHEMA = `type Item { title: String! pages: Int author: String @index }`;
const STORE = "items";
const DB_PREFIX = "weft-bench";

// ---------------------------------------------------------------------------
// helpers

const now = () => performance.now();

let logSink = null;
function log(msg) {
  console.log(`[bench] ${msg}`);
  if (logSink) {
    logSink.textContent += `${msg}\n`;
    logSink.scrollTop = logSink.scrollHeight;
  }
}

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: timed out after ${Math.round(ms / 1000)} s`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** mulberry32: a small deterministic PRNG, so every engine sees the same picks. */
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function hash32(i) {
  let x = (i + 0x9e3779b9) >>> 0;
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

/** Document i of every data set: the same for every engine. */
function makeDoc(i, authors) {
  return {
    title: `Title ${i.toString(36)} ${hash32(i).toString(36)}`,
    pages: 20 + (hash32(i) % 980),
    author: `author-${i % authors}`,
  };
}

/** Fresh objects each call (IndexedDB and Dexie may write keys into them). */
function makeDocs(start, n, authors) {
  const out = new Array(n);
  for (let k = 0; k < n; k++) out[k] = makeDoc(start + k, authors);
  return out;
}

function stats(samples) {
  const s = [...samples].sort((a, b) => a - b);
  const n = s.length;
  if (!n) return { n: 0 };
  const pick = (q) => s[Math.min(n - 1, Math.floor(q * n))];
  const median = n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
  const sum = s.reduce((a, b) => a + b, 0);
  return { n, median, mean: sum / n, min: s[0], p95: pick(0.95), max: s[n - 1], total: sum };
}

const round = (x, d = 3) => (x == null ? x : Math.round(x * 10 ** d) / 10 ** d);
function roundStats(st) {
  const out = {};
  for (const [k, v] of Object.entries(st)) out[k] = k === "n" ? v : round(v);
  return out;
}

function idbRequest(r) {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
}

function idbTxDone(tx) {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error ?? new Error("transaction aborted"));
  });
}

function idbDelete(name) {
  return withTimeout(
    new Promise((resolve, reject) => {
      const r = indexedDB.deleteDatabase(name);
      r.onsuccess = () => resolve();
      r.onerror = () => reject(r.error);
      // "blocked" also fires while a just-closed connection finishes its last
      // transactions; it is worth a line only if it lasts.
      let slow;
      r.onblocked = () => {
        slow = setTimeout(() => log(`  (delete of ${name} still blocked by an open connection; waiting)`), 2000);
      };
      const done = () => clearTimeout(slow);
      r.addEventListener("success", done);
      r.addEventListener("error", done);
    }),
    60_000,
    `deleting ${name}`,
  );
}

const txOptions = (durability) => (durability && durability !== "default" ? { durability } : undefined);

// ---------------------------------------------------------------------------
// engines: one adapter per database, same operations

function rawEngine(cfg) {
  const opts = txOptions(cfg.durability);
  return {
    key: "raw",
    label: "raw IndexedDB",
    async load() {
      if (!globalThis.indexedDB) throw new Error("no IndexedDB in this browser");
      return { version: navigator.userAgent.match(/Chrom(?:e|ium)\/[\d.]+/)?.[0] ?? "browser" };
    },
    destroy: idbDelete,
    async create(name) {
      await idbDelete(name);
      const r = indexedDB.open(name, 1);
      r.onupgradeneeded = () => {
        const store = r.result.createObjectStore(STORE, { keyPath: "id", autoIncrement: true });
        store.createIndex("author", "author");
      };
      return idbRequest(r);
    },
    open: (name) => idbRequest(indexedDB.open(name)),
    async close(db) {
      db.close();
    },
    async bulkInsert(db, docs) {
      const tx = db.transaction(STORE, "readwrite", opts);
      const store = tx.objectStore(STORE);
      const reqs = docs.map((d) => store.put(d));
      await idbTxDone(tx);
      return reqs.map((r) => r.result);
    },
    async insertOne(db, doc) {
      const tx = db.transaction(STORE, "readwrite", opts);
      const r = tx.objectStore(STORE).add(doc);
      await idbTxDone(tx);
      return r.result;
    },
    get: (db, id) => idbRequest(db.transaction(STORE, "readonly").objectStore(STORE).get(id)),
    findByAuthor: (db, v) =>
      idbRequest(db.transaction(STORE, "readonly").objectStore(STORE).index("author").getAll(IDBKeyRange.only(v))),
  };
}

function dexieEngine(cfg) {
  let Dexie;
  const make = (name) => {
    const options = {};
    if (cfg.durability && cfg.durability !== "default") options.chromeTransactionDurability = cfg.durability;
    const db = new Dexie(name, options);
    db.version(1).stores({ [STORE]: "++id, author" });
    return db;
  };
  return {
    key: "dexie",
    label: "Dexie 4",
    async load() {
      const mod = await import("/node_modules/dexie/dist/dexie.mjs");
      Dexie = mod.default ?? mod.Dexie;
      return { version: `dexie ${Dexie.semVer ?? Dexie.version}` };
    },
    destroy: (name) => Dexie.delete(name),
    async create(name) {
      await Dexie.delete(name);
      const db = make(name);
      await db.open();
      return db;
    },
    async open(name) {
      const db = make(name);
      await db.open();
      return db;
    },
    async close(db) {
      db.close();
    },
    bulkInsert: (db, docs) => db.table(STORE).bulkAdd(docs, { allKeys: true }),
    insertOne: (db, doc) => db.table(STORE).add(doc),
    get: (db, id) => db.table(STORE).get(id),
    findByAuthor: (db, v) => db.table(STORE).where("author").equals(v).toArray(),
  };
}

function weftEngine(cfg) {
  let Database;
  let wasmMemory;
  return {
    key: "weftdb",
    label: "weftdb",
    async load() {
      let mod;
      try {
        mod = await import("../pkg/weftdb.js");
      } catch (err) {
        throw new Error(`pkg/weftdb.js not loadable (build it: wasm-pack build --target web --profile wasm): ${err.message}`);
      }
      wasmMemory = (await mod.default()).memory;
      Database = mod.Database;
      let version = "weftdb";
      try {
        const res = await fetch(new URL("../pkg/package.json", import.meta.url));
        if (res.ok) version = `weftdb ${(await res.json()).version}`;
      } catch {
        // the version is only informational
      }
      return { version };
    },
    destroy: (name) => Database.destroy(name),
    async create(name) {
      try {
        await Database.destroy(name);
      } catch (err) {
        log(`  (weftdb destroy ${name} before the run: ${err.message})`);
      }
      const db = await Database.open(name, { durability: cfg.durability ?? "default" });
      await db.addSchema(WEFT_SCHEMA);
      return { db, items: db.collection("Item") };
    },
    async open(name) {
      const db = await Database.open(name, { durability: cfg.durability ?? "default" });
      return { db, items: db.collection("Item") };
    },
    close: (h) => h.db.close(),
    bulkInsert: (h, docs) => h.items.createMany(docs),
    insertOne: (h, doc) => h.items.create(doc),
    get: (h, id) => h.items.get(id),
    findByAuthor: (h, v) => h.items.find({ filter: { author: { _eq: v } } }),
    // The wasm module's linear memory (it only grows): weftdb's own heap.
    wasmBytes: () => wasmMemory?.buffer.byteLength ?? null,
  };
}

const ENGINE_FACTORIES = { raw: rawEngine, dexie: dexieEngine, weftdb: weftEngine };

// ---------------------------------------------------------------------------
// workloads, grouped in phases that share a database

/**
 * The page's memory, MiB: `performance.measureUserAgentSpecificMemory()`
 * (the whole page: JS heaps, DOM, wasm; needs cross-origin isolation,
 * which the bench page has; Chromium answers at its next garbage
 * collection, within 20 s) and, for weftdb, its wasm memory.
 */
async function pageMemory(engine) {
  const mib = (b) => (b == null ? null : round(b / (1 << 20), 1));
  let page = null;
  if (typeof performance.measureUserAgentSpecificMemory === "function" && globalThis.crossOriginIsolated) {
    try {
      page = (await withTimeout(performance.measureUserAgentSpecificMemory(), 30_000, "measureUserAgentSpecificMemory")).bytes;
    } catch (err) {
      log(`  (${engine.key}: page memory not measured: ${err.message})`);
    }
  }
  return { mib: mib(engine.wasmBytes ? engine.wasmBytes() : page), pageMib: mib(page), wasmMib: mib(engine.wasmBytes?.()) };
}

function check(cond, msg) {
  if (!cond) throw new Error(`check failed: ${msg}`);
}

async function safeCleanup(engine, handle, name) {
  try {
    if (handle) await engine.close(handle);
  } catch (err) {
    log(`  (${engine.key}: close failed: ${err.message})`);
  }
  try {
    await withTimeout(Promise.resolve(engine.destroy(name)), 60_000, `${engine.key}: destroy ${name}`);
  } catch (err) {
    log(`  (${engine.key}: destroy failed: ${err.message})`);
  }
}

/** bulk + get: one database of cfg.bulk docs. */
async function phaseBulkGet(engine, cfg, record) {
  const name = `${DB_PREFIX}-${engine.key}-bulk`;
  let h;
  try {
    h = await engine.create(name);
    const docs = makeDocs(0, cfg.bulk, cfg.authors);
    const t0 = now();
    const ids = await engine.bulkInsert(h, docs);
    const ms = now() - t0;
    check(Array.isArray(ids) && ids.length === cfg.bulk, `bulk insert returned ${ids?.length} ids, wanted ${cfg.bulk}`);
    record("bulk", { ms: round(ms), perDocUs: round((ms * 1000) / cfg.bulk, 1) });
    log(`  ${engine.key} bulk: ${ms.toFixed(1)} ms`);

    const rnd = prng(cfg.seed + 1);
    const samples = [];
    for (let k = 0; k < cfg.gets; k++) {
      const i = Math.floor(rnd() * cfg.bulk);
      const t = now();
      const doc = await engine.get(h, ids[i]);
      samples.push(now() - t);
      if (k < 20) check(doc && doc.title === makeDoc(i, cfg.authors).title, `get(${ids[i]}) returned ${JSON.stringify(doc)}`);
    }
    const st = stats(samples);
    record("get", { ms: round(st.median), ...roundStats(st) });
    log(`  ${engine.key} get: median ${st.median.toFixed(3)} ms`);
  } finally {
    await safeCleanup(engine, h, name);
  }
}

/** single durable writes in sequence. */
async function phaseWrites(engine, cfg, record) {
  const name = `${DB_PREFIX}-${engine.key}-write`;
  let h;
  try {
    h = await engine.create(name);
    const samples = [];
    for (let k = 0; k < cfg.writes; k++) {
      const doc = makeDoc(k, cfg.authors);
      const t = now();
      const id = await engine.insertOne(h, doc);
      samples.push(now() - t);
      if (k === 0) check(id !== undefined && id !== null, "insert returned no id");
    }
    const st = stats(samples);
    record("write", { ms: round(st.median), ...roundStats(st) });
    log(`  ${engine.key} write: median ${st.median.toFixed(3)} ms`);
  } finally {
    await safeCleanup(engine, h, name);
  }
}

/** the large set: build in batches, then reopen + first get, then queries. */
async function phaseLarge(engine, cfg, record) {
  const name = `${DB_PREFIX}-${engine.key}-large`;
  let h;
  try {
    h = await engine.create(name);
    const ids = [];
    const t0 = now();
    for (let start = 0; start < cfg.large; start += cfg.batch) {
      const n = Math.min(cfg.batch, cfg.large - start);
      const got = await engine.bulkInsert(h, makeDocs(start, n, cfg.authors));
      check(got.length === n, `batch insert returned ${got.length} ids, wanted ${n}`);
      for (const id of got) ids.push(id);
      log(`  ${engine.key} build: ${ids.length}/${cfg.large} (${((now() - t0) / 1000).toFixed(1)} s)`);
    }
    const buildMs = now() - t0;
    record("build", { ms: round(buildMs), perDocUs: round((buildMs * 1000) / cfg.large, 1) });
    const mem = await pageMemory(engine);
    record("memory", mem);
    log(`  ${engine.key} memory after the build: ${JSON.stringify(mem)}`);

    const rnd = prng(cfg.seed + 2);
    const samples = [];
    for (let r = 0; r < cfg.reopens; r++) {
      await engine.close(h);
      h = null;
      if (cfg.reopenWaitMs > 0) await new Promise((r) => setTimeout(r, cfg.reopenWaitMs));
      const i = Math.floor(rnd() * cfg.large);
      const t = now();
      h = await engine.open(name);
      const doc = await engine.get(h, ids[i]);
      samples.push(now() - t);
      check(doc && doc.title === makeDoc(i, cfg.authors).title, `get after reopen returned ${JSON.stringify(doc)}`);
    }
    const rst = stats(samples);
    // The samples in the order taken, to tell the first reopens after the
    // build from the later ones.
    record("reopen", { ms: round(rst.median), ...roundStats(rst), samples: samples.map((x) => round(x)) });
    log(`  ${engine.key} reopen: median ${rst.median.toFixed(2)} ms`);

    // Gets right after a reopen, of documents this page has not read since:
    // nothing of them is in any cache of the engine (weftdb's starts empty).
    const crnd = prng(cfg.seed + 4);
    const cold = [];
    for (let k = 0; k < cfg.gets; k++) {
      const i = Math.floor(crnd() * cfg.large);
      const t = now();
      const doc = await engine.get(h, ids[i]);
      cold.push(now() - t);
      if (k < 20) check(doc && doc.title === makeDoc(i, cfg.authors).title, `get(${ids[i]}) returned ${JSON.stringify(doc)}`);
    }
    const cst = stats(cold);
    record("getCold", { ms: round(cst.median), ...roundStats(cst) });
    log(`  ${engine.key} cold get: median ${cst.median.toFixed(3)} ms`);

    const qrnd = prng(cfg.seed + 3);
    const qs = [];
    let rows = 0;
    for (let q = 0; q < cfg.queries; q++) {
      const a = Math.floor(qrnd() * cfg.authors);
      const expected = Math.floor(cfg.large / cfg.authors) + (a < cfg.large % cfg.authors ? 1 : 0);
      const t = now();
      const docs = await engine.findByAuthor(h, `author-${a}`);
      qs.push(now() - t);
      check(docs.length === expected, `query author-${a} returned ${docs.length} docs, wanted ${expected}`);
      rows += docs.length;
    }
    const qst = stats(qs);
    record("query", { ms: round(qst.median), rowsPerQuery: round(rows / cfg.queries, 1), ...roundStats(qst) });
    log(`  ${engine.key} query: median ${qst.median.toFixed(3)} ms (${(rows / cfg.queries).toFixed(0)} rows)`);
  } finally {
    await safeCleanup(engine, h, name);
  }
}

export function workloadList(cfg) {
  const n = (x) => x.toLocaleString("en-US");
  return [
    { key: "bulk", title: `Bulk insert ${n(cfg.bulk)} docs (total)` },
    { key: "write", title: `Single durable write (median of ${n(cfg.writes)})` },
    { key: "get", title: `Get by id (median of ${n(cfg.gets)})` },
    { key: "build", title: `Build ${n(cfg.large)} docs in batches of ${n(cfg.batch)} (total)`, info: true },
    { key: "reopen", title: `Reopen + first get at ${n(cfg.large)} docs (median of ${cfg.reopens})` },
    { key: "getCold", title: `Get by id after the reopen, of ${n(cfg.large)} docs, none read before (median of ${n(cfg.gets)})` },
    { key: "memory", title: `Memory after the build, MiB (weftdb: its wasm memory; others: the page's)`, info: true, unit: "MiB" },
    { key: "query", title: `Indexed equality query, ~${n(Math.round(cfg.large / cfg.authors))} of ${n(cfg.large)} docs (median of ${cfg.queries})` },
  ];
}

/** Not measured: lets each engine's code and IndexedDB's backend warm up. */
async function warmup(engine, cfg) {
  const name = `${DB_PREFIX}-${engine.key}-warmup`;
  let h;
  try {
    h = await engine.create(name);
    const ids = await engine.bulkInsert(h, makeDocs(0, 200, cfg.authors));
    await engine.insertOne(h, makeDoc(200, cfg.authors));
    for (let k = 0; k < 20; k++) await engine.get(h, ids[k]);
    await engine.findByAuthor(h, "author-0");
  } finally {
    await safeCleanup(engine, h, name);
  }
}

const PHASES = [
  { name: "bulk insert + get by id", run: phaseBulkGet, keys: ["bulk", "get"] },
  { name: "single durable writes", run: phaseWrites, keys: ["write"] },
  { name: "large set: build, reopen, query", run: phaseLarge, keys: ["build", "memory", "reopen", "getCold", "query"] },
];

// ---------------------------------------------------------------------------
// the run

let running = false;

/**
 * Run the benchmarks. Options: see DEFAULTS. Resolves to
 * { config, env, engines: {key: {label, available, version|reason}},
 *   workloads: [{key, title, info?, results: {engineKey: {ms,...} | {error} | {unavailable}}}] }
 */
export async function runBench(options = {}) {
  if (running) throw new Error("a benchmark run is already in progress");
  running = true;
  try {
    const cfg = { ...DEFAULTS, ...options };
    if (!cfg.authors) cfg.authors = Math.max(1, Math.round(cfg.large / 100));
    cfg.engines = cfg.engines.filter((k) => ENGINE_FACTORIES[k]);
    const started = new Date().toISOString();
    log(`config: ${JSON.stringify(cfg)}`);

    const engines = {};
    const ready = [];
    for (const key of cfg.engines) {
      const engine = ENGINE_FACTORIES[key](cfg);
      try {
        const info = await withTimeout(engine.load(), 60_000, `${key}: load`);
        engines[key] = { label: engine.label, available: true, ...info };
        ready.push(engine);
        log(`${engine.label}: ${info.version}`);
      } catch (err) {
        engines[key] = { label: engine.label, available: false, reason: err.message };
        log(`${engine.label}: unavailable: ${err.message}`);
      }
    }

    const workloads = workloadList(cfg).map((w) => ({ ...w, results: {} }));
    const byKey = Object.fromEntries(workloads.map((w) => [w.key, w]));
    for (const key of cfg.engines) {
      if (!engines[key].available) for (const w of workloads) w.results[key] = { unavailable: engines[key].reason };
    }

    if (cfg.warmup) {
      for (const engine of ready) {
        try {
          await withTimeout(warmup(engine, cfg), 5 * 60_000, `${engine.key}: warm-up`);
        } catch (err) {
          log(`  ${engine.key}: warm-up failed: ${err.message}`);
        }
      }
    }

    for (const phase of PHASES) {
      for (const engine of ready) {
        log(`${phase.name}: ${engine.label}`);
        const record = (k, r) => {
          byKey[k].results[engine.key] = r;
        };
        try {
          await withTimeout(phase.run(engine, cfg, record), cfg.phaseTimeoutMs, `${engine.key}: ${phase.name}`);
        } catch (err) {
          log(`  ${engine.key}: ERROR ${err.message}`);
          for (const k of phase.keys) {
            if (!byKey[k].results[engine.key]) byKey[k].results[engine.key] = { error: err.message };
          }
        }
      }
    }

    const env = {
      userAgent: navigator.userAgent,
      crossOriginIsolated: globalThis.crossOriginIsolated === true,
      hardwareConcurrency: navigator.hardwareConcurrency,
      started,
      finished: new Date().toISOString(),
    };
    log("done");
    return { config: cfg, env, engines, workloads };
  } finally {
    running = false;
  }
}

// ---------------------------------------------------------------------------
// the page (manual runs)

function fmtMs(r) {
  if (!r) return "—";
  if (r.unavailable) return "unavailable";
  if (r.error) return "error";
  if (r.mib !== undefined) return r.mib == null ? "—" : `${r.mib} MiB`;
  return r.ms < 10 ? r.ms.toFixed(3) : r.ms.toFixed(1);
}

function renderTable(result, el) {
  const keys = result.config.engines;
  const table = document.createElement("table");
  const head = table.createTHead().insertRow();
  const th = (text) => {
    const c = document.createElement("th");
    c.textContent = text;
    head.appendChild(c);
  };
  th("workload");
  for (const k of keys) {
    th(`${result.engines[k].label} (ms)`);
    if (k !== "raw") th("× raw");
  }
  const body = table.createTBody();
  for (const w of result.workloads) {
    const row = body.insertRow();
    row.insertCell().textContent = w.title;
    const raw = w.results.raw;
    for (const k of keys) {
      const r = w.results[k];
      const c = row.insertCell();
      c.textContent = fmtMs(r);
      if (r?.error) c.title = r.error;
      if (r?.unavailable) c.title = r.unavailable;
      if (k !== "raw") {
        const rc = row.insertCell();
        rc.className = "ratio";
        rc.textContent = raw?.ms > 0 && r?.ms != null ? `${(r.ms / raw.ms).toFixed(2)}×` : "—";
      }
    }
  }
  el.replaceChildren(table);
}

function setupPage() {
  const form = document.getElementById("bench-form");
  if (!form) return;
  logSink = document.getElementById("log");
  const status = document.getElementById("status");
  const statusText = document.getElementById("status-text");
  const setStatus = (state, text) => {
    status.dataset.state = state;
    statusText.textContent = text;
  };
  // ?only=raw,dexie&bulk=1000&... preset the form.
  const params = new URLSearchParams(location.search);
  if (params.has("only")) {
    const only = params.get("only").split(",");
    for (const box of form.querySelectorAll('input[name="engine"]')) box.checked = only.includes(box.value);
  }
  for (const field of ["bulk", "writes", "gets", "large", "queries"]) {
    if (params.has(field)) form.elements[field].value = params.get(field);
  }
  const button = document.getElementById("run");
  button.disabled = false;
  setStatus("ready", "Ready");
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    button.disabled = true;
    logSink.textContent = "";
    setStatus("loading", "Running…");
    try {
      const engines = [...form.querySelectorAll('input[name="engine"]:checked')].map((b) => b.value);
      const num = (f) => Number(form.elements[f].value);
      const large = num("large");
      const result = await runBench({
        engines,
        bulk: num("bulk"),
        writes: num("writes"),
        gets: num("gets"),
        large,
        batch: Math.min(DEFAULTS.batch, large),
        queries: num("queries"),
      });
      renderTable(result, document.getElementById("results"));
      window.lastBenchResult = result;
      setStatus("ready", "Done");
    } catch (err) {
      log(`ERROR ${err.message}`);
      setStatus("error", "Failed");
    } finally {
      button.disabled = false;
    }
  });
}

window.runBench = runBench;
window.benchReady = true;
setupPage();
