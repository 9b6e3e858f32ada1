/**
 * The OpenAI surface real clients expect (issue 8 item 5), with the clients
 * themselves: x-request-id on every response (the openai SDK's `_request_id`),
 * GET /v1/models/{id} (router aliases, a slashed id as the SDK sends it and
 * raw), OpenAI's error shape on the OpenAI-compatible paths (the SDK's
 * err.type / err.param) and the router's own shape elsewhere, CORS preflight
 * and actual requests (allowed and disallowed origins, no auth on preflight),
 * and /v1/embeddings model aliases through LangChain's OpenAIEmbeddings.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import diagnostics_channel from 'node:diagnostics_channel';
import OpenAI from 'openai';
import { OpenAIEmbeddings } from '@langchain/openai';
import { loadNativeTables, NativeEmbedder } from '../../src/routing/embedders/native.ts';
import { DEFAULT_PROFILE_DIR } from '../../src/config/schema.ts';
import { anthropicModel, openaiModel, startGateway, startMocks, type Gateway, type Mocks } from '../gateway/helpers.ts';
import { startTestServer, type TestServer } from './helpers.ts';
import { CHANNEL_NAMES } from '../../src/diagnostics.ts';

const KEY = 'sk-switchyard-compat-0123';
const ORIGIN = 'http://app.example:3000';
const ALIASES = ['text-embedding-ada-002', 'text-embedding-3-small'];

let mocks: Mocks;
let gw: Gateway;
let sdk: OpenAI;
/** Defaults: no CORS, no aliases, no keys. */
let plain: TestServer;

before(async () => {
  mocks = await startMocks({ chunks: 3 });
  gw = await startGateway({
    models: [
      openaiModel('gpt-4-1106-preview', mocks.oa),
      anthropicModel('claude-v2', mocks.an),
      openaiModel('mistralai/mistral-7b-chat', mocks.oa),
    ],
  }, { server: { api_keys: [KEY], cors: { allowed_origins: [ORIGIN] } }, embedder: { aliases: ALIASES } });
  sdk = new OpenAI({ baseURL: `${gw.base}/v1`, apiKey: KEY, maxRetries: 0 });
  plain = await startTestServer();
});
after(async () => { await gw.close(); await mocks.close(); await plain.close(); });

const auth = { authorization: `Bearer ${KEY}` };

async function call(base: string, path: string, init: RequestInit = {}) {
  const r = await fetch(base + path, init);
  const text = await r.text();
  let json: any;
  try { json = JSON.parse(text); } catch { /* SSE or empty */ }
  return { status: r.status, headers: r.headers, text, json };
}

describe('x-request-id', () => {
  it('on JSON, error and SSE responses; the openai SDK\'s _request_id is set', async () => {
    const c = await sdk.chat.completions.create({ model: 'auto', messages: [{ role: 'user', content: 'hi' }] });
    assert.match(c._request_id ?? '', /^req_/);
    const err = await call(gw.base, '/v1/nope', { headers: auth });
    assert.equal(err.status, 404);
    assert.match(err.headers.get('x-request-id') ?? '', /^req_/);
    const unauth = await call(gw.base, '/v1/models');
    assert.equal(unauth.status, 401);
    assert.match(unauth.headers.get('x-request-id') ?? '', /^req_/);
    const sse = await call(gw.base, '/v1/chat/completions', { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'auto', stream: true, messages: [{ role: 'user', content: 'hi' }] }) });
    assert.equal(sse.headers.get('content-type'), 'text/event-stream; charset=utf-8');
    assert.match(sse.headers.get('x-request-id') ?? '', /^req_/);
    const route = await call(plain.base, '/v1/route', { method: 'POST', body: '{"prompt":"hello"}' });
    assert.equal(route.status, 200);
    assert.match(route.headers.get('x-request-id') ?? '', /^req_/);
    assert.notEqual(route.headers.get('x-request-id'), sse.headers.get('x-request-id'));
  });

  it('the same id reaches the diagnostics channel (logs)', async () => {
    const seen: { path: string; requestId: string }[] = [];
    const sub = (m: unknown) => { seen.push(m as { path: string; requestId: string }); };
    diagnostics_channel.subscribe(CHANNEL_NAMES.httpResponse, sub);
    try {
      const r = await call(plain.base, '/v1/route', { method: 'POST', body: '{"prompt":"diagnostics"}', headers: { 'x-request-id': 'diag-1' } });
      const g = await call(plain.base, '/v1/nope');
      assert.equal(r.status, 200);
      assert.deepEqual(seen.map((m) => [m.path, m.requestId]), [['/v1/route', 'diag-1'], ['/v1/nope', g.headers.get('x-request-id')]]);
    } finally { diagnostics_channel.unsubscribe(CHANNEL_NAMES.httpResponse, sub); }
  });

  it('a sane client-sent id is echoed, SSE included', async () => {
    const { data, response } = await sdk.chat.completions.create({ model: 'auto', messages: [{ role: 'user', content: 'hi' }], stream: true }, { headers: { 'x-request-id': 'my-trace-1' } }).withResponse();
    for await (const _ of data) { /* drain */ }
    assert.equal(response.headers.get('x-request-id'), 'my-trace-1');
    const odd = await call(plain.base, '/health', { headers: { 'x-request-id': 'has spaces and "quotes"' } });
    assert.match(odd.headers.get('x-request-id') ?? '', /^req_/);
  });
});

