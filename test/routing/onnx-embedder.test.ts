/**
 * OnnxEmbedder end to end on the tiny generated BERT (no download): the
 * contract suite, ORT vs an independent JS forward pass, pooling by hand,
 * truncation, batching/padding, and load-time errors.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import onnxProto from 'onnx-proto';
import type { onnx as P } from 'onnx-proto';
import { Tokenizer } from '@huggingface/tokenizers';
import { makeTestOnnxModel, type TestModel } from '../../src/routing/embedders/onnx-testmodel.ts';
import { OnnxEmbedder, type Encoded } from '../../src/routing/embedders/onnx.ts';
import { embedderContract } from './embedder-contract.ts';
import { referenceForward } from './onnx-reference.ts';

const { onnx } = onnxProto;

// Shared by the contract suite's own `before` and ours, whichever runs first.
let root = '';
const ready: Promise<TestModel> = (async () => {
  root = await mkdtemp(join(tmpdir(), 'switchyard-onnx-'));
  return makeTestOnnxModel(join(root, 'tiny-bert'));
})();
let model: TestModel;
before(async () => { model = await ready; });
after(async () => { await ready; await rm(root, { recursive: true, force: true }); });

embedderContract('onnx test model', async () => OnnxEmbedder.load((await ready).dir), { semantic: false });

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** sentence-transformers pooling written out: mean of rows where mask = 1, then divide by the L2 norm. */
function poolByHand(hidden: ArrayLike<number>, mask: ArrayLike<bigint | number>, row: number, seq: number, dim: number): Float64Array {
  const v = new Float64Array(dim);
  let count = 0;
  for (let t = 0; t < seq; t++) {
    if (Number(mask[row * seq + t]) === 0) continue;
    count++;
    for (let j = 0; j < dim; j++) v[j] += hidden[(row * seq + t) * dim + j];
  }
  const n = Math.hypot(...v.map((x) => x / count));
  return v.map((x) => x / count / n);
}

/** Right-pads a batch the way the embedder does, for the reference pass. */
function pad(batch: Encoded[]): { ids: number[][]; mask: number[][]; types: number[][]; seq: number } {
  const seq = Math.max(...batch.map((b) => b.ids.length));
  const fill = (xs: number[], v: number) => [...xs, ...new Array<number>(seq - xs.length).fill(v)];
  return {
    ids: batch.map((b) => fill(b.ids, 0)),
    mask: batch.map((b) => fill(b.ids.map(() => 1), 0)),
    types: batch.map((b) => fill(b.typeIds, 0)),
    seq,
  };
}

/** The decoded graph; the generated model always has all three lists. */
type Graph = { input: P.IValueInfoProto[]; output: P.IValueInfoProto[]; node: Array<P.INodeProto & { input: string[]; output: string[] }> };

/** Rewrites the generated graph (decode, edit, encode) to make variant models. */
async function mutateModel(dir: string, edit: (g: Graph) => void): Promise<void> {
  const m = onnx.ModelProto.decode(await readFile(join(dir, 'model.onnx')));
  edit(m.graph as unknown as Graph);
  await writeFile(join(dir, 'model.onnx'), onnx.ModelProto.encode(m).finish());
}

async function copyModel(name: string): Promise<string> {
  const dir = join(root, name);
  await cp(model.dir, dir, { recursive: true });
  return dir;
}

const TEXTS = [
  'hello',
  'Write a function to sort the list in python, then return the sum.',
  'Prove that the square root of 2 is irrational!',
  'reversing quickly 日本語 🙂 (with odd pieces)',
  '',
];
// Each of these is one vocab entry, so N words are exactly N tokens.
const ONE_TOKEN_WORDS = 'write a function to sort the list in python and return the sum of all'.split(' ');

