/**
 * node --import tsx scripts/ivf-recall.ts [data files...] [--folds N] [--nprobe LIST] [fit options]
 *
 * How much of the exact k-nearest the neighbour router's inverted file
 * (src/routing/nearest-ivf.ts) finds, measured as eval measures AIQ: per fold,
 * everything is fitted on the training folds (IDF, centroids, the labelled
 * prompts), and the held-out prompts are the queries. Per nprobe it prints
 * recall@k (|IVF ∩ exact| / k, averaged over queries), the rows scanned per
 * query (of N), how often the search fell back to exact (the probed clusters
 * held fewer than k prompts), and how often the decision at the profile's
 * default λ is the exact search's. Not a timing: see bench/ivf.ts.
 */
import { parseArgs } from 'node:util';
import { loadLabelled, subset } from '../src/fit/dataset.ts';
import { foldOf } from '../src/fit/evaluate.ts';
import { embedAll, fitProfile } from '../src/fit/fit.ts';
import { FIT_FLAGS, FIT_HELP, fitOptionsFrom, selectionFrom, dataFiles, UsageError, nprobeFlag } from '../src/fit/options.ts';
import { DEFAULT_NATIVE_PARAMS, fitNativeTables, NativeEmbedder } from '../src/routing/embedders/native.ts';
import { NeighbourRouter } from '../src/routing/neighbours.ts';
import type { RouterSpec } from '../src/routing/profile.ts';

const HELP = `usage: node --import tsx scripts/ivf-recall.ts [files...] [--folds N] [--fold-seed N] [--nprobe LIST]
  --folds N      folds (default 5); every fold's held-out prompts are queries
  --nprobe LIST  comma-separated cluster counts (default 1,2,4,8,16,32)
${FIT_HELP}`;

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({ options: { ...FIT_FLAGS, folds: { type: 'string' }, 'fold-seed': { type: 'string' } }, allowPositionals: true });
  if (values.help) { console.log(HELP); return; }
  const folds = Number(values.folds ?? 5), seed = Number(values['fold-seed'] ?? 7);
  if (!Number.isInteger(folds) || folds < 2) throw new UsageError('--folds must be an integer >= 2');
  const probes = (values.nprobe ?? '1,2,4,8,16,32').split(',').map((s) => nprobeFlag(s)).map((n) => (n === 'all' ? 0 : n));
  const fit = fitOptionsFrom({ ...values, router: 'neighbours', nprobe: undefined }, 'recall');
  const select = selectionFrom(values);
  const data = loadLabelled(dataFiles(positionals));
  const fold = foldOf(data.prompts.length, folds, seed);
  const acc = probes.map(() => ({ hit: 0, want: 0, scanned: 0, exact: 0, same: 0, queries: 0 }));
  let N = 0, K = 0, k = 0;
  for (let f = 0; f < folds; f++) {
    const trainRows: number[] = [], testRows: number[] = [];
    for (let i = 0; i < data.prompts.length; i++) (fold[i] === f ? testRows : trainRows).push(i);
    const train = subset(data, trainRows), test = subset(data, testRows);
    const embedder = new NativeEmbedder(fitNativeTables(train.prompts, { ...DEFAULT_NATIVE_PARAMS, select }));
    const profile = await fitProfile(train, embedder, { ...fit, onProgress: undefined });
    const spec = profile.manifest.router as Extract<RouterSpec, { kind: 'neighbours' }>;
    N = spec.samples; K = profile.k; k = Math.min(spec.k, N);
    const exactRouter = new NeighbourRouter({ ...profile, manifest: { ...profile.manifest, router: { ...spec, nprobe: 0 } } });
    const routers = probes.map((n) => new NeighbourRouter({ ...profile, manifest: { ...profile.manifest, router: { ...spec, nprobe: n } } }));
    // One centroid search per query, deep enough for every router (the exact router's own index: brute force).
    const centroids = exactRouter.index;
    const depth = Math.min(K, Math.max(exactRouter.top, ...probes));
    const cIds = new Int32Array(depth), cSims = new Float32Array(depth);
    const exIds = new Int32Array(k), exSims = new Float32Array(k), ids = new Int32Array(k), sims = new Float32Array(k);
    const x = await embedAll(embedder, test.prompts);
    const dim = embedder.dim;
    for (let i = 0; i < test.prompts.length; i++) {
      const q = x.subarray(i * dim, (i + 1) * dim);
      const want = exactRouter.nearest(q, exIds, exSims);
      const exactModel = exactRouter.route(q).model;
      const got = centroids.search(q, depth, cIds, cSims);
      const truth = new Set(exIds.subarray(0, want));
      routers.forEach((r, t) => {
        const a = acc[t];
        const n = r.nearestIn(q, cIds, got, ids, sims);
        for (let j = 0; j < n; j++) if (truth.has(ids[j])) a.hit++;
        a.want += want; a.queries++;
        const file = r.nprobe > 0 ? r.files() : undefined;
        a.scanned += file ? file.lastScanned : N;
        if (!file || file.lastProbed === 0) a.exact++;
        if (r.route(q).model === exactModel) a.same++;
      });
    }
    console.error(`  fold ${f + 1}/${folds}: ${trainRows.length} labelled prompts, ${testRows.length} queries`);
  }
  console.log(`\ninverted file vs exact k-nearest: ${folds}-fold, fold seed ${seed}, text ${select?.mode ?? 'full'}, K=${K}, k=${k}, N≈${N} labelled prompts per fold`);
  console.log('  nprobe   recall@k   rows scanned (of N)   exact fallback   same decision at default λ');
  probes.forEach((p, t) => {
    const a = acc[t];
    console.log(`  ${(p === 0 ? 'all' : String(p)).padStart(6)}   ${(a.hit / a.want).toFixed(4)}     ${(a.scanned / a.queries).toFixed(0).padStart(6)}               ${(100 * a.exact / a.queries).toFixed(1).padStart(5)}%           ${(100 * a.same / a.queries).toFixed(1)}%`);
  });
}

main().catch((e) => {
  console.error(e instanceof UsageError ? `ivf-recall: ${e.message}\n\n${HELP}` : `ivf-recall: ${(e as Error).stack}`);
  process.exit(e instanceof UsageError ? 2 : 1);
});