describe('GET /v1/models/{id}', () => {
  it('router aliases and configured models, as OpenAI Model objects', async () => {
    const auto = await sdk.models.retrieve('auto');
    assert.equal(auto.id, 'auto');
    assert.equal(auto.object, 'model');
    assert.equal(auto.owned_by, 'switchyard');
    assert.equal(typeof auto.created, 'number');
    assert.equal((await sdk.models.retrieve('MoM')).id, 'MoM');
    assert.equal((await sdk.models.retrieve('claude-v2')).owned_by, 'anthropic');
  });

  it('a slashed id: %2F as the SDK sends it, and a raw slash as curl does', async () => {
    const m = await sdk.models.retrieve('mistralai/mistral-7b-chat');
    assert.equal(m.id, 'mistralai/mistral-7b-chat');
    const raw = await call(gw.base, '/v1/models/mistralai/mistral-7b-chat', { headers: auth });
    assert.equal(raw.status, 200);
    assert.equal(raw.json.id, 'mistralai/mistral-7b-chat');
  });

  it('unknown: 404 model_not_found in OpenAI\'s shape, param "model"', async () => {
    await assert.rejects(sdk.models.retrieve('meta/llama-2-70b-chat'), (e: unknown) => {
      assert.ok(e instanceof OpenAI.NotFoundError, String(e));
      assert.equal(e.code, 'model_not_found');
      assert.equal(e.type, 'invalid_request_error');
      assert.equal(e.param, 'model');
      assert.match(e.message, /meta\/llama-2-70b-chat/);
      return true;
    });
  });
});

describe('error shapes per path family', () => {
  it('/v1/embeddings: a 400 the SDK parses (type, param), listing the accepted names', async () => {
    await assert.rejects(sdk.embeddings.create({ model: 'text-embedding-3-large', input: 'x' }), (e: unknown) => {
      assert.ok(e instanceof OpenAI.BadRequestError, String(e));
      assert.equal(e.type, 'invalid_request_error');
      assert.equal(e.param, 'model');
      assert.equal(e.code, 'invalid_request');
      for (const a of ALIASES) assert.ok(e.message.includes(a), e.message);
      assert.ok(e.message.includes('embedder.aliases'), e.message);
      return true;
    });
  });

  it('an unknown /v1/ path: 404 in OpenAI\'s shape (the SDK sets type, param null)', async () => {
    await assert.rejects(sdk.get('/nonexistent'), (e: unknown) => {
      assert.ok(e instanceof OpenAI.NotFoundError, String(e));
      assert.equal(e.type, 'invalid_request_error');
      assert.equal(e.code, 'not_found');
      assert.equal(e.param, null);
      return true;
    });
    // Also for a wrong method on a known OpenAI path.
    const r = await call(gw.base, '/v1/models/auto', { method: 'DELETE', headers: auth });
    assert.equal(r.status, 405);
    assert.equal(r.headers.get('allow'), 'GET');
    assert.equal(r.json.error.type, 'invalid_request_error');
  });

  it('the router\'s own shape on /v1/route, /v1/model-health and outside /v1/', async () => {
    for (const [path, init] of [['/v1/route', { method: 'POST', body: '{}' }], ['/v1/model-health?models=nope', {}], ['/v2/x', {}]] as const) {
      const r = await call(plain.base, path, init as RequestInit);
      assert.ok(r.status >= 400, path);
      assert.equal(typeof r.json.error.code, 'string', path);
      assert.equal(r.json.error.type, undefined, path);
      assert.equal(r.json.error.param, undefined, path);
    }
  });
});

