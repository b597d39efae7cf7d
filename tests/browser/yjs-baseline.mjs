// The Yjs + y-webrtc baseline of the sync-latency benchmark.
//
// Two pages, each in its own browser context (so no BroadcastChannel, storage
// or renderer is shared: the only path between them is WebRTC), each with a
// Y.Doc and a y-webrtc WebrtcProvider joined to the same room through a
// y-webrtc signaling server started here on 127.0.0.1.
//
//   import { measureYjs } from "./yjs-baseline.mjs";
//   const r = await measureYjs({ browser, baseUrl: server.url, writes: 200, missed: 10_000 });
//   // { p50, p99, samples, catchupMs, catchupBytes, updates, ... }
//
// The browser must be Chromium launched with
//   --allow-loopback-in-peer-connection --disable-features=WebRtcHideLocalIpsWithMdns
// (lib.mjs's CHROMIUM_WEBRTC_ARGS), and `baseUrl` a serve() of the repository root.
// See yjs-baseline.smoke.mjs for a runnable example.
//
// * yjs + y-webrtc (and simple-peer, lib0, y-protocols) are bundled for the
//   browser with esbuild into <repo>/target/bench/yjs-bundle.js, rebuilt when
//   it is missing or was built from other package versions;
// * the signaling server is an in-process port of y-webrtc's bin/server.js
//   (that script listens on every interface and has no host setting), bound
//   to 127.0.0.1 on a free port;
// * the peers get no ICE servers (no STUN/TURN host is contacted), and the
//   pages drop every signalled remote ICE candidate that is not 127.0.0.1.
//   Chromium still binds a socket on each local adapter, so a check sent from
//   the socket on this machine's own eth0 address to a 127.0.0.1 candidate can
//   make the peer learn that address as a peer-reflexive candidate and answer
//   it: such packets are addressed to this host itself and delivered locally
//   (they never leave the machine). The pair in use is logged.
//
// Latency: A sets map "k" to {i, t} with t = performance.timeOrigin +
// performance.now(); B's map observer takes the same clock on arrival.
// One write at a time (the next after the previous arrived), after 20
// unmeasured warm-up writes. Percentiles are nearest-rank, in ms.
//
// Catch-up: B's provider disconnects (B keeps its doc), A makes `missed`
// map.set calls, each its own transaction, over `missedKeys` keys (default
// missed/10: 10,000 writes on 1,000 keys), then B reconnects; catchupMs is
// B's time from provider.connect() until a checksum of B's map equals A's.
// It includes the signaling round trips and the WebRTC (ICE + DTLS + SCTP)
// handshake; catchupConnectMs is the part until the data channel opened.
// catchupBytes = Y.encodeStateAsUpdate(docA, Y.encodeStateVector(docB)).length
// for B's state vector as it was while disconnected, computed in page A.

import fs from "node:fs";
import fsp from "node:fs/promises";
import http from "node:http";
import path from "node:path";
import crypto from "node:crypto";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { WebSocketServer } from "ws";
import { REPO_ROOT, CHROMIUM_WEBRTC_ARGS, watchPage } from "./lib.mjs";
import { listenLoopback } from "./serve.mjs";

const HERE = path.dirname(fileURLToPath(import.meta.url));
/** tests/: where package.json and node_modules are. */
const TESTS_DIR = path.resolve(HERE, "..");
const require = createRequire(path.join(TESTS_DIR, "package.json"));

/** The browser bundle, under the (git-ignored) target/ of the repository. */
export const YJS_BUNDLE = path.join(REPO_ROOT, "target", "bench", "yjs-bundle.js");
/** The page the peers load, relative to the served repository root. */
const PAGE_PATH = "/tests/browser/yjs-baseline.html";

const WARMUP_WRITES = 20;
const CONNECT_TIMEOUT_MS = 30_000;
const WRITE_TIMEOUT_MS = 10_000;
const CATCHUP_TIMEOUT_MS = 120_000;

