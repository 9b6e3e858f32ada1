/**
 * Rate limits (issue 11 item 7): the GCRA limiter on its own (burst of N then
 * refusals, headers, Retry-After, tokens, a request larger than a minute's
 * budget, refunds when a second budget refuses, settle), the same buffer
 * shared by two worker threads (exactly N admitted), and the server with
 * server.threads: 2 and a fresh connection per request: exactly N of M
 * admitted whichever thread serves them, 429 in each family's error shape
 * with Retry-After and x-ratelimit-* headers.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { Worker } from 'node:worker_threads';
import { createRateLimitBuffer, formatReset, SharedRateLimiter } from '../../src/store/rate-limit.ts';
import { bodyTokens } from '../../src/edge/admission.ts';
import type { Budget } from '../../src/edge/auth.ts';
import { startTestServer, type TestServer } from '../server/helpers.ts';
import { openaiModel, startGateway, startMocks, type Gateway, type Mocks } from '../gateway/helpers.ts';

const budget = (rpm: number | null, tpm: number | null, name = 'b'): Budget => ({ name, requestsPerMinute: rpm, tokensPerMinute: tpm });
const limiter = (...b: Budget[]) => new SharedRateLimiter(createRateLimitBuffer(b.length), b);
const hdr = (h: [string, string][], k: string) => h.find(([n]) => n === k)?.[1];

describe('SharedRateLimiter (GCRA)', () => {
  it('an idle budget admits a burst of N requests, then refuses with Retry-After; the headers count down', () => {
    const l = limiter(budget(5, null));
    const s = { orgBudget: 0, keyBudget: -1 };
    for (let i = 0; i < 5; i++) {
      const a = l.admit(s, 0);
      assert.equal(a.ok, true);
      assert.equal(hdr(a.headers, 'x-ratelimit-limit-requests'), '5');
      assert.equal(hdr(a.headers, 'x-ratelimit-remaining-requests'), String(4 - i));
      assert.equal(hdr(a.headers, 'x-ratelimit-limit-tokens'), undefined, 'no token budget, no token headers');
    }
    const no = l.admit(s, 0);
    assert.equal(no.ok, false);
    assert.equal(no.limit, 'requests');
    assert.equal(no.scope, 'organization');
    // One request is worth 12 s at 5 a minute: the next is due within 12 s.
    assert.ok(no.retryAfterS! >= 1 && no.retryAfterS! <= 12, String(no.retryAfterS));
    assert.equal(hdr(no.headers, 'retry-after'), String(no.retryAfterS));
    assert.equal(hdr(no.headers, 'x-ratelimit-remaining-requests'), '0');
    // Time until the budget is full again: the whole minute, five requests of 12 s.
    assert.match(hdr(no.headers, 'x-ratelimit-reset-requests')!, /^(1m0s|\d+(\.\d+)?s)$/);
  });

  it('tokens: the estimate is the cost; a request over a whole minute\'s budget can never pass (retryAfterS null)', () => {
    const l = limiter(budget(null, 1000));
    const s = { orgBudget: 0, keyBudget: -1 };
    assert.equal(l.admit(s, 600).ok, true);
    assert.equal(hdr(l.admit(s, 300).headers, 'x-ratelimit-remaining-tokens'), '100');
    const no = l.admit(s, 200);
    assert.equal(no.ok, false);
    assert.equal(no.limit, 'tokens');
    const never = limiter(budget(null, 1000)).admit(s, 1001);
    assert.equal(never.ok, false);
    assert.equal(never.retryAfterS, null);
  });

  it('settle corrects an estimate: an over-estimate gives tokens back, an under-estimate takes more', () => {
    const l = limiter(budget(null, 1000));
    const s = { orgBudget: 0, keyBudget: -1 };
    assert.equal(l.admit(s, 900).ok, true);
    assert.equal(l.admit(s, 200).ok, false);
    l.settle(s, -500); // the upstream counted 400, not 900
    assert.equal(l.admit(s, 200).ok, true);
    l.settle(s, +400);
    assert.equal(l.admit(s, 200).ok, false);
  });

  it('organisation and key: the tighter refuses, and what the other took is given back', () => {
    const l = limiter(budget(10, null, 'org'), budget(3, null, 'key'));
    const k1 = { orgBudget: 0, keyBudget: 1 };
    const k2 = { orgBudget: 0, keyBudget: -1 };
    for (let i = 0; i < 3; i++) assert.equal(l.admit(k1, 0).ok, true);
    const no = l.admit(k1, 0);
    assert.equal(no.ok, false);
    assert.equal(no.scope, 'key');
    // The org budget saw 3 admitted (the refused one was refunded): 7 more for another key.
    let n = 0;
    while (l.admit(k2, 0).ok) n++;
    assert.equal(n, 7);
  });

  it('formatReset speaks OpenAI\'s durations', () => {
    assert.equal(formatReset(0), '0s');
    assert.equal(formatReset(20e6), '20ms');
    assert.equal(formatReset(1.5e9), '1.5s');
    assert.equal(formatReset(360e9), '6m0s');
  });

  it('bodyTokens: tokens.ts on the body; large bodies scaled from a prefix', () => {
    const small = Buffer.from(JSON.stringify({ prompt: 'word '.repeat(100) }));
    assert.ok(bodyTokens(small) >= 100 && bodyTokens(small) < 130, String(bodyTokens(small)));
    const big = Buffer.from(JSON.stringify({ prompt: 'word '.repeat(20_000) }));
    assert.ok(bodyTokens(big) >= 19_000 && bodyTokens(big) < 22_000, String(bodyTokens(big)));
    assert.equal(bodyTokens(Buffer.alloc(0)), 0);
  });

  it('two worker threads on one buffer admit exactly N between them', async () => {
    const N = 100_000;
    const sab = createRateLimitBuffer(1);
    // tsx hooks only the main thread under Node 20: register it in the worker first (as src/worker/bootstrap.mjs does).
    const code = `
      const { workerData, parentPort } = require('node:worker_threads');
      (async () => {
        (await import('tsx/esm/api')).register();
        const { SharedRateLimiter } = await import(${JSON.stringify(new URL('../../src/store/rate-limit.ts', import.meta.url).href)});
        const l = new SharedRateLimiter(workerData.sab, [{ name: 'b', requestsPerMinute: ${N}, tokensPerMinute: null }]);
        parentPort.postMessage('ready');
        // Both wait on one flag, so their admissions start together and interleave on the CAS.
        Atomics.wait(workerData.go, 0, 0);
        let ok = 0;
        const t0 = performance.now();
        for (let i = 0; i < 60000; i++) if (l.admit({ orgBudget: 0, keyBudget: -1 }, 0).ok) ok++;
        parentPort.postMessage({ ok, ms: performance.now() - t0 });
      })();`;
    const go = new Int32Array(new SharedArrayBuffer(4));
    const workers = [0, 1].map(() => new Worker(code, { eval: true, workerData: { sab, go } }));
    const next = (w: Worker) => new Promise<any>((res, rej) => { w.once('message', res); w.once('error', rej); });
    await Promise.all(workers.map(next));
    const counts = workers.map(next);
    // The window is timed here, around both loops: each worker's own clock covers only its
    // loop, and the two loops do not start and end together (one refill too many was seen).
    const t0 = performance.now();
    Atomics.store(go, 0, 1);
    Atomics.notify(go, 0);
    const [ra, rb] = await Promise.all(counts);
    const window = performance.now() - t0;
    const [a, b] = [ra.ok, rb.ok];
    await Promise.all(workers.map((w) => w.terminate()));
    // One request is refilled every 60/N s while the loops run: that many more may pass, never others.
    const refills = Math.ceil(window / (60_000 / N)) + 1;
    assert.ok(a + b >= N && a + b <= N + refills, `${a} + ${b} admitted; N ${N}, refills allowed ${refills}`);
    // Which thread wins how many is up to the scheduler; only the sum is the contract.
  });
});

/** One request on a fresh connection (agent: false), so SO_REUSEPORT spreads them over the threads. */
function fresh(port: number, method: string, path: string, body: string | null, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; json: any }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, agent: false, headers: { 'content-type': 'application/json', ...headers } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c) => { text += c; });
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, json: JSON.parse(text) }));
    });
    req.on('error', reject);
    req.end(body ?? undefined);
  });
}

