/**
 * The activity log's path from an HTTP thread to the SQLite writer thread: a
 * single-producer, single-consumer ring of encoded rows in a
 * SharedArrayBuffer. The HTTP thread writes a row's bytes and moves the head
 * (one Atomics.store); the writer thread reads from the tail on its own
 * timer (state.logs.flush_ms) and inserts what it found in one transaction.
 *
 * Why not postMessage: the batch path it replaces (rows kept as objects,
 * JSON-stringified, posted every 500 rows) cost the HTTP thread ~2 µs a row
 * in stringify and clone, kept every row alive until the flush (old-space
 * garbage), and every post woke the writer thread: on a 2-core machine that
 * wake-up preempted the poster, and 15-20% of the posts measured 0.2-12 ms
 * inside postMessage (a /v1/route cache hit is ~25 µs). Here the HTTP thread
 * never wakes anyone and allocates nothing per row.
 *
 * Layout: a 64-byte header of Int32 counters (head, tail: byte counters
 * modulo 2^32; rows dropped; rows written), then the data region (a power of
 * two). A record is a Uint32 length, then
 *   at, cost_usd, latency_ms, prompt_tokens, completion_tokens  (Float64, NaN = null)
 *   cluster  (Int32, INT32_MIN = null)   status (Uint16)   cache_hit (Uint8)
 *   org, request_id, endpoint, model_requested, model_selected,
 *   model_executed, reason, fallback_chain  (Uint16 byte length, 0xFFFF = null; UTF-8)
 * padded to 4 bytes. A record never wraps: when it does not fit before the
 * end, the producer writes the WRAP marker and starts at 0.
 *
 * What can go wrong: the ring is full (the writer is slow or dead): push
 * refuses the row and the caller decides (src/api/activity-log.ts holds a
 * bounded overflow, then drops and counts). A failed insert drops the rows of
 * its transaction (`dropped`). A string over 65,534 bytes (no real log field
 * comes near) is cut to 21,844 characters.
 */
import type { ActivityRow } from './org-types.ts';

const HEAD = 0;
const TAIL = 1;
const DROPPED = 2;
const WRITTEN = 3;
const HEADER_BYTES = 64;
const WRAP = 0xffffffff;
const FIXED = 48;
const NULL_STR = 0xffff;
const MAX_STR_BYTES = 0xfffe;
const MAX_STR_CHARS = Math.floor(MAX_STR_BYTES / 3);
const INT32_MIN = -2147483648;
/** Bytes a record takes besides its strings' bytes: length, fixed part, 8 string lengths, padding. */
const OVERHEAD = 4 + FIXED + 8 * 2 + 3;

/**
 * Default data region: ~85,000 rows of ~96 bytes (a 4 MiB ring held 43,828
 * of bench/activity-log.ts's rows). A thread logging 40,000 requests a second
 * fills an eighth of it per 250 ms flush. The writer spends 5-6 µs a row
 * (bench/activity-log.ts: 7.3-8.6 µs of CPU a row over all threads, ~1.3 of
 * them on the publishing thread), so a writer that falls behind for seconds,
 * or stops, is what fills it. Pages are committed as the ring first cycles
 * through them.
 */
export const LOG_RING_BYTES = 8 * 1024 * 1024;

function cut<T extends string | null>(s: T): T {
  return (s !== null && s.length > MAX_STR_CHARS ? s.slice(0, MAX_STR_CHARS) : s) as T;
}

export class LogRing {
  readonly sab: SharedArrayBuffer;
  private readonly i32: Int32Array;
  private readonly dv: DataView;
  private readonly buf: Buffer;
  private readonly cap: number;
  private readonly mask: number;

  /** A new ring with `bytes` of data (rounded up to a power of two, at least 4 KiB). */
  static create(bytes = LOG_RING_BYTES): LogRing {
    const cap = 2 ** Math.ceil(Math.log2(Math.max(4096, bytes)));
    return new LogRing(new SharedArrayBuffer(HEADER_BYTES + cap));
  }

  /** The other side of a ring made by create() (the writer thread, from the registration message). */
  constructor(sab: SharedArrayBuffer) {
    const cap = sab.byteLength - HEADER_BYTES;
    if (cap < 4096 || (cap & (cap - 1)) !== 0) throw new Error(`LogRing: ${sab.byteLength} bytes is not a 64-byte header plus a power-of-two data region`);
    this.sab = sab;
    this.i32 = new Int32Array(sab, 0, HEADER_BYTES / 4);
    this.dv = new DataView(sab, HEADER_BYTES, cap);
    this.buf = Buffer.from(sab, HEADER_BYTES, cap);
    this.cap = cap;
    this.mask = cap - 1;
  }

  /**
   * Producer: whether the last push left the ring more than half full (or
   * found it full). The sink then asks the writer to drain now rather than at
   * its next tick: a burst above what one flush interval holds is written,
   * not dropped, at the price of one message per half ring.
   */
  overHalf = false;

  /** Rows the writer failed to store (given up with their transaction). */
  get dropped(): number { return Atomics.load(this.i32, DROPPED); }
  /** Rows the writer committed. */
  get written(): number { return Atomics.load(this.i32, WRITTEN); }

