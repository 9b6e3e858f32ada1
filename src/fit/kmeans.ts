/**
 * Spherical K-means (cosine) with K-means++ seeding and a fixed seed, on
 * L2-normalised rows. Deterministic for a given seed and input order.
 */
export interface KMeansResult {
  /** k x dim, each row L2-normalised. */
  centroids: Float32Array;
  /** Cluster of each input row. */
  assign: Int32Array;
  k: number;
  iterations: number;
}

import { mulberry32 } from '../seeded-random.ts';

export { mulberry32 };

function dot(a: Float32Array, ao: number, b: Float32Array, bo: number, dim: number): number {
  let s = 0;
  for (let i = 0; i < dim; i++) s += a[ao + i] * b[bo + i];
  return s;
}

function normaliseRow(m: Float32Array, off: number, dim: number): void {
  let s = 0;
  for (let i = 0; i < dim; i++) s += m[off + i] * m[off + i];
  if (s === 0) return;
  const inv = 1 / Math.sqrt(s);
  for (let i = 0; i < dim; i++) m[off + i] *= inv;
}

export interface KMeansOptions {
  seed?: number;
  maxIter?: number;
  onProgress?: (iter: number, moved: number) => void;
}

export function kmeans(x: Float32Array, n: number, dim: number, k: number, opts: KMeansOptions = {}): KMeansResult {
  if (n === 0) throw new Error('kmeans: no rows');
  k = Math.min(k, n);
  const rnd = mulberry32(opts.seed ?? 1);
  const maxIter = opts.maxIter ?? 50;
  const c = new Float32Array(k * dim);
  // K-means++: next centre drawn with probability proportional to squared cosine distance.
  const d2 = new Float64Array(n);
  const first = Math.floor(rnd() * n);
  c.set(x.subarray(first * dim, first * dim + dim), 0);
  for (let i = 0; i < n; i++) { const d = Math.max(0, 1 - dot(x, i * dim, c, 0, dim)); d2[i] = d * d; }
  for (let j = 1; j < k; j++) {
    let total = 0;
    for (let i = 0; i < n; i++) total += d2[i];
    let pick = n - 1;
    if (total > 0) {
      let r = rnd() * total;
      for (let i = 0; i < n; i++) { r -= d2[i]; if (r <= 0) { pick = i; break; } }
    } else pick = Math.floor(rnd() * n);
    c.set(x.subarray(pick * dim, pick * dim + dim), j * dim);
    for (let i = 0; i < n; i++) {
      const d = Math.max(0, 1 - dot(x, i * dim, c, j * dim, dim));
      if (d * d < d2[i]) d2[i] = d * d;
    }
  }
  const assign = new Int32Array(n).fill(-1);
  const sums = new Float64Array(k * dim);
  const counts = new Int32Array(k);
  let iter = 0;
  for (; iter < maxIter; iter++) {
    let moved = 0;
    for (let i = 0; i < n; i++) {
      let best = 0, bs = -Infinity;
      for (let j = 0; j < k; j++) { const s = dot(x, i * dim, c, j * dim, dim); if (s > bs) { bs = s; best = j; } }
      if (assign[i] !== best) { assign[i] = best; moved++; }
    }
    opts.onProgress?.(iter + 1, moved);
    if (moved === 0 && iter > 0) break;
    sums.fill(0); counts.fill(0);
    for (let i = 0; i < n; i++) {
      const j = assign[i]; counts[j]++;
      for (let t = 0; t < dim; t++) sums[j * dim + t] += x[i * dim + t];
    }
    for (let j = 0; j < k; j++) {
      if (counts[j] === 0) {
        // Empty cluster: re-seed on the row farthest from its centre, so K stays K.
        let far = 0, fs = Infinity;
        for (let i = 0; i < n; i++) { const s = dot(x, i * dim, c, assign[i] * dim, dim); if (s < fs) { fs = s; far = i; } }
        c.set(x.subarray(far * dim, far * dim + dim), j * dim);
        continue;
      }
      for (let t = 0; t < dim; t++) c[j * dim + t] = sums[j * dim + t];
      normaliseRow(c, j * dim, dim);
    }
  }
  return { centroids: c, assign, k, iterations: iter };
}

/** Index of the row of `c` (k x dim) with the largest dot product with row `i` of `x`. */
export function nearestRow(x: Float32Array, i: number, c: Float32Array, k: number, dim: number): number {
  let best = 0, bs = -Infinity;
  for (let j = 0; j < k; j++) { const s = dot(x, i * dim, c, j * dim, dim); if (s > bs) { bs = s; best = j; } }
  return best;
}
