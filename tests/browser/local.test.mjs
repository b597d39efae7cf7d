// `weftdb/local`: the package's second entry point, the database built
// without the network (`--no-default-features`), used as an app would: in
// real pages of headless Chromium on real IndexedDB, with no node at all.
//
//   wasm-pack build --target web --profile wasm && \
//   wasm-pack build --target web --profile wasm --out-dir pkg/local -- --no-default-features && \
//   node npm/finish.mjs && node --test tests/browser/local.test.mjs
//
// The page imports `weftdb/local` and `weftdb` by name, through an import map
// made from pkg/package.json's `exports` (what a bundler reads).
import { test as nodeTest, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { BROWSER, WEB_ROOT, launchBrowser, watchPage } from "./lib.mjs";
import { serve } from "./serve.mjs";
import { WAIT, until } from "./pages.mjs";

const test = (name, ...rest) => nodeTest(`${BROWSER}: ${name}`, ...rest);
const SDL = "type Note { title: String! @index done: Boolean pages: Int }";
const PKG = path.join(WEB_ROOT, "pkg");

let server;
let browser;
let imports;

before(async () => {
  const exports = JSON.parse(fs.readFileSync(path.join(PKG, "package.json"), "utf8")).exports;
  assert.ok(exports["./local"], "pkg/package.json exports weftdb/local (node npm/finish.mjs after both builds)");
  const url = (target) => `/pkg/${target.default.replace(/^\.\//, "")}`;
  imports = { weftdb: url(exports["."]), "weftdb/local": url(exports["./local"]) };
  server = await serve({ root: WEB_ROOT, port: 0 });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close().catch(() => {});
  await server?.close();
});

/**
 * A tab of `context` with `specifier` ("weftdb/local" or "weftdb")
 * imported by name and initialised as `window.weft`.
 */
async function tab(context, specifier, page) {
  if (!page) {
    page = await context.newPage();
    page.setDefaultTimeout?.(WAIT);
    page.problems = watchPage(page);
  }
  await page.goto(`${server.url}/tests/browser/blank.html`);
  await page.evaluate(
    async ({ imports, specifier }) => {
      const map = document.createElement("script");
      map.type = "importmap";
      map.textContent = JSON.stringify({ imports });
      document.head.append(map);
      const weft = await import(specifier);
      await weft.default();
      window.weft = weft;
    },
    { imports, specifier },
  );
  return page;
}

test("weftdb/local: open, schema, writes, queries, subscriptions, export/import, and everything read back after a reload", async () => {
  const context = await browser.newContext();
  const page = await tab(context, "weftdb/local");
  const written = await page.evaluate(async (sdl) => {
    const db = await weft.Database.open("local-app", { durability: "strict" });
    await db.addSchema(sdl);
    const notes = db.collection("Note");
    const heard = [];
    const stop = notes.subscribe((e) => heard.push(`${e.type} ${e.doc?.title ?? e.id}`));
    const a = await notes.create({ title: "groceries", done: false, pages: 1 });
    const [b, c] = await notes.createMany([
      { title: "taxes", done: false, pages: 12 },
      { title: "letters", done: true, pages: 3 },
    ]);
    await notes.update(a, { done: true });
    await notes.delete(c);
    stop();
    await notes.create({ title: "after unsubscribe", pages: 0 });
    const open = await notes.find({ filter: { done: { _eq: false } }, order: { pages: "DESC" } });
    const byTitle = await notes.find({ filter: { title: { _eq: "groceries" } } });
    const exported = await db.exportBlocks();
    // Another database of the page, with the same schema, takes this one's blocks.
    const copy = await weft.Database.open("local-app-copy");
    await copy.addSchema(sdl);
    const report = await copy.importBlocks(exported);
    const copied = await copy.collection("Note").count();
    await copy.close();
    await db.close();
    return {
      a,
      c,
      heard,
      open: open.map((d) => d.title),
      byTitle: byTitle.map((d) => d._id),
      report: { merged: report.merged, refused: report.refused.length },
      copied,
    };
  }, SDL);
  assert.deepEqual(written.heard, [
    "create groceries",
    "create taxes",
    "create letters",
    "update groceries",
    `delete ${written.c}`,
  ]);
  assert.deepEqual(written.open, ["taxes"]);
  assert.deepEqual(written.byTitle, [written.a]);
  assert.ok(written.report.merged > 0 && written.report.refused === 0, JSON.stringify(written.report));
  assert.equal(written.copied, 3);

  // A reload: a new wasm instance on the same IndexedDB.
  await tab(context, "weftdb/local", page);
  const reread = await page.evaluate(async (a) => {
    const db = await weft.Database.open("local-app");
    const notes = db.collection("Note");
    const result = {
      names: db.collectionNames(),
      a: await notes.get(a),
      count: await notes.count(),
      titles: (await notes.find({ order: { title: "ASC" } })).map((d) => d.title),
      heads: (await notes.heads(a)).length,
    };
    await db.close();
    return result;
  }, written.a);
  assert.deepEqual(reread.names, ["Note"]);
  assert.equal(reread.a.title, "groceries");
  assert.equal(reread.a.done, true);
  assert.equal(reread.count, 3);
  assert.deepEqual(reread.titles, ["after unsubscribe", "groceries", "taxes"]);
  assert.equal(reread.heads, 1);
  assert.deepEqual(page.problems, []);
  await context.close();
});

// JS numbers cross into wasm as JSON text, which serde_json (built without
// `float_roundtrip`, ~11 KB of page wasm) read back one ULP off for many
// doubles of 16-17 digits: 985.6906946328695 was stored as ...696. Both
// builds, through every way a number goes in: a create, an update, a
// `createMany`, a query's filter; read back by `get`, found by `_eq`, and
// after a reload.
const DOUBLES = [
  985.6906946328695, 0.1 + 0.2, 3e-300, 5e-324, Number.MAX_VALUE, -2.2250738585072014e-308,
  123456789.12345679, 2 ** 53 + 2, 1e23, 1.7976931348623155e308, -0.30000000000000004, 4.35, 2 ** 64,
];
for (const specifier of ["weftdb/local", "weftdb"]) {
  test(`${specifier}: numbers are stored to the bit, however they go in and come out`, async () => {
    const context = await browser.newContext();
    const page = await tab(context, specifier);
    const sdl = "type Reading { x: Float @index  y: Float  list: [Float]  meta: JSON  n: Int }";
    const check = async (open) =>
      page.evaluate(
        async ({ sdl, xs, open }) => {
          const db = await weft.Database.open("doubles");
          const col = db.collection("Reading");
          if (!open) {
            await db.addSchema(sdl);
            for (const x of xs) {
              const id = await col.create({ x, y: 1, list: [x, -x], meta: { deep: [{ x }] }, n: 1 });
              await col.update(id, { y: x });
            }
            await col.createMany(xs.map((x) => ({ x: -x, y: -x, n: 2 })));
          }
          const wrong = [];
          const same = (a, b) => Object.is(a, b) || wrong.push(`${a} for ${b}`);
          for (const x of xs) {
            const [doc, ...more] = await col.find({ filter: { x: { _eq: x }, n: { _eq: 1 } } });
            if (!doc || more.length) {
              wrong.push(`_eq ${x} found ${more.length + (doc ? 1 : 0)}`);
              continue;
            }
            const got = await col.get(doc._id);
            for (const d of [doc, got]) {
              same(d.x, x);
              same(d.y, x);
              same(d.list[0], x);
              same(d.list[1], -x);
              same(d.meta.deep[0].x, x);
            }
            const [neg] = await col.find({ filter: { x: { _eq: -x }, n: { _eq: 2 } } });
            if (neg) same(neg.y, -x);
            else wrong.push(`_eq ${-x} found nothing`);
          }
          // Integers past 2^53 are an Int's, put back exact (JSON writes 2^60
          // as 1152921504606847000, and -2^63 as a number no i64 holds).
          for (const n of [2 ** 53, 2 ** 60, -(2 ** 63), 2 ** 63 - 2 ** 10]) {
            const id = open ? (await col.find({ filter: { n: { _eq: n } } }))[0]?._id : await col.create({ x: 1, n });
            const got = id && (await col.get(id));
            if (!got || !Object.is(got.n, n)) wrong.push(`Int ${n} came back as ${got?.n}`);
          }
          if (!open) {
            // A Number object is its number; raw JSON's text is refused,
            // not taken for another value.
            const boxed = await col.create({ x: new Number(0.7), y: 3.3 });
            const b = await col.get(boxed);
            if (!Object.is(b.x, 0.7) || !Object.is(b.y, 3.3)) wrong.push(`a Number object: ${JSON.stringify(b)}`);
            if (typeof JSON.rawJSON === "function") {
              const code = await col.create({ x: 3.3, meta: JSON.rawJSON("0.75") }).then(() => "written", (e) => e.code);
              if (code !== "VALIDATION") wrong.push(`raw JSON: ${code}`);
            }
          }
          await db.close();
          return wrong;
        },
        { sdl, xs: DOUBLES, open },
      );
    assert.deepEqual(await check(false), []);
    await tab(context, specifier, page);
    assert.deepEqual(await check(true), [], "after a reload");
    assert.deepEqual(page.problems, []);
    await context.close();
  });
}

test("weftdb/local has no network: no network methods, network options and events refused with VALIDATION", async () => {
  const context = await browser.newContext();
  const page = await tab(context, "weftdb/local");
  const seen = await page.evaluate(async () => {
    const db = await weft.Database.open("local-no-net");
    const refusal = async (f) => {
      try {
        await f();
        return "no error";
      } catch (e) {
        return `${e instanceof Error} ${e.code}: ${e.message}`;
      }
    };
    const result = {
      members: ["peerId", "status", "networkStats", "connections", "dial", "replicators", "collections"].filter(
        (m) => m in db,
      ),
      exports: ["Replicators", "Collections", "__verifyBlocks"].filter((m) => m in weft),
      authorKey: /^[0-9a-f]{64}$/.test(db.authorKey),
      peers: await refusal(() => weft.Database.open("local-no-net", { peers: ["/ip4/127.0.0.1/tcp/1/ws"] })),
      p2p: await refusal(() => weft.Database.open("local-no-net", { p2p: true })),
      peerEvent: await refusal(() => db.on("peer", () => {})),
      unknown: await refusal(() => weft.Database.open("local-no-net", { durable: true })),
      p2pFalse: await refusal(async () => (await weft.Database.open("local-no-net", { p2p: false })).close()),
      stale: typeof db.on("stale", () => {}),
    };
    await db.close();
    return result;
  });
  assert.deepEqual(seen.members, [], "the network's methods are not on a local Database");
  assert.deepEqual(seen.exports, [], "the network's classes are not exported");
  assert.ok(seen.authorKey);
  assert.match(seen.peers, /^true VALIDATION: .*weftdb\/local is built without the network; import "weftdb"/);
  assert.match(seen.p2p, /^true VALIDATION: .*"p2p"/);
  assert.match(seen.peerEvent, /^true VALIDATION: unknown event "peer": weftdb\/local has no network/);
  assert.match(seen.unknown, /^true VALIDATION: unknown open option "durable"/);
  assert.equal(seen.p2pFalse, "no error");
  assert.equal(seen.stale, "function");

  // The types say the same: none of the network's names in local/weftdb.d.ts.
  const dts = fs.readFileSync(path.join(PKG, "local", "weftdb.d.ts"), "utf8");
  for (const name of ["dial(", "networkStats", "replicators", "WeftNetworkStats", "WeftStatus", "peers?:", "WeftPeerEvent"]) {
    assert.ok(!dts.includes(name), `local/weftdb.d.ts mentions ${name}`);
  }
  for (const name of ["addSchema", "importBlocks", "durability?:", "stale: undefined", "class Collection<"]) {
    assert.ok(dts.includes(name), `local/weftdb.d.ts lacks ${name}`);
  }
  const full = fs.readFileSync(path.join(PKG, "weftdb.d.ts"), "utf8");
  for (const name of ["dial(", "WeftNetworkStats", "peers?:", "peer: WeftPeerEvent", "stale: undefined"]) {
    assert.ok(full.includes(name), `weftdb.d.ts lacks ${name}`);
  }
  assert.deepEqual(page.problems, []);
  await context.close();
});

test("a database written by weftdb opens with weftdb/local and back: same records, same key, both writes kept", async () => {
  const context = await browser.newContext();
  const page = await tab(context, "weftdb");
  const first = await page.evaluate(async (sdl) => {
    const db = await weft.Database.open("shared-layout");
    await db.addSchema(sdl);
    const notes = db.collection("Note");
    const id = await notes.create({ title: "from weftdb", pages: 1 });
    await notes.createMany([{ title: "two", pages: 2 }, { title: "three", pages: 3 }]);
    const out = { id, key: db.authorKey, heads: await notes.heads(id), blocks: (await db.exportBlocks()).length };
    await db.close();
    return out;
  }, SDL);

  await tab(context, "weftdb/local", page);
  const second = await page.evaluate(async (id) => {
    const db = await weft.Database.open("shared-layout");
    const notes = db.collection("Note");
    const out = {
      key: db.authorKey,
      doc: await notes.get(id),
      heads: await notes.heads(id),
      big: (await notes.find({ filter: { pages: { _ge: 2 } }, order: { pages: "ASC" } })).map((d) => d.title),
      blocks: (await db.exportBlocks()).length,
    };
    await notes.update(id, { title: "edited by weftdb/local" });
    out.local = await notes.create({ title: "from weftdb/local", pages: 4 });
    await db.close();
    return out;
  }, first.id);
  assert.equal(second.key, first.key, "the same signing key");
  assert.equal(second.doc.title, "from weftdb");
  assert.deepEqual(second.heads, first.heads);
  assert.deepEqual(second.big, ["two", "three"]);
  assert.equal(second.blocks, first.blocks);

  await tab(context, "weftdb", page);
  const third = await page.evaluate(
    async ({ id, local }) => {
      const db = await weft.Database.open("shared-layout");
      const notes = db.collection("Note");
      const out = {
        doc: await notes.get(id),
        local: await notes.get(local),
        count: await notes.count(),
        indexed: (await notes.find({ filter: { title: { _eq: "from weftdb/local" } } })).map((d) => d._id),
      };
      await db.close();
      return out;
    },
    { id: first.id, local: second.local },
  );
  assert.equal(third.doc.title, "edited by weftdb/local");
  assert.equal(third.local.pages, 4);
  assert.equal(third.count, 4);
  assert.deepEqual(third.indexed, [second.local]);
  assert.deepEqual(page.problems, []);
  await context.close();
});

test("weftdb/local in two tabs: each reads the other's writes, concurrent edits of one document both kept; subscriptions hear their own tab", async () => {
  const context = await browser.newContext();
  const a = await tab(context, "weftdb/local");
  const b = await tab(context, "weftdb/local");
  const id = await a.evaluate(async (sdl) => {
    window.db = await weft.Database.open("local-tabs");
    await window.db.addSchema(sdl);
    window.heard = [];
    window.db.collection("Note").subscribe((e) => window.heard.push(`${e.type} ${e.doc?.title}`));
    return window.db.collection("Note").create({ title: "shared", pages: 1 });
  }, SDL);
  await b.evaluate(async () => {
    window.db = await weft.Database.open("local-tabs");
  });
  // Both tabs edit the document at once: IndexedDB runs their readwrite
  // transactions one after the other, and each builds on the other's block.
  await Promise.all([
    a.evaluate((id) => window.db.collection("Note").update(id, { title: "title from A" }), id),
    b.evaluate((id) => window.db.collection("Note").update(id, { pages: 2 }), id),
  ]);
  const fromB = await b.evaluate(() => window.db.collection("Note").create({ title: "made in B", pages: 5 }));
  const seenByA = await a.evaluate(
    async ({ id, fromB }) => {
      const notes = window.db.collection("Note");
      return { doc: await notes.get(id), fromB: await notes.get(fromB), heads: (await notes.heads(id)).length };
    },
    { id, fromB },
  );
  assert.equal(seenByA.doc.title, "title from A");
  assert.equal(seenByA.doc.pages, 2);
  assert.equal(seenByA.fromB.title, "made in B");
  assert.equal(seenByA.heads, 1, "one head: the later edit built on the earlier one");
  // A's subscriber heard A's own writes; B's arrive in A by reading (no
  // BroadcastChannel without the network: see src/lib.rs, "Many tabs").
  await until(a, "A's own writes heard", () => window.heard.length >= 2);
  assert.deepEqual(await a.evaluate(() => window.heard), ["create shared", "update title from A"]);
  assert.deepEqual([...a.problems, ...b.problems], []);
  await context.close();
});
