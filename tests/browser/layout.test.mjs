// A page's database written by storage layout 1 (a record per block, per
// document's heads and state, per index entry: IndexedDB version 1) opens in
// this build (layout 5, IndexedDB version 6) with the same documents, heads, blocks and
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

/** In the page: what a migrated database shows, read through the API. */
async function readMigrated(db, fixture) {
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
    t1Page: await books.find({ filter: { title: { _in: ["t1"] } }, offset: 1, limit: 2 }),
    t1Count: await books.count({ filter: { title: { _eq: "t1" } } }),
    pages: await books.find({ filter: { pages: { _ge: 10 } }, order: { pages: "ASC" } }),
    p555: await books.find({ filter: { pages: { _eq: 555 } } }),
    all: await books.count(),
    blocks: (await db.exportBlocks()).length,
  };
}

/** In the page, to read what a build left: a buffer as hex, a plain open
 * of a database at its version, a request's result. */
const hexOf = (b) => [...new Uint8Array(b)].map((x) => x.toString(16).padStart(2, "0")).join("");
const opened = (name) =>
  new Promise((resolve, reject) => {
    const r = indexedDB.open(name);
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
const all = (q) => new Promise((resolve) => (q.onsuccess = () => resolve(q.result)));
const READERS = `window.hexOf = ${hexOf}, window.opened = ${opened}, window.all = ${all}`;

/** In the page: what a build of layouts 2 to 4 left, at IndexedDB
 * `version`: its object stores (packs as `{v, k}` records under a
 * `multiEntry` index `by`), the fixture's rows in them (`packs_by` names
 * each pack's CIDs; from version 5 on, index entries as strings). */
async function writePacked(fixture, name, version) {
  const bytes = (hex) => new Uint8Array(hex.match(/../g)?.map((h) => parseInt(h, 16)) ?? []);
  const STORES = ["packs", "documents", "entries", "meta", "pending", "waiting", "outbox", "blocks", "heads", "docs", "index"];
  const old = await new Promise((resolve, reject) => {
    const r = indexedDB.open(name, version);
    r.onupgradeneeded = () => {
      for (const s of STORES) {
        const st = r.result.createObjectStore(s);
        if (s === "packs") st.createIndex("by", "k", { multiEntry: true });
      }
    };
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
  const tx = old.transaction(STORES, "readwrite");
  const by = fixture.tables.packs_by;
  for (const [k, v] of fixture.tables.packs) {
    const cids = by.filter(([, pack]) => pack === k).map(([cid]) => bytes(cid));
    tx.objectStore("packs").put({ v: bytes(v), k: cids }, bytes(k));
  }
  for (const [t, rows] of Object.entries(fixture.tables)) {
    if (t.startsWith("packs")) continue;
    // Since layout 3 (version 5) an index entry is JSON text, a string in IndexedDB.
    const value = t === "entries" && version >= 5 ? (v) => new TextDecoder().decode(bytes(v)) : bytes;
    for (const [k, v] of rows) tx.objectStore(t).put(value(v), bytes(k));
  }
  await new Promise((resolve, reject) => ((tx.oncomplete = resolve), (tx.onabort = () => reject(tx.error))));
  old.close();
}

/** A new page on blank.html with `readMigrated`, `writePacked` and the
 * readers in it, and the fixture `file` of tests/fixtures. */
async function packedPage(file) {
  const fixture = JSON.parse(fs.readFileSync(path.join(WEB_ROOT, "tests/fixtures", file), "utf8"));
  const page = await browser.newPage();
  page.setDefaultTimeout?.(WAIT);
  const problems = watchPage(page);
  await page.goto(`${server.url}/tests/browser/blank.html`);
  await page.evaluate(`(window.readMigrated = ${readMigrated}, window.writePacked = ${writePacked}, ${READERS}, 0)`);
  return { fixture, page, problems };
}

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
  await page.evaluate(`(window.writeLayout1 = ${writeLayout1}, window.readMigrated = ${readMigrated}, 0)`);
  const got = await page.evaluate(async (fixture) => {
    const weft = await import("/pkg/weftdb.js");
    await weft.default();
    const name = "layout1-app";
    await weft.Database.destroy(name);
    await writeLayout1(fixture, name);
    let db = await weft.Database.open(name);
    const migrated = await readMigrated(db, fixture);
    const id = Object.keys(fixture.expect.books)[0];
    await db.collection("Book").update(id, { pages: 555 });
    const written = (await db.collection("Book").find({ filter: { pages: { _eq: 555 } } })).map((d) => d._id);
    await db.close();
    db = await weft.Database.open(name);
    const reopened = await readMigrated(db, fixture);
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
  assert.deepEqual(plain(got.migrated.t1Page), e.queries.t1.slice(1, 3), "a page of it");
  assert.equal(got.migrated.t1Count, e.queries.t1.length);
  assert.deepEqual(plain(got.migrated.pages), e.queries.pages_ge_10, "an indexed range query with an order");
  assert.equal(got.migrated.all, e.queries.all);
  assert.equal(got.migrated.blocks, e.blocks, "every merged block");
  assert.deepEqual(got.written, [got.id], "the index follows a write after the migration");
  assert.equal(got.reopened.docs[got.id].pages, 555, "the write survives a reopen");
  assert.deepEqual(plain(got.reopened.p555).map((d) => d._id), [got.id], "and so does its index entry");
  assert.equal(got.reopened.blocks, e.blocks + 1);
  assert.equal(got.stores.version, 6);
  assert.deepEqual(got.stores.counts, { blocks: 0, heads: 0, docs: 0, index: 0 }, "layout 1's stores are emptied");
  assert.ok(got.stores.names.includes("packs") && got.stores.names.includes("documents"));
  assert.deepEqual(problems, [], "no page errors");
  await page.close();
});

// A database written by layout 2 (index entries that carried the document
// record), at IndexedDB version 3 or 4 (the builds of layout 2 made both,
// with the same stores: 3 before a commit's changes went to other tabs in
// one message), opens in this build: upgraded to version 6, its index
// entries rewritten as the documents' JSON, every document, head, query
// and block as layout 2 read them. The rows are tests/fixtures/layout2.json,
// written by the layout-2 code itself; the page writes them with plain
// IndexedDB calls, as that build left them (packs as `{v, k}` records under
// an index `by`).
test("a layout-2 database (IndexedDB version 3 or 4) opens migrated: documents, heads, queries, blocks; then writes and reopens", async () => {
  const { fixture, page, problems } = await packedPage("layout2.json");
  const runs = await page.evaluate(async (fixture) => {
    const weft = await import("/pkg/weftdb.js");
    await weft.default();
    const out = [];
    for (const version of [3, 4]) {
      const name = `layout2-v${version}`;
      await weft.Database.destroy(name).catch(() => {});
      // Layout 2's object stores, as its builds made them.
      await writePacked(fixture, name, version);

      let db = await weft.Database.open(name);
      const migrated = await readMigrated(db, fixture);
      const id = fixture.expect.queries.pages_555[0]._id;
      await db.collection("Book").update(id, { pages: 556 });
      const written = (await db.collection("Book").find({ filter: { pages: { _eq: 556 } } })).map((d) => d._id);
      const left = await db.collection("Book").count({ filter: { pages: { _eq: 555 } } });
      await db.close();
      db = await weft.Database.open(name);
      const reopened = await readMigrated(db, fixture);
      await db.close();
      const after = await opened(name);
      const meta = after.transaction("meta").objectStore("meta");
      const layout = await all(meta.get(new TextEncoder().encode("layout")));
      const entries = await all(after.transaction("entries").objectStore("entries").getAll());
      const entryKeys = (await all(after.transaction("entries").objectStore("entries").getAllKeys())).map(hexOf);
      out.push({ version, after: after.version, layout: [...layout], entries, entryKeys, migrated, written, left, reopened, id });
      after.close();
      await weft.Database.destroy(name);
    }
    return out;
  }, fixture);
  const e = fixture.expect;
  const plain = (v) => JSON.parse(JSON.stringify(v));
  assert.equal(runs.length, 2);
  for (const got of runs) {
    const at = `version ${got.version}`;
    assert.deepEqual(plain(got.migrated.docs), e.books, `${at}: every document as layout 2 read it`);
    assert.deepEqual(plain(got.migrated.heads), e.heads, `${at}: every document's heads`);
    assert.deepEqual(plain(got.migrated.note), e.note[1], at);
    assert.deepEqual(plain(got.migrated.t1), e.queries.t1, `${at}: an indexed equality query, the entries as they are`);
    assert.deepEqual(plain(got.migrated.t1Page), e.queries.t1.slice(1, 3), `${at}: a page of it`);
    assert.equal(got.migrated.t1Count, e.queries.t1.length, at);
    assert.deepEqual(plain(got.migrated.pages), e.queries.pages_ge_10, `${at}: an indexed range query with an order`);
    assert.deepEqual(plain(got.migrated.p555), e.queries.pages_555, `${at}: the entry layout 2 moved`);
    assert.equal(got.migrated.all, e.queries.all, at);
    assert.equal(got.migrated.blocks, e.blocks, `${at}: every block`);
    assert.deepEqual(got.written, [got.id], `${at}: the index follows a write after the migration`);
    assert.equal(got.left, 0, `${at}: and leaves no entry behind`);
    assert.equal(got.reopened.docs[got.id].pages, 556, `${at}: the write survives a reopen`);
    assert.equal(got.reopened.blocks, e.blocks + 1, at);
    assert.equal(got.after, 6, `${at}: upgraded to IndexedDB version 6`);
    assert.deepEqual(got.layout, [5], `${at}: storage layout 5`);
    assert.equal(got.entries.length, fixture.tables.entries.length, `${at}: every index entry kept`);
    for (const [i, text] of got.entries.entries()) {
      assert.equal(typeof text, "string", `${at}: an entry is JSON text`);
      const doc = JSON.parse(text);
      assert.ok(got.entryKeys[i].endsWith(Buffer.from(doc._id).toString("hex")), `${at}: entry ${i} carries its own document`);
    }
  }
  assert.deepEqual(problems, [], "no page errors");
  await page.close();
});

// A database written by layout 3 (IndexedDB version 5) whose outbox holds
// blocks queued for two replicators' peers, keyed peer ‖ 0 ‖ CID, opens in
// this build: upgraded to version 6, every outbox row keyed anew
// peer ‖ 0 ‖ height ‖ CID with its value as it was, the documents as they
// were. The rows are tests/fixtures/layout3-outbox.json, written by the
// layout-3 code itself. (What a peer is then sent, and in what order, is
// `db::layout`'s test of the same fixture, natively.)
test("a layout-3 database (IndexedDB version 5) opens with its outbox keyed by height", async () => {
  const { fixture, page, problems } = await packedPage("layout3-outbox.json");
  const got = await page.evaluate(async (fixture) => {
    const weft = await import("/pkg/weftdb.js");
    await weft.default();
    const name = "layout3-outbox";
    await weft.Database.destroy(name).catch(() => {});
    // Layout 3's object stores, as its builds made them (version 5).
    await writePacked(fixture, name, 5);

    const db = await weft.Database.open(name);
    const books = [];
    for (const id of fixture.expect.books) books.push(await db.collection("Book").get(id));
    const heads = [];
    for (const id of fixture.expect.books) heads.push((await db.collection("Book").heads(id)).length);
    await db.close();
    const after = await opened(name);
    const layout = await all(after.transaction("meta").objectStore("meta").get(new TextEncoder().encode("layout")));
    const store = after.transaction("outbox").objectStore("outbox");
    const keys = (await all(store.getAllKeys())).map(hexOf);
    const values = (await all(store.getAll())).map(hexOf);
    const version = after.version;
    after.close();
    await weft.Database.destroy(name);
    return { books, heads, layout: [...layout], keys, values, version };
  }, fixture);
  assert.equal(got.version, 6, "upgraded to IndexedDB version 6");
  assert.deepEqual(got.layout, [5], "storage layout 5");
  // Each row anew: the peer's prefix, the height (its value's first 8
  // bytes), the CID (the old key's last 36 bytes); the value as it was.
  const want = fixture.tables.outbox
    .map(([k, v]) => [k.slice(0, -72) + v.slice(0, 16) + k.slice(-72), v])
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  assert.equal(want.length, 21);
  assert.deepEqual(got.keys.map((k, i) => [k, got.values[i]]), want, "every outbox row, keyed by height");
  assert.deepEqual(got.books.map((b) => b.pages), [20, 20, 20], "the documents as they were");
  assert.deepEqual(got.heads, [1, 1, 1], "one head each");
  assert.deepEqual(problems, [], "no page errors");
  await page.close();
});

// A database written by layout 4 (IndexedDB version 6, the signing key's
// record the seed alone) opens in this build with the same key (the author
// key its blocks name), documents, heads, queries and blocks; its key's
// record is rewritten as the seed followed by the layout, which a reopen
// reads with the schemas in one request, and the version stays 6. The rows
// are tests/fixtures/layout4.json, written by the layout-4 code itself.
test("a layout-4 database (IndexedDB version 6) opens with the same key, documents and blocks; then writes and reopens", async () => {
  const { fixture, page, problems } = await packedPage("layout4.json");
  const got = await page.evaluate(async (fixture) => {
    const weft = await import("/pkg/weftdb.js");
    await weft.default();
    const name = "layout4-key";
    await weft.Database.destroy(name).catch(() => {});
    await writePacked(fixture, name, 6);
    const read = async (db) => {
      const books = db.collection("Book");
      const docs = {};
      const heads = {};
      for (const id of Object.keys(fixture.expect.books)) {
        docs[id] = await books.get(id);
        heads[id] = await books.heads(id);
      }
      return {
        author: db.authorKey,
        docs,
        heads,
        deleted: await books.get(fixture.expect.deleted),
        note: await db.collection("Note").get(fixture.expect.note[0]),
        t1b: await books.find({ filter: { title: { _eq: "t1b" } } }),
        pages: await books.find({ filter: { pages: { _ge: 10 } }, order: { pages: "ASC" } }),
        blocks: (await db.exportBlocks()).length,
      };
    };
    let db = await weft.Database.open(name);
    const migrated = await read(db);
    const id = await db.collection("Book").create({ title: "after" });
    await db.close();
    // The reopen's reads of `meta`, counted.
    const asked = [];
    const wrap = (m) => {
      const f = IDBObjectStore.prototype[m];
      IDBObjectStore.prototype[m] = function (...a) {
        if (this.name === "meta") asked.push(m);
        return f.apply(this, a);
      };
      return () => (IDBObjectStore.prototype[m] = f);
    };
    const unwrap = ["get", "getAll", "getAllKeys", "openCursor"].map(wrap);
    db = await weft.Database.open(name);
    unwrap.forEach((u) => u());
    const reopened = await read(db);
    const after = (await db.collection("Book").get(id))?.title;
    await db.close();
    const raw = await opened(name);
    const meta = raw.transaction("meta").objectStore("meta");
    const enc = (s) => new TextEncoder().encode(s);
    const layout = [...(await all(meta.get(enc("layout"))))];
    const key = hexOf(await all(meta.get(enc("signing-key"))));
    const version = raw.version;
    raw.close();
    await weft.Database.destroy(name);
    return { migrated, reopened, after, asked, layout, key, version };
  }, fixture);
  const e = fixture.expect;
  const plain = (v) => JSON.parse(JSON.stringify(v));
  const seed = fixture.tables.meta.find(([k]) => k === Buffer.from("signing-key").toString("hex"))[1];
  assert.equal(seed.length, 64, "layout 4 stored the seed alone");
  for (const [at, r] of [["migrated", got.migrated], ["reopened", got.reopened]]) {
    assert.equal(r.author, e.author, `${at}: the same signing key`);
    assert.deepEqual(plain(r.docs), e.books, `${at}: every document`);
    assert.deepEqual(plain(r.heads), e.heads, `${at}: every document's heads`);
    assert.equal(r.deleted, null, `${at}: the deleted document stays deleted`);
    assert.deepEqual(plain(r.note), e.note[1], at);
    assert.deepEqual(plain(r.t1b), e.queries.t1b, `${at}: an indexed equality query`);
    assert.deepEqual(plain(r.pages), e.queries.pages_ge_10, `${at}: an indexed range query with an order`);
  }
  assert.equal(got.migrated.blocks, e.blocks, "every block");
  assert.equal(got.reopened.blocks, e.blocks + 1, "and the one written after");
  assert.equal(got.after, "after");
  assert.deepEqual(got.layout, [5], "storage layout 5");
  assert.equal(got.key, seed + "05", "the key's record: the seed, then the layout");
  assert.equal(got.version, 6, "IndexedDB version 6, as layout 4's");
  assert.deepEqual(got.asked, ["getAll"], "a reopen reads meta in one request");
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
