/**
 * node --import tsx bench/pool.ts [-- --ms MS --reps N --minilm]
 * The dispatch policy's evidence: what a hand-off to a worker costs, and which
 * work is heavier than that.
 *
 *  1. empty piscina task round trip (ping);
 *  2. native embedding, 200 chars: inline vs through the pool;
 *  3. nearest centroids (top 16, dim 384): brute force K=100 inline; HNSW at
 *     K=400 (where nearest.ts switches to HNSW) / 1,000 / 10,000 inline vs
 *     through the route pool;
 *  4. ONNX embedder on the generated tiny model (and with --minilm a
 *     MiniLM-L6-shaped random model): embeds/s at concurrency 1 / 16 / 64,
 *     inline and through the pool with threads 1 / 2, with and without
 *     micro-batching.
 *
 * Latency rows: sequential calls, p50/p99 of many samples. Every row also has
 * "main µs/op": event-loop busy time per operation (performance.eventLoopUtilization)
 * while 64 calls are kept in flight: what the operation costs the thread that
 * also serves HTTP. Throughput rows: the median of --reps runs of --ms each.
 * Prints a table and writes bench/results/pool.json.
 */
import { parseArgs } from 'node:util';
import { mkdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { loadNativeTables, NativeEmbedder } from '../src/routing/embedders/native.ts';
import { OnnxEmbedder } from '../src/routing/embedders/onnx.ts';
import { makeTestOnnxModel, type TestModelOptions } from '../src/routing/embedders/onnx-testmodel.ts';
import { BruteForceIndex, HnswIndex } from '../src/routing/nearest.ts';
import { createEmbedPool, DEFAULT_ONNX_BATCH, type BatchOptions } from '../src/pool/pool.ts';
import { createRoutePool } from '../src/pool/route-pool.ts';
import { DEFAULT_PROFILE_DIR, ROOT } from '../src/fit/options.ts';
import { mulberry32 } from '../src/fit/kmeans.ts';

const { values } = parseArgs({ options: { ms: { type: 'string' }, reps: { type: 'string' }, minilm: { type: 'boolean' }, json: { type: 'string' } } });
const MS = Number(values.ms ?? 1000);
const REPS = Number(values.reps ?? 3);
const jsonPath = values.json ?? join(ROOT, 'bench/results/pool.json');
const TOP = 16; // the shipped profile's soft assignment blends the 16 nearest

const WORDS = 'the of a to in is that for it as with was on be by this are from or have an they which one you were all we when there can more if no out so what up said about other into than its time only could new them these may some two any then do first now such like our over even most me made after also did many before must through back years where much your way well down should because each just those people how too little state good very make world still own see men work long get here between both life being under never day same another know while last might us great old year off come since against go came right used take three'.split(' ');
function prose(chars: number, seed: number): string {
  const r = mulberry32(seed);
  let s = '';
  while (s.length < chars) s += WORDS[Math.floor(r() * WORDS.length)] + (r() < 0.08 ? '. ' : ' ');
  return s.slice(0, chars);
}
const PROMPTS = Array.from({ length: 64 }, (_, i) => prose(200, i + 1));
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

// ---------------------------------------------------------------- measurement

const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor((s.length - 1) / 2)]; };
function pct(sorted: number[], p: number): number { return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]; }

interface Row { section: string; name: string; p50_us?: number; p99_us?: number; main_us_per_op?: number; ops_per_s?: number; note?: string }
const rows: Row[] = [];
const log = (s: string) => process.stderr.write(s + '\n');

/** Sequential latency: `n` calls one after another after `warm` unmeasured ones. */
async function latency(fn: (i: number) => unknown, n: number, warm = Math.min(200, n)): Promise<{ p50: number; p99: number }> {
  for (let i = 0; i < warm; i++) await fn(i);
  const lat = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await fn(i);
    lat[i] = performance.now() - t;
  }
  const s = Array.from(lat).sort((a, b) => a - b);
  return { p50: pct(s, 0.5) * 1000, p99: pct(s, 0.99) * 1000 };
}

/**
 * `concurrency` callers in a closed loop for `ms`: completed ops/s, latency
 * percentiles, and event-loop busy µs per op.
 */
async function closedLoop(fn: (i: number) => Promise<unknown>, concurrency: number, ms: number): Promise<{ perSec: number; p50: number; p99: number; mainUs: number }> {
  const lat: number[] = [];
  let n = 0;
  const elu0 = performance.eventLoopUtilization();
  const t0 = performance.now(), end = t0 + ms;
  await Promise.all(Array.from({ length: concurrency }, async (_, c) => {
    let i = c;
    while (performance.now() < end) {
      const t = performance.now();
      await fn(i);
      lat.push(performance.now() - t);
      n++; i += concurrency;
    }
  }));
  const wall = performance.now() - t0;
  const elu = performance.eventLoopUtilization(elu0);
  lat.sort((a, b) => a - b);
  return { perSec: (n / wall) * 1000, p50: pct(lat, 0.5) * 1000, p99: pct(lat, 0.99) * 1000, mainUs: (elu.active * 1000) / n };
}

