/**
 * Failure handling through the real server: fallback on 500 / 429 / connect
 * refused / first-byte timeout, 502 upstream_error listing every candidate,
 * a mid-stream failure ending the stream with an error event, the circuit
 * breaker opening and closing (short cool-downs from config), and secrets: an
 * upstream 401 that echoes the API key reaches neither the client nor the logs.
 *
 * With cost_weight 1000 the router ranks candidates by price alone, so the
 * chain order is known: mistral-7b < WizardLM < mixtral < code-llama < gpt-4.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import diagnostics_channel from 'node:diagnostics_channel';
import { createServer } from 'node:http';
import { CHANNEL_NAMES } from '../../src/diagnostics.ts';
import { attachConsoleLog } from '../../src/log.ts';
import { anthropicModel, chat, closedPort, KEYS, openaiModel, sseLines, startFlipUpstream, startGateway, startMocks, user, type Mocks } from './helpers.ts';

const CHEAPEST_FIRST = 1000;

let mocks: Mocks;
let dead: string;
before(async () => {
  mocks = await startMocks({ chunks: 4 });
  dead = `http://127.0.0.1:${await closedPort()}/v1`;
});
after(async () => { await mocks.close(); });

describe('fallback', () => {
  it('500, 429, connect refused and first-byte timeout each fall through to the next candidate', async () => {
    const gw = await startGateway({
      models: [
        openaiModel('mistralai/mistral-7b-chat', mocks.oa, { headers: { 'x-mock-status': '500' } }),
        anthropicModel('WizardLM/WizardLM-13B-V1.2', mocks.an, { headers: { 'x-mock-status': '429' } }),
        openaiModel('mistralai/mixtral-8x7b-chat', dead),
        openaiModel('meta/code-llama-instruct-34b-chat', mocks.oa, { headers: { 'x-mock-latency-ms': '3000' }, timeouts: { first_byte_ms: 150 } }),
        anthropicModel('gpt-4-1106-preview', mocks.an, { pricing: { prompt_per_1m: 10, completion_per_1m: 30 } }),
      ],
      health: { failure_threshold: 100 },
    });
    try {
      for (const stream of [false, true]) {
        const r = await chat(gw.base, { model: 'auto', messages: user('Prove that the square root of 2 is irrational.'), cost_weight: CHEAPEST_FIRST, stream });
        assert.equal(r.status, 200, r.text);
        assert.equal(r.headers.get('x-switchyard-model'), 'gpt-4-1106-preview');
        assert.equal(r.headers.get('x-switchyard-reason'), 'fallback');
        assert.equal(r.headers.get('x-switchyard-candidates'), 'mistralai/mistral-7b-chat,WizardLM/WizardLM-13B-V1.2,mistralai/mixtral-8x7b-chat,meta/code-llama-instruct-34b-chat,gpt-4-1106-preview');
        if (!stream) {
          assert.deepEqual(r.json.switchyard.attempts.map((a: any) => [a.model, a.outcome, a.kind, a.status]), [
            ['mistralai/mistral-7b-chat', 'failed', 'http_5xx', 500],
            ['WizardLM/WizardLM-13B-V1.2', 'failed', 'rate_limited', 429],
            ['mistralai/mixtral-8x7b-chat', 'failed', 'connect', undefined],
            ['meta/code-llama-instruct-34b-chat', 'failed', 'first_byte_timeout', undefined],
            ['gpt-4-1106-preview', 'ok', undefined, undefined],
          ]);
          assert.equal(r.json.choices[0].message.content, 'This is a deterministic');
        } else {
          const { data } = sseLines(r.text);
          assert.equal(data.at(-1), '[DONE]');
          assert.equal(data.slice(0, -1).map((d) => JSON.parse(d).choices[0]?.delta.content ?? '').join(''), 'This is a deterministic', 'only the good stream reached the client');
        }
      }
    } finally { await gw.close(); }
  });

  it('every candidate failing -> 502 upstream_error listing each failure (OpenAI shape)', async () => {
    const gw = await startGateway({
      models: [
        openaiModel('mistralai/mistral-7b-chat', mocks.oa, { headers: { 'x-mock-status': '503' } }),
        openaiModel('WizardLM/WizardLM-13B-V1.2', dead),
        anthropicModel('mistralai/mixtral-8x7b-chat', mocks.an, { headers: { 'x-mock-stream-error': '1' } }),
      ],
      health: { failure_threshold: 100 },
    });
    try {
      const r = await chat(gw.base, { model: 'auto', messages: user('What is the capital of Australia?'), cost_weight: CHEAPEST_FIRST, stream: true });
      assert.equal(r.status, 502, r.text);
      assert.equal(r.json.error.code, 'upstream_error');
      assert.equal(r.json.error.type, 'upstream_error');
      assert.match(r.json.error.message, /all 3 candidate models failed: mistralai\/mistral-7b-chat \(http_5xx 503\), WizardLM\/WizardLM-13B-V1.2 \(connect\), mistralai\/mixtral-8x7b-chat \(stream_error\)/);
      assert.deepEqual(r.json.error.attempts.map((a: any) => [a.model, a.kind]), [
        ['mistralai/mistral-7b-chat', 'http_5xx'], ['WizardLM/WizardLM-13B-V1.2', 'connect'], ['mistralai/mixtral-8x7b-chat', 'stream_error'],
      ]);
      for (const a of r.json.error.attempts) assert.equal(typeof a.message, 'string');
    } finally { await gw.close(); }
  });

  it('all 429 -> 429 upstream_rate_limited; all timeouts -> 504 upstream_timeout; an explicit model never falls back', async () => {
    const gw = await startGateway({
      models: [
        openaiModel('limited', mocks.oa, { headers: { 'x-mock-status': '429' } }),
        openaiModel('slow', mocks.oa, { headers: { 'x-mock-latency-ms': '3000' }, timeouts: { first_byte_ms: 100 } }),
        openaiModel('mistralai/mistral-7b-chat', mocks.oa),
      ],
    });
    try {
      const r429 = await chat(gw.base, { model: 'limited', messages: user('hi') });
      assert.equal(r429.status, 429);
      assert.equal(r429.json.error.code, 'upstream_rate_limited');
      assert.equal(r429.json.error.type, 'rate_limit_error');
      const r504 = await chat(gw.base, { model: 'slow', messages: user('hi') });
      assert.equal(r504.status, 504);
      assert.equal(r504.json.error.code, 'upstream_timeout');
      assert.deepEqual(r504.json.error.attempts.map((a: any) => a.model), ['slow'], 'no substitution for an explicit model');
    } finally { await gw.close(); }
  });

  it('a failure after the first byte ends the stream with an SSE error event, no [DONE], no retry', async () => {
    const gw = await startGateway({ models: [openaiModel('cut', mocks.oa, { headers: { 'x-mock-fail-after-chunks': '2', 'x-mock-chunk-interval-ms': '5' } })] });
    try {
      const r = await chat(gw.base, { model: 'cut', messages: user('hi'), stream: true });
      assert.equal(r.status, 200);
      const { data } = sseLines(r.text);
      assert.notEqual(data.at(-1), '[DONE]');
      const err = JSON.parse(data.at(-1)!);
      assert.equal(err.error.type, 'upstream_error');
      assert.equal(err.error.code, 'network');
      assert.match(err.error.message, /cut failed mid-stream/);
      assert.equal(data.slice(0, -1).map((d) => JSON.parse(d).choices[0]?.delta.content ?? '').join(''), 'This is');
    } finally { await gw.close(); }
  });
});

describe('circuit breaker', () => {
  it('opens after failure_threshold failures (the model leaves the candidates), probes after the cool-down, closes on success', async () => {
    const flip = await startFlipUpstream();
    // Two HTTP threads and a new connection per request: the kernel spreads them over both
    // threads, so the breaker only behaves if its state is shared (providers/health.ts).
    const gw = await startGateway({
      models: [openaiModel('mistralai/mistral-7b-chat', flip.url), openaiModel('gpt-4-1106-preview', mocks.oa)],
      health: { failure_threshold: 2, cooldown_ms: 400 },
    }, { server: { threads: 2 } });
    assert.equal(gw.server.threads, 2);
    const body = { model: 'auto', messages: user('Write a haiku about routers.'), cost_weight: CHEAPEST_FIRST };
    const close = { connection: 'close' };
    const health = async () => ((await (await fetch(`${gw.base}/v1/model-health?models=mistralai/mistral-7b-chat`, { headers: close })).json()) as any).health[0];
    try {
      for (let i = 0; i < 2; i++) {
        const r = await chat(gw.base, body, close);
        assert.equal(r.headers.get('x-switchyard-model'), 'gpt-4-1106-preview');
        assert.equal(r.headers.get('x-switchyard-reason'), 'fallback');
      }
      assert.equal(flip.calls, 2);
      let h = await health();
      assert.equal(h.degraded, true);
      assert.equal(h.health_entry.state, 'open');
      assert.equal(h.health_entry.consecutiveFailures, 2);

      const skipped = await chat(gw.base, body, close);
      assert.equal(skipped.headers.get('x-switchyard-candidates'), 'gpt-4-1106-preview', 'a degraded model is left out of routing');
      assert.equal(skipped.headers.get('x-switchyard-reason'), 'routed');
      assert.equal(flip.calls, 2, 'the open breaker kept traffic away');

      await new Promise((r) => setTimeout(r, 450));
      assert.equal((await health()).degraded, false, 'cool-down over');
      flip.failing = false;
      const probe = await chat(gw.base, body, close);
      assert.equal(probe.status, 200);
      assert.equal(probe.headers.get('x-switchyard-model'), 'mistralai/mistral-7b-chat', 'the probe went through and succeeded');
      assert.equal(flip.calls, 3);
      h = await health();
      assert.equal(h.health_entry.state, 'closed');
      assert.equal(h.degraded, false);
      assert.equal(h.health_entry.consecutiveFailures, 0);
      const again = await chat(gw.base, body, close);
      assert.equal(again.headers.get('x-switchyard-model'), 'mistralai/mistral-7b-chat');
      assert.equal(again.headers.get('x-switchyard-reason'), 'routed');
    } finally { await gw.close(); await flip.close(); }
  });
});

describe('secrets', () => {
  it('an upstream 401 echoing the key reaches neither the client nor the logs nor any diagnostics message', async () => {
    const lines: string[] = [];
    const detach = attachConsoleLog((l) => lines.push(l));
    const seen: string[] = [];
    const sub = (m: unknown, name: string | symbol) => { seen.push(`${String(name)} ${JSON.stringify(m, (_k, v) => (v instanceof Error ? { message: v.message, stack: v.stack } : v))}`); };
    for (const n of Object.values(CHANNEL_NAMES)) diagnostics_channel.subscribe(n, sub);
    const gw = await startGateway({
      models: [
        openaiModel('mistralai/mistral-7b-chat', mocks.oa, { headers: { 'x-mock-echo-key': '1' } }),
        anthropicModel('WizardLM/WizardLM-13B-V1.2', mocks.an, { headers: { 'x-mock-echo-key': '1' } }),
      ],
    }, { server: { threads: 1 } }); // per-request channels publish on the serving thread: keep it this one
    try {
      const bodies: string[] = [];
      for (const stream of [false, true]) {
        const r = await chat(gw.base, { model: 'auto', messages: user('Tell me a secret.'), cost_weight: CHEAPEST_FIRST, stream });
        assert.equal(r.status, 502, r.text);
        assert.deepEqual(r.json.error.attempts.map((a: any) => [a.kind, a.status]), [['auth', 401], ['auth', 401]]);
        assert.match(r.json.error.attempts[0].message, /Incorrect API key provided: Bearer \[REDACTED\]/, 'the upstream did get (and echo) a key');
        assert.match(r.json.error.attempts[1].message, /Incorrect API key provided: \[REDACTED\]/);
        bodies.push(r.text, JSON.stringify([...r.headers]));
      }
      for (const name of ['mistralai/mistral-7b-chat', 'WizardLM/WizardLM-13B-V1.2']) {
        const r = await chat(gw.base, { model: name, messages: user('again') });
        bodies.push(r.text);
      }
      const everything = [...bodies, ...lines, ...seen].join('\n');
      assert.ok(seen.some((s) => s.includes('switchyard:chat:completion')), 'the chat channel was published');
      for (const key of Object.values(KEYS)) assert.ok(!everything.includes(key), `a key leaked: ${key}`);
    } finally {
      await gw.close();
      detach();
      for (const n of Object.values(CHANNEL_NAMES)) diagnostics_channel.unsubscribe(n, sub);
    }
  });

  it('an error event after the first chunk that quotes the key ends the stream redacted (regression: fuzz)', async () => {
    // The upstream sends its error only once the client holds the first chunk: the mid-stream path, every time.
    let release: (() => void) | null = null;
    const upstream = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        const key = String(req.headers.authorization ?? req.headers['x-api-key']);
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        if (req.url!.endsWith('/messages')) {
          res.write('event: message_start\ndata: {"type":"message_start","message":{"id":"m","model":"c","usage":{"input_tokens":1}}}\n\n'
            + 'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}}\n\n');
          release = () => res.end(`event: error\ndata: ${JSON.stringify({ type: 'error', error: { type: 'authentication_error', message: `invalid x-api-key: ${key}` } })}\n\n`);
        } else {
          res.write('data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"Hello"},"finish_reason":null}]}\n\n');
          release = () => res.end(`data: ${JSON.stringify({ error: { message: `Incorrect API key provided: ${key}` } })}\n\n`);
        }
      });
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
    const url = `http://127.0.0.1:${(upstream.address() as { port: number }).port}`;
    const gw = await startGateway({ models: [openaiModel('echo-oa', `${url}/v1`), anthropicModel('echo-an', url)] });
    try {
      for (const model of ['echo-oa', 'echo-an']) {
        release = null;
        const res = await fetch(`${gw.base}/v1/chat/completions`, { method: 'POST', body: JSON.stringify({ model, stream: true, messages: user('hi') }) });
        assert.equal(res.status, 200);
        const reader = res.body!.getReader();
        const dec = new TextDecoder();
        let text = '';
        while (!text.includes('Hello')) text += dec.decode((await reader.read()).value, { stream: true });
        (release as (() => void) | null)?.();
        for (let r = await reader.read(); !r.done; r = await reader.read()) text += dec.decode(r.value, { stream: true });
        for (const key of Object.values(KEYS)) assert.ok(!text.includes(key), `a key leaked: ${text}`);
        const err = JSON.parse(sseLines(text).data.at(-1)!).error;
        assert.equal(err.code, 'stream_error');
        assert.match(err.message, new RegExp(`${model} failed mid-stream: .*\\[REDACTED\\]`));
      }
    } finally { await gw.close(); await new Promise<void>((r) => { upstream.closeAllConnections(); upstream.close(() => r()); }); }
  });
});
