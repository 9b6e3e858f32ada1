/**
 * How a thread's writes reach the one writer thread (sqlite-writer.ts) of its
 * database, and how that thread is started and stopped.
 *
 * - OwnedWriter (the main thread): starts the writer Worker on the first write,
 *   the first HTTP thread's hello, or the first purge tick (lazily: a process
 *   that never writes, such as most of the test suite, never pays its start,
 *   0.9-2.5 s measured on the loaded 2-core dev machine, mostly tsx compiling
 *   the writer's modules; the first write waits for it), talks over the
 *   Worker's port, and stops it when the last store on that path in this
 *   process closes (reference counted: two servers of one test process on one
 *   state.dir share it).
 * - RemoteWriter (an HTTP worker thread): finds the writer through the path's
 *   BroadcastChannel (sqlite-protocol.ts) and queues its writes until the
 *   writer has answered its hello.
 *
 * Both keep the event loop alive only while a write is outstanding: an idle
 * store never holds a process open, and a pending put() is not abandoned by a
 * process that had nothing else left to do.
 *
 * What can go wrong: the writer thread dies (a native crash, an out-of-memory).
 * Every outstanding and later write then rejects with StoreError (503
 * store_unavailable); reads keep working on each thread's own connection. The
 * writer is not restarted: a writer that died once on this file is likely to
 * die again, and a restart loop would hide it; the process should be
 * restarted (switchyard:store:error says why).
 */
import { BroadcastChannel, Worker, threadId } from 'node:worker_threads';
import { randomBytes } from 'node:crypto';
import { StoreError } from './types.ts';
import { channels } from '../diagnostics.ts';
import { channelName, type ClientReady, type HelloMessage, type OwnerOp, type Reply, type WriteOp, type WriterData, type WriterEvent } from './sqlite-protocol.ts';

const BOOTSTRAP = new URL('../worker/bootstrap.mjs', import.meta.url);
const ENTRY = new URL('./sqlite-writer.ts', import.meta.url);

/** How long a RemoteWriter waits for a writer to answer before failing its queued writes. */
const HELLO_TIMEOUT_MS = 30_000;

type Op = WriteOp extends infer T ? T extends WriteOp ? Omit<T, 'n'> : never : never;

/** Request/reply bookkeeping shared by both transports. */
class Pending {
  private next = 1;
  private waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  /** Settles when nothing is outstanding (close() waits on it). */
  private idleWaiters: (() => void)[] = [];
  constructor(private readonly busy: (busy: boolean) => void) {}

  get size(): number { return this.waiting.size; }

  add(op: Op): { msg: WriteOp; done: Promise<unknown> } {
    const n = this.next++;
    const done = new Promise<unknown>((resolve, reject) => this.waiting.set(n, { resolve, reject }));
    if (this.waiting.size === 1) this.busy(true);
    return { msg: { ...op, n } as WriteOp, done };
  }

  settle(r: Reply): void {
    const w = this.waiting.get(r.n);
    if (!w) return;
    this.waiting.delete(r.n);
    if (r.ok) w.resolve(r.value);
    else w.reject(new StoreError(`store write failed: ${r.message}`));
    this.checkIdle();
  }

  failAll(e: Error): void {
    const all = [...this.waiting.values()];
    this.waiting.clear();
    for (const w of all) w.reject(e);
    this.checkIdle();
  }

