import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { anthropic, toAnthropicRequest, finishReason, ANTHROPIC_VERSION, DEFAULT_MAX_TOKENS } from '../../src/providers/anthropic.ts';
import { UpstreamError } from '../../src/providers/failure.ts';
import { secrets } from '../../src/providers/redact.ts';
import { SseParser, type SseEvent } from '../../src/streaming/sse-parser.ts';
import type { Backend, ChatChunk, ChatRequest } from '../../src/providers/types.ts';
import { startMockUpstream, type MockUpstream } from '../../scripts/mock-upstream.ts';

const backend: Backend = { id: 'a1', provider: 'anthropic', baseUrl: 'https://api.anthropic.com', upstreamModel: 'claude-3-5-haiku-latest', apiKey: 'sk-ant-test-key-123456' };

function events(text: string): SseEvent[] {
  const out: SseEvent[] = [];
  new SseParser().push(new TextEncoder().encode(text), out);
  return out;
}

function transform(evs: SseEvent[], includeUsage: boolean): { chunks: ChatChunk[]; tx: ReturnType<typeof anthropic.createStreamTransformer> } {
  const tx = anthropic.createStreamTransformer({ includeUsage, created: 123 });
  const chunks: ChatChunk[] = [];
  for (const ev of evs) tx.push(ev, chunks);
  tx.end(chunks);
  return { chunks, tx };
}

describe('anthropic request conversion', () => {
  it('moves system messages to `system`, merges same-role turns, maps stop/temperature/top_p', () => {
    const req: ChatRequest = {
      model: 'routing-name',
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'developer', content: [{ type: 'text', text: 'Answer in English.' }] },
        { role: 'user', content: 'Hi' },
        { role: 'user', content: [{ type: 'text', text: 'Second part' }, { type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA' } }] },
        { role: 'assistant', content: 'Hello!' },
        { role: 'user', content: 'Bye' },
      ],
      stop: 'END',
      temperature: 1.7,
      top_p: 0.9,
      user: 'u-1',
    };
    const out = toAnthropicRequest(req, backend);
    assert.deepEqual(out, {
      model: 'claude-3-5-haiku-latest',
      max_tokens: DEFAULT_MAX_TOKENS,
      system: 'Be brief.\n\nAnswer in English.',
      messages: [
        { role: 'user', content: [{ type: 'text', text: 'Hi' }, { type: 'text', text: 'Second part' }, { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'AAAA' } }] },
        { role: 'assistant', content: [{ type: 'text', text: 'Hello!' }] },
        { role: 'user', content: [{ type: 'text', text: 'Bye' }] },
      ],
      stop_sequences: ['END'],
      temperature: 1,
      top_p: 0.9,
      metadata: { user_id: 'u-1' },
    });
  });

  it('takes max_completion_tokens, then max_tokens, then the backend default', () => {
    const base: ChatRequest = { model: 'm', messages: [{ role: 'user', content: 'x' }] };
    assert.equal(toAnthropicRequest({ ...base, max_completion_tokens: 10, max_tokens: 20 }, backend).max_tokens, 10);
    assert.equal(toAnthropicRequest({ ...base, max_tokens: 20 }, backend).max_tokens, 20);
    assert.equal(toAnthropicRequest(base, { ...backend, defaultMaxTokens: 4096 }).max_tokens, 4096);
    assert.deepEqual(toAnthropicRequest({ ...base, stop: ['a', 'b'], stream: true }, backend).stop_sequences, ['a', 'b']);
    assert.equal(toAnthropicRequest({ ...base, stream: true }, backend).stream, true);
  });

  it('refuses what it cannot express, as a retryable "unsupported" failure', () => {
    const base: ChatRequest = { model: 'm', messages: [{ role: 'user', content: 'x' }] };
    const audio = [{ type: 'input_audio', input_audio: { data: 'AAAA', format: 'wav' } }];
    for (const bad of [{ ...base, n: 2 }, { ...base, tools: [{ type: 'custom', custom: { name: 'grammar' } }] }, { ...base, messages: [{ role: 'user' as const, content: audio }] }, { ...base, messages: [{ role: 'system' as const, content: 'only a system prompt' }] }]) {
      assert.throws(() => toAnthropicRequest(bad, backend), (e: unknown) => e instanceof UpstreamError && e.kind === 'unsupported' && e.retryable);
    }
  });

  it('builds the HTTP request with x-api-key and anthropic-version', () => {
    const spec = anthropic.buildRequest({ model: 'm', messages: [{ role: 'user', content: 'x' }] }, { ...backend, headers: { 'x-extra': '1' } });
    assert.equal(spec.path, '/v1/messages');
    assert.equal(spec.headers['x-api-key'], backend.apiKey);
    assert.equal(spec.headers['anthropic-version'], ANTHROPIC_VERSION);
    assert.equal(spec.headers['x-extra'], '1');
    assert.equal(spec.headers.authorization, undefined);
    assert.equal(JSON.parse(spec.body).model, 'claude-3-5-haiku-latest');
  });
});

