// experiment: overlapping the open's meta reads with the first get (not committed)
import { serve } from "./serve.mjs";
import { WEB_ROOT, launchChromium } from "./lib.mjs";
const N = Number(process.env.N || 60);
const DOCS = Number(process.env.DOCS || 20000);
const server = await serve({ root: WEB_ROOT, port: 0 });
const browser = await launchChromium();
const page = await (await browser.newContext()).newPage();
page.on("console", (m) => console.log("page:", m.text()));
await page.goto(`${server.url}/www/bench.html`);
const out = await page.evaluate(async ({ N, DOCS }) => {
  const mod = await import("/pkg/weftdb.js");
  await mod.default();
  const T = () => performance.now();
  const doc = (k) => ({ title: "title " + k, author: "author" + (k % 1000), pages: k });
  try { await mod.Database.destroy("metaexp"); } catch {}
  let db = await mod.Database.open("metaexp", { durability: "strict" });
  await db.addSchema("type Item { title: String! pages: Int author: String @index }");
  for (let s = 0; s < DOCS; s += 10000) await db.collection("Item").createMany(Array.from({ length: Math.min(10000, DOCS - s) }, (_, i) => doc(s + i)));
  await db.close();
  await new Promise((r) => { const d = indexedDB.deleteDatabase("rawmeta"); d.onsuccess = r; d.onerror = r; });
  const rawOpen = () => new Promise((res, rej) => { const r = indexedDB.open("rawmeta", 1); r.onupgradeneeded = () => r.result.createObjectStore("items", { keyPath: "id", autoIncrement: true }).createIndex("author", "author"); r.onsuccess = () => res(r.result); r.onerror = () => rej(r.error); });
  let raw = await rawOpen();
  { const tx = raw.transaction("items", "readwrite"); for (let k = 0; k < DOCS; k++) tx.objectStore("items").add(doc(k)); await new Promise((r) => { tx.oncomplete = r; }); }
  raw.close();
  const version = (await indexedDB.databases()).find((d) => d.name === "metaexp").version;
  const wopen = () => new Promise((res, rej) => { const r = indexedDB.open("metaexp", version); r.onsuccess = () => res(r.result); r.onerror = () => rej(r.error); });
  let w = await wopen();
  const metaKeys = await new Promise((r) => { const q = w.transaction("meta").objectStore("meta").getAllKeys(); q.onsuccess = () => r(q.result); });
  const docKeys = await new Promise((r) => { const q = w.transaction("documents").objectStore("documents").getAllKeys(null, DOCS); q.onsuccess = () => r(q.result); });
  w.close();
  const dec = new TextDecoder();
  const names = metaKeys.map((k) => dec.decode(k));
  const key = metaKeys[names.indexOf("signing-key")], layout = metaKeys[names.indexOf("layout")];
  const enc = new TextEncoder();
  const lo = enc.encode("schema/"), hi = enc.encode("schema0");
  const range = IDBKeyRange.bound(lo, hi, false, true);
  const req = (r) => new Promise((res, rej) => { r.onsuccess = () => res(r.result); r.onerror = () => rej(r.error); });
  const meta = (tx) => { const s = tx.objectStore("meta"); return Promise.all([req(s.get(key)), req(s.get(layout)), req(s.getAll(range))]); };
  const variants = {
    raw: async (i) => { const d = await rawOpen(); const v = await req(d.transaction("items").objectStore("items").get(i + 1)); d.close(); return v; },
    seq: async (i) => { const d = await wopen(); await meta(d.transaction(["meta"])); const v = await req(d.transaction(["documents"]).objectStore("documents").get(docKeys[i])); d.close(); return v; },
    twoTx: async (i) => { const d = await wopen(); const m = meta(d.transaction(["meta"])); const g = req(d.transaction(["documents"]).objectStore("documents").get(docKeys[i])); const [, v] = await Promise.all([m, g]); d.close(); return v; },
    oneTx: async (i) => { const d = await wopen(); const tx = d.transaction(["meta", "documents"]); const m = meta(tx); const g = req(tx.objectStore("documents").get(docKeys[i])); const [, v] = await Promise.all([m, g]); d.close(); return v; },
    getOnly: async (i) => { const d = await wopen(); const v = await req(d.transaction(["documents"]).objectStore("documents").get(docKeys[i])); d.close(); return v; },
    metaOneGetAll: async (i) => { const d = await wopen(); await req(d.transaction(["meta"]).objectStore("meta").getAll()); const v = await req(d.transaction(["documents"]).objectStore("documents").get(docKeys[i])); d.close(); return v; },
  };
  const runs = Object.fromEntries(Object.keys(variants).map((k) => [k, []]));
  const order = Object.keys(variants);
  for (let k = 0; k < N; k++) {
    const o = k % 2 ? order : [...order].reverse();
    for (const v of o) {
      const i = (k * 7919) % DOCS;
      const t0 = T();
      const got = await variants[v](i);
      runs[v].push(T() - t0);
      if (!got) throw new Error("nothing " + v);
    }
  }
  const med = (a) => { const s = [...a].slice(4).sort((x, y) => x - y); return +s[s.length >> 1].toFixed(3); };
  return Object.fromEntries(Object.entries(runs).map(([k, v]) => [k, med(v)]));
}, { N, DOCS });
console.log(JSON.stringify(out));
await browser.close();
server.close?.();
process.exit(0);
