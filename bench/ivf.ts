/**
 * node --import tsx bench/ivf.ts --profile DIR [--nprobe LIST] [--time MS] [--json FILE]
 * The neighbour router's decision, exact search vs the inverted file
 * (src/routing/nearest-ivf.ts) at each nprobe, side by side in one process
 * (tinybench): the whole decision (NeighbourRouter.route: cluster search,
 * labelled-prompt search, estimate) and the labelled-prompt search alone.
 * Queries: RouterBench prompts embedded with the profile's native embedder.
 * A micro benchmark: no HTTP, one thread; bench:latency measures the server.
 */
import { Bench } from 'tinybench';
import { parseArgs } from 'node:util';
import { writeFileSync } from 'node:fs';
import { loadNativeTables, NativeEmbedder } from '../src/routing/embedders/native.ts';
import { loadProfile, type RouterSpec } from '../src/routing/profile.ts';
import { NeighbourRouter } from '../src/routing/neighbours.ts';
import { loadLabelled } from '../src/fit/dataset.ts';
import { dataFiles, nprobeFlag } from '../src/fit/options.ts';
import { embedAll } from '../src/fit/fit.ts';

const { values } = parseArgs({ options: { profile: { type: 'string' }, nprobe: { type: 'string' }, time: { type: 'string' }, json: { type: 'string' }, queries: { type: 'string' } } });
if (!values.profile) { console.error('usage: node --import tsx bench/ivf.ts --profile DIR (a neighbours profile with the native embedder) [--nprobe 0,4,8,16] [--time MS] [--queries N] [--json FILE]'); process.exit(2); }
const time = Number(values.time ?? 400);
const probes = (values.nprobe ?? 'all,4,8,16,32').split(',').map(nprobeFlag);
const embedder = new NativeEmbedder(loadNativeTables(values.profile));
const profile = loadProfile(values.profile, embedder);
const spec = profile.manifest.router;
if (spec?.kind !== 'neighbours') { console.error(`${values.profile} is not a neighbours profile`); process.exit(2); }
const data = loadLabelled(dataFiles([]));
const nq = Math.min(Number(values.queries ?? 256), data.prompts.length);
const step = Math.floor(data.prompts.length / nq);
const x = await embedAll(embedder, Array.from({ length: nq }, (_, i) => data.prompts[i * step]));
const dim = profile.dim;
const qs = Array.from({ length: nq }, (_, i) => x.subarray(i * dim, (i + 1) * dim));

const bench = new Bench({ time, warmupTime: 100 });
const scanned = new Map<string, { rows: number; n: number }>();
for (const p of probes) {
  const r = new NeighbourRouter({ ...profile, manifest: { ...profile.manifest, router: { ...spec, nprobe: p } as RouterSpec } });
  const label = `nprobe ${r.nprobe === 0 ? 'all' : r.nprobe}`;
  // Each query's nearest clusters, found before timing: the prompt-search row times the labelled-prompt search only.
  const depth = r.depth;
  const clusters = qs.map((q) => { const ids = new Int32Array(depth), sims = new Float32Array(depth); r.index.search(q, depth, ids, sims); return ids; });
  const stat = { rows: 0, n: 0 };
  scanned.set(label, stat);
  r.route(qs[0]); // builds the index (the inverted file, or the exact one) outside the timing
  let i = 0, j = 0;
  bench.add(`decision, ${label}`, () => { r.route(qs[i++ % nq]); });
  bench.add(`prompt search, ${label}`, () => {
    const t = j++ % nq;
    r.nearestIn(qs[t], clusters[t], depth);
    stat.rows += r.nprobe > 0 ? r.files().lastScanned : spec.samples; stat.n++;
  });
}
await bench.run();
console.log(`neighbour router, ${values.profile}: N=${spec.samples}, K=${profile.k}, k=${spec.k}, top=${profile.manifest.assignment.top}, ${nq} queries; µs per call (one thread; a shared machine gives rough figures)`);
console.log('  task                                   mean µs    p50 µs    p99 µs   rows scanned');
const rowsOut = bench.tasks.map((t) => {
  const res = t.result as any;
  if (!res || res.error) throw res?.error ?? new Error(`no result for ${t.name}`);
  const r = res.latency;
  const label = t.name.replace(/^.*?, /, '');
  const st = scanned.get(label)!;
  return { task: t.name, mean: r.mean * 1000, p50: r.p50 * 1000, p99: r.p99 * 1000, rows: st.n ? st.rows / st.n : NaN };
});
for (const r of rowsOut) console.log(`  ${r.task.padEnd(36)} ${r.mean.toFixed(1).padStart(9)} ${r.p50.toFixed(1).padStart(9)} ${r.p99.toFixed(1).padStart(9)}   ${r.task.startsWith('prompt') ? r.rows.toFixed(0) : ''}`);
if (values.json) writeFileSync(values.json, JSON.stringify({ profile: values.profile, time, rows: rowsOut }, null, 2) + '\n');
