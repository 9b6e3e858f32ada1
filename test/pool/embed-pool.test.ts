/**
 * The embed pool end to end: real piscina workers, the shipped native tables and
 * the generated tiny ONNX model. Fault injection goes through
 * fixtures/faulty-embed-worker.ts.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createEmbedPool, dispatchFor, type EmbedPool } from '../../src/pool/pool.ts';
import { PoolError } from '../../src/pool/errors.ts';
import { FeatureHasher, loadNativeTables, NativeEmbedder } from '../../src/routing/embedders/native.ts';
import { OnnxEmbedder } from '../../src/routing/embedders/onnx.ts';
import { makeTestOnnxModel } from '../../src/routing/embedders/onnx-testmodel.ts';
import { DEFAULT_PROFILE_DIR } from '../../src/fit/options.ts';

const FAULTY = new URL('./fixtures/faulty-embed-worker.ts', import.meta.url);
const TEXTS = Array.from({ length: 50 }, (_, i) =>
  [`write a python function number ${i}`, `what causes the seasons on earth ${i}`, `prove that the square root of ${i} is irrational`][i % 3]);

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

const pools: EmbedPool[] = [];
async function track<T extends EmbedPool>(p: Promise<T>): Promise<T> { const x = await p; pools.push(x); return x; }
after(async () => { await Promise.all(pools.map((p) => p.close())); });

describe('embed pool, native', () => {
  it('embeds exactly what the inline embedder does, batched or not', async () => {
    const inline = new NativeEmbedder(loadNativeTables(DEFAULT_PROFILE_DIR));
    for (const batch of [undefined, { maxSize: 8, maxWaitMs: 2 }]) {
      const pool = await track(createEmbedPool({ embedder: { kind: 'native', dir: DEFAULT_PROFILE_DIR }, threads: 2, batch }));
      assert.equal(pool.id, inline.id);
      assert.equal(pool.dim, inline.dim);
      assert.equal(pool.hash, inline.hash);
      const got = await Promise.all(TEXTS.map((t) => pool.embed(t)));
      got.forEach((v, i) => assert.deepEqual(v, inline.embedSync(TEXTS[i]), `text ${i}`));
      await pool.close();
    }
  });

  it('workers read the main thread\'s tables in place: a write after start shows up in their embeddings', async () => {
    const tables = loadNativeTables(DEFAULT_PROFILE_DIR); // a private copy: this test writes to it
    const inline = new NativeEmbedder(tables);
    const pool = await track(createEmbedPool({ embedder: { kind: 'native', dir: DEFAULT_PROFILE_DIR, tables }, threads: 2 }));
    const text = 'quokka zebra marmalade';
    const before = inline.embedSync(text);
    assert.deepEqual(await pool.embed(text), before);

    // Triple the IDF of every feature of `text`, in the shared buffer, on the main thread.
    const hasher = new FeatureHasher(tables.params.bits);
    const n = hasher.hash(text);
    const idf = new Float32Array(tables.buffer, 0, 1 << tables.params.bits);
    for (const f of new Set(hasher.out.subarray(0, n / 2))) idf[f] *= 3;
    const expected = inline.embedSync(text);
    assert.notDeepEqual(expected, before);
    // Several at once so both threads serve some; a copied table would still give `before`.
    for (const v of await Promise.all(Array.from({ length: 8 }, () => pool.embed(text)))) assert.deepEqual(v, expected);
    assert.ok(tables.buffer instanceof SharedArrayBuffer);
  });

  it('answers an empty round trip (ping) through the worker while open, not once closed', async () => {
    const pool = await track(createEmbedPool({ embedder: { kind: 'native', dir: DEFAULT_PROFILE_DIR }, threads: 1 }));
    const counts = pool.stats();
    // One worker: a ping sent behind an embed is answered after it, so it went
    // through the worker's queue rather than being answered on this thread.
    const order: string[] = [];
    const big = 'a quokka is a small marsupial '.repeat(20_000);
    const embedded = pool.embed(big).then((v) => { order.push('embed'); return v; });
    const pinged = pool.ping().then((v) => { order.push('ping'); return v; });
    const [v, answer] = await Promise.all([embedded, pinged]);
    assert.deepEqual(order, ['embed', 'ping']);
    assert.equal(v.length, pool.dim);
    assert.equal(answer, undefined);
    // Many at once all answer; none is counted as an embed (pings bypass the micro-batcher).
    assert.deepEqual(await Promise.all(Array.from({ length: 20 }, () => pool.ping())), Array(20).fill(undefined));
    const after = pool.stats();
    assert.equal(after.embeds, counts.embeds + 1);
    assert.equal(after.tasks, counts.tasks + 1);
    assert.equal(after.queued, 0);
    await pool.close();
    await assert.rejects(pool.ping(), (e: unknown) => e instanceof PoolError && e.code === 'pool_closed');
  });
});

describe('embed pool, onnx', () => {
  let root = '';
  let dir = '';
  let reference: Float32Array[] = [];
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'switchyard-pool-'));
    dir = (await makeTestOnnxModel(join(root, 'tiny-bert'))).dir;
    const inline = await OnnxEmbedder.load(dir);
    reference = [];
    for (const t of TEXTS) reference.push(await inline.embed(t));
    await inline.close();
  });
  after(async () => { await rm(root, { recursive: true, force: true }); });

  it('50 concurrent embeds come back in order, equal to one-by-one, in fewer tasks, no batch over maxSize', async () => {
    const pool = await track(createEmbedPool({ embedder: { kind: 'onnx', dir }, threads: 2, batch: { maxSize: 8, maxWaitMs: 5 } }));
    assert.equal(pool.dim, reference[0].length);
    const got = await Promise.all(TEXTS.map((t) => pool.embed(t)));
    got.forEach((v, i) => assert.ok(maxAbsDiff(v, reference[i]) < 1e-5, `text ${i}: ${maxAbsDiff(v, reference[i])}`));
    const s = pool.stats();
    assert.equal(s.embeds, 50);
    assert.ok(s.tasks < 50, `${s.tasks} tasks`);
    assert.ok(s.maxBatch <= 8, `batch of ${s.maxBatch}`);
    assert.equal(s.failedTasks, 0);
  });

  it('a lone request does not wait for maxWaitMs', async () => {
    // maxWaitMs far above a tiny-model embed (~1 ms), so "did not wait" stays clear on a busy machine.
    const pool = await track(createEmbedPool({ embedder: { kind: 'onnx', dir }, threads: 1, batch: { maxSize: 32, maxWaitMs: 3000 } }));
    await pool.embed('warm up');
    const t0 = performance.now();
    const v = await pool.embed(TEXTS[4]);
    const ms = performance.now() - t0;
    assert.ok(maxAbsDiff(v, reference[4]) < 1e-5);
    assert.ok(ms < 3000, `lone request took ${ms.toFixed(1)} ms`);
  });

  it('close() lets accepted embeds finish, resolves, and later embeds reject clearly', async () => {
    const pool = await track(createEmbedPool({ embedder: { kind: 'onnx', dir }, threads: 2 }));
    const accepted = TEXTS.slice(0, 10).map((t) => pool.embed(t));
    const closed = pool.close();
    assert.equal(pool.close(), closed, 'idempotent');
    (await Promise.all(accepted)).forEach((v, i) => assert.ok(maxAbsDiff(v, reference[i]) < 1e-5));
    await closed;
    await assert.rejects(pool.embed('too late'), (e: unknown) => e instanceof PoolError && e.code === 'pool_closed' && /closed/.test(e.message));
    await assert.rejects(pool.ping(), /closed/);
    assert.equal(pool.stats().closed, true);
  });

  it('a worker error rejects only that batch, with the message', async () => {
    const pool = await track(createEmbedPool({ embedder: { kind: 'onnx', dir }, threads: 1, batch: { maxSize: 2, maxWaitMs: 5 }, workerFile: FAULTY }));
    // maxSize 2 flushes synchronously: batches [0,1] ['!throw',2] [3,4].
    const r = await Promise.allSettled([TEXTS[0], TEXTS[1], '!throw', TEXTS[2], TEXTS[3], TEXTS[4]].map((t) => pool.embed(t)));
    assert.deepEqual(r.map((x) => x.status), ['fulfilled', 'fulfilled', 'rejected', 'rejected', 'fulfilled', 'fulfilled']);
    const e = (r[2] as PromiseRejectedResult).reason;
    assert.ok(e instanceof PoolError && e.code === 'pool_task_failed');
    assert.match(e.message, /injected failure/);
    assert.ok(maxAbsDiff((r[5] as PromiseFulfilledResult<Float32Array>).value, reference[4]) < 1e-5);
  });

  it('a crashing worker rejects its callers, is replaced, and the process lives on', async () => {
    const pool = await track(createEmbedPool({ embedder: { kind: 'onnx', dir }, threads: 2, batch: { maxSize: 1, maxWaitMs: 0 }, workerFile: FAULTY }));
    const crash = pool.embed('!crash');
    const fine = pool.embed(TEXTS[0]);
    await assert.rejects(crash, (e: unknown) => e instanceof PoolError && e.code === 'pool_task_failed' && /injected crash/.test(e.message));
    assert.ok(maxAbsDiff(await fine, reference[0]) < 1e-5);
    // The replacement worker loads the model and serves.
    const after = await Promise.all(TEXTS.slice(0, 6).map((t) => pool.embed(t)));
    after.forEach((v, i) => assert.ok(maxAbsDiff(v, reference[i]) < 1e-5));
  });

  it('fails at start-up, naming the directory, when the model cannot be loaded', async () => {
    const missing = join(root, 'no-such-model');
    await assert.rejects(createEmbedPool({ embedder: { kind: 'onnx', dir: missing }, threads: 2 }),
      (e: unknown) => e instanceof PoolError && e.code === 'pool_start_failed' && e.message.includes(missing) && /model\.onnx not found/.test(e.message));
  });
});

describe('dispatchFor', () => {
  it('keeps cheap work inline and sends heavy work to the pool when cores are spare', () => {
    const big = { cores: 8, httpThreads: 2 };
    assert.deepEqual(dispatchFor({ embedderKind: 'native', k: 100, ...big }), { embed: 'inline', route: 'inline' });
    assert.deepEqual(dispatchFor({ embedderKind: 'onnx', k: 100, ...big }), { embed: 'pool', route: 'inline' });
    assert.deepEqual(dispatchFor({ embedderKind: 'native', k: 10_000, ...big }), { embed: 'inline', route: 'pool' });
    assert.deepEqual(dispatchFor({ embedderKind: 'native', k: 1_000, ...big }), { embed: 'inline', route: 'inline' });
  });
  it('auto keeps a large-K search inline without two spare cores; router.nearest overrides', () => {
    assert.equal(dispatchFor({ embedderKind: 'native', k: 10_000, cores: 2, httpThreads: 1 }).route, 'inline');
    assert.equal(dispatchFor({ embedderKind: 'native', k: 10_000, cores: 3, httpThreads: 1 }).route, 'pool');
    assert.equal(dispatchFor({ embedderKind: 'native', k: 10_000, cores: 4, httpThreads: 4 }).route, 'inline');
    assert.equal(dispatchFor({ embedderKind: 'native', k: 10_000, cores: 2, nearest: 'pool' }).route, 'pool');
    assert.equal(dispatchFor({ embedderKind: 'native', k: 100, cores: 64, nearest: 'pool' }).route, 'pool');
    assert.equal(dispatchFor({ embedderKind: 'native', k: 10_000, cores: 64, nearest: 'inline' }).route, 'inline');
  });
});
