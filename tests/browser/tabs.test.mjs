// Many tabs of one origin on one database: one peer. Real pages of one
// browser context (one origin, one IndexedDB, Web Locks and BroadcastChannel
// shared) and a real weft node (`weft start` on loopback).
//
//   wasm-pack build --target web --profile wasm && node --test tests/browser/tabs.test.mjs
//   tests/browser/netns.sh env WEFT_BROWSER=firefox node --test tests/browser/tabs.test.mjs
//
// The tab-coordination design is in src/lib.rs ("Many tabs of one origin").
import { test as nodeTest, before, after } from "node:test";
import assert from "node:assert/strict";
import { BROWSER } from "./lib.mjs";
import { WAIT, until, startSuite, stopSuite, weftTab } from "./pages.mjs";

/** What a tab may log when the node it redials is gone or a tab closes under it. */
const HARMLESS = [/closure invoked recursively or after being dropped/];
const test = (name, ...rest) => nodeTest(`${BROWSER}: ${name}`, ...rest);

const SDL = "type Book { title: String! @index pages: Int rating: Float }";

let server;
let browser;
let node;

before(async () => {
  ({ node, server, browser } = await startSuite(async (node) => {
    await node.post("schema", SDL);
    // The node keeps a replica of Book and relays it.
    await node.post("p2p/collections/Book");
  }));
});

after(() => stopSuite({ node, server, browser }));

/** A tab of `context` with weftdb loaded. */
async function newTab(context) {
  const { page, problems } = await weftTab(context, server);
  page.problems = problems;
  return page;
}

/** Opens database `name` in `page` with the node as its peer, Book declared. */
async function openDb(page, name, { peers = true } = {}) {
  return page.evaluate(
    async ({ name, addr, sdl }) => {
      window.db = await weft.Database.open(name, addr ? { peers: [addr] } : undefined);
      if (!window.db.collectionNames().includes("Book")) await window.db.addSchema(sdl).catch(() => {});
      return window.db.peerId;
    },
    { name, addr: peers ? node.addr("websocket") : null, sdl: SDL },
  );
}

const role = (page) => page.evaluate(async () => (await window.db.networkStats()).tabs);
const connectedToNode = (page) =>
  until(page, "a connection to the node", async (id) => (await window.db.connections()).some((c) => c.peerId === id), node.info.peerId);
/** The node's connections from `peerId`. */
const nodeSees = async (peerId) => (await node.get("p2p/connections")).filter((c) => c.peerId === peerId);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const problemsOf = (pages) => pages.flatMap((p) => p.problems).filter((p) => !HARMLESS.some((h) => h.test(p)));

/** Opens `name` in `n` tabs of one context, one after another. */
async function tabs(context, name, n, opts) {
  const pages = [];
  for (let i = 0; i < n; i++) {
    const page = await newTab(context);
    await openDb(page, name, opts);
    pages.push(page);
  }
  return pages;
}

