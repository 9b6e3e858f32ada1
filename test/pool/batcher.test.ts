/** MicroBatcher against a fake runner: the batching policy without threads or timing noise from models. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { MicroBatcher, type RunBatch } from '../../src/pool/batcher.ts';
import { PoolError } from '../../src/pool/errors.ts';

const DIM = 4;
/** Row i of a batch = [code(text), i, n, 0]: callers can check they got their own row. */
const code = (t: string) => Number(t.replace(/\D/g, '')) || 0;
function rows(texts: string[]): Float32Array {
  const m = new Float32Array(texts.length * DIM);
  texts.forEach((t, i) => m.set([code(t), i, texts.length, 0], i * DIM));
  return m;
}

interface Call { texts: string[]; at: number; release: () => void; fail: (e: Error) => void }
/** A runner whose tasks complete only when the test says so. */
function manualRunner() {
  const calls: Call[] = [];
  const run: RunBatch = (texts) => new Promise((resolve, reject) => {
    calls.push({ texts, at: performance.now(), release: () => resolve(rows(texts)), fail: reject });
  });
  return { calls, run };
}
const autoRun: RunBatch = async (texts) => { await sleep(1); return rows(texts); };

describe('MicroBatcher', () => {
  it('answers every caller with its own row, in order, and never exceeds maxSize', async () => {
    const sizes: number[] = [];
    const b = new MicroBatcher((t) => { sizes.push(t.length); return autoRun(t); }, DIM, { maxSize: 8, maxWaitMs: 5 }, 2);
    const out = await Promise.all(Array.from({ length: 50 }, (_, i) => b.push(`t${i}`)));
    out.forEach((v, i) => assert.equal(v[0], i));
    assert.ok(Math.max(...sizes) <= 8, `sizes ${sizes}`);
    assert.equal(sizes.reduce((a, x) => a + x, 0), 50);
    assert.ok(b.counts.tasks < 50 && b.counts.tasks === sizes.length);
    assert.equal(b.counts.maxBatch, 8);
  });

  it('gives each caller a copy, so transferring one result does not detach the others', async () => {
    const b = new MicroBatcher(autoRun, DIM, { maxSize: 4, maxWaitMs: 5 }, 1);
    const [a, c] = await Promise.all([b.push('t1'), b.push('t2')]);
    structuredClone(a, { transfer: [a.buffer] });
    assert.equal(c[0], 2);
  });

  it('sends a lone request at the end of the turn, not after maxWaitMs', async () => {
    const { calls, run } = manualRunner();
    const b = new MicroBatcher(run, DIM, { maxSize: 8, maxWaitMs: 10_000 }, 1);
    const t0 = performance.now();
    const p = b.push('t7');
    await new Promise((r) => setImmediate(r));
    assert.equal(calls.length, 1);
    assert.ok(calls[0].at - t0 < 5000, 'sent in the same turn, not after maxWaitMs (10 s)');
    calls[0].release();
    assert.equal((await p)[0], 7);
  });

  it('while every worker is busy, holds texts at most maxWaitMs', async () => {
    const { calls, run } = manualRunner();
    // maxWaitMs is long next to the checks' own sleeps, so a busy machine
    // delaying a timer cannot make "held" look like "sent".
    const b = new MicroBatcher(run, DIM, { maxSize: 8, maxWaitMs: 400 }, 1);
    const first = b.push('t1');
    await new Promise((r) => setImmediate(r));
    assert.equal(calls.length, 1); // the only slot is now busy and stays busy
    const t0 = performance.now();
    const later = [b.push('t2'), b.push('t3')];
    await sleep(10);
    if (performance.now() - t0 < 350) assert.equal(calls.length, 1, 'held while the worker is busy');
    for (const end = performance.now() + 10_000; calls.length < 2 && performance.now() < end; ) await sleep(10);
    assert.equal(calls.length, 2, 'sent after maxWaitMs although the worker is still busy');
    assert.deepEqual(calls[1].texts, ['t2', 't3']);
    assert.ok(calls[1].at - t0 >= 395, `sent after ${calls[1].at - t0} ms, before maxWaitMs`);
    calls.forEach((c) => c.release());
    assert.deepEqual([...(await first)].slice(0, 1), [1]);
    assert.deepEqual((await Promise.all(later)).map((v) => v[0]), [2, 3]);
  });

  it('sends what gathered as soon as a worker comes free', async () => {
    const { calls, run } = manualRunner();
    const b = new MicroBatcher(run, DIM, { maxSize: 8, maxWaitMs: 10_000 }, 1);
    b.push('t1');
    await new Promise((r) => setImmediate(r));
    const p = [b.push('t2'), b.push('t3'), b.push('t4')];
    calls[0].release();
    await sleep(1);
    assert.equal(calls.length, 2);
    assert.deepEqual(calls[1].texts, ['t2', 't3', 't4']);
    calls[1].release();
    assert.deepEqual((await Promise.all(p)).map((v) => v[0]), [2, 3, 4]);
  });

  it('a failed batch rejects its own callers only, with the error message', async () => {
    const b = new MicroBatcher(async (texts) => {
      await sleep(1);
      if (texts.includes('bad')) throw new Error('model exploded');
      return rows(texts);
    }, DIM, { maxSize: 2, maxWaitMs: 5 }, 1);
    const r = await Promise.allSettled(['t1', 't2', 'bad', 't4', 't5', 't6'].map((t) => b.push(t)));
    assert.deepEqual(r.map((x) => x.status), ['fulfilled', 'fulfilled', 'rejected', 'rejected', 'fulfilled', 'fulfilled']);
    const e = (r[2] as PromiseRejectedResult).reason;
    assert.ok(e instanceof PoolError);
    assert.equal(e.code, 'pool_task_failed');
    assert.match(e.message, /model exploded/);
    assert.equal(b.counts.failedTasks, 1);
  });

  it('rejects a batch whose result has the wrong shape', async () => {
    const b = new MicroBatcher(async () => new Float32Array(3), DIM, { maxSize: 1, maxWaitMs: 0 }, 1);
    await assert.rejects(b.push('t1'), /expected 1 x 4/);
  });

  it('maxSize 1 sends every call synchronously as its own task', () => {
    const { calls, run } = manualRunner();
    const b = new MicroBatcher(run, DIM, { maxSize: 1, maxWaitMs: 0 }, 1);
    b.push('t1'); b.push('t2');
    assert.equal(calls.length, 2);
    calls.forEach((c) => c.release());
  });

  it('refuses nonsense options', () => {
    assert.throws(() => new MicroBatcher(autoRun, DIM, { maxSize: 0, maxWaitMs: 1 }, 1), /maxSize/);
    assert.throws(() => new MicroBatcher(autoRun, DIM, { maxSize: 2, maxWaitMs: -1 }, 1), /maxWaitMs/);
  });
});