describe('anthropic response conversion', () => {
  it('turns a message into a chat.completion', () => {
    const c = anthropic.parseResponse({
      id: 'msg_1', type: 'message', role: 'assistant', model: 'claude-x',
      content: [{ type: 'text', text: 'Hello ' }, { type: 'tool_use', id: 't', name: 'f', input: {} }, { type: 'text', text: 'world' }],
      stop_reason: 'max_tokens', stop_sequence: null,
      usage: { input_tokens: 10, output_tokens: 5, cache_read_input_tokens: 3 },
    }, 77);
    assert.deepEqual(c, {
      id: 'msg_1', object: 'chat.completion', created: 77, model: 'claude-x',
      choices: [{
        index: 0,
        message: { role: 'assistant', content: 'Hello world', refusal: null, tool_calls: [{ id: 't', type: 'function', function: { name: 'f', arguments: '{}' } }] },
        logprobs: null,
        finish_reason: 'length',
      }],
      usage: { prompt_tokens: 13, completion_tokens: 5, total_tokens: 18 },
    });
    assert.throws(() => anthropic.parseResponse({ nope: 1 }, 0), (e: unknown) => e instanceof UpstreamError && e.kind === 'bad_response');
  });

  it('a malformed message still converts to well-typed output: counts that are not counts are 0, ids and names strings (regression: fuzz)', () => {
    // Was: "prompt_tokens":"abc00" (string concatenation), an object id, a NaN cost downstream.
    const c = anthropic.parseResponse({
      id: { a: 1 }, model: [1], stop_reason: 5,
      content: [null, 5, 'x', { type: 'text', text: 'hi' }, { type: 'text', text: 7 }],
      usage: { input_tokens: 'abc', output_tokens: {}, cache_read_input_tokens: -3, cache_creation_input_tokens: 1e308 },
    }, 1);
    assert.equal(c.id, 'msg');
    assert.equal(c.model, '');
    assert.equal(c.choices[0].message.content, 'hi');
    assert.equal(c.choices[0].finish_reason, 'stop', 'an unknown stop reason');
    assert.deepEqual(c.usage, { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 });
    for (const usage of ['lots', 5, null, [1]]) assert.deepEqual(anthropic.parseResponse({ content: [], usage }, 1).usage, { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 });
    assert.deepEqual(anthropic.parseResponse({ content: [], usage: { input_tokens: 2, output_tokens: 3, cache_read_input_tokens: '7' } }, 1).usage, { prompt_tokens: 2, completion_tokens: 3, total_tokens: 5 });
  });

  it('maps stop reasons', () => {
    assert.equal(finishReason('end_turn'), 'stop');
    assert.equal(finishReason('stop_sequence'), 'stop');
    assert.equal(finishReason('max_tokens'), 'length');
    assert.equal(finishReason('tool_use'), 'tool_calls');
    assert.equal(finishReason('refusal'), 'content_filter');
    assert.equal(finishReason(null), null);
  });
});

