/**
 * One request/response pair on uWS: body reading with a size limit, the
 * response writers, and in-flight accounting for graceful shutdown.
 *
 * uWS rules this file exists to keep in one place:
 * - An HttpResponse is invalid after onAborted fires or after end(): touching it
 *   then crashes the process. `done` guards every write.
 * - onAborted must be attached before the handler returns without responding
 *   (i.e. before any await); the constructor attaches it first thing.
 * - onData chunks are neutered when the callback returns: copy unless the
 *   whole body is one chunk consumed synchronously.
 * - Writes outside the handler's synchronous top part must be corked, or each
 *   writeStatus/writeHeader/end becomes its own syscall: `send` always corks
 *   (corking an already-corked response just runs the callback).
 */
import type { HttpResponse } from './uws.ts';
import { ApiError, errorReply, type ErrorDialect } from '../errors.ts';
import { channels } from '../diagnostics.ts';
import type { AbortHook } from '../providers/types.ts';

const STATUS_LINES: Record<number, string> = {
  200: '200 OK', 400: '400 Bad Request', 401: '401 Unauthorized', 404: '404 Not Found',
  405: '405 Method Not Allowed', 413: '413 Payload Too Large', 422: '422 Unprocessable Entity', 429: '429 Too Many Requests',
  500: '500 Internal Server Error', 502: '502 Bad Gateway', 503: '503 Service Unavailable', 504: '504 Gateway Timeout',
};

/** In-flight requests and the draining flag, shared by every Exchange of one server. */
export class Lifecycle {
  closing = false;
  inFlight = 0;
  private waiters: (() => void)[] = [];

  /**
   * `mirror[slot]` follows inFlight when given: an HTTP thread's slot in a
   * SharedArrayBuffer the main thread sums (src/edge/threads.ts). One typed-array
   * store per change; a reader may see a count one request stale, never torn.
   */
  constructor(private readonly mirror?: Int32Array, private readonly slot = 0) {}

  enter(): void {
    this.inFlight++;
    if (this.mirror) this.mirror[this.slot] = this.inFlight;
  }

  leave(): void {
    --this.inFlight;
    if (this.mirror) this.mirror[this.slot] = this.inFlight;
    if (this.inFlight === 0 && this.waiters.length) for (const w of this.waiters.splice(0)) w();
  }

  /** Resolves true when nothing is in flight, false if `ms` passes first. */
  idle(ms: number): Promise<boolean> {
    if (this.inFlight === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const t = setTimeout(() => resolve(false), ms);
      this.waiters.push(() => { clearTimeout(t); resolve(true); });
    });
  }
}

/**
 * "The client went away" for one exchange: a flag and its listeners, the
 * AbortHook the gateway and the SSE writer listen on. It replaced an
 * AbortController (an EventTarget, plus a listener object per
 * addEventListener): with the upstream call's own controller, that was ~3 µs
 * a request of the proxy path (createAbortSignal and event_target in the
 * profile). Semantics kept: listeners run once, in order, on the first
 * abort; a listener added after the abort never runs; a throwing listener
 * does not stop the others and surfaces as an uncaught exception, as with
 * EventTarget.
 */
export class ClientGone implements AbortHook {
  aborted = false;
  private first: (() => void) | null = null;
  private rest: (() => void)[] | null = null;

  /** Always once: an abort happens once. */
  addEventListener(_type: 'abort', listener: () => void, _options?: { once?: boolean }): void {
    if (this.aborted) return;
    if (this.first === null && this.rest === null) this.first = listener;
    else (this.rest ??= []).push(listener);
  }

  removeEventListener(_type: 'abort', listener: () => void): void {
    if (this.first === listener) { this.first = null; return; }
    const r = this.rest;
    if (r !== null) { const i = r.indexOf(listener); if (i >= 0) r.splice(i, 1); }
  }

  abort(): void {
    if (this.aborted) return;
    this.aborted = true;
    const first = this.first, rest = this.rest;
    this.first = this.rest = null;
    if (first !== null) run(first);
    if (rest !== null) for (const l of rest) run(l);
  }
}

function run(listener: () => void): void {
  try { listener(); } catch (e) { queueMicrotask(() => { throw e; }); }
}

/** Initial body buffer when Content-Length is absent or large: grows by doubling up to the limit. */
const INITIAL_BODY = 16 * 1024;

