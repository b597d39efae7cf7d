// `weftdb/local` as a TypeScript user writes it against the packed package:
// the same API as `weftdb` minus the network. Compiled with example.ts
// (package.test.mjs): it must compile with no error, and every
// `@ts-expect-error` line (the network's API) must be an error.
import init, { Database, type WeftDocument, type WeftError, type WeftOpenOptions } from "weftdb/local";

await init();

interface Note {
  title: string;
  done?: boolean | null;
}

const options: WeftOpenOptions = { durability: "strict" };
const db = await Database.open("notes", options);
await db.addSchema("type Note { title: String! done: Boolean }");
const notes = db.collection<Note>("Note");
const id: string = await notes.create({ title: "local" });
await notes.update(id, { done: true });
const found: WeftDocument<Note>[] = await notes.find({ filter: { done: { _eq: true } }, order: { title: "ASC" } });
const n: number = await notes.count();
const stop: () => void = notes.subscribe((e) => console.log(e.type, e.doc?.title));
stop();
const key: string = db.authorKey;
const blocks: Uint8Array[] = await db.exportBlocks();
const report = await db.importBlocks(blocks);
const stopStale = db.on("stale", () => console.log("reload"));
stopStale();
console.log(found.length, n, key, report.merged);
try {
  await notes.delete(id);
} catch (e) {
  console.log((e as WeftError).code);
}

// The network's API is not there.
// @ts-expect-error no peers in weftdb/local
await Database.open("notes", { peers: ["/ip4/127.0.0.1/tcp/9171/ws/p2p/12D3KooW"] });
// @ts-expect-error no p2p in weftdb/local
await Database.open("notes", { p2p: true });
// @ts-expect-error no dial
await db.dial("/ip4/127.0.0.1/tcp/9171/ws");
// @ts-expect-error no replicators
console.log(db.replicators);
// @ts-expect-error no status
console.log(db.status());
// @ts-expect-error no network events
db.on("peer", () => {});
await db.close();
