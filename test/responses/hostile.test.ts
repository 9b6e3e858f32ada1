/**
 * POST /v1/responses against upstreams that misbehave, and clients that do:
 * garbage before the first byte (502 in OpenAI's shape, nothing streamed),
 * errors, resets and unreadable events mid-stream (the stream ends with
 * response.failed, keys redacted), odd chunk shapes (still completed), a
 * client that stops reading (the upstream read stalls: backpressure) and one
 * that goes away (the upstream request is cancelled).
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server as HttpServer } from 'node:http';
import { connect } from 'node:net';
import { KEYS, waitFor, type Gateway } from '../gateway/helpers.ts';
import { openaiModel, post, sseEvents, startMocks, startResponsesGateway, startScriptedUpstream, type Answer, type Mocks, type ScriptedUpstream } from './helpers.ts';

const chunk = (delta: unknown, finish: string | null = null) => `data: ${JSON.stringify({ id: 'h', object: 'chat.completion.chunk', created: 1, model: 'h', choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
const KEY = KEYS.SWITCHYARD_TEST_OPENAI_KEY;

const SCENARIOS: Record<string, Answer> = {
  'garbage-first': { sse: ['data: this is not json\n\n', 'data: [DONE]\n\n'] },
  'garbage-json': { status: 200, body: '{"choices": 5' },
  'status-500': { status: 500, body: '{"error":{"message":"down"}}' },
  // Held after 'Hello' until the client has seen it (upstream.release()), so the failure lands mid-stream.
  'error-midstream': { sse: [chunk({ role: 'assistant', content: '' }), chunk({ content: 'Hello' }), `data: {"error":{"message":"overloaded, key ${KEY}","type":"server_error"}}\n\n`], holdAt: 2 },
  'cut': { sse: [chunk({ role: 'assistant', content: '' }), chunk({ content: 'Hello' }), chunk({ content: ' wor' })], cut: true, holdAt: 2 },
  'bad-event-midstream': { sse: [chunk({ content: 'Hello' }), 'data: {"id":broken}\n\n', chunk({}, 'stop'), 'data: [DONE]\n\n'], holdAt: 1 },
  'odd-shapes': {
    sse: [chunk({ content: 'ok' }), chunk({ tool_calls: 'x' }), chunk({ tool_calls: [{ index: 'a', function: 5 }] }), 'data: {"id":"h","object":"chat.completion.chunk","choices":[null]}\n\n',
      chunk({ content: 7 }), chunk({}, 'stop'), 'data: [DONE]\n\n'],
  },
};

let up: ScriptedUpstream;
let mocks: Mocks;
let bulk: HttpServer;
const bulkState = { written: 0, done: false, aborted: false };
let gw: Gateway;

before(async () => {
  up = await startScriptedUpstream((b) => SCENARIOS[b?.messages?.at(-1)?.content] ?? { status: 400, body: '{"error":{"message":"unknown scenario"}}' });
  mocks = await startMocks({ chunks: 5 });
  // Streams 16 KB pieces as fast as its socket takes them, counting what it wrote.
  bulk = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.on('close', () => { if (!res.writableFinished) bulkState.aborted = true; });
      const piece = 'x'.repeat(16 * 1024);
      let i = 0;
      const pump = (): void => {
        while (i < 100_000) {
          const s = chunk({ content: `<${i++}>${piece}` });
          bulkState.written += s.length;
          if (!res.write(s)) { res.once('drain', pump); return; }
        }
        res.end(chunk({}, 'stop') + 'data: [DONE]\n\n');
        bulkState.done = true;
      };
      res.write(chunk({ role: 'assistant', content: '' }));
      pump();
    });
  });
  await new Promise<void>((r) => bulk.listen(0, '127.0.0.1', () => r()));
  const bulkUrl = `http://127.0.0.1:${(bulk.address() as { port: number }).port}/v1`;
  gw = await startResponsesGateway({
    models: [
      openaiModel('hostile', up.url),
      openaiModel('bulk', bulkUrl),
      openaiModel('slow', mocks.oa, { headers: { 'x-mock-chunks': '500', 'x-mock-chunk-interval-ms': '20' } }),
      openaiModel('breaks', mocks.oa, { headers: { 'x-mock-fail-after-chunks': '2', 'x-mock-chunk-interval-ms': '5' } }),
    ],
  });
});
after(async () => {
  await gw.close();
  await up.close();
  await mocks.close();
  bulk.closeAllConnections();
  await new Promise<void>((r) => bulk.close(() => r()));
});

const create = (scenario: string, stream: boolean) => post(gw.base, { model: 'hostile', input: scenario, stream });

describe('hostile upstreams', () => {
  it('garbage, a malformed JSON answer or a 500 before the first byte: 502 upstream_error in OpenAI\'s shape, never a 500', async () => {
    for (const [scenario, stream] of [['garbage-first', true], ['garbage-json', false], ['status-500', false], ['status-500', true]] as const) {
      const r = await create(scenario, stream);
      assert.equal(r.status, 502, `${scenario}: ${r.text.slice(0, 300)}`);
      assert.equal(r.json.error.code, 'upstream_error');
      assert.equal(r.json.error.type, 'upstream_error');
      assert.ok(Array.isArray(r.json.error.attempts));
    }
  });

  it('an error event, a reset, or an unreadable event mid-stream: the stream ends with response.failed', async () => {
    for (const scenario of ['error-midstream', 'cut', 'bad-event-midstream']) {
      const res = await fetch(`${gw.base}/v1/responses`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'hostile', input: scenario, stream: true }) });
      assert.equal(res.status, 200, scenario);
      const reader = res.body!.getReader();
      const dec = new TextDecoder();
      let text = '';
      let released = false;
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        text += dec.decode(value, { stream: true });
        if (!released && text.includes('response.output_text.delta')) { released = true; up.release(); }
      }
      const r = { text };
      const events = sseEvents(r.text);
      const last = events.at(-1)!.data;
      assert.equal(last.type, 'response.failed', `${scenario}: ${r.text.slice(-500)}`);
      assert.equal(last.response.status, 'failed');
      assert.equal(last.response.error.code, 'server_error');
      assert.match(last.response.error.message, /hostile failed mid-stream/);
      assert.equal(last.response.output[0].content[0].text.startsWith('Hello'), true, scenario);
      assert.equal(last.response.output[0].status, 'incomplete');
      assert.deepEqual(events.map((e) => e.data.sequence_number), events.map((_, i) => i));
      assert.ok(!r.text.includes(KEY), 'an upstream key reached the client');
      // A failed stream is not stored as a success.
      const got = await fetch(`${gw.base}/v1/responses/${last.response.id}`);
      assert.equal(got.status, 404);
    }
  });

  it('the mock closing its socket after two chunks: response.failed', async () => {
    const r = await post(gw.base, { model: 'breaks', input: 'hi', stream: true });
    const last = sseEvents(r.text).at(-1)!.data;
    assert.equal(last.type, 'response.failed');
    assert.equal(last.response.output[0].content[0].text, 'This is');
  });

  it('odd chunk shapes after a good first chunk are skipped: the stream completes', async () => {
    const r = await create('odd-shapes', true);
    const last = sseEvents(r.text).at(-1)!.data;
    assert.equal(last.type, 'response.completed', r.text.slice(-500));
    assert.equal(last.response.output[0].content[0].text, 'ok');
  });

  it('the server still answers after all of it', async () => {
    const h = await fetch(`${gw.base}/health`);
    assert.equal(h.status, 200);
  });
});

describe('clients that stop reading or go away', () => {
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

  it('a paused client stalls the upstream read (backpressure); closing the socket cancels the upstream request', async () => {
    const body = JSON.stringify({ model: 'bulk', input: 'a lot please', stream: true, store: false });
    const sock = connect(gw.server.port, '127.0.0.1');
    const parts: Buffer[] = [];
    sock.on('data', (b) => parts.push(b));
    await new Promise<void>((r) => sock.once('connect', () => r()));
    sock.write(`POST /v1/responses HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    while (!Buffer.concat(parts).includes('response.output_text.delta')) await sleep(5);
    sock.pause();
    // The upstream's count must hold still for 500 ms (polled: a slow machine only takes longer).
    let w1 = -1, w2 = bulkState.written, still = 0;
    for (const t0 = Date.now(); still < 500 && Date.now() - t0 < 30_000 && !bulkState.done; ) {
      await sleep(50);
      w1 = w2; w2 = bulkState.written;
      still = w2 === w1 ? still + 50 : 0;
    }
    assert.ok(!bulkState.done, 'the upstream finished (1.6 GB) while the client was paused: nothing held it back');
    assert.equal(w2, w1, 'the upstream stalled');
    sock.destroy();
    await waitFor(() => bulkState.aborted, 10_000, 'the upstream request to be cancelled');
  });

  it('a client that aborts a streamed response cancels the upstream request', async () => {
    const before = mocks.oa.stats().aborted;
    const ac = new AbortController();
    const res = await fetch(`${gw.base}/v1/responses`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'slow', input: 'hi', stream: true }), signal: ac.signal });
    const reader = res.body!.getReader();
    let seen = '';
    while (!seen.includes('response.output_text.delta')) seen += new TextDecoder().decode((await reader.read()).value);
    ac.abort();
    await waitFor(() => mocks.oa.stats().aborted > before, 10_000, 'the mock to see the request cancelled');
    const after = await post(gw.base, { model: 'breaks', input: 'still here?', stream: false });
    assert.equal(after.status, 200);
  });
});