test("three tabs of one origin are one peer: one peer id, one leader, ONE connection on the node, the same answers in every tab", async () => {
  const context = await browser.newContext();
  const pages = await tabs(context, "tabs-one", 3);
  const ids = await Promise.all(pages.map((p) => p.evaluate(() => window.db.peerId)));
  assert.equal(new Set(ids).size, 1, `one peer id: ${ids}`);
  for (const p of pages) await connectedToNode(p);
  // Give the followers time to (wrongly) dial on their own.
  await sleep(1500);
  const seen = await nodeSees(ids[0]);
  assert.equal(seen.length, 1, `the node sees one connection from the origin: ${JSON.stringify(seen)}`);
  const roles = await Promise.all(pages.map(role));
  assert.deepEqual([...roles].sort(), ["follower", "follower", "leader"], `roles: ${roles}`);
  // The network API answers the same in every tab, whichever runs the node.
  await pages[2].evaluate(() => window.db.collections.subscribe("Book"));
  const lists = await Promise.all(pages.map((p) => p.evaluate(() => window.db.collections.list())));
  for (const l of lists) assert.deepEqual(l, ["Book"]);
  const conns = await Promise.all(pages.map((p) => p.evaluate(async () => (await window.db.connections()).map((c) => c.peerId))));
  for (const c of conns) assert.deepEqual(c, conns[0]);
  const stats = await Promise.all(pages.map((p) => p.evaluate(() => window.db.networkStats())));
  for (const s of stats) assert.deepEqual(s.peers, stats[0].peers);
  // db.status() too: the leader's peers in every tab (a follower that opened
  // after the last change asked for it), and `leader` each tab's own.
  for (const p of pages) {
    await until(p, "the node among the status's peers", () => window.db.status().peers === 1);
  }
  const leads = await Promise.all(pages.map((p) => p.evaluate(() => window.db.status().leader)));
  assert.deepEqual(leads.filter(Boolean).length, 1, `status().leader: ${leads}`);
  assert.deepEqual(await pages[1].evaluate(() => window.db.replicators.list()), []);
  // A node refusal reaches a follower as the same coded error.
  const err = await pages[1].evaluate(() => window.db.dial("/ip4/127.0.0.1/tcp/1").then(() => null, (e) => [e instanceof Error, e.code]));
  assert.ok(err === null || (err[0] === true && typeof err[1] === "string"), JSON.stringify(err));
  assert.deepEqual(problemsOf(pages), []);
  await context.close();
});

test("a write in a follower tab reaches another browser through the node", async () => {
  const context = await browser.newContext();
  const pages = await tabs(context, "tabs-write", 3);
  for (const p of pages) await p.evaluate(() => window.db.on("peer", (ev) => (window.peerEvents ??= []).push(ev)));
  const other = await newTab(await browser.newContext());
  const otherId = await openDb(other, "tabs-write-other");
  for (const p of [...pages, other]) await connectedToNode(p);
  await other.evaluate(() => window.db.collections.subscribe("Book"));
  await pages[0].evaluate(() => window.db.collections.subscribe("Book"));
  const roles = await Promise.all(pages.map(role));
  // Tab 3, or whichever follows (tabs take the lock in the order they ask).
  const follower = roles.includes("follower") ? pages[roles.lastIndexOf("follower")] : pages[2];
  const mesh = async () => (await node.get("p2p/stats")).mesh["weft/col/Book"] ?? 0;
  for (let t = Date.now(); (await mesh()) < 2; ) {
    assert.ok(Date.now() - t < WAIT, "the node's Book topic never meshed with both browsers");
    await sleep(100);
  }
  const id = await follower.evaluate(() => window.db.collection("Book").create({ title: "From tab 3", pages: 3 }));
  await until(other, "tab 3's document in the other browser", (id) => window.db.collection("Book").get(id).then((d) => d?.title === "From tab 3"), id);
  // The other browser may have it straight from the origin's page, over the
  // direct connection the two made through the node's relay, a moment before
  // the node has merged it: wait for the node too (it failed so once in CI).
  for (let t = Date.now(); (await node.get(`collections/Book/${id}`)).title !== "From tab 3"; ) {
    assert.ok(Date.now() - t < WAIT, `tab 3's document never reached the node: ${JSON.stringify(await node.get(`collections/Book/${id}`))}`);
    await sleep(50);
  }
  // The other browser met the origin's node through the weft node's relay:
  // every tab heard of it, whichever runs the node.
  for (const p of pages) {
    await until(p, "a peer event for the other browser", (otherId) => (window.peerEvents ?? []).some((e) => e.type === "connected" && e.peerId === otherId), otherId);
  }
  assert.deepEqual(problemsOf([...pages, other]), []);
  await context.close();
});

