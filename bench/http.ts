/**
 * npm run bench:http [-- --seconds 8 --connections 64 --threads 1,2 --json FILE]
 *
 * POST /v1/route under load, side by side with a bare uWebSockets.js server
 * answering a fixed small JSON body, both started by this script, both hit by
 * the same load generator (wrk, a separate process; `apt-get install wrk`) at
 * the same connection count. The bare server receives the same request bodies
 * as the scenario it is compared with, so the ratio isolates Switchyard's work.
 *
 * --threads: Switchyard's server.threads values to run (default 1 and the core
 * count). The ratio is always against the 1-thread bare server (the issue's
 * definition of the targets); bare with the same thread count is reported too,
 * for context. All servers stay up for the whole run and scenarios interleave
 * (bare, then each Switchyard), so drift on a shared machine hits every row.
 *
 * Afterwards, 2,000 sequential requests with unique prompts per Switchyard
 * collect the server-side usage.routing_ms / usage.embedding_ms medians.
 * Prints a table and writes JSON (default bench/results/http.json).
 */
import { parseArgs } from 'node:util';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import os from 'node:os';
import { ROOT } from '../src/fit/options.ts';
import { PROMPTS, repeatedBodies, embeddingBody as makeEmbeddingBody, uniqueSample } from './lib/route-bodies.ts';
import { freePort, startNode, httpOk, type Proc } from './lib/procs.ts';
import { haveWrk, runWrk, type WrkResult } from './lib/wrk.ts';

const { values } = parseArgs({ options: { seconds: { type: 'string' }, connections: { type: 'string' }, threads: { type: 'string' }, json: { type: 'string' } } });
const seconds = Number(values.seconds ?? 8);
const connections = Number(values.connections ?? 64);
const threadCounts = [...new Set((values.threads ?? `1,${os.availableParallelism()}`).split(',').map(Number))];
if (!threadCounts.every((n) => Number.isInteger(n) && n >= 1)) { console.error(`--threads: a comma-separated list of integers >= 1, got ${values.threads}`); process.exit(2); }
const jsonPath = values.json ?? join(ROOT, 'bench/results/http.json');
if (!haveWrk()) { console.error('bench:http needs wrk on PATH (Debian/Ubuntu: apt-get install wrk)'); process.exit(2); }

const repeated = repeatedBodies();
const embeddingBody = makeEmbeddingBody();

interface Target { name: string; kind: 'bare' | 'switchyard'; threads: number; proc: Proc }
const targets: Target[] = [];
const start = async (kind: Target['kind'], threads: number): Promise<void> => {
  const port = await freePort();
  const proc = kind === 'bare'
    ? await startNode('bench/lib/bare-uws.ts', [String(port), String(threads)], port, (p) => httpOk(`http://127.0.0.1:${p}/`, { method: 'POST', body: '{}' }))
    : await startNode('src/main.ts', ['--port', String(port), '--threads', String(threads)], port, (p) => httpOk(`http://127.0.0.1:${p}/health`));
  targets.push({ name: `${kind} x${threads}`, kind, threads, proc });
};

interface Row { scenario: string; target: string; kind: Target['kind']; threads: number; body_bytes: number; result: WrkResult }
const rows: Row[] = [];
const load = async (scenario: string, t: Target, opts: { bodies?: readonly string[]; uniquePrompt?: boolean }) => {
  const base = { url: `http://127.0.0.1:${t.proc.port}/v1/route`, connections, threads: 1, seconds };
  const o = { bodies: opts.bodies ? [...opts.bodies] : undefined, uniquePrompt: opts.uniquePrompt };
  await runWrk({ ...base, ...o, seconds: 2 }); // warm-up (JIT, caches)
  const result = await runWrk({ ...base, ...o });
  rows.push({ scenario, target: t.name, kind: t.kind, threads: t.threads, body_bytes: (opts.bodies?.[0] ?? uniqueSample).length, result });
  console.error(`${scenario} / ${t.name}: ${result.rps.toFixed(0)} rps, p50 ${result.p50_ms} ms, p99 ${result.p99_ms} ms${result.non2xx ? `, NON-2XX ${result.non2xx}` : ''}`);
};

