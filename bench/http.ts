/**
 * npm run bench:http [-- --seconds 8 --connections 64 --json FILE]
 *
 * POST /v1/route under load, side by side with a bare uWebSockets.js server
 * answering a fixed small JSON body, both started by this script, both hit by
 * the same load generator (wrk, a separate process; `apt-get install wrk`) at
 * the same connection count. The bare server receives the same request bodies
 * as the scenario it is compared with, so the ratio isolates Switchyard's work.
 * Afterwards, 2,000 sequential requests with unique prompts collect the
 * server-side usage.routing_ms / usage.embedding_ms medians.
 * Prints a table and writes JSON (default bench/results/http.json).
 */
import { parseArgs } from 'node:util';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import os from 'node:os';
import { ROOT, DEFAULT_PROFILE_DIR } from '../src/fit/options.ts';
import { loadNativeTables, NativeEmbedder } from '../src/routing/embedders/native.ts';
import { freePort, startNode, httpOk, type Proc } from './lib/procs.ts';
import { haveWrk, runWrk, type WrkResult } from './lib/wrk.ts';

const { values } = parseArgs({ options: { seconds: { type: 'string' }, connections: { type: 'string' }, json: { type: 'string' } } });
const seconds = Number(values.seconds ?? 8);
const connections = Number(values.connections ?? 64);
const jsonPath = values.json ?? join(ROOT, 'bench/results/http.json');
if (!haveWrk()) { console.error('bench:http needs wrk on PATH (Debian/Ubuntu: apt-get install wrk)'); process.exit(2); }

const embedder = new NativeEmbedder(loadNativeTables(DEFAULT_PROFILE_DIR));
const PROMPTS = [
  'Write a Python function that returns the second largest distinct value in a list of integers.',
  'Which gas do plants absorb from the atmosphere during photosynthesis? A) oxygen B) carbon dioxide',
  'Prove that the square root of 2 is irrational, step by step, in plain language for a student.',
  'The trophy does not fit into the suitcase because _ is too small. A) trophy B) suitcase',
];
const repeated = Array.from({ length: 16 }, (_, i) => JSON.stringify({ prompt: `${PROMPTS[i % 4]} (variant ${i})`.padEnd(200, '.'), cost_weight: 0.1 }));
const embeddingBody = JSON.stringify({ embedding: Array.from(embedder.embedSync(PROMPTS[0])), cost_weight: 0.1 });
const uniqueSample = JSON.stringify({ prompt: 'x'.repeat(200), cost_weight: 0.1 });

const barePort = await freePort();
const bare = await startNode('bench/lib/bare-uws.ts', [String(barePort)], barePort, (p) => httpOk(`http://127.0.0.1:${p}/`, { method: 'POST', body: '{}' }));
const syPort = await freePort();
const sy = await startNode('src/main.ts', ['--port', String(syPort)], syPort, (p) => httpOk(`http://127.0.0.1:${p}/health`));

interface Row { scenario: string; target: 'bare' | 'switchyard'; body_bytes: number; result: WrkResult }
const rows: Row[] = [];
const load = async (scenario: string, proc: Proc, target: Row['target'], path: string, opts: { bodies?: readonly string[]; uniquePrompt?: boolean }) => {
  const base = { url: `http://127.0.0.1:${proc.port}${path}`, connections, threads: 1, seconds };
  const o = { bodies: opts.bodies ? [...opts.bodies] : undefined, uniquePrompt: opts.uniquePrompt };
  await runWrk({ ...base, ...o, seconds: 2 }); // warm-up (JIT, caches)
  const result = await runWrk({ ...base, ...o });
  rows.push({ scenario, target, body_bytes: (opts.bodies?.[0] ?? uniqueSample).length, result });
  console.error(`${scenario} / ${target}: ${result.rps.toFixed(0)} rps, p50 ${result.p50_ms} ms, p99 ${result.p99_ms} ms${result.non2xx ? `, NON-2XX ${result.non2xx}` : ''}`);
};

try {
  const scenarios: [string, { bodies?: string[]; uniquePrompt?: boolean }][] = [
    ['supplied 384-float embedding', { bodies: [embeddingBody] }],
    ['unique ~200-char prompts (cache misses)', { uniquePrompt: true }],
    ['repeated prompts (cache hits)', { bodies: repeated }],
  ];
  for (const [scenario, opts] of scenarios) {
    await load(scenario, bare, 'bare', '/v1/route', opts);
    await load(scenario, sy, 'switchyard', '/v1/route', opts);
  }
  // Server-side timings, sequential, unique prompts.
  const routing: number[] = [], embedding: number[] = [];
  for (let i = 0; i < 2000; i++) {
    const r = await fetch(`http://127.0.0.1:${sy.port}/v1/route`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: `${PROMPTS[i % 4]} #${i}`.padEnd(200, ' .'), cost_weight: 0.1 }) });
    const j = await r.json() as { usage: { routing_ms: number; embedding_ms: number } };
    routing.push(j.usage.routing_ms); embedding.push(j.usage.embedding_ms);
  }
  const median = (a: number[]) => { const s = [...a].sort((x, y) => x - y); return s[Math.floor(s.length / 2)]; };
  const rss = sy.rssMiB();
  const machine = `${os.cpus()[0]?.model ?? 'cpu'} x${os.cpus().length}, Node ${process.version}`;
  console.log(`\nPOST /v1/route under load: wrk, ${connections} connections, 1 wrk thread, ${seconds} s per run, ${new Date().toISOString()}, ${machine}`);
  console.log(`${'scenario'.padEnd(42)} ${'target'.padEnd(11)} ${'rps'.padStart(9)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)} ${'vs bare'.padStart(8)}`);
  const out = rows.map((r) => {
    const b = rows.find((x) => x.scenario === r.scenario && x.target === 'bare')!;
    const ratio = r.result.rps / b.result.rps;
    console.log(`${r.scenario.padEnd(42)} ${r.target.padEnd(11)} ${r.result.rps.toFixed(0).padStart(9)} ${r.result.p50_ms.toFixed(3).padStart(8)} ${r.result.p99_ms.toFixed(3).padStart(8)} ${(100 * ratio).toFixed(0).padStart(7)}%${r.result.non2xx || r.result.errors ? `  (non-2xx ${r.result.non2xx}, socket errors ${r.result.errors})` : ''}`);
    return { ...r, ratio_to_bare: ratio };
  });
  console.log(`\nserver-side medians over 2,000 sequential unique 200-char prompts: routing_ms ${median(routing).toFixed(4)}, embedding_ms ${median(embedding).toFixed(4)}; switchyard RSS ${rss?.toFixed(0) ?? '?'} MiB`);
  mkdirSync(dirname(jsonPath), { recursive: true });
  writeFileSync(jsonPath, JSON.stringify({ date: new Date().toISOString(), machine, connections, seconds, load_generator: 'wrk 1 thread', rows: out, server_side: { routing_ms_p50: median(routing), embedding_ms_p50: median(embedding) }, rss_mib: rss }, null, 2) + '\n');
  console.log(`wrote ${jsonPath}`);
} finally {
  await bare.stop();
  await sy.stop();
}
