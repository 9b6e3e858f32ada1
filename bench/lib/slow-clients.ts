/**
 * Many concurrent streaming clients that read slowly, on raw sockets: each
 * reads at most `readBytes` per `readEveryMs` (node's `onread` with a fixed
 * buffer; returning false pauses the socket, so the kernel receive buffer
 * fills and the server feels it). Optionally a client reads nothing at all
 * for `stallMs` first.
 *
 * Every client checks its own stream: HTTP 200, SSE events parse, the
 * content carries `<0>`, `<1>`, ... `<n-1>` (the mock's --numbered mode)
 * exactly once and in order, the content length is as expected, and
 * `data: [DONE]` is the last event. Bounded: the whole run is cut at
 * `deadlineMs` and unfinished clients count as failures.
 */
import { connect, type Socket } from 'node:net';
import { Http1Response, rawPost } from './http1.ts';

export interface SlowLoad {
  port: number;
  path: string;
  body: string;
  headers?: Record<string, string>;
  clients: number;
  readBytes: number;
  /** Pause between reads; 0 = read as fast as data comes (still at most readBytes per read). */
  readEveryMs: number;
  /** Read nothing for this long after sending the request. */
  stallMs?: number;
  /** Numbered content pieces each stream must carry. */
  expectChunks: number;
  /** Total content characters each stream must carry (omit to skip the check). */
  expectContentChars?: number;
  /** Connections are opened evenly over this many ms (no SYN burst at the listen backlog). */
  rampMs?: number;
  deadlineMs: number;
}

export interface SlowResult {
  clients: number;
  ok: number;
  failed: number;
  /** Failure reason -> clients. */
  failures: Record<string, number>;
  /** A few failure details, for the log. */
  examples: string[];
  chunks_expected: number;
  chunks_in_order: number;
  done_events: number;
  bytes_read: number;
  duration_ms: { p50: number; max: number };
  wall_ms: number;
}

interface ClientOutcome { ok: boolean; reason?: string; detail?: string; inOrder: number; done: boolean; bytes: number; ms: number }

const SEQ = /<(\d+)>/g;

