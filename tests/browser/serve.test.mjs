// Tests of the static server used by the demo, the e2e tests and the benches.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import net from "node:net";
import { serve } from "./serve.mjs";

let root;
let nm;
let outside;
let srv;

before(async () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "weft-serve-"));
  root = path.join(tmp, "root");
  nm = path.join(tmp, "nm");
  outside = path.join(tmp, "secret.txt");
  fs.mkdirSync(path.join(root, "www"), { recursive: true });
  fs.mkdirSync(path.join(root, "pkg"), { recursive: true });
  fs.mkdirSync(path.join(nm, "dexie", "dist"), { recursive: true });
  fs.writeFileSync(path.join(root, "www", "index.html"), "<!doctype html><p>hi</p>");
  fs.writeFileSync(path.join(root, "www", "app.js"), "export const x = 1;");
  fs.writeFileSync(path.join(root, "www", "style.css"), "p{}");
  fs.writeFileSync(path.join(root, "pkg", "weftdb.js"), "export default 1;");
  fs.writeFileSync(path.join(root, "pkg", "weftdb_bg.wasm"), Buffer.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]));
  fs.writeFileSync(path.join(root, "pkg", "package.json"), "{}");
  fs.writeFileSync(path.join(nm, "dexie", "dist", "dexie.mjs"), "export default class Dexie {}");
  fs.writeFileSync(outside, "secret");
  fs.symlinkSync(outside, path.join(root, "www", "link.txt"));
  srv = await serve({ root, port: 0, nodeModules: nm });
});

after(async () => {
  await srv?.close();
});

