/**
 * npm run bench:http-onnx [-- --seconds 8 --connections 64 --workers 1]
 *
 * POST /v1/route with the ONNX embedder (the tiny BERT that
 * src/routing/embedders/onnx-testmodel.ts generates; no download), with and
 * without micro-batching, same load (wrk, unique ~200-char prompts). A profile
 * is fitted for that embedder on ../shared/data/routerbench first (K=100),
 * because a profile refuses an embedder it was not fitted with.
 * Prints a table and writes bench/results/http-onnx.json.
 */
import { parseArgs } from 'node:util';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { ROOT, dataFiles } from '../src/fit/options.ts';
import { loadLabelled } from '../src/fit/dataset.ts';
import { fitProfile, DEFAULT_FIT } from '../src/fit/fit.ts';
import { saveProfile } from '../src/routing/profile.ts';
import { makeTestOnnxModel } from '../src/routing/embedders/onnx-testmodel.ts';
import { OnnxEmbedder } from '../src/routing/embedders/onnx.ts';
import { freePort, startNode, httpOk } from './lib/procs.ts';
import { haveWrk, runWrk, type WrkResult } from './lib/wrk.ts';

const { values } = parseArgs({ options: { seconds: { type: 'string' }, connections: { type: 'string' }, workers: { type: 'string' }, json: { type: 'string' } } });
const seconds = Number(values.seconds ?? 8), connections = Number(values.connections ?? 64), workers = Number(values.workers ?? 1);
const jsonPath = values.json ?? join(ROOT, 'bench/results/http-onnx.json');
if (!haveWrk()) { console.error('bench:http-onnx needs wrk on PATH (apt-get install wrk)'); process.exit(2); }

const root = mkdtempSync(join(tmpdir(), 'sy-onnx-bench-'));
const modelDir = (await makeTestOnnxModel(join(root, 'tiny-bert'))).dir;
const embedder = await OnnxEmbedder.load(modelDir);
const profileDir = join(root, 'profile');
saveProfile(profileDir, await fitProfile(loadLabelled(dataFiles([])), embedder, { ...DEFAULT_FIT, name: 'onnx-tiny-bench' }));
await embedder.close();

const rows: { batching: string; result: WrkResult }[] = [];
for (const [label, size] of [['off (batch 1)', 1], ['on (batch 32, 2 ms)', 32]] as const) {
  const port = await freePort();
  const proc = await startNode('src/main.ts', ['--port', String(port), '--threads', '1', '--profile', profileDir, '--embedder', 'onnx', '--embedder-dir', modelDir,
    '--workers', String(workers), '--batch-max-size', String(size), '--cache-size', '0'], port, (p) => httpOk(`http://127.0.0.1:${p}/health`));
  try {
    const base = { url: `http://127.0.0.1:${port}/v1/route`, connections, threads: 1, uniquePrompt: true };
    await runWrk({ ...base, seconds: 2 });
    const result = await runWrk({ ...base, seconds });
    rows.push({ batching: label, result });
    console.error(`batching ${label}: ${result.rps.toFixed(0)} rps, p50 ${result.p50_ms} ms, p99 ${result.p99_ms} ms`);
  } finally { await proc.stop(); }
}
const machine = `${os.cpus()[0]?.model ?? 'cpu'} x${os.cpus().length}, Node ${process.version}`;
console.log(`\nPOST /v1/route, ONNX embedder (generated tiny BERT), ${workers} pool worker(s), wrk ${connections} connections, ${seconds} s, unique prompts, cache off, ${new Date().toISOString()}, ${machine}`);
console.log(`${'micro-batching'.padEnd(22)} ${'rps'.padStart(8)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)}`);
for (const r of rows) console.log(`${r.batching.padEnd(22)} ${r.result.rps.toFixed(0).padStart(8)} ${r.result.p50_ms.toFixed(3).padStart(8)} ${r.result.p99_ms.toFixed(3).padStart(8)}${r.result.non2xx ? `  non-2xx ${r.result.non2xx}` : ''}`);
mkdirSync(dirname(jsonPath), { recursive: true });
writeFileSync(jsonPath, JSON.stringify({ date: new Date().toISOString(), machine, workers, connections, seconds, rows }, null, 2) + '\n');
console.log(`wrote ${jsonPath}`);
