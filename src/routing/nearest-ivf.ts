/**
 * Inverted file (IVF) over the neighbour router's labelled prompts: each
 * prompt is filed under its nearest centroid (the profile's K clusters), the
 * vectors laid out list by list in one contiguous copy, and a query scans only
 * the lists of its nearest clusters, which the decision has already found
 * (the cluster router's search), so the centroids are not searched twice.
 *
 * Costs: building files every point once, an exact nearest-centroid search
 * per point (N x K dot products: 2,225 x 100 at dim 384; the whole build
 * took 17-28 ms on the shared 2-core dev machine, see NeighbourRouter.prepare), and holds one copy of the points (N x dim x 4 bytes, 3.4 MB
 * on RouterBench) in place of the exact index's copy. A search scans
 * sum(list sizes of the probed clusters) rows instead of N: ~N x nprobe / K
 * when the lists are even, more when the nearest clusters are the big ones.
 *
 * What can go wrong: a true neighbour filed under a cluster not probed is
 * missed (recall below 1; measured by scripts/ivf-recall.ts). Never fewer
 * than `top` answers: lists are added in the clusters' order past nprobe
 * until they hold `top` points, and when the clusters given run out first
 * the search is exact. Ties in similarity keep the lower original id, as
 * selectTop does, so probing every list gives exactly the brute-force answer.
 */
import { bruteForceIndex, type RangeScan } from './nearest.ts';

export class InvertedFile {
  readonly kind = 'ivf';
  /** Rows of the reordered copy per list: list c holds rows [start[c], start[c + 1]). */
  private readonly start: Int32Array;
  /** Reordered row -> original point id (the row of `labels`). */
  private readonly orig: Int32Array;
  private readonly scan: RangeScan;
  private readonly from: Int32Array;
  private readonly count: Int32Array;
  private readonly all: Int32Array;
  private readonly allCount: Int32Array;
  /** Lists scanned by the last search; 0 when it fell back to exact (stats for scripts/ivf-recall.ts). */
  lastProbed = 0;
  /** Rows scanned by the last search. */
  lastScanned = 0;

  /**
   * `points`: size x dim; `assign[i]`: point i's list in [0, lists). Use
   * InvertedFile.over() to assign by nearest centroid. `scanner`: the
   * brute-force index over the reordered rows (default the fastest this
   * runtime has; tests pass BruteForceIndex to cover the JS fallback).
   */
  constructor(points: Float32Array, readonly size: number, dim: number, readonly lists: number, assign: Int32Array, scanner: (rows: Float32Array, n: number, dim: number) => RangeScan = bruteForceIndex) {
    if (points.length !== size * dim) throw new Error(`InvertedFile: ${points.length} floats is not ${size} x ${dim}`);
    if (assign.length !== size) throw new Error(`InvertedFile: ${assign.length} assignments for ${size} points`);
    const start = new Int32Array(lists + 1);
    for (let i = 0; i < size; i++) {
      const c = assign[i];
      if (!(c >= 0 && c < lists)) throw new Error(`InvertedFile: point ${i} is assigned to list ${c}, outside 0..${lists - 1}`);
      start[c + 1]++;
    }
    for (let c = 0; c < lists; c++) start[c + 1] += start[c];
    // Counting sort, stable: within a list, rows keep their original order.
    const next = start.slice(0, lists);
    const orig = new Int32Array(size);
    const rows = new Float32Array(size * dim);
    for (let i = 0; i < size; i++) {
      const r = next[assign[i]]++;
      orig[r] = i;
      rows.set(points.subarray(i * dim, (i + 1) * dim), r * dim);
    }
    this.start = start;
    this.orig = orig;
    // The SIMD kernel copies `rows` into its module memory; the JS fallback keeps it.
    this.scan = scanner(rows, size, dim);
    this.from = new Int32Array(lists);
    this.count = new Int32Array(lists);
    this.all = Int32Array.of(0);
    this.allCount = Int32Array.of(size);
  }