/** A raw request, so that paths like /../x reach the server unnormalised. */
function rawGet(pathname) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(srv.port, "127.0.0.1", () => {
      sock.write(`GET ${pathname} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
    });
    let data = "";
    sock.on("data", (d) => (data += d));
    sock.on("end", () => resolve(Number(data.split(" ")[1])));
    sock.on("error", reject);
  });
}

test("binds 127.0.0.1 and reports its url", () => {
  assert.match(srv.url, /^http:\/\/127\.0\.0\.1:\d+$/);
  assert.equal(srv.server.address().address, "127.0.0.1");
});

test("serves files with the right MIME types, to be revalidated (no-cache, an ETag)", async () => {
  const cases = [
    ["/www/index.html", "text/html"],
    ["/www/", "text/html"],
    ["/www/app.js", "text/javascript"],
    ["/www/style.css", "text/css"],
    ["/pkg/weftdb.js", "text/javascript"],
    ["/pkg/weftdb_bg.wasm", "application/wasm"],
    ["/pkg/package.json", "application/json"],
  ];
  for (const [p, type] of cases) {
    const res = await fetch(srv.url + p);
    assert.equal(res.status, 200, p);
    assert.ok(res.headers.get("content-type").startsWith(type), `${p}: ${res.headers.get("content-type")}`);
    assert.equal(res.headers.get("cache-control"), "no-cache", p);
    assert.match(res.headers.get("etag") ?? "", /^"[0-9a-f]+-[0-9a-f]+-[0-9a-f]+"$/, p);
    await res.arrayBuffer();
  }
  const wasm = new Uint8Array(await (await fetch(srv.url + "/pkg/weftdb_bg.wasm")).arrayBuffer());
  assert.deepEqual([...wasm.slice(0, 4)], [0, 0x61, 0x73, 0x6d]);
});

// A browser keeps what it has on a 304, and Chromium keeps a wasm's compiled
// code only for a response it may cache: so an unchanged package answers
// 304, a rebuilt one is sent at once.
test("answers 304 to a file's own ETag, and the new file once it changes", async () => {
  const file = path.join(root, "pkg", "weftdb_bg.wasm");
  const first = await fetch(srv.url + "/pkg/weftdb_bg.wasm");
  const etag = first.headers.get("etag");
  assert.equal(first.status, 200);
  await first.arrayBuffer();
  const again = await fetch(srv.url + "/pkg/weftdb_bg.wasm", { headers: { "If-None-Match": etag } });
  assert.equal(again.status, 304);
  assert.equal(again.headers.get("etag"), etag);
  assert.equal(again.headers.get("cache-control"), "no-cache");
  assert.equal((await again.arrayBuffer()).byteLength, 0);
  // In a list, marked weak by a proxy, or `*`.
  for (const named of [`"0-0-0", ${etag}`, `W/${etag}`, "*"]) {
    const res = await fetch(srv.url + "/pkg/weftdb_bg.wasm", { headers: { "If-None-Match": named } });
    assert.equal(res.status, 304, named);
    await res.arrayBuffer();
  }
  const other = await fetch(srv.url + "/pkg/weftdb_bg.wasm", { headers: { "If-None-Match": '"0-0-0"' } });
  assert.equal(other.status, 200);
  await other.arrayBuffer();
  const head = await fetch(srv.url + "/pkg/weftdb_bg.wasm", { method: "HEAD", headers: { "If-None-Match": etag } });
  assert.equal(head.status, 304);
  const headNew = await fetch(srv.url + "/pkg/weftdb_bg.wasm", { method: "HEAD" });
  assert.equal(headNew.status, 200);
  assert.equal(headNew.headers.get("etag"), etag);

  const before = fs.readFileSync(file);
  try {
    fs.writeFileSync(file, Buffer.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 0]));
    const rebuilt = await fetch(srv.url + "/pkg/weftdb_bg.wasm", { headers: { "If-None-Match": etag } });
    assert.equal(rebuilt.status, 200);
    assert.notEqual(rebuilt.headers.get("etag"), etag);
    assert.equal((await rebuilt.arrayBuffer()).byteLength, 9);
    // The same size, only touched: a new version too.
    const sameSize = (await fetch(srv.url + "/pkg/weftdb_bg.wasm", { method: "HEAD" })).headers.get("etag");
    const later = new Date(Date.now() + 5000);
    fs.utimesSync(file, later, later);
    const touched = await fetch(srv.url + "/pkg/weftdb_bg.wasm", { headers: { "If-None-Match": sameSize } });
    assert.equal(touched.status, 200);
    assert.notEqual(touched.headers.get("etag"), sameSize);
    await touched.arrayBuffer();
  } finally {
    fs.writeFileSync(file, before);
  }
  // What is not a file is never kept.
  const missing = await fetch(srv.url + "/www/nope.js", { headers: { "If-None-Match": etag } });
  assert.equal(missing.status, 404);
  assert.equal(missing.headers.get("cache-control"), "no-store");
  const moved = await fetch(srv.url + "/www", { redirect: "manual", headers: { "If-None-Match": "*" } });
  assert.equal(moved.status, 301);
  assert.equal(moved.headers.get("cache-control"), "no-store");
});

test("redirects a directory without its slash", async () => {
  const res = await fetch(srv.url + "/www", { redirect: "manual" });
  assert.equal(res.status, 301);
  assert.equal(res.headers.get("location"), "/www/");
});

test("maps /node_modules/ to the tests' node_modules", async () => {
  const res = await fetch(srv.url + "/node_modules/dexie/dist/dexie.mjs");
  assert.equal(res.status, 200);
  assert.ok(res.headers.get("content-type").startsWith("text/javascript"));
  assert.match(await res.text(), /class Dexie/);
});

test("404 for missing files, 405 for other methods", async () => {
  assert.equal((await fetch(srv.url + "/www/nope.js")).status, 404);
  assert.equal((await fetch(srv.url + "/www/index.html", { method: "POST", body: "x" })).status, 405);
});

test("refuses paths that escape the root", async () => {
  for (const p of [
    "/../secret.txt",
    "/www/../../secret.txt",
    "/%2e%2e/secret.txt",
    "/www/%2e%2e/%2e%2e/secret.txt",
    "/node_modules/../secret.txt",
    "/node_modules/%2e%2e/secret.txt",
  ]) {
    const status = await rawGet(p);
    assert.ok(status === 403 || status === 404, `${p} gave ${status}`);
  }
  // A symlink inside the root that points outside it is refused too.
  assert.equal((await fetch(srv.url + "/www/link.txt")).status, 403);
});
