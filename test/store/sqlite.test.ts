/**
 * The embedded SQLite store: the shared contract, then what is SQLite's own:
 * migrations, start-up errors, expiry, the writer reached from another thread,
 * and durability across kill -9.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { Worker } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { SqliteStore } from '../../src/store/sqlite.ts';
import { writerThreadFor } from '../../src/store/sqlite-link.ts';
import { openStore } from '../../src/store/index.ts';
import { DB_FILE } from '../../src/store/sqlite-open.ts';
import { APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION, migrate } from '../../src/store/sqlite-schema.ts';
import { StoreError } from '../../src/store/types.ts';
import { errorReply } from '../../src/errors.ts';
import { loadConfig } from '../../src/config/load.ts';
import { ROOT } from '../../src/fit/options.ts';
import { row, storeContract } from './contract.ts';

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'switchyard-store-'));
  dirs.push(d);
  return d;
}
after(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

const contractDir = tempDir();
storeContract('sqlite', { open: () => new SqliteStore({ dir: contractDir, ttlMs: 0, purgeIntervalMs: 60_000 }) });

/** A raw connection to inspect or prepare a file behind the store's back. */
function raw(dir: string): Database.Database {
  return new Database(join(dir, DB_FILE));
}

function count(db: Database.Database, id: string): number {
  return (db.prepare('SELECT count(*) AS n FROM responses WHERE id = ?').get(id) as { n: number }).n;
}

describe('migrations', () => {
  it('a new directory is created and the file migrated to the latest version, marked as Switchyard\'s', async () => {
    const dir = join(tempDir(), 'nested', 'state');
    const s = new SqliteStore({ dir, ttlMs: 0, purgeIntervalMs: 60_000 });
    await s.close();
    const db = raw(dir);
    assert.equal(db.pragma('user_version', { simple: true }), SCHEMA_VERSION);
    assert.equal(db.pragma('application_id', { simple: true }), APPLICATION_ID);
    assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
    db.close();
  });

  it('a version-0 (empty) database file is upgraded', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, DB_FILE), '');
    const s = new SqliteStore({ dir, ttlMs: 0, purgeIntervalMs: 60_000 });
    const r = row();
    await s.responses.put(r);
    assert.deepEqual(await s.responses.get(r.org, r.id), r);
    await s.close();
  });

  it('an older version is upgraded by the migrations it lacks, keeping its data', () => {
    const dir = tempDir();
    const db = raw(dir);
    assert.equal(migrate(db, 'x', MIGRATIONS.slice(0, 1)), 0);
    db.prepare(`INSERT INTO responses (org, id, created_at, response, input_items, messages) VALUES ('o', 'r', 1, '{}', '[]', '[]')`).run();
    const v2 = { version: MIGRATIONS[0].version + 1, name: 'test-v2', up: 'ALTER TABLE responses ADD COLUMN extra TEXT' };
    assert.equal(migrate(db, 'x', [MIGRATIONS[0], v2]), 1);
    assert.equal(db.pragma('user_version', { simple: true }), v2.version);
    assert.deepEqual(db.prepare('SELECT id, extra FROM responses').all(), [{ id: 'r', extra: null }]);
    // Idempotent: nothing left to run.
    assert.equal(migrate(db, 'x', [MIGRATIONS[0], v2]), v2.version);
    db.close();
  });

  it('a failing migration leaves the previous version intact', () => {
    const dir = tempDir();
    const db = raw(dir);
    migrate(db, 'x', MIGRATIONS.slice(0, 1));
    const bad = { version: 2, name: 'bad', up: 'CREATE TABLE t (a); SELECT no_such_function()' };
    assert.throws(() => migrate(db, 'x', [MIGRATIONS[0], bad]));
    assert.equal(db.pragma('user_version', { simple: true }), 1);
    assert.equal((db.prepare(`SELECT count(*) AS n FROM sqlite_schema WHERE name = 't'`).get() as { n: number }).n, 0);
    db.close();
  });

  it('a database from a newer Switchyard is refused with the path and both versions', async () => {
    const dir = tempDir();
    await new SqliteStore({ dir, ttlMs: 0, purgeIntervalMs: 60_000 }).close();
    const db = raw(dir);
    db.pragma(`user_version = ${SCHEMA_VERSION + 5}`);
    db.close();
    assert.throws(() => new SqliteStore({ dir, ttlMs: 0, purgeIntervalMs: 60_000 }), (e: Error) => {
      assert.ok(e instanceof StoreError);
      assert.ok(e.message.includes(join(dir, DB_FILE)), e.message);
      assert.match(e.message, new RegExp(`schema version ${SCHEMA_VERSION + 5}, newer than this Switchyard supports \\(${SCHEMA_VERSION}\\)`));
      return true;
    });
  });

  it('another application\'s database (tables, no Switchyard version) is refused, not written to', () => {
    const dir = tempDir();
    const db = raw(dir);
    db.exec('CREATE TABLE customers (name TEXT)');
    db.close();
    assert.throws(() => new SqliteStore({ dir, ttlMs: 0, purgeIntervalMs: 60_000 }), /another application/);
    const check = raw(dir);
    assert.equal(check.pragma('user_version', { simple: true }), 0);
    assert.equal((check.prepare(`SELECT count(*) AS n FROM sqlite_schema WHERE name = 'responses'`).get() as { n: number }).n, 0);
    check.close();
  });
});

