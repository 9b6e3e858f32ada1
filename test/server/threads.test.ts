/**
 * server.threads > 1 (src/edge/threads.ts): several uWS Apps on one port.
 * Many concurrent requests answered correctly; every thread serves (the
 * /health `thread` field over fresh connections); /health goes loading -> ok
 * in every thread (or -> failed); graceful shutdown with requests in flight on
 * several threads; a crashed thread is logged and restarted, a crash loop settles
 * `fatal`; the port stays exclusive against a second server.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { availableParallelism } from 'node:os';
import diagnostics_channel from 'node:diagnostics_channel';
import { setTimeout as sleep } from 'node:timers/promises';
import { Pool } from 'undici';
import { loadConfig } from '../../src/config/load.ts';
import { startThreads, httpThreads } from '../../src/edge/threads.ts';
import { CHANNEL_NAMES } from '../../src/diagnostics.ts';
import { loadNativeTables, NativeEmbedder } from '../../src/routing/embedders/native.ts';
import { loadProfile } from '../../src/routing/profile.ts';
import { Router } from '../../src/routing/router.ts';
import { DEFAULT_PROFILE_DIR } from '../../src/config/schema.ts';
import { startTestServer, type TestServer } from './helpers.ts';

const embedder = new NativeEmbedder(loadNativeTables(DEFAULT_PROFILE_DIR));
const profile = loadProfile(DEFAULT_PROFILE_DIR, embedder);
const router = new Router(profile);

async function waitFor(cond: () => boolean | Promise<boolean>, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await sleep(10);
  }
}

/** GET /health on a fresh connection (so the kernel picks the thread anew). */
async function health(base: string): Promise<{ status: number; json: any }> {
  const r = await fetch(`${base}/health`, { headers: { connection: 'close' } });
  return { status: r.status, json: await r.json() };
}

/** /health over fresh connections until every thread has answered; returns thread -> last body. */
async function healthOfEveryThread(base: string, threads: number, tries = 200): Promise<Map<number, { status: number; json: any }>> {
  const seen = new Map<number, { status: number; json: any }>();
  for (let i = 0; i < tries && seen.size < threads; i++) {
    const h = await health(base);
    seen.set(h.json.thread, h);
  }
  return seen;
}

function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

function readUntilClose(s: net.Socket): Promise<string> {
  let out = '';
  s.setEncoding('utf8');
  s.on('data', (d) => { out += d; });
  return new Promise((resolve) => s.once('close', () => resolve(out)));
}

it('server.threads: "auto" is the core count (1 with the ONNX embedder); integers as given', () => {
  const c = (threads: unknown, kind = 'native') => loadConfig({ env: {}, overrides: { server: { threads }, embedder: { kind, dir: kind === 'onnx' ? '/x' : null } } });
  assert.equal(httpThreads(c('auto')), availableParallelism());
  assert.equal(httpThreads(c('auto', 'onnx')), 1);
  assert.equal(httpThreads(c(3)), 3);
  assert.equal(loadConfig({ env: { SWITCHYARD_THREADS: '3' } }).server.threads, 3);
  assert.equal(loadConfig({ env: { SWITCHYARD_THREADS: '3' }, argv: ['--threads', 'auto'] }).server.threads, 'auto', 'flag over env');
  assert.throws(() => c(2, 'onnx'), /"server\.threads" must be one of 1, "auto" when embedder\.kind is onnx/);
  assert.throws(() => c('lots'), /"server\.threads" must be an integer from 1 to 256 or "auto"/);
  assert.throws(() => c(0), /"server\.threads" must be >= 1/);
});

