// The network's types (feature `net`: the `weftdb` package, not `weftdb/local`),
// merged into npm/types.d.ts's `WeftOpenOptions` and `WeftEvents`.
/** How `Database.open` joins the network; without these it does not. */
export interface WeftOpenOptions {
  /** Multiaddrs (ending in /p2p/<peer id>) of peers to dial: a weft node's WebTransport, WebRTC-direct or WebSocket address. */
  peers?: string[];
  /** Run the page's libp2p node (default: true when peers are given). With false no network code runs. */
  p2p?: boolean;
  /**
   * Pages that meet through a node's relay upgrade their relayed connection to a
   * direct WebRTC one (default: true). With false they stay on the relay.
   */
  directUpgrade?: boolean;
}
export type WeftTransport = "webtransport" | "webrtc-direct" | "websocket" | "webrtc" | "relay" | "tcp" | "quic" | "other";
export interface WeftConnection { peerId: string; addr: string; transport: WeftTransport; direction: "inbound" | "outbound" }
export interface WeftReplicatorSpec { collection: string; peer: string; docs?: string[] }
/** A replicator as `replicators.set` stored it. */
export interface WeftReplicatorSet { peerId: string; collection: string; docs: string[] | null; addrs: string[] }
/** A block the replicator's peer refused; it left the queue. `code` is the peer's. */
export interface WeftRefusedBlock { cid: string; code: string; reason: string }
export interface WeftReplicator { peerId: string; collection: string; docs: string[] | null; addrs: string[]; queued: number; refused: WeftRefusedBlock[] }
export interface WeftNetworkStats {
  /** Blocks taken from peers, and their size in bytes (duplicates included). */
  received: number; bytesReceived: number;
  sent: number; served: number; invalid: number; refused: number; decodeErrors: number; oversized: number;
  /** Documents whose heads peers sent in head exchange requests: each exchange counts the documents it names. */
  headsReceived: number;
  fetchFailures: number; orphansDropped: number; pendingDropped: number;
  /** Relayed connections to other pages that became direct WebRTC ones, and offers that failed. */
  directUpgrades: number; directFailures: number;
  /** Peers disconnected (and refused for ten minutes) for sending invalid data. */
  peersDropped: number;
  /**
   * Requests dropped because their peer was over its rate; requests that never
   * arrived whole; blocks sent again (taken without a transaction); blocks and
   * head exchanges withheld from peers we do not share them with.
   */
  rateLimited: number; stalled: number; replayed: number; withheld: number;
  pending: number; peers: string[]; mesh: Record<string, number>;
  /**
   * This tab's part: "leader" runs the node for every tab of the origin that
   * opened the database, a "follower" reaches the network through it, and
   * "alone" runs its own node (no Web Locks or BroadcastChannel here).
   */
  tabs: "alone" | "leader" | "follower";
}
export interface WeftPeerEvent { type: "connected" | "disconnected"; peerId: string; transport: WeftTransport }
/**
 * After each batch a peer pushes while bringing this replica up to date:
 * `blocksReceived` counts the blocks it pushed since it connected,
 * `blocksWanted` what that count should reach: an estimate that never
 * falls, is never below `blocksReceived`, and equals it once every batch
 * has come (batches may come out of order, so it may read as done a
 * moment early).
 */
export interface WeftSyncEvent { peerId: string; blocksReceived: number; blocksWanted: number }
export interface WeftEvents {
  /** A peer connected or disconnected. */
  peer: WeftPeerEvent;
  /** Progress while a peer brings this replica up to date. */
  sync: WeftSyncEvent;
  /** One of the fields of `db.status()` changed. */
  status: WeftStatus;
}
export interface Collections extends WeftDisposable {}
export interface Replicators extends WeftDisposable {}
/** What `db.status()` returns and `db.on("status")` hands its listeners. */
export interface WeftStatus {
  /** The browser says it has a network (its `online`/`offline` events). Offline, the node closes its connections and dials nothing; back online it dials at once. */
  online: boolean;
  /** This tab runs the origin's network node. */
  leader: boolean;
  /** Peers with an open connection. */
  peers: number;
  /** Blocks waiting in the outbox for a replicator's peer to acknowledge them (a block queued for two peers counts twice). */
  queuedBlocks: number;
  /** When an exchange with a peer last finished, in ms since the Unix epoch (as `Date.now()`); null before the first. */
  lastSync: number | null;
}
