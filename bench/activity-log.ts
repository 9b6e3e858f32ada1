/**
 * node --import tsx bench/activity-log.ts [rows]
 *
 * What the activity log (src/api/activity-log.ts) costs per routed request,
 * in process, without HTTP: `rows` rows (default 100,000, after 20,000 of
 * warm-up that also start the store's writer thread) published the way the
 * handlers publish them, buffered, posted to the writer in batches of 500
 * and committed. Prints the publishing thread's wall time per row (it yields
 * every 5,000 rows, so the writer's work on the other core overlaps) and the
 * process CPU per row over every thread (publish + structured clone both
 * ways + SQLite insert with three indexes + commit). Compare the CPU per row
 * with the gateway's own CPU per request (README, bench:gateway: 65 µs JSON
 * on the 2026-11-23 machine) to read the share of throughput logging costs
 * when the server is CPU-bound.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../src/config/load.ts';
import { Engine } from '../src/api/engine.ts';
import { activityLogOf, closeActivityLog, logRequest, startActivityLog } from '../src/api/activity-log.ts';

async function main(): Promise<void> {
  const N = Number(process.argv[2] ?? 100_000);
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-bench-log-'));
  const engine = new Engine(loadConfig({ env: {}, overrides: { state: { dir } } }));
  startActivityLog(engine);
  const meta = { org: 'org_a', requestId: 'req_0123456789ab1' };
  const chain = [{ model: 'gpt-4-1106-preview' }];
  const one = (t0: number) => logRequest(engine, meta, {
    endpoint: '/v1/chat/completions', requested: 'auto', selected: 'gpt-4-1106-preview', executed: 'gpt-4-1106-preview', reason: 'routed',
    chain, cluster: 7, usage: { prompt_tokens: 12, completion_tokens: 30 }, costUsd: 0.0012, status: 200, cacheHit: false, t0,
  });
  for (let i = 0; i < 20_000; i++) one(0);
  await activityLogOf(engine)!.flush();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < N; i++) {
    one(t0);
    if (i % 5000 === 4999) await new Promise((r) => setImmediate(r));
  }
  const publishUs = ((performance.now() - t0) * 1000) / N;
  await closeActivityLog(engine);
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const out = { rows: N, publish_wall_us_per_row: +publishUs.toFixed(3), total_wall_ms: Math.round(wallMs), cpu_us_per_row_all_threads: +((cpu.user + cpu.system) / N).toFixed(2), written: activityLogOf(engine)?.writtenRows ?? N };
  console.log(JSON.stringify(out));
  await engine.close();
  rmSync(dir, { recursive: true, force: true });
}
void main();
