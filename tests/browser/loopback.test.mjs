// WebRTC-direct on a host with only loopback: the node and a page in
// headless Chromium, both in a network namespace with nothing but `lo`
// (the `loopback-webrtc` step of .ci/test runs it so, as root):
//
//   unshare -n sh -c 'ip link set lo up && exec node --test tests/browser/loopback.test.mjs'
//
// webrtc-rs leaves loopback out of its ICE candidates by default, so such a
// node refused every browser (`ErrCandidateIpNotFound`); on a machine with
// another interface the node took that one and the bug hid. Skipped where
// there is another interface: it proves nothing there.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import os from "node:os";
import { serve } from "./serve.mjs";
import { WEB_ROOT, CHROMIUM_ARGS, CHROMIUM_WEBRTC_ARGS, launchChromium, watchPage } from "./lib.mjs";
import { startNode } from "./node.mjs";

const WAIT = 30_000;
const others = Object.entries(os.networkInterfaces())
  .filter(([, addrs]) => addrs.some((a) => !a.internal))
  .map(([name]) => name);
const skip = others.length > 0 && `this host has interfaces other than loopback (${others.join(", ")})`;

let server;
let browser;
let node;

before(async () => {
  if (skip) return;
  node = await startNode({ listen: ["/ip4/127.0.0.1/udp/0/webrtc-direct"] });
  server = await serve({ root: WEB_ROOT, port: 0 });
  // Checked: with only lo, Chromium connects only with its mDNS hiding of
  // host candidates off (--disable-features=WebRtcHideLocalIpsWithMdns).
  browser = await launchChromium({ args: [...CHROMIUM_ARGS, ...CHROMIUM_WEBRTC_ARGS] });
});

after(async () => {
  await browser?.close().catch(() => {});
  await server?.close();
  await node?.stop();
});

test("on a loopback-only host a page syncs a document with the node over WebRTC-direct, both ways", { skip }, async () => {
  await node.post("schema", "type Note { text: String! }");
  await node.post("p2p/collections/Note");
  // The node's note is there before the page: the page catches up on it
  // when it joins (as any page does), rather than by a live message.
  const back = await node.post("collections/Note", JSON.stringify({ text: "from the node" }));
  const context = await browser.newContext();
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT);
  const problems = watchPage(page);
  await page.goto(`${server.url}/tests/browser/blank.html`);
  await page.evaluate(
    async ({ addr, nodeId }) => {
      const weft = await import("/pkg/weftdb.js");
      await weft.default();
      window.db = await weft.Database.open("loopback", { peers: [addr] });
      await window.db.addSchema("type Note { text: String! }");
      for (let t = Date.now(); !(await window.db.connections()).some((c) => c.peerId === nodeId); ) {
        if (Date.now() - t > 20_000) throw new Error("no WebRTC-direct connection to the node");
        await new Promise((r) => setTimeout(r, 50));
      }
      await window.db.collections.subscribe("Note");
      // The page's notes are pushed to the node until it has them.
      await window.db.replicators.set({ collection: "Note", peer: addr });
    },
    { addr: node.addr("webrtc-direct"), nodeId: node.info.peerId },
  );
  const conns = await page.evaluate(() => window.db.connections());
  assert.deepEqual(conns.map((c) => c.transport), ["webrtc-direct"]);

  // Page to node.
  const id = await page.evaluate(() => window.db.collection("Note").create({ text: "from the page" }));
  for (let t = Date.now(); (await node.get(`collections/Note/${id}`)).text !== "from the page"; ) {
    assert.ok(Date.now() - t < WAIT, `the page's note never reached the node:\n${node.output().slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  // Node to page.
  const backId = back._id;
  for (let t = Date.now(); ; ) {
    const doc = await page.evaluate((id) => window.db.collection("Note").get(id), backId);
    if (doc?.text === "from the node") break;
    assert.ok(Date.now() - t < WAIT, `the node's note never reached the page (${JSON.stringify(back)})`);
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.doesNotMatch(node.output(), /ErrCandidateIpNotFound|Candidate IP could not be found/);
  // See net.test.mjs: libp2p-webrtc-websys's dropped callbacks (rust-libp2p#5636).
  assert.deepEqual(problems.filter((p) => !/closure invoked recursively or after being dropped/.test(p)), []);
  await context.close();
});
