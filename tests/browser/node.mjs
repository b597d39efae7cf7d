// A native weft node for the browser tests: `weft start` on loopback ports
// with a temporary store, listening on every transport a page can dial.
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import net from "node:net";
import { REPO_ROOT } from "./lib.mjs";

// WEFT_BIN names another build (a checkout whose CARGO_TARGET_DIR is shared).
const WEFT = process.env.WEFT_BIN || path.join(REPO_ROOT, "target", "debug", "weft");

/** A free TCP port on 127.0.0.1 (for the node's HTTP API). */
async function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on("error", reject);
  });
}

/** Builds target/debug/weft unless it is there (cargo test builds it first in CI). */
export function ensureWeft() {
  if (fs.existsSync(WEFT)) return WEFT;
  const r = spawnSync("cargo", ["build", "--bin", "weft"], { cwd: REPO_ROOT, stdio: "inherit" });
  if (r.status !== 0) throw new Error("cargo build --bin weft failed");
  return WEFT;
}

/**
 * Starts a node; resolves to { api, info, addr(transport), stop(), store }.
 * `store` reuses a store directory (a restart keeps the identity and data).
 */
export async function startNode({ store, listen, port } = {}) {
  const bin = ensureWeft();
  store ??= fs.mkdtempSync(path.join(os.tmpdir(), "weft-node-"));
  port ??= await freePort();
  const p2paddr = (
    listen ?? [
      "/ip4/127.0.0.1/tcp/0",
      "/ip4/127.0.0.1/tcp/0/ws",
      // Inside tests/browser/netns.sh: an address browsers gather WebRTC candidates for.
      `/ip4/${process.env.WEFT_NETNS_IP || "127.0.0.1"}/udp/0/webrtc-direct`,
      "/ip4/127.0.0.1/udp/0/quic-v1/webtransport",
    ]
  ).join(",");
  const child = spawn(bin, ["start", "--store", store, "--p2paddr", p2paddr, "--no-mdns", "--api", `127.0.0.1:${port}`], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? "warn" },
  });
  let output = "";
  child.stdout.on("data", (d) => (output += d));
  child.stderr.on("data", (d) => (output += d));
  const exited = new Promise((resolve) => child.on("exit", resolve));
  const api = `http://127.0.0.1:${port}/api/v0`;
  const deadline = Date.now() + 30_000;
  let info;
  while (!info) {
    if (child.exitCode !== null) throw new Error(`weft start exited:\n${output}`);
    if (Date.now() > deadline) throw new Error(`weft start did not answer on ${api}:\n${output}`);
    try {
      const r = await fetch(`${api}/p2p/info`);
      if (r.ok) info = await r.json();
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const get = async (p) => (await fetch(`${api}/${p}`)).json();
  // The node refuses writes without their type: SDL for the schema, else JSON.
  const post = async (p, body = "") => {
    const type = p === "schema" ? "application/graphql" : "application/json";
    const r = await fetch(`${api}/${p}`, { method: "POST", body, headers: { "content-type": type } });
    if (!r.ok) throw new Error(`POST ${p}: ${r.status} ${await r.text()}`);
    return r.json();
  };
  return {
    api,
    info,
    /** The node's process id (e.g. to read its CPU time). */
    get pid() {
      return child.pid;
    },
    store,
    output: () => output,
    get,
    post,
    /** The node's complete address for a transport's word (as `connections()` reports it). */
    addr(transport) {
      const marks = { websocket: "/ws/", "webrtc-direct": "/webrtc-direct/", webtransport: "/webtransport/" };
      const a = info.addresses.find((x) => x.includes(marks[transport]));
      if (!a) throw new Error(`the node lists no ${transport} address: ${info.addresses.join(" ")}`);
      return a;
    },
    async stop() {
      if (child.exitCode === null) child.kill("SIGTERM");
      await exited;
    },
    /** Stops the node and starts it again on the same store, ports and API port. */
    async restart() {
      await this.stop();
      const listen = info.addresses.map((a) => a.split("/certhash/")[0].split("/p2p/")[0]);
      return startNode({ store, listen, port });
    },
  };
}
