/**
 * The Redis store (src/store/redis/) against a real redis-server: the three
 * store contract suites the SQLite store passes, then what is Redis's own:
 * TTLs set and honoured by Redis itself, the log stream's cap, the log's
 * time window with rows logged out of order, a dead Redis failing every call
 * with StoreError (not hanging), a slow one failing on the command timeout,
 * and the same store working again after Redis comes back.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { startRedis, type TestRedis } from './redis-server.ts';
import { until } from './until.ts';
import { loadConfig } from '../../src/config/load.ts';
import { openRedis, type RedisHandle } from '../../src/store/redis/client.ts';
import { RedisStore, type RedisStoreOptions } from '../../src/store/redis/store.ts';
import { seqOf } from '../../src/store/redis/log.ts';
import { StoreError, type Store } from '../../src/store/types.ts';
import { openStore } from '../../src/store/index.ts';
import { storeContract, row } from '../store/contract.ts';
import { routingStoreContract } from '../rules-api/store-contract.ts';
import { orgStoreContract, activity } from '../org/store-contract.ts';

const redisP = startRedis();
after(async () => { await (await redisP).stop(); });

function redisConfig(url: string, prefix: string, over: Record<string, unknown> = {}) {
  return loadConfig({ env: {}, overrides: { state: { redis: { url, key_prefix: prefix, ...over } } } }).state.redis;
}

async function handle(prefix: string, over: Record<string, unknown> = {}): Promise<RedisHandle> {
  const r = await redisP;
  // A generous command timeout: these tests are about semantics, and the suite runs beside others on a loaded machine.
  const h = openRedis(redisConfig(r.url, prefix, { command_timeout_ms: 5_000, ...over }));
  await h.ready();
  return h;
}

const BASE: RedisStoreOptions = { ttlMs: 0, logRetentionMs: 0, logMaxLen: 1_000_000 };

/** A store on its own connection (closed with the store), all of them over the same data (one prefix). */
async function open(prefix: string, opts: Partial<RedisStoreOptions> = {}, over: Record<string, unknown> = {}): Promise<RedisStore> {
  return new RedisStore(await handle(prefix, over), { ...BASE, ...opts, ownsHandle: true });
}

const contractPrefix = `contract-${process.pid}`;
storeContract('redis', { open: () => open(contractPrefix) });
routingStoreContract('redis', () => open(contractPrefix));
orgStoreContract('redis', () => open(contractPrefix));

async function withStore<T>(s: Store, f: (s: Store) => Promise<T>): Promise<T> {
  try { return await f(s); } finally { await s.close(); }
}


