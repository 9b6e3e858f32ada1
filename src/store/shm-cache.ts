/**
 * A bytes-key -> bytes-value cache in ONE SharedArrayBuffer: every thread that
 * holds the buffer (HTTP threads, workers) sees the same entries and the same
 * counters, and nothing it stores lives on a JS heap. Why: the JS-heap
 * decision cache kept 10,000 strings and Map entries alive, each promoted
 * through the young generation, and those copies were the p99 (issue 7). Here
 * a store is a memcpy into shared memory; the GC never sees an entry.
 *
 * Layout (all offsets fixed at creation; `ShmCache.create` writes the header,
 * any thread attaches with `new ShmCache(buffer)`):
 *
 *   header      128 B: magic, layout, sets, ways, slotBytes, capacity, size,
 *               then 64-bit counters as (lo, hi) Uint32 pairs
 *   sets        2 x Int32 per set: lock word, CLOCK hand
 *   slot meta   4 x Int32 per slot: flags (used, referenced), hash, key length, value length
 *   expiry      1 x Float64 per slot: ms since the epoch (Date.now clock), 0 = never
 *   data        slotBytes per slot: the key bytes, then the value bytes
 *
 * Capacity is in ENTRIES (router.cache_size keeps its meaning), each in a
 * fixed slot of `slotBytes` payload: memory = 128 + 8 x sets + capacity x
 * (24 + slotBytes) bytes, allocated up front (`ShmCache.bytesFor`). Fixed
 * slots rather than an arena: no allocator, no fragmentation, no compaction
 * to coordinate between threads; the cost is that every entry takes a whole
 * slot, so the caller sizes the slot to its largest key + value (the decision
 * cache computes it from the profile's model names). A key + value larger than
 * a slot is not cached (`oversize` counter).
 *
 * Placement is set-associative: a key's 32-bit hash picks one set of `ways`
 * (8) slots; lookup and eviction look at those slots only.
 *
 * Eviction is CLOCK within the set, not LRU or segmented LRU. Why: under LRU
 * every hit moves the entry in a recency list, a write to shared links on
 * every hit that all threads would serialise on; a CLOCK hit sets one bit in
 * the slot's own metadata, inside the set lock the lookup holds anyway. An
 * entry is inserted with the bit clear, so a stream of one-off keys (unique
 * prompts) cycles through the cold slots of a set while an entry hit at least
 * once per sweep of its set keeps getting its second chance: scan resistant,
 * which plain LRU is not. Eviction scans at most 2 x ways slots. What is lost
 * against a global policy: a set holds only `ways` entries, so a hot entry can
 * lose to hotter neighbours that happen to hash to its set, and a crowded set
 * evicts while others have room: 5,000 keys in the 10,000-entry decision
 * cache (1,250 sets) keep 99.1% of them (measured: 47 lost to crowded sets).
 * Expired entries are reused before anything is evicted.
 *
 * Concurrency: every operation, read or write, holds its set's spinlock (an
 * Int32 taken with Atomics.compareExchange, released with Atomics.store) for a
 * bounded scan + copy of at most ways x (keyLen compare) + slotBytes bytes.
 * The lock's acquire/release is what makes the plain (non-atomic) byte reads
 * and writes of the slot well ordered between threads under the JS memory
 * model, so a reader never sees half-written bytes: it holds the lock, or it
 * has not started. All methods are synchronous: no lock can be held across an
 * await. A lock is never waited on without bound: after LOCK_SPINS failed
 * tries the operation gives up (a get misses, a set stores nothing; counted in
 * `contended`), so a thread preempted while holding a lock, or terminated in
 * the middle of a copy (that set then stays locked: its entries are lost, the
 * rest of the cache works), can slow a lookup but never block an event loop.
 *
 * A hit never returns another key's value: the stored key bytes are compared
 * in full (the hash only picks the set and rejects most slots cheaply), so two
 * keys that collide on the hash, or a hash function that returns a constant
 * (test/store/shm-cache.test.ts injects one), still never match each other.
 *
 * Counters (hits, misses, evictions, ...) are in the buffer, so any thread's
 * stats() gives process-wide numbers; they are updated with Atomics.add
 * outside the locks. `size` counts stored entries, including expired ones
 * not yet reclaimed (reclaimed when looked up or when their slot is reused).
 */

