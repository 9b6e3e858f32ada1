/**
 * npm run bench [-- --time MS --json FILE]
 * Micro benchmarks of the routing core, side by side in one process:
 * native embedding (200 / 4,000 chars), nearest centroid brute force (JS and
 * WebAssembly SIMD) vs HNSW at K = 100 / 300 / 1,000 / 5,000 / 10,000, scoring, and the
 * whole decision (the Router's default index: SIMD brute force); the prompt
 * signals (complexity, token estimate next to a BPE count, task classifier, a
 * rule config's evaluation); plus start-up
 * time and resident memory of the default embedder + profile.
 * Prints a table and writes JSON (default bench/results/micro.json).
 */
import { Bench } from 'tinybench';
import { parseArgs } from 'node:util';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import os from 'node:os';
import { loadNativeTables, NativeEmbedder } from '../src/routing/embedders/native.ts';
import { loadProfile } from '../src/routing/profile.ts';
import { BruteForceIndex, HnswIndex, SimdBruteForceIndex } from '../src/routing/nearest.ts';
import { Router } from '../src/routing/router.ts';
import { DEFAULT_PROFILE_DIR, ROOT } from '../src/fit/options.ts';
import { mulberry32 } from '../src/fit/kmeans.ts';
import { countTokens as countTokensCl100k } from 'gpt-tokenizer/encoding/cl100k_base';
import { complexity } from '../src/routing/complexity.ts';
import { estimateTokens } from '../src/routing/tokens.ts';
import { classify } from '../src/routing/classifier.ts';
import { compileConfig } from '../src/routing/rules.ts';

const { values } = parseArgs({ options: { time: { type: 'string' }, json: { type: 'string' } } });
const time = Number(values.time ?? 400);
const jsonPath = values.json ?? join(ROOT, 'bench/results/micro.json');

// ---- start-up and memory (measured first, before benchmarks allocate) ----
const rss0 = process.memoryUsage().rss;
const t0 = performance.now();
const embedder = new NativeEmbedder(loadNativeTables(DEFAULT_PROFILE_DIR));
const profile = loadProfile(DEFAULT_PROFILE_DIR, embedder);
const router = new Router(profile);
const startupMs = performance.now() - t0;
const rssLoaded = process.memoryUsage().rss;

// Prompts of seeded random words: unlike a repeated sentence, nearly every n-gram is
// distinct, which is the expensive case for the embedder (one projection per distinct feature).
const WORDS = 'the of a to in is that for it as with was on be by this are from or have an they which one you were all we when there can more if no out so what up said about other into than its time only could new them these may some two any then do first now such like our over even most me made after also did many before must through back years where much your way well down should because each just those people how too little state good very make world still own see men work long get here between both life being under never day same another know while last might us great old year off come since against go came right used take three'.split(' ');
function prose(chars: number, seed: number): string {
  const r = mulberry32(seed);
  let s = '';
  while (s.length < chars) s += WORDS[Math.floor(r() * WORDS.length)] + (r() < 0.08 ? '. ' : ' ');
  return s.slice(0, chars);
}
const P200 = prose(200, 1);
const P4000 = prose(4000, 2);
const out = new Float32Array(384);

function unitRows(n: number, dim: number, seed: number): Float32Array {
  const r = mulberry32(seed), m = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < dim; j++) { const x = r() * 2 - 1; m[i * dim + j] = x; s += x * x; }
    const inv = 1 / Math.sqrt(s);
    for (let j = 0; j < dim; j++) m[i * dim + j] *= inv;
  }
  return m;
}

interface Row { name: string; p50_us: number; p99_us: number; mean_us: number; ops_per_s: number; samples: number }
const rows: Row[] = [];

async function run(b: Bench): Promise<void> {
  await b.run();
  for (const t of b.tasks) {
    const r = t.result as any;
    if (!r || r.error) throw r?.error ?? new Error(`no result for ${t.name}`);
    rows.push({ name: t.name, p50_us: r.latency.p50 * 1000, p99_us: r.latency.p99 * 1000, mean_us: r.latency.mean * 1000, ops_per_s: r.throughput.mean, samples: r.latency.samples.length });
  }
}

const dim = 384;
const q = embedder.embedSync(P200);
{
  const b = new Bench({ time, warmupTime: 100 });
  b.add('embed native, 200 chars', () => { embedder.embedSync(P200, out); });
  b.add('embed native, 4,000 chars', () => { embedder.embedSync(P4000, out); });
  const a = profile.manifest.assignment;
  b.add(`decide only (K=${profile.k}, M=${profile.models.length}, ${a.mode} top-${a.top}), given embedding`, () => { router.route(q, { costWeight: 0.1 }); });
  b.add('embed + decide, 200 chars (default profile)', () => { router.route(embedder.embedSync(P200, out), { costWeight: 0.1 }); });
  await run(b);
}

