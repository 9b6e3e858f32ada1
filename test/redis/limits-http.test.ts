/**
 * Rate limits on Redis through the HTTP server (issue 12): admitted requests
 * carry x-ratelimit-* computed by the Lua script; with Redis unreachable,
 * `state.redis.rate_limit_failure: closed` answers 503 rate_limiter_unavailable
 * in each family's error shape, `open` admits through the local limiter (and
 * still limits), /health says degraded with 200, /metrics counts.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../../src/config/load.ts';
import { startServer, type Server } from '../../src/edge/server.ts';
import { testStateDir } from '../state-dir.ts';
import { startRedis, type TestRedis } from './redis-server.ts';
import { parsePrometheus } from '../metrics/prom-parse.ts';

const KEY = 'sk-limits-http-0123456789abcdef';
// Keys are resolved from the process environment (src/edge/auth.ts).
process.env.SY_LIMITS_HTTP_KEY = KEY;
const servers: Server[] = [];
let redis: TestRedis | undefined;

async function serve(redisUrl: string, failure: 'open' | 'closed'): Promise<string> {
  const config = loadConfig({
    overrides: {
      server: { host: '127.0.0.1', port: 0, threads: 1 },
      state: { dir: testStateDir(), redis: { url: redisUrl, key_prefix: `lh-${failure}-${Date.now()}`, rate_limit_failure: failure, connect_timeout_ms: 200, store: 'sqlite' } },
      tenants: [{ id: 'acme', keys: [{ id: 'k', env: 'SY_LIMITS_HTTP_KEY', limits: { requests_per_minute: 3 } }] }],
    },
  });
  const s = await startServer(config);
  servers.push(s);
  await s.load();
  return `http://127.0.0.1:${s.port}`;
}

const post = (base: string, path: string, body: unknown) => fetch(`${base}${path}`, { method: 'POST', headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });

after(async () => {
  await Promise.all(servers.map((s) => s.close({ timeoutMs: 1000 })));
  await redis?.stop();
});

test('Redis up: limits from the Lua script, headers on every admitted answer, 429 past the limit', async () => {
  redis = await startRedis();
  const base = await serve(redis.url, 'closed');
  // Fail closed refuses until the connection is first ready, too: wait for it.
  for (let i = 0; i < 200; i++) { if ((await (await fetch(`${base}/health`)).json()).redis.status === 'ready') break; await new Promise((r) => setTimeout(r, 25)); }
  const seen: string[] = [];
  for (let i = 0; i < 3; i++) {
    const r = await post(base, '/v1/route', { prompt: `hello ${i}` });
    assert.equal(r.status, 200);
    await r.arrayBuffer();
    seen.push(r.headers.get('x-ratelimit-remaining-requests')!);
    assert.equal(r.headers.get('x-ratelimit-limit-requests'), '3');
  }
  assert.deepEqual(seen, ['2', '1', '0']);
  const refused = await post(base, '/v1/route', { prompt: 'again' });
  assert.equal(refused.status, 429);
  assert.equal((await refused.json()).error.code, 'rate_limit_exceeded');
  assert.ok(Number(refused.headers.get('retry-after')) >= 1);
  // The cell lives in Redis, under the organisation's hash tag.
  assert.match(redis.cli('KEYS', '*rl*'), /rl:\{acme\}:key:acme\/k:r/);
});

test('Redis unreachable, fail closed: 503 rate_limiter_unavailable in each family\'s shape; routes without limits and /health still answer', async () => {
  const base = await serve('redis://127.0.0.1:1', 'closed');
  const route = await post(base, '/v1/route', { prompt: 'hello' });
  assert.equal(route.status, 503);
  assert.deepEqual((await route.json()).error.code, 'rate_limiter_unavailable');
  const chat = await post(base, '/v1/chat/completions', { model: 'x', messages: [{ role: 'user', content: 'hi' }] });
  assert.equal(chat.status, 503);
  const body = await chat.json();
  assert.equal(body.error.code, 'rate_limiter_unavailable');
  assert.equal(body.error.type, 'service_unavailable');
  // 'connecting' until connect_timeout_ms passes without a connection, then 'down'; degraded (and 200) throughout.
  let hj: any;
  for (let i = 0; i < 200; i++) {
    const h = await fetch(`${base}/health`);
    assert.equal(h.status, 200);
    hj = await h.json();
    assert.equal(hj.status, 'degraded');
    if (hj.redis.status === 'down') break;
    assert.equal(hj.redis.status, 'connecting');
    await new Promise((r) => setTimeout(r, 25));
  }
  assert.equal(hj.redis.status, 'down');
  assert.match(hj.redis.last_error, /ECONNREFUSED/);
  const m = await (await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${KEY}` } })).text();
  // The Redis families follow the thread counters: the whole text must still parse.
  const fams = parsePrometheus(m);
  assert.equal(fams.get('switchyard_rate_limit_fail_closed_total')?.samples[0].value, 2);
  assert.equal(fams.get('switchyard_redis_up')?.type, 'gauge');
  assert.match(m, /^switchyard_rate_limit_fail_closed_total 2$/m);
  assert.match(m, /^switchyard_redis_up 0$/m);
});

test('Redis unreachable, fail open: the local limiter admits and still limits', async () => {
  const base = await serve('redis://127.0.0.1:1', 'open');
  const statuses: number[] = [];
  for (let i = 0; i < 5; i++) { const r = await post(base, '/v1/route', { prompt: `hello ${i}` }); await r.arrayBuffer(); statuses.push(r.status); }
  assert.deepEqual(statuses, [200, 200, 200, 429, 429]);
  const m = await (await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${KEY}` } })).text();
  assert.match(m, /^switchyard_rate_limit_fail_open_total 5$/m);
});
