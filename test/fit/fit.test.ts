import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fitProfile, DEFAULT_FIT, DEFAULT_NEIGHBOURS } from '../../src/fit/fit.ts';
import { fitOptionsFrom, UsageError } from '../../src/fit/options.ts';
import { NeighbourRouter } from '../../src/routing/neighbours.ts';
import { mulberry32 } from '../../src/fit/kmeans.ts';
import type { LabelledData } from '../../src/fit/dataset.ts';
import { fitNativeTables, NativeEmbedder } from '../../src/routing/embedders/native.ts';
import { Router } from '../../src/routing/router.ts';
import { crossValidate } from '../../src/fit/evaluate.ts';
import { lambdaGrid } from '../../src/fit/metrics.ts';

const COOK = ['bake', 'pasta', 'oven', 'garlic', 'simmer', 'sauce', 'recipe', 'flour', 'butter', 'roast', 'onion', 'salt'];
const CODE = ['python', 'function', 'array', 'recursion', 'compile', 'integer', 'string', 'loop', 'variable', 'class', 'return', 'list'];

/**
 * Two topics. "cheap" (cost 0.1/1k) is right on cooking, wrong on code; "coder"
 * (1/1k) right on code, a coin flip on cooking; "dear" (10/1k) right on nearly
 * everything. The right routes are known: cooking -> cheap, code -> coder once
 * cost matters at all; everything -> dear at lambda 0 only where it is better.
 */
function synthetic(n: number, seed: number): LabelledData {
  const r = mulberry32(seed);
  const pick = (ws: string[]) => Array.from({ length: 8 }, () => ws[Math.floor(r() * ws.length)]).join(' ');
  const prompts: string[] = [], groups: string[] = [], score: number[] = [], cost: number[] = [];
  for (let i = 0; i < n; i++) {
    const cooking = i % 2 === 0;
    prompts.push(cooking ? `How do I ${pick(COOK)}?` : `Write code: ${pick(CODE)}`);
    groups.push(cooking ? 'cook' : 'code');
    const pCheap = cooking ? 0.95 : 0.05, pCoder = cooking ? 0.5 : 0.95, pDear = 0.97;
    score.push(r() < pCheap ? 1 : 0, r() < pCoder ? 1 : 0, r() < pDear ? 1 : 0);
    cost.push(0.0001, 0.001, 0.01);
  }
  return { models: ['cheap', 'coder', 'dear'], prompts, groups, score: Float32Array.from(score), cost: Float64Array.from(cost) };
}

