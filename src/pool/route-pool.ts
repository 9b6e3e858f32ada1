/**
 * Nearest-centroid search in worker threads, for profiles with K in the
 * thousands (dispatchFor in pool.ts says when). The centroids are copied once
 * into a SharedArrayBuffer that every worker maps; each worker builds its own
 * hnswlib index from it (indexes cannot be shared between threads).
 */
import type { HnswOptions, RouteTask, RouteWorkerInfo, SearchResult } from './protocol.ts';
import { PoolError, messageOf } from './errors.ts';
import { startPiscina, type PoolHealth } from './threads.ts';

export type { SearchResult } from './protocol.ts';

export interface RoutePoolOptions {
  /** k x dim row-major, rows L2-normalised (a profile's centroids). */
  centroids: Float32Array;
  k: number;
  dim: number;
  threads: number;
  hnsw?: HnswOptions;
}

export interface RoutePool {
  readonly k: number;
  readonly dim: number;
  /** The `top` nearest centroids, best first: ids and cosine similarities, min(top, k) of each. */
  search(embedding: Float32Array, top: number): Promise<SearchResult>;
  stats(): PoolHealth & { threads: number; searches: number; queued: number; buildMs: number[] };
  close(): Promise<void>;
}

const ROUTE_WORKER = new URL('../worker/route-worker.ts', import.meta.url);

export async function createRoutePool(opts: RoutePoolOptions): Promise<RoutePool> {
  const { centroids, k, dim } = opts;
  if (centroids.length !== k * dim) throw new RangeError(`route pool: ${centroids.length} floats is not ${k} x ${dim}`);
  // A loaded profile's centroids already sit in a SharedArrayBuffer of their own
  // (routing/profile.ts): map that one (every HTTP thread's pool then maps the
  // same memory); anything else is copied into one. Workers only read it.
  let shared: SharedArrayBuffer;
  if (centroids.buffer instanceof SharedArrayBuffer && centroids.byteOffset === 0 && centroids.byteLength === centroids.buffer.byteLength) shared = centroids.buffer;
  else {
    shared = new SharedArrayBuffer(centroids.byteLength);
    new Float32Array(shared).set(centroids);
  }
  const { piscina, health } = startPiscina(ROUTE_WORKER, opts.threads, { centroids: shared, k, dim, hnsw: opts.hnsw ?? {} });
  let infos: RouteWorkerInfo[];
  try {
    infos = await Promise.all(Array.from({ length: opts.threads }, () => piscina.run({ op: 'info' } satisfies RouteTask) as Promise<RouteWorkerInfo>));
  } catch (err) {
    await piscina.destroy();
    throw new PoolError('pool_start_failed', `route pool: a worker could not build its index (K=${k}, dim ${dim}): ${messageOf(err)}`, { cause: err });
  }
  let searches = 0;
  let closing: Promise<void> | null = null;
  return {
    k, dim,
    async search(embedding, top) {
      if (closing) throw new PoolError('pool_closed', 'route pool is closed');
      if (embedding.length !== dim) throw new RangeError(`route pool: embedding has ${embedding.length} floats, expected ${dim}`);
      if (!Number.isInteger(top) || top < 1) throw new RangeError(`route pool: top must be an integer >= 1, got ${top}`);
      searches++;
      try {
        return await piscina.run({ op: 'search', q: embedding, top } satisfies RouteTask) as SearchResult;
      } catch (err) {
        throw new PoolError('pool_task_failed', `route pool: ${messageOf(err)}`, { cause: err });
      }
    },
    stats: () => ({ ...health, threads: opts.threads, searches, queued: piscina.queueSize, buildMs: infos.map((i) => i.buildMs) }),
    close: () => (closing ??= piscina.close()),
  };
}