  idle(): Promise<void> {
    return this.waiting.size === 0 ? Promise.resolve() : new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private checkIdle(): void {
    if (this.waiting.size > 0) return;
    this.busy(false);
    for (const w of this.idleWaiters.splice(0)) w();
  }
}

/**
 * Coalesces the writes one thread issues in one turn of its loop into one
 * message (sent from setImmediate: later in the same turn, no timer wait).
 * Under load many requests finish per turn, and one structured-clone message
 * per batch instead of per row is what made the writer thread keep up
 * (bench/store.ts).
 */
class Outbox {
  private ops: WriteOp[] = [];
  private scheduled = false;
  constructor(private readonly send: (ops: WriteOp[]) => void) {}
  push(op: WriteOp): void {
    this.ops.push(op);
    if (!this.scheduled) { this.scheduled = true; setImmediate(() => this.flush()); }
  }
  private flush(): void {
    this.scheduled = false;
    const ops = this.ops;
    this.ops = [];
    if (ops.length) this.send(ops);
  }
}

export interface WriterLink {
  write(op: Op): Promise<unknown>;
  /** Waits for outstanding writes, then detaches (the owner's last close stops the writer). */
  close(): Promise<void>;
}

export interface WriterSettings { dir: string; path: string; ttlMs: number; purgeIntervalMs: number }

/** One per database path in the main thread; shared by every store open on that path. */
class OwnedWriter {
  private worker: Worker | undefined;
  private dead: StoreError | undefined;
  private refs = 0;
  private readonly pending = new Pending((busy) => { if (busy) this.worker?.ref(); else this.worker?.unref(); });
  private readonly hello: BroadcastChannel;
  private exited: Promise<void> = Promise.resolve();

  constructor(private readonly s: WriterSettings) {
    this.hello = new BroadcastChannel(channelName(s.path));
    this.hello.onmessage = (ev) => { if ('hello' in ((ev as { data: unknown }).data as HelloMessage)) this.start(); };
    // Listening must not keep the process alive (the writer, once started, answers hellos itself).
    this.hello.unref();
    // Retention runs in the writer (on its start, then on its own timer); a
    // process that never writes would never start it, so start it on the
    // first purge tick. unref: this timer alone never holds a process open.
    if (s.ttlMs > 0) {
      this.kick = setInterval(() => this.start(), s.purgeIntervalMs);
      this.kick.unref();
    }
  }

  private readonly kick: NodeJS.Timeout | undefined;

  acquire(): void { this.refs++; }

  /** The writer thread, if started (tests use it to make it die). */
  get thread(): Worker | undefined { return this.worker; }

  private start(): Worker | undefined {
    if (this.worker || this.dead) return this.worker;
    const data: WriterData = { entry: ENTRY.href, dir: this.s.dir, path: this.s.path, channel: channelName(this.s.path), ttlMs: this.s.ttlMs, purgeIntervalMs: this.s.purgeIntervalMs };
    const w = new Worker(BOOTSTRAP, { workerData: data });
    this.worker = w;
    if (this.pending.size === 0) w.unref();
    let failure: string | undefined;
    w.on('message', (m: WriterEvent | Reply[]) => {
      if (Array.isArray(m)) { for (const r of m) this.pending.settle(r); return; }
      if (m.ev === 'failed') failure = m.message;
      else if (m.ev === 'purged') channels.storePurged.publish({ path: this.s.path, count: m.count, ms: m.ms });
      else if (m.ev === 'error') channels.storeError.publish({ path: this.s.path, error: new Error(m.message) });
    });
    w.on('error', (e) => { failure ??= e.stack ?? e.message; });
    this.exited = new Promise((resolve) => w.once('exit', (code) => {
      const stopped = this.refs === 0;
      if (!stopped) {
        this.dead = new StoreError(`the store's writer thread for ${this.s.path} exited (code ${code}${failure ? `: ${failure}` : ''}); writes fail until restart`, this.s.path);
        channels.storeError.publish({ path: this.s.path, error: this.dead });
        this.hello.postMessage({ down: this.dead.message } satisfies HelloMessage);
      }
      this.pending.failAll(this.dead ?? new StoreError('the store is closed', this.s.path));
      resolve();
    }));
    return w;
  }

  private readonly outbox = new Outbox((ops) => {
    if (this.dead) return; // failAll has rejected them already
    this.worker!.postMessage(ops satisfies OwnerOp);
  });

