/**
 * npm run bench:replicas [-- --seconds 10 --warmup 3 --connections 48 --wrk-threads 1 --threads auto --cases route,gateway,rate-limit --no-local --json FILE]
 *
 * Issue 12's targets: three replicas on one Redis against one embedded
 * replica, on the same machine, at equal total load (wrk, C, its own
 * processes; a mock upstream in its own process):
 *   route       POST /v1/route, a unique ~200-char prompt per request (cache misses)
 *   gateway     POST /v1/chat/completions, model "auto", a unique prompt, to the mock
 *   rate-limit  POST /v1/route, 16 prompts in rotation (decision-cache hits, so
 *               the limiter is a visible share of the request), with a key whose
 *               requests_per_minute is 100,000,000 (every request admitted,
 *               every one checked) against a key without limits; embedded
 *               (shared memory) and Redis (one Lua call), at 1 connection (the
 *               p50 difference is the added cost per request) and at --connections
 * Embedded: one replica gets all --connections. Replicas: three replicas with
 * state.redis, each its own wrk with a third of the connections, run at the
 * same time; their requests/s add up to the total. Throughput per replica
 * relative to embedded, at equal total load on an equal machine share, is
 * therefore (sum of the three) / embedded: the target is >= 0.9. "local x3"
 * (three replicas without Redis; --no-local skips it) tells the cost of Redis
 * from the cost of splitting one process into three. --threads sets
 * server.threads of every replica (default "auto" = the cores): three replicas
 * of two threads each on a 2-core machine run six HTTP threads on two cores,
 * so --threads 1 is the fairer split there; the table says which was used.
 *
 * Prints the command, date, uptime, CPU, tables; writes JSON (default
 * bench/results/replicas.json). Run it on a quiet machine for figures: three
 * replicas, Redis, the mock and wrk share the cores.
 */
import { parseArgs } from 'node:util';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { ROOT } from '../src/fit/options.ts';
import { freePort } from './lib/procs.ts';
import { haveWrk, runWrk, type WrkLoad, type WrkResult } from './lib/wrk.ts';
import { startMockProc } from './lib/mock-proc.ts';
import { startSwitchyard, type SwitchyardProc } from './lib/switchyard.ts';
import { stopAll } from './lib/children.ts';
import { formatTable, fmt } from './lib/table.ts';
import { machine, uptime, commandLine } from './lib/machine.ts';
import { template } from './lib/chat-bodies.ts';
import { repeatedBodies } from './lib/route-bodies.ts';
import { startRedis, type TestRedis } from '../test/redis/redis-server.ts';

const ALL = ['route', 'gateway', 'rate-limit'] as const;
type Case = typeof ALL[number];
const { values: v } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' }, warmup: { type: 'string', default: '3' }, connections: { type: 'string', default: '48' },
    'wrk-threads': { type: 'string', default: '1' }, cases: { type: 'string', default: ALL.join(',') },
    'no-local': { type: 'boolean', default: false }, threads: { type: 'string', default: 'auto' }, json: { type: 'string' }, help: { type: 'boolean', short: 'h' },
  },
});
if (v.help) { process.stdout.write(`${readFileSync(new URL(import.meta.url), 'utf8').split('*/')[0]}*/\n`); process.exit(0); }
const num = (k: 'seconds' | 'warmup' | 'connections' | 'wrk-threads', min: number): number => {
  const x = Number(v[k]);
  if (!Number.isFinite(x) || x < min) { console.error(`--${k} must be a number >= ${min}`); process.exit(2); }
  return x;
};
const threads = v.threads === 'auto' ? 'auto' : Number(v.threads);
if (threads !== 'auto' && !(Number.isInteger(threads) && threads >= 1)) { console.error('--threads must be "auto" or an integer >= 1'); process.exit(2); }
const cfg = { seconds: num('seconds', 1), warmup: num('warmup', 0), connections: Math.round(num('connections', 3)), wrkThreads: Math.round(num('wrk-threads', 1)), threads };
const cases = new Set(v.cases!.split(',').map((s) => s.trim()) as Case[]);
for (const c of cases) if (!ALL.includes(c)) { console.error(`--cases: unknown case "${c}" (known: ${ALL.join(', ')})`); process.exit(2); }
if (!haveWrk()) { console.error('wrk not found (Debian: apt-get install wrk)'); process.exit(2); }

const KEYS = { SY_BENCH_FREE: 'sk-bench-replicas-free-0123456789', SY_BENCH_LIMITED: 'sk-bench-replicas-limited-0123456789' };
const TENANTS = [{ id: 'bench', keys: [{ id: 'free', env: 'SY_BENCH_FREE' }, { id: 'limited', env: 'SY_BENCH_LIMITED', limits: { requests_per_minute: 100_000_000 } }] }];
const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

