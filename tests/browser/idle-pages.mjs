// What idle-bench.mjs and idle-trace.mjs share: their arguments, waiting
// for a condition, and the idle pages they open (one page on a database,
// perhaps connected; two pages that meet over direct WebRTC).
import { watchPage } from "./lib.mjs";

/** `--name=value` arguments over `defaults`; `seconds` as a number. */
export function parseArgs(argv, defaults) {
  const args = { ...defaults };
  for (const a of argv) {
    const m = /^--([a-z]+)=(.*)$/.exec(a);
    if (!m) throw new Error(`unexpected argument ${a}`);
    args[m[1]] = m[2];
  }
  args.seconds = Number(args.seconds);
  return args;
}

export async function until(what, fn, ms = 60_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A page with weftdb loaded and database `name` open with `options`. */
export async function openPage(context, baseUrl, name, options) {
  const page = await context.newPage();
  const problems = watchPage(page);
  await page.goto(`${baseUrl}/tests/browser/blank.html`);
  const peerId = await page.evaluate(
    async ({ name, options }) => {
      const weft = await import("/pkg/weftdb.js");
      await weft.default();
      window.db = await weft.Database.open(name, options);
      if (!window.db.collectionNames().includes("Item")) await window.db.addSchema("type Item { v: Int }");
      if (options.peers) await window.db.collections.subscribe("Item");
      return window.db.peerId;
    },
    { name, options },
  );
  return { page, problems, peerId };
}

/** Two pages connected to the node at `addr`, then to each other over direct WebRTC. */
export async function twoPages(ctx, baseUrl, addr, open = openPage) {
  const a = await open(await ctx(), baseUrl, "idle", { peers: [addr] });
  const b = await open(await ctx(), baseUrl, "idle", { peers: [addr] });
  const linked = (p, other) =>
    p.page.evaluate(async (id) => (await window.db.connections()).some((c) => c.peerId === id && c.transport === "webrtc"), other);
  await until("direct WebRTC between the pages", async () => (await linked(a, b.peerId)) && (await linked(b, a.peerId)));
  return [a, b];
}