// ---- prompt signals (src/routing/): complexity, token estimate vs a real BPE count, classifier, a rule config ----
{
  const cfg = compileConfig({ name: 'bench', default_model: 'small', rules: [
    { priority: 10, condition: { type: 'keyword', keywords: ['refund', 'invoice', 'c++'] }, model: 'kw' },
    { priority: 5, condition: { type: 'task', tasks: ['code', 'math'] }, model: 'coder' },
    { priority: 3, condition: { type: 'complexity', operator: 'gt', value: 0.7 }, model: 'big' },
    { priority: 1, condition: { type: 'token_count', operator: 'gt', value: 2000 }, model: 'long' },
  ] });
  let sink = 0;
  const b = new Bench({ time, warmupTime: 100 });
  b.add('complexity, 200 chars', () => { sink += complexity(P200); });
  b.add('complexity, 4,000 chars', () => { sink += complexity(P4000); });
  b.add('token estimate, 200 chars', () => { sink += estimateTokens(P200); });
  b.add('token count BPE cl100k (gpt-tokenizer), 200 chars', () => { sink += countTokensCl100k(P200); });
  b.add('classify task, 200 chars', () => { sink += classify(P200).confidence; });
  b.add('rules: 4 rules, no match (every signal), 200 chars', () => { sink += cfg.evaluate(P200).signals.tokens!; });
  await run(b);
  if (sink !== sink) console.log(sink); // keeps the results alive
}

// ---- nearest centroid: brute force (JS, SIMD) vs HNSW at growing K ----
const ids = new Int32Array(8), sims = new Float32Array(8);
const queries = unitRows(64, dim, 9);
for (const K of [100, 300, 1000, 5000, 10000]) {
  const c = unitRows(K, dim, K);
  const brute = new BruteForceIndex(c, K, dim);
  const simd = new SimdBruteForceIndex(c, K, dim);
  const tb = performance.now();
  const hnsw = await HnswIndex.build(c, K, dim);
  const buildMs = performance.now() - tb;
  let i = 0;
  const b = new Bench({ time, warmupTime: 100 });
  b.add(`nearest K=${K} brute force (top 8)`, () => { brute.search(queries.subarray((i & 63) * dim, ((i & 63) + 1) * dim), 8, ids, sims); i++; });
  b.add(`nearest K=${K} simd brute (top 8)`, () => { simd.search(queries.subarray((i & 63) * dim, ((i & 63) + 1) * dim), 8, ids, sims); i++; });
  b.add(`nearest K=${K} hnswlib (top 8, ef 64; build ${buildMs.toFixed(0)} ms)`, () => { hnsw.search(queries.subarray((i & 63) * dim, ((i & 63) + 1) * dim), 8, ids, sims); i++; });
  await run(b);
}

const table = rows.map((r) => `${r.name.padEnd(64)} ${r.p50_us.toFixed(1).padStart(9)} ${r.p99_us.toFixed(1).padStart(9)} ${Math.round(r.ops_per_s).toString().padStart(10)}`);
const machine = `${os.cpus()[0]?.model ?? 'cpu'} x${os.cpus().length}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, ${os.platform()}`;
console.log(`\nSwitchyard micro benchmarks  ${new Date().toISOString()}  ${machine}`);
console.log(`start-up (load embedder + profile, build router): ${startupMs.toFixed(1)} ms; RSS ${(rssLoaded / 2 ** 20).toFixed(1)} MiB after loading (${((rssLoaded - rss0) / 2 ** 20).toFixed(1)} MiB for embedder + profile)\n`);
console.log(`${'benchmark'.padEnd(64)} ${'p50 µs'.padStart(9)} ${'p99 µs'.padStart(9)} ${'ops/s'.padStart(10)}`);
console.log(table.join('\n'));
mkdirSync(dirname(jsonPath), { recursive: true });
writeFileSync(jsonPath, JSON.stringify({ date: new Date().toISOString(), machine, startup_ms: startupMs, rss_mib: rssLoaded / 2 ** 20, rss_delta_mib: (rssLoaded - rss0) / 2 ** 20, rows }, null, 2) + '\n');
console.log(`\nwrote ${jsonPath}`);