test("the leader tab closes mid-sync: another tab is connected within 2 s and no change is lost", async () => {
  const context = await browser.newContext();
  const pages = await tabs(context, "tabs-handover", 2);
  for (const p of pages) await connectedToNode(p);
  await pages[0].evaluate(() => window.db.collections.subscribe("Book"));
  const roles = await Promise.all(pages.map(role));
  const leader = pages[roles.indexOf("leader")];
  const follower = pages[roles.indexOf("follower")];
  assert.ok(leader && follower, `roles: ${roles}`);
  // The follower writes 40 books, one every 25 ms; the leader closes after the 10th.
  const writing = follower.evaluate(async () => {
    const ids = [];
    for (let i = 0; i < 40; i++) {
      ids.push(await window.db.collection("Book").create({ title: `Book ${i}`, pages: i }));
      await new Promise((r) => setTimeout(r, 25));
    }
    return ids;
  });
  await until(follower, "ten books", () => window.db.collection("Book").count().then((n) => n >= 10));
  const closed = Date.now();
  await leader.close();
  await until(
    follower,
    "the follower leading and connected",
    async (id) => (await window.db.networkStats()).tabs === "leader" && (await window.db.connections()).some((c) => c.peerId === id),
    node.info.peerId,
  );
  const took = Date.now() - closed;
  assert.ok(took <= 2000, `connected again after ${took} ms`);
  console.log(`# the follower led and was connected ${took} ms after the leader closed`);
  const ids = await writing;
  // Every book reaches the node: those written before, during and after the hand-over.
  for (let t = Date.now(); ; ) {
    const missing = [];
    for (const id of ids) if (!(await node.get(`collections/Book/${id}`)).title) missing.push(id);
    if (missing.length === 0) break;
    assert.ok(Date.now() - t < WAIT, `${missing.length} of 40 books never reached the node`);
    await sleep(200);
  }
  assert.deepEqual(problemsOf([follower]), []);
  await context.close();
});

/**
 * Crashing or freezing a page goes through the Chrome DevTools Protocol. A
 * frozen page is one where no script runs while it keeps its lock: the
 * debugger pausing it (CDP's `Page.setWebLifecycleState: frozen` left the
 * headless page answering its BroadcastChannel).
 */
const NO_CDP = BROWSER === "firefox" && "crashes and freezes the leader through the Chrome DevTools Protocol";

for (const how of ["crashes", "is frozen"]) {
  test(`the leader tab ${how}: the other tab leads and is connected within 2 s`, { skip: NO_CDP, timeout: 4 * WAIT }, async () => {
    const context = await browser.newContext();
    const pages = await tabs(context, `tabs-${how.replace(" ", "-")}`, 2);
    for (const p of pages) await connectedToNode(p);
    await pages[0].evaluate(() => window.db.collections.subscribe("Book"));
    const roles = await Promise.all(pages.map(role));
    const leader = pages[roles.indexOf("leader")];
    const follower = pages[roles.indexOf("follower")];
    assert.ok(leader && follower, `roles: ${roles}`);
    // The leader quiet first. Paused in the middle of an IndexedDB
    // transaction (merging the node's books, saving the subscription), it
    // keeps that transaction's locks until the browser aborts it, 60 s on
    // in Chromium, and every other tab's reads and writes of those stores
    // wait as long: the new leader's node could not start, or its write
    // took 58 s (on one core, in every run without this wait).
    const onNode = (await node.get("collections/Book")).length;
    await until(leader, "the node's books in the tabs", (n) => window.db.collection("Book").count().then((c) => c >= n), onNode);
    await sleep(1000);
    const cdp = await context.newCDPSession(leader);
    const gone = Date.now();
    if (how === "crashes") cdp.send("Page.crash").catch(() => {});
    else {
      await cdp.send("Debugger.enable");
      await cdp.send("Debugger.pause");
    }
    await until(
      follower,
      "the follower leading and connected",
      async (id) => (await window.db.networkStats()).tabs === "leader" && (await window.db.connections()).some((c) => c.peerId === id),
      node.info.peerId,
    );
    const took = Date.now() - gone;
    assert.ok(took <= 2000, `connected again after ${took} ms`);
    console.log(`# the follower led and was connected ${took} ms after the leader ${how === "crashes" ? "crashed" : "froze"}`);
    const id = await follower.evaluate(() => window.db.collection("Book").create({ title: "After", pages: 1 }));
    // While the frozen tab still holds its connection beside the new
    // leader's: the node never tells a second connection of one peer id its
    // topics (gossipsub sends them on the first only), so the new leader's
    // publish reaches nobody and must be repaired without the old tab.
    for (let t = Date.now(); !(await node.get(`collections/Book/${id}`)).title; ) {
      assert.ok(Date.now() - t < WAIT, "the new leader's write never reached the node");
      await sleep(100);
    }
    console.log(`# the write is on the node ${Date.now() - gone} ms after the leader ${how === "crashes" ? "crashed" : "froze"}`);
    if (how === "is frozen") {
      // The frozen tab thaws, finds its lock taken, stops its node and follows: one node for the origin again.
      await cdp.send("Debugger.resume");
    }
    // Usually within 3 s. (The minute a thawed page once took was, most
    // likely, an IndexedDB transaction it was paused in: see above.)
    const AFTER_THAW = 3 * WAIT;
    const peerId = await follower.evaluate(() => window.db.peerId);
    for (let t = Date.now(); (await nodeSees(peerId)).length !== 1; ) {
      assert.ok(Date.now() - t < AFTER_THAW, `the node keeps ${(await nodeSees(peerId)).length} connections from the origin`);
      await sleep(100);
    }
    if (how === "is frozen") assert.equal(await role(leader), "follower", "the thawed tab follows");
    // (Detaching from a crashed page never answers.)
    if (how === "is frozen") await cdp.detach().catch(() => {});
    await context.close();
  });
}

