// A small, dependency-free static file server for the weftdb demo, the
// browser end-to-end tests and the benchmark pages.
//
//   import { serve } from "./serve.mjs";
//   const { url, close } = await serve({ root: "/path/to/repo", port: 0 });
//
//   node tests/browser/serve.mjs [--root DIR] [--port N]     (PORT env works too)
//
// * binds 127.0.0.1 only;
// * serves files under `root` (the repository root, so /www/index.html can
//   import ../pkg/weftdb.js), with correct MIME types (application/wasm for
//   .wasm so streaming compilation works);
// * maps /node_modules/... to tests/node_modules/... so pages can import
//   e.g. /node_modules/dexie/dist/dexie.mjs as an ES module;
// * sends files with `Cache-Control: no-cache` and an ETag (their size,
//   modification time and inode), answering 304 to a request that names it: the
//   browser revalidates every load, so a rebuilt package is seen at once,
//   while an unchanged wasm keeps the compiled code Chromium caches for a
//   cacheable response (a returning visitor's reopened page compiles
//   little of it again); every other response is no-store;
// * sends the COOP/COEP headers that make pages cross-origin isolated
//   (finer performance.now() for the benchmarks; every resource here is
//   same-origin anyway);
// * refuses any path that would escape its root (403), including through
//   symlinks.

import http from "node:http";
import fs from "node:fs";
import fsp from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const DEFAULT_ROOT = path.resolve(HERE, "..", "..");

export const MIME_TYPES = {
  ".html": "text/html; charset=utf-8",
  ".htm": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".cjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".map": "application/json; charset=utf-8",
  ".wasm": "application/wasm",
  ".ts": "text/plain; charset=utf-8",
  ".txt": "text/plain; charset=utf-8",
  ".md": "text/plain; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".jpg": "image/jpeg",
  ".jpeg": "image/jpeg",
  ".gif": "image/gif",
  ".ico": "image/x-icon",
  ".webp": "image/webp",
  ".woff": "font/woff",
  ".woff2": "font/woff2",
};

function mimeType(file) {
  return MIME_TYPES[path.extname(file).toLowerCase()] ?? "application/octet-stream";
}

function isInside(base, target) {
  const rel = path.relative(base, target);
  return rel === "" || (!rel.startsWith("..") && !path.isAbsolute(rel));
}

/**
 * Start the server.
 * @param {{root?: string, port?: number, nodeModules?: string, quiet?: boolean}} [opts]
 *   root: directory to serve (default: the repository root);
 *   port: TCP port on 127.0.0.1 (0 = pick a free one; default 0);
 *   nodeModules: directory served at /node_modules/ (default: <repo>/tests/node_modules).
 * @returns {Promise<{url: string, port: number, close: () => Promise<void>}>}
 */
/** Starts `server` on 127.0.0.1:`port` (0: any free port); resolves to the port. */
export async function listenLoopback(server, port = 0) {
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  return server.address().port;
}

