/**
 * Both routers through the server (issue 13): a clusters profile and a
 * neighbours profile pass one contract suite over HTTP POST /v1/route
 * (supplied embeddings on known axes, so every expected number is exact), and
 * a text prompt routes with either. The suite's later profiles are swapped in
 * with POST /v1/router/reload, so it also checks reloads between kinds.
 *
 * Profiles: K regions on the first K axes of the native embedder's 384
 * dimensions (the default profile's embedder files, so the server's embedder
 * check passes), M models with the given costs; the neighbours one adds `per`
 * labelled prompts on each axis whose errors are that region's (so both
 * routers predict errors[k] on axis k; cluster_id = the nearest centroid).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assertError, get, post, startTestServer, type TestServer } from './helpers.ts';
import { DEFAULT_PROFILE_DIR } from '../../src/fit/options.ts';
import { loadProfile, saveProfile, type ProfileManifest } from '../../src/routing/profile.ts';
import { handProfile } from '../routing/helpers.ts';
import { mulberry32 } from '../../src/fit/kmeans.ts';

const root = mkdtempSync(join(tmpdir(), 'nb-server-'));
after(() => rmSync(root, { recursive: true, force: true }));
const EMBEDDER = loadProfile(DEFAULT_PROFILE_DIR).manifest.embedder;
const DIM = EMBEDDER.dim;
let dirs = 0;

type Kind = 'clusters' | 'neighbours';

function profileDir(kind: Kind, errors: number[][], costs: number[], opts: Partial<ProfileManifest> = {}): string {
  const p = handProfile(errors, costs, { ...opts, embedder: EMBEDDER, name: `${kind}-${dirs}` }, DIM);
  if (kind === 'neighbours') {
    const K = errors.length, M = costs.length, per = 6, n = K * per;
    const points = new Float32Array(n * DIM), labels = new Float32Array(n * M);
    for (let c = 0; c < K; c++) for (let i = 0; i < per; i++) {
      const row = c * per + i;
      points[row * DIM + c] = 1;
      for (let m = 0; m < M; m++) labels[row * M + m] = errors[c][m];
    }
    p.manifest = { ...p.manifest, router: { kind: 'neighbours', k: 4, alpha: 2, samples: n } };
    p.points = points; p.labels = labels;
  } else p.manifest = { ...p.manifest, router: { kind: 'clusters' } };
  const dir = join(root, `p${dirs++}`);
  saveProfile(dir, p);
  for (const f of ['embedder.json', 'idf.f32']) copyFileSync(join(DEFAULT_PROFILE_DIR, f), join(dir, f));
  return dir;
}

const axis = (hot: number, second?: number, w = 0): number[] => {
  const v = new Array<number>(DIM).fill(0);
  v[hot] = 1;
  if (second !== undefined) { const n = Math.hypot(1, w); v[hot] = 1 / n; v[second] = w / n; }
  return v;
};

// Costs 1, 10, 100 per 1k -> cost_norm 0, 0.5, 1.
const errors = [
  [0.5, 0.3, 0.1], // region 0: the dear model is best
  [0.2, 0.2, 0.19], // region 1: all about equal
];
const costs = [1, 10, 100];
const near = (a: number, b: number) => Math.abs(a - b) < 1e-6;

function httpContract(kind: Kind): void {
  describe(`/v1/route contract: ${kind} profile`, () => {
    let s: TestServer;
    const route = async (body: Record<string, unknown>) => {
      const r = await post(s.base, '/v1/route', body);
      assert.equal(r.status, 200, JSON.stringify(r.json));
      return r.json;
    };
    before(async () => { s = await startTestServer({ router: { profile: profileDir(kind, errors, costs) } }); });
    after(async () => { await s.close(); });

    it('serves it: /health names the router kind', async () => {
      const h = (await get(s.base, '/health')).json;
      assert.equal(h.status, 'ok');
      assert.equal(h.router, kind);
      assert.deepEqual(h.models, ['m0', 'm1', 'm2']);
    });

    it('lambda 0 picks the lowest predicted error; cluster_id is the nearest centroid', async () => {
      const d = await route({ embedding: axis(0), cost_weight: 0 });
      assert.equal(d.selected_model, 'm2');
      assert.equal(d.cluster_id, 0);
      assert.ok(near(d.expected_error, 0.1), `expected error ${d.expected_error}`);
      assert.equal((await route({ embedding: axis(1), cost_weight: 0 })).cluster_id, 1);
    });

    it('scores are predicted error + lambda * cost_norm for every model', async () => {
      const d = await route({ embedding: axis(0), cost_weight: 0.3 });
      const expect = [0.5, 0.3 + 0.15, 0.1 + 0.3];
      for (let m = 0; m < 3; m++) assert.ok(near(d.all_scores[`m${m}`], expect[m]), `model ${m}: ${d.all_scores[`m${m}`]}`);
      assert.equal(d.selected_model, 'm2');
      assert.ok(near(d.cost_adjusted_score, 0.4));
      assert.equal(d.cost_weight, 0.3);
      assert.equal((await route({ embedding: axis(0), cost_weight: 0.5 })).selected_model, 'm0');
    });

    it('large lambda is cheapest first; a region where all are equal goes cheap at small lambda', async () => {
      assert.equal((await route({ embedding: axis(0), cost_weight: 5 })).selected_model, 'm0');
      assert.equal((await route({ embedding: axis(1), cost_weight: 0.05 })).selected_model, 'm0');
    });

    it('as lambda grows the chosen model never gets dearer', async () => {
      const rnd = mulberry32(5);
      for (let t = 0; t < 12; t++) {
        const e = axis(t % 2, 1 - (t % 2), rnd());
        let last = Infinity;
        for (const lam of [0, 0.01, 0.05, 0.1, 0.2, 0.4, 0.8, 2]) {
          const c = costs[Number((await route({ embedding: e, cost_weight: lam })).selected_model.slice(1))];
          assert.ok(c <= last, `t=${t} lambda=${lam}: cost ${c} after ${last}`);
          last = c;
        }
      }
    });

    it('restricts candidates (the excluded are left out of all_scores) and refuses an unknown name', async () => {
      const d = await route({ embedding: axis(0), cost_weight: 0, available_models: ['m0', 'm1'] });
      assert.equal(d.selected_model, 'm1');
      assert.deepEqual(Object.keys(d.all_scores), ['m0', 'm1']);
      assertError(await post(s.base, '/v1/route', { embedding: axis(0), available_models: ['nope'] }), 'invalid_request', 'available_models[0]');
    });

    it('is deterministic, and a text prompt routes too', async () => {
      const e = axis(0, 1, 0.7);
      const a = await route({ embedding: e, cost_weight: 0.1 }), b = await route({ embedding: e, cost_weight: 0.1 });
      assert.equal(a.selected_model, b.selected_model);
      assert.deepEqual(a.all_scores, b.all_scores);
      const t = await route({ prompt: 'Write a haiku about routers.' });
      assert.ok(['m0', 'm1', 'm2'].includes(t.selected_model));
      assert.ok(t.cluster_id === 0 || t.cluster_id === 1);
    });

    it('a model unknown everywhere (NaN) is never selected (reloaded profile)', async () => {
      const r = await post(s.base, '/v1/router/reload', { profile: profileDir(kind, [[0.5, NaN, 0.4], [0.5, NaN, 0.4]], [1, 2, 3]) });
      assert.equal(r.status, 200, JSON.stringify(r.json));
      assert.equal(r.json.router, kind);
      const d = await route({ embedding: axis(0), cost_weight: 0 });
      assert.equal(d.selected_model, 'm2');
      assert.equal(d.all_scores.m1, null);
      assertError(await post(s.base, '/v1/route', { embedding: axis(0), available_models: ['m1'] }), 'no_candidate');
    });

    it('uses the profile default cost weight when none is given (reloaded profile)', async () => {
      const r = await post(s.base, '/v1/router/reload', { profile: profileDir(kind, errors, costs, { default_cost_weight: 5 }) });
      assert.equal(r.status, 200, JSON.stringify(r.json));
      const d = await route({ embedding: axis(0) });
      assert.equal(d.cost_weight, 5);
      assert.equal(d.selected_model, 'm0');
    });
  });
}

httpContract('clusters');
httpContract('neighbours');

describe('neighbours profile: where the two routers differ, the server follows the neighbours', () => {
  it('labelled prompts that disagree with their cluster move the decision; reload switches kinds both ways', async () => {
    // Cluster tables say m1 (0.2 < 0.4) everywhere on axis 0; the labelled prompts there say m0 is right (0 vs 1).
    const errs = [[0.4, 0.2], [0.4, 0.2]];
    const clusters = profileDir('clusters', errs, [1, 1]);
    const p = loadProfile(profileDir('neighbours', errs, [1, 1]));
    for (let i = 0; i < 6; i++) { p.labels![i * 2] = 0; p.labels![i * 2 + 1] = 1; } // the 6 labelled prompts on axis 0
    const nbDir = join(root, `p${dirs++}`);
    saveProfile(nbDir, p);
    for (const f of ['embedder.json', 'idf.f32']) copyFileSync(join(DEFAULT_PROFILE_DIR, f), join(nbDir, f));
    const s = await startTestServer({ router: { profile: clusters } });
    try {
      const pick = async () => (await post(s.base, '/v1/route', { embedding: axis(0), cost_weight: 0 })).json.selected_model;
      assert.equal(await pick(), 'm1');
      assert.equal((await post(s.base, '/v1/router/reload', { profile: nbDir })).status, 200);
      // (4 x 0 + 2 x 0.4) / 6 = 0.133 for m0 against (4 x 1 + 2 x 0.2) / 6 = 0.733 for m1.
      const d = (await post(s.base, '/v1/route', { embedding: axis(0), cost_weight: 0 })).json;
      assert.equal(d.selected_model, 'm0');
      assert.ok(near(d.expected_error, 0.8 / 6), String(d.expected_error));
      assert.equal(d.cluster_id, 0);
      assert.equal((await post(s.base, '/v1/router/reload', { profile: clusters })).status, 200);
      assert.equal(await pick(), 'm1');
    } finally { await s.close(); }
  });
});

describe('neighbours profile with two HTTP threads', () => {
  it('every thread serves it with the same decisions as one thread', async () => {
    const dir = profileDir('neighbours', errors, costs);
    const s = await startTestServer({ server: { threads: 2 }, router: { profile: dir } });
    try {
      for (let i = 0; i < 8; i++) {
        const res = await fetch(`${s.base}/v1/route`, { method: 'POST', headers: { 'content-type': 'application/json', connection: 'close' }, body: JSON.stringify({ embedding: axis(0), cost_weight: 0.3 }) });
        const d = await res.json() as any;
        assert.equal(d.selected_model, 'm2');
        assert.ok(near(d.all_scores.m1, 0.45));
        assert.equal(d.cluster_id, 0);
      }
      const h = (await get(s.base, '/health')).json;
      assert.equal(h.router, 'neighbours');
    } finally { await s.close(); }
  });
});

describe('neighbours profile with its searches in the route pool (router.nearest: pool)', () => {
  it('the same decisions as inline, concurrent text prompts included; /health shows both pools', async () => {
    // 300 labelled prompts at random in the first 8 dimensions, random errors: the neighbours decide.
    const rnd = mulberry32(77);
    const p = loadProfile(profileDir('neighbours', errors, costs));
    const N = 300, M = costs.length;
    const points = new Float32Array(N * DIM), labels = new Float32Array(N * M);
    for (let i = 0; i < N; i++) {
      let n = 0;
      for (let d = 0; d < 8; d++) { const x = rnd() * 2 - 1; points[i * DIM + d] = x; n += x * x; }
      for (let d = 0; d < 8; d++) points[i * DIM + d] /= Math.sqrt(n);
      for (let m = 0; m < M; m++) labels[i * M + m] = rnd();
    }
    p.manifest = { ...p.manifest, router: { kind: 'neighbours', k: 7, alpha: 2, samples: N } };
    p.points = points; p.labels = labels;
    const dir = join(root, `p${dirs++}`);
    saveProfile(dir, p);
    for (const f of ['embedder.json', 'idf.f32']) copyFileSync(join(DEFAULT_PROFILE_DIR, f), join(dir, f));
    const inline = await startTestServer({ router: { profile: dir, nearest: 'inline', cache_size: 0 } });
    const pooled = await startTestServer({ router: { profile: dir, nearest: 'pool', cache_size: 0 }, workers: 2 });
    try {
      const h = (await get(pooled.base, '/health')).json;
      assert.equal(h.routing, 'pool');
      assert.equal(h.neighbour_pool.k, N);
      assert.equal((await get(inline.base, '/health')).json.neighbour_pool, null);
      const queries = Array.from({ length: 20 }, () => { const v = new Array<number>(DIM).fill(0); let n = 0; for (let d = 0; d < 8; d++) { v[d] = rnd() * 2 - 1; n += v[d] * v[d]; } return v.map((x) => x / Math.sqrt(n)); });
      for (const q of queries) {
        const a = (await post(inline.base, '/v1/route', { embedding: q, cost_weight: 0.1 })).json;
        const b = (await post(pooled.base, '/v1/route', { embedding: q, cost_weight: 0.1 })).json;
        assert.equal(b.selected_model, a.selected_model);
        assert.equal(b.cluster_id, a.cluster_id);
        for (const m of Object.keys(a.all_scores)) assert.ok(near(b.all_scores[m], a.all_scores[m]), `${m}: ${b.all_scores[m]} vs ${a.all_scores[m]}`);
      }
      // Text prompts, all at once: each embedding goes through the thread's scratch buffer; the decision must still be its own.
      const prompts = Array.from({ length: 30 }, (_, i) => `Prompt number ${i}: ${['sort a list', 'name a river', 'prove a lemma', 'write a poem', 'fix this SQL'][i % 5]} ${'x'.repeat(i)}`);
      const want: Record<string, number>[] = [];
      for (const prompt of prompts) want.push((await post(inline.base, '/v1/route', { prompt, cost_weight: 0.1 })).json.all_scores);
      const got = await Promise.all(prompts.map((prompt) => post(pooled.base, '/v1/route', { prompt, cost_weight: 0.1 })));
      got.forEach((g, i) => { for (const m of Object.keys(want[i])) assert.ok(near(g.json.all_scores[m], want[i][m]), `prompt ${i} ${m}`); });
    } finally { await inline.close(); await pooled.close(); }
  });
});