const BUNDLE_ENTRY = `
import * as Y from "yjs";
import { WebrtcProvider } from "y-webrtc";
window.Y = Y;
window.WebrtcProvider = WebrtcProvider;
`;
const BUNDLED_PACKAGES = ["esbuild", "yjs", "y-webrtc", "y-protocols", "lib0", "simple-peer"];

// ---- the bundle ------------------------------------------------------------

/** The installed version of a package of tests/node_modules (y-webrtc's exports hide its package.json from require.resolve). */
function packageVersion(name) {
  const file = path.join(TESTS_DIR, "node_modules", ...name.split("/"), "package.json");
  return { file, version: JSON.parse(fs.readFileSync(file, "utf8")).version };
}

/**
 * Build target/bench/yjs-bundle.js with esbuild unless it is there already and
 * was built from the installed versions of the bundled packages (and esbuild)
 * and this entry. Returns the bundle's path.
 */
export async function ensureYjsBundle({ log = () => {}, force = false } = {}) {
  let stamp;
  let newestPkg = 0;
  try {
    const versions = {};
    for (const name of BUNDLED_PACKAGES) {
      const { file, version } = packageVersion(name);
      versions[name] = version;
      newestPkg = Math.max(newestPkg, fs.statSync(file).mtimeMs);
    }
    versions.entry = crypto.createHash("sha256").update(BUNDLE_ENTRY).digest("hex").slice(0, 16);
    stamp = `/* weftdb yjs-bundle ${JSON.stringify(versions)} */`;
  } catch (e) {
    throw new Error(`yjs baseline: a bundled package is not installed (run npm ci in tests/): ${e.message}`);
  }
  if (!force && fs.existsSync(YJS_BUNDLE)) {
    const fd = await fsp.open(YJS_BUNDLE, "r");
    let head;
    try {
      const buf = Buffer.alloc(stamp.length + 1);
      const { bytesRead } = await fd.read(buf, 0, buf.length, 0);
      head = buf.subarray(0, bytesRead).toString("utf8");
    } finally {
      await fd.close();
    }
    const fresh = head === stamp + "\n" && fs.statSync(YJS_BUNDLE).mtimeMs >= newestPkg;
    if (fresh) return YJS_BUNDLE;
  }
  const { build } = require("esbuild");
  const started = Date.now();
  await fsp.mkdir(path.dirname(YJS_BUNDLE), { recursive: true });
  // Written under a temporary name and renamed, so a concurrent run never
  // loads a half-written bundle.
  const tmp = `${YJS_BUNDLE}.${process.pid}.${Date.now()}.tmp`;
  try {
    await build({
      stdin: { contents: BUNDLE_ENTRY, resolveDir: TESTS_DIR, sourcefile: "yjs-baseline-entry.js", loader: "js" },
      bundle: true,
      format: "iife",
      platform: "browser",
      target: "chrome110",
      banner: { js: stamp },
      outfile: tmp,
      write: true,
      logLevel: "silent",
      legalComments: "none",
    });
    await fsp.rename(tmp, YJS_BUNDLE);
  } catch (e) {
    await fsp.rm(tmp, { force: true }).catch(() => {});
    throw new Error(`yjs baseline: esbuild could not bundle yjs + y-webrtc: ${e.message}`);
  }
  log(`yjs: bundled yjs + y-webrtc into ${path.relative(REPO_ROOT, YJS_BUNDLE)} in ${Date.now() - started} ms`);
  return YJS_BUNDLE;
}

// ---- the signaling server --------------------------------------------------

/**
 * y-webrtc's signaling server (bin/server.js: pub/sub of JSON messages by
 * topic), in process and bound to 127.0.0.1.
 * @returns {Promise<{url: string, port: number, close: () => Promise<void>}>}
 */
