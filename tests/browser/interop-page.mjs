// The js-libp2p side of the interop suite (interop.test.mjs): esbuild
// bundles this module for the page at test time (never committed) and it
// runs in headless Chromium as `window.interop`. Each function is what a
// page built on js-libp2p would do; the test drives them and times them.
import { createLibp2p } from "libp2p";
import { webSockets } from "@libp2p/websockets";
import { webTransport } from "@libp2p/webtransport";
import { webRTC, webRTCDirect } from "@libp2p/webrtc";
import { noise } from "@chainsafe/libp2p-noise";
import { yamux } from "@chainsafe/libp2p-yamux";
import { identify } from "@libp2p/identify";
import { ping } from "@libp2p/ping";
import { gossipsub } from "@libp2p/gossipsub";
import { circuitRelayTransport } from "@libp2p/circuit-relay-v2";
import { generateKeyPair } from "@libp2p/crypto/keys";
import { peerIdFromPrivateKey } from "@libp2p/peer-id";
import { multiaddr } from "@multiformats/multiaddr";
import { CID } from "multiformats/cid";
import { sha256 } from "multiformats/hashes/sha2";

export { multiaddr };

const PING = "/ipfs/ping/1.0.0";

/**
 * A js-libp2p node with every browser transport, identify, ping,
 * gossipsub and the circuit relay client. `above` asks for a key whose
 * peer id sorts after it (weft pages dial the one of two that sorts
 * higher, so the test picks who offers WebRTC).
 */
export async function start({ listen = [], above } = {}) {
  let privateKey = await generateKeyPair("Ed25519");
  while (above && peerIdFromPrivateKey(privateKey).toString() <= above) {
    privateKey = await generateKeyPair("Ed25519");
  }
  return createLibp2p({
    privateKey,
    addresses: { listen },
    transports: [webSockets(), webTransport(), webRTCDirect(), webRTC(), circuitRelayTransport()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    // The browser default refuses private addresses and plain ws: the node is on loopback.
    connectionGater: { denyDialMultiaddr: () => false },
    services: {
      identify: identify(),
      ping: ping(),
      // weft gossip is anonymous (blocks carry their authors' signatures),
      // and a message's id is sha256(topic ‖ data), as the node computes it.
      pubsub: gossipsub({
        globalSignaturePolicy: "StrictNoSign",
        allowPublishToZeroTopicPeers: true,
        msgIdFn: async (msg) => {
          const topic = new TextEncoder().encode(msg.topic);
          const bytes = new Uint8Array(topic.length + msg.data.length);
          bytes.set(topic);
          bytes.set(msg.data, topic.length);
          return (await sha256.digest(bytes)).digest;
        },
      }),
    },
  });
}

/** An error as one line: its name, message, and those of the errors it wraps. */
export function describe(e) {
  let s = `${e?.name}: ${e?.message}`;
  if (Array.isArray(e?.errors)) s += ` [${e.errors.map(describe).join("; ")}]`;
  if (e?.cause) s += ` (cause: ${describe(e.cause)})`;
  return s;
}

/** ms since `t0`, to one decimal. */
const since = (t0) => Math.round((performance.now() - t0) * 10) / 10;

/** `p`, or a rejection naming `what` after `ms`. */
export function within(ms, what, p) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** The last `pingOn`'s stream, and `remoteEnd()`: ms from our close to the remote's (null: not yet). */
export const last = {};

/**
 * One ping on `connection` as /ipfs/ping/1.0.0 does it: 32 random bytes
 * echoed, then the stream closed. `rtt` is to the echo, `total` to the
 * close's end (a close waits for the remote's acknowledgement).
 */
export async function pingOn(connection, { timeout = 5_000 } = {}) {
  const signal = AbortSignal.timeout(timeout);
  const t0 = performance.now();
  const stream = await connection.newStream(PING, { signal, runOnLimitedConnection: true });
  // When the remote ends its side (it must once we end ours).
  let remoteEnded = null;
  stream.addEventListener("remoteCloseWrite", () => (remoteEnded = performance.now()), { once: true });
  const data = crypto.getRandomValues(new Uint8Array(32));
  stream.send(data);
  const got = [];
  let n = 0;
  for await (const chunk of stream) {
    const bytes = chunk.subarray();
    got.push(bytes);
    n += bytes.length;
    if (n >= 32) break;
  }
  const rtt = since(t0);
  const echoed = new Uint8Array(n);
  let at = 0;
  for (const b of got) {
    echoed.set(b, at);
    at += b.length;
  }
  if (n !== 32 || !echoed.every((b, i) => b === data[i])) throw new Error(`ping: wrong echo (${n} bytes)`);
  const t1 = performance.now();
  await stream.close({ signal });
  const close = since(t1);
  // The remote's end, from our close (0 if it came first); null: not yet.
  last.stream = stream;
  last.remoteEnd = () => (remoteEnded === null ? null : Math.max(0, Math.round(remoteEnded - t1)));
  return { rtt, close, total: since(t0), streamId: stream.id };
}

/**
 * Waits (up to `ms`) until `connection` has no stream of `protocol` open,
 * e.g. js's own identify on connect, since js opens one outbound stream
 * per protocol at a time; resolves to the ms waited.
 */
export async function settle(connection, protocol, ms = 3_000) {
  const t0 = performance.now();
  while (connection.streams.some((s) => s.protocol === protocol) && performance.now() - t0 < ms) {
    await new Promise((r) => setTimeout(r, 10));
  }
  return Math.round(performance.now() - t0);
}

/** The streams open on `connection`, as [protocol, direction, status]. */
export const streamsOf = (connection) => connection.streams.map((s) => [s.protocol, s.direction, s.status]);

/** Whether `data` is the block whose CID (DAG-CBOR, sha2-256) is `id`. */
export async function isBlock(data, id) {
  const cid = CID.parse(id);
  const digest = await sha256.digest(data);
  return cid.multihash.code === sha256.code && digest.digest.every((b, i) => b === cid.multihash.digest[i]);
}
