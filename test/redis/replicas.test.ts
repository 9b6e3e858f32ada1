/**
 * Three real replica processes on one real Redis (issue 12; test/redis/replicas.ts
 * starts them as `npm start` would): a requests-per-minute limit holds across
 * the three; a router-config change made on one is in effect on the others; a
 * model failing on one replica is seen degraded on another; Redis killed under
 * load on /v1/route and chat (a mock upstream) crashes nothing and turns no
 * /v1/route into a 5xx, /health says degraded, and after Redis returns the
 * replicas reconnect by themselves and share limits again; a paused (slow)
 * Redis does not hold /v1/route up.
 *
 * The tests share one set of replicas and run in order (the last ones kill
 * Redis). No assertion is on time: where a change must propagate, the test
 * polls with a generous deadline and prints how long it took.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { startRedis, type TestRedis } from './redis-server.ts';
import { startReplicas, type ReplicaSet } from './replicas.ts';
import { startMockUpstream, type MockUpstream } from '../../scripts/mock-upstream.ts';

const KEYS = { SY_T_LIM: 'sk-replicas-limited-0123456789', SY_T_FREE: 'sk-replicas-free-0123456789' };
const LIMIT = 12;
const SYNC_MS = 200;
const MODEL = 'gpt-3.5-turbo-1106';

let redis: TestRedis;
let mock: MockUpstream;
let set: ReplicaSet;

const auth = (key: string) => ({ authorization: `Bearer ${key}`, 'content-type': 'application/json' });

function models(flakyStatus?: string) {
  const url = `${mock.url}/v1`;
  return [
    { name: MODEL, api_format: 'openai', backend_refs: [{ base_url: url }] },
    { name: 'flaky', api_format: 'openai', backend_refs: [{ base_url: url, ...(flakyStatus ? { headers: { 'x-mock-status': flakyStatus } } : {}) }] },
  ];
}

async function post(base: string, path: string, body: unknown, key = KEYS.SY_T_FREE): Promise<{ status: number; json: any; headers: Headers }> {
  const r = await fetch(`${base}${path}`, { method: 'POST', headers: auth(key), body: JSON.stringify(body) });
  const text = await r.text();
  let json: any = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: r.status, json, headers: r.headers };
}

async function get(base: string, path: string): Promise<{ status: number; json: any }> {
  const r = await fetch(`${base}${path}`, { headers: auth(KEYS.SY_T_FREE) });
  return { status: r.status, json: await r.json().catch(() => null) };
}

async function until<T>(what: string, f: () => Promise<T | undefined>, ms = 20_000): Promise<{ value: T; ms: number }> {
  const t0 = performance.now();
  let last: unknown;
  while (performance.now() - t0 < ms) {
    try { const v = await f(); if (v !== undefined) return { value: v, ms: Math.round(performance.now() - t0) }; } catch (e) { last = e; }
    await new Promise((r) => setTimeout(r, 25));
  }
  assert.fail(`not within ${ms} ms: ${what}${last ? ` (last error: ${String(last)})` : ''}`);
}

/** M /v1/route requests with the limited key, spread round-robin over the replicas, all in flight at once. */
async function spread(m: number): Promise<number[]> {
  const rs = set.replicas;
  const t0 = performance.now();
  const statuses = await Promise.all(Array.from({ length: m }, (_, i) => post(rs[i % rs.length].base, '/v1/route', { prompt: `limit ${i}` }, KEYS.SY_T_LIM).then((r) => r.status)));
  // GCRA's contract: the burst of LIMIT, plus one per 60/LIMIT s (5 s) the requests took; none unless the machine stalls.
  const refills = Math.floor(((performance.now() - t0) / 60_000) * LIMIT);
  const admitted = statuses.filter((s) => s === 200).length;
  assert.ok(admitted >= LIMIT && admitted <= LIMIT + refills, `admitted ${admitted} of ${m} (refills allowed: ${refills}); statuses: ${statuses.join(',')}`);
  assert.equal(statuses.filter((s) => s === 429).length, m - admitted);
  return statuses;
}

