/**
 * Other replicas' model health, as this process sees it (issue 12;
 * docs/replicas.md "Health"): one SharedArrayBuffer in the server's `shared`
 * bag (REMOTE_HEALTH_KEY), written by the one thread of the process that runs
 * the health sync (src/store/redis/health-sync.ts; the "leader", elected
 * through the first words of the buffer) and read by every HTTP thread's
 * HealthTracker (health.ts `remote`).
 *
 * Per model slot: the other replicas' window counts summed (failures,
 * successes, latency and time-to-first-byte sums and counts) and a
 * `degradedUntil` time on this process's clock: set when another replica's
 * breaker is open (for the rest of its cool-down, as that replica reported
 * it), or when the merged window (this replica's outcomes plus the others')
 * trips the failure ratio. The hot path reads one Float64 per model
 * (`degraded`); nothing here takes a lock.
 *
 * Staleness: every value is refreshed each health_sync_ms and lapses after
 * STALE_SYNCS syncs without a refresh (Redis down, the leader thread gone):
 * health is then local only, as without Redis. A write is not atomic across a
 * slot's fields: a reader may see one slot half of one sync and half of the
 * next (counts a second apart), never a torn number.
 */

/** Key of the buffer in the server's `shared` bag. */
export const REMOTE_HEALTH_KEY = 'remoteHealth';

/** Syncs without a refresh after which the remote view no longer counts. */
export const STALE_SYNCS = 3;

const FIELDS = 8;
const FAIL = 0, SUCC = 1, LATSUM = 2, LATN = 3, TTFBSUM = 4, TTFBN = 5, UNTIL = 6, CONSEC = 7;
/** Float64 header: updatedAt (ms, the tracker's clock), replicas seen, stale-after (ms). */
const H_UPDATED = 0, H_REPLICAS = 1, H_STALE = 2, HEADER = 3;
/** Bytes before the Float64 region: Int32 leader token, Int32 spare, BigInt64 leader heartbeat (ms). */
const LEADER_BYTES = 16;

export function createRemoteHealthBuffer(models: number): SharedArrayBuffer {
  return new SharedArrayBuffer(LEADER_BYTES + 8 * (HEADER + FIELDS * Math.max(1, models)));
}

export interface RemoteCounts {
  failures: number; successes: number; latSum: number; latN: number; ttfbSum: number; ttfbN: number;
  /** The highest consecutive-failure count any other replica reported. */
  consecutive: number;
  /** This process's clock (ms) until which the model counts as degraded; 0 = not. */
  degradedUntil: number;
}

export class RemoteHealth {
  private readonly f: Float64Array;
  private readonly token: Int32Array;
  private readonly beat: BigInt64Array;
  readonly slots: number;

  constructor(buffer: SharedArrayBuffer = createRemoteHealthBuffer(1)) {
    this.token = new Int32Array(buffer, 0, 1);
    this.beat = new BigInt64Array(buffer, 8, 1);
    this.f = new Float64Array(buffer, LEADER_BYTES);
    this.slots = (this.f.length - HEADER) / FIELDS;
  }

  degraded(slot: number, now: number): boolean {
    if (slot >= this.slots) return false;
    return this.f[HEADER + slot * FIELDS + UNTIL] > now;
  }

  until(slot: number): number {
    return slot < this.slots ? this.f[HEADER + slot * FIELDS + UNTIL] : 0;
  }

  fresh(now: number): boolean {
    const at = this.f[H_UPDATED];
    return at > 0 && now - at <= this.f[H_STALE];
  }

  counts(slot: number): RemoteCounts {
    const b = HEADER + slot * FIELDS, f = this.f;
    if (slot >= this.slots) return { failures: 0, successes: 0, latSum: 0, latN: 0, ttfbSum: 0, ttfbN: 0, consecutive: 0, degradedUntil: 0 };
    return { failures: f[b + FAIL], successes: f[b + SUCC], latSum: f[b + LATSUM], latN: f[b + LATN], ttfbSum: f[b + TTFBSUM], ttfbN: f[b + TTFBN], consecutive: f[b + CONSEC], degradedUntil: f[b + UNTIL] };
  }

  /** How many other replicas the last sync saw. */
  replicas(): number { return this.f[H_REPLICAS]; }
  updatedAt(): number { return this.f[H_UPDATED]; }

  /** The leader's whole write of one sync (`slots[i]` for slot i). */
  write(now: number, staleAfterMs: number, replicas: number, slots: readonly RemoteCounts[]): void {
    const f = this.f;
    for (let i = 0; i < Math.min(slots.length, this.slots); i++) {
      const c = slots[i], b = HEADER + i * FIELDS;
      f[b + FAIL] = c.failures; f[b + SUCC] = c.successes; f[b + LATSUM] = c.latSum; f[b + LATN] = c.latN;
      f[b + TTFBSUM] = c.ttfbSum; f[b + TTFBN] = c.ttfbN; f[b + CONSEC] = c.consecutive; f[b + UNTIL] = c.degradedUntil;
    }
    f[H_REPLICAS] = replicas;
    f[H_STALE] = staleAfterMs;
    f[H_UPDATED] = now;
  }

  /** Forget every other replica (Redis lost for longer than the staleness bound). */
  clear(): void {
    this.f.fill(0);
  }

  /**
   * Leader election among this process's threads: true when `me` (a non-zero
   * per-thread token) leads the sync now. A leader whose heartbeat is older
   * than `staleMs` (its thread died or stalls) is replaced by the first thread
   * that notices. Call once a sync period; a leader's call renews its heartbeat.
   */
  lead(me: number, nowMs: number, staleMs: number): boolean {
    const cur = Atomics.load(this.token, 0);
    if (cur === me) { Atomics.store(this.beat, 0, BigInt(Math.round(nowMs))); return true; }
    if (cur !== 0 && nowMs - Number(Atomics.load(this.beat, 0)) <= staleMs) return false;
    if (Atomics.compareExchange(this.token, 0, cur, me) !== cur) return false;
    Atomics.store(this.beat, 0, BigInt(Math.round(nowMs)));
    return true;
  }

  /** Steps down (a closing thread), so another takes over at its next tick instead of after `staleMs`. */
  resign(me: number): void {
    Atomics.compareExchange(this.token, 0, me, 0);
  }
}