interface Row { setup: string; case: string; connections: number; replicas: number; rps_total: number; rps_per_replica: number[]; p50_ms: number; p99_ms: number; non2xx: number; errors: number }
const rows: Row[] = [];
/** Every replica's state.dir, removed at the end. */
const stateRoot = mkdtempSync(join(tmpdir(), 'sy-bench-replicas-'));

async function start(n: number, mockUrl: string, redisUrl: string | null, prefix: string): Promise<SwitchyardProc[]> {
  const procs: SwitchyardProc[] = [];
  for (let i = 0; i < n; i++) {
    const port = await freePort();
    procs.push(await startSwitchyard(port, mockUrl, [], {
      nodeArgs: ['--min-semi-space-size=16'],
      config: { server: { threads: cfg.threads }, tenants: TENANTS, state: { dir: join(stateRoot, `${prefix}-${i}`), ...(redisUrl ? { redis: { url: redisUrl, key_prefix: prefix } } : {}) } },
      env: KEYS,
    }));
  }
  return procs;
}

type Load = Omit<WrkLoad, 'url' | 'connections' | 'threads' | 'seconds'> & { path: string };

/** One wrk per replica, connections split evenly, all at once; a warm-up run first. */
async function measure(setup: string, name: string, procs: SwitchyardProc[], connections: number, load: Load): Promise<Row> {
  const per = procs.map((_, i) => Math.floor(connections / procs.length) + (i < connections % procs.length ? 1 : 0));
  const run = (seconds: number) => Promise.all(procs.map((p, i) => runWrk({ ...load, url: `http://127.0.0.1:${p.port}${load.path}`, connections: Math.max(1, per[i]), threads: Math.min(cfg.wrkThreads, Math.max(1, per[i])), seconds })));
  if (cfg.warmup > 0) await run(cfg.warmup);
  const rs: WrkResult[] = await run(cfg.seconds);
  // Percentiles of the replicas' runs: the worst replica's (the client of the slowest sees that).
  const row: Row = {
    setup, case: name, connections, replicas: procs.length,
    rps_total: rs.reduce((a, r) => a + r.rps, 0), rps_per_replica: rs.map((r) => Math.round(r.rps)),
    p50_ms: Math.max(...rs.map((r) => r.p50_ms)), p99_ms: Math.max(...rs.map((r) => r.p99_ms)),
    non2xx: rs.reduce((a, r) => a + r.non2xx, 0), errors: rs.reduce((a, r) => a + r.errors, 0),
  };
  rows.push(row);
  console.log(`  ${setup.padEnd(16)} ${name.padEnd(22)} c=${String(connections).padStart(3)}  ${fmt(row.rps_total, 0).padStart(7)} req/s  p50 ${fmt(row.p50_ms)} ms  p99 ${fmt(row.p99_ms)} ms${row.non2xx || row.errors ? `  non2xx ${row.non2xx} errors ${row.errors}` : ''}`);
  return row;
}

const routeLoad: Load = { path: '/v1/route', uniquePrompt: true, headers: bearer(KEYS.SY_BENCH_FREE) };
const gatewayLoad: Load = { path: '/v1/chat/completions', uniqueTemplate: template('auto', false), headers: bearer(KEYS.SY_BENCH_FREE) };
const repeated = repeatedBodies();
const hitLoad = (key: string): Load => ({ path: '/v1/route', bodies: repeated, headers: bearer(key) });

async function suite(setup: string, procs: SwitchyardProc[]): Promise<void> {
  if (cases.has('route')) await measure(setup, 'route', procs, cfg.connections, routeLoad);
  if (cases.has('gateway')) await measure(setup, 'gateway', procs, cfg.connections, gatewayLoad);
}

/** The rate-limited request's added cost on one replica: limited key vs free key, 1 connection and --connections. */
async function rateLimitCost(setup: string, proc: SwitchyardProc): Promise<void> {
  for (const c of [1, cfg.connections]) {
    await measure(setup, 'route-hit (no limit)', [proc], c, hitLoad(KEYS.SY_BENCH_FREE));
    await measure(setup, 'route-hit (limited)', [proc], c, hitLoad(KEYS.SY_BENCH_LIMITED));
  }
}

