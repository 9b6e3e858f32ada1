/**
 * Per-model health: a rolling window of outcomes and a circuit breaker,
 * kept in a SharedArrayBuffer so that every HTTP thread of the process sees
 * (and feeds) the same state: a model that failed on thread 1 is skipped on
 * thread 2 too.
 *
 * Window: the last `windowSize` outcomes that are also younger than
 * `windowMs` (whichever is smaller), kept in ring buffers inside the model's
 * slot, so a record is a few stores and a snapshot is one pass over at most
 * windowSize slots.
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
 *
 * Shared memory (createHealthBuffer, once, on the main thread; every thread
 * then builds its own HealthTracker over the same buffer and the same model
 * list, so model i is slot i everywhere):
 *
 *   header   Int32 x 4     magic, layout version, capacity, windowSize
 *   ints     Int32 x 8     per slot: lock, state, consecutive, head, count
 *   floats   Float64 x (2 + 3N) per slot: openedAt, probeAt, at[N], lat[N], ttfb[N]
 *   oks      Uint8 x N     per slot
 *
 * Every read-modify-write of a slot (record, allow's state change, a
 * snapshot's pass over the ring) runs under a per-slot lock (compareExchange,
 * then Atomics.wait/notify: see lock()). The critical sections are a few
 * dozen stores and never await, so a lock is held for well under a
 * microsecond and contention between 2-8 threads costs nothing measurable.
 * That keeps the ring window exact rather than approximated by decayed
 * counters. What can go wrong: a thread that dies inside a critical section
 * (HTTP threads are never terminate()d, so only a crash there) leaves its
 * slot locked; after LOCK_STEAL_MS the lock is taken over, so at worst one
 * record is torn and that model's calls stall once for a second, never a
 * deadlock.
 *
 * Times are `performance.timeOrigin + performance.now()` by default: a
 * thread's performance.now() counts from that thread's start, so raw
 * performance.now() values would not compare across threads.
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
  now: () => performance.timeOrigin + performance.now(),
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

const MAGIC = 0x53594854; // "SYHT"
const LAYOUT_VERSION = 1;
const HEADER_INTS = 4;
const INTS = 8;
const LOCK = 0, STATE = 1, CONSEC = 2, HEAD = 3, COUNT = 4;
const OPENED = 0, PROBE = 1, AT = 2;
const S_CLOSED = 0, S_OPEN = 1, S_HALF = 2;
const STATES: readonly BreakerState[] = ['closed', 'open', 'half_open'];
/** Lock word: 0 free, 1 held, 2 held with (possible) sleepers. */
const FREE = 0, HELD = 1, CONTENDED = 2;
/** Tries before sleeping: a critical section lasts well under a microsecond. */
const LOCK_SPINS = 64;
/** A holder silent this long died inside its section (a preempted one resumes within milliseconds). */
const LOCK_STEAL_MS = 1_000;
/** Slots of a private buffer when no model list is given. */
export const DEFAULT_HEALTH_CAPACITY = 64;

interface Layout { capacity: number; window: number; intsAt: number; floatsAt: number; floatStride: number; oksAt: number; bytes: number }

function layout(capacity: number, window: number): Layout {
  const intsAt = HEADER_INTS * 4;
  const floatsAt = intsAt + capacity * INTS * 4; // a multiple of 8: Float64Array alignment holds
  const floatStride = 2 + 3 * window;
  const oksAt = floatsAt + capacity * floatStride * 8;
  return { capacity, window, intsAt, floatsAt, floatStride, oksAt, bytes: oksAt + capacity * window };
}

/**
 * The shared state for `capacity` models with a window of `windowSize`
 * outcomes (about 25 bytes per outcome slot: 100 models x 100 = 250 KB).
 * Create it once on the main thread and hand it to every thread.
 */
export function createHealthBuffer(capacity: number, windowSize: number = DEFAULT_HEALTH.windowSize): SharedArrayBuffer {
  if (!(Number.isInteger(capacity) && capacity >= 1) || !(Number.isInteger(windowSize) && windowSize >= 1)) {
    throw new RangeError('health buffer: capacity and windowSize must be integers >= 1');
  }
  const l = layout(capacity, windowSize);
  const sab = new SharedArrayBuffer(l.bytes);
  new Int32Array(sab, 0, HEADER_INTS).set([MAGIC, LAYOUT_VERSION, capacity, windowSize]);
  return sab;
}

