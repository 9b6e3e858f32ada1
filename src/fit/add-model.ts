/**
 * Adding a model to a fitted profile from a small labelled set (issue 13,
 * item 1; UniRoute's central result): the clusters stay as they are, nothing
 * is relabelled for the other models; the new model gets an error per
 * cluster measured on its own labelled prompts.
 *
 * Shrinkage mirrors fitProfile's: each labelled prompt goes to its nearest
 * cluster; clusters are grouped into `coarse_k` parents (spherical K-means over
 * the centroids, the profile's seed + 1); the parent's error is shrunk toward
 * the model's global error rate with alpha_coarse, and each cluster's toward
 * its parent with alpha:
 *   err[k] = (sum of errors in k + alpha * parent[k]) / (n[k] + alpha)
 * With 50 labels that is mostly the global rate and the coarse regions; with a
 * few thousand, the clusters' own rates. Confidence per cluster: the labels
 * behind it and the posterior sd sqrt(err (1 - err) / (n + alpha + 1)).
 *
 * The model's cost per 1,000 requests: the mean of the rows' cost_usd x 1,000,
 * or `costPer1k` when given (rows without a cost then need none). Adding a
 * model dearer or cheaper than every other moves the cost normalisation's
 * ends, so lambda means slightly different trade-offs afterwards (printed).
 * A neighbours profile gets the column in its cluster tables and NaN in its
 * per-prompt labels: the neighbour router then uses the cluster estimate for
 * this model (src/routing/neighbours.ts).
 */
import { readFileSync } from 'node:fs';
import type { Embedder } from '../routing/embedders/types.ts';
import { fromParts, costNormalisation, type Profile, type ProfileManifest } from '../routing/profile.ts';
import { embedAll } from './fit.ts';
import { kmeans, nearestRow } from './kmeans.ts';

/** One model's labelled prompts: score in [0, 1], cost USD per call (NaN = not given). */
export interface ModelRows { prompts: string[]; score: Float64Array; cost: Float64Array }

export class RowsError extends Error { override name = 'RowsError'; }

/**
 * Parses JSON lines for model `name`. Each line is either
 *   {"prompt": "...", "score": 1, "cost_usd": 0.0012}
 * or the fit format with this model only:
 *   {"prompt": "...", "scores": {"NAME": 1}, "cost_usd": {"NAME": 0.0012}}
 * A bad row throws RowsError naming the file, the line and the field.
 */
export function parseModelRows(text: string, name: string, where: string): ModelRows {
  const prompts: string[] = [], score: number[] = [], cost: number[] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    const at = `${where}:${i + 1}`;
    let o: unknown;
    try { o = JSON.parse(line); } catch (e) { throw new RowsError(`${at}: not JSON (${(e as Error).message})`); }
    if (typeof o !== 'object' || o === null || Array.isArray(o)) throw new RowsError(`${at}: expected an object`);
    const r = o as Record<string, unknown>;
    if (typeof r.prompt !== 'string' || r.prompt.trim() === '') throw new RowsError(`${at}: "prompt" must be a non-empty string`);
    let s: unknown, c: unknown, sf = '"score"', cf = '"cost_usd"';
    if (r.scores !== undefined) {
      if (typeof r.scores !== 'object' || r.scores === null || Array.isArray(r.scores)) throw new RowsError(`${at}: "scores" must be an object`);
      const others = Object.keys(r.scores).filter((k) => k !== name);
      if (others.length) throw new RowsError(`${at}: "scores" has ${others.map((k) => JSON.stringify(k)).join(', ')}; the rows must be of "${name}" only`);
      s = (r.scores as Record<string, unknown>)[name]; sf = `"scores"["${name}"]`;
      if (r.cost_usd !== undefined) {
        if (typeof r.cost_usd !== 'object' || r.cost_usd === null) throw new RowsError(`${at}: "cost_usd" must be an object of "${name}" -> USD with "scores"`);
        c = (r.cost_usd as Record<string, unknown>)[name]; cf = `"cost_usd"["${name}"]`;
      }
    } else { s = r.score; c = r.cost_usd; }
    if (typeof s !== 'number' || !(s >= 0 && s <= 1)) throw new RowsError(`${at}: ${sf} must be a number in [0, 1]`);
    if (c !== undefined && (typeof c !== 'number' || !(c >= 0) || !Number.isFinite(c))) throw new RowsError(`${at}: ${cf} must be a finite number >= 0`);
    prompts.push(r.prompt); score.push(s); cost.push(c === undefined ? NaN : (c as number));
  });
  return { prompts, score: Float64Array.from(score), cost: Float64Array.from(cost) };
}