const started = new Date();
console.log(`${commandLine('bench:replicas')}\n${started.toISOString()}  ${uptime()}\n${machine.cpu} x${machine.cores}, ${machine.mem_gib} GiB, ${machine.os}, node ${machine.node}`);
console.log(`seconds ${cfg.seconds} (warm-up ${cfg.warmup}), connections ${cfg.connections} in total, wrk threads ${cfg.wrkThreads}, server.threads ${cfg.threads} per replica\n`);

let redis: TestRedis | undefined;
const cleanup = async () => { await stopAll(); await redis?.stop().catch(() => {}); rmSync(stateRoot, { recursive: true, force: true }); };
process.on('SIGINT', () => { void cleanup().then(() => process.exit(130)); });

try {
  const mock = await startMockProc({ port: 0 });
  const mockUrl = `http://127.0.0.1:${mock.port}/v1`;
  redis = await startRedis();

  let procs = await start(1, mockUrl, null, 'embedded');
  await suite('embedded x1', procs);
  if (cases.has('rate-limit')) await rateLimitCost('embedded x1', procs[0]);
  await Promise.all(procs.map((p) => p.stop()));

  if (!v['no-local']) {
    procs = await start(3, mockUrl, null, 'local');
    await suite('local x3', procs);
    await Promise.all(procs.map((p) => p.stop()));
  }

  procs = await start(3, mockUrl, redis.url, `bench${process.pid}`);
  await suite('redis x3', procs);
  // The limiter's cost alone: one replica of the three serving (the others idle), against the embedded row above.
  if (cases.has('rate-limit')) await rateLimitCost('redis x1 of 3', procs[0]);
  await Promise.all(procs.map((p) => p.stop()));
  await mock.stop();

  console.log(`\n${formatTable(['setup', 'case', 'conns', 'req/s total', 'req/s per replica', 'p50 ms', 'p99 ms', 'non2xx', 'errors'],
    rows.map((r) => [r.setup, r.case, String(r.connections), fmt(r.rps_total, 0), r.rps_per_replica.join(' / '), fmt(r.p50_ms), fmt(r.p99_ms), String(r.non2xx), String(r.errors)]))}`);

  const find = (setup: string, c: string, conns = cfg.connections) => rows.find((r) => r.setup === setup && r.case === c && r.connections === conns);
  const ratios: Record<string, number | null> = {};
  console.log('\nThroughput per replica relative to embedded at equal total load (= total of the three / embedded; target >= 0.9):');
  for (const c of ['route', 'gateway']) {
    const e = find('embedded x1', c), r = find('redis x3', c), l = find('local x3', c);
    if (!e || !r) continue;
    ratios[`${c}_redis_over_embedded`] = r.rps_total / e.rps_total;
    console.log(`  ${c.padEnd(8)} redis x3 / embedded: ${fmt(r.rps_total / e.rps_total, 2)}  ${r.rps_total / e.rps_total >= 0.9 ? 'met' : 'MISSED'}${l ? `   (local x3 / embedded: ${fmt(l.rps_total / e.rps_total, 2)})` : ''}`);
  }
  const added: Record<string, unknown> = {};
  if (cases.has('rate-limit')) {
    console.log('\nAdded cost of a rate-limited request (limited key vs no limit, decision-cache hits):');
    for (const setup of ['embedded x1', 'redis x1 of 3']) {
      const f1 = find(setup, 'route-hit (no limit)', 1), l1 = find(setup, 'route-hit (limited)', 1);
      const fc = find(setup, 'route-hit (no limit)'), lc = find(setup, 'route-hit (limited)');
      if (!f1 || !l1 || !fc || !lc) continue;
      const p50us = (l1.p50_ms - f1.p50_ms) * 1000;
      const cpuUs = (1 / lc.rps_total - 1 / fc.rps_total) * 1e6;
      added[setup] = { p50_added_us_at_1_connection: p50us, throughput_ratio_at_connections: lc.rps_total / fc.rps_total, service_time_added_us_at_connections: cpuUs };
      console.log(`  ${setup.padEnd(14)} p50 +${fmt(p50us, 0)} µs at 1 connection; at ${cfg.connections}: ${fmt(lc.rps_total, 0)} vs ${fmt(fc.rps_total, 0)} req/s (x${fmt(lc.rps_total / fc.rps_total, 2)}, +${fmt(cpuUs, 1)} µs a request)`);
    }
  }
  const out = v.json ?? join(ROOT, 'bench/results/replicas.json');
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, JSON.stringify({ command: commandLine('bench:replicas'), date: started.toISOString(), uptime: uptime(), machine, config: cfg, rows, ratios, rate_limit_added: added }, null, 2));
  console.log(`\nJSON: ${out}`);
} finally {
  await cleanup();
}
