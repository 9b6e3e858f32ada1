/**
 * Contract suite every embedder passes (hono's common.case.test.ts habit):
 * call `embedderContract(name, factory)` from a *.test.ts file.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Embedder } from '../../src/routing/embedders/types.ts';
import { isSyncEmbedder } from '../../src/routing/embedders/types.ts';

function norm(v: Float32Array): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i] * v[i];
  return Math.sqrt(s);
}
function cos(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s / (norm(a) * norm(b));
}

export interface ContractOptions {
  /** Whether the embedder is expected to place paraphrases closer than unrelated text. */
  semantic: boolean;
}

export function embedderContract(
  name: string,
  factory: () => Promise<Embedder>,
  opts: ContractOptions = { semantic: true },
): void {
  describe(`embedder contract: ${name}`, () => {
    let e: Embedder;
    before(async () => { e = await factory(); });
    after(async () => { await e.close(); await e.close(); /* idempotent */ });

    it('exposes id, dim and hash', () => {
      assert.equal(typeof e.id, 'string');
      assert.ok(e.id.length > 0);
      assert.ok(Number.isInteger(e.dim) && e.dim > 0);
      assert.match(e.hash, /^[0-9a-f]{16,}$/);
    });

    it('returns finite L2-normalised vectors of length dim', async () => {
      for (const t of ['hello world', 'Prove that the square root of 2 is irrational.', 'x'.repeat(5000), 'ünïcødé 日本語 テキスト 🙂']) {
        const v = await e.embed(t);
        assert.ok(v instanceof Float32Array);
        assert.equal(v.length, e.dim);
        for (const x of v) assert.ok(Number.isFinite(x));
        assert.ok(Math.abs(norm(v) - 1) < 1e-4, `norm ${norm(v)} for ${t.slice(0, 20)}`);
      }
    });

    it('handles empty and whitespace-only text with a finite vector', async () => {
      for (const t of ['', '   \n\t ']) {
        const v = await e.embed(t);
        assert.equal(v.length, e.dim);
        for (const x of v) assert.ok(Number.isFinite(x));
      }
    });

    it('is deterministic', async () => {
      const a = await e.embed('Write a function to reverse a linked list.');
      const b = await e.embed('Write a function to reverse a linked list.');
      assert.deepEqual(a, b);
    });

    it('embedMany matches embed row by row and keeps order', async () => {
      const texts = ['first prompt about cooking pasta', 'second: sort a list in python', 'third one', ''];
      const m = await e.embedMany(texts);
      assert.equal(m.length, texts.length * e.dim);
      for (let i = 0; i < texts.length; i++) {
        const single = await e.embed(texts[i]);
        const row = m.subarray(i * e.dim, (i + 1) * e.dim);
        for (let j = 0; j < e.dim; j++) assert.ok(Math.abs(row[j] - single[j]) < 1e-4, `row ${i} dim ${j}`);
      }
      assert.equal((await e.embedMany([])).length, 0);
    });

    if (opts.semantic) {
      it('places similar prompts closer than unrelated ones', async () => {
        const a = await e.embed('Write a Python function that returns the sum of a list of integers.');
        const b = await e.embed('Write a python function to compute the sum of all integers in a list.');
        const c = await e.embed('Which gas do plants absorb from the air during photosynthesis?');
        assert.ok(cos(a, b) > cos(a, c) + 0.1, `similar ${cos(a, b)} vs unrelated ${cos(a, c)}`);
      });
    }

    it('embedSync, when offered, equals embed and writes into a caller buffer', async (t) => {
      if (!isSyncEmbedder(e)) { t.skip('no synchronous path'); return; }
      const out = new Float32Array(e.dim);
      const r = e.embedSync('route this prompt', out);
      assert.equal(r, out);
      assert.deepEqual(r, await e.embed('route this prompt'));
    });
  });
}
