#!/usr/bin/env node
// Where the time of a write between two pages goes: sync-bench's latency
// case (page A updates a document, page B's collection subscriber hears
// it), with the pages' browser calls wrapped to time them: data channel and
// WebSocket sends and messages, IndexedDB transactions, requests and
// commits, WebCrypto verify, BroadcastChannel posts. Prints, for the writes
// nearest the median, each page's calls from A's `update` to B's
// subscriber, in ms from the update, and the median offset of each step
// over all writes (BENCHMARKS.md, "Where a write between two pages goes").
// A probe, not a test or a bench row: the wrappers cost a little.
//
//   wasm-pack build --target web --profile wasm && cargo build --bin weft
//   node tests/browser/latency-probe.mjs [--transport=webrtc|relay] [--writes=N] [--show=N] [--profile=1]
//
// --profile=1 also samples both pages' threads (Chromium's CPU profiler,
// every 50 µs) and prints, for each step of the path, the functions the
// page ran between it and the step before (self time summed over the
// writes; the 8 largest per step, or as many as the environment's TOP
// says: TOP=45 node tests/browser/latency-probe.mjs --profile=1). Wasm
// functions are named only in a build that keeps the name section (e.g.
// wasm-bindgen's output before wasm-opt, served with WEFTDB_WEB_ROOT).
import { serve } from "./serve.mjs";
import { WEB_ROOT, CHROMIUM_ARGS, CHROMIUM_WEBRTC_ARGS, launchChromium } from "./lib.mjs";
import { startNode } from "./node.mjs";
import { openPage, latencySetup, startProfiling } from "./sync-bench.mjs";

const args = { transport: "webrtc", writes: 100, show: 3, profile: 0 };
for (const a of process.argv.slice(2)) {
  const m = /^--([a-z]+)=(.*)$/.exec(a);
  if (!m) throw new Error(`unexpected argument ${a}`);
  args[m[1]] = m[1] === "transport" ? m[2] : Number(m[2]);
}

/** Runs in each page before its scripts: wraps the calls to time them into window.__ev. */
function probe() {
  const ev = (window.__ev = []);
  const T = () => performance.timeOrigin + performance.now();
  const size = (d) => d?.byteLength ?? d?.size ?? d?.length ?? 0;
  const wrap = (proto, name, label, after) => {
    const f = proto[name];
    proto[name] = function (...a) {
      const t = T();
      const r = f.apply(this, a);
      ev.push([label(this, a), t, T() - t]);
      if (after) after(r, this, a);
      return r;
    };
  };
  const ok = (label) => (req) => req?.addEventListener?.("success", () => ev.push([label, T(), 0]));
  for (const C of [RTCDataChannel, WebSocket]) {
    const tag = C === WebSocket ? "ws" : "dc";
    wrap(C.prototype, "send", (_, a) => `${tag}.send ${size(a[0])}`);
    // Messages: time the page's own handler, whichever way it listens.
    const timed = (h) =>
      function (e) {
        const t = T();
        const r = h.call(this, e);
        ev.push([`${tag}.msg ${size(e.data)}`, t, T() - t]);
        return r;
      };
    const d = Object.getOwnPropertyDescriptor(C.prototype, "onmessage");
    Object.defineProperty(C.prototype, "onmessage", {
      get: d.get,
      set(h) {
        d.set.call(this, h ? timed(h) : h);
      },
      configurable: true,
    });
    const add = C.prototype.addEventListener;
    C.prototype.addEventListener = function (type, h, o) {
      return add.call(this, type, type === "message" && typeof h === "function" ? timed(h) : h, o);
    };
  }
  for (const m of ["get", "getAll", "put", "add", "delete", "getAllKeys", "count", "openCursor"]) {
    if (IDBObjectStore.prototype[m]) wrap(IDBObjectStore.prototype, m, (s) => `idb.${m} ${s.name}`, (r, s) => ok(`idb.ok ${m} ${s.name}`)(r));
    if (IDBIndex.prototype[m]) wrap(IDBIndex.prototype, m, (s) => `idb.${m} ${s.objectStore.name}/${s.name}`, (r, s) => ok(`idb.ok ${m} ${s.objectStore.name}/${s.name}`)(r));
  }
  wrap(IDBDatabase.prototype, "transaction", (_, a) => `idb.tx ${[].concat(a[0]).join(",")} ${a[1] ?? ""}`, (tx) =>
    tx.addEventListener("complete", () => ev.push(["idb.complete", T(), 0])),
  );
  wrap(IDBTransaction.prototype, "commit", () => "idb.commit");
  wrap(BroadcastChannel.prototype, "postMessage", () => "bc.post");
  // Macrotask hops: a timer set on the path delays it by a task at least.
  const setT = window.setTimeout;
  window.setTimeout = function (f, ms, ...rest) {
    ev.push([`timer.set ${ms ?? 0}`, T(), 0]);
    return setT.call(this, typeof f === "function" ? (...a) => (ev.push(["timer.fire", T(), 0]), f(...a)) : f, ms, ...rest);
  };
  const verify = crypto.subtle.verify;
  crypto.subtle.verify = function (...a) {
    const t = T();
    const p = verify.apply(this, a);
    ev.push(["verify.call", t, T() - t]);
    return p.then((r) => (ev.push(["verify.done", T(), 0]), r));
  };
}