export interface HealthStore {
  /**
   * Models in slot order. Threads sharing a buffer must pass the same list
   * (the config's order): model i is slot i in every thread.
   */
  models?: readonly string[];
  /** From createHealthBuffer. Omitted: a private buffer (single thread, tests). */
  buffer?: SharedArrayBuffer;
  /** Private buffer only: slots for models not in `models`, handed out on first use. */
  capacity?: number;
}

export interface WindowStats { failures: number; successes: number; latSum: number; latN: number; ttfbSum: number; ttfbN: number }

/** A replica's own window of a model and its breaker (what health sync publishes). */
export interface LocalHealth extends WindowStats { consecutive: number; openForMs: number }

/** Other replicas' merged counts (health-remote.ts implements it over shared memory). */
export interface RemoteHealthView {
  /** Another replica skips the model now, or the merged window trips the failure ratio. */
  degraded(slot: number, now: number): boolean;
  /** The time (the tracker's clock, ms) until which the model counts as degraded; 0 = not. */
  until(slot: number): number;
  /** The view is recent enough to count (not past its staleness bound). */
  fresh(now: number): boolean;
  counts(slot: number): WindowStats;
}

export class HealthTracker {
  readonly opts: HealthOptions;
  /**
   * Other replicas' view of the same models (issue 12; health-remote.ts),
   * merged into isDegraded/allow/entry; undefined without Redis. Slots are
   * this tracker's (model i of the config is slot i in both).
   */
  remote: RemoteHealthView | undefined;
  /** True when the state lives in a buffer passed in (possibly seen by other threads). */
  readonly shared: boolean;
  private readonly slots = new Map<string, number>();
  private readonly ints: Int32Array;
  private readonly floats: Float64Array;
  private readonly oks: Uint8Array;
  private readonly l: Layout;

  constructor(opts: Partial<HealthOptions> = {}, store: HealthStore = {}) {
    this.opts = { ...DEFAULT_HEALTH, ...opts };
    const o = this.opts;
    if (!(o.windowSize >= 1) || !(o.failureThreshold >= 1) || !(o.failureRatio > 0 && o.failureRatio <= 1) || !(o.cooldownMs >= 0)) {
      throw new RangeError('health: windowSize >= 1, failureThreshold >= 1, 0 < failureRatio <= 1, cooldownMs >= 0');
    }
    const models = store.models ?? [];
    this.shared = store.buffer !== undefined;
    const sab = store.buffer ?? createHealthBuffer(Math.max(models.length, store.capacity ?? DEFAULT_HEALTH_CAPACITY), o.windowSize);
    const h = new Int32Array(sab, 0, HEADER_INTS);
    if (h[0] !== MAGIC || h[1] !== LAYOUT_VERSION) throw new RangeError('health: the buffer was not made by createHealthBuffer');
    if (h[3] !== o.windowSize) throw new RangeError(`health: the buffer holds windows of ${h[3]} outcomes, the options say ${o.windowSize}`);
    if (h[2] < models.length) throw new RangeError(`health: the buffer has ${h[2]} slots for ${models.length} models`);
    this.l = layout(h[2], h[3]);
    this.ints = new Int32Array(sab, this.l.intsAt, this.l.capacity * INTS);
    this.floats = new Float64Array(sab, this.l.floatsAt, this.l.capacity * this.l.floatStride);
    this.oks = new Uint8Array(sab, this.l.oksAt, this.l.capacity * this.l.window);
    models.forEach((m, i) => { if (!this.slots.has(m)) this.slots.set(m, i); });
  }

  /**
   * The model's slot, or -1 when it has none. A private buffer hands out a
   * slot on first record; a shared one tracks only the listed models (a slot
   * assigned here alone would mean a different model on another thread).
   */
  private slot(model: string, create: boolean): number {
    const s = this.slots.get(model);
    if (s !== undefined) return s;
    if (!create || this.shared) return -1;
    const next = this.slots.size;
    if (next >= this.l.capacity) throw new RangeError(`health: more than ${this.l.capacity} models tracked; pass a larger capacity`);
    this.slots.set(model, next);
    return next;
  }

