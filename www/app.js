// Reading list: a small local-first app on weftdb.
//
// Everything goes through weftdb's JS API (pkg/weftdb.js, built by
// `wasm-pack build --target web --profile wasm`): the list is loaded with
// `find`, kept live with `subscribe`, and every edit is a document update.

const PKG_URL = "../pkg/weftdb.js";
const DB_NAME = "weft-demo";
const SCHEMA = `type Book {
  title: String! @index
  author: String
  pages: Int
  rating: Float
  read: Boolean
}`;
const LIST_LIMIT = 500;

const SAMPLE_BOOKS = [
  { title: "The Left Hand of Darkness", author: "Ursula K. Le Guin", pages: 304, rating: 5, read: true },
  { title: "Dune", author: "Frank Herbert", pages: 412, rating: 4.5, read: true },
  { title: "A Psalm for the Wild-Built", author: "Becky Chambers", pages: 160, rating: 4, read: false },
  { title: "Piranesi", author: "Susanna Clarke", pages: 272, read: false },
  { title: "The Dispossessed", author: "Ursula K. Le Guin", pages: 387, rating: 4.5, read: false },
  { title: "Designing Data-Intensive Applications", author: "Martin Kleppmann", pages: 616, rating: 5, read: true },
];

const $ = (id) => document.getElementById(id);
const els = {
  status: $("status"),
  statusText: $("status-text"),
  error: $("error"),
  errorText: $("error-text"),
  errorClose: $("error-close"),
  form: $("add-form"),
  title: $("title"),
  author: $("author"),
  pages: $("pages"),
  rating: $("rating"),
  read: $("read"),
  addButton: $("add-button"),
  sampleButton: $("sample-button"),
  filter: $("filter"),
  sort: $("sort"),
  list: $("book-list"),
  empty: $("empty"),
  count: $("count"),
  dbName: $("db-name"),
  template: $("book-template"),
};

const app = {
  db: null,
  books: null,
  stop: null,
  events: 0,
  filterText: "",
  sort: "title:ASC",
  items: new Map(), // id -> <li>
  headsDirty: new Set(),
};
// Handy from the devtools console: weftDemo.books.find({}) etc.
window.weftDemo = app;

// ---------------------------------------------------------------------------
// status and errors

function setStatus(state, text) {
  els.status.dataset.state = state;
  els.statusText.textContent = text;
}

function showError(err) {
  const message = err && err.message ? err.message : String(err);
  els.errorText.textContent = message;
  if (err && err.code) els.error.dataset.code = err.code;
  else delete els.error.dataset.code;
  els.error.hidden = false;
  console.error("[weft-demo]", err);
}

function clearError() {
  els.error.hidden = true;
  els.errorText.textContent = "";
  delete els.error.dataset.code;
}
els.errorClose.addEventListener("click", clearError);

/** Run a user action; show its error in the banner instead of throwing. */
async function act(fn) {
  try {
    const out = await fn();
    clearError();
    return out;
  } catch (err) {
    showError(err);
    return undefined;
  }
}

// ---------------------------------------------------------------------------
// parsing form values

function parseIntField(value, label) {
  const v = value.trim();
  if (v === "") return null;
  const n = Number(v);
  if (!Number.isInteger(n)) throw new Error(`${label} must be a whole number`);
  return n;
}

function parseFloatField(value, label) {
  const v = value.trim();
  if (v === "") return null;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new Error(`${label} must be a number`);
  return n;
}

// ---------------------------------------------------------------------------
// queries

function currentFilter() {
  const text = app.filterText.trim();
  // _ilike: case-insensitive, so "dune" finds "Dune"; % and _ typed by the user act as wildcards.
  // A backslash is the patterns' escape character: escaped, it is searched for as typed (a
  // trailing lone one would be refused).
  const pattern = text.replaceAll("\\", "\\\\");
  return text ? { title: { _ilike: `%${pattern}%` } } : null;
}

function currentOrder() {
  const [field, dir] = app.sort.split(":");
  return { [field]: dir };
}

let refreshing = null;
let refreshAgain = false;

