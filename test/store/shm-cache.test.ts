/**
 * ShmCache (src/store/shm-cache.ts): bytes -> bytes in one SharedArrayBuffer.
 * Round trips, overwrite and delete; capacity 0; oversize values; TTL expiry
 * on an injected clock; CLOCK keeps entries that keep being hit over a stream
 * of one-off keys; forced hash collisions (a constant hash, and a 1-bit hash
 * under concurrency) never give another key's value; worker threads writing
 * and reading overlapping keys never see a value that is not their key's, nor
 * a torn one; the counters are exact and shared.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { ShmCache, murmur3 } from '../../src/store/shm-cache.ts';

const SHM_URL = new URL('../../src/store/shm-cache.ts', import.meta.url).href;
const te = new TextEncoder();
const td = new TextDecoder();
const b = (s: string) => te.encode(s);
const str = (u: Uint8Array | undefined) => (u === undefined ? undefined : td.decode(u));

function cache(capacity: number, slotBytes = 64, opts: ConstructorParameters<typeof ShmCache>[1] = {}, ways?: number): ShmCache {
  return new ShmCache(ShmCache.create({ capacity, slotBytes, ...(ways ? { ways } : {}) }), opts);
}

describe('ShmCache', () => {
  it('stores, overwrites and deletes; a second instance over the same buffer sees the same entries and counters', () => {
    const c = cache(100);
    assert.equal(c.get(b('a')), undefined);
    assert.equal(c.set(b('a'), b('one')), true);
    assert.equal(c.set(b('ab'), b('two')), true);
    assert.equal(str(c.get(b('a'))), 'one');
    assert.equal(str(c.get(b('ab'))), 'two');
    assert.equal(c.set(b('a'), b('uno!')), true);
    assert.equal(str(c.get(b('a'))), 'uno!');
    const other = new ShmCache(c.buffer);
    assert.equal(str(other.get(b('ab'))), 'two');
    assert.equal(other.delete(b('ab')), true);
    assert.equal(c.get(b('ab')), undefined);
    assert.equal(c.delete(b('ab')), false);
    const s = c.stats();
    assert.deepEqual({ size: s.size, capacity: s.capacity, hits: s.hits, misses: s.misses, evictions: s.evictions, stores: s.stores },
      { size: 1, capacity: 100, hits: 4, misses: 2, evictions: 0, stores: 3 });
    assert.equal(s.bytes, ShmCache.bytesFor({ capacity: 100, slotBytes: 64 }));
  });

  it('getInto copies into a caller buffer at an offset with a key prefix of a larger scratch, and allocates no result', () => {
    const c = cache(10);
    const scratch = new Uint8Array(32);
    scratch.set(b('key-1'));
    scratch.set(b('garbage'), 5);
    assert.equal(c.set(scratch, b('value'), 0, 5), true);
    const out = new Uint8Array(16);
    assert.equal(c.getInto(b('key-1'), out, 5, 3), 5);
    assert.equal(td.decode(out.subarray(3, 8)), 'value');
    assert.equal(c.getInto(scratch, out, 6), -1, 'a longer key (the prefix plus one byte) is another key');
    assert.equal(c.getInto(b('key-1'), new Uint8Array(4)), -1, 'a value that does not fit `out` is a miss, never a partial copy');
  });

  it('capacity 0 stores nothing and counts misses', () => {
    const c = cache(0);
    assert.equal(c.set(b('a'), b('x')), false);
    assert.equal(c.get(b('a')), undefined);
    assert.equal(c.delete(b('a')), false);
    const s = c.stats();
    assert.deepEqual([s.size, s.capacity, s.hits, s.misses], [0, 0, 0, 1]);
  });

  it('a key + value over the slot is not cached and is counted; one that fits exactly is', () => {
    const c = cache(4, 16);
    assert.equal(c.set(b('k'), new Uint8Array(16)), false);
    assert.equal(c.get(b('k')), undefined);
    assert.equal(c.stats().oversize, 1);
    assert.equal(c.set(b('k'), new Uint8Array(15).fill(7)), true);
    assert.deepEqual(c.get(b('k')), new Uint8Array(15).fill(7));
  });

  it('TTL: an entry expires at its time (injected clock), others do not; expired slots are reused before evicting', () => {
    let now = 1_000;
    const c = cache(8, 64, { now: () => now }, 8);
    c.set(b('short'), b('s'), 100);
    c.set(b('long'), b('l'), 10_000);
    c.set(b('forever'), b('f'));
    now = 1_099;
    assert.equal(str(c.get(b('short'))), 's');
    now = 1_100;
    assert.equal(c.get(b('short')), undefined);
    assert.equal(str(c.get(b('long'))), 'l');
    assert.equal(str(c.get(b('forever'))), 'f');
    assert.equal(c.stats().expired, 1);
    assert.equal(c.stats().size, 2);
    // Fill the one set: the expired 'long' is reused, nothing evicted.
    now = 20_000;
    for (let i = 0; i < 6; i++) c.set(b(`x${i}`), b('x'));
    assert.equal(c.stats().evictions, 0);
    assert.equal(str(c.get(b('forever'))), 'f');
    assert.equal(c.get(b('long')), undefined);
  });

  it('eviction (CLOCK) keeps entries that keep being hit over a stream of one-off keys', () => {
    const c = cache(256, 32);
    const hot = Array.from({ length: 24 }, (_, i) => b(`hot-${i}`));
    for (const k of hot) c.set(k, k);
    for (let i = 0; i < 5_000; i++) {
      c.set(b(`cold-${i}`), b('c'));
      // Touch every hot key now and then: each is hit at least once per sweep of its set.
      if (i % 4 === 0) for (const k of hot) c.get(k);
    }
    const kept = hot.filter((k) => c.get(k) !== undefined).length;
    assert.equal(kept, hot.length, `hot entries kept: ${kept} of ${hot.length}`);
    const coldKept = Array.from({ length: 1_000 }, (_, i) => c.get(b(`cold-${i}`))).filter((v) => v !== undefined).length;
    assert.equal(coldKept, 0, 'the oldest one-off keys were evicted');
    assert.ok(c.stats().evictions >= 5_000 - 256);
  });

  it('without hits, entries are evicted oldest first within a set (the hand moves on)', () => {
    const c = cache(8, 32, {}, 8);
    for (let i = 0; i < 8; i++) c.set(b(`k${i}`), b('v'));
    c.set(b('new'), b('v'));
    assert.equal(c.get(b('k0')), undefined);
    assert.equal(str(c.get(b('k1'))), 'v');
    assert.equal(c.stats().evictions, 1);
  });

  it('forced hash collisions (a constant hash): every key still gets only its own value', () => {
    // One set of 64 ways: all 63 keys fit, so the later rounds hit, every lookup scanning colliding slots.
    const c = cache(64, 48, { hash: () => 7 }, 64);
    const keys: Uint8Array[] = [];
    for (let i = 0; i < 20; i++) keys.push(b(`k${i}`), b(`k${i}x`), b(`${i}k`));
    keys.push(new Uint8Array(0), new Uint8Array([0]), new Uint8Array([0, 0]));
    let hits = 0;
    for (let round = 0; round < 3; round++) {
      for (const k of keys) {
        const v = c.get(k);
        if (v !== undefined) { hits++; assert.deepEqual(v, k, 'value belongs to its key'); }
        else c.set(k, k);
      }
    }
    assert.equal(hits, 2 * keys.length);
    // And under eviction churn: 600 colliding keys through 8 slots.
    const churn = cache(8, 48, { hash: () => 7 });
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < 600; i++) {
        const k = b(`c${i % 37}-${i}`.slice(0, 1 + (i % 9)));
        const v = churn.get(k);
        if (v !== undefined) assert.deepEqual(v, k, 'value belongs to its key');
        else churn.set(k, k);
      }
    }
    assert.ok(churn.stats().hits > 0 && churn.stats().evictions > 0);
  });

  it('murmur3 matches the reference vectors', () => {
    // From the reference implementation (MurmurHash3_x86_32).
    assert.equal(murmur3(new Uint8Array(0), 0, 0) >>> 0, 0);
    assert.equal(murmur3(new Uint8Array(0), 0, 1) >>> 0, 0x514e28b7);
    assert.equal(murmur3(new Uint8Array([0x21, 0x43, 0x65, 0x87]), 4, 0) >>> 0, 0xf55b516b);
    assert.equal(murmur3(new Uint8Array([0x21, 0x43, 0x65]), 3, 0) >>> 0, 0x7e4a8634);
    assert.equal(murmur3(b('Hello, world!'), 13, 1234) >>> 0, 0xfaf6cdb3);
  });

  it('rejects a buffer that is not one of its own and a bad layout', () => {
    assert.throws(() => new ShmCache(new SharedArrayBuffer(1024)), TypeError);
    assert.throws(() => ShmCache.create({ capacity: -1, slotBytes: 8 }), RangeError);
    assert.throws(() => ShmCache.create({ capacity: 8, slotBytes: 0 }), RangeError);
  });
});

/**
 * Worker body: `ops` random gets and sets on keys k0..k{keys-1}. A value is
 * [key id u32][seq u32][payload of a length and bytes derived from (id, seq)],
 * so a reader can tell a value of another key (wrong id) and a torn one (a
 * length or a byte that does not match its own header).
 */