describe('Redis store: its own behaviour', () => {
  it('openStore: Redis store with state.redis.store "redis", SQLite with "sqlite"', async () => {
    const r = await redisP;
    const h = await handle('open-store');
    try {
      const cfg = (store: string) => loadConfig({ env: {}, overrides: { state: { dir: `/tmp/switchyard-open-store-${process.pid}`, redis: { url: r.url, store } } } });
      const a = openStore(cfg('redis'), undefined, h);
      assert.equal(a.kind, 'redis');
      await a.close();
      assert.equal(h.state().status, 'ready', 'the Engine owns the handle: closing the store leaves it open');
      const b = openStore(cfg('sqlite'), undefined, h);
      assert.equal(b.kind, 'sqlite');
      await b.close();
    } finally { await h.close(); }
  });

  it('keys are namespaced, versioned and carry the organisation as a hash tag', async () => {
    const r = await redisP;
    const prefix = `ns-${randomUUID().slice(0, 8)}`;
    await withStore(await open(prefix), async (s) => {
      await s.responses.put(row({ org: 'acme', id: 'resp_ns' }));
      await s.org.setPreference('acme', 'default_task', '"code"', 1);
    });
    const keys = r.cli('--scan', '--pattern', `${prefix}:*`).trim().split('\n').sort();
    assert.deepEqual(keys, [`${prefix}:v1:orgver:{acme}`, `${prefix}:v1:pref:{acme}`, `${prefix}:v1:resp:{acme}:resp_ns`]);
  });

  it('TTLs: Redis itself expires responses, route decisions and sessions (state.responses.ttl_days)', async () => {
    const r = await redisP;
    const prefix = `ttl-${randomUUID().slice(0, 8)}`;
    await withStore(await open(prefix, { ttlMs: 3_000 }), async (s) => {
      const now = Date.now();
      const resp = row({ org: 'o', createdAt: Math.floor(now / 1000) + 1 });
      await s.responses.put(resp);
      await s.routeDecisions.put({ id: 'd1', org: 'o', createdAt: now, decision: '{}' });
      await s.sessions.append('o', 's1', [{ role: 'user', content: 'hi', tokens: 1 }], now, 10);
      for (const k of [`resp:{o}:${resp.id}`, 'decision:{o}:d1', 'sess:{o}:s1']) {
        const ttl = Number(r.cli('PTTL', `${prefix}:v1:${k}`).trim());
        assert.ok(ttl > 0, `${k} has a TTL (${ttl})`);
      }
      assert.ok(await s.responses.get('o', resp.id), 'readable before it expires');
      await until(() => r.cli('--scan', '--pattern', `${prefix}:v1:*`).trim() === '', 'Redis expired every key', 10_000);
      assert.equal(await s.responses.get('o', resp.id), undefined);
      assert.deepEqual(await s.sessions.recent('o', 's1', 100), []);
    });
  });

  it('a response whose expiry is already past is not readable (a put after the fact, or a Redis clock behind ours)', async () => {
    await withStore(await open(`past-${randomUUID().slice(0, 8)}`, { ttlMs: 60_000 }), async (s) => {
      const old = row({ org: 'o', createdAt: Math.floor(Date.now() / 1000) - 3600 });
      await s.responses.put(old);
      assert.equal(await s.responses.get('o', old.id), undefined);
    });
  });

  it('activity log: the stream is capped near state.redis.log_max_len; the newest rows stay', async () => {
    const r = await redisP;
    const prefix = `cap-${randomUUID().slice(0, 8)}`;
    await withStore(await open(prefix, { logMaxLen: 1_000 }), async (s) => {
      const t = Date.now();
      for (let b = 0; b < 10; b++) await s.org.appendLogs(Array.from({ length: 500 }, (_, i) => activity({ org: 'o', at: t + b * 500 + i })));
      const len = Number(r.cli('XLEN', `${prefix}:v1:log:{o}`).trim());
      assert.ok(len >= 1_000 && len < 5_000, `XLEN ${len}: trimmed towards 1,000 (MAXLEN ~ trims whole nodes)`);
      const rows = await s.org.logs('o', { limit: 10_000 });
      assert.equal(rows.length, len);
      assert.equal(rows[rows.length - 1].at, t + 4_999, 'the newest row is kept');
    });
  });

  it('activity log: a row logged after newer ones (a slow request, another replica) is in its own time window; cursors page without gaps', async () => {
    await withStore(await open(`order-${randomUUID().slice(0, 8)}`), async (s) => {
      const t = 1_800_000_000_000;
      const late = activity({ org: 'o', at: t + 50, requestId: 'late' });
      await s.org.appendLogs([activity({ org: 'o', at: t + 100 }), activity({ org: 'o', at: t + 200 })]);
      await s.org.appendLogs([late]);
      assert.deepEqual((await s.org.logs('o', { until: t + 60, limit: 10 })).map((x) => x.requestId), ['late']);
      assert.deepEqual((await s.org.logs('o', { since: t + 60, limit: 10 })).map((x) => x.at), [t + 100, t + 200]);
      assert.equal((await s.org.logByRequest('o', 'late'))?.at, t + 50);
      // Many rows in one millisecond: the cursor (ms x 1000 + n) stays one-to-one and in order.
      const same = Array.from({ length: 1_500 }, () => activity({ org: 'p', at: t }));
      await s.org.appendLogs(same);
      const seen: string[] = [];
      let after: number | undefined;
      for (;;) {
        const page = await s.org.logs('p', { after, limit: 400 });
        if (page.length === 0) break;
        for (let i = 1; i < page.length; i++) assert.ok(page[i].seq > page[i - 1].seq);
        assert.ok(page.every((x) => Number.isSafeInteger(x.seq)));
        seen.push(...page.map((x) => x.requestId));
        after = page[page.length - 1].seq;
      }
      assert.deepEqual(seen, same.map((x) => x.requestId));
      assert.equal(seqOf('1800000000001-7'), 1_800_000_000_001_007);
    });
  });

  it('activity log: usage from the hourly counters plus the partial first hour from the stream is exact', async () => {
    await withStore(await open(`usage-${randomUUID().slice(0, 8)}`), async (s) => {
      const H = 3_600_000;
      const h0 = Math.floor(Date.now() / H) * H - 5 * H;
      const rows = [
        activity({ org: 'o', at: h0 + 10, modelExecuted: 'm1', costUsd: 0.5 }),
        activity({ org: 'o', at: h0 + H / 2, modelExecuted: 'm1', status: 502, costUsd: null }),
        activity({ org: 'o', at: h0 + H + 1, modelExecuted: 'm2', costUsd: 0.25 }),
        activity({ org: 'o', at: h0 + 3 * H, modelExecuted: 'm1', costUsd: 1e-7 }),
        activity({ org: 'o', at: h0 + 3 * H + 5, modelExecuted: null }),
        activity({ org: 'o', at: h0 + 4 * H, modelExecuted: 'm1', status: 0, costUsd: 0 }),
      ];
      await s.org.appendLogs(rows.slice(3));
      await s.org.appendLogs(rows.slice(0, 3)); // logged late: their IDs sit after the newer rows
      const exact = (since: number) => {
        const by = new Map<string, [number, number, number]>();
        for (const r of rows) {
          if (r.at < since || r.modelExecuted === null) continue;
          const u = by.get(r.modelExecuted) ?? [0, 0, 0];
          u[0]++; if (r.status >= 500 || r.status === 0) u[1]++; u[2] += r.costUsd ?? 0;
          by.set(r.modelExecuted, u);
        }
        return [...by].map(([m, u]) => [m, ...u]).sort();
      };
      for (const since of [0, h0, h0 + 11, h0 + H / 2 + 1, h0 + H, h0 + 2 * H, h0 + 4 * H + 1]) {
        const got = (await s.org.usage('o', since)).map((u) => [u.model, u.requests, u.errors, u.costUsd]).sort();
        assert.equal(got.length, exact(since).length, `since ${since - h0}`);
        for (let i = 0; i < got.length; i++) {
          assert.deepEqual(got[i].slice(0, 3), exact(since)[i].slice(0, 3), `since ${since - h0}`);
          assert.ok(Math.abs((got[i][3] as number) - (exact(since)[i][3] as number)) < 1e-12, `cost since ${since - h0}`);
        }
      }
      assert.deepEqual(await s.org.usage('nobody', 0), []);
    });
  });

  it('activity log: purge trims by time in every organisation and keeps newer rows', async () => {
    await withStore(await open(`purge-${randomUUID().slice(0, 8)}`), async (s) => {
      const t = 1_750_000_000_000;
      await s.org.appendLogs([activity({ org: 'a', at: t }), activity({ org: 'b', at: t + 1 }), activity({ org: 'b', at: t + 100 })]);
      assert.equal(await s.org.purgeLogs(t + 50), 2);
      assert.deepEqual((await s.org.logs('a', { limit: 10 })), []);
      assert.deepEqual((await s.org.logs('b', { limit: 10 })).map((x) => x.at), [t + 100]);
    });
  });

  it('the organisation version moves on every preference and feedback change', async () => {
    await withStore(await open(`ver-${randomUUID().slice(0, 8)}`), async (s) => {
      const g = () => s.org.generation!('o');
      const seen = [await g()];
      await s.org.setPreference('o', 'default_task', '"code"', 1); seen.push(await g());
      await s.org.addModelFeedback('o', 1, 'm', 0.5, 1); seen.push(await g());
      await s.org.resetModelFeedback('o'); seen.push(await g());
      await s.org.addTaskFeedback('o', { prompt: 'p', classifiedTask: 'text', correct: true, confidence: null, suggestedTask: null, createdAt: 1 }); seen.push(await g());
      await s.org.deletePreference('o', 'default_task'); seen.push(await g());
      assert.equal(new Set(seen).size, seen.length, `all distinct: ${seen}`);
      assert.equal(await s.org.generation!('other'), 0);
    });
  });
});