try {
  await start('bare', 1);
  for (const n of threadCounts) if (n > 1) await start('bare', n);
  for (const n of threadCounts) await start('switchyard', n);
  const scenarios: [string, { bodies?: string[]; uniquePrompt?: boolean }][] = [
    ['supplied 384-float embedding', { bodies: [embeddingBody] }],
    ['unique ~200-char prompts (cache misses)', { uniquePrompt: true }],
    ['repeated prompts (cache hits)', { bodies: repeated }],
  ];
  for (const [scenario, opts] of scenarios) for (const t of targets) await load(scenario, t, opts);

  // Server-side timings, sequential, unique prompts.
  const median = (a: number[]) => { const s = [...a].sort((x, y) => x - y); return s[Math.floor(s.length / 2)]; };
  const serverSide: Record<string, { routing_ms_p50: number; embedding_ms_p50: number; rss_mib: number | null }> = {};
  for (const t of targets.filter((x) => x.kind === 'switchyard')) {
    const routing: number[] = [], embedding: number[] = [];
    for (let i = 0; i < 2000; i++) {
      const r = await fetch(`http://127.0.0.1:${t.proc.port}/v1/route`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: `${PROMPTS[i % 4]} #${i} ${t.name}`.padEnd(200, ' .'), cost_weight: 0.1 }) });
      const j = await r.json() as { usage: { routing_ms: number; embedding_ms: number } };
      routing.push(j.usage.routing_ms); embedding.push(j.usage.embedding_ms);
    }
    serverSide[t.name] = { routing_ms_p50: median(routing), embedding_ms_p50: median(embedding), rss_mib: t.proc.rssMiB() };
  }

  const machine = `${os.cpus()[0]?.model ?? 'cpu'} x${os.cpus().length}, Node ${process.version}`;
  console.log(`\nPOST /v1/route under load: wrk, ${connections} connections, 1 wrk thread, ${seconds} s per run, ${new Date().toISOString()}, ${machine}`);
  console.log('"vs bare" = requests/s over the 1-thread bare uWS server\'s, same scenario (the issue\'s targets: >= 25% / 30% / 45%, p99 <= 2 ms)');
  console.log(`${'scenario'.padEnd(42)} ${'target'.padEnd(14)} ${'rps'.padStart(9)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)} ${'vs bare'.padStart(8)}`);
  const out = rows.map((r) => {
    const b = rows.find((x) => x.scenario === r.scenario && x.kind === 'bare' && x.threads === 1)!;
    const ratio = r.result.rps / b.result.rps;
    console.log(`${r.scenario.padEnd(42)} ${r.target.padEnd(14)} ${r.result.rps.toFixed(0).padStart(9)} ${r.result.p50_ms.toFixed(3).padStart(8)} ${r.result.p99_ms.toFixed(3).padStart(8)} ${(100 * ratio).toFixed(0).padStart(7)}%${r.result.non2xx || r.result.errors ? `  (non-2xx ${r.result.non2xx}, socket errors ${r.result.errors})` : ''}`);
    return { ...r, ratio_to_bare: ratio };
  });
  console.log('\nserver-side medians over 2,000 sequential unique 200-char prompts:');
  for (const [name, s] of Object.entries(serverSide)) console.log(`  ${name}: routing_ms ${s.routing_ms_p50.toFixed(4)}, embedding_ms ${s.embedding_ms_p50.toFixed(4)}; RSS ${s.rss_mib?.toFixed(0) ?? '?'} MiB (the whole process, all threads)`);
  mkdirSync(dirname(jsonPath), { recursive: true });
  writeFileSync(jsonPath, JSON.stringify({ date: new Date().toISOString(), machine, connections, seconds, threads: threadCounts, load_generator: 'wrk 1 thread', rows: out, server_side: serverSide }, null, 2) + '\n');
  console.log(`wrote ${jsonPath}`);
} finally {
  for (const t of targets) await t.proc.stop();
}
