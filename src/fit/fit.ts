/**
 * Fitting a router profile (UniRoute, "Universal Model Routing for Efficient
 * LLM Inference", 2025): embed the labelled prompts, cluster them with K-means,
 * and estimate each model's error per cluster.
 *
 * Per-cell estimates from ~20 prompts are noisy, so they are shrunk toward a
 * parent estimate with a Beta-style prior of strength alpha:
 *   err[k][m] = (sum of errors in k + alpha * parent[m]) / (n[k][m] + alpha)
 * The parent is a coarse cluster (K-means with coarseK on the same vectors,
 * each fine centroid's nearest coarse centroid), itself shrunk toward the
 * model's global error. Shrinking toward the coarse cluster rather than the
 * global mean keeps a small cluster near its neighbourhood's profile (say, the
 * coding prompts) instead of the average of all tasks; see README for what
 * each step bought in cross-validation. Cells with no labels are estimated
 * from their parent; a model with no label anywhere stays NaN (unknown, not 0).
 */
import type { LabelledData } from './dataset.ts';
import type { Embedder } from '../routing/embedders/types.ts';
import { kmeans, nearestRow } from './kmeans.ts';
import type { Assignment, ModelEntry, Profile, ProfileManifest } from '../routing/profile.ts';
import { PROFILE_FORMAT, PROFILE_VERSION, costNormalisation, fromParts } from '../routing/profile.ts';

export interface FitOptions {
  k: number;
  coarseK: number;
  /** Prior strength toward the coarse parent. */
  alpha: number;
  /** Prior strength of the coarse cluster toward the global error. */
  alphaCoarse: number;
  seed: number;
  assignment: Assignment;
  defaultCostWeight: number;
  name: string;
  pricing?: Record<string, { input_per_1m: number; output_per_1m: number; estimated?: boolean }>;
  /** Which router the profile asks for; neighbours also stores every prompt's vector and errors. Default clusters. */
  router?: { kind: 'clusters' } | { kind: 'neighbours'; k: number; alpha: number; nprobe?: number | 'all' };
  onProgress?: (stage: string, done: number, total: number) => void;
}

export const DEFAULT_FIT: Omit<FitOptions, 'name'> = {
  k: 100,
  coarseK: 3,
  alpha: 5,
  alphaCoarse: 5,
  seed: 42,
  assignment: { mode: 'soft', temperature: 0.05, top: 16 },
  defaultCostWeight: 0.1,
  router: { kind: 'clusters' },
};

export const DEFAULT_NEIGHBOURS = { kind: 'neighbours', k: 50, alpha: 10 } as const;

export async function embedAll(embedder: Embedder, texts: readonly string[], onProgress?: FitOptions['onProgress']): Promise<Float32Array> {
  const out = new Float32Array(texts.length * embedder.dim);
  const batch = 64;
  for (let i = 0; i < texts.length; i += batch) {
    const m = await embedder.embedMany(texts.slice(i, i + batch));
    out.set(m, i * embedder.dim);
    onProgress?.('embed', Math.min(i + batch, texts.length), texts.length);
  }
  return out;
}

/** Mean known error per (cluster, model) with shrinkage toward `prior` (c x M). */
function shrunkErrors(assign: Int32Array, c: number, data: LabelledData, prior: Float64Array, alpha: number): { err: Float32Array; counts: Uint32Array } {
  const M = data.models.length;
  const sum = new Float64Array(c * M);
  const counts = new Uint32Array(c * M);
  for (let i = 0; i < assign.length; i++) {
    const k = assign[i];
    for (let m = 0; m < M; m++) {
      const s = data.score[i * M + m];
      if (s !== s) continue; // unknown label: neither success nor failure
      sum[k * M + m] += 1 - s;
      counts[k * M + m]++;
    }
  }
  const err = new Float32Array(c * M);
  for (let j = 0; j < c * M; j++) {
    const p = prior[j];
    err[j] = p === p ? (sum[j] + alpha * p) / (counts[j] + alpha) : counts[j] > 0 ? sum[j] / counts[j] : NaN;
  }
  return { err, counts };
}

export function averageCostPer1k(data: LabelledData): number[] {
  const M = data.models.length;
  return data.models.map((_, m) => {
    let s = 0, n = 0;
    for (let i = 0; i < data.prompts.length; i++) { const c = data.cost[i * M + m]; if (c === c) { s += c; n++; } }
    return n ? (1000 * s) / n : NaN;
  });
}

