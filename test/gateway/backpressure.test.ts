/**
 * Backpressure end to end: a client that stops reading must stop the
 * upstream read too (the gateway waits for uWS's onWritable before pulling
 * the next upstream chunk), instead of Switchyard buffering the whole answer.
 *
 * A purpose-built upstream streams 16 KB chunks as fast as its socket takes
 * them and records how much it has written. While the client is paused, that
 * count must stall short of the total; once the client reads again, every
 * chunk arrives, in order, followed by [DONE].
 *
 * How much a stalled pipe holds is the kernel's business, not Switchyard's:
 * loopback TCP autotunes each socket's buffers up to net.ipv4.tcp_rmem /
 * tcp_wmem's maximum (32 MB / 4 MB on the machines here; a first version of
 * this test assumed "a few MB" and failed in CI at 16.7 MB held). So the
 * bound is read from /proc: two hops (upstream -> gateway, gateway -> client),
 * each at most one send buffer plus one receive buffer, plus a few MB of
 * user-space slack (Node's and uWS's write buffers, one upstream read). The
 * stream is made longer than that bound, so a gateway that buffered the
 * answer in memory would let the upstream finish and fail the test.
 */
import { it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server as HttpServer } from 'node:http';
import { connect } from 'node:net';
import { readFileSync } from 'node:fs';
import { openaiModel, startGateway, type Gateway } from './helpers.ts';

/** The largest buffer the kernel may autotune a TCP socket to (third field of tcp_rmem / tcp_wmem). */
function tcpMax(kind: 'rmem' | 'wmem', fallback: number): number {
  try {
    const v = Number(readFileSync(`/proc/sys/net/ipv4/tcp_${kind}`, 'utf8').trim().split(/\s+/)[2]);
    return Number.isFinite(v) && v > 0 ? v : fallback;
  } catch { return fallback; }
}
const SLACK = 8 * 1024 * 1024;
const BUFFERED_MAX = 2 * (tcpMax('rmem', 6 << 20) + tcpMax('wmem', 4 << 20)) + SLACK;
const PIECE = 'x'.repeat(16 * 1024);
const FRAME_BYTES = PIECE.length + 120;
const CHUNKS = Math.ceil((BUFFERED_MAX + 32 * 1024 * 1024) / FRAME_BYTES);

let upstream: HttpServer;
let gw: Gateway;
const up = { written: 0, done: false, aborted: false };

before(async () => {
  upstream = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.on('close', () => { if (!res.writableFinished) up.aborted = true; });
      let i = 0;
      const frame = (k: number) => `data: {"id":"bp","object":"chat.completion.chunk","created":1,"model":"bp","choices":[{"index":0,"delta":{"content":"<${k}>${PIECE}"},"finish_reason":null}]}\n\n`;
      const pump = (): void => {
        while (i < CHUNKS) {
          const s = frame(i++);
          up.written += s.length;
          if (!res.write(s)) { res.once('drain', pump); return; }
        }
        res.end('data: {"id":"bp","object":"chat.completion.chunk","created":1,"model":"bp","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n');
        up.done = true;
      };
      res.write('data: {"id":"bp","object":"chat.completion.chunk","created":1,"model":"bp","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}\n\n');
      pump();
    });
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
  const url = `http://127.0.0.1:${(upstream.address() as { port: number }).port}/v1`;
  gw = await startGateway({ models: [openaiModel('bulk', url)] });
});
after(async () => {
  await gw.close();
  upstream.closeAllConnections();
  await new Promise<void>((r) => upstream.close(() => r()));
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

it('a paused client stalls the upstream; resuming delivers every chunk in order', async () => {
  const body = JSON.stringify({ model: 'bulk', messages: [{ role: 'user', content: 'a lot please' }], stream: true });
  const sock = connect(gw.server.port, '127.0.0.1');
  const parts: Buffer[] = [];
  sock.on('data', (b) => parts.push(b));
  await new Promise<void>((r) => sock.once('connect', () => r()));
  sock.write(`POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
  // Take the headers and the first bytes, then stop reading.
  while (!Buffer.concat(parts).includes('\r\n\r\n')) await sleep(5);
  sock.pause();

  // Wait for the pipe to fill and the upstream to stop: its count must hold
  // still for 500 ms (polled, so a slow CI machine only takes longer).
  let w1 = -1, w2 = up.written, still = 0;
  for (const t0 = Date.now(); still < 500 && Date.now() - t0 < 15_000 && !up.done; ) {
    await sleep(50);
    w1 = w2; w2 = up.written;
    still = w2 === w1 ? still + 50 : 0;
  }
  const total = CHUNKS * FRAME_BYTES;
  console.log(`held while paused: ${(w2 / 1e6).toFixed(1)} MB, bound ${(BUFFERED_MAX / 1e6).toFixed(1)} MB, stream ${(total / 1e6).toFixed(1)} MB`);
  assert.ok(!up.done, 'the upstream cannot have finished while the client is paused');
  assert.equal(w2, w1, `the upstream stalled (wrote ${w1} then ${w2} bytes)`);
  assert.ok(w2 <= BUFFERED_MAX, `only socket buffers' worth was pulled: ${(w2 / 1e6).toFixed(1)} MB of ${(total / 1e6).toFixed(1)} MB (bound ${(BUFFERED_MAX / 1e6).toFixed(1)} MB)`);

  sock.resume();
  const ended = new Promise<void>((r) => sock.on('data', () => { if (Buffer.concat(parts.slice(-2)).includes('data: [DONE]')) r(); }));
  await ended;
  sock.destroy();
  const text = Buffer.concat(parts).toString('latin1');
  const seq = [...text.matchAll(/"content":"<(\d+)>/g)].map((m) => Number(m[1]));
  assert.equal(seq.length, CHUNKS);
  assert.ok(seq.every((v, i) => v === i), 'every chunk once, in order');
  assert.ok(up.done);
  assert.equal(up.aborted, false);
});
