/**
 * Offline evaluation of a router on labelled data: the exact lambda sweep, AIQ,
 * single models, the oracle. Cross-validation fits everything that is learned
 * (the embedder's IDF, centroids, errors) on the training folds only.
 */
import type { LabelledData } from './dataset.ts';
import { completeRows, subset } from './dataset.ts';
import { fitProfile, embedAll, type FitOptions } from './fit.ts';
import { aiq, costToReach, bestAccuracyWithin, type OperatingPoint } from './metrics.ts';
import { ExactSweep, lowerEnvelope } from './envelope.ts';
import { DEFAULT_NATIVE_PARAMS, fitNativeTables, NativeEmbedder } from '../routing/embedders/native.ts';
import { routerFor, type AnyRouter } from '../routing/neighbours.ts';
import type { Profile } from '../routing/profile.ts';
import type { TextSelection } from '../routing/text-select.ts';
import type { Embedder } from '../routing/embedders/types.ts';
import { mulberry32 } from './kmeans.ts';

/**
 * The exact λ sweep of a router over labelled test rows (src/fit/envelope.ts):
 * each prompt's predicted errors (the router's scores at λ = 0, which are its
 * error estimates) give its lower envelope over λ; `into` pools them. Models
 * of the data that the router does not know are never chosen (the add-model
 * curve's "without it" baseline). Test rows must have every label.
 */
export async function sweepRouter(router: AnyRouter, embedder: Embedder, test: LabelledData, into: ExactSweep): Promise<void> {
  const M = test.models.length;
  const idx = test.models.map((m) => router.modelIndex.get(m) ?? -1);
  if (idx.every((i) => i < 0)) throw new Error('the evaluation data has no model the profile knows');
  const c = idx.map((i) => (i < 0 ? 0 : router.profile.costNorm[i]));
  const allowed = idx.map((i) => (i < 0 ? 0 : 1));
  const e = new Float64Array(M);
  const x = await embedAll(embedder, test.prompts);
  const dim = embedder.dim;
  for (let i = 0; i < test.prompts.length; i++) {
    const d = router.route(x.subarray(i * dim, (i + 1) * dim), { costWeight: 0 });
    for (let j = 0; j < M; j++) e[j] = idx[j] < 0 ? NaN : d.scores[idx[j]];
    const env = lowerEnvelope(e, c, allowed);
    if (env === null) throw new Error(`no known model has an error estimate for test prompt ${i}`);
    into.add(env, test.cost.subarray(i * M, i * M + M), test.score.subarray(i * M, i * M + M));
  }
}

