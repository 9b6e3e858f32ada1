/**
 * node --import tsx bench/route-logging.ts [requests] [rounds]
 *
 * What the activity log costs POST /v1/route, in process, without HTTP: the
 * handler (src/api/route.ts handleRoute, the function the edge calls) run on
 * `requests` prompts per round with the log off, then on, alternated for
 * `rounds` rounds; each round reports the process CPU per request over every
 * thread (the handler on this one, the store's writer thread committing the
 * rows on another). Two workloads: unique prompts (decision-cache misses:
 * embed + route) and one repeated prompt (decision-cache hits, the cheapest
 * request, where a row's cost is the largest share).
 *
 * The log is switched by subscribing / unsubscribing the thread's subscriber
 * (what state.logs.enabled decides at start), so both halves run the same
 * Engine, profile and warm JIT. The rows are flushed (committed) inside the
 * measured interval of the "on" rounds.
 *
 * Not a throughput benchmark: one thread, no sockets. Read the difference
 * between on and off per request against the request's own CPU.
 */
import diagnostics_channel from 'node:diagnostics_channel';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../src/config/load.ts';
import { Engine } from '../src/api/engine.ts';
import { handleRoute } from '../src/api/route.ts';
import { activityLogOf, closeActivityLog, startActivityLog } from '../src/api/activity-log.ts';
import { CHANNEL_NAMES } from '../src/diagnostics.ts';

const N = Number(process.argv[2] ?? 20_000);
const ROUNDS = Number(process.argv[3] ?? 3);

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-bench-routelog-'));
  const engine = new Engine(loadConfig({ env: {}, overrides: { state: { dir } } }));
  await engine.load();
  startActivityLog(engine);
  // The subscriber startActivityLog installed: found by subscribing nothing else and reading it back is not possible, so toggle ours.
  const ch = diagnostics_channel.channel(CHANNEL_NAMES.orgRequest);
  const listeners = (ch as unknown as { _subscribers: ((m: unknown) => void)[] })._subscribers.slice();
  const off = () => { for (const l of listeners) ch.unsubscribe(l); };
  const on = () => { for (const l of listeners) ch.subscribe(l); };
  const words = ['alpha', 'proof', 'integral', 'poem', 'python', 'history', 'river', 'market', 'protein', 'orbit'];
  const prompts = Array.from({ length: N }, (_, i) => Buffer.from(JSON.stringify({ prompt: `Explain ${words[i % 10]} ${words[(i * 7) % 10]} case ${i} in a few lines.` })));
  const same = Buffer.from(JSON.stringify({ prompt: 'Explain the orbit of the moon in a few lines.' }));
  let id = 0;
  const run = async (bodies: (i: number) => Buffer, logged: boolean): Promise<number> => {
    (logged ? on : off)();
    const c0 = process.cpuUsage();
    for (let i = 0; i < N; i++) {
      const r = handleRoute(bodies(i), engine, 'application/json', '', 'org_bench', `req_bench_${++id}`);
      if (r instanceof Promise) await r;
      if (i % 2000 === 1999) await new Promise((res) => setImmediate(res));
    }
    if (logged) await activityLogOf(engine)?.flush();
    const c = process.cpuUsage(c0);
    return (c.user + c.system) / N;
  };
  // Warm-up: JIT, the organisation's compiled state, the writer thread, the decision cache for `same`.
  await run((i) => prompts[i], true);
  await run(() => same, false);
  const out: Record<string, { off: number[]; on: number[] }> = { unique: { off: [], on: [] }, cache_hit: { off: [], on: [] } };
  for (let k = 0; k < ROUNDS; k++) {
    // Unique prompts would hit the decision cache after the first round: give each round its own prompts.
    const salt = `r${k} `;
    const fresh = prompts.map((p) => Buffer.from(p.toString().replace('Explain', `${salt}Explain`)));
    const fresh2 = prompts.map((p) => Buffer.from(p.toString().replace('Explain', `${salt}x Explain`)));
    out.unique.off.push(await run((i) => fresh[i], false));
    out.unique.on.push(await run((i) => fresh2[i], true));
    out.cache_hit.off.push(await run(() => same, false));
    out.cache_hit.on.push(await run(() => same, true));
  }
  const med = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
  const rows = Object.entries(out).map(([w, v]) => ({ workload: w, cpu_us_off: +med(v.off).toFixed(2), cpu_us_on: +med(v.on).toFixed(2), added_us: +(med(v.on) - med(v.off)).toFixed(2), on_over_off: +(med(v.on) / med(v.off)).toFixed(3) }));
  console.table(rows);
  console.log(JSON.stringify({ requests: N, rounds: ROUNDS, rows, written: activityLogOf(engine)?.writtenRows, dropped: activityLogOf(engine)?.droppedRows }));
  on();
  await closeActivityLog(engine);
  await engine.close();
  rmSync(dir, { recursive: true, force: true });
}
void main();