test("two tabs update one document 2 × 50 times at once: every update lands, built on the one before", async () => {
  const context = await browser.newContext();
  const pages = await tabs(context, "tabs-concurrent", 2, { peers: false });
  const id = await pages[0].evaluate(() => window.db.collection("Book").create({ title: "Shared", pages: 0 }));
  await Promise.all(
    pages.map((p, t) =>
      p.evaluate(
        async ({ id, t }) => {
          const books = window.db.collection("Book");
          await Promise.all(Array.from({ length: 50 }, (_, i) => books.update(id, { pages: t * 100 + i })));
        },
        { id, t },
      ),
    ),
  );
  const [blocks, heads] = await pages[1].evaluate(async (id) => [(await window.db.exportBlocks()).length, await window.db.collection("Book").heads(id)], id);
  // The genesis and 100 changes; each read the heads in its own transaction, so one line of history.
  assert.equal(blocks, 101);
  assert.equal(heads.length, 1, `one head: ${heads}`);
  await context.close();
});

test("a document one tab has cached follows every write of another tab: its gets show it once the notice is heard (local databases, no peers)", async () => {
  const context = await browser.newContext();
  const [a, b] = await tabs(context, "tabs-cache", 2, { peers: false });
  const docId = await a.evaluate(() => window.db.collection("Book").create({ title: "t0", pages: 0 }));
  const get = (page) => page.evaluate(async (id) => window.db.collection("Book").get(id), docId);
  const update = (page, i) => page.evaluate(async ({ id, i }) => window.db.collection("Book").update(id, { title: `t${i}`, pages: i }), { id: docId, i });
  // The reader's gets from the moment the writer's update resolves: what
  // the crate docs promise ("What is cached in memory"), the document as it
  // was just before until the writer's notice arrives (posted as its commit
  // begins; in Firefox under CI's load it once came after the next get),
  // then the write, and never an older state or a stuck one.
  const shown = async (page, want) => {
    const states = [];
    for (const deadline = Date.now() + 5000; Date.now() < deadline; ) {
      const doc = await get(page);
      if (want(doc)) return { doc, states };
      states.push(doc);
      await page.evaluate(() => new Promise((r) => setTimeout(r, 5)));
    }
    return { doc: undefined, states };
  };
  const seen = async (reader, i) => {
    const { doc, states } = await shown(reader, (d) => d.pages === i);
    return { doc, before: states.map((d) => d.pages) };
  };
  let stale = 0;
  assert.equal((await get(b)).title, "t0");
  // Each tab reads the document (so it is cached there) before the other
  // changes it.
  for (let i = 1; i <= 60; i++) {
    const [writer, reader] = i % 2 ? [a, b] : [b, a];
    assert.equal((await get(reader)).pages, i - 1);
    await update(writer, i);
    const { doc, before } = await seen(reader, i);
    assert.deepEqual(doc, { _id: docId, title: `t${i}`, pages: i }, `round ${i}: the reader's gets before it ${JSON.stringify(before)}`);
    assert.ok(before.every((p) => p === i - 1), `round ${i}: before the write only the state just before it: ${JSON.stringify(before)}`);
    stale += before.length > 0;
  }
  // The notice is posted as the commit begins, so it is heard before the
  // next get in most rounds (every round in Chromium's runs so far); a
  // notice posted only once the commit is done would be late in nearly all.
  assert.ok(stale <= 30, `the next get showed the state before the write in ${stale} of 60 rounds`);
  // A commit of many documents at once (its notice says "all").
  await b.evaluate(async () => {
    await window.db.collection("Book").createMany(Array.from({ length: 300 }, (_, i) => ({ title: `many ${i}` })));
  });
  await b.evaluate(async ({ id }) => window.db.collection("Book").update(id, { title: "after many" }), { id: docId });
  // As above: shown once the notice is heard, within 5 s.
  assert.equal((await shown(a, (d) => d?.title === "after many")).doc?.title, "after many");
  await a.evaluate(async (id) => window.db.collection("Book").delete(id), docId);
  assert.equal((await shown(b, (d) => d === null)).doc, null, "a delete in one tab: gone in the other");
  assert.deepEqual(problemsOf([a, b]), []);
  await context.close();
});