describe('fitProfile on a synthetic set with a known answer', async () => {
  const data = synthetic(400, 1);
  const embedder = new NativeEmbedder(fitNativeTables(data.prompts));
  const profile = await fitProfile(data, embedder, { ...DEFAULT_FIT, k: 6, coarseK: 2, name: 'synthetic' });
  const router = new Router(profile);
  const cookQ = await embedder.embed('How do I roast garlic and onion in the oven?');
  const codeQ = await embedder.embed('Write code: python function to loop over a list of integer values');

  it('routes each topic to the model that is good and cheap for it', () => {
    assert.equal(router.route(cookQ, { costWeight: 0.2 }).model, 'cheap');
    assert.equal(router.route(codeQ, { costWeight: 0.2 }).model, 'coder');
  });

  it('estimates per-cluster errors close to the true rates', () => {
    const d = router.route(codeQ, { costWeight: 0 });
    const M = 3;
    const e = profile.errors.subarray(d.clusterId * M, d.clusterId * M + M);
    assert.ok(Math.abs(e[0] - 0.95) < 0.15, `cheap on code ${e[0]}`);
    assert.ok(Math.abs(e[1] - 0.05) < 0.1, `coder on code ${e[1]}`);
  });

  it('goes cheapest at large lambda and best-quality at lambda 0', () => {
    assert.equal(router.route(codeQ, { costWeight: 100 }).model, 'cheap');
    assert.equal(router.route(codeQ, { costWeight: 0 }).model === 'cheap', false);
  });

  it('records models, costs and the log-range cost normalisation', () => {
    assert.deepEqual(profile.models, ['cheap', 'coder', 'dear']);
    assert.deepEqual(profile.manifest.models.map((m) => Math.round(m.cost_per_1k * 1000) / 1000), [0.1, 1, 10]);
    assert.deepEqual([...profile.costNorm].map((x) => Math.round(x * 1e6) / 1e6), [0, 0.5, 1]);
    assert.equal(profile.manifest.embedder.hash, embedder.hash);
  });

  it('treats missing labels as unknown, never as failures', async () => {
    const d2 = synthetic(400, 2);
    // Hide every label of "coder" on code prompts: were they read as 0, coder would look
    // perfect-or-wrong; read as unknown, its code clusters fall back to the parent estimate.
    for (let i = 0; i < 400; i++) if (d2.groups[i] === 'code') d2.score[i * 3 + 1] = NaN;
    const p = await fitProfile(d2, embedder, { ...DEFAULT_FIT, k: 6, coarseK: 1, name: 'missing' });
    const rr = new Router(p);
    const c = rr.route(codeQ, { costWeight: 0 }).clusterId;
    assert.equal(p.counts[c * 3 + 1], 0, 'no labelled samples behind the hidden cell');
    // parent = global error of coder on the prompts where it is known (cooking): ~0.5, not 1.0 and not 0
    assert.ok(Math.abs(p.errors[c * 3 + 1] - 0.5) < 0.12, `coder error on code cluster ${p.errors[c * 3 + 1]}`);
  });

  it('is deterministic for a fixed seed', async () => {
    const again = await fitProfile(data, embedder, { ...DEFAULT_FIT, k: 6, coarseK: 2, name: 'synthetic' });
    assert.deepEqual(again.centroids, profile.centroids);
    assert.deepEqual(again.errors, profile.errors);
  });

  it('cross-validation beats every single model on the synthetic set', async () => {
    const cv = await crossValidate(synthetic(300, 3), 3, { ...DEFAULT_FIT, k: 6, coarseK: 2, name: 'cv' }, lambdaGrid(40));
    assert.ok(cv.pooled.aiq > cv.pooled.aiqSingle + 0.05, `router ${cv.pooled.aiq} vs single ${cv.pooled.aiqSingle}`);
    assert.ok(cv.pooled.aiq <= cv.pooled.aiqOracle + 1e-9);
  });
});

describe('fit --router neighbours --nprobe', () => {
  it('writes router.nprobe when given, leaves it out when not, and refuses bad values naming the flag', async () => {
    const data = synthetic(120, 5);
    const embedder = new NativeEmbedder(fitNativeTables(data.prompts));
    const o = fitOptionsFrom({ router: 'neighbours', nprobe: '4', quiet: true }, 'nb');
    assert.deepEqual(o.router, { ...DEFAULT_NEIGHBOURS, nprobe: 4 });
    const p = await fitProfile(data, embedder, { ...o, k: 6, coarseK: 2 });
    assert.deepEqual(p.manifest.router, { kind: 'neighbours', k: DEFAULT_NEIGHBOURS.k, alpha: DEFAULT_NEIGHBOURS.alpha, samples: 120, nprobe: 4 });
    assert.equal(new NeighbourRouter(p).nprobe, 4);
    assert.equal((fitOptionsFrom({ router: 'neighbours', nprobe: 'all', quiet: true }, 'nb').router as { nprobe?: unknown }).nprobe, 'all');
    const none = await fitProfile(data, embedder, { ...fitOptionsFrom({ router: 'neighbours', quiet: true }, 'nb'), k: 6, coarseK: 2 });
    assert.ok(none.manifest.router?.kind === 'neighbours' && !('nprobe' in none.manifest.router));
    for (const bad of ['-1', '1.5', 'some', '']) {
      assert.throws(() => fitOptionsFrom({ router: 'neighbours', nprobe: bad, quiet: true }, 'nb'), (e: Error) => e instanceof UsageError && /--nprobe must be an integer >= 0 or "all"/.test(e.message), bad);
    }
    assert.throws(() => fitOptionsFrom({ nprobe: '4', quiet: true }, 'nb'), /--nprobe need --router neighbours/);
  });
});
