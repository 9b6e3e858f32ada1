/**
 * HTTP to upstreams over undici: one keep-alive Pool per origin (TLS and TCP
 * handshakes are paid once per connection, not per call), three deadlines per
 * request, client-abort propagation, and the body exposed as an async
 * iterable of chunks read only as fast as the caller consumes them.
 *
 * Deadlines (all from request start):
 *   connect_ms     pool-level connect timeout (undici ConnectTimeoutError)
 *   first_byte_ms  until the first body byte (or the headers of a non-2xx):
 *                  covers queueing, connect, upstream think time; for SSE the
 *                  headers often arrive at once and the first event late, so
 *                  headers alone would not do
 *   total_ms       whole call including the body of a long stream
 * Our own deadlines (deadlines.ts) abort the call and remember why, so the
 * failure kind is exact whichever layer (socket, parser, body) surfaces it.
 *
 * Transport: `Pool.dispatch` with one handler object per call (Call, below),
 * not `Pool.request`. request() wraps the same dispatch in an AsyncResource,
 * a stream.Readable body (whose async iterator adds nextTick hops per chunk),
 * an AbortSignal listener and a result object; our own AbortController and
 * two timers came on top. Measured on the 2-core dev machine (JSON through
 * the gateway, 64 connections, one HTTP thread, --cpu-prof): the transport's
 * self time (this file, undici's request API and client, AbortSignal and
 * stream machinery; the socket write itself excluded) went from ~21% of
 * 123 µs a request to ~5% of 63 µs. The handler uses the
 * callback set undici's own request() is built on in v7 (onConnect, onHeaders,
 * onData, onComplete, onError); the newer controller-style set is wrapped
 * into it per call (an extra object and a parsed header object each time).
 * Left as undici does it: on a reused keep-alive socket the request is
 * written from a setImmediate (its idle-socket check, GHSA-35p6-xmwp-9g52),
 * one hop to the loop's check phase per call.
 *
 * Failure classification: see failure.ts. Non-2xx bodies are read up to
 * ERROR_BODY_LIMIT bytes for the message and then dropped; the message is
 * redacted before it leaves this module.
 */
import { Pool, util as undiciUtil } from 'undici';
import type { IncomingHttpHeaders } from 'node:http';
import { UpstreamError, kindForNetworkError, kindForStatus, type FailureKind } from './failure.ts';
import { redact as defaultRedact } from './redact.ts';
import { Deadline, Deadlines } from './deadlines.ts';
import type { AbortHook, UpstreamRequestSpec } from './types.ts';

export interface Timeouts {
  connect_ms: number;
  first_byte_ms: number;
  total_ms: number;
}

export const DEFAULT_TIMEOUTS: Readonly<Timeouts> = Object.freeze({ connect_ms: 5_000, first_byte_ms: 60_000, total_ms: 600_000 });

export const ERROR_BODY_LIMIT = 16 * 1024;

/**
 * Largest JSON answer bytes() collects: a broken upstream that never ends its
 * body fails with bad_response here instead of filling memory until total_ms.
 * Far above any chat completion (128 choices of 16k tokens are ~10 MB).
 */
export const MAX_BODY_BYTES = 64 * 1024 * 1024;

/**
 * Body bytes read from the socket ahead of the consumer before undici stops
 * reading (the socket's own buffer and the kernel's come on top). The
 * stream.Readable this replaces buffered up to 64 KiB; 16 KiB holds several
 * LLM events and keeps 1,000 slow streams' memory down.
 */
export const READ_AHEAD_BYTES = 16 * 1024;

export interface UpstreamClientOptions {
  /** Max sockets per origin; requests beyond it queue in the pool. */
  connections?: number;
  /** Idle keep-alive before a socket is closed (server Keep-Alive hints can lower it). */
  keepAliveTimeoutMs?: number;
  /** Largest body bytes() reads (default MAX_BODY_BYTES). */
  maxBodyBytes?: number;
  redact?: (s: string) => string;
}

