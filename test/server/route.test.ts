/**
 * POST /v1/route on the real server: the response contract field by field,
 * decisions equal to the in-process router's, available_models, cost_weight
 * default, cache hits, supplied embeddings (array and base64), and 1,000
 * concurrent requests.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Pool } from 'undici';
import { loadNativeTables, NativeEmbedder } from '../../src/routing/embedders/native.ts';
import { loadProfile } from '../../src/routing/profile.ts';
import { Router } from '../../src/routing/router.ts';
import { DEFAULT_PROFILE_DIR } from '../../src/config/schema.ts';
import { post, startTestServer, type TestServer, PROMPTS } from './helpers.ts';

const embedder = new NativeEmbedder(loadNativeTables(DEFAULT_PROFILE_DIR));
const profile = loadProfile(DEFAULT_PROFILE_DIR, embedder);
const router = new Router(profile);
const MODELS = profile.models;
const DEFAULT_LAMBDA = profile.manifest.default_cost_weight;


let t: TestServer;
before(async () => { t = await startTestServer(); });
after(async () => { await t.close(); });

describe('POST /v1/route contract', () => {
  it('returns every field with the right type and the router\'s decision', async () => {
    const prompt = PROMPTS[0];
    const r = await post(t.base, '/v1/route', { prompt, cost_weight: 0.3 });
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type')!, /application\/json/);
    const d = r.json;
    const expect = router.route(embedder.embedSync(prompt), { costWeight: 0.3 });
    assert.deepEqual(Object.keys(d).sort(), ['all_scores', 'cache_hit', 'cluster_id', 'cost_adjusted_score', 'cost_weight', 'expected_error', 'selected_model', 'usage']);
    assert.equal(d.selected_model, expect.model);
    assert.ok(MODELS.includes(d.selected_model));
    assert.equal(d.cluster_id, expect.clusterId);
    assert.ok(Number.isInteger(d.cluster_id) && d.cluster_id >= 0 && d.cluster_id < profile.k);
    assert.equal(d.expected_error, expect.expectedError);
    assert.ok(d.expected_error >= 0 && d.expected_error <= 1);
    assert.equal(d.cost_adjusted_score, expect.score);
    assert.equal(d.cost_weight, 0.3);
    assert.deepEqual(Object.keys(d.all_scores), MODELS, 'a score for every candidate (all models when unrestricted)');
    for (const [i, m] of MODELS.entries()) {
      const s = expect.scores[i];
      assert.equal(d.all_scores[m], Number.isNaN(s) ? null : s, m);
    }
    // The selected model has the lowest score.
    const finite = Object.values(d.all_scores).filter((x): x is number => typeof x === 'number');
    assert.equal(d.cost_adjusted_score, Math.min(...finite));
    assert.equal(d.all_scores[d.selected_model], d.cost_adjusted_score);
    assert.equal(d.cache_hit, false);
    assert.deepEqual(Object.keys(d.usage).sort(), ['embedding_ms', 'routing_ms']);
    assert.ok(d.usage.routing_ms >= 0 && d.usage.routing_ms < 1000);
    assert.ok(d.usage.embedding_ms > 0 && d.usage.embedding_ms < 1000);
  });

  it('omitted cost_weight = the profile default (no config override)', async () => {
    const r = await post(t.base, '/v1/route', { prompt: PROMPTS[1] });
    assert.equal(r.json.cost_weight, DEFAULT_LAMBDA);
    assert.equal(r.json.selected_model, router.route(embedder.embedSync(PROMPTS[1])).model);
  });

  it('cost_weight moves the decision toward cheaper models', async () => {
    const hi = await post(t.base, '/v1/route', { prompt: PROMPTS[2], cost_weight: 100 });
    const cheapest = MODELS[profile.costNorm.indexOf(Math.min(...profile.costNorm))];
    assert.equal(hi.json.selected_model, cheapest);
    const zero = await post(t.base, '/v1/route', { prompt: PROMPTS[2], cost_weight: 0 });
    assert.equal(zero.json.cost_adjusted_score, zero.json.expected_error);
  });

  it('available_models restricts the candidates and all_scores to them', async () => {
    const allowed = [MODELS[1], MODELS[4], MODELS[8]];
    for (const prompt of PROMPTS) {
      const r = await post(t.base, '/v1/route', { prompt, available_models: allowed, cost_weight: 0 });
      assert.equal(r.status, 200);
      assert.ok(allowed.includes(r.json.selected_model));
      assert.deepEqual(Object.keys(r.json.all_scores).sort(), [...allowed].sort());
      const expect = router.route(embedder.embedSync(prompt), { costWeight: 0, allowed: router.mask(allowed) });
      assert.equal(r.json.selected_model, expect.model);
    }
    const one = await post(t.base, '/v1/route', { prompt: PROMPTS[0], available_models: [MODELS[3]] });
    assert.equal(one.json.selected_model, MODELS[3]);
  });
});

describe('decision cache', () => {
  it('second identical request is a hit with the same decision; key includes cost_weight and available_models', async () => {
    const body = { prompt: 'A prompt used only by the cache test, 12345.', cost_weight: 0.2 };
    const a = await post(t.base, '/v1/route', body);
    const b = await post(t.base, '/v1/route', body);
    assert.equal(a.json.cache_hit, false);
    assert.equal(b.json.cache_hit, true);
    assert.equal(b.json.usage.embedding_ms, 0);
    const strip = (d: any) => { const { cache_hit: _c, usage: _u, ...rest } = d; return rest; };
    assert.deepEqual(strip(b.json), strip(a.json));
    // Different lambda or candidate set: a different key.
    assert.equal((await post(t.base, '/v1/route', { ...body, cost_weight: 0.21 })).json.cache_hit, false);
    const am = { ...body, available_models: [MODELS[2], MODELS[0]] };
    assert.equal((await post(t.base, '/v1/route', am)).json.cache_hit, false);
    // Order of available_models does not matter; listing every model = unrestricted.
    assert.equal((await post(t.base, '/v1/route', { ...am, available_models: [MODELS[0], MODELS[2], MODELS[0]] })).json.cache_hit, true);
    assert.equal((await post(t.base, '/v1/route', { ...body, available_models: [...MODELS].reverse() })).json.cache_hit, true);
    // Omitted cost_weight shares entries with the explicit default.
    await post(t.base, '/v1/route', { prompt: body.prompt });
    assert.equal((await post(t.base, '/v1/route', { prompt: body.prompt, cost_weight: DEFAULT_LAMBDA })).json.cache_hit, true);
  });

  it('long prompts are cached by hash; cache_size 0 disables the cache', async () => {
    const long = PROMPTS.join(' ').repeat(10);
    await post(t.base, '/v1/route', { prompt: long });
    assert.equal((await post(t.base, '/v1/route', { prompt: long })).json.cache_hit, true);
    assert.equal((await post(t.base, '/v1/route', { prompt: `${long}!` })).json.cache_hit, false);
    const off = await startTestServer({ router: { cache_size: 0 } });
    try {
      await post(off.base, '/v1/route', { prompt: 'same' });
      assert.equal((await post(off.base, '/v1/route', { prompt: 'same' })).json.cache_hit, false);
    } finally { await off.close(); }
  });
});

describe('supplied embeddings', () => {
  it('the /v1/embeddings vector of a prompt routes exactly like the prompt (float and base64)', async () => {
    for (const prompt of PROMPTS) {
      const viaPrompt = await post(t.base, '/v1/route', { prompt, cost_weight: 0.15 });
      const e = await post(t.base, '/v1/embeddings', { input: prompt });
      const vec = e.json.data[0].embedding;
      assert.equal(vec.length, profile.dim);
      const viaVec = await post(t.base, '/v1/route', { embedding: vec, cost_weight: 0.15 });
      const b64 = (await post(t.base, '/v1/embeddings', { input: prompt, encoding_format: 'base64' })).json.data[0].embedding;
      const viaB64 = await post(t.base, '/v1/route', { embedding: b64, cost_weight: 0.15 });
      for (const r of [viaVec, viaB64]) {
        assert.equal(r.status, 200, JSON.stringify(r.json));
        assert.equal(r.json.selected_model, viaPrompt.json.selected_model);
        assert.equal(r.json.cluster_id, viaPrompt.json.cluster_id);
        assert.deepEqual(r.json.all_scores, viaPrompt.json.all_scores);
        assert.equal(r.json.cache_hit, false, 'embedding requests are not cached');
        assert.equal(r.json.usage.embedding_ms, 0);
      }
    }
  });

  it('an unnormalised embedding is normalised; embedding wins over prompt', async () => {
    const v = Array.from(embedder.embedSync(PROMPTS[3]));
    const viaPrompt = await post(t.base, '/v1/route', { prompt: PROMPTS[3] });
    const scaled = await post(t.base, '/v1/route', { embedding: v.map((x) => x * 7.5) });
    assert.equal(scaled.json.selected_model, viaPrompt.json.selected_model);
    assert.equal(scaled.json.cluster_id, viaPrompt.json.cluster_id);
    const both = await post(t.base, '/v1/route', { embedding: v, prompt: PROMPTS[0] });
    assert.equal(both.json.cluster_id, viaPrompt.json.cluster_id);
  });
});

describe('concurrency', () => {
  it('answers 1,000 concurrent requests correctly', async () => {
    const pool = new Pool(t.base, { connections: 64 });
    try {
      const jobs = Array.from({ length: 1000 }, (_, i) => {
        const prompt = `${PROMPTS[i % PROMPTS.length]} (variant ${i % 250})`;
        const cw = (i % 4) * 0.1;
        return { prompt, cw, expect: router.route(embedder.embedSync(prompt), { costWeight: cw }) };
      });
      const replies = await Promise.all(jobs.map(async (j) => {
        const res = await pool.request({ path: '/v1/route', method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: j.prompt, cost_weight: j.cw }) });
        return { status: res.statusCode, json: await res.body.json() as any };
      }));
      replies.forEach((r, i) => {
        assert.equal(r.status, 200);
        assert.equal(r.json.selected_model, jobs[i].expect.model, `request ${i}`);
        assert.equal(r.json.cluster_id, jobs[i].expect.clusterId);
        assert.equal(r.json.cost_adjusted_score, jobs[i].expect.score);
      });
    } finally { await pool.close(); }
  });
});