describe('two HTTP threads', () => {
  let t: TestServer;
  before(async () => { t = await startTestServer({ server: { threads: 2 } }, { load: false }); });
  after(async () => { await t.close(); });

  it('/health reports the thread count and goes loading -> ok in every thread', async () => {
    assert.equal(t.server.threads, 2);
    const loading = await healthOfEveryThread(t.base, 2);
    assert.deepEqual([...loading.keys()].sort(), [0, 1], 'both threads answered');
    for (const h of loading.values()) {
      assert.equal(h.status, 503);
      assert.equal(h.json.status, 'loading');
      assert.equal(h.json.threads, 2);
    }
    await t.server.load();
    assert.equal(t.server.engine.status, 'ready', 'the main thread\'s Engine mirrors the threads');
    const ready = await healthOfEveryThread(t.base, 2);
    assert.equal(ready.size, 2);
    for (const h of ready.values()) {
      assert.equal(h.status, 200);
      assert.equal(h.json.status, 'ok');
      assert.equal(h.json.profile, 'routerbench-default');
      assert.equal(h.json.threads, 2);
    }
  });

  it('both threads serve: distinct thread ids over fresh connections', async () => {
    const ids = new Map<number, number>();
    for (let i = 0; i < 40; i++) {
      const h = await health(t.base);
      ids.set(h.json.thread, (ids.get(h.json.thread) ?? 0) + 1);
    }
    // SO_REUSEPORT hashes each connection's 4-tuple: all 40 on one thread has odds 2^-39.
    assert.deepEqual([...ids.keys()].sort(), [0, 1], JSON.stringify([...ids]));
  });

  it('answers 2,000 concurrent requests over 64 connections correctly, on both threads', async () => {
    const pool = new Pool(t.base, { connections: 64, pipelining: 1 });
    const served = new Set<number>();
    try {
      const prompts = ['Write a Python function that reverses a list.', 'What is the capital of Peru?', 'Prove that there are infinitely many primes.', 'Summarise the plot of Hamlet.'];
      const jobs = Array.from({ length: 2000 }, (_, i) => {
        const prompt = `${prompts[i % 4]} (case ${i % 500})`;
        const cw = (i % 3) * 0.15;
        return { prompt, cw, expect: router.route(embedder.embedSync(prompt), { costWeight: cw }) };
      });
      const replies = await Promise.all(jobs.map(async (j) => {
        const res = await pool.request({ path: '/v1/route', method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: j.prompt, cost_weight: j.cw }) });
        return { status: res.statusCode, json: await res.body.json() as any };
      }));
      replies.forEach((r, i) => {
        assert.equal(r.status, 200, JSON.stringify(r.json));
        assert.equal(r.json.selected_model, jobs[i].expect.model, `request ${i}`);
        assert.equal(r.json.cluster_id, jobs[i].expect.clusterId);
        assert.equal(r.json.expected_error, jobs[i].expect.expectedError);
        assert.equal(r.json.cost_adjusted_score, jobs[i].expect.score);
      });
      // Which threads did the pool's 64 connections land on?
      const per = await Promise.all(Array.from({ length: 64 }, () => pool.request({ path: '/health', method: 'GET' }).then((r) => r.body.json() as Promise<any>)));
      for (const h of per) served.add(h.thread);
    } finally { await pool.close(); }
    assert.deepEqual([...served].sort(), [0, 1]);
    assert.equal(t.server.inFlight(), 0);
  });
});

it('graceful shutdown with requests in flight on both threads: they finish, new connections are refused', async () => {
  const t = await startTestServer({ server: { threads: 2 } });
  const body = JSON.stringify({ prompt: 'A request still uploading while the server is told to stop.' });
  const socks: net.Socket[] = [];
  const replies: Promise<string>[] = [];
  try {
    // Open connections until both threads hold a half-uploaded request.
    for (let i = 0; i < 64; i++) {
      const s = await connect(t.server.port);
      replies.push(readUntilClose(s));
      s.write(`POST /v1/route HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body.slice(0, 12)}`);
      socks.push(s);
      await waitFor(() => t.server.inFlight() === socks.length);
      if (i >= 3 && t.server.inFlightPerThread().every((n) => n > 0)) break;
    }
    const per = t.server.inFlightPerThread();
    assert.ok(per.every((n) => n > 0), `in flight per thread: ${per}`);

    const closing = t.server.close({ timeoutMs: 5000 });
    // Threads stop accepting within a message hop, not synchronously.
    await waitFor(() => connect(t.server.port).then((s) => { s.destroy(); return false; }, (e: NodeJS.ErrnoException) => e.code === 'ECONNREFUSED'));
    assert.equal(t.server.inFlight(), socks.length, 'still in flight while the bodies upload');
    await sleep(50);
    for (const s of socks) s.write(body.slice(12));

    for (const raw of await Promise.all(replies)) {
      assert.match(raw, /^HTTP\/1\.1 200 OK\r\n/);
      assert.match(raw, /\r\nConnection: close\r\n/i, 'draining responses ask the client to close');
      assert.equal(typeof JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4)).selected_model, 'string');
    }
    assert.deepEqual(await closing, { drained: true });
    assert.equal(t.server.inFlight(), 0);
  } finally {
    for (const s of socks) s.destroy();
    await t.close();
  }
});

