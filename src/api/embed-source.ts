/**
 * Where embeddings come from, chosen once from the config (dispatch policy and
 * its measurements: src/pool/pool.ts).
 *
 * - native: `embedSync` inline on the event loop. ~13 µs for 200 chars
 *   (bench/micro.ts), below a thread hand-off's 10-85 µs round trip, so a pool
 *   would only add latency. Long prompts block the loop for longer (~3 ms at the
 *   default 65,536-char input limit); limits.input_chars bounds that.
 * - onnx: a transformer forward pass is milliseconds and onnxruntime-node's
 *   run() blocks the calling thread for all of it (bench/pool.ts: event-loop time
 *   per embed = latency), so it runs in the piscina pool (`workers` threads,
 *   each with its own session) with main-thread micro-batching
 *   (embedder.batch_max_size / batch_max_wait_ms; a lone request is sent at once).
 */
import { loadNativeTables, NativeEmbedder } from '../routing/embedders/native.ts';
import type { SyncEmbedder } from '../routing/embedders/types.ts';
import type { EmbedBackend } from '../pool/types.ts';
import { createEmbedPool } from '../pool/pool.ts';
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

export async function createEmbedSource(config: { embedder: Pick<Config['embedder'], 'kind' | 'dir'> & Partial<Config['embedder']>; router: Pick<Config['router'], 'profile'> & Partial<Config['router']> } & Pick<Config, 'workers'>): Promise<EmbedSource> {
  if (config.embedder.kind === 'native') {
    // The native tables ship inside the profile directory unless pointed elsewhere.
    const embedder = new NativeEmbedder(loadNativeTables(config.embedder.dir ?? config.router.profile));
    return { kind: 'sync', embedder };
  }
  const dir = config.embedder.dir;
  if (!dir) throw new Error('embedder.kind onnx needs embedder.dir (the model directory)');
  const batch = { maxSize: config.embedder.batch_max_size ?? 32, maxWaitMs: config.embedder.batch_max_wait_ms ?? 2 };
  return { kind: 'async', backend: await createEmbedPool({ embedder: { kind: 'onnx', dir }, threads: config.workers, batch }) };
}