export interface RequestOptions {
  timeouts?: Partial<Timeouts>;
  /** The client's signal: aborting it cancels the upstream request and closes its connection. */
  signal?: AbortHook;
}

export interface UpstreamResponse {
  status: number;
  /** Parsed on first use. */
  readonly headers: IncomingHttpHeaders;
  /** Request start to response headers. */
  headersMs: number;
  /** Request start to the first body byte; NaN until it arrived. */
  ttfbMs: number;
  /**
   * The body, chunk by chunk, with backpressure: the socket is read only as
   * fast as this is iterated (plus READ_AHEAD_BYTES). Iterate at most once.
   * Breaking out early cancels the request. Errors are UpstreamErrors.
   */
  body: AsyncIterable<Uint8Array>;
  /** The whole body (JSON answers only; never for streams). */
  bytes(): Promise<Buffer>;
  /** bytes(), parsed. */
  json(): Promise<unknown>;
  /** Abandons the response: aborts the request, frees its deadlines. */
  cancel(): void;
}

interface Base { pool: Pool; prefix: string }

const DONE: IteratorReturnResult<undefined> = Object.freeze({ value: undefined, done: true });

export class UpstreamClient {
  private readonly bases = new Map<string, Base>();
  private readonly pools = new Map<string, Pool>();
  private readonly connections: number;
  private readonly keepAliveTimeout: number;
  readonly redact: (s: string) => string;
  readonly maxBodyBytes: number;
  readonly deadlines = new Deadlines();
  private readonly merged = new WeakMap<Partial<Timeouts>, Timeouts>();

  constructor(opts: UpstreamClientOptions = {}) {
    this.connections = opts.connections ?? 128;
    this.keepAliveTimeout = opts.keepAliveTimeoutMs ?? 30_000;
    this.redact = opts.redact ?? defaultRedact;
    this.maxBodyBytes = opts.maxBodyBytes ?? MAX_BODY_BYTES;
  }

  /** Pools are keyed by origin and connect timeout (a Pool-level setting). */
  private base(baseUrl: string, connectMs: number): Base {
    const key = baseUrl + '\u0000' + connectMs;
    let b = this.bases.get(key);
    if (b) return b;
    const u = new URL(baseUrl);
    const poolKey = u.origin + '\u0000' + connectMs;
    let pool = this.pools.get(poolKey);
    if (!pool) {
      pool = new Pool(u.origin, {
        connections: this.connections,
        keepAliveTimeout: this.keepAliveTimeout,
        connect: { timeout: connectMs },
        pipelining: 1,
      });
      this.pools.set(poolKey, pool);
    }
    b = { pool, prefix: u.pathname.replace(/\/+$/, '') };
    this.bases.set(key, b);
    return b;
  }

  /** Per-call timeouts are config objects (stable): merged with the defaults once each, not per call. */
  private timeouts(t: Partial<Timeouts> | undefined): Timeouts {
    if (t === undefined) return DEFAULT_TIMEOUTS;
    let m = this.merged.get(t);
    if (m === undefined) { m = Object.freeze({ ...DEFAULT_TIMEOUTS, ...t }); this.merged.set(t, m); }
    return m;
  }

  /** Resolves at the response headers of a 2xx; anything else rejects with an UpstreamError. */
  request(baseUrl: string, spec: UpstreamRequestSpec, opts: RequestOptions = {}): Promise<UpstreamResponse> {
    const t = this.timeouts(opts.timeouts);
    const signal = opts.signal;
    if (signal?.aborted) return Promise.reject(new UpstreamError('aborted', 'client disconnected before the upstream request'));
    const { pool, prefix } = this.base(baseUrl, t.connect_ms);
    const call = new Call(this, t, signal);
    const p = new Promise<UpstreamResponse>((resolve, reject) => { call.resolveHead = resolve; call.rejectHead = reject; });
    pool.dispatch({
      path: prefix + spec.path,
      method: 'POST',
      headers: spec.headers,
      body: spec.body,
      // Our deadlines own the timeouts; 0 turns undici's per-request parser timers off.
      headersTimeout: 0,
      bodyTimeout: 0,
    }, call);
    return p;
  }

