/**
 * npm run bench:responses [-- --seconds 5 --warmup 2 --connections 64 --rounds 1 --get-ids 500 --threads N --json FILE]
 *
 * Issue 8's targets, in one run against one Switchyard (src/main.ts, a fresh
 * --state-dir, every profile model served by the mock upstream, 20 content
 * chunks, no delay), wrk (bench/lib/wrk.ts) sending the same unique ~200-char
 * prompt sequence to each case with model "auto":
 *   chat              POST /v1/chat/completions
 *   responses         POST /v1/responses with "store": false
 *   responses-store   POST /v1/responses, store on (the default: the 200, or
 *                     response.completed, waits for the SQLite commit)
 * each as JSON and as a stream (wrk times the whole response), after one
 * untimed pass over all of them, back to back per round (even rounds in
 * reverse order) so drift on a shared machine hits neighbours alike; then
 *   get               GET /v1/responses/{id} over --get-ids ids stored just before.
 * Throughput ratio = a Responses case's requests/s over chat's, same format,
 * same round (the median over rounds is judged). Targets: >= 0.9 with store
 * false, >= 0.85 with the store on.
 * GET p50 "server-side" is measured inside the server process: a preload
 * (bench/lib/http-ms-probe.mjs) records switchyard:http:response's `ms` (the
 * request's arrival in the handler to its response written, in the HTTP
 * thread: the route, the store read, the write) for each 200 of the measured
 * seconds only. Target <= 0.2 ms. wrk's client-side p50 is printed next to
 * it for context (it adds the kernel's loopback and wrk's own time).
 * CPU µs/req: the Switchyard process's user+system time (all threads) per
 * request over the measured seconds: what a request costs, much less
 * sensitive to a busy machine than requests/s.
 * Prints the command, date, `uptime` (load), CPU, a table, the targets marked
 * met/missed; writes JSON (default bench/results/responses.json).
 */
import { parseArgs } from 'node:util';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ROOT } from '../src/fit/options.ts';
import { freePort } from './lib/procs.ts';
import { haveWrk, runWrk, type WrkLoad, type WrkResult } from './lib/wrk.ts';
import { startMockProc, type MockProc } from './lib/mock-proc.ts';
import { startSwitchyard, type SwitchyardProc } from './lib/switchyard.ts';
import { stopAll, trackChild } from './lib/children.ts';
import { formatTable, fmt } from './lib/table.ts';
import { treeCpuSeconds } from './lib/rss.ts';
import { template, responsesTemplate } from './lib/chat-bodies.ts';
import { commandLine, machine, uptime } from './lib/machine.ts';

const { values: v } = parseArgs({
  options: {
    seconds: { type: 'string', default: '5' }, warmup: { type: 'string', default: '2' }, connections: { type: 'string', default: '64' },
    rounds: { type: 'string', default: '1' }, 'get-ids': { type: 'string', default: '500' }, threads: { type: 'string' },
    json: { type: 'string' }, help: { type: 'boolean', short: 'h' },
  },
});
// --help prints this file's opening comment: one text to keep current.
if (v.help) { process.stdout.write(`${readFileSync(new URL(import.meta.url), 'utf8').split('*/')[0]}*/\n`); process.exit(0); }
const num = (k: 'seconds' | 'warmup' | 'connections' | 'rounds' | 'get-ids', min: number): number => {
  const x = Number(v[k]);
  if (!Number.isFinite(x) || x < min) { console.error(`--${k} must be a number >= ${min}, got ${v[k]}`); process.exit(2); }
  return x;
};
const cfg = { seconds: num('seconds', 1), warmup: num('warmup', 0), connections: Math.round(num('connections', 1)), rounds: Math.round(num('rounds', 1)), getIds: Math.round(num('get-ids', 1)), threads: v.threads ?? null };
const jsonPath = v.json ?? join(ROOT, 'bench/results/responses.json');
if (!haveWrk()) { console.error('bench:responses needs wrk (a C HTTP load generator) on PATH.\n  Debian/Ubuntu: sudo apt-get install wrk\n  macOS: brew install wrk'); process.exit(2); }