  /**
   * A futex-style mutex (Drepper, "Futexes Are Tricky", mutex 2): spin a few
   * times, then sleep in Atomics.wait until the holder's unlock notifies. The
   * sleep matters on an oversubscribed machine: a holder preempted mid-section
   * stays away for a scheduler quantum, and spinning (or giving up and
   * barging in) then costs CPU or loses records. Atomics.wait is allowed on
   * Node's main thread; it blocks only while another thread is inside a
   * sub-microsecond section, or at most 1 ms per round if a wake-up is missed.
   */
  private lock(s: number): void {
    const ints = this.ints, i = s * INTS + LOCK;
    for (let k = 0; k < LOCK_SPINS; k++) if (Atomics.compareExchange(ints, i, FREE, HELD) === FREE) return;
    let deadline = 0;
    while (Atomics.exchange(ints, i, CONTENDED) !== FREE) {
      Atomics.wait(ints, i, CONTENDED, 1);
      const t = performance.now();
      if (deadline === 0) deadline = t + LOCK_STEAL_MS;
      else if (t > deadline) return; // the holder died mid-section: the lock word already says CONTENDED, i.e. ours
    }
  }

  private unlock(s: number): void {
    const i = s * INTS + LOCK;
    if (Atomics.exchange(this.ints, i, FREE) === CONTENDED) Atomics.notify(this.ints, i, 1);
  }

  /**
   * May a request go to this model now? Call it right before the attempt:
   * in half-open it hands out the single probe slot (one across all threads).
   */
  allow(model: string): boolean {
    const s = this.slot(model, false);
    if (s < 0) return true;
    // Another replica's breaker is open (or the merged window trips): skip, as for an open breaker here. No probe is handed out: the replica that opened it probes.
    if (this.remotelyDegraded(s)) return false;
    const ints = this.ints, b = s * INTS;
    if (Atomics.load(ints, b + STATE) === S_CLOSED) return true; // the common case: no lock
    const f = s * this.l.floatStride;
    const now = this.opts.now();
    this.lock(s);
    try {
      const st = ints[b + STATE];
      if (st === S_CLOSED) return true;
      if (st === S_OPEN) {
        if (now - this.floats[f + OPENED] < this.opts.cooldownMs) return false;
        ints[b + STATE] = S_HALF;
        this.floats[f + PROBE] = now;
        return true;
      }
      if (now - this.floats[f + PROBE] >= this.opts.probeTimeoutMs) { this.floats[f + PROBE] = now; return true; }
      return false;
    } finally { this.unlock(s); }
  }

  /** Would `allow()` refuse? Does not take the probe slot. */
  isDegraded(model: string): boolean {
    const s = this.slot(model, false);
    if (s < 0) return false;
    if (this.remotelyDegraded(s)) return true;
    return this.locallyDegraded(s);
  }

  /** Another replica skips the model (remote view); the clock is read only when some until-time is set (the common case reads one number). */
  private remotelyDegraded(s: number): boolean {
    const r = this.remote;
    if (r === undefined) return false;
    const until = r.until(s);
    return until > 0 && until > this.opts.now();
  }

  /** isDegraded from this process's breaker alone. */
  private locallyDegraded(s: number): boolean {
    const st = Atomics.load(this.ints, s * INTS + STATE);
    if (st === S_CLOSED) return false;
    const f = s * this.l.floatStride;
    const now = this.opts.now();
    if (st === S_OPEN) return now - this.floats[f + OPENED] < this.opts.cooldownMs;
    return now - this.floats[f + PROBE] < this.opts.probeTimeoutMs;
  }

  state(model: string): BreakerState {
    const s = this.slot(model, false);
    if (s < 0) return 'closed';
    const st = STATES[Atomics.load(this.ints, s * INTS + STATE)];
    return st === 'closed' && this.remotelyDegraded(s) ? 'open' : st;
  }

  record(model: string, o: Outcome): void {
    const s = this.slot(model, true);
    if (s < 0) return;
    const now = this.opts.now();
    const n = this.l.window;
    const ints = this.ints, floats = this.floats, b = s * INTS, f = s * this.l.floatStride;
    this.lock(s);
    try {
      const i = ints[b + HEAD];
      floats[f + AT + i] = now;
      this.oks[s * n + i] = o.ok ? 1 : 0;
      floats[f + AT + n + i] = o.latencyMs ?? NaN;
      floats[f + AT + 2 * n + i] = o.ttfbMs ?? NaN;
      ints[b + HEAD] = (i + 1) % n;
      if (ints[b + COUNT] < n) ints[b + COUNT]++;
      const st = ints[b + STATE];
      if (o.ok) {
        ints[b + CONSEC] = 0;
        if (st !== S_CLOSED) { ints[b + STATE] = S_CLOSED; ints[b + COUNT] = 1; }
        return;
      }
      const consecutive = ++ints[b + CONSEC];
      if (st === S_HALF) { this.open(s, now); return; }
      if (st === S_OPEN) return;
      if (consecutive >= this.opts.failureThreshold) { this.open(s, now); return; }
      const w = this.stats(s, now);
      const total = w.failures + w.successes;
      if (total >= this.opts.minSamples && w.failures / total >= this.opts.failureRatio) this.open(s, now);
    } finally { this.unlock(s); }
  }

