/**
 * node --import tsx bench/store.ts [-- --time MS --json FILE]
 *
 * How the SQLite store's writes should leave the request path, decided here
 * by measurement. Two designs, each behind the same put(): resolves after the
 * COMMIT holding the row.
 *
 * - writer thread (what src/store/ ships): the row is posted to one writer
 *   thread per process (sqlite-writer.ts), which group-commits whatever
 *   arrived during the previous commit;
 * - inline group commit: the calling thread queues the row and commits the
 *   queue itself on the next setImmediate, on its own connection. With several
 *   HTTP threads each has its own write connection and they take turns on
 *   SQLite's write lock (busy_timeout).
 *
 * For each: puts/s and put latency (call to resolve) p50/p99, and what the
 * calling thread (the HTTP thread, which serves every other request too)
 * pays: its event-loop utilisation and its event-loop delay p99 (how long a
 * request arriving meanwhile could wait). Rows of ~2 KB (a typical stored
 * response with its input and messages). Each scenario starts on an empty
 * database in a fresh temp directory.
 *
 * Decision (run of 2026-12-05 08:42 UTC, 2 cores shared with other jobs,
 * load average 11-16; the table is in the README's "State" section): the
 * writer thread. Throughput is alike (7.9k vs 6.4k puts/s on one thread,
 * 17.1k vs 17.9k on two), but committing inline costs the calling thread
 * 8-13x the time per put (12-14 vs 111-155 µs at 32-64 in flight) and, with
 * two threads taking turns on the write lock, its event loop stalls (loop
 * delay p99 111 ms vs 6 ms): every other request on that thread waits.
 * Writes from several HTTP threads therefore go to the one writer thread too.
 * JSON: bench/results/store.json (or --json FILE).
 */
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, loadavg, cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import type Database from 'better-sqlite3';
import { SqliteStore } from '../src/store/sqlite.ts';
import { openDatabase } from '../src/store/sqlite-open.ts';
import type { StoredResponse } from '../src/store/types.ts';
import { formatTable, fmt } from './lib/table.ts';

type Mode = 'writer' | 'inline' | 'inline-full';

/** The alternative under test: group commit on the calling thread. */
class InlineGroupCommit {
  private readonly db: Database.Database;
  private readonly stmt: Database.Statement;
  private queue: { row: StoredResponse; resolve: () => void; reject: (e: Error) => void }[] = [];
  private scheduled = false;
  private readonly tx: Database.Transaction<(rows: StoredResponse[]) => void>;

  constructor(dir: string, full: boolean) {
    this.db = openDatabase(dir, { migrate: true, readOnly: false });
    if (full) this.db.pragma('synchronous = FULL');
    this.stmt = this.db.prepare(`INSERT INTO responses (org, id, created_at, previous_response_id, response, input_items, messages)
      VALUES (@org, @id, @createdAt, @previousResponseId, @response, @inputItems, @messages)`);
    this.tx = this.db.transaction((rows: StoredResponse[]) => { for (const r of rows) this.stmt.run(r); });
  }

  put(row: StoredResponse): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ row, resolve, reject });
      if (!this.scheduled) { this.scheduled = true; setImmediate(() => this.flush()); }
    });
  }

  private flush(): void {
    this.scheduled = false;
    const batch = this.queue;
    this.queue = [];
    try {
      this.tx.immediate(batch.map((b) => b.row));
      for (const b of batch) b.resolve();
    } catch (e) {
      for (const b of batch) b.reject(e as Error);
    }
  }

  close(): void { this.db.close(); }
}

const BODY = JSON.stringify({ object: 'response', output: [{ type: 'message', content: [{ type: 'output_text', text: 'lorem ipsum dolor sit amet '.repeat(40) }] }] });
const INPUT = JSON.stringify([{ type: 'message', role: 'user', content: [{ type: 'input_text', text: 'consectetur adipiscing elit '.repeat(12) }] }]);
const MESSAGES = JSON.stringify([{ role: 'user', content: 'consectetur adipiscing elit '.repeat(12) }, { role: 'assistant', content: 'lorem ipsum dolor sit amet '.repeat(40) }]);

function makeRow(tag: string, i: number): StoredResponse {
  return { id: `resp_${tag}_${i}`, org: 'default', createdAt: Math.floor(Date.now() / 1000), previousResponseId: null, response: BODY, inputItems: INPUT, messages: MESSAGES };
}

interface Driven { latenciesMs: number[]; puts: number; errors: number; seconds: number; elu: number; busyMs: number; loopDelayP99Ms: number }

