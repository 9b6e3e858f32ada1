/** The rule-routing store contract (store-contract.ts) on the embedded SQLite store, and its expiry. */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import Database from 'better-sqlite3';
import { DB_FILE } from '../../src/store/sqlite-open.ts';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStore } from '../../src/store/sqlite.ts';
import { routingStoreContract } from './store-contract.ts';

const dir = mkdtempSync(join(tmpdir(), 'switchyard-routing-store-'));
after(() => rmSync(dir, { recursive: true, force: true }));
routingStoreContract('sqlite', () => new SqliteStore({ dir, ttlMs: 0, purgeIntervalMs: 60_000 }));

describe('expiry (state.responses.ttl_days)', () => {
  it('expired decisions and session messages are never read, and are deleted as new ones arrive', async () => {
    const ttlDir = mkdtempSync(join(tmpdir(), 'switchyard-routing-ttl-'));
    const s = new SqliteStore({ dir: ttlDir, ttlMs: 60_000, purgeIntervalMs: 60_000 });
    try {
      const now = Date.now(), old = now - 120_000;
      const oldId = randomUUID(), newId = randomUUID(), sid = randomUUID();
      await s.routeDecisions.put({ id: oldId, org: 'o', createdAt: old, decision: '{}' });
      await s.sessions.append('o', sid, [{ role: 'user', content: 'old', tokens: 1 }], old, 100);
      assert.equal(await s.routeDecisions.get('o', oldId), undefined);
      assert.deepEqual(await s.sessions.recent('o', sid, 100), []);
      const raw = new Database(join(ttlDir, DB_FILE), { readonly: true });
      const count = (t: string) => (raw.prepare(`SELECT count(*) AS n FROM ${t}`).get() as { n: number }).n;
      assert.equal(count('route_decisions'), 1, 'still on disk until the next write');
      await s.routeDecisions.put({ id: newId, org: 'o', createdAt: now, decision: '{}' });
      await s.sessions.append('o', sid, [{ role: 'user', content: 'new', tokens: 1 }], now, 100);
      assert.equal(count('route_decisions'), 1);
      assert.equal(count('session_messages'), 1);
      assert.ok(await s.routeDecisions.get('o', newId));
      assert.deepEqual((await s.sessions.recent('o', sid, 100)).map((m) => m.content), ['new']);
      raw.close();
    } finally {
      await s.close();
      rmSync(ttlDir, { recursive: true, force: true });
    }
  });
});
