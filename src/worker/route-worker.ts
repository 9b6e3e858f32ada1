/**
 * Route worker: nearest-centroid search for large-K profiles, inside a pool
 * thread only (src/pool/route-pool.ts starts it).
 *
 * Profiles at or above HNSW_MIN_K use hnswlib; below it, the exact SIMD scan.
 * An hnswlib index cannot be shared between threads, so each worker builds its
 * own at import from the centroids in the main thread's SharedArrayBuffer (no
 * copy of the centroids; the index itself is per thread). Builds run in parallel
 * on the worker threads and never block the event loop; the fixed seed makes
 * every worker's graph identical, so answers do not depend on which thread
 * served them. Build time at K=10,000, dim 384 is in bench/results/pool.json.
 * A failure is kept and rejects every task rather than throwing at import (see
 * embed-worker.ts for why).
 */
import { workerData, threadId } from 'node:worker_threads';
import { HnswIndex, HNSW_MIN_K, bruteForceIndex, type NearestIndex } from '../routing/nearest.ts';
import type { RouteTask, RouteWorkerData, RouteWorkerInfo, SearchResult } from '../pool/protocol.ts';

const data = workerData as RouteWorkerData;
const t0 = performance.now();
// Below HNSW_MIN_K the exact SIMD scan is as fast as HNSW (bench/micro.ts), needs no build, and is exact.
const centroids = new Float32Array(data.centroids);
const build = data.k >= HNSW_MIN_K ? HnswIndex.build(centroids, data.k, data.dim, data.hnsw) : Promise.resolve(bruteForceIndex(centroids, data.k, data.dim));
const built: { index: NearestIndex } | { error: Error } = await build.then(
  (index) => ({ index }),
  (error: unknown) => ({ error: error instanceof Error ? error : new Error(String(error)) }),
);
const buildMs = performance.now() - t0;

export default function routeTask(task: RouteTask): SearchResult | RouteWorkerInfo {
  if ('error' in built) throw built.error;
  if (task.op === 'info') return { threadId, size: built.index.size, buildMs };
  const n = Math.min(task.top, built.index.size);
  // 8 bytes a result: cloning is as cheap as a transfer at this size.
  const ids = new Int32Array(n), sims = new Float32Array(n);
  built.index.search(task.q, n, ids, sims);
  return { ids, sims };
}
