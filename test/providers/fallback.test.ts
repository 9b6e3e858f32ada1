import { describe, it, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { runFallback, UpstreamChainError } from '../../src/providers/fallback.ts';
import { UpstreamError, type FailureKind } from '../../src/providers/failure.ts';
import { ChatGateway, type ModelRoute } from '../../src/providers/gateway.ts';
import { HealthTracker } from '../../src/providers/health.ts';
import { UpstreamClient } from '../../src/providers/upstream.ts';
import { secrets } from '../../src/providers/redact.ts';
import type { Backend, ChatChunk, ChatRequest } from '../../src/providers/types.ts';
import { startMockUpstream, type MockUpstream } from '../../scripts/mock-upstream.ts';
import { anthropicBackend, closedPort, openaiBackend, waitFor, OPENAI_KEY, ANTHROPIC_KEY } from './helpers.ts';

const fail = (kind: FailureKind, status?: number, afterFirstByte = false) => () => Promise.reject(new UpstreamError(kind, `${kind} happened`, status, afterFirstByte));

async function chainError(p: Promise<unknown>): Promise<UpstreamChainError> {
  try { await p; } catch (e) { if (e instanceof UpstreamChainError) return e; throw e; }
  throw new Error('expected an UpstreamChainError');
}

describe('runFallback (pure)', () => {
  it('moves past 500, 429, connect refused and first-byte timeout to the first success', async () => {
    const plan: Record<string, () => Promise<string>> = {
      a: fail('http_5xx', 500), b: fail('rate_limited', 429), c: fail('connect'), d: fail('first_byte_timeout'), e: () => Promise.resolve('answer from e'), f: () => Promise.resolve('never'),
    };
    const calls: string[] = [];
    const r = await runFallback(Object.keys(plan), (m) => { calls.push(m); return plan[m](); });
    assert.equal(r.model, 'e');
    assert.equal(r.value, 'answer from e');
    assert.deepEqual(calls, ['a', 'b', 'c', 'd', 'e']);
    assert.deepEqual(r.chain.map((a) => [a.model, a.outcome, a.kind, a.status]), [
      ['a', 'failed', 'http_5xx', 500], ['b', 'failed', 'rate_limited', 429], ['c', 'failed', 'connect', undefined], ['d', 'failed', 'first_byte_timeout', undefined], ['e', 'ok', undefined, undefined],
    ]);
  });

  it('all failing -> upstream_error listing each candidate', async () => {
    const e = await chainError(runFallback(['a', 'b', 'c'], (m) => (m === 'a' ? fail('http_5xx', 502)() : m === 'b' ? fail('connect')() : fail('first_byte_timeout')())));
    assert.equal(e.code, 'upstream_error');
    assert.equal(e.status, 502);
    assert.equal(e.afterFirstByte, false);
    assert.deepEqual(e.attempts.map((a) => [a.model, a.kind]), [['a', 'http_5xx'], ['b', 'connect'], ['c', 'first_byte_timeout']]);
    assert.match(e.message, /all 3 candidate models failed: a \(http_5xx 502\), b \(connect\), c \(first_byte_timeout\)/);
    const body = JSON.parse(JSON.stringify(e));
    assert.equal(body.error.code, 'upstream_error');
    assert.equal(body.error.attempts.length, 3);
  });

  it('status: all 429 -> 429, all timeouts -> 504, all unsupported -> 400', async () => {
    assert.equal((await chainError(runFallback(['a', 'b'], fail('rate_limited', 429)))).status, 429);
    assert.equal((await chainError(runFallback(['a', 'b'], (m) => fail(m === 'a' ? 'timeout' : 'first_byte_timeout')()))).status, 504);
    assert.equal((await chainError(runFallback(['a'], fail('unsupported')))).status, 400);
  });

  it('a plain 4xx is not retried and keeps its status', async () => {
    const calls: string[] = [];
    const e = await chainError(runFallback(['a', 'b'], (m) => { calls.push(m); return fail('http_4xx', 422)(); }));
    assert.deepEqual(calls, ['a']);
    assert.equal(e.status, 422);
    assert.match(e.message, /upstream rejected the request/);
  });

  it('no retry once bytes reached the client', async () => {
    const calls: string[] = [];
    const e = await chainError(runFallback(['a', 'b'], (m) => { calls.push(m); return fail('network', undefined, true)(); }));
    assert.deepEqual(calls, ['a']);
    assert.equal(e.afterFirstByte, true);
    assert.match(e.message, /a failed mid-stream/);
  });

  it('stops on client abort', async () => {
    const ac = new AbortController();
    const calls: string[] = [];
    const e = await chainError(runFallback(['a', 'b'], (m) => { calls.push(m); ac.abort(); return fail('http_5xx', 500)(); }, { signal: ac.signal }));
    assert.deepEqual(calls, ['a']);
    assert.equal(e.aborted, true);
    assert.equal(e.status, 499);
  });

  it('skips degraded models, but tries everything when all would be skipped', async () => {
    const r = await runFallback(['a', 'b'], (m) => Promise.resolve(m), { skip: (m) => m === 'a' });
    assert.equal(r.model, 'b');
    assert.deepEqual(r.chain.map((a) => [a.model, a.outcome]), [['a', 'skipped'], ['b', 'ok']]);
    const all = await runFallback(['a', 'b'], (m) => Promise.resolve(m), { skip: () => true });
    assert.equal(all.model, 'a');
    assert.deepEqual(all.chain.map((a) => a.outcome), ['skipped', 'skipped', 'ok']);
  });

  it('redacts secrets in the recorded messages and rethrows non-upstream errors (bugs) untouched', async () => {
    secrets.add('sk-live-abcdefghijklmnop');
    const e = await chainError(runFallback(['a'], () => Promise.reject(new UpstreamError('auth', 'HTTP 401: Incorrect API key provided: sk-live-abcdefghijklmnop', 401))));
    assert.ok(!JSON.stringify(e).includes('sk-live-abcdefghijklmnop'));
    await assert.rejects(runFallback(['a'], () => Promise.reject(new TypeError('bug'))), TypeError);
  });
});

describe('ChatGateway fallback over the mock', () => {
  let mock: MockUpstream;
  let client: UpstreamClient;
  let deadPort: number;
  before(async () => {
    mock = await startMockUpstream({ chunks: 4 });
    client = new UpstreamClient();
    deadPort = await closedPort();
    secrets.add(OPENAI_KEY);
    secrets.add(ANTHROPIC_KEY);
  });
  after(async () => { await client.close(); await mock.close(); });
  beforeEach(() => mock.resetStats());

  function gateway(routes: Record<string, Backend[]>, health = new HealthTracker()): ChatGateway {
    const models = new Map<string, ModelRoute>(Object.entries(routes).map(([id, backends]) => [id, { id, backends, pricing: { prompt_per_1m: 1, completion_per_1m: 2 } }]));
    return new ChatGateway({ models, client, health, timeouts: { first_byte_ms: 1000 } });
  }
  const req = (stream: boolean): ChatRequest => ({ model: 'auto', stream, messages: [{ role: 'user', content: 'hi there' }] });

  it('500, 429, connect refused and first-byte timeout fall through to a working model (JSON)', async () => {
    const g = gateway({
      m500: [openaiBackend(mock.url, 'b500', 'u500', { 'x-mock-status': '500' })],
      m429: [anthropicBackend(mock.url, 'b429', 'u429', { 'x-mock-status': '429' })],
      dead: [openaiBackend(`http://127.0.0.1:${deadPort}`, 'bdead', 'udead')],
      slow: [openaiBackend(mock.url, 'bslow', 'uslow', { 'x-mock-latency-ms': '3000' })],
      good: [anthropicBackend(mock.url, 'bgood', 'claude-good')],
    });
    const r = await g.chat(req(false), ['m500', 'm429', 'dead', 'slow', 'good']);
    assert.equal(r.stream, false);
    if (r.stream) return;
    assert.equal(r.model, 'good');
    assert.equal(r.backend, 'bgood');
    assert.equal(r.completion.model, 'claude-good');
    assert.equal(r.completion.choices[0].message.content, 'This is a deterministic');
    assert.deepEqual(r.chain.map((a) => [a.model, a.outcome, a.kind]), [
      ['m500', 'failed', 'http_5xx'], ['m429', 'failed', 'rate_limited'], ['dead', 'failed', 'connect'], ['slow', 'failed', 'first_byte_timeout'], ['good', 'ok', undefined],
    ]);
    assert.deepEqual(r.usage, { prompt_tokens: 2, completion_tokens: 4, total_tokens: 6 });
    assert.equal(r.costUsd, (2 * 1 + 4 * 2) / 1e6);
    assert.equal(g.balancer.isDown('bdead'), true, 'a refused backend is marked down');
  });

  it('streaming: a model failing before its first byte is replaced; the client sees only the good stream', async () => {
    const g = gateway({
      dropped: [openaiBackend(mock.url, 'b1', 'u1', { 'x-mock-fail-before-first-byte': '1' })],
      errs: [anthropicBackend(mock.url, 'b2', 'u2', { 'x-mock-stream-error': '1' })],
      good: [openaiBackend(mock.url, 'b3', 'gpt-good')],
    });
    const r = await g.chat({ ...req(true), stream_options: { include_usage: true } }, ['dropped', 'errs', 'good']);
    assert.equal(r.stream, true);
    if (!r.stream) return;
    assert.deepEqual(r.chain.map((a) => [a.model, a.kind]), [['dropped', 'network'], ['errs', 'stream_error'], ['good', undefined]]);
    const chunks: ChatChunk[] = [];
    for await (const c of r.chunks) chunks.push(c);
    assert.equal(chunks[0].choices[0].delta.role, 'assistant');
    assert.equal(chunks.map((c) => c.choices[0]?.delta.content ?? '').join(''), 'This is a deterministic');
    assert.equal(chunks.at(-2)?.choices[0].finish_reason, 'stop');
    assert.deepEqual(chunks.at(-1)?.usage, { prompt_tokens: 2, completion_tokens: 4, total_tokens: 6 });
    const s = await r.finished;
    assert.equal(s.error, undefined);
    assert.deepEqual(s.usage, { prompt_tokens: 2, completion_tokens: 4, total_tokens: 6 });
    assert.equal(s.costUsd, 10 / 1e6);
  });

  it('no retry after the first byte: a mid-stream drop ends the stream with an error', async () => {
    const health = new HealthTracker();
    const g = gateway({ cut: [openaiBackend(mock.url, 'b1', 'u1', { 'x-mock-fail-after-chunks': '2' })], spare: [openaiBackend(mock.url, 'b2', 'u2')] }, health);
    const r = await g.chat(req(true), ['cut', 'spare']);
    assert.ok(r.stream);
    if (!r.stream) return;
    const got: string[] = [];
    let err: unknown;
    try { for await (const c of r.chunks) got.push(c.choices[0]?.delta.content ?? ''); } catch (e) { err = e; }
    assert.ok(err instanceof UpstreamError, String(err));
    assert.equal(err.afterFirstByte, true);
    assert.equal(err.retryable, false);
    assert.equal(got.join(''), 'This is');
    assert.equal(mock.stats().byModel.u2, undefined, 'the spare model was never called');
    assert.equal((await r.finished).error?.kind, 'network');
    assert.equal(health.entry('cut').failures, 1);
  });

  it('all candidates failing -> upstream_error with each failure, no secret in it', async () => {
    const g = gateway({
      a: [openaiBackend(mock.url, 'b1', 'u1', { 'x-mock-echo-key': '1' })],
      b: [anthropicBackend(mock.url, 'b2', 'u2', { 'x-mock-echo-key': '1' })],
      c: [openaiBackend(mock.url, 'b3', 'u3', { 'x-mock-status': '503' })],
    });
    const e = await chainError(g.chat(req(false), ['a', 'b', 'c', 'unknown']));
    assert.equal(e.status, 502);
    assert.deepEqual(e.attempts.map((x) => [x.model, x.kind, x.status]), [['a', 'auth', 401], ['b', 'auth', 401], ['c', 'http_5xx', 503], ['unknown', 'no_backend', undefined]]);
    const text = JSON.stringify(e) + e.message + e.attempts.map((x) => x.message).join();
    assert.ok(!text.includes(OPENAI_KEY) && !text.includes(ANTHROPIC_KEY), text);
    assert.match(e.attempts[0].message ?? '', /Incorrect API key provided: Bearer \[REDACTED\]/);
  });

  it('a client abort mid-stream cancels the upstream request', async () => {
    const g = gateway({ slow: [openaiBackend(mock.url, 'b1', 'u1', { 'x-mock-chunk-interval-ms': '50', 'x-mock-chunks': '100' })] });
    const ac = new AbortController();
    const r = await g.chat(req(true), ['slow'], ac.signal);
    assert.ok(r.stream);
    if (!r.stream) return;
    const it = r.chunks[Symbol.asyncIterator]();
    await it.next();
    await it.next();
    ac.abort();
    await assert.rejects(it.next(), (e: unknown) => e instanceof UpstreamError && e.kind === 'aborted');
    await waitFor(() => mock.stats().aborted === 1, 2000, 'the mock to see the abort');
    assert.equal((await r.finished).error?.kind, 'aborted');
  });

  it('round-robins over a model\'s backends and skips one marked down', async () => {
    const g = gateway({ m: [openaiBackend(mock.url, 'x1', 'ux1'), openaiBackend(`http://127.0.0.1:${deadPort}`, 'x2', 'ux2'), openaiBackend(mock.url, 'x3', 'ux3')] });
    const used: string[] = [];
    for (let i = 0; i < 6; i++) {
      try { const r = await g.chat(req(false), ['m']); used.push(r.backend); } catch (e) { used.push((e as UpstreamChainError).attempts[0].kind ?? '?'); }
    }
    assert.deepEqual(used, ['x1', 'connect', 'x3', 'x1', 'x3', 'x1']);
  });

  it('a tripped circuit breaker skips the model until its cool-down', async () => {
    let now = 0;
    const health = new HealthTracker({ failureThreshold: 2, cooldownMs: 1000, now: () => now });
    const g = gateway({ flaky: [openaiBackend(mock.url, 'f', 'uf', { 'x-mock-status': '500' })], ok: [openaiBackend(mock.url, 'o', 'uo')] }, health);
    for (let i = 0; i < 2; i++) assert.equal((await g.chat(req(false), ['flaky', 'ok'])).model, 'ok');
    assert.equal(health.isDegraded('flaky'), true);
    const r = await g.chat(req(false), ['flaky', 'ok']);
    assert.deepEqual(r.chain.map((a) => a.outcome), ['skipped', 'ok']);
    assert.equal(mock.stats().byModel.uf, 2);
    now = 1000;
    const probe = await g.chat(req(false), ['flaky', 'ok']);
    assert.deepEqual(probe.chain.map((a) => a.outcome), ['failed', 'ok'], 'one probe after the cool-down');
    assert.equal(health.state('flaky'), 'open');
  });
});