  /** Caller holds the lock. */
  private open(s: number, now: number): void {
    this.floats[s * this.l.floatStride + OPENED] = now;
    Atomics.store(this.ints, s * INTS + STATE, S_OPEN);
  }

  /** Caller holds the lock. */
  private stats(s: number, now: number): WindowStats {
    const n = this.l.window;
    const b = s * INTS, f = s * this.l.floatStride + AT, ok = s * n;
    const floats = this.floats;
    const head = this.ints[b + HEAD], count = this.ints[b + COUNT];
    const since = now - this.opts.windowMs;
    const w: WindowStats = { failures: 0, successes: 0, latSum: 0, latN: 0, ttfbSum: 0, ttfbN: 0 };
    for (let k = 0; k < count; k++) {
      const i = (head - 1 - k + n) % n;
      if (floats[f + i] < since) break; // older slots are older still
      if (this.oks[ok + i]) {
        w.successes++;
        const l = floats[f + n + i], t = floats[f + 2 * n + i];
        if (l === l) { w.latSum += l; w.latN++; }
        if (t === t) { w.ttfbSum += t; w.ttfbN++; }
      } else w.failures++;
    }
    return w;
  }

  /**
   * The model's window: this process's outcomes plus, with a remote view,
   * every other replica's (sums; averages weighted by their counts), and the
   * breaker state "open" when another replica's breaker is.
   */
  entry(model: string): HealthEntry {
    const s = this.slot(model, false);
    if (s < 0) return { failures: 0, successes: 0, consecutiveFailures: 0, avgLatencyMs: null, avgTtfbMs: null, state: 'closed' };
    const now = this.opts.now();
    const w = this.local(s, now);
    let state = STATES[Atomics.load(this.ints, s * INTS + STATE)];
    const r = this.remote;
    if (r !== undefined && r.fresh(now)) {
      const x = r.counts(s);
      w.failures += x.failures; w.successes += x.successes;
      w.latSum += x.latSum; w.latN += x.latN; w.ttfbSum += x.ttfbSum; w.ttfbN += x.ttfbN;
      if (state === 'closed' && r.degraded(s, now)) state = 'open';
    }
    return {
      failures: w.failures,
      successes: w.successes,
      consecutiveFailures: this.ints[s * INTS + CONSEC],
      avgLatencyMs: w.latN ? w.latSum / w.latN : null,
      avgTtfbMs: w.ttfbN ? w.ttfbSum / w.ttfbN : null,
      state,
    };
  }

  /** This process's window of one slot (under the slot's lock). */
  private local(s: number, now: number): WindowStats {
    this.lock(s);
    try { return this.stats(s, now); } finally { this.unlock(s); }
  }

  /**
   * What this replica publishes for a model (health-sync.ts): its own window
   * only (never the merged one: merging merged views would count a replica's
   * outcomes again on every hop), its consecutive failures, and how long its
   * breaker stays open from now (0 when it does not skip the model).
   */
  localSummary(model: string): LocalHealth | null {
    const s = this.slot(model, false);
    if (s < 0) return null;
    const now = this.opts.now();
    const w = this.local(s, now);
    let openForMs = 0;
    if (this.locallyDegraded(s)) {
      const f = s * this.l.floatStride;
      const st = Atomics.load(this.ints, s * INTS + STATE);
      openForMs = st === S_OPEN ? this.opts.cooldownMs - (now - this.floats[f + OPENED]) : this.opts.probeTimeoutMs - (now - this.floats[f + PROBE]);
      openForMs = Math.max(1, Math.round(openForMs));
    }
    return { ...w, consecutive: this.ints[s * INTS + CONSEC], openForMs };
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
