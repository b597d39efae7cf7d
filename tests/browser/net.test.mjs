// Browser networking end to end: real pages in Debian's headless Chromium
// (or Firefox ESR, with WEFT_BROWSER=firefox) dial a real native node
// (`weft start`, started here on loopback) over each transport a page has,
// in separate browser contexts (separate IndexedDB, separate identities).
//
//   wasm-pack build --target web --profile wasm && node --test tests/browser/net.test.mjs
//   WEFT_BROWSER=firefox tests/browser/netns.sh node --test tests/browser/net.test.mjs
//
// Firefox gathers WebRTC candidates on its default-route interface only,
// never on loopback: its WebRTC tests need tests/browser/netns.sh (an
// address of a namespace's own) and are skipped without it.
import { test as nodeTest, before, after } from "node:test";
import assert from "node:assert/strict";
import { isDeepStrictEqual } from "node:util";
import { BROWSER, watchPage } from "./lib.mjs";
import { WAIT, until, stateOf, editsConverge, startSuite, stopSuite, weftTab } from "./pages.mjs";
import { startNode } from "./node.mjs";

/** Some tests count data channels or worker messages through an init script, which only Playwright's pages run. */
const NO_INIT_SCRIPT = BROWSER === "firefox" && "counts through an init script, which only Playwright's pages run";
/** Why a WebRTC test cannot run here, or false. */
const NO_WEBRTC =
  BROWSER === "firefox" && !process.env.WEFT_NETNS_IP && "Firefox has no WebRTC on loopback: run in tests/browser/netns.sh";
/**
 * What a browser may log while the node it redials is down, or the page
 * reloads: a refused or cut WebSocket or WebTransport connection; and, where the page reaches the
 * node's WebRTC-direct address (in netns.sh), libp2p-webrtc-websys's
 * callbacks firing after their connection was dropped (rust-libp2p#5636).
 */
const REFUSED = [
  /closure invoked recursively or after being dropped/,
  /WebSocket connection to .* failed: .*ERR_CONNECTION_REFUSED/,
  /Failed to establish a connection to https:\/\/127\.0\.0\.1:\d+\/\.well-known\/libp2p-webtransport/,
  /can.t establish a connection to the server at ws:\/\/127\.0\.0\.1/,
  /WebTransport connection rejected|WebTransportError/,
  // Firefox, when a reload cuts the page's open WebSocket.
  /The connection to ws:\/\/127\.0\.0\.1:\d+\/ was interrupted while the page was loading/,
];
const refused = (p) => REFUSED.some((r) => r.test(p));
/** Every test's name says which browser ran it. */
const test = (name, ...rest) => nodeTest(`${BROWSER}: ${name}`, ...rest);

let server;
let browser;
let node;

before(async () => {
  ({ node, server, browser } = await startSuite());
});

after(() => stopSuite({ node, server, browser }));

/**
 * A page in a fresh context (its own IndexedDB and so its own identity) with weftdb loaded;
 * `init` runs in the page before any of its scripts.
 */
async function freshPage({ init } = {}) {
  const context = await browser.newContext();
  return { context, ...(await weftTab(context, server, { init })) };
}

/**
 * A fresh page with database `name` open and only the node as its peer,
 * over `transport`, once the node lists it; `onNode()` reads the node's
 * connections to it. `init` runs in the page before its scripts.
 */
async function pageOnNode(name, transport, { init } = {}) {
  const { page, context } = await freshPage({ init });
  const peerId = await page.evaluate(
    async ({ name, addr }) => {
      window.db = await weft.Database.open(name, { peers: [addr] });
      return window.db.peerId;
    },
    { name, addr: node.addr(transport) },
  );
  const onNode = async () => (await node.get("p2p/connections")).filter((c) => c.peerId === peerId);
  for (let t = Date.now(); (await onNode()).length === 0; ) {
    assert.ok(Date.now() - t < WAIT, "the node never saw the page");
    await new Promise((r) => setTimeout(r, 50));
  }
  return { page, context, onNode };
}

for (const transport of ["webtransport", "webrtc-direct", "websocket"]) {
  const skip = transport === "webrtc-direct" && NO_WEBRTC;
  test(`a page connects to the node over ${transport} alone, and both sides report it`, { skip }, async () => {
    const { page, context, problems } = await freshPage();
    const addr = node.addr(transport);
    const peerId = await page.evaluate(async (addr) => {
      window.events = [];
      window.db = await weft.Database.open("net", { peers: [addr] });
      window.db.on("peer", (ev) => window.events.push(ev));
      return window.db.peerId;
    }, addr);
    const conn = await until(
      page,
      `a ${transport} connection`,
      async ({ nodeId, transport }) =>
        (await window.db.connections()).find((c) => c.peerId === nodeId && c.transport === transport),
      { nodeId: node.info.peerId, transport },
    );
    assert.ok(conn.addr.startsWith(addr.split("/p2p/")[0].split("/certhash/")[0]), `${conn.addr} vs ${addr}`);
    const events = await page.evaluate(() => window.events);
    assert.deepEqual(
      events.filter((e) => e.type === "connected").map((e) => [e.peerId, e.transport]),
      [[node.info.peerId, transport]],
    );
    // The node sees the page, under the page's peer id, on the same transport.
    const seen = (await node.get("p2p/connections")).filter((c) => c.peerId === peerId);
    assert.deepEqual(seen.map((c) => c.transport), [transport], JSON.stringify(seen));
    await page.evaluate(() => window.db.close());
    // libp2p-webrtc-websys drops its data-channel callbacks with the
    // connection while the browser may still fire them: wasm-bindgen then
    // throws this, harmlessly (rust-libp2p#5636). Anything else fails.
    const known = /closure invoked recursively or after being dropped/;
    assert.deepEqual(problems.filter((p) => !(transport === "webrtc-direct" && known.test(p))), []);
    await context.close();
  });
}

