/**
 * GET /metrics (issue 11 item 8) on a server with two HTTP threads: a bounded
 * burst of requests on fresh connections (so both threads serve), scraped
 * while it runs and after, every scrape parsed by a strict parser
 * (prom-parse.ts); the totals equal what the clients saw, which only holds
 * if every thread's counters are summed. Also: auth (the API key unless
 * metrics.public), decisions + cache hits = answered routes, histograms
 * consistent, rate-limited and upstream error counts, metrics.enabled off.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { parsePrometheus, value } from './prom-parse.ts';
import { startTestServer, type TestServer } from '../server/helpers.ts';
import { closedPort, openaiModel, startGateway, startMocks, type Gateway, type Mocks } from '../gateway/helpers.ts';

const KEY = 'sk-metrics-test-0123456789';
const TIGHT = 'sk-metrics-tight-0123456789';

function fresh(port: number, method: string, path: string, body: string | null, headers: Record<string, string> = {}): Promise<{ status: number; text: string; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, agent: false, headers: { 'content-type': 'application/json', ...headers } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c) => { text += c; });
      res.on('end', () => resolve({ status: res.statusCode!, text, headers: res.headers }));
    });
    req.on('error', reject);
    req.end(body ?? undefined);
  });
}

describe('GET /metrics with server.threads: 2', () => {
  let srv: Gateway;
  let mocks: Mocks;
  let port: number;
  const auth = { authorization: `Bearer ${KEY}` };
  before(async () => {
    process.env.SWITCHYARD_TEST_METRICS_KEY = KEY;
    process.env.SWITCHYARD_TEST_METRICS_TIGHT = TIGHT;
    mocks = await startMocks();
    srv = await startGateway({ models: [openaiModel('gpt-4-1106-preview', mocks.oa), openaiModel('claude-v2', `http://127.0.0.1:${await closedPort()}/v1`)] }, {
      server: { threads: 2 },
      tenants: [
        { id: 'org_m', keys_env: ['SWITCHYARD_TEST_METRICS_KEY'] },
        { id: 'org_tight', keys_env: ['SWITCHYARD_TEST_METRICS_TIGHT'], limits: { requests_per_minute: 3 } },
      ],
    });
    port = srv.server.port;
  });
  after(async () => { await srv?.close(); await mocks?.close(); });

  it('needs the API key (metrics.public is false)', async () => {
    assert.equal((await fresh(port, 'GET', '/metrics', null)).status, 401);
    const ok = await fresh(port, 'GET', '/metrics', null, auth);
    assert.equal(ok.status, 200);
    assert.equal(ok.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8');
    // An idle server already declares every family.
    const fams = parsePrometheus(ok.text);
    for (const f of ['switchyard_http_requests_total', 'switchyard_http_request_duration_seconds', 'switchyard_routing_duration_seconds', 'switchyard_route_decisions_total',
      'switchyard_route_cache_total', 'switchyard_upstream_errors_total', 'switchyard_upstream_fallbacks_total', 'switchyard_tokens_total', 'switchyard_cost_usd_total',
      'switchyard_rate_limited_total', 'switchyard_pool_queue_depth']) assert.ok(fams.has(f), f);
  });

  it('a burst on fresh connections, scraped under load: the totals are every thread\'s', async () => {
    const threads = new Set<number>();
    for (let i = 0; i < 16; i++) threads.add(JSON.parse((await fresh(port, 'GET', '/health', null)).text).thread);
    assert.equal(threads.size, 2, 'connections reached both HTTP threads');
    const before = parsePrometheus((await fresh(port, 'GET', '/metrics', null, auth)).text);
    const routeOk0 = value(before, 'switchyard_http_requests_total', { route: '/v1/route', status: '200' });

    const N = 240;
    const statuses: number[] = [];
    let scrapes = 0;
    let running = true;
    // A scraper running alongside: every scrape must parse, whatever the counters are doing.
    const scraper = (async () => {
      while (running) { parsePrometheus((await fresh(port, 'GET', '/metrics', null, auth)).text); scrapes++; }
    })();
    const work = Array.from({ length: N }, (_, i) => i);
    const lanes = Array.from({ length: 12 }, async (_, lane) => {
      for (let i = lane; i < N; i += 12) {
        // Every 4th prompt repeats (decision cache hits); every 10th request is a 404.
        const path = i % 10 === 9 ? '/v1/nothing-here' : '/v1/route';
        const prompt = i % 4 === 0 ? 'What is the capital of Australia?' : `Prompt number ${i}: explain recursion with an example.`;
        statuses.push((await fresh(port, 'POST', path, JSON.stringify({ prompt }), auth)).status);
      }
    });
    await Promise.all(lanes);
    running = false;
    await scraper;
    assert.ok(scrapes >= 1);
    assert.equal(work.length, statuses.length);

    const after = parsePrometheus((await fresh(port, 'GET', '/metrics', null, auth)).text);
    const routeOk = statuses.filter((s, i) => s === 200).length;
    const notFound = statuses.filter((s) => s === 404).length;
    assert.equal(routeOk + notFound, N, JSON.stringify(statuses));
    assert.equal(value(after, 'switchyard_http_requests_total', { route: '/v1/route', status: '200' }) - routeOk0, routeOk);
    assert.equal(value(after, 'switchyard_http_requests_total', { route: 'unmatched', status: '404' }) - value(before, 'switchyard_http_requests_total', { route: 'unmatched', status: '404' }), notFound);
    // Every answered /v1/route was a computed decision or a cache hit.
    const decided = (f: typeof after) => value(f, 'switchyard_route_decisions_total', {}) + value(f, 'switchyard_route_cache_total', { result: 'hit' });
    assert.equal(decided(after) - decided(before), routeOk);
    assert.equal(value(after, 'switchyard_route_cache_total', { result: 'miss' }), value(after, 'switchyard_route_decisions_total', {}));
    assert.ok(value(after, 'switchyard_route_cache_total', { result: 'hit' }) > 0);
    // The latency histogram counted each of them once.
    assert.equal(value(after, 'switchyard_http_request_duration_seconds', { route: '/v1/route' }, 'switchyard_http_request_duration_seconds_count'), value(after, 'switchyard_http_requests_total', { route: '/v1/route' }));
    assert.equal(value(after, 'switchyard_routing_duration_seconds', { stage: 'decision' }, 'switchyard_routing_duration_seconds_count'), value(after, 'switchyard_route_decisions_total', {}));
    // Decisions carry a model of the profile and a cluster number.
    for (const s of after.get('switchyard_route_decisions_total')!.samples) assert.match(s.labels.cluster, /^\d+$/);
  });

  it('rate-limited requests and upstream errors by model', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await fresh(port, 'POST', '/v1/route', JSON.stringify({ prompt: 'hi' }), { authorization: `Bearer ${TIGHT}` })).status);
    assert.deepEqual(statuses, [200, 200, 200, 429, 429]);
    const chatOk = await fresh(port, 'POST', '/v1/chat/completions', JSON.stringify({ model: 'gpt-4-1106-preview', messages: [{ role: 'user', content: 'hi' }] }), auth);
    assert.equal(chatOk.status, 200, chatOk.text);
    const chatBad = await fresh(port, 'POST', '/v1/chat/completions', JSON.stringify({ model: 'claude-v2', messages: [{ role: 'user', content: 'hi' }] }), auth);
    assert.equal(chatBad.status, 502, chatBad.text);
    // A thread counts a request as its reply completes, so a scrape answered by the other thread
    // can land a moment before that: scrape until the counts are in (or 50 tries), then assert.
    const expected = (x: ReturnType<typeof parsePrometheus>) => value(x, 'switchyard_upstream_completions_total', { model: 'gpt-4-1106-preview' }) === 1
      && value(x, 'switchyard_upstream_errors_total', { model: 'claude-v2' }) === 1 && value(x, 'switchyard_http_requests_total', { route: '/v1/chat/completions', status: '502' }) === 1;
    let f = parsePrometheus((await fresh(port, 'GET', '/metrics', null, auth)).text);
    for (let i = 0; i < 50 && !expected(f); i++) {
      await new Promise((r) => setTimeout(r, 20));
      f = parsePrometheus((await fresh(port, 'GET', '/metrics', null, auth)).text);
    }
    assert.equal(value(f, 'switchyard_rate_limited_total', { org: 'org_tight', limit: 'requests', scope: 'organization' }), 2);
    assert.equal(value(f, 'switchyard_upstream_completions_total', { model: 'gpt-4-1106-preview' }), 1);
    assert.equal(value(f, 'switchyard_upstream_errors_total', { model: 'claude-v2' }), 1);
    assert.equal(value(f, 'switchyard_http_requests_total', { route: '/v1/chat/completions', status: '502' }), 1);
  });
});

describe('metrics.public and metrics.enabled', () => {
  it('public: no key needed; enabled off: /metrics is a 404', async () => {
    const pub = await startTestServer({ server: { api_keys: ['sk-some-key-0123456789'] }, metrics: { public: true } });
    try {
      const r = await fresh(pub.server.port, 'GET', '/metrics', null);
      assert.equal(r.status, 200);
      parsePrometheus(r.text);
    } finally { await pub.close(); }
    const off = await startTestServer({ metrics: { enabled: 'off' } });
    try {
      assert.equal((await fresh(off.server.port, 'GET', '/metrics', null)).status, 404);
    } finally { await off.close(); }
  });

  it('the parser is strict: it refuses what the format forbids', () => {
    assert.throws(() => parsePrometheus('x 1\n'), /undeclared/);
    assert.throws(() => parsePrometheus('# TYPE x counter\nx{a="1} 1\n'), /unterminated/);
    assert.throws(() => parsePrometheus('# TYPE x counter\nx 1\nx 2\n'), /duplicate/);
    assert.throws(() => parsePrometheus('# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n'), /cumulative/);
    assert.throws(() => parsePrometheus('# TYPE x counter\nx one\n'), /bad value/);
  });
});