  async close(): Promise<void> {
    const pools = [...this.pools.values()];
    this.pools.clear();
    this.bases.clear();
    await Promise.all(pools.map((p) => p.close()));
  }

  /** Closes every connection at once, failing requests in flight. */
  async destroy(): Promise<void> {
    const pools = [...this.pools.values()];
    this.pools.clear();
    this.bases.clear();
    await Promise.all(pools.map((p) => p.destroy()));
  }
}

type Waiter = { resolve(v: IteratorResult<Uint8Array>): void; reject(e: unknown): void };

/**
 * One upstream call: undici's dispatch handler, the UpstreamResponse handed
 * to the caller, and the body's async iterator, in one object (one
 * allocation where Pool.request made a dozen). States: waiting for headers
 * (resolveHead pending) -> body (chunks queue, consumer pulls) -> ended
 * (complete, or `error` set). Every path to the end runs `close()` once.
 */
class Call implements UpstreamResponse, AsyncIterator<Uint8Array> {
  status = 0;
  headersMs = NaN;
  ttfbMs = NaN;
  resolveHead: ((r: UpstreamResponse) => void) | null = null;
  rejectHead: ((e: unknown) => void) | null = null;

  private readonly t0 = performance.now();
  private rawHeaders: Buffer[] | null = null;
  private parsedHeaders: IncomingHttpHeaders | null = null;
  private abortUndici: ((err?: Error) => void) | null = null;
  private resumeUndici: (() => void) | null = null;
  /** Why we aborted (a deadline, the client); null while nobody has. */
  private why: FailureKind | null = null;
  private error: UpstreamError | null = null;
  private complete = false;
  private closed = false;
  private readonly queue: Buffer[] = [];
  private qi = 0;
  private queued = 0;
  private paused = false;
  /** bytes(): collect to the end, never pause. */
  private whole = false;
  private waiter: Waiter | null = null;
  private wholeWaiter: { resolve(b: Buffer): void; reject(e: unknown): void } | null = null;
  /** Non-2xx: the error body being collected. */
  private errorParts: Buffer[] | null = null;
  private errorBytes = 0;
  private readonly firstByte: Deadline;
  private readonly total: Deadline;
  private readonly onClientAbort: (() => void) | null;

  constructor(private readonly client: UpstreamClient, private readonly t: Timeouts, private readonly signal: AbortHook | undefined) {
    const d = client.deadlines;
    this.firstByte = new Deadline(this);
    this.total = new Deadline(this);
    d.arm(this.firstByte, t.first_byte_ms, this.t0);
    d.arm(this.total, t.total_ms, this.t0);
    if (signal) {
      this.onClientAbort = () => this.abort('aborted');
      signal.addEventListener('abort', this.onClientAbort, { once: true });
    } else this.onClientAbort = null;
  }

  get headers(): IncomingHttpHeaders {
    return (this.parsedHeaders ??= this.rawHeaders ? undiciUtil.parseHeaders(this.rawHeaders) as IncomingHttpHeaders : {});
  }

  get body(): AsyncIterable<Uint8Array> {
    return this;
  }

  // ---- undici's side (dispatch handler) ----