type CaseName = 'chat' | 'responses' | 'responses-store' | 'get';
type Format = 'json' | 'sse';
interface Row {
  case: CaseName; format: Format; round: number; connections: number; wrk: WrkResult;
  cpu_us_per_req: number | null;
  /** requests/s over chat's, same format and round (Responses cases). */
  rps_ratio: number | null;
  /** get only: the server-side times from the in-process probe. */
  server: ProbeReport | null;
}
interface ProbeReport { n: number; worker_threads: number; p50_ms: number | null; p90_ms: number | null; p99_ms: number | null; max_ms: number | null }

const PROBE = fileURLToPath(new URL('./lib/http-ms-probe.mjs', import.meta.url));
const POSTS: CaseName[] = ['chat', 'responses', 'responses-store'];
const rows: Row[] = [];
const notes: string[] = [];
const note = (s: string): void => { notes.push(s); console.error(`note: ${s}`); };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const wrkVersion = (() => { try { return execFileSync('wrk', ['-v'], { encoding: 'utf8' }); } catch (e) { return String((e as { stdout?: string }).stdout ?? ''); } })().split('\n')[0].trim();

let mock = null as MockProc | null;
let sy = null as SwitchyardProc | null;
let stateDir: string | null = null;
/** SY-PROBE lines from the server's stderr, in order. */
const probeLines: ProbeReport[] = [];
let outBuf = '';
const onOutput = (s: string): void => {
  outBuf += s;
  let nl;
  while ((nl = outBuf.indexOf('\n')) >= 0) {
    const line = outBuf.slice(0, nl);
    outBuf = outBuf.slice(nl + 1);
    if (line.startsWith('SY-PROBE ')) probeLines.push(JSON.parse(line.slice(9)) as ProbeReport);
  }
};

function loadFor(c: CaseName, format: Format, port: number, paths?: string[]): Omit<WrkLoad, 'connections' | 'seconds'> {
  const base = { threads: 1, onSpawn: trackChild, url: `http://127.0.0.1:${port}${c === 'chat' ? '/v1/chat/completions' : '/v1/responses'}` };
  const stream = format === 'sse';
  switch (c) {
    case 'chat': return { ...base, uniqueTemplate: template('auto', stream) };
    case 'responses': return { ...base, uniqueTemplate: responsesTemplate('auto', stream, false) };
    case 'responses-store': return { ...base, uniqueTemplate: responsesTemplate('auto', stream, true) };
    case 'get': return { ...base, method: 'GET', paths };
  }
}

async function measure(c: CaseName, format: Format, round: number, paths?: string[]): Promise<Row> {
  const load = loadFor(c, format, sy!.port, paths);
  if (cfg.warmup > 0) await runWrk({ ...load, connections: cfg.connections, seconds: cfg.warmup });
  if (c === 'get') { process.kill(sy!.pid!, 'SIGUSR2'); await sleep(300); } // opens the probe's window (it reaches the HTTP threads over a BroadcastChannel)
  const cpu0 = treeCpuSeconds(sy!.pid);
  const wrk = await runWrk({ ...load, connections: cfg.connections, seconds: cfg.seconds });
  const cpu1 = treeCpuSeconds(sy!.pid);
  let server: ProbeReport | null = null;
  if (c === 'get') {
    const before = probeLines.length;
    process.kill(sy!.pid!, 'SIGUSR2');
    const end = Date.now() + 5000;
    while (probeLines.length === before && Date.now() < end) await sleep(20);
    server = probeLines[before] ?? null;
    if (!server) note('the in-process probe did not report (no SY-PROBE line within 5 s): no server-side GET figures');
  }
  const row: Row = {
    case: c, format, round, connections: cfg.connections, wrk, server, rps_ratio: null,
    cpu_us_per_req: cpu0 !== null && cpu1 !== null && wrk.requests > 0 ? (1e6 * (cpu1 - cpu0)) / wrk.requests : null,
  };
  rows.push(row);
  console.error(`${c} ${format} round ${round}: ${wrk.rps.toFixed(0)} rps p50 ${wrk.p50_ms.toFixed(2)} p99 ${wrk.p99_ms.toFixed(2)} ms${server ? `; server p50 ${fmt(server.p50_ms)} ms (n ${server.n})` : ''}${wrk.non2xx || wrk.errors ? ` NON-2XX ${wrk.non2xx} ERR ${wrk.errors}` : ''}`);
  if (wrk.non2xx > 0) note(`${c} ${format} round ${round}: ${wrk.non2xx} non-2xx answers (their requests/s are not comparable)`);
  return row;
}

