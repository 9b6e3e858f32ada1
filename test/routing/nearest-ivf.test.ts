import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { InvertedFile, nearestCentroids } from '../../src/routing/nearest-ivf.ts';
import { BruteForceIndex, SimdBruteForceIndex, simdAvailable, type RangeScan } from '../../src/routing/nearest.ts';
import { randomUnitRows } from './unit-rows.ts';

type Scanner = (rows: Float32Array, n: number, dim: number) => RangeScan;
const scanners: [string, Scanner][] = [['JS fallback (BruteForceIndex)', (c, n, d) => new BruteForceIndex(c, n, d)]];
if (simdAvailable()) scanners.push(['WebAssembly SIMD', (c, n, d) => new SimdBruteForceIndex(c, n, d)]);

for (const [name, scanner] of scanners) {
  describe(`InvertedFile over ${name}`, () => {
    // N points in K lists; dim 21, not a multiple of 4, so the kernels' scalar tail runs too.
    const N = 400, K = 12, dim = 21, k = 30;
    const points = randomUnitRows(N, dim, 11), centroids = randomUnitRows(K, dim, 12), queries = randomUnitRows(40, dim, 13);
    const ivf = InvertedFile.over(points, N, dim, centroids, K, scanner);
    const brute = scanner(points, N, dim);
    const cIndex = new BruteForceIndex(centroids, K, dim);
    const assign = nearestCentroids(points, N, dim, centroids, K);
    const dot = (j: number, q: Float32Array) => { let s = 0; for (let i = 0; i < dim; i++) s += q[i] * points[j * dim + i]; return s; };

    it('files every point once, under its nearest centroid', () => {
      let total = 0;
      for (let c = 0; c < K; c++) {
        const m = ivf.members(c);
        assert.equal(m.length, ivf.listSize(c));
        for (const j of m) assert.equal(assign[j], c);
        total += m.length;
      }
      assert.equal(total, N);
      // assign is the exact nearest centroid
      for (let j = 0; j < N; j += 37) {
        let best = -1, bs = -Infinity;
        for (let c = 0; c < K; c++) { let s = 0; for (let i = 0; i < dim; i++) s += points[j * dim + i] * centroids[c * dim + i]; if (s > bs) { bs = s; best = c; } }
        assert.equal(assign[j], best);
      }
    });

    it('probing every cluster gives exactly the brute-force answer (ids and similarities)', () => {
      const cIds = new Int32Array(K), cSims = new Float32Array(K);
      const ids = new Int32Array(k), sims = new Float32Array(k), bIds = new Int32Array(k), bSims = new Float32Array(k);
      for (let t = 0; t < 40; t++) {
        const q = queries.subarray(t * dim, (t + 1) * dim);
        const got = cIndex.search(q, K, cIds, cSims);
        assert.equal(ivf.search(q, cIds, got, K, k, ids, sims), k);
        assert.equal(ivf.lastProbed, K);
        assert.equal(brute.search(q, k, bIds, bSims), k);
        assert.deepEqual([...ids], [...bIds]);
        assert.deepEqual([...sims], [...bSims]);
        ids.fill(-1);
        assert.equal(ivf.exact(q, k, ids, sims), k);
        assert.deepEqual([...ids], [...bIds]);
      }
    });

    it('with small nprobe: k results, best first, each a member of the scanned clusters, the exact top-k among them', () => {
      const cIds = new Int32Array(K), cSims = new Float32Array(K);
      const ids = new Int32Array(k), sims = new Float32Array(k);
      for (const nprobe of [1, 2, 3]) {
        let missed = 0;
        for (let t = 0; t < 40; t++) {
          const q = queries.subarray(t * dim, (t + 1) * dim);
          const got = cIndex.search(q, K, cIds, cSims);
          assert.equal(ivf.search(q, cIds, got, nprobe, k, ids, sims), k);
          const probed = ivf.lastProbed;
          assert.ok(probed >= nprobe, `probed ${probed} >= nprobe ${nprobe}`);
          // The clusters scanned: the first `probed` given, and no more than needed to reach k points.
          const scanned = new Set<number>();
          for (let p = 0; p < probed; p++) for (const j of ivf.members(cIds[p])) scanned.add(j);
          assert.ok(scanned.size >= k);
          if (probed > nprobe) {
            let before = 0;
            for (let p = 0; p < probed - 1; p++) before += ivf.listSize(cIds[p]);
            assert.ok(before < k, 'added a cluster past nprobe only while short of k points');
          }
          assert.equal(ivf.lastScanned, scanned.size);
          for (let i = 0; i < k; i++) {
            assert.ok(scanned.has(ids[i]), `result ${ids[i]} is in a scanned cluster`);
            assert.ok(Math.abs(sims[i] - dot(ids[i], q)) < 1e-5, 'similarity of the returned id');
            if (i > 0) assert.ok(sims[i - 1] >= sims[i], 'best first');
          }
          assert.equal(new Set(ids).size, k, 'no duplicates');
          const want = [...scanned].sort((a, b) => dot(b, q) - dot(a, q) || a - b).slice(0, k);
          assert.deepEqual(new Set(ids), new Set(want), 'the exact top-k of the scanned clusters');
          const all = Array.from({ length: N }, (_, j) => j).sort((a, b) => dot(b, q) - dot(a, q)).slice(0, k);
          missed += all.filter((j) => !ids.includes(j)).length;
        }
        // Not a quality bar: it shows the test probes fewer than every cluster (else it tests nothing new).
        if (nprobe === 1) assert.ok(missed > 0, 'nprobe 1 misses some true neighbours on random data');
      }
    });

    it('falls back to exact when the clusters given hold fewer than k points', () => {
      const q = queries.subarray(0, dim);
      const small = [...Array(K).keys()].sort((a, b) => ivf.listSize(a) - ivf.listSize(b))[0];
      assert.ok(ivf.listSize(small) < k);
      const ids = new Int32Array(k), sims = new Float32Array(k), bIds = new Int32Array(k), bSims = new Float32Array(k);
      assert.equal(ivf.search(q, Int32Array.of(small), 1, 1, k, ids, sims), k);
      assert.equal(ivf.lastProbed, 0);
      assert.equal(ivf.lastScanned, N);
      brute.search(q, k, bIds, bSims);
      assert.deepEqual([...ids], [...bIds]);
    });

    it('refuses a cluster id outside the lists and a bad assignment', () => {
      const q = queries.subarray(0, dim), ids = new Int32Array(k), sims = new Float32Array(k);
      assert.throws(() => ivf.search(q, Int32Array.of(K), 1, 1, k, ids, sims), /cluster id 12 outside 0..11/);
      assert.throws(() => new InvertedFile(points, N, dim, K, new Int32Array(N).fill(K), scanner), /point 0 is assigned to list 12/);
      assert.throws(() => new InvertedFile(points, N, dim, K, new Int32Array(3), scanner), /3 assignments for 400 points/);
    });

    it('equal similarities order by the lower original id, as brute force does', () => {
      // Point 7 duplicated at ids 3 and 390, filed under different lists by a hand assignment.
      const p = points.slice();
      p.copyWithin(3 * dim, 7 * dim, 8 * dim);
      p.copyWithin(390 * dim, 7 * dim, 8 * dim);
      const a = assign.slice();
      a[390] = (a[7] + 1) % K; a[3] = (a[7] + 2) % K;
      const file = new InvertedFile(p, N, dim, K, a, scanner);
      const q = p.slice(7 * dim, 8 * dim);
      const ids = new Int32Array(3), sims = new Float32Array(3), bIds = new Int32Array(3), bSims = new Float32Array(3);
      const order = Int32Array.from([a[390], a[3], a[7]]);
      file.search(q, order, 3, 3, 3, ids, sims);
      scanner(p, N, dim).search(q, 3, bIds, bSims);
      assert.deepEqual([...bIds], [3, 7, 390]);
      assert.deepEqual([...ids], [3, 7, 390]);
    });

    it('scoreRanges scores only the rows asked for, and refuses rows outside the index', () => {
      const s = scanner(points, N, dim), q = queries.subarray(0, dim);
      const out = s.scoreRanges(q, Int32Array.of(5, 100), Int32Array.of(3, 9), 2);
      for (const j of [5, 6, 7, 100, 108]) assert.ok(Math.abs(out[j] - dot(j, q)) < 1e-5);
      assert.throws(() => s.scoreRanges(q, Int32Array.of(N - 2), Int32Array.of(3), 1), /outside 0..400/);
    });
  });
}
