/**
 * The official openai SDK pointed straight at the mock: if the SDK parses the
 * mock's JSON and SSE, the mock's wire format is the real one, and tests built
 * on the mock say something about real upstreams.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startMockUpstream, type MockUpstream } from '../../scripts/mock-upstream.ts';

describe('openai SDK against the mock', () => {
  let mock: MockUpstream;
  let sdk: OpenAI;
  before(async () => {
    mock = await startMockUpstream({ chunks: 5 });
    sdk = new OpenAI({ baseURL: `${mock.url}/v1`, apiKey: 'sk-test-sdk', maxRetries: 0 });
  });
  after(() => mock.close());

  it('non-streaming', async () => {
    const r = await sdk.chat.completions.create({ model: 'gpt-mock', messages: [{ role: 'user', content: 'hello' }] });
    assert.equal(r.object, 'chat.completion');
    assert.equal(r.model, 'gpt-mock');
    assert.equal(r.choices[0].message.content, 'This is a deterministic answer');
    assert.equal(r.choices[0].finish_reason, 'stop');
    assert.deepEqual(r.usage, { prompt_tokens: 2, completion_tokens: 5, total_tokens: 7 });
  });

  it('streaming with include_usage', async () => {
    const stream = await sdk.chat.completions.create({ model: 'gpt-mock', messages: [{ role: 'user', content: 'hello' }], stream: true, stream_options: { include_usage: true } });
    let text = '';
    let finish: string | null = null;
    let usage: unknown = null;
    let n = 0;
    for await (const c of stream) {
      n++;
      text += c.choices[0]?.delta.content ?? '';
      finish = c.choices[0]?.finish_reason ?? finish;
      if (c.usage) usage = c.usage;
    }
    assert.equal(n, 1 + 5 + 1 + 1);
    assert.equal(text, 'This is a deterministic answer');
    assert.equal(finish, 'stop');
    assert.deepEqual(usage, { prompt_tokens: 2, completion_tokens: 5, total_tokens: 7 });
  });

  it('streaming without include_usage, and the SDK\'s helper that accumulates a stream', async () => {
    const runner = sdk.chat.completions.stream({ model: 'gpt-mock', messages: [{ role: 'user', content: 'hello' }] });
    const done = await runner.finalChatCompletion();
    assert.equal(done.choices[0].message.content, 'This is a deterministic answer');
  });

  it('surfaces forced errors as APIError with the status', async () => {
    const failing = new OpenAI({ baseURL: `${mock.url}/v1`, apiKey: 'sk-test-sdk', maxRetries: 0, defaultHeaders: { 'x-mock-status': '429' } });
    await assert.rejects(failing.chat.completions.create({ model: 'x', messages: [{ role: 'user', content: 'hi' }] }), (e: unknown) => e instanceof OpenAI.APIError && e.status === 429);
  });
});