export function loadModelRows(file: string, name: string): ModelRows {
  let text: string;
  try { text = readFileSync(file, 'utf8'); } catch (e) { throw new RowsError(`${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`); }
  return parseModelRows(text, name, file);
}

export interface AddModelOptions {
  /** USD per 1,000 requests; default: the mean of the rows' cost_usd x 1,000. */
  costPer1k?: number;
  pricing?: { input_per_1m: number; output_per_1m: number; estimated?: boolean } | null;
  /** Default: the profile's fit.alpha / fit.alpha_coarse / fit.coarse_k / fit.seed (5, 5, 3, 42 when absent). */
  alpha?: number;
  alphaCoarse?: number;
  coarseK?: number;
  /**
   * What each cluster is shrunk toward. 'coarse' (default): the coarse
   * parent's error, itself shrunk toward the global rate (fitProfile's scheme).
   * 'regression': a ridge regression of the new model's errors on the other
   * models' errors in the row's cluster, read at each cluster: a cluster where
   * the other models fail is predicted harder for this one too, even with no
   * label of its own there.
   */
  prior?: 'coarse' | 'regression';
  /** Ridge penalty of the 'regression' prior (default 1). */
  ridge?: number;
}

/** Per cluster: labels behind it, the estimate and its posterior sd. */
export interface ClusterConfidence { cluster: number; n: number; err: number; sd: number }

export interface AddModelResult { profile: Profile; clusters: ClusterConfidence[]; globalError: number; costPer1k: number; samples: number }

export const MIN_ROWS = 1;

export async function addModel(profile: Profile, embedder: Embedder, name: string, rows: ModelRows, opts: AddModelOptions = {}): Promise<AddModelResult> {
  if (profile.models.includes(name)) throw new RowsError(`the profile already has a model "${name}"`);
  const n = rows.prompts.length;
  if (n < MIN_ROWS) throw new RowsError(`no labelled rows for "${name}"`);
  let costPer1k = opts.costPer1k;
  if (costPer1k === undefined) {
    let s = 0, c = 0;
    rows.cost.forEach((x) => { if (x === x) { s += x; c++; } });
    if (c === 0) throw new RowsError(`no row gives "cost_usd" for "${name}": give it per row or pass --cost-per-1k`);
    costPer1k = (1000 * s) / c;
  }
  if (!(costPer1k >= 0) || !Number.isFinite(costPer1k)) throw new RowsError('the cost per 1,000 requests must be a finite number >= 0');
  const fit = profile.manifest.fit as Record<string, unknown>;
  const numOr = (v: unknown, d: number) => (typeof v === 'number' && Number.isFinite(v) ? v : d);
  const alpha = opts.alpha ?? numOr(fit.alpha, 5);
  const alphaCoarse = opts.alphaCoarse ?? numOr(fit.alpha_coarse, 5);
  const coarseK = Math.max(1, Math.min(profile.k, opts.coarseK ?? numOr(fit.coarse_k, 3)));
  const seed = numOr(fit.seed, 42);
  const K = profile.k, dim = profile.dim, M = profile.models.length;

  const x = await embedAll(embedder, rows.prompts);
  const assign = new Int32Array(n);
  for (let i = 0; i < n; i++) assign[i] = nearestRow(x, i, profile.centroids, K, dim);
  let g = 0;
  for (let i = 0; i < n; i++) g += 1 - rows.score[i];
  g /= n;
  // Parents: coarse groups of the centroids (fitProfile groups the prompts; the
  // prompts are not in a clusters profile, their centroids are).
  const parentOf = new Int32Array(K);
  let P = 1;
  if (coarseK > 1) {
    const coarse = kmeans(profile.centroids, K, dim, coarseK, { seed: seed + 1 });
    P = coarse.k;
    parentOf.set(coarse.assign);
  }
  const pSum = new Float64Array(P), pN = new Float64Array(P), kSum = new Float64Array(K), kN = new Uint32Array(K);
  for (let i = 0; i < n; i++) {
    const k = assign[i], e = 1 - rows.score[i];
    kSum[k] += e; kN[k]++;
    pSum[parentOf[k]] += e; pN[parentOf[k]]++;
  }
  const parentErr = Float64Array.from(pSum, (s, p) => (s + alphaCoarse * g) / (pN[p] + alphaCoarse));
  const regPrior = opts.prior === 'regression' ? regressionPrior(profile, assign, rows.score, opts.ridge ?? 1) : null;
  const M1 = M + 1;
  const errors = new Float32Array(K * M1), counts = new Uint32Array(K * M1);
  const clusters: ClusterConfidence[] = [];
  for (let k = 0; k < K; k++) {
    errors.set(profile.errors.subarray(k * M, k * M + M), k * M1);
    counts.set(profile.counts.subarray(k * M, k * M + M), k * M1);
    const prior = regPrior ? regPrior[k] : parentErr[parentOf[k]];
    const e = alpha + kN[k] > 0 ? (kSum[k] + alpha * prior) / (kN[k] + alpha) : prior;
    errors[k * M1 + M] = e;
    counts[k * M1 + M] = kN[k];
    clusters.push({ cluster: k, n: kN[k], err: e, sd: Math.sqrt((e * (1 - e)) / (kN[k] + alpha + 1)) });
  }
  const models = [...profile.manifest.models, {
    name, cost_per_1k: costPer1k,
    pricing: opts.pricing ? { input_per_1m: opts.pricing.input_per_1m, output_per_1m: opts.pricing.output_per_1m, estimated: opts.pricing.estimated ?? false } : null,
  }];
  const norm = costNormalisation(models.map((m) => m.cost_per_1k));
  const added = Array.isArray(fit.added) ? fit.added : [];
  const manifest: ProfileManifest = {
    ...profile.manifest,
    models,
    cost_normalisation: { kind: 'log-range', min_per_1k: norm.min, max_per_1k: norm.max },
    fit: { ...fit, added: [...added, { name, samples: n, prior: opts.prior ?? 'coarse', alpha, alpha_coarse: alphaCoarse, coarse_k: coarseK, global_error: g, created: new Date().toISOString() }] },
    sha256: {},
  };
  const out = fromParts(manifest, null, profile.centroids, errors, counts);
  if (profile.labels && profile.manifest.router?.kind === 'neighbours') {
    const N = profile.manifest.router.samples;
    const labels = new Float32Array(N * M1).fill(NaN);
    for (let i = 0; i < N; i++) labels.set(profile.labels.subarray(i * M, i * M + M), i * M1);
    out.points = profile.points; out.labels = labels;
  }
  return { profile: out, clusters, globalError: g, costPer1k, samples: n };
}

