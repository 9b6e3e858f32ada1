/**
 * npm run bench:greatrouter [-- --seconds 5 --warmup 2 --connections 8 --iterations 20000 --json FILE]
 *
 * Issue 10's targets, on a 50-model catalog (bench/lib/catalog-50.ts: the
 * router profile's 11 models plus 39 priced catalog models the profile does
 * not know, chat and image, every field set):
 *
 *   1. server-side p50 of POST /v1/auto/suggest and /v1/models/price-comparison
 *      ≤ 100 µs: the handlers timed in process (parse -> classify -> embed +
 *      route at λ = 0 -> rank 50 models -> JSON), a unique ~200-char prompt
 *      per call, one Engine loaded from that config (native embedder, the
 *      shipped profile). No HTTP: what the server spends per request beyond
 *      uWS's own parsing and writing.
 *   2. POST /v1/auto/route through the mock upstream at ≥ 0.9 of
 *      POST /v1/chat/completions (model "auto") requests/s: Switchyard as a
 *      child process with that config, the mock as another, wrk at
 *      --connections, unique prompts; both warmed, then chat, route, chat
 *      (chat's figure: the mean of its two runs).
 *
 * Prints the command, date, uptime, a table, the targets met/missed; writes
 * JSON (default bench/results/greatrouter.json).
 */
import { parseArgs } from 'node:util';
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import os from 'node:os';
import { stringify } from 'yaml';
import { ROOT } from '../src/fit/options.ts';
import { loadConfig } from '../src/config/load.ts';
import { Engine } from '../src/api/engine.ts';
import { handlePriceComparison, handleSuggest } from '../src/api/auto-suggest.ts';
import { freePort } from './lib/procs.ts';
import { haveWrk, runWrk } from './lib/wrk.ts';
import { startMockProc } from './lib/mock-proc.ts';
import { stopAll, stopChild, trackChild } from './lib/children.ts';
import { formatTable } from './lib/table.ts';
import { template } from './lib/chat-bodies.ts';
import { catalog50 } from './lib/catalog-50.ts';
import { MOCK_API_KEY, MOCK_API_KEY_ENV } from './lib/switchyard.ts';

// The Engine built in process reads the key variable from process.env (routes.ts), as the child server does.
process.env[MOCK_API_KEY_ENV] = MOCK_API_KEY;
const { values: v } = parseArgs({
  options: {
    seconds: { type: 'string', default: '5' }, warmup: { type: 'string', default: '2' }, connections: { type: 'string', default: '8' },
    iterations: { type: 'string', default: '20000' }, json: { type: 'string' }, 'no-http': { type: 'boolean', default: false },
  },
});
const seconds = Number(v.seconds), warmup = Number(v.warmup), connections = Number(v.connections), iterations = Number(v.iterations);
const jsonPath = v.json ?? join(ROOT, 'bench/results/greatrouter.json');
const uptime = (): string => { try { return execFileSync('uptime', { encoding: 'utf8' }).trim(); } catch { return `load ${os.loadavg().join(' ')}`; } };

/** ~200 characters, unique per i, nothing to escape (as wrk's uniquePrompt). */
const prompt = (i: number) => `Request ${i}: compare the trade-offs of three approaches to caching expensive database queries in a web service, and say which one you would pick for a read-heavy workload ${i % 97}.`;

function pct(sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
}

async function serverSide(configPath: string): Promise<Record<string, { p50_us: number; p90_us: number; p99_us: number; n: number }>> {
  const config = loadConfig({ argv: ['--config', configPath], env: { [MOCK_API_KEY_ENV]: MOCK_API_KEY } });
  const engine = new Engine(config);
  await engine.load();
  const out: Record<string, { p50_us: number; p90_us: number; p99_us: number; n: number }> = {};
  const cases = {
    'auto/suggest': (i: number) => handleSuggest(Buffer.from(JSON.stringify({ prompt: prompt(i), limit: 5, budget_dollars: 0.05 })), engine),
    'models/price-comparison': (i: number) => handlePriceComparison(Buffer.from(JSON.stringify({ prompt: prompt(i), task: 'text', optimization: 'balanced' })), engine),
  };
  for (const [name, f] of Object.entries(cases)) {
    for (let i = 0; i < 2000; i++) f(1e7 + i); // warm-up: JIT
    const t = new Float64Array(iterations);
    for (let i = 0; i < iterations; i++) {
      const t0 = process.hrtime.bigint();
      const r = f(i);
      if (typeof r !== 'string') throw new Error(`${name} went async: the bench measures the synchronous path`);
      t[i] = Number(process.hrtime.bigint() - t0) / 1000;
    }
    t.sort();
    out[name] = { p50_us: pct(t, 0.5), p90_us: pct(t, 0.9), p99_us: pct(t, 0.99), n: iterations };
  }
  await engine.close();
  return out;
}

