/**
 * server.threads > 1: one uWS App per HTTP thread, all on one port, steered
 * from the main thread. Each thread (src/worker/http-thread.ts) runs the same
 * routes (buildApp via `serve`) with its own Engine; the decision cache is one
 * SharedArrayBuffer for all of them (src/store/shm-cache.ts); the kernel spreads incoming connections over the threads' listen sockets
 * (SO_REUSEPORT), and a connection stays on the thread that accepted it.
 *
 * The main thread owns config, signals (main.ts) and the disk: it loads the
 * profile and the native embedder's tables once (engine.ts loadTables; both
 * live in SharedArrayBuffers) and posts them to every thread, which maps them
 * without a copy. It serves no HTTP itself; its own Engine adopts the same
 * tables after the threads have, so `server.engine` and the "ready" log line
 * mean every thread is ready.
 *
 * The port, exclusively: a single-thread server listens with
 * LIBUS_LISTEN_EXCLUSIVE_PORT, so a second Switchyard on the port fails to
 * start instead of silently taking half the traffic. Threads must share the
 * port, so they listen with SO_REUSEPORT; to keep the protection the main
 * thread first binds the port exclusively (proving nobody holds it, and
 * choosing it when server.port is 0), closes it, and only then lets the
 * already-booted threads listen, one message hop later. A later Switchyard
 * still fails: its own exclusive check meets our sockets. What is lost: a
 * process of the same user that binds the port *with* SO_REUSEPORT (another
 * uWS app, nginx `reuseport`) inside that sub-millisecond window, or at any
 * time afterwards, would share the traffic; Linux only allows this for the
 * same effective user.
 *
 * Costs of more than one thread: each thread is a V8 isolate (~30-40 MB RSS
 * with the modules loaded). The decision cache is not among them: every thread
 * reads and writes the one shared cache, so a prompt decided on one thread is a
 * hit on all of them. Per-
 * request diagnostics channels (http:response, route:decision) publish inside
 * the thread that served the request; only internal errors are forwarded here.
 *
 * Life cycle and failure:
 * - close(): every thread stops accepting (within a message hop, not
 *   synchronously as with one thread), finishes its in-flight requests within
 *   the timeout, drops the rest, and exits; then close() resolves.
 * - A thread that dies (an uncaught exception: the thread reports it, drops its
 *   connections, exits 1) is logged on switchyard:http:thread-exit and
 *   restarted; its in-flight requests are lost, the other threads keep serving.
 *   More than MAX_CRASHES exits within CRASH_WINDOW_MS settle `fatal`, and
 *   main.ts drains the rest and exits 1: a crash loop is a bug to surface to
 *   the orchestrator, not to hide.
 * - A thread is never terminate()d: ending a worker while uWS has sockets open
 *   aborts the whole process (see http-thread.ts). A thread wedged in an
 *   endless loop therefore cannot be stopped; close() gives up waiting for it
 *   after the drain timeout plus THREAD_EXIT_GRACE_MS, and the process exit
 *   that follows will abort.
 */
import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import { uws, UWS_NATIVE, listen } from './uws.ts';
import { Engine, loadTables, type SharedTables, type SwapTables } from '../api/engine.ts';
import { ProfileOwner, toWire } from '../api/profile-control.ts';
import { channels } from '../diagnostics.ts';
import type { Config } from '../config/schema.ts';
import type { Server } from './server.ts';
import type { FromThread, HttpThreadData, ToThread } from './thread-protocol.ts';

const BOOTSTRAP = new URL('../worker/bootstrap.mjs', import.meta.url);
const ENTRY = new URL('../worker/http-thread.ts', import.meta.url);

export const MAX_CRASHES = 5;
export const CRASH_WINDOW_MS = 60_000;
const THREAD_EXIT_GRACE_MS = 5_000;

/** server.threads resolved: "auto" = the cores available; 1 with the ONNX embedder (config refuses more). */
export function httpThreads(config: Pick<Config, 'server' | 'embedder'>): number {
  const t = config.server.threads;
  if (t !== 'auto') return t;
  return config.embedder.kind === 'onnx' ? 1 : availableParallelism();
}

/** Binds host:port exclusively and lets go: throws if anyone holds it; returns the port (chosen by the kernel for 0). */
async function reservePort(host: string, port: number): Promise<number> {
  const s = await listen(uws.App(), host, port, true);
  const bound = uws.us_socket_local_port(s as never);
  uws.us_listen_socket_close(s);
  return bound;
}

const describe = (e: unknown) => (e instanceof Error ? e.message : String(e));

function within<T>(p: Promise<T>, ms: number, fallback: T): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<T>((resolve) => { timer = setTimeout(() => resolve(fallback), ms); });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

type Ev = FromThread['ev'];

