// Interop: js-libp2p (npm, the packages in tests/package.json) in Debian's
// headless Chromium against a real `weft start` node on loopback, for each
// transport the node offers pages (WebSocket, WebTransport, WebRTC-direct),
// plus gossipsub on a collection topic, circuit relay v2 through the node,
// and a js-libp2p page meeting one of weftdb's own pages (relayed, then
// direct WebRTC). The js side is tests/browser/interop-page.mjs, bundled
// here by esbuild into a temporary directory.
//
//   wasm-pack build --target web --profile wasm && node --test tests/browser/interop.test.mjs
//
// Timings are measured and printed (`# interop ...` lines, and a summary at
// the end); only the generous bounds the issue states are asserted: a ping
// or a stream close in under 3 s (js waits 10 s for an acknowledgement that
// never comes), a closed connection gone from the node within 5 s.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { serve } from "./serve.mjs";
import { HERE, WEB_ROOT, CHROMIUM_ARGS, CHROMIUM_WEBRTC_ARGS, launchChromium, watchPage } from "./lib.mjs";
import { startNode } from "./node.mjs";
import { weftTab } from "./pages.mjs";

const WAIT = 30_000;
/** "Under a few seconds rather than 10 s": js's wait for a missing acknowledgement is 10 s. */
const PROMPT = 3_000;
/** The issue's bound for a closed connection to leave the node. */
const GONE = 5_000;
/** How long a closed connection is watched on the node (to report how long it lingers). */
const LINGER = Number(process.env.INTEROP_LINGER_MS ?? 12_000);
const TRANSPORTS = ["websocket", "webtransport", "webrtc-direct"];
const SDL = "type Book { title: String! @index pages: Int }";
const TOPIC = "weft/col/Book";
const PROTOCOLS = {
  ping: "/ipfs/ping/1.0.0",
  identify: "/ipfs/id/1.0.0",
  relay: "/libp2p/circuit/relay/0.2.0/hop",
};

let node;
let server;
let browser;
let bundleDir;
let bundle;
/** Everything measured, printed at the end. */
const measured = {};

before(async () => {
  bundleDir = fs.mkdtempSync(path.join(os.tmpdir(), "weft-interop-"));
  bundle = path.join(bundleDir, "interop.js");
  const esbuild = await import("esbuild");
  await esbuild.build({
    entryPoints: [path.join(HERE, "interop-page.mjs")],
    bundle: true,
    format: "iife",
    globalName: "interop",
    platform: "browser",
    target: "chrome120",
    outfile: bundle,
    logLevel: "warning",
  });
  node = await startNode();
  await node.post("schema", SDL);
  await node.post("p2p/collections/Book");
  server = await serve({ root: WEB_ROOT, port: 0 });
  browser = await launchChromium({ args: [...CHROMIUM_ARGS, ...CHROMIUM_WEBRTC_ARGS] });
});

after(async () => {
  console.log(`# interop measurements: ${JSON.stringify(measured)}`);
  // INTEROP_NODE_LOG=1 (with RUST_LOG) prints what the node logged.
  if (process.env.INTEROP_NODE_LOG && node) console.log(node.output());
  await browser?.close().catch(() => {});
  await server?.close();
  await node?.stop();
  if (bundleDir) fs.rmSync(bundleDir, { recursive: true, force: true });
});

/** Records a measurement under `key` and prints it. */
function measure(t, key, value) {
  measured[key] = value;
  t.diagnostic(`interop ${key}: ${JSON.stringify(value)}`);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls `fn` (in this process) until it returns a truthy value; throws naming `what` past `ms`. */
async function until(what, fn, ms = WAIT) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await fn();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(50);
  }
}

/**
 * A page in a fresh browser context running a started js-libp2p node as
 * `window.libp2p` (`options` go to interop.start); with `weft`, weftdb's
 * package is loaded in it too, as `window.weft`.
 */
async function jsPage(options = {}, { weft = false } = {}) {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT);
  const problems = watchPage(page);
  await page.goto(`${server.url}/tests/browser/blank.html`);
  await page.addScriptTag({ path: bundle });
  const peerId = await page.evaluate(async ({ options, weft }) => {
    if (weft) {
      window.weft = await import("/pkg/weftdb.js");
      await window.weft.default();
    }
    window.libp2p = await interop.start(options);
    return window.libp2p.peerId.toString();
  }, { options, weft });
  return { page, context, problems, peerId };
}

/** A page with weftdb's own package loaded (`window.weft`), no js-libp2p. */
async function weftPage() {
  const context = await browser.newContext();
  return { context, ...(await weftTab(context, server)) };
}

/**
 * For our page to dial a js page: our page's peer id for database `name`
 * (a database's key is its page's identity), and a js page whose id sorts
 * above it (so ours dials) holding a relay reservation on the node, which
 * the node then announces to our page. `pageOptions` go to jsPage.
 */
async function jsPageAboveOurs(ours, name, pageOptions) {
  const ourId = await ours.page.evaluate(async (name) => {
    const db = await weft.Database.open(name);
    const id = db.peerId;
    await db.close();
    return id;
  }, name);
  const js = await jsPage({ listen: [`${node.addr("websocket")}/p2p-circuit`], above: ourId }, pageOptions);
  await until("the js page's reservation", () =>
    js.page.evaluate(() => libp2p.getMultiaddrs().some((m) => String(m).includes("/p2p-circuit"))),
  );
  return { ourId, js };
}

