/**
 * HealthTracker over a SharedArrayBuffer: trackers on different threads that
 * share the buffer (and the model list) see one state. Worker threads hammer
 * the same slots concurrently; the counts add up exactly (the per-slot lock
 * loses no record), a breaker tripped on a worker is open on the main thread,
 * and a half-open probe is handed out once across threads.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { createHealthBuffer, HealthTracker } from '../../src/providers/health.ts';

const HEALTH_URL = new URL('../../src/providers/health.ts', import.meta.url).href;

/** Runs `body` in a worker with `tracker` built over the shared buffer; resolves with what it posts. */
function inWorker<T>(buffer: SharedArrayBuffer, models: string[], opts: object, body: string): Promise<T> {
  const src = `
    const { workerData, parentPort } = require('node:worker_threads');
    (async () => {
      const { register } = await import('tsx/esm/api');
      register();
      const { HealthTracker } = await import(workerData.url);
      const tracker = new HealthTracker(workerData.opts, { models: workerData.models, buffer: workerData.buffer });
      const result = await (async () => { ${body} })();
      parentPort.postMessage(result ?? null);
    })().catch((e) => { parentPort.postMessage({ error: String(e && e.stack || e) }); });
  `;
  return new Promise((resolve, reject) => {
    const w = new Worker(src, { eval: true, workerData: { url: HEALTH_URL, buffer, models, opts } });
    w.once('message', (m) => { void w.terminate(); if (m && m.error) reject(new Error(m.error)); else resolve(m as T); });
    w.once('error', reject);
  });
}

describe('HealthTracker on shared memory', () => {
  it('concurrent records from several threads are all counted', async () => {
    const models = ['a', 'b'];
    const opts = { windowSize: 10_000, failureThreshold: 1_000_000, minSamples: 1_000_000, windowMs: 3_600_000 };
    const buffer = createHealthBuffer(models.length, opts.windowSize);
    const main = new HealthTracker(opts, { models, buffer });
    const N = 2_000;
    const body = `for (let i = 0; i < ${N}; i++) { tracker.record('a', { ok: i % 2 === 0, latencyMs: 10, ttfbMs: 5 }); tracker.record('b', { ok: true, latencyMs: 20 }); }`;
    await Promise.all([inWorker(buffer, models, opts, body), inWorker(buffer, models, opts, body), inWorker(buffer, models, opts, body)]);
    const a = main.entry('a');
    assert.equal(a.successes + a.failures, 3 * N);
    assert.equal(a.failures, 3 * N / 2);
    assert.equal(a.avgLatencyMs, 10);
    assert.equal(a.avgTtfbMs, 5);
    assert.equal(main.entry('b').successes, 3 * N);
    assert.equal(main.shared, true);
  });

  it('a breaker tripped on one thread is open on another; the probe is handed out once', async () => {
    const models = ['x', 'y'];
    const opts = { failureThreshold: 3, cooldownMs: 100, probeTimeoutMs: 60_000 };
    const buffer = createHealthBuffer(models.length, 100);
    const main = new HealthTracker(opts, { models, buffer });
    await inWorker(buffer, models, opts, `for (let i = 0; i < 3; i++) tracker.record('y', { ok: false });`);
    assert.equal(main.state('y'), 'open');
    assert.equal(main.isDegraded('y'), true);
    assert.equal(main.allow('y'), false);
    assert.equal(main.state('x'), 'closed', 'slots are per model');
    await new Promise((r) => setTimeout(r, 120));
    // Cool-down over: several threads ask at once; exactly one gets the probe.
    const grants = await Promise.all([0, 1, 2].map(() => inWorker<boolean>(buffer, models, opts, `return tracker.allow('y');`)));
    const mainGrant = main.allow('y');
    assert.equal(grants.filter(Boolean).length + (mainGrant ? 1 : 0), 1, `one probe: ${grants} ${mainGrant}`);
    assert.equal(main.state('y'), 'half_open');
    await inWorker(buffer, models, opts, `tracker.record('y', { ok: true, latencyMs: 5 });`);
    assert.equal(main.state('y'), 'closed');
    assert.equal(main.entry('y').successes, 1, 'closing clears the window');
  });

  it('only listed models are tracked on a shared buffer; mismatched buffers are refused', () => {
    const buffer = createHealthBuffer(2, 50);
    const t = new HealthTracker({ windowSize: 50 }, { models: ['a'], buffer });
    t.record('zzz', { ok: false });
    assert.equal(t.entry('zzz').failures, 0, 'an unlisted model has no slot (it would differ between threads)');
    assert.equal(t.allow('zzz'), true);
    assert.throws(() => new HealthTracker({ windowSize: 100 }, { models: ['a'], buffer }), /windows of 50 outcomes/);
    assert.throws(() => new HealthTracker({ windowSize: 50 }, { models: ['a', 'b', 'c'], buffer }), /2 slots for 3 models/);
    assert.throws(() => new HealthTracker({}, { buffer: new SharedArrayBuffer(64) }), /not made by createHealthBuffer/);
  });

  it('a private buffer hands out slots on first use, up to its capacity', () => {
    const t = new HealthTracker({}, { capacity: 2 });
    assert.equal(t.shared, false);
    t.record('a', { ok: true });
    t.record('b', { ok: true });
    assert.throws(() => t.record('c', { ok: true }), /more than 2 models/);
  });
});
