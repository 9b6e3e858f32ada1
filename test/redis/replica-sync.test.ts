/**
 * Replica sync in one process (issue 12; src/api/replica-sync.ts): two
 * Engines with separate shared bags are two replicas on one Redis. Router
 * config changes reach the other replica by the bus, or by the generation
 * check when the message was lost; model health published by one is merged
 * into the other's routing view, and lapses to local-only when Redis goes.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { startRedis, type TestRedis } from './redis-server.ts';
import { until } from './until.ts';
import { loadConfig } from '../../src/config/load.ts';
import { Engine } from '../../src/api/engine.ts';
import { startReplicaSync, mergeRemote, type ReplicaSync } from '../../src/api/replica-sync.ts';
import { registryOf, ROUTER_CONFIGS_KEY, createRouterConfigsBuffer } from '../../src/api/router-config-registry.ts';
import { createRemoteHealthBuffer, REMOTE_HEALTH_KEY, RemoteHealth } from '../../src/providers/health-remote.ts';
import { createModelHealthBuffer, MODEL_HEALTH_KEY } from '../../src/providers/runtime.ts';
import { createRedisStatsBuffer, REDIS_STATS_KEY, redisStatsOf } from '../../src/store/redis/stats.ts';
import { HealthTracker } from '../../src/providers/health.ts';

let redis: TestRedis;
const engines: Engine[] = [];
const syncs: ReplicaSync[] = [];

const SYNC_MS = 100;

function replica(url: string, prefix: string, syncMs = SYNC_MS): Engine {
  const config = loadConfig({
    env: { SY_SYNC_KEY: 'x' },
    overrides: {
      state: { dir: mkdtempSync(join(tmpdir(), 'sy-sync-')), redis: { url, key_prefix: prefix, store: 'sqlite', health_sync_ms: syncMs } },
      providers: {
        health: { failure_threshold: 3 },
        models: [
          { name: 'm1', api_format: 'openai', backend_refs: [{ base_url: 'http://127.0.0.1:9/v1' }] },
          { name: 'm2', api_format: 'openai', backend_refs: [{ base_url: 'http://127.0.0.1:9/v1' }] },
        ],
      },
    },
  });
  const shared = {
    [ROUTER_CONFIGS_KEY]: createRouterConfigsBuffer(),
    [MODEL_HEALTH_KEY]: createModelHealthBuffer(config.providers),
    [REMOTE_HEALTH_KEY]: createRemoteHealthBuffer(config.providers.models.length),
    [REDIS_STATS_KEY]: createRedisStatsBuffer(),
  };
  const e = new Engine(config, shared);
  engines.push(e);
  return e;
}


const gen = (e: Engine) => Atomics.load(new Int32Array(e.shared[ROUTER_CONFIGS_KEY]), 0);

before(async () => { redis = await startRedis(); });
after(async () => {
  for (const s of syncs) s.stop();
  await Promise.all(engines.map((e) => e.close()));
  await redis.stop();
});

test('a router-config change on one replica bumps the other\'s generation (bus), and a lost message is caught by the generation check', async () => {
  // A sync period far beyond the test: only the bus and explicit ticks move B's generation.
  const a = replica(redis.url, 'sync-a', 60_000);
  const b = replica(redis.url, 'sync-a', 60_000);
  await Promise.all([a.redis!.ready(), b.redis!.ready()]);
  const sa = startReplicaSync(a, 'A'), sb = startReplicaSync(b, 'B');
  syncs.push(sa, sb);
  await sb.tick(); // B's baseline generation
  // Both replicas' subscriptions are live (they SUBSCRIBE in the background).
  await until(() => /\b2\s*$/.test(redis.cli('PUBSUB', 'NUMSUB', 'sync-a:v1:bus:router-configs')), 'both replicas subscribed');
  const before = gen(b);
  registryOf(a).changed();
  await until(() => gen(b) === before + 1, 'B hears A\'s change on the bus');
  assert.equal(redisStatsOf(b).get('config_messages'), 1);
  // B's next sync sees the generation A's change moved: one more (idempotent) reload, then a new baseline.
  await sb.tick();
  // A lost message: the generation moves in Redis with no PUBLISH; B's next sync notices.
  const g0 = gen(b);
  redis.cli('INCR', 'sync-a:v1:router-configs:gen');
  await sb.tick();
  assert.equal(gen(b), g0 + 1);
  // Unchanged generation: no reload.
  await sb.tick();
  assert.equal(gen(b), g0 + 1);
});

test('health: a breaker open on one replica is degraded on the other after both sync; counts are merged; Redis gone, health is local again', async () => {
  const a = replica(redis.url, 'sync-h');
  const b = replica(redis.url, 'sync-h');
  await Promise.all([a.redis!.ready(), b.redis!.ready()]);
  const sa = startReplicaSync(a, 'A'), sb = startReplicaSync(b, 'B');
  syncs.push(sa, sb);
  for (let i = 0; i < 3; i++) a.gateway.health.record('m1', { ok: false });
  b.gateway.health.record('m1', { ok: true, latencyMs: 10, ttfbMs: 5 });
  assert.equal(a.gateway.health.isDegraded('m1'), true);
  assert.equal(b.gateway.health.isDegraded('m1'), false);
  await sa.tick();
  await sb.tick();
  assert.equal(b.gateway.health.isDegraded('m1'), true, 'A\'s open breaker is seen on B');
  assert.equal(b.gateway.health.allow('m1'), false, 'B routes around it');
  assert.equal(b.gateway.health.isDegraded('m2'), false);
  const e = b.gateway.health.entry('m1');
  assert.equal(e.failures, 3);
  assert.equal(e.successes, 1);
  assert.equal(e.state, 'open');
  // A's own view is not fed back its own counts (it publishes its local window only).
  await sa.tick();
  assert.equal(a.gateway.health.entry('m1').failures, 3);
  assert.equal(a.gateway.health.entry('m1').successes, 1, 'A sees B\'s success');
  // Redis gone: B keeps the last view until the staleness bound, then is local only.
  await redis.kill();
  await until(() => b.redis!.state().status !== 'ready', 'B notices Redis is down');
  await new Promise((r) => setTimeout(r, 3 * SYNC_MS + 50));
  await sb.tick();
  assert.equal(b.gateway.health.isDegraded('m1'), false, 'local only after the bound');
  assert.equal(b.gateway.health.entry('m1').failures, 0);
  await redis.restart();
  await until(() => b.redis!.state().status === 'ready', 'B reconnects by itself');
});

test('mergeRemote: the merged window trips the failure ratio when no replica alone does', () => {
  const t = new HealthTracker({ minSamples: 10, failureRatio: 0.5, failureThreshold: 100 }, { models: ['m'] });
  for (let i = 0; i < 3; i++) t.record('m', { ok: false });
  for (let i = 0; i < 2; i++) t.record('m', { ok: true });
  const other = { failures: 3, successes: 2, latSum: 0, latN: 0, ttfbSum: 0, ttfbN: 0, consecutive: 1, openForMs: 0 };
  const now = 1_000;
  const [c] = mergeRemote(t, ['m'], [{ id: 'x', ageMs: 0, models: new Map([['m', other]]) }], now, 300);
  assert.equal(c.degradedUntil, now + 300);
  const [d] = mergeRemote(t, ['m'], [{ id: 'x', ageMs: 0, models: new Map([['m', { ...other, failures: 1, successes: 8 }]]) }], now, 300);
  assert.equal(d.degradedUntil, 0);
  // An open breaker elsewhere: degraded for its remaining cool-down (capped by the staleness bound), minus the report's age.
  const [o] = mergeRemote(t, ['m'], [{ id: 'x', ageMs: 50, models: new Map([['m', { ...other, failures: 0, openForMs: 200 }]]) }], now, 300);
  assert.equal(o.degradedUntil, now + 150);
  const rh = new RemoteHealth(createRemoteHealthBuffer(1));
  rh.write(now, 300, 1, [o]);
  t.remote = rh;
  assert.equal(rh.degraded(0, now + 149), true);
  assert.equal(rh.degraded(0, now + 151), false);
});

test('one sync leader per process: the first thread leads, renews its heartbeat, is replaced once stale or resigned', () => {
  const buf = createRemoteHealthBuffer(2);
  const t1 = new RemoteHealth(buf), t2 = new RemoteHealth(buf);
  assert.equal(t1.lead(11, 1_000, 300), true);
  assert.equal(t2.lead(22, 1_100, 300), false, 'a live leader keeps the sync');
  assert.equal(t1.lead(11, 1_200, 300), true);
  assert.equal(t2.lead(22, 1_400, 300), false, 'heartbeat renewed at 1,200');
  assert.equal(t2.lead(22, 1_501, 300), true, 'the leader went quiet: taken over');
  assert.equal(t1.lead(11, 1_502, 300), false);
  t2.resign(22);
  assert.equal(t1.lead(11, 1_503, 300), true, 'a resigned leader is replaced at once');
});