const HAMMER = `
  const { workerData, parentPort } = require('node:worker_threads');
  (async () => {
    const { register } = await import('tsx/esm/api');
    register();
    const { ShmCache } = await import(workerData.url);
    const { buffer, barrier, ops, keys, workers, weakHash, seed } = workerData;
    const c = new ShmCache(buffer, weakHash ? { hash: (k, n) => k[n - 1] & 1 } : {});
    const gate = new Int32Array(barrier);
    Atomics.add(gate, 0, 1);
    while (Atomics.load(gate, 0) < workers) {}
    let x = seed | 1;
    const rnd = () => { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; return x >>> 0; };
    const keyBuf = new Uint8Array(16), val = new Uint8Array(8 + 300), out = new Uint8Array(c.slotBytes);
    let bad = 0, hits = 0, gets = 0, sets = 0, firstBad = '';
    for (let i = 0; i < ops; i++) {
      const id = rnd() % keys;
      const kl = Buffer.from(keyBuf.buffer).write('k' + id, 0, 'latin1');
      if (rnd() & 1) {
        const seq = rnd() & 0xffff;
        const len = (id * 7 + seq) % 300;
        const dv = new DataView(val.buffer);
        dv.setUint32(0, id, true); dv.setUint32(4, seq, true);
        for (let j = 0; j < len; j++) val[8 + j] = (id * 31 + seq * 17 + j) & 255;
        c.set(keyBuf, val, 0, kl, 8 + len);
        sets++;
      } else {
        gets++;
        const n = c.getInto(keyBuf, out, kl);
        if (n < 0) continue;
        hits++;
        const dv = new DataView(out.buffer);
        const vid = dv.getUint32(0, true), seq = dv.getUint32(4, true);
        let ok = vid === id && n === 8 + ((id * 7 + seq) % 300);
        for (let j = 0; ok && j < n - 8; j++) ok = out[8 + j] === ((id * 31 + seq * 17 + j) & 255);
        if (!ok) { bad++; if (!firstBad) firstBad = 'key ' + id + ' got id ' + vid + ' seq ' + seq + ' length ' + n; }
      }
    }
    parentPort.postMessage({ bad, hits, gets, sets, firstBad });
  })().catch((e) => { parentPort.postMessage({ error: String(e && e.stack || e) }); });
`;

