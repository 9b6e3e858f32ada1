/**
 * npm run bench:latency [-- --seconds 5 --warmup 2 --connections 1,8,64 --cases ... --json FILE]
 *
 * Tail latency at fixed concurrency (issue 7): wrk (C, its own process) holds
 * 1, 8 and 64 connections open against, all started by this script and kept up
 * for the whole run:
 *   bare            bare uWebSockets.js (bench/lib/bare-uws.ts) sent the unique-prompt bodies
 *   bare-embedding  the same server sent the embedding body (the embedding case's denominator)
 *   unique          POST /v1/route, a unique ~200-char prompt per request (cache misses)
 *   repeated        POST /v1/route, 16 prompts in rotation (cache hits)
 *   embedding       POST /v1/route with a supplied 384-float embedding (no embed work)
 *   bare-msgpack    the same server sent the msgpack embedding body (the msgpack case's denominator)
 *   msgpack         POST /v1/route, the same embedding as a float32 bin in msgpack, answered in msgpack
 *   direct          the mock upstream (scripts/mock-upstream.ts), JSON chat completion
 *   gateway         POST /v1/chat/completions, JSON, model "auto", through Switchyard to that mock
 *   route-model     POST /api/v1/route-model, a unique prompt as `input`, a 3-rule config (ratio over bare)
 *   invoke          POST /v1/model-router/invoke, a unique user message, the same config's rules, to the mock (ratio over gateway)
 *   prompt-cache    POST /v1/chat/completions with x-switchyard-cache-ttl, 16 bodies in rotation: prompt-cache hits
 *                   after the warm-up (issue 11: p50 within 0.1 ms of `repeated`, the /v1/route decision-cache hits)
 * Each run is a --warmup run then a --seconds run; per connection count every
 * case runs back to back, so drift on a shared machine hits neighbours alike.
 * Switchyard runs with --trace-gc (off: --no-trace-gc) and each row carries
 * the GC pauses of its measured seconds.
 *
 * --variant NAME[@DIR][=NODE_FLAGS][ -- SERVER_ARGS] (repeatable) starts one
 * Switchyard per variant, side by side, e.g.
 *   --variant base --variant 'semi32=--max-semi-space-size=32'
 *   --variant 'old@/tmp/sy-old' --variant new   (DIR: an older checkout with node_modules linked in)
 *   --variant 'nocache= -- --cache-size 0'
 * Fixed rate: Debian has no wrk2; --paced adds, at the largest connection
 * count, a run per case paced by wrk's delay() hook at about half the measured
 * maximum (a paced closed loop: latency at a load below saturation, with
 * coordinated omission not corrected).
 * Prints the command, date, uptime, CPU, a table with ratios, and issue 7's
 * targets marked met/missed; writes JSON (default bench/results/latency.json).
 */
import { parseArgs } from 'node:util';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { request } from 'node:http';
import os from 'node:os';
import { ROOT } from '../src/fit/options.ts';
import { freePort, startNode, httpOk, type Proc } from './lib/procs.ts';
import { haveWrk, runWrk, type WrkLoad } from './lib/wrk.ts';
import { startMockProc, type MockProc } from './lib/mock-proc.ts';
import { benchRouting, startSwitchyard, type SwitchyardProc } from './lib/switchyard.ts';
import { stopAll, trackChild } from './lib/children.ts';
import { formatTable } from './lib/table.ts';
import { GcTrace } from './lib/gc-trace.ts';
import { treeCpuSeconds } from './lib/rss.ts';
import { DIRECT_MODEL, chat, template } from './lib/chat-bodies.ts';
import { repeatedBodies, embeddingBody, embeddingMsgpackBody } from './lib/route-bodies.ts';
import { addRatios, checkTargets, rowCells, ROW_HEADER, type CaseName, type FreshConnections, type LatencyRow } from './lib/latency-targets.ts';

