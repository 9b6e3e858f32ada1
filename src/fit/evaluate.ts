/**
 * Offline evaluation of a router on labelled data: the lambda sweep, AIQ,
 * single models, the oracle. Cross-validation fits everything that is learned
 * (the embedder's IDF, centroids, errors) on the training folds only.
 */
import type { LabelledData } from './dataset.ts';
import { completeRows, subset } from './dataset.ts';
import { fitProfile, embedAll, type FitOptions } from './fit.ts';
import { aiq, costToReach, bestAccuracyWithin, lambdaGrid, type OperatingPoint } from './metrics.ts';
import { fitNativeTables, NativeEmbedder } from '../routing/embedders/native.ts';
import { Router } from '../routing/router.ts';
import type { Embedder } from '../routing/embedders/types.ts';
import { mulberry32 } from './kmeans.ts';

export interface Sweep {
  lambdas: number[];
  /** Per lambda: summed cost, summed accuracy and prompt count (so folds pool). */
  cost: Float64Array;
  correct: Float64Array;
  n: number;
}

export function emptySweep(lambdas: number[]): Sweep {
  return { lambdas, cost: new Float64Array(lambdas.length), correct: new Float64Array(lambdas.length), n: 0 };
}

export function sweepPoints(s: Sweep): OperatingPoint[] {
  return s.lambdas.map((lambda, i) => ({ lambda, cost: s.cost[i] / s.n, accuracy: s.correct[i] / s.n }));
}

/** Routes every test prompt at every lambda; test rows must have every label. */
export async function sweepRouter(router: Router, embedder: Embedder, test: LabelledData, into: Sweep): Promise<void> {
  const M = test.models.length;
  const idx = test.models.map((m) => {
    const i = router.modelIndex.get(m);
    if (i === undefined) throw new Error(`evaluation data has model "${m}" that the profile does not know`);
    return i;
  });
  const back = new Int32Array(router.models.length).fill(-1);
  idx.forEach((pi, di) => { back[pi] = di; });
  const allowed = new Uint8Array(router.models.length);
  for (const i of idx) allowed[i] = 1;
  const x = await embedAll(embedder, test.prompts);
  const dim = embedder.dim;
  for (let i = 0; i < test.prompts.length; i++) {
    const q = x.subarray(i * dim, (i + 1) * dim);
    for (let l = 0; l < into.lambdas.length; l++) {
      const d = router.route(q, { costWeight: into.lambdas[l], allowed });
      const j = back[d.modelIndex];
      into.cost[l] += test.cost[i * M + j];
      into.correct[l] += test.score[i * M + j];
    }
  }
  into.n += test.prompts.length;
}

export interface SingleModel { model: string; cost: number; accuracy: number }

export function singleModels(d: LabelledData): SingleModel[] {
  const M = d.models.length, n = d.prompts.length;
  return d.models.map((model, m) => {
    let c = 0, a = 0;
    for (let i = 0; i < n; i++) { c += d.cost[i * M + m]; a += d.score[i * M + m]; }
    return { model, cost: c / n, accuracy: a / n };
  });
}

/** The per-prompt oracle swept over lambda with true labels: the ceiling of any router. */
export function oracleSweep(d: LabelledData, lambdas: number[]): OperatingPoint[] {
  const M = d.models.length, n = d.prompts.length;
  const scale = 1 / Math.max(...singleModels(d).map((s) => s.cost));
  return lambdas.map((lambda) => {
    let c = 0, a = 0;
    for (let i = 0; i < n; i++) {
      let best = 0, bs = Infinity;
      for (let m = 0; m < M; m++) {
        const s = 1 - d.score[i * M + m] + lambda * d.cost[i * M + m] * scale;
        if (s < bs) { bs = s; best = m; }
      }
      c += d.cost[i * M + best]; a += d.score[i * M + best];
    }
    return { lambda, cost: c / n, accuracy: a / n };
  });
}

