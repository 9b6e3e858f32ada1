/**
 * The async embedding path end to end: `embedder: {kind: onnx, dir}` with the
 * tiny generated BERT (no download) and a profile fitted to that embedder's
 * identity. Covers createEmbedSource's async branch, the Promise path through
 * the edge (corked writes after an await), the cache and supplied embeddings.
 */
import { it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeTestOnnxModel } from '../../src/routing/embedders/onnx-testmodel.ts';
import { OnnxEmbedder } from '../../src/routing/embedders/onnx.ts';
import { costNormalisation, PROFILE_FORMAT, PROFILE_VERSION, saveProfile, loadProfile } from '../../src/routing/profile.ts';
import { Router } from '../../src/routing/router.ts';
import { mulberry32 } from '../../src/fit/kmeans.ts';
import { createEmbedSource } from '../../src/api/embed-source.ts';
import { get, post, startTestServer, type TestServer } from './helpers.ts';

const TEXTS = ['write python code to sort a list', 'prove the square root of two is irrational', 'hello how are you', 'cooking pasta at home', 'how do plants absorb gas'];
const MODELS = ['small', 'medium', 'large'];

let root = '';
let modelDir = '';
let profileDir = '';
let embedder: OnnxEmbedder;
let router: Router;
let t: TestServer;

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'switchyard-onnx-server-'));
  modelDir = (await makeTestOnnxModel(join(root, 'tiny-bert'))).dir;
  embedder = await OnnxEmbedder.load(modelDir);
  // A 5-cluster profile whose centroids are the embeddings of TEXTS, fitted "with" this embedder.
  const dim = embedder.dim, K = TEXTS.length;
  const centroids = await embedder.embedMany(TEXTS);
  const r = mulberry32(7);
  const errors = Float32Array.from({ length: K * MODELS.length }, () => r());
  const cost = [0.1, 1, 10];
  const n = costNormalisation(cost);
  profileDir = join(root, 'profile');
  saveProfile(profileDir, {
    manifest: {
      format: PROFILE_FORMAT, version: PROFILE_VERSION, name: 'onnx-test', created: '2026-01-01T00:00:00Z',
      embedder: { id: embedder.id, dim, hash: embedder.hash }, k: K,
      models: MODELS.map((name, i) => ({ name, cost_per_1k: cost[i], pricing: null })),
      cost_normalisation: { kind: 'log-range', min_per_1k: n.min, max_per_1k: n.max },
      assignment: { mode: 'hard', temperature: 0.05, top: 1 }, default_cost_weight: 0.1,
      fit: {}, files: { centroids: '', errors: '', counts: '' }, sha256: {},
    },
    k: K, dim, models: MODELS, centroids, errors, counts: new Uint32Array(K * MODELS.length).fill(5),
  });
  router = new Router(loadProfile(profileDir, embedder));
  t = await startTestServer({ router: { profile: profileDir }, embedder: { kind: 'onnx', dir: modelDir } });
});

after(async () => {
  await t?.close();
  await embedder?.close();
  await rm(root, { recursive: true, force: true });
});

it('createEmbedSource: onnx is async (an EmbedBackend), native is sync', async () => {
  const s = await createEmbedSource({ embedder: { kind: 'onnx', dir: modelDir }, router: { profile: profileDir, default_cost_weight: null, cache_size: 0, nearest: 'auto' }, workers: 1 });
  assert.equal(s.kind, 'async');
  if (s.kind === 'async') {
    assert.equal(s.backend.id, embedder.id);
    assert.equal(s.backend.hash, embedder.hash);
    assert.deepEqual(await s.backend.embed(TEXTS[0]), await embedder.embed(TEXTS[0]));
    await s.backend.close();
  }
  const native = await createEmbedSource({ embedder: { kind: 'native', dir: null }, router: { profile: join(import.meta.dirname, '../../native-models/routerbench-default'), default_cost_weight: null, cache_size: 0, nearest: 'auto' }, workers: 1 });
  assert.equal(native.kind, 'sync');
});

it('routes through the async backend like the in-process router; health says backend', async () => {
  const h = await get(t.base, '/health');
  assert.equal(h.status, 200);
  assert.equal(h.json.embedder, embedder.id);
  assert.equal(h.json.embedding, 'backend');
  assert.equal(h.json.k, TEXTS.length);
  for (const [i, prompt] of TEXTS.entries()) {
    const r = await post(t.base, '/v1/route', { prompt, cost_weight: 0.05 * i });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    const expect = router.route(await embedder.embed(prompt), { costWeight: 0.05 * i });
    assert.equal(r.json.selected_model, expect.model);
    assert.equal(r.json.cluster_id, expect.clusterId);
    assert.ok(r.json.usage.embedding_ms > 0);
    const again = await post(t.base, '/v1/route', { prompt, cost_weight: 0.05 * i });
    assert.equal(again.json.cache_hit, true);
    assert.equal(again.json.selected_model, expect.model);
  }
});

it('/v1/embeddings through the backend, and its vectors route like their prompts', async () => {
  const e = await post(t.base, '/v1/embeddings', { input: TEXTS });
  assert.equal(e.status, 200);
  assert.equal(e.json.model, embedder.id);
  for (const [i, d] of e.json.data.entries()) {
    assert.equal(d.embedding.length, embedder.dim);
    const viaVec = await post(t.base, '/v1/route', { embedding: d.embedding });
    const viaPrompt = await post(t.base, '/v1/route', { prompt: TEXTS[i] });
    assert.equal(viaVec.json.selected_model, viaPrompt.json.selected_model);
    assert.equal(viaVec.json.cluster_id, viaPrompt.json.cluster_id);
  }
  // 100 concurrent async requests resolve and are each written once.
  const many = await Promise.all(Array.from({ length: 100 }, (_, i) => post(t.base, '/v1/route', { prompt: `${TEXTS[i % 5]} ${i}` })));
  for (const r of many) assert.equal(r.status, 200);
});

it('a native-fitted profile refuses the ONNX embedder at load (identity check)', async () => {
  const s = await startTestServer({ embedder: { kind: 'onnx', dir: modelDir } }, { load: false });
  try {
    await assert.rejects(s.server.load(), /fitted with embedder "native-hashgram-v1"/);
    assert.equal((await get(s.base, '/health')).json.status, 'failed');
  } finally { await s.close(); }
});