  onConnect(abort: (err?: Error) => void): void {
    // Aborted while queued in the pool: the promise already failed; drop the request before it is written.
    if (this.why !== null || this.closed) { abort(this.error ?? undefined); return; }
    this.abortUndici = abort;
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void): boolean {
    if (statusCode < 200) return true; // 1xx: the real status line follows
    if (this.closed) return true;
    this.status = statusCode;
    this.rawHeaders = rawHeaders;
    this.resumeUndici = resume;
    this.headersMs = performance.now() - this.t0;
    if (statusCode > 299) {
      this.client.deadlines.disarm(this.firstByte);
      this.errorParts = [];
      return true;
    }
    const resolve = this.resolveHead;
    this.resolveHead = this.rejectHead = null;
    resolve?.(this);
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (this.closed) return true;
    if (this.errorParts !== null) {
      this.errorParts.push(chunk);
      this.errorBytes += chunk.length;
      // Enough for a message: stop reading (the connection is dropped, as the rest is unread).
      if (this.errorBytes >= ERROR_BODY_LIMIT) { this.failHttp(); this.abortUndici?.(); }
      return true;
    }
    if (this.ttfbMs !== this.ttfbMs) {
      this.ttfbMs = performance.now() - this.t0;
      this.client.deadlines.disarm(this.firstByte);
    }
    const w = this.waiter;
    if (w !== null && this.qi === this.queue.length) {
      this.waiter = null;
      w.resolve({ value: chunk, done: false });
      return true;
    }
    this.queue.push(chunk);
    this.queued += chunk.length;
    if (!this.whole) {
      if (this.queued >= READ_AHEAD_BYTES) { this.paused = true; return false; }
    } else if (this.queued > this.client.maxBodyBytes) this.tooLarge();
    return true;
  }

  onComplete(): void {
    if (this.closed) return;
    this.complete = true;
    if (this.errorParts !== null) { this.failHttp(); return; }
    this.close();
    if (this.waiter !== null && this.qi === this.queue.length) { const w = this.waiter; this.waiter = null; w.resolve(DONE); }
    if (this.wholeWaiter !== null) { const w = this.wholeWaiter; this.wholeWaiter = null; w.resolve(this.take()); }
  }

  onError(err: Error): void {
    if (this.error !== null || this.complete) return; // our own abort's echo, or too late to matter
    // Cut off while reading a non-2xx body: the status says enough.
    if (this.errorParts !== null) this.failHttp();
    else this.settleError(this.fail(err));
  }

  onDeadline(d: Deadline): void {
    this.abort(d === this.firstByte ? 'first_byte_timeout' : 'timeout');
  }

