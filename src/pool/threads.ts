/**
 * Starting a piscina pool whose workers are TypeScript modules.
 *
 * piscina's `filename` is always src/worker/bootstrap.mjs, which registers tsx
 * inside the thread and imports the real worker module (`entry`, passed in
 * workerData). Inheriting `--import tsx` is not enough under Node 20: there tsx
 * hooks `import` in the main thread only (see bootstrap.mjs). Tested under
 * `node --import tsx`, `node --import tsx --test` and `npx tsx`.
 */
import { Piscina } from 'piscina';

const BOOTSTRAP = new URL('../worker/bootstrap.mjs', import.meta.url);

export interface PoolHealth {
  /** Worker errors piscina could not pin on a task (a worker dying while idle). */
  workerErrors: number;
  lastWorkerError: string | null;
}

/**
 * minThreads = maxThreads: every worker loads its model at start-up, not on the
 * first request, and is not reaped while idle (re-loading an ONNX session costs
 * far more than an idle thread). The queue is unbounded: admission control
 * belongs to the server, which knows its own concurrency limit.
 *
 * stricterFIFO: by default piscina puts a queued task it could not hand to a
 * busy worker back at the *tail*, so under sustained load the queue rotates
 * and some tasks wait for many rounds. Measured with the route pool (1 thread,
 * K=10,000, top 16, 64 concurrent searches for 5 s, 2-core VM, three runs
 * each): by default the slowest search took 1.5-5.0 s (p99 26-484 ms); with
 * stricterFIFO 62-65 ms (p99 45-54 ms, the queue's length x the search time).
 * Throughput is the same within this machine's noise (1,900-2,850 searches/s).
 * Over HTTP (/v1/route, wrk, 64 connections) p99 went from 1,570 ms, with 30
 * requests past wrk's 2 s timeout, to 33-56 ms.
 */
export function startPiscina(entry: URL, threads: number, workerData: object): { piscina: Piscina; health: PoolHealth } {
  if (!Number.isInteger(threads) || threads < 1) throw new RangeError(`pool: threads must be an integer >= 1, got ${threads}`);
  const piscina = new Piscina({
    filename: BOOTSTRAP.href,
    minThreads: threads,
    maxThreads: threads,
    idleTimeout: Infinity,
    stricterFIFO: true,
    workerData: { ...workerData, entry: entry.href },
  });
  const health: PoolHealth = { workerErrors: 0, lastWorkerError: null };
  // piscina emits 'error' for a worker that dies with no task to blame; an
  // EventEmitter 'error' with no listener would throw and take the process down.
  // piscina has already started a replacement worker by then.
  piscina.on('error', (err: unknown) => {
    health.workerErrors++;
    health.lastWorkerError = err instanceof Error ? err.message : String(err);
  });
  return { piscina, health };
}