const MAGIC = 0x53484d43; // "SHMC"
const LAYOUT = 1;
const HEADER_BYTES = 128;
const DEFAULT_WAYS = 8;
/** Failed lock tries before giving up: a copy under the lock takes well under 1 µs; this is tens of µs of spinning. */
const LOCK_SPINS = 4096;

// Header, in Int32 words.
const H_MAGIC = 0, H_LAYOUT = 1, H_SETS = 2, H_WAYS = 3, H_SLOT = 4, H_CAP = 5, H_SIZE = 6;
// 64-bit counters: Uint32 word index of the low half; the high half follows.
const C_HITS = 8, C_MISSES = 10, C_EVICTIONS = 12, C_OVERSIZE = 14, C_CONTENDED = 16, C_EXPIRED = 18, C_STORES = 20;

// Slot meta, Int32 words per slot.
const META = 4;
const M_FLAGS = 0, M_HASH = 1, M_KLEN = 2, M_VLEN = 3;
const USED = 1, REF = 2;

export interface ShmCacheLayout {
  /** Entries; 0 = a cache that stores nothing (every get misses, counted). */
  capacity: number;
  /** Bytes a slot holds for key + value together. */
  slotBytes: number;
  /** Slots per set (default 8): more ways = closer to a global policy, longer scans. */
  ways?: number;
}

export interface ShmCacheOptions {
  /** Key hash (32-bit). Injectable so tests can force collisions; default murmur3-32. */
  hash?: (key: Uint8Array, length: number) => number;
  /** Clock for TTLs, ms; default Date.now (shared by all threads, unlike performance.now). */
  now?: () => number;
}

export interface ShmCacheStats {
  capacity: number;
  size: number;
  hits: number;
  misses: number;
  evictions: number;
  /** set() calls whose key + value did not fit a slot. */
  oversize: number;
  /** Operations that gave up on a set lock (see the header comment). */
  contended: number;
  /** Entries found expired and dropped. */
  expired: number;
  stores: number;
  slotBytes: number;
  /** The whole buffer. */
  bytes: number;
}

const align8 = (n: number) => (n + 7) & ~7;

function geometry(capacity: number, ways: number) {
  const w = Math.max(1, Math.min(ways, capacity));
  const sets = capacity === 0 ? 0 : Math.ceil(capacity / w);
  const setBytes = align8(sets * 8);
  const metaOff = HEADER_BYTES + setBytes;
  const expOff = metaOff + align8(capacity * META * 4);
  const dataOff = expOff + capacity * 8;
  return { ways: w, sets, metaOff, expOff, dataOff };
}