describe('Redis store: faults', () => {
  /** A Redis of its own: these tests kill it. */
  let own: TestRedis;

  it('Redis down: every family fails with StoreError at once (no hang); the same store works again once Redis is back', async () => {
    own = await startRedis();
    const h = openRedis(redisConfig(own.url, 'fault', { command_timeout_ms: 500 }));
    await h.ready();
    const s = new RedisStore(h, { ...BASE, ownsHandle: true });
    try {
      await s.responses.put(row({ org: 'o', id: 'resp_kept' }));
      await own.kill();
      await until(() => h.state().status === 'down', 'the client notices', 10_000);
      const calls: [string, () => Promise<unknown>][] = [
        ['responses.get', () => s.responses.get('o', 'resp_kept')],
        ['responses.put', () => s.responses.put(row({ org: 'o' }))],
        ['responses.delete', () => s.responses.delete('o', 'x')],
        ['routerConfigs.list', () => s.routerConfigs.list('o')],
        ['routerConfigs.create', () => s.routerConfigs.create({ org: 'o', id: randomUUID(), name: 'n', config: '{}', source: 'api', createdAt: 1 })],
        ['sessions.recent', () => s.sessions.recent('o', 's', 100)],
        ['sessions.append', () => s.sessions.append('o', 's', [{ role: 'user', content: 'x', tokens: 1 }], 1, 10)],
        ['routeDecisions.get', () => s.routeDecisions.get('o', 'd')],
        ['org.preferences', () => s.org.preferences('o')],
        ['org.setPreference', () => s.org.setPreference('o', 'k', '1', 1)],
        ['org.addModelFeedback', () => s.org.addModelFeedback('o', 1, 'm', 1, 1)],
        ['org.appendLogs', () => s.org.appendLogs([activity({ org: 'o' })])],
        ['org.logs', () => s.org.logs('o', { limit: 10 })],
        ['org.logByRequest', () => s.org.logByRequest('o', 'r')],
      ];
      for (const [name, call] of calls) {
        // The bound is a hang detector (a queued command would wait for ever), not a speed requirement.
        const hang = sleep(5_000).then(() => 'hang');
        const outcome = await Promise.race([call().then(() => 'resolved', (e: unknown) => e), hang]);
        assert.ok(outcome instanceof StoreError, `${name}: ${String(outcome)}`);
        assert.match((outcome as Error).message, /^redis store: /);
        assert.doesNotMatch((outcome as Error).message, /redis:\/\//, 'no URL in the message');
      }
      await own.restart();
      await until(() => h.state().status === 'ready', 'the client reconnects by itself', 15_000);
      assert.ok(h.state().reconnects >= 1);
      await s.responses.put(row({ org: 'o', id: 'resp_after' }));
      assert.ok(await s.responses.get('o', 'resp_after'));
    } finally {
      await s.close();
      await own.stop();
    }
  });

  it('a slow Redis (DEBUG SLEEP) fails a call on state.redis.command_timeout_ms with StoreError', async () => {
    const r = await startRedis({ args: ['--enable-debug-command', 'yes'] });
    const h = openRedis(redisConfig(r.url, 'slow', { command_timeout_ms: 200 }));
    await h.ready();
    const s = new RedisStore(h, { ...BASE, ownsHandle: true });
    try {
      const sleeper = openRedis(redisConfig(r.url, 'slow', { command_timeout_ms: 10_000 }));
      await sleeper.ready();
      // The sleeper's own command must outlive its timeout: give it a longer one.
      const busy = sleeper.client.call('DEBUG', 'SLEEP', '2').then(() => 'slept', (e: Error) => e.message);
      await sleep(50);
      await assert.rejects(s.org.preferences('o'), (e: Error) => e instanceof StoreError && /timed out/i.test(e.message));
      await busy;
      await sleeper.close();
      assert.ok(await busy === 'slept' || /timed out/i.test(await busy as string), `DEBUG SLEEP ran: ${await busy}`);
      assert.deepEqual(await s.org.preferences('o'), [], 'answers again once Redis does');
    } finally {
      await s.close();
      await r.stop();
    }
  });

  it('writes after close reject with StoreError and do not reach Redis', async () => {
    const s = await open(`closed-${randomUUID().slice(0, 8)}`);
    await s.close();
    await assert.rejects(s.org.setPreference('o', 'k', '1', 1), StoreError);
    await assert.rejects(s.routerConfigs.list('o'), StoreError);
  });
});
