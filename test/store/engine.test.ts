/**
 * The store as the server holds it: engine.store opened with the server,
 * state.dir from config, and shutdown committing writes still in flight.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestServer } from '../server/helpers.ts';
import { SqliteStore } from '../../src/store/sqlite.ts';
import { DB_FILE } from '../../src/store/sqlite-open.ts';
import { row } from './contract.ts';

const dirs: string[] = [];
after(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'switchyard-engine-store-'));
  dirs.push(d);
  return d;
}

for (const threads of [1, 2]) {
  describe(`server.threads = ${threads}`, () => {
    it('engine.store lives in state.dir; shutdown commits the writes still in flight', async () => {
      const dir = join(tempDir(), 'state');
      const s = await startTestServer({ server: { threads }, state: { dir } }, { load: false });
      assert.ok(existsSync(join(dir, DB_FILE)), 'state.dir created with the database at start');
      assert.equal(s.server.engine.store.kind, 'sqlite');
      const rows = Array.from({ length: 200 }, () => row());
      await s.server.engine.store.responses.put(rows[0]);
      const puts = rows.slice(1).map((r) => s.server.engine.store.responses.put(r));
      await s.close();
      await Promise.all(puts);
      const reopened = new SqliteStore({ dir, ttlMs: 0, purgeIntervalMs: 3_600_000 });
      try {
        for (const r of rows) assert.deepEqual(await reopened.responses.get(r.org, r.id), r);
      } finally { await reopened.close(); }
    });
  });
}