async function repeated(fn: (i: number) => Promise<unknown>, concurrency: number): Promise<{ perSec: number; p50: number; p99: number; mainUs: number }> {
  const runs = [];
  for (let r = 0; r < REPS; r++) runs.push(await closedLoop(fn, concurrency, MS));
  return { perSec: median(runs.map((x) => x.perSec)), p50: median(runs.map((x) => x.p50)), p99: median(runs.map((x) => x.p99)), mainUs: median(runs.map((x) => x.mainUs)) };
}

/** A latency row plus its main-thread cost under load. */
async function latencyRow(section: string, name: string, fn: (i: number) => unknown, n: number, note?: string): Promise<Row> {
  const l = await latency(fn, n);
  const load = await closedLoop(async (i) => fn(i), 64, Math.min(MS, 600));
  const row: Row = { section, name, p50_us: l.p50, p99_us: l.p99, main_us_per_op: load.mainUs, ops_per_s: load.perSec, note };
  rows.push(row);
  log(`  ${name}: p50 ${l.p50.toFixed(1)} µs, p99 ${l.p99.toFixed(1)} µs, main ${load.mainUs.toFixed(1)} µs/op`);
  return row;
}

// ---------------------------------------------------------------- 1 + 2: hand-off and native embedding

const machine = `${os.cpus()[0]?.model ?? 'cpu'} x${os.cpus().length}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, ${os.platform()}`;
log(`pool benchmarks, ${machine}`);

const tables = loadNativeTables(DEFAULT_PROFILE_DIR);
const native = new NativeEmbedder(tables);
const out = new Float32Array(native.dim);
{
  const S = '1-2 hand-off, native embed';
  const pool = await createEmbedPool({ embedder: { kind: 'native', dir: DEFAULT_PROFILE_DIR, tables }, threads: 1 });
  await latencyRow(S, 'empty piscina task (ping), threads 1', () => pool.ping(), 5000);
  await latencyRow(S, 'native embed 200 chars, inline', (i) => native.embedSync(PROMPTS[i & 63], out), 20000);
  await latencyRow(S, 'native embed 200 chars, pool threads 1', (i) => pool.embed(PROMPTS[i & 63]), 5000);
  await pool.close();
}
let rssPerNativeWorker = 0;
{
  // Workers map the tables (SharedArrayBuffer); RSS grows by the thread, its isolate and its scratch, not by a table copy.
  global.gc?.();
  const before = process.memoryUsage().rss;
  const pool = await createEmbedPool({ embedder: { kind: 'native', dir: DEFAULT_PROFILE_DIR, tables }, threads: 2 });
  await Promise.all(PROMPTS.map((p) => pool.embed(p)));
  rssPerNativeWorker = (process.memoryUsage().rss - before) / 2 / 2 ** 20;
  await pool.close();
}

// ---------------------------------------------------------------- 3: nearest centroids

const dim = native.dim;
const queries = unitRows(64, dim, 9);
const qi = (i: number) => queries.subarray((i & 63) * dim, ((i & 63) + 1) * dim);
const routeBuild: Record<string, number> = {};
{
  const S = '3 nearest centroids (top 16, dim 384)';
  const ids = new Int32Array(TOP), sims = new Float32Array(TOP);
  const brute = new BruteForceIndex(unitRows(100, dim, 100), 100, dim);
  await latencyRow(S, 'K=100 brute force, inline', (i) => brute.search(qi(i), TOP, ids, sims), 20000);
  for (const K of [400, 1000, 10000]) {
    const c = unitRows(K, dim, K);
    let t = performance.now();
    const hnsw = await HnswIndex.build(c, K, dim);
    routeBuild[`inline K=${K}`] = performance.now() - t;
    await latencyRow(S, `K=${K.toLocaleString('en')} HNSW, inline`, (i) => hnsw.search(qi(i), TOP, ids, sims), 10000, `build ${routeBuild[`inline K=${K}`].toFixed(0)} ms`);
    t = performance.now();
    const pool = await createRoutePool({ centroids: c, k: K, dim, threads: 1 });
    routeBuild[`pool K=${K}`] = performance.now() - t;
    await latencyRow(S, `K=${K.toLocaleString('en')} HNSW, route pool threads 1`, (i) => pool.search(qi(i), TOP), 5000, `start ${routeBuild[`pool K=${K}`].toFixed(0)} ms`);
    await pool.close();
  }
}

// ---------------------------------------------------------------- 4: ONNX

interface OnnxCell { model: string; mode: string; threads: number | null; batch: BatchOptions | null; concurrency: number; embeds_per_s: number; p50_us: number; p99_us: number; main_us_per_op: number; tasks_per_embed?: number }
const onnxCells: OnnxCell[] = [];
const root = await mkdtemp(join(os.tmpdir(), 'switchyard-bench-pool-'));