  // ---- the consumer's side ----

  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    return this;
  }

  next(): Promise<IteratorResult<Uint8Array>> {
    // A failure (or an abort) discards what is still queued, as a destroyed stream would.
    if (this.error !== null) return Promise.reject(this.error);
    if (this.qi < this.queue.length) {
      const c = this.queue[this.qi];
      this.queue[this.qi++] = undefined as unknown as Buffer;
      this.queued -= c.length;
      if (this.qi === this.queue.length) { this.queue.length = 0; this.qi = 0; }
      if (this.paused && this.queued < READ_AHEAD_BYTES) this.resume();
      return Promise.resolve({ value: c, done: false });
    }
    if (this.complete) return Promise.resolve(DONE);
    return new Promise((resolve, reject) => { this.waiter = { resolve, reject }; });
  }

  /** for-await's exit on break / throw: the rest of the body is not wanted. */
  return(): Promise<IteratorResult<Uint8Array>> {
    this.cancel();
    return Promise.resolve(DONE);
  }

  bytes(): Promise<Buffer> {
    this.whole = true;
    // What came before bytes() was asked for (up to the read-ahead, or all of a body read in one go) counts too.
    if (this.queued > this.client.maxBodyBytes) this.tooLarge();
    if (this.error !== null) return Promise.reject(this.error);
    if (this.complete) return Promise.resolve(this.take());
    const p = new Promise<Buffer>((resolve, reject) => { this.wholeWaiter = { resolve, reject }; });
    // Paused at the read-ahead limit before we knew the whole body is wanted; the rest
    // may be parsed (and the waiter settled) synchronously inside resume().
    if (this.paused) this.resume();
    return p;
  }

  async json(): Promise<unknown> {
    const text = (await this.bytes()).toString('utf8');
    try { return JSON.parse(text); } catch { throw new UpstreamError('bad_response', this.client.redact(`response body is not JSON: ${text.slice(0, 200)}`), this.status); }
  }

  cancel(): void {
    this.abort('aborted');
  }

  // ---- internals ----

  private resume(): void {
    this.paused = false;
    // undici parses what it holds synchronously from here: onData may run re-entrantly.
    this.resumeUndici?.();
  }

  /** The queued body as one Buffer (a single chunk without a copy). */
  private take(): Buffer {
    const q = this.queue, i = this.qi;
    const out = q.length - i === 1 ? q[i] : Buffer.concat(i === 0 ? q : q.slice(i), this.queued);
    this.queue.length = 0;
    this.qi = 0;
    this.queued = 0;
    return out;
  }

  private abort(kind: FailureKind): void {
    if (this.why !== null || this.closed) return;
    this.why = kind;
    if (this.errorParts !== null) this.failHttp(); // reading a non-2xx body: the status says enough
    else this.settleError(this.fail(null));
    // Synchronous in undici: onError (ignored now) then the socket is destroyed.
    this.abortUndici?.(this.error!);
  }

  /** bytes() went over maxBodyBytes: fail, and drop the connection if the rest of the body is still coming. */
  private tooLarge(): void {
    if (this.error !== null) return;
    const err = new UpstreamError('bad_response', `response body larger than ${this.client.maxBodyBytes} bytes`, this.status);
    if (this.closed) { this.error = err; return; } // already complete: nothing to abort
    this.why = 'bad_response';
    this.settleError(err);
    this.abortUndici?.(err);
  }

  private failHttp(): void {
    const status = this.status;
    const parts = this.errorParts ?? [];
    this.errorParts = null;
    const text = Buffer.concat(parts).subarray(0, ERROR_BODY_LIMIT).toString('utf8');
    this.settleError(new UpstreamError(kindForStatus(status), this.client.redact(`HTTP ${status}: ${errorText(text)}`), status));
  }

  private settleError(err: UpstreamError): void {
    if (this.error !== null) return;
    this.error = err;
    this.close();
    const rejectHead = this.rejectHead;
    this.resolveHead = this.rejectHead = null;
    rejectHead?.(err);
    if (this.waiter !== null) { const w = this.waiter; this.waiter = null; w.reject(err); }
    if (this.wholeWaiter !== null) { const w = this.wholeWaiter; this.wholeWaiter = null; w.reject(err); }
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    const d = this.client.deadlines;
    d.disarm(this.firstByte);
    d.disarm(this.total);
    if (this.onClientAbort !== null) this.signal!.removeEventListener('abort', this.onClientAbort);
  }

  private fail(err: unknown): UpstreamError {
    if (err instanceof UpstreamError) return err;
    const kind = this.why ?? kindForNetworkError(err);
    const t = this.t;
    const detail = kind === 'first_byte_timeout' ? `no response within ${t.first_byte_ms} ms`
      : kind === 'timeout' ? `not finished within ${t.total_ms} ms`
        : kind === 'aborted' ? 'client disconnected'
          : describe(err);
    return new UpstreamError(kind, this.client.redact(detail));
  }
}

/** OpenAI `{"error": {"message"}}`, Anthropic `{"type": "error", "error": {"message"}}`, else the text itself. */
export function errorText(text: string): string {
  try {
    const j = JSON.parse(text) as { error?: { message?: unknown } | string; message?: unknown };
    if (typeof j.error === 'string') return j.error;
    if (j.error && typeof j.error.message === 'string') return j.error.message;
    if (typeof j.message === 'string') return j.message;
  } catch { /* not JSON */ }
  const s = text.trim();
  return s.length > 300 ? s.slice(0, 300) + '...' : s || '(empty body)';
}

function describe(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: string }).code;
    const cause = (err as { cause?: unknown }).cause;
    const causeMsg = cause instanceof Error && cause.message !== err.message ? ` (${cause.message})` : '';
    return (code ? `${code}: ` : '') + (err.message || err.name) + causeMsg;
  }
  return String(err);
}
