/**
 * The embed pool: embeddings computed in piscina worker threads, with
 * main-thread micro-batching (batcher.ts). Also the dispatch policy: which
 * stage of a request runs inline on the event loop and which goes to a pool.
 *
 * DISPATCH POLICY. A hand-off is not free: an empty piscina task costs 18 µs
 * p50 / 80 µs p99 round trip and 17 µs of event-loop time; a real task adds
 * 25-90 µs of latency over doing the work inline. What the pool buys is
 * event-loop time, the resource that bounds a 2-core server. So a stage goes to
 * the pool only when its inline cost is several times (>= ~3x) the ~20-25 µs
 * the hand-off itself costs the event loop; below that the saving is within
 * this machine's noise and every request pays the added latency for nothing.
 *
 *   stage (bench/pool.ts, 2-core EPYC,     inline: p50 / event   pool: p50 / event   verdict
 *   Node 20, 200-char prompts, top 16)     loop per op           loop per op
 *   native embed                           34 / 34 µs            59 / 16 µs          inline
 *   SIMD brute force K=100 / 1,000         2.3 / 21 µs (micro)   -                   inline
 *   SIMD brute force K=5,000               112 µs (micro)        ~25 µs event loop   pool
 *   HNSW K=1,000 (before SIMD)             82 / 83 µs            157 / 25 µs         -
 *   HNSW K=10,000                          130 / 148 µs          218 / 26 µs         pool
 *   ONNX, tiny test model                  110 / 114-128 µs      200 / 2-29 µs       pool
 *   ONNX, MiniLM-L6-shaped random model    9.0 ms / 9.1-10 ms    8.9 ms / 16-300 µs  pool
 *
 * onnxruntime-node's run() blocks the calling thread for the whole inference
 * (event-loop time = latency above), so inline ONNX stalls every other request.
 *
 * MICRO-BATCHING (ONNX default: 32 texts, 2 ms). On the tiny model at 16/64
 * concurrent callers: 4,500/9,400 embeds/s unbatched -> 11,900/21,700 batched
 * (threads 1/2 at 64: 12,500/21,700), event-loop cost 25-35 -> 2-4 µs an embed;
 * at one caller it costs nothing (0.20 vs 0.22 ms p50), because a lone request
 * is sent at once. On the MiniLM-shaped model (~9 ms an embed) inference
 * dominates: 100-115 embeds/s in every mode, and threads 2 adds nothing on these
 * 2 vCPUs; batching still cuts event-loop cost from 240-1,000 to 16-32 µs an embed.
 *
 * Not covered: dispatchFor ignores prompt length; native embedding of a
 * 4,000-character prompt costs ~270 µs (bench/results/micro.json), which would
 * pay for a hand-off. Figures are medians from one run on a noisy shared
 * machine; re-run `node --import tsx bench/pool.ts` before moving a threshold.
 */
import { resolve } from 'node:path';
import { availableParallelism } from 'node:os';
import type { Piscina } from 'piscina';
import { loadNativeTables, NativeEmbedder, type NativeTables } from '../routing/embedders/native.ts';
import type { EmbedBackend } from './types.ts';
import type { EmbedTask, EmbedWorkerData, EmbedWorkerInfo } from './protocol.ts';
import { MicroBatcher, checkBatchOptions, type BatchOptions, type BatchCounts } from './batcher.ts';
import { PoolError, messageOf } from './errors.ts';
import { startPiscina, type PoolHealth } from './threads.ts';

export type { BatchOptions } from './batcher.ts';

// ---------------------------------------------------------------- dispatch policy

export type EmbedderKind = 'native' | 'onnx';
export interface Dispatch { embed: 'inline' | 'pool'; route: 'inline' | 'pool' }

/**
 * Profiles with at least this many centroids search in the route pool. Since the
 * WASM SIMD scan (src/routing/nearest-simd.ts) an inline search costs ~0.023 µs
 * per centroid (2.3 µs at K=100, 21 µs at K=1,000, 112 µs at K=5,000 in
 * bench/micro.ts), so it reaches the ~3x-the-hand-off bar (~75 µs of event-loop
 * time) near K=3,000. Below that, inline is cheaper for the event loop and adds
 * no latency. (Before SIMD, HNSW at K=1,000 cost 83 µs inline and the bar was K=1,000.)
 */