describe('start-up errors name the path', () => {
  it('garbage where the database should be', () => {
    const dir = tempDir();
    writeFileSync(join(dir, DB_FILE), 'this is not a database, just text that is long enough to fill a header '.repeat(20));
    assert.throws(() => new SqliteStore({ dir, ttlMs: 0, purgeIntervalMs: 60_000 }), (e: Error) => {
      assert.ok(e instanceof StoreError);
      assert.ok(e.message.includes(join(dir, DB_FILE)), e.message);
      assert.match(e.message, /not a SQLite database or is corrupt/);
      return true;
    });
  });

  it('state.dir is a regular file (the directory cannot be created)', () => {
    const file = join(tempDir(), 'plain-file');
    writeFileSync(file, 'x');
    for (const dir of [file, join(file, 'below')]) {
      assert.throws(() => new SqliteStore({ dir, ttlMs: 0, purgeIntervalMs: 60_000 }), (e: Error) => {
        assert.ok(e instanceof StoreError);
        assert.ok(e.message.includes(dir), e.message);
        assert.match(e.message, /cannot create the state directory/);
        return true;
      });
    }
  });

  it('the database path is a directory (cannot be opened)', () => {
    const dir = tempDir();
    mkdirSync(join(dir, DB_FILE));
    assert.throws(() => new SqliteStore({ dir, ttlMs: 0, purgeIntervalMs: 60_000 }), (e: Error) => {
      assert.ok(e instanceof StoreError);
      assert.ok(e.message.includes(join(dir, DB_FILE)), e.message);
      return true;
    });
  });

  for (const [name, prepare] of [
    ['garbage file', (dir: string) => { writeFileSync(join(dir, DB_FILE), 'garbage '.repeat(200)); return dir; }],
    ['unwritable state.dir (a regular file in the way)', (dir: string) => { writeFileSync(join(dir, 'f'), 'x'); return join(dir, 'f', 'state'); }],
  ] as const) {
    it(`the server refuses to start: ${name} (exit 1, the path on stderr)`, async () => {
      const stateDir = prepare(tempDir());
      const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', '--port', '0', '--threads', '1', '--state-dir', stateDir], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (b) => { stderr += b; });
      const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
      assert.equal(code, 1, stderr);
      assert.ok(stderr.includes(stateDir), stderr);
      assert.match(stderr, /switchyard: state: /);
    });
  }
});

describe('config', () => {
  it('state.dir from YAML default, env and flag; openStore uses it', async () => {
    assert.equal(loadConfig({ env: {} }).state.dir, './data');
    const d = tempDir();
    assert.equal(loadConfig({ env: { SWITCHYARD_STATE_DIR: 'x' }, cwd: d }).state.dir, join(d, 'x'));
    assert.equal(loadConfig({ env: { SWITCHYARD_STATE_DIR: 'x' }, argv: ['--state-dir', 'y'], cwd: d }).state.dir, join(d, 'y'));
    const yaml = join(d, 'c.yaml');
    writeFileSync(yaml, 'state:\n  dir: rel\n  responses: { ttl_days: 0.5 }\n  purge_interval_ms: 5000\n');
    const c = loadConfig({ env: {}, argv: ['--config', yaml] });
    assert.equal(c.state.dir, join(d, 'rel'));
    assert.equal(c.state.responses.ttl_days, 0.5);
    const s = openStore(c);
    await s.responses.put(row());
    await s.close();
  });

  it('bad state keys are refused naming the key', () => {
    assert.throws(() => loadConfig({ env: {}, overrides: { state: { responses: { ttl_days: -1 } } } }), /state\.responses\.ttl_days/);
    assert.throws(() => loadConfig({ env: {}, overrides: { state: { purge_interval_ms: 10 } } }), /state\.purge_interval_ms/);
    assert.throws(() => loadConfig({ env: {}, overrides: { state: { dirr: 'x' } } }), /unknown key "state\.dirr"/);
  });
});