/**
 * The page's profile as samples [time on the pages' clock (ms), leaf
 * function, its caller]. The profiler's clock is found by a function the
 * page runs at a known time for 20 ms.
 */
async function sampled(page, cdp) {
  const at = await page.evaluate(() => {
    function __calibrate() {
      const t = performance.now();
      while (performance.now() < t + 20);
      return performance.timeOrigin + t;
    }
    return __calibrate();
  });
  const { profile } = await cdp.send("Profiler.stop");
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const name = (id) => {
    const f = byId.get(id)?.callFrame;
    return f ? f.functionName || (f.url ? `(anonymous ${f.url.split("/").pop()})` : "(anonymous)") : "(root)";
  };
  let t = profile.startTime;
  const raw = profile.samples.map((id, i) => ((t += profile.timeDeltas[i]), [t, id]));
  const inCalib = (id) => { for (let n = id; n !== undefined; n = parent.get(n)) if (name(n) === "__calibrate") return true; return false; };
  const first = raw.find(([, id]) => inCalib(id));
  if (!first) throw new Error("the calibration function was not sampled");
  const shift = at - first[0] / 1000;
  // Each sample stands for the time until the next (at most 1 ms).
  return raw.map(([t, id], i) => [t / 1000 + shift, name(id), name(parent.get(id)), Math.min(1000, (raw[i + 1]?.[0] ?? t) - t) / 1000]);
}

/** For each step of each side, what its page ran since the step before. */
function printGaps(writes, samples) {
  const gaps = new Map();
  for (const w of writes) {
    for (const side of ["A", "B"]) {
      const steps = w.events.filter((e) => e.side === side);
      let prev = { n: side === "A" ? "update called" : "(before)", at: side === "A" ? 0 : -Infinity };
      for (const e of steps) {
        const key = `${side}  ${prev.n.replace(/ \d+$/, "")} -> ${e.n.replace(/ \d+$/, "")}`;
        const g = gaps.get(key) ?? gaps.set(key, { spans: [], fns: new Map() }).get(key);
        if (prev.at > -Infinity) g.spans.push(e.at - prev.at);
        const sent = w.sentAbs;
        for (const [t, leaf, caller, dt] of samples[side]) {
          if (t < sent + Math.max(prev.at, 0) || t >= sent + e.at) continue;
          const fn = `${leaf}  <  ${caller}`;
          g.fns.set(fn, (g.fns.get(fn) ?? 0) + dt);
        }
        prev = e;
      }
    }
  }
  const med = (xs) => (xs.length ? [...xs].sort((x, y) => x - y)[xs.length >> 1] : 0);
  console.log(`\nwhat each page ran between two steps (sampled self ms summed over ${writes.length} writes, (idle) included; the step's median span):`);
  for (const [key, g] of [...gaps].sort((x, y) => med(y[1].spans) - med(x[1].spans)).slice(0, 16)) {
    const total = [...g.fns.values()].reduce((s, v) => s + v, 0);
    console.log(`  ${med(g.spans).toFixed(3)} ms  ${key}  (sampled ${total.toFixed(1)} ms)`);
    for (const [fn, ms] of [...g.fns].sort((x, y) => y[1] - x[1]).slice(0, Number(process.env.TOP || 8))) console.log(`      ${ms.toFixed(2).padStart(7)}  ${fn}`);
  }
}

