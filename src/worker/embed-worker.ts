/**
 * Embed worker: runs inside a pool thread only (src/pool/pool.ts starts it).
 *
 * The embedder is loaded at import, under top-level await: piscina imports the
 * module when the thread starts and runs no task before the import settles, so
 * every thread has its model ready before its first request. A load failure is
 * kept, not thrown: an import that throws is an uncaught error in the thread,
 * which piscina would answer by starting another thread that fails the same way.
 * Kept, it rejects every task, and the pool's start-up probe turns it into one
 * clear start-up error.
 *
 * Native: the tables are the main thread's SharedArrayBuffer (workerData clones
 * a SharedArrayBuffer by reference), so N workers add N x the per-thread scratch
 * (2 MB of term-frequency slots at 2^18 buckets), not N copies of the tables.
 * ONNX: one onnxruntime session per thread with one intra-op thread; sessions
 * cannot be shared and more intra-op threads only oversubscribe the cores.
 */
import { workerData } from 'node:worker_threads';
import { move } from 'piscina';
import { NativeEmbedder } from '../routing/embedders/native.ts';
import type { Embedder } from '../routing/embedders/types.ts';
import type { EmbedTask, EmbedWorkerData, EmbedWorkerInfo } from '../pool/protocol.ts';

const data = workerData as EmbedWorkerData;

async function load(d: EmbedWorkerData): Promise<Embedder> {
  if (d.kind === 'native') return new NativeEmbedder({ params: d.params, buffer: d.buffer });
  const { OnnxEmbedder } = await import('../routing/embedders/onnx.ts');
  return OnnxEmbedder.load(d.dir, { maxLength: d.maxLength, threads: 1 });
}

const loaded: { embedder: Embedder } | { error: Error } = await load(data).then(
  (embedder) => ({ embedder }),
  (error: unknown) => ({ error: error instanceof Error ? error : new Error(String(error)) }),
);

export default async function embedTask(task: EmbedTask): Promise<unknown> {
  if (task.op === 'ping') return 0;
  if ('error' in loaded) throw loaded.error;
  const e = loaded.embedder;
  if (task.op === 'embed') {
    // One contiguous n x dim matrix, moved (transferred) rather than cloned.
    return move(await e.embedMany(task.texts));
  }
  const info: EmbedWorkerInfo = { id: e.id, dim: e.dim, hash: e.hash };
  return info;
}
