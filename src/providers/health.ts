/**
 * Per-model health: a rolling window of outcomes and a circuit breaker.
 *
 * Window: the last `windowSize` outcomes that are also younger than
 * `windowMs` (whichever is smaller), kept in typed-array ring buffers, so a
 * record is a few stores and a snapshot is one pass over at most windowSize
 * slots.
 *
 * Breaker (closed -> open -> half-open -> closed):
 *  - closed: trips to open after `failureThreshold` consecutive failures, or
 *    when the window holds >= `minSamples` outcomes and the failure ratio is
 *    >= `failureRatio`;
 *  - open: `allow()` is false (routing skips the model) for `cooldownMs`;
 *  - half-open: after the cool-down the first `allow()` lets one probe
 *    through; its success closes the breaker (and clears the window, so old
 *    failures cannot re-trip it at once), its failure re-opens it. A probe
 *    that never reports (caller bug, lost promise) stops blocking after
 *    `probeTimeoutMs`.
 *
 * Only failures that say something about the model should be recorded
 * (failure.ts `countsAgainstHealth`): a client's bad request or a client
 * disconnect is not the upstream's fault.
 */

export interface HealthOptions {
  windowSize: number;
  windowMs: number;
  failureThreshold: number;
  failureRatio: number;
  minSamples: number;
  cooldownMs: number;
  probeTimeoutMs: number;
  /** Time to first byte at which the latency penalty starts. */
  latencyTargetMs: number;
  /** Penalty (in router score units) at 2x the target and above; 0 disables it. */
  latencyWeight: number;
  /** Milliseconds; injected by tests. */
  now: () => number;
}

export const DEFAULT_HEALTH: Readonly<HealthOptions> = Object.freeze({
  windowSize: 100,
  windowMs: 60_000,
  failureThreshold: 5,
  failureRatio: 0.5,
  minSamples: 20,
  cooldownMs: 30_000,
  probeTimeoutMs: 30_000,
  latencyTargetMs: 2_000,
  latencyWeight: 0.1,
  now: () => performance.now(),
});

export interface Outcome {
  ok: boolean;
  /** Whole call, request start to last byte. */
  latencyMs?: number;
  /** Request start to first response byte. */
  ttfbMs?: number;
}

export type BreakerState = 'closed' | 'open' | 'half_open';

export interface HealthEntry {
  failures: number;
  successes: number;
  consecutiveFailures: number;
  /** Mean over successful calls in the window; null when there are none. */
  avgLatencyMs: number | null;
  avgTtfbMs: number | null;
  state: BreakerState;
}

export interface ModelHealthSnapshot {
  model_id: string;
  /** Routing should skip the model now. */
  degraded: boolean;
  /** Added to the router score: latencyWeight * clamp(avgTtfb / target - 1, 0, 1). */
  latency_penalty: number;
  health_entry: HealthEntry;
}

class ModelHealth {
  readonly at: Float64Array;
  readonly lat: Float64Array;
  readonly ttfb: Float64Array;
  readonly ok: Uint8Array;
  head = 0;
  count = 0;
  consecutive = 0;
  state: BreakerState = 'closed';
  openedAt = 0;
  probeAt = 0;

  constructor(n: number) {
    this.at = new Float64Array(n);
    this.lat = new Float64Array(n).fill(NaN);
    this.ttfb = new Float64Array(n).fill(NaN);
    this.ok = new Uint8Array(n);
  }
}

interface WindowStats { failures: number; successes: number; latSum: number; latN: number; ttfbSum: number; ttfbN: number }

export class HealthTracker {
  readonly opts: HealthOptions;
  private readonly models = new Map<string, ModelHealth>();

  constructor(opts: Partial<HealthOptions> = {}) {
    this.opts = { ...DEFAULT_HEALTH, ...opts };
    const o = this.opts;
    if (!(o.windowSize >= 1) || !(o.failureThreshold >= 1) || !(o.failureRatio > 0 && o.failureRatio <= 1) || !(o.cooldownMs >= 0)) {
      throw new RangeError('health: windowSize >= 1, failureThreshold >= 1, 0 < failureRatio <= 1, cooldownMs >= 0');
    }
  }