async function onnxSection(label: string, modelOpts: TestModelOptions): Promise<void> {
  const dir = (await makeTestOnnxModel(join(root, label), modelOpts)).dir;
  log(`onnx ${label}`);
  const cell = (c: OnnxCell) => {
    onnxCells.push(c);
    log(`  ${c.mode.padEnd(24)} threads ${String(c.threads ?? '-').padEnd(2)} conc ${String(c.concurrency).padStart(2)}: ${c.embeds_per_s.toFixed(0).padStart(6)}/s  p50 ${(c.p50_us / 1000).toFixed(2)} ms  main ${c.main_us_per_op.toFixed(0)} µs/op${c.tasks_per_embed ? `  ${c.tasks_per_embed.toFixed(2)} tasks/embed` : ''}`);
  };
  const inline = await OnnxEmbedder.load(dir);
  for (const conc of [1, 16, 64]) {
    const r = await repeated((i) => inline.embed(PROMPTS[i & 63]), conc);
    cell({ model: label, mode: 'inline (main thread)', threads: null, batch: null, concurrency: conc, embeds_per_s: r.perSec, p50_us: r.p50, p99_us: r.p99, main_us_per_op: r.mainUs });
  }
  await inline.close();
  for (const threads of [1, 2]) {
    for (const batch of [{ maxSize: 1, maxWaitMs: 0 }, DEFAULT_ONNX_BATCH]) {
      const pool = await createEmbedPool({ embedder: { kind: 'onnx', dir }, threads, batch });
      for (let i = 0; i < 64; i++) await pool.embed(PROMPTS[i]);
      for (const conc of [1, 16, 64]) {
        const s0 = pool.stats();
        const r = await repeated((i) => pool.embed(PROMPTS[i & 63]), conc);
        const s1 = pool.stats();
        cell({
          model: label, mode: batch.maxSize === 1 ? 'pool, no batching' : `pool, batch ${batch.maxSize}/${batch.maxWaitMs} ms`, threads, batch, concurrency: conc,
          embeds_per_s: r.perSec, p50_us: r.p50, p99_us: r.p99, main_us_per_op: r.mainUs, tasks_per_embed: (s1.tasks - s0.tasks) / (s1.embeds - s0.embeds),
        });
      }
      await pool.close();
    }
  }
}

await onnxSection('tiny', {});
if (values.minilm) await onnxSection('minilm-shaped', { hidden: 384, layers: 6, heads: 12, intermediate: 1536, maxPositions: 512, maxLength: 128 });
await rm(root, { recursive: true, force: true });

// ---------------------------------------------------------------- report

const f = (x: number | undefined, d = 1) => (x === undefined ? '' : x.toFixed(d));
console.log(`\nSwitchyard pool benchmarks  ${new Date().toISOString()}  ${machine}`);
console.log(`median of ${REPS} x ${MS} ms for throughput; "main µs/op" = event-loop busy time per op with 64 in flight\n`);
console.log(`${'operation'.padEnd(46)} ${'p50 µs'.padStart(9)} ${'p99 µs'.padStart(9)} ${'main µs/op'.padStart(11)}  note`);
let section = '';
for (const r of rows) {
  if (r.section !== section) { section = r.section; console.log(`-- ${section}`); }
  console.log(`${r.name.padEnd(46)} ${f(r.p50_us).padStart(9)} ${f(r.p99_us).padStart(9)} ${f(r.main_us_per_op).padStart(11)}  ${r.note ?? ''}`);
}
console.log(`native pool: RSS +${rssPerNativeWorker.toFixed(1)} MiB per worker (tables: ${(tables.buffer.byteLength / 2 ** 20).toFixed(1)} MiB, shared, not copied)`);
console.log(`\n${'ONNX model, mode'.padEnd(40)} ${'threads'.padStart(7)} ${'conc'.padStart(5)} ${'embeds/s'.padStart(9)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)} ${'main µs/op'.padStart(11)} ${'tasks/embed'.padStart(12)}`);
for (const c of onnxCells) {
  console.log(`${`${c.model}, ${c.mode}`.padEnd(40)} ${String(c.threads ?? '-').padStart(7)} ${String(c.concurrency).padStart(5)} ${c.embeds_per_s.toFixed(0).padStart(9)} ${(c.p50_us / 1000).toFixed(2).padStart(8)} ${(c.p99_us / 1000).toFixed(2).padStart(8)} ${c.main_us_per_op.toFixed(0).padStart(11)} ${c.tasks_per_embed === undefined ? '' : c.tasks_per_embed.toFixed(2).padStart(12)}`);
}
mkdirSync(dirname(jsonPath), { recursive: true });
writeFileSync(jsonPath, JSON.stringify({
  date: new Date().toISOString(), machine, ms: MS, reps: REPS, top: TOP,
  rows, onnx: onnxCells, route_build_ms: routeBuild, native_rss_mib_per_worker: rssPerNativeWorker,
}, null, 2) + '\n');
console.log(`\nwrote ${jsonPath}`);
