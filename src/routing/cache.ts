/**
 * A small O(1) LRU cache on Map's insertion order: a hit re-inserts the key
 * (delete + set moves it to the newest end), an insert over capacity evicts
 * the first key in iteration order (the least recently used). No linked list
 * of our own: V8's ordered hash table already is one, and delete + set on a
 * Map costs ~100 ns, well under the microseconds a cached decision saves.
 *
 * Capacity 0 disables the cache (get always misses, set stores nothing).
 * Counters are cumulative for /health; they never reset.
 */
export class LruCache<K, V> {
  private readonly map = new Map<K, V>();
  hits = 0;
  misses = 0;
  evictions = 0;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 0) throw new RangeError(`LruCache: capacity must be an integer >= 0, got ${capacity}`);
  }

  get size(): number { return this.map.size; }

  get(key: K): V | undefined {
    const v = this.map.get(key);
    if (v === undefined) { this.misses++; return undefined; }
    this.hits++;
    this.map.delete(key);
    this.map.set(key, v);
    return v;
  }

  /** Looks without counting or refreshing recency (tests, diagnostics). */
  peek(key: K): V | undefined { return this.map.get(key); }

  set(key: K, value: V): void {
    if (this.capacity === 0) return;
    if (this.map.has(key)) this.map.delete(key);
    else if (this.map.size >= this.capacity) {
      // Map iteration starts at the oldest insertion: that is the LRU entry.
      this.map.delete(this.map.keys().next().value as K);
      this.evictions++;
    }
    this.map.set(key, value);
  }

  delete(key: K): boolean { return this.map.delete(key); }

  clear(): void { this.map.clear(); }

  /** Keys from least to most recently used. */
  keys(): IterableIterator<K> { return this.map.keys(); }
}
