// What the browser network suites share: a node, the test server and a
// browser for the suite; a tab with weftdb loaded; polling a page, and two
// pages editing one document until they converge.
import assert from "node:assert/strict";
import { serve } from "./serve.mjs";
import { WEB_ROOT, launchBrowser, watchPage } from "./lib.mjs";
import { startNode } from "./node.mjs";

export const WAIT = 30_000;

/**
 * What a suite runs against: a `weft start` node on loopback (`prepare(node)`
 * readies it, e.g. its schema), the static server of the repository, and
 * the browser. Stop them with {@link stopSuite}.
 */
export async function startSuite(prepare = async () => {}) {
  const node = await startNode();
  await prepare(node);
  const server = await serve({ root: WEB_ROOT, port: 0 });
  const browser = await launchBrowser();
  return { node, server, browser };
}

/** Stops what {@link startSuite} started (any part may be missing). */
export async function stopSuite({ node, server, browser }) {
  await browser?.close().catch(() => {});
  await server?.close();
  await node?.stop();
}

/**
 * A new tab of `context` on the server's blank page with weftdb's package
 * loaded as `window.weft`; `init` runs in the page before any of its
 * scripts. Resolves to the page and what it logs ({@link watchPage}).
 */
export async function weftTab(context, server, { init, html = "blank.html" } = {}) {
  const page = await context.newPage();
  page.setDefaultTimeout?.(WAIT);
  const problems = watchPage(page);
  if (init) await page.addInitScript(init);
  await page.goto(`${server.url}/tests/browser/${html}`);
  await page.evaluate(async () => {
    const weft = await import("/pkg/weftdb.js");
    await weft.default();
    window.weft = weft;
  });
  return { page, problems };
}

/** Polls `fn` in the page until it returns a truthy value. */
export async function until(page, what, fn, arg) {
  const deadline = Date.now() + WAIT;
  for (;;) {
    const value = await page.evaluate(fn, arg);
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A document and its heads as `page` sees them. */
export const stateOf = (page, id) =>
  page.evaluate(async (id) => {
    const books = window.db.collection("Book");
    return JSON.stringify([await books.get(id), await books.heads(id)]);
  }, id);

/**
 * A creates a book, B sees it; B edits it, A sees that; both edit at once
 * and converge. Resolves to the book's id.
 */
export async function editsConverge(a, b) {
  const id = await a.evaluate(() => window.db.collection("Book").create({ title: "Dune", pages: 412 }));
  await until(b, "A's document on B", (id) => window.db.collection("Book").get(id).then((d) => d?.title === "Dune"), id);
  await b.evaluate((id) => window.db.collection("Book").update(id, { pages: 500 }), id);
  await until(a, "B's edit on A", (id) => window.db.collection("Book").get(id).then((d) => d?.pages === 500), id);
  await Promise.all([
    a.evaluate((id) => window.db.collection("Book").update(id, { pages: 1 }), id),
    b.evaluate((id) => window.db.collection("Book").update(id, { title: "Dune Messiah" }), id),
  ]);
  let sa;
  let sb;
  for (let t = Date.now(); ; ) {
    [sa, sb] = [await stateOf(a, id), await stateOf(b, id)];
    if (sa === sb && JSON.parse(sa)[0].title === "Dune Messiah" && JSON.parse(sa)[0].pages === 1) break;
    assert.ok(Date.now() - t < WAIT, `A and B did not converge:\nA ${sa}\nB ${sb}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  // Two heads when the edits crossed; one when a page saw the other's first.
  assert.ok([1, 2].includes(JSON.parse(sa)[1].length), sa);
  return id;
}