/** The node's connections to `peerId`, as its HTTP API lists them. */
const nodeConnections = async (peerId) => (await node.get("p2p/connections")).filter((c) => c.peerId === peerId);

/** Ours → js: a note our page creates reaches the js page by gossip. */
async function noteReachesJs(ours, js) {
  const id = await ours.page.evaluate(() => window.db.collection("Note").create({ text: "from weftdb" }));
  await until("our page's block on the js page", () =>
    js.page.evaluate(async (id) => {
      for (const d of window.got) if (await interop.isBlock(d, id)) return true;
      return false;
    }, id),
  );
}

/** The count, min, median and max of a list of numbers. */
function spread(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return { n: s.length, min: s[0], median: s[Math.floor(s.length / 2)], max: s.at(-1) };
}

/** Dials `addr` from the page's js-libp2p node; the connection is `window.conn`. */
const dial = (page, addr) =>
  page.evaluate(async (addr) => {
    const t0 = (window.dialAt = performance.now());
    window.conn = await interop.within(15_000, "dial", libp2p.dial(interop.multiaddr(addr)));
    return { ms: Math.round(performance.now() - t0), remoteAddr: window.conn.remoteAddr.toString() };
  }, addr);

for (const transport of TRANSPORTS) {
  test(`js-libp2p over ${transport}: dials the node, pings it, identify reports its protocols and agent version`, async (t) => {
    const { page, context, problems, peerId } = await jsPage();
    const addr = node.addr(transport);
    // js identifies every peer it connects to: that result is the one checked.
    await page.evaluate((nodeId) => {
      window.identified = new Promise((resolve) =>
        libp2p.addEventListener("peer:identify", (ev) => {
          if (ev.detail.peerId.toString() === nodeId) resolve({ ...ev.detail, at: performance.now() });
        }),
      );
    }, node.info.peerId);
    const d = await dial(page, addr);
    assert.ok(d.remoteAddr.startsWith(addr.split("/certhash/")[0].split("/p2p/")[0]), `${d.remoteAddr} vs ${addr}`);
    const r = await page.evaluate(async () => {
      const id = await interop.within(12_000, "identify on connect", window.identified);
      const out = {
        remotePeer: conn.remotePeer.toString(),
        // From the dial's start to js's identify of the node.
        identifiedMs: Math.round(id.at - window.dialAt),
        protocols: id.protocols,
        agentVersion: id.agentVersion,
        protocolVersion: id.protocolVersion,
      };
      // Then a ping and an identify asked by hand, each timed to its end
      // (its stream closed).
      const t1 = performance.now();
      try {
        out.rtt = await libp2p.services.ping.ping(conn.remotePeer, { signal: AbortSignal.timeout(12_000) });
      } catch (e) {
        out.pingError = interop.describe(e);
      }
      out.pingMs = Math.round(performance.now() - t1);
      out.identifyStreamOpenMs = await interop.settle(conn, "/ipfs/id/1.0.0");
      const t2 = performance.now();
      try {
        await libp2p.services.identify.identify(conn, { signal: AbortSignal.timeout(12_000) });
      } catch (e) {
        out.identifyError = interop.describe(e);
      }
      out.identifyMs = Math.round(performance.now() - t2);
      return out;
    });
    measure(t, `${transport}.dial`, {
      dialMs: d.ms,
      identifiedMs: r.identifiedMs,
      pingMs: r.pingMs,
      rtt: r.rtt,
      pingError: r.pingError,
      identifyStreamOpenMs: r.identifyStreamOpenMs,
      identifyMs: r.identifyMs,
      identifyError: r.identifyError,
    });
    t.diagnostic(`identify: agent ${r.agentVersion}, protocol ${r.protocolVersion}, ${r.protocols.join(" ")}`);
    assert.equal(r.remotePeer, node.info.peerId);
    for (const p of [PROTOCOLS.ping, PROTOCOLS.identify, PROTOCOLS.relay, "/weft/blocks/1", "/weft/heads/1", "/weft/replicate/1"]) {
      assert.ok(r.protocols.includes(p), `identify lists no ${p}: ${r.protocols}`);
    }
    assert.ok(r.protocols.some((p) => p.startsWith("/meshsub/")), `identify lists no gossipsub: ${r.protocols}`);
    // The node lists the page, under its peer id, on this transport.
    assert.deepEqual((await nodeConnections(peerId)).map((c) => c.transport), [transport]);
    assert.equal(r.pingError, undefined);
    assert.ok(r.pingMs < PROMPT, `a ping took ${r.pingMs} ms (rtt ${r.rtt} ms)`);
    assert.equal(r.identifyError, undefined);
    assert.ok(r.identifyMs < PROMPT, `identify took ${r.identifyMs} ms`);
    assert.deepEqual(problems, []);
    assert.match(r.agentVersion, /^weftdb\/\d+\.\d+\.\d+ \(native\)$/, "identify's agent version names weftdb, its version and its side");
    await context.close();
  });

  test(`js-libp2p over ${transport}: 20 pings in a row on one connection, each prompt`, async (t) => {
    const { page, context, problems } = await jsPage();
    await dial(page, node.addr(transport));
    // Stops at the first ping that fails or is slow: its error is the finding.
    const r = await page.evaluate(async (prompt) => {
      const times = [];
      const rtts = [];
      for (let i = 0; i < 20; i++) {
        const t0 = performance.now();
        try {
          rtts.push(await libp2p.services.ping.ping(conn.remotePeer, { signal: AbortSignal.timeout(prompt) }));
        } catch (e) {
          return { times, rtts, error: `ping ${i + 1}: ${interop.describe(e)} after ${Math.round(performance.now() - t0)} ms` };
        }
        times.push(Math.round(performance.now() - t0));
      }
      return { times, rtts };
    }, PROMPT);
    measure(t, `${transport}.pings`, { ...spread(r.times), rtt: spread(r.rtts), error: r.error });
    assert.equal(r.error, undefined);
    assert.equal(r.times.length, 20);
    assert.deepEqual(problems, []);
    await context.close();
  });

  test(`js-libp2p over ${transport}: ten fresh dials each connect, ping and close`, async (t) => {
    const { page, context } = await jsPage();
    const addr = node.addr(transport);
    const r = await page.evaluate(async ({ addr, nodeId }) => {
      const runs = [];
      for (let i = 0; i < 10; i++) {
        const run = {};
        const t0 = performance.now();
        let c;
        try {
          c = await interop.within(10_000, "dial", libp2p.dial(interop.multiaddr(addr), { force: true }));
          run.dialMs = Math.round(performance.now() - t0);
          run.ping = await interop.pingOn(c, { timeout: 5_000 });
        } catch (e) {
          run.error = interop.describe(e);
        }
        const t1 = performance.now();
        // Every connection to the node is closed before the next dial, so
        // each dial is a fresh one (a failed close is aborted, and noted).
        for (const open of libp2p.getConnections().filter((x) => x.remotePeer.toString() === nodeId)) {
          await interop.within(5_000, "close", open.close()).catch((e) => {
            run.closeError = interop.describe(e);
            open.abort(e);
          });
        }
        run.closeMs = Math.round(performance.now() - t1);
        runs.push(run);
      }
      return runs;
    }, { addr, nodeId: node.info.peerId });
    const ok = r.filter((x) => !x.error);
    measure(t, `${transport}.freshDials`, {
      connected: ok.length,
      dialMs: ok.length ? spread(ok.map((x) => x.dialMs)) : null,
      pingTotalMs: ok.length ? spread(ok.map((x) => x.ping.total)) : null,
      closeMs: spread(r.map((x) => x.closeMs)),
      errors: [...new Set(r.filter((x) => x.error).map((x) => x.error))],
      closeErrors: r.filter((x) => x.closeError).length,
    });
    assert.equal(ok.length, 10, `${ok.length} of 10 fresh dials connected and pinged: ${JSON.stringify(r.filter((x) => x.error))}`);
    await context.close();
  });

  // js-libp2p's connection close() closes every stream's write half first
  // and waits (1 s in all) for each to be acknowledged: over WebRTC-direct a
  // FIN_ACK, also on the streams the node opened and only writes to (its
  // gossipsub stream, its idle ping stream), which the node's framing takes
  // in while nobody reads them (vendor/libp2p-webrtc-utils). Only then does
  // js close its peer connection, which the node sees at once.
  test(`js-libp2p over ${transport}: a closed stream ends promptly on both sides, a closed connection leaves the node within 5 s`, async (t) => {
    const { page, context, peerId } = await jsPage();
    await dial(page, node.addr(transport));
    await until("the node to list the page", async () => (await nodeConnections(peerId)).length === 1);
    // One ping stream, by hand: the close is timed, then the stream must be
    // gone from the connection (closed at both ends).
    const s = await page.evaluate(async (prompt) => {
      let p;
      try {
        p = await interop.pingOn(conn, { timeout: 15_000 });
      } catch (e) {
        return { error: interop.describe(e), streams: interop.streamsOf(conn) };
      }
      const t0 = performance.now();
      while (conn.streams.some((x) => x.id === p.streamId)) {
        if (performance.now() - t0 > prompt) break;
        await new Promise((r) => setTimeout(r, 10));
      }
      const { readStatus, writeStatus, remoteReadStatus, remoteWriteStatus } = interop.last.stream;
      return {
        ...p,
        lingerMs: Math.round(performance.now() - t0),
        remoteEndMs: interop.last.remoteEnd(),
        status: { readStatus, writeStatus, remoteReadStatus, remoteWriteStatus },
        streams: interop.streamsOf(conn),
      };
    }, PROMPT);
    const closeAt = Date.now();
    const c = await page.evaluate(async () => {
      const open = interop.streamsOf(conn);
      const t0 = performance.now();
      const error = await interop.within(15_000, "connection close", conn.close()).then(
        () => undefined,
        (e) => interop.describe(e),
      );
      // On a failed close: which streams were open, and which were left.
      const streams = error ? { open, left: interop.streamsOf(conn) } : undefined;
      return { closeMs: Math.round(performance.now() - t0), status: conn.status, error, streams };
    });
    let goneMs = null;
    await until("the node to drop the closed connection", async () => (await nodeConnections(peerId)).length === 0, LINGER)
      .then(() => (goneMs = Date.now() - closeAt))
      .catch(() => {});
    measure(t, `${transport}.close`, {
      streamCloseMs: s.close,
      pingTotalMs: s.total,
      streamLingerMs: s.lingerMs,
      remoteEndMs: s.remoteEndMs,
      streamStatus: s.status,
      streamError: s.error,
      connectionCloseMs: c.closeMs,
      connectionCloseError: c.error,
      connectionCloseStreams: c.streams,
      nodeDropMs: goneMs,
    });
    assert.equal(s.error, undefined, `the ping stream failed: ${JSON.stringify(s)}`);
    assert.ok(s.close < PROMPT, `closing a ping stream took ${s.close} ms`);
    assert.ok(s.lingerMs < PROMPT, `the closed stream was still listed after ${s.lingerMs} ms: ${JSON.stringify(s.streams)}`);
    assert.equal(c.error, undefined, "closing the connection failed");
    assert.equal(c.status, "closed");
    assert.ok(goneMs !== null && goneMs < GONE, `the node dropped the closed connection after ${goneMs ?? `over ${LINGER}`} ms`);
    await context.close();
  });

  // A closing tab of a js-libp2p page says nothing: js-libp2p does not stop
  // on pagehide, and Chromium sends nothing for the page's WebRTC or
  // WebTransport when the tab goes (over WebTransport no CONNECTION_CLOSE,
  // no close capsule, no FIN; it just stops acknowledging). The node goes
  // by silence (~3.5 s over WebRTC-direct, ~2.5 s over WebTransport
  // without a packet from the page), while its
  // keepalives make a live page's browser answer every second, off the
  // page's thread (WebRTC-direct: vendor/libp2p-webrtc, WEFTDB-PATCH 5;
  // WebTransport: QUIC PINGs, net::webtransport::connection). Over
  // WebSocket the browser closes the TCP connection.
  const gone = GONE;
  test(`js-libp2p over ${transport}: a page that goes away (its tab closes) leaves the node within ${gone / 1000} s`, async (t) => {
    const { page, context, peerId } = await jsPage();
    await dial(page, node.addr(transport));
    await until("the node to list the page", async () => (await nodeConnections(peerId)).length === 1);
    const closedAt = Date.now();
    await context.close();
    let goneMs = null;
    await until("the node to drop the closed page", async () => (await nodeConnections(peerId)).length === 0, LINGER)
      .then(() => (goneMs = Date.now() - closedAt))
      .catch(() => {});
    measure(t, `${transport}.pageGone`, { nodeDropMs: goneMs });
    assert.ok(goneMs !== null && goneMs < gone, `the node dropped the closed page after ${goneMs ?? `over ${LINGER}`} ms`);
  });

  test(`js-libp2p over ${transport}: gossipsub on ${TOPIC} both ways (a node's document reaches the page; junk from the page is refused, a valid block taken)`, async (t) => {
    // The page under test dials over `transport`; a witness page over
    // WebSocket shows what the node forwards.
    const a = await jsPage({}, { weft: true });
    const w = await jsPage();
    const subscribe = (page, addr) =>
      page.evaluate(async ({ addr, topic }) => {
        window.got = [];
        libp2p.services.pubsub.addEventListener("message", (ev) => {
          if (ev.detail.topic === topic) window.got.push({ data: ev.detail.data, at: Date.now() });
        });
        libp2p.services.pubsub.subscribe(topic);
        await interop.within(15_000, "dial", libp2p.dial(interop.multiaddr(addr)));
      }, { addr, topic: TOPIC });
    await subscribe(a.page, node.addr(transport));
    await subscribe(w.page, node.addr("websocket"));
    const meshed = (page) =>
      page.evaluate(
        ({ topic, nodeId }) => libp2p.services.pubsub.getMeshPeers(topic).some((p) => p.toString() === nodeId),
        { topic: TOPIC, nodeId: node.info.peerId },
      );
    const t0 = Date.now();
    await until("the page and the node to mesh on the topic", () => meshed(a.page));
    await until("the witness and the node to mesh on the topic", () => meshed(w.page));
    const meshMs = Date.now() - t0;

    // Node → page: a document created on the node; its genesis block (CID = the id) arrives.
    const sent = Date.now();
    const { _id: id } = await node.post("collections/Book", JSON.stringify({ title: "Dune", pages: 412 }));
    const arrived = await until("the node's block on the page", () =>
      a.page.evaluate(async (id) => {
        for (const m of window.got) if (await interop.isBlock(m.data, id)) return m.at;
        return 0;
      }, id),
    );
    const deliveryMs = arrived - sent;

    // Page → node: bytes that are no block. The node rejects them (counted
    // invalid, a strike against the page) and forwards nothing.
    const before = await node.get("p2p/stats");
    // Each test's junk is its own: gossipsub drops a message it saw lately
    // (same id) unvalidated, and the tests share the node.
    const junkText = `not a block (${transport} ${Math.random()})`;
    const junk = await a.page.evaluate(async ({ topic, junkText }) => {
      window.got = [];
      const r = await libp2p.services.pubsub.publish(topic, new TextEncoder().encode(junkText));
      return r.recipients.map(String);
    }, { topic: TOPIC, junkText });
    assert.ok(junk.includes(node.info.peerId), `the junk went to ${junk}, not the node`);
    await until("the node to count the junk invalid", async () => (await node.get("p2p/stats")).invalid > before.invalid);

    // Page → node: a valid block, made by weftdb's own package in the same
    // page (a database with no network), published by js-libp2p.
    const made = await a.page.evaluate(async (sdl) => {
      const db = await weft.Database.open("offline-maker");
      await db.addSchema(sdl);
      const id = await db.collection("Book").create({ title: "Emma", pages: 474 });
      const [block] = await db.exportBlocks();
      await db.close();
      const r = await libp2p.services.pubsub.publish("weft/col/Book", block);
      return { id, recipients: r.recipients.map(String) };
    }, SDL);
    await until("the page's block on the node", async () => (await node.get(`collections/Book/${made.id}`))?.title === "Emma");
    // The witness got the valid block (forwarded by the node), never the junk.
    await until("the valid block forwarded to the witness", () =>
      w.page.evaluate(async (id) => {
        for (const m of window.got) if (await interop.isBlock(m.data, id)) return true;
        return false;
      }, made.id),
    );
    const witnessed = await w.page.evaluate(() => window.got.map((m) => new TextDecoder().decode(m.data)));
    assert.ok(!witnessed.includes(junkText), "the node forwarded the junk");
    // One strike is no ban: the page is still connected over the transport.
    assert.deepEqual((await nodeConnections(a.peerId)).map((c) => c.transport), [transport]);
    measure(t, `${transport}.gossip`, { meshMs, deliveryMs });
    assert.deepEqual([...a.problems, ...w.problems], []);
    await a.context.close();
    await w.context.close();
  });
}

