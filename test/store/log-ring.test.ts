/**
 * The activity log's shared-memory ring (src/store/log-ring.ts) and the
 * embedded store's sink on it (OrgStore.openLogSink): rows round-trip field
 * for field (UTF-8, nulls), the ring wraps without losing or reordering rows,
 * a full ring refuses and counts, a producer on another thread racing the
 * consumer loses nothing, and through the store a flushed row is readable,
 * rows from several threads' sinks all land, and the writer drains on its
 * own timer without a flush; the activity logger holds what a full ring
 * refuses (bounded) and stores it as room comes back.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { LogRing } from '../../src/store/log-ring.ts';
import { openStore } from '../../src/store/index.ts';
import { loadConfig } from '../../src/config/load.ts';
import type { ActivityRow } from '../../src/store/org-types.ts';
import { activity } from '../org/store-contract.ts';
import { ActivityLog } from '../../src/api/activity-log.ts';
import type { Engine } from '../../src/api/engine.ts';

/** The flat values a row should come back as (the activity_log INSERT's column order). */
const flat = (r: ActivityRow): unknown[] => [r.org, r.requestId, r.at, r.endpoint, r.modelRequested, r.modelSelected, r.modelExecuted, r.reason,
  r.fallbackChain, r.cluster, r.promptTokens, r.completionTokens, r.costUsd, r.latencyMs, r.status, r.cacheHit ? 1 : 0];
const rowsOf = (f: unknown[]): unknown[][] => Array.from({ length: f.length / 16 }, (_, i) => f.slice(i * 16, i * 16 + 16));