export async function startSignaling({ port = 0 } = {}) {
  /** @type {Map<string, Set<import("ws").WebSocket>>} */
  const topics = new Map();
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { "Content-Type": "text/plain" });
    res.end("okay");
  });
  const wss = new WebSocketServer({ noServer: true });
  const send = (conn, message) => {
    if (conn.readyState !== conn.CONNECTING && conn.readyState !== conn.OPEN) conn.close();
    try {
      conn.send(JSON.stringify(message));
    } catch {
      conn.close();
    }
  };
  wss.on("connection", (conn) => {
    const subscribed = new Set();
    let closed = false;
    let pong = true;
    const ping = setInterval(() => {
      if (!pong) {
        conn.close();
        clearInterval(ping);
        return;
      }
      pong = false;
      try {
        conn.ping();
      } catch {
        conn.close();
      }
    }, 30_000);
    ping.unref();
    conn.on("pong", () => (pong = true));
    conn.on("error", () => {});
    conn.on("close", () => {
      clearInterval(ping);
      for (const name of subscribed) {
        const subs = topics.get(name);
        if (!subs) continue;
        subs.delete(conn);
        if (subs.size === 0) topics.delete(name);
      }
      subscribed.clear();
      closed = true;
    });
    conn.on("message", (data) => {
      let message;
      try {
        message = JSON.parse(data.toString());
      } catch {
        return;
      }
      if (!message || !message.type || closed) return;
      switch (message.type) {
        case "subscribe":
          for (const name of message.topics || []) {
            if (typeof name !== "string") continue;
            if (!topics.has(name)) topics.set(name, new Set());
            topics.get(name).add(conn);
            subscribed.add(name);
          }
          break;
        case "unsubscribe":
          for (const name of message.topics || []) topics.get(name)?.delete(conn);
          break;
        case "publish":
          if (message.topic) {
            const receivers = topics.get(message.topic);
            if (receivers) {
              message.clients = receivers.size;
              for (const r of receivers) send(r, message);
            }
          }
          break;
        case "ping":
          send(conn, { type: "pong" });
          break;
      }
    });
  });
  server.on("upgrade", (req, socket, head) => {
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit("connection", ws, req));
  });
  const actual = await listenLoopback(server, port);
  let closing;
  const close = () =>
    (closing ??= new Promise((resolve) => {
      for (const c of wss.clients) c.terminate();
      wss.close();
      server.close(() => resolve());
      server.closeAllConnections?.();
    }));
  return { url: `ws://127.0.0.1:${actual}`, port: actual, close };
}

// ---- in the pages ----------------------------------------------------------

/**
 * Init script: keep only 127.0.0.1 remote ICE candidates (trickled ones and
 * any in a remote description); see the note at the top of this file.
 */
function loopbackOnlyIce() {
  const PC = window.RTCPeerConnection;
  if (!PC) return;
  const stats = (window.__yjsIce = { kept: 0, dropped: 0 });
  const loopback = (line) => line.trim().split(/\s+/)[4] === "127.0.0.1";
  const addIceCandidate = PC.prototype.addIceCandidate;
  PC.prototype.addIceCandidate = function (candidate, ...rest) {
    const text = candidate && (typeof candidate === "string" ? candidate : candidate.candidate);
    if (text) {
      if (!loopback(text.replace(/^a=/, ""))) {
        stats.dropped++;
        return Promise.resolve();
      }
      stats.kept++;
    }
    return addIceCandidate.call(this, candidate, ...rest);
  };
  const setRemoteDescription = PC.prototype.setRemoteDescription;
  PC.prototype.setRemoteDescription = function (desc, ...rest) {
    if (desc && typeof desc.sdp === "string" && desc.sdp.includes("a=candidate:")) {
      const sdp = desc.sdp
        .split("\r\n")
        .filter((l) => {
          if (!l.startsWith("a=candidate:")) return true;
          const ok = loopback(l.slice(2));
          ok ? stats.kept++ : stats.dropped++;
          return ok;
        })
        .join("\r\n");
      desc = { type: desc.type, sdp };
    }
    return setRemoteDescription.call(this, desc, ...rest);
  };
}

