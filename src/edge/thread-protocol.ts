/**
 * Messages between the main thread (src/edge/threads.ts) and an HTTP thread
 * (src/worker/http-thread.ts). Tables travel as SharedArrayBuffers inside
 * these messages: structured clone shares them, so a 'load' costs a few
 * microseconds whatever the profile size.
 *
 * One thread's life: booted -> (listen) listening -> (load) loaded -> (close) closed -> exit.
 */
import type { Config } from '../config/schema.ts';
import type { SharedTables, SwapTables } from '../api/engine.ts';
import type { AddModelInput, WireError } from '../api/profile-control.ts';

export interface HttpThreadData {
  /** The module bootstrap.mjs imports after registering tsx. */
  entry: string;
  config: Config;
  /** 0-based; also this thread's slot in `inFlight`. */
  index: number;
  threads: number;
  /**
   * Process-wide shared state, the same buffers in every thread (e.g. the
   * gateway's model-health table): startServer builds the bag, each thread's
   * Engine receives it. Add a key there to share more.
   */
  shared: Record<string, SharedArrayBuffer>;
  /** One Int32 slot per thread: its in-flight count (the main thread sums them). */
  inFlight: Int32Array;
}

export type ToThread =
  | { op: 'listen'; port: number }
  /** SwapTables for a thread (re)started after a hot reload: the current profile, its generation and decision cache. */
  | { op: 'load'; tables: SharedTables | SwapTables }
  /** Hot reload (src/api/profile-control.ts): Engine.swap, answered 'swapped' / 'swap-failed'. */
  | { op: 'swap'; tables: SwapTables }
  /** The main thread's answer to a thread's 'control' call. */
  | { op: 'control-reply'; id: number; ok: true; value: unknown }
  | { op: 'control-reply'; id: number; ok: false; error: WireError }
  /** The main thread could not load the tables: /health says "failed", /v1/* 503. */
  | { op: 'fail'; message: string }
  | { op: 'close'; timeoutMs: number }
  /** Drop every connection now (a second signal); a close in progress then completes. */
  | { op: 'drop' };

export type FromThread =
  | { ev: 'booted' }
  | { ev: 'listening' }
  | { ev: 'listen-failed'; message: string }
  | { ev: 'loaded' }
  | { ev: 'load-failed'; message: string }
  | { ev: 'closed'; drained: boolean }
  | { ev: 'swapped' }
  | { ev: 'swap-failed'; message: string }
  /** POST /v1/router/reload or /v1/router/models on this thread: the main thread owns profile changes. */
  | { ev: 'control'; id: number; call: 'reload'; dir: string | undefined }
  | { ev: 'control'; id: number; call: 'addModel'; input: AddModelInput }
  /** Sent from the thread's uncaughtException handler, just before it drops its connections and exits 1. */
  | { ev: 'crashed'; error: unknown }
  /** A diagnostics-channel message for the main thread to re-publish (internal errors). */
  | { ev: 'diag'; channel: 'internalError'; message: unknown };
