/**
 * The one way code reaches Redis (issue 12; docs/replicas.md): `openRedis(config)`
 * gives a client for `state.redis` (a plain URL, Sentinel or Cluster) with the
 * settings every user of it relies on, the key namespace, and a state tracker
 * that /health and /metrics read.
 *
 * Client: ioredis. Why it and not node-redis: one client class that speaks to
 * a single server, to Sentinel (failover followed by itself) and to Cluster
 * (slots followed by itself); `defineCommand` loads a Lua script once and
 * calls it by EVALSHA with a transparent EVAL fallback after a SCRIPT FLUSH or
 * a failover; and it reconnects by itself with a retry strategy we bound.
 *
 * Settings that decide behaviour under faults:
 * - `enableOfflineQueue: false`: while disconnected a command fails at once
 *   instead of queueing behind the reconnect: a request degrades (local cache,
 *   fail-open limits) or answers 503 store_unavailable; it never hangs.
 * - `commandTimeout`: a slow Redis (a long fork, a saturated link) fails a
 *   command after `command_timeout_ms` the same way.
 * - `maxRetriesPerRequest: 0`: nothing is replayed after a reconnect (a
 *   replayed INCR or XADD would count twice).
 * - retry every 100 ms growing to 2 s, forever: the replica reconnects by
 *   itself when Redis comes back.
 *
 * Keys: `<key_prefix>:v1:<family>:...`. The `v1` is the layout version: a
 * release that changes a family's layout bumps it, so old and new replicas in
 * a rolling upgrade never read each other's encodings. Families with a
 * per-organisation key carry the organisation in a hash tag (`{org}`), so a
 * family's keys of one organisation land on one Cluster slot and a Lua script
 * may touch several of them.
 */
import { Redis, Cluster, type RedisOptions, type ClusterOptions } from 'ioredis';
import type { RedisConfig } from '../../config/schema.ts';

/** The layout version in every key (see the header). */
export const KEY_VERSION = 'v1';

export type RedisLike = Redis | Cluster;

export type RedisStatus = 'connecting' | 'ready' | 'down';

/** What /health and /metrics say about Redis; one per client. */
export interface RedisState {
  readonly status: RedisStatus;
  /** Unix ms of the last transition into `status`. */
  readonly since: number;
  /** The last connection error's message (no credentials: ioredis does not put them in it), or null. */
  readonly lastError: string | null;
  /** Times the client became ready after having been down (reconnects). */
  readonly reconnects: number;
}

export interface RedisHandle {
  readonly client: RedisLike;
  readonly keys: Keys;
  readonly config: Readonly<RedisConfig>;
  state(): RedisState;
  /** A second connection for SUBSCRIBE (a subscribed connection can run nothing else). Created on first call. */
  subscriber(): RedisLike;
  /** Resolves once the first connection is ready, or rejects after `connect_timeout_ms` (the replica then starts degraded; see docs/replicas.md). */
  ready(): Promise<void>;
  close(): Promise<void>;
}

/** Key builder: one place that knows the namespace. */
export class Keys {
  readonly base: string;
  constructor(prefix: string) { this.base = `${prefix}:${KEY_VERSION}`; }
  /** A key of `family` for one organisation: `<base>:<family>:{<org>}:<rest>`. */
  org(family: string, org: string, ...rest: string[]): string {
    return rest.length === 0 ? `${this.base}:${family}:{${org}}` : `${this.base}:${family}:{${org}}:${rest.join(':')}`;
  }
  /** A key not scoped by organisation (health, pub/sub channels, the log stream). */
  global(family: string, ...rest: string[]): string {
    return rest.length === 0 ? `${this.base}:${family}` : `${this.base}:${family}:${rest.join(':')}`;
  }
}

/** Thrown for a `state.redis` that cannot work, before anything connects. */
export class RedisConfigError extends Error { override name = 'RedisConfigError'; }

function retry(times: number): number { return Math.min(100 * 2 ** Math.min(times - 1, 5), 2_000); }

function baseOptions(c: RedisConfig): RedisOptions {
  return {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    // And nothing written before a disconnect is sent again after it (the same double count).
    autoResendUnfulfilledCommands: false,
    commandTimeout: c.command_timeout_ms,
    connectTimeout: c.connect_timeout_ms,
    retryStrategy: retry,
    // Surface connection errors through the state tracker, not as unhandled 'error' events.
    lazyConnect: false,
  };
}