/** Runs in each page: a Y.Doc + WebrtcProvider, and the benchmark's helpers on window.bench. */
function setupPeer({ signaling, room }) {
  const { Y, WebrtcProvider } = window;
  const now = () => performance.timeOrigin + performance.now();
  const doc = new Y.Doc();
  const map = doc.getMap("bench");
  const provider = new WebrtcProvider(room, doc, {
    signaling: [signaling],
    peerOpts: { config: { iceServers: [] } },
  });
  /** seq -> {sent, arrived} for the latency writes this page observed from the other. */
  const arrivals = new Map();
  const waiters = new Map();
  map.observe((event) => {
    const t = now();
    if (event.transaction.local || !event.keysChanged.has("k")) return;
    const v = map.get("k");
    if (!v || typeof v.i !== "number") return;
    arrivals.set(v.i, { sent: v.t, arrived: t });
    const w = waiters.get(v.i);
    if (w) {
      waiters.delete(v.i);
      w();
    }
  });
  const conns = () => (provider.room ? [...provider.room.webrtcConns.values()] : []);
  // A 53-bit string hash (cyrb53) of the map's entries, sorted by key.
  const checksum = () => {
    const keys = [...map.keys()].sort();
    let h1 = 0xdeadbeef;
    let h2 = 0x41c6ce57;
    for (const k of keys) {
      const s = `${k}=${JSON.stringify(map.get(k))};`;
      for (let i = 0; i < s.length; i++) {
        const c = s.charCodeAt(i);
        h1 = Math.imul(h1 ^ c, 2654435761);
        h2 = Math.imul(h2 ^ c, 1597334677);
      }
    }
    h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
    h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
    return `${keys.length}:${(4294967296 * (2097151 & h2) + (h1 >>> 0)).toString(36)}`;
  };
  const toB64 = (u8) => {
    let s = "";
    for (let i = 0; i < u8.length; i += 0x8000) s += String.fromCharCode.apply(null, u8.subarray(i, i + 0x8000));
    return btoa(s);
  };
  const fromB64 = (b64) => Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const timeout = (ms, what) =>
    new Promise((_, reject) => setTimeout(() => reject(new Error(`timed out after ${ms} ms ${what}`)), ms));

  window.bench = {
    doc,
    map,
    provider,
    /** Connected to the other peer over WebRTC, and synced both ways. */
    ready: () => conns().some((c) => c.connected && c.synced),
    connCount: () => conns().length,
    write(i) {
      map.set("k", { i, t: now() });
    },
    /** Resolves with the arrival record of write i (at once if it already arrived). */
    arrival(i, ms) {
      if (arrivals.has(i)) return arrivals.get(i);
      return Promise.race([
        new Promise((resolve) => waiters.set(i, () => resolve(arrivals.get(i)))),
        timeout(ms, `for write ${i} to arrive`),
      ]).finally(() => waiters.delete(i));
    },
    disconnect() {
      provider.disconnect();
    },
    stateVector: () => toB64(Y.encodeStateVector(doc)),
    /** `n` map.set calls, each its own transaction, over `keys` keys. */
    writeMany(n, keys) {
      const t0 = performance.now();
      for (let j = 0; j < n; j++) map.set(`c${j % keys}`, j);
      return { ms: performance.now() - t0, checksum: checksum() };
    },
    diffBytes: (sv) => Y.encodeStateAsUpdate(doc, fromB64(sv)).length,
    checksum,
    stateVectorEquals: (sv) => toB64(Y.encodeStateVector(doc)) === sv,
    /** Reconnect; resolves when checksum() === expected, with the times since connect(). */
    reconnect(expected, ms) {
      let connectMs = null;
      let t0;
      const done = new Promise((resolve) => {
        const check = () => {
          if (checksum() !== expected) return false;
          const total = performance.now() - t0;
          doc.off("update", onUpdate);
          provider.off("peers", onPeers);
          resolve({ catchupMs: total, catchupConnectMs: connectMs });
          return true;
        };
        const onUpdate = () => check();
        const onPeers = ({ added }) => {
          for (const id of added) {
            const peer = provider.room?.webrtcConns.get(id)?.peer;
            peer?.once("connect", () => {
              if (connectMs === null) connectMs = performance.now() - t0;
            });
          }
        };
        doc.on("update", onUpdate);
        provider.on("peers", onPeers);
        t0 = performance.now();
        provider.connect();
        check();
      });
      return Promise.race([done, timeout(ms, "for the reconnected peer to catch up")]);
    },
    iceStats: () => window.__yjsIce ?? null,
    /** The ICE candidate pairs in use, "local -> remote" (a peer-reflexive address is hidden by Chromium). */
    async selectedPairs() {
      const out = [];
      const show = (c) => (c ? `${c.address || c.candidateType}:${c.port}/${c.protocol}` : "?");
      for (const c of conns()) {
        const pc = c.peer?._pc;
        if (!pc) continue;
        const stats = await pc.getStats();
        stats.forEach((r) => {
          if (r.type !== "transport" || !r.selectedCandidatePairId) return;
          const pair = stats.get(r.selectedCandidatePairId);
          if (pair) out.push(`${show(stats.get(pair.localCandidateId))} -> ${show(stats.get(pair.remoteCandidateId))}`);
        });
      }
      return out;
    },
    destroy() {
      provider.destroy();
      doc.destroy();
    },
  };
}