/** In `page`: runs `f` (a function body, given `db` and `id`) counting the IndexedDB transactions it starts. */
const countingTransactions = (page, body, arg) =>
  page.evaluate(
    async ({ body, arg }) => {
      let transactions = 0;
      const make = IDBDatabase.prototype.transaction;
      IDBDatabase.prototype.transaction = function (...args) {
        transactions++;
        return make.apply(this, args);
      };
      try {
        const value = await new Function("arg", `return (async () => { ${body} })()`)(arg);
        return { value, transactions };
      } finally {
        IDBDatabase.prototype.transaction = make;
      }
    },
    { body, arg },
  );

test("a page's first write keeps what it wrote in the cache, and a page that only reads caches from its second read: gets start no IndexedDB transaction", async () => {
  const context = await browser.newContext();
  // The first tab adds the schema; the others are fresh pages (no notices
  // channel yet) whose open writes nothing.
  const [first, writer, reader] = await tabs(context, "tabs-first-write", 3, { peers: false });
  const ids = await writer.evaluate(() => window.db.collection("Book").createMany([{ title: "a" }, { title: "b" }, { title: "c" }]));
  const gets = "const out = []; for (const id of arg) out.push((await window.db.collection('Book').get(id)).title); return out;";
  assert.deepEqual(await countingTransactions(writer, gets, ids), { value: ["a", "b", "c"], transactions: 0 }, "the writer's own documents");
  // The reader's first read is not kept (it does not listen yet); once it
  // listens (a task after that read), what it reads is.
  assert.deepEqual(await countingTransactions(reader, gets, ids.slice(0, 1)), { value: ["a"], transactions: 1 });
  await reader.evaluate(() => new Promise((r) => setTimeout(r, 20)));
  assert.deepEqual(await countingTransactions(reader, gets, ids), { value: ["a", "b", "c"], transactions: 3 });
  assert.deepEqual(await countingTransactions(reader, gets, ids), { value: ["a", "b", "c"], transactions: 0 });
  // And it hears the others' writes.
  await first.evaluate(async (id) => window.db.collection("Book").update(id, { title: "a2" }), ids[0]);
  assert.deepEqual(await countingTransactions(reader, gets, ids), { value: ["a2", "b", "c"], transactions: 1 });
  assert.deepEqual(problemsOf([first, writer, reader]), []);
  await context.close();
});

