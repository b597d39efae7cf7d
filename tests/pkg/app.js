// The app every bundler test builds: what a user's first page with weftdb
// does. The same file is copied into each app directory (vite6/, vite7/,
// vite8/, esm/) by bundlers.test.mjs, which reads #out.
import init, { Database } from "weftdb";

async function main() {
  await init();
  const name = `bundler-${Math.random().toString(36).slice(2)}`;
  const db = await Database.open(name);
  await db.addSchema(`type Book { title: String! pages: Int }`);
  const books = db.collection("Book");
  const id = await books.create({ title: "Dune", pages: 412 });
  const doc = await books.get(id);
  await db.close();
  await Database.destroy(name);
  return { ok: true, id, doc };
}

const out = document.getElementById("out");
main()
  .catch((e) => ({ ok: false, error: String(e && e.message ? e.message : e), code: e && e.code }))
  .then((result) => {
    out.textContent = JSON.stringify(result);
    out.dataset.done = "1";
  });
