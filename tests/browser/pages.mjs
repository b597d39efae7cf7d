// What the browser network suites share: polling a page, and two pages
// editing one document until they converge.
import assert from "node:assert/strict";

export const WAIT = 30_000;

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