describe('retention', () => {
  it('an expired row is never returned, and reading it deletes it', async () => {
    const dir = tempDir();
    const s = new SqliteStore({ dir, ttlMs: 60_000, purgeIntervalMs: 3_600_000 });
    const old = row({ createdAt: Math.floor(Date.now() / 1000) - 3600 });
    const fresh = row();
    await s.responses.put(old);
    await s.responses.put(fresh);
    assert.equal(await s.responses.get(old.org, old.id), undefined);
    assert.deepEqual(await s.responses.get(fresh.org, fresh.id), fresh);
    // The delete it triggered is queued behind nothing: one more write commits after it.
    await s.responses.put(row());
    await s.close();
    const db = raw(dir);
    assert.equal(count(db, old.id), 0);
    db.close();
  });

  it('the purge job deletes expired rows when the writer starts', async () => {
    const dir = tempDir();
    const keep = new SqliteStore({ dir, ttlMs: 0, purgeIntervalMs: 3_600_000 });
    const old = Array.from({ length: 2_500 }, () => row({ createdAt: Math.floor(Date.now() / 1000) - 7200 }));
    await Promise.all(old.map((r) => keep.responses.put(r)));
    await keep.close();
    const s = new SqliteStore({ dir, ttlMs: 60_000, purgeIntervalMs: 3_600_000 });
    const { channels } = await import('../../src/diagnostics.ts');
    const purged = new Promise<{ count: number }>((resolve) => channels.storePurged.subscribe(function on(m) { channels.storePurged.unsubscribe(on); resolve(m as { count: number }); }));
    await s.responses.put(row()); // starts the writer, which purges on start
    // The store holds the loop only while a write is outstanding; the purge report may come later.
    const keepAlive = setInterval(() => {}, 1000);
    try { assert.equal((await purged).count, old.length); } finally { clearInterval(keepAlive); }
    const db = raw(dir);
    assert.equal((db.prepare('SELECT count(*) AS n FROM responses').get() as { n: number }).n, 1);
    db.close();
    await s.close();
  });
});

describe('errors', () => {
  it('a StoreError thrown by a handler becomes 503 store_unavailable, without the path', () => {
    for (const dialect of ['switchyard', 'openai'] as const) {
      const r = errorReply(new StoreError('state: cannot open /secret/path/switchyard.db', '/secret/path/switchyard.db'), dialect);
      assert.equal(r.status, 503);
      assert.equal(r.code, 'store_unavailable');
      assert.equal(r.internal, undefined);
      assert.ok(!r.body.includes('/secret'), r.body);
    }
  });
});

describe('the writer thread dies', () => {
  it('writes reject with StoreError (503 store_unavailable), reads keep working, the channel says why', async () => {
    const dir = tempDir();
    const s = new SqliteStore({ dir, ttlMs: 0, purgeIntervalMs: 3_600_000 });
    const r = row();
    await s.responses.put(r);
    const { channels } = await import('../../src/diagnostics.ts');
    const reported = new Promise<{ path: string; error: Error }>((resolve) => channels.storeError.subscribe(function on(m) { channels.storeError.unsubscribe(on); resolve(m as { path: string; error: Error }); }));
    const thread = writerThreadFor(s.path);
    assert.ok(thread);
    await thread.terminate();
    const m = await reported;
    assert.equal(m.path, s.path);
    assert.match(m.error.message, /writer thread .* exited/);
    await assert.rejects(s.responses.put(row()), (e: Error) => e instanceof StoreError && /exited/.test(e.message));
    await assert.rejects(s.responses.delete(r.org, r.id), StoreError);
    assert.deepEqual(await s.responses.get(r.org, r.id), r);
    await s.close();
  });
});

