/** The OrgStore contract (store-contract.ts) on the embedded SQLite store, and the task memory's search. */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStore } from '../../src/store/sqlite.ts';
import { TaskMemory } from '../../src/routing/task-memory.ts';
import Database from 'better-sqlite3';
import { activity, orgStoreContract } from './store-contract.ts';
import { dbPath } from '../../src/store/sqlite-open.ts';

const dir = mkdtempSync(join(tmpdir(), 'switchyard-org-store-'));
after(() => rmSync(dir, { recursive: true, force: true }));
orgStoreContract('sqlite', () => new SqliteStore({ dir, ttlMs: 0, purgeIntervalMs: 60_000 }));

const unit = (...xs: number[]) => { const v = new Float32Array(xs); const n = Math.hypot(...xs); return v.map((x) => x / n); };

describe('TaskMemory', () => {
  it('the k nearest above the threshold vote by similarity; below it nothing answers; full memory refuses', () => {
    const m = new TaskMemory(3, { threshold: 0.8, k: 3, capacity: 4 });
    assert.ok(m.add(unit(1, 0, 0), 'code'));
    assert.ok(m.add(unit(1, 0.1, 0), 'code'));
    assert.ok(m.add(unit(1, 0.2, 0), 'math'));
    assert.ok(m.add(unit(0, 1, 0), 'text'));
    assert.equal(m.add(unit(0, 0, 1), 'x'), false);
    const hit = m.lookup(unit(1, 0.05, 0))!;
    assert.equal(hit.task, 'code');
    assert.equal(hit.neighbours, 3);
    assert.ok(hit.confidence > 0.6 && hit.confidence < 0.7, String(hit.confidence));
    assert.ok(hit.similarity > 0.99);
    assert.equal(m.lookup(unit(0, 0, 1)), undefined);
    // Only the one neighbour above the threshold votes.
    const t = m.lookup(unit(0.1, 1, 0))!;
    assert.deepEqual([t.task, t.neighbours, t.confidence], ['text', 1, 1]);
  });
});

describe('SQLite activity log writes (multi-row inserts, migration 4)', () => {
  it('a batch of 123 rows (two 50-row statements, then 23 single rows) round-trips field for field, in order', async () => {
    const d = mkdtempSync(join(tmpdir(), 'switchyard-org-log-'));
    try {
      const s = new SqliteStore({ dir: d, ttlMs: 0, purgeIntervalMs: 60_000 });
      const t = Date.now();
      const rows = Array.from({ length: 123 }, (_, i) => activity({
        org: 'org_m', at: t + i, cluster: i % 7 === 0 ? null : i, costUsd: i % 5 === 0 ? null : i / 1000, cacheHit: i % 2 === 0,
        requestId: `req_multi_${i}`, fallbackChain: i % 3 === 0 ? 'a,"b"' : 'm1', modelRequested: i === 4 ? 'ünïcode \u2028 model' : 'auto',
      }));
      await s.org.appendLogs(rows);
      const got = await s.org.logs('org_m', { limit: 1000 });
      assert.deepEqual(got.map(({ seq: _s, ...r }) => r), rows);
      await s.close();
      // Migration 4: the (at) index is gone, the two the reads use remain.
      const db = new Database(dbPath(d), { readonly: true });
      const idx = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'activity_log'").all() as { name: string }[]).map((r) => r.name).sort();
      db.close();
      assert.deepEqual(idx, ['activity_log_by_org', 'activity_log_by_request']);
    } finally { rmSync(d, { recursive: true, force: true }); }
  });

  it('retention walks the oldest rows by seq: everything older than the cut goes, chunk after chunk, younger rows stay', async () => {
    const d = mkdtempSync(join(tmpdir(), 'switchyard-org-purge-'));
    try {
      const s = new SqliteStore({ dir: d, ttlMs: 0, purgeIntervalMs: 60_000 });
      const t = 1_700_000_000_000;
      // 12,000 old rows (more than two purge chunks of 5,000), then 10 young ones.
      for (let b = 0; b < 24; b++) await s.org.appendLogs(Array.from({ length: 500 }, (_, i) => activity({ org: 'org_p', at: t + b * 500 + i })));
      await s.org.appendLogs(Array.from({ length: 10 }, (_, i) => activity({ org: 'org_p', at: t + 1e9 + i })));
      assert.equal(await s.org.purgeLogs(t + 1e8), 12_000);
      const left = await s.org.logs('org_p', { limit: 100 });
      assert.deepEqual(left.map((r) => r.at), Array.from({ length: 10 }, (_, i) => t + 1e9 + i));
      assert.equal(await s.org.purgeLogs(t + 1e8), 0, 'nothing left to purge');
      await s.close();
    } finally { rmSync(d, { recursive: true, force: true }); }
  });
});