before(async () => {
  redis = await startRedis();
  mock = await startMockUpstream();
  set = await startReplicas({
    n: 3,
    // Two HTTP threads each (what server.threads "auto" gives on two cores): one sync leader per process, every thread on the bus.
    threads: 2,
    redisUrl: redis.url,
    env: KEYS,
    config: {
      tenants: [{ id: 'acme', keys: [{ id: 'lim', env: 'SY_T_LIM', limits: { requests_per_minute: LIMIT } }, { id: 'free', env: 'SY_T_FREE' }] }],
      providers: { health: { failure_threshold: 2 }, models: models() },
      state: { redis: { health_sync_ms: SYNC_MS } },
    },
    // Replica 0's only backend of "flaky" answers 500; the others' work.
    perReplica: (i) => (i === 0 ? { providers: { models: models('500') } } : {}),
  });
});

after(async () => {
  await set?.stop();
  await mock?.close();
  await redis?.stop();
});

test(`a limit of ${LIMIT} requests a minute admits exactly ${LIMIT} of 45 spread over three replicas`, async () => {
  const t0 = performance.now();
  await spread(45);
  // Every replica refuses now, with Retry-After (a 200 only if a unit refilled meanwhile: 5 s).
  for (const r of set.replicas) {
    const x = await post(r.base, '/v1/route', { prompt: 'again' }, KEYS.SY_T_LIM);
    if (x.status === 200 && performance.now() - t0 >= 60_000 / LIMIT) continue;
    assert.equal(x.status, 429);
    assert.ok(Number(x.headers.get('retry-after')) >= 1);
    assert.equal(x.headers.get('x-ratelimit-limit-requests'), String(LIMIT));
  }
});

test('a router config created on one replica, then changed on another, is in effect on every replica', async () => {
  const [r0, r1, r2] = set.replicas;
  const created = await post(r0.base, '/v1/router-configs', { name: 'rc-replicas', default_model: MODEL, rules: [] });
  assert.equal(created.status, 201, JSON.stringify(created.json));
  for (const r of [r1, r2]) {
    const seen = await until(`replica ${r.index} routes with the new config`, async () => {
      const x = await post(r.base, '/api/v1/route-model', { input: 'hello', configName: 'rc-replicas' });
      return x.status === 200 && x.json.model === MODEL ? true : undefined;
    });
    console.log(`# config created on replica 0 in effect on replica ${r.index} after ${seen.ms} ms`);
  }
  // Every replica now holds a snapshot of the config: a change must invalidate it.
  for (const r of [r0, r1, r2]) assert.equal((await post(r.base, '/api/v1/route-model', { input: 'hello', configName: 'rc-replicas' })).json.model, MODEL);
  const patched = await fetch(`${r2.base}/v1/router-configs/rc-replicas`, { method: 'PATCH', headers: auth(KEYS.SY_T_FREE), body: JSON.stringify({ default_model: 'flaky', version: 1 }) });
  assert.equal(patched.status, 200, await patched.text());
  for (const r of [r0, r1]) {
    const seen = await until(`replica ${r.index} uses the changed config`, async () => {
      const x = await post(r.base, '/api/v1/route-model', { input: 'hello', configName: 'rc-replicas' });
      return x.status === 200 && x.json.model === 'flaky' ? true : undefined;
    });
    console.log(`# config changed on replica 2 in effect on replica ${r.index} after ${seen.ms} ms`);
  }
});

test('a model failing on one replica is seen degraded on the others', async () => {
  const [r0, r1, r2] = set.replicas;
  for (let i = 0; i < 2; i++) {
    const x = await post(r0.base, '/v1/chat/completions', { model: 'flaky', messages: [{ role: 'user', content: 'hi' }] });
    assert.ok(x.status >= 500, `replica 0's flaky backend fails (${x.status})`);
  }
  const local = await get(r0.base, '/v1/model-health?models=flaky');
  assert.equal(local.json.health[0].degraded, true);
  for (const r of [r1, r2]) {
    const seen = await until(`replica ${r.index} sees flaky degraded`, async () => {
      const h = await get(r.base, '/v1/model-health?models=flaky');
      return h.json?.health?.[0]?.degraded === true ? h.json.health[0] : undefined;
    });
    assert.ok(seen.value.health_entry.failures >= 2, 'the failures are merged in');
    console.log(`# flaky degraded on replica 0 seen on replica ${r.index} after ${seen.ms} ms (health_sync_ms ${SYNC_MS})`);
  }
  const ok = await get(r1.base, `/v1/model-health?models=${MODEL}`);
  assert.equal(ok.json.health[0].degraded, false);
});

