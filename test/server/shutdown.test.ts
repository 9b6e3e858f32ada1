/**
 * Graceful shutdown: a request whose body is still uploading when close() is
 * called completes; new connections are refused meanwhile; the drain deadline
 * cuts off a request that never finishes; idle keep-alive connections do not
 * hold close() up; `npm start` exits 0 on SIGTERM.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { ROOT } from '../../src/fit/options.ts';
import { startTestServer } from './helpers.ts';

async function waitFor(cond: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await sleep(5);
  }
}

function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

/** Everything the server sends until it closes the connection. */
function readUntilClose(s: net.Socket): Promise<string> {
  let out = '';
  s.setEncoding('utf8');
  s.on('data', (d) => { out += d; });
  return new Promise((resolve) => s.once('close', () => resolve(out)));
}

it('finishes a request whose body is mid-upload at close(), refusing new connections meanwhile', async () => {
  const t = await startTestServer();
  const body = JSON.stringify({ prompt: 'A request that is still uploading when the server is told to stop.' });
  const sock = await connect(t.server.port);
  const reply = readUntilClose(sock);
  sock.write(`POST /v1/route HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body.slice(0, 12)}`);
  await waitFor(() => t.server.inFlight() === 1);

  const closing = t.server.close({ timeoutMs: 5000 });
  await assert.rejects(connect(t.server.port), (e: NodeJS.ErrnoException) => e.code === 'ECONNREFUSED');
  assert.equal(t.server.inFlight(), 1, 'still in flight while the body uploads');
  await sleep(50);
  sock.write(body.slice(12));

  const raw = await reply;
  assert.match(raw, /^HTTP\/1\.1 200 OK\r\n/);
  assert.match(raw, /\r\nConnection: close\r\n/i, 'draining responses ask the client to close');
  const json = JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4));
  assert.equal(typeof json.selected_model, 'string');
  assert.deepEqual(await closing, { drained: true });
  assert.equal(t.server.inFlight(), 0);
});

it('drops a request that outlives the drain deadline', async () => {
  const t = await startTestServer();
  const sock = await connect(t.server.port);
  const reply = readUntilClose(sock);
  sock.write('POST /v1/route HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"prompt":');
  await waitFor(() => t.server.inFlight() === 1);
  const t0 = Date.now();
  assert.deepEqual(await t.server.close({ timeoutMs: 150 }), { drained: false });
  assert.ok(Date.now() - t0 >= 140);
  assert.equal(await reply, '', 'connection closed without a response');
  assert.equal(t.server.inFlight(), 0);
});

it('idle keep-alive connections do not hold close() up; close() is idempotent', async () => {
  const t = await startTestServer();
  for (let i = 0; i < 3; i++) assert.equal((await fetch(`${t.base}/health`)).status, 200);
  const t0 = Date.now();
  const [a, b] = await Promise.all([t.server.close(), t.server.close()]);
  assert.deepEqual(a, { drained: true });
  assert.equal(a, b);
  assert.ok(Date.now() - t0 < 5000, 'did not wait for the 10 s shutdown timeout');
  await assert.rejects(fetch(`${t.base}/health`));
});

it('npm start: serves, then drains and exits 0 on SIGTERM sent to npm (as a process manager sends it)', async () => {
  // npm runs a script through `sh -c`, which does not pass signals on: without
  // the `exec` in package.json's start script, npm got the SIGTERM and the
  // server never did (found by hand: a server outlived its npm by an hour).
  const child = spawn('npm', ['start', '--silent', '--', '--port', '0'], { cwd: ROOT, env: { ...process.env, HOST: '127.0.0.1' }, stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d) => { log += d; });
  try {
    await waitFor(() => /ready: profile/.test(log), 15_000);
    const port = Number(/listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(log)![1]);
    const r = await fetch(`http://127.0.0.1:${port}/v1/route`, { method: 'POST', body: '{"prompt":"hi"}' });
    assert.equal(r.status, 200);
    child.kill('SIGTERM');
    const [code] = await once(child, 'exit');
    assert.equal(code, 0, log);
    assert.match(log, /shutting down/);
    assert.match(log, /closed in \d+ ms/);
    // And the port is free again: the server itself is gone, not just npm.
    await assert.rejects(fetch(`http://127.0.0.1:${port}/health`));
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
});

it('a second server on a port in use fails to start (no silent SO_REUSEPORT sharing)', async () => {
  const a = await startTestServer({}, { load: false });
  try {
    await assert.rejects(startTestServer({ server: { port: a.server.port } }, { load: false }), /cannot listen on 127\.0\.0\.1:\d+/);
  } finally { await a.close(); }
});
