/**
 * Just enough HTTP/1.1 response parsing for raw-socket benchmark clients:
 * status line, headers, then a Content-Length or chunked body, fed bytes
 * incrementally. Raw sockets rather than undici/fetch because the clients
 * need two things those hide: the instant the first body byte arrives, and a
 * socket that reads exactly N bytes and then stops (kernel buffers fill, the
 * server sees backpressure).
 *
 * Not a general parser: no trailers, no 1xx, no obs-fold, headers must fit in
 * the first 64 KiB. Good enough for the mock, uWS and hono/node-server.
 */

const CRLF2 = Buffer.from('\r\n\r\n');
const MAX_HEAD = 64 * 1024;

export class Http1Response {
  status = 0;
  headers: Record<string, string> = {};
  headersDone = false;
  done = false;
  /** Body bytes seen so far (after de-chunking). */
  bodyBytes = 0;
  private head: Buffer = Buffer.alloc(0);
  private chunked = false;
  private remaining = -1; // Content-Length left, or bytes left in the current chunk
  private chunkState: 'size' | 'data' | 'data-crlf' | 'trailer' = 'size';
  private line = '';

  /**
   * Feeds bytes; calls onBody with each piece of de-chunked body (a view, valid
   * only during the call). Returns the number of bytes consumed: less than
   * buf.length only when the response ended inside buf (keep-alive leftovers).
   */
  push(buf: Buffer, onBody?: (b: Buffer) => void): number {
    let i = 0;
    if (!this.headersDone) {
      const prevLen = this.head.length;
      this.head = prevLen ? Buffer.concat([this.head, buf]) : buf;
      const end = this.head.indexOf(CRLF2, Math.max(0, prevLen - 3));
      if (end < 0) {
        if (this.head.length > MAX_HEAD) throw new Error('response head over 64 KiB');
        if (this.head === buf) this.head = Buffer.from(buf); // buf may be a reused read buffer
        return buf.length;
      }
      this.parseHead(this.head.subarray(0, end).toString('latin1'));
      i = end + 4 - prevLen;
      this.head = Buffer.alloc(0);
      if (!this.chunked && this.remaining === 0) { this.done = true; return i; }
    }
    while (i < buf.length && !this.done) {
      if (!this.chunked) {
        const n = this.remaining < 0 ? buf.length - i : Math.min(this.remaining, buf.length - i);
        this.body(buf.subarray(i, i + n), onBody);
        i += n;
        if (this.remaining >= 0) { this.remaining -= n; if (this.remaining === 0) this.done = true; }
        continue;
      }
      if (this.chunkState === 'data') {
        const n = Math.min(this.remaining, buf.length - i);
        this.body(buf.subarray(i, i + n), onBody);
        i += n;
        this.remaining -= n;
        if (this.remaining === 0) { this.chunkState = 'data-crlf'; this.line = ''; }
        continue;
      }
      // size line, CRLF after data, or the (empty) trailer: read a line.
      const nl = buf.indexOf(10, i);
      if (nl < 0) { this.line += buf.subarray(i).toString('latin1'); return buf.length; }
      const line = (this.line + buf.subarray(i, nl).toString('latin1')).replace(/\r$/, '');
      this.line = '';
      i = nl + 1;
      if (this.chunkState === 'data-crlf') { this.chunkState = 'size'; continue; }
      if (this.chunkState === 'trailer') { if (line === '') this.done = true; continue; }
      const size = parseInt(line, 16);
      if (!Number.isFinite(size)) throw new Error(`bad chunk size line "${line}"`);
      if (size === 0) this.chunkState = 'trailer';
      else { this.remaining = size; this.chunkState = 'data'; }
    }
    return i;
  }

  private body(b: Buffer, onBody?: (b: Buffer) => void): void {
    if (b.length === 0) return;
    this.bodyBytes += b.length;
    onBody?.(b);
  }

  private parseHead(text: string): void {
    const lines = text.split('\r\n');
    const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0]);
    if (!m) throw new Error(`not an HTTP/1.x status line: "${lines[0].slice(0, 80)}"`);
    this.status = Number(m[1]);
    for (let k = 1; k < lines.length; k++) {
      const c = lines[k].indexOf(':');
      if (c > 0) this.headers[lines[k].slice(0, c).trim().toLowerCase()] = lines[k].slice(c + 1).trim();
    }
    this.headersDone = true;
    this.chunked = /chunked/i.test(this.headers['transfer-encoding'] ?? '');
    const cl = this.headers['content-length'];
    if (!this.chunked && cl !== undefined) this.remaining = Number(cl);
  }
}

/** A POST request as raw bytes, ready to write to a keep-alive socket. */
export function rawPost(host: string, path: string, body: string, headers: Record<string, string> = {}): Buffer {
  const h = { host, 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)), ...headers };
  const head = `POST ${path} HTTP/1.1\r\n${Object.entries(h).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`;
  return Buffer.from(head + body);
}