  write(op: Op): Promise<unknown> {
    if (this.dead) return Promise.reject(this.dead);
    this.start();
    const { msg, done } = this.pending.add(op);
    this.outbox.push(msg);
    return done;
  }

  /** Drops one reference; the last one commits what is queued and stops the thread. */
  async release(): Promise<void> {
    if (--this.refs > 0) return;
    owners.delete(this.s.path);
    clearInterval(this.kick);
    this.hello.close();
    await this.pending.idle();
    // Ref'd until it has exited: a process with nothing else to do must still wait for the last commit and the checkpoint.
    if (this.worker && !this.dead) { this.worker.ref(); this.worker.postMessage({ op: 'stop' } satisfies OwnerOp); }
    await this.exited;
  }
}

const owners = new Map<string, OwnedWriter>();

/** This process's writer thread for a database path, if started: for tests and diagnostics, not for writing. */
export function writerThreadFor(path: string): Worker | undefined {
  return owners.get(path)?.thread;
}

export function ownedLink(s: WriterSettings): WriterLink {
  let o = owners.get(s.path);
  if (!o) { o = new OwnedWriter(s); owners.set(s.path, o); }
  o.acquire();
  const owner = o;
  let closed = false;
  return {
    write: (op) => (closed ? Promise.reject(new StoreError('the store is closed', s.path)) : owner.write(op)),
    close: async () => { if (closed) return; closed = true; await owner.release(); },
  };
}

/** An HTTP thread's way to the main thread's writer for `path`. */
export function remoteLink(path: string): WriterLink {
  const name = channelName(path);
  const id = `${threadId}-${randomBytes(6).toString('hex')}`;
  const hello = new BroadcastChannel(name);
  const req = new BroadcastChannel(`${name}#${id}:req`);
  const rep = new BroadcastChannel(`${name}#${id}:rep`);
  const chans = [hello, req, rep];
  let ready = false;
  let dead: StoreError | undefined;
  let closed = false;
  let queued: WriteOp[] = [];
  const outbox = new Outbox((ops) => {
    if (dead) return;
    if (ready) req.postMessage(ops);
    else queued.push(...ops);
  });
  let helloTimer: NodeJS.Timeout | undefined;
  const pending = new Pending((busy) => { for (const c of chans) { if (busy) c.ref(); else c.unref(); } });
  for (const c of chans) c.unref();

  const fail = (e: StoreError) => {
    dead = e;
    queued = [];
    clearTimeout(helloTimer);
    pending.failAll(e);
  };
  hello.onmessage = (ev) => {
    const m = (ev as { data: unknown }).data as HelloMessage;
    if ('up' in m && !ready) hello.postMessage({ hello: id } satisfies HelloMessage);
    else if ('down' in m) fail(new StoreError(m.down, path));
  };
  rep.onmessage = (ev) => {
    const m = (ev as { data: unknown }).data as Reply[] | ClientReady;
    if (!Array.isArray(m)) {
      if (ready) return;
      ready = true;
      clearTimeout(helloTimer);
      if (queued.length) req.postMessage(queued);
      queued = [];
      return;
    }
    for (const r of m) pending.settle(r);
  };
  hello.postMessage({ hello: id } satisfies HelloMessage);

  return {
    write(op) {
      if (dead) return Promise.reject(dead);
      if (closed) return Promise.reject(new StoreError('the store is closed', path));
      const { msg, done } = pending.add(op);
      outbox.push(msg);
      if (!ready) {
        helloTimer ??= setTimeout(() => fail(new StoreError(`no writer thread answered for ${path} within ${HELLO_TIMEOUT_MS / 1000} s (is the store open in the main thread?)`, path)), HELLO_TIMEOUT_MS);
      }
      return done;
    },
    async close() {
      if (closed) return;
      closed = true;
      await pending.idle();
      clearTimeout(helloTimer);
      if (ready && !dead) req.postMessage({ op: 'bye' });
      for (const c of chans) c.close();
    },
  };
}
