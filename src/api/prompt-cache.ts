/**
 * The prompt cache (issue 11 item 5): `X-GR-Cache-TTL: <seconds>` (or
 * `x-switchyard-cache-ttl`; 1..3600, 0 = off for this request) on
 * POST /v1/chat/completions caches the answer to an identical request and
 * answers the next one without an upstream call.
 *
 * Identical = same organisation and the same request body up to key order
 * (model, messages, every parameter, `stream` included: a streamed request
 * is replayed as the same SSE stream, a JSON one as the same JSON). The key
 * is SHA-256 over (org, canonical body): 32 bytes whatever the prompt's size,
 * so a hit costs a parse the handler does anyway, one canonical stringify and
 * one hash (~2-5 µs for a 1 KB body: an estimate, no run in bench/results or
 * docs/benchmarks.md measures the key alone), a locked copy out of shared memory and
 * one UTF-8 decode.
 *
 * One cache for the process: a ShmCache (src/store/shm-cache.ts) in its own
 * SharedArrayBuffer (shared[PROMPT_CACHE_KEY]), so every HTTP thread sees
 * every entry. Size: state.prompt_cache.size_mb (default 32 MiB) in slots of
 * state.prompt_cache.slot_kb (default 32 KiB): 1,024 answers of up to 32 KiB
 * at the defaults. An answer larger than a slot is not cached (the request is
 * still answered; x-cache: MISS every time). The pages of the buffer are
 * touched only as slots fill, so an idle cache costs address space, not RSS.
 *
 * A hit: x-cache: HIT, x-switchyard-cost-usd: 0 and cost_usd 0 in the
 * `switchyard` object (nothing was spent), logged with cache_hit true and cost
 * 0. A miss that was cached: x-cache: MISS. What is not cached: failures,
 * streams cut short, requests without the header.
 *
 * What can go wrong: a preference change (an excluded model) does not
 * invalidate cached answers; they expire with their TTL (at most an hour).
 */
import { createHash } from 'node:crypto';
import { ShmCache } from '../store/shm-cache.ts';
import { invalid } from '../errors.ts';
import type { Config } from '../config/schema.ts';
import type { RedisHandle } from '../store/redis/client.ts';

export const PROMPT_CACHE_KEY = 'promptCache';
export const MAX_TTL_S = 3600;

export function promptCacheLayout(c: Pick<Config, 'state'>): { capacity: number; slotBytes: number } {
  const slotBytes = c.state.prompt_cache.slot_kb * 1024;
  const capacity = Math.floor((c.state.prompt_cache.size_mb * 1024 * 1024) / (slotBytes + 24));
  return { capacity, slotBytes };
}

export function createPromptCacheBuffer(c: Pick<Config, 'state'>): SharedArrayBuffer {
  return ShmCache.create(promptCacheLayout(c));
}

/** The header's value as seconds: 0 when absent; a 400 naming the header when not an integer in 0..3600. */
export function cacheTtlOf(header: string): number {
  if (header === '') return 0;
  if (!/^\d{1,5}$/.test(header) || Number(header) > MAX_TTL_S) {
    throw invalid('X-GR-Cache-TTL', `must be a whole number of seconds from 0 to ${MAX_TTL_S}, got ${JSON.stringify(header.slice(0, 20))}`);
  }
  return Number(header);
}

/** JSON with object keys sorted at every level: two bodies that differ only in key order are one request. */
export function canonical(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v) ?? 'null';
  if (Array.isArray(v)) {
    let a = '[';
    for (let i = 0; i < v.length; i++) a += (i > 0 ? ',' : '') + canonical(v[i]);
    return a + ']';
  }
  const o = v as Record<string, unknown>;
  // Sorted in place by insertion (a body's objects have a handful of keys): the same order as
  // Object.keys(o).sort() (UTF-16 code units), so the same cache keys, without sort's work copy
  // (~12% of the bytes a prompt-cache hit allocated, by allocation sampling).
  const keys = Object.keys(o);
  for (let i = 1; i < keys.length; i++) {
    const k = keys[i];
    let j = i;
    while (j > 0 && keys[j - 1] > k) { keys[j] = keys[j - 1]; j--; }
    keys[j] = k;
  }
  let out = '{';
  for (const k of keys) {
    if (o[k] === undefined) continue;
    out += `${out.length > 1 ? ',' : ''}${JSON.stringify(k)}:${canonical(o[k])}`;
  }
  return out + '}';
}