describe('LogRing', () => {
  it('a row round-trips field for field: UTF-8 strings, nulls, empty strings, fractional numbers', () => {
    const ring = LogRing.create(4096);
    const rows = [
      activity({ org: 'org_ü', requestId: 'req_✓_1', reason: 'règle « billing »', fallbackChain: 'a,b,c', costUsd: 0.000123, latencyMs: 1.234 }),
      activity({ modelRequested: null, modelSelected: null, modelExecuted: null, reason: null, cluster: null, promptTokens: null, completionTokens: null, costUsd: null, cacheHit: true, status: 503 }),
      activity({ fallbackChain: '', endpoint: '', cluster: 0, promptTokens: 0, costUsd: 0 }),
    ];
    for (const r of rows) assert.equal(ring.push(r), true);
    const out: unknown[] = [];
    const got = ring.peek(out);
    assert.equal(got.rows, 3);
    assert.deepEqual(rowsOf(out), rows.map(flat));
    ring.release(got.tail, got.rows, true);
    assert.equal(ring.written, 3);
    assert.equal(ring.peek([]).rows, 0, 'released rows are not read again');
  });

  it('wraps around many times without losing or reordering a row', () => {
    const ring = LogRing.create(4096);
    let next = 0, seen = 0;
    for (let round = 0; round < 200; round++) {
      // A varying number of rows of varying length per round, so records end at every offset.
      for (let i = 0; i < 1 + (round % 9); i++) assert.ok(ring.push(activity({ latencyMs: next++, fallbackChain: 'x'.repeat((round * 7 + i) % 90) })));
      const out: unknown[] = [];
      const got = ring.peek(out);
      for (const r of rowsOf(out)) assert.equal(r[13], seen++, 'in order, none skipped');
      ring.release(got.tail, got.rows, true);
    }
    assert.equal(seen, next);
    assert.equal(ring.dropped, 0);
  });

  it('a full ring refuses (the row is not taken); space comes back only when released; a failed store counts its rows dropped', () => {
    const ring = LogRing.create(4096);
    let pushed = 0;
    while (ring.push(activity({ latencyMs: pushed }))) pushed++;
    assert.ok(pushed > 10, `${pushed} rows fit in 4 KiB`);
    assert.equal(ring.overHalf, true);
    assert.equal(ring.dropped, 0, 'a refusal is the caller\'s to count');
    const out: unknown[] = [];
    const got = ring.peek(out, 5);
    assert.equal(got.rows, 5);
    assert.equal(ring.push(activity()), false, 'peeked but not released: still full');
    ring.release(got.tail, got.rows, false);
    assert.equal(ring.dropped, 5, 'a failed store counts its rows as dropped');
    assert.equal(ring.push(activity({ latencyMs: -1 })), true);
    // What was not peeked is still there, in order, after the refusals.
    const rest: unknown[] = [];
    ring.peek(rest);
    assert.deepEqual(rowsOf(rest).map((r) => r[13]), [...Array.from({ length: pushed - 5 }, (_, i) => i + 5), -1]);
  });

  it('peek in chunks from an earlier tail reads on without releasing', () => {
    const ring = LogRing.create(1 << 16);
    for (let i = 0; i < 50; i++) ring.push(activity({ latencyMs: i }));
    const a: unknown[] = [], b: unknown[] = [];
    const first = ring.peek(a, 20);
    const second = ring.peek(b, 100, first.tail);
    assert.deepEqual([first.rows, second.rows], [20, 30]);
    assert.equal(rowsOf(b)[0][13], 20);
    assert.equal(ring.peek([], 100).rows, 50, 'nothing released yet');
    ring.release(second.tail, 50, true);
    assert.equal(ring.written, 50);
    assert.equal(ring.peek([]).rows, 0);
  });

  it('a string beyond a length field is cut, not corrupting the record after it', () => {
    const ring = LogRing.create(1 << 20);
    ring.push(activity({ fallbackChain: 'é'.repeat(40_000) }));
    ring.push(activity({ requestId: 'after' }));
    const out: unknown[] = [];
    ring.peek(out);
    const [a, b] = rowsOf(out);
    assert.equal((a[8] as string).length, 21_844);
    assert.equal(b[1], 'after');
  });

  it('the other side is refused a buffer that is not a header plus a power of two', () => {
    assert.throws(() => new LogRing(new SharedArrayBuffer(64 + 5000)), /power-of-two/);
  });

  it('a producer thread racing the consumer: every row arrives once, in order, intact', async () => {
    const ring = LogRing.create(8192);
    const N = 20_000;
    const w = new Worker(new URL('../../src/worker/bootstrap.mjs', import.meta.url), {
      workerData: { entry: new URL('./fixtures/ring-producer.ts', import.meta.url).href, sab: ring.sab, rows: N },
    });
    const done = new Promise<number>((resolve, reject) => { w.once('message', resolve); w.once('error', reject); });
    let seen = 0;
    let finished = false;
    void done.then(() => { finished = true; });
    while (seen < N) {
      const out: unknown[] = [];
      const got = ring.peek(out, 300);
      for (const r of rowsOf(out)) {
        const i = seen++;
        assert.equal(r[13], i);
        assert.equal(r[1], `req_é_${i}`);
        assert.equal(r[0], i % 3 === 0 ? 'org_ü' : 'org_a');
        assert.equal(r[8], 'm1'.repeat(i % 7));
        assert.equal(r[9], i % 4 ? i % 100 : null);
        assert.equal(r[12], i % 3 ? i / 1e6 : null);
      }
      ring.release(got.tail, got.rows, true);
      if (got.rows === 0) { if (finished && ring.peek([]).rows === 0 && seen < N) break; await sleep(1); }
    }
    assert.equal(seen, N);
    await done;
    await w.terminate();
  });
});