test("handles of one database in one page share the page's notices channel: each follows the others' writes, a reopened one too, and another tab's", async () => {
  const context = await browser.newContext();
  const [a, b] = await tabs(context, "tabs-one-page", 2, { peers: false });
  const docId = await a.evaluate(() => window.db.collection("Book").create({ title: "t0", pages: 0 }));
  await a.evaluate(async () => {
    window.second = await weft.Database.open("tabs-one-page");
  });
  // Each handle reads the document, the other changes it, and the first
  // get after shows the change; the get before it was from the cache.
  for (let i = 1; i <= 6; i++) {
    const [writer, reader] = i % 2 ? ["db", "second"] : ["second", "db"];
    const read = await a.evaluate(
      async ({ reader, id }) => {
        await window[reader].collection("Book").get(id);
        await new Promise((r) => setTimeout(r, 20));
        return (await window[reader].collection("Book").get(id)).pages;
      },
      { reader, id: docId },
    );
    assert.equal(read, i - 1);
    const cached = await countingTransactions(a, `return (await window['${reader}'].collection('Book').get(arg)).pages;`, docId);
    assert.deepEqual(cached, { value: i - 1, transactions: 0 }, `round ${i}: cached`);
    await a.evaluate(async ({ writer, id, i }) => window[writer].collection("Book").update(id, { pages: i }), { writer, id: docId, i });
    const after = await countingTransactions(a, `return (await window['${reader}'].collection('Book').get(arg)).pages;`, docId);
    assert.deepEqual(after, { value: i, transactions: 1 }, `round ${i}: the other handle's write shows`);
  }
  // Closed and opened again in this page: it listens at once (the page
  // kept the channel), so its second get is from the cache.
  await a.evaluate(async () => {
    await window.second.close();
    window.second = await weft.Database.open("tabs-one-page");
  });
  const reopened = await countingTransactions(a, "const g = async () => (await window.second.collection('Book').get(arg)).pages; return [await g(), await g()];", docId);
  assert.deepEqual(reopened, { value: [6, 6], transactions: 1 });
  // A write of the page's other handle, and of another tab, reach it.
  await a.evaluate(async (id) => window.db.collection("Book").update(id, { pages: 7 }), docId);
  assert.equal((await countingTransactions(a, "return (await window.second.collection('Book').get(arg)).pages;", docId)).value, 7);
  await b.evaluate(async (id) => window.db.collection("Book").update(id, { pages: 8 }), docId);
  const both = await a.evaluate(async (id) => [(await window.db.collection("Book").get(id)).pages, (await window.second.collection("Book").get(id)).pages], docId);
  assert.deepEqual(both, [8, 8]);
  assert.deepEqual(problemsOf([a, b]), []);
  await context.close();
});

