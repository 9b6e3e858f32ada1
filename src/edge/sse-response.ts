/**
 * ResponseSink on uWS (src/api/sink.ts): a JSON reply, or a Server-Sent
 * Events response written chunk by chunk with backpressure.
 *
 * uWS rules kept here (see exchange.ts for the rest):
 * - Every write happens after an await, outside any uWS callback, so each is
 *   corked: status line, headers and the first frames leave in one syscall.
 * - `res.write` always takes the whole string; false means uWS is now holding
 *   bytes the kernel would not take. The caller then awaits drain(), which
 *   resolves from onWritable, so at most one upstream read's worth of frames
 *   is ever queued per slow client (the upstream socket is not read meanwhile).
 * - After onAborted the HttpResponse must not be touched: Exchange.done guards
 *   every call, and the abort resolves a pending drain() so the handler wakes
 *   up, sees `signal.aborted`, and cancels its upstream request.
 */
import type { HttpResponse } from './uws.ts';
import { writeHeaders, type Exchange } from './exchange.ts';
import { errorReply } from '../errors.ts';
import { channels } from '../diagnostics.ts';
import type { HeaderList, ResponseSink } from '../api/sink.ts';
import type { AbortHook } from '../providers/types.ts';

export class SseResponse implements ResponseSink {
  private opened = false;
  private started = false;
  /** Body bytes went out through res.write (chunked encoding is under way). */
  private wrote = false;
  private headers: HeaderList | undefined;
  private waiter: (() => void) | undefined;
  private onAbort: (() => void) | undefined;

  constructor(private readonly x: Exchange) {}

  get signal(): AbortHook {
    return this.x.signal;
  }

  send(status: number, body: string, headers?: HeaderList): void {
    this.x.send(status, body, headers);
  }

  openStream(headers?: HeaderList): void {
    this.opened = true;
    this.headers = headers;
  }

  private head(res: HttpResponse): void {
    this.started = true;
    res.writeStatus('200 OK')
      .writeHeader('content-type', 'text/event-stream; charset=utf-8')
      .writeHeader('cache-control', 'no-cache')
      // nginx and similar proxies buffer responses by default, which would hold every chunk back.
      .writeHeader('x-accel-buffering', 'no');
    this.x.writeCommon(res);
    if (this.headers) writeHeaders(res, this.headers);
  }

  write(frames: string): boolean {
    const x = this.x;
    if (x.done) return false;
    const res = x.res;
    let ok = true;
    res.cork(() => {
      if (!this.started) this.head(res);
      ok = res.write(frames);
      this.wrote = true;
    });
    return ok;
  }

  drain(): Promise<void> {
    const x = this.x;
    if (x.done) return Promise.resolve();
    return new Promise((resolve) => {
      const wake = (): void => {
        if (this.waiter !== wake) return;
        this.waiter = undefined;
        if (this.onAbort) { x.signal.removeEventListener('abort', this.onAbort); this.onAbort = undefined; }
        resolve();
      };
      this.waiter = wake;
      this.onAbort = wake;
      x.signal.addEventListener('abort', wake, { once: true });
      // uWS calls this once the socket can take more; returning true = "nothing left that failed".
      x.res.onWritable(() => { wake(); return true; });
    });
  }

  end(frames = ''): void {
    const x = this.x;
    if (x.done) return;
    x.done = true;
    const res = x.res;
    res.cork(() => {
      if (!this.started) this.head(res);
      // end(_, true) writes a "Connection: close" header block, which in the middle of a
      // chunked body corrupts it (measured: clients fail with "Expected LF after chunk
      // data"). Once body bytes went out, end normally: the drain closes idle sockets.
      res.end(frames, this.wrote ? false : x.draining);
    });
    x.finished(200, undefined);
  }

  /**
   * A thrown error -> the response: an error reply while nothing was sent, an
   * SSE error event (OpenAI's `{"error": ...}` data, which the openai SDK raises
   * as APIError) once the stream is open.
   */
  fail(err: unknown): void {
    const x = this.x;
    if (x.done) return;
    if (!this.opened) { x.sendError(err); return; }
    const e = errorReply(err, 'openai');
    if (e.internal !== undefined) channels.internalError.publish({ error: e.internal, method: x.method, path: x.path, requestId: x.requestId });
    this.end(`data: ${e.body}\n\n`);
  }
}