/** Waits until the node lists the page no more, failing `bound` ms after `since`, when the page `how`. */
async function dropped(onNode, since, bound, how) {
  while ((await onNode()).length > 0) {
    assert.ok(Date.now() - since < bound, `the node still lists the page ${Date.now() - since} ms after it ${how}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

// A page that goes away must not leave its connection on the node: over
// WebRTC-direct it lingered ~30 s (libp2p-webrtc ignored the SCTP ABORT a
// closing page sends and its ICE failing; see vendor/libp2p-webrtc). A page
// that vanishes (its renderer crashes: nothing is sent, no pagehide) is
// noticed by silence: the node keeps the page's SCTP stack answering
// (vendor/libp2p-webrtc, WEFTDB-PATCH 5), so ~3.5 s of silence is enough.
const CLOSE = {
  "closes its database": (page) => page.evaluate(() => window.db.close()),
  "navigates away": (page) => page.goto("about:blank"),
  "is closed": (page) => page.close(),
  vanishes: async (page) => {
    // Chromium's renderer crash, through the DevTools protocol: the
    // command never answers (its target is gone).
    const cdp = await page.context().newCDPSession(page);
    const crashed = new Promise((resolve) => page.once("crash", resolve));
    cdp.send("Page.crash").catch(() => {});
    await crashed;
  },
};
/** Why a close cannot be made in this browser, or false. */
const NO_CLOSE = {
  vanishes: BROWSER === "firefox" && "crashing a page takes the DevTools protocol (Chromium)",
};
for (const transport of ["webrtc-direct", "webtransport", "websocket"]) {
  for (const [how, close] of Object.entries(CLOSE)) {
    const skip = (transport === "webrtc-direct" && NO_WEBRTC) || NO_CLOSE[how] || false;
    // Firefox closes a closed or navigated-away page's WebTransport session
    // at once in most runs, and in others ends the page's streams but keeps
    // the session, answering the node's keep-alives, for over 60 s
    // (2026-12-03: 9 of 34 cases over 5 s; TESTING.md, "Not met").
    const todo =
      BROWSER === "firefox" && transport === "webtransport" && (how === "navigates away" || how === "is closed") &&
      "Firefox sometimes keeps a gone page's WebTransport session for over 60 s";
    const bound = 5_000;
    test(`a page connected over ${transport} that ${how} is dropped by the node within ${bound / 1000} s`, { skip, todo }, async () => {
      const { page, context, onNode } = await pageOnNode("gone", transport);
      const closed = Date.now();
      await close(page);
      await dropped(onNode, closed, bound, how);
      console.log(`# ${transport} page that ${how}: dropped by the node after ${Date.now() - closed} ms`);
      await context.close();
    });
  }
}

// The page closes its database while its WebRTC-direct handshake is still
// going: the node (the Noise initiator) has finished and lists the page, the
// page has not read the node's last message yet. Closing drops the page's
// pending dial, which left its RTCPeerConnection open: the page's SCTP stack
// kept answering the node's keepalives and the node kept the page for good
// (the test above failed so now and then, when `close` fell in those few
// milliseconds; vendor/libp2p-webrtc-websys, WEFTDB-PATCH.md). Here the page
// holds back the node's last handshake messages, so the close always does.
const HOLD_HANDSHAKE = () => {
  const create = RTCPeerConnection.prototype.createDataChannel;
  RTCPeerConnection.prototype.createDataChannel = function (label, options) {
    const channel = create.call(this, label, options);
    // The handshake's channel (negotiated, id 0): from the node's second message on.
    if (options?.negotiated && options.id === 0) {
      let n = 0;
      window.held = 0;
      channel.addEventListener("message", (ev) => {
        if (++n < 2) return;
        ev.stopImmediatePropagation();
        window.held++;
      });
    }
    return channel;
  };
};
test("a page that closes its database in the middle of its webrtc-direct handshake is dropped by the node within 5 s", { skip: NO_WEBRTC || (BROWSER === "firefox" && "holds back handshake messages through an init script, which only Playwright's pages run") }, async () => {
  const { page, context, onNode } = await pageOnNode("gone", "webrtc-direct", { init: HOLD_HANDSHAKE });
  // The hold took: the node's last handshake message reached the page and was kept from it.
  await until(page, "a handshake message held back", () => window.held >= 1);
  const closed = Date.now();
  await page.evaluate(() => window.db.close());
  await dropped(onNode, closed, 5_000, "closed its database");
  console.log(`# webrtc-direct page closed mid-handshake: dropped by the node after ${Date.now() - closed} ms`);
  await context.close();
});

// The other side of dropping a silent page quickly: a live page that says
// nothing is never dropped. Over WebRTC-direct the node (ICE-lite) hears an
// idle page only through its ICE consent checks (every ~2.6 s in Chromium,
// 4 to 6 s in Firefox) and the SCTP acknowledgements of the node's own
// keepalives. WEFT_IDLE_MS sets how long (20 s by default). The three
// transports' pages idle side by side, in contexts of their own: one wait of
// IDLE, not three (CI's time).
const IDLE = Number(process.env.WEFT_IDLE_MS ?? 20_000);
const IDLE_TRANSPORTS = ["webrtc-direct", "webtransport", "websocket"].filter((t) => !(t === "webrtc-direct" && NO_WEBRTC));
test(`idle pages connected over ${IDLE_TRANSPORTS.join(", ")} (one each, side by side) stay connected to the node for ${IDLE / 1000} s`, { timeout: IDLE + 60_000 }, async () => {
  const opened = await Promise.allSettled(IDLE_TRANSPORTS.map((transport) => pageOnNode("idle", transport)));
  const pages = opened.filter((o) => o.status === "fulfilled").map((o) => o.value);
  try {
    for (const o of opened) if (o.status === "rejected") throw o.reason;
    const first = await Promise.all(pages.map(async ({ onNode }) => (await onNode())[0]));
    for (const start = Date.now(); Date.now() - start < IDLE; ) {
      for (const [i, { onNode }] of pages.entries()) {
        assert.deepEqual(await onNode(), [first[i]], `the idle ${IDLE_TRANSPORTS[i]} page's connection changed after ${Date.now() - start} ms`);
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    for (const { page } of pages) await page.evaluate(() => window.db.close());
  } finally {
    for (const { context } of pages) await context.close().catch(() => {});
  }
});

/**
 * Counts the blocks a page hands its signature-checking worker
 * (`src/node/webcrypto.rs`: a batch's `ends` has one entry a block), in
 * `window.toWorker`. An init script: it runs before the page's own.
 */
function countToWorker() {
  window.toWorker = 0;
  const post = Worker.prototype.postMessage;
  Worker.prototype.postMessage = function (message, transfer) {
    if (message?.args) window.toWorker += message.args[2].length;
    return post.call(this, message, transfer);
  };
}

/** Keeps every data channel of the page's peer connections in `window.channels` (made or received). */
function trackChannels() {
  window.channels = [];
  const Native = window.RTCPeerConnection;
  window.RTCPeerConnection = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener("datachannel", (ev) => window.channels.push(ev.channel));
    }
    createDataChannel(...args) {
      const channel = super.createDataChannel(...args);
      window.channels.push(channel);
      return channel;
    }
  };
}

