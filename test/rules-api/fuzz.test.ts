/**
 * Fuzz for POST /api/v1/route-model, POST /v1/model-router/invoke and the
 * router-config admin API, from a seeded RNG (FUZZ_SEED replays a run,
 * FUZZ_N sets the cases per endpoint): random JSON built from the fields
 * each endpoint knows (right and wrong types, nesting, unicode, huge
 * numbers, unknown keys) plus raw garbage bytes. Every answer has a status
 * from the catalogue that is not a 5xx other than an upstream one (502 when
 * a random model override has no working upstream cannot happen here: the
 * echo upstream answers everything), its dialect's error shape, and the
 * server answers /health afterwards. No internal_error is published.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import diagnostics_channel from 'node:diagnostics_channel';
import { mulberry32 } from '../../src/seeded-random.ts';
import { CHANNEL_NAMES } from '../../src/diagnostics.ts';
import { CHEAP, MID, STRONG, call, echoModels, startEcho, startRig, type Echo, type Rig } from './helpers.ts';

const SEED = Number(process.env.FUZZ_SEED ?? 20261205);
const N = Number(process.env.FUZZ_N ?? 400);

let echo: Echo;
let rig: Rig;
const internal: unknown[] = [];
const onInternal = (m: unknown) => { internal.push(m); };
before(async () => {
  echo = await startEcho();
  rig = await startRig(echoModels(echo));
  diagnostics_channel.subscribe(CHANNEL_NAMES.internalError, onInternal);
});
after(async () => {
  diagnostics_channel.unsubscribe(CHANNEL_NAMES.internalError, onInternal);
  await rig.close();
  await echo.close();
});

const rnd = mulberry32(SEED);
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)];
const STRINGS = ['', ' ', 'hi', 'refund please', 'production-router', 'labels', 'user', 'assistant', 'system', 'bot', '\u0000', '💥'.repeat(3), 'é'.repeat(50), 'x'.repeat(3000),
  '00000000-0000-4000-8000-000000000000', '3f0e5a8e-1111-4222-8333-444455556666', STRONG, MID, CHEAP, 'json_object', 'text', '__proto__', 'constructor'];
const NUMBERS = [0, -1, 1, 0.5, 2, 3, 1e308, -1e308, 1.5, 77, 2 ** 53, Number.MIN_VALUE];

function value(depth: number): unknown {
  const k = rnd();
  if (depth > 3 || k < 0.3) return pick(STRINGS);
  if (k < 0.45) return pick(NUMBERS);
  if (k < 0.55) return pick([true, false, null]);
  if (k < 0.75) return Array.from({ length: Math.floor(rnd() * 4) }, () => value(depth + 1));
  return obj(depth + 1, pick([['role', 'content'], ['type', 'operator', 'value', 'keywords'], ['a', 'b']]));
}

function obj(depth: number, keys: readonly string[]): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  for (const k of keys) if (rnd() < 0.7) o[k] = value(depth);
  if (rnd() < 0.15) o[pick(['extra', '__proto__', 'model', 'x'])] = value(depth);
  return o;
}

function message(): unknown {
  if (rnd() < 0.8) return { role: pick(['user', 'user', 'system', 'assistant', 'bot', 3]), content: rnd() < 0.85 ? pick(STRINGS) : value(2) };
  return value(2);
}

function invokeBody(): unknown {
  const o: Record<string, unknown> = {};
  if (rnd() < 0.9) o.messages = rnd() < 0.85 ? Array.from({ length: Math.floor(rnd() * 4) }, message) : value(1);
  if (rnd() < 0.3) o.router_config_id = pick([null, ...STRINGS, 5]);
  if (rnd() < 0.3) o.session_id = pick([null, '3f0e5a8e-1111-4222-8333-444455556666', 'nope', 1]);
  if (rnd() < 0.4) o.smart_routing = pick([true, false, 'yes', null]);
  if (rnd() < 0.4) o.config_overrides = rnd() < 0.8 ? obj(1, ['default_model', 'candidates', 'cost_weight', 'temperature', 'max_tokens', 'top_p', 'stop', 'response_format', 'tools', 'tool_choice']) : value(1);
  if (rnd() < 0.05) o[pick(['model', 'stream'])] = value(1);
  return o;
}

function configBody(): unknown {
  return {
    ...obj(1, ['name', 'default_model', 'candidates', 'cost_weight', 'version']),
    rules: rnd() < 0.8 ? Array.from({ length: Math.floor(rnd() * 3) }, () => ({ priority: pick([1, 2, -1, 1.5, 'x']), model: pick([STRONG, MID, 'nope']), condition: obj(2, ['type', 'operator', 'value', 'keywords', 'tasks', 'clusters']) })) : value(1),
  };
}

function raw(): string {
  const pieces = ['{', '}', '[', ']', '"', ':', ',', 'null', '1e999', '\\u0000', '\\ud800', '"input"', '"messages"', ' ', '\n'];
  return Array.from({ length: Math.floor(rnd() * 20) }, () => pick(pieces)).join('');
}

const OK_STATUSES = new Set([200, 201, 400, 404, 409, 422, 503]);

describe(`fuzz (seed ${SEED}, ${N} cases per endpoint)`, () => {
  it('POST /api/v1/route-model: 200, 400 or 404 in 2Signal\'s shape', async () => {
    for (let i = 0; i < N; i++) {
      const body = rnd() < 0.15 ? raw() : rnd() < 0.5 ? { input: value(1), ...(rnd() < 0.5 ? { configName: pick([...STRINGS, 3, null]) } : {}) } : value(0);
      const r = await call(rig.base, 'POST', '/api/v1/route-model', body);
      assert.ok([200, 400, 404].includes(r.status), `case ${i}: ${r.status} ${r.text.slice(0, 300)} for ${JSON.stringify(body).slice(0, 300)}`);
      if (r.status === 200) assert.equal(typeof r.json.model, 'string');
      else { assert.equal(typeof r.json.error, 'string'); assert.equal(typeof r.json.code, 'string'); }
    }
  });

  it('POST /v1/model-router/invoke: 200, 400, 404, 422 in Feather\'s shapes (or 503 no_backend for a model without one)', async () => {
    for (let i = 0; i < N; i++) {
      const body = rnd() < 0.1 ? raw() : invokeBody();
      const r = await call(rig.base, 'POST', '/v1/model-router/invoke', body);
      assert.ok(OK_STATUSES.has(r.status), `case ${i}: ${r.status} ${r.text.slice(0, 300)} for ${JSON.stringify(body).slice(0, 300)}`);
      if (r.status === 200) assert.ok(Number.isInteger(r.json.latency_ms) && typeof r.json.content === 'string');
      else if (r.status === 422) assert.ok(Array.isArray(r.json.detail) && r.json.detail.every((d: any) => Array.isArray(d.loc) && d.loc[0] === 'body' && typeof d.msg === 'string' && typeof d.type === 'string'), r.text);
      else { assert.equal(typeof r.json.error, 'string', r.text); assert.equal(typeof r.json.message, 'string'); }
      if (r.status === 503) assert.equal(r.json.error, 'no_backend', r.text);
    }
  });

  it('the admin API: POST/PUT/PATCH with random configs never 5xx', async () => {
    for (let i = 0; i < N / 2; i++) {
      const [m, path] = pick([['POST', '/v1/router-configs'], ['PUT', '/v1/router-configs/labels'], ['PATCH', '/v1/router-configs/labels'], ['PATCH', '/v1/router-configs/nope']] as const);
      const body = rnd() < 0.1 ? raw() : configBody();
      const r = await call(rig.base, m, path, body);
      assert.ok(OK_STATUSES.has(r.status) && r.status !== 503, `case ${i}: ${m} ${path} ${r.status} ${r.text.slice(0, 300)} for ${JSON.stringify(body).slice(0, 300)}`);
      if (r.status >= 400) assert.equal(typeof r.json.error.code, 'string');
    }
  });

  it('the server is alive and published no internal error', async () => {
    assert.equal((await call(rig.base, 'GET', '/health')).status, 200);
    assert.deepEqual(internal, []);
  });
});
