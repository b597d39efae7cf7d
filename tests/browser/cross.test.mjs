// A Chromium page and a Firefox page on one database: they converge on
// concurrent edits through a native node over each transport a page
// dials, then directly (they meet through the node's relay and upgrade to
// browser-to-browser WebRTC).
//
//   wasm-pack build --target web --profile wasm
//   tests/browser/netns.sh node --test tests/browser/cross.test.mjs
//
// Firefox gathers WebRTC candidates on its default-route interface only,
// never on loopback: the WebRTC tests need netns.sh and are skipped without.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { serve } from "./serve.mjs";
import { WEB_ROOT, launchBrowser } from "./lib.mjs";
import { WAIT, until, stateOf, editsConverge, weftTab } from "./pages.mjs";
import { startNode } from "./node.mjs";

const NO_WEBRTC = !process.env.WEFT_NETNS_IP && "Firefox has no WebRTC on loopback: run in tests/browser/netns.sh";
const SDL = "type Book { title: String! @index pages: Int }";

let server;
let node;
const browsers = {};

before(async () => {
  node = await startNode();
  await node.post("schema", SDL);
  await node.post("p2p/collections/Book");
  server = await serve({ root: WEB_ROOT, port: 0 });
  browsers.chromium = await launchBrowser("chromium");
  browsers.firefox = await launchBrowser("firefox");
});

after(async () => {
  for (const b of Object.values(browsers)) await b.close().catch(() => {});
  await server?.close();
  await node?.stop();
});

/** A page of `browser` in a fresh context, with weftdb loaded. */
async function freshPage(browser) {
  const context = await browsers[browser].newContext();
  return { context, browser, ...(await weftTab(context, server)) };
}

/** Opens `name` on `page` with `options`, Book schema and topic; resolves to its peer id. */
const open = (page, name, options) =>
  page.evaluate(
    async ({ name, options, sdl }) => {
      window.db = await weft.Database.open(name, options);
      await window.db.addSchema(sdl);
      await window.db.collections.subscribe("Book");
      return window.db.peerId;
    },
    { name, options, sdl: SDL },
  );

/** `page`'s connections to `peerId`, as [transport, ...]. */
const transportsTo = (page, peerId) =>
  page.evaluate(async (id) => (await window.db.connections()).filter((c) => c.peerId === id).map((c) => c.transport), peerId);

for (const transport of ["websocket", "webtransport", "webrtc-direct"]) {
  const skip = transport === "webrtc-direct" && NO_WEBRTC;
  test(`a Chromium page and a Firefox page converge through the node over ${transport}`, { skip }, async () => {
    const pages = [await freshPage("chromium"), await freshPage("firefox")];
    const [a, b] = pages.map((p) => p.page);
    for (const p of pages) {
      await open(p.page, `via-${transport}`, { peers: [node.addr(transport)], directUpgrade: false });
      await until(p.page, `${p.browser}'s ${transport} connection to the node`, async ({ id, transport }) =>
        (await window.db.connections()).some((c) => c.peerId === id && c.transport === transport),
        { id: node.info.peerId, transport });
    }
    const mesh = async () => (await node.get("p2p/stats")).mesh["weft/col/Book"] ?? 0;
    for (let t = Date.now(); (await mesh()) < 2; ) {
      assert.ok(Date.now() - t < WAIT, "the node's Book topic never meshed with both pages");
      await new Promise((r) => setTimeout(r, 100));
    }
    const id = await editsConverge(a, b);
    // The node, which relays the topic, ends with the same document.
    const want = JSON.stringify(JSON.parse(await stateOf(a, id))[0]);
    for (let t = Date.now(); JSON.stringify(await node.get(`collections/Book/${id}`)) !== want; ) {
      assert.ok(Date.now() - t < WAIT, `the node never reached ${want}: ${JSON.stringify(await node.get(`collections/Book/${id}`))}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const known = /closure invoked recursively or after being dropped/; // rust-libp2p#5636, webrtc-websys
    assert.deepEqual([...pages[0].problems, ...pages[1].problems].filter((p) => !known.test(p)), []);
    for (const p of pages) {
      await p.page.evaluate(() => window.db.close());
      await p.context.close();
    }
  });
}

test("a Chromium page and a Firefox page meet through a node's relay, upgrade to direct WebRTC, and converge without the node", { skip: NO_WEBRTC }, async () => {
  // A relay of their own, which holds no Book: edits can only go page to page.
  const relay = await startNode();
  try {
    const pages = [await freshPage("chromium"), await freshPage("firefox")];
    const ids = [];
    for (const p of pages) ids.push(await open(p.page, "direct", { peers: [relay.addr("websocket")] }));
    const [a, b] = pages.map((p) => p.page);
    await until(a, "a WebRTC connection from Chromium to Firefox", async (id) =>
      (await window.db.connections()).some((c) => c.peerId === id && c.transport === "webrtc"), ids[1]);
    await until(b, "a WebRTC connection from Firefox to Chromium", async (id) =>
      (await window.db.connections()).some((c) => c.peerId === id && c.transport === "webrtc"), ids[0]);
    for (let t = Date.now(); (await transportsTo(a, ids[1])).includes("relay"); ) {
      assert.ok(Date.now() - t < WAIT, "the relayed connection stayed open beside the direct one");
      await new Promise((r) => setTimeout(r, 100));
    }
    await relay.stop();
    await until(a, "Chromium to notice the relay is gone", async (id) =>
      !(await window.db.connections()).some((c) => c.peerId === id), relay.info.peerId);
    await editsConverge(a, b);
    assert.deepEqual(await transportsTo(a, ids[1]), ["webrtc"]);
    assert.deepEqual(await transportsTo(b, ids[0]), ["webrtc"]);
    const refused = [
      /closure invoked recursively or after being dropped/, // rust-libp2p#5636, webrtc-websys
      /WebSocket connection to .* failed: .*ERR_CONNECTION_REFUSED/,
      /Failed to establish a connection to https:\/\/127\.0\.0\.1:\d+\/\.well-known\/libp2p-webtransport/,
      /can.t establish a connection to the server at ws:\/\/127\.0\.0\.1/,
      /WebTransport connection rejected|WebTransportError/,
    ];
    const problems = [...pages[0].problems, ...pages[1].problems];
    assert.deepEqual(problems.filter((p) => !refused.some((r) => r.test(p))), []);
    for (const p of pages) await p.context.close();
  } finally {
    await relay.stop();
  }
});

test("a Chromium page and a Firefox page with directUpgrade: false converge over the relay alone", async () => {
  const relay = await startNode();
  try {
    const pages = [await freshPage("chromium"), await freshPage("firefox")];
    const ids = [];
    for (const p of pages) ids.push(await open(p.page, "relayed", { peers: [relay.addr("websocket")], directUpgrade: false }));
    const [a, b] = pages.map((p) => p.page);
    await until(a, "a relayed connection from Chromium to Firefox", async (id) =>
      (await window.db.connections()).some((c) => c.peerId === id && c.transport === "relay"), ids[1]);
    await editsConverge(a, b);
    for (const [page, other] of [[a, ids[1]], [b, ids[0]]]) {
      const ts = await transportsTo(page, other);
      assert.ok(ts.length > 0 && ts.every((t) => t === "relay"), JSON.stringify(ts));
    }
    assert.deepEqual([...pages[0].problems, ...pages[1].problems], []);
    for (const p of pages) await p.context.close();
  } finally {
    await relay.stop();
  }
});