test("over WebRTC-direct every exchange closes its streams (FIN/FIN_ACK): 30 replicated writes reach the node promptly, and their data channels are closed after", { skip: NO_INIT_SCRIPT }, async (t) => {
  // A node of its own: the streams and connections counted are this test's only.
  const own = await startNode();
  try {
    await own.post("schema", SDL);
    const { page, context, problems } = await freshPage({ init: trackChannels });
    const addr = own.addr("webrtc-direct");
    await page.evaluate(
      async ({ addr, sdl, nodeId }) => {
        window.db = await weft.Database.open("fin", { peers: [addr] });
        await window.db.addSchema(sdl);
        for (;;) {
          const conns = await window.db.connections();
          if (conns.some((c) => c.peerId === nodeId && c.transport === "webrtc-direct")) break;
          await new Promise((r) => setTimeout(r, 50));
        }
        await window.db.replicators.set({ collection: "Book", peer: addr });
      },
      { addr, sdl: SDL, nodeId: own.info.peerId },
    );
    const onNode = async (id) => (await fetch(`${own.api}/collections/Book/${id}`)).ok;
    // One write at a time: each is one /weft/replicate/1 exchange on a stream (a data channel) of its own.
    const rounds = [];
    for (let i = 0; i < 30; i++) {
      const t0 = Date.now();
      const id = await page.evaluate((i) => window.db.collection("Book").create({ title: `fin ${i}`, pages: i }), i);
      while (!(await onNode(id))) {
        assert.ok(Date.now() - t0 < WAIT, `write ${i} never reached the node`);
        await new Promise((r) => setTimeout(r, 5));
      }
      rounds.push(Date.now() - t0);
    }
    const sorted = [...rounds].sort((a, b) => a - b);
    t.diagnostic(`write to node over webrtc-direct, ms: median ${sorted[15]}, max ${sorted.at(-1)}`);
    // Long-lived streams (ping, gossipsub both ways, the Noise handshake's channel) stay; the
    // exchanges' channels are closed once both sides have sent FIN and had it acknowledged.
    let channels;
    for (let t0 = Date.now(); ; ) {
      channels = await page.evaluate(() => window.channels.map((c) => c.readyState));
      const open = channels.filter((s) => s === "open").length;
      if (open <= 8) break;
      assert.ok(Date.now() - t0 < 10_000, `${open} of the page's ${channels.length} data channels still open`);
      await new Promise((r) => setTimeout(r, 100));
    }
    t.diagnostic(`data channels: ${channels.length} made, ${channels.filter((s) => s === "open").length} open`);
    assert.ok(channels.length >= 30, `only ${channels.length} data channels: the writes did not take a stream each`);
    // A stream's reads and writes never saw a stray flag or an early end: the node holds every write.
    assert.equal((await own.get("collections/Book?limit=1000")).filter((b) => b.title.startsWith("fin ")).length, 30);
    await page.evaluate(() => window.db.close());
    const known = /closure invoked recursively or after being dropped/;
    assert.deepEqual(problems.filter((p) => !known.test(p)), []);
    await context.close();
  } finally {
    await own.stop();
  }
});

test("the page's peer id is kept in IndexedDB: the same after a reload", async () => {
  const { page, context } = await freshPage();
  const first = await page.evaluate(async () => {
    const db = await weft.Database.open("identity");
    const id = db.peerId;
    await db.close();
    return id;
  });
  assert.match(first, /^12D3KooW/);
  await page.reload();
  const again = await page.evaluate(async () => {
    const weft = await import("/pkg/weftdb.js");
    await weft.default();
    const db = await weft.Database.open("identity", { peers: [] , p2p: true });
    return db.peerId;
  });
  assert.equal(again, first);
  await context.close();
});

test("without p2p no network runs; bad options are refused with clear errors", async () => {
  const { page, context } = await freshPage();
  const r = await page.evaluate(async (addr) => {
    const db = await weft.Database.open("offline");
    const conns = await db.connections();
    const dial = await db.dial(addr).then(() => "dialled", (e) => e.code);
    await db.close();
    const errors = [];
    for (const opts of [{ peers: ["not a multiaddr"] }, { peers: [addr], p2p: false }, { peer: [addr] }, { p2p: "yes" }]) {
      errors.push(await weft.Database.open("bad", opts).then(() => "opened", (e) => `${e.code}: ${e.message}`));
    }
    return { conns, dial, errors };
  }, node.addr("websocket"));
  assert.deepEqual(r.conns, []);
  assert.equal(r.dial, "VALIDATION");
  assert.equal(r.errors.length, 4);
  for (const e of r.errors) assert.match(e, /^VALIDATION: /);
  assert.match(r.errors[0], /not a multiaddr/);
  await context.close();
});

const SDL = "type Book { title: String! @index pages: Int }";

