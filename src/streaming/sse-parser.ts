/**
 * Incremental Server-Sent Events parser on bytes (WHATWG HTML "event stream
 * interpretation"), after undici's eventsource-stream.js: line terminators are
 * found with numeric byte constants on the raw Uint8Array, and text is decoded
 * only once a whole line is known, so a chunk boundary inside a multi-byte
 * UTF-8 character, inside a field name or between CR and LF changes nothing.
 *
 * Rules implemented: optional UTF-8 BOM at stream start; lines end with CRLF,
 * LF or CR; ':' starts a comment; `field: value` strips one leading space;
 * `data` lines join with '\n'; `event` sets the type (default "message");
 * `id` persists across events (ignored if it contains NUL); `retry` with only
 * ASCII digits sets `retryMs`; a blank line dispatches, unless no data line
 * was seen; unknown fields are ignored; an incomplete event at end of stream is
 * discarded (as the spec says; upstreams end with a blank line anyway).
 *
 * Bounded: a line, or an event's data, longer than `maxEventBytes` (default
 * MAX_SSE_EVENT_BYTES) throws instead of growing a buffer for as long as a
 * broken upstream keeps sending without a line end.
 *
 * Cost: one pass over each byte via native indexOf, one UTF-8 decode per
 * field value, a copy only for the tail of a chunk that ends mid-line.
 */

export interface SseEvent {
  /** The `event` field, or "message" when absent. */
  event: string;
  /** All `data` lines of the event joined by '\n'. */
  data: string;
  /** Last event id seen on the stream so far ('' if none). */
  id: string;
}

const LF = 0x0a;
const CR = 0x0d;
const COLON = 0x3a;
const SPACE = 0x20;
const NUL = 0x00;
const DIGIT_0 = 0x30;
const DIGIT_9 = 0x39;
const BOM = new Uint8Array([0xef, 0xbb, 0xbf]);
/** Longest line, and longest event data, a parser takes by default: far above any LLM event (a whole image in base64 fits). */
export const MAX_SSE_EVENT_BYTES = 16 * 1024 * 1024;
const EMPTY = new Uint8Array(0);
// Field names as bytes: d a t a / e v e n t / i d / r e t r y.
const d = 0x64, a = 0x61, t = 0x74, e = 0x65, v = 0x76, n = 0x6e, i_ = 0x69, r = 0x72, y = 0x79;

// ignoreBOM: keep a U+FEFF that begins a field value; only the stream-start BOM is dropped (below).
const decoder = new TextDecoder('utf-8', { ignoreBOM: true });

/**
 * UTF-8 bytes [s, e) of `b` as text. Buffers (what undici hands out, and the
 * parser's own carry-over buffer) decode in place; TextDecoder needs a
 * subarray object per field first. Same output: both replace invalid
 * sequences with U+FFFD and keep a leading U+FEFF. Measured: 24-event
 * stream (the mock's), 3.9 -> 3.1 µs of parsing.
 */
function text(b: Uint8Array, s: number, e: number): string {
  return b instanceof Buffer ? b.toString('utf8', s, e) : decoder.decode(b.subarray(s, e));
}

export class SseParser {
  /** Reconnection time from the last valid `retry` field; null if none seen. */
  retryMs: number | null = null;

  /** The unfinished line a chunk ended with; allocated on first need (most streams' reads end on an event boundary). */
  private pend: Uint8Array = EMPTY;
  private pendLen = 0;
  private bomPos = 0;
  private bomDone = false;
  /** The previous chunk ended with CR: a leading LF of the next chunk belongs to it. */
  private crPending = false;
  private data = '';
  private hasData = false;
  private type = '';
  private lastId = '';
  private out: SseEvent[] = [];

  constructor(private readonly maxEventBytes = MAX_SSE_EVENT_BYTES) {}