test("circuit relay v2: a js page reserves a slot on the node, a second js page dials it through the relay and pings it", async (t) => {
  const relayAddr = node.addr("websocket");
  const a = await jsPage({ listen: [`${relayAddr}/p2p-circuit`] });
  const t0 = Date.now();
  const circuit = await until("A's relayed address", () =>
    a.page.evaluate(() => libp2p.getMultiaddrs().map(String).find((m) => m.includes("/p2p-circuit"))),
  );
  const reserveMs = Date.now() - t0;
  assert.ok(circuit.startsWith(relayAddr.split("/p2p/")[0]), circuit);
  assert.ok(circuit.endsWith(`/p2p-circuit/p2p/${a.peerId}`), circuit);
  const b = await jsPage();
  const r = await b.page.evaluate(async (circuit) => {
    const t0 = performance.now();
    const c = await interop.within(15_000, "relayed dial", libp2p.dial(interop.multiaddr(circuit)));
    const dialMs = Math.round(performance.now() - t0);
    const pings = [];
    for (let i = 0; i < 3; i++) pings.push(await interop.pingOn(c));
    return { dialMs, pings, remoteAddr: c.remoteAddr.toString(), remotePeer: c.remotePeer.toString(), limits: c.limits ?? null };
  }, circuit);
  measure(t, "relay", { reserveMs, dialMs: r.dialMs, pings: r.pings.map((p) => p.total), limits: r.limits });
  assert.equal(r.remotePeer, a.peerId);
  assert.ok(r.remoteAddr.includes("/p2p-circuit"), r.remoteAddr);
  // A sees B on a relayed connection.
  const seen = await a.page.evaluate(
    (b) => libp2p.getConnections().filter((c) => c.remotePeer.toString() === b).map((c) => c.remoteAddr.toString()),
    b.peerId,
  );
  assert.ok(seen.some((addr) => addr.includes("/p2p-circuit")), JSON.stringify(seen));
  assert.deepEqual([...a.problems, ...b.problems], []);
  await a.context.close();
  await b.context.close();
});