// ---- the measurement -------------------------------------------------------

/** Nearest-rank percentile of an ascending array. */
export function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(rank, sorted.length) - 1];
}

const round3 = (x) => Math.round(x * 1000) / 1000;

async function withTimeout(promise, ms, what, problems = []) {
  let timer;
  try {
    return await Promise.race([
      promise,
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`yjs baseline: timed out after ${ms} ms ${what}`)), ms);
      }),
    ]);
  } catch (e) {
    const extra = problems.length ? `\npage problems:\n  ${problems.slice(-10).join("\n  ")}` : "";
    const msg = String(e?.message ?? e);
    throw new Error(`${msg.startsWith("yjs baseline:") ? msg : `yjs baseline: ${what}: ${msg}`}${extra}`, { cause: e });
  } finally {
    clearTimeout(timer);
  }
}

async function openPeer(browser, baseUrl, name, signaling, room) {
  // Camera/microphone permission lets Chromium enumerate every network
  // adapter for ICE, loopback included (with --allow-loopback-in-peer-connection);
  // without it a page only gets the default route's address, which is not on
  // loopback. No media is captured.
  const context = await browser.newContext({ permissions: ["camera", "microphone"] });
  try {
    return await preparePeer(context, baseUrl, name, signaling, room);
  } catch (e) {
    await context.close().catch(() => {});
    throw e;
  }
}

async function preparePeer(context, baseUrl, name, signaling, room) {
  const page = await context.newPage();
  page.setDefaultTimeout(CONNECT_TIMEOUT_MS);
  const problems = watchPage(page);
  const peer = { name, context, page, problems };
  await context.addInitScript(loopbackOnlyIce);
  const resp = await page.goto(`${baseUrl}${PAGE_PATH}`);
  const loaded = await page.evaluate(() => typeof window.Y === "object" && typeof window.WebrtcProvider === "function");
  if (!loaded) {
    // The server does not serve this repository's target/ (another web root,
    // or the page itself is missing): inject the bundle directly.
    if (!resp || !resp.ok()) await page.goto(`${baseUrl}/`);
    await page.addScriptTag({ path: YJS_BUNDLE });
    const ok = await page.evaluate(() => typeof window.Y === "object" && typeof window.WebrtcProvider === "function");
    if (!ok) throw new Error(`yjs baseline: the bundle did not load in page ${name}: ${problems.join("; ")}`);
  }
  await page.evaluate(setupPeer, { signaling, room });
  return peer;
}