/** `lanes` concurrent put loops for `timeMs`, as `lanes` in-flight requests would. */
async function drive(put: (r: StoredResponse) => Promise<void>, lanes: number, timeMs: number, tag: string): Promise<Driven> {
  const latenciesMs: number[] = [];
  let puts = 0, errors = 0, n = 0;
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  const elu0 = performance.eventLoopUtilization();
  const t0 = performance.now();
  const end = t0 + timeMs;
  await Promise.all(Array.from({ length: lanes }, async () => {
    while (performance.now() < end) {
      const s = performance.now();
      try { await put(makeRow(tag, n++)); puts++; latenciesMs.push(performance.now() - s); } catch { errors++; }
    }
  }));
  const seconds = (performance.now() - t0) / 1000;
  const u = performance.eventLoopUtilization(elu0);
  h.disable();
  return { latenciesMs, puts, errors, seconds, elu: u.utilization, busyMs: u.active, loopDelayP99Ms: h.percentile(99) / 1e6 };
}

function pct(sorted: number[], p: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] : NaN;
}

// ---- worker side: one simulated HTTP thread ----------------------------------
if (!isMainThread && workerData?.bench) {
  const { dir, mode, lanes, timeMs, tag } = workerData as { dir: string; mode: Mode; lanes: number; timeMs: number; tag: string };
  let put: (r: StoredResponse) => Promise<void>;
  let close: () => Promise<void>;
  if (mode === 'writer') {
    const s = new SqliteStore({ dir, ttlMs: 0, purgeIntervalMs: 3_600_000 });
    put = (r) => s.responses.put(r);
    close = () => s.close();
  } else {
    const g = new InlineGroupCommit(dir, mode === 'inline-full');
    put = (r) => g.put(r);
    close = async () => g.close();
  }
  // Warm-up: the writer's hello, the statement caches.
  for (let i = 0; i < 20; i++) await put(makeRow(`${tag}w`, i));
  parentPort!.postMessage({ ev: 'warm' });
  await new Promise((resolve) => parentPort!.once('message', resolve));
  const d = await drive(put, lanes, timeMs, tag);
  await close();
  parentPort!.postMessage({ ev: 'done', d });
} else if (isMainThread) {
  const { values } = parseArgs({ options: { time: { type: 'string' }, json: { type: 'string' } } });
  const timeMs = Number(values.time ?? 2000);
  const jsonPath = values.json ?? join(dirname(new URL(import.meta.url).pathname), 'results/store.json');
  const BOOTSTRAP = new URL('../src/worker/bootstrap.mjs', import.meta.url);

  interface Scenario { name: string; mode: Mode; threads: number; lanes: number }
  const scenarios: Scenario[] = [
    { name: 'writer thread, 1 lane', mode: 'writer', threads: 1, lanes: 1 },
    { name: 'inline, 1 lane', mode: 'inline', threads: 1, lanes: 1 },
    { name: 'writer thread, 64 lanes', mode: 'writer', threads: 1, lanes: 64 },
    { name: 'inline, 64 lanes', mode: 'inline', threads: 1, lanes: 64 },
    { name: 'inline synchronous=FULL, 64 lanes', mode: 'inline-full', threads: 1, lanes: 64 },
    { name: '2 threads -> 1 writer thread, 32 lanes each', mode: 'writer', threads: 2, lanes: 32 },
    { name: '2 threads inline (own connection, busy_timeout), 32 lanes each', mode: 'inline', threads: 2, lanes: 32 },
  ];

  const results = [];
  for (const [i, sc] of scenarios.entries()) {
    const dir = mkdtempSync(join(tmpdir(), 'switchyard-bench-store-'));
    try {
      // The owner (as the server's main thread is) when writes go to the writer thread.
      const owner = sc.mode === 'writer' ? new SqliteStore({ dir, ttlMs: 0, purgeIntervalMs: 3_600_000 }) : undefined;
      if (owner) await owner.responses.put(makeRow('start', 0)); // start the writer thread outside the timing
      let runs: Driven[];
      if (sc.threads === 1 && owner) {
        for (let w = 0; w < 20; w++) await owner.responses.put(makeRow('w', w));
        runs = [await drive((r) => owner.responses.put(r), sc.lanes, timeMs, `s${i}`)];
      } else if (sc.threads === 1) {
        const g = new InlineGroupCommit(dir, sc.mode === 'inline-full');
        for (let w = 0; w < 20; w++) await g.put(makeRow('w', w));
        runs = [await drive((r) => g.put(r), sc.lanes, timeMs, `s${i}`)];
        g.close();
      } else {
        const workers = Array.from({ length: sc.threads }, (_, k) => new Worker(BOOTSTRAP, { workerData: { bench: true, entry: import.meta.url, dir, mode: sc.mode, lanes: sc.lanes, timeMs, tag: `s${i}t${k}` } }));
        const next = (w: Worker, ev: string) => new Promise<any>((resolve, reject) => {
          const on = (m: any) => { if (m.ev === ev) { w.off('message', on); resolve(m); } };
          w.on('message', on);
          w.once('error', reject);
        });
        // Listened for now: a thread can be gone before its last message is handled here.
        const exits = workers.map((w) => new Promise((resolve) => { w.once('exit', resolve); }));
        await Promise.all(workers.map((w) => next(w, 'warm')));
        const done = workers.map((w) => next(w, 'done'));
        for (const w of workers) w.postMessage('go');
        runs = (await Promise.all(done)).map((m) => m.d as Driven);
        await Promise.all(exits);
      }
      await owner?.close();
      const lat = runs.flatMap((r) => r.latenciesMs).sort((a, b) => a - b);
      const seconds = Math.max(...runs.map((r) => r.seconds));
      const puts = runs.reduce((a, r) => a + r.puts, 0);
      results.push({
        scenario: sc.name, mode: sc.mode, threads: sc.threads, lanesPerThread: sc.lanes,
        puts, errors: runs.reduce((a, r) => a + r.errors, 0), putsPerSec: puts / seconds,
        p50Ms: pct(lat, 50), p99Ms: pct(lat, 99),
        callerElu: Math.max(...runs.map((r) => r.elu)),
        // What the HTTP thread pays per stored response: its loop's busy time over its puts.
        callerBusyUsPerPut: (runs.reduce((a, r) => a + r.busyMs, 0) * 1000) / Math.max(1, puts), callerLoopDelayP99Ms: Math.max(...runs.map((r) => r.loopDelayP99Ms)),
      });
      process.stderr.write(`done: ${sc.name}\n`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  // Reads: GET /v1/responses/{id} is one primary-key lookup on the HTTP thread's own connection.
  const readDir = mkdtempSync(join(tmpdir(), 'switchyard-bench-store-'));
  let reads: { rows: number; gets: number; p50Us: number; p99Us: number; missP50Us: number };
  try {
    const s = new SqliteStore({ dir: readDir, ttlMs: 30 * 24 * 3600_000, purgeIntervalMs: 3_600_000 });
    const rows = 20_000;
    await Promise.all(Array.from({ length: rows }, (_, i) => s.responses.put(makeRow('r', i))));
    const hit: number[] = [], miss: number[] = [];
    for (let i = 0; i < 50_000; i++) {
      const id = `resp_r_${(i * 7919) % rows}`;
      const t = performance.now();
      const r = await s.responses.get('default', id);
      hit.push(performance.now() - t);
      if (!r) throw new Error(`missing ${id}`);
    }
    for (let i = 0; i < 10_000; i++) {
      const t = performance.now();
      await s.responses.get('default', `resp_none_${i}`);
      miss.push(performance.now() - t);
    }
    await s.close();
    hit.sort((a, b) => a - b);
    miss.sort((a, b) => a - b);
    reads = { rows, gets: hit.length, p50Us: pct(hit, 50) * 1000, p99Us: pct(hit, 99) * 1000, missP50Us: pct(miss, 50) * 1000 };
  } finally {
    rmSync(readDir, { recursive: true, force: true });
  }

  const header = ['scenario', 'puts/s', 'p50 ms', 'p99 ms', 'caller ELU', 'caller busy µs/put', 'caller loop delay p99 ms', 'errors'];
  console.log(formatTable(header, results.map((r) => [r.scenario, fmt(r.putsPerSec, 0), fmt(r.p50Ms), fmt(r.p99Ms), fmt(r.callerElu, 2), fmt(r.callerBusyUsPerPut, 1), fmt(r.callerLoopDelayP99Ms, 2), String(r.errors)])));
  console.log(`\nget (2 KB rows, ${reads.rows} in the table, awaited): p50 ${fmt(reads.p50Us, 1)} µs, p99 ${fmt(reads.p99Us, 1)} µs; unknown id p50 ${fmt(reads.missP50Us, 1)} µs`);
  const out = { date: new Date().toISOString(), timeMs, loadavg: loadavg(), cpus: cpus().length, node: process.version, results, reads };
  console.log(JSON.stringify(out));
  mkdirSync(dirname(jsonPath), { recursive: true });
  writeFileSync(jsonPath, `${JSON.stringify(out, null, 2)}\n`);
}