  /** Parses one chunk; appends every completed event to `out` and returns how many were appended. */
  push(chunk: Uint8Array, out: SseEvent[]): number {
    const before = out.length;
    this.out = out;
    let from = 0;
    const to = chunk.length;
    if (!this.bomDone) {
      while (from < to && this.bomPos < 3) {
        if (chunk[from] === BOM[this.bomPos]) { this.bomPos++; from++; continue; }
        // Not a BOM after all: the bytes matched so far are ordinary data.
        if (this.bomPos > 0) this.append(BOM, 0, this.bomPos);
        this.bomPos = 3;
      }
      if (this.bomPos < 3) return 0; // chunk ended inside a possible BOM
      this.bomDone = true;
    }
    if (this.crPending && from < to) {
      this.crPending = false;
      if (chunk[from] === LF) from++;
    }
    let lineStart = from;
    let nextLf = from < to ? chunk.indexOf(LF, from) : -1;
    let nextCr = from < to ? chunk.indexOf(CR, from) : -1;
    if (nextLf < 0) nextLf = to;
    if (nextCr < 0) nextCr = to;
    while (lineStart < to) {
      const end = nextLf < nextCr ? nextLf : nextCr;
      if (end >= to) break;
      if (this.pendLen > 0) {
        this.append(chunk, lineStart, end);
        this.line(this.pend, 0, this.pendLen);
        this.pendLen = 0;
      } else {
        this.line(chunk, lineStart, end);
      }
      let next = end + 1;
      if (end === nextCr) {
        if (next < to) { if (chunk[next] === LF) next++; } else this.crPending = true;
      }
      lineStart = next;
      if (nextLf < next) { nextLf = next < to ? chunk.indexOf(LF, next) : -1; if (nextLf < 0) nextLf = to; }
      if (nextCr < next) { nextCr = next < to ? chunk.indexOf(CR, next) : -1; if (nextCr < 0) nextCr = to; }
    }
    if (lineStart < to) this.append(chunk, lineStart, to);
    return out.length - before;
  }

  /** End of stream: an unterminated line or an event without its blank line is discarded. */
  end(): void {
    this.pendLen = 0;
    this.data = '';
    this.hasData = false;
    this.type = '';
    this.crPending = false;
  }

  private append(src: Uint8Array, s: number, e2: number): void {
    const need = this.pendLen + (e2 - s);
    if (need > this.maxEventBytes) throw new Error(`SSE line longer than ${this.maxEventBytes} bytes`);
    if (need > this.pend.length) {
      const grown = Buffer.allocUnsafe(Math.max(need, this.pend.length * 2, 256));
      grown.set(this.pend.subarray(0, this.pendLen));
      this.pend = grown;
    }
    this.pend.set(src.subarray(s, e2), this.pendLen);
    this.pendLen = need;
  }

  private line(b: Uint8Array, s: number, end: number): void {
    if (s === end) { this.dispatch(); return; }
    if (b[s] === COLON) return; // comment
    let c = s;
    while (c < end && b[c] !== COLON) c++;
    let vs = c < end ? c + 1 : end;
    if (vs < end && b[vs] === SPACE) vs++;
    const len = c - s;
    if (len === 4 && b[s] === d && b[s + 1] === a && b[s + 2] === t && b[s + 3] === a) {
      const val = vs < end ? text(b, vs, end) : '';
      if (this.hasData) {
        // Many short data lines add up as well. Counted in characters, not bytes: the same order, and free.
        if (this.data.length + val.length >= this.maxEventBytes) throw new Error(`SSE event data longer than ${this.maxEventBytes} characters`);
        this.data += '\n' + val;
      } else { this.data = val; this.hasData = true; }
    } else if (len === 5 && b[s] === e && b[s + 1] === v && b[s + 2] === e && b[s + 3] === n && b[s + 4] === t) {
      this.type = vs < end ? text(b, vs, end) : '';
    } else if (len === 2 && b[s] === i_ && b[s + 1] === d) {
      for (let k = vs; k < end; k++) if (b[k] === NUL) return;
      this.lastId = vs < end ? text(b, vs, end) : '';
    } else if (len === 5 && b[s] === r && b[s + 1] === e && b[s + 2] === t && b[s + 3] === r && b[s + 4] === y) {
      if (vs === end) return;
      let ms = 0;
      for (let k = vs; k < end; k++) {
        const ch = b[k];
        if (ch < DIGIT_0 || ch > DIGIT_9) return;
        ms = ms * 10 + (ch - DIGIT_0);
      }
      this.retryMs = ms;
    }
  }

  private dispatch(): void {
    if (!this.hasData) { this.type = ''; return; }
    this.out.push({ event: this.type === '' ? 'message' : this.type, data: this.data, id: this.lastId });
    this.data = '';
    this.hasData = false;
    this.type = '';
  }
}

/** Convenience for tests and small bodies: parses a whole buffer at once. */
export function parseSseBuffer(buf: Uint8Array): SseEvent[] {
  const p = new SseParser();
  const out: SseEvent[] = [];
  p.push(buf, out);
  p.end();
  return out;
}
