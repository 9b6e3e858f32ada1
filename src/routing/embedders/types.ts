/**
 * The one interface every embedder implements. The contract suite in
 * test/routing/embedder-contract.ts runs against every implementation.
 *
 * Vectors are always L2-normalised Float32Arrays of length `dim`. `embedMany`
 * returns one contiguous row-major matrix (n x dim) so a batch crosses a
 * thread boundary as a single transferable buffer, never as JSON.
 */
export interface Embedder {
  /** Stable identifier, e.g. "native-hashgram-v1" or "onnx:all-MiniLM-L6-v2". */
  readonly id: string;
  /** Output dimension. */
  readonly dim: number;
  /**
   * Content hash of everything that determines the output (weights, vocab,
   * tables, options). A router profile records it and refuses a mismatch.
   */
  readonly hash: string;
  embed(text: string): Promise<Float32Array>;
  embedMany(texts: readonly string[]): Promise<Float32Array>;
  /** Release native resources (ONNX sessions). Idempotent. */
  close(): Promise<void>;
}

/** Embedders cheap enough to run inline on the event loop also expose a synchronous path. */
export interface SyncEmbedder extends Embedder {
  embedSync(text: string, out?: Float32Array): Float32Array;
}

export function isSyncEmbedder(e: Embedder): e is SyncEmbedder {
  return typeof (e as SyncEmbedder).embedSync === 'function';
}
