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
 * - After end(), onData no longer fires and the response cannot be closed: uWS
 *   silently discards the rest of the body, with no bound. So a 413 that must
 *   keep reading (refuseBody) writes its body with write() and ends later.
 */
import { STATUS_CODES } from 'node:http';
import type { HttpResponse } from './uws.ts';
import { ApiError, errorReply, type ErrorDialect } from '../errors.ts';
import { channels } from '../diagnostics.ts';
import type { AbortHook } from '../providers/types.ts';

const STATUS_LINES: Record<number, string> = {
  200: '200 OK', 201: '201 Created', 409: '409 Conflict', 400: '400 Bad Request', 401: '401 Unauthorized', 403: '403 Forbidden', 404: '404 Not Found',
  405: '405 Method Not Allowed', 413: '413 Payload Too Large', 422: '422 Unprocessable Entity', 429: '429 Too Many Requests',
  500: '500 Internal Server Error', 502: '502 Bad Gateway', 503: '503 Service Unavailable', 504: '504 Gateway Timeout',
};

/**
 * uWS writes this verbatim after "HTTP/1.1 ": a bare code ("201") would make a
 * status line with no SP after the code, which RFC 9112 does not allow (strict
 * clients refuse it). Statuses missing from the table get Node's reason phrase.
 */
function statusLine(status: number): string {
  return STATUS_LINES[status] ?? `${status} ${STATUS_CODES[status] ?? 'Unknown'}`;
}

/** How much of a refused body is read and discarded before the connection closes. */
export interface LingerBounds { bytes: number; ms: number }

/** In-flight requests and the draining flag, shared by every Exchange of one server. */
export class Lifecycle {
  closing = false;
  inFlight = 0;
  /** server.linger_bytes / linger_ms (serve() sets them from the config; these are the config's defaults). */
  linger: LingerBounds = { bytes: 64 * 1024 * 1024, ms: 5_000 };
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
  /** The route pattern that matched ('' for the 404 catch-all): http:response carries it so metrics label by route, not by raw URL. */
  route = '';
  /** Headers every response of this exchange carries (CORS for an allowed origin: src/edge/cors.ts), shared, never mutated. */
  extraHeaders: readonly (readonly [string, string])[] | undefined;
  private code: string | undefined;
  /** refuseBody's state: answered 413, still reading; bytes it may still discard; its time bound. */
  private lingering = false;
  private lingerLeft = 0;
  private lingerTimer: ReturnType<typeof setTimeout> | undefined;
  /** Created on first use of `signal`: most routes never need one. */
  private gone: ClientGone | undefined;
  private aborted = false;

