/**
 * npm run calibrate-signals [-- --folds N --json FILE]
 *
 * Fits and measures the prompt signals of src/routing/ on the shared
 * RouterBench data (../shared/data/routerbench/, never copied here):
 *
 *  1. complexity: fits the weights (non-negative logistic regression on "the
 *     cheap model answers wrong", blended half and half with the hand-set
 *     prior, scaled to sum 1) and reports, cross-validated over N folds, the
 *     AUC of the score for that outcome, next to the AUC of the router
 *     profile's expected error for the same model with a profile re-fitted on
 *     the same training folds (embedder IDF included), so both are held out.
 *     Also the prior weights' AUC (nothing fitted) and the shipped profile's
 *     in-sample AUC, labelled as such. Prints the weights to paste into
 *     complexity.ts DEFAULT_WEIGHTS when fitted on all rows.
 *  2. tokens: fits the token estimate (weighted least squares, weights 1/y^2
 *     so the relative error is what is minimised) on a seeded half of the
 *     distinct prompts and paragraphs, reports the other half's error against
 *     cl100k_base and o200k_base (gpt-tokenizer), and the hand-written fixture
 *     prompts' error (other kinds of text: code, other languages).
 *  3. classifier: accuracy on RouterBench's three tasks mapped to classes,
 *     and on the hand-written labelled fixtures.
 */