function runClient(load: SlowLoad, req: Buffer): { promise: Promise<ClientOutcome>; kill(reason: string): void } {
  let settle!: (o: ClientOutcome) => void;
  const promise = new Promise<ClientOutcome>((r) => { settle = r; });
  const t0 = performance.now();
  const res = new Http1Response();
  const decoder = new TextDecoder();
  let sse = '';
  let errBody = '';
  let content = '';
  let done = false;
  let afterDone = false;
  let bytes = 0;
  let finished = false;
  let timer: NodeJS.Timeout | undefined;
  const finish = (ok: boolean, reason?: string, detail?: string): void => {
    if (finished) return;
    finished = true;
    clearTimeout(timer);
    sock.destroy();
    let inOrder = 0;
    for (const m of content.matchAll(SEQ)) { if (Number(m[1]) !== inOrder) break; inOrder++; }
    settle({ ok, reason, detail, inOrder, done, bytes, ms: performance.now() - t0 });
  };
  const onEvents = (): void => {
    let cut: number;
    while ((cut = sse.indexOf('\n\n')) >= 0) {
      const ev = sse.slice(0, cut);
      sse = sse.slice(cut + 2);
      for (const line of ev.split('\n')) {
        if (!line.startsWith('data:')) continue;
        const data = line.slice(line[5] === ' ' ? 6 : 5);
        if (done) { afterDone = true; continue; }
        if (data === '[DONE]') { done = true; continue; }
        const j = JSON.parse(data) as { choices?: { delta?: { content?: string | null } }[]; error?: unknown };
        if (j.error !== undefined) throw new Error(`error event: ${data.slice(0, 200)}`);
        const c = j.choices?.[0]?.delta?.content;
        if (c) content += c;
      }
    }
  };
  const check = (): void => {
    if (res.status !== 200) return finish(false, `HTTP ${res.status}`, errBody);
    if (!done) return finish(false, 'no [DONE]');
    if (afterDone) return finish(false, 'data after [DONE]');
    const seqs = [...content.matchAll(SEQ)].map((m) => Number(m[1]));
    const inOrder = seqs.length === load.expectChunks && seqs.every((n, i) => n === i);
    if (!inOrder) {
      const firstBad = seqs.findIndex((n, i) => n !== i);
      return finish(false, seqs.length < load.expectChunks ? 'missing chunks' : seqs.length > load.expectChunks ? 'extra chunks' : 'out of order',
        `${seqs.length} numbered pieces, first mismatch at ${firstBad} (${seqs[firstBad]})`);
    }
    if (load.expectContentChars !== undefined && content.length !== load.expectContentChars) {
      return finish(false, 'content length', `${content.length} chars, expected ${load.expectContentChars}`);
    }
    finish(true);
  };
  const readBuf = Buffer.alloc(load.readBytes);
  const sock: Socket = connect({
    port: load.port, host: '127.0.0.1',
    onread: {
      buffer: readBuf,
      callback: (n: number, buf: Uint8Array): boolean => {
        if (finished) return false;
        bytes += n;
        try {
          res.push(Buffer.from(buf.buffer, buf.byteOffset, n), (b) => {
            if (res.status === 200) { sse += decoder.decode(b, { stream: true }); onEvents(); } else if (errBody.length < 300) errBody += b.toString('utf8', 0, 300);
          });
        } catch (e) { finish(false, 'bad response', (e as Error).message); return false; }
        if (res.done) { check(); return false; }
        if (load.readEveryMs <= 0) return true;
        timer = setTimeout(() => { if (!finished) sock.resume(); }, load.readEveryMs);
        return false;
      },
    },
  });
  sock.setNoDelay(true);
  sock.on('connect', () => {
    sock.write(req);
    if (load.stallMs) { sock.pause(); timer = setTimeout(() => { if (!finished) sock.resume(); }, load.stallMs); }
  });
  sock.on('error', (e: NodeJS.ErrnoException) => finish(false, `socket ${e.code ?? e.message}`));
  sock.on('close', () => { if (!finished) { if (res.done) check(); else finish(false, res.headersDone ? 'closed mid-stream' : 'closed before headers'); } });
  return { promise, kill: (reason) => finish(false, reason) };
}

export async function runSlowClients(load: SlowLoad): Promise<SlowResult> {
  const req = rawPost(`127.0.0.1:${load.port}`, load.path, load.body, load.headers);
  const t0 = performance.now();
  const running: ReturnType<typeof runClient>[] = [];
  const deadline = setTimeout(() => { for (const c of running) c.kill('deadline'); }, load.deadlineMs);
  const ramp = load.rampMs ?? 1000;
  const batches = Math.max(1, Math.ceil(ramp / 10));
  const perBatch = Math.ceil(load.clients / batches);
  for (let opened = 0; opened < load.clients;) {
    for (let k = 0; k < perBatch && opened < load.clients; k++, opened++) running.push(runClient(load, req));
    if (opened < load.clients) await new Promise((r) => setTimeout(r, 10));
  }
  const outcomes = await Promise.all(running.map((c) => c.promise));
  clearTimeout(deadline);
  const failures: Record<string, number> = {};
  const examples: string[] = [];
  for (const o of outcomes) {
    if (o.ok) continue;
    failures[o.reason!] = (failures[o.reason!] ?? 0) + 1;
    if (examples.length < 5 && o.detail) examples.push(`${o.reason}: ${o.detail}`);
  }
  const ms = outcomes.map((o) => o.ms).sort((a, b) => a - b);
  const ok = outcomes.filter((o) => o.ok).length;
  return {
    clients: load.clients, ok, failed: load.clients - ok, failures, examples,
    chunks_expected: load.clients * load.expectChunks,
    chunks_in_order: outcomes.reduce((a, o) => a + o.inOrder, 0),
    done_events: outcomes.filter((o) => o.done).length,
    bytes_read: outcomes.reduce((a, o) => a + o.bytes, 0),
    duration_ms: { p50: ms[Math.floor(ms.length / 2)], max: ms[ms.length - 1] },
    wall_ms: performance.now() - t0,
  };
}
