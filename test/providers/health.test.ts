import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { HealthTracker } from '../../src/providers/health.ts';

function tracker(over = {}) {
  const clock = { now: 0 };
  const h = new HealthTracker({ failureThreshold: 3, cooldownMs: 30_000, probeTimeoutMs: 10_000, minSamples: 10, failureRatio: 0.5, now: () => clock.now, ...over });
  return { h, clock };
}

describe('HealthTracker circuit breaker', () => {
  it('opens after N consecutive failures, skips for the cool-down, then lets exactly one probe through', () => {
    const { h, clock } = tracker();
    h.record('m', { ok: false });
    h.record('m', { ok: false });
    assert.equal(h.allow('m'), true);
    h.record('m', { ok: false });
    assert.equal(h.state('m'), 'open');
    assert.equal(h.allow('m'), false);
    clock.now = 29_999;
    assert.equal(h.allow('m'), false);
    assert.equal(h.isDegraded('m'), true);
    clock.now = 30_000;
    assert.equal(h.isDegraded('m'), false, 'cool-down over: the model may be tried again');
    assert.equal(h.allow('m'), true, 'the probe');
    assert.equal(h.state('m'), 'half_open');
    assert.equal(h.allow('m'), false, 'only one probe at a time');
    assert.equal(h.isDegraded('m'), true);
  });

  it('a successful probe closes the breaker and forgets the old failures', () => {
    const { h, clock } = tracker();
    for (let i = 0; i < 3; i++) h.record('m', { ok: false });
    clock.now = 30_000;
    assert.equal(h.allow('m'), true);
    h.record('m', { ok: true, latencyMs: 120, ttfbMs: 40 });
    assert.equal(h.state('m'), 'closed');
    assert.equal(h.allow('m'), true);
    assert.deepEqual(h.entry('m'), { failures: 0, successes: 1, consecutiveFailures: 0, avgLatencyMs: 120, avgTtfbMs: 40, state: 'closed' });
    h.record('m', { ok: false });
    assert.equal(h.state('m'), 'closed', 'one failure after closing does not re-trip');
  });

  it('a failed probe re-opens for another full cool-down', () => {
    const { h, clock } = tracker();
    for (let i = 0; i < 3; i++) h.record('m', { ok: false });
    clock.now = 30_000;
    h.allow('m');
    h.record('m', { ok: false });
    assert.equal(h.state('m'), 'open');
    clock.now = 59_999;
    assert.equal(h.allow('m'), false);
    clock.now = 60_000;
    assert.equal(h.allow('m'), true);
  });

  it('a probe that never reports stops blocking after probeTimeoutMs', () => {
    const { h, clock } = tracker();
    for (let i = 0; i < 3; i++) h.record('m', { ok: false });
    clock.now = 30_000;
    assert.equal(h.allow('m'), true);
    clock.now = 39_999;
    assert.equal(h.allow('m'), false);
    clock.now = 40_000;
    assert.equal(h.allow('m'), true);
  });

  it('opens on the failure ratio over the window without a long consecutive run', () => {
    const { h } = tracker();
    for (let i = 0; i < 9; i++) h.record('m', { ok: i % 2 === 0 }); // 5 ok, 4 failed, never 3 in a row
    assert.equal(h.state('m'), 'closed', 'below minSamples');
    h.record('m', { ok: false }); // 10 samples, 5 failures = 0.5
    assert.equal(h.state('m'), 'open');
  });

  it('rolls the window by count and by age', () => {
    const { h, clock } = tracker({ windowSize: 4, windowMs: 1_000, failureThreshold: 100, minSamples: 100 });
    for (let i = 0; i < 6; i++) h.record('m', { ok: true, latencyMs: 10 * (i + 1) });
    assert.equal(h.entry('m').successes, 4, 'last 4 only');
    assert.equal(h.entry('m').avgLatencyMs, (30 + 40 + 50 + 60) / 4);
    clock.now = 500;
    h.record('m', { ok: false });
    clock.now = 1_200;
    const e = h.entry('m');
    assert.equal(e.successes, 0, 'the successes at t=0 are older than 1 s');
    assert.equal(e.failures, 1);
    assert.equal(e.avgLatencyMs, null);
  });

  it('snapshot reports degraded, latency penalty and the entry per model', () => {
    const { h } = tracker({ latencyTargetMs: 1000, latencyWeight: 0.2 });
    h.record('fast', { ok: true, latencyMs: 300, ttfbMs: 200 });
    h.record('slow', { ok: true, latencyMs: 3000, ttfbMs: 1500 });
    h.record('very-slow', { ok: true, latencyMs: 9000, ttfbMs: 5000 });
    for (let i = 0; i < 3; i++) h.record('down', { ok: false });
    const snap = h.snapshot(['fast', 'slow', 'very-slow', 'down', 'unseen']);
    assert.deepEqual(snap.map((s) => [s.model_id, s.degraded, Number(s.latency_penalty.toFixed(6))]), [
      ['fast', false, 0], ['slow', false, 0.1], ['very-slow', false, 0.2], ['down', true, 0], ['unseen', false, 0],
    ]);
    assert.deepEqual(snap[3].health_entry, { failures: 3, successes: 0, consecutiveFailures: 3, avgLatencyMs: null, avgTtfbMs: null, state: 'open' });
  });

  it('rejects nonsense options', () => {
    assert.throws(() => new HealthTracker({ failureRatio: 0 }), RangeError);
    assert.throws(() => new HealthTracker({ windowSize: 0 }), RangeError);
  });
});