test("a change in one tab is heard by every tab's subscribers, in commit order; so is one from the network", async () => {
  const context = await browser.newContext();
  const pages = await tabs(context, "tabs-subscribe", 3);
  for (const p of pages) await connectedToNode(p);
  await pages[0].evaluate(() => window.db.collections.subscribe("Book"));
  for (const p of pages) {
    await p.evaluate(() => {
      window.heard = [];
      window.ratings = [];
      window.db.collection("Book").subscribe((ev) => {
        window.heard.push([ev.type, ev.id, ev.doc?.pages ?? null]);
        if (ev.doc?.rating !== undefined) window.ratings.push(ev.doc.rating);
      });
    });
  }
  const id = await pages[2].evaluate(async () => {
    const books = window.db.collection("Book");
    const id = await books.create({ title: "Heard", pages: 0 });
    for (let i = 1; i <= 5; i++) await books.update(id, { pages: i });
    return id;
  });
  const expected = [["create", id, 0], ...[1, 2, 3, 4, 5].map((i) => ["update", id, i])];
  // Only this document's events: the leader may be merging the node's other books meanwhile.
  for (const p of pages) {
    await until(p, "six events", (id) => window.heard.filter((h) => h[1] === id).length >= 6, id);
    assert.deepEqual(await p.evaluate((id) => window.heard.filter((h) => h[1] === id), id), expected);
  }
  // A commit of several changes (one `changes` post to the other tabs) is
  // heard change by change, in order, in every tab.
  const many = await pages[1].evaluate(() =>
    window.db.collection("Book").createMany([{ title: "m0", pages: 10 }, { title: "m1", pages: 11 }, { title: "m2", pages: 12 }]),
  );
  for (const p of pages) {
    await until(p, "three creates", (ids) => window.heard.filter((h) => ids.includes(h[1])).length >= 3, many);
    const heard = await p.evaluate((ids) => window.heard.filter((h) => ids.includes(h[1])), many);
    assert.deepEqual(heard, many.map((id, i) => ["create", id, 10 + i]));
  }
  // A change from the network, merged by the leader, is heard in every tab.
  // The node makes it once it holds the tabs' last change: one made on an
  // older head is concurrent with the tabs' later updates, and a register's
  // winner is the greater (height, CID) (src/core/doc.rs), so pages=99 at a
  // lower height loses to pages=5 on every replica, the node's too. (That
  // was the "change that never reached the page" of earlier runs under
  // load: the node had merged the create but not all five updates.)
  const tabHeads = await pages[2].evaluate((id) => window.db.collection("Book").heads(id), id);
  for (let t = Date.now(); ; ) {
    const heads = await node.get(`collections/Book/${id}/heads`);
    if (JSON.stringify(heads) === JSON.stringify(tabHeads)) break;
    assert.ok(Date.now() - t < WAIT, `the tabs' last change never reached the node: ${heads} (tabs: ${tabHeads})`);
    await sleep(100);
  }
  const r = await fetch(`${node.api}/collections/Book/${id}`, {
    method: "PATCH",
    // A double serde_json reads one ULP off without `float_roundtrip`, as
    // the page's does: the tabs that hear it in the leader's message must
    // not (wasm::json_exact).
    body: JSON.stringify({ pages: 99, rating: 985.6906946328695 }),
    headers: { "content-type": "application/json" },
  });
  assert.ok(r.ok, `PATCH: ${r.status} ${await r.text()}`);
  const nodeHeads = await node.get(`collections/Book/${id}/heads`);
  assert.equal(nodeHeads.length, 1, `the node's change is the one head: ${nodeHeads}`);
  for (const p of pages) await until(p, "the node's change", () => window.heard.some((h) => h[2] === 99));
  for (const p of pages) assert.deepEqual(await p.evaluate(() => window.ratings), [985.6906946328695]);
  // The block itself, not only the notice: every tab's head is the node's.
  for (const p of pages) assert.deepEqual(await p.evaluate((id) => window.db.collection("Book").heads(id), id), nodeHeads);
  assert.deepEqual(problemsOf(pages), []);
  await context.close();
});

test("an upgrade from another tab closes this one's database cleanly and tells the page (\"stale\"); open() is never left hanging", async () => {
  const context = await browser.newContext();
  const [a, b] = await tabs(context, "tabs-version", 2, { peers: false });
  await a.evaluate(() => {
    window.stale = 0;
    window.db.on("stale", () => window.stale++);
  });
  // Tab B runs a newer build: it opens the database at a higher version.
  const upgraded = await b.evaluate(
    () =>
      new Promise((resolve) => {
        const r = indexedDB.open("tabs-version", 99);
        r.onsuccess = () => {
          r.result.close();
          resolve("opened");
        };
        r.onerror = () => resolve(`error: ${r.error}`);
        r.onblocked = () => resolve("blocked");
      }),
  );
  assert.equal(upgraded, "opened", "the newer build is not blocked by the older tabs");
  await until(a, "the stale event", () => window.stale === 1);
  const code = await a.evaluate(() => window.db.collection("Book").count().then(() => null, (e) => e.code));
  assert.equal(code, "STALE");
  // This build opening the newer database: an error with a code, not a hang.
  const opened = await a.evaluate(() => weft.Database.open("tabs-version").then(() => "opened", (e) => e.code));
  assert.equal(opened, "STALE");
  // A tab holding the database open and ignoring versionchange: destroy() does not hang.
  await b.evaluate(
    () =>
      new Promise((resolve) => {
        const r = indexedDB.open("tabs-blocker", 1);
        r.onsuccess = () => {
          window.blocker = r.result;
          resolve();
        };
      }),
  );
  const destroyed = await a.evaluate(() => weft.Database.destroy("tabs-blocker").then(() => "destroyed", (e) => e.code));
  assert.equal(destroyed, "BLOCKED");
  // The browser keeps the deletion, and an open waits behind it with no
  // event of its own: open() says so too, rather than hang.
  const queued = await a.evaluate(() => weft.Database.open("tabs-blocker").then(() => "opened", (e) => `${e.code}: ${e.message}`));
  assert.match(queued, /^BLOCKED: .*delet/);
  // Once the other tab lets go, the deletion happens, and the open given up
  // on (it runs after it) does not bring the database back.
  await b.evaluate(() => window.blocker.close());
  const listed = () => a.evaluate(async () => (await indexedDB.databases()).some((d) => d.name === "tabs-blocker"));
  for (let t = Date.now(); await listed(); ) {
    assert.ok(Date.now() - t < WAIT, "the deletion never happened");
    await sleep(100);
  }
  await sleep(500);
  assert.equal(await listed(), false, "the given-up open recreated the deleted database");
  // The name opens afresh.
  const reopened = await a.evaluate(async () => {
    const db = await weft.Database.open("tabs-blocker");
    const names = db.collectionNames();
    await db.close();
    return names;
  });
  assert.deepEqual(reopened, []);
  await context.close();
});