describe('OnnxEmbedder on the generated tiny BERT', () => {
  let e: OnnxEmbedder;
  before(async () => { e = await OnnxEmbedder.load(model.dir); });
  after(async () => { await e.close(); });

  it('takes id, dim and maxLength from the model directory', async () => {
    assert.equal(e.id, `onnx:${basename(model.dir)}`);
    assert.equal(e.dim, model.config.hidden);
    assert.equal(e.maxLength, model.config.maxLength);
    const again = await OnnxEmbedder.load(model.dir);
    const shorter = await OnnxEmbedder.load(model.dir, { maxLength: 8 });
    assert.equal(again.hash, e.hash, 'hash is a pure function of the files');
    assert.notEqual(shorter.hash, e.hash, 'maxLength is part of the hash');
    await again.close();
    await shorter.close();
  });

  it('onnxruntime last_hidden_state equals the plain-JS BERT forward pass', async () => {
    const batch = TEXTS.map((t) => e.encode(t));
    // One row with token_type_ids = 1 on its second half exercises the type-embedding path too.
    const typed = e.encode('the second segment of this sentence');
    batch.push({ ids: typed.ids, typeIds: typed.ids.map((_, i) => (i >= typed.ids.length / 2 ? 1 : 0)) });
    const { out, seq } = await e.hiddenStates(batch);
    const p = pad(batch);
    assert.deepEqual(out.dims, [batch.length, seq, model.config.hidden]);
    const ref = referenceForward(model.config, model.weights, p.ids, p.mask, p.types);
    const d = maxAbsDiff(out.data as Float32Array, ref);
    assert.ok(d < 1e-4, `max |ORT - reference| = ${d}`);
  });

  it('embeddings are mean pooling over the attention mask + L2 norm of last_hidden_state', async () => {
    const batch = TEXTS.map((t) => e.encode(t));
    const p = pad(batch);
    const ref = referenceForward(model.config, model.weights, p.ids, p.mask, p.types);
    const mask = p.mask.flat();
    const got = await e.embedMany(TEXTS);
    for (let r = 0; r < TEXTS.length; r++) {
      const want = poolByHand(ref, mask, r, p.seq, e.dim);
      const d = maxAbsDiff(got.subarray(r * e.dim, (r + 1) * e.dim), want);
      assert.ok(d < 1e-5, `row ${r} (${JSON.stringify(TEXTS[r])}): max diff ${d}`);
    }
  });

  it('truncates to maxLength, keeping [CLS] ... [SEP]', async () => {
    const L = e.maxLength;
    const words = Array.from({ length: 40 * L }, (_, i) => ONE_TOKEN_WORDS[i % ONE_TOKEN_WORDS.length]);
    const long = words.join(' ');
    const cut = words.slice(0, L - 2).join(' ');
    const enc = e.encode(long);
    assert.equal(enc.ids.length, L);
    assert.equal(enc.ids[0], model.vocab.indexOf('[CLS]'));
    assert.equal(enc.ids[L - 1], model.vocab.indexOf('[SEP]'));
    assert.deepEqual(enc.ids, e.encode(cut).ids);
    assert.deepEqual(await e.embed(long), await e.embed(cut));
    assert.notDeepEqual(await e.embed(words.slice(0, L - 3).join(' ')), await e.embed(cut));
  });

  it('prefix tokenisation of long texts gives the same ids as tokenising everything', async () => {
    const tok = new Tokenizer(JSON.parse(await readFile(join(model.dir, 'tokenizer.json'), 'utf8')), {});
    const pool = ['reversing', 'the', 'lists,', 'photosynthesis!', '日本語', '🙂', 'x'.repeat(150), 'a\tb\nc', 'Ünïcødé', '...', 'integers'];
    let seed = 7;
    const pick = () => pool[(seed = (seed * 48271) % 2147483647) % pool.length];
    for (const n of [1, 5, 20, 60, 200, 2000]) {
      const text = Array.from({ length: n }, pick).join(' ');
      const full = tok.encode(text, { add_special_tokens: false }).ids.slice(0, e.maxLength - 2);
      assert.deepEqual(e.encode(text).ids, [2, ...full, 3], `${n} words`);
    }
    // No whitespace at all: the shortcut must not cut inside the one giant word (>100 chars is [UNK]).
    assert.deepEqual(e.encode('x'.repeat(5000)).ids, [2, 1, 3]);
  });

  it('maxLength option overrides tokenizer.json and is capped by max_position_embeddings', async () => {
    const small = await OnnxEmbedder.load(model.dir, { maxLength: 8 });
    const big = await OnnxEmbedder.load(model.dir, { maxLength: 100_000 });
    const long = ONE_TOKEN_WORDS.join(' ').repeat(20);
    assert.equal(small.encode(long).ids.length, 8);
    assert.equal(big.maxLength, model.config.maxPositions);
    assert.equal(big.encode(long).ids.length, model.config.maxPositions);
    assert.equal((await big.embed(long)).length, big.dim, 'runs at the full position table');
    await small.close();
    await big.close();
  });

  it('batching pads without leaking padding into the mean', async () => {
    const texts = ['hi', ...TEXTS, ONE_TOKEN_WORDS.join(' ').repeat(10)];
    const m = await e.embedMany(texts);
    for (let i = 0; i < texts.length; i++) {
      const d = maxAbsDiff(m.subarray(i * e.dim, (i + 1) * e.dim), await e.embed(texts[i]));
      assert.ok(d < 1e-5, `row ${i}: ${d}`);
    }
    // More rows than one session.run takes: split batches keep order.
    const many = Array.from({ length: 150 }, (_, i) => ONE_TOKEN_WORDS.slice(0, 1 + (i % 12)).join(' '));
    const mm = await e.embedMany(many);
    for (const i of [0, 63, 64, 65, 149]) {
      assert.ok(maxAbsDiff(mm.subarray(i * e.dim, (i + 1) * e.dim), await e.embed(many[i])) < 1e-5, `row ${i}`);
    }
  });

  it('works with a model that has no token_type_ids input', async () => {
    const dir = await copyModel('no-token-types');
    // token_type_ids becomes an internal tensor (input_ids * 0) instead of a graph input.
    await mutateModel(dir, (g) => {
      g.input = g.input.filter((i) => i.name !== 'token_type_ids');
      g.node.unshift(onnx.NodeProto.create({ opType: 'Mul', input: ['input_ids', 'zero_scalar'], output: ['token_type_ids'], name: 'zero_types' }));
    });
    const e2 = await OnnxEmbedder.load(dir);
    assert.ok(maxAbsDiff(await e2.embedMany(TEXTS), await e.embedMany(TEXTS)) < 1e-6);
    await e2.close();
  });

  it('threads option changes speed, not output', async () => {
    const e2 = await OnnxEmbedder.load(model.dir, { threads: 2 });
    assert.equal(e2.hash, e.hash);
    assert.ok(maxAbsDiff(await e2.embedMany(TEXTS), await e.embedMany(TEXTS)) < 1e-6);
    await e2.close();
  });

  it('refuses use after close', async () => {
    const e2 = await OnnxEmbedder.load(model.dir);
    await e2.close();
    await assert.rejects(e2.embed('x'), /after close/);
  });
});

