/**
 * GreatRouter's TypeScript SDK example (its API reference, "SDKs") replayed
 * as the plain HTTP calls the SDK makes, against Switchyard with the mock
 * upstream: autoRoute, autoSuggest, priceComparison, listModels, getModel,
 * getModelHealth. The example's model ids (meta/llama-3.3-70b-..., openai/gpt-5,
 * anthropic/claude-sonnet-4) are configured here under those ids, so the
 * calls run unchanged. The example's autoRoute asks for an image with only
 * chat models configured: the documented 400 (ValidationError in the SDK).
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startEnv, call, type Env } from './helpers.ts';
import { openaiModel } from '../gateway/helpers.ts';
import { startMockUpstream, type MockUpstream } from '../../scripts/mock-upstream.ts';

let env: Env;
let mock: MockUpstream;
const KEY = 'pk_test_abcdefghi_0123456789abcdef0123456789abcdef';
before(async () => {
  mock = await startMockUpstream();
  env = await startEnv([
    openaiModel('meta/llama-3.3-70b-instruct-fp8-fast', mock, { pricing: { prompt_per_1m: 0.1, completion_per_1m: 0.1 }, catalog: { name: 'LLaMA 3.3 70B Instruct', capabilities: ['text_generation', 'coding'] } }),
    openaiModel('openai/gpt-5', mock, { pricing: { prompt_per_1m: 1.25, completion_per_1m: 10 } }),
    openaiModel('anthropic/claude-sonnet-4', mock, { pricing: { prompt_per_1m: 3, completion_per_1m: 15 } }),
  ]);
});
after(async () => { await env.close(); await mock.close(); });

/** What the SDK sends: JSON, its Bearer key (ignored here: no api_keys configured). */
async function sdk(method: string, path: string, body?: unknown) {
  const res = await fetch(env.base + path, {
    method, headers: { authorization: `Bearer ${KEY}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, json: await res.json() as any };
}

describe('GreatRouter TypeScript SDK example, as fetch calls', () => {
  it('autoRoute (the example: an image with only chat models: 400), and the same call for text', async () => {
    const image = await sdk('POST', '/v1/auto/route', {
      prompt: 'Generate an image of a cat',
      input: { messages: [{ role: 'user', content: 'Generate an image of a cat' }] },
      task: 'image', optimization: 'price-optimized', budget_dollars: 0.05,
    });
    assert.equal(image.status, 400);
    assert.match(image.json.error.message, /No routable model for task "image"/);
    const text = await sdk('POST', '/v1/auto/route', {
      prompt: 'What is the capital of France?',
      input: { messages: [{ role: 'user', content: 'What is the capital of France?' }] },
      optimization: 'price-optimized', budget_dollars: 0.05,
    });
    assert.equal(text.status, 200);
    // price-optimized on these prices: the example's economy model.
    assert.equal(text.json.model.model.id, 'meta/llama-3.3-70b-instruct-fp8-fast');
    assert.equal(text.json.model.cost_tier, 'economy');
    assert.deepEqual(text.json.model.model.pricing, { input_per_million_tokens: 0.1, output_per_million_tokens: 0.1 });
    assert.equal(typeof text.json.result.choices[0].message.content, 'string');
    assert.ok(text.json.result.usage.total_tokens > 0);
    assert.deepEqual(Object.keys(text.json.timing).sort(), ['classification_ms', 'inference_ms', 'routing_ms', 'total_ms']);
    assert.deepEqual(Object.keys(text.json.context).sort(), ['contextual_boost', 'session_prompts']);
  });

  it('autoSuggest', async () => {
    const r = await sdk('POST', '/v1/auto/suggest', { prompt: 'Write a short poem', task: 'text', limit: 5, budget_dollars: 0.01 });
    assert.equal(r.status, 200);
    assert.ok(r.json.suggestions.length > 0 && r.json.suggestions.length <= 5);
    for (const s of r.json.suggestions) assert.ok(s.estimated_cost_dollars <= 0.01);
    assert.equal(r.json.classification.task, 'text');
    assert.ok('savings_vs_highest_pct' in r.json.price_comparison);
  });

  it('priceComparison', async () => {
    const r = await sdk('POST', '/v1/models/price-comparison', { task: 'text', optimization: 'balanced' });
    assert.equal(r.status, 200);
    assert.equal(r.json.optimization, 'balanced');
    const ids = r.json.suggestions.map((s: any) => s.model_id);
    for (const id of ['meta/llama-3.3-70b-instruct-fp8-fast', 'openai/gpt-5', 'anthropic/claude-sonnet-4']) assert.ok(ids.includes(id), id);
    assert.equal(r.json.price_comparison.cheapest_model, 'meta/llama-3.3-70b-instruct-fp8-fast');
  });

  it('listModels({task_type: "text_generation"})', async () => {
    const r = await sdk('GET', '/v1/models?task_type=text_generation');
    assert.equal(r.status, 200);
    assert.equal(r.json.object, 'list');
    assert.ok(r.json.data.every((m: any) => m.task_type === 'text_generation'));
    assert.ok(r.json.data.some((m: any) => m.catalog_id === 'openai/gpt-5'));
  });

  it('getModel("meta", "llama-3.3-70b-instruct-fp8-fast")', async () => {
    const r = await sdk('GET', '/v1/models/meta/llama-3.3-70b-instruct-fp8-fast');
    assert.equal(r.status, 200);
    assert.equal(r.json.id, 'meta/llama-3.3-70b-instruct-fp8-fast');
    assert.equal(r.json.name, 'LLaMA 3.3 70B Instruct');
    assert.equal(r.json.price_tier, 'economy');
    assert.equal(r.json.provider, 'meta');
  });

  it('getModelHealth(["openai/gpt-5", "anthropic/claude-sonnet-4"])', async () => {
    const r = await sdk('GET', `/v1/model-health?models=${encodeURIComponent('openai/gpt-5,anthropic/claude-sonnet-4')}`);
    assert.equal(r.status, 200);
    assert.deepEqual(r.json.health.map((h: any) => h.model_id), ['openai/gpt-5', 'anthropic/claude-sonnet-4']);
    for (const h of r.json.health) {
      assert.equal(typeof h.degraded, 'boolean');
      assert.equal(typeof h.latency_penalty, 'number');
      assert.equal(typeof h.health_entry.failures, 'number');
    }
  });

  it('with API keys configured: the SDK\'s Bearer key is accepted, a missing or wrong one is 401', async () => {
    const keyed = await startEnv([], { server: { host: '127.0.0.1', port: 0, api_keys: [KEY] } });
    try {
      const body = JSON.stringify({ prompt: 'Write a short poem' });
      const post = (headers: Record<string, string>) => fetch(`${keyed.base}/v1/auto/suggest`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
      assert.equal((await post({ authorization: `Bearer ${KEY}` })).status, 200);
      const none = await post({});
      assert.equal(none.status, 401);
      assert.equal(((await none.json()) as any).error.code, 'unauthorized');
      assert.equal((await post({ authorization: 'Bearer pk_test_wrong' })).status, 401);
    } finally { await keyed.close(); }
  });

  it('errors: unknown model 404, bad body 400 (the statuses the SDK types its errors by)', async () => {
    assert.equal((await call(env.base, 'GET', '/v1/models/acme/none')).status, 404);
    assert.equal((await call(env.base, 'POST', '/v1/auto/suggest', '{')).status, 400);
    assert.equal((await call(env.base, 'GET', '/v1/auto/nothing')).status, 404);
  });
});
