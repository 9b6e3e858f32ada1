/**
 * What crosses the thread boundary between the main-thread pools (src/pool/) and
 * the worker modules (src/worker/). Vectors travel as typed arrays: results are
 * transferred (moved, no copy), tables and centroids sit in SharedArrayBuffers
 * that every worker maps. Nothing here is ever JSON.
 */
import type { NativeParams } from '../routing/embedders/native.ts';

/** Given once to every embed worker as workerData. */
export type EmbedWorkerData =
  /** `buffer` is the SharedArrayBuffer the main thread loaded: structured clone shares it, it is not copied. */
  | { kind: 'native'; params: NativeParams; buffer: SharedArrayBuffer }
  /** onnxruntime sessions cannot be shared between threads: each worker loads its own. */
  | { kind: 'onnx'; dir: string; maxLength?: number };

export type EmbedTask =
  /** Resolves to one row-major Float32Array (texts.length x dim), moved to the main thread. */
  | { op: 'embed'; texts: string[] }
  | { op: 'info' }
  /** Empty round trip: health checks and the hand-off benchmark. */
  | { op: 'ping' };

/** The loaded embedder's identity, as the worker sees it. */
export interface EmbedWorkerInfo { id: string; dim: number; hash: string }

export interface HnswOptions { m?: number; efConstruction?: number; efSearch?: number; seed?: number }

/** Given once to every route worker: the centroids in shared memory, from which each worker builds its own index. */
export interface RouteWorkerData { centroids: SharedArrayBuffer; k: number; dim: number; hnsw: HnswOptions }

export type RouteTask =
  /** `q` is structured-cloned (1.5 KB at dim 384): the caller keeps its own buffer. */
  | { op: 'search'; q: Float32Array; top: number }
  | { op: 'info' };

export interface SearchResult { ids: Int32Array; sims: Float32Array }
export interface RouteWorkerInfo { threadId: number; size: number; buildMs: number }
