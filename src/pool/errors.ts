/**
 * Errors the pools reject with. Each carries a stable `code` so the error
 * catalogue (src/errors.ts) can map it to an HTTP status without matching on
 * messages: pool_closed -> 503 (shutting down), pool_task_failed -> 500,
 * pool_start_failed is a start-up error (bad model directory, broken tables).
 */
export type PoolErrorCode = 'pool_closed' | 'pool_task_failed' | 'pool_start_failed';

export class PoolError extends Error {
  override name = 'PoolError';
  constructor(readonly code: PoolErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
