/**
 * Every error the edge and /v1/route can produce: each 400 names its field,
 * 401 with keys (both header forms, /health open), 404, 405, 413 (declared
 * and chunked), 503 before the profile has loaded, 422 no_candidate.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ApiError, ERRORS, ERROR_CODES, errorReply } from '../../src/errors.ts';
import { assertError, get, post, startTestServer, type TestServer } from './helpers.ts';

let t: TestServer;
let dim = 0;
let models: string[] = [];
before(async () => {
  t = await startTestServer({ limits: { input_chars: 1000 } });
  dim = t.server.engine.ready!.profile.dim;
  models = t.server.engine.ready!.profile.models;
});
after(async () => { await t.close(); });

const vec = (f: (i: number) => unknown) => Array.from({ length: dim }, (_, i) => f(i));
const rawVec = (first: string) => `{"embedding":[${first}${',0.05'.repeat(dim - 1)}]}`;

describe('400 invalid_request on /v1/route names the field', () => {
  // [case, body (object or raw string), field named]
  const cases: [string, () => unknown, string][] = [
    ['neither prompt nor embedding', () => ({}), 'prompt'],
    ['only cost_weight', () => ({ cost_weight: 0.1 }), 'prompt'],
    ['malformed JSON', () => '{"prompt": "x"', 'body'],
    ['empty body', () => '', 'body'],
    ['JSON array body', () => '[1,2]', 'body'],
    ['JSON string body', () => '"prompt"', 'body'],
    ['JSON null body', () => 'null', 'body'],
    ['prompt not a string', () => ({ prompt: 42 }), 'prompt'],
    ['prompt null', () => ({ prompt: null }), 'prompt'],
    ['prompt empty', () => ({ prompt: '' }), 'prompt'],
    ['prompt over input_chars', () => ({ prompt: 'x'.repeat(1001) }), 'prompt'],
    ['embedding an object', () => ({ embedding: { a: 1 } }), 'embedding'],
    ['embedding a number', () => ({ embedding: 3 }), 'embedding'],
    ['embedding too short', () => ({ embedding: [0.1, 0.2, 0.3] }), 'embedding'],
    ['embedding too long', () => ({ embedding: vec(() => 0.01).concat([0.01]) }), 'embedding'],
    ['embedding element "NaN" string', () => ({ embedding: vec((i) => (i === 0 ? 'NaN' : 0.05)) }), 'embedding[0]'],
    ['embedding element "Infinity" string', () => ({ embedding: vec((i) => (i === 7 ? 'Infinity' : 0.05)) }), 'embedding[7]'],
    ['embedding element null', () => ({ embedding: vec((i) => (i === 5 ? null : 0.05)) }), 'embedding[5]'],
    ['embedding element 1e999 (parses to Infinity)', () => rawVec('1e999'), 'embedding[0]'],
    ['embedding element -1e999', () => rawVec('-1e999'), 'embedding[0]'],
    ['embedding element 1e39 (overflows float32)', () => rawVec('1e39'), 'embedding[0]'],
    ['embedding all zeros', () => ({ embedding: vec(() => 0) }), 'embedding'],
    ['embedding base64 wrong length', () => ({ embedding: Buffer.alloc(16).toString('base64') }), 'embedding'],
    ['embedding string not base64', () => ({ embedding: 'NaN!' }), 'embedding'],
    ['embedding base64 holding NaN', () => ({ embedding: Buffer.from(new Float32Array(dim).fill(NaN).buffer).toString('base64') }), 'embedding[0]'],
    ['cost_weight negative', () => ({ prompt: 'x', cost_weight: -0.5 }), 'cost_weight'],
    ['cost_weight a string', () => ({ prompt: 'x', cost_weight: '0.5' }), 'cost_weight'],
    ['cost_weight "NaN"', () => ({ prompt: 'x', cost_weight: 'NaN' }), 'cost_weight'],
    ['cost_weight 1e999', () => '{"prompt":"x","cost_weight":1e999}', 'cost_weight'],
    ['cost_weight null', () => ({ prompt: 'x', cost_weight: null }), 'cost_weight'],
    ['available_models not an array', () => ({ prompt: 'x', available_models: 'gpt-4-1106-preview' }), 'available_models'],
    ['available_models empty', () => ({ prompt: 'x', available_models: [] }), 'available_models'],
    ['available_models unknown name', () => ({ prompt: 'x', available_models: [models[0], 'gpt-17'] }), 'available_models[1]'],
    ['available_models non-string', () => ({ prompt: 'x', available_models: [7] }), 'available_models[0]'],
    ['unknown top-level field', () => ({ prompt: 'x', temprature: 0.2 }), 'temprature'],
    ['__proto__ field', () => '{"prompt":"x","__proto__":{"a":1}}', '__proto__'],
  ];
  for (const [name, body, field] of cases) {
    it(name, async () => {
      const r = await post(t.base, '/v1/route', body());
      assertError(r, 'invalid_request', field);
    });
  }
});

describe('HTTP-level errors', () => {
  it('404 not_found for unknown routes, 405 with Allow for wrong methods', async () => {
    assertError(await get(t.base, '/v2/route'), 'not_found');
    assertError(await post(t.base, '/', {}), 'not_found');
    const r = await get(t.base, '/v1/route');
    assertError(r, 'method_not_allowed');
    assert.equal(r.headers.get('allow'), 'POST');
    const h = await post(t.base, '/health', {});
    assertError(h, 'method_not_allowed');
    assert.equal(h.headers.get('allow'), 'GET');
    const del = await fetch(`${t.base}/v1/embeddings`, { method: 'DELETE' });
    assert.equal(del.status, 405);
  });

  it('413 payload_too_large, declared or chunked; the server keeps serving', async () => {
    const small = await startTestServer({ server: { body_limit: 2048 } });
    try {
      const big = JSON.stringify({ prompt: 'x'.repeat(5000) });
      const r = await post(small.base, '/v1/route', big);
      assertError(r, 'payload_too_large', 'body');
      assert.equal(r.headers.get('connection'), 'close');
      const stream = new ReadableStream({ start(c) { for (let i = 0; i < 8; i++) c.enqueue(new Uint8Array(1000).fill(32)); c.close(); } });
      const res = await fetch(`${small.base}/v1/route`, { method: 'POST', body: stream, duplex: 'half' } as RequestInit);
      assert.equal(res.status, 413);
      assert.equal((await res.json()).error.code, 'payload_too_large');
      // Just under the limit is fine.
      assert.equal((await post(small.base, '/v1/route', { prompt: 'y'.repeat(1900) })).status, 200);
      assert.equal((await get(small.base, '/health')).status, 200);
    } finally { await small.close(); }
  });

  it('422 no_candidate when no allowed model has an estimate in the cluster', async () => {
    // The default profile has estimates everywhere; make one NaN row on a copy in memory.
    const r = t.server.engine.ready!;
    const errs = r.profile.errors;
    const saved = errs.slice();
    const probe = await post(t.base, '/v1/route', { prompt: 'no candidate probe', cost_weight: 0 });
    const M = models.length;
    for (let k = 0; k < r.profile.k; k++) errs[k * M + 0] = NaN;
    try {
      const res = await post(t.base, '/v1/route', { prompt: 'no candidate probe 2', available_models: [models[0]] });
      assertError(res, 'no_candidate', 'available_models');
    } finally { errs.set(saved); }
    assert.equal(probe.status, 200);
  });
});

describe('API keys', () => {
  let k: TestServer;
  before(async () => { k = await startTestServer({ server: { api_keys: ['key-one-0123', 'key-two-4567'] } }); });
  after(async () => { await k.close(); });

  it('401 without a key or with a wrong one, on every route but /health', async () => {
    assertError(await post(k.base, '/v1/route', { prompt: 'x' }), 'unauthorized');
    assertError(await post(k.base, '/v1/embeddings', { input: 'x' }), 'unauthorized');
    assertError(await post(k.base, '/v1/route', { prompt: 'x' }, { authorization: 'Bearer key-one-0124' }), 'unauthorized');
    assertError(await post(k.base, '/v1/route', { prompt: 'x' }, { authorization: 'key-one-0123' }), 'unauthorized');
    assertError(await post(k.base, '/v1/route', { prompt: 'x' }, { 'x-api-key': 'nope' }), 'unauthorized');
    // Unknown routes are not revealed to unauthenticated clients.
    assertError(await get(k.base, '/secret'), 'unauthorized');
    const h = await get(k.base, '/health');
    assert.equal(h.status, 200);
    assert.equal(h.json.status, 'ok');
  });

  it('accepts Authorization: Bearer and x-api-key, any configured key', async () => {
    for (const headers of <Record<string, string>[]>[{ authorization: 'Bearer key-one-0123' }, { authorization: 'bearer key-two-4567' }, { 'x-api-key': 'key-two-4567' }, { 'x-api-key': 'key-one-0123' }]) {
      const r = await post(k.base, '/v1/route', { prompt: 'hello' }, headers);
      assert.equal(r.status, 200, JSON.stringify(headers));
      assert.equal(typeof r.json.selected_model, 'string');
    }
    assertError(await get(k.base, '/nothing', { 'x-api-key': 'key-one-0123' }), 'not_found');
  });
});

describe('503 router_not_ready before the profile has loaded', () => {
  it('listens first: /health says loading, /v1/* answer 503; after load() both are ready', async () => {
    const s = await startTestServer({}, { load: false });
    try {
      const h = await get(s.base, '/health');
      assert.equal(h.status, 503);
      assert.equal(h.json.status, 'loading');
      assert.equal(h.json.profile, null);
      assertError(await post(s.base, '/v1/route', { prompt: 'x' }), 'router_not_ready');
      assertError(await post(s.base, '/v1/embeddings', { input: 'x' }), 'router_not_ready');
      // Validation waits for readiness too (the dimension is the profile's).
      assertError(await post(s.base, '/v1/route', '{bad json'), 'router_not_ready');
      await s.server.load();
      const h2 = await get(s.base, '/health');
      assert.equal(h2.status, 200);
      assert.equal(h2.json.status, 'ok');
      assert.equal((await post(s.base, '/v1/route', { prompt: 'x' })).status, 200);
    } finally { await s.close(); }
  });

  it('a profile that fails to load: health "failed" (503), routes 503', async () => {
    const s = await startTestServer({ router: { profile: '/nonexistent/profile-dir' } }, { load: false });
    try {
      await assert.rejects(s.server.load(), /nonexistent/);
      const h = await get(s.base, '/health');
      assert.equal(h.status, 503);
      assert.equal(h.json.status, 'failed');
      assertError(await post(s.base, '/v1/route', { prompt: 'x' }), 'router_not_ready');
    } finally { await s.close(); }
  });
});

/**
 * Every code with its status, written out by hand (as fastify's
 * test/internals/errors.test.js pins its codes): codes are API, so adding,
 * removing or re-statusing one must fail here until this table, and the
 * docs' table checked below, say so too.
 */