/**
 * Our page (weftdb's package, holding a reservation on the node as every
 * page does) and a js-libp2p page: the js page connects to it through the
 * node's relay, then asks for a direct WebRTC connection (js offers).
 */
test("a js-libp2p page reaches one of weftdb's pages through the node's relay, then directly over WebRTC (js offers)", async (t) => {
  const ours = await weftPage();
  const ourId = await ours.page.evaluate(async (addr) => {
    window.db = await weft.Database.open("meet", { peers: [addr] });
    return window.db.peerId;
  }, node.addr("websocket"));
  const js = await jsPage();
  const relayed = `${node.addr("websocket")}/p2p-circuit/p2p/${ourId}`;
  // The dial succeeds once our page holds its reservation.
  const t0 = Date.now();
  const r = await until("a relayed connection to our page", () =>
    js.page.evaluate(async (addr) => {
      try {
        window.relayed = await interop.within(5_000, "relayed dial", libp2p.dial(interop.multiaddr(addr)));
      } catch (e) {
        return null;
      }
      const p = await interop.pingOn(relayed);
      // Identify is asked by hand, and what js learnt on its own (its
      // identify on connect) is read from its peer store.
      let identified;
      try {
        const id = await libp2p.services.identify.identify(relayed, { signal: AbortSignal.timeout(10_000) });
        identified = { agentVersion: id.agentVersion, protocols: id.protocols };
      } catch (e) {
        identified = { error: interop.describe(e) };
      }
      const known = await libp2p.peerStore.get(relayed.remotePeer).catch(() => null);
      return { remoteAddr: relayed.remoteAddr.toString(), ping: p, identified, stored: known?.protocols ?? [] };
    }, relayed),
  );
  measure(t, "meet.relayed", { dialMs: Date.now() - t0, ping: r.ping, identified: r.identified, stored: r.stored });
  assert.ok(r.remoteAddr.includes("/p2p-circuit"), r.remoteAddr);
  await until("our page to list the js page on the relay", async () =>
    (await ours.page.evaluate((id) => window.db.connections(), js.peerId)).some((c) => c.peerId === js.peerId && c.transport === "relay"),
  );

  // js-libp2p's own browser-to-browser WebRTC, offered over that connection.
  const direct = await js.page.evaluate(async (addr) => {
    const t0 = performance.now();
    try {
      window.direct = await interop.within(20_000, "WebRTC dial", libp2p.dial(interop.multiaddr(addr)));
    } catch (e) {
      return { error: interop.describe(e) };
    }
    const dialMs = Math.round(performance.now() - t0);
    const pings = [];
    try {
      for (let i = 0; i < 3; i++) pings.push(await interop.pingOn(direct));
    } catch (e) {
      return { dialMs, pings, remoteAddr: direct.remoteAddr.toString(), error: `ping: ${interop.describe(e)}` };
    }
    const settled = await interop.settle(direct, "/ipfs/id/1.0.0");
    const t1 = performance.now();
    const identified = await libp2p.services.identify
      .identify(direct, { signal: AbortSignal.timeout(10_000) })
      .then((id) => ({ protocols: id.protocols }), (e) => ({ error: interop.describe(e) }));
    identified.ms = Math.round(performance.now() - t1);
    return { dialMs, pings, remoteAddr: direct.remoteAddr.toString(), identified, settled };
  }, `${node.addr("websocket")}/p2p-circuit/webrtc/p2p/${ourId}`);
  measure(t, "meet.jsOffers", {
    jsPeer: js.peerId,
    dialMs: direct.dialMs,
    pings: direct.pings?.map(({ rtt, close, total }) => ({ rtt, close, total })),
    error: direct.error,
    identifyError: direct.identified?.error,
    identifyMs: direct.identified?.ms,
    identifyStreamOpenMs: direct.settled,
  });
  assert.equal(direct.error, undefined);
  assert.ok(direct.remoteAddr.includes("/webrtc/"), direct.remoteAddr);
  await until("our page to list a WebRTC connection to the js page", async () =>
    (await ours.page.evaluate(() => window.db.connections())).some((c) => c.peerId === js.peerId && c.transport === "webrtc"),
  );
  for (const p of direct.pings) assert.ok(p.total < PROMPT, `a ping on the direct connection took ${p.total} ms`);
  // Identify over each connection: our page answers (js reads an observed
  // address it cannot parse from it, see TESTING.md).
  assert.equal(direct.identified.error, undefined, "js-libp2p's identify of our page over WebRTC failed");
  assert.equal(r.identified.error, undefined, "js-libp2p's identify of our page over the relay failed");
  assert.ok(r.identified.protocols.includes("/webrtc-signaling/0.0.1"), `our page lists ${r.identified.protocols}`);
  await ours.page.evaluate(() => window.db.close());
  // Printed, not asserted: what either page logged as an error.
  if (ours.problems.length + js.problems.length) t.diagnostic(`page errors: ${JSON.stringify([...ours.problems, ...js.problems])}`);
  await ours.context.close();
  await js.context.close();
});