  constructor(readonly res: HttpResponse, readonly method: string, readonly path: string, private readonly life: Lifecycle, private readonly t0 = performance.now()) {
    life.enter();
    res.onAborted(() => {
      if (this.done) {
        // The client left while we drained its refused body: the 413 was its answer.
        if (this.lingering) this.stopLinger();
        return;
      }
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

  /** Writes a JSON response (or `contentType`'s: msgpack answers); no-op once done (aborted or already answered). */
  send(status: number, body: string | Uint8Array, headers?: readonly (readonly [string, string])[], close = false, contentType = 'application/json'): void {
    if (this.done) return;
    this.done = true;
    const res = this.res;
    // While draining, ask keep-alive clients to go away so close() is not held up by reuse.
    const closeConn = close || this.life.closing;
    res.cork(() => {
      res.writeStatus(statusLine(status)).writeHeader('content-type', contentType);
      this.writeCommon(res);
      if (headers) writeHeaders(res, headers);
      res.end(body, closeConn);
    });
    this.finished(status, this.code);
  }

  /** The single place a thrown value becomes an HTTP error response. */
  sendError(err: unknown, headers?: readonly (readonly [string, string])[], close = false): void {
    const e = errorReply(err, this.dialect);
    this.code = e.code;
    if (e.internal !== undefined) channels.internalError.publish({ error: e.internal, method: this.method, path: this.path, requestId: this.requestId });
    this.send(e.status, e.body, headers, close);
  }

  /**
   * Reads the body, at most `limit` bytes, then calls `onBody` synchronously
   * inside the last onData callback (so a single-chunk body is used in place,
   * without a copy). A body that grows past the limit (chunked, or longer than
   * declared) is refused with refuseBody from that chunk on. `declared` is
   * Content-Length (-1 if absent); the caller refuses a declared length over
   * the limit before reading anything (refuseBody too).
   */
  readBody(limit: number, declared: number, onBody: (body: Buffer) => void): void {
    let buf: Buffer | undefined;
    let len = 0;
    this.res.onData((chunk, isLast) => {
      if (this.done) {
        if (this.lingering) this.discard(chunk.byteLength, isLast);
        return;
      }
      const n = chunk.byteLength;
      if (len + n > limit) {
        // One onData handler for the whole body (replacing it from inside itself is not safe in uWS): it feeds discard from here.
        if (this.answerTooLarge(limit, '')) this.discard(n, isLast);
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

  /**
   * 413 for a body over `limit`, with a lingering close (nginx's): answer, then
   * read and discard the rest of the body, at most life.linger.bytes and
   * life.linger.ms, then close. Closing at once (what this replaced) makes the
   * kernel answer the client's next upload segments with a reset, and a client
   * still writing its body (Node's fetch, the openai SDK: they read the
   * response only once the upload is done) sees EPIPE / "Connection error"
   * instead of the 413: 151 of 204 fetches at 1.1-2 MiB, 3 of 64 at 5+ MiB.
   *
   * uWS cannot read after end() and cannot close after it (the response is
   * gone), so the JSON goes out as the one chunk of a chunked response at once
   * (status and headers reach the client while it uploads), and the terminating
   * chunk when the body has all been read: the client has its complete 413
   * exactly when its upload finishes. `connection: close` is sent; uWS keeps
   * the socket open after end(), the client closes it (uWS's 10 s idle timeout
   * otherwise). Over a bound: close() with the body unterminated: a client that
   * uploads forever sees a cut connection, having had the status line.
   * Counted in flight until then, so a drain waits for it (at most linger.ms).
   *
   * `expect`: the request's Expect header. uWS answers "100 Continue" by itself
   * before the handler runs, but within the same corked write as a response
   * made synchronously here; the client has sent nothing yet and reads both,
   * so a complete 413 and an immediate close cost it no upload (curl: 0 bytes
   * sent of 20 MiB) and no reset.
   */
  refuseBody(limit: number, expect = ''): void {
    if (this.answerTooLarge(limit, expect)) this.res.onData((chunk, isLast) => { if (this.lingering) this.discard(chunk.byteLength, isLast); });
  }

  /** refuseBody's answer; true = lingering started (the caller feeds discard). */
  private answerTooLarge(limit: number, expect: string): boolean {
    if (this.done) return false;
    const e = errorReply(tooLarge(limit), this.dialect);
    this.code = e.code;
    const { bytes, ms } = this.life.linger;
    if (bytes === 0 || ms === 0 || (expect.length === 12 && expect.toLowerCase() === '100-continue')) {
      this.send(e.status, e.body, undefined, true);
      return false;
    }
    this.done = true;
    this.lingering = true;
    this.lingerLeft = bytes;
    const res = this.res;
    res.cork(() => {
      res.writeStatus(statusLine(e.status)).writeHeader('content-type', 'application/json').writeHeader('connection', 'close');
      this.writeCommon(res);
      // A few hundred bytes: never backpressured, so write()'s result is not needed.
      res.write(e.body);
    });
    this.lingerTimer = setTimeout(() => this.endLinger(false), ms);
    this.lingerTimer.unref();
    return true;
  }

  /** One chunk of a refused body: counted, dropped (uWS neuters it on return). */
  private discard(n: number, isLast: boolean): void {
    this.lingerLeft -= n;
    if (isLast) this.endLinger(true);
    else if (this.lingerLeft < 0) this.endLinger(false);
  }

  /** End of a lingering close: `complete` = the whole body was read, so the 413 can be terminated. */
  private endLinger(complete: boolean): void {
    if (!this.lingering) return;
    this.stopLinger();
    const res = this.res;
    // close() runs onAborted synchronously; lingering is already false there.
    if (complete) res.cork(() => res.end());
    else res.close();
  }

  /** Linger state off, and the exchange finished: once, from endLinger or onAborted. Touches no `res`. */
  private stopLinger(): void {
    this.lingering = false;
    clearTimeout(this.lingerTimer);
    this.finished(413, this.code);
  }

  /** The headers on every response of this exchange, JSON or SSE: x-request-id and CORS. */
  writeCommon(res: HttpResponse): void {
    if (this.requestId !== '') res.writeHeader('x-request-id', this.requestId);
    const extra = this.extraHeaders;
    if (extra !== undefined) writeHeaders(res, extra);
  }

  /** Exactly once per exchange: from send, onAborted, or the SSE writer's end (sse-response.ts). */
  finished(status: number, code: string | undefined): void {
    this.life.leave();
    if (channels.httpResponse.hasSubscribers) {
      channels.httpResponse.publish({ method: this.method, path: this.path, route: this.route, status, code, ms: performance.now() - this.t0, aborted: status === 0, requestId: this.requestId });
    }
  }
}

/**
 * Headers onto a response, by index: `for (const [k, v] of h)` allocates an
 * array iterator and its results per call until TurboFan optimises the
 * caller away from them, and a response's headers go through here once.
 */
export function writeHeaders(res: HttpResponse, h: readonly (readonly [string, string])[]): void {
  for (let i = 0; i < h.length; i++) { const kv = h[i]; res.writeHeader(kv[0], kv[1]); }
}

/** 413 is built here because only the edge sees byte counts. */
export function tooLarge(limit: number): ApiError {
  return new ApiError('payload_too_large', `The request body is larger than the ${limit}-byte limit (server.body_limit).`, 'body');
}
