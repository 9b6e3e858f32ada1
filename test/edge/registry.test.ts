/**
 * The route registry (src/edge/registry.ts) on a bare uWS App with toy
 * routes: path parameters (`:id`, `*rest` with slashes and percent-encoding),
 * several methods on one path (405 + Allow), the 404 listing the table, auth
 * before 405 and 404, hooks, the body limit, request ids, and the table
 * checks done at start-up.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { uws, listen, closeApp, type TemplatedApp } from '../../src/edge/uws.ts';
import { Lifecycle } from '../../src/edge/exchange.ts';
import { makeKeyCheck } from '../../src/edge/auth.ts';
import { Cors } from '../../src/edge/cors.ts';
import { compile, mountRoutes, requestId, type RouteDef } from '../../src/edge/registry.ts';
import { ApiError } from '../../src/errors.ts';
import type { Engine } from '../../src/api/engine.ts';

const ROUTES: RouteDef[] = [
  { method: 'GET', path: '/open', dialect: 'switchyard', auth: false, json: () => '{"open":true}' },
  { method: 'GET', path: '/v1/things/:id', dialect: 'openai', json: (q) => JSON.stringify({ get: q.params.id, query: q.query, rid: q.requestId, caller: q.keyId, org: q.org }) },
  { method: 'DELETE', path: '/v1/things/:id', dialect: 'openai', json: (q) => JSON.stringify({ deleted: q.params.id }) },
  { method: 'GET', path: '/v1/things/:id/parts/:part', dialect: 'openai', json: (q) => JSON.stringify(q.params) },
  { method: 'GET', path: '/v1/models/*id', dialect: 'openai', json: (q) => JSON.stringify({ id: q.params.id }) },
  { method: ['POST', 'PUT'], path: '/echo', dialect: 'switchyard', json: (q) => JSON.stringify({ method: q.method, len: q.body.length, ct: q.contentType, accept: q.accept }) },
  { method: 'POST', path: '/async', dialect: 'switchyard', json: async (q) => { const n = q.body.length; await new Promise((r) => setTimeout(r, 5)); if (n === 0) throw new ApiError('invalid_request', '"body" is empty', 'body'); return '{"ok":1}'; } },
  { method: 'GET', path: '/sink', dialect: 'switchyard', sink: (_q, s) => { s.openStream([['x-mine', '1']]); s.write('data: 1\n\n'); s.end('data: [DONE]\n\n'); } },
  { method: 'POST', path: '/hooked', dialect: 'switchyard', hooks: [(q) => { if (q.query === 'deny') throw new ApiError('invalid_request', '"query" says deny', 'query'); }], json: () => '{"hooked":true}' },
];

interface Srv { base: string; app: TemplatedApp }

async function start(keys: string[] = [], cors: string[] = [], bodyLimit = 2048): Promise<Srv> {
  const app = uws.App();
  mountRoutes(app, ROUTES, { engine: {} as Engine, life: new Lifecycle(), check: makeKeyCheck(keys), cors: Cors.from(cors), bodyLimit });
  const sock = await listen(app, '127.0.0.1', 0, true);
  return { app, base: `http://127.0.0.1:${uws.us_socket_local_port(sock as never)}` };
}

let s: Srv;
let k: Srv;
before(async () => { s = await start(); k = await start(['secret-key-1']); });
after(() => { closeApp(s.app); closeApp(k.app); });

async function call(base: string, path: string, init: RequestInit = {}) {
  const r = await fetch(base + path, init);
  const text = await r.text();
  return { status: r.status, headers: r.headers, text, json: r.headers.get('content-type') === 'application/json' ? JSON.parse(text) : undefined };
}

describe('route registry', () => {
  it(':param segments are matched by uWS and percent-decoded; the query is raw', async () => {
    const r = await call(s.base, '/v1/things/a%20b?x=1&y=%20');
    assert.equal(r.status, 200);
    assert.equal(r.json.get, 'a b');
    assert.equal(r.json.query, 'x=1&y=%20');
    assert.equal(r.json.caller, null);
    assert.equal(r.json.org, 'default');
    assert.deepEqual((await call(s.base, '/v1/things/t1/parts/p2')).json, { id: 't1', part: 'p2' });
  });

  it('*rest takes the rest of the path, slashes included, encoded or not', async () => {
    assert.equal((await call(s.base, '/v1/models/auto')).json.id, 'auto');
    assert.equal((await call(s.base, '/v1/models/meta/llama-2-70b-chat')).json.id, 'meta/llama-2-70b-chat');
    assert.equal((await call(s.base, '/v1/models/meta%2Fllama-2-70b-chat')).json.id, 'meta/llama-2-70b-chat');
    // An empty rest is no match: 404, not a handler call with id "".
    const empty = await call(s.base, '/v1/models/');
    assert.equal(empty.status, 404);
    assert.equal(empty.json.error.code, 'not_found');
  });

  it('bad percent-encoding in a parameter is a 400 naming it', async () => {
    const r = await call(s.base, '/v1/things/%E0%A4%A');
    assert.equal(r.status, 400);
    assert.equal(r.json.error.param, 'id');
  });

  it('several methods on one path; any other gets 405 with Allow listing them', async () => {
    assert.equal((await call(s.base, '/v1/things/x', { method: 'DELETE' })).json.deleted, 'x');
    const r = await call(s.base, '/v1/things/x', { method: 'POST', body: '{}' });
    assert.equal(r.status, 405);
    assert.equal(r.headers.get('allow'), 'GET, DELETE');
    // OpenAI's shape on an 'openai' route.
    assert.equal(r.json.error.code, 'method_not_allowed');
    assert.equal(r.json.error.type, 'invalid_request_error');
    const e = await call(s.base, '/echo', { method: 'GET' });
    assert.equal(e.headers.get('allow'), 'POST, PUT');
    assert.equal(e.json.error.code, 'method_not_allowed');
    assert.equal(e.json.error.field, undefined);
    assert.equal((await call(s.base, '/echo', { method: 'PUT', body: 'abc' })).json.method, 'put');
  });

  it('404 lists the routes from the table; OpenAI shape under /v1/, Switchyard shape elsewhere', async () => {
    const r = await call(s.base, '/v1/nope');
    assert.equal(r.status, 404);
    assert.equal(r.json.error.type, 'invalid_request_error');
    assert.equal(r.json.error.param, null);
    for (const route of ['GET /open', 'GET /v1/things/:id', 'DELETE /v1/things/:id', 'GET /v1/models/*id', 'POST /echo', 'PUT /echo']) {
      assert.ok(r.json.error.message.includes(route), `${route} in ${r.json.error.message}`);
    }
    const o = await call(s.base, '/nope', { method: 'POST', body: 'x' });
    assert.equal(o.status, 404);
    assert.equal(o.json.error.code, 'not_found');
    assert.equal(o.json.error.type, undefined);
  });

  it('auth runs before the 405 and the 404; auth: false routes are open; caller is set', async () => {
    for (const [path, method] of [['/v1/nope', 'GET'], ['/v1/things/x', 'POST'], ['/v1/things/x', 'GET'], ['/nothing', 'GET']] as const) {
      const r = await call(k.base, path, { method, body: method === 'POST' ? '{}' : undefined });
      assert.equal(r.status, 401, `${method} ${path}`);
      assert.equal(r.json.error.code, 'unauthorized');
    }
    assert.equal((await call(k.base, '/open')).status, 200);
    const ok = await call(k.base, '/v1/things/x', { headers: { authorization: 'Bearer secret-key-1' } });
    assert.equal(ok.status, 200);
    assert.equal(ok.json.caller, 'server.api_keys[0]');
    assert.equal(ok.json.org, 'default');
    assert.equal((await call(k.base, '/v1/nope', { headers: { 'x-api-key': 'secret-key-1' } })).status, 404);
  });

  it('reads bodies for POST/PUT with the headers handlers need; refuses a declared length over the limit', async () => {
    const r = await call(s.base, '/echo', { method: 'POST', body: 'x'.repeat(100), headers: { 'content-type': 'text/plain', accept: 'application/json' } });
    assert.deepEqual(r.json, { method: 'post', len: 100, ct: 'text/plain', accept: 'application/json' });
    const big = await call(s.base, '/echo', { method: 'POST', body: 'x'.repeat(5000) });
    assert.equal(big.status, 413);
    assert.equal(big.json.error.code, 'payload_too_large');
    assert.equal(big.headers.get('connection'), 'close');
  });

  it('async handlers answer when they settle, and their throws become the error reply', async () => {
    assert.deepEqual((await call(s.base, '/async', { method: 'POST', body: 'a' })).json, { ok: 1 });
    const r = await call(s.base, '/async', { method: 'POST' });
    assert.equal(r.status, 400);
    assert.equal(r.json.error.field, 'body');
  });

  it('hooks run before the handler and can answer instead', async () => {
    assert.equal((await call(s.base, '/hooked', { method: 'POST', body: '{}' })).json.hooked, true);
    const r = await call(s.base, '/hooked?deny', { method: 'POST', body: '{}' });
    assert.equal(r.status, 400);
    assert.equal(r.json.error.field, 'query');
  });

  it('x-request-id on every response: a sane client id is kept, anything else replaced', async () => {
    const mine = await call(s.base, '/v1/things/x', { headers: { 'x-request-id': 'trace-42.a:b/c' } });
    assert.equal(mine.headers.get('x-request-id'), 'trace-42.a:b/c');
    assert.equal(mine.json.rid, 'trace-42.a:b/c');
    const ids = new Set<string>();
    for (const [path, init] of [['/v1/things/x', {}], ['/v1/nope', {}], ['/echo', { method: 'DELETE' }], ['/sink', {}], ['/v1/things/y', { headers: { 'x-request-id': 'bad id with spaces' } }], ['/v1/things/z', { headers: { 'x-request-id': 'x'.repeat(129) } }]] as const) {
      const r = await call(s.base, path, init as RequestInit);
      const id = r.headers.get('x-request-id');
      assert.match(id ?? '', /^req_[0-9a-f]{12}[0-9a-z]+$/, `${path}: ${id}`);
      ids.add(id!);
    }
    assert.equal(ids.size, 6);
    const unauth = await call(k.base, '/v1/nope');
    assert.match(unauth.headers.get('x-request-id') ?? '', /^req_/);
  });

  it('sink routes stream with their own headers plus the common ones', async () => {
    const r = await call(s.base, '/sink');
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('content-type'), 'text/event-stream; charset=utf-8');
    assert.equal(r.headers.get('x-mine'), '1');
    assert.ok(r.headers.get('x-request-id'));
    assert.equal(r.text, 'data: 1\n\ndata: [DONE]\n\n');
  });
});

describe('requestId', () => {
  it('keeps sane ids and replaces others', () => {
    assert.equal(requestId('abc-DEF_1.2:3/4+5=6@7'), 'abc-DEF_1.2:3/4+5=6@7');
    for (const bad of ['', 'a b', 'x'.repeat(129), 'é', 'a"b', 'a\\b', 'a,b']) assert.match(requestId(bad), /^req_/);
    assert.notEqual(requestId(''), requestId(''));
  });
});

describe('the table is checked at start-up', () => {
  const j = () => '{}';
  it('rejects duplicates, misplaced *rest, mixed dialects, bad names, missing handlers', () => {
    assert.throws(() => compile([{ method: 'GET', path: '/a', dialect: 'openai', json: j }, { method: ['POST', 'GET'], path: '/a', dialect: 'openai', json: j }]), /GET \/a is declared twice/);
    assert.throws(() => compile([{ method: 'GET', path: '/a/*rest/b', dialect: 'openai', json: j }]), /last segment/);
    assert.throws(() => compile([{ method: 'GET', path: '/a/:x/*rest', dialect: 'openai', json: j }]), /cannot follow/);
    assert.throws(() => compile([{ method: 'GET', path: '/a', dialect: 'openai', json: j }, { method: 'POST', path: '/a', dialect: 'switchyard', json: j }]), /one dialect/);
    assert.throws(() => compile([{ method: 'GET', path: '/a/:1x', dialect: 'openai', json: j }]), /bad parameter name/);
    assert.throws(() => compile([{ method: 'GET', path: '/a', dialect: 'openai' }]), /exactly one of json and sink/);
    assert.throws(() => compile([{ method: 'GET', path: 'a', dialect: 'openai', json: j }]), /starts with/);
  });

  it('groups methods by path, in declaration order, for the Allow header', () => {
    const g = compile(ROUTES).find((x) => x.pattern === '/v1/things/:id')!;
    assert.deepEqual(g.allow, [['allow', 'GET, DELETE']]);
    assert.equal(g.uwsPattern, '/v1/things/:id');
    assert.equal(compile(ROUTES).find((x) => x.pattern === '/v1/models/*id')!.uwsPattern, '/v1/models/*');
  });
});