describe('OnnxEmbedder load errors name the file and the problem', () => {
  it('missing model.onnx / tokenizer.json', async () => {
    const empty = join(root, 'empty');
    await mkdir(empty, { recursive: true });
    await assert.rejects(OnnxEmbedder.load(empty), (err: Error) => /model\.onnx not found/.test(err.message) && err.message.includes(empty));
    const noTok = join(root, 'no-tokenizer');
    await mkdir(noTok, { recursive: true });
    await cp(join(model.dir, 'model.onnx'), join(noTok, 'model.onnx'));
    await assert.rejects(OnnxEmbedder.load(noTok), /no-tokenizer\/tokenizer\.json not found/);
  });

  it('corrupt model.onnx', async () => {
    const dir = await copyModel('corrupt-model');
    await writeFile(join(dir, 'model.onnx'), 'this is not a protobuf');
    await assert.rejects(OnnxEmbedder.load(dir), /corrupt-model\/model\.onnx could not be loaded by onnxruntime/);
  });

  it('tokenizer.json that is not JSON, or not a tokenizer', async () => {
    const dir = await copyModel('bad-tokenizer');
    await writeFile(join(dir, 'tokenizer.json'), '{ nope');
    await assert.rejects(OnnxEmbedder.load(dir), /bad-tokenizer\/tokenizer\.json is not valid JSON/);
    await writeFile(join(dir, 'tokenizer.json'), '{"version": "1.0"}');
    await assert.rejects(OnnxEmbedder.load(dir), /tokenizer\.json is not a usable tokenizer/);
  });

  it('model without the expected inputs / outputs', async () => {
    const outDir = await copyModel('wrong-output');
    await mutateModel(outDir, (g) => {
      g.output[0].name = 'logits';
      g.node.at(-1)!.output = ['logits'];
    });
    await assert.rejects(OnnxEmbedder.load(outDir), /wrong-output\/model\.onnx has outputs \[logits\]; expected .*last_hidden_state/);

    const inDir = await copyModel('wrong-input');
    await mutateModel(inDir, (g) => {
      g.input[0].name = 'ids';
      for (const n of g.node) n.input = n.input.map((x) => (x === 'input_ids' ? 'ids' : x));
    });
    await assert.rejects(OnnxEmbedder.load(inDir), /wrong-input\/model\.onnx has inputs \[ids, attention_mask, token_type_ids\]; expected input_ids/);
  });
});
