/**
 * The fallback chain: candidates in router-score order, each tried until one
 * answers. Pure control flow over an injected `attempt(model)`, so it is
 * tested without a network and reused for JSON and streaming alike.
 *
 * The attempt decides where "first byte" is: it should resolve only once the
 * response is committed (JSON fully read, or the first stream chunk ready to
 * send). Anything it throws before that, if retryable, moves on to the next
 * candidate; an error marked afterFirstByte stops the chain (the client holds
 * part of an answer: the caller ends the stream with an error event).
 *
 * Circuit breakers: `skip(model)` passes over degraded models; if that would
 * skip every candidate, they are all tried anyway in order (failing a request
 * outright because every model had a bad minute is worse than probing).
 */
import { UpstreamError, type FailureKind } from './failure.ts';
import { redact as defaultRedact } from './redact.ts';

export interface AttemptRecord {
  model: string;
  outcome: 'ok' | 'failed' | 'skipped';
  kind?: FailureKind;
  /** Upstream HTTP status, when the failure was an HTTP answer. */
  status?: number;
  /** Redacted. */
  message?: string;
  /** Time spent on this candidate. */
  ms: number;
}

export interface FallbackOptions {
  skip?: (model: string) => boolean;
  /** The client's signal: once aborted no further candidate is tried. */
  signal?: { readonly aborted: boolean };
  now?: () => number;
  redact?: (s: string) => string;
}

export interface FallbackSuccess<T> {
  model: string;
  value: T;
  /** Every candidate considered, in order, ending with the one that answered. */
  chain: AttemptRecord[];
}

/**
 * All candidates failed, or one failed in a way that must not be retried.
 * `code` and `status` are what the error catalogue needs; `attempts` is the
 * per-candidate detail for the response body and the logs (already redacted).
 */
export class UpstreamChainError extends Error {
  override name = 'UpstreamChainError';
  readonly code = 'upstream_error';
  constructor(
    message: string,
    /** HTTP status for the client: see statusFor(). */
    readonly status: number,
    readonly attempts: AttemptRecord[],
    /** The last failure happened after bytes reached the client: end the stream, do not send a status. */
    readonly afterFirstByte: boolean,
    /** The client went away; nothing should be written. */
    readonly aborted: boolean,
  ) {
    super(message);
  }

  toJSON(): { error: { code: string; message: string; attempts: AttemptRecord[] } } {
    return { error: { code: this.code, message: this.message, attempts: this.attempts } };
  }
}

const TIMEOUTS: ReadonlySet<FailureKind | undefined> = new Set<FailureKind | undefined>(['first_byte_timeout', 'timeout']);

/**
 * 4xx that must not be retried -> that status (the client's request is at
 * fault); every failure a 429 -> 429 (let the client back off); every failure
 * a timeout -> 504; only unsupported features -> 400; otherwise 502.
 */
function statusFor(failed: AttemptRecord[], last: UpstreamError | null): number {
  if (last && !last.retryable && last.kind === 'http_4xx' && last.status) return last.status;
  if (failed.length === 0) return 502;
  if (failed.every((a) => a.kind === 'rate_limited')) return 429;
  if (failed.every((a) => TIMEOUTS.has(a.kind))) return 504;
  if (failed.every((a) => a.kind === 'unsupported')) return 400;
  return 502;
}

function summary(a: AttemptRecord): string {
  return `${a.model} (${a.kind}${a.status ? ' ' + a.status : ''})`;
}

export async function runFallback<T>(
  candidates: readonly string[],
  attempt: (model: string, index: number) => Promise<T>,
  opts: FallbackOptions = {},
): Promise<FallbackSuccess<T>> {
  // No closures here: tsx (esbuild keepNames) wraps every named one in a
  // defineProperty call, per request (~0.5 µs for the two this used to make).
  const now = opts.now ?? performanceNow;
  const red = opts.redact ?? defaultRedact;
  const signal = opts.signal;
  const chain: AttemptRecord[] = [];
  let tried = 0;
  let last: UpstreamError | null = null;

  // Pass 0 honours skip(); if it skipped every candidate, pass 1 tries them all, in order.
  for (let pass = 0; pass < 2; pass++) {
    if (pass === 1 && (tried > 0 || candidates.length === 0)) break;
    for (let i = 0; i < candidates.length; i++) {
      const model = candidates[i];
      if (signal?.aborted) chainFailed(chain, new UpstreamError('aborted', 'client disconnected'), true, red);
      if (pass === 0 && opts.skip?.(model)) { chain.push({ model, outcome: 'skipped', kind: 'circuit_open', ms: 0 }); continue; }
      const t0 = now();
      tried++;
      try {
        const value = await attempt(model, i);
        chain.push({ model, outcome: 'ok', ms: now() - t0 });
        return { model, value, chain };
      } catch (e) {
        // Not an upstream failure: a bug, or an ApiError saying the request itself is
        // invalid (an adapter found a malformed tool call). Neither is for a retry to mask.
        if (!(e instanceof UpstreamError)) throw e;
        const rec: AttemptRecord = { model, outcome: 'failed', kind: e.kind, message: red(e.message), ms: now() - t0 };
        if (e.status !== undefined) rec.status = e.status;
        chain.push(rec);
        last = e;
        if (e.kind === 'aborted' || signal?.aborted) chainFailed(chain, e, true, red);
        if (!e.retryable) chainFailed(chain, e, false, red);
      }
    }
  }
  return chainFailed(chain, last ?? new UpstreamError('no_backend', 'no candidate models'), false, red);
}

const performanceNow = (): number => performance.now();

function chainFailed(chain: AttemptRecord[], err: UpstreamError, aborted: boolean, red: (s: string) => string): never {
  const failed = chain.filter((a) => a.outcome === 'failed');
  const msg = aborted
    ? 'the client disconnected'
    : err.afterFirstByte
      ? `${failed[failed.length - 1]?.model ?? 'upstream'} failed mid-stream: ${red(err.message)}`
      : !err.retryable && err.kind === 'http_4xx'
        ? `upstream rejected the request: ${red(err.message)}`
        : `all ${failed.length} candidate model${failed.length === 1 ? '' : 's'} failed: ${failed.map(summary).join(', ')}`;
  throw new UpstreamChainError(msg, aborted ? 499 : statusFor(failed, err), chain, err.afterFirstByte, aborted);
}