async function post(path: string, body: unknown): Promise<{ status: number; text: string }> {
  const r = await fetch(`http://127.0.0.1:${sy!.port}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: r.status, text: await r.text() };
}

/** One call of each kind before any load: a case that does not answer as expected stops the run. */
async function check(): Promise<void> {
  const input = 'probe: say hello';
  for (const stream of [false, true]) {
    const c = await post('/v1/chat/completions', { model: 'auto', stream, messages: [{ role: 'user', content: input }] });
    if (c.status !== 200 || !c.text.includes(stream ? 'data: [DONE]' : '"choices"')) throw new Error(`chat (stream ${stream}) -> ${c.status} ${c.text.slice(0, 300)}`);
    for (const store of [false, true]) {
      const r = await post('/v1/responses', { model: 'auto', stream, store, input });
      if (r.status !== 200 || !r.text.includes(stream ? 'response.completed' : '"object":"response"')) throw new Error(`responses (stream ${stream}, store ${store}) -> ${r.status} ${r.text.slice(0, 300)}`);
    }
  }
}

/** Stores `n` responses (8 at a time) and returns their GET paths. */
async function storedPaths(n: number): Promise<string[]> {
  const paths: string[] = [];
  let next = 0;
  await Promise.all(Array.from({ length: 8 }, async () => {
    while (next < n) {
      const i = next++;
      const r = await post('/v1/responses', { model: 'auto', input: `stored for the GET case, number ${i}: explain why the sky is blue` });
      if (r.status !== 200) throw new Error(`storing a response for the GET case -> ${r.status} ${r.text.slice(0, 300)}`);
      paths.push(`/v1/responses/${(JSON.parse(r.text) as { id: string }).id}`);
    }
  }));
  return paths;
}

const median = (xs: number[]): number | null => {
  if (xs.length === 0) return null;
  const s = xs.slice().sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

interface Target { measure: string; value: number | null; target: string; result: 'met' | 'missed' | 'n/a' }
function targets(): Target[] {
  const out: Target[] = [];
  for (const format of ['json', 'sse'] as Format[]) {
    for (const [c, min] of [['responses', 0.9], ['responses-store', 0.85]] as [CaseName, number][]) {
      const value = median(rows.filter((r) => r.case === c && r.format === format && r.rps_ratio !== null).map((r) => r.rps_ratio!));
      out.push({ measure: `${c} / chat rps, ${format}`, value, target: `>= ${min}`, result: value === null ? 'n/a' : value >= min ? 'met' : 'missed' });
    }
  }
  const p50 = median(rows.filter((r) => r.case === 'get' && r.server?.p50_ms != null).map((r) => r.server!.p50_ms!));
  out.push({ measure: 'GET /v1/responses/{id} p50, server-side (ms)', value: p50, target: '<= 0.2', result: p50 === null ? 'n/a' : p50 <= 0.2 ? 'met' : 'missed' });
  return out;
}

async function main(): Promise<void> {
  const startUptime = uptime();
  console.error(`bench:responses ${new Date().toISOString()} on ${machine.cpu} x${machine.cores}, Node ${machine.node}; ${startUptime}`);
  if (os.loadavg()[0] > 0.5 * machine.cores) note(`load average ${os.loadavg()[0].toFixed(2)} on ${machine.cores} cores at start: the machine is busy, absolute figures are noisy (compare rows of one run, and CPU µs/req)`);
  mock = await startMockProc({ chunks: 20, chunkIntervalMs: 0 });
  stateDir = mkdtempSync(join(os.tmpdir(), 'sy-bench-responses-'));
  sy = await startSwitchyard(await freePort(), `http://127.0.0.1:${mock.port}/v1`, ['--state-dir', stateDir, ...(cfg.threads ? ['--threads', cfg.threads] : [])], { nodeArgs: ['--import', PROBE], onOutput });
  const banner = sy.logTail().split('\n').find((l) => l.includes('listening on')) ?? 'started';
  console.error(banner);
  await check();

  // One untimed pass over every case first: otherwise the first case measured (chat) also pays
  // the JIT warm-up of the code paths every case shares (seen: chat at a sixth of its later rate).
  for (const format of ['json', 'sse'] as Format[]) {
    for (const c of POSTS) await runWrk({ ...loadFor(c, format, sy.port), connections: cfg.connections, seconds: Math.max(1, cfg.warmup) });
  }
  for (let round = 1; round <= cfg.rounds; round++) {
    // Even rounds run the cases in reverse, so a machine getting busier or quieter does not favour one case.
    const order = round % 2 ? POSTS : [...POSTS].reverse();
    for (const format of ['json', 'sse'] as Format[]) {
      for (const c of order) await measure(c, format, round);
    }
  }
  const paths = await storedPaths(cfg.getIds);
  for (let round = 1; round <= cfg.rounds; round++) await measure('get', 'json', round, paths);

  for (const r of rows) {
    const chat = r.case !== 'chat' && r.case !== 'get' ? rows.find((x) => x.case === 'chat' && x.format === r.format && x.round === r.round) : undefined;
    if (chat) r.rps_ratio = r.wrk.rps / chat.wrk.rps;
  }
  const verdicts = targets();
  const endUptime = uptime();
  const lines = [
    `\nbench:responses — ${new Date().toISOString()}`,
    `command: ${commandLine('bench:responses')}`,
    `machine: ${machine.cpu} x${machine.cores}, ${machine.mem_gib} GiB, ${machine.os}, Node ${machine.node}`,
    `uptime at start: ${startUptime}`,
    `uptime at end:   ${endUptime}`,
    `load: ${wrkVersion}, 1 wrk thread, ${cfg.connections} connections, ${cfg.seconds} s per run after ${cfg.warmup} s warm-up, ${cfg.rounds} round(s); Switchyard ${cfg.threads ? `--threads ${cfg.threads}` : 'default threads'}: ${banner.replace(/^switchyard: /, '')}`,
    '',
    formatTable(
      ['case', 'format', 'round', 'rps', 'p50 ms', 'p99 ms', 'rps/chat', 'CPU µs/req', 'server p50 ms', 'server p99 ms', 'non-2xx', 'errors'],
      rows.map((r) => [r.case, r.format, String(r.round), r.wrk.rps.toFixed(0), fmt(r.wrk.p50_ms), fmt(r.wrk.p99_ms), fmt(r.rps_ratio, 2), fmt(r.cpu_us_per_req, 0), fmt(r.server?.p50_ms), fmt(r.server?.p99_ms), String(r.wrk.non2xx), String(r.wrk.errors)]),
    ),
    '',
    'rps/chat: over POST /v1/chat/completions, same format and round. p50/p99: wrk, client-side, whole response.',
    'server p50/p99 (get): switchyard:http:response ms inside the server process over the measured seconds (bench/lib/http-ms-probe.mjs).',
    '',
    'issue 8 targets (median over rounds)',
    formatTable(['measure', 'value', 'target', 'result'], verdicts.map((t) => [t.measure, fmt(t.value), t.target, t.result])),
  ];
  if (notes.length) lines.push(`\nnotes:\n${notes.map((s) => `  - ${s}`).join('\n')}`);
  console.log(lines.join('\n'));
  mkdirSync(dirname(jsonPath), { recursive: true });
  writeFileSync(jsonPath, JSON.stringify({
    date: new Date().toISOString(), command: commandLine('bench:responses'), machine, uptime_start: startUptime, uptime_end: endUptime, load_generator: wrkVersion,
    settings: cfg, switchyard: banner, rows, targets: verdicts, notes,
  }, null, 2) + '\n');
  console.log(`wrote ${jsonPath}`);
}

try {
  await main();
} catch (e) {
  console.error(`bench:responses failed: ${(e as Error).stack}`);
  process.exitCode = 1;
} finally {
  await sy?.stop();
  await mock?.stop();
  await stopAll();
  if (stateDir) rmSync(stateDir, { recursive: true, force: true });
}