describe('rate limits on the server, server.threads: 2', () => {
  const N = 10;
  const M = 30;
  const KEY = 'sk-limits-test-key-0123456789';
  const KEY2 = 'sk-limits-test-key2-0123456789';
  let srv: TestServer;
  let port: number;
  before(async () => {
    process.env.SWITCHYARD_TEST_LIMITS_KEY = KEY;
    process.env.SWITCHYARD_TEST_LIMITS_KEY2 = KEY2;
    srv = await startTestServer({
      server: { threads: 2 },
      tenants: [
        { id: 'org_lim', keys_env: ['SWITCHYARD_TEST_LIMITS_KEY'], limits: { requests_per_minute: N } },
        { id: 'org_tok', keys_env: ['SWITCHYARD_TEST_LIMITS_KEY2'], limits: { tokens_per_minute: 400 } },
      ],
    });
    port = srv.server.port;
  });
  after(async () => { await srv.close(); });

  it(`exactly ${N} of ${M} requests on fresh connections pass, whichever thread serves them`, async () => {
    const threads = new Set<number>();
    for (let i = 0; i < 16; i++) threads.add((await fresh(port, 'GET', '/health', null)).json.thread);
    assert.equal(threads.size, 2, 'connections reached both HTTP threads');
    const t0 = performance.now();
    const body = JSON.stringify({ prompt: 'What is the capital of Australia?' });
    const replies = await Promise.all(Array.from({ length: M }, () => fresh(port, 'POST', '/v1/route', body, { authorization: `Bearer ${KEY}` })));
    const elapsed = performance.now() - t0;
    const ok = replies.filter((r) => r.status === 200);
    const refused = replies.filter((r) => r.status === 429);
    assert.equal(ok.length + refused.length, M, JSON.stringify(replies.map((r) => r.status)));
    // One request is refilled every 60/N s; a burst that took longer may have earned that many more.
    const refills = Math.floor(elapsed / (60_000 / N));
    assert.ok(ok.length >= N && ok.length <= N + refills, `${ok.length} admitted of ${M} in ${elapsed.toFixed(0)} ms`);
    for (const r of ok) assert.equal(r.headers['x-ratelimit-limit-requests'], String(N));
    const remaining = ok.map((r) => Number(r.headers['x-ratelimit-remaining-requests'])).sort((a, b) => a - b);
    if (refills === 0) assert.deepEqual(remaining, Array.from({ length: N }, (_, i) => i));
    for (const r of refused) {
      assert.equal(r.json.error.code, 'rate_limit_exceeded');
      assert.equal(r.json.error.limit, 'requests');
      assert.equal(r.json.error.scope, 'organization');
      assert.ok(Number(r.headers['retry-after']) >= 1);
      assert.equal(r.headers['x-ratelimit-remaining-requests'], '0');
      assert.ok(r.headers['x-request-id']);
    }
  });

  it('a GET of stored data is not limited; other organisations have their own budget', async () => {
    assert.equal((await fresh(port, 'GET', '/v1/models', null, { authorization: `Bearer ${KEY}` })).status, 200);
    const other = await fresh(port, 'POST', '/v1/route', JSON.stringify({ prompt: 'hi' }), { authorization: `Bearer ${KEY2}` });
    assert.equal(other.status, 200);
    assert.ok(Number(other.headers['x-ratelimit-remaining-tokens']) < 400);
    assert.equal(other.headers['x-ratelimit-limit-requests'], undefined);
  });

  it('tokens per minute: a long prompt spends the budget; the 429 is in OpenAI\'s shape on /v1/chat/completions', async () => {
    const long = JSON.stringify({ prompt: 'tell me about it '.repeat(60) });
    const first = await fresh(port, 'POST', '/v1/route', long, { authorization: `Bearer ${KEY2}` });
    assert.equal(first.status, 200, JSON.stringify(first.json));
    const second = await fresh(port, 'POST', '/v1/route', long, { authorization: `Bearer ${KEY2}` });
    assert.equal(second.status, 429);
    assert.equal(second.json.error.limit, 'tokens');
    const chat = await fresh(port, 'POST', '/v1/chat/completions', JSON.stringify({ model: 'auto', messages: [{ role: 'user', content: 'tell me about it '.repeat(60) }] }), { authorization: `Bearer ${KEY2}` });
    assert.equal(chat.status, 429);
    assert.equal(chat.json.error.type, 'rate_limit_error');
    assert.equal(chat.json.error.code, 'rate_limit_exceeded');
    assert.ok(chat.headers['retry-after']);
    assert.ok(chat.headers['x-ratelimit-reset-tokens']);
  });
});

