// The whole JavaScript API as a TypeScript user writes it against the
// packed package. types.test.mjs compiles it with `tsc --noEmit --strict
// --target es2022` (the default lib of that target): it must compile with
// no error, and every `@ts-expect-error` line must be an error.
import init, {
  Collection,
  Database,
  setLogLevel,
  type WeftChangeEvent,
  type WeftConnection,
  type WeftDocument,
  type WeftError,
  type WeftErrorCode,
  type WeftImportReport,
  type WeftNetworkStats,
  type WeftPeerEvent,
  type WeftQuery,
  type WeftReplicator,
  type WeftStatus,
  type WeftSyncEvent,
} from "weftdb";
import weftdbVite from "weftdb/vite";

await init();
setLogLevel("info");

// --- A typed collection ----------------------------------------------------------
interface Book {
  title: string;
  pages?: number | null;
  read?: boolean;
  tags?: string[];
}

const db: Database = await Database.open("notes"); // options are optional
const added: string[] = await db.addSchema(`type Book { title: String! @index pages: Int read: Boolean tags: [String] }`);
const names: string[] = db.collectionNames();
const key: string = db.authorKey;
const dbName: string = db.name;

const books: Collection<Book> = db.collection<Book>("Book");
const colName: string = books.name;
const id: string = await books.create({ title: "Dune", pages: 412 });
const ids: string[] = await books.createMany([{ title: "Emma" }, { title: "Kim", read: true }]);
// @ts-expect-error title is a string
await books.create({ title: 1 });
// @ts-expect-error title is required by Book
await books.create({ pages: 1 });
// @ts-expect-error no such field
await books.createMany([{ title: "x", author: "y" }]);

const dune = await books.get(id);
if (dune !== null) {
  const title: string = dune.title;
  const docId: string = dune._id;
  const pages: number | null | undefined = dune.pages;
  // @ts-expect-error no such field on Book
  dune.author;
}
// @ts-expect-error get may resolve to null
(await books.get(id)).title;

await books.update(id, { pages: 413 });
await books.update(id, { pages: null });
// @ts-expect-error pages is a number
await books.update(id, { pages: "413" });

const query: WeftQuery<Book> = {
  filter: { pages: { _gt: 100 }, _or: [{ title: { _like: "Dune%" } }, { read: { _eq: true } }] },
  order: { title: "ASC" },
  limit: 10,
  offset: 0,
};
const found: WeftDocument<Book>[] = await books.find(query);
const firstTitle: string | undefined = found[0]?.title;
await books.find({ order: [{ pages: "DESC" }, { _id: "ASC" }], filter: { _id: { _in: ids } } });
await books.find({ filter: { tags: { _in: ["sf"] } } });
await books.find();
// @ts-expect-error no such field to filter on
await books.find({ filter: { author: { _eq: "x" } } });
// @ts-expect-error no such operator
await books.find({ filter: { pages: { _gte: 1 } } });
// @ts-expect-error ASC or DESC
await books.find({ order: { title: "up" } });
const counted: number = await books.count({ filter: { read: { _eq: true } } });
const all: number = await books.count();
const heads: string[] = await books.heads(id);

const stop: () => void = books.subscribe((ev: WeftChangeEvent<Book>) => {
  const kind: "create" | "update" | "delete" = ev.type;
  const changed: string = ev.id;
  const title: string | undefined = ev.doc?.title; // doc is null after a delete
});
stop();
await books.delete(id);

// --- Untyped collections: fields are unknown until checked -----------------------------
const loose = db.collection("Book");
const any1 = await loose.get(id);
if (any1) {
  const v: unknown = any1.title;
  const i: string = any1._id;
}
await loose.create({ title: "Any shape", extra: [1, 2] });

// --- Moving blocks by hand --------------------------------------------------------
const blocks: Uint8Array[] = await db.exportBlocks();
const other = await Database.open("other", { p2p: false });
const report: WeftImportReport = await other.importBlocks(blocks);
const n: number = report.merged + report.duplicate + report.pending;
for (const r of report.refused) {
  const code: WeftErrorCode = r.code;
  const why: string = `${r.cid}: ${r.message}`;
}
// @ts-expect-error blocks are Uint8Arrays
await other.importBlocks(["not a block"]);

// --- The network ---------------------------------------------------------------------
const node = "/ip4/127.0.0.1/tcp/9172/ws/p2p/12D3KooWExample";
const net = await Database.open("notes", { peers: [node], directUpgrade: false });
const peerId: string = net.peerId;
const conns: WeftConnection[] = await net.connections();
const transport: string | undefined = conns[0]?.transport;
const stats: WeftNetworkStats = await net.networkStats();
const received: number = stats.received + stats.bytesReceived;
const peers: string[] = stats.peers;
await net.dial(node);

const subscribed: string[] = await net.collections.subscribe("Book");
const held: string[] = await net.collections.list();
const left: string[] = await net.collections.unsubscribe("Book");

const set = await net.replicators.set({ collection: "Book", peer: node, docs: [ids[0]!] });
const setPeer: string = set.peerId;
const setDocs: string[] | null = set.docs;
const reps: WeftReplicator[] = await net.replicators.list();
const queued: number | undefined = reps[0]?.queued;
const deleted = await net.replicators.delete({ collection: "Book", peerId: set.peerId });
const wasDeleted: true = deleted.deleted;

const offPeer: () => void = net.on("peer", (ev) => {
  const t: "connected" | "disconnected" = ev.type;
  const via: string = ev.transport;
  const who: string = ev.peerId;
});
net.on("sync", (ev: WeftSyncEvent) => {
  const got: number = ev.blocksReceived;
  const wanted: number = ev.blocksWanted;
});
net.on("peer", (ev: WeftPeerEvent) => {});
const status: WeftStatus = net.status();
const queuedNow: number = status.queuedBlocks;
const lastSync: number | null = status.lastSync;
net.on("status", (s) => {
  const online: boolean = s.online;
  const leads: boolean = s.leader;
});
// @ts-expect-error a sync event has no transport
net.on("sync", (ev) => ev.transport);
// @ts-expect-error no such event
net.on("nope", () => {});
offPeer();
const offStale: () => void = net.on("stale", () => location.reload());
offStale();
const role: "alone" | "leader" | "follower" = stats.tabs;

// --- Errors ---------------------------------------------------------------------------
function describe(code: WeftErrorCode): string {
  switch (code) {
    case "SCHEMA_INVALID":
    case "VALIDATION":
    case "UNKNOWN_COLLECTION":
    case "NOT_FOUND":
    case "BLOCK_INVALID":
    case "UNAUTHORIZED":
    case "STORAGE":
    case "NETWORK":
    case "BAD_REQUEST":
    case "STALE":
    case "BLOCKED":
      return code;
    default: {
      const never: never = code;
      return never;
    }
  }
}
try {
  await books.update("no such id", { pages: 1 });
} catch (e) {
  const err = e as WeftError;
  const message: string = err.message;
  if (err.code === "NOT_FOUND") describe(err.code);
}

await net.close();
await other.close();
await db.close();
await Database.destroy("notes");

// The Vite plugin is a plain Vite plugin object.
const plugin: { name: string } = weftdbVite();