async function closePeer(peer) {
  if (!peer) return;
  await Promise.race([
    peer.page.evaluate(() => window.bench?.destroy()).catch(() => {}),
    new Promise((r) => setTimeout(r, 2000)),
  ]);
  await peer.context.close().catch(() => {});
}

async function waitConnected(a, b, what) {
  const wait = (p) => p.page.waitForFunction(() => window.bench.ready(), null, { timeout: CONNECT_TIMEOUT_MS, polling: 5 });
  await withTimeout(Promise.all([wait(a), wait(b)]), CONNECT_TIMEOUT_MS + 1000, `for the peers to connect over WebRTC (${what}; was Chromium launched with ${CHROMIUM_WEBRTC_ARGS.join(" ")}?)`, [
    ...a.problems.map((p) => `A ${p}`),
    ...b.problems.map((p) => `B ${p}`),
  ]);
}

/** Logs the candidate pairs each page's WebRTC connection uses, and the ICE filter's counts. */
async function logIce(a, b, log) {
  for (const p of [a, b]) {
    const [pairs, ice] = await p.page.evaluate(async () => [await window.bench.selectedPairs(), window.bench.iceStats()]);
    log(`yjs: page ${p.name}: ICE pair ${pairs.join(", ") || "?"}; remote candidates kept ${ice?.kept}, dropped ${ice?.dropped}`);
  }
}

/** One write from A, timed until B observes it; returns the one-way latency in ms. */
async function oneWrite(a, b, i) {
  const arrived = b.page.evaluate(([i, ms]) => window.bench.arrival(i, ms), [i, WRITE_TIMEOUT_MS]);
  arrived.catch(() => {}); // raced below; don't leave it unhandled if the write throws
  await a.page.evaluate((i) => window.bench.write(i), i);
  const r = await withTimeout(arrived, WRITE_TIMEOUT_MS + 2000, `for write ${i} from A to reach B`, b.problems);
  return r.arrived - r.sent;
}

/**
 * Two pages in separate browser contexts of `browser` (a playwright Browser already launched with
 * Chromium flags), each with a Y.Doc joined to the same y-webrtc room through a y-webrtc signaling
 * server this function starts on 127.0.0.1 (random free port) and stops at the end.
 * Returns { p50, p99, samples, catchupMs, catchupBytes, updates } (ms, bytes), plus
 * catchupConnectMs (the part of catchupMs until B's WebRTC data channel to A opened),
 * missedKeys, warmup, the versions of yjs and y-webrtc, and problems (the pages' console
 * errors and uncaught errors, normally empty).
 *
 * @param {{browser: import("playwright-core").Browser, baseUrl: string, writes?: number,
 *   missed?: number, missedKeys?: number, log?: (msg: string) => void}} opts
 */