export interface Report {
  prompts: number;
  aiq: number;
  aiqSingle: number;
  aiqOracle: number;
  cheapest: SingleModel;
  best: SingleModel;
  singles: (SingleModel & { routerAccuracyAtCost: number })[];
  matchBest: { cost: number | null; fractionOfBestCost: number | null };
  oracle: { accuracy: number; cost: number };
  points: OperatingPoint[];
}

export function report(test: LabelledData, points: OperatingPoint[], lambdas: number[]): Report {
  const singles = singleModels(test);
  const cheapest = singles.reduce((a, b) => (b.cost < a.cost ? b : a));
  const best = singles.reduce((a, b) => (b.accuracy > a.accuracy ? b : a));
  const cmin = cheapest.cost, cmax = Math.max(...singles.map((s) => s.cost));
  const single = singles.map((s) => ({ cost: s.cost, accuracy: s.accuracy }));
  const oracle = oracleSweep(test, lambdas);
  const match = costToReach(points, best.accuracy);
  return {
    prompts: test.prompts.length,
    aiq: aiq(points, cmin, cmax),
    aiqSingle: aiq(single, cmin, cmax),
    aiqOracle: aiq(oracle, cmin, cmax),
    cheapest, best,
    singles: singles.map((s) => ({ ...s, routerAccuracyAtCost: bestAccuracyWithin(points, s.cost) })),
    matchBest: { cost: match, fractionOfBestCost: match === null ? null : match / best.cost },
    oracle: { accuracy: oracle[0].accuracy, cost: oracle[0].cost },
    points,
  };
}

/** Deterministic fold of every row (shuffled with the seed). */
export function foldOf(n: number, folds: number, seed: number): Int32Array {
  const perm = Array.from({ length: n }, (_, i) => i);
  const rnd = mulberry32(seed);
  for (let i = n - 1; i > 0; i--) { const j = Math.floor(rnd() * (i + 1)); [perm[i], perm[j]] = [perm[j], perm[i]]; }
  const f = new Int32Array(n);
  perm.forEach((row, r) => { f[row] = r % folds; });
  return f;
}

export interface CvResult { pooled: Report; perFold: Report[] }

export async function crossValidate(data: LabelledData, folds: number, fit: FitOptions, lambdas = lambdaGrid(), seed = 7, log?: (s: string) => void): Promise<CvResult> {
  if (!(folds >= 2)) throw new Error('--folds must be >= 2');
  const fold = foldOf(data.prompts.length, folds, seed);
  const complete = new Set(completeRows(data));
  const pooled = emptySweep(lambdas);
  const perFold: Report[] = [];
  const testAll: number[] = [];
  for (let f = 0; f < folds; f++) {
    const trainRows: number[] = [], testRows: number[] = [];
    for (let i = 0; i < data.prompts.length; i++) {
      if (fold[i] !== f) trainRows.push(i); else if (complete.has(i)) testRows.push(i);
    }
    const train = subset(data, trainRows), test = subset(data, testRows);
    const embedder = new NativeEmbedder(fitNativeTables(train.prompts));
    const profile = await fitProfile(train, embedder, { ...fit, onProgress: undefined });
    const router = new Router(profile);
    const s = emptySweep(lambdas);
    await sweepRouter(router, embedder, test, s);
    for (let l = 0; l < lambdas.length; l++) { pooled.cost[l] += s.cost[l]; pooled.correct[l] += s.correct[l]; }
    pooled.n += s.n;
    const r = report(test, sweepPoints(s), lambdas);
    perFold.push(r);
    testAll.push(...testRows);
    log?.(`fold ${f + 1}/${folds}: ${trainRows.length} train, ${testRows.length} test, AIQ ${r.aiq.toFixed(4)} (single models ${r.aiqSingle.toFixed(4)})`);
  }
  return { pooled: report(subset(data, testAll), sweepPoints(pooled), lambdas), perFold };
}
