#!/usr/bin/env node
// What the number of object stores costs an open + first get, with no
// weftdb code: plain IndexedDB databases of 1, 2, 4, 8 and 12 object stores
// (the first holding DOCS records of 300 B; unless INDEX=0 the second store
// has a multiEntry index, as weftdb's packs), opened and read once each in
// turns, in one page. Prints the median of N opens + gets per database, in
// the order the databases were written. A probe for BENCHMARKS.md ("The
// rows on disk and in memory", session 44), not a test or a bench row.
//
// On disk the database written last reopened slower whatever its number
// of stores (1.96-3.11 ms against 1.28-1.64 for the others, session 44):
// so a database of the same size, not measured, is written after them
// (LAST=0 leaves it out, to see that effect); compare a count across two
// orders too (COUNTS=1,2,4,8,12 and COUNTS=12,8,4,2,1).
//
//   node tests/browser/stores-reopen-probe.mjs
//   N=21 DOCS=20000 COUNTS=1,2,4,8,12 INDEX=1 LAST=1 (the defaults); STORAGE=disk (default memory)
import { serve } from "./serve.mjs";
import { WEB_ROOT, openProbePage } from "./lib.mjs";
const N = Number(process.env.N || 21);
const DOCS = Number(process.env.DOCS || 20000);
const COUNTS = (process.env.COUNTS || "1,2,4,8,12").split(",").map(Number);
const INDEX = process.env.INDEX !== "0";
const LAST = process.env.LAST !== "0";
if (!COUNTS.every((c) => Number.isInteger(c) && c >= 1) || new Set(COUNTS).size !== COUNTS.length) {
  throw new Error(`COUNTS takes distinct store counts >= 1, not ${process.env.COUNTS}`);
}
const server = await serve({ root: WEB_ROOT, port: 0 });
const { context, page, storage } = await openProbePage();
try {
  await page.goto(`${server.url}/www/bench.html`);
  const out = await page.evaluate(
    async ({ N, DOCS, COUNTS, INDEX, LAST }) => {
      const T = () => performance.now();
      const med = (a) => { const s = [...a].sort((x, y) => x - y); return s[s.length >> 1]; };
      const key = (i) => "k" + String(i).padStart(8, "0");
      const bytes = (n, seed) => { const b = new Uint8Array(n); for (let i = 0; i < n; i++) b[i] = (seed * 31 + i) & 255; return b; };
      const done = (req) => new Promise((res, rej) => { req.onsuccess = () => res(req.result); req.onerror = () => rej(req.error); });
      const ended = (tx) => new Promise((res, rej) => { tx.oncomplete = res; tx.onerror = () => rej(tx.error); tx.onabort = () => rej(tx.error); });
      const opener = (name, count) => () => {
        const r = indexedDB.open(name, 1);
        r.onupgradeneeded = () => {
          for (let i = 0; i < count; i++) {
            const st = r.result.createObjectStore("s" + i);
            if (INDEX && i === 1) st.createIndex("by", "k", { multiEntry: true });
          }
        };
        return done(r);
      };
      const names = COUNTS.map((c) => "stores-" + c);
      if (LAST) names.push("stores-last");
      const opens = [];
      for (const [at, name] of names.entries()) {
        await done(indexedDB.deleteDatabase(name));
        const open = opener(name, at < COUNTS.length ? COUNTS[at] : 1);
        const d = await open();
        const tx = d.transaction("s0", "readwrite");
        for (let i = 0; i < DOCS; i++) tx.objectStore("s0").put(bytes(300, i), key(i));
        await ended(tx);
        d.close();
        opens.push(open);
      }
      const times = COUNTS.map(() => []);
      for (let i = 0; i < N; i++) {
        const order = COUNTS.map((_, at) => at);
        if (i % 2) order.reverse();
        for (const at of order) {
          const t0 = T();
          const d = await opens[at]();
          const v = await done(d.transaction("s0").objectStore("s0").get(key((i * 7919) % DOCS)));
          times[at].push(T() - t0);
          d.close();
          if (!v) throw new Error("no record");
        }
      }
      for (const name of names) await done(indexedDB.deleteDatabase(name));
      return COUNTS.map((c, at) => [c, med(times[at])]);
    },
    { N, DOCS, COUNTS, INDEX, LAST },
  );
  console.log(
    `open + first get, median of ${N}, IndexedDB ${storage === "disk" ? "on disk" : "in memory"}` +
      `${INDEX ? ", a multiEntry index on the second store" : ""}, in the order written` +
      `${LAST ? ", then a database not measured" : ", the last of them written last"}:`,
  );
  for (const [c, ms] of out) console.log(`  ${String(c).padStart(2)} object stores  ${ms.toFixed(3)} ms`);
} finally {
  await context.close();
  server.close?.();
}