interface HammerResult { bad: number; hits: number; gets: number; sets: number; firstBad: string }

async function hammer(buffer: SharedArrayBuffer, workers: number, ops: number, keys: number, weakHash: boolean): Promise<HammerResult[]> {
  const barrier = new SharedArrayBuffer(4);
  return Promise.all(Array.from({ length: workers }, (_, i) => new Promise<HammerResult>((resolve, reject) => {
    const w = new Worker(HAMMER, { eval: true, workerData: { url: SHM_URL, buffer, barrier, ops, keys, workers, weakHash, seed: 0x9e3779b9 * (i + 1) } });
    w.once('message', (m) => { void w.terminate(); if (m?.error) reject(new Error(m.error)); else resolve(m); });
    w.once('error', reject);
  })));
}

describe('ShmCache across threads', () => {
  for (const weakHash of [false, true]) {
    it(`4 workers writing and reading overlapping keys never see another key's value or a torn one${weakHash ? ' (1-bit hash: everything collides)' : ''}`, async () => {
      const buffer = ShmCache.create({ capacity: 64, slotBytes: 8 + 8 + 300 });
      const results = await hammer(buffer, 4, 60_000, 200, weakHash);
      const bad = results.reduce((a, r) => a + r.bad, 0);
      assert.equal(bad, 0, results.map((r) => r.firstBad).filter(Boolean).join('; '));
      const hits = results.reduce((a, r) => a + r.hits, 0);
      const gets = results.reduce((a, r) => a + r.gets, 0);
      assert.ok(hits > 1_000, `enough hits to mean something: ${hits}`);
      // The counters live in the buffer: exact totals over every thread.
      const s = new ShmCache(buffer).stats();
      assert.equal(s.hits, hits);
      assert.equal(s.hits + s.misses, gets);
      assert.ok(s.size <= 64 && s.size > 0);
    });
  }
});