for (const missing of ["navigator.locks", "BroadcastChannel"]) {
  test(`without ${missing} each tab works alone, as its own node, and says so`, async () => {
    const context = await browser.newContext();
    // Deleted in the page before weftdb opens the database (where it looks).
    const remove = missing === "navigator.locks" ? () => delete Navigator.prototype.locks : () => delete window.BroadcastChannel;
    const pages = [];
    for (let i = 0; i < 2; i++) {
      const page = await newTab(context);
      await page.evaluate(remove);
      assert.equal(await page.evaluate(() => typeof navigator.locks === "object" && typeof BroadcastChannel === "function"), false);
      await openDb(page, `tabs-alone-${missing}`);
      pages.push(page);
    }
    for (const p of pages) await connectedToNode(p);
    assert.deepEqual(await Promise.all(pages.map(role)), ["alone", "alone"]);
    const id = await pages[1].evaluate(() => window.db.collection("Book").create({ title: "Alone", pages: 1 }));
    assert.equal((await pages[0].evaluate((id) => window.db.collection("Book").get(id), id)).title, "Alone");
    assert.deepEqual(problemsOf(pages), []);
    await context.close();
  });
}

test("a closed database lets go of the page's listeners: the page can collect it", { skip: BROWSER === "firefox" && "collects garbage through the Chrome DevTools Protocol" }, async () => {
  const context = await browser.newContext();
  const page = await newTab(context);
  const addr = node.addr("websocket");
  await page.evaluate(
    async ({ addr, sdl }) => {
      window.freed = 0;
      // Kept on window: a registry that is itself collected calls nobody.
      const collected = (window.collected = new FinalizationRegistry(() => window.freed++));
      // Each database is reachable only from the listeners it was given,
      // which hold it as a page's listeners do (they use it).
      const openAndClose = async (i) => {
        const db = await weft.Database.open(`tabs-freed-${i}`, { peers: [addr] });
        await db.addSchema(sdl);
        db.on("stale", () => db.close());
        db.on("status", () => db.peerId);
        db.collection("Book").subscribe(() => db.collectionNames());
        await db.collection("Book").create({ title: `closed ${i}` });
        collected.register(db, i);
        await db.close();
      };
      for (let i = 0; i < 3; i++) await openAndClose(i);
    },
    { addr, sdl: SDL },
  );
  const cdp = await context.newCDPSession(page);
  let freed = 0;
  for (let t = Date.now(); Date.now() - t < 10_000 && freed < 3; ) {
    await cdp.send("HeapProfiler.collectGarbage");
    await sleep(200);
    freed = await page.evaluate(() => window.freed);
  }
  assert.equal(freed, 3, "every closed database was collected");
  assert.deepEqual(problemsOf([page]), []);
  await context.close();
});
