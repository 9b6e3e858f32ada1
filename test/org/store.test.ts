/** The OrgStore contract (store-contract.ts) on the embedded SQLite store, and the task memory's search. */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStore } from '../../src/store/sqlite.ts';
import { TaskMemory } from '../../src/routing/task-memory.ts';
import { orgStoreContract } from './store-contract.ts';

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
