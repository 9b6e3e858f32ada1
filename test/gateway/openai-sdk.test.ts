/**
 * The official openai SDK (v6) pointed at Switchyard with model "auto":
 * non-streaming, streaming (with and without usage), the stream helper, the
 * Switchyard headers through withResponse(), and errors surfacing as the
 * SDK's typed errors with `param` and `code`.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { anthropicModel, openaiModel, startGateway, startMocks, type Gateway, type Mocks } from './helpers.ts';

let mocks: Mocks;
let gw: Gateway;
let sdk: OpenAI;
const MODELS = ['gpt-4-1106-preview', 'claude-v2', 'mistralai/mistral-7b-chat'];

before(async () => {
  mocks = await startMocks({ chunks: 5 });
  gw = await startGateway({
    models: [
      openaiModel('gpt-4-1106-preview', mocks.oa, { pricing: { prompt_per_1m: 10, completion_per_1m: 30 } }),
      anthropicModel('claude-v2', mocks.an, { pricing: { prompt_per_1m: 8, completion_per_1m: 24 } }),
      openaiModel('mistralai/mistral-7b-chat', mocks.oa, { pricing: { prompt_per_1m: 0.2, completion_per_1m: 0.2 } }),
      openaiModel('breaks-mid-stream', mocks.oa, { headers: { 'x-mock-fail-after-chunks': '2', 'x-mock-chunk-interval-ms': '5' } }),
    ],
  });
  sdk = new OpenAI({ baseURL: `${gw.base}/v1`, apiKey: 'unused-by-switchyard', maxRetries: 0 });
});
after(async () => { await gw.close(); await mocks.close(); });

describe('openai SDK against Switchyard', () => {
  it('non-streaming with model "auto", Switchyard headers via withResponse()', async () => {
    const { data, response } = await sdk.chat.completions.create({ model: 'auto', messages: [{ role: 'user', content: 'Prove that sqrt(2) is irrational.' }] }).withResponse();
    assert.equal(data.object, 'chat.completion');
    assert.equal(data.choices[0].message.content, 'This is a deterministic answer');
    assert.equal(data.choices[0].finish_reason, 'stop');
    assert.ok(data.usage && data.usage.total_tokens > 0);
    const model = response.headers.get('x-switchyard-model');
    assert.ok(model && MODELS.includes(model), String(model));
    assert.equal(response.headers.get('x-switchyard-reason'), 'routed');
    assert.equal((data as unknown as { switchyard: { model: string } }).switchyard.model, model);
  });

  it('streaming with include_usage', async () => {
    const stream = await sdk.chat.completions.create({ model: 'auto', messages: [{ role: 'user', content: 'Tell me a story.' }], stream: true, stream_options: { include_usage: true } });
    let text = '';
    let finish: string | null = null;
    let usage: OpenAI.CompletionUsage | null | undefined = null;
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
    assert.equal(usage?.completion_tokens, 5);
  });

  it('the stream helper accumulates a routed stream; an Anthropic model streams through the same API', async () => {
    const done = await sdk.chat.completions.stream({ model: 'auto', messages: [{ role: 'user', content: 'hello' }] }).finalChatCompletion();
    assert.equal(done.choices[0].message.content, 'This is a deterministic answer');
    const claude = await sdk.chat.completions.stream({ model: 'claude-v2', messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'hello' }] }).finalChatCompletion();
    assert.equal(claude.choices[0].message.content, 'This is a deterministic answer');
  });

  it('errors arrive as the SDK\'s typed errors with code and param', async () => {
    await assert.rejects(sdk.chat.completions.create({ model: 'gpt-17', messages: [{ role: 'user', content: 'hi' }] }), (e: unknown) => {
      assert.ok(e instanceof OpenAI.NotFoundError, String(e));
      assert.equal(e.code, 'model_not_found');
      assert.equal(e.param, 'model');
      return true;
    });
    await assert.rejects(sdk.chat.completions.create({ model: 'auto', messages: [{ role: 'user', content: 'hi' }], temperature: 7 }), (e: unknown) => {
      assert.ok(e instanceof OpenAI.BadRequestError, String(e));
      assert.equal(e.param, 'temperature');
      assert.equal(e.type, 'invalid_request_error');
      return true;
    });
  });

  it('a mid-stream upstream failure surfaces as an APIError while iterating', async () => {
    const stream = await sdk.chat.completions.create({ model: 'breaks-mid-stream', messages: [{ role: 'user', content: 'hi' }], stream: true });
    let text = '';
    await assert.rejects((async () => { for await (const c of stream) text += c.choices[0]?.delta.content ?? ''; })(), (e: unknown) => {
      assert.ok(e instanceof OpenAI.APIError, String(e));
      assert.match(e.message, /failed mid-stream/);
      return true;
    });
    assert.equal(text, 'This is');
  });
});