/** Opens the database "sync" in `page`, connected to the node, with Book subscribed. */
async function joinBooks(page) {
  await page.evaluate(
    async ({ addr, sdl, nodeId }) => {
      window.db = await weft.Database.open("sync", { peers: [addr] });
      // A page reopening its database has the schema already.
      if (!window.db.collectionNames().includes("Book")) await window.db.addSchema(sdl);
      for (;;) {
        if ((await window.db.connections()).some((c) => c.peerId === nodeId)) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      await window.db.collections.subscribe("Book");
    },
    { addr: node.addr("websocket"), sdl: SDL, nodeId: node.info.peerId },
  );
}

test("a document made on page A appears on page B through the node, the reverse too, and concurrent edits converge", async () => {
  // The node relays Book (it holds the topic) and keeps a replica of it.
  await node.post("schema", SDL).catch(() => {});
  await node.post("p2p/collections/Book");
  const a = await freshPage();
  const b = await freshPage();
  await joinBooks(a.page);
  await joinBooks(b.page);
  const mesh = async () => (await node.get("p2p/stats")).mesh["weft/col/Book"] ?? 0;
  for (let t = Date.now(); (await mesh()) < 2; ) {
    assert.ok(Date.now() - t < WAIT, "the node's Book topic never meshed with both pages");
    await new Promise((r) => setTimeout(r, 100));
  }

  const id = await a.page.evaluate(() => window.db.collection("Book").create({ title: "Dune", pages: 412 }));
  await until(b.page, "A's document on B", (id) => window.db.collection("Book").get(id).then((d) => d?.title === "Dune"), id);
  const back = await b.page.evaluate(() => window.db.collection("Book").create({ title: "Emma" }));
  await until(a.page, "B's document on A", (id) => window.db.collection("Book").get(id).then((d) => d?.title === "Emma"), back);

  // The same document edited on both pages at once.
  await Promise.all([
    a.page.evaluate((id) => window.db.collection("Book").update(id, { pages: 1 }), id),
    b.page.evaluate((id) => window.db.collection("Book").update(id, { pages: 2, title: "Dune Messiah" }), id),
  ]);
  let sa;
  let sb;
  for (let t = Date.now(); ; ) {
    [sa, sb] = [await stateOf(a.page, id), await stateOf(b.page, id)];
    if (sa === sb && JSON.parse(sa)[0].title === "Dune Messiah") break;
    assert.ok(Date.now() - t < WAIT, `A and B did not converge:\nA ${sa}\nB ${sb}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const [doc, heads] = JSON.parse(sa);
  assert.ok([1, 2].includes(doc.pages), JSON.stringify(doc));
  // Two heads when the edits crossed; one when a page heard the other's
  // first (two page.evaluate calls are not one instant: under load they can be
  // tens of milliseconds apart).
  assert.ok([1, 2].includes(heads.length), sa);
  // The node holds the same state, once it has merged both edits: the pages
  // may have them from each other first (over their direct connection).
  for (let t = Date.now(); ; ) {
    const onNode = await node.get(`collections/Book/${id}`);
    if (isDeepStrictEqual(onNode, doc)) break;
    assert.ok(Date.now() - t < WAIT, `the node never held the pages' state: ${JSON.stringify(onNode)} (pages: ${sa})`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const problems = [...a.problems, ...b.problems];
  assert.deepEqual(problems, []);
  await a.context.close();
  await b.context.close();
});

for (const transport of ["websocket", "webtransport", "webrtc-direct"]) {
  const skip = transport === "webrtc-direct" && NO_WEBRTC;
  test(`page A's replicator to the node delivers across the node's restart over ${transport}, and survives A's reload`, { skip }, async () => {
    let archive = await startNode();
    try {
      await archive.post("schema", SDL);
      const addr = archive.addr(transport);
      const { page, context, problems } = await freshPage();
      await page.evaluate(
        async ({ addr, sdl }) => {
          window.db = await weft.Database.open("replicated", { peers: [addr] });
          await window.db.addSchema(sdl);
          await window.db.replicators.set({ collection: "Book", peer: addr });
          const books = window.db.collection("Book");
          for (let i = 0; i < 5; i++) await books.create({ title: `before ${i}`, pages: i });
        },
        { addr, sdl: SDL },
      );
      const count = async () => (await archive.get("collections/Book?limit=1000")).length;
      for (let t = Date.now(); (await count()) < 5; ) {
        assert.ok(Date.now() - t < WAIT, `the node has ${await count()} of 5 documents`);
        await new Promise((r) => setTimeout(r, 100));
      }
      // The node holds them before its acknowledgement reaches the page.
      await until(page, "the first five acknowledged", async () => (await window.db.replicators.list())[0].queued === 0);

      await archive.stop();
      await page.evaluate(async () => {
        const books = window.db.collection("Book");
        for (let i = 0; i < 50; i++) await books.create({ title: `offline ${i}`, pages: 100 + i });
      });
      const queued = await page.evaluate(() => window.db.replicators.list());
      assert.equal(queued.length, 1);
      assert.equal(queued[0].queued, 50, JSON.stringify(queued));

      archive = await archive.restart();
      for (let t = Date.now(); (await count()) < 55; ) {
        assert.ok(Date.now() - t < 2 * WAIT, `after the restart the node has ${await count()} of 55 documents`);
        await new Promise((r) => setTimeout(r, 200));
      }
      const offline = await archive.get(`collections/Book?filter=${encodeURIComponent('{"pages":{"_ge":100}}')}&limit=1000`);
      assert.equal(offline.length, 50);

      // The node may count a push before its acknowledgement reaches the
      // page: the page's outbox drains just after.
      await until(page, "an empty outbox", async () => (await window.db.replicators.list())[0].queued === 0);
      await page.reload();
      const after = await page.evaluate(async (addr) => {
        const weft = await import("/pkg/weftdb.js");
        await weft.default();
        const db = await weft.Database.open("replicated", { peers: [addr] });
        return db.replicators.list();
      }, addr);
      assert.deepEqual(
        after.map((r) => [r.peerId, r.collection, r.queued]),
        [[archive.info.peerId, "Book", 0]],
      );
      // While the node was down the browser logged each refused redial.
      assert.deepEqual(problems.filter((p) => !refused(p)), []);
      await context.close();
    } finally {
      await archive.stop();
    }
  });
}

test("page B closes, A makes 2,200 changes, B reopens: sync events report its progress, B checks each block once and converges", async () => {
  await node.post("schema", SDL).catch(() => {});
  await node.post("p2p/collections/Book");
  const a = await freshPage();
  const b = await freshPage();
  await joinBooks(a.page);
  await joinBooks(b.page);
  // B goes away: its tab closes (its IndexedDB stays in its browser context).
  await b.page.evaluate(() => window.db.close());
  await b.page.close();

  const ids = await a.page.evaluate(async () => {
    const books = window.db.collection("Book");
    const ids = await books.createMany(Array.from({ length: 200 }, (_, i) => ({ title: `offline ${i}`, pages: i })));
    for (let round = 0; round < 10; round++) {
      for (const id of ids) await books.update(id, { pages: 1000 * (round + 1) });
    }
    return ids;
  });
  assert.equal(ids.length, 200);
  // The node has every change (it holds the topic): wait for it.
  const filter = encodeURIComponent(JSON.stringify({ pages: { _eq: 10000 } }));
  for (let t = Date.now(); (await node.get(`collections/Book?filter=${filter}&limit=1000`)).length < 200; ) {
    assert.ok(Date.now() - t < 2 * WAIT, "the node did not get A's 2,200 changes");
    await new Promise((r) => setTimeout(r, 200));
  }
  // A goes away too, so that B catches up from the node alone (A would
  // meet B through the node's relay and push to it as well); its heads
  // of one document, for the end.
  const sample = ids[17];
  const onA = await a.page.evaluate((id) => window.db.collection("Book").heads(id), sample);
  await a.page.evaluate(() => window.db.close());

  // B comes back in a new tab of the same browser, counting the blocks it
  // hands to its checking worker.
  const page = await b.context.newPage();
  const problems = watchPage(page);
  if (!NO_INIT_SCRIPT) await page.addInitScript(countToWorker);
  await page.goto(`${server.url}/tests/browser/blank.html`);
  const { events: progress, toWorker } = await page.evaluate(
    async ({ addr, ids }) => {
      const weft = await import("/pkg/weftdb.js");
      await weft.default();
      const events = [];
      const db = await weft.Database.open("sync", { peers: [addr] });
      db.on("sync", (ev) => events.push(ev));
      const books = db.collection("Book");
      const deadline = Date.now() + 60_000;
      for (;;) {
        const done = await books.count({ filter: { pages: { _eq: 10000 }, _id: { _in: ids } } });
        if (done === ids.length) break;
        if (Date.now() > deadline) throw new Error(`B has ${done} of ${ids.length} documents up to date`);
        await new Promise((r) => setTimeout(r, 100));
      }
      await db.close();
      return { events, toWorker: window.toWorker };
    },
    { addr: node.addr("websocket"), ids },
  );
  assert.ok(progress.length >= 1, "no sync event");
  for (const ev of progress) {
    assert.equal(ev.peerId, node.info.peerId);
    assert.ok(ev.blocksReceived <= ev.blocksWanted, JSON.stringify(ev));
  }
  const last = progress.at(-1);
  assert.equal(last.blocksReceived, last.blocksWanted, JSON.stringify(progress));
  assert.ok(last.blocksReceived >= 2200, `B received ${last.blocksReceived} blocks: ${JSON.stringify(progress)}`);
  // Three pushes or more (at most 1,024 blocks each), which may come out
  // of the order they were sent in (the last, smaller one first): the
  // progress above still ends at what was wanted
  // (`core::replica::progress`). The worker checks them, each block once
  // (a push too small for it, or a single gossiped block, is checked in
  // wasm); counted where the page runs init scripts.
  if (!NO_INIT_SCRIPT) {
    assert.ok(toWorker <= last.blocksReceived, `${toWorker} blocks handed to the worker for ${last.blocksReceived} received`);
    assert.ok(toWorker >= 2048, `only ${toWorker} of ${last.blocksReceived} blocks were checked in the worker`);
  }
  const counts = progress.map((e) => e.blocksReceived);
  assert.deepEqual(counts, [...counts].sort((x, y) => x - y), "progress only grows");
  // Same heads on A as on B (B read them before closing: compare through the node).
  assert.deepEqual(await node.get(`collections/Book/${sample}/heads`), onA);
  assert.deepEqual(problems, []);
  await a.context.close();
  await b.context.close();
});

test("a page whose CSP forbids workers checks a batch's signatures itself, and takes it", async () => {
  await node.post("schema", SDL).catch(() => {});
  await node.post("p2p/collections/Book");
  const books = async (n, what) => {
    const made = [];
    for (let i = 0; i < n; i++) made.push((await node.post("collections/Book", JSON.stringify({ title: `${what} ${i}`, pages: 1 })))._id);
    return made;
  };
  const has = (ids) =>
    until(
      page,
      "the node's books",
      async (ids) => (await window.db.collection("Book").find({ filter: { _id: { _in: ids } } })).length === ids.length,
      ids,
    );
  // A page whose policy refuses every worker. Its node asks for the
  // worker as it starts; refused, the worker is given up (a batch it held
  // by then is checked by dalek), and the page checks its batches (head
  // exchange sends the node's new blocks as one) with WebCrypto itself.
  const first = await books(12, "before");
  const context = await browser.newContext();
  const { page, problems } = await weftTab(context, server, { html: "no-workers.html" });
  await joinBooks(page);
  await has(first);
  assert.ok((await page.evaluate(() => window.refused)).includes("worker-src"), "the page asked for a worker and was refused");
  await page.evaluate(() => window.db.close());
  const second = await books(12, "while the page was closed");
  const before = await page.evaluate(() => window.checkedHere);
  await joinBooks(page);
  await has(second);
  assert.ok((await page.evaluate(() => window.checkedHere)) - before >= 12, "the page's WebCrypto checked the second batch");
  await page.evaluate(() => window.db.close());
  // The browser reports the refused worker itself.
  assert.deepEqual(problems.filter((p) => !/Content.Security.Policy/.test(p)), []);
  await context.close();
});

/**
 * Two pages that know only `relay` (a node of their own, which neither
 * holds Book nor forwards its topic): each opens "direct" with `options`,
 * and waits for the other among its connections.
 */
async function twoPagesThrough(relay, options, pageOptions) {
  const pages = [await freshPage(pageOptions), await freshPage(pageOptions)];
  const ids = [];
  for (const p of pages) {
    ids.push(
      await p.page.evaluate(
        async ({ addr, sdl, options }) => {
          window.db = await weft.Database.open("direct", { peers: [addr], ...options });
          await window.db.addSchema(sdl);
          await window.db.collections.subscribe("Book");
          return window.db.peerId;
        },
        { addr: relay.addr("websocket"), sdl: SDL, options },
      ),
    );
  }
  return { pages, ids };
}

/** Runs `fn` with a node of its own (stopped after, however `fn` ends). */
async function withRelay(fn) {
  const relay = await startNode();
  try {
    await fn(relay);
  } finally {
    await relay.stop();
  }
}

/** `page`'s connections to `peerId`, as [transport, ...]. */
const transportsTo = (page, peerId) =>
  page.evaluate(async (peerId) => (await window.db.connections()).filter((c) => c.peerId === peerId).map((c) => c.transport), peerId);

test("two pages that know only the node meet through its relay, upgrade to direct WebRTC, and keep syncing when the node dies", { skip: NO_WEBRTC }, async () => {
  await withRelay(async (relay) => {
    const { pages, ids } = await twoPagesThrough(relay, {});
    const [a, b] = pages;
    // A direct connection, seen from both sides; the relayed one is closed.
    await until(a.page, "a WebRTC connection from A to B", async (id) =>
      (await window.db.connections()).some((c) => c.peerId === id && c.transport === "webrtc"), ids[1]);
    await until(b.page, "a WebRTC connection from B to A", async (id) =>
      (await window.db.connections()).some((c) => c.peerId === id && c.transport === "webrtc"), ids[0]);
    for (let t = Date.now(); (await transportsTo(a.page, ids[1])).includes("relay"); ) {
      assert.ok(Date.now() - t < WAIT, "the relayed connection stayed open beside the direct one");
      await new Promise((r) => setTimeout(r, 100));
    }
    // Every connection between them direct: under load A has been seen
    // holding two direct connections to B (open, see TESTING.md).
    const direct = await transportsTo(a.page, ids[1]);
    assert.ok(direct.length > 0 && direct.every((t) => t === "webrtc"), JSON.stringify(direct));

    // The node goes away: only the direct connection is left.
    await relay.stop();
    await until(a.page, "A to notice the node is gone", async (id) =>
      !(await window.db.connections()).some((c) => c.peerId === id), relay.info.peerId);
    await editsConverge(a.page, b.page);
    assert.deepEqual(await transportsTo(a.page, ids[1]), ["webrtc"]);

    // Redials of the stopped node (at every address the pages learnt of
    // it) are all the browser may complain of.
    assert.deepEqual([...a.problems, ...b.problems].filter((p) => !refused(p)), []);
    await a.context.close();
    await b.context.close();
  });
});

test("a page catching up from another over direct WebRTC checks each block once, pushes that came while it merged among them", { skip: NO_INIT_SCRIPT || NO_WEBRTC }, async (t) => {
  await withRelay(async (relay) => {
    // The relay holds no Book: B's blocks come from A alone.
    const { pages, ids } = await twoPagesThrough(relay, {}, { init: countToWorker });
    const [a, b] = pages;
    await until(b.page, "a WebRTC connection from B to A", async (id) =>
      (await window.db.connections()).some((c) => c.peerId === id && c.transport === "webrtc"), ids[0]);
    await b.page.evaluate(() => window.db.close());
    const made = await a.page.evaluate(async () => {
      const books = window.db.collection("Book");
      const ids = await books.createMany(Array.from({ length: 200 }, (_, i) => ({ title: `missed ${i}`, pages: 0 })));
      for (let round = 1; round <= 40; round++) await Promise.all(ids.map((id) => books.update(id, { pages: round })));
      return ids.length;
    });
    assert.equal(made, 200);
    // B opens its database again: A pushes it the 8,200 blocks it lacks,
    // three pushes at a time, and sends the next while B merges one. The driver
    // of B's node begins the check of such a push in the worker during the
    // merge, and the node takes that check rather than asking for its own
    // (`Node::begun`): each block goes to the worker once.
    const { toWorker, received } = await b.page.evaluate(
      async ({ addr, a }) => {
        const before = window.toWorker;
        const last = new Map();
        window.db = await weft.Database.open("direct", { peers: [addr] });
        window.db.on("sync", (ev) => last.set(ev.peerId, ev.blocksReceived));
        const books = window.db.collection("Book");
        for (const deadline = Date.now() + 60_000; ; ) {
          if ((await books.count({ filter: { pages: { _eq: 40 } } })) === 200) break;
          if (Date.now() > deadline) throw new Error("B did not catch up with A");
          await new Promise((r) => setTimeout(r, 100));
        }
        if ([...last.keys()].some((p) => p !== a)) throw new Error(`blocks from others than A: ${[...last.keys()]}`);
        return { toWorker: window.toWorker - before, received: last.get(a) ?? 0 };
      },
      { addr: relay.addr("websocket"), a: ids[0] },
    );
    assert.ok(received >= 8200, `B heard of ${received} blocks received from A`);
    t.diagnostic(`${received} blocks received from A, ${toWorker} checked in B's worker`);
    assert.ok((await transportsTo(b.page, ids[0])).includes("webrtc"), "B caught up over a direct connection");
    assert.ok(toWorker <= received, `${toWorker} blocks handed to the worker for ${received} received`);
    assert.ok(toWorker >= 8192, `only ${toWorker} of ${received} blocks were checked in the worker`);
    assert.deepEqual([...a.problems, ...b.problems], []);
    await a.context.close();
    await b.context.close();
  });
});

test("over direct WebRTC between pages, finished exchanges close their data channels too (FIN/FIN_ACK)", { skip: NO_INIT_SCRIPT || NO_WEBRTC }, async (t) => {
  await withRelay(async (relay) => {
    // The pages reach the relay over WebSocket: every data channel tracked is a direct one.
    const { pages, ids } = await twoPagesThrough(relay, {}, { init: trackChannels });
    const [a, b] = pages;
    await until(a.page, "a WebRTC connection from A to B", async (id) =>
      (await window.db.connections()).some((c) => c.peerId === id && c.transport === "webrtc"), ids[1]);
    await editsConverge(a.page, b.page);
    // Identify, the head exchanges and block fetches took streams of their own and are done:
    // their channels are closed on both sides, while the connection's long-lived streams
    // (ping and gossipsub, one of each each way) stay open. Before FIN_ACK they all stayed
    // open. (This asked for most channels closed while pages ran Kademlia, whose queries
    // to each other added closed channels; without them a sync can take as few
    // short-lived channels as there are long-lived ones.)
    const LONG_LIVED = 4;
    const states = (page) => page.evaluate(() => window.channels.map((c) => c.readyState));
    let seen;
    for (let t0 = Date.now(); ; ) {
      seen = [await states(a.page), await states(b.page)];
      const closed = (s) => s.filter((x) => x === "closed").length;
      // At least identify's two streams closed, and nothing open but the long-lived ones.
      const settled = (s) => closed(s) >= 2 && s.length - closed(s) <= LONG_LIVED;
      if (seen.every(settled)) break;
      assert.ok(Date.now() - t0 < 10_000, `direct data channels beyond ping and gossipsub still open: ${JSON.stringify(seen)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    for (const [who, s] of [["A", seen[0]], ["B", seen[1]]]) {
      t.diagnostic(`${who}: ${s.length} direct data channels, ${s.filter((x) => x === "closed").length} closed`);
    }
    // The relayed connection closes once the direct one is up, but not
    // necessarily before the channels above did.
    await until(a.page, "the relayed connection from A to B to close", async (id) =>
      !(await window.db.connections()).some((c) => c.peerId === id && c.transport === "relay"), ids[1]);
    // Every connection between them direct (once, in a CI run under load, A
    // held two direct connections to B: not why this test is here).
    const direct = await transportsTo(a.page, ids[1]);
    assert.ok(direct.length > 0 && direct.every((t) => t === "webrtc"), JSON.stringify(direct));
    const known = /closure invoked recursively or after being dropped/;
    assert.deepEqual([...a.problems, ...b.problems].filter((p) => !known.test(p)), []);
    await a.context.close();
    await b.context.close();
  });
});

test("with directUpgrade: false two pages sync over the node's relay alone", async () => {
  await withRelay(async (relay) => {
    const { pages, ids } = await twoPagesThrough(relay, { directUpgrade: false });
    const [a, b] = pages;
    await until(a.page, "a relayed connection from A to B", async (id) =>
      (await window.db.connections()).some((c) => c.peerId === id && c.transport === "relay"), ids[1]);
    // The node holds no Book schema and no Book topic: the edits can only
    // take the circuit between the pages.
    await editsConverge(a.page, b.page);
    // Every connection between them went through the relay.
    for (const [page, other] of [[a.page, ids[1]], [b.page, ids[0]]]) {
      const ts = await transportsTo(page, other);
      assert.ok(ts.length > 0 && ts.every((t) => t === "relay"), JSON.stringify(ts));
    }
    assert.deepEqual([...a.problems, ...b.problems], []);
    await a.context.close();
    await b.context.close();
  });
});

test("when the other page refuses the direct upgrade, the two sync over the relay", async () => {
  await withRelay(async (relay) => {
    const pages = [await freshPage(), await freshPage()];
    const ids = [];
    for (const p of pages) {
      ids.push(
        await p.page.evaluate(async () => {
          const db = await weft.Database.open("fallback");
          const id = db.peerId;
          await db.close();
          return id;
        }),
      );
    }
    // The page with the smaller id dials the other through the relay and
    // offers WebRTC (ids of one length sort as their bytes do); the other
    // page has the upgrade off, so it refuses the offer.
    const offerer = ids[0] < ids[1] ? 0 : 1;
    for (const [i, p] of pages.entries()) {
      await p.page.evaluate(
        async ({ addr, sdl, directUpgrade }) => {
          window.db = await weft.Database.open("fallback", { peers: [addr], directUpgrade });
          await window.db.addSchema(sdl);
          await window.db.collections.subscribe("Book");
        },
        { addr: relay.addr("websocket"), sdl: SDL, directUpgrade: i === offerer },
      );
    }
    const [a, b] = pages;
    await until(a.page, "a relayed connection from A to B", async (id) =>
      (await window.db.connections()).some((c) => c.peerId === id && c.transport === "relay"), ids[1]);
    const offering = pages[offerer].page;
    await until(offering, "the refused offer", async () => (await window.db.networkStats()).directFailures >= 1);
    await editsConverge(a.page, b.page);
    for (const [page, other] of [[a.page, ids[1]], [b.page, ids[0]]]) {
      const ts = await transportsTo(page, other);
      assert.ok(ts.length > 0 && ts.every((t) => t === "relay"), JSON.stringify(ts));
    }
    assert.equal((await offering.evaluate(() => window.db.networkStats())).directUpgrades, 0);
    assert.deepEqual([...a.problems, ...b.problems], []);
    await a.context.close();
    await b.context.close();
  });
});

test("a page whose key is not among a collection's writers changes nothing on another page or on the node; the writer's changes flow", async () => {
  const a = await freshPage();
  const b = await freshPage();
  const open = (page) =>
    page.evaluate(
      async ({ addr, nodeId }) => {
        window.db = await weft.Database.open("policy", { peers: [addr] });
        while (!(await window.db.connections()).some((c) => c.peerId === nodeId)) {
          await new Promise((r) => setTimeout(r, 50));
        }
        return window.db.authorKey;
      },
      { addr: node.addr("websocket"), nodeId: node.info.peerId },
    );
  const keyA = await open(a.page);
  const keyB = await open(b.page);
  assert.match(keyA, /^[0-9a-f]{64}$/);
  assert.notEqual(keyA, keyB);
  const sdl = `type Memo @policy(writers: ["${keyA}"]) { text: String }`;
  await node.post("schema", sdl);
  await node.post("p2p/collections/Memo");
  await a.page.evaluate(async (sdl) => {
    await window.db.addSchema(sdl);
    await window.db.collections.subscribe("Memo");
  }, sdl);
  // B runs a schema without the policy (another version of the app, or a
  // hostile one), so its own database lets it write.
  await b.page.evaluate(async () => {
    await window.db.addSchema("type Memo { text: String }");
    await window.db.collections.subscribe("Memo");
  });
  const mesh = async () => (await node.get("p2p/stats")).mesh["weft/col/Memo"] ?? 0;
  for (let t = Date.now(); (await mesh()) < 2; ) {
    assert.ok(Date.now() - t < WAIT, "the node's Memo topic never meshed with both pages");
    await new Promise((r) => setTimeout(r, 100));
  }

  const memo = (page, fn, arg) => page.evaluate(fn, arg);
  const id = await memo(a.page, () => window.db.collection("Memo").create({ text: "from A" }));
  await until(b.page, "A's memo on B", (id) => window.db.collection("Memo").get(id).then((d) => d?.text === "from A"), id);
  const spam = await memo(b.page, async (id) => {
    await window.db.collection("Memo").update(id, { text: "from B" });
    return window.db.collection("Memo").create({ text: "spam" });
  }, id);
  for (let t = Date.now(); (await node.get("p2p/stats")).refused < 2; ) {
    assert.ok(Date.now() - t < WAIT, "the node never refused B's blocks");
    await new Promise((r) => setTimeout(r, 100));
  }
  // The writer's next change reaches everyone, B included.
  await memo(a.page, async (id) => {
    await window.db.collection("Memo").update(id, { text: "from A, again" });
    await window.db.collection("Memo").update(id, { text: "from A, last" });
  }, id);
  await until(b.page, "A's change on B", (id) => window.db.collection("Memo").get(id).then((d) => d?.text === "from A, last"), id);
  // The node has it too, once merged: B may have it from A first (over
  // their direct connection), as in the convergence test above.
  for (let t = Date.now(); ; ) {
    const onNode = await node.get(`collections/Memo/${id}`);
    if (onNode?.text === "from A, last") break;
    assert.ok(Date.now() - t < WAIT, `the node never held A's last change: ${JSON.stringify(onNode)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const [docA, headsA] = await memo(a.page, async (id) => {
    const memos = window.db.collection("Memo");
    return [await memos.get(id), await memos.heads(id)];
  }, id);
  assert.equal(docA.text, "from A, last");
  assert.deepEqual(await node.get(`collections/Memo/${id}/heads`), headsA, "B's change is stored neither on the node nor on A");
  assert.equal(headsA.length, 1);
  assert.equal(await memo(a.page, (spam) => window.db.collection("Memo").get(spam), spam), null);
  assert.equal((await node.get(`collections/Memo/${spam}`)).error?.code, "NOT_FOUND");
  // Schemas that differ are no fault: B is still connected and served.
  assert.equal((await node.get("p2p/stats")).peersDropped, 0);

  // Under the writers' schema B's own database refuses before making a block,
  // and refuses B's blocks from elsewhere.
  const local = await memo(b.page, async (sdl) => {
    const blocks = await window.db.exportBlocks();
    const strict = await weft.Database.open("policy-strict");
    await strict.addSchema(sdl);
    const refused = await strict.collection("Memo").create({ text: "x" }).catch((e) => e.code);
    const report = await strict.importBlocks(blocks);
    const found = await strict.collection("Memo").find({});
    await strict.close();
    return { refused, report, found };
  }, sdl);
  assert.equal(local.refused, "UNAUTHORIZED");
  assert.deepEqual(local.report.refused.map((r) => r.code).sort(), ["UNAUTHORIZED", "UNAUTHORIZED"]);
  assert.equal(local.found.length, 1);
  assert.equal(local.found[0].text, "from A, last");
  assert.deepEqual([...a.problems, ...b.problems], []);
  await a.context.close();
  await b.context.close();
});

for (const [i, transport] of ["websocket", "webtransport", "webrtc-direct"].entries()) {
  const skip = transport === "webrtc-direct" && NO_WEBRTC;
  test(`a change larger than one WebRTC message (16 KiB) reaches the node over ${transport}`, { skip }, async () => {
    const addr = node.addr(transport);
    await node.post("schema", SDL).catch(() => {});
    const { page, context, problems } = await freshPage();
    const title = `big ${transport} ` + "x".repeat(100_000);
    await page.evaluate(
      async ({ addr, sdl, title, pages }) => {
        window.db = await weft.Database.open("big", { peers: [addr] });
        await window.db.addSchema(sdl);
        await window.db.replicators.set({ collection: "Book", peer: addr });
        await window.db.collection("Book").create({ title, pages });
      },
      { addr, sdl: SDL, title, pages: 7000 + i },
    );
    const filter = encodeURIComponent(JSON.stringify({ pages: { _eq: 7000 + i } }));
    const got = async () => (await node.get(`collections/Book?filter=${filter}`)).filter((d) => d.title === title);
    for (let t = Date.now(); (await got()).length < 1; ) {
      assert.ok(Date.now() - t < WAIT, "the node never got the big document");
      await new Promise((r) => setTimeout(r, 200));
    }
    await page.evaluate(() => window.db.close());
    assert.deepEqual(problems.filter((p) => !refused(p)), []);
    await context.close();
  });
}
