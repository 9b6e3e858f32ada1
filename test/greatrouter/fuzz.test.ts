/**
 * GreatRouter endpoints under random input (issue 10): random JSON bodies
 * (mutations of valid ones: wrong types, huge numbers, deep nesting, unknown
 * fields, NaN-ish strings) and random query strings. Every answer must be a
 * 2xx or a 4xx with a JSON error naming a code, never a 500, and the server
 * must still answer afterwards. Seeded, so a failure replays.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startEnv, call, type Env } from './helpers.ts';
import { mulberry32 as rng } from '../../src/seeded-random.ts';

let env: Env;
before(async () => { env = await startEnv(); });
after(async () => { await env.close(); });

const WEIRD: unknown[] = [null, true, false, 0, -1, 1e308, -0, 0.5, 21, 501, '', ' ', 'x'.repeat(5000), '💥', '__proto__', 'price-optimized', 'image', 'economy',
  [], [1, 'a'], ['vision'], {}, { a: { b: { c: { d: [] } } } }, { messages: [] }, { messages: [{ role: 'user', content: 'hi' }] }, { messages: 'hi' },
  { correct: false, suggested_task: 'code' }, { constructor: 1 }, 'openai/gpt-4-1106-preview', 'llm/openai--gpt-4', { task_type: 1 }];

const BASES: Record<string, Record<string, unknown>> = {
  '/v1/auto/suggest': { prompt: 'Write a poem', task: 'text', limit: 5, budget_dollars: 0.01, optimization: 'balanced', session_id: 'fz' },
  '/v1/auto/route': { prompt: 'hello', input: { messages: [{ role: 'user', content: 'hello' }], parameters: { max_tokens: 20 } }, optimization: 'price-optimized' },
  '/v1/models/price-comparison': { prompt: 'x', task: 'text', optimization: 'balanced', budget_dollars: 1 },
  '/v1/models/recommend': { prompt: 'draw', task: 'image', limit: 3, optimization: 'balanced' },
  '/v1/models/route': { query: 'code', input: { messages: [{ role: 'user', content: 'x' }] }, maxCost: 'standard', filter: { capabilities: ['coding'] } },
  '/v1/models/query': { price_tier: 'economy', tags: ['cheap'], text: 'a', limit: 10, offset: 0, routable_only: true },
  '/v1/models/openai/dall-e-3/validate-input': { input: { prompt: 'a' } },
  '/v1/models/openai/gpt-3.5-turbo-1106/validate-output': { output: { choices: [] } },
};

function mutate(base: Record<string, unknown>, r: () => number): unknown {
  const pick = <T>(a: readonly T[]) => a[Math.floor(r() * a.length)];
  const roll = r();
  if (roll < 0.05) return pick(WEIRD);
  const o: Record<string, unknown> = structuredClone(base);
  const keys = [...Object.keys(o), 'extra', 'feedback', 'model', 'mode', 'content_mode', 'taxonomy', 'provider', 'catalog_family', 'filter'];
  for (let n = 1 + Math.floor(r() * 3); n > 0; n--) {
    const k = pick(keys);
    if (r() < 0.2) delete o[k]; else o[k] = pick(WEIRD);
  }
  return o;
}

const REPLY_OK = (status: number) => (status >= 200 && status < 300) || (status >= 400 && status < 500);

describe('fuzz', () => {
  it('random bodies: 2xx or 4xx with an error code, never 5xx', async () => {
    const r = rng(10);
    for (const [path, base] of Object.entries(BASES)) {
      for (let i = 0; i < 60; i++) {
        const body = mutate(base, r);
        const res = await call(env.base, 'POST', path, JSON.stringify(body));
        assert.ok(REPLY_OK(res.status), `${path} ${JSON.stringify(body).slice(0, 300)} -> ${res.status} ${res.text.slice(0, 300)}`);
        if (res.status >= 400) assert.equal(typeof res.json?.error?.code, 'string', res.text);
      }
      for (const raw of ['', '{', '[]', 'null', '"x"', '{"prompt": "a", "prompt": 1}', '\u0000']) {
        const res = await call(env.base, 'POST', path, raw);
        assert.ok(REPLY_OK(res.status), `${path} ${JSON.stringify(raw)} -> ${res.status}`);
      }
    }
  });

  it('random query strings on the GET endpoints', async () => {
    const r = rng(11);
    const names = ['task_type', 'provider', 'category', 'capabilities', 'type', 'catalog_family', 'catalog_visibility', 'routable_only', 'taxonomy', 'offset', 'limit', 'q', 'models', 'x'];
    const values = ['', 'true', 'false', '-1', '0', '101', '1e9', 'hosted', 'featured', 'llm', 'openai', 'a,b,,', '%', '%ZZ', '💥', 'x'.repeat(3000)];
    const paths = ['/v1/models', '/v1/catalog/families', '/v1/catalog/taxonomy', '/v1/models/tags', '/v1/models/price-tiers', '/v1/model-health',
      '/v1/models/openai/gpt-4-1106-preview', '/v1/models/a/b/input-schema', '/v1/catalog/families/llm/openai--gpt-4', '/v1/models/%ZZ/x'];
    for (let i = 0; i < 200; i++) {
      const path = paths[Math.floor(r() * paths.length)];
      const qs = Array.from({ length: Math.floor(r() * 4) }, () => `${names[Math.floor(r() * names.length)]}=${encodeURIComponent(values[Math.floor(r() * values.length)])}`).join('&');
      const res = await call(env.base, 'GET', qs ? `${path}?${qs}` : path);
      assert.ok(REPLY_OK(res.status), `${path}?${qs} -> ${res.status} ${res.text.slice(0, 200)}`);
    }
    assert.equal((await call(env.base, 'GET', '/health')).status, 200);
  });
});
