/**
 * The SQLite writer thread: the one connection of the process that writes.
 * Started by sqlite-link.ts (through worker/bootstrap.mjs), one per database
 * path per process.
 *
 * Group commit: every write that arrives while the previous batch commits is
 * queued, and the queue is committed as one transaction on the next turn of
 * this thread's loop (setImmediate). At low load a batch is one row and adds
 * no wait; under load the batch grows by itself and the commit cost (the WAL
 * append, the lock) is shared. A reply is posted only after COMMIT returned,
 * so a put() that resolved survives kill -9 (sqlite-open.ts: synchronous=NORMAL).
 *
 * Why a thread and not batched transactions on the HTTP thread: a commit is a
 * synchronous write() (and, at each checkpoint, an fsync) that would stall the
 * event loop serving every other request; bench/store.ts measures both.
 *
 * A failing batch is retried row by row, so one bad row (a constraint, a
 * value of the wrong type) fails only its own put. Retention runs here too:
 * purge on start and then every purgeIntervalMs, in chunks so queued puts
 * are not held behind a large delete.
 */
import { BroadcastChannel, parentPort, workerData } from 'node:worker_threads';
import type Database from 'better-sqlite3';
import { openDatabase } from './sqlite-open.ts';
import type { ClientReady, HelloMessage, OwnerOp, Reply, WriteOp, WriterData, WriterEvent } from './sqlite-protocol.ts';
import { routingWriter } from './sqlite-routing-ops.ts';
import { ORG_OPS, logInserter, orgWriter, type OrgOp } from './sqlite-org-ops.ts';
import { LogRing } from './log-ring.ts';

const data = workerData as WriterData;
const owner = parentPort!;

/** Rows deleted per purge transaction: bounds how long a purge holds the write lock. */
const PURGE_CHUNK = 1_000;

function post(m: WriterEvent | Reply[]): void {
  owner.postMessage(m);
}

let db: Database.Database;
try {
  db = openDatabase(data.dir, { migrate: true, readOnly: false });
} catch (e) {
  post({ ev: 'failed', message: (e as Error).message });
  process.exit(1);
}

const putStmt = db.prepare(`
  INSERT INTO responses (org, id, created_at, previous_response_id, response, input_items, messages)
  VALUES (@org, @id, @createdAt, @previousResponseId, @response, @inputItems, @messages)
  ON CONFLICT (org, id) DO UPDATE SET created_at = excluded.created_at, previous_response_id = excluded.previous_response_id,
    response = excluded.response, input_items = excluded.input_items, messages = excluded.messages`);
const deleteStmt = db.prepare('DELETE FROM responses WHERE org = ? AND id = ?');
const purgeStmt = db.prepare('DELETE FROM responses WHERE created_at < ?');
// Router configs, sessions, route decisions (issue 9).
const applyRouting = routingWriter(db, data.ttlMs);
// Preferences, feedback, activity log (issue 11).
const applyOrg = orgWriter(db);
const purgeChunkStmt = db.prepare('DELETE FROM responses WHERE rowid IN (SELECT rowid FROM responses WHERE created_at < ? LIMIT ?)');

function apply(op: WriteOp): unknown {
  switch (op.op) {
    case 'put': {
      const r = op.row;
      putStmt.run({ org: r.org, id: r.id, createdAt: r.createdAt, previousResponseId: r.previousResponseId, response: r.response, inputItems: r.inputItems, messages: r.messages });
      return undefined;
    }
    case 'delete': return deleteStmt.run(op.org, op.id).changes > 0;
    case 'purge': return purgeStmt.run(op.olderThan).changes;
    default: return ORG_OPS.has(op.op) ? applyOrg(op as OrgOp) : applyRouting(op as Parameters<typeof applyRouting>[0]);
  }
}

