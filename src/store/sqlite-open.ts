/**
 * Opening the SQLite file, with every start-up failure turned into a
 * StoreError that names the path and says what to do: a state.dir that cannot
 * be created (a regular file in the way, no permission), a file that is not a
 * SQLite database (garbage, truncated, another format), one from a newer
 * Switchyard or another application (sqlite-schema.ts), one that cannot be
 * written. All synchronous: better-sqlite3 is, and the caller (the Engine's
 * constructor) wants the error before the server counts as started.
 */
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { StoreError } from './types.ts';
import { migrate, SCHEMA_VERSION } from './sqlite-schema.ts';

export const DB_FILE = 'switchyard.db';

/**
 * How long a connection waits for another's lock before SQLITE_BUSY. Readers
 * never wait in WAL mode; this is for writers of other processes on the same
 * file (two servers sharing a state.dir, a test run's parallel files) and for
 * the WAL checkpoint. It blocks only the thread that waits: the writer thread.
 */
export const BUSY_TIMEOUT_MS = 5_000;
/** Pages of WAL between automatic checkpoints (4 KB pages: ~4 MB); see openDatabase for why not more. */
export const WAL_AUTOCHECKPOINT = 1_000;

export function dbPath(dir: string): string {
  return join(resolve(dir), DB_FILE);
}

function code(e: unknown): string {
  return (e as { code?: string }).code ?? '';
}

/** Maps a better-sqlite3 / fs failure at start-up to a message an operator can act on. */
function explain(e: unknown, path: string): StoreError {
  if (e instanceof StoreError) return e;
  const msg = (e as Error).message;
  const c = code(e);
  if (c === 'SQLITE_NOTADB' || c === 'SQLITE_CORRUPT') {
    return new StoreError(`state: ${path} is not a SQLite database or is corrupt (${msg}); move it aside to start with an empty store, or point state.dir elsewhere`, path, { cause: e });
  }
  if (c === 'SQLITE_READONLY' || c.startsWith('SQLITE_READONLY_') || c === 'SQLITE_PERM' || c === 'SQLITE_CANTOPEN' || c.startsWith('SQLITE_CANTOPEN_') || c.startsWith('SQLITE_IOERR')) {
    return new StoreError(`state: cannot open ${path} for writing (${c}: ${msg}); check that state.dir is a writable directory`, path, { cause: e });
  }
  return new StoreError(`state: cannot open ${path} (${c ? `${c}: ` : ''}${msg})`, path, { cause: e });
}

export interface OpenOptions {
  /** Run migrations (the owner, once per process start); otherwise only check the version. */
  migrate: boolean;
  /** query_only: this connection must never write (the per-thread read connections). */
  readOnly: boolean;
}

/** Creates state.dir, opens `<dir>/switchyard.db` in WAL mode, migrates or checks the version. */
export function openDatabase(dir: string, opts: OpenOptions): Database.Database {
  const abs = resolve(dir);
  const path = join(abs, DB_FILE);
  try {
    mkdirSync(abs, { recursive: true });
  } catch (e) {
    throw new StoreError(`state: cannot create the state directory ${abs} (${code(e) || (e as Error).message}); set state.dir / SWITCHYARD_STATE_DIR / --state-dir to a writable directory`, abs, { cause: e });
  }
  let db: Database.Database | undefined;
  try {
    db = new Database(path);
    db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    // The first statement to read the header: garbage fails here with SQLITE_NOTADB.
    // WAL: readers never block the writer nor each other, and a commit is one
    // append to the -wal file. Persistent in the file, so every connection gets it.
    const mode = db.pragma('journal_mode = WAL', { simple: true });
    if (mode !== 'wal') throw new StoreError(`state: ${path} cannot use WAL mode (journal_mode stays "${String(mode)}"); put state.dir on a local file system`, path);
    // NORMAL in WAL mode: a commit is durable against a killed process (the WAL
    // write reached the kernel before COMMIT returned), not against power loss
    // or a kernel crash (no fsync per commit; the checkpoint fsyncs). kill -9
    // durability is what issue 8 asks. FULL adds an fsync to every commit
    // (bench/store.ts has an inline-FULL scenario; on the shared dev machine its
    // cost was lost in the noise of other jobs, so the choice rests on the
    // guarantee asked for, not on a figure).
    db.pragma('synchronous = NORMAL');
    // Checkpoint every WAL_AUTOCHECKPOINT pages: SQLite's 1,000, set explicitly.
    // 10,000 was tried (2026-12-05): a stored response is ~4 pages a commit, so
    // at 1,000 a checkpoint comes every ~250 puts, and 10,000 cut the writer's
    // CPU per put from 107-136 to 77-85 µs; but the checkpoint runs inside the
    // commit that crosses the threshold, and a 40 MB checkpoint stalled every
    // put waiting behind it: in `npm run bench:responses` (64 connections,
    // quiet machine) store-on p99 was 111-132 ms at 10,000 against 23-29 ms at
    // 1,000, for the same requests/s (7,000-7,300). Only the writing
    // connection commits, so only its setting matters.
    if (!opts.readOnly) db.pragma(`wal_autocheckpoint = ${WAL_AUTOCHECKPOINT}`);
    if (opts.migrate) migrate(db, path);
    else {
      const v = db.pragma('user_version', { simple: true }) as number;
      if (v !== SCHEMA_VERSION) throw new StoreError(`state: ${path} has schema version ${v}, this Switchyard expects ${SCHEMA_VERSION}`, path);
    }
    if (opts.readOnly) db.pragma('query_only = 1');
    return db;
  } catch (e) {
    try { db?.close(); } catch { /* already failing */ }
    throw explain(e, path);
  }
}