class HttpThread {
  readonly worker: Worker;
  readonly exit: Promise<number>;
  exited = false;
  listening = false;
  /** What killed it: the error its uncaughtException handler sent, or the worker 'error' event's. */
  error: unknown;
  private waiters: { evs: readonly Ev[]; resolve: (m: FromThread) => void; reject: (e: Error) => void }[] = [];
  /** A handler's call on the profile owner (POST /v1/router/reload, /v1/router/models), set by startThreads. */
  onControl: ((m: Extract<FromThread, { ev: 'control' }>) => void) | undefined;

  constructor(readonly index: number, data: Omit<HttpThreadData, 'index'>) {
    this.worker = new Worker(BOOTSTRAP, { workerData: { ...data, index } satisfies HttpThreadData });
    this.worker.on('message', (m: FromThread) => {
      if (m.ev === 'crashed') { this.error = m.error; return; }
      if (m.ev === 'diag') { channels.internalError.publish(m.message); return; }
      if (m.ev === 'control') { this.onControl?.(m); return; }
      if (m.ev === 'listening') this.listening = true;
      const i = this.waiters.findIndex((w) => w.evs.includes(m.ev));
      if (i >= 0) this.waiters.splice(i, 1)[0].resolve(m);
    });
    // Errors thrown before http-thread.ts installed its handler (a module failing to load).
    this.worker.on('error', (e) => { this.error ??= e; });
    this.exit = new Promise((resolve) => this.worker.once('exit', (code) => {
      this.exited = true;
      this.listening = false;
      const why = new Error(`HTTP thread ${index} exited with code ${code}${this.error === undefined ? '' : `: ${describe(this.error)}`}`);
      for (const w of this.waiters.splice(0)) w.reject(why);
      resolve(code);
    }));
  }

  post(m: ToThread): void {
    if (!this.exited) this.worker.postMessage(m);
  }

  /** The next message of one of these kinds; rejects if the thread exits first. */
  next(...evs: Ev[]): Promise<FromThread> {
    if (this.exited) return Promise.reject(new Error(`HTTP thread ${this.index} has exited`));
    return new Promise((resolve, reject) => this.waiters.push({ evs, resolve, reject }));
  }
}

export interface ThreadOptions {
  /** The thread module (default src/worker/http-thread.ts); tests wrap it to inject faults. */
  entry?: URL;
  /** Exits tolerated within CRASH_WINDOW_MS before `fatal` settles (default MAX_CRASHES). */
  maxCrashes?: number;
}

