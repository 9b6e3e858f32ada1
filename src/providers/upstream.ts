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
 * Our own timers abort an internal AbortController and remember why, so the
 * failure kind is exact whichever layer (socket, parser, body) surfaces it.
 *
 * Failure classification: see failure.ts. Non-2xx bodies are read up to
 * ERROR_BODY_LIMIT bytes for the message and then dropped; the message is
 * redacted before it leaves this module.
 */
import { Pool } from 'undici';
import type { IncomingHttpHeaders } from 'node:http';
import { UpstreamError, kindForNetworkError, kindForStatus, type FailureKind } from './failure.ts';
import { redact as defaultRedact } from './redact.ts';
import type { UpstreamRequestSpec } from './types.ts';

export interface Timeouts {
  connect_ms: number;
  first_byte_ms: number;
  total_ms: number;
}

export const DEFAULT_TIMEOUTS: Readonly<Timeouts> = Object.freeze({ connect_ms: 5_000, first_byte_ms: 60_000, total_ms: 600_000 });

export const ERROR_BODY_LIMIT = 16 * 1024;

export interface UpstreamClientOptions {
  /** Max sockets per origin; requests beyond it queue in the pool. */
  connections?: number;
  /** Idle keep-alive before a socket is closed (server Keep-Alive hints can lower it). */
  keepAliveTimeoutMs?: number;
  redact?: (s: string) => string;
}

export interface RequestOptions {
  timeouts?: Partial<Timeouts>;
  /** The client's signal: aborting it cancels the upstream request and closes its connection. */
  signal?: AbortSignal;
}

export interface UpstreamResponse {
  status: number;
  headers: IncomingHttpHeaders;
  /** Request start to response headers. */
  headersMs: number;
  /** Request start to the first body byte; NaN until it arrived. */
  ttfbMs: number;
  /**
   * The body, chunk by chunk, with backpressure: the socket is read only as
   * fast as this is iterated. Iterate at most once. Breaking out early cancels
   * the request. Errors are UpstreamErrors.
   */
  body: AsyncIterable<Uint8Array>;
  /** Reads the whole body (JSON answers only; never for streams). */
  json(): Promise<unknown>;
  /** Abandons the response: aborts the request, frees its timers. */
  cancel(): void;
}

interface Base { pool: Pool; prefix: string }

export class UpstreamClient {
  private readonly bases = new Map<string, Base>();
  private readonly pools = new Map<string, Pool>();
  private readonly connections: number;
  private readonly keepAliveTimeout: number;
  private readonly redact: (s: string) => string;

  constructor(opts: UpstreamClientOptions = {}) {
    this.connections = opts.connections ?? 128;
    this.keepAliveTimeout = opts.keepAliveTimeoutMs ?? 30_000;
    this.redact = opts.redact ?? defaultRedact;
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

  async request(baseUrl: string, spec: UpstreamRequestSpec, opts: RequestOptions = {}): Promise<UpstreamResponse> {
    const t = opts.timeouts ? { ...DEFAULT_TIMEOUTS, ...opts.timeouts } : DEFAULT_TIMEOUTS;
    const signal = opts.signal;
    if (signal?.aborted) throw new UpstreamError('aborted', 'client disconnected before the upstream request');
    const { pool, prefix } = this.base(baseUrl, t.connect_ms);
    const redact = this.redact;
    const ac = new AbortController();
    let why: FailureKind | null = null;
    const abort = (k: FailureKind): void => { if (why === null) { why = k; ac.abort(); } };
    const onClientAbort = (): void => abort('aborted');
    signal?.addEventListener('abort', onClientAbort, { once: true });
    const t0 = performance.now();
    const firstTimer = setTimeout(abort, t.first_byte_ms, 'first_byte_timeout');
    const totalTimer = setTimeout(abort, t.total_ms, 'timeout');
    firstTimer.unref();
    totalTimer.unref();
    let cleaned = false;
    const cleanup = (): void => {
      if (cleaned) return;
      cleaned = true;
      clearTimeout(firstTimer);
      clearTimeout(totalTimer);
      signal?.removeEventListener('abort', onClientAbort);
    };
    const fail = (err: unknown, status?: number): UpstreamError => {
      if (err instanceof UpstreamError) return err;
      const kind = why ?? kindForNetworkError(err);
      const detail = kind === 'first_byte_timeout' ? `no response within ${t.first_byte_ms} ms`
        : kind === 'timeout' ? `not finished within ${t.total_ms} ms`
          : kind === 'aborted' ? 'client disconnected'
            : describe(err);
      return new UpstreamError(kind, redact(detail), status);
    };

    let res: Awaited<ReturnType<Pool['request']>>;
    try {
      res = await pool.request({
        path: prefix + spec.path,
        method: 'POST',
        headers: spec.headers,
        body: spec.body,
        signal: ac.signal,
        // Our timers own the deadlines; these only keep undici's defaults (300 s) from cutting a long stream.
        headersTimeout: t.total_ms,
        bodyTimeout: t.total_ms,
      });
    } catch (err) {
      cleanup();
      throw fail(err);
    }
    const headersMs = performance.now() - t0;
    const status = res.statusCode;
    const body = res.body;

    if (status < 200 || status > 299) {
      clearTimeout(firstTimer);
      let text = '';
      try { text = await readLimited(body, ERROR_BODY_LIMIT); } catch { /* the status says enough */ } finally { cleanup(); }
      throw new UpstreamError(kindForStatus(status), redact(`HTTP ${status}: ${errorText(text)}`), status);
    }

    const out: UpstreamResponse = {
      status,
      headers: res.headers,
      headersMs,
      ttfbMs: NaN,
      body: {
        [Symbol.asyncIterator]: async function* () {
          let first = true;
          try {
            for await (const chunk of body) {
              if (first) { first = false; clearTimeout(firstTimer); out.ttfbMs = performance.now() - t0; }
              yield chunk as Uint8Array;
            }
            if (why !== null) throw fail(null); // aborted after the last chunk was read but before end
          } catch (err) {
            throw fail(err);
          } finally {
            cleanup();
            if (!body.destroyed) body.destroy();
          }
        },
      },
      async json() {
        const parts: Uint8Array[] = [];
        for await (const c of out.body) parts.push(c);
        const text = Buffer.concat(parts).toString('utf8');
        try { return JSON.parse(text); } catch { throw new UpstreamError('bad_response', redact(`response body is not JSON: ${text.slice(0, 200)}`), status); }
      },
      cancel() {
        abort('aborted');
        cleanup();
        if (!body.destroyed) body.destroy();
      },
    };
    return out;
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

async function readLimited(body: AsyncIterable<unknown> & { destroy(): unknown }, limit: number): Promise<string> {
  const parts: Buffer[] = [];
  let n = 0;
  for await (const c of body) {
    const b = c as Buffer;
    parts.push(b);
    n += b.length;
    if (n >= limit) { body.destroy(); break; }
  }
  return Buffer.concat(parts).subarray(0, limit).toString('utf8');
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