it('a profile that fails to load: every thread reports "failed", /v1/* 503, close still drains', async () => {
  const t = await startTestServer({ server: { threads: 2 }, router: { profile: '/nonexistent/profile-dir' } }, { load: false });
  try {
    await assert.rejects(t.server.load(), /nonexistent/);
    assert.equal(t.server.engine.status, 'failed');
    const every = await healthOfEveryThread(t.base, 2);
    assert.equal(every.size, 2);
    for (const h of every.values()) { assert.equal(h.status, 503); assert.equal(h.json.status, 'failed'); }
    const r = await fetch(`${t.base}/v1/route`, { method: 'POST', body: '{"prompt":"x"}' });
    assert.equal(r.status, 503);
    assert.equal(((await r.json()) as any).error.code, 'router_not_ready');
  } finally { await t.close(); }
});

it('a second server on the port fails to start, whichever side is threaded', async () => {
  const a = await startTestServer({ server: { threads: 2 } }, { load: false });
  try {
    await assert.rejects(startTestServer({ server: { port: a.server.port, threads: 2 } }, { load: false }), /cannot listen on 127\.0\.0\.1:\d+/);
    await assert.rejects(startTestServer({ server: { port: a.server.port } }, { load: false }), /cannot listen on 127\.0\.0\.1:\d+/);
    assert.equal((await health(a.base)).json.status, 'loading', 'the first server still serves');
  } finally { await a.close(); }
  const b = await startTestServer({}, { load: false });
  try {
    await assert.rejects(startTestServer({ server: { port: b.server.port, threads: 2 } }, { load: false }), /cannot listen on 127\.0\.0\.1:\d+/);
  } finally { await b.close(); }
});

describe('a crashing HTTP thread', () => {
  const CRASHING = new URL('./fixtures/crashing-http-thread.ts', import.meta.url);
  const config = loadConfig({ env: {}, overrides: { server: { host: '127.0.0.1', port: 0, threads: 2 } } });
  const exits: any[] = [];
  const onExit = (m: unknown) => { exits.push(m); };
  before(() => diagnostics_channel.subscribe(CHANNEL_NAMES.httpThreadExit, onExit));
  after(() => diagnostics_channel.unsubscribe(CHANNEL_NAMES.httpThreadExit, onExit));

  it('is logged and restarted; the port keeps serving and the new thread gets the tables', async () => {
    exits.length = 0;
    const s = await startThreads(config, 2, {}, { entry: CRASHING });
    const base = `http://127.0.0.1:${s.port}`;
    try {
      await s.load();
      assert.equal((await fetch(`${base}/crash`, { headers: { connection: 'close' } })).status, 404);
      await waitFor(() => exits.length === 1);
      assert.equal(exits[0].restarting, true);
      assert.equal(exits[0].fatal, false);
      assert.equal(exits[0].code, 1);
      assert.match(String(exits[0].error?.message ?? exits[0].error), /injected crash/);
      // Until the replacement listens, the other thread takes every connection.
      for (let i = 0; i < 10; i++) assert.equal((await health(base)).status, 200);
      await waitFor(async () => {
        const every = await healthOfEveryThread(base, 2, 40);
        return every.size === 2 && [...every.values()].every((h) => h.json.status === 'ok');
      }, 10_000);
      const r = await fetch(`${base}/v1/route`, { method: 'POST', body: '{"prompt":"after the restart"}' });
      assert.equal(r.status, 200);
    } finally {
      assert.deepEqual(await s.close({ timeoutMs: 2000 }), { drained: true });
    }
  });

  it('a crash loop settles `fatal` instead of restarting forever', async () => {
    exits.length = 0;
    const s = await startThreads(config, 2, {}, { entry: CRASHING, maxCrashes: 1 });
    const base = `http://127.0.0.1:${s.port}`;
    try {
      await s.load();
      let fatal: Error | undefined;
      void s.fatal.then((e) => { fatal = e; });
      await fetch(`${base}/crash`, { headers: { connection: 'close' } });
      await waitFor(() => exits.length === 1);
      await fetch(`${base}/crash`, { headers: { connection: 'close' } });
      await waitFor(() => fatal !== undefined);
      assert.match(fatal!.message, /HTTP threads exited 2 times within 60 s/);
      assert.equal(exits.at(-1).fatal, true);
    } finally {
      await s.close({ timeoutMs: 1000 });
    }
  });
});
