/**
 * SqliteSessions.recent reads a session newest first and stops at the token
 * budget: the rows past the budget are never fetched from SQLite. A long
 * session of large messages (up to routing.sessions.max_messages rows of up
 * to limits.input_chars each) must not be read whole on every call to keep a
 * few thousand tokens of it.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase } from '../../src/store/sqlite-open.ts';
import { routingWriter } from '../../src/store/sqlite-routing-ops.ts';
import { SqliteSessions } from '../../src/store/sqlite-routing.ts';
import type { WriterLink } from '../../src/store/sqlite-link.ts';

const dir = mkdtempSync(join(tmpdir(), 'switchyard-session-read-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('session history read', () => {
  it('fetches only the rows the budget keeps (plus the one that crosses it)', async () => {
    const db = openDatabase(dir, { migrate: true, readOnly: false });
    try {
      const apply = routingWriter(db);
      const messages = Array.from({ length: 150 }, (_, i) => ({ role: i % 2 ? 'assistant' : 'user', content: `message ${i} ${'x'.repeat(2000)}`, tokens: 100 }));
      apply({ op: 'session_append', org: 'default', sessionId: 's', messages, at: Date.now(), keep: 1000 });

      // Count the rows SQLite hands to JavaScript, whichever way the statement is run.
      let fetched = 0;
      const prepare = db.prepare.bind(db);
      (db as any).prepare = (sql: string) => {
        const st = prepare(sql) as any;
        const all = st.all.bind(st), iterate = st.iterate.bind(st);
        st.all = (...a: unknown[]) => { const rows = all(...a); fetched += rows.length; return rows; };
        st.iterate = function* (...a: unknown[]) { for (const r of iterate(...a)) { fetched++; yield r; } };
        return st;
      };
      const sessions = new SqliteSessions(db, {} as WriterLink, join(dir, 'switchyard.db'));
      const got = await sessions.recent('default', 's', 350);
      assert.equal(got.length, 3);
      assert.deepEqual(got.map((m) => m.content.slice(0, 12)), ['message 147 ', 'message 148 ', 'message 149 ']);
      assert.ok(fetched >= got.length, `the row counter saw the read (${fetched} rows)`);
      assert.ok(fetched <= got.length + 1, `fetched ${fetched} rows to keep ${got.length}`);
    } finally {
      db.close();
    }
  });
});