  private get(model: string): ModelHealth {
    let h = this.models.get(model);
    if (!h) { h = new ModelHealth(this.opts.windowSize); this.models.set(model, h); }
    return h;
  }

  /**
   * May a request go to this model now? Call it right before the attempt:
   * in half-open it hands out the single probe slot.
   */
  allow(model: string): boolean {
    const h = this.models.get(model);
    if (!h || h.state === 'closed') return true;
    const now = this.opts.now();
    if (h.state === 'open') {
      if (now - h.openedAt < this.opts.cooldownMs) return false;
      h.state = 'half_open';
      h.probeAt = now;
      return true;
    }
    if (now - h.probeAt >= this.opts.probeTimeoutMs) { h.probeAt = now; return true; }
    return false;
  }

  /** Would `allow()` refuse? Does not take the probe slot. */
  isDegraded(model: string): boolean {
    const h = this.models.get(model);
    if (!h || h.state === 'closed') return false;
    const now = this.opts.now();
    if (h.state === 'open') return now - h.openedAt < this.opts.cooldownMs;
    return now - h.probeAt < this.opts.probeTimeoutMs;
  }

  state(model: string): BreakerState {
    return this.models.get(model)?.state ?? 'closed';
  }

  record(model: string, o: Outcome): void {
    const h = this.get(model);
    const now = this.opts.now();
    const n = this.opts.windowSize;
    const i = h.head;
    h.at[i] = now;
    h.ok[i] = o.ok ? 1 : 0;
    h.lat[i] = o.latencyMs ?? NaN;
    h.ttfb[i] = o.ttfbMs ?? NaN;
    h.head = (i + 1) % n;
    if (h.count < n) h.count++;
    if (o.ok) {
      h.consecutive = 0;
      if (h.state !== 'closed') { h.state = 'closed'; h.count = 1; }
      return;
    }
    h.consecutive++;
    if (h.state === 'half_open') { this.open(h, now); return; }
    if (h.state === 'open') return;
    if (h.consecutive >= this.opts.failureThreshold) { this.open(h, now); return; }
    const s = this.stats(h, now);
    const total = s.failures + s.successes;
    if (total >= this.opts.minSamples && s.failures / total >= this.opts.failureRatio) this.open(h, now);
  }

  private open(h: ModelHealth, now: number): void {
    h.state = 'open';
    h.openedAt = now;
  }

  private stats(h: ModelHealth, now: number): WindowStats {
    const n = this.opts.windowSize;
    const since = now - this.opts.windowMs;
    const s: WindowStats = { failures: 0, successes: 0, latSum: 0, latN: 0, ttfbSum: 0, ttfbN: 0 };
    for (let k = 0; k < h.count; k++) {
      const i = (h.head - 1 - k + n) % n;
      if (h.at[i] < since) break; // older slots are older still
      if (h.ok[i]) {
        s.successes++;
        const l = h.lat[i], t = h.ttfb[i];
        if (l === l) { s.latSum += l; s.latN++; }
        if (t === t) { s.ttfbSum += t; s.ttfbN++; }
      } else s.failures++;
    }
    return s;
  }

  entry(model: string): HealthEntry {
    const h = this.models.get(model);
    if (!h) return { failures: 0, successes: 0, consecutiveFailures: 0, avgLatencyMs: null, avgTtfbMs: null, state: 'closed' };
    const s = this.stats(h, this.opts.now());
    return {
      failures: s.failures,
      successes: s.successes,
      consecutiveFailures: h.consecutive,
      avgLatencyMs: s.latN ? s.latSum / s.latN : null,
      avgTtfbMs: s.ttfbN ? s.ttfbSum / s.ttfbN : null,
      state: h.state,
    };
  }

  latencyPenalty(e: HealthEntry): number {
    const { latencyWeight: w, latencyTargetMs: target } = this.opts;
    if (w === 0 || e.avgTtfbMs === null || target <= 0) return 0;
    const x = e.avgTtfbMs / target - 1;
    return w * (x <= 0 ? 0 : x >= 1 ? 1 : x);
  }

  snapshot(models: readonly string[]): ModelHealthSnapshot[] {
    return models.map((model_id) => {
      const health_entry = this.entry(model_id);
      return { model_id, degraded: this.isDegraded(model_id), latency_penalty: this.latencyPenalty(health_entry), health_entry };
    });
  }
}