  /** Producer: appends `r`; false when the ring has no room (the caller keeps the row or counts it lost). */
  push(r: ActivityRow): boolean {
    // Worst case 3 UTF-8 bytes a UTF-16 unit; a string beyond a length field's reach is cut (never in practice).
    const org = cut(r.org), requestId = cut(r.requestId), endpoint = cut(r.endpoint), fallbackChain = cut(r.fallbackChain);
    const requested = cut(r.modelRequested), selected = cut(r.modelSelected), executed = cut(r.modelExecuted), reason = cut(r.reason);
    const need = OVERHEAD + 3 * (org.length + requestId.length + endpoint.length + fallbackChain.length
      + (requested?.length ?? 0) + (selected?.length ?? 0) + (executed?.length ?? 0) + (reason?.length ?? 0));
    const i32 = this.i32;
    let head = Atomics.load(i32, HEAD) >>> 0;
    const tail = Atomics.load(i32, TAIL) >>> 0;
    let free = this.cap - ((head - tail) >>> 0);
    let p = head & this.mask;
    const room = this.cap - p;
    if (room < need) {
      // Not enough before the end: the rest of the region is skipped (the reader follows the marker).
      if (free < room + need) { this.overHalf = true; return false; }
      this.dv.setUint32(p, WRAP);
      head = (head + room) >>> 0;
      free -= room;
      p = 0;
    } else if (free < need) { this.overHalf = true; return false; }
    const dv = this.dv;
    const at = p + 4;
    dv.setFloat64(at, r.at);
    dv.setFloat64(at + 8, r.costUsd ?? NaN);
    dv.setFloat64(at + 16, r.latencyMs);
    dv.setFloat64(at + 24, r.promptTokens ?? NaN);
    dv.setFloat64(at + 32, r.completionTokens ?? NaN);
    dv.setInt32(at + 40, r.cluster ?? INT32_MIN);
    dv.setUint16(at + 44, r.status);
    dv.setUint8(at + 46, r.cacheHit ? 1 : 0);
    let o = at + FIXED;
    o = this.str(o, org);
    o = this.str(o, requestId);
    o = this.str(o, endpoint);
    o = this.str(o, requested);
    o = this.str(o, selected);
    o = this.str(o, executed);
    o = this.str(o, reason);
    o = this.str(o, fallbackChain);
    const len = (o - at + 3) & ~3;
    dv.setUint32(p, len);
    // Publishes the bytes above: the reader loads the head before it reads them.
    Atomics.store(i32, HEAD, (head + 4 + len) | 0);
    this.overHalf = free - 4 - len < this.cap / 2;
    return true;
  }

  private str(o: number, s: string | null): number {
    if (s === null) { this.dv.setUint16(o, NULL_STR); return o + 2; }
    const n = s.length === 0 ? 0 : this.buf.write(s, o + 2, 'utf8');
    this.dv.setUint16(o, n);
    return o + 2 + n;
  }

  /** Consumer: where read() is; it returns the string there and moves past it. */
  private cursor = 0;
  /** utf8Slice: Buffer#toString('utf8', a, b) without its argument checks (several times faster on short strings). */
  private read(): string | null {
    const o = this.cursor;
    const n = this.dv.getUint16(o);
    if (n === NULL_STR) { this.cursor = o + 2; return null; }
    this.cursor = o + 2 + n;
    return n === 0 ? '' : (this.buf as unknown as { utf8Slice(a: number, b: number): string }).utf8Slice(o + 2, o + 2 + n);
  }

  /**
   * Consumer: appends up to `maxRows` rows to `out` as flat values in the
   * activity_log INSERT's column order (sqlite-org-ops.ts LOG_FIELDS), and
   * returns how many plus the tail after them. The space is handed back only
   * by release(tail), after the rows are stored (or given up on). `from`: a
   * tail an earlier peek returned (reading on in chunks before releasing).
   */
  peek(out: unknown[], maxRows = Infinity, from?: number): { rows: number; tail: number } {
    const head = Atomics.load(this.i32, HEAD) >>> 0;
    let tail = from ?? (Atomics.load(this.i32, TAIL) >>> 0);
    let rows = 0;
    const dv = this.dv;
    while (tail !== head && rows < maxRows) {
      const p = tail & this.mask;
      const len = dv.getUint32(p);
      if (len === WRAP) { tail = (tail + this.cap - p) >>> 0; continue; }
      const at = p + 4;
      this.cursor = at + FIXED;
      const org = this.read(), requestId = this.read(), endpoint = this.read(), requested = this.read();
      const selected = this.read(), executed = this.read(), reason = this.read(), chain = this.read();
      const cluster = dv.getInt32(at + 40);
      const prompt = dv.getFloat64(at + 24), completion = dv.getFloat64(at + 32), cost = dv.getFloat64(at + 8);
      out.push(org, requestId, dv.getFloat64(at), endpoint, requested, selected, executed, reason, chain,
        cluster === INT32_MIN ? null : cluster, prompt === prompt ? prompt : null, completion === completion ? completion : null,
        cost === cost ? cost : null, dv.getFloat64(at + 16), dv.getUint16(at + 44), dv.getUint8(at + 46));
      tail = (tail + 4 + len) >>> 0;
      rows++;
    }
    return { rows, tail };
  }

  /** Consumer: hands the space up to `tail` (from peek) back to the producer, counting the rows as written or dropped. */
  release(tail: number, rows: number, stored: boolean): void {
    Atomics.add(this.i32, stored ? WRITTEN : DROPPED, rows);
    Atomics.store(this.i32, TAIL, tail | 0);
  }
}
