/**
 * Upstream SSE bytes -> OpenAI chat.completion.chunk objects, pulled one at a
 * time. Backpressure comes free with pulling: the upstream socket is read only
 * when the consumer asks for the next chunk, so a slow client slows the
 * upstream read instead of filling memory (the edge awaits its own drain
 * before asking again). Abort flows the other way through the request's
 * AbortSignal, or `return()` when the consumer stops iterating.
 *
 * `peek()` reads until the first chunk exists without handing it out: the
 * fallback chain calls it so that an upstream failing before its first event
 * can still be replaced by the next candidate.
 *
 * Every stream ends exactly once, reported through `finished` (usage, timing,
 * error if any) for health, cost and logs.
 *
 * Two ways to consume: iterate (ChatChunk objects; a pass-through
 * transformer's JSON text is parsed on the way out), or nextBatch() (the edge:
 * every item from one upstream read at once, JSON text left as text, so an
 * OpenAI upstream's events are never parsed and re-serialised).
 */
import { SseParser, type SseEvent } from './sse-parser.ts';
import { UpstreamError } from '../providers/failure.ts';
import type { ChatChunk, StreamItem, StreamTransformer, Usage } from '../providers/types.ts';

export interface StreamSummary {
  usage: Usage | null;
  /** Request start to the first chunk ready to send. */
  ttfbMs: number;
  latencyMs: number;
  chunks: number;
  /** Undefined when the upstream finished normally. */
  error?: UpstreamError;
}

export interface ChunkSource {
  body: AsyncIterable<Uint8Array>;
  cancel(): void;
}

export class ChunkStream implements AsyncIterableIterator<ChatChunk> {
  readonly finished: Promise<StreamSummary>;
  private resolveFinished!: (s: StreamSummary) => void;
  private readonly it: AsyncIterator<Uint8Array>;
  private readonly parser = new SseParser();
  private readonly events: SseEvent[] = [];
  private queue: StreamItem[] = [];
  private qi = 0;
  private ended = false;
  private settled = false;
  /** Settled without an error: the terminal event was seen. */
  private settledOk = false;
  private delivered = 0;
  private ttfbMs = NaN;