test('Redis paused (slow): /v1/route keeps answering while every Redis command waits', async () => {
  redis.cli('CLIENT', 'PAUSE', '10000', 'ALL');
  // A client of its own that waits out the pause: still waiting when the requests are done proves they never waited for Redis.
  const probe = spawn('redis-cli', ['-p', String(redis.port), 'PING'], { stdio: 'ignore' });
  const probed = new Promise<void>((r) => probe.once('exit', () => r()));
  const statuses = await Promise.all(Array.from({ length: 30 }, (_, i) => post(set.replicas[i % 3].base, '/v1/route', { prompt: `slow ${i % 5}` }).then((r) => r.status)));
  assert.deepEqual([...new Set(statuses)], [200]);
  assert.equal(probe.exitCode, null, 'Redis was still paused when every /v1/route had answered');
  for (const r of set.replicas) assert.equal((await get(r.base, '/health')).status, 200);
  await probed;
});

test('Redis killed under load: no crash, no 5xx on /v1/route, chat served; /health degraded; Redis back: reconnected and limits shared again', async () => {
  const rs = set.replicas;
  let stop = false;
  const routeStatuses: number[] = [];
  const chatStatuses: number[] = [];
  const worker = async (w: number) => {
    for (let i = 0; !stop; i++) {
      const r = rs[(w + i) % rs.length];
      if (i % 2 === 0) routeStatuses.push((await post(r.base, '/v1/route', { prompt: `load ${w} ${i % 7}` })).status);
      else chatStatuses.push((await post(r.base, '/v1/chat/completions', { model: MODEL, messages: [{ role: 'user', content: `hello ${w}` }] })).status);
    }
  };
  const load = Promise.all([0, 1, 2, 3].map(worker));
  await new Promise((r) => setTimeout(r, 500));
  await redis.kill();
  // Every replica notices and says so, and still answers 200.
  for (const r of rs) {
    const h = await until(`replica ${r.index} /health says degraded`, async () => {
      const x = await get(r.base, '/health');
      return x.status === 200 && x.json.status === 'degraded' ? x.json : undefined;
    });
    assert.equal(h.value.redis.status, 'down');
  }
  await new Promise((r) => setTimeout(r, 1_000));
  const duringRoute = routeStatuses.length;
  stop = true;
  await load;
  assert.ok(duringRoute > 0);
  assert.deepEqual(routeStatuses.filter((s) => s >= 500), [], 'no 5xx on /v1/route');
  assert.deepEqual([...new Set(chatStatuses)], [200], 'chat served throughout');
  for (const r of rs) assert.ok(r.proc() !== undefined, `replica ${r.index} is alive:\n${r.log().slice(-2000)}`);

  const metrics = await (await fetch(`${rs[0].base}/metrics`, { headers: auth(KEYS.SY_T_FREE) })).text();
  assert.match(metrics, /^switchyard_redis_up 0$/m);

  await redis.restart();
  for (const r of rs) {
    const h = await until(`replica ${r.index} reconnects`, async () => {
      const x = await get(r.base, '/health');
      return x.json?.redis?.status === 'ready' ? x.json : undefined;
    });
    assert.equal(h.value.status, 'ok');
    assert.ok(h.value.redis.reconnects >= 1);
  }
  // The restarted Redis is empty: the limited key has its whole budget again, shared by the three.
  await spread(45);
  const after = await (await fetch(`${rs[1].base}/metrics`, { headers: auth(KEYS.SY_T_FREE) })).text();
  assert.match(after, /^switchyard_redis_up 1$/m);
});
