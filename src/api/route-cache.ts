/**
 * The /v1/route decision cache: one ShmCache (src/store/shm-cache.ts) for the
 * whole process, created by the main thread (startServer puts it in the
 * `shared` bag under DECISION_CACHE_KEY) and wrapped by every HTTP thread's
 * Engine, so a decision made on any thread is a hit on every thread and
 * /health's counters are process-wide.
 *
 * Key bytes, built into a per-thread scratch Buffer (no allocation for a
 * prompt up to VERBATIM_MAX bytes of UTF-8):
 *
 *   [0, 8)   cost_weight, float64 LE (-0 normalised to 0)
 *   [8]      0 = every model allowed, 1 = a bitmask of ceil(M / 8) bytes follows
 *   [..]     the bitmask (bit m = model index m allowed)
 *   [x]      'v' + the prompt's UTF-8 (<= 256 bytes)
 *            'h' + SHA-256 of the prompt's UTF-8 (longer prompts, well-formed)
 *            'u' + SHA-256 of the prompt's UTF-16LE (a prompt with lone surrogates:
 *                 UTF-8 would turn them all into U+FFFD and merge distinct prompts)
 *
 * Every field but the last has a fixed length, so distinct requests give
 * distinct key bytes, and the cache compares key bytes in full: a hit is the
 * decision for exactly this (cost_weight, allowed set, prompt), up to SHA-256
 * second preimages for prompts over 256 bytes (~1 µs per 1,000 chars to hash,
 * against ~50 µs to embed them; keeps a key, and so a slot, small).
 *
 * The value is the decision's JSON up to (not including) "cache_hit", UTF-8.
 *
 * Memory: router.cache_size entries x (24 + slot) bytes, allocated at start.
 * The slot is sized for the largest key plus the longest decision JSON the
 * profile's model names allow (every number at its longest, 24 chars):
 * 1,024 bytes for the default 11-model profile (268 of key, 754 of JSON),
 * so 10.5 MB at the default 10,000 entries (the JS-heap cache it replaces
 * held ~0.75 KB an entry, all of it for the GC to trace and copy). A decision that does not fit (only if the profile changed
 * between sizing and loading) is not cached, counted as `oversize`. The
 * slot grows with the model count (~55 B a model with 20-char names): a
 * 200-model profile takes ~10 KB a slot, 102 MB at 10,000 entries.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { hash } from 'node:crypto';
import { ShmCache, type ShmCacheStats } from '../store/shm-cache.ts';
import type { Config } from '../config/schema.ts';
import { effectiveProfileDir } from './profile-versions.ts';

/** The key of the decision cache's buffer in the `shared` bag every HTTP thread receives. */
export const DECISION_CACHE_KEY = 'decisionCache';

/** Prompts whose UTF-8 is longer are keyed by their SHA-256. */
const VERBATIM_MAX = 256;
/** Longest `${x}` of a JS number ("-1.7976931348623157e+308", "-2.2250738585072014e-308"). */
const NUM = '0'.repeat(24);
/** Slot size when the profile's models cannot be read at start-up (its load will then fail anyway). */
const FALLBACK_SLOT_BYTES = 2048;
/** ShmCache's own bound; a profile with thousands of models would need more: its decisions are then not cached (oversize). */
const MAX_SLOT_BYTES = 1 << 20;

const V = 0x76, H = 0x68, U = 0x75;

export function keyBytesBound(modelCount: number): number {
  return 8 + 1 + Math.ceil(modelCount / 8) + 1 + Math.max(VERBATIM_MAX, 32);
}

/**
 * Upper bound of decisionJson's UTF-8 bytes (src/api/route.ts) for these
 * models: built as that function builds it, every number at its longest. The
 * two must change together (test/server/shared-cache.test.ts checks no decision
 * is oversize).
 */
export function decisionBytesBound(models: readonly string[]): number {
  let prefix = 0;
  for (const m of models) prefix = Math.max(prefix, Buffer.byteLength(`{"selected_model":${JSON.stringify(m)},"cluster_id":`));
  const all = models.map((m) => `${JSON.stringify(m)}:${NUM}`).join(',');
  return prefix + Buffer.byteLength(`${'0'.repeat(10)},"expected_error":${NUM},"cost_adjusted_score":${NUM},"cost_weight":${NUM},"all_scores":{${all}}`);
}

export function decisionSlotBytes(models: readonly string[]): number {
  return (keyBytesBound(models.length) + decisionBytesBound(models) + 7) & ~7;
}

/**
 * Allocates the whole cache up front (unlike the JS-heap cache, which grew as
 * it filled): a failed allocation is a start-up error naming router.cache_size
 * and the bytes it asked for, not a bare RangeError.
 */
