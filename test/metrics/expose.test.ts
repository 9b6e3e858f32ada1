/**
 * GET /metrics' text (src/metrics/expose.ts) read while another thread counts:
 * each histogram's +Inf bucket must equal its _count in every exposition (a
 * scrape under load once saw them differ, because each bucket was read twice).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { once } from 'node:events';
import { createMetricsBuffers, makeSpec, Layout, readSpec } from '../../src/metrics/layout.ts';
import { exposition } from '../../src/metrics/expose.ts';
import { parsePrometheus } from './prom-parse.ts';

test('a histogram bucket counted on another thread during the exposition: +Inf bucket = _count, every time', async () => {
  const { layout, counters } = createMetricsBuffers(makeSpec(['/v1/route'], ['m1'], ['org_a'], 4, 1));
  const L = new Layout(readSpec(layout));
  // The counters with one more slot after the region: the spinner's stop flag.
  const withFlag = new SharedArrayBuffer(counters.byteLength + 8);
  const stop = counters.byteLength / 8;
  const f = new Float64Array(withFlag);
  f[L.e2e + 2] = 1; // the route's histogram is non-empty from the start
  const w = new Worker(new URL('../../src/worker/bootstrap.mjs', import.meta.url), {
    workerData: { entry: new URL('./fixtures/bucket-spinner.ts', import.meta.url).href, counters: withFlag, at: L.e2e + 3, stop },
  });
  await once(w, 'message');
  try {
    for (let i = 0; i < 2_000; i++) parsePrometheus(await exposition(L, withFlag, 1));
  } finally {
    Atomics.store(new Int32Array(withFlag, stop * 8, 1), 0, 1);
    await w.terminate();
  }
  assert.ok(f[L.e2e + 3] > 1000, `the other thread counted meanwhile (${f[L.e2e + 3]})`);
});