export const ROUTE_POOL_MIN_K = 3000;

export interface DispatchInput {
  embedderKind: EmbedderKind;
  k: number;
  /** config router.nearest; default 'auto'. */
  nearest?: 'auto' | 'inline' | 'pool';
  /** HTTP threads of the process; default 1. */
  httpThreads?: number;
  /** Cores available to the process; default os.availableParallelism(). */
  cores?: number;
}

/**
 * Where each stage of a request runs (see the policy at the top of this file).
 *
 * The route pool at K >= ROUTE_POOL_MIN_K saves event-loop time, but the hop
 * costs latency, and on a machine with no core to spare the worker competes
 * with the HTTP thread for the same CPU. Measured at K=10,000, 2 cores, 1 HTTP
 * thread, 1 route worker, wrk on the same machine (2026-12-01): routing_ms p50
 * 0.43-0.50 ms through the pool vs 0.17-0.25 ms inline, and 15-40% fewer
 * requests/s at 64 connections. So "auto" sends the search to the pool only
 * when K is large AND at least two cores are left beside the HTTP threads (one
 * for the route worker, one for everything else); `router.nearest` overrides.
 */
export function dispatchFor({ embedderKind, k, nearest = 'auto', httpThreads = 1, cores = availableParallelism() }: DispatchInput): Dispatch {
  const spare = cores - httpThreads >= 2;
  return {
    embed: embedderKind === 'native' ? 'inline' : 'pool',
    route: nearest !== 'auto' ? nearest : k >= ROUTE_POOL_MIN_K && spare ? 'pool' : 'inline',
  };
}

/**
 * Route-pool threads of one Engine: config `workers` shared out over the HTTP
 * threads, at least one each. Every HTTP thread has its own Engine and so its
 * own route pool: a piscina pool answers only the thread that created it, and
 * one process-wide pool would add a second hop (HTTP thread -> main thread ->
 * worker) to every search. Splitting keeps the process at
 * max(workers, HTTP threads) route workers, and each holds its own index (HNSW
 * from K=6,000: the K x dim floats again plus the graph), so the budget bounds
 * memory too. With the ONNX embedder (one HTTP thread) the embed pool has its
 * own `workers` threads beside these; a search (~0.1-0.2 ms) is small next to
 * an embed (~9 ms at MiniLM size), so the route threads mostly wait.
 */
export function routePoolThreads(workers: number, httpThreads: number): number {
  return Math.max(1, Math.floor(workers / Math.max(1, httpThreads)));
}

// ---------------------------------------------------------------- embed pool

export type EmbedderSpec =
  /** `tables`: already-loaded tables to share (e.g. the inline embedder's); else they are loaded from `dir`. */
  | { kind: 'native'; dir: string; tables?: NativeTables }
  | { kind: 'onnx'; dir: string; maxLength?: number };

export interface EmbedPoolOptions {
  embedder: EmbedderSpec;
  threads: number;
  /** Micro-batching; default DEFAULT_ONNX_BATCH for ONNX, off for native. `{ maxSize: 1 }` turns it off. */
  batch?: BatchOptions;
  /** The worker module. Tests substitute a wrapper that injects faults; nothing else should. */
  workerFile?: URL;
}

export const DEFAULT_ONNX_BATCH: BatchOptions = { maxSize: 32, maxWaitMs: 2 };
const NO_BATCH: BatchOptions = { maxSize: 1, maxWaitMs: 0 };
const EMBED_WORKER = new URL('../worker/embed-worker.ts', import.meta.url);

export interface EmbedPoolStats extends BatchCounts, PoolHealth {
  kind: EmbedderKind;
  threads: number;
  batch: BatchOptions;
  /** Texts waiting on the main thread for a batch. */
  pending: number;
  /** Batches sent and not yet answered. */
  inFlight: number;
  /** Tasks waiting in piscina's queue for a free worker. */
  queued: number;
  closed: boolean;
}

export interface EmbedPool extends EmbedBackend {
  stats(): EmbedPoolStats;
  /** An empty round trip through a worker: a health check. */
  ping(): Promise<void>;
}

