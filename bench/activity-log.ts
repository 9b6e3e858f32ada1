/**
 * node --import tsx bench/activity-log.ts [rows]
 *
 * What the activity log (src/api/activity-log.ts) costs per routed request,
 * in process, without HTTP: `rows` rows (default 100,000, after 20,000 of
 * warm-up that also start the store's writer thread) published the way the
 * handlers publish them and committed by the embedded store (its shared-memory
 * ring, drained by the writer thread; src/store/log-ring.ts), paced at 200
 * rows a millisecond at most. Prints the publishing thread's wall time per row
 * (the pauses excluded), the process CPU per row over every thread (publish,
 * encode, decode, SQLite insert with two indexes, commit) and the rows
 * written and dropped. Compare the CPU per row with the gateway's own CPU per
 * request (bench:gateway, --only logging prints it) to read the share of
 * throughput logging costs when the server is CPU-bound.
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
  // Request ids as the server makes them (src/edge/registry.ts): a per-thread prefix and a counter, so the
  // writer's (org, request_id) index sees distinct keys, as it does in production.
  let id = 0;
  const chain = [{ model: 'gpt-4-1106-preview' }];
  const one = (t0: number) => logRequest(engine, { org: 'org_a', requestId: `req_0123456789ab${(++id).toString(36)}` }, {
    endpoint: '/v1/chat/completions', requested: 'auto', selected: 'gpt-4-1106-preview', executed: 'gpt-4-1106-preview', reason: 'routed',
    chain, cluster: 7, usage: { prompt_tokens: 12, completion_tokens: 30 }, costUsd: 0.0012, status: 200, cacheHit: false, t0,
  });
  for (let i = 0; i < 20_000; i++) one(0);
  await activityLogOf(engine)!.flush();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  // Paced: 200 rows, then a 1 ms timer (<= ~180,000 rows a second, several times what one HTTP thread serves),
  // so the writer keeps up as it does under real load and no row is dropped (the output says if any was).
  let busyMs = 0, from = performance.now();
  for (let i = 0; i < N; i++) {
    one(t0);
    if (i % 200 === 199) { busyMs += performance.now() - from; await new Promise((r) => setTimeout(r, 1)); from = performance.now(); }
  }
  busyMs += performance.now() - from;
  const publishUs = (busyMs * 1000) / N;
  const log = activityLogOf(engine)!;
  await closeActivityLog(engine);
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const out = { rows: N, publish_wall_us_per_row: +publishUs.toFixed(3), total_wall_ms: Math.round(wallMs), cpu_us_per_row_all_threads: +((cpu.user + cpu.system) / N).toFixed(2), written: log.writtenRows, dropped: log.droppedRows };
  console.log(JSON.stringify(out));
  await engine.close();
  rmSync(dir, { recursive: true, force: true });
}
void main();