const ALL_CASES: CaseName[] = ['bare', 'unique', 'repeated', 'embedding', 'msgpack', 'direct', 'gateway', 'route-model', 'invoke', 'prompt-cache'];
const MSGPACK_HEADERS = { 'content-type': 'application/msgpack', accept: 'application/msgpack' };
const { values: v } = parseArgs({
  options: {
    seconds: { type: 'string', default: '5' }, warmup: { type: 'string', default: '2' }, connections: { type: 'string', default: '1,8,64' },
    cases: { type: 'string', default: ALL_CASES.join(',') },
    threads: { type: 'string' }, 'wrk-threads': { type: 'string', default: '1' },
    variant: { type: 'string', multiple: true }, 'trace-gc': { type: 'boolean', default: true }, 'no-trace-gc': { type: 'boolean', default: false },
    paced: { type: 'boolean', default: false }, json: { type: 'string' }, help: { type: 'boolean', short: 'h' },
  },
});
// --help prints this file's opening comment: one text to keep current.
if (v.help) { process.stdout.write(`${readFileSync(new URL(import.meta.url), 'utf8').split('*/')[0]}*/\n`); process.exit(0); }
const num = (k: 'seconds' | 'warmup' | 'wrk-threads'): number => { const x = Number(v[k]); if (!Number.isFinite(x) || x < 0) { console.error(`--${k} must be a non-negative number`); process.exit(2); } return x; };
const cfg = {
  seconds: num('seconds'), warmup: num('warmup'), wrkThreads: Math.max(1, num('wrk-threads')),
  connections: v.connections!.split(',').map(Number),
  cases: new Set(v.cases!.split(',').map((s) => s.trim()) as CaseName[]),
  traceGc: v['trace-gc']! && !v['no-trace-gc'], paced: v.paced!, threads: v.threads ?? null,
};
if (!cfg.connections.every((n) => Number.isInteger(n) && n >= 1)) { console.error(`--connections: comma-separated integers >= 1, got ${v.connections}`); process.exit(2); }
for (const c of cfg.cases) if (!ALL_CASES.includes(c)) { console.error(`--cases: unknown case "${c}" (known: ${ALL_CASES.join(', ')})`); process.exit(2); }
if (cfg.cases.has('embedding')) cfg.cases.add('bare-embedding');
if (cfg.cases.has('msgpack')) cfg.cases.add('bare-msgpack');
if (cfg.cases.has('prompt-cache')) cfg.cases.add('repeated');
if (cfg.cases.has('invoke')) cfg.cases.add('gateway');
if (cfg.cases.has('gateway')) cfg.cases.add('direct');
if (cfg.cases.has('route-model')) cfg.cases.add('bare');
if (cfg.cases.has('unique') || cfg.cases.has('repeated')) cfg.cases.add('bare');
const jsonPath = v.json ?? join(ROOT, 'bench/results/latency.json');
if (!haveWrk()) {
  console.error('bench:latency needs wrk (a C HTTP load generator) on PATH.\n  Debian/Ubuntu: sudo apt-get install wrk\n  macOS: brew install wrk\n(Debian has no wrk2; --paced uses wrk\'s own delay() hook instead.)');
  process.exit(2);
}

interface Variant { name: string; root: string; nodeArgs: string[]; serverArgs: string[] }
/** NAME[@DIR][=NODE_FLAGS][ -- SERVER_ARGS] */
const parseVariant = (s: string): Variant => {
  const [head, server = ''] = s.split(/\s--\s|\s--$/);
  const m = /^([\w.-]+)(?:@([^=]+))?(?:=(.*))?$/.exec(head.trim());
  if (!m) { console.error(`--variant: expected NAME[@DIR][=NODE_FLAGS][ -- SERVER_ARGS], got "${s}"`); process.exit(2); }
  const words = (x: string | undefined) => (x ?? '').split(/\s+/).filter(Boolean);
  return { name: m[1], root: m[2] ?? ROOT, nodeArgs: words(m[3]), serverArgs: words(server) };
};
const variants = (v.variant?.length ? v.variant : ['switchyard']).map(parseVariant);
if (new Set(variants.map((x) => x.name)).size !== variants.length) { console.error('--variant: names must differ'); process.exit(2); }