/**
 * Per cluster, the new model's error predicted from the other models' errors
 * there: ridge regression (intercept unpenalised) of each labelled row's
 * error on its cluster's error row, clamped to [0, 1]. A cell the profile does
 * not know (NaN) reads as that model's mean over clusters. Cost: M x M normal
 * equations, solved once.
 */
function regressionPrior(profile: Profile, assign: Int32Array, score: Float64Array, ridge: number): Float64Array {
  const K = profile.k, M = profile.models.length, n = assign.length;
  const colMean = new Float64Array(M);
  for (let m = 0; m < M; m++) {
    let s = 0, c = 0;
    for (let k = 0; k < K; k++) { const e = profile.errors[k * M + m]; if (e === e) { s += e; c++; } }
    colMean[m] = c ? s / c : 0.5;
  }
  const feat = (k: number, m: number) => { const e = profile.errors[k * M + m]; return e === e ? e : colMean[m]; };
  const xm = new Float64Array(M);
  let ym = 0;
  for (let i = 0; i < n; i++) { for (let m = 0; m < M; m++) xm[m] += feat(assign[i], m) / n; ym += (1 - score[i]) / n; }
  const A = Array.from({ length: M }, (_, a) => new Float64Array(M + 1));
  for (let i = 0; i < n; i++) {
    const k = assign[i], y = 1 - score[i] - ym;
    for (let a = 0; a < M; a++) {
      const xa = feat(k, a) - xm[a];
      for (let b = 0; b < M; b++) A[a][b] += xa * (feat(k, b) - xm[b]);
      A[a][M] += xa * y;
    }
  }
  for (let a = 0; a < M; a++) A[a][a] += ridge;
  // Gaussian elimination with partial pivoting (M ~ 10; ridge keeps it well conditioned).
  for (let c = 0; c < M; c++) {
    let p = c;
    for (let r = c + 1; r < M; r++) if (Math.abs(A[r][c]) > Math.abs(A[p][c])) p = r;
    [A[c], A[p]] = [A[p], A[c]];
    for (let r = 0; r < M; r++) {
      if (r === c || A[c][c] === 0) continue;
      const f = A[r][c] / A[c][c];
      for (let t = c; t <= M; t++) A[r][t] -= f * A[c][t];
    }
  }
  const beta = Float64Array.from({ length: M }, (_, a) => (A[a][a] === 0 ? 0 : A[a][M] / A[a][a]));
  const out = new Float64Array(K);
  for (let k = 0; k < K; k++) {
    let y = ym;
    for (let m = 0; m < M; m++) y += beta[m] * (feat(k, m) - xm[m]);
    out[k] = Math.min(1, Math.max(0, y));
  }
  return out;
}
