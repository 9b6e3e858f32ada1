/**
 * GreatRouter catalog endpoints (issue 10): one contract test per endpoint,
 * every filter, pagination, the catalog config checks, and the precedence of
 * /v1/models/{provider}/{model} over OpenAI's /v1/models/{id}.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { loadConfig, ConfigError } from '../../src/config/load.ts';
import { startEnv, get, post, type Env } from './helpers.ts';

const ROOT = join(import.meta.dirname, '../..');
let env: Env;
before(async () => { env = await startEnv(); });
after(async () => { await env.close(); });

const ids = (r: { json: any }) => r.json.data.map((m: any) => m.catalog_id ?? m.id);

describe('catalog config', () => {
  const model = (name: string, catalog: unknown) => ({ name, api_format: 'openai', backend_refs: [{ base_url: 'http://127.0.0.1:1/v1' }], catalog });
  const load = (models: unknown[]) => loadConfig({ env: {}, overrides: { providers: { models } } });

  it('the example config ships catalog entries for every model', () => {
    const c = loadConfig({ argv: ['--config', join(ROOT, 'config/example.yaml')], env: {} });
    assert.ok(c.providers.models.length > 0, 'the example config lists models');
    for (const m of c.providers.models) {
      assert.ok(m.catalog, `${m.name} has a catalog entry`);
      assert.ok(m.catalog.description && m.catalog.catalog_family && m.catalog.capabilities?.length, m.name);
    }
  });

  it('refuses unknown catalog keys, bad enums, repeated ids, a provider that contradicts the name, a bad schema, a family outside its category', () => {
    assert.throws(() => load([model('a', { provider: 'x', colour: 'red' })]), (e: Error) => e instanceof ConfigError && /providers\.models\.0\.catalog\.colour/.test(e.message));
    assert.throws(() => load([model('a', { provider: 'x', catalog_visibility: 'hidden' })]), /catalog_visibility/);
    assert.throws(() => load([model('a', { provider: 'x', type: 'cloud' })]), /type/);
    assert.throws(() => load([model('a', { provider: 'x' }), model('x/a', {})]), /catalog id "x\/a" repeats providers\.models\[0\]/);
    assert.throws(() => load([model('meta/a', { provider: 'openai' })]), /catalog\.provider" is "openai" but the name "meta\/a"/);
    assert.throws(() => load([model('a', { provider: 'x', input_schema: { type: 'nonsense' } })]), /input_schema" is not a valid JSON schema/);
    assert.throws(() => load([model('a', { provider: 'x', category: 'llm', catalog_family: 'image/x--a' })]), /catalog_family" must start with the category/);
    assert.ok(load([model('a', { provider: 'x', catalog_family: 'llm/x--a' })]));
  });

  it('a schema with an $id loads again and again (a config per test, per HTTP thread): no "already exists" from a shared ajv', () => {
    const withId = () => [model('a', { provider: 'x', input_schema: { $id: 'https://example.com/in.json', type: 'object', required: ['prompt'] } })];
    for (let i = 0; i < 3; i++) assert.ok(load(withId()));
    // Two models with one $id in one config are still refused (ajv cannot hold both).
    assert.throws(() => load([...withId(), model('b', { provider: 'x', input_schema: { $id: 'https://example.com/in.json', type: 'object' } })]), /already exists/);
  });
});

describe('GET /v1/models (filters)', () => {
  it('no filter: OpenAI list with `auto` first, catalog metadata per entry', async () => {
    const r = await get(env.base, '/v1/models');
    assert.equal(r.status, 200);
    assert.equal(r.json.object, 'list');
    assert.equal(r.json.data[0].id, 'auto');
    const g = r.json.data.find((m: any) => m.id === 'gpt-4-1106-preview');
    assert.equal(g.object, 'model');
    assert.equal(g.catalog_id, 'openai/gpt-4-1106-preview');
    assert.equal(g.price_tier, 'premium');
    assert.equal(g.catalog_visibility, 'featured');
    assert.deepEqual(g.capabilities, ['text_generation', 'coding', 'reasoning']);
  });

  it('each filter', async () => {
    const q = async (qs: string) => { const r = await get(env.base, `/v1/models?${qs}`); assert.equal(r.status, 200, r.text); return ids(r); };
    assert.deepEqual(await q('task_type=image_generation'), ['openai/dall-e-3']);
    assert.deepEqual(await q('provider=anthropic'), ['anthropic/claude-v2']);
    assert.deepEqual(await q('category=image-generation'), ['openai/dall-e-3']);
    assert.deepEqual(await q('capabilities=coding,reasoning'), ['openai/gpt-4-1106-preview']);
    assert.deepEqual(await q('type=hosted'), ['meta/local-llama']);
    assert.deepEqual(await q('catalog_family=llm/openai--gpt-3.5'), ['openai/gpt-3.5-turbo-1106']);
    assert.deepEqual(await q('catalog_visibility=featured'), ['openai/gpt-4-1106-preview', 'mistralai/mixtral-8x7b-chat']);
    const routable = await q('routable_only=true');
    assert.ok(!routable.includes('meta/local-llama') && !routable.includes('openai/dall-e-3') && routable.length === 5);
    assert.deepEqual(await q('provider=openai&task_type=text_generation'), ['openai/gpt-4-1106-preview', 'openai/gpt-3.5-turbo-1106']);
  });

  it('a bad filter value or an unknown parameter: 400 naming it', async () => {
    for (const [qs, param] of [['type=cloud', 'type'], ['catalog_visibility=x', 'catalog_visibility'], ['routable_only=yes', 'routable_only'], ['tasktype=x', 'tasktype']]) {
      const r = await get(env.base, `/v1/models?${qs}`);
      assert.equal(r.status, 400, qs);
      assert.equal(r.json.error.param, param);
    }
  });
});

describe('POST /v1/models/query', () => {
  it('filters, tags (any), text search, price_tier', async () => {
    const q = async (body: unknown) => { const r = await post(env.base, '/v1/models/query', body); assert.equal(r.status, 200, r.text); return r.json.data.map((m: any) => m.id); };
    assert.deepEqual(await q({ price_tier: 'economy' }), ['mistralai/mistral-7b-chat']);
    assert.deepEqual(await q({ price_tier: 'premium' }), ['openai/gpt-4-1106-preview', 'anthropic/claude-v2']);
    assert.deepEqual(await q({ tags: ['writing', 'image'] }), ['anthropic/claude-v2', 'openai/dall-e-3']);
    assert.deepEqual(await q({ text: 'LONG DOCUMENTS' }), ['anthropic/claude-v2']);
    assert.deepEqual(await q({ text: 'mistralai' }), ['mistralai/mixtral-8x7b-chat', 'mistralai/mistral-7b-chat']);
    assert.deepEqual(await q({ routable_only: true, provider: 'meta' }), []);
    assert.deepEqual(await q({ capabilities: ['image_generation'], catalog_visibility: 'standard' }), ['openai/dall-e-3']);
    assert.deepEqual(await q({ task_type: 'text_generation', category: 'llm', type: 'proxied', catalog_family: 'llm/mistralai--mistral' }), ['mistralai/mistral-7b-chat']);
  });

  it('pagination: limit, offset, total, has_more; pages cover the catalog once', async () => {
    const all = (await post(env.base, '/v1/models/query', {})).json;
    assert.equal(all.total, 7);
    assert.equal(all.limit, 100);
    assert.equal(all.offset, 0);
    const seen: string[] = [];
    for (let offset = 0; ; offset += 3) {
      const p = (await post(env.base, '/v1/models/query', { limit: 3, offset })).json;
      assert.equal(p.total, 7);
      seen.push(...p.data.map((m: any) => m.id));
      if (!p.has_more) break;
    }
    assert.deepEqual(seen, all.data.map((m: any) => m.id));
    const past = (await post(env.base, '/v1/models/query', { offset: 50 })).json;
    assert.deepEqual(past.data, []);
    assert.equal(past.has_more, false);
  });

  it('400s: limit over 500, unknown field, bad price_tier, tags not strings', async () => {
    for (const [body, param] of [[{ limit: 501 }, 'limit'], [{ limit: 0 }, 'limit'], [{ offset: -1 }, 'offset'], [{ colour: 1 }, 'colour'], [{ price_tier: 'cheap' }, 'price_tier'], [{ tags: [1] }, 'tags'], [{ routable_only: 'maybe' }, 'routable_only']] as const) {
      const r = await post(env.base, '/v1/models/query', body);
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.equal(r.json.error.param, param);
    }
  });
});

describe('GET /v1/models/{provider}/{model}', () => {
  it('full metadata, provenance, benchmarks, performance_timeseries, schemas', async () => {
    const r = await get(env.base, '/v1/models/openai/gpt-4-1106-preview');
    assert.equal(r.status, 200);
    const m = r.json;
    assert.equal(m.id, 'openai/gpt-4-1106-preview');
    assert.equal(m.object, 'model');
    assert.equal(m.price_tier, 'premium');
    assert.equal(m.catalog_family, 'llm/openai--gpt-4');
    assert.equal(m.catalog_visibility, 'featured');
    assert.deepEqual(m.provenance, { creator: 'OpenAI', license: 'proprietary' });
    assert.deepEqual(m.benchmarks, { mmlu: 86.4 });
    assert.deepEqual(m.pricing, { input_per_million_tokens: 10, output_per_million_tokens: 30 });
    assert.equal(m.performance_timeseries.length, 1);
    assert.equal(typeof m.performance_timeseries[0].successes, 'number');
    assert.deepEqual(m.input_schema.required, ['messages']);
    const plain = (await get(env.base, '/v1/models/anthropic/claude-v2')).json;
    assert.equal('provenance' in plain, false);
    assert.equal('benchmarks' in plain, false);
  });

  it('a slashed configured name: the catalog answer raw, OpenAI\'s with %2F; unknown: 404 model_not_found', async () => {
    const raw = await get(env.base, '/v1/models/mistralai/mixtral-8x7b-chat');
    assert.equal(raw.json.id, 'mistralai/mixtral-8x7b-chat');
    assert.equal(raw.json.price_tier, 'standard');
    const sdk = await get(env.base, '/v1/models/mistralai%2Fmixtral-8x7b-chat');
    assert.equal(sdk.json.id, 'mistralai/mixtral-8x7b-chat');
    assert.equal((await get(env.base, '/v1/models/auto')).json.owned_by, 'switchyard');
    const missing = await get(env.base, '/v1/models/meta/llama-9');
    assert.equal(missing.status, 404);
    assert.equal(missing.json.error.code, 'model_not_found');
    assert.equal(missing.json.error.param, 'model');
  });

  it('input-schema, output-schema; validate-input / validate-output list every ajv error', async () => {
    const i = await get(env.base, '/v1/models/openai/dall-e-3/input-schema');
    assert.equal(i.status, 200);
    assert.equal(i.json.model, 'openai/dall-e-3');
    assert.deepEqual(i.json.schema.required, ['prompt']);
    const o = await get(env.base, '/v1/models/openai/dall-e-3/output-schema');
    assert.deepEqual(o.json.schema.required, ['url']);
    const ok = await post(env.base, '/v1/models/openai/dall-e-3/validate-input', { input: { prompt: 'a cat', size: '1024x1024' } });
    assert.deepEqual(ok.json, { model: 'openai/dall-e-3', valid: true, errors: [] });
    const bad = await post(env.base, '/v1/models/openai/dall-e-3/validate-input', { input: { prompt: '', size: 'huge' } });
    assert.equal(bad.json.valid, false);
    assert.deepEqual(bad.json.errors.map((e: any) => e.path).sort(), ['input.prompt', 'input.size']);
    const out = await post(env.base, '/v1/models/openai/gpt-3.5-turbo-1106/validate-output', { output: { choices: [{ message: { role: 'assistant', content: 'hi' } }] } });
    assert.equal(out.json.valid, true);
    const outBad = await post(env.base, '/v1/models/openai/gpt-3.5-turbo-1106/validate-output', { output: { usage: {} } });
    assert.equal(outBad.json.valid, false);
    assert.equal(outBad.json.errors[0].keyword, 'required');
    const missing = await post(env.base, '/v1/models/openai/dall-e-3/validate-input', {});
    assert.equal(missing.status, 400);
    assert.equal(missing.json.error.param, 'input');
    assert.equal((await get(env.base, '/v1/models/openai/nope/input-schema')).status, 404);
  });
});

describe('tags, price tiers, taxonomy, families', () => {
  it('GET /v1/models/tags: every tag with its count', async () => {
    const r = await get(env.base, '/v1/models/tags');
    assert.equal(r.status, 200);
    const t = Object.fromEntries(r.json.data.map((x: any) => [x.tag, x.count]));
    assert.equal(t.cheap, 3);
    assert.equal(t.image, 1);
  });

  it('GET /v1/models/price-tiers: five tiers in order with bounds and members; unpriced listed apart', async () => {
    const r = await get(env.base, '/v1/models/price-tiers');
    assert.deepEqual(r.json.data.map((x: any) => x.tier), ['economy', 'standard', 'balanced', 'premium', 'flagship']);
    assert.equal(r.json.data[0].max_blended_per_million, 0.5);
    assert.equal(r.json.data[4].max_blended_per_million, null);
    assert.deepEqual(r.json.data[0].models, ['mistralai/mistral-7b-chat']);
    assert.deepEqual(r.json.unpriced, ['meta/local-llama']);
  });

  it('GET /v1/catalog/taxonomy', async () => {
    const r = await get(env.base, '/v1/catalog/taxonomy');
    assert.deepEqual(r.json.data.map((x: any) => x.id), ['image-generation', 'llm']);
    assert.equal(r.json.data[1].model_count, 6);
  });

  it('GET /v1/catalog/families: filters and pagination (default 24, max 100)', async () => {
    const all = (await get(env.base, '/v1/catalog/families')).json;
    assert.equal(all.limit, 24);
    assert.equal(all.total, 7);
    const q = async (qs: string) => (await get(env.base, `/v1/catalog/families?${qs}`)).json;
    assert.deepEqual((await q('taxonomy=image-generation')).data.map((f: any) => f.id), ['image-generation/openai--dall-e-3']);
    const routable = await q('routable_only=true');
    assert.equal(routable.total, 5);
    assert.deepEqual((await q('q=mixtral')).data.map((f: any) => f.id), ['llm/mistralai--mixtral']);
    const p1 = await q('limit=4'), p2 = await q('limit=4&offset=4');
    assert.equal(p1.has_more, true);
    assert.equal(p2.has_more, false);
    assert.deepEqual([...p1.data, ...p2.data].map((f: any) => f.id), all.data.map((f: any) => f.id));
    for (const qs of ['limit=101', 'limit=0', 'offset=-1', 'routable_only=1', 'page=2']) assert.equal((await get(env.base, `/v1/catalog/families?${qs}`)).status, 400, qs);
  });

  it('GET /v1/catalog/families/{id}: the family with its variants; unknown 404', async () => {
    const r = await get(env.base, '/v1/catalog/families/llm/openai--gpt-4');
    assert.equal(r.status, 200);
    assert.equal(r.json.taxonomy, 'llm');
    assert.equal(r.json.provider, 'openai');
    assert.deepEqual(r.json.variants.map((v: any) => v.id), ['openai/gpt-4-1106-preview']);
    const miss = await get(env.base, '/v1/catalog/families/llm/nope--x');
    assert.equal(miss.status, 404);
    assert.equal(miss.json.error.param, 'id');
  });
});
