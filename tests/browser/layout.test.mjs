// A page's database written by storage layout 1 (a record per block, per
// document's heads and state, per index entry: IndexedDB version 1) opens in
// this build (layout 2, IndexedDB version 4) with the same documents, heads, blocks and
// query results, in real IndexedDB. The rows are tests/fixtures/layout1.json,
// written by the layout-1 code itself; the page writes them with plain
// IndexedDB calls, as the old build left them.
//
//   wasm-pack build --target web --profile wasm && node --test tests/browser/layout.test.mjs
import { test as nodeTest, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { BROWSER, WEB_ROOT, launchBrowser, watchPage } from "./lib.mjs";
import { serve } from "./serve.mjs";
import { WAIT } from "./pages.mjs";

const test = (name, ...rest) => nodeTest(`${BROWSER}: ${name}`, ...rest);
const FIXTURE = JSON.parse(fs.readFileSync(path.join(WEB_ROOT, "tests/fixtures/layout1.json"), "utf8"));

let server;
let browser;

before(async () => {
  server = await serve({ root: WEB_ROOT, port: 0 });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close().catch(() => {});
  await server?.close();
});

/** In the page: what the layout-1 build left, IndexedDB version 1 with one
 * object store per table, the fixture's rows in it. */
async function writeLayout1(fixture, name) {
  const bytes = (hex) => new Uint8Array(hex.match(/../g)?.map((h) => parseInt(h, 16)) ?? []);
  // What the layout-1 build left: IndexedDB version 1, one object store per table.
  await new Promise((resolve, reject) => {
    const r = indexedDB.open(name, 1);
    r.onupgradeneeded = () => {
      for (const t of Object.keys(fixture.tables)) r.result.createObjectStore(t);
    };
    r.onsuccess = () => {
      const db = r.result;
      const tx = db.transaction(Object.keys(fixture.tables), "readwrite");
      for (const [t, rows] of Object.entries(fixture.tables)) {
        for (const [k, v] of rows) tx.objectStore(t).put(bytes(v), bytes(k));
      }
      tx.oncomplete = () => {
        db.close();
        resolve();
      };
      tx.onabort = () => reject(tx.error);
    };
    r.onerror = () => reject(r.error);
  });
}

test("a layout-1 database opens migrated: documents, heads, queries, blocks, pending; then writes and reopens", async () => {
  const page = await browser.newPage();
  page.setDefaultTimeout?.(WAIT);
  const problems = watchPage(page);
  await page.goto(`${server.url}/tests/browser/blank.html`);
  await page.evaluate(`(window.writeLayout1 = ${writeLayout1}, 0)`);
  const got = await page.evaluate(async (fixture) => {
    const weft = await import("/pkg/weftdb.js");
    await weft.default();
    const name = "layout1-app";
    await weft.Database.destroy(name);
    await writeLayout1(fixture, name);
    const read = async (db) => {
      const books = db.collection("Book");
      const docs = {};
      const heads = {};
      for (const id of Object.keys(fixture.expect.books)) {
        docs[id] = await books.get(id);
        heads[id] = await books.heads(id);
      }
      return {
        docs,
        heads,
        note: await db.collection("Note").get(fixture.expect.note[0]),
        t1: await books.find({ filter: { title: { _eq: "t1" } } }),
        pages: await books.find({ filter: { pages: { _ge: 10 } }, order: { pages: "ASC" } }),
        all: await books.count(),
        blocks: (await db.exportBlocks()).length,
      };
    };
    let db = await weft.Database.open(name);
    const migrated = await read(db);
    const id = Object.keys(fixture.expect.books)[0];
    await db.collection("Book").update(id, { pages: 555 });
    const written = (await db.collection("Book").find({ filter: { pages: { _eq: 555 } } })).map((d) => d._id);
    await db.close();
    db = await weft.Database.open(name);
    const reopened = await read(db);
    await db.close();
    const stores = await new Promise((resolve) => {
      const r = indexedDB.open(name);
      r.onsuccess = () => {
        const names = [...r.result.objectStoreNames];
        const version = r.result.version;
        const tx = r.result.transaction(["blocks", "heads", "docs", "index"]);
        const counts = {};
        let left = 4;
        for (const t of ["blocks", "heads", "docs", "index"]) {
          const c = tx.objectStore(t).count();
          c.onsuccess = () => {
            counts[t] = c.result;
            if (--left === 0) {
              r.result.close();
              resolve({ names, version, counts });
            }
          };
        }
      };
    });
    await weft.Database.destroy(name);
    return { migrated, written, id, reopened, stores };
  }, FIXTURE);
  const e = FIXTURE.expect;
  const plain = (v) => JSON.parse(JSON.stringify(v));
  assert.deepEqual(plain(got.migrated.docs), e.books, "every document as layout 1 read it");
  assert.deepEqual(plain(got.migrated.heads), e.heads, "every document's heads");
  assert.deepEqual(plain(got.migrated.note), e.note[1]);
  assert.deepEqual(plain(got.migrated.t1), e.queries.t1, "an indexed equality query");
  assert.deepEqual(plain(got.migrated.pages), e.queries.pages_ge_10, "an indexed range query with an order");
  assert.equal(got.migrated.all, e.queries.all);
  assert.equal(got.migrated.blocks, e.blocks, "every merged block");
  assert.deepEqual(got.written, [got.id], "the index follows a write after the migration");
  assert.equal(got.reopened.docs[got.id].pages, 555, "the write survives a reopen");
  assert.equal(got.reopened.blocks, e.blocks + 1);
  assert.equal(got.stores.version, 4);
  assert.deepEqual(got.stores.counts, { blocks: 0, heads: 0, docs: 0, index: 0 }, "layout 1's stores are emptied");
  assert.ok(got.stores.names.includes("packs") && got.stores.names.includes("documents"));
  assert.deepEqual(problems, [], "no page errors");
  await page.close();
});

// A database of IndexedDB version 3 (the builds before a commit's changes
// went to other tabs in one message: the same stores and records as now)
// opens in this build, upgraded to version 4 with its documents as they were.
test("a database of IndexedDB version 3 opens upgraded, its documents as they were", async () => {
  const page = await browser.newPage();
  const problems = watchPage(page);
  await page.goto(`${server.url}/tests/browser/blank.html`);
  const got = await page.evaluate(async () => {
    const weft = await import("/pkg/weftdb.js");
    await weft.default();
    const opened = (name, version, upgrade) =>
      new Promise((resolve, reject) => {
        const r = version ? indexedDB.open(name, version) : indexedDB.open(name);
        if (upgrade) r.onupgradeneeded = () => upgrade(r.result);
        r.onsuccess = () => resolve(r.result);
        r.onerror = () => reject(r.error);
      });
    const done = (tx) => new Promise((resolve, reject) => ((tx.oncomplete = resolve), (tx.onerror = () => reject(tx.error))));
    const all = (q) => new Promise((resolve) => (q.onsuccess = () => resolve(q.result)));
    // This build writes a database; its records are copied into one made at version 3.
    for (const name of ["layout-v4", "layout-v3"]) await weft.Database.destroy(name).catch(() => {});
    let db = await weft.Database.open("layout-v4");
    await db.addSchema("type Book { title: String @index, pages: Int }");
    const ids = await db.collection("Book").createMany([{ title: "a", pages: 1 }, { title: "b", pages: 2 }]);
    await db.collection("Book").update(ids[0], { pages: 10 });
    await db.close();
    const v4 = await opened("layout-v4");
    const stores = [...v4.objectStoreNames].map((s) => [s, [...v4.transaction(s).objectStore(s).indexNames]]);
    const v3 = await opened("layout-v3", 3, (idb) => {
      for (const [s, indexes] of stores) {
        const st = idb.createObjectStore(s);
        for (const i of indexes) st.createIndex(i, "k", { multiEntry: true });
      }
    });
    for (const [s] of stores) {
      const from = v4.transaction(s).objectStore(s);
      const [keys, values] = [await all(from.getAllKeys()), await all(from.getAll())];
      const tx = v3.transaction(s, "readwrite");
      keys.forEach((k, i) => tx.objectStore(s).put(values[i], k));
      await done(tx);
    }
    v4.close();
    v3.close();
    db = await weft.Database.open("layout-v3");
    const books = db.collection("Book");
    const read = { docs: await Promise.all(ids.map((id) => books.get(id))), t: await books.find({ filter: { title: { _eq: "b" } } }) };
    await books.update(ids[1], { pages: 20 });
    read.written = (await books.get(ids[1])).pages;
    await db.close();
    const after = await opened("layout-v3");
    read.version = after.version;
    after.close();
    for (const name of ["layout-v4", "layout-v3"]) await weft.Database.destroy(name).catch(() => {});
    return read;
  });
  assert.equal(got.version, 4);
  assert.deepEqual(got.docs.map((d) => [d.title, d.pages]), [["a", 10], ["b", 2]]);
  assert.deepEqual(got.t.map((d) => d.title), ["b"], "an indexed query");
  assert.equal(got.written, 20, "and a write");
  assert.deepEqual(problems, [], "no page errors");
  await page.close();
});

// Two tabs of a new build open the same layout-1 database at the same
// moment (started together on a timer: the overlap is likely, not forced):
// one migrates it; the other, whose own write transaction re-reads
// `layout` after the first's, finds it done. Both read every document and
// block. (A second migration would find layout 1's tables empty and move
// nothing, so the count of stored blocks is a check of the end state, not
// of how many migrations ran.)
test("two tabs open a layout-1 database at once: it is migrated once and both read it", async () => {
  const context = await browser.newContext();
  const tabs = [await context.newPage(), await context.newPage()];
  const problems = tabs.map((t) => watchPage(t));
  for (const tab of tabs) {
    tab.setDefaultTimeout?.(WAIT);
    await tab.goto(`${server.url}/tests/browser/blank.html`);
    await tab.evaluate(`(window.writeLayout1 = ${writeLayout1}, 0)`);
  }
  const name = "layout1-race";
  await tabs[0].evaluate(async ({ fixture, name }) => {
    const weft = await import("/pkg/weftdb.js");
    await weft.default();
    await weft.Database.destroy(name);
    await writeLayout1(fixture, name);
  }, { fixture: FIXTURE, name });
  // Both tabs ready to open; then both open at (nearly) the same moment.
  for (const tab of tabs) {
    await tab.evaluate(async () => {
      window.weft = await import("/pkg/weftdb.js");
      await window.weft.default();
    });
  }
  const start = Date.now() + 300;
  const opened = tabs.map((tab) =>
    tab.evaluate(async ({ name, start, ids }) => {
      await new Promise((r) => setTimeout(r, Math.max(0, start - Date.now())));
      const db = await weft.Database.open(name);
      const books = db.collection("Book");
      const docs = {};
      for (const id of ids) docs[id] = await books.get(id);
      const out = { docs, all: await books.count(), blocks: (await db.exportBlocks()).length };
      await db.close();
      return out;
    }, { name, start, ids: Object.keys(FIXTURE.expect.books) }),
  );
  const got = await Promise.all(opened);
  const plain = (v) => JSON.parse(JSON.stringify(v));
  for (const g of got) {
    assert.deepEqual(plain(g.docs), FIXTURE.expect.books, "every document, in both tabs");
    assert.equal(g.all, FIXTURE.expect.queries.all);
    assert.equal(g.blocks, FIXTURE.expect.blocks);
  }
  // Each block's CID is in the packs' index once: no second copy of the data.
  const stored = await tabs[0].evaluate(async (name) => {
    const db = await new Promise((resolve, reject) => {
      const r = indexedDB.open(name);
      r.onsuccess = () => resolve(r.result);
      r.onerror = () => reject(r.error);
    });
    const count = (q) => new Promise((resolve) => (q.onsuccess = () => resolve(q.result)));
    const tx = db.transaction(["packs", "blocks"]);
    const out = { cids: await count(tx.objectStore("packs").index("by").count()), legacy: await count(tx.objectStore("blocks").count()) };
    db.close();
    await weft.Database.destroy(name);
    return out;
  }, name);
  assert.deepEqual(stored, { cids: FIXTURE.expect.blocks, legacy: 0 }, "every block stored once, layout 1's store emptied");
  assert.deepEqual(problems.flat(), [], "no page errors");
  await context.close();
});
