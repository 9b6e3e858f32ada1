import { describe, it } from 'node:test';
import { createHash } from 'node:crypto';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { embedderContract } from './embedder-contract.ts';
import { fitNativeTables, NativeEmbedder, saveNativeEmbedder, loadNativeTables, FeatureHasher, projEntry, DEFAULT_NATIVE_PARAMS } from '../../src/routing/embedders/native.ts';
import { DEFAULT_PROFILE_DIR } from '../../src/fit/options.ts';

const corpus = [
  'Write a python function to find the sum of a list.',
  'Write a function to reverse a string in Python.',
  'Which gas do plants take in during photosynthesis?',
  'What causes the seasons on Earth?',
  'Ian ate the soup because _ was hungry. A) Ian B) Dennis',
];

embedderContract('native (fitted on a small corpus)', async () => new NativeEmbedder(fitNativeTables(corpus)));
embedderContract('native (shipped default tables)', async () => new NativeEmbedder(loadNativeTables(DEFAULT_PROFILE_DIR)));

describe('native embedder', () => {
  it('embeds bit for bit as the build the shipped profile was fitted with (golden digest)', () => {
    // The default profile's centroids were fitted on these exact vectors: a hot-path
    // rewrite must not move a single float32 bit. Re-fitting the shipped tables changes it.
    const e = new NativeEmbedder(loadNativeTables(DEFAULT_PROFILE_DIR));
    const h = createHash('sha256');
    const texts = ['Write a Python function that reverses a linked list in place.', 'What is the capital of Australia?', 'x',
      'def fib(n): return n if n < 2 else fib(n-1) + fib(n-2)', 'Ünïcödé — text, with punctuation!!! and   spaces',
      'a b a b a b a b '.repeat(40), 'The quick brown fox jumps over the lazy dog. '.repeat(100)];
    for (const t of texts) { const v = e.embedSync(t); h.update(new Uint8Array(v.buffer, v.byteOffset, v.byteLength)); }
    // Re-fitted 2026-12-05 with --select last_question (issue 13); the embedding code did not change
    // (the previous tables still gave 5cdecd76... with this build).
    assert.equal(h.digest('hex'), 'b61f73273fec09ef7eb3da74e6b5da79a7838a858c7805a3a3a758275dcb4c8f');
  });

  it('is 384-d by default and identifies itself', () => {
    const e = new NativeEmbedder(fitNativeTables(corpus));
    assert.equal(e.dim, 384);
    assert.equal(e.id, 'native-hashgram-v1');
  });

  it('round-trips through disk with the same hash and vectors', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sy-native-'));
    const t = fitNativeTables(corpus);
    const hash = saveNativeEmbedder(dir, t);
    const a = new NativeEmbedder(t), b = new NativeEmbedder(loadNativeTables(dir));
    assert.equal(b.hash, hash);
    assert.deepEqual(await b.embed('reverse a list'), await a.embed('reverse a list'));
  });

  it('refuses tables whose bytes do not match the manifest hash, naming the problem', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sy-native-'));
    saveNativeEmbedder(dir, fitNativeTables(corpus));
    const idf = readFileSync(join(dir, 'idf.f32'));
    idf[100] ^= 0xff;
    writeFileSync(join(dir, 'idf.f32'), idf);
    assert.throws(() => loadNativeTables(dir), /hash mismatch/);
    writeFileSync(join(dir, 'idf.f32'), idf.subarray(0, 1000));
    assert.throws(() => loadNativeTables(dir), /idf\.f32 is 1000 bytes, expected/);
  });

  it('learns IDF: a word in every document weighs less than a rare one', () => {
    const docs = Array.from({ length: 50 }, (_, i) => `common words here topic${i}`);
    const e = new NativeEmbedder(fitNativeTables(docs));
    const h = new FeatureHasher(18);
    const idf = new Float32Array(e.tables.buffer, 0, 1 << 18);
    h.hash('common'); const common = h.out[0];
    h.hash('topic7'); const rare = h.out[0];
    assert.ok(idf[common] < idf[rare], `${idf[common]} < ${idf[rare]}`);
  });

  it('shares its tables: a second instance over the same SharedArrayBuffer agrees without copying', async () => {
    const t = fitNativeTables(corpus);
    assert.ok(t.buffer instanceof SharedArrayBuffer);
    const a = new NativeEmbedder(t), b = new NativeEmbedder({ params: t.params, buffer: t.buffer });
    assert.deepEqual(a.embedSync('same text'), b.embedSync('same text'));
  });

  it('projection: projEntry is the splitmix32 stream, and embeddings follow it for any dim', () => {
    // splitmix32 stepped sequentially, as the projection table used to be filled.
    const seed = 0x5eed;
    let st = seed;
    const seq = (): number => {
      st = (st + 0x9e3779b9) >>> 0;
      let z = st;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    for (let i = 0; i < 5000; i++) { const r = seq(); assert.equal(projEntry(seed, 384, i), (r % 384) | ((r >>> 16) & 0x8000)); }
    // A naive embedding from projEntry equals the embedder's, for 384 (its fast path) and other dims.
    for (const dim of [384, 100, 64]) {
      const e = new NativeEmbedder(fitNativeTables(corpus, { ...DEFAULT_NATIVE_PARAMS, dim }));
      const { nnz, bits } = e.tables.params;
      const idf = new Float32Array(e.tables.buffer, 0, 1 << bits);
      const text = 'Write a function to reverse a string in Python, then reverse it again.';
      const h = new FeatureHasher(bits);
      const k = h.hash(text);
      const tf = new Map<number, number>();
      for (let i = 0; i < k; i++) tf.set(h.out[i], (tf.get(h.out[i]) ?? 0) + 1);
      const ref = new Float64Array(dim);
      for (const [f, c] of tf) {
        const w = (1 + Math.log(c)) * idf[f] / Math.sqrt(nnz);
        for (let j = 0; j < nnz; j++) { const p = projEntry(e.tables.params.seed, dim, f * nnz + j); ref[p & 0x7fff] += p & 0x8000 ? -w : w; }
      }
      const norm = Math.hypot(...ref);
      const got = e.embedSync(text);
      assert.equal(got.length, dim);
      for (let i = 0; i < dim; i++) assert.ok(Math.abs(got[i] - ref[i] / norm) < 1e-5, `dim ${dim}, [${i}]: ${got[i]} vs ${ref[i] / norm}`);
    }
  });

  it('is case- and whitespace-insensitive but not order-blind', () => {
    const e = new NativeEmbedder(fitNativeTables(corpus));
    assert.deepEqual(e.embedSync('Hello   World'), e.embedSync('hello world'));
    assert.notDeepEqual(e.embedSync('dog bites man'), e.embedSync('man bites dog'));
  });
});