/**
 * The other way: the js page holds a reservation on the node too, so the
 * node announces it to our page, which dials it through the relay (ours
 * sorts lower, so ours dials) and offers direct WebRTC; js answers.
 */
test("one of weftdb's pages reaches a js-libp2p page through the node's relay, then directly over WebRTC (ours offers)", async (t) => {
  const ours = await weftPage();
  const { ourId, js } = await jsPageAboveOurs(ours, "meet-offer");
  const t0 = Date.now();
  await ours.page.evaluate(async (addr) => {
    window.db = await weft.Database.open("meet-offer", { peers: [addr] });
  }, node.addr("websocket"));
  const transportsSeen = new Set();
  let upgraded = false;
  await until(
    "our page's direct WebRTC connection to the js page",
    async () => {
      const conns = (await ours.page.evaluate(() => window.db.connections())).filter((c) => c.peerId === js.peerId);
      for (const c of conns) transportsSeen.add(c.transport);
      upgraded = conns.some((c) => c.transport === "webrtc");
      return upgraded;
    },
    WAIT,
  ).catch(() => {});
  const stats = await ours.page.evaluate(() => window.db.networkStats());
  const oursSide = (await ours.page.evaluate(() => window.db.connections())).filter((c) => c.peerId === js.peerId);
  const jsSide = await js.page.evaluate(
    (id) => libp2p.getConnections().filter((c) => c.remotePeer.toString() === id).map((c) => c.remoteAddr.toString()),
    ourId,
  );
  measure(t, "meet.oursOffers", {
    upgradeMs: upgraded ? Date.now() - t0 : null,
    transportsSeen: [...transportsSeen],
    directUpgrades: stats.directUpgrades,
    directFailures: stats.directFailures,
    jsSide,
    oursSide,
  });
  assert.ok(transportsSeen.has("relay") || upgraded, `our page never reached the js page: ${[...transportsSeen]}`);
  assert.ok(upgraded, `no direct WebRTC connection (our page saw ${[...transportsSeen]}, ${JSON.stringify(stats)})`);
  assert.ok(jsSide.some((a) => a.includes("/webrtc")), JSON.stringify(jsSide));
  const p = await js.page.evaluate(async (id) => {
    const c = libp2p.getConnections().find((c) => c.remotePeer.toString() === id && c.remoteAddr.toString().includes("/webrtc"));
    const ping = await interop.pingOn(c);
    const settled = await interop.settle(c, "/ipfs/id/1.0.0");
    const t1 = performance.now();
    const identified = await libp2p.services.identify
      .identify(c, { signal: AbortSignal.timeout(10_000) })
      .then((id) => ({ agentVersion: id.agentVersion, protocols: id.protocols }), (e) => ({ error: interop.describe(e) }));
    identified.ms = Math.round(performance.now() - t1);
    return { ping, identified, settled };
  }, ourId);
  t.diagnostic(`interop meet.oursOffers direct: ${JSON.stringify({ ping: p.ping, identifyStreamOpenMs: p.settled, identifyMs: p.identified.ms, identifyError: p.identified.error })}`);
  assert.ok(p.ping.total < PROMPT, `a ping on the direct connection took ${p.ping.total} ms`);
  assert.equal(p.identified.error, undefined, "js-libp2p's identify of our page over WebRTC failed");
  assert.ok(p.identified.protocols.includes(PROTOCOLS.ping), JSON.stringify(p.identified));
  assert.match(p.identified.agentVersion, /^weftdb\/\d+\.\d+\.\d+ \(browser\)$/, "our page's agent version names weftdb, its version and its side");
  // Once the direct connection is up our page closes the relayed one.
  await until("our page to close its relayed connection to the js page", async () =>
    (await ours.page.evaluate(() => window.db.connections())).filter((c) => c.peerId === js.peerId).every((c) => c.transport === "webrtc"),
  );
  await ours.page.evaluate(() => window.db.close());
  // Printed, not asserted: what either page logged as an error.
  if (ours.problems.length + js.problems.length) t.diagnostic(`page errors: ${JSON.stringify([...ours.problems, ...js.problems])}`);
  await ours.context.close();
  await js.context.close();
});