import { parseArgs } from 'node:util';
import { writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { countTokens as cl100k } from 'gpt-tokenizer/encoding/cl100k_base';
import { countTokens as o200k } from 'gpt-tokenizer/encoding/o200k_base';
import { loadRouterBenchCsv, subset, type LabelledData } from '../src/fit/dataset.ts';
import { foldOf } from '../src/fit/evaluate.ts';
import { fitProfile, DEFAULT_FIT } from '../src/fit/fit.ts';
import { DEFAULT_DATA_DIR, DEFAULT_PROFILE_DIR, ROOT } from '../src/fit/options.ts';
import { mulberry32 } from '../src/fit/kmeans.ts';
import { fitNativeTables, loadNativeTables, NativeEmbedder } from '../src/routing/embedders/native.ts';
import { loadProfile } from '../src/routing/profile.ts';
import { Router } from '../src/routing/router.ts';
import { scanText } from '../src/routing/text-scan.ts';
import { complexityFeatures, FEATURES, PRIOR_WEIGHTS, DEFAULT_WEIGHTS, normaliseWeights, type ComplexityWeights } from '../src/routing/complexity.ts';
import { tokenFeatures, TOKEN_MODELS, estimateTokens } from '../src/routing/tokens.ts';
import { classify } from '../src/routing/classifier.ts';
import { CLASSIFIER_FIXTURES } from '../test/routing/fixtures/classifier-prompts.ts';

const CHEAP_MODEL = 'mistralai/mistral-7b-chat';
const FILES = ['arc_challenge_train.csv', 'mbpp_train.csv', 'winograde_train.csv'].map((f) => join(DEFAULT_DATA_DIR, f));

// ---------- statistics ----------

/** Mann-Whitney AUC with ties counted half: P(score of a positive > score of a negative). */
export function auc(score: ArrayLike<number>, label: ArrayLike<number>): number {
  const idx = Array.from({ length: score.length }, (_, i) => i).sort((a, b) => score[a] - score[b]);
  let rankSumPos = 0, pos = 0;
  for (let i = 0; i < idx.length;) {
    let j = i;
    while (j + 1 < idx.length && score[idx[j + 1]] === score[idx[i]]) j++;
    const rank = (i + j) / 2 + 1;
    for (let t = i; t <= j; t++) if (label[idx[t]] === 1) { rankSumPos += rank; pos++; }
    i = j + 1;
  }
  const neg = idx.length - pos;
  return (rankSumPos - (pos * (pos + 1)) / 2) / (pos * neg);
}

/** Logistic regression with weights >= 0 (projected gradient descent; features in [0, 1], so no scaling needed). */
function nonNegLogistic(X: Float64Array[], y: number[], iters = 3000, lr = 2): Float64Array {
  const d = X[0].length, n = X.length;
  const w = new Float64Array(d + 1); // last = intercept
  const g = new Float64Array(d + 1);
  for (let it = 0; it < iters; it++) {
    g.fill(0);
    for (let r = 0; r < n; r++) {
      let z = w[d];
      for (let j = 0; j < d; j++) z += w[j] * X[r][j];
      const e = 1 / (1 + Math.exp(-z)) - y[r];
      for (let j = 0; j < d; j++) g[j] += e * X[r][j];
      g[d] += e;
    }
    for (let j = 0; j <= d; j++) {
      w[j] -= (lr * g[j]) / n;
      if (j < d && w[j] < 0) w[j] = 0;
    }
  }
  return w;
}

/**
 * The calibration procedure itself: fit, scale to sum 1, blend with the prior
 * (prior share SHIPPED_PRIOR_SHARE for the shipped weights; 0 = the pure fit,
 * reported for comparison).
 */
const SHIPPED_PRIOR_SHARE = 0.5;
function calibrate(X: Float64Array[], y: number[], priorShare = SHIPPED_PRIOR_SHARE): ComplexityWeights {
  const b = nonNegLogistic(X, y);
  const fitted: Record<string, number> = {};
  let sum = 0;
  FEATURES.forEach((_, j) => { sum += b[j]; });
  FEATURES.forEach((k, j) => { fitted[k] = (1 - priorShare) * (sum > 0 ? b[j] / sum : 0) + priorShare * PRIOR_WEIGHTS[k]; });
  return normaliseWeights(fitted as Record<(typeof FEATURES)[number], number>);
}

const dot = (w: ComplexityWeights, f: Float64Array) => FEATURES.reduce((s, k, j) => s + w[k] * f[j], 0);

/** Solves A x = b (Gauss-Jordan with partial pivoting); A is k x k. */
function solve(A: number[][], b: number[]): number[] {
  const n = b.length;
  for (let i = 0; i < n; i++) {
    let p = i;
    for (let r = i + 1; r < n; r++) if (Math.abs(A[r][i]) > Math.abs(A[p][i])) p = r;
    [A[i], A[p]] = [A[p], A[i]]; [b[i], b[p]] = [b[p], b[i]];
    for (let r = 0; r < n; r++) {
      if (r === i) continue;
      const f = A[r][i] / A[i][i];
      for (let c = i; c < n; c++) A[r][c] -= f * A[i][c];
      b[r] -= f * b[i];
    }
  }
  return b.map((x, i) => x / A[i][i]);
}

/** Least squares weighted by 1/y^2 (minimises squared relative error); a tiny ridge keeps unused columns at 0. */
function relativeLeastSquares(X: number[][], y: number[]): number[] {
  const k = X[0].length;
  const A = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  const b = new Array<number>(k).fill(0);
  X.forEach((x, r) => {
    const w = 1 / (y[r] * y[r]);
    for (let i = 0; i < k; i++) { b[i] += w * x[i] * y[r]; for (let j = 0; j < k; j++) A[i][j] += w * x[i] * x[j]; }
  });
  for (let i = 0; i < k; i++) A[i][i] += 1e-9;
  return solve(A, b);
}

function pctErrors(est: number[], truth: number[]): { mape: number; p95: number; max: number; n: number } {
  const e = est.map((v, i) => Math.abs(v - truth[i]) / truth[i]).sort((a, b) => a - b);
  return { mape: 100 * e.reduce((s, v) => s + v, 0) / e.length, p95: 100 * e[Math.floor(0.95 * (e.length - 1))], max: 100 * e[e.length - 1], n: e.length };
}

// ---------- 1. complexity ----------

async function complexitySection(data: LabelledData, folds: number, seed: number, noRouter: boolean) {
  const m = data.models.indexOf(CHEAP_MODEL);
  if (m < 0) throw new Error(`${CHEAP_MODEL} is not in the data`);
  const M = data.models.length;
  const rows: number[] = [];
  for (let i = 0; i < data.prompts.length; i++) if (!Number.isNaN(data.score[i * M + m])) rows.push(i);
  const d = subset(data, rows);
  const y: number[] = d.prompts.map((_, i) => (d.score[i * M + m] < 0.5 ? 1 : 0));
  const X = d.prompts.map((p) => complexityFeatures(scanText(p)));
  const fold = foldOf(d.prompts.length, folds, seed);
  // How the held-out AUC moves with the prior's share (the shipped one is SHIPPED_PRIOR_SHARE).
  const priorShareSweep: Record<string, number> = {};
  for (const share of [0, 0.1, 0.2, 0.3, 0.5, 0.7, 1]) {
    const sc = new Float64Array(d.prompts.length);
    for (let f = 0; f < folds; f++) {
      const tr: number[] = [];
      fold.forEach((g, i) => { if (g !== f) tr.push(i); });
      const w = calibrate(tr.map((i) => X[i]), tr.map((i) => y[i]), share);
      fold.forEach((g, i) => { if (g === f) sc[i] = dot(w, X[i]); });
    }
    priorShareSweep[share] = auc(sc, y);
  }
  const cvScore = new Float64Array(d.prompts.length);
  const cvPure = new Float64Array(d.prompts.length);
  const routerErr = new Float64Array(d.prompts.length);
  const foldWeights: ComplexityWeights[] = [];
  for (let f = 0; f < folds; f++) {
    const tr: number[] = [], te: number[] = [];
    fold.forEach((g, i) => (g === f ? te : tr).push(i));
    const w = calibrate(tr.map((i) => X[i]), tr.map((i) => y[i]));
    foldWeights.push(w);
    for (const i of te) cvScore[i] = dot(w, X[i]);
    const pure = calibrate(tr.map((i) => X[i]), tr.map((i) => y[i]), 0);
    for (const i of te) cvPure[i] = dot(pure, X[i]);
    // The router re-fitted on the same training rows (its IDF too), as scripts/eval.ts --folds does.
    if (noRouter) continue;
    const train = subset(d, tr);
    const embedder = new NativeEmbedder(fitNativeTables(train.prompts));
    const router = new Router(await fitProfile(train, embedder, { ...DEFAULT_FIT, name: `cv-${f}` }));
    for (const i of te) routerErr[i] = router.route(embedder.embedSync(d.prompts[i]), { costWeight: 0 }).scores[router.modelIndex.get(CHEAP_MODEL)!];
    console.error(`fold ${f + 1}/${folds}: ${tr.length} train, ${te.length} test`);
  }
  const prior = X.map((f) => dot(PRIOR_WEIGHTS, f));
  const shipped = X.map((f) => dot(DEFAULT_WEIGHTS, f));
  const all = calibrate(X, y);
  const embedder = new NativeEmbedder(loadNativeTables(DEFAULT_PROFILE_DIR));
  const profRouter = new Router(loadProfile(DEFAULT_PROFILE_DIR, embedder));
  const profErr = d.prompts.map((p) => profRouter.route(embedder.embedSync(p), { costWeight: 0 }).scores[profRouter.modelIndex.get(CHEAP_MODEL)!]);
  // Per task: does the score rank failures within one kind of prompt, or only tell the kinds apart?
  const perTask: Record<string, Record<string, number>> = {};
  for (const g of [...new Set(d.groups)]) {
    const ix = d.groups.map((x, i) => (x === g ? i : -1)).filter((i) => i >= 0);
    const pick = (a: ArrayLike<number>) => ix.map((i) => a[i]);
    perTask[g] = { n: ix.length, failRate: ix.filter((i) => y[i] === 1).length / ix.length, complexityCv: auc(pick(cvScore), pick(y)), routerCv: auc(pick(routerErr), pick(y)) };
  }
  const single = FEATURES.map((k, j) => ({ feature: k, auc: auc(X.map((f) => f[j]), y) }));
  return {
    cheapModel: CHEAP_MODEL, prompts: d.prompts.length, failRate: y.reduce((s, v) => s + v, 0) / y.length, folds,
    auc: {
      complexityCv: auc(cvScore, y), complexityPureFitCv: auc(cvPure, y), routerExpectedErrorCv: auc(routerErr, y),
      complexityPriorWeights: auc(prior, y), complexityShippedWeightsInSample: auc(shipped, y), shippedProfileInSample: auc(profErr, y),
    },
    perTask, singleFeature: single, priorShareSweep, priorShare: SHIPPED_PRIOR_SHARE, foldWeights, weightsFittedOnAll: all, pureFitOnAll: calibrate(X, y, 0),
  };
}

// ---------- 2. tokens ----------

function tokenSection(data: LabelledData, seed: number) {
  const prompts = [...new Set(data.prompts)];
  const paragraphs = [...new Set(prompts.flatMap((p) => p.split(/\n\s*\n/)).filter((s) => s.trim() !== ''))];
  const texts = [...prompts, ...paragraphs];
  const r = mulberry32(seed);
  const train = texts.map(() => r() < 0.5);
  const out: Record<string, unknown> = { prompts: prompts.length, paragraphs: paragraphs.length };
  const fixtures = CLASSIFIER_FIXTURES.map((f) => f.text);
  for (const [name, count] of [['cl100k_base', cl100k], ['o200k_base', o200k]] as const) {
    const y = texts.map((t) => count(t));
    const X = texts.map((t) => tokenFeatures(scanText(t)));
    const coef = relativeLeastSquares(X.filter((_, i) => train[i]), y.filter((_, i) => train[i]));
    const shipped = texts.map((t) => estimateTokens(t, name));
    const held = (pred: (i: number) => boolean) => {
      const ix = texts.map((_, i) => i).filter((i) => !train[i] && pred(i));
      return { shipped: pctErrors(ix.map((i) => shipped[i]), ix.map((i) => y[i])), charsOver4: pctErrors(ix.map((i) => Math.ceil(texts[i].length / 4)), ix.map((i) => y[i])) };
    };
    out[name] = {
      coefficientsFittedOnTrainHalf: coef,
      heldOutPrompts: held((i) => i < prompts.length),
      heldOutParagraphs: held((i) => i >= prompts.length),
      fixtures: pctErrors(fixtures.map((t) => estimateTokens(t, name)), fixtures.map((t) => count(t))),
    };
  }
  return out;
}

// ---------- 3. classifier ----------

const ROUTERBENCH_TASK: Record<string, string> = { 'arc-challenge': 'reasoning', winogrande: 'reasoning', mbpp: 'code' };

function classifierSection(data: LabelledData) {
  const byGroup: Record<string, { n: number; correct: number; predicted: Record<string, number> }> = {};
  data.prompts.forEach((p, i) => {
    const g = data.groups[i];
    const o = (byGroup[g] ??= { n: 0, correct: 0, predicted: {} });
    const t = classify(p).task;
    o.n++; o.predicted[t] = (o.predicted[t] ?? 0) + 1;
    if (t === ROUTERBENCH_TASK[g]) o.correct++;
  });
  const fx: Record<string, { n: number; correct: number }> = {};
  const split = { dev: { n: 0, correct: 0 }, test: { n: 0, correct: 0 } };
  const misses: string[] = [];
  for (const f of CLASSIFIER_FIXTURES) {
    const got = classify(f.text);
    const o = (fx[f.task] ??= { n: 0, correct: 0 });
    o.n++; split[f.split].n++;
    if (got.task === f.task) { o.correct++; split[f.split].correct++; } else misses.push(`[${f.split}] ${f.task} -> ${got.task} (${got.confidence.toFixed(2)}): ${f.text.slice(0, 70).replace(/\n/g, ' ')}`);
  }
  // The weights were tuned on the dev half only; the test half is the honest figure.
  return { routerbenchMapping: ROUTERBENCH_TASK, routerbench: byGroup, fixtures: { dev: split.dev, test: split.test, perClass: fx, misses } };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { folds: { type: 'string' }, json: { type: 'string' }, seed: { type: 'string' }, only: { type: 'string' }, 'no-router': { type: 'boolean' } } });
  const folds = Number(values.folds ?? 5), seed = Number(values.seed ?? 7);
  const only = values.only;
  const data = loadRouterBenchCsv(FILES);
  const res: Record<string, unknown> = { date: new Date().toISOString(), data: FILES.map((f) => relative(ROOT, f)) };
  if (!only || only === 'tokens') res.tokens = tokenSection(data, seed);
  if (!only || only === 'classifier') res.classifier = classifierSection(data);
  if (!only || only === 'complexity') res.complexity = await complexitySection(data, folds, seed, values['no-router'] === true);
  const text = JSON.stringify(res, (_, v) => (typeof v === 'number' && !Number.isInteger(v) ? Number(v.toFixed(4)) : v), 2);
  console.log(text);
  if (values.json) writeFileSync(values.json, text + '\n');
  void TOKEN_MODELS;
}

main().catch((e) => { console.error(e); process.exit(1); });