export async function startThreads(config: Readonly<Config>, count: number, shared: Record<string, SharedArrayBuffer>, opts: ThreadOptions = {}): Promise<Server> {
  const entry = (opts.entry ?? ENTRY).href;
  const maxCrashes = opts.maxCrashes ?? MAX_CRASHES;
  const host = config.server.host;
  const inFlight = new Int32Array(new SharedArrayBuffer(4 * count));
  const data = { config: config as Config, threads: count, shared, inFlight, entry };
  // Serves nothing: it mirrors the threads' state, so it starts no route pool of its own.
  const engine = new Engine(config, shared, { serves: false });
  const slots: HttpThread[] = [];
  let port = config.server.port;
  let started = false;
  let closing = false;
  /** What a (re)started thread adopts: the start's tables, then each hot reload's (with its generation and decision cache). */
  let tables: SharedTables | SwapTables | undefined;
  let loadError: Error | undefined;
  const crashes: number[] = [];
  let giveUp!: (e: Error) => void;
  const fatal = new Promise<Error>((resolve) => { giveUp = resolve; });

  const sum = () => { let n = 0; for (let i = 0; i < count; i++) n += inFlight[i]; return n; };
  const live = () => slots.filter((t) => !t.exited);

  const boot = async (i: number): Promise<HttpThread> => {
    const t = new HttpThread(i, data);
    t.onControl = (m) => {
      const p = m.call === 'reload' ? owner.reload(m.dir) : owner.addModel(m.input);
      p.then((value) => t.post({ op: 'control-reply', id: m.id, ok: true, value }), (e: unknown) => t.post({ op: 'control-reply', id: m.id, ok: false, error: toWire(e) }));
    };
    slots[i] = t;
    void t.exit.then((code) => onExit(t, code));
    await t.next('booted');
    return t;
  };

  const startListening = async (t: HttpThread): Promise<void> => {
    t.post({ op: 'listen', port });
    const m = await t.next('listening', 'listen-failed');
    if (m.ev === 'listen-failed') throw new Error(m.message);
  };

  /** Tells every live thread to close; resolves when they have exited (or the grace period ran out). */
  const stopAll = async (timeoutMs: number): Promise<boolean> => {
    const threads = live();
    for (const t of threads) t.post({ op: 'close', timeoutMs });
    const grace = timeoutMs + THREAD_EXIT_GRACE_MS;
    const drained = await Promise.all(threads.map((t) => within(t.next('closed').then((m) => m.ev === 'closed' && m.drained, () => false), grace, false)));
    await within(Promise.all(threads.map((t) => t.exit)), grace, []);
    return drained.every(Boolean);
  };

  const restart = async (i: number): Promise<void> => {
    const t = await boot(i);
    if (closing) { t.post({ op: 'close', timeoutMs: 0 }); return; }
    // With no thread of ours listening, the port is free for anyone: check it exclusively again.
    if (!live().some((s) => s !== t && s.listening)) await reservePort(host, port);
    await startListening(t);
    if (tables) t.post({ op: 'load', tables });
    else if (loadError) t.post({ op: 'fail', message: loadError.message });
  };

  const onExit = (t: HttpThread, code: number): void => {
    if (!started || closing || slots[t.index] !== t) return;
    inFlight[t.index] = 0; // its requests died with it
    const now = Date.now();
    crashes.push(now);
    while (crashes[0] < now - CRASH_WINDOW_MS) crashes.shift();
    const fatalNow = crashes.length > maxCrashes;
    channels.httpThreadExit.publish({ thread: t.index, code, error: t.error, restarting: !fatalNow, fatal: fatalNow });
    if (fatalNow) {
      giveUp(new Error(`HTTP threads exited ${crashes.length} times within ${CRASH_WINDOW_MS / 1000} s; the last, thread ${t.index}: ${t.error === undefined ? `exit code ${code}` : describe(t.error)}`));
      return;
    }
    restart(t.index).catch((e: unknown) => {
      // A replacement that died is another exit, counted above; anything else (the port taken meanwhile) is fatal.
      const r = slots[t.index];
      if (r !== t && r.exited) return;
      r.post({ op: 'close', timeoutMs: 0 });
      giveUp(new Error(`cannot restart HTTP thread ${t.index}: ${describe(e)}`));
    });
  };

  // Boot every thread first (module loading takes ~0.5 s), so the gap between
  // the exclusive check and the threads' listen is one message hop.
  try {
    const threads = await Promise.all(Array.from({ length: count }, (_, i) => boot(i)));
    port = await reservePort(host, port);
    await Promise.all(threads.map(startListening));
  } catch (e) {
    closing = true;
    await stopAll(0);
    await engine.close();
    throw e;
  }
  started = true;
  if (channels.serverListening.hasSubscribers) channels.serverListening.publish({ host, port, uwsNative: UWS_NATIVE, threads: count });

  /** Reads the disk, hands the tables to every thread, resolves once all adopted them. */
  const adopt = async (): Promise<SharedTables> => {
    try {
      tables = await loadTables(config);
      const threads = live();
      for (const t of threads) t.post({ op: 'load', tables });
      // A thread that dies meanwhile is restarted with the tables; only an explicit failure fails the load.
      const replies = await Promise.all(threads.map((t) => t.next('loaded', 'load-failed').catch((): FromThread => ({ ev: 'loaded' }))));
      const bad = replies.find((m) => m.ev === 'load-failed');
      if (bad?.ev === 'load-failed') throw new Error(`an HTTP thread could not adopt the tables: ${bad.message}`);
      return tables;
    } catch (e) {
      loadError = e as Error;
      tables = undefined;
      for (const t of live()) t.post({ op: 'fail', message: loadError.message });
      throw e;
    }
  };

  /**
   * Hot reload: every live thread swaps, then the main thread's mirror.
   * `tables` changes first, so a thread restarting meanwhile adopts the new
   * ones (a thread that is still loading treats the swap as its load).
   */
  const swapAll = async (t: SwapTables): Promise<void> => {
    tables = t;
    const threads = live();
    for (const th of threads) th.post({ op: 'swap', tables: t });
    // A thread that dies meanwhile is restarted with the new tables; only an explicit failure fails the swap.
    const replies = await Promise.all(threads.map((th) => th.next('swapped', 'swap-failed').catch((): FromThread => ({ ev: 'swapped' }))));
    const bad = replies.find((m) => m.ev === 'swap-failed');
    if (bad?.ev === 'swap-failed') throw new Error(`an HTTP thread could not swap to the new profile: ${bad.message}`);
    await engine.swap(t);
  };
  const owner = new ProfileOwner(config, engine, swapAll);

  let loading: Promise<void> | undefined;
  let closed: Promise<{ drained: boolean }> | undefined;
  const close = async (timeoutMs: number): Promise<{ drained: boolean }> => {
    const t0 = performance.now();
    closing = true;
    owner.close();
    channels.serverClosing.publish({ inFlight: sum() });
    const drained = await stopAll(timeoutMs);
    await engine.close();
    channels.serverClosed.publish({ drained, inFlight: sum(), ms: performance.now() - t0 });
    return { drained };
  };

  return {
    host,
    port,
    engine,
    uwsNative: UWS_NATIVE,
    threads: count,
    // The main Engine adopts last, so its "ready" (status, the log line, its load time) covers every thread.
    load: () => (loading ??= engine.load(adopt()).then(() => owner.listen())),
    reload: (dir, source) => owner.reload(dir, source),
    inFlight: sum,
    inFlightPerThread: () => Array.from(inFlight),
    fatal,
    close: (o = {}) => (closed ??= close(o.timeoutMs ?? config.server.shutdown_timeout_ms)),
    drop: () => { for (const t of live()) t.post({ op: 'drop' }); },
  };
}
