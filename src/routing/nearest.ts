/**
 * Nearest-centroid search behind one interface; the contract suite in
 * test/routing/nearest.test.ts runs against each implementation.
 *
 * Similarity is the dot product of L2-normalised vectors (cosine).
 */
import { selectTop } from './select-top.ts';
import { SimdBruteForceIndex, simdAvailable } from './nearest-simd.ts';

export { selectTop } from './select-top.ts';
export { SimdBruteForceIndex, simdAvailable } from './nearest-simd.ts';

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
 * A brute-force index that can also score chosen rows only: the inverted
 * file (nearest-ivf.ts) lays its points out list by list and scans the lists
 * of the nearest clusters.
 */
export interface RangeScan extends NearestIndex {
  /**
   * Similarities of `q` to rows [from[r], from[r] + count[r]) for r < ranges,
   * written at those rows of the returned array (the index's own scratch,
   * size long: valid until the next call; rows outside the ranges are stale).
   */
  scoreRanges(q: Float32Array, from: Int32Array, count: Int32Array, ranges: number): Float32Array;
}

/**
 * Brute force over all centroids, blocked four centroids at a time: each pass
 * over the query feeds four accumulators, so the query is read once per four
 * centroids and the loop has four independent dependency chains. At K=100,
 * dim=384 this is ~38k multiply-adds, ~20 µs. The fallback where WebAssembly
 * SIMD is missing: SimdBruteForceIndex (nearest-simd.ts) does the same ~9x faster.
 */
export class BruteForceIndex implements RangeScan {
  readonly kind = 'brute';
  private readonly sims: Float32Array;
  constructor(private readonly c: Float32Array, readonly size: number, private readonly dim: number) {
    if (c.length !== size * dim) throw new Error(`BruteForceIndex: ${c.length} floats is not ${size} x ${dim}`);
    this.sims = new Float32Array(size);
  }

  search(q: Float32Array, top: number, ids: Int32Array, sims: Float32Array): number {
    this.rows(q, 0, this.size);
    return selectTop(this.sims, this.size, top, ids, sims);
  }

  scoreRanges(q: Float32Array, from: Int32Array, count: Int32Array, ranges: number): Float32Array {
    if (q.length !== this.dim) throw new Error(`BruteForceIndex: query has ${q.length} floats, expected ${this.dim}`);
    for (let r = 0; r < ranges; r++) {
      const j = from[r], n = count[r];
      if (j < 0 || n < 0 || j + n > this.size) throw new Error(`BruteForceIndex: rows ${j}..${j + n} outside 0..${this.size}`);
      this.rows(q, j, j + n);
    }
    return this.sims;
  }

  /** Similarities of q to rows [from, to) into this.sims at the same rows. */
  private rows(q: Float32Array, from: number, to: number): void {
    const { c, dim } = this;
    const all = this.sims;
    let j = from;
    for (; j + 4 <= to; j += 4) {
      const o0 = j * dim, o1 = o0 + dim, o2 = o1 + dim, o3 = o2 + dim;
      let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      for (let i = 0; i < dim; i++) {
        const x = q[i];
        s0 += x * c[o0 + i]; s1 += x * c[o1 + i]; s2 += x * c[o2 + i]; s3 += x * c[o3 + i];
      }
      all[j] = s0; all[j + 1] = s1; all[j + 2] = s2; all[j + 3] = s3;
    }
    for (; j < to; j++) {
      const o = j * dim;
      let s = 0;
      for (let i = 0; i < dim; i++) s += q[i] * c[o + i];
      all[j] = s;
    }
  }
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
 * Exact brute force below this K, HNSW from it. p50 µs from bench/micro.ts on
 * the 2-core dev machine (dim 384, top 8), brute JS / brute SIMD / HNSW:
 *   K=100        22 /   2.3 /  39
 *   K=300        65 /   6.5 /  54
 *   K=1,000     216 /  21   /  80
 *   K=5,000   1,108 / 112   / 115
 *   K=10,000  2,254 / 233   / 134
 * A finer sweep put SIMD vs HNSW at K=4,000 88 vs 110, K=6,000 136 vs 120: they
 * cross near K=5,500. Ties go to brute force: it is exact (HNSW is approximate;
 * the contract suite accepts top-1 recall >= 0.96) and needs no build (1.2 s at
 * K=5,000, 3.3 s at K=10,000). SIMD p99 grows faster than HNSW's at large K
 * (600 vs 200 µs at K=10,000): a 15 MiB matrix streams from memory on every search.
 */
export const HNSW_MIN_K = 6000;

/**
 * The threshold where only the JS loop is available (no WebAssembly SIMD):
 * brute 18 µs vs HNSW 38 µs at K=100, 51 vs 53 at K=300, 171 vs 82 at K=1,000.
 */
export const HNSW_MIN_K_JS = 400;

/**
 * The fastest exact index this runtime has: WebAssembly SIMD, else the JS loop.
 * Synchronous (the kernel compiles once per thread, in well under a millisecond),
 * so the Router can use it as its default.
 */
export function bruteForceIndex(c: Float32Array, k: number, dim: number): RangeScan {
  return simdAvailable() ? new SimdBruteForceIndex(c, k, dim) : new BruteForceIndex(c, k, dim);
}

export async function nearestIndexFor(c: Float32Array, k: number, dim: number, minK = simdAvailable() ? HNSW_MIN_K : HNSW_MIN_K_JS): Promise<NearestIndex> {
  return k >= minK ? HnswIndex.build(c, k, dim) : bruteForceIndex(c, k, dim);
}

/**
 * The index of a Router whose searches run elsewhere (the route pool, see
 * src/pool/route-pool.ts): the caller searches and hands the neighbours to
 * Router.routeFrom. Holds nothing, so a large-K profile costs no inline index
 * (an HNSW build at K=10,000 takes seconds); search() throws, since reaching it
 * means a caller skipped the pool.
 */
export function remoteIndex(size: number, where: string): NearestIndex {
  return {
    kind: 'remote',
    size,
    search(): number { throw new Error(`nearest-centroid search for this profile (K=${size}) runs in ${where}, not inline: use Router.routeFrom`); },
  };
}
