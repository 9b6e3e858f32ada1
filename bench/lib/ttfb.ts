/**
 * Sequential requests over one keep-alive raw socket, timing each from the
 * write of the request to (a) the first body byte, (b) the first token (the
 * first non-empty `"content":"` in the body: an SSE stream's first text delta,
 * which is what a chat user waits for) and (c) the end of the response. One connection, no concurrency: the numbers are latency, not
 * throughput, and the client's own cost is a socket write and a buffer scan.
 * Any non-2xx or an unexpected close fails the run (a benchmark of errors is
 * no benchmark).
 */
import { connect, type Socket } from 'node:net';
import { once } from 'node:events';
import { Http1Response, rawPost } from './http1.ts';

export interface TtfbResult {
  requests: number;
  ttfb_p50_ms: number;
  ttfb_p90_ms: number;
  ttfb_p99_ms: number;
  /** First non-empty content delta; NaN when a response has none. */
  ttft_p50_ms: number;
  ttft_p99_ms: number;
  total_p50_ms: number;
  total_p99_ms: number;
  body_bytes: number;
}

export interface TtfbLoad {
  port: number;
  path: string;
  /** One body for every request, or one per request index (unique prompts). */
  body: string | ((i: number) => string);
  headers?: Record<string, string>;
  requests: number;
  /** Unmeasured requests first (JIT, pools). */
  warmup?: number;
  /** Whole-run deadline; the run stops early (and says so in `requests`) past it. */
  deadlineMs?: number;
}

const pct = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

export async function measureTtfb(load: TtfbLoad): Promise<TtfbResult> {
  const sock: Socket = connect({ port: load.port, host: '127.0.0.1', noDelay: true });
  await once(sock, 'connect');
  const host = `127.0.0.1:${load.port}`;
  const fixed = typeof load.body === 'string' ? rawPost(host, load.path, load.body, load.headers) : null;
  const bodyAt = load.body;
  const ttfb: number[] = [];
  const total: number[] = [];
  const ttft: number[] = [];
  let bodyBytes = 0;
  const deadline = performance.now() + (load.deadlineMs ?? 120_000);
  try {
    const n = (load.warmup ?? 100) + load.requests;
    for (let k = 0; k < n && performance.now() < deadline; k++) {
      const r = await oneRequest(sock, fixed ?? rawPost(host, load.path, (bodyAt as (i: number) => string)(k), load.headers));
      if (r.status < 200 || r.status > 299) throw new Error(`HTTP ${r.status} from 127.0.0.1:${load.port}${load.path}`);
      if (k >= (load.warmup ?? 100)) { ttfb.push(r.ttfb); ttft.push(r.ttft); total.push(r.total); bodyBytes = r.bytes; }
    }
  } finally {
    sock.destroy();
  }
  if (ttfb.length === 0) throw new Error('no request completed before the deadline');
  ttfb.sort((a, b) => a - b);
  total.sort((a, b) => a - b);
  ttft.sort((a, b) => a - b);
  return {
    requests: ttfb.length, ttfb_p50_ms: pct(ttfb, 50), ttfb_p90_ms: pct(ttfb, 90), ttfb_p99_ms: pct(ttfb, 99),
    ttft_p50_ms: pct(ttft, 50), ttft_p99_ms: pct(ttft, 99),
    total_p50_ms: pct(total, 50), total_p99_ms: pct(total, 99), body_bytes: bodyBytes,
  };
}

const TOKEN = /"content":"[^"]/;

function oneRequest(sock: Socket, req: Buffer): Promise<{ status: number; ttfb: number; ttft: number; total: number; bytes: number }> {
  return new Promise((resolve, reject) => {
    const res = new Http1Response();
    let first = -1;
    let token = -1;
    let tail = '';
    const t0 = performance.now();
    const onData = (d: Buffer): void => {
      try {
        const now = performance.now();
        res.push(d);
        if (first < 0 && res.bodyBytes > 0) first = now;
        if (token < 0) {
          // The raw bytes, with a short tail of the previous read so a pattern split across reads is still seen.
          const text = tail + d.toString('latin1');
          if (TOKEN.test(text)) token = now; else tail = text.slice(-16);
        }
        if (res.done) { cleanup(); resolve({ status: res.status, ttfb: first - t0, ttft: token < 0 ? NaN : token - t0, total: performance.now() - t0, bytes: res.bodyBytes }); }
      } catch (e) { cleanup(); reject(e); }
    };
    const onClose = (): void => { cleanup(); reject(new Error('connection closed mid-response')); };
    const onError = (e: Error): void => { cleanup(); reject(e); };
    const cleanup = (): void => { sock.off('data', onData); sock.off('close', onClose); sock.off('error', onError); };
    sock.on('data', onData);
    sock.on('close', onClose);
    sock.on('error', onError);
    sock.write(req);
  });
}