/**
 * Starts `threads` workers, waits until each has loaded its embedder, and checks
 * they all agree on its hash. Rejects with PoolError 'pool_start_failed' naming
 * the directory when a worker cannot load it.
 */
export async function createEmbedPool(opts: EmbedPoolOptions): Promise<EmbedPool> {
  const spec = opts.embedder;
  const batch = checkBatchOptions(opts.batch ?? (spec.kind === 'onnx' ? DEFAULT_ONNX_BATCH : NO_BATCH));
  let data: EmbedWorkerData;
  let mainHash: string | undefined;
  if (spec.kind === 'native') {
    const tables = spec.tables ?? loadNativeTables(spec.dir);
    data = { kind: 'native', params: tables.params, buffer: tables.buffer };
    mainHash = new NativeEmbedder(tables).hash;
  } else if (spec.kind === 'onnx') {
    data = { kind: 'onnx', dir: resolve(spec.dir), maxLength: spec.maxLength };
  } else {
    throw new PoolError('pool_start_failed', `embed pool: unknown embedder kind ${JSON.stringify((spec as { kind: unknown }).kind)}`);
  }

  const { piscina, health } = startPiscina(opts.workerFile ?? EMBED_WORKER, opts.threads, data);
  let infos: EmbedWorkerInfo[];
  try {
    // One probe per thread: piscina gives each to the least busy worker, so every
    // thread normally proves it loaded; a thread that did not still fails loudly on its first task.
    infos = await Promise.all(Array.from({ length: opts.threads }, () => piscina.run({ op: 'info' } satisfies EmbedTask) as Promise<EmbedWorkerInfo>));
    const hashes = new Set(infos.map((i) => i.hash));
    if (hashes.size !== 1) throw new Error(`workers disagree on the embedder hash (${[...hashes].join(', ')})`);
    if (mainHash !== undefined && mainHash !== infos[0].hash) throw new Error(`worker embedder hash ${infos[0].hash} differs from the main thread's ${mainHash}`);
  } catch (err) {
    await piscina.destroy();
    throw new PoolError('pool_start_failed', `embed pool: the ${spec.kind} embedder in ${spec.dir} could not be started in a worker: ${messageOf(err)}`, { cause: err });
  }
  return new PiscinaEmbedPool(piscina, health, spec.kind, infos[0], batch, opts.threads);
}

class PiscinaEmbedPool implements EmbedPool {
  readonly id: string;
  readonly dim: number;
  readonly hash: string;
  private readonly batcher: MicroBatcher;
  private closing: Promise<void> | null = null;

  constructor(
    private readonly piscina: Piscina,
    private readonly health: PoolHealth,
    private readonly kind: EmbedderKind,
    info: EmbedWorkerInfo,
    private readonly batch: BatchOptions,
    private readonly threads: number,
  ) {
    this.id = info.id;
    this.dim = info.dim;
    this.hash = info.hash;
    this.batcher = new MicroBatcher((texts) => piscina.run({ op: 'embed', texts } satisfies EmbedTask), info.dim, batch, threads);
  }

  embed(text: string): Promise<Float32Array> {
    if (this.closing) return Promise.reject(new PoolError('pool_closed', `embed pool (${this.id}) is closed`));
    // Checked here, not in the worker: a bad text there would fail its whole batch.
    if (typeof text !== 'string') return Promise.reject(new TypeError(`embed pool: text must be a string, got ${typeof text}`));
    return this.batcher.push(text);
  }

  async ping(): Promise<void> {
    if (this.closing) throw new PoolError('pool_closed', `embed pool (${this.id}) is closed`);
    await this.piscina.run({ op: 'ping' } satisfies EmbedTask);
  }

  stats(): EmbedPoolStats {
    return {
      ...this.batcher.counts, ...this.health,
      kind: this.kind, threads: this.threads, batch: this.batch,
      pending: this.batcher.pendingCount, inFlight: this.batcher.inFlightCount,
      queued: this.piscina.queueSize, closed: this.closing !== null,
    };
  }

  /** Stops accepting embeds, lets every accepted one finish, then stops the threads. Idempotent. */
  close(): Promise<void> {
    if (this.closing === null) {
      this.batcher.flush();
      this.closing = this.piscina.close();
    }
    return this.closing;
  }
}
