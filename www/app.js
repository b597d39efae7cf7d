// Reading list: a small local-first app on weftdb, for reading together.
//
// Everything goes through weftdb's JS API (pkg/weftdb.js, built by
// `wasm-pack build --target web --profile wasm`): the list is loaded with
// `find`, kept live with `subscribe`, and every edit is a document update.
//
// Opened with ?peer=<multiaddr of a weft node> (bash .ci/demo prints such a
// URL), it shares the list: it dials the node, pushes every change to it
// through a replicator (kept in an outbox while offline), holds the Book
// topic so it hears everyone else's changes, and meets the other pages on
// the node (over direct WebRTC when it can). The page's own address is the
// invitation: whoever opens it joins the same list.

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
  tagline: $("tagline"),
  netBadge: $("net-badge"),
  netText: $("net-text"),
  network: $("network"),
  selfId: $("self-id"),
  share: $("share"),
  shareUrl: $("share-url"),
  copyButton: $("copy-button"),
  copyDone: $("copy-done"),
  join: $("join"),
  joinAddr: $("join-addr"),
  peerList: $("peer-list"),
  peerCount: $("peer-count"),
  noPeers: $("no-peers"),
  peerTemplate: $("peer-template"),
  syncBar: $("sync-bar"),
  syncFill: $("sync-fill"),
  syncText: $("sync-text"),
  queued: $("queued"),
  lastSync: $("last-sync"),
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
  nodes: [], // the ?peer multiaddrs
  nodeIds: new Set(), // their peer ids
  status: null, // the last db.status()
  sync: new Map(), // peerId -> { blocksReceived, blocksWanted } from its `sync` events
  syncDone: 0, // blocks received from peers since gone
  statusEvents: [], // every status event, for the tests
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
// the network: who is connected, how sync goes, the link to share

function shortPeer(id) {
  return id.length > 16 ? `${id.slice(0, 8)}…${id.slice(-6)}` : id;
}

/** The peer id at the end of a multiaddr (`…/p2p/<id>`), or null. */
function peerIdOf(addr) {
  const m = /\/p2p\/([^/]+)$/.exec(addr);
  return m ? m[1] : null;
}

/** The page's address with only what a second person needs: the node's multiaddr(s). */
function shareLink() {
  const url = new URL(location.pathname, location.origin);
  for (const addr of app.nodes) url.searchParams.append("peer", addr);
  return url.href;
}

function renderStatus(status) {
  app.status = status;
  const badge = els.netBadge;
  badge.hidden = false;
  badge.dataset.online = String(status.online);
  badge.dataset.peers = String(status.peers);
  badge.dataset.queued = String(status.queuedBlocks);
  let mode;
  let text;
  if (!status.online) {
    mode = "offline";
    text = status.queuedBlocks
      ? `Offline · ${status.queuedBlocks} change${status.queuedBlocks === 1 ? "" : "s"} wait here`
      : "Offline · changes are kept here";
  } else if (status.peers === 0) {
    mode = "connecting";
    text = "Connecting…";
  } else {
    mode = "connected";
    text = `Online · ${status.peers} peer${status.peers === 1 ? "" : "s"}`;
  }
  badge.dataset.mode = mode;
  els.netText.textContent = text;
  const q = status.queuedBlocks;
  els.queued.dataset.count = String(q);
  els.queued.textContent = q === 0 ? "Nothing waiting to be sent." : `${q} block${q === 1 ? "" : "s"} waiting to be sent.`;
  els.lastSync.textContent = status.lastSync ? new Date(status.lastSync).toLocaleTimeString() : "never";
  els.lastSync.dataset.at = status.lastSync ? String(status.lastSync) : "";
}

function renderSync() {
  // Peers that left count with what they sent: what they did not is no longer expected.
  let received = app.syncDone;
  let wanted = app.syncDone;
  for (const s of app.sync.values()) {
    received += s.blocksReceived;
    wanted += s.blocksWanted;
  }
  const bar = els.syncBar;
  bar.dataset.received = String(received);
  bar.dataset.wanted = String(wanted);
  bar.setAttribute("aria-valuemax", String(wanted));
  bar.setAttribute("aria-valuenow", String(received));
  els.syncFill.style.width = wanted ? `${Math.round((100 * received) / wanted)}%` : "0";
  els.syncText.textContent =
    wanted === 0
      ? "Nothing received yet."
      : received >= wanted
        ? `Up to date: ${received} block${received === 1 ? "" : "s"} received.`
        : `Receiving: ${received} of ${wanted} blocks.`;
}