/** Whether `state.redis` names a server: a url, Sentinel or Cluster. Off: the embedded defaults only. */
export function redisConfigured(c: RedisConfig): boolean {
  return c.url !== null || c.sentinels.length > 0 || c.cluster_nodes.length > 0;
}

/** Checks the combinations the JSON schema cannot express. */
export function checkRedisConfig(c: RedisConfig): void {
  if (c.sentinels.length > 0 && c.cluster_nodes.length > 0) throw new RedisConfigError('state.redis: sentinels and cluster_nodes are exclusive');
  if (c.sentinels.length > 0 && c.sentinel_name === null) throw new RedisConfigError('state.redis.sentinel_name: required with sentinels');
  if (!redisConfigured(c)) throw new RedisConfigError('state.redis.url: required (or sentinels / cluster_nodes)');
}

function create(c: RedisConfig, name: string, offlineQueue = false): RedisLike {
  // A subscriber skips the ready check: a SUBSCRIBE queued before it put the connection in subscriber
  // mode, the check's INFO then failed ("only subscriber commands may be used"), the connection dropped and
  // the subscription was lost (seen: no replica received a bus message). 'ready' then comes right after
  // connect. The subscriber's owner (redisBus) subscribes its channels again on every 'ready', with its
  // own catch: ioredis' autoResubscribe sends that SUBSCRIBE without one, and when it timed out or the
  // connection closed under it, the rejection was unhandled (seen in CI: "Command timed out" after a
  // Redis restart), which ends a Node process.
  const base = { ...baseOptions(c), enableOfflineQueue: offlineQueue, ...(offlineQueue ? { enableReadyCheck: false, autoResubscribe: false } : {}) };
  const url = c.url !== null ? new URL(c.url) : null;
  const tls = url?.protocol === 'rediss:' ? {} : undefined;
  const auth = url ? { username: url.username ? decodeURIComponent(url.username) : undefined, password: url.password ? decodeURIComponent(url.password) : undefined } : {};
  const db = url && url.pathname.length > 1 ? Number(url.pathname.slice(1)) : 0;
  if (c.cluster_nodes.length > 0) {
    const opts: ClusterOptions = {
      enableOfflineQueue: offlineQueue,
      clusterRetryStrategy: retry,
      redisOptions: { ...base, ...auth, tls, connectionName: name },
    };
    return new Cluster(c.cluster_nodes, opts);
  }
  if (c.sentinels.length > 0) {
    return new Redis({ ...base, ...auth, tls, db, sentinels: c.sentinels, name: c.sentinel_name!, connectionName: name });
  }
  return new Redis(c.url!, { ...base, tls, connectionName: name });
}

/**
 * Opens (connects in the background; see `ready()`). Never throws for an
 * unreachable server: the handle reports `down` and keeps retrying.
 */
export function openRedis(c: RedisConfig, name = 'switchyard'): RedisHandle {
  checkRedisConfig(c);
  const client = create(c, name);
  let status: RedisStatus = 'connecting';
  let since = Date.now();
  let lastError: string | null = null;
  let reconnects = 0;
  let everReady = false;
  const set = (s: RedisStatus) => { if (s !== status) { status = s; since = Date.now(); } };
  client.on('ready', () => { if (everReady && status !== 'ready') reconnects++; everReady = true; set('ready'); });
  client.on('error', (e: Error) => { lastError = e.message; });
  client.on('close', () => { if (everReady || status !== 'connecting') set('down'); });
  client.on('end', () => set('down'));
  let sub: RedisLike | undefined;
  const readyOnce = new Promise<void>((resolve, reject) => {
    if ((client as Redis).status === 'ready') { resolve(); return; }
    const t = setTimeout(() => { set('down'); reject(new Error(`Redis not ready after ${c.connect_timeout_ms} ms${lastError ? `: ${lastError}` : ''}`)); }, c.connect_timeout_ms);
    t.unref();
    client.once('ready', () => { clearTimeout(t); resolve(); });
  });
  readyOnce.catch(() => {});
  return {
    client,
    keys: new Keys(c.key_prefix),
    config: c,
    state: () => ({ status, since, lastError, reconnects }),
    subscriber() {
      if (sub === undefined) {
        // A subscriber queues SUBSCRIBE until connected and resubscribes after a reconnect (autoResubscribe).
        sub = create(c, `${name}-sub`, true);
        sub.on('error', () => {});
      }
      return sub;
    },
    ready: () => readyOnce,
    async close() {
      await Promise.all([client, sub].filter((x): x is RedisLike => x !== undefined).map((x) => x.quit().catch(() => x.disconnect())));
    },
  };
}