const PINNED: Readonly<Record<string, number>> = {
  invalid_request: 400,
  upstream_rejected: 400,
  pii_detected: 400,
  model_excluded: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  model_not_found: 404,
  response_not_found: 404,
  router_config_not_found: 404,
  route_decision_not_found: 404,
  preference_not_found: 404,
  request_not_found: 404,
  method_not_allowed: 405,
  config_version_conflict: 409,
  default_config_protected: 409,
  model_exists: 409,
  payload_too_large: 413,
  no_candidate: 422,
  validation_error: 422,
  profile_rejected: 422,
  upstream_rate_limited: 429,
  rate_limit_exceeded: 429,
  internal_error: 500,
  upstream_error: 502,
  router_not_ready: 503,
  no_backend: 503,
  shutting_down: 503,
  store_unavailable: 503,
  rate_limiter_unavailable: 503,
  upstream_timeout: 504,
};

/** Names the codes one side has and the other lacks, then compares statuses. */
function assertSameCodes(actual: Record<string, number>, expected: Record<string, number>, what: string): void {
  const missing = Object.keys(expected).filter((c) => !(c in actual));
  const extra = Object.keys(actual).filter((c) => !(c in expected));
  assert.deepEqual({ missing, extra }, { missing: [], extra: [] }, what);
  assert.deepEqual(actual, expected, what);
}