export async function serve(opts = {}) {
  const root = await fsp.realpath(path.resolve(opts.root ?? DEFAULT_ROOT));
  const nmDir = path.resolve(opts.nodeModules ?? path.join(HERE, "..", "node_modules"));
  const nodeModules = fs.existsSync(nmDir) ? await fsp.realpath(nmDir) : nmDir;
  const port = opts.port ?? 0;
  const common = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Embedder-Policy": "require-corp",
    "Cross-Origin-Resource-Policy": "same-origin",
  };
  const log = opts.quiet === false ? (...a) => console.log(...a) : () => {};

  const server = http.createServer(async (req, res) => {
    const send = (status, body, headers = {}) => {
      res.writeHead(status, {
        "Content-Type": "text/plain; charset=utf-8",
        ...common,
        ...headers,
      });
      res.end(req.method === "HEAD" ? undefined : body);
      log(`${req.method} ${req.url} ${status}`);
    };
    try {
      if (req.method !== "GET" && req.method !== "HEAD") {
        return send(405, "method not allowed\n", { Allow: "GET, HEAD" });
      }
      let pathname;
      try {
        pathname = decodeURIComponent(new URL(req.url, "http://127.0.0.1").pathname);
      } catch {
        return send(400, "bad request\n");
      }
      if (pathname.includes("\0")) return send(400, "bad request\n");

      // Choose the base directory and the path inside it.
      let base = root;
      let rel = pathname;
      if (pathname === "/node_modules" || pathname.startsWith("/node_modules/")) {
        base = nodeModules;
        rel = pathname.slice("/node_modules".length);
      }
      let file = path.resolve(base, "." + path.posix.normalize("/" + rel));
      if (!isInside(base, file)) return send(403, "forbidden\n");

      let st;
      try {
        // Resolve symlinks and check again, so a link cannot lead outside.
        const real = await fsp.realpath(file);
        if (!isInside(base, real)) return send(403, "forbidden\n");
        file = real;
        st = await fsp.stat(file);
      } catch {
        return send(404, "not found\n");
      }
      if (st.isDirectory()) {
        if (!pathname.endsWith("/")) {
          const u = new URL(req.url, "http://127.0.0.1");
          return send(301, "moved\n", { Location: u.pathname + "/" + u.search });
        }
        file = path.join(file, "index.html");
        try {
          st = await fsp.stat(file);
        } catch {
          return send(404, "not found\n");
        }
        if (!st.isFile()) return send(404, "not found\n");
      } else if (!st.isFile()) {
        return send(404, "not found\n");
      }

      // A file's version: its size, modification time and inode. The browser asks
      // again each time (no-cache) and keeps what it has on a 304, so a new
      // build is seen at once and an unchanged wasm keeps its compiled code.
      // The inode too: a file replaced by another of the same size within a
      // coarse clock's tick (1-2 s on some file systems) is still told apart.
      const etag = `"${st.size.toString(16)}-${Math.trunc(st.mtimeMs * 1000).toString(16)}-${st.ino.toString(16)}"`;
      const headers = { ...common, "Cache-Control": "no-cache", ETag: etag };
      // Weak comparison (RFC 9110, 13.1.2), as If-None-Match asks: a tag a
      // proxy marked weak (W/) still matches, and * matches any file.
      const named = (req.headers["if-none-match"] ?? "").split(",").map((t) => t.trim().replace(/^W\//, ""));
      if (named.includes(etag) || named.includes("*")) {
        res.writeHead(304, headers);
        res.end();
        log(`${req.method} ${req.url} 304`);
        return;
      }
      res.writeHead(200, {
        "Content-Type": mimeType(file),
        "Content-Length": st.size,
        ...headers,
      });
      if (req.method === "HEAD") {
        res.end();
      } else {
        const stream = fs.createReadStream(file);
        stream.on("error", () => res.destroy());
        stream.pipe(res);
      }
      log(`${req.method} ${req.url} 200`);
    } catch (err) {
      if (!res.headersSent) send(500, "internal error\n");
      else res.destroy();
      console.error("serve.mjs:", err);
    }
  });

  const actualPort = await listenLoopback(server, port);
  const url = `http://127.0.0.1:${actualPort}`;
  const close = () =>
    new Promise((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections?.();
    });
  return { url, port: actualPort, close, server };
}

// ---- CLI ------------------------------------------------------------------

function parseArgs(argv) {
  const out = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const m = /^--([^=]+)(?:=(.*))?$/.exec(a);
    if (!m) throw new Error(`unexpected argument: ${a}`);
    const key = m[1];
    const val = m[2] ?? argv[++i];
    if (val === undefined) throw new Error(`--${key} needs a value`);
    out[key] = val;
  }
  return out;
}

const isMain = process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  let args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (e) {
    console.error(`serve.mjs: ${e.message}\nusage: node serve.mjs [--root DIR] [--port N] [--verbose 1]`);
    process.exit(2);
  }
  const port = Number(args.port ?? process.env.PORT ?? 8080);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`serve.mjs: bad port ${args.port ?? process.env.PORT}`);
    process.exit(2);
  }
  serve({ root: args.root, port, quiet: !args.verbose })
    .then(({ url, close }) => {
      console.log(`serving ${path.resolve(args.root ?? DEFAULT_ROOT)} at ${url}/`);
      const stop = () => close().then(() => process.exit(0));
      process.on("SIGINT", stop);
      process.on("SIGTERM", stop);
    })
    .catch((e) => {
      console.error(`serve.mjs: cannot listen on 127.0.0.1:${port}: ${e.message}`);
      process.exit(1);
    });
}
