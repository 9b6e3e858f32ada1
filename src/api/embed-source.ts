/**
 * Where embeddings come from, chosen once from the config. The one place the
 * worker pool plugs in: the ONNX branch below becomes `createPool(...)` (which
 * implements EmbedBackend in src/pool/pool.ts) and nothing else changes.
 *
 * - native: `embedSync` inline on the event loop. ~13 µs for 200 chars
 *   (bench/micro.ts), below a thread hand-off's 10-85 µs round trip, so a pool
 *   would only add latency. Long prompts block the loop for longer (~3 ms at the
 *   default 65,536-char input limit); limits.input_chars bounds that.
 * - onnx: a transformer forward pass is milliseconds, so it goes through an
 *   async EmbedBackend. For now an in-process adapter around OnnxEmbedder
 *   (onnxruntime runs the session off the JS thread already, so the event loop
 *   is not blocked, but tokenisation still runs on it).
 */
import { loadNativeTables, NativeEmbedder } from '../routing/embedders/native.ts';
import type { SyncEmbedder } from '../routing/embedders/types.ts';
import type { EmbedBackend } from '../pool/types.ts';
import type { Config } from '../config/schema.ts';

export type EmbedSource =
  | { readonly kind: 'sync'; readonly embedder: SyncEmbedder }
  | { readonly kind: 'async'; readonly backend: EmbedBackend };

export interface EmbedIdentity { id: string; dim: number; hash: string }

export function identityOf(s: EmbedSource): EmbedIdentity {
  const e = s.kind === 'sync' ? s.embedder : s.backend;
  return { id: e.id, dim: e.dim, hash: e.hash };
}

export function closeEmbedSource(s: EmbedSource): Promise<void> {
  return s.kind === 'sync' ? s.embedder.close() : s.backend.close();
}

export async function createEmbedSource(config: Pick<Config, 'embedder' | 'router' | 'workers'>): Promise<EmbedSource> {
  if (config.embedder.kind === 'native') {
    // The native tables ship inside the profile directory unless pointed elsewhere.
    const embedder = new NativeEmbedder(loadNativeTables(config.embedder.dir ?? config.router.profile));
    return { kind: 'sync', embedder };
  }
  const dir = config.embedder.dir;
  if (!dir) throw new Error('embedder.kind onnx needs embedder.dir (the model directory)');
  return { kind: 'async', backend: await inProcessOnnx(dir) };
}

/**
 * EmbedBackend over one in-process OnnxEmbedder. Stand-in for the worker pool:
 * same interface, no threads. onnxruntime is imported lazily by OnnxEmbedder,
 * so a native-embedder server never loads the 60 MB addon.
 */
async function inProcessOnnx(dir: string): Promise<EmbedBackend> {
  const { OnnxEmbedder } = await import('../routing/embedders/onnx.ts');
  const e = await OnnxEmbedder.load(dir);
  return {
    id: e.id,
    dim: e.dim,
    hash: e.hash,
    embed: (text) => e.embed(text),
    close: () => e.close(),
  };
}
