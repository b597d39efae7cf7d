#!/usr/bin/env node
// The signature check of a receiving page: ed25519-dalek in the page's wasm
// against the browser's WebCrypto Ed25519 (`crypto.subtle.verify`), on the
// same real weftdb blocks, side by side in one page. Prints µs per block
// and each row's ratio to the page's old path (wasm, in batches).
//
//   wasm-pack build --target web --profile wasm -- --features bench-exports
//                    # the build it measures, with the hidden exports below
//   node tests/browser/verify-bench.mjs [--browser=chromium|firefox]
//        [--blocks=10000] [--authors=10] [--batch=1000] [--runs=3]
//
// Rows (the median of --runs):
//   wasm, one at a time      __verifyBlocks([b], false) awaited per block
//   wasm, batches            __verifyBlocks(batch, false)
//   page, one at a time      __verifyBlocks([b], true): the page's node's path
//                            for a lone block (dalek: node::webcrypto's
//                            MIN_BATCH)
//   page, batches            __verifyBlocks(batch, true): the page's node's
//                            path for a batch (decode in wasm, WebCrypto for
//                            the signature in the page's worker since
//                            2026-12-05, keys imported once per author): the
//                            time until the answers are back, not the page
//                            thread's share of it
//   WebCrypto only, ...      crypto.subtle.verify on the parts (message,
//                            signature, key) taken out beforehand: awaited one
//                            by one or all at once with Promise.all, with
//                            importKey per block or a key cache per author
//   decode only              __signedParts per block: the wasm decoding a
//                            WebCrypto check still needs
import { serve } from "./serve.mjs";
import { launchChromium, launchFirefox } from "./lib.mjs";

const args = Object.fromEntries(
  process.argv.slice(2).map((a) => {
    const m = /^--([a-z]+)=(.*)$/.exec(a);
    if (!m) {
      console.error(`verify-bench: unexpected argument ${a}`);
      process.exit(2);
    }
    return [m[1], m[2]];
  }),
);
const browserName = args.browser ?? "chromium";
const options = {
  blocks: Number(args.blocks ?? 10_000),
  authors: Number(args.authors ?? 10),
  batch: Number(args.batch ?? 1000),
  runs: Number(args.runs ?? 3),
};

const server = await serve({ quiet: true });
const browser = browserName === "firefox" ? await launchFirefox() : await launchChromium();
try {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.on("pageerror", (e) => console.error(`[page] ${e.message}`));
  await page.goto(`${server.url}/tests/browser/blank.html`);
  const result = await page.evaluate(measure, options);
  console.log(`# signature checks, ${result.browser}: ${result.blocks} blocks of ${options.authors} authors, ` +
    `${result.bytes} bytes on average, batches of ${options.batch}, median of ${options.runs} runs`);
  console.log("| path | µs per block | ÷ wasm, batches |");
  console.log("|---|---|---|");
  const base = result.rows["wasm, batches"];
  for (const [name, us] of Object.entries(result.rows)) {
    console.log(`| ${name} | ${us.toFixed(1)} | ${(us / base).toFixed(2)}× |`);
  }
} finally {
  await browser.close();
  await server.close();
}

// Runs in the page.
async function measure({ blocks: total, authors, batch, runs }) {
  const weft = await import("/pkg/weftdb.js");
  await weft.default();
  if (!weft.__verifyBlocks) throw new Error("pkg/ has no __verifyBlocks: build it with -- --features bench-exports");
  const docs = Math.ceil(total / authors);
  const blocks = [];
  for (let a = 0; a < authors; a++) {
    const name = `verify-bench-${a}-${Math.random()}`;
    const db = await weft.Database.open(name);
    await db.addSchema("type Book { title: String! @index pages: Int rating: Float read: Boolean tags: [String] }");
    const books = db.collection("Book");
    const input = [];
    for (let i = 0; i < docs; i++) {
      input.push({ title: `Book ${a}-${i}`, pages: 100 + i, rating: (i % 50) / 10, read: i % 2 === 0, tags: ["a", `t${i % 7}`] });
    }
    await books.createMany(input);
    blocks.push(...(await db.exportBlocks()));
    await db.close();
    await weft.Database.destroy(name);
  }
  blocks.length = total;
  const parts = blocks.map((b) => weft.__signedParts(b));
  const batches = [];
  for (let i = 0; i < blocks.length; i += batch) batches.push(blocks.slice(i, i + batch));

  const check = (n) => {
    if (n !== total) throw new Error(`only ${n} of ${total} blocks verified`);
  };
  const count = (answers) => answers.filter((x) => x === true).length;
  const subtle = crypto.subtle;
  const importKey = (raw) => subtle.importKey("raw", raw, "Ed25519", false, ["verify"]);
  const cached = async () => {
    const keys = new Map();
    for (const [, , author] of parts) {
      const hex = author.join(",");
      if (!keys.has(hex)) keys.set(hex, await importKey(author));
    }
    return parts.map(([, , author]) => keys.get(author.join(",")));
  };

  const paths = {
    "wasm, one at a time": async () => {
      let n = 0;
      for (const b of blocks) n += count(await weft.__verifyBlocks([b], false));
      return n;
    },
    "wasm, batches": async () => {
      let n = 0;
      for (const b of batches) n += count(await weft.__verifyBlocks(b, false));
      return n;
    },
    "page, one at a time": async () => {
      let n = 0;
      for (const b of blocks) n += count(await weft.__verifyBlocks([b], true));
      return n;
    },
    "page, batches": async () => {
      let n = 0;
      for (const b of batches) n += count(await weft.__verifyBlocks(b, true));
      return n;
    },
    "WebCrypto only, one by one, importKey per block": async () => {
      let n = 0;
      for (const [m, s, a] of parts) n += (await subtle.verify("Ed25519", await importKey(a), s, m)) ? 1 : 0;
      return n;
    },
    "WebCrypto only, one by one, key cache": async () => {
      const keys = await cached();
      let n = 0;
      for (let i = 0; i < parts.length; i++) n += (await subtle.verify("Ed25519", keys[i], parts[i][1], parts[i][0])) ? 1 : 0;
      return n;
    },
    "WebCrypto only, Promise.all, importKey per block": async () =>
      count(await Promise.all(parts.map(async ([m, s, a]) => subtle.verify("Ed25519", await importKey(a), s, m)))),
    "WebCrypto only, Promise.all, key cache": async () => {
      const keys = await cached();
      return count(await Promise.all(parts.map(([m, s], i) => subtle.verify("Ed25519", keys[i], s, m))));
    },
    "decode only (wasm, per block)": async () => {
      let n = 0;
      for (const b of blocks) n += weft.__signedParts(b) ? 1 : 0;
      return n;
    },
  };
  const samples = Object.fromEntries(Object.keys(paths).map((k) => [k, []]));
  for (let r = 0; r < runs; r++) {
    for (const [name, run] of Object.entries(paths)) {
      const t = performance.now();
      check(await run());
      samples[name].push(((performance.now() - t) * 1000) / total);
    }
  }
  const median = (xs) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const rows = Object.fromEntries(Object.entries(samples).map(([k, xs]) => [k, median(xs)]));
  const bytes = Math.round(blocks.reduce((s, b) => s + b.length, 0) / total);
  return { browser: navigator.userAgent, blocks: total, bytes, rows };
}