/** murmur3 x86 32-bit over key[0..length): ~1 ns per 4 bytes, no allocation. */
export function murmur3(key: Uint8Array, length: number, seed = 0x9747b28c): number {
  let h = seed | 0, i = 0;
  const n4 = length & ~3;
  for (; i < n4; i += 4) {
    let k = key[i] | (key[i + 1] << 8) | (key[i + 2] << 16) | (key[i + 3] << 24);
    k = Math.imul(k, 0xcc9e2d51); k = (k << 15) | (k >>> 17); k = Math.imul(k, 0x1b873593);
    h ^= k; h = (h << 13) | (h >>> 19); h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  const r = length & 3;
  if (r !== 0) {
    let k = key[i];
    if (r > 1) k |= key[i + 1] << 8;
    if (r > 2) k |= key[i + 2] << 16;
    k = Math.imul(k, 0xcc9e2d51); k = (k << 15) | (k >>> 17); k = Math.imul(k, 0x1b873593); h ^= k;
  }
  h ^= length;
  h ^= h >>> 16; h = Math.imul(h, 0x85ebca6b); h ^= h >>> 13; h = Math.imul(h, 0xc2b2ae35); h ^= h >>> 16;
  return h | 0;
}

export class ShmCache {
  readonly capacity: number;
  readonly slotBytes: number;
  readonly ways: number;
  readonly sets: number;
  private readonly i32: Int32Array;
  private readonly u32: Uint32Array;
  private readonly f64: Float64Array;
  private readonly u8: Uint8Array;
  private readonly metaBase: number;
  private readonly dataOff: number;
  private readonly hash: (key: Uint8Array, length: number) => number;
  private readonly now: () => number;

  /** Bytes of the buffer `create` allocates for this layout. */
  static bytesFor(l: ShmCacheLayout): number {
    check(l);
    const g = geometry(l.capacity, l.ways ?? DEFAULT_WAYS);
    return g.dataOff + l.capacity * l.slotBytes;
  }

  /** Allocates and initialises the buffer (once, in the thread that owns the process's state). */
  static create(l: ShmCacheLayout): SharedArrayBuffer {
    const sab = new SharedArrayBuffer(ShmCache.bytesFor(l));
    const g = geometry(l.capacity, l.ways ?? DEFAULT_WAYS);
    const h = new Int32Array(sab, 0, HEADER_BYTES / 4);
    h[H_LAYOUT] = LAYOUT; h[H_SETS] = g.sets; h[H_WAYS] = g.ways; h[H_SLOT] = l.slotBytes; h[H_CAP] = l.capacity;
    Atomics.store(h, H_MAGIC, MAGIC); // last: a buffer with the magic is fully initialised
    return sab;
  }

  /** Attaches to a buffer from `create` (any thread; posting the buffer to a worker shares it). */
  constructor(readonly buffer: SharedArrayBuffer, opts: ShmCacheOptions = {}) {
    const h = new Int32Array(buffer, 0, HEADER_BYTES / 4);
    if (buffer.byteLength < HEADER_BYTES || Atomics.load(h, H_MAGIC) !== MAGIC || h[H_LAYOUT] !== LAYOUT) {
      throw new TypeError('ShmCache: not a buffer made by ShmCache.create (or another layout version)');
    }
    this.capacity = h[H_CAP]; this.slotBytes = h[H_SLOT]; this.ways = h[H_WAYS]; this.sets = h[H_SETS];
    const g = geometry(this.capacity, this.ways);
    if (buffer.byteLength !== g.dataOff + this.capacity * this.slotBytes) throw new TypeError('ShmCache: buffer size does not match its header');
    this.i32 = new Int32Array(buffer);
    this.u32 = new Uint32Array(buffer, 0, HEADER_BYTES / 4);
    this.f64 = new Float64Array(buffer, g.expOff, this.capacity);
    this.u8 = new Uint8Array(buffer);
    this.metaBase = g.metaOff >> 2;
    this.dataOff = g.dataOff;
    this.hash = opts.hash ?? murmur3;
    this.now = opts.now ?? Date.now;
  }

  /**
   * Copies the value of key[0..keyLength) into out[outOffset..] and returns its
   * length, or -1 on a miss (absent, expired, or its set lock contended). No
   * allocation. `out` must have room for slotBytes - keyLength bytes; a value
   * that does not fit `out` is a miss (and a RangeError would be a caller bug:
   * we prefer the miss).
   */
  getInto(key: Uint8Array, out: Uint8Array, keyLength = key.length, outOffset = 0): number {
    if (this.capacity === 0) { this.count(C_MISSES); return -1; }
    const h = this.hash(key, keyLength) | 0;
    const set = (h >>> 0) % this.sets;
    if (!this.lock(set)) { this.count(C_CONTENDED); this.count(C_MISSES); return -1; }
    let n = -1;
    try {
      const s = this.find(set, h, key, keyLength);
      if (s >= 0) {
        const m = this.metaBase + s * META;
        const exp = this.f64[s];
        if (exp !== 0 && this.now() >= exp) {
          this.i32[m + M_FLAGS] = 0;
          Atomics.sub(this.i32, H_SIZE, 1);
          this.count(C_EXPIRED);
        } else {
          const vlen = this.i32[m + M_VLEN];
          if (outOffset + vlen <= out.length) {
            const from = this.dataOff + s * this.slotBytes + keyLength;
            // Short values by hand; longer ones through one (short-lived) view and memcpy.
            if (vlen <= 64) for (let i = 0; i < vlen; i++) out[outOffset + i] = this.u8[from + i];
            else out.set(this.u8.subarray(from, from + vlen), outOffset);
            this.i32[m + M_FLAGS] |= REF;
            n = vlen;
          }
        }
      }
    } finally {
      this.unlock(set);
    }
    this.count(n >= 0 ? C_HITS : C_MISSES);
    return n;
  }

  /** The value as a new Uint8Array (or in `out`'s buffer when given: a view of it), undefined on a miss. */
  get(key: Uint8Array, out?: Uint8Array): Uint8Array | undefined {
    const buf = out ?? new Uint8Array(Math.max(0, this.slotBytes - key.length));
    const n = this.getInto(key, buf);
    return n < 0 ? undefined : buf.subarray(0, n);
  }

  /**
   * Stores value[0..valueLength) under key[0..keyLength), replacing the key's
   * entry if present; `ttlMs` > 0 expires it that long from now. false: not
   * stored (capacity 0, key + value over slotBytes, or the set's lock contended).
   */
  set(key: Uint8Array, value: Uint8Array, ttlMs = 0, keyLength = key.length, valueLength = value.length): boolean {
    if (this.capacity === 0) return false;
    if (keyLength + valueLength > this.slotBytes) { this.count(C_OVERSIZE); return false; }
    const h = this.hash(key, keyLength) | 0;
    const set = (h >>> 0) % this.sets;
    if (!this.lock(set)) { this.count(C_CONTENDED); return false; }
    let evicted = false, added = false;
    try {
      let s = this.find(set, h, key, keyLength);
      if (s < 0) {
        s = this.freeSlot(set);
        if (s >= 0) added = (this.i32[this.metaBase + s * META + M_FLAGS] & USED) === 0;
        else { s = this.victim(set); evicted = true; }
      }
      const m = this.metaBase + s * META;
      const at = this.dataOff + s * this.slotBytes;
      this.u8.set(keyLength === key.length ? key : key.subarray(0, keyLength), at);
      this.u8.set(valueLength === value.length ? value : value.subarray(0, valueLength), at + keyLength);
      this.i32[m + M_HASH] = h;
      this.i32[m + M_KLEN] = keyLength;
      this.i32[m + M_VLEN] = valueLength;
      this.f64[s] = ttlMs > 0 ? this.now() + ttlMs : 0;
      this.i32[m + M_FLAGS] = USED;
    } finally {
      this.unlock(set);
    }
    if (added) Atomics.add(this.i32, H_SIZE, 1);
    if (evicted) this.count(C_EVICTIONS);
    this.count(C_STORES);
    return true;
  }

  /** true if the key was present (expired or not) and is now gone; false also when its set lock was contended. */
  delete(key: Uint8Array, keyLength = key.length): boolean {
    if (this.capacity === 0) return false;
    const h = this.hash(key, keyLength) | 0;
    const set = (h >>> 0) % this.sets;
    if (!this.lock(set)) { this.count(C_CONTENDED); return false; }
    let found = false;
    try {
      const s = this.find(set, h, key, keyLength);
      if (s >= 0) { this.i32[this.metaBase + s * META + M_FLAGS] = 0; found = true; }
    } finally {
      this.unlock(set);
    }
    if (found) Atomics.sub(this.i32, H_SIZE, 1);
    return found;
  }

  stats(): ShmCacheStats {
    return {
      capacity: this.capacity,
      size: Atomics.load(this.i32, H_SIZE),
      hits: this.read(C_HITS), misses: this.read(C_MISSES), evictions: this.read(C_EVICTIONS),
      oversize: this.read(C_OVERSIZE), contended: this.read(C_CONTENDED), expired: this.read(C_EXPIRED),
      stores: this.read(C_STORES),
      slotBytes: this.slotBytes, bytes: this.buffer.byteLength,
    };
  }

  /** Slot of the key in `set`, or -1. Under the set lock. */
  private find(set: number, h: number, key: Uint8Array, klen: number): number {
    const first = set * this.ways, end = Math.min(first + this.ways, this.capacity);
    const i32 = this.i32, u8 = this.u8;
    for (let s = first; s < end; s++) {
      const m = this.metaBase + s * META;
      if ((i32[m + M_FLAGS] & USED) === 0 || i32[m + M_HASH] !== h || i32[m + M_KLEN] !== klen) continue;
      const at = this.dataOff + s * this.slotBytes;
      let i = 0;
      while (i < klen && u8[at + i] === key[i]) i++;
      if (i === klen) return s;
    }
    return -1;
  }

  /** An empty slot, else an expired one (dropped: counted), else -1. Under the set lock. */
  private freeSlot(set: number): number {
    const first = set * this.ways, end = Math.min(first + this.ways, this.capacity);
    let expired = -1;
    const t = this.now();
    for (let s = first; s < end; s++) {
      if ((this.i32[this.metaBase + s * META + M_FLAGS] & USED) === 0) return s;
      const exp = this.f64[s];
      if (expired < 0 && exp !== 0 && t >= exp) expired = s;
    }
    if (expired >= 0) this.count(C_EXPIRED);
    return expired;
  }

  /** CLOCK: clear referenced bits from the hand on; the first unreferenced slot is the victim. Under the set lock. */
  private victim(set: number): number {
    const first = set * this.ways, n = Math.min(this.ways, this.capacity - first);
    const handAt = (HEADER_BYTES >> 2) + set * 2 + 1;
    let hand = this.i32[handAt] % n;
    for (;;) {
      const m = this.metaBase + (first + hand) * META;
      const f = this.i32[m + M_FLAGS];
      const s = first + hand;
      hand = hand + 1 === n ? 0 : hand + 1;
      if (f & REF) { this.i32[m + M_FLAGS] = f & ~REF; continue; }
      this.i32[handAt] = hand;
      return s;
    }
  }

  private lock(set: number): boolean {
    const at = (HEADER_BYTES >> 2) + set * 2;
    const i32 = this.i32;
    for (let i = 0; i < LOCK_SPINS; i++) {
      // Test before test-and-set: spinning on a plain load keeps the cache line shared.
      if (Atomics.load(i32, at) === 0 && Atomics.compareExchange(i32, at, 0, 1) === 0) return true;
    }
    return false;
  }

  private unlock(set: number): void {
    Atomics.store(this.i32, (HEADER_BYTES >> 2) + set * 2, 0);
  }

  /** 64-bit counter as two Uint32 words: the carry is added after the low word wraps. */
  private count(c: number): void {
    if (Atomics.add(this.u32, c, 1) === 0xffffffff) Atomics.add(this.u32, c + 1, 1);
  }

  private read(c: number): number {
    for (;;) {
      const hi = Atomics.load(this.u32, c + 1), lo = Atomics.load(this.u32, c);
      if (Atomics.load(this.u32, c + 1) === hi) return hi * 2 ** 32 + lo;
    }
  }
}

function check(l: ShmCacheLayout): void {
  if (!Number.isInteger(l.capacity) || l.capacity < 0 || l.capacity > 2 ** 28) throw new RangeError(`ShmCache: capacity must be an integer in [0, 2^28], got ${l.capacity}`);
  if (!Number.isInteger(l.slotBytes) || l.slotBytes < 1 || l.slotBytes > 2 ** 20) throw new RangeError(`ShmCache: slotBytes must be an integer in [1, 2^20], got ${l.slotBytes}`);
  if (l.ways !== undefined && (!Number.isInteger(l.ways) || l.ways < 1 || l.ways > 64)) throw new RangeError(`ShmCache: ways must be an integer in [1, 64], got ${l.ways}`);
}
