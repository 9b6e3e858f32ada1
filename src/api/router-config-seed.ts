/**
 * Seeding the store with the YAML's router configs (routing.configs), once
 * per start, before any HTTP thread serves.
 *
 * YAML and store disagreeing: the YAML is authoritative for the names it
 * lists, at start-up. A YAML config whose name is not in the store is
 * created (version 1, source "yaml"); one whose stored content differs is
 * replaced by the YAML's (version + 1, source "yaml"); an identical one is
 * left alone (same id and version, so restarts do not bump versions). So an
 * admin-API change to a YAML-listed config lasts until the next restart;
 * configs created through the API (names not in the YAML) are never touched,
 * and removing a config from the YAML does not delete it from the store.
 *
 * With the Redis store (`state.redis.store: redis`) the same rules run
 * through the RouterConfigStore interface on a connection of its own
 * (seedRouterConfigsRedis below), race-safe between replicas starting at once.
 *
 * Why a connection of its own rather than the writer thread: this runs
 * synchronously before the server listens (the writer thread starts lazily,
 * ~0.3 s, and would be started by every server start that lists configs).
 * In WAL mode it waits for another process's writer through busy_timeout;
 * no writer of this process exists yet.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { validateRouterConfig } from '../routing/rules-validate.ts';
import type { RouterConfig } from '../routing/rules.ts';
import { openDatabase } from '../store/sqlite-open.ts';
import { routingWriter } from '../store/sqlite-routing-ops.ts';
import { DEFAULT_ORG } from '../store/types.ts';
import type { Config } from '../config/schema.ts';
import { configBody } from './router-config-registry.ts';
import { channels } from '../diagnostics.ts';
import { randomUUID } from 'node:crypto';
import type { RouterConfigStore } from '../store/types.ts';
import { openRedis } from '../store/redis/client.ts';
import { RedisStore } from '../store/redis/store.ts';

export class SeedError extends Error {
  override name = 'SeedError';
}

/** The profile's model names and K from its manifest (profile.json), without loading its tables; empty when unreadable (the load reports that). */
function manifestOf(dir: string): { models: string[]; k: number | undefined } {
  try {
    const m = JSON.parse(readFileSync(join(dir, 'profile.json'), 'utf8')) as { models?: { name?: unknown }[]; k?: unknown };
    return { models: (m.models ?? []).map((x) => String(x.name)), k: typeof m.k === 'number' ? m.k : undefined };
  } catch {
    return { models: [], k: undefined };
  }
}

export interface SeedResult { created: string[]; updated: string[]; unchanged: string[] }

/** The YAML's configs, checked; throws SeedError naming `routing.configs[i].field` for an unknown model or cluster. */
function checked(config: Readonly<Config>): RouterConfig[] {
  const list = config.routing.configs as unknown as RouterConfig[];
  if (list.length === 0) return list;
  const man = manifestOf(config.router.profile);
  const known = new Set([...config.providers.models.map((m) => m.name), ...man.models, ...config.routing.extra_models]);
  const problems = list.flatMap((c, i) => validateRouterConfig(c, { knownModels: known, clusterCount: man.k, at: `routing.configs[${i}]` }));
  if (problems.length) throw new SeedError(`config: ${problems.map((p) => `"${p.field}" ${p.message}`).join('; ')}`);
  return list;
}