/** A cached answer: the headers to send, and the body (a JSON completion without `switchyard`, or the whole SSE text). */
export interface CachedAnswer {
  readonly headers: [string, string][];
  /** JSON answers: the `switchyard` object to splice back (cost_usd set to 0 on a hit). */
  readonly switchyard: Record<string, unknown> | null;
  readonly body: string;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

/** The cached bytes: meta JSON (headers, switchyard) on the first line, the body after it (JSON text never holds a raw newline in the meta). */
function encode(a: CachedAnswer): Uint8Array {
  return enc.encode(`${JSON.stringify({ h: a.headers, s: a.switchyard })}\n${a.body}`);
}

function decode(v: Uint8Array): CachedAnswer {
  const s = dec.decode(v);
  const nl = s.indexOf('\n');
  const meta = JSON.parse(s.slice(0, nl)) as { h: [string, string][]; s: Record<string, unknown> | null };
  return { headers: meta.h, switchyard: meta.s, body: s.slice(nl + 1) };
}

/**
 * Where a local hit is copied out of shared memory: one slot-sized Buffer per
 * thread (module state is per isolate), reused by every hit and read only
 * synchronously (decodeScratch copies into strings before returning). Why:
 * ShmCache.get without `out` allocates a fresh slot-sized Uint8Array (32 KiB
 * at the defaults) per hit; a backing store that size is external memory, and
 * V8 answers external-memory growth with mark-compacts (the prompt-cache
 * bench's mark-compacts and its p99). Grown, never shrunk, to the largest
 * slot size seen.
 */
let scratch = Buffer.alloc(0);

/** decode() over scratch[0..n): the meta line and the body straight from the Buffer, no view or copy of the slot. */
function decodeScratch(n: number): CachedAnswer {
  let nl = scratch.indexOf(0x0a);
  if (nl < 0 || nl >= n) nl = n; // never for our own entries (the meta line always ends with a newline)
  const meta = JSON.parse(scratch.toString('utf8', 0, nl)) as { h: [string, string][]; s: Record<string, unknown> | null };
  return { headers: meta.h, switchyard: meta.s, body: nl < n ? scratch.toString('utf8', nl + 1, n) : '' };
}

/**
 * Level 2 (issue 12): the same answers in Redis, shared by every replica.
 * Key `<prefix>:v1:pcache:{<org>}:<sha256 hex>` (the organisation in the key
 * and in the hash: no cross-organisation hit). Value: the expiry as unix ms,
 * a newline, then the local cache's bytes; SET with PX = the header's TTL, so
 * Redis drops it when the local copy would expire, and a replica that fills
 * its local cache from Redis gives the entry only the time it has left.
 *
 * Faults: every command is bounded by state.redis.command_timeout_ms (the
 * client's commandTimeout) and fails at once while disconnected (no offline
 * queue): a failed or slow GET is a miss, a failed SET is dropped. Never an
 * error to the client. A hit from Redis costs one round trip on a local miss
 * only; a local hit never touches the network.
 */
export interface PromptCacheL2 {
  get(org: string, key: Uint8Array): Promise<{ bytes: Uint8Array; expiresAt: number } | undefined>;
  set(org: string, key: Uint8Array, bytes: Uint8Array, ttlS: number): void;
}

export function redisL2(redis: RedisHandle): PromptCacheL2 {
  const k = (org: string, key: Uint8Array) => redis.keys.org('pcache', org, Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('hex'));
  const nl = 0x0a;
  return {
    get: async (org, key) => {
      if (redis.state().status !== 'ready') return undefined;
      try {
        const v = await redis.client.getBuffer(k(org, key));
        if (v === null) return undefined;
        const i = v.indexOf(nl);
        const expiresAt = Number(v.subarray(0, i).toString('latin1'));
        if (i < 0 || !(expiresAt > Date.now())) return undefined;
        return { bytes: v.subarray(i + 1), expiresAt };
      } catch {
        return undefined; // down, slow (command timeout), or a reply we cannot read: a miss
      }
    },
    set: (org, key, bytes, ttlS) => {
      if (redis.state().status !== 'ready') return;
      const ms = ttlS * 1000;
      const v = Buffer.concat([Buffer.from(`${Date.now() + ms}\n`, 'latin1'), bytes]);
      redis.client.set(k(org, key), v, 'PX', ms).catch(() => { /* dropped: the local copy still serves this replica */ });
    },
  };
}

export class PromptCache {
  private readonly cache: ShmCache;
  constructor(buffer: SharedArrayBuffer, private readonly l2?: PromptCacheL2) {
    this.cache = new ShmCache(buffer);
  }