describe('CORS (server.cors.allowed_origins)', () => {
  const preflight = (base: string, path: string, origin: string, method: string, headers = 'authorization, content-type, x-stainless-os, x-stainless-retry-count, x-evil') =>
    call(base, path, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': method, 'access-control-request-headers': headers } });

  it('preflight from an allowed origin: 204 with the route\'s methods and the allowlisted headers, no auth needed', async () => {
    const r = await preflight(gw.base, '/v1/chat/completions', ORIGIN, 'POST');
    assert.equal(r.status, 204);
    assert.equal(r.text, '');
    assert.equal(r.headers.get('access-control-allow-origin'), ORIGIN);
    assert.equal(r.headers.get('access-control-allow-methods'), 'POST');
    assert.equal(r.headers.get('access-control-allow-headers'), 'authorization, content-type, x-stainless-os, x-stainless-retry-count');
    assert.equal(r.headers.get('access-control-max-age'), '600');
    assert.match(r.headers.get('vary') ?? '', /Origin/);
    const two = await preflight(gw.base, '/v1/models/meta/llama-2-70b-chat', ORIGIN, 'GET', '');
    assert.equal(two.status, 204);
    assert.equal(two.headers.get('access-control-allow-methods'), 'GET');
    assert.equal(two.headers.get('access-control-allow-headers'), null);
  });

  it('preflight from another origin: no CORS headers', async () => {
    const r = await preflight(gw.base, '/v1/chat/completions', 'http://evil.example', 'POST');
    assert.equal(r.status, 204);
    assert.equal(r.headers.get('access-control-allow-origin'), null);
    assert.equal(r.headers.get('access-control-allow-methods'), null);
  });

  it('actual requests: Allow-Origin and exposed headers for an allowed origin (errors too), none for others', async () => {
    const ok = await call(gw.base, '/v1/models', { headers: { ...auth, origin: ORIGIN } });
    assert.equal(ok.status, 200);
    assert.equal(ok.headers.get('access-control-allow-origin'), ORIGIN);
    const exposed = ok.headers.get('access-control-expose-headers') ?? '';
    for (const h of ['x-request-id', 'x-switchyard-model', 'x-switchyard-cost-usd']) assert.ok(exposed.includes(h), exposed);
    assert.match(ok.headers.get('vary') ?? '', /Origin/);
    // A browser must be able to read a 401 to tell the user why.
    const unauth = await call(gw.base, '/v1/models', { headers: { origin: ORIGIN } });
    assert.equal(unauth.status, 401);
    assert.equal(unauth.headers.get('access-control-allow-origin'), ORIGIN);
    const sse = await call(gw.base, '/v1/chat/completions', { method: 'POST', headers: { ...auth, origin: ORIGIN, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'auto', stream: true, messages: [{ role: 'user', content: 'hi' }] }) });
    assert.equal(sse.headers.get('access-control-allow-origin'), ORIGIN);
    const other = await call(gw.base, '/v1/models', { headers: { ...auth, origin: 'http://evil.example' } });
    assert.equal(other.status, 200);
    assert.equal(other.headers.get('access-control-allow-origin'), null);
  });

  it('"*" allows any origin; off (the default) leaves OPTIONS a 405 with no CORS headers', async () => {
    const any = await startTestServer({ server: { cors: { allowed_origins: ['*'] } } });
    try {
      const r = await preflight(any.base, '/v1/route', 'https://somewhere.test', 'POST', 'content-type');
      assert.equal(r.status, 204);
      assert.equal(r.headers.get('access-control-allow-origin'), 'https://somewhere.test');
      assert.equal(r.headers.get('access-control-allow-headers'), 'content-type');
    } finally { await any.close(); }
    const off = await preflight(plain.base, '/v1/route', ORIGIN, 'POST');
    assert.equal(off.status, 405);
    assert.equal(off.headers.get('access-control-allow-origin'), null);
  });
});

describe('/v1/embeddings model aliases (embedder.aliases)', () => {
  const embedder = new NativeEmbedder(loadNativeTables(DEFAULT_PROFILE_DIR));

  it('LangChain\'s OpenAIEmbeddings with its default model gets the router\'s embedding', async () => {
    const lc = new OpenAIEmbeddings({ apiKey: KEY, configuration: { baseURL: `${gw.base}/v1` }, maxRetries: 0 });
    assert.equal(lc.model, 'text-embedding-ada-002');
    const v = await lc.embedQuery('How do I reverse a linked list?');
    const want = embedder.embedSync('How do I reverse a linked list?');
    assert.equal(v.length, want.length);
    // The SDK asks for base64 float32 and decodes it: the same float32 values.
    for (let i = 0; i < want.length; i++) assert.equal(v[i], want[i]);
    const docs = await lc.embedDocuments(['one', 'two']);
    assert.equal(docs.length, 2);
  });

  it('without aliases (the default) LangChain\'s default model is a 400 naming embedder.aliases', async () => {
    const lc = new OpenAIEmbeddings({ apiKey: 'x', configuration: { baseURL: `${plain.base}/v1` }, maxRetries: 0 });
    await assert.rejects(lc.embedQuery('x'), /embedder\.aliases/);
  });
});
