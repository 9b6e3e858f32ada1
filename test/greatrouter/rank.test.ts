/**
 * The transport-free parts of the GreatRouter API (issue 10): ranking
 * (auto-rank.ts), classification (auto-classify.ts), the session boost
 * (auto-session.ts), catalog entries (catalog.ts).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Catalog } from '../../src/api/catalog.ts';
import { rank, priceComparison, lambdaOf, expectedOutputTokens, recordOutputTokens, MIN_SAMPLES, type RankInput } from '../../src/api/auto-rank.ts';
import { classifyPrompt } from '../../src/api/auto-classify.ts';
import { applySession } from '../../src/api/auto-session.ts';
import type { ProviderModelConfig } from '../../src/config/schema.ts';
import { mulberry32 as rng } from '../../src/seeded-random.ts';


const model = (name: string, inP: number | null, outP = inP, catalog: ProviderModelConfig['catalog'] = { provider: 'p' }): ProviderModelConfig => ({
  name, api_format: 'openai', backend_refs: [{ base_url: 'http://127.0.0.1:1/v1' }], ...(inP === null ? {} : { pricing: { prompt_per_1m: inP, completion_per_1m: outP! } }), catalog,
});
const input = (o: Partial<RankInput>): RankInput => ({ task: 'text', optimization: 'balanced', errors: null, inputTokens: 100, maxTokens: undefined, budget: undefined, routableOnly: false, ...o });

describe('rank', () => {
  it('price-optimized never picks a dearer model than output-optimized (random errors and prices)', () => {
    const r = rng(1);
    for (let trial = 0; trial < 500; trial++) {
      const n = 2 + Math.floor(r() * 12);
      const cat = new Catalog(Array.from({ length: n }, (_, i) => model(`m${i}`, r() < 0.1 ? null : 0.05 + r() * 30, 0.05 + r() * 60)));
      const errors = Float64Array.from({ length: n }, () => (r() < 0.1 ? NaN : r()));
      const idx = new Map(cat.entries.map((e, i) => [e.name, i]));
      const balanced = r() * 2;
      const best = (optimization: RankInput['optimization']) => rank(cat.entries, input({ optimization, errors }), idx, balanced).ranked[0];
      const p = best('price-optimized'), b = best('balanced'), o = best('output-optimized');
      const cost = (x: typeof p) => x.cost ?? Infinity;
      assert.ok(cost(p) <= cost(b) && cost(b) <= cost(o), `trial ${trial}: ${cost(p)} ${cost(b)} ${cost(o)}`);
    }
  });

  it('output-optimized is expected error alone; λ mapping', () => {
    assert.equal(lambdaOf('output-optimized', 0.1), 0);
    assert.equal(lambdaOf('balanced', 0.1), 0.1);
    assert.equal(lambdaOf('price-optimized', 0.1), 1);
    assert.equal(lambdaOf('price-optimized', 3), 6);
    const cat = new Catalog([model('a', 10), model('b', 0.1), model('c', 1)]);
    const idx = new Map([['a', 0], ['b', 1], ['c', 2]]);
    const errors = Float64Array.of(0.1, 0.5, 0.3);
    assert.deepEqual(rank(cat.entries, input({ optimization: 'output-optimized', errors }), idx, 0.1).ranked.map((x) => x.entry.name), ['a', 'c', 'b']);
    assert.deepEqual(rank(cat.entries, input({ optimization: 'price-optimized', errors }), idx, 0.1).ranked[0].entry.name, 'b');
  });

  it('a model the profile does not know gets the worst known error; estimated cost = in × price + out × price', () => {
    const cat = new Catalog([model('known', 1, 2), model('unknown', 1, 2)]);
    const out = rank(cat.entries, input({ optimization: 'output-optimized', errors: Float64Array.of(0.2), inputTokens: 1000, maxTokens: 100 }), new Map([['known', 0]]), 0.1);
    assert.deepEqual(out.ranked.map((x) => [x.entry.name, x.expectedError]), [['known', 0.2], ['unknown', 0.2]]);
    assert.equal(out.ranked[0].cost, (1000 * 1 + 100 * 2) / 1e6);
  });

  it('budget: drops above it and unpriced; names the cheapest dropped', () => {
    const cat = new Catalog([model('a', 10), model('b', 1), model('free', null)]);
    const r = rank(cat.entries, input({ budget: 0.0005 }), null, 0.1);
    assert.deepEqual(r.ranked.map((x) => x.entry.name), ['b']);
    const none = rank(cat.entries, input({ budget: 1e-9 }), null, 0.1);
    assert.deepEqual(none.ranked, []);
    assert.equal(none.cheapestDropped?.entry.name, 'b');
  });

  it('price_comparison fields', () => {
    const cat = new Catalog([model('a', 10), model('b', 0.1), model('c', 1)]);
    const r = rank(cat.entries, input({ errors: Float64Array.of(0.1, 0.6, 0.2), optimization: 'output-optimized' }), new Map([['a', 0], ['b', 1], ['c', 2]]), 0.1);
    const pc = priceComparison(r.ranked);
    assert.equal(pc.cheapest_model, 'p/b');
    assert.equal(pc.best_quality_model, 'p/a');
    assert.equal(pc.best_value_model, 'p/b'); // 0.4 / tiny cost beats the others' quality per dollar
    assert.equal(pc.estimated_cost_dollars, r.ranked[0].cost);
    assert.equal(pc.savings_vs_highest_pct, 0); // the top one (a) is the dearest
  });

  it('expected output tokens: the default until MIN_SAMPLES, then the observed mean; capped by max_tokens', () => {
    assert.equal(expectedOutputTokens('zz', undefined), 256);
    for (let i = 0; i < MIN_SAMPLES - 1; i++) recordOutputTokens('zz', 40);
    assert.equal(expectedOutputTokens('zz', undefined), 256);
    recordOutputTokens('zz', 40);
    assert.equal(expectedOutputTokens('zz', undefined), 40);
    assert.equal(expectedOutputTokens('zz', 10), 10);
    recordOutputTokens('zz', NaN);
    assert.equal(expectedOutputTokens('zz', undefined), 40);
  });
});

describe('catalog entries', () => {
  it('ids, price tiers, tasks, routability, defaults', () => {
    const cat = new Catalog([
      model('gpt-x', 2.5, 10, { provider: 'openai' }), model('meta/llama', 0.1), { name: 'bare', api_format: 'openai', backend_refs: [{ base_url: 'http://127.0.0.1:1/v1' }] },
      model('img', 40, 0, { provider: 'openai', task_type: 'image_generation', category: 'image-generation' }), model('tail', 1, 1, { provider: 'x', catalog_visibility: 'long_tail' }),
    ]);
    const [a, b, c, d, e] = cat.entries;
    assert.equal(a.id, 'openai/gpt-x');
    assert.equal(a.priceTier, 'balanced');
    assert.equal(b.id, 'meta/llama');
    assert.equal(b.priceTier, 'economy');
    assert.equal(c.id, 'openai/bare');
    assert.equal(c.priceTier, null);
    assert.equal(c.family, 'llm/openai--bare');
    assert.deepEqual(d.tasks, ['image']);
    assert.equal(d.routable, false);
    assert.equal(e.routable, false);
    assert.equal(a.routable, true);
    assert.equal(cat.find('gpt-x'), a);
    assert.equal(cat.find('openai/gpt-x'), a);
  });
});

describe('classification', () => {
  it('regex mode, auto mode, hints, content modes, complexity', () => {
    assert.equal(classifyPrompt('Generate an image of a cat', 'auto').task, 'image');
    assert.equal(classifyPrompt('Create a short video of waves', 'regex').task, 'video');
    assert.equal(classifyPrompt('Compose a song about rain', 'auto').task, 'music');
    assert.equal(classifyPrompt('Read this aloud: hello', 'auto').task, 'speech');
    assert.equal(classifyPrompt('Search the web for the latest news on Mars', 'auto').task, 'web_search');
    const code = classifyPrompt('Write a Python function to sort a list', 'regex');
    assert.deepEqual([code.task, code.decision, code.confidence], ['code', 'regex', 0.9]);
    const none = classifyPrompt('Tell me about the weather in spring', 'regex');
    assert.deepEqual([none.task, none.confidence], ['text', 0.6]);
    const auto = classifyPrompt('Write a Python function to sort a list', 'auto');
    assert.deepEqual([auto.task, auto.decision, auto.subtask], ['code', 'classifier', 'code']);
    const hint = classifyPrompt('anything', 'auto', 'music', 'combine');
    assert.deepEqual([hint.task, hint.confidence, hint.decision, hint.content_mode], ['music', 1, 'hint', 'combine']);
    assert.equal(classifyPrompt('Edit this photo to remove the background', 'auto').content_mode, 'edit');
    assert.equal(classifyPrompt('Merge these two images into one', 'auto').content_mode, 'combine');
    const long = classifyPrompt('First, design a distributed consensus protocol. Then prove its safety under partitions, because the system must tolerate failures. Finally, implement it in Rust with tests.', 'auto');
    assert.ok(long.complexity_score > classifyPrompt('hi', 'auto').complexity_score);
  });

  it('session boost: same task raises confidence; an evidence-free prompt follows the session; evidence wins', () => {
    const s = { prompts: 4, task: 'code' as const, count: 2 };
    const code = classifyPrompt('Write a Python function to sort a list', 'auto');
    const up = applySession(code, s);
    assert.ok(Math.abs(up.boost - 0.2) < 1e-12);
    assert.equal(up.classification.confidence, Math.min(1, Math.round((code.confidence + 0.2) * 1000) / 1000));
    const vague = applySession(classifyPrompt('make it shorter', 'auto'), s);
    assert.deepEqual([vague.classification.task, vague.classification.decision, vague.classification.confidence], ['code', 'session', 0.7]);
    const clear = applySession(classifyPrompt('Translate "thanks" into French', 'auto'), s);
    assert.equal(clear.classification.task, 'text');
    const hint = applySession(classifyPrompt('make it shorter', 'auto', 'text'), s);
    assert.deepEqual([hint.classification.task, hint.boost], ['text', 0]);
    assert.equal(applySession(code, { prompts: 0, task: null, count: 0 }).boost, 0);
  });
});
