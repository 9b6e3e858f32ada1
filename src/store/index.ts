/**
 * The one way code opens the process's store: `openStore(config)`. Today it is
 * always the embedded SQLite store (src/store/sqlite.ts); issue 12 adds Redis
 * behind the same Store interface when `state.redis.url` is set.
 *
 * Synchronous, and throws StoreError naming the path when the store is
 * unusable, so the Engine's constructor (and with it the server's start)
 * fails with a message an operator can act on.
 */
import { resolve } from 'node:path';
import type { Config } from '../config/schema.ts';
import { SqliteStore } from './sqlite.ts';
import type { Store } from './types.ts';

export { DEFAULT_ORG, StoreError, type ResponseStore, type Store, type StoredResponse } from './types.ts';

const DAY_MS = 24 * 60 * 60 * 1000;

export function openStore(config: Pick<Config, 'state'>, cwd: string = process.cwd()): Store {
  const s = config.state;
  return new SqliteStore({ dir: resolve(cwd, s.dir), ttlMs: Math.round(s.responses.ttl_days * DAY_MS), purgeIntervalMs: s.purge_interval_ms });
}