export function createDecisionCacheBuffer(capacity: number, models: readonly string[] | undefined): SharedArrayBuffer {
  const slotBytes = capacity === 0 ? 1 : Math.min(MAX_SLOT_BYTES, models ? decisionSlotBytes(models) : FALLBACK_SLOT_BYTES);
  try {
    return ShmCache.create({ capacity, slotBytes });
  } catch (e) {
    const mb = Math.round(ShmCache.bytesFor({ capacity, slotBytes }) / 1e6);
    throw new Error(`router.cache_size ${capacity} needs ${mb} MB of shared memory (${slotBytes} B a slot for this profile's decisions) and the allocation failed (${(e as Error).message}): lower router.cache_size`);
  }
}

/**
 * Main thread, once, before the profile loads: sized from the model names in
 * the profile's manifest (a small JSON read; the tables load later).
 */
export function createDecisionCacheFor(config: Pick<Config, 'router' | 'state'>): SharedArrayBuffer {
  let models: string[] | undefined;
  if (config.router.cache_size > 0) {
    try {
      // The profile the server will load: with models added through the API, their version (profile-versions.ts).
      const m = JSON.parse(readFileSync(join(effectiveProfileDir(config), 'profile.json'), 'utf8'));
      if (Array.isArray(m.models) && m.models.every((x: any) => typeof x?.name === 'string')) models = m.models.map((x: any) => x.name);
    } catch { /* sized by the fallback; loadProfile reports the real problem */ }
  }
  return createDecisionCacheBuffer(config.router.cache_size, models);
}

interface KeyParts { prompt: string | undefined; allowed: Uint8Array | undefined; costWeight: number }

/** One per Engine (per thread): the shared cache plus this thread's scratch buffers. */
export class DecisionCache {
  readonly shm: ShmCache;
  /** The last lookup's key: valid until the next lookup on this thread (no await in between). */
  readonly key: Buffer;
  keyLength = 0;
  private readonly value: Buffer;
  private readonly hit: Buffer;
  private readonly maskBytes: number;

  constructor(buffer: SharedArrayBuffer, modelCount: number) {
    this.shm = new ShmCache(buffer);
    this.maskBytes = Math.ceil(modelCount / 8);
    // Room to write a prompt of VERBATIM_MAX UTF-16 units (<= 3 bytes each) before deciding it is too long.
    this.key = Buffer.allocUnsafeSlow(8 + 1 + this.maskBytes + 1 + 3 * VERBATIM_MAX);
    // One byte over the slot: a decision that does not fit is seen as oversize, never stored truncated.
    this.value = Buffer.allocUnsafeSlow(this.shm.slotBytes + 1);
    this.hit = Buffer.allocUnsafeSlow(this.shm.slotBytes);
  }

  get enabled(): boolean { return this.shm.capacity > 0; }

  /** The cached decision JSON for this request, or undefined (a miss, counted). Leaves the key in `key`. */
  lookup(req: KeyParts): string | undefined {
    if (!this.enabled) { this.shm.getInto(this.key, this.hit, 0); return undefined; }
    this.keyLength = this.encodeKey(req);
    const n = this.shm.getInto(this.key, this.hit, this.keyLength);
    return n < 0 ? undefined : this.hit.toString('utf8', 0, n);
  }

  /** A copy of the last lookup's key, for a store after an await (another request may reuse `key` meanwhile). */
  keyCopy(): Buffer {
    return Buffer.from(this.key.subarray(0, this.keyLength));
  }

  /** Stores `body` (the decision JSON) under `key` (default: the last lookup's key). */
  store(body: string, key: Uint8Array = this.key, keyLength: number = this.keyLength): void {
    const n = this.value.write(body, 0, 'utf8');
    this.shm.set(key, this.value, 0, keyLength, n);
  }

  stats(): ShmCacheStats { return this.shm.stats(); }

  private encodeKey(req: KeyParts): number {
    const k = this.key;
    k.writeDoubleLE(req.costWeight + 0, 0);
    let o = 8;
    const a = req.allowed;
    if (a === undefined) k[o++] = 0;
    else {
      k[o++] = 1;
      for (let b = 0; b < this.maskBytes; b++) {
        let x = 0;
        for (let j = 0, m = b * 8; j < 8 && m < a.length; j++, m++) if (a[m] !== 0) x |= 1 << j;
        k[o++] = x;
      }
    }
    const p = req.prompt!;
    const wellFormed = (p as unknown as { isWellFormed(): boolean }).isWellFormed();
    if (wellFormed && p.length <= VERBATIM_MAX) {
      const n = k.write(p, o + 1, 'utf8');
      if (n <= VERBATIM_MAX) { k[o] = V; return o + 1 + n; }
    }
    // Long (or ill-formed) prompts: a 32-byte digest. Allocates a Buffer or two; rare next to the embedding it saves.
    k[o] = wellFormed ? H : U;
    const d = hash('sha256', wellFormed ? p : Buffer.from(p, 'utf16le'), 'buffer');
    d.copy(k, o + 1);
    return o + 1 + d.length;
  }
}
