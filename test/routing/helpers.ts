/** Small hand-built profiles for tests. */
import type { Profile, ProfileManifest } from '../../src/routing/profile.ts';
import { PROFILE_FORMAT, PROFILE_VERSION, fromParts, costNormalisation } from '../../src/routing/profile.ts';

export function unit(dim: number, hot: number, second?: number, w = 0): Float32Array {
  const v = new Float32Array(dim);
  v[hot] = 1;
  if (second !== undefined) { v[second] = w; const n = Math.hypot(1, w); v[hot] /= n; v[second] /= n; }
  return v;
}

/** K clusters on axis-aligned unit centroids, M models with given errors (K x M) and costs. */
export function handProfile(errors: number[][], costPer1k: number[], opts: Partial<ProfileManifest> = {}, dim = 8): Profile {
  const K = errors.length, M = costPer1k.length;
  const centroids = new Float32Array(K * dim);
  for (let k = 0; k < K; k++) centroids[k * dim + k] = 1;
  const n = costNormalisation(costPer1k);
  const manifest: ProfileManifest = {
    format: PROFILE_FORMAT, version: PROFILE_VERSION, name: 'hand', created: '2026-01-01T00:00:00Z',
    embedder: { id: 'test', dim, hash: '0123456789abcdef' }, k: K,
    models: costPer1k.map((c, i) => ({ name: `m${i}`, cost_per_1k: c, pricing: null })),
    cost_normalisation: { kind: 'log-range', min_per_1k: n.min, max_per_1k: n.max },
    assignment: { mode: 'hard', temperature: 0.05, top: 1 }, default_cost_weight: 0,
    fit: {}, files: { centroids: 'centroids.f32', errors: 'errors.f32', counts: 'counts.u32' }, sha256: {},
    ...opts,
  };
  return fromParts(manifest, null, centroids, Float32Array.from(errors.flat()), new Uint32Array(K * M).fill(10));
}