  constructor(
    private readonly src: ChunkSource,
    private readonly tx: StreamTransformer,
    /** performance.now() at request start. */
    private readonly t0: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.it = src.body[Symbol.asyncIterator]();
    this.finished = new Promise((r) => { this.resolveFinished = r; });
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  /**
   * Chunks already parsed and waiting: next() hands them out without reading
   * the socket. The edge batches them into one write (one syscall) instead of
   * one write per chunk when an upstream TCP read carried several events.
   */
  get buffered(): number {
    return this.queue.length - this.qi;
  }

  /**
   * Reads until a chunk with substance is ready (or the stream ended); errors
   * here happen before the first byte. A role-only opening chunk does not
   * count: both OpenAI and Anthropic send one before any token, and an
   * upstream that fails right after it (Anthropic's overloaded_error comes
   * after message_start) can still be replaced. The client loses nothing:
   * the role chunk carries no text, so its time to first token is unchanged.
   */
  async peek(): Promise<void> {
    while (!this.ended && !this.substantive()) await this.fill();
  }

  /**
   * Pass-through text is parsed here only while peeking (the first event or
   * two). Text that only looks like a chunk (not JSON, or no choices array)
   * fails the stream like any other bad event, which also cancels the
   * upstream request: the caller moves on to the next candidate and would
   * otherwise leave this one open until its total deadline.
   */
  private substantive(): boolean {
    for (let i = this.qi; i < this.queue.length; i++) {
      const item = this.queue[i];
      let c: ChatChunk['choices'][0] | undefined;
      try {
        const choices = (typeof item === 'string' ? JSON.parse(item) as ChatChunk : item).choices;
        if (!Array.isArray(choices)) throw new TypeError('no "choices" array');
        c = choices[0];
        if (c !== undefined && (c === null || typeof c !== 'object')) throw new TypeError('a choice that is not an object');
      } catch {
        throw this.abandon(new UpstreamError('bad_response', 'upstream stream event is not a chat.completion.chunk (not JSON, or no "choices" array of objects)'));
      }
      if (c === undefined || c.finish_reason !== null) return true;
      for (const k in c.delta) if (k !== 'role' && (k !== 'content' || c.delta.content)) return true;
    }
    return false;
  }

  /** Ends the stream with `err` (nothing was handed out yet): cancels the upstream, settles `finished`. */
  private abandon(err: UpstreamError): UpstreamError {
    this.ended = true;
    this.src.cancel();
    this.settle(err);
    return err;
  }

  async next(): Promise<IteratorResult<ChatChunk>> {
    if (this.qi >= this.queue.length) {
      if (this.ended) return { value: undefined, done: true };
      await this.fill();
      if (this.qi >= this.queue.length) return { value: undefined, done: true };
    }
    this.delivered++;
    const item = this.queue[this.qi++];
    return { value: typeof item === 'string' ? JSON.parse(item) as ChatChunk : item, done: false };
  }

  /**
   * Every item queued, reading upstream first if none is: what one upstream
   * read produced, so the edge sends it in one write. null once the stream is
   * over; errors as next(). Strings are a chunk's JSON text (pass-through).
   */
  async nextBatch(): Promise<StreamItem[] | null> {
    if (this.qi >= this.queue.length) {
      if (this.ended) return null;
      await this.fill();
      if (this.qi >= this.queue.length) return null;
    }
    const out = this.qi === 0 ? this.queue : this.queue.slice(this.qi);
    this.delivered += out.length;
    this.queue = [];
    this.qi = 0;
    return out;
  }

  /**
   * The upstream's terminal event was seen and every item handed out: what
   * is pending can go out together with the end of the response (one write
   * instead of two).
   */
  get complete(): boolean {
    return this.ended && this.settledOk && this.qi >= this.queue.length;
  }

  /** The consumer stopped early (client gone): cancel the upstream request. */
  async return(): Promise<IteratorResult<ChatChunk>> {
    if (!this.ended) {
      this.ended = true;
      this.src.cancel();
      this.settle(new UpstreamError('aborted', 'the client stopped reading', undefined, this.delivered > 0));
    }
    return { value: undefined, done: true };
  }

  /** Reads upstream until at least one more chunk is queued, or the stream ends. */
  private async fill(): Promise<void> {
    if (this.qi >= this.queue.length) { this.queue.length = 0; this.qi = 0; }
    const before = this.queue.length;
    try {
      while (this.queue.length === before) {
        const r = await this.it.next();
        if (r.done) {
          this.parser.end();
          this.tx.end(this.queue);
          this.ended = true;
          if (!this.tx.done) throw new UpstreamError('network', 'upstream stream ended before its terminal event');
          this.settle();
          return;
        }
        this.events.length = 0;
        const n = this.parser.push(r.value, this.events);
        for (let i = 0; i < n; i++) this.tx.push(this.events[i], this.queue);
        if (this.queue.length > 0 && this.ttfbMs !== this.ttfbMs) this.ttfbMs = this.now() - this.t0;
        if (this.tx.done) {
          // Terminal event seen ([DONE] / message_stop): hand out what is queued
          // now, and read the rest of the body (normally just its end) in the
          // background so the socket goes back to the keep-alive pool.
          this.ended = true;
          this.settle();
          void this.drain();
          return;
        }
      }
    } catch (e) {
      this.ended = true;
      this.src.cancel();
      const err = e instanceof UpstreamError ? e : new UpstreamError('bad_response', (e as Error)?.message ?? String(e));
      const out = this.delivered > 0 ? err.withFirstByteSent() : err;
      this.settle(out);
      throw out;
    }
  }

  private async drain(): Promise<void> {
    try { while (!(await this.it.next()).done); } catch { /* the response was complete; a late socket error is moot */ }
  }

  private settle(error?: UpstreamError): void {
    if (this.settled) return;
    this.settled = true;
    this.settledOk = error === undefined;
    const s: StreamSummary = { usage: this.tx.usage, ttfbMs: this.ttfbMs, latencyMs: this.now() - this.t0, chunks: this.delivered + (this.queue.length - this.qi) };
    if (error) s.error = error;
    this.resolveFinished(s);
  }
}
