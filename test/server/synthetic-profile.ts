/**
 * The synthetic router profile the route-pool suites route with
 * (route-pool-dispatch below HNSW_MIN_K, route-pool-hnsw at it): K random unit
 * centroids, except that the first few are the PROMPTS' own native embeddings
 * slightly perturbed (so those prompts land on distinct, known-near
 * clusters); errors random with ~5% unknown cells; soft assignment over 4;
 * "fitted" with the native embedder of the default profile.
 */
import { loadNativeTables, NativeEmbedder } from '../../src/routing/embedders/native.ts';
import { costNormalisation, PROFILE_FORMAT, PROFILE_VERSION, saveProfile } from '../../src/routing/profile.ts';
import { DEFAULT_PROFILE_DIR } from '../../src/config/schema.ts';
import { mulberry32 } from '../../src/seeded-random.ts';
import { PROMPTS } from './helpers.ts';

export const MODELS = ['tiny', 'small', 'medium', 'large'];
export const COSTS = [0.05, 0.3, 2, 10];
export const embedder = new NativeEmbedder(loadNativeTables(DEFAULT_PROFILE_DIR));
export const DIM = embedder.dim;

/** Scales `v` to unit length in place. */
export function normalise(v: Float32Array): Float32Array {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i] * v[i];
  const inv = 1 / Math.sqrt(s);
  for (let i = 0; i < v.length; i++) v[i] *= inv;
  return v;
}

/** Writes the profile into `dir` (seeded: the same `seed` gives the same files); returns its centroids. */
export function writeSyntheticProfile(dir: string, opts: { k: number; seed: number; name: string }): Float32Array {
  const { k, seed, name } = opts;
  const r = mulberry32(seed);
  const centroids = new Float32Array(k * DIM);
  for (let j = 0; j < k; j++) {
    const v = j < PROMPTS.length ? embedder.embedSync(PROMPTS[j]).slice() : new Float32Array(DIM);
    for (let i = 0; i < DIM; i++) v[i] += (r() * 2 - 1) * (j < PROMPTS.length ? 0.01 : 1);
    centroids.set(normalise(v), j * DIM);
  }
  const errors = Float32Array.from({ length: k * MODELS.length }, () => (r() < 0.05 ? NaN : r()));
  const n = costNormalisation(COSTS);
  saveProfile(dir, {
    manifest: {
      format: PROFILE_FORMAT, version: PROFILE_VERSION, name, created: '2026-01-01T00:00:00Z',
      embedder: { id: embedder.id, dim: DIM, hash: embedder.hash }, k,
      models: MODELS.map((m, i) => ({ name: m, cost_per_1k: COSTS[i], pricing: null })),
      cost_normalisation: { kind: 'log-range', min_per_1k: n.min, max_per_1k: n.max },
      assignment: { mode: 'soft', temperature: 0.05, top: 4 }, default_cost_weight: 0.1,
      fit: {}, files: { centroids: '', errors: '', counts: '' }, sha256: {},
    },
    k, dim: DIM, models: MODELS, centroids, errors, counts: new Uint32Array(k * MODELS.length).fill(5),
  });
  return centroids;
}
