import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LATENCY_V8_FLAGS, tuneHeapForLatency } from '../../src/edge/heap-tuning.ts';

// setFlagsFromString is process-wide; these flags only change how this test process's heap sizes and tenures.

test('heap tuning: sets every latency flag when the command line names none', () => {
  assert.deepEqual(tuneHeapForLatency([], ''), [...LATENCY_V8_FLAGS]);
});

test('heap tuning: a flag the operator gave wins, in either spelling and from NODE_OPTIONS', () => {
  assert.deepEqual(tuneHeapForLatency(['--allocation-site-pretenuring'], ''), ['--min-semi-space-size=16']);
  assert.deepEqual(tuneHeapForLatency(['--min_semi_space_size=4'], ''), ['--no-allocation-site-pretenuring']);
  assert.deepEqual(tuneHeapForLatency([], '--max-old-space-size=512 --no-allocation-site-pretenuring'), ['--min-semi-space-size=16']);
});

test('heap tuning: a given maximum semi-space size suppresses our minimum (it could exceed the maximum)', () => {
  assert.deepEqual(tuneHeapForLatency(['--max-semi-space-size=8'], ''), ['--no-allocation-site-pretenuring']);
});
