/**
 * Nearest-centroid search behind one interface; the contract suite in
 * test/routing/nearest.test.ts runs against each implementation.
 *
 * Similarity is the dot product of L2-normalised vectors (cosine).
 */
export interface NearestIndex {
  readonly kind: string;
  readonly size: number;
  /**
   * Writes the `top` nearest centroid ids (best first) into `ids` and their
   * similarities into `sims`; returns how many were written (min(top, size)).
   */
  search(q: Float32Array, top: number, ids: Int32Array, sims: Float32Array): number;
}

/**
 * Brute force over all centroids, blocked four centroids at a time: each pass
 * over the query feeds four accumulators, so the query is read once per four
 * centroids and the loop has four independent dependency chains. At K=100,
 * dim=384 this is ~38k multiply-adds, cheaper than one hnswlib call's fixed cost
 * (bench/micro.ts measures the crossover).
 */
export class BruteForceIndex implements NearestIndex {
  readonly kind = 'brute';
  private readonly sims: Float32Array;
  constructor(private readonly c: Float32Array, readonly size: number, private readonly dim: number) {
    if (c.length !== size * dim) throw new Error(`BruteForceIndex: ${c.length} floats is not ${size} x ${dim}`);
    this.sims = new Float32Array(size);
  }

  search(q: Float32Array, top: number, ids: Int32Array, sims: Float32Array): number {
    const { c, dim, size } = this;
    const all = this.sims;
    let j = 0;
    for (; j + 4 <= size; j += 4) {
      const o0 = j * dim, o1 = o0 + dim, o2 = o1 + dim, o3 = o2 + dim;
      let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      for (let i = 0; i < dim; i++) {
        const x = q[i];
        s0 += x * c[o0 + i]; s1 += x * c[o1 + i]; s2 += x * c[o2 + i]; s3 += x * c[o3 + i];
      }
      all[j] = s0; all[j + 1] = s1; all[j + 2] = s2; all[j + 3] = s3;
    }
    for (; j < size; j++) {
      const o = j * dim;
      let s = 0;
      for (let i = 0; i < dim; i++) s += q[i] * c[o + i];
      all[j] = s;
    }
    return selectTop(all, size, top, ids, sims);
  }
}

/** Partial selection of the `top` largest of `all` (top is small: insertion into a sorted prefix). */
export function selectTop(all: Float32Array, size: number, top: number, ids: Int32Array, sims: Float32Array): number {
  const t = Math.min(top, size);
  let n = 0;
  for (let j = 0; j < size; j++) {
    const s = all[j];
    if (n === t && s <= sims[n - 1]) continue;
    let p = n < t ? n++ : n - 1;
    while (p > 0 && sims[p - 1] < s) { sims[p] = sims[p - 1]; ids[p] = ids[p - 1]; p--; }
    sims[p] = s; ids[p] = j;
  }
  return t;
}

type HnswModule = typeof import('hnswlib-node');

/**
 * hnswlib-node index over the centroids (inner-product space). A fixed ~19 µs
 * per call on this machine (STYLE.md) and a plain-Array query, so it pays only
 * for K in the thousands. Not shareable between threads: each worker builds or
 * reads its own copy.
 */
export class HnswIndex implements NearestIndex {
  readonly kind = 'hnsw';
  private constructor(private readonly index: InstanceType<HnswModule['HierarchicalNSW']>, readonly size: number, private readonly dim: number) {}

  static async build(c: Float32Array, size: number, dim: number, opts: { m?: number; efConstruction?: number; efSearch?: number; seed?: number } = {}): Promise<HnswIndex> {
    const mod: any = await import('hnswlib-node');
    const HierarchicalNSW: HnswModule['HierarchicalNSW'] = mod.HierarchicalNSW ?? mod.default.HierarchicalNSW;
    const index = new HierarchicalNSW('ip', dim);
    index.initIndex(size, opts.m ?? 16, opts.efConstruction ?? 200, opts.seed ?? 100);
    const row = new Array<number>(dim);
    for (let j = 0; j < size; j++) {
      for (let i = 0; i < dim; i++) row[i] = c[j * dim + i];
      index.addPoint(row, j);
    }
    index.setEf(Math.max(opts.efSearch ?? 64, 16));
    return new HnswIndex(index, size, dim);
  }

  search(q: Float32Array, top: number, ids: Int32Array, sims: Float32Array): number {
    const t = Math.min(top, this.size);
    const r = this.index.searchKnn(Array.from(q), t);
    // hnswlib returns nearest first for 'ip'; distance = 1 - dot.
    for (let i = 0; i < t; i++) { ids[i] = r.neighbors[i]; sims[i] = 1 - r.distances[i]; }
    return t;
  }
}

/**
 * Brute force below this K, HNSW from it. Measured by bench/micro.ts on the
 * 2-core dev machine (dim 384, top 8): K=100 brute 18 µs vs HNSW 38 µs;
 * K=300 51 vs 53; K=1,000 171 vs 82; K=10,000 1,768 vs 129.
 */
export const HNSW_MIN_K = 400;

export async function nearestIndexFor(c: Float32Array, k: number, dim: number, minK = HNSW_MIN_K): Promise<NearestIndex> {
  return k >= minK ? HnswIndex.build(c, k, dim) : new BruteForceIndex(c, k, dim);
}
