/**
 * The Store on Redis (issue 12; docs/replicas.md "Key families"): every
 * replica on one Redis reads and writes the same stored data. Opened by
 * openStore (src/store/index.ts) when `state.redis` is set and
 * `state.redis.store` is "redis"; passes the same contract suites as the
 * embedded SQLite store (test/redis/store.test.ts).
 *
 * This file: the Responses API's stored responses and the invoke route
 * decisions; routing.ts: router configs and sessions; org.ts and log.ts:
 * preferences, feedback and the activity log.
 *
 * Responses: one hash per response (`resp:{org}:<id>`: c created_at, p
 * previous id (absent for none), r response, i input items, m messages),
 * written by one MULTI (DEL, HSET, PEXPIREAT created_at + ttl): a replaced
 * response never keeps a field of the old one. Redis expires it; get() also
 * refuses one past its time (a Redis whose clock lags). purge() exists for
 * the contract and for ttl 0 deployments that purge by hand: a SCAN over the
 * family, O(responses), never on the request path.
 *
 * Durability: put() resolves when Redis has the write in memory; with AOF
 * (`appendfsync everysec`, recommended in docs/replicas.md) at most about a
 * second of acknowledged writes is lost if Redis itself dies; without
 * persistence everything is.
 */
import { Cluster } from 'ioredis';
import type { OrgStore } from '../org-types.ts';
import type { ResponseStore, RouteDecisionStore, Store, StoredResponse, StoredRouteDecision } from '../types.ts';
import type { RedisHandle, RedisLike } from './client.ts';
import { RedisOps, Script, execReplies } from './ops.ts';
import { RedisRouterConfigs, RedisSessions } from './routing.ts';
import { RedisOrgStore } from './org.ts';

export interface RedisStoreOptions {
  /** state.responses.ttl_days in ms (responses, sessions, route decisions); 0 = kept until deleted. */
  ttlMs: number;
  /** state.logs.retention_days in ms; 0 = kept (up to logMaxLen entries an organisation). */
  logRetentionMs: number;
  /** state.redis.log_max_len: entries per organisation's log stream (XADD MAXLEN ~). */
  logMaxLen: number;
  /** Close the handle in close() (a store given its own connection, as the tests do). Default false: the Engine owns it. */
  ownsHandle?: boolean;
}

const PURGE_IF_OLDER = new Script('resp_purge_one', `
local c = redis.call('HGET', KEYS[1], 'c')
if c and tonumber(c) < tonumber(ARGV[1]) then redis.call('DEL', KEYS[1]); return 1 end
return 0`);

/** Every master of a Cluster, or the one server. */
function masters(c: RedisLike): RedisLike[] {
  return c instanceof Cluster ? c.nodes('master') : [c];
}

/**
 * Replaces the hash at `key` with `fields` in one MULTI (DEL, HSET, PEXPIREAT): a replaced record
 * never keeps a field of the old one. `expireAtMs` null: kept until deleted.
 */
async function replaceHash(c: RedisLike, key: string, fields: string[], expireAtMs: number | null): Promise<void> {
  const m = c.multi().del(key).hset(key, ...fields);
  if (expireAtMs !== null) m.pexpireat(key, expireAtMs);
  execReplies(await m.exec());
}

/**
 * The hash at `key` and its created_at (field `c`), or undefined when absent or when its time is past
 * (created_at × `msPer` + `ttlMs` ≤ now; ttlMs 0 = never): Redis expires it, this also refuses it when
 * Redis's clock lags.
 */
async function readLive(c: RedisLike, key: string, ttlMs: number, msPer: number): Promise<{ h: Record<string, string>; createdAt: number } | undefined> {
  const h = await c.hgetall(key);
  if (h.c === undefined) return undefined;
  const createdAt = Number(h.c);
  if (ttlMs > 0 && createdAt * msPer + ttlMs <= Date.now()) return undefined;
  return { h, createdAt };
}

