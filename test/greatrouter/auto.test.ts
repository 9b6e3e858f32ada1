/**
 * GreatRouter's ranking and routing endpoints (issue 10): contracts of
 * /v1/auto/suggest, /v1/models/price-comparison, /v1/models/recommend,
 * /v1/auto/route and /v1/models/route; price-optimized never dearer than
 * output-optimized; the budget filter; session context; the 400s.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startEnv, post, type Env } from './helpers.ts';
import { closedPort, openaiModel } from '../gateway/helpers.ts';

let env: Env;
before(async () => {
  // acme: a cheap model whose backend refuses connections and a dear one that works, to see the fallback down the ranking.
  const dead = `http://127.0.0.1:${await closedPort()}/v1`;
  env = await startEnv((m) => [
    openaiModel('acme/broken-cheap', dead, { pricing: { prompt_per_1m: 0.01, completion_per_1m: 0.01 } }),
    openaiModel('acme/working-dear', m.oa, { pricing: { prompt_per_1m: 5, completion_per_1m: 5 } }),
    openaiModel('dead/only', dead, { pricing: { prompt_per_1m: 1, completion_per_1m: 1 } }),
  ]);
});
after(async () => { await env.close(); });

const PROMPTS = [
  'What is the capital of France?',
  'Write a Python function that merges two sorted lists and explain its complexity.',
  'Solve for x: 3x + 7 = 22, showing each step.',
  'Summarize the plot of Hamlet in three sentences.',
  'Which of the following is a mammal? A) shark B) dolphin C) trout D) octopus',
  'Translate "good morning, how are you?" into Spanish and German.',
  'Write a short poem about the sea at night.',
];
const msgs = (content: string) => ({ messages: [{ role: 'user', content }] });

describe('POST /v1/auto/suggest', () => {
  it('contract: classification, optimization, suggestions with cost and score, price_comparison', async () => {
    const r = await post(env.base, '/v1/auto/suggest', { prompt: 'Write a Python function that reverses a string', limit: 3 });
    assert.equal(r.status, 200, r.text);
    const c = r.json.classification;
    assert.deepEqual(Object.keys(c).sort(), ['complexity_score', 'complexity_tier', 'confidence', 'content_mode', 'decision', 'reasoning', 'subtask', 'task']);
    assert.equal(c.task, 'code');
    assert.equal(c.decision, 'classifier');
    assert.ok(['SIMPLE', 'MEDIUM', 'COMPLEX'].includes(c.complexity_tier));
    assert.equal(r.json.optimization, 'balanced');
    assert.equal(r.json.suggestions.length, 3);
    for (const s of r.json.suggestions) {
      assert.deepEqual(Object.keys(s.model).sort(), ['capabilities', 'category', 'id', 'name', 'pricing', 'provider', 'task_type']);
      assert.equal(s.estimated_cost, s.estimated_cost_dollars);
      assert.ok(s.estimated_cost_dollars > 0 && s.estimated_cost_dollars < 0.1);
      assert.ok(s.score >= 0 && s.score <= 1);
      assert.ok(['economy', 'standard', 'balanced', 'premium', 'flagship'].includes(s.cost_tier));
    }
    const scores = r.json.suggestions.map((s: any) => s.score);
    assert.deepEqual(scores, [...scores].sort((a: number, b: number) => b - a));
    const pc = r.json.price_comparison;
    assert.ok(pc.cheapest_model && pc.best_value_model && pc.best_quality_model);
    assert.equal(pc.estimated_cost_dollars, r.json.suggestions[0].estimated_cost_dollars);
    assert.ok(pc.savings_vs_highest_pct >= 0 && pc.savings_vs_highest_pct <= 100);
  });

  it('price-optimized picks a model no dearer than output-optimized, on every prompt', async () => {
    let differ = 0;
    for (const prompt of PROMPTS) {
      const price = (await post(env.base, '/v1/auto/suggest', { prompt, optimization: 'price-optimized', limit: 1 })).json.suggestions[0];
      const out = (await post(env.base, '/v1/auto/suggest', { prompt, optimization: 'output-optimized', limit: 1 })).json.suggestions[0];
      assert.ok(price.estimated_cost_dollars <= out.estimated_cost_dollars, `${prompt}: ${price.model.id} ${price.estimated_cost_dollars} > ${out.model.id} ${out.estimated_cost_dollars}`);
      if (price.model.id !== out.model.id) differ++;
    }
    // The modes must actually differ somewhere, or the test above proves nothing.
    assert.ok(differ > 0, 'price- and output-optimized agreed on every prompt');
  });

  it('output-optimized ranks by the profile\'s expected error alone', async () => {
    const r = await post(env.base, '/v1/auto/suggest', { prompt: PROMPTS[4], optimization: 'output-optimized', limit: 20 });
    const errs = r.json.suggestions.map((s: any) => s.expected_error);
    assert.deepEqual(errs, [...errs].sort((a: number, b: number) => a - b));
    assert.equal(r.json.lambda, 0);
  });

  it('budget_dollars drops every model whose estimate is above it (and unpriced ones)', async () => {
    const all = (await post(env.base, '/v1/auto/suggest', { prompt: PROMPTS[0], limit: 20 })).json.suggestions;
    const costs = all.map((s: any) => s.estimated_cost_dollars).filter((x: number | null) => x !== null).sort((a: number, b: number) => a - b);
    const budget = costs[Math.floor(costs.length / 2)];
    const within = (await post(env.base, '/v1/auto/suggest', { prompt: PROMPTS[0], limit: 20, budget_dollars: budget })).json.suggestions;
    assert.ok(within.length > 0 && within.length < all.length);
    for (const s of within) assert.ok(s.estimated_cost_dollars !== null && s.estimated_cost_dollars <= budget);
    assert.equal(within.length, costs.filter((c: number) => c <= budget).length);
    const none = await post(env.base, '/v1/auto/suggest', { prompt: PROMPTS[0], budget_dollars: 0 });
    assert.equal(none.status, 200);
    assert.deepEqual(none.json.suggestions, []);
  });

  it('an image prompt lists the catalog\'s image model (not routable) and no chat model', async () => {
    const r = await post(env.base, '/v1/auto/suggest', { prompt: 'Generate an image of a cat wearing a hat' });
    assert.equal(r.json.classification.task, 'image');
    assert.deepEqual(r.json.suggestions.map((s: any) => s.model.id), ['openai/dall-e-3']);
    assert.equal(r.json.suggestions[0].routable, false);
  });

  it('filters: provider, taxonomy, catalog_family, model; limit', async () => {
    const ids = async (extra: object) => (await post(env.base, '/v1/auto/suggest', { prompt: PROMPTS[0], limit: 20, ...extra })).json.suggestions.map((s: any) => s.model.id);
    assert.deepEqual((await ids({ provider: 'openai' })).sort(), ['openai/gpt-3.5-turbo-1106', 'openai/gpt-4-1106-preview']);
    assert.deepEqual(await ids({ catalog_family: 'llm/mistralai--mixtral' }), ['mistralai/mixtral-8x7b-chat']);
    assert.deepEqual(await ids({ taxonomy: 'image-generation' }), []);
    assert.deepEqual(await ids({ model: 'anthropic/claude-v2' }), ['anthropic/claude-v2']);
    assert.equal((await ids({ limit: 2 })).length, 2);
  });

  it('input with an explicit model: checked against its input schema', async () => {
    const bad = await post(env.base, '/v1/auto/suggest', { prompt: 'a cat', model: 'openai/dall-e-3', input: { size: 'huge' } });
    assert.equal(bad.json.input_validation.valid, false);
    assert.deepEqual(bad.json.input_validation.errors.map((e: any) => e.keyword).sort(), ['enum', 'required']);
    const ok = await post(env.base, '/v1/auto/suggest', { prompt: 'hi', model: 'anthropic/claude-v2', input: msgs('hi') });
    assert.deepEqual(ok.json.input_validation, { model: 'anthropic/claude-v2', valid: true, errors: [] });
    assert.equal('input_validation' in (await post(env.base, '/v1/auto/suggest', { prompt: 'hi', input: msgs('hi') })).json, false);
  });

  it('400 naming the field; unknown model 404', async () => {
    for (const [body, param] of [
      [{}, 'prompt'], [{ prompt: '' }, 'prompt'], [{ prompt: 'x', limit: 21 }, 'limit'], [{ prompt: 'x', limit: 0 }, 'limit'],
      [{ prompt: 'x', optimization: 'cheap' }, 'optimization'], [{ prompt: 'x', task: 'poetry' }, 'task'], [{ prompt: 'x', budget_dollars: -1 }, 'budget_dollars'],
      [{ prompt: 'x', content_mode: 'remix' }, 'content_mode'], [{ prompt: 'x', mode: 'ml' }, 'mode'], [{ prompt: 'x', budget: 1 }, 'budget'],
    ] as const) {
      const r = await post(env.base, '/v1/auto/suggest', body);
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.equal(r.json.error.param, param, JSON.stringify(body));
      assert.equal(r.json.error.type, 'invalid_request_error');
    }
    const m = await post(env.base, '/v1/auto/suggest', { prompt: 'x', model: 'acme/none' });
    assert.equal(m.status, 404);
    assert.equal(m.json.error.code, 'model_not_found');
  });
});

describe('POST /v1/models/price-comparison and /v1/models/recommend', () => {
  it('price-comparison: task text by default, every candidate with its estimate, ranked', async () => {
    const r = await post(env.base, '/v1/models/price-comparison', {});
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.classification.task, 'text');
    const ids = r.json.suggestions.map((s: any) => s.model_id);
    assert.equal(ids.length, 9); // every chat model (local-llama long_tail included: it is listed, not routed)
    for (const s of r.json.suggestions) assert.deepEqual(Object.keys(s).sort(), ['cost_tier', 'estimated_cost_dollars', 'model_id', 'name', 'provider', 'routable', 'score', 'task_type']);
    assert.equal(r.json.price_comparison.cheapest_model, 'acme/broken-cheap');
    const budget = await post(env.base, '/v1/models/price-comparison', { task: 'text', optimization: 'price-optimized', budget_dollars: 0.0002 });
    assert.ok(budget.json.suggestions.length > 0 && budget.json.suggestions.length < ids.length, 'the budget keeps some models and drops some');
    for (const s of budget.json.suggestions) assert.ok(s.estimated_cost_dollars <= 0.0002);
    const prompt = await post(env.base, '/v1/models/price-comparison', { prompt: 'Write a haiku about routing' });
    assert.equal(prompt.json.classification.decision, 'classifier');
  });

  it('recommend: by description similarity with a prompt; task filter; limit', async () => {
    const r = await post(env.base, '/v1/models/recommend', { prompt: 'generate pictures and illustrations from a text description', limit: 3, optimization: 'output-optimized' });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.data.length, 3);
    assert.equal(r.json.data[0].model.id, 'openai/dall-e-3');
    const sims = r.json.data.map((x: any) => x.similarity);
    assert.deepEqual(sims, [...sims].sort((a: number, b: number) => b - a));
    const image = await post(env.base, '/v1/models/recommend', { task: 'image' });
    assert.deepEqual(image.json.data.map((x: any) => x.model.id), ['openai/dall-e-3']);
    const tt = await post(env.base, '/v1/models/recommend', { task: 'text_generation', limit: 2 });
    assert.equal(tt.json.data.length, 2);
    assert.equal((await post(env.base, '/v1/models/recommend', { limit: 0 })).status, 400);
  });
});

describe('POST /v1/auto/route', () => {
  it('contract: classification, model, price_comparison, result, timing, context, fallback_chain', async () => {
    const r = await post(env.base, '/v1/auto/route', { prompt: PROMPTS[0], input: msgs(PROMPTS[0]) });
    assert.equal(r.status, 200, r.text);
    const j = r.json;
    assert.equal(j.classification.task, 'text');
    assert.ok(j.model.model.id.includes('/'));
    assert.ok(j.model.cost_tier);
    assert.ok(j.model.estimated_cost > 0);
    assert.equal(j.result.choices[0].message.role, 'assistant');
    assert.ok(j.result.usage.total_tokens > 0);
    for (const k of ['classification_ms', 'routing_ms', 'inference_ms', 'total_ms']) assert.ok(j.timing[k] >= 0, k);
    assert.ok(j.timing.total_ms >= j.timing.inference_ms);
    assert.deepEqual(j.context, { session_prompts: 0, contextual_boost: 0 });
    assert.equal(j.fallback_chain[0].outcome, 'ok');
    assert.ok(j.price_comparison.cheapest_model);
  });

  it('the chosen model is the top suggestion for the same prompt and options', async () => {
    for (const optimization of ['price-optimized', 'balanced', 'output-optimized']) {
      const s = await post(env.base, '/v1/auto/suggest', { prompt: PROMPTS[1], optimization, limit: 1 });
      const r = await post(env.base, '/v1/auto/route', { prompt: PROMPTS[1], input: msgs(PROMPTS[1]), optimization });
      // The first model tried is the top suggestion (it may fail and fall back: acme/broken-cheap does).
      const tried = r.json.fallback_chain[0].model;
      const top = s.json.suggestions[0].model.id;
      assert.ok(top === tried || top.endsWith(`/${tried}`), `${optimization}: ${top} vs ${tried}`);
    }
  });

  it('explicit model skips ranking; budget 400 names the cheapest estimate; an image task 400s', async () => {
    const e = await post(env.base, '/v1/auto/route', { prompt: 'hi', input: msgs('hi'), model: 'anthropic/claude-v2' });
    assert.equal(e.status, 200, e.text);
    assert.equal(e.json.model.model.id, 'anthropic/claude-v2');
    const b = await post(env.base, '/v1/auto/route', { prompt: 'hi', input: msgs('hi'), budget_dollars: 1e-9 });
    assert.equal(b.status, 400);
    assert.equal(b.json.error.param, 'budget_dollars');
    assert.equal(b.json.error.cheapest_model, 'acme/broken-cheap');
    assert.ok(b.json.error.cheapest_estimate_dollars > 1e-9);
    assert.match(b.json.error.message, /cheapest is acme\/broken-cheap at \$/);
    const img = await post(env.base, '/v1/auto/route', { prompt: 'Generate an image of a cat', input: msgs('Generate an image of a cat'), task: 'image' });
    assert.equal(img.status, 400);
    assert.equal(img.json.error.param, 'task');
    assert.match(img.json.error.message, /No routable model for task "image".*openai\/dall-e-3/);
    const dalle = await post(env.base, '/v1/auto/route', { prompt: 'x', input: msgs('x'), model: 'openai/dall-e-3' });
    assert.equal(dalle.status, 400);
    assert.equal(dalle.json.error.param, 'model');
  });

  it('within a budget: the model answering is within it', async () => {
    const r = await post(env.base, '/v1/auto/route', { prompt: PROMPTS[2], input: msgs(PROMPTS[2]), budget_dollars: 0.0005, optimization: 'output-optimized' });
    assert.equal(r.status, 200, r.text);
    assert.ok(r.json.model.estimated_cost <= 0.0005);
  });

  it('session context: earlier code prompts give a contextual_boost and pull an ambiguous follow-up to code', async () => {
    const sid = `s-${Date.now()}`;
    const code = 'Write a Python function that parses a CSV file into dictionaries';
    for (let i = 0; i < 3; i++) {
      const r = await post(env.base, '/v1/auto/route', { prompt: code, input: msgs(code), session_id: sid });
      assert.equal(r.json.context.session_prompts, i);
      assert.equal(r.json.classification.task, 'code');
    }
    const follow = 'Now make it shorter please';
    const plain = await post(env.base, '/v1/auto/suggest', { prompt: follow });
    assert.equal(plain.json.classification.task, 'text');
    const s = await post(env.base, '/v1/auto/route', { prompt: follow, input: msgs(follow), session_id: sid });
    assert.equal(s.json.context.session_prompts, 3);
    assert.ok(Math.abs(s.json.context.contextual_boost - 0.3) < 1e-9);
    // No evidence of its own: the follow-up goes with the session's task.
    assert.equal(s.json.classification.task, 'code');
    assert.equal(s.json.classification.decision, 'session');
    assert.equal(s.json.classification.confidence, 0.8);
    // Evidence of its own outweighs the boost: a clear translation request stays text.
    const own = 'Translate "thank you very much" into French';
    const t = await post(env.base, '/v1/auto/suggest', { prompt: own, session_id: sid });
    assert.equal(t.json.classification.task, 'text');
    // A hint is never overridden.
    const h = await post(env.base, '/v1/auto/suggest', { prompt: follow, session_id: sid, task: 'text' });
    assert.equal(h.json.classification.task, 'text');
    assert.equal(h.json.context.contextual_boost, 0);
  });

  it('400s: input missing, stream true, unknown input field, a bad message; feedback overrides the task', async () => {
    for (const [body, param] of [
      [{ prompt: 'x' }, 'input'], [{ prompt: 'x', input: msgs('x'), feedback: { correct: 'no' } }, 'feedback.correct'],
      [{ prompt: 'x', input: { ...msgs('x'), parameters: { stream: true } } }, 'input.parameters.stream'],
      [{ prompt: 'x', input: { ...msgs('x'), extra: 1 } }, 'input.extra'],
      [{ prompt: 'x', input: { messages: [{ role: 'robot', content: 'x' }] } }, 'input.messages[0].role'],
      [{ prompt: 'x', input: { ...msgs('x'), parameters: { temperature: 9 } } }, 'input.parameters.temperature'],
    ] as const) {
      const r = await post(env.base, '/v1/auto/route', body);
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.equal(r.json.error.param, param, r.text);
    }
    const fb = await post(env.base, '/v1/auto/route', { prompt: 'What is 2+2?', input: msgs('What is 2+2?'), feedback: { correct: false, suggested_task: 'code' } });
    assert.equal(fb.json.classification.task, 'code');
    assert.equal(fb.json.classification.decision, 'feedback');
  });
});

describe('upstream failures', () => {
  it('the best-ranked model fails: the call falls back down the ranking, fallback_chain shows both', async () => {
    const r = await post(env.base, '/v1/auto/route', { prompt: 'hello', input: msgs('hello'), provider: 'acme', optimization: 'price-optimized' });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.model.model.id, 'acme/working-dear');
    assert.deepEqual(r.json.fallback_chain.map((a: any) => [a.model, a.outcome]), [['acme/broken-cheap', 'failed'], ['acme/working-dear', 'ok']]);
  });

  it('every candidate fails: 502 upstream_error with the attempts', async () => {
    const r = await post(env.base, '/v1/auto/route', { prompt: 'hello', input: msgs('hello'), model: 'dead/only' });
    assert.equal(r.status, 502, r.text);
    assert.equal(r.json.error.code, 'upstream_error');
    assert.equal(r.json.error.attempts[0].model, 'dead/only');
  });
});

describe('POST /v1/models/route', () => {
  it('contract and filters: maxCost tier, filter.capabilities, filter.task_type', async () => {
    const r = await post(env.base, '/v1/models/route', { query: 'code', input: msgs('write fizzbuzz in python'), maxCost: 'standard', filter: { capabilities: ['coding'] } });
    assert.equal(r.status, 200, r.text);
    assert.ok(['mistralai/mixtral-8x7b-chat', 'openai/gpt-3.5-turbo-1106'].includes(r.json.model.id), r.json.model.id);
    assert.ok(['economy', 'standard'].includes(r.json.cost_tier));
    assert.ok(r.json.estimated_cost > 0);
    assert.equal(r.json.result.choices[0].message.role, 'assistant');
    for (const k of ['routing_ms', 'inference_ms', 'total_ms']) assert.ok(r.json.timing[k] >= 0);
    const reasoning = await post(env.base, '/v1/models/route', { query: 'a hard reasoning question', input: msgs('why?'), filter: { task_type: 'text_generation', capabilities: ['reasoning'], extra: 1 } });
    assert.equal(reasoning.status, 400);
    assert.equal(reasoning.json.error.param, 'filter.extra');
    const ok = await post(env.base, '/v1/models/route', { query: 'a hard reasoning question', input: msgs('why?'), filter: { task_type: 'text_generation', capabilities: ['reasoning'] } });
    assert.ok(['openai/gpt-4-1106-preview', 'anthropic/claude-v2'].includes(ok.json.model.id));
    const none = await post(env.base, '/v1/models/route', { query: 'text', input: msgs('x'), maxCost: 'economy', filter: { capabilities: ['reasoning'] } });
    assert.equal(none.status, 400);
    assert.equal(none.json.error.param, 'query');
    for (const [body, param] of [[{ input: msgs('x') }, 'query'], [{ query: 'x' }, 'input'], [{ query: 'x', input: msgs('x'), maxCost: 'free' }, 'maxCost']] as const) {
      const b = await post(env.base, '/v1/models/route', body);
      assert.equal(b.status, 400);
      assert.equal(b.json.error.param, param);
    }
  });
});