  get enabled(): boolean { return this.cache.capacity > 0; }
  /** Largest key + answer a slot holds. */
  get slotBytes(): number { return this.cache.slotBytes; }
  /** Redis behind the local cache (state.redis set). */
  get shared(): boolean { return this.l2 !== undefined; }

  /** `scope` keeps endpoints apart ('' for chat completions, whose keys predate it). */
  key(org: string, body: unknown, scope = ''): Uint8Array {
    const h = createHash('sha256').update(org).update('\0');
    if (scope !== '') h.update(scope).update('\0');
    return h.update(canonical(body)).digest();
  }

  /** This process's cache only. */
  get(key: Uint8Array): CachedAnswer | undefined {
    if (scratch.length < this.cache.slotBytes) scratch = Buffer.allocUnsafeSlow(this.cache.slotBytes);
    const n = this.cache.getInto(key, scratch);
    return n < 0 ? undefined : decodeScratch(n);
  }

  /**
   * The local cache, then (on a local miss, with Redis configured) Redis: a
   * Promise only in that case. A Redis hit is copied into the local cache for
   * the time it has left, so the next identical request here stays local.
   */
  lookup(org: string, key: Uint8Array): CachedAnswer | undefined | Promise<CachedAnswer | undefined> {
    const local = this.get(key);
    if (local !== undefined || this.l2 === undefined) return local;
    const k = key.slice();
    return this.l2.get(org, k).then((r) => {
      if (r === undefined) return undefined;
      let a: CachedAnswer;
      try { a = decode(r.bytes); } catch { return undefined; }
      const left = r.expiresAt - Date.now();
      if (left > 0) this.cache.set(k, r.bytes, left);
      return a;
    });
  }

  /** false: not stored (larger than a slot, or the cache is off). Stored in Redis too when configured (same size bound). */
  set(key: Uint8Array, a: CachedAnswer, ttlS: number, org?: string): boolean {
    const bytes = encode(a);
    const ok = this.cache.set(key, bytes, ttlS * 1000);
    if (ok && this.l2 !== undefined && org !== undefined) this.l2.set(org, key, bytes, ttlS);
    return ok;
  }

  stats() { return this.cache.stats(); }
}

const caches = new WeakMap<object, PromptCache>();

/** The Engine's view of the process's cache (its own small buffer when built without the server's shared bag: tests, scripts); Redis behind it when the Engine has one. */
export function promptCacheOf(engine: { shared: Readonly<Record<string, SharedArrayBuffer>>; config: Readonly<Config>; redis?: RedisHandle }): PromptCache {
  let c = caches.get(engine);
  if (c === undefined) {
    c = new PromptCache(engine.shared[PROMPT_CACHE_KEY] ?? createPromptCacheBuffer(engine.config), engine.redis ? redisL2(engine.redis) : undefined);
    caches.set(engine, c);
  }
  return c;
}
