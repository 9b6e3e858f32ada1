import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { openai } from '../../src/providers/openai.ts';
import { UpstreamError } from '../../src/providers/failure.ts';
import type { Backend, ChatChunk, ChatRequest } from '../../src/providers/types.ts';

const backend: Backend = { id: 'o1', provider: 'openai', baseUrl: 'https://api.openai.com/v1', upstreamModel: 'gpt-4o-mini', apiKey: 'sk-test-openai-abcdef' };

const ev = (data: string) => ({ event: 'message', data, id: '' });

describe('openai pass-through', () => {
  it('forwards the request with the upstream model name and unknown fields intact', () => {
    const req: ChatRequest = { model: 'auto', messages: [{ role: 'user', content: 'hi' }], temperature: 0.3, tools: [{ type: 'function' }], seed: 7 };
    const spec = openai.buildRequest(req, backend);
    assert.equal(spec.path, '/chat/completions');
    assert.equal(spec.headers.authorization, `Bearer ${backend.apiKey}`);
    assert.equal(spec.headers['x-api-key'], undefined);
    assert.deepEqual(JSON.parse(spec.body), { ...req, model: 'gpt-4o-mini' });
    assert.equal(req.model, 'auto', 'the caller\'s request is not mutated');
  });

  it('always asks a streaming upstream for usage (cost accounting)', () => {
    const body = JSON.parse(openai.buildRequest({ model: 'a', messages: [], stream: true }, backend).body);
    assert.deepEqual(body.stream_options, { include_usage: true });
  });

  const upstream = [
    '{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}],"usage":null}',
    '{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}],"usage":null}',
    '{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":null}',
    '{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}',
    '[DONE]',
  ];

  it('passes chunks through untouched when the client asked for usage', () => {
    const tx = openai.createStreamTransformer({ includeUsage: true, created: 0 });
    const out: ChatChunk[] = [];
    for (const d of upstream) tx.push(ev(d), out);
    assert.deepEqual(out, upstream.slice(0, 4).map((d) => JSON.parse(d)));
    assert.equal(tx.done, true);
    assert.deepEqual(tx.usage, { prompt_tokens: 3, completion_tokens: 1, total_tokens: 4 });
  });

  it('drops the usage chunk and usage fields when the client did not ask, but keeps the usage', () => {
    const tx = openai.createStreamTransformer({ includeUsage: false, created: 0 });
    const out: ChatChunk[] = [];
    for (const d of upstream) tx.push(ev(d), out);
    assert.equal(out.length, 3);
    assert.ok(out.every((c) => !('usage' in c)));
    assert.equal(out[2].choices[0].finish_reason, 'stop');
    assert.equal(tx.usage?.total_tokens, 4);
  });

  it('raises an error object inside the stream, and a non-JSON event', () => {
    const tx = openai.createStreamTransformer({ includeUsage: false, created: 0 });
    assert.throws(() => tx.push(ev('{"error":{"message":"overloaded"}}'), []), (e: unknown) => e instanceof UpstreamError && e.kind === 'stream_error' && e.message === 'overloaded');
    assert.throws(() => tx.push(ev('not json'), []), (e: unknown) => e instanceof UpstreamError && e.kind === 'bad_response');
  });

  it('validates the JSON answer shape', () => {
    const ok = { id: 'x', object: 'chat.completion', created: 1, model: 'm', choices: [] };
    assert.equal(openai.parseResponse(ok, 0), ok);
    assert.throws(() => openai.parseResponse({ error: 'x' }, 0), (e: unknown) => e instanceof UpstreamError && e.kind === 'bad_response');
  });
});
