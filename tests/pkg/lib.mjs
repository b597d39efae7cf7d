// Helpers for the package tests: pack pkg/ as npm would publish it, install
// the tarball where a user's app would have it, run servers.
import { execFileSync, spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const HERE = path.dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = path.resolve(HERE, "..", "..");
export const PKG_DIR = path.join(REPO_ROOT, "pkg");

let packed;
/** `npm pack` of pkg/ into a fresh temporary directory (once per process): the tarball's path. */
export function packPkg() {
  if (packed) return packed;
  if (!fs.existsSync(path.join(PKG_DIR, "weftdb.js"))) {
    throw new Error("pkg/ is not built: wasm-pack build --target web --profile wasm && node npm/finish.mjs");
  }
  const dest = fs.mkdtempSync(path.join(os.tmpdir(), "weftdb-pack-"));
  const out = execFileSync("npm", ["pack", PKG_DIR, "--pack-destination", dest, "--json", "--loglevel=error"], {
    encoding: "utf8",
  });
  const [info] = JSON.parse(out);
  packed = { tarball: path.join(dest, info.filename), files: info.files.map((f) => f.path), dir: dest };
  return packed;
}

/** Installs the packed package into `dir`'s node_modules as `npm install weftdb` would, leaving package.json alone. */
export function installPacked(dir) {
  const { tarball } = packPkg();
  execFileSync("npm", ["install", "--no-save", "--no-audit", "--no-fund", "--loglevel=error", tarball], {
    cwd: dir,
    stdio: ["ignore", "pipe", "inherit"],
  });
  // A dev server's pre-bundled copy of the previous package must not be reused.
  fs.rmSync(path.join(dir, "node_modules", ".vite"), { recursive: true, force: true });
}

/** A TCP port free on 127.0.0.1 right now. */
export async function freePort() {
  const net = await import("node:net");
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** Runs a command to its end; throws with its output if it fails. */
export function run(cmd, args, opts = {}) {
  try {
    return execFileSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], ...opts });
  } catch (e) {
    throw new Error(`${cmd} ${args.join(" ")} failed:\n${e.stdout ?? ""}${e.stderr ?? ""}`);
  }
}

/**
 * Starts a server process in its own process group and waits until `url`
 * answers. Resolves to { output(), stop() }.
 */
export async function startServer(cmd, args, { cwd, url, timeoutMs = 60_000 }) {
  const child = spawn(cmd, args, { cwd, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  let log = "";
  child.stdout.on("data", (d) => (log += d));
  child.stderr.on("data", (d) => (log += d));
  let exited = null;
  child.on("exit", (code, signal) => (exited = { code, signal }));
  const stop = async () => {
    if (exited) return;
    const gone = new Promise((r) => child.once("exit", r));
    try {
      process.kill(-child.pid, "SIGTERM");
    } catch {}
    const t = setTimeout(() => {
      try {
        process.kill(-child.pid, "SIGKILL");
      } catch {}
    }, 5000);
    await gone;
    clearTimeout(t);
  };
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (exited) throw new Error(`${cmd} ${args.join(" ")} exited (${JSON.stringify(exited)}):\n${log}`);
    try {
      const res = await fetch(url);
      await res.arrayBuffer();
      break;
    } catch {}
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`${url} did not answer within ${timeoutMs} ms:\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { output: () => log, stop };
}