class RedisResponses implements ResponseStore {
  constructor(private readonly ops: RedisOps, private readonly ttlMs: number) {}

  put(r: StoredResponse): Promise<void> {
    const key = this.ops.key('resp', r.org, r.id);
    const fields: string[] = ['c', String(r.createdAt), 'r', r.response, 'i', r.inputItems, 'm', r.messages];
    if (r.previousResponseId !== null) fields.push('p', r.previousResponseId);
    return this.ops.run('response write', (c) => replaceHash(c, key, fields, this.ttlMs > 0 ? r.createdAt * 1000 + this.ttlMs : null));
  }

  get(org: string, id: string): Promise<StoredResponse | undefined> {
    return this.ops.run('response read', async (c) => {
      // created_at in seconds.
      const v = await readLive(c, this.ops.key('resp', org, id), this.ttlMs, 1000);
      if (v === undefined) return undefined;
      const { h, createdAt } = v;
      return { id, org, createdAt, previousResponseId: h.p ?? null, response: h.r, inputItems: h.i, messages: h.m };
    });
  }

  delete(org: string, id: string): Promise<boolean> {
    return this.ops.run('response delete', async (c) => (await c.del(this.ops.key('resp', org, id))) === 1);
  }

  purge(olderThan: number): Promise<number> {
    const match = `${this.ops.global('resp')}:*`;
    return this.ops.run('response purge', async (c) => {
      let n = 0;
      for (const node of masters(c)) {
        let cursor = '0';
        do {
          const [next, keys] = await node.scan(cursor, 'MATCH', match, 'COUNT', 500);
          cursor = next;
          // Through `c`, not `node`: a Cluster routes each key to its slot's master.
          for (const k of keys) n += Number(await PURGE_IF_OLDER.run(c, [k], [olderThan]));
        } while (cursor !== '0');
      }
      return n;
    });
  }
}

class RedisRouteDecisions implements RouteDecisionStore {
  constructor(private readonly ops: RedisOps, private readonly ttlMs: number) {}

  put(d: StoredRouteDecision): Promise<void> {
    const key = this.ops.key('decision', d.org, d.id);
    return this.ops.run('route decision write', (c) => replaceHash(c, key, ['c', String(d.createdAt), 'd', d.decision], this.ttlMs > 0 ? d.createdAt + this.ttlMs : null));
  }

  get(org: string, id: string): Promise<StoredRouteDecision | undefined> {
    return this.ops.run('route decision read', async (c) => {
      // created_at in milliseconds.
      const v = await readLive(c, this.ops.key('decision', org, id), this.ttlMs, 1);
      return v === undefined ? undefined : { id, org, createdAt: v.createdAt, decision: v.h.d };
    });
  }
}

export class RedisStore implements Store {
  readonly kind = 'redis' as const;
  readonly responses: ResponseStore;
  readonly routerConfigs: RedisRouterConfigs;
  readonly sessions: RedisSessions;
  readonly routeDecisions: RouteDecisionStore;
  readonly org: OrgStore;
  private readonly ops: RedisOps;
  private closing: Promise<void> | undefined;

  constructor(readonly handle: RedisHandle, private readonly opts: RedisStoreOptions) {
    this.ops = new RedisOps(handle);
    this.responses = new RedisResponses(this.ops, opts.ttlMs);
    this.routerConfigs = new RedisRouterConfigs(this.ops);
    this.sessions = new RedisSessions(this.ops, opts.ttlMs);
    this.routeDecisions = new RedisRouteDecisions(this.ops, opts.ttlMs);
    this.org = new RedisOrgStore(this.ops, { logRetentionMs: opts.logRetentionMs, logMaxLen: opts.logMaxLen });
  }

  /** Waits for the commands in flight (each answered or timed out), then refuses new ones; closes the handle only if it owns it. */
  close(): Promise<void> {
    return (this.closing ??= (async () => {
      await this.ops.close();
      if (this.opts.ownsHandle) await this.handle.close();
    })());
  }
}