const relay = await startNode();
const server = await serve({ root: WEB_ROOT, port: 0 });
const browser = await launchChromium({ args: [...CHROMIUM_ARGS, ...CHROMIUM_WEBRTC_ARGS] });
const log = (m) => console.error(`[latency-probe] ${m}`);
try {
  const contexts = [await browser.newContext(), await browser.newContext()];
  for (const c of contexts) await c.addInitScript(probe);
  const direct = args.transport === "webrtc";
  const a = await openPage(contexts[0], server.url, relay.addr("websocket"), direct);
  const b = await openPage(contexts[1], server.url, relay.addr("websocket"), direct);
  const id = await latencySetup(a, b, args.transport);
  const writes = [];
  const profilers = [];
  for (let i = 0; i < 20 + args.writes; i++) {
    if (i === 20 && args.profile) for (const p of [a.page, b.page]) profilers.push(await startProfiling(p, 50));
    await Promise.all([a.page, b.page].map((p) => p.evaluate(() => (window.__ev.length = 0))));
    const arrival = b.page.evaluate((v) => new Promise((res) => { const t = setInterval(() => window.arrived.has(v) && (clearInterval(t), res(window.arrived.get(v))), 1); }), i);
    const [sent, resolved] = await a.page.evaluate(async ({ id, v }) => {
      const t = performance.timeOrigin + performance.now();
      await window.db.collection("Item").update(id, { v, sent: t });
      return [t, performance.timeOrigin + performance.now()];
    }, { id, v: i });
    const got = await arrival;
    await new Promise((r) => setTimeout(r, 30));
    const [ea, eb] = await Promise.all([a.page, b.page].map((p) => p.evaluate(() => window.__ev.slice())));
    if (i < 20) continue;
    const inWindow = (side, evs) => evs.filter((e) => e[1] >= sent - 0.05 && e[1] <= got + 0.05).map(([n, t, d]) => ({ side, n, at: t - sent, d }));
    const events = [...inWindow("A", ea), ...inWindow("B", eb), { side: "A", n: "update resolved", at: resolved - sent, d: 0 }, { side: "B", n: "subscriber", at: got - sent, d: 0 }].sort((x, y) => x.at - y.at);
    writes.push({ ms: got - sent, sentAbs: sent, events });
  }
  const samples = args.profile ? { A: await sampled(a.page, profilers[0]), B: await sampled(b.page, profilers[1]) } : null;
  writes.sort((x, y) => x.ms - y.ms);
  const med = (xs) => (xs.length ? [...xs].sort((x, y) => x - y)[xs.length >> 1] : NaN);
  const p = (q) => writes[Math.min(writes.length - 1, Math.floor(q * writes.length))].ms;
  log(`${args.transport}: ${writes.length} writes, p50 ${p(0.5).toFixed(2)} ms, p90 ${p(0.9).toFixed(2)} ms, min ${writes[0].ms.toFixed(2)} ms`);
  const mid = writes.length >> 1;
  for (const w of writes.slice(Math.max(0, mid - (args.show >> 1)), mid - (args.show >> 1) + args.show)) {
    console.log(`\nwrite heard after ${w.ms.toFixed(2)} ms:`);
    for (const e of w.events) console.log(`  ${e.at.toFixed(3).padStart(8)}  ${e.side}  ${e.n}${e.d ? ` (${e.d.toFixed(3)})` : ""}`);
  }
  // The median offset of the first event of each name and side, over the writes that had it.
  const firsts = new Map();
  for (const w of writes) {
    const seen = new Set();
    for (const e of w.events) {
      const key = `${e.side}  ${e.n.replace(/ \d+$/, "")}`;
      if (seen.has(key)) continue;
      seen.add(key);
      (firsts.get(key) ?? firsts.set(key, []).get(key)).push(e.at);
    }
  }
  console.log(`\nmedian offset of each step's first occurrence (writes that had it):`);
  for (const [k, xs] of [...firsts].sort((x, y) => med(x[1]) - med(y[1]))) console.log(`  ${med(xs).toFixed(3).padStart(8)}  ${k}  (${xs.length})`);
  if (samples) printGaps(writes, samples);
  for (const c of contexts) await c.close().catch(() => {});
} finally {
  await browser.close().catch(() => {});
  await server.close();
  await relay.stop();
}