async function main(): Promise<void> {
  const start = uptime();
  const mock = await startMockProc({ chunks: 20, chunkIntervalMs: 0 });
  const dir = mkdtempSync(join(tmpdir(), 'sy-bench-gr-'));
  const configPath = join(dir, 'switchyard.yaml');
  writeFileSync(configPath, `# generated by bench/greatrouter.ts: 50 catalog models on the mock\n${stringify({ providers: { models: catalog50(`http://127.0.0.1:${mock.port}/v1`) }, state: { dir } })}`);

  const side = await serverSide(configPath);
  const rows: string[][] = Object.entries(side).map(([k, s]) => [`${k} (in process)`, '-', s.p50_us.toFixed(1), s.p90_us.toFixed(1), s.p99_us.toFixed(1), '-']);

  const http: Record<string, { rps: number; p50_ms: number; p99_ms: number; non2xx: number }> = {};
  if (!v['no-http'] && haveWrk()) {
    const port = await freePort();
    const child = trackChild(spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', '--config', configPath, '--port', String(port), '--threads', '1'],
      { cwd: ROOT, env: { ...process.env, [MOCK_API_KEY_ENV]: MOCK_API_KEY }, stdio: ['ignore', 'pipe', 'pipe'] }));
    child.stdout!.resume(); child.stderr!.resume();
    for (let i = 0; ; i++) {
      const ok = await fetch(`http://127.0.0.1:${port}/health`).then(async (r) => { await r.arrayBuffer(); return r.ok; }, () => false);
      if (ok) break;
      if (i > 600) throw new Error('switchyard did not become healthy');
      await new Promise((r) => setTimeout(r, 100));
    }
    const loads = {
      'chat/completions (auto)': { url: `http://127.0.0.1:${port}/v1/chat/completions`, uniqueTemplate: template('auto', false) },
      'auto/route': { url: `http://127.0.0.1:${port}/v1/auto/route`, uniqueTemplate: { prefix: '{"input":{"messages":[{"role":"user","content":"Answer briefly."}]},"prompt":"', suffix: '"}' } },
    };
    // Both warmed before either is measured (a freshly started server JITs whichever runs first), then
    // chat, route, chat: the route run is bracketed, and chat's figure is the mean of its two runs,
    // so drift on a shared machine during the run hits both sides alike.
    if (warmup > 0) for (const l of Object.values(loads)) await runWrk({ ...l, threads: 1, connections, seconds: warmup, onSpawn: trackChild });
    const runs: [keyof typeof loads, Awaited<ReturnType<typeof runWrk>>][] = [];
    for (const name of ['chat/completions (auto)', 'auto/route', 'chat/completions (auto)'] as const) {
      const w = await runWrk({ ...loads[name], threads: 1, connections, seconds, onSpawn: trackChild });
      runs.push([name, w]);
      rows.push([name, w.rps.toFixed(0), (w.p50_ms * 1000).toFixed(0), '-', (w.p99_ms * 1000).toFixed(0), String(w.non2xx)]);
    }
    for (const name of Object.keys(loads) as (keyof typeof loads)[]) {
      const mine = runs.filter((r) => r[0] === name).map((r) => r[1]);
      const mean = (f: (w: (typeof mine)[number]) => number) => mine.reduce((a, w) => a + f(w), 0) / mine.length;
      http[name] = { rps: mean((w) => w.rps), p50_ms: mean((w) => w.p50_ms), p99_ms: mean((w) => w.p99_ms), non2xx: mean((w) => w.non2xx) };
    }
    await stopChild(child, 10_000);
  } else if (!v['no-http']) console.error('wrk not on PATH: the HTTP comparison is skipped');
  await mock.stop();

  const ratio = http['auto/route'] && http['chat/completions (auto)'] ? http['auto/route'].rps / http['chat/completions (auto)'].rps : null;
  const targets = [
    ['auto/suggest server-side p50', `${side['auto/suggest'].p50_us.toFixed(1)} µs`, '≤ 100 µs', side['auto/suggest'].p50_us <= 100 ? 'met' : 'missed'],
    ['price-comparison server-side p50', `${side['models/price-comparison'].p50_us.toFixed(1)} µs`, '≤ 100 µs', side['models/price-comparison'].p50_us <= 100 ? 'met' : 'missed'],
    ['auto/route rps / chat rps', ratio === null ? 'n/a' : ratio.toFixed(3), '≥ 0.9', ratio === null ? 'n/a' : ratio >= 0.9 ? 'met' : 'missed'],
  ];
  const end = uptime();
  const command = `npm run bench:greatrouter${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
  console.log([
    `bench:greatrouter — ${new Date().toISOString()}`, `command: ${command}`,
    `machine: ${os.cpus()[0]?.model} x${os.cpus().length}, Node ${process.version}`, `uptime at start: ${start}`, `uptime at end:   ${end}`,
    `catalog: 50 models; in-process iterations ${iterations}; wrk ${connections} connections, ${seconds} s after ${warmup} s warm-up, Switchyard --threads 1`,
    '', formatTable(['case', 'rps', 'p50 µs', 'p90 µs', 'p99 µs', 'non-2xx'], rows), '', formatTable(['target', 'value', 'target', 'result'], targets),
  ].join('\n'));
  mkdirSync(dirname(jsonPath), { recursive: true });
  writeFileSync(jsonPath, JSON.stringify({ date: new Date().toISOString(), command, uptime_start: start, uptime_end: end, settings: { seconds, warmup, connections, iterations }, server_side: side, http, targets }, null, 2) + '\n');
  console.log(`wrote ${jsonPath}`);
}

try { await main(); } catch (e) { console.error(`bench:greatrouter failed: ${(e as Error).stack}`); process.exitCode = 1; } finally { await stopAll(); }