export async function measureYjs({ browser, baseUrl, writes = 200, missed = 10000, missedKeys, log = () => {} }) {
  if (!browser) throw new Error("yjs baseline: no browser");
  if (!baseUrl) throw new Error("yjs baseline: no baseUrl");
  if (!Number.isInteger(writes) || writes < 1) throw new Error(`yjs baseline: writes must be an integer >= 1, not ${writes}`);
  if (!Number.isInteger(missed) || missed < 0) throw new Error(`yjs baseline: missed must be an integer >= 0, not ${missed}`);
  const keys = missedKeys ?? Math.max(1, Math.ceil(missed / 10));
  if (!Number.isInteger(keys) || keys < 1) throw new Error(`yjs baseline: missedKeys must be an integer >= 1, not ${keys}`);
  baseUrl = baseUrl.replace(/\/+$/, "");

  await ensureYjsBundle({ log });
  let signaling;
  let a;
  let b;
  try {
    signaling = await startSignaling();
    log(`yjs: signaling server at ${signaling.url}`);
    const room = `weftdb-bench-${crypto.randomUUID()}`;
    a = await openPeer(browser, baseUrl, "A", signaling.url, room);
    b = await openPeer(browser, baseUrl, "B", signaling.url, room);
    const connectStart = Date.now();
    await waitConnected(a, b, "initial");
    log(`yjs: peers connected over WebRTC in ${Date.now() - connectStart} ms`);
    await logIce(a, b, log);

    // -- latency
    for (let i = 0; i < WARMUP_WRITES; i++) await oneWrite(a, b, -1 - i);
    const samples = [];
    for (let i = 0; i < writes; i++) samples.push(round3(await oneWrite(a, b, i)));
    const sorted = [...samples].sort((x, y) => x - y);
    const p50 = percentile(sorted, 50);
    const p99 = percentile(sorted, 99);
    log(`yjs: ${writes} writes A -> B: p50 ${p50} ms, p99 ${p99} ms`);

    // -- catch-up
    await b.page.evaluate(() => window.bench.disconnect());
    await withTimeout(
      Promise.all([
        a.page.waitForFunction(() => window.bench.connCount() === 0, null, { timeout: CONNECT_TIMEOUT_MS, polling: 5 }),
        b.page.waitForFunction(() => window.bench.connCount() === 0, null, { timeout: CONNECT_TIMEOUT_MS, polling: 5 }),
      ]),
      CONNECT_TIMEOUT_MS + 1000,
      "for the peers to drop their connection after B disconnected",
      [...a.problems, ...b.problems],
    );
    const svB = await b.page.evaluate(() => window.bench.stateVector());
    const wrote = await a.page.evaluate(([n, k]) => window.bench.writeMany(n, k), [missed, keys]);
    log(`yjs: A made ${missed} updates on ${keys} keys while B was away (${round3(wrote.ms)} ms)`);
    const catchupBytes = await a.page.evaluate((sv) => window.bench.diffBytes(sv), svB);
    const before = await b.page.evaluate(() => window.bench.checksum());
    if (missed > 0 && before === wrote.checksum) {
      throw new Error("yjs baseline: B already had A's updates while disconnected (did they leak?)");
    }
    const caught = await withTimeout(
      b.page.evaluate(([expected, ms]) => window.bench.reconnect(expected, ms), [wrote.checksum, CATCHUP_TIMEOUT_MS]),
      CATCHUP_TIMEOUT_MS + 2000,
      `for B to catch up after reconnecting (${catchupBytes} bytes to send${
        catchupBytes > 256 * 1024 ? ": more than Chromium's 256 KiB data-channel message limit, which y-webrtc does not split" : ""
      })`,
      [...a.problems.map((p) => `A ${p}`), ...b.problems.map((p) => `B ${p}`)],
    );
    // Outside the timing: B's whole state matches A's, not only the map.
    const svA = await a.page.evaluate(() => window.bench.stateVector());
    const same = await b.page.evaluate((sv) => window.bench.stateVectorEquals(sv), svA);
    if (!same) throw new Error("yjs baseline: after catch-up B's state vector differs from A's");
    log(
      `yjs: B caught up on ${missed} updates (${catchupBytes} bytes) in ${round3(caught.catchupMs)} ms ` +
        `(WebRTC connected after ${caught.catchupConnectMs === null ? "?" : round3(caught.catchupConnectMs)} ms)`,
    );
    await logIce(a, b, log);

    return {
      p50,
      p99,
      samples,
      catchupMs: round3(caught.catchupMs),
      catchupBytes,
      updates: missed,
      catchupConnectMs: caught.catchupConnectMs === null ? null : round3(caught.catchupConnectMs),
      missedKeys: keys,
      warmup: WARMUP_WRITES,
      versions: { yjs: packageVersion("yjs").version, "y-webrtc": packageVersion("y-webrtc").version },
      problems: [...a.problems.map((p) => `A ${p}`), ...b.problems.map((p) => `B ${p}`)],
    };
  } finally {
    await Promise.all([closePeer(a), closePeer(b)]);
    await signaling?.close();
  }
}