let peersTimer = 0;
/** Redraws the peers panel from db.connections(): one row per peer, its best connection. */
async function refreshPeers() {
  clearTimeout(peersTimer);
  let conns = [];
  try {
    conns = await app.db.connections();
  } catch (err) {
    console.warn("[weft-demo] connections", err);
  }
  const byPeer = new Map();
  for (const c of conns) {
    const best = byPeer.get(c.peerId);
    // A direct connection says more than a relayed one.
    if (!best || (best.transport === "relay" && c.transport !== "relay")) byPeer.set(c.peerId, c);
  }
  els.peerList.replaceChildren();
  for (const [peerId, c] of byPeer) {
    const li = els.peerTemplate.content.firstElementChild.cloneNode(true);
    const kind = app.nodeIds.has(peerId) ? "node" : "browser";
    const route = c.transport === "relay" ? "relayed" : "direct";
    Object.assign(li.dataset, { peerId, transport: c.transport, route, kind });
    li.querySelector(".kind").textContent = kind === "node" ? "weft node" : "person";
    const id = li.querySelector(".peer-id");
    id.textContent = shortPeer(peerId);
    id.title = `${peerId}\n${c.addr}`;
    li.querySelector(".transport").textContent = c.transport;
    const r = li.querySelector(".route");
    r.textContent = route;
    r.dataset.route = route;
    els.peerList.append(li);
  }
  els.peerCount.textContent = String(byPeer.size);
  els.peerCount.dataset.count = String(byPeer.size);
  els.noPeers.hidden = byPeer.size > 0;
  // A relayed connection may turn direct without a peer event: look again soon.
  peersTimer = setTimeout(refreshPeers, 3000);
}

els.copyButton.addEventListener("click", () =>
  act(async () => {
    els.shareUrl.select();
    try {
      await navigator.clipboard.writeText(els.shareUrl.value);
    } catch {
      // No clipboard permission (an insecure origin, a test browser): the text is selected for Ctrl-C.
      document.execCommand?.("copy");
    }
    els.copyDone.hidden = false;
    setTimeout(() => (els.copyDone.hidden = true), 2000);
  }),
);

els.join.addEventListener("submit", (e) => {
  e.preventDefault();
  act(async () => {
    const addr = els.joinAddr.value.trim();
    if (!peerIdOf(addr)) throw new Error("A node's address is a multiaddr ending in /p2p/<peer id>");
    const url = new URL(location.href);
    url.searchParams.append("peer", addr);
    location.href = url.href;
  });
});

/** Joins the nodes of ?peer: replicators to each, the Book topic, and the panels kept live. */
async function startNetwork() {
  const db = app.db;
  els.network.hidden = false;
  els.selfId.textContent = shortPeer(db.peerId);
  els.selfId.title = db.peerId;
  els.selfId.dataset.peerId = db.peerId;
  if (!app.nodes.length) {
    els.join.hidden = false;
    document.querySelector(".net-grid").hidden = true;
    $("net-heading").textContent = "Share this list";
    return;
  }
  els.tagline.innerHTML =
    "A reading list kept in this browser by <strong>weftdb</strong>, a local-first document database, " +
    "and shared with everyone who opens this page's link, through the weft node it names. " +
    "It works offline: changes wait here and are sent when you are back.";
  els.share.hidden = false;
  els.shareUrl.value = shareLink();
  db.on("status", (s) => {
    app.statusEvents.push(s);
    renderStatus(s);
  });
  db.on("peer", (ev) => {
    const left = ev.type === "disconnected" && app.sync.get(ev.peerId);
    if (left) {
      app.syncDone += left.blocksReceived;
      app.sync.delete(ev.peerId);
    }
    renderSync();
    refreshPeers();
  });
  db.on("sync", (ev) => {
    app.sync.set(ev.peerId, ev);
    renderSync();
  });
  renderStatus(db.status());
  renderSync();
  // Every Book change from any page on the topic, and a head exchange with each peer met.
  await db.collections.subscribe("Book");
  // Every change of ours goes to each node until it acknowledges it, across
  // reloads and time offline (the outbox: status().queuedBlocks).
  for (const peer of app.nodes) {
    if (peerIdOf(peer)) await db.replicators.set({ collection: "Book", peer });
  }
  refreshPeers();
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
    // ?peer=<multiaddr> (bash .ci/demo prints such a URL): share through a weft node.
    app.nodes = new URLSearchParams(location.search).getAll("peer");
    app.nodeIds = new Set(app.nodes.map(peerIdOf).filter(Boolean));
    app.db = await Database.open(DB_NAME, app.nodes.length ? { peers: app.nodes } : undefined);
    try {
      await app.db.addSchema(SCHEMA);
    } catch (err) {
      // Already added on an earlier visit: the collection exists.
      if (!err || err.code !== "SCHEMA_INVALID") throw err;
    }
    await startNetwork();
    app.books = app.db.collection("Book");
    app.stop = app.books.subscribe((ev) => {
      app.events += 1;
      if (ev && ev.id) app.headsDirty.add(ev.id);
      scheduleRefresh();
    });
    await refresh();
    enableControls();
    setStatus("ready", app.nodes.length ? "Saved in this browser" : "Saved in this browser only");
  } catch (err) {
    setStatus("error", "Could not open the database");
    showError(err);
  }
}

main();