/** Re-run the list query; calls made while one runs are folded into one more run. */
function scheduleRefresh() {
  if (refreshing) {
    refreshAgain = true;
    return refreshing;
  }
  refreshing = (async () => {
    try {
      do {
        refreshAgain = false;
        await refresh();
      } while (refreshAgain);
    } catch (err) {
      showError(err);
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
}

async function refresh() {
  const filter = currentFilter();
  const query = { order: currentOrder(), limit: LIST_LIMIT };
  if (filter) query.filter = filter;
  const [docs, total, shown] = await Promise.all([
    app.books.find(query),
    app.books.count({}),
    filter ? app.books.count({ filter }) : null,
  ]);
  render(docs, total, shown ?? total);
}

// ---------------------------------------------------------------------------
// rendering

function shortId(id) {
  return id.length > 18 ? `${id.slice(0, 10)}…${id.slice(-6)}` : id;
}

function stars(rating) {
  if (rating == null) return "";
  const r = Math.max(0, Math.min(5, Math.floor(rating)));
  return "★".repeat(r) + "☆".repeat(5 - r);
}

function setInputValue(input, value) {
  // Don't clobber what the user is typing right now.
  if (document.activeElement === input) return;
  const v = value == null ? "" : String(value);
  if (input.value !== v) input.value = v;
}

function createItem(id) {
  const li = els.template.content.firstElementChild.cloneNode(true);
  li.dataset.id = id;
  li.querySelector(".read").addEventListener("change", (e) =>
    act(() => app.books.update(id, { read: e.target.checked })),
  );
  li.querySelector(".pages").addEventListener("change", (e) =>
    act(() => app.books.update(id, { pages: parseIntField(e.target.value, "Pages") })),
  );
  li.querySelector(".rating").addEventListener("change", (e) =>
    act(() => app.books.update(id, { rating: parseFloatField(e.target.value, "Rating") })),
  );
  const del = li.querySelector(".delete");
  del.addEventListener("click", () => {
    del.disabled = true;
    act(async () => {
      try {
        await app.books.delete(id);
      } finally {
        del.disabled = false;
      }
    });
  });
  const idEl = li.querySelector(".doc-id");
  idEl.textContent = shortId(id);
  idEl.title = `Document id ${id}`;
  app.headsDirty.add(id);
  return li;
}

function updateItem(li, doc) {
  li.classList.toggle("is-read", !!doc.read);
  li.querySelector(".title").textContent = doc.title ?? "";
  const author = li.querySelector(".author");
  author.textContent = doc.author ? `by ${doc.author}` : "";
  li.querySelector(".read").checked = !!doc.read;
  setInputValue(li.querySelector(".pages"), doc.pages);
  setInputValue(li.querySelector(".rating"), doc.rating);
  li.querySelector(".stars").textContent = stars(doc.rating);
}

function render(docs, total, shown) {
  const seen = new Set();
  let prev = null;
  for (const doc of docs) {
    const id = doc._id;
    seen.add(id);
    let li = app.items.get(id);
    if (!li) {
      li = createItem(id);
      app.items.set(id, li);
    }
    updateItem(li, doc);
    // Keep DOM order equal to query order, moving only what is out of place.
    const want = prev ? prev.nextSibling : els.list.firstChild;
    if (want !== li) els.list.insertBefore(li, want);
    prev = li;
  }
  for (const [id, li] of app.items) {
    if (!seen.has(id)) {
      li.remove();
      app.items.delete(id);
      app.headsDirty.delete(id);
    }
  }
  els.count.dataset.total = String(total);
  els.count.dataset.shown = String(shown);
  els.count.textContent = shown === total ? String(total) : `${shown} of ${total}`;
  els.empty.hidden = docs.length > 0;
  els.empty.textContent =
    total === 0 ? "No books yet. Add one above, or add the sample books." : "No book matches the filter.";
  refreshHeads();
}

/** Fetch the head count of new or changed documents (shown under each book). */
function refreshHeads() {
  for (const id of app.headsDirty) {
    const li = app.items.get(id);
    app.headsDirty.delete(id);
    if (!li) continue;
    app.books
      .heads(id)
      .then((heads) => {
        const el = li.querySelector(".heads");
        const n = heads.length;
        el.textContent = n === 1 ? "1 head" : `${n} heads`;
        el.title = heads.join("\n");
        el.classList.toggle("concurrent", n > 1);
      })
      .catch((err) => {
        // A document deleted meanwhile has no heads to show; not worth a banner.
        if (err && err.code === "NOT_FOUND") return;
        console.warn("[weft-demo] heads", id, err);
      });
  }
}

// ---------------------------------------------------------------------------
// controls

els.form.addEventListener("submit", (e) => {
  e.preventDefault();
  act(async () => {
    const title = els.title.value.trim();
    if (!title) throw new Error("A book needs a title");
    const doc = { title, read: els.read.checked };
    const author = els.author.value.trim();
    if (author) doc.author = author;
    const pages = parseIntField(els.pages.value, "Pages");
    if (pages != null) doc.pages = pages;
    const rating = parseFloatField(els.rating.value, "Rating");
    if (rating != null) doc.rating = rating;
    els.addButton.disabled = true;
    try {
      await app.books.create(doc);
    } finally {
      els.addButton.disabled = false;
    }
    els.form.reset();
    els.title.focus();
  });
});

els.sampleButton.addEventListener("click", () =>
  act(async () => {
    els.sampleButton.disabled = true;
    try {
      await app.books.createMany(SAMPLE_BOOKS.map((b) => ({ ...b })));
    } finally {
      els.sampleButton.disabled = false;
    }
  }),
);

let filterTimer = 0;
els.filter.addEventListener("input", () => {
  clearTimeout(filterTimer);
  filterTimer = setTimeout(() => {
    app.filterText = els.filter.value;
    scheduleRefresh();
  }, 150);
});

els.sort.addEventListener("change", () => {
  app.sort = els.sort.value;
  scheduleRefresh();
});

function enableControls() {
  for (const el of [els.addButton, els.sampleButton, els.filter, els.sort]) el.disabled = false;
}

// ---------------------------------------------------------------------------
// start

async function main() {
  els.dbName.textContent = DB_NAME;
  setStatus("loading", "Loading weftdb…");
  let mod;
  try {
    mod = await import(PKG_URL);
  } catch (err) {
    setStatus("error", "weftdb is not built");
    showError(
      new Error(
        `Could not load ${PKG_URL} (${err.message}). Build it first: run "bash .ci/demo" ` +
          `from the repository root, or "wasm-pack build --target web --profile wasm".`,
      ),
    );
    return;
  }
  try {
    const { default: init, Database } = mod;
    await init();
    setStatus("loading", "Opening database…");
    // ?peer=<multiaddr> (bash .ci/demo prints such a URL): sync through a weft node.
    const peers = new URLSearchParams(location.search).getAll("peer");
    app.db = await Database.open(DB_NAME, peers.length ? { peers } : undefined);
    try {
      await app.db.addSchema(SCHEMA);
    } catch (err) {
      // Already added on an earlier visit: the collection exists.
      if (!err || err.code !== "SCHEMA_INVALID") throw err;
    }
    if (peers.length) {
      app.peers = new Set();
      app.db.on("peer", (ev) => {
        if (ev.type === "connected") app.peers.add(ev.peerId);
        else app.peers.delete(ev.peerId);
        setStatus("ready", app.peers.size ? `Saved locally · syncing with ${app.peers.size} peer(s)` : "Saved locally · offline");
      });
      // Every Book change from any peer on the topic, and a head exchange with each peer met.
      await app.db.collections.subscribe("Book");
    }
    app.books = app.db.collection("Book");
    app.stop = app.books.subscribe((ev) => {
      app.events += 1;
      if (ev && ev.id) app.headsDirty.add(ev.id);
      scheduleRefresh();
    });
    await refresh();
    enableControls();
    setStatus("ready", "Saved locally");
  } catch (err) {
    setStatus("error", "Could not open the database");
    showError(err);
  }
}

main();
