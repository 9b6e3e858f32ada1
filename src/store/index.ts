/**
 * The one way code opens the process's store: `openStore(config, cwd, redis)`.
 *
 * - `state.redis` set (the Engine passes its RedisHandle) and
 *   `state.redis.store: redis` (the default): the Redis store
 *   (src/store/redis/store.ts), shared by every replica on that Redis. It
 *   opens without waiting for Redis: while Redis is unreachable every call
 *   fails fast with StoreError (503 store_unavailable) and the replica still
 *   starts and routes.
 * - otherwise the embedded SQLite store (src/store/sqlite.ts) in state.dir:
 *   each replica its own file (`store: sqlite` with Redis on keeps this).
 *
 * Synchronous, and throws StoreError naming the path when the SQLite store
 * is unusable, so the Engine's constructor (and with it the server's start)
 * fails with a message an operator can act on.
 */
import { resolve } from 'node:path';
import type { Config } from '../config/schema.ts';
import { SqliteStore } from './sqlite.ts';
import { RedisStore } from './redis/store.ts';
import { redisConfigured, type RedisHandle } from './redis/client.ts';
import type { Store } from './types.ts';

export { DEFAULT_ORG, StoreError, type ResponseStore, type Store, type StoredResponse } from './types.ts';

const DAY_MS = 24 * 60 * 60 * 1000;

/** Whether stored data lives on Redis: `state.redis` names a server (url, Sentinel or Cluster) and `state.redis.store` is "redis". */
export function usesRedisStore(config: Pick<Config, 'state'>): boolean {
  const r = config.state.redis;
  return redisConfigured(r) && r.store === 'redis';
}

export function openStore(config: Pick<Config, 'state'>, cwd: string = process.cwd(), redis?: RedisHandle): Store {
  const s = config.state;
  const ttlMs = Math.round(s.responses.ttl_days * DAY_MS);
  if (redis !== undefined && s.redis.store === 'redis') {
    return new RedisStore(redis, { ttlMs, logRetentionMs: Math.round(s.logs.retention_days * DAY_MS), logMaxLen: s.redis.log_max_len });
  }
  return new SqliteStore({ dir: resolve(cwd, s.dir), ttlMs, purgeIntervalMs: s.purge_interval_ms });
}
