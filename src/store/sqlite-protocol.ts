/**
 * Messages between the SQLite writer thread (sqlite-writer.ts) and the threads
 * that write through it (sqlite-link.ts). Plain objects: structured clone
 * copies a StoredResponse's strings in a few µs, cheaper than serialising them
 * again ourselves.
 *
 * Two transports, one message set:
 * - the thread that started the writer (the owner: the main thread) talks over
 *   the Worker's own port;
 * - HTTP threads (server.threads > 1) cannot be handed a port without changing
 *   how edge/threads.ts spawns them, so they find the writer by name through
 *   BroadcastChannels (process-wide, keyed by the database path): a `hello` on
 *   the path's channel, answered with a private request/reply channel pair per
 *   client, so no other thread receives (and deserialises) its rows.
 */
import type { StoredResponse } from './types.ts';
import type { RoutingOp } from './sqlite-routing-ops.ts';
import type { OrgOp } from './sqlite-org-ops.ts';

export type WriteOp =
  | { op: 'put'; n: number; row: StoredResponse }
  | { op: 'delete'; n: number; org: string; id: string }
  | { op: 'purge'; n: number; olderThan: number }
  // Router configs, sessions, route decisions (issue 9): applied by sqlite-routing-ops.ts.
  | (RoutingOp & { n: number })
  // Preferences, feedback, activity log (issue 11): applied by sqlite-org-ops.ts.
  | (OrgOp & { n: number })
  // An HTTP thread's activity-log ring (log-ring.ts): registered once, then drained by the writer every
  // flushMs on its own timer; log_drain drains it now (close: and forgets it), replying after the commit.
  | { op: 'log_ring'; n: number; id: string; sab: SharedArrayBuffer; flushMs: number }
  | { op: 'log_drain'; n: number; id: string; close: boolean };

export type Reply = { n: number; ok: true; value: unknown } | { n: number; ok: false; message: string };

/**
 * Writes travel in arrays (every write a thread issued in one turn of its
 * loop, sqlite-link.ts Outbox) and replies come back in arrays (one per
 * destination per committed batch): one message per batch each way.
 */
export type OwnerOp = WriteOp[] | { op: 'stop' };

/** Writer -> owner, besides Reply[]. */
export type WriterEvent =
  | { ev: 'ready' }
  | { ev: 'failed'; message: string }
  | { ev: 'purged'; count: number; ms: number }
  | { ev: 'error'; message: string };

/** On the path's hello channel. */
export type HelloMessage = { hello: string } | { up: true } | { down: string };

/** On a client's private reply channel, besides Reply[]. */
export type ClientReady = { ready: true };

export interface WriterData {
  /** Read by worker/bootstrap.mjs: the module to import. */
  entry: string;
  dir: string;
  path: string;
  channel: string;
  /** 0 = responses never expire. */
  ttlMs: number;
  purgeIntervalMs: number;
}

/** The path's hello channel name; a client's private pair is `${name}#${client}:req|rep`. */
export function channelName(path: string): string {
  return `switchyard:store:${path}`;
}