/** Throws SeedError naming `routing.configs[i].field` for an unknown model or cluster. */
export function seedRouterConfigs(config: Readonly<Config>, cwd: string = process.cwd()): SeedResult {
  const out: SeedResult = { created: [], updated: [], unchanged: [] };
  const list = checked(config);
  if (list.length === 0) return out;
  const db = openDatabase(resolve(cwd, config.state.dir), { migrate: true, readOnly: false });
  try {
    const apply = routingWriter(db);
    const byName = db.prepare<[string, string], { id: string; version: number; config: string }>('SELECT id, version, config FROM router_configs WHERE org = ? AND name = ?');
    db.transaction(() => {
      const now = Date.now();
      for (const c of list) {
        const body = configBody(c);
        const cur = byName.get(DEFAULT_ORG, c.name);
        if (!cur) { apply({ op: 'rc_create', row: { org: DEFAULT_ORG, id: randomUUID(), name: c.name, config: body, source: 'yaml', createdAt: now } }); out.created.push(c.name); }
        else if (cur.config !== body) { apply({ op: 'rc_update', org: DEFAULT_ORG, id: cur.id, expectedVersion: cur.version, name: c.name, config: body, source: 'yaml', updatedAt: now }); out.updated.push(c.name); }
        else out.unchanged.push(c.name);
      }
    }).immediate();
  } finally {
    db.close();
  }
  // The log says which stored configs the YAML replaced: an admin-API change to them is gone from here on.
  channels.routerConfigsSeeded.publish(out);
  return out;
}

/**
 * The same rules into a store shared by replicas (the Redis store), through
 * the RouterConfigStore interface: several replicas starting at once race,
 * and each write is conditional (a name taken, a version moved), so a loser
 * reads again and finds the winner's row, equal to its own YAML (replicas
 * share one YAML) or not. Resolves with what this replica did.
 */
export async function seedRouterConfigsInto(store: RouterConfigStore, list: readonly RouterConfig[]): Promise<SeedResult> {
  const out: SeedResult = { created: [], updated: [], unchanged: [] };
  for (const c of list) {
    const body = configBody(c);
    for (let attempt = 0; ; attempt++) {
      if (attempt === 5) throw new SeedError(`router config ${JSON.stringify(c.name)}: kept changing under the seed (5 attempts)`);
      const now = Date.now();
      const cur = await store.get(DEFAULT_ORG, c.name);
      // get() matches an id before a name: a UUID-shaped name may find another config, which is not this one.
      if (!cur || cur.name !== c.name) {
        const w = await store.create({ org: DEFAULT_ORG, id: randomUUID(), name: c.name, config: body, source: 'yaml', createdAt: now });
        if (w.ok) { out.created.push(c.name); break; }
        continue;
      }
      if (cur.config === body) { out.unchanged.push(c.name); break; }
      const w = await store.update(DEFAULT_ORG, cur.id, cur.version, c.name, body, 'yaml', now);
      if (w.ok) { out.updated.push(c.name); break; }
    }
  }
  return out;
}

/** How long a replica waits between attempts to seed a Redis that was down at start. */
const RESEED_MS = 5_000;

/**
 * With `state.redis.store: redis`: validate (throws SeedError, failing the
 * start as the SQLite path does), then seed through a connection of its own.
 * Redis unreachable at start does not fail the start (the replica serves
 * routing degraded; docs/replicas.md): the seed is retried every RESEED_MS in
 * the background until it lands. A seed that changed anything INCRs the
 * router-config generation, so replicas already running re-read within one
 * health sync (src/api/replica-sync.ts).
 */
export async function seedRouterConfigsRedis(config: Readonly<Config>): Promise<void> {
  const list = checked(config);
  if (list.length === 0) return;
  const attempt = async (): Promise<boolean> => {
    const handle = openRedis(config.state.redis, 'switchyard-seed');
    const store = new RedisStore(handle, { ttlMs: 0, logRetentionMs: 0, logMaxLen: config.state.redis.log_max_len, ownsHandle: true });
    try {
      await handle.ready();
      const out = await seedRouterConfigsInto(store.routerConfigs, list);
      if (out.created.length || out.updated.length) await handle.client.incr(handle.keys.global('router-configs', 'gen'));
      channels.routerConfigsSeeded.publish(out);
      return true;
    } catch (e) {
      if (e instanceof SeedError) throw e;
      channels.storeError.publish({ path: 'redis', error: new Error(`router configs from the YAML not seeded yet (retrying every ${RESEED_MS / 1000} s): ${(e as Error).message}`) });
      return false;
    } finally {
      await store.close();
    }
  };
  if (await attempt()) return;
  const retry = () => { setTimeout(() => { attempt().then((ok) => { if (!ok) retry(); }, () => {}); }, RESEED_MS).unref(); };
  retry();
}
