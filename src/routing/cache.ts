/**
 * A small O(1) LRU cache: a Map from key to slot, and the recency order as a
 * doubly linked list of slot numbers in two Int32Arrays.
 *
 * Why not Map insertion order alone (the previous version: a hit re-inserts,
 * eviction deletes `map.keys().next().value`)? V8's ordered hash table leaves a
 * hole for every deleted entry and compacts only when it rehashes, and an
 * iterator starts at slot 0 and steps over every hole. With unique prompts every
 * insert evicts, the holes pile up at the front, and each eviction walked
 * thousands of them: ~4 µs per miss at capacity 10,000 (8% of busy time under
 * the unique-prompt load), against ~0.15-0.2 µs here (miss + set of 200k unique
 * 220-char keys, dev machine). Here a hit only relinks two slots (no Map write),
 * and an eviction deletes the tail's key (its string hash is cached) and reuses
 * the slot. The Map still collects holes on delete, but nothing iterates it:
 * they cost only at V8's own amortised rehash.
 *
 * Slots grow by doubling up to capacity, so a 10M-entry configuration does not
 * allocate 80 MB of links up front.
 *
 * Capacity 0 disables the cache (get always misses, set stores nothing).
 * Counters are cumulative for /health; they never reset.
 */
const NONE = -1;

export class LruCache<K, V> {
  private readonly map = new Map<K, number>();
  private keyAt: (K | undefined)[] = [];
  private valueAt: (V | undefined)[] = [];
  /** Towards the most recent / the least recent end. */
  private newer = new Int32Array(0);
  private older = new Int32Array(0);
  /** Most and least recently used slots. */
  private head = NONE;
  private tail = NONE;
  private used = 0;
  hits = 0;
  misses = 0;
  evictions = 0;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 0) throw new RangeError(`LruCache: capacity must be an integer >= 0, got ${capacity}`);
  }

  get size(): number { return this.map.size; }

  get(key: K): V | undefined {
    const s = this.map.get(key);
    if (s === undefined) { this.misses++; return undefined; }
    this.hits++;
    if (s !== this.head) { this.unlink(s); this.pushHead(s); }
    return this.valueAt[s];
  }

  /** Looks without counting or refreshing recency (tests, diagnostics). */
  peek(key: K): V | undefined {
    const s = this.map.get(key);
    return s === undefined ? undefined : this.valueAt[s];
  }

  set(key: K, value: V): void {
    if (this.capacity === 0) return;
    let s = this.map.get(key);
    if (s !== undefined) {
      this.valueAt[s] = value;
      if (s !== this.head) { this.unlink(s); this.pushHead(s); }
      return;
    }
    if (this.used < this.capacity) {
      s = this.used++;
      if (s >= this.newer.length) this.grow();
    } else {
      s = this.tail;
      this.map.delete(this.keyAt[s] as K);
      this.unlink(s);
      this.evictions++;
    }
    this.keyAt[s] = key;
    this.valueAt[s] = value;
    this.map.set(key, s);
    this.pushHead(s);
  }

  delete(key: K): boolean {
    const s = this.map.get(key);
    if (s === undefined) return false;
    this.map.delete(key);
    this.unlink(s);
    // Move the last used slot into the hole so slots stay dense (0..used-1).
    const last = --this.used;
    if (s !== last) {
      const k = this.keyAt[last] as K;
      this.keyAt[s] = k;
      this.valueAt[s] = this.valueAt[last];
      this.map.set(k, s);
      const n = this.newer[last], o = this.older[last];
      this.newer[s] = n; this.older[s] = o;
      if (n === NONE) this.head = s; else this.older[n] = s;
      if (o === NONE) this.tail = s; else this.newer[o] = s;
    }
    this.keyAt[last] = undefined;
    this.valueAt[last] = undefined;
    return true;
  }

  clear(): void {
    this.map.clear();
    this.keyAt = [];
    this.valueAt = [];
    this.head = this.tail = NONE;
    this.used = 0;
  }

  /** Keys from least to most recently used. */
  *keys(): IterableIterator<K> {
    for (let s = this.tail; s !== NONE; s = this.newer[s]) yield this.keyAt[s] as K;
  }

  private grow(): void {
    const n = Math.min(this.capacity, Math.max(16, this.newer.length * 2));
    const newer = new Int32Array(n), older = new Int32Array(n);
    newer.set(this.newer); older.set(this.older);
    this.newer = newer; this.older = older;
  }

  private unlink(s: number): void {
    const n = this.newer[s], o = this.older[s];
    if (n === NONE) this.head = o; else this.older[n] = o;
    if (o === NONE) this.tail = n; else this.newer[o] = n;
  }

  private pushHead(s: number): void {
    this.newer[s] = NONE;
    this.older[s] = this.head;
    if (this.head === NONE) this.tail = s; else this.newer[this.head] = s;
    this.head = s;
  }
}