// --- Activity-log rings (log-ring.ts) -----------------------------------------
// Each HTTP thread's log writes its rows into its own SharedArrayBuffer ring;
// this thread drains every ring on one timer (the shortest flush_ms
// registered) in one transaction, so the HTTP threads never post rows and
// never wake this thread. A failed insert drops the rows it held (counted in
// the ring, reported as an 'error' event), as the batch path did.
const rings = new Map<string, LogRing>();
let ringTimer: NodeJS.Timeout | undefined;
let ringEveryMs = Infinity;
const insertLogs = logInserter(db);
/** Rows decoded and inserted at a time within a drain's transaction: the values die young instead of filling the old generation. */
const DRAIN_CHUNK = 1_000;

/** Drains `which` (default every ring) in one transaction; throws what the insert threw, after counting. */
const drainTx = db.transaction((taken: { ring: LogRing; rows: number; tail: number | undefined }[]) => {
  const f: unknown[] = [];
  for (const t of taken) {
    for (;;) {
      f.length = 0;
      const got = t.ring.peek(f, DRAIN_CHUNK, t.tail);
      if (got.rows === 0) break;
      // Counted before the insert: a chunk that fails is given up with the rest (no retry loop on a bad row).
      t.rows += got.rows;
      t.tail = got.tail;
      insertLogs(f);
    }
  }
});

function drainRings(which?: string): number {
  const taken: { ring: LogRing; rows: number; tail: number | undefined }[] = [];
  for (const [id, ring] of rings) if (which === undefined || id === which) taken.push({ ring, rows: 0, tail: undefined });
  let ok = false;
  try {
    drainTx(taken);
    ok = true;
  } finally {
    // On failure the transaction's rows are given up (dropped, counted); rows not reached stay for the next drain.
    for (const t of taken) if (t.tail !== undefined) t.ring.release(t.tail, t.rows, ok);
  }
  return taken.reduce((n, t) => n + t.rows, 0);
}

function drainTick(): void {
  try { drainRings(); } catch (e) { post({ ev: 'error', message: `activity log write failed: ${(e as Error).message}` }); }
}

function ringOp(op: Extract<WriteOp, { op: 'log_ring' | 'log_drain' }>): unknown {
  if (op.op === 'log_ring') {
    rings.set(op.id, new LogRing(op.sab));
    if (op.flushMs < ringEveryMs) {
      ringEveryMs = op.flushMs;
      clearInterval(ringTimer);
      ringTimer = setInterval(drainTick, ringEveryMs);
      ringTimer.unref();
    }
    return undefined;
  }
  const n = rings.has(op.id) ? drainRings(op.id) : 0;
  if (op.close) rings.delete(op.id);
  return n;
}

/**
 * Where a batch's replies go: one message per destination per batch, not one
 * per row (a postMessage costs a few µs on each side; at thousands of puts a
 * second that was a large share of this thread's time).
 */
class Sink {
  out: Reply[] = [];
  constructor(readonly send: (replies: Reply[]) => void) {}
}
const ownerSink = new Sink(post);
interface Queued { op: WriteOp; to: Sink }
let queue: Queued[] = [];
const touched = new Set<Sink>();

function reply(q: Queued, r: Reply): void {
  q.to.out.push(r);
  touched.add(q.to);
}

function sendReplies(): void {
  for (const s of touched) { const out = s.out; s.out = []; s.send(out); }
  touched.clear();
}
let scheduled = false;
let stopping = false;

const runBatch = db.transaction((batch: Queued[]) => batch.map((q) => apply(q.op)));