  /** Files each point under its nearest centroid (exact; ties to the lower centroid id). */
  static over(points: Float32Array, size: number, dim: number, centroids: Float32Array, lists: number, scanner?: (rows: Float32Array, n: number, dim: number) => RangeScan): InvertedFile {
    return new InvertedFile(points, size, dim, lists, nearestCentroids(points, size, dim, centroids, lists), scanner);
  }

  /** How many points list `c` holds. */
  listSize(c: number): number { return this.start[c + 1] - this.start[c]; }

  /** The original point ids filed under list `c` (a copy). */
  members(c: number): Int32Array { return this.orig.slice(this.start[c], this.start[c + 1]); }

  /**
   * The `top` points nearest to `q` among the lists of `clusters[0..got)`
   * (nearest cluster first): the first `nprobe` of them, then more in order
   * until they hold `top` points; exact when the clusters given run out
   * first. Writes original point ids (best first) and similarities; returns
   * how many (min(top, size)). nprobe <= 0 = exact.
   */
  search(q: Float32Array, clusters: Int32Array, got: number, nprobe: number, top: number, ids: Int32Array, sims: Float32Array): number {
    const need = Math.min(top, this.size);
    if (nprobe > 0) {
      const { start, from, count } = this;
      let ranges = 0, rows = 0, probed = 0;
      for (let t = 0; t < got && (probed < nprobe || rows < need); t++) {
        const c = clusters[t];
        if (!(c >= 0 && c < this.lists)) throw new Error(`InvertedFile: cluster id ${c} outside 0..${this.lists - 1}`);
        probed++;
        const n = start[c + 1] - start[c];
        if (n === 0) continue;
        from[ranges] = start[c]; count[ranges] = n; ranges++;
        rows += n;
      }
      if (rows >= need) {
        this.lastProbed = probed; this.lastScanned = rows;
        return this.select(this.scan.scoreRanges(q, from, count, ranges), from, count, ranges, need, ids, sims);
      }
    }
    this.lastProbed = 0; this.lastScanned = this.size;
    return this.select(this.scan.scoreRanges(q, this.all, this.allCount, 1), this.all, this.allCount, 1, need, ids, sims);
  }

  /** Exact: every list. */
  exact(q: Float32Array, top: number, ids: Int32Array, sims: Float32Array): number {
    return this.search(q, this.all, 0, 0, top, ids, sims);
  }

  /**
   * selectTop over the scanned rows, by original id: insertion into a sorted
   * prefix (top is ~50 here, and most rows fail the first comparison once the
   * prefix fills); equal similarities order by the lower original id.
   */
  private select(all: Float32Array, from: Int32Array, count: Int32Array, ranges: number, t: number, ids: Int32Array, sims: Float32Array): number {
    const orig = this.orig;
    let n = 0;
    for (let r = 0; r < ranges; r++) {
      const end = from[r] + count[r];
      for (let j = from[r]; j < end; j++) {
        const s = all[j], id = orig[j];
        if (n === t && (s < sims[n - 1] || (s === sims[n - 1] && id > ids[n - 1]) || s !== s)) continue;
        let p = n < t ? n++ : n - 1;
        while (p > 0 && (sims[p - 1] < s || (sims[p - 1] === s && ids[p - 1] > id))) { sims[p] = sims[p - 1]; ids[p] = ids[p - 1]; p--; }
        sims[p] = s; ids[p] = id;
      }
    }
    return t;
  }
}

/** Each point's nearest centroid (exact), with the fastest brute-force index this runtime has. */
export function nearestCentroids(points: Float32Array, size: number, dim: number, centroids: Float32Array, lists: number): Int32Array {
  const index = bruteForceIndex(centroids, lists, dim);
  const out = new Int32Array(size), id = new Int32Array(1), sim = new Float32Array(1);
  for (let i = 0; i < size; i++) {
    index.search(points.subarray(i * dim, (i + 1) * dim), 1, id, sim);
    out[i] = id[0];
  }
  return out;
}
