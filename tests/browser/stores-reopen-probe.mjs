#!/usr/bin/env node
// What the number of object stores costs an open + first get, with no
// weftdb code: plain IndexedDB databases of 1, 2, 4, 8 and 12 object stores
// (the first holding DOCS records of 300 B; with INDEX=1 the second store
// has a multiEntry index, as weftdb's packs), opened and read once each in
// turns, in one page. Prints the median of N opens + gets per database. A
// probe for BENCHMARKS.md ("The rows on disk and in memory", session 44),
// not a test or a bench row. The databases are written in COUNTS's order,
// and on disk the one written last reopened slower whatever its number of
// stores (2.2-3.1 ms against 1.3-1.6 for the others): compare a count
// across two orders (COUNTS=1,2,4,8,12 and COUNTS=12,8,4,2,1).
//
//   node tests/browser/stores-reopen-probe.mjs   (N=21 DOCS=20000 COUNTS=1,2,4,8,12 INDEX=1 STORAGE=disk)
import { serve } from "./serve.mjs";
import { WEB_ROOT, launchChromium, launchChromiumProfile } from "./lib.mjs";
const N = Number(process.env.N || 21);
const DOCS = Number(process.env.DOCS || 20000);
const COUNTS = (process.env.COUNTS || "1,2,4,8,12").split(",").map(Number);
const INDEX = process.env.INDEX !== "0";
// STORAGE=disk: the page in a profile on disk (IndexedDB on disk, as a
// user's); the default, an off-the-record context, keeps IndexedDB in memory.
const onDisk = process.env.STORAGE === "disk";
const server = await serve({ root: WEB_ROOT, port: 0 });
const browser = onDisk ? await launchChromiumProfile() : await launchChromium();
try {
  const page = await (onDisk ? browser : await browser.newContext()).newPage();
  await page.goto(`${server.url}/www/bench.html`);
  const out = await page.evaluate(
    async ({ N, DOCS, COUNTS, INDEX }) => {
      const T = () => performance.now();
      const med = (a) => { const s = [...a].sort((x, y) => x - y); return s[s.length >> 1]; };
      const key = (i) => "k" + String(i).padStart(8, "0");
      const bytes = (n, seed) => { const b = new Uint8Array(n); for (let i = 0; i < n; i++) b[i] = (seed * 31 + i) & 255; return b; };
      const opens = {};
      for (const count of COUNTS) {
        const name = "stores-" + count;
        await new Promise((r) => { const d = indexedDB.deleteDatabase(name); d.onsuccess = r; d.onerror = r; });
        const open = () => new Promise((res, rej) => {
          const r = indexedDB.open(name, 1);
          r.onupgradeneeded = () => {
            for (let i = 0; i < count; i++) {
              const st = r.result.createObjectStore("s" + i);
              if (INDEX && i === 1) st.createIndex("by", "k", { multiEntry: true });
            }
          };
          r.onsuccess = () => res(r.result);
          r.onerror = () => rej(r.error);
        });
        const d = await open();
        const tx = d.transaction("s0", "readwrite");
        for (let i = 0; i < DOCS; i++) tx.objectStore("s0").put(bytes(300, i), key(i));
        await new Promise((r) => { tx.oncomplete = r; });
        d.close();
        opens[count] = open;
      }
      const times = Object.fromEntries(COUNTS.map((c) => [c, []]));
      for (let i = 0; i < N; i++) {
        const order = i % 2 ? COUNTS : [...COUNTS].reverse();
        for (const c of order) {
          const t0 = T();
          const d = await opens[c]();
          const v = await new Promise((r) => { const g = d.transaction("s0").objectStore("s0").get(key((i * 7919) % DOCS)); g.onsuccess = () => r(g.result); });
          times[c].push(T() - t0);
          if (!v) throw new Error("no record");
          d.close();
        }
      }
      for (const c of COUNTS) await new Promise((r) => { const d = indexedDB.deleteDatabase("stores-" + c); d.onsuccess = r; d.onerror = r; });
      return Object.fromEntries(COUNTS.map((c) => [c, med(times[c])]));
    },
    { N, DOCS, COUNTS, INDEX },
  );
  console.log(`open + first get, median of ${N}, IndexedDB ${onDisk ? "on disk" : "in memory"}${INDEX ? ", a multiEntry index on the second store" : ""}:`);
  for (const [c, ms] of Object.entries(out)) console.log(`  ${String(c).padStart(2)} object stores  ${ms.toFixed(3)} ms`);
} finally {
  await browser.close();
  server.close?.();
}