describe('the embedded store\'s log sink', () => {
  const dirs: string[] = [];
  after(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });
  const config = () => {
    const dir = mkdtempSync(join(tmpdir(), 'sy-ring-'));
    dirs.push(dir);
    return loadConfig({ env: {}, overrides: { state: { dir } } });
  };

  it('flush(): what was pushed is committed and readable, by window and by request id', async () => {
    const s = openStore(config());
    try {
      const sink = s.org.openLogSink!(60_000);
      const rows = Array.from({ length: 1200 }, (_, i) => activity({ org: 'org_sink', latencyMs: i, at: 1_000 + i }));
      for (const r of rows) assert.ok(sink.push(r));
      await sink.flush();
      assert.equal(sink.written, 1200);
      const got = await s.org.logs('org_sink', { limit: 2000 });
      assert.equal(got.length, 1200);
      assert.deepEqual(got.map((r) => r.latencyMs), rows.map((r) => r.latencyMs));
      assert.equal((await s.org.logByRequest('org_sink', rows[700].requestId))?.latencyMs, 700);
      await sink.close();
    } finally { await s.close(); }
  });

  it('without a flush, the writer drains on its own timer (flush_ms)', async () => {
    const s = openStore(config());
    try {
      const sink = s.org.openLogSink!(50);
      sink.push(activity({ org: 'org_timer', requestId: 'req_timer' }));
      const end = Date.now() + 10_000;
      while (Date.now() < end && (await s.org.logByRequest('org_timer', 'req_timer')) === undefined) await sleep(20);
      assert.ok(await s.org.logByRequest('org_timer', 'req_timer'), 'drained without a flush');
      await sink.close();
    } finally { await s.close(); }
  });

  it('several sinks (one per HTTP thread) on one store: every row lands; closing the store commits what the rings hold', async () => {
    const c = config();
    const s = openStore(c);
    const sinks = [0, 1, 2].map(() => s.org.openLogSink!(60_000));
    for (let i = 0; i < 900; i++) sinks[i % 3].push(activity({ org: 'org_many', latencyMs: i }));
    await sinks[0].flush();
    await s.close();
    const again = openStore(c);
    try {
      const got = await again.org.logs('org_many', { limit: 2000 });
      assert.equal(got.length, 900);
      assert.deepEqual(got.map((r) => r.latencyMs).sort((a, b) => a - b), Array.from({ length: 900 }, (_, i) => i));
    } finally { await again.close(); }
  });
});

describe('ActivityLog over a sink that runs out of room', () => {
  /** A sink holding at most `room` rows until flush() stores them (a ring whose writer is behind). */
  function fakeEngine(room: number) {
    const stored: ActivityRow[] = [];
    let held: ActivityRow[] = [];
    let refusals = 0;
    const sink = {
      push(r: ActivityRow) { if (held.length >= room) { refusals++; return false; } held.push(r); return true; },
      async flush() { await sleep(1); stored.push(...held); held = []; },
      async close() { await this.flush(); },
      get written() { return stored.length; },
      dropped: 0,
    };
    const engine = {
      config: { state: { logs: { enabled: true, retention_days: 0, flush_ms: 60_000 }, purge_interval_ms: 60_000 } },
      store: { org: { openLogSink: () => sink, appendLogs: () => assert.fail('the sink path never batches'), purgeLogs: async () => 0 } },
    };
    return { engine: engine as unknown as Engine, stored, refusals: () => refusals };
  }

  it('rows the sink refuses are held and go in as it makes room; flush() waits until all are stored, in order', async () => {
    const { engine, stored, refusals } = fakeEngine(100);
    const log = new ActivityLog(engine);
    for (let i = 0; i < 1_000; i++) log.push(activity({ latencyMs: i }));
    assert.ok(refusals() > 0, 'the sink ran out of room');
    await log.flush();
    assert.deepEqual(stored.map((r) => r.latencyMs), Array.from({ length: 1_000 }, (_, i) => i));
    assert.equal(log.droppedRows, 0);
    assert.equal(log.writtenRows, 1_000);
    await log.close();
  });

  it('beyond the overflow bound (50,000 rows) rows are dropped and counted, never grown without limit', async () => {
    const { engine, stored } = fakeEngine(0);
    const log = new ActivityLog(engine);
    for (let i = 0; i < 50_010; i++) log.push(activity());
    assert.equal(log.droppedRows, 10);
    await log.close();
    assert.equal(stored.length, 0, 'a sink with no room stores nothing');
    assert.equal(log.droppedRows, 50_010, 'what was still held when closing is counted lost');
  });
});