const statuses = (entries: Iterable<[string, number]>): Record<string, number> => Object.fromEntries([...entries].sort(([a], [b]) => a.localeCompare(b)));

/** The first `| code | status | when |` table of a docs file: code -> status, failing on a repeated code. */
function docsTable(file: string): Record<string, number> {
  const text = readFileSync(new URL(`../../docs/${file}`, import.meta.url), 'utf8');
  const start = text.indexOf('| code | status | when |');
  assert.ok(start >= 0, `${file} has an error table`);
  const out: [string, number][] = [];
  for (const line of text.slice(start).split('\n').slice(2)) {
    if (!line.startsWith('|')) break;
    const m = /^\| `([a-z_]+)` \| (\d{3}) \|/.exec(line);
    assert.ok(m, `${file}: a row with one code and one status: ${line.slice(0, 80)}`);
    assert.ok(!out.some(([c]) => c === m[1]), `${file}: ${m[1]} listed twice`);
    out.push([m[1], Number(m[2])]);
  }
  return statuses(out);
}

describe('error catalogue', () => {
  const catalogue = statuses(Object.entries(ERRORS).map(([code, e]) => [code, e.status]));

  it('every code has a 4xx/5xx status and a message', () => {
    for (const [code, e] of Object.entries(ERRORS)) {
      assert.match(code, /^[a-z_]+$/);
      assert.ok(e.status >= 400 && e.status < 600);
      assert.ok(e.message.length > 0);
    }
  });

  it(`pins all ${Object.keys(PINNED).length} codes and their statuses`, () => {
    assertSameCodes(catalogue, statuses(Object.entries(PINNED)), 'extra: a new code in src/errors.ts, to pin here and document in docs/api.md; missing: a removed code (codes are API: never remove one)');
    assert.equal(ERROR_CODES.length, Object.keys(PINNED).length);
  });

  it('docs/api.md\'s error table lists exactly the catalogue\'s codes, with the same statuses', () => {
    assertSameCodes(docsTable('api.md'), catalogue, 'docs/api.md error table vs src/errors.ts (missing: undocumented codes)');
  });

  it('the codes docs/gateway.md lists are the catalogue\'s, with the same statuses', () => {
    // Its table ends with a row grouping three edge codes; only its one-code rows are compared.
    const text = readFileSync(new URL('../../docs/gateway.md', import.meta.url), 'utf8');
    const rows = [...text.matchAll(/^\| `([a-z_]+)` \| (\d{3}) \|/gm)];
    assert.ok(rows.length > 0);
    for (const [, code, status] of rows) assert.equal(catalogue[code], Number(status), `docs/gateway.md: ${code}`);
  });

  it('OpenAI-shaped errors carry the type OpenAI gives their status (what its SDKs and clients key on)', () => {
    const type = (code: keyof typeof ERRORS) => JSON.parse(errorReply(new ApiError(code), 'openai').body).error.type;
    assert.equal(type('unauthorized'), 'authentication_error');
    assert.equal(type('forbidden'), 'permission_error');
    assert.equal(type('rate_limit_exceeded'), 'rate_limit_error');
    assert.equal(type('invalid_request'), 'invalid_request_error');
  });
});
