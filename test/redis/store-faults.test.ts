/**
 * Redis lost under a server whose stored data lives there (issue 12,
 * state.redis.store "redis"): every endpoint family that reads or writes
 * stored data answers 503 store_unavailable in its own error shape at once
 * (no hang), GET /v1/preferences answers the safe defaults with its header,
 * /v1/route keeps routing, and everything works again when Redis returns,
 * without a restart.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { startRedis, type TestRedis } from './redis-server.ts';
import { until } from './until.ts';
import { startGateway, type Gateway } from '../gateway/helpers.ts';
import { testStateDir } from '../state-dir.ts';
import { startEcho, echoModels, PRODUCTION, CHEAP, type Echo } from '../rules-api/helpers.ts';

let redis: TestRedis;
let echo: Echo;
let gw: Gateway;

before(async () => {
  redis = await startRedis();
  echo = await startEcho();
  // One HTTP thread: the test waits on gw.server.engine's Redis client, which must be the only one (with 'auto'
  // threads a worker's client, still in its reconnect backoff, could answer the first request after the restart).
  gw = await startGateway({ models: echoModels(echo) }, {
    server: { threads: 1 },
    state: { dir: testStateDir(), redis: { url: redis.url, key_prefix: `faults-${process.pid}`, command_timeout_ms: 5_000 }, logs: { flush_ms: 50 } },
    routing: { configs: [PRODUCTION] },
  });
});
after(async () => {
  await gw?.close();
  await echo?.close();
  await redis?.stop();
});

interface Res { status: number; headers: Headers; text: string; json: any }

async function call(method: string, path: string, body?: unknown): Promise<Res> {
  // The bound detects a hang (a request waiting on a dead Redis for ever); it is not a speed requirement.
  const r = await fetch(gw.base + path, {
    method, signal: AbortSignal.timeout(10_000),
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  let json: any = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: r.status, headers: r.headers, text, json };
}


const user = (content: string) => [{ role: 'user', content }];

describe('Redis store down: 503 store_unavailable per family, routing on, recovery', () => {
  it('each family answers in its own shape; /v1/route still routes; all back once Redis is', async () => {
    // Before: stored data works (and the YAML config was seeded into Redis).
    const created = await call('POST', '/v1/responses', { model: CHEAP, input: 'hello', store: true });
    assert.equal(created.status, 200, created.text);
    const session = randomUUID();
    assert.equal((await call('POST', '/v1/model-router/invoke', { messages: user('hi'), session_id: session })).status, 200);

    await redis.kill();
    const engine = gw.server.engine;
    await until(() => engine.redis!.state().status === 'down', 'the client sees Redis down', 10_000);

    // OpenAI-shaped families: {error: {message, type, param, code}}.
    const openai = (r: Res, what: string) => {
      assert.equal(r.status, 503, `${what}: ${r.text}`);
      assert.equal(r.json.error.code, 'store_unavailable', `${what}: ${r.text}`);
      assert.equal(typeof r.json.error.message, 'string');
      assert.ok('type' in r.json.error, `${what}: OpenAI shape`);
    };
    openai(await call('POST', '/v1/responses', { model: CHEAP, input: 'hello again', store: true }), 'POST /v1/responses');
    openai(await call('GET', `/v1/responses/${created.json.id}`), 'GET /v1/responses/{id}');
    openai(await call('GET', `/v1/responses/${created.json.id}/input_items`), 'GET input_items');
    openai(await call('DELETE', `/v1/responses/${created.json.id}`), 'DELETE /v1/responses/{id}');
    openai(await call('POST', '/v1/responses', { model: CHEAP, input: 'go on', previous_response_id: created.json.id }), 'previous_response_id');
    openai(await call('PUT', '/v1/preferences/default_optimization', { value: 'price-optimized' }), 'PUT /v1/preferences');
    openai(await call('GET', '/v1/org/logs'), 'GET /v1/org/logs');

    // GET /v1/preferences: the safe defaults, marked, not an error.
    const prefs = await call('GET', '/v1/preferences');
    assert.equal(prefs.status, 200, prefs.text);
    assert.equal(prefs.headers.get('x-switchyard-preferences'), 'defaults');
    assert.equal(prefs.json.preferences.default_optimization, 'balanced');

    // Switchyard-shaped families (router configs, feedback): {error: {code, message}}.
    const switchyard = (r: Res, what: string) => {
      assert.equal(r.status, 503, `${what}: ${r.text}`);
      assert.equal(r.json.error.code, 'store_unavailable', `${what}: ${r.text}`);
    };
    switchyard(await call('GET', '/v1/router-configs'), 'GET /v1/router-configs');
    switchyard(await call('POST', '/v1/router-configs', { name: 'x', default_model: CHEAP, rules: [] }), 'POST /v1/router-configs');
    switchyard(await call('GET', '/v1/feedback'), 'GET /v1/feedback');
    switchyard(await call('POST', '/v1/feedback', { request_id: 'req_x', score: 'bad' }), 'POST /v1/feedback');
    switchyard(await call('DELETE', '/v1/feedback'), 'DELETE /v1/feedback');

    // Feather-shaped (invoke, route decisions): {error: code, message}.
    const feather = (r: Res, what: string) => {
      assert.equal(r.status, 503, `${what}: ${r.text}`);
      assert.equal(r.json.error, 'store_unavailable', `${what}: ${r.text}`);
      assert.equal(typeof r.json.message, 'string');
    };
    feather(await call('POST', '/v1/model-router/invoke', { messages: user('again'), session_id: session }), 'invoke with a session');
    feather(await call('GET', `/v1/route-decisions/${randomUUID()}`), 'GET /v1/route-decisions/{id}');

    // Routing does not need stored data.
    const routed = await call('POST', '/v1/route', { prompt: 'Prove that the square root of 2 is irrational.' });
    assert.equal(routed.status, 200, routed.text);
    const chat = await call('POST', '/v1/chat/completions', { model: CHEAP, messages: user('still there?') });
    assert.equal(chat.status, 200, chat.text);

    // Redis back (empty: no persistence in this test): the same server works again without a restart.
    await redis.restart();
    await until(() => engine.redis!.state().status === 'ready', 'the client reconnects', 15_000);
    const again = await call('POST', '/v1/responses', { model: CHEAP, input: 'back', store: true });
    assert.equal(again.status, 200, `${again.text} (redis ${JSON.stringify(engine.redis!.state())})`);
    assert.equal((await call('GET', `/v1/responses/${again.json.id}`)).status, 200);
    assert.equal((await call('GET', '/v1/preferences')).headers.get('x-switchyard-preferences'), 'stored');
    assert.equal((await call('PUT', '/v1/preferences/default_optimization', { value: 'price-optimized' })).status, 200);
    assert.equal((await call('GET', '/v1/router-configs')).status, 200);
  });
});