const uptime = (): string => { try { return execFileSync('uptime', { encoding: 'utf8' }).trim(); } catch { return `load average ${os.loadavg().map((x) => x.toFixed(2)).join(', ')}`; } };
const machine = { cpu: os.cpus()[0]?.model ?? 'cpu', cores: os.cpus().length, mem_gib: Math.round(os.totalmem() / 2 ** 30), os: `${os.type()} ${os.release()}`, node: process.version };
const command = `npm run bench:latency${process.argv.length > 2 ? ` -- ${process.argv.slice(2).map((a) => (/[\s'"]/.test(a) ? `'${a}'` : a)).join(' ')}` : ''}`;
const wrkVersion = (() => { try { return execFileSync('wrk', ['-v'], { encoding: 'utf8' }); } catch (e) { return String((e as { stdout?: string }).stdout ?? ''); } })().split('\n')[0].trim();

interface Sy { variant: Variant; proc: SwitchyardProc; gc: GcTrace }
let bare: Proc | null = null;
let mock: MockProc | null = null;
const sys: Sy[] = [];
const rows: LatencyRow[] = [];
const fresh: Record<string, FreshConnections | undefined> = {};
const notes: string[] = [];
const note = (s: string): void => { notes.push(s); console.error(`note: ${s}`); };

/** What wrk sends for a case, and to which port. */
function loadFor(c: CaseName, sy: Sy | null): Omit<WrkLoad, 'connections' | 'seconds'> | null {
  const route = (port: number) => `http://127.0.0.1:${port}/v1/route`;
  const base = { threads: cfg.wrkThreads, onSpawn: trackChild };
  switch (c) {
    case 'bare': return { ...base, url: route(bare!.port), uniquePrompt: true };
    case 'bare-embedding': return { ...base, url: route(bare!.port), bodies: [EMBEDDING] };
    case 'unique': return { ...base, url: route(sy!.proc.port), uniquePrompt: true };
    case 'repeated': return { ...base, url: route(sy!.proc.port), bodies: REPEATED };
    case 'embedding': return { ...base, url: route(sy!.proc.port), bodies: [EMBEDDING] };
    case 'bare-msgpack': return { ...base, url: route(bare!.port), bodies: [EMBEDDING_MSGPACK], headers: MSGPACK_HEADERS };
    case 'msgpack': return { ...base, url: route(sy!.proc.port), bodies: [EMBEDDING_MSGPACK], headers: MSGPACK_HEADERS };
    case 'direct': return { ...base, url: `http://127.0.0.1:${mock!.port}/v1/chat/completions`, uniqueTemplate: template(DIRECT_MODEL, false) };
    case 'gateway': return { ...base, url: `http://127.0.0.1:${sy!.proc.port}/v1/chat/completions`, uniqueTemplate: template('auto', false) };
    case 'route-model': return { ...base, url: `http://127.0.0.1:${sy!.proc.port}/api/v1/route-model`, uniqueTemplate: { prefix: '{"input":"', suffix: '","configName":"bench"}' } };
    case 'prompt-cache': return { ...base, url: `http://127.0.0.1:${sy!.proc.port}/v1/chat/completions`, bodies: PROMPT_CACHE, headers: { 'x-switchyard-cache-ttl': '3600' } };
    case 'invoke': return { ...base, url: `http://127.0.0.1:${sy!.proc.port}/v1/model-router/invoke`, uniqueTemplate: { prefix: '{"messages":[{"role":"user","content":"', suffix: '"}]}' } };
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function measure(c: CaseName, sy: Sy | null, connections: number, mode: LatencyRow['mode'] = 'closed', delayMs?: number): Promise<LatencyRow | null> {
  const load = loadFor(c, sy);
  if (!load) return null;
  if (cfg.warmup > 0) await runWrk({ ...load, connections, seconds: cfg.warmup, delayMs });
  const mark = sy?.gc.mark() ?? 0;
  const pid = sy ? sy.proc.pid : c === 'direct' ? mock!.child.pid : bare!.child.pid;
  const cpu0 = treeCpuSeconds(pid);
  const wrk = await runWrk({ ...load, connections, seconds: cfg.seconds, delayMs });
  const cpu1 = treeCpuSeconds(pid);
  await sleep(50); // the last --trace-gc lines of the window arrive through a pipe
  const row: LatencyRow = {
    case: c, variant: sy?.variant.name ?? null, connections, mode, wrk, load1: os.loadavg()[0],
    gc: sy && cfg.traceGc ? sy.gc.summary(mark) : null,
    cpu_us_per_req: cpu0 !== null && cpu1 !== null && wrk.requests > 0 ? (1e6 * (cpu1 - cpu0)) / wrk.requests : null, rps_ratio: null, p99_ratio: null, p99_added_ms: null,
  };
  rows.push(row);
  console.error(`${rowCells(row).slice(0, 8).join(' ')}${row.gc ? ` gc ${row.gc.scavenges}/${row.gc.mark_compacts} ${row.gc.scavenge_ms.toFixed(1)}+${row.gc.mark_compact_ms.toFixed(1)} ms` : ''}${wrk.non2xx || wrk.errors ? ` NON-2XX ${wrk.non2xx} ERR ${wrk.errors}` : ''}`);
  return row;
}

/** One prompt, N requests, each on a new TCP connection (agent: false): how many were decision-cache hits. */
async function freshConnections(port: number, n = 10): Promise<FreshConnections> {
  const body = JSON.stringify({ prompt: `fresh-connection check ${process.pid} ${Date.now()}: which model should answer this?`, cost_weight: 0.1 });
  let hits = 0;
  for (let i = 0; i < n; i++) {
    const text = await new Promise<string>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path: '/v1/route', method: 'POST', agent: false, headers: { 'content-type': 'application/json', connection: 'close' } }, (res) => {
        let s = ''; res.setEncoding('utf8'); res.on('data', (d) => { s += d; }); res.on('end', () => resolve(s));
      });
      req.on('error', reject);
      req.end(body);
    });
    if ((JSON.parse(text) as { cache_hit?: boolean }).cache_hit === true) hits++;
  }
  return { requests: n, hits, misses: n - hits };
}

/**
 * Paced runs at about half the closed-loop maximum: wrk's delay() waits whole
 * milliseconds after each answer, so the rate is set by the connection count;
 * a short probe measures the per-connection rate and the count is scaled to it.
 */
async function paced(c: CaseName, sy: Sy | null, maxConns: number): Promise<void> {
  const closed = rows.find((r) => r.case === c && r.variant === (sy?.variant.name ?? null) && r.connections === maxConns && r.mode === 'closed');
  const load = loadFor(c, sy);
  if (!closed || !load) return;
  const want = closed.wrk.rps / 2;
  const probeConns = Math.max(1, Math.min(512, Math.round(want / 700)));
  const probe = await runWrk({ ...load, connections: probeConns, seconds: Math.max(1, cfg.warmup), delayMs: 1 });
  const conns = Math.max(1, Math.min(1024, Math.round((probeConns * want) / Math.max(1, probe.rps))));
  const row = await measure(c, sy, conns, 'paced', 1);
  if (row && Math.abs(row.wrk.rps / want - 1) > 0.2) note(`${c}${sy ? ` [${sy.variant.name}]` : ''} paced: asked ~${want.toFixed(0)} rps, got ${row.wrk.rps.toFixed(0)} with ${conns} connections`);
}

async function main(): Promise<void> {
  const startUptime = uptime();
  console.error(`bench:latency ${new Date().toISOString()} on ${machine.cpu} x${machine.cores}, Node ${machine.node}; ${startUptime}`);
  if (os.loadavg()[0] > 0.5 * machine.cores) note(`load average ${os.loadavg()[0].toFixed(2)} on ${machine.cores} cores at start: the machine is busy, absolute figures are noisy (compare rows of one run)`);

  if (cfg.cases.has('bare') || cfg.cases.has('bare-embedding') || cfg.cases.has('bare-msgpack')) {
    const port = await freePort();
    bare = await startNode('bench/lib/bare-uws.ts', [String(port), '1'], port, (p) => httpOk(`http://127.0.0.1:${p}/`, { method: 'POST', body: '{}' }));
    trackChild(bare.child);
  }
  mock = await startMockProc({ chunks: 20, chunkIntervalMs: 0 });
  const needSy = [...cfg.cases].some((c) => c !== 'bare' && c !== 'bare-embedding' && c !== 'bare-msgpack' && c !== 'direct');
  for (const variant of needSy ? variants : []) {
    const gc = new GcTrace();
    const proc = await startSwitchyard(await freePort(), `http://127.0.0.1:${mock.port}/v1`, [...(cfg.threads ? ['--threads', cfg.threads] : []), ...variant.serverArgs], {
      nodeArgs: [...variant.nodeArgs, ...(cfg.traceGc ? ['--trace-gc'] : [])], root: variant.root, onOutput: (s) => gc.feed(s),
      // Only when asked for: a variant from an older checkout would refuse the `routing` key.
      ...(cfg.cases.has('route-model') || cfg.cases.has('invoke') ? { routing: { ...benchRouting(), default_config: 'bench' } } : {}),
    });
    const banner = proc.logTail().split('\n').find((l) => l.includes('listening on'));
    console.error(`${variant.name}: ${banner ?? 'started'} (node ${variant.nodeArgs.join(' ') || '-'}; server ${variant.serverArgs.join(' ') || '-'}; ${variant.root})`);
    sys.push({ variant, proc, gc });
  }

  const order: CaseName[] = ['bare', 'bare-embedding', 'bare-msgpack', 'unique', 'repeated', 'embedding', 'msgpack', 'route-model', 'prompt-cache', 'direct', 'gateway', 'invoke'];
  const perSy = (c: CaseName) => c === 'unique' || c === 'repeated' || c === 'embedding' || c === 'msgpack' || c === 'gateway' || c === 'route-model' || c === 'invoke' || c === 'prompt-cache';
  for (const n of cfg.connections) {
    for (const c of order.filter((x) => cfg.cases.has(x))) {
      if (perSy(c)) { for (const sy of sys) await measure(c, sy, n); } else await measure(c, null, n);
    }
  }
  const maxConns = cfg.connections.includes(64) ? 64 : Math.max(...cfg.connections);
  if (cfg.paced) {
    for (const c of order.filter((x) => cfg.cases.has(x))) {
      if (perSy(c)) { for (const sy of sys) await paced(c, sy, maxConns); } else await paced(c, null, maxConns);
    }
  }
  for (const sy of sys) fresh[sy.variant.name] = await freshConnections(sy.proc.port);

  addRatios(rows);
  const targets = checkTargets(rows, sys.map((s) => s.variant.name), fresh, maxConns);
  const endUptime = uptime();
  const lines = [
    `\nbench:latency — ${new Date().toISOString()}`,
    `command: ${command}`,
    `machine: ${machine.cpu} x${machine.cores}, ${machine.mem_gib} GiB, ${machine.os}, Node ${machine.node}`,
    `uptime at start: ${startUptime}`,
    `uptime at end:   ${endUptime}`,
    `load: ${wrkVersion}, ${cfg.wrkThreads} wrk thread(s), ${cfg.seconds} s per run after ${cfg.warmup} s warm-up; Switchyard ${cfg.threads ? `--threads ${cfg.threads}` : 'default threads'}${cfg.traceGc ? ', --trace-gc' : ''}`,
    ...sys.map((s) => `  ${s.variant.name}: node ${s.variant.nodeArgs.join(' ') || '(no flags)'}; server args ${s.variant.serverArgs.join(' ') || '(none)'}; ${s.variant.root}`),
    '',
    formatTable(ROW_HEADER, rows.map(rowCells)),
    '',
    'rps/base, p99/base: over bare uWS (route cases and route-model; bare-embedding for embedding, bare-msgpack for msgpack), the direct mock (gateway) or the gateway (invoke), same connections;',
    'p99-direct: gateway p99 minus the direct mock\'s p99; conns "Np": paced run (wrk delay(), ~half the closed-loop maximum);',
    'GC: the Switchyard process over the measured seconds (all isolates): scavenges/mark-compacts, pause total, longest pause, pause ms per 1,000 requests,',
    'heap freed per request (about the garbage a request makes); CPU µs/req: the server under test\'s user+system time (all threads) per request.',
    'Latency and pause times swell on a busy machine; KB freed/req, CPU µs/req and the GC counts much less.',
    '',
    'issue 7 targets',
    formatTable(['variant', 'measure', 'value', 'target', 'result'], targets.map((t) => [t.variant, t.measure, t.value, t.target, t.result])),
  ];
  if (notes.length) lines.push(`\nnotes:\n${notes.map((s) => `  - ${s}`).join('\n')}`);
  console.log(lines.join('\n'));
  mkdirSync(dirname(jsonPath), { recursive: true });
  writeFileSync(jsonPath, JSON.stringify({
    date: new Date().toISOString(), command, machine, uptime_start: startUptime, uptime_end: endUptime, load_generator: wrkVersion, settings: { ...cfg, cases: [...cfg.cases] },
    variants: sys.map((s) => ({ ...s.variant, banner: s.proc.logTail().split('\n').find((l) => l.includes('listening on')) ?? null })), rows, fresh_connections: fresh, targets, notes,
  }, null, 2) + '\n');
  console.log(`wrote ${jsonPath}`);
}

const REPEATED = repeatedBodies();
const PROMPT_CACHE = REPEATED.map((b) => chat('auto', false, (JSON.parse(b) as { prompt: string }).prompt));
const EMBEDDING = embeddingBody();
const EMBEDDING_MSGPACK = embeddingMsgpackBody();
try {
  await main();
} catch (e) {
  console.error(`bench:latency failed: ${(e as Error).stack}`);
  process.exitCode = 1;
} finally {
  await cleanup();
}

async function cleanup(): Promise<void> {
  for (const s of sys) await s.proc.stop();
  await bare?.stop();
  await mock?.stop();
  await stopAll();
}