describe('retention without writes', () => {
  // The timeout turns "never purges" into a failure rather than a hang; it is not a speed bound.
  it('a process that never writes still purges (the purge tick starts the writer)', { timeout: 60_000 }, async () => {
    const dir = tempDir();
    const keep = new SqliteStore({ dir, ttlMs: 0, purgeIntervalMs: 3_600_000 });
    const old = Array.from({ length: 10 }, () => row({ createdAt: Math.floor(Date.now() / 1000) - 7200 }));
    await Promise.all(old.map((r) => keep.responses.put(r)));
    await keep.close();
    const { channels } = await import('../../src/diagnostics.ts');
    const purged = new Promise<{ count: number; path: string }>((resolve) => channels.storePurged.subscribe(function on(m) { channels.storePurged.unsubscribe(on); resolve(m as { count: number; path: string }); }));
    const s = new SqliteStore({ dir, ttlMs: 60_000, purgeIntervalMs: 200 });
    const keepAlive = setInterval(() => {}, 1000);
    try {
      const m = await purged;
      assert.equal(m.count, old.length);
      assert.equal(m.path, join(dir, DB_FILE));
    } finally { clearInterval(keepAlive); }
    await s.close();
  });
});

describe('several threads, one writer', () => {
  it('a worker thread writes through the main thread\'s writer and reads on its own connection', async () => {
    const dir = tempDir();
    const main = new SqliteStore({ dir, ttlMs: 0, purgeIntervalMs: 3_600_000 });
    const mine = row({ org: 'org_main' });
    await main.responses.put(mine);
    const theirs = Array.from({ length: 200 }, (_, i) => row({ org: i % 2 ? 'org_a' : 'org_b' }));
    const bootstrap = new URL('../../src/worker/bootstrap.mjs', import.meta.url);
    const workers = [0, 1].map(() => new Worker(bootstrap, { workerData: { entry: new URL('./fixtures/thread-writer.ts', import.meta.url).href, dir } }));
    // Listened for now: a thread may be gone before its reply is handled here.
    const exits = workers.map((w) => new Promise((resolve) => w.once('exit', resolve)));
    const replies = await Promise.all(workers.map((w, k) => new Promise<any>((resolve, reject) => {
      w.once('message', resolve);
      w.once('error', reject);
      w.postMessage({ rows: theirs.slice(k * 100, k * 100 + 100), read: [{ org: mine.org, id: mine.id }, { org: 'org_a', id: mine.id }] });
    })));
    for (const r of replies) {
      assert.equal(r.ok, true, r.error);
      assert.deepEqual(r.read, [mine, undefined]);
      assert.equal(r.deleted, true);
    }
    await Promise.all(exits);
    // Rows 0 and 100 were deleted by the threads; the rest are visible to the main thread.
    for (const [i, r] of theirs.entries()) assert.deepEqual(await main.responses.get(r.org, r.id), i % 100 === 0 ? undefined : r, r.id);
    await main.close();
  });
});

describe('kill -9', () => {
  it('every put() that resolved before SIGKILL is in the file after reopening', async () => {
    const dir = tempDir();
    // Opened (and migrated) here first, so the child's first puts are not waiting on start-up alone.
    await new SqliteStore({ dir, ttlMs: 0, purgeIntervalMs: 3_600_000 }).close();
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/store/fixtures/put-forever.ts', dir], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (b) => { stderr += b; });
    const acked: [string, string][] = [];
    let buf = '';
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (b: Buffer) => {
        buf += b.toString();
        let nl;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const [org, id] = buf.slice(0, nl).split(' ');
          buf = buf.slice(nl + 1);
          acked.push([org, id]);
        }
        // Mid-stream: with puts still in flight in every lane.
        if (acked.length >= 2_000) { child.kill('SIGKILL'); resolve(); }
      });
      void exited.then(() => reject(new Error(`child exited early: ${stderr}`)));
    });
    assert.equal(await exited, 'SIGKILL');
    const s = new SqliteStore({ dir, ttlMs: 0, purgeIntervalMs: 3_600_000 });
    let missing = 0;
    for (const [org, id] of acked) if ((await s.responses.get(org, id)) === undefined) missing++;
    await s.close();
    assert.equal(missing, 0, `${missing} of ${acked.length} acknowledged rows lost`);
  });
});