describe('tokens per minute settle on the upstream\'s usage', () => {
  const KEY = 'sk-settle-test-key-0123456789';
  let mocks: Mocks;
  let gw: Gateway;
  before(async () => {
    process.env.SWITCHYARD_TEST_SETTLE_KEY = KEY;
    // A long answer (200 chunks), so the upstream's count is far from the input estimate.
    mocks = await startMocks({ chunks: 200 });
    gw = await startGateway({ models: [openaiModel('gpt-4-1106-preview', mocks.oa)] }, {
      server: { threads: 1 },
      tenants: [{ id: 'org_settle', keys_env: ['SWITCHYARD_TEST_SETTLE_KEY'], limits: { tokens_per_minute: 6000 } }],
    });
  });
  after(async () => { await gw?.close(); await mocks?.close(); });

  it('the next request sees prompt + completion tokens as the upstream counted them, not the estimate', async () => {
    const body = JSON.stringify({ model: 'gpt-4-1106-preview', messages: [{ role: 'user', content: 'Say something long about rivers.' }] });
    const t0 = performance.now();
    const first = await fresh(gw.server.port, 'POST', '/v1/chat/completions', body, { authorization: `Bearer ${KEY}` });
    assert.equal(first.status, 200, JSON.stringify(first.json));
    const r1 = Number(first.headers['x-ratelimit-remaining-tokens']);
    const estimate = 6000 - r1;
    const actual: number = first.json.usage.total_tokens;
    assert.ok(Math.abs(actual - estimate) > 20, `the mock's count (${actual}) differs enough from the estimate (${estimate}) to tell them apart`);
    const second = await fresh(gw.server.port, 'POST', '/v1/chat/completions', body, { authorization: `Bearer ${KEY}` });
    // Time refills 100 tokens a second from the first admission on.
    const refill = Math.ceil(((performance.now() - t0) / 60_000) * 6000) + 1;
    const r2 = Number(second.headers['x-ratelimit-remaining-tokens']);
    // Settled: the first request now counts `actual`, the second its own estimate (the same body, the same estimate).
    const expected = 6000 - actual - estimate;
    assert.ok(r2 >= expected - 1 && r2 <= expected + refill, `remaining ${r2}, expected ${expected} (+ up to ${refill} refilled); unsettled it would be ${6000 - 2 * estimate}`);
  });
});