/** The curve of a sweep: exact (every interval between breakpoints) or read at a fixed grid (`--lambdas N`). */
export function sweepCurve(s: ExactSweep, lambdas?: readonly number[]): OperatingPoint[] {
  return lambdas ? s.pointsAt(lambdas) : s.points();
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

/**
 * The per-prompt oracle swept over λ with true labels (exactly: every
 * breakpoint, src/fit/envelope.ts): the ceiling of any router. Its cost term
 * is the real cost over the dearest single model's average, linear.
 */
export function oracleSweep(d: LabelledData): OperatingPoint[] {
  const M = d.models.length, n = d.prompts.length;
  const scale = 1 / Math.max(...singleModels(d).map((s) => s.cost));
  const s = new ExactSweep();
  const e = new Float64Array(M), c = new Float64Array(M);
  for (let i = 0; i < n; i++) {
    for (let m = 0; m < M; m++) { e[m] = 1 - d.score[i * M + m]; c[m] = d.cost[i * M + m] * scale; }
    s.add(lowerEnvelope(e, c)!, d.cost.subarray(i * M, i * M + M), d.score.subarray(i * M, i * M + M));
  }
  return s.points();
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

/** The oracle is swept exactly (every breakpoint): no λ grid. */
export function report(test: LabelledData, points: OperatingPoint[]): Report {
  const singles = singleModels(test);
  const cheapest = singles.reduce((a, b) => (b.cost < a.cost ? b : a));
  const best = singles.reduce((a, b) => (b.accuracy > a.accuracy ? b : a));
  const cmin = cheapest.cost, cmax = Math.max(...singles.map((s) => s.cost));
  const single = singles.map((s) => ({ cost: s.cost, accuracy: s.accuracy }));
  const oracle = oracleSweep(test);
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

export interface CvResult { pooled: Report; perFold: Report[]; sweep: ExactSweep; breakpoints: number }

/** What a cross-validation fits besides FitOptions. */
export interface CvOptions {
  /** Which part of each prompt is embedded (default: the whole prompt). */
  select?: TextSelection;
  /**
   * Hook per fold after the fit: may return another profile to evaluate on
   * the fold (the add-model curve), given the training rows and the embedder.
   */
  transform?: (p: Profile, train: LabelledData, embedder: NativeEmbedder, fold: number) => Promise<Profile> | Profile;
  /** Drops these models from the training data before the fit (the add-model curve's held-out model). */
  dropModels?: readonly string[];
}

/**
 * N-fold cross-validation: everything learned (IDF, centroids, errors,
 * neighbours) is fitted on the training folds only. `lambdas` undefined or
 * 'exact' sweeps λ exactly; an array reads the curve at that grid only.
 */
export async function crossValidate(data: LabelledData, folds: number, fit: FitOptions, lambdas: readonly number[] | 'exact' = 'exact', seed = 7, log?: (s: string) => void, opts: CvOptions = {}): Promise<CvResult> {
  if (!(folds >= 2)) throw new Error('--folds must be >= 2');
  const grid = lambdas === 'exact' ? undefined : lambdas;
  const fold = foldOf(data.prompts.length, folds, seed);
  const complete = new Set(completeRows(data));
  const pooled = new ExactSweep();
  const perFold: Report[] = [];
  const testAll: number[] = [];
  const keep = opts.dropModels ? data.models.map((m, j) => (opts.dropModels!.includes(m) ? -1 : j)).filter((j) => j >= 0) : null;
  for (let f = 0; f < folds; f++) {
    const trainRows: number[] = [], testRows: number[] = [];
    for (let i = 0; i < data.prompts.length; i++) {
      if (fold[i] !== f) trainRows.push(i); else if (complete.has(i)) testRows.push(i);
    }
    const train = subset(data, trainRows), test = subset(data, testRows);
    const embedder = new NativeEmbedder(fitNativeTables(train.prompts, { ...DEFAULT_NATIVE_PARAMS, select: opts.select }));
    let profile = await fitProfile(keep ? dropColumns(train, keep) : train, embedder, { ...fit, onProgress: undefined });
    if (opts.transform) profile = await opts.transform(profile, train, embedder, f);
    const router = routerFor(profile);
    const s = new ExactSweep();
    await sweepRouter(router, embedder, test, s);
    pooled.merge(s);
    const r = report(test, sweepCurve(s, grid));
    perFold.push(r);
    testAll.push(...testRows);
    log?.(`fold ${f + 1}/${folds}: ${trainRows.length} train, ${testRows.length} test, AIQ ${r.aiq.toFixed(4)} (single models ${r.aiqSingle.toFixed(4)})`);
  }
  return { pooled: report(subset(data, testAll), sweepCurve(pooled, grid)), perFold, sweep: pooled, breakpoints: pooled.breakpoints().length };
}

/** The same rows with only the model columns `keep` (indices into d.models). */
export function dropColumns(d: LabelledData, keep: readonly number[]): LabelledData {
  const M = d.models.length, K = keep.length, n = d.prompts.length;
  const score = new Float32Array(n * K), cost = new Float64Array(n * K);
  for (let i = 0; i < n; i++) keep.forEach((j, t) => { score[i * K + t] = d.score[i * M + j]; cost[i * K + t] = d.cost[i * M + j]; });
  return { models: keep.map((j) => d.models[j]), prompts: d.prompts, groups: d.groups, score, cost };
}