describe('anthropic stream conversion', () => {
  let mock: MockUpstream;
  before(async () => { mock = await startMockUpstream({ chunks: 4 }); });
  after(() => mock.close());

  async function mockStream(): Promise<string> {
    const res = await fetch(`${mock.url}/v1/messages`, {
      method: 'POST',
      body: JSON.stringify({ model: 'claude-mock', stream: true, max_tokens: 100, messages: [{ role: 'user', content: 'Say hello please' }] }),
    });
    return res.text();
  }

  it('turns the mock\'s real event sequence into ordered OpenAI chunks with finish_reason and usage', async () => {
    const evs = events(await mockStream());
    assert.deepEqual(evs.map((e) => e.event), [
      'message_start', 'content_block_start', 'ping', 'content_block_delta', 'content_block_delta', 'content_block_delta', 'content_block_delta',
      'content_block_stop', 'message_delta', 'message_stop',
    ]);
    const { chunks, tx } = transform(evs, true);
    assert.equal(chunks.length, 1 + 4 + 1 + 1);
    assert.deepEqual(chunks[0].choices[0].delta, { role: 'assistant', content: '' });
    assert.equal(chunks[0].model, 'claude-mock');
    assert.equal(chunks[0].id, 'msg_mock');
    assert.ok(chunks.every((c) => c.object === 'chat.completion.chunk' && c.created === 123));
    const text = chunks.slice(1, 5).map((c) => c.choices[0].delta.content).join('');
    assert.equal(text, 'This is a deterministic');
    assert.ok(chunks.slice(0, 5).every((c) => c.choices[0].finish_reason === null && c.usage === null));
    assert.equal(chunks[5].choices[0].finish_reason, 'stop');
    assert.deepEqual(chunks[5].choices[0].delta, {});
    assert.deepEqual(chunks[6].choices, []);
    assert.deepEqual(chunks[6].usage, { prompt_tokens: 4, completion_tokens: 4, total_tokens: 8 });
    assert.equal(tx.done, true);
    assert.deepEqual(tx.usage, chunks[6].usage);
  });

  it('omits the usage chunk and usage fields when include_usage is off, but still tracks usage', async () => {
    const { chunks, tx } = transform(events(await mockStream()), false);
    assert.equal(chunks.length, 6);
    assert.ok(chunks.every((c) => !('usage' in c)));
    assert.equal(tx.usage?.completion_tokens, 4);
  });

  it('raises an error event as stream_error; tolerates unknown events', () => {
    const tx = anthropic.createStreamTransformer({ includeUsage: false, created: 0 });
    const out: ChatChunk[] = [];
    for (const ev of events('event: future_event\ndata: {"type":"future_event"}\n\n')) tx.push(ev, out);
    assert.equal(out.length, 0);
    const [err] = events('event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}\n\n');
    assert.throws(() => tx.push(err, out), (e: unknown) => e instanceof UpstreamError && e.kind === 'stream_error' && /overloaded_error: Overloaded/.test(e.message));
  });

  it('malformed events: wrong types become well-typed chunks, non-objects fail, error messages are redacted and clipped (regression: fuzz)', () => {
    const tx = anthropic.createStreamTransformer({ includeUsage: true, created: 0 });
    const out: ChatChunk[] = [];
    const text = 'event: message_start\ndata: {"type":"message_start","message":{"id":5,"model":{},"usage":{"input_tokens":"x","output_tokens":-1}}}\n\n'
      + 'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"hi"}}\n\n'
      + 'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":"9"}}\n\n'
      + 'event: message_stop\ndata: {"type":"message_stop"}\n\n';
    for (const ev of events(text)) tx.push(ev, out);
    assert.ok(out.every((c) => c.id === '' && c.model === ''), JSON.stringify(out[0]));
    assert.deepEqual(out.at(-1)!.usage, { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 });
    for (const data of ['null', '5', '"str"']) {
      const [ev] = events(`data: ${data}\n\n`);
      assert.throws(() => anthropic.createStreamTransformer({ includeUsage: false, created: 0 }).push(ev, []), (e: unknown) => e instanceof UpstreamError && e.kind === 'bad_response', data);
    }
    const key = secrets.add('anthropic-key-not-shaped-like-one-77');
    for (const error of [{ type: 'authentication_error', message: `invalid x-api-key ${key}` }, { type: {}, message: [1] }, { type: 'x', message: 'm'.repeat(100_000) }]) {
      const [ev] = events(`event: error\ndata: ${JSON.stringify({ type: 'error', error })}\n\n`);
      assert.throws(() => anthropic.createStreamTransformer({ includeUsage: false, created: 0 }).push(ev, []), (e: unknown) => {
        assert.ok(e instanceof UpstreamError && e.kind === 'stream_error');
        assert.ok(!e.message.includes(key), e.message);
        assert.ok(e.message.length < 400 && !e.message.includes('[object'), e.message.slice(0, 100));
        return true;
      });
    }
  });

  it('keeps partial usage when the stream is cut before message_stop', () => {
    const tx = anthropic.createStreamTransformer({ includeUsage: true, created: 0 });
    const out: ChatChunk[] = [];
    for (const ev of events('event: message_start\ndata: {"type":"message_start","message":{"id":"m","model":"c","usage":{"input_tokens":9,"output_tokens":1}}}\n\n')) tx.push(ev, out);
    tx.end(out);
    assert.equal(tx.done, false);
    assert.deepEqual(tx.usage, { prompt_tokens: 9, completion_tokens: 1, total_tokens: 10 });
  });
});
