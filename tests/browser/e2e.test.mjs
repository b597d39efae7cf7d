// End-to-end test of the demo app (www/) on the real weftdb build (pkg/),
// driven through its UI in Debian's headless Chromium (or Firefox ESR, with
// WEFT_BROWSER=firefox). Only the calls lib.mjs's pages have in both
// browsers: selectors, evaluate, waitForFunction.
//
//   wasm-pack build --target web --profile wasm && node --test tests/browser/
//   WEFT_BROWSER=firefox node --test tests/browser/e2e.test.mjs
//
// Needs pkg/weftdb.js: .ci/test builds it before running this.
import { test as nodeTest, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { serve } from "./serve.mjs";
import { REPO_ROOT, WEB_ROOT, BROWSER, launchBrowser, watchPage } from "./lib.mjs";

const STEP = 30_000; // per wait
const TITLE = `The Test of Time ${Date.now().toString(36)}`;
const SAMPLE_COUNT = 6; // www/app.js SAMPLE_BOOKS

let server;
let browser;
let page;
let problems = [];
let started = false; // the first test opened the app; the others skip if not
/** Every test's name says which browser ran it. */
const test = (name, ...rest) => nodeTest(`${BROWSER}: ${name}`, ...rest);

before(async () => {
  const pkgJs = path.join(WEB_ROOT, "pkg", "weftdb.js");
  assert.ok(
    fs.existsSync(pkgJs),
    `${pkgJs} is missing: build it first with "wasm-pack build --target web --profile wasm" (bash .ci/test does)`,
  );
  server = await serve({ root: WEB_ROOT, port: 0 });
  browser = await launchBrowser();
  // A fresh browser profile: IndexedDB starts empty, and persists across reloads.
  const context = await browser.newContext();
  page = await context.newPage();
  page.setDefaultTimeout(STEP);
  problems = watchPage(page);
});

after(async () => {
  await browser?.close().catch(() => {});
  await server?.close();
});

/** Wait until the app has loaded (or failed to); fail with the banner text on error. */
async function waitReady() {
  await page.waitForFunction(
    () => ["ready", "error"].includes(document.querySelector("#status")?.dataset.state),
    null,
    { timeout: 60_000 },
  );
  const state = await page.getAttribute("#status", "data-state");
  if (state !== "ready") {
    const banner = await page.textContent("#error-text");
    assert.fail(`demo app did not start: ${banner}\n${problems.join("\n")}`);
  }
}

/** The selector of the list item of the book titled `title`, or null when none is listed. */
const bookItem = (title) =>
  page.evaluate((title) => {
    const li = [...document.querySelectorAll("#book-list li.book")].find((li) => li.querySelector(".title")?.textContent === title);
    return li ? `#book-list li.book[data-id="${li.dataset.id}"]` : null;
  }, title);

/** Waits until the book titled `title` is listed; its item's selector. */
async function waitBook(title) {
  await page.waitForFunction(
    (title) => [...document.querySelectorAll("#book-list li.book")].some((li) => li.querySelector(".title")?.textContent === title),
    title,
  );
  return bookItem(title);
}

const listed = () => page.evaluate(() => document.querySelectorAll("#book-list li.book").length);

async function counts() {
  return page.evaluate(() => {
    const el = document.querySelector("#count");
    return { total: Number(el.dataset.total), shown: Number(el.dataset.shown) };
  });
}

async function waitCount(total, shown = total) {
  await page.waitForFunction(
    ([t, s]) => {
      const el = document.querySelector("#count");
      return Number(el.dataset.total) === t && Number(el.dataset.shown) === s;
    },
    [total, shown],
  );
}

/**
 * Polls `fn(arg)` in the page, awaiting what it returns, until that is
 * truthy. Not playwright's waitForFunction: it does not await a promise the
 * predicate returns (a promise is truthy), so with an async predicate it
 * stops at the first poll, whatever that promise settles to (it let a `get`
 * race the update it waited for).
 */
async function pollPage(fn, arg, what) {
  const deadline = Date.now() + STEP;
  while (!(await page.evaluate(fn, arg))) {
    if (Date.now() > deadline) assert.fail(`timed out after ${STEP} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function assertNoBanner(what) {
  const hidden = await page.evaluate(() => document.querySelector("#error").hidden);
  if (!hidden) assert.fail(`${what}: error banner shown: ${await page.textContent("#error-text")}`);
}

test("the demo page loads weftdb and opens its database", { timeout: 90_000 }, async () => {
  await page.goto(`${server.url}/www/`);
  await waitReady();
  await assertNoBanner("load");
  assert.deepEqual(await counts(), { total: 0, shown: 0 }, "a fresh profile starts with no books");
  started = true;
});

/** A test that needs the running app: skipped (quickly) when it did not start. */
function appTest(name, opts, fn) {
  test(name, opts, async (t) => {
    if (!started) {
      t.skip("the demo app did not start (see the first test)");
      return;
    }
    await fn(t);
  });
}

appTest("a book added through the form appears in the list", { timeout: 60_000 }, async () => {
  await page.fill("#title", TITLE);
  await page.fill("#author", "Ada Palmer");
  await page.fill("#pages", "321");
  await page.fill("#rating", "4.5");
  await page.click("#add-button");

  const item = await waitBook(TITLE);
  assert.equal(await listed(), 1);
  assert.equal(await page.textContent(`${item} .author`), "by Ada Palmer");
  assert.equal(await page.inputValue(`${item} .pages`), "321");
  assert.equal(await page.inputValue(`${item} .rating`), "4.5");
  assert.equal(await page.isChecked(`${item} .read`), false);
  await waitCount(1);
  // The form is cleared for the next book.
  assert.equal(await page.inputValue("#title"), "");

  // The id shown is the document's id, and the database has the document.
  const id = await page.getAttribute(item, "data-id");
  assert.ok(id, "list item carries the document id");
  const doc = await page.evaluate((docId) => window.weftDemo.books.get(docId), id);
  assert.equal(doc?._id, id);
  assert.equal(doc?.title, TITLE);
  assert.equal(doc?.pages, 321);
  // A new document has exactly one head.
  await page.waitForFunction((s) => document.querySelector(s)?.textContent === "1 head", `${item} .heads`);
  await assertNoBanner("add");
});

appTest("sample books are added in one batch", { timeout: 60_000 }, async () => {
  await page.click("#sample-button");
  await waitCount(1 + SAMPLE_COUNT);
  assert.equal(await listed(), 1 + SAMPLE_COUNT);
  await assertNoBanner("samples");
});

appTest("read and pages are edited inline", { timeout: 60_000 }, async () => {
  const item = await bookItem(TITLE);
  await page.check(`${item} .read`);
  await page.waitForFunction(
    (title) =>
      [...document.querySelectorAll("#book-list li.book")].some(
        (li) => li.querySelector(".title").textContent === title && li.classList.contains("is-read"),
      ),
    TITLE,
  );
  await page.fill(`${item} .pages`, "400");
  await page.press(`${item} .pages`, "Tab"); // commits the edit (change event)
  const id = await page.getAttribute(item, "data-id");
  await pollPage((docId) => window.weftDemo.books.get(docId).then((d) => d?.pages === 400), id, "the pages edit stored");
  const doc = await page.evaluate((docId) => window.weftDemo.books.get(docId), id);
  assert.equal(doc.read, true);
  assert.equal(doc.pages, 400);
  await assertNoBanner("edit");
});

test("screenshot of the demo (target/demo.png; demo-firefox.png)", async () => {
  try {
    await page.evaluate(() => document.activeElement?.blur()).catch(() => {});
    fs.mkdirSync(path.join(REPO_ROOT, "target"), { recursive: true });
    const file = BROWSER === "chromium" ? "demo.png" : `demo-${BROWSER}.png`;
    await page.screenshot({ path: path.join(REPO_ROOT, "target", file), fullPage: true });
  } catch (err) {
    console.log(`# screenshot not taken: ${err.message}`);
  }
});

appTest("books persist across a page reload", { timeout: 90_000 }, async () => {
  await page.reload();
  await waitReady();
  await waitCount(1 + SAMPLE_COUNT);
  const item = await waitBook(TITLE);
  assert.equal(await page.isChecked(`${item} .read`), true, "read flag persisted");
  assert.equal(await page.inputValue(`${item} .pages`), "400", "pages edit persisted");
  assert.equal(await page.textContent(`${item} .author`), "by Ada Palmer");
  await assertNoBanner("reload");
});

appTest("the filter box narrows the list by title", { timeout: 60_000 }, async () => {
  await page.fill("#filter", "Test of Time");
  await waitCount(1 + SAMPLE_COUNT, 1);
  assert.equal(await listed(), 1);
  assert.ok(await bookItem(TITLE));
  assert.equal(await page.textContent("#count"), `1 of ${1 + SAMPLE_COUNT}`);
  await page.fill("#filter", "");
  await waitCount(1 + SAMPLE_COUNT);
  assert.equal(await listed(), 1 + SAMPLE_COUNT);
  await assertNoBanner("filter");
});

appTest("the sort select orders the list", { timeout: 60_000 }, async () => {
  const titles = () =>
    page.evaluate(() => [...document.querySelectorAll("#book-list li.book .title")].map((e) => e.textContent));
  const pagesList = () =>
    page.evaluate(() =>
      [...document.querySelectorAll("#book-list li.book .pages")].map((e) => (e.value === "" ? null : Number(e.value))),
    );

  await page.selectOption("#sort", "pages:DESC");
  await page.waitForFunction(
    () => document.querySelector("#book-list li.book .title")?.textContent === "Designing Data-Intensive Applications",
  );
  const desc = (await pagesList()).filter((p) => p !== null);
  assert.deepEqual(desc, [...desc].sort((a, b) => b - a), "pages descending");

  await page.selectOption("#sort", "title:ASC");
  await page.waitForFunction(() => document.querySelector("#book-list li.book .title")?.textContent === "A Psalm for the Wild-Built");
  const asc = await titles();
  assert.deepEqual(asc, [...asc].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)), "titles ascending");
  await assertNoBanner("sort");
});

appTest("a book deleted in the UI is gone, also after a reload", { timeout: 90_000 }, async () => {
  const item = await bookItem(TITLE);
  const id = await page.getAttribute(item, "data-id");
  await page.click(`${item} .delete`);
  await page.waitForFunction((s) => !document.querySelector(s), item);
  await waitCount(SAMPLE_COUNT);
  assert.equal(await page.evaluate((docId) => window.weftDemo.books.get(docId), id), null);

  await page.reload();
  await waitReady();
  await waitCount(SAMPLE_COUNT);
  assert.equal(await bookItem(TITLE), null);
  await assertNoBanner("delete");
});

test("no uncaught errors on the page", () => {
  assert.deepEqual(problems, []);
});