/**
 * Gossip between a js page and ours over the direct connection alone: a
 * collection the node does not hold (it neither has its schema nor its
 * topic), so no message can take the node's way.
 */
test("gossipsub between a js-libp2p page and one of weftdb's pages over their direct WebRTC connection", async (t) => {
  const NOTE = "type Note { text: String }";
  const ours = await weftPage();
  const { ourId, js } = await jsPageAboveOurs(ours, "meet-gossip", { weft: true });
  await js.page.evaluate(() => {
    window.got = [];
    libp2p.services.pubsub.addEventListener("message", (ev) => {
      if (ev.detail.topic === "weft/col/Note") window.got.push(ev.detail.data);
    });
    libp2p.services.pubsub.subscribe("weft/col/Note");
  });
  await ours.page.evaluate(
    async ({ addr, sdl }) => {
      window.db = await weft.Database.open("meet-gossip", { peers: [addr] });
      await window.db.addSchema(sdl);
      await window.db.collections.subscribe("Note");
    },
    { addr: node.addr("websocket"), sdl: NOTE },
  );
  // Only the direct connection is left between them, and they mesh on it.
  await until("a direct connection alone between the pages", async () => {
    const ts = (await ours.page.evaluate(() => window.db.connections())).filter((c) => c.peerId === js.peerId).map((c) => c.transport);
    return ts.length > 0 && ts.every((x) => x === "webrtc");
  });
  const t0 = Date.now();
  await until("the js page and ours to mesh on weft/col/Note", () =>
    js.page.evaluate((id) => libp2p.services.pubsub.getMeshPeers("weft/col/Note").some((p) => p.toString() === id), ourId),
  );
  const meshMs = Date.now() - t0;
  // Ours → js: a note's genesis block.
  await noteReachesJs(ours, js);
  // Our page's subscriptions went out once, on its first connection to the
  // js page, the relayed one, on which js-libp2p runs no gossipsub (it
  // counts a relayed connection limited and aborts the stream): they were
  // lost there in some runs, and js never published to our page. Our page
  // sends them again when it closes the relayed connection
  // (vendor/libp2p-gossipsub): js counts it a subscriber soon after.
  await until("the js page to see the relayed connection closed", () =>
    js.page.evaluate(
      (id) => libp2p.getConnections().filter((c) => c.remotePeer.toString() === id).every((c) => c.remoteAddr.toString().includes("/webrtc")),
      ourId,
    ),
  );
  const t1 = Date.now();
  const subscribed = await until(
    "js-libp2p's gossipsub to count our page a subscriber once the relayed connection is gone",
    () => js.page.evaluate((id) => libp2p.services.pubsub.getSubscribers("weft/col/Note").some((p) => p.toString() === id), ourId),
    PROMPT,
  ).then(() => Date.now() - t1, () => null);
  measure(t, "meet.gossip", { meshMs, subscribedMs: subscribed });
  assert.notEqual(subscribed, null, "js-libp2p's gossipsub does not count our page a subscriber over the direct connection (see TESTING.md)");
  // js → ours: junk, counted invalid; a valid block (made offline by weftdb's package in the js page), merged.
  const invalidBefore = (await ours.page.evaluate(() => window.db.networkStats())).invalid;
  const made = await js.page.evaluate(async (sdl) => {
    const junk = await libp2p.services.pubsub.publish("weft/col/Note", new TextEncoder().encode(`not a block ${Math.random()}`));
    const db = await weft.Database.open("offline-note");
    await db.addSchema(sdl);
    const id = await db.collection("Note").create({ text: "from js-libp2p" });
    const [block] = await db.exportBlocks();
    await db.close();
    const valid = await libp2p.services.pubsub.publish("weft/col/Note", block);
    return { id, recipients: [junk, valid].map((r) => r.recipients.map(String)) };
  }, NOTE);
  t.diagnostic(`js published to ${JSON.stringify(made.recipients)}`);
  await until("the js page's block on our page", () =>
    ours.page.evaluate((id) => window.db.collection("Note").get(id).then((d) => d?.text === "from js-libp2p"), made.id),
  ).catch(async (e) => {
    t.diagnostic(`our page's stats: ${JSON.stringify(await ours.page.evaluate(() => window.db.networkStats()))}`);
    throw e;
  });
  await until("our page to count the junk invalid", async () =>
    (await ours.page.evaluate(() => window.db.networkStats())).invalid > invalidBefore,
  );
  // The node never held the topic: it has no Note.
  assert.ok(!(await node.get("p2p/topics")).includes("weft/col/Note"));
  await ours.page.evaluate(() => window.db.close());
  await ours.context.close();
  await js.context.close();
});

