// The demo app (www/) as two people use it: a real node (`weft start`, as
// .ci/demo starts it), person A in one browser context and person B in
// another (their own IndexedDB, so their own identity), each in the app
// through the link the other shares. A opens two more tabs. Saves
// screenshots of A's first tab and B's to target/demo-together.png, target/demo-together-b.png.
//
//   wasm-pack build --target web --profile wasm && node --test tests/browser/demo.test.mjs
//
// Chromium only: going offline is Playwright's `context.setOffline`.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { REPO_ROOT, WEB_ROOT, BROWSER, watchPage } from "./lib.mjs";
import { WAIT, startSuite, stopSuite } from "./pages.mjs";

const SKIP = BROWSER !== "chromium" && "goes offline with Playwright's context.setOffline";
/** The app's schema, as .ci/demo hands it to the node. */
const SDL = fs.readFileSync(path.join(WEB_ROOT, "www", "app.js"), "utf8").match(/const SCHEMA = `([^`]*)`/)[1];
const SAMPLE_COUNT = 6; // www/app.js SAMPLE_BOOKS

let server;
let browser;
let node;
let a; // person A: { context, tabs: [page...] }
let b; // person B

before(async () => {
  if (SKIP) return;
  ({ node, server, browser } = await startSuite(async (node) => {
    await node.post("schema", SDL);
    await node.post("p2p/collections/Book");
  }));
});

after(() => stopSuite({ node, server, browser }));

async function openTab(person, url) {
  const page = await person.context.newPage();
  page.setDefaultTimeout(WAIT);
  const seen = watchPage(page);
  person.problems.push(seen);
  await page.goto(url);
  await page.waitForFunction(() => ["ready", "error"].includes(document.querySelector("#status")?.dataset.state), null, {
    timeout: 60_000,
  });
  const state = await page.getAttribute("#status", "data-state");
  assert.equal(state, "ready", `the app did not start: ${await page.textContent("#error-text")}\n${seen.join("\n")}`);
  person.tabs.push(page);
  return page;
}

const titles = (page) => page.evaluate(() => [...document.querySelectorAll("#book-list li.book .title")].map((e) => e.textContent));
const waitTitle = (page, title) =>
  page.waitForFunction(
    (title) => [...document.querySelectorAll("#book-list li.book .title")].some((e) => e.textContent === title),
    title,
  );
const selfId = (page) => page.getAttribute("#self-id", "data-peer-id");

async function addBook(page, title, author) {
  await page.fill("#title", title);
  if (author) await page.fill("#author", author);
  await page.click("#add-button");
  await waitTitle(page, title);
}

/** The peers panel: [{ peerId, kind, transport, route }]. */
const peersPanel = (page) =>
  page.evaluate(() => [...document.querySelectorAll("#peer-list li.peer")].map((li) => ({ ...li.dataset })));

test("two people share one reading list through the link, see each other, and one goes offline and back", {
  skip: SKIP,
  timeout: 240_000,
}, async (t) => {
  const nodeAddr = node.addr("websocket");
  a = { context: await browser.newContext(), tabs: [], problems: [] };
  b = { context: await browser.newContext(), tabs: [], problems: [] };

  // A opens the app on the node, as .ci/demo prints it, and adds the sample books.
  const a1 = await openTab(a, `${server.url}/www/?peer=${encodeURIComponent(nodeAddr)}`);
  assert.match(await a1.textContent("#tagline"), /shared with everyone who opens this page's link/);
  await a1.waitForFunction(() => document.querySelector("#net-badge")?.dataset.mode === "connected");
  await a1.click("#sample-button");
  await a1.waitForFunction((n) => document.querySelectorAll("#book-list li.book").length === n, SAMPLE_COUNT);

  // The link A shares carries the node's address; B opens it.
  const link = await a1.inputValue("#share-url");
  assert.equal(new URL(link).searchParams.get("peer"), nodeAddr, link);
  const b1 = await openTab(b, link);
  const [aId, bId] = [await selfId(a1), await selfId(b1)];
  assert.notEqual(aId, bId, "two people, two peer ids");

  // B catches up on what A wrote before it came: the list, and the sync bar full.
  await b1.waitForFunction((n) => document.querySelectorAll("#book-list li.book").length >= n, SAMPLE_COUNT);
  await b1.waitForFunction(() => {
    const bar = document.querySelector("#sync-bar").dataset;
    return Number(bar.wanted) > 0 && bar.received === bar.wanted;
  });

  // Each sees the node, and the other person, in the peers panel.
  await a1.waitForFunction((bId) => !!document.querySelector(`#peer-list li.peer[data-peer-id="${bId}"]`), bId);
  await b1.waitForFunction((aId) => !!document.querySelector(`#peer-list li.peer[data-peer-id="${aId}"]`), aId);
  const panel = await peersPanel(a1);
  const nodeRow = panel.find((p) => p.kind === "node");
  assert.deepEqual(
    nodeRow && [nodeRow.peerId, nodeRow.transport, nodeRow.route],
    [node.info.peerId, "websocket", "direct"],
    JSON.stringify(panel),
  );
  const bRow = panel.find((p) => p.peerId === bId);
  assert.equal(bRow.kind, "browser");
  assert.ok(["direct", "relayed"].includes(bRow.route), JSON.stringify(bRow));
  assert.equal(bRow.route === "direct", bRow.transport !== "relay", JSON.stringify(bRow));
  t.diagnostic(`A sees B over ${bRow.transport} (${bRow.route})`);

  // Changes go both ways.
  await addBook(a1, "Middlemarch", "George Eliot");
  await waitTitle(b1, "Middlemarch");
  await addBook(b1, "Kindred", "Octavia E. Butler");
  await waitTitle(a1, "Kindred");

  // B goes offline: the badge says so, B's book waits in its outbox, and
  // reaches A once B is back.
  await b.context.setOffline(true);
  await b1.waitForFunction(() => document.querySelector("#net-badge").dataset.online === "false");
  assert.match(await b1.textContent("#net-text"), /Offline/);
  await addBook(b1, "Written offline", "B");
  await b1.waitForFunction(() => Number(document.querySelector("#queued").dataset.count) > 0);
  assert.match(await b1.textContent("#net-text"), /wait here/);
  await new Promise((r) => setTimeout(r, 1000));
  assert.ok(!(await titles(a1)).includes("Written offline"), "nothing leaves B while it is offline");
  await b.context.setOffline(false);
  await b1.waitForFunction(() => {
    const badge = document.querySelector("#net-badge").dataset;
    return badge.online === "true" && badge.mode === "connected";
  });
  await waitTitle(a1, "Written offline");
  await b1.waitForFunction(() => document.querySelector("#queued").dataset.count === "0");

  fs.mkdirSync(path.join(REPO_ROOT, "target"), { recursive: true });
  await a1.screenshot({ path: path.join(REPO_ROOT, "target", "demo-together.png"), fullPage: true });
  await b1.screenshot({ path: path.join(REPO_ROOT, "target", "demo-together-b.png"), fullPage: true });

  // Two more tabs of A's: the same database, so the same peer id, and the
  // whole list (IndexedDB is shared by the origin's tabs).
  const a2 = await openTab(a, link);
  const a3 = await openTab(a, link);
  for (const tab of [a2, a3]) {
    assert.equal(await selfId(tab), aId, "every tab of A's shows A's peer id");
    await waitTitle(tab, "Written offline");
  }

  // The three tabs of A are one peer: one leader, one connection on the
  // node, and a write in tab 3 (a follower) reaches B.
  for (let t0 = Date.now(); ; ) {
    const leaders = await Promise.all(a.tabs.map((tab) => tab.evaluate(() => window.weftDemo.db.status().leader)));
    const fromA = (await node.get("p2p/connections")).filter((c) => c.peerId === aId);
    if (leaders.filter(Boolean).length === 1 && fromA.length === 1) break;
    assert.ok(Date.now() - t0 < WAIT, `leaders: ${leaders}; node-side connections from A: ${JSON.stringify(fromA)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  await addBook(a3, "From the third tab", "A");
  await waitTitle(b1, "From the third tab");
  await waitTitle(a1, "From the third tab");

  const unexpected = [...a.problems, ...b.problems]
    .flat()
    // libp2p-webrtc-websys drops a data channel's callbacks with its
    // connection while the browser may still fire them (rust-libp2p#5636):
    // wasm-bindgen throws this, harmlessly. Anything else fails.
    .filter((p) => !/closure invoked recursively or after being dropped/.test(p));
  assert.deepEqual(unexpected, []);
});