export class Exchange {
  done = false;
  /** Error body shape for this route (OpenAI's on the OpenAI-compatible endpoints). */
  dialect: ErrorDialect = 'switchyard';
  /** x-request-id of every response (src/edge/registry.ts sets it before anything is sent); '' = none. */
  requestId = '';
  /** Headers every response of this exchange carries (CORS for an allowed origin: src/edge/cors.ts), shared, never mutated. */
  extraHeaders: readonly (readonly [string, string])[] | undefined;
  private code: string | undefined;
  /** Created on first use of `signal`: most routes never need one. */
  private gone: ClientGone | undefined;
  private aborted = false;

  constructor(readonly res: HttpResponse, readonly method: string, readonly path: string, private readonly life: Lifecycle, private readonly t0 = performance.now()) {
    life.enter();
    res.onAborted(() => {
      if (this.done) return;
      this.done = true;
      this.aborted = true;
      this.finished(0, 'aborted');
      this.gone?.abort();
    });
  }

  /** Aborted when the client disconnects before the response ended: cancels upstream work. */
  get signal(): ClientGone {
    if (this.gone === undefined) {
      this.gone = new ClientGone();
      // First asked for after the client left (e.g. after an async embedding): born aborted.
      if (this.aborted) this.gone.abort();
    }
    return this.gone;
  }

  /** The server is draining: responses should ask keep-alive clients to close. */
  get draining(): boolean {
    return this.life.closing;
  }

  /** Writes a JSON response; no-op once done (aborted or already answered). */
  send(status: number, body: string, headers?: readonly (readonly [string, string])[], close = false): void {
    if (this.done) return;
    this.done = true;
    const res = this.res;
    // While draining, ask keep-alive clients to go away so close() is not held up by reuse.
    const closeConn = close || this.life.closing;
    res.cork(() => {
      res.writeStatus(STATUS_LINES[status] ?? String(status)).writeHeader('content-type', 'application/json');
      this.writeCommon(res);
      if (headers) for (const [k, v] of headers) res.writeHeader(k, v);
      res.end(body, closeConn);
    });
    this.finished(status, this.code);
  }

  /** The single place a thrown value becomes an HTTP error response. */
  sendError(err: unknown, headers?: readonly (readonly [string, string])[], close = false): void {
    const e = errorReply(err, this.dialect);
    this.code = e.code;
    if (e.internal !== undefined) channels.internalError.publish({ error: e.internal, method: this.method, path: this.path });
    this.send(e.status, e.body, headers, close);
  }

  /**
   * Reads the body, at most `limit` bytes, then calls `onBody` synchronously
   * inside the last onData callback (so a single-chunk body is used in place,
   * without a copy). Over the limit: 413 and the connection is closed, because
   * the rest of the body is still on the wire and cannot be parsed as the next
   * request. `declared` is Content-Length (-1 if absent); the caller rejects a
   * declared length over the limit before reading anything.
   */
  readBody(limit: number, declared: number, onBody: (body: Buffer) => void): void {
    let buf: Buffer | undefined;
    let len = 0;
    this.res.onData((chunk, isLast) => {
      if (this.done) return;
      const n = chunk.byteLength;
      if (len + n > limit) {
        this.sendError(tooLarge(limit), undefined, true);
        return;
      }
      if (isLast && len === 0) { onBody(Buffer.from(chunk)); return; }
      if (buf === undefined) buf = Buffer.allocUnsafe(Math.min(limit, Math.max(n, declared >= 0 ? Math.min(declared, INITIAL_BODY * 4) : INITIAL_BODY)));
      if (len + n > buf.length) {
        const bigger = Buffer.allocUnsafe(Math.min(limit, Math.max(len + n, buf.length * 2)));
        buf.copy(bigger, 0, 0, len);
        buf = bigger;
      }
      buf.set(new Uint8Array(chunk), len);
      len += n;
      if (isLast) onBody(buf.subarray(0, len));
    });
  }

  /** The headers on every response of this exchange, JSON or SSE: x-request-id and CORS. */
  writeCommon(res: HttpResponse): void {
    if (this.requestId !== '') res.writeHeader('x-request-id', this.requestId);
    const extra = this.extraHeaders;
    if (extra !== undefined) for (const [k, v] of extra) res.writeHeader(k, v);
  }

  /** Exactly once per exchange: from send, onAborted, or the SSE writer's end (sse-response.ts). */
  finished(status: number, code: string | undefined): void {
    this.life.leave();
    if (channels.httpResponse.hasSubscribers) {
      channels.httpResponse.publish({ method: this.method, path: this.path, status, code, ms: performance.now() - this.t0, aborted: status === 0 });
    }
  }
}

/** 413 is built here because only the edge sees byte counts. */
export function tooLarge(limit: number): ApiError {
  return new ApiError('payload_too_large', `The request body is larger than the ${limit}-byte limit (server.body_limit).`, 'body');
}