export async function fitProfile(data: LabelledData, embedder: Embedder, opts: FitOptions): Promise<Profile> {
  const n = data.prompts.length, M = data.models.length, dim = embedder.dim;
  if (n === 0) throw new Error('fit: no prompts');
  const x = await embedAll(embedder, data.prompts, opts.onProgress);
  const fine = kmeans(x, n, dim, opts.k, { seed: opts.seed, onProgress: (it, moved) => opts.onProgress?.(`kmeans k=${opts.k} (moved ${moved})`, it, 50) });
  const K = fine.k;
  // Global error per model (NaN where the model has no label at all).
  const global = new Float64Array(M);
  {
    const zero = new Int32Array(n);
    const g = shrunkErrors(zero, 1, data, new Float64Array(M).fill(NaN), 0);
    for (let m = 0; m < M; m++) global[m] = g.err[m];
  }
  let parentPrior: Float64Array;
  const coarseK = Math.max(1, Math.min(opts.coarseK, K));
  if (coarseK > 1) {
    const coarse = kmeans(x, n, dim, coarseK, { seed: opts.seed + 1, onProgress: (it) => opts.onProgress?.(`kmeans k=${coarseK}`, it, 50) });
    const cPrior = new Float64Array(coarse.k * M);
    for (let j = 0; j < coarse.k; j++) cPrior.set(global, j * M);
    const cErr = shrunkErrors(coarse.assign, coarse.k, data, cPrior, opts.alphaCoarse).err;
    parentPrior = new Float64Array(K * M);
    for (let k = 0; k < K; k++) {
      const parent = nearestRow(fine.centroids, k, coarse.centroids, coarse.k, dim);
      for (let m = 0; m < M; m++) parentPrior[k * M + m] = cErr[parent * M + m];
    }
  } else {
    parentPrior = new Float64Array(K * M);
    for (let k = 0; k < K; k++) parentPrior.set(global, k * M);
  }
  const { err, counts } = shrunkErrors(fine.assign, K, data, parentPrior, opts.alpha);

  const cost = averageCostPer1k(data);
  const bad = data.models.filter((_, m) => !(cost[m] >= 0));
  if (bad.length) throw new Error(`fit: no cost data for ${bad.join(', ')} (give cost_usd in the JSONL, or --pricing)`);
  const norm = costNormalisation(cost);
  const models: ModelEntry[] = data.models.map((name, m) => {
    const p = opts.pricing?.[name];
    return { name, cost_per_1k: cost[m], pricing: p ? { input_per_1m: p.input_per_1m, output_per_1m: p.output_per_1m, estimated: p.estimated ?? false } : null };
  });
  const manifest: ProfileManifest = {
    format: PROFILE_FORMAT,
    version: PROFILE_VERSION,
    name: opts.name,
    created: new Date().toISOString(),
    embedder: { id: embedder.id, dim, hash: embedder.hash },
    k: K,
    models,
    cost_normalisation: { kind: 'log-range', min_per_1k: norm.min, max_per_1k: norm.max },
    assignment: opts.assignment,
    default_cost_weight: opts.defaultCostWeight,
    fit: { samples: n, seed: opts.seed, coarse_k: coarseK, alpha: opts.alpha, alpha_coarse: opts.alphaCoarse, kmeans_iterations: fine.iterations },
    files: { centroids: 'centroids.f32', errors: 'errors.f32', counts: 'counts.u32' },
    sha256: {},
  };
  if (opts.router?.kind === 'neighbours') {
    // The labelled prompts themselves: vectors as embedded, error = 1 - score (NaN = unknown).
    manifest.router = { kind: 'neighbours', k: opts.router.k, alpha: opts.router.alpha, samples: n };
    // Absent unless asked for: the router's DEFAULT_NPROBE then applies, and can change with this build.
    if (opts.router.nprobe !== undefined) manifest.router.nprobe = opts.router.nprobe;
    const p = fromParts(manifest, null, fine.centroids, err, counts);
    p.points = x;
    p.labels = Float32Array.from(data.score, (s) => 1 - s);
    return p;
  }
  return fromParts(manifest, null, fine.centroids, err, counts);
}