/**
 * The same when js offers: js-libp2p keeps the relayed connection it
 * dialled, on which it runs no gossipsub (it counts it limited), and our
 * subscriptions went out there, so js never published to our page. Our
 * page closes a relayed connection the offerer left open
 * (`node::direct::ANSWERED_GRACE` after the direct one is up), and then
 * sends its subscriptions again (vendor/libp2p-gossipsub).
 */
test("gossipsub between a js-libp2p page and one of weftdb's pages over direct WebRTC (js offers)", async (t) => {
  const NOTE = "type Note { text: String }";
  const ours = await weftPage();
  const ourId = await ours.page.evaluate(
    async ({ addr, sdl }) => {
      window.db = await weft.Database.open("meet-gossip-js-offers", { peers: [addr] });
      await window.db.addSchema(sdl);
      await window.db.collections.subscribe("Note");
      return window.db.peerId;
    },
    { addr: node.addr("websocket"), sdl: NOTE },
  );
  const js = await jsPage();
  await js.page.evaluate(() => {
    window.got = [];
    libp2p.services.pubsub.addEventListener("message", (ev) => {
      if (ev.detail.topic === "weft/col/Note") window.got.push(ev.detail.data);
    });
    libp2p.services.pubsub.subscribe("weft/col/Note");
  });
  await until("a relayed connection to our page", () =>
    js.page.evaluate(async (addr) => {
      try {
        await interop.within(5_000, "relayed dial", libp2p.dial(interop.multiaddr(addr)));
        return true;
      } catch (e) {
        return false;
      }
    }, `${node.addr("websocket")}/p2p-circuit/p2p/${ourId}`),
  );
  const t0 = Date.now();
  await js.page.evaluate(
    (addr) => interop.within(20_000, "WebRTC dial", libp2p.dial(interop.multiaddr(addr))).then(() => {}),
    `${node.addr("websocket")}/p2p-circuit/webrtc/p2p/${ourId}`,
  );
  await until("our page to close the relayed connection js left open", async () => {
    const ts = (await ours.page.evaluate(() => window.db.connections())).filter((c) => c.peerId === js.peerId).map((c) => c.transport);
    return ts.length > 0 && ts.every((x) => x === "webrtc");
  });
  const closedMs = Date.now() - t0;
  const subscribedMs = await until(
    "js-libp2p's gossipsub to count our page a subscriber",
    () => js.page.evaluate((id) => libp2p.services.pubsub.getSubscribers("weft/col/Note").some((p) => p.toString() === id), ourId),
    PROMPT,
  ).then(() => Date.now() - t0, () => null);
  measure(t, "meet.gossipJsOffers", { closedMs, subscribedMs });
  assert.notEqual(subscribedMs, null, "js-libp2p's gossipsub does not count our page a subscriber over the direct connection");
  // js → ours: junk, counted invalid by our page (it came over the direct connection: the node has no Note).
  const invalidBefore = (await ours.page.evaluate(() => window.db.networkStats())).invalid;
  const recipients = await js.page.evaluate(async () => {
    const r = await libp2p.services.pubsub.publish("weft/col/Note", new TextEncoder().encode(`not a block ${Math.random()}`));
    return r.recipients.map(String);
  });
  assert.deepEqual(recipients, [ourId]);
  await until("our page to count the junk invalid", async () =>
    (await ours.page.evaluate(() => window.db.networkStats())).invalid > invalidBefore,
  );
  // Ours → js: a note's genesis block.
  await noteReachesJs(ours, js);
  await ours.page.evaluate(() => window.db.close());
  await ours.context.close();
  await js.context.close();
});