function flush(): void {
  scheduled = false;
  if (queue.length === 0) return;
  let batch = queue;
  queue = [];
  // Ring registrations and drains are not part of the batch's transaction: a drain takes rows out of a
  // ring, and a rolled-back batch (retried op by op below) must not take them twice or lose them.
  if (batch.some((q) => q.op.op === 'log_ring' || q.op.op === 'log_drain')) {
    const rest: Queued[] = [];
    for (const q of batch) {
      if (q.op.op !== 'log_ring' && q.op.op !== 'log_drain') { rest.push(q); continue; }
      try { reply(q, { n: q.op.n, ok: true, value: ringOp(q.op) }); } catch (e) { reply(q, { n: q.op.n, ok: false, message: (e as Error).message }); }
    }
    batch = rest;
    if (batch.length === 0) { sendReplies(); return; }
  }
  let values: unknown[] | undefined;
  try {
    values = runBatch(batch);
  } catch {
    // Isolate the failure: each op on its own (its own implicit transaction).
    for (const q of batch) {
      try { reply(q, { n: q.op.n, ok: true, value: apply(q.op) }); } catch (e) { reply(q, { n: q.op.n, ok: false, message: (e as Error).message }); }
    }
    sendReplies();
    return;
  }
  for (let i = 0; i < batch.length; i++) reply(batch[i], { n: batch[i].op.n, ok: true, value: values[i] });
  sendReplies();
}

function enqueue(ops: WriteOp[], to: Sink): void {
  if (stopping) { to.send(ops.map((op) => ({ n: op.n, ok: false, message: 'the store is closing' }))); return; }
  for (const op of ops) queue.push({ op, to });
  if (!scheduled) { scheduled = true; setImmediate(flush); }
}

// --- Retention ---------------------------------------------------------------
let purgeTimer: NodeJS.Timeout | undefined;
function purgeExpired(): void {
  if (data.ttlMs <= 0 || stopping) return;
  const t0 = performance.now();
  const olderThan = Math.floor((Date.now() - data.ttlMs) / 1000);
  let total = 0;
  const step = () => {
    if (stopping) return;
    try {
      const n = purgeChunkStmt.run(olderThan, PURGE_CHUNK).changes;
      total += n;
      // Queued puts get their turn between chunks.
      if (n === PURGE_CHUNK) { setImmediate(step); return; }
      if (total > 0) post({ ev: 'purged', count: total, ms: performance.now() - t0 });
    } catch (e) {
      post({ ev: 'error', message: `purge failed: ${(e as Error).message}` });
    }
  };
  step();
}
if (data.ttlMs > 0) {
  setImmediate(purgeExpired);
  // unref: the timer alone must not keep the thread (or a test process) alive.
  purgeTimer = setInterval(purgeExpired, data.purgeIntervalMs);
  purgeTimer.unref();
}

// --- Transports --------------------------------------------------------------
const hello = new BroadcastChannel(data.channel);
const clients = new Map<string, { req: BroadcastChannel; rep: BroadcastChannel; sink: Sink }>();

hello.onmessage = (ev) => {
  const m = (ev as { data: unknown }).data as HelloMessage;
  if (!('hello' in m)) return;
  let c = clients.get(m.hello);
  if (!c) {
    const req = new BroadcastChannel(`${data.channel}#${m.hello}:req`);
    const rep = new BroadcastChannel(`${data.channel}#${m.hello}:rep`);
    c = { req, rep, sink: new Sink((r) => rep.postMessage(r)) };
    clients.set(m.hello, c);
    const sink = c.sink;
    req.onmessage = (e) => {
      const ops = (e as { data: unknown }).data as WriteOp[] | { op: 'bye' };
      if (!Array.isArray(ops)) { req.close(); rep.close(); clients.delete(m.hello); return; }
      enqueue(ops, sink);
    };
  }
  c.rep.postMessage({ ready: true } satisfies ClientReady);
};
// Clients that said hello before this thread listened ask again on this.
hello.postMessage({ up: true } satisfies HelloMessage);

owner.on('message', (m: OwnerOp) => {
  if (Array.isArray(m)) { enqueue(m, ownerSink); return; }
  // Commit what is queued (its replies go out first) and what the rings hold, then let the thread end.
  flush();
  drainTick();
  clearInterval(ringTimer);
  stopping = true;
  if (purgeTimer) clearInterval(purgeTimer);
  for (const c of clients.values()) { c.req.close(); c.rep.close(); }
  hello.close();
  // The last connection to close checkpoints the WAL into the main file.
  db.close();
  owner.close();
});

post({ ev: 'ready' });
