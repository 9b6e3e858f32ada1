/**
 * Generates a tiny random-weight BERT encoder as ONNX plus a WordPiece
 * tokenizer.json, so the ONNX embedder path is tested end to end without a
 * network or a 90 MB download. Weights come from a seeded PRNG, so the same
 * options always produce byte-identical files (and the same embedder hash).
 *
 * The graph is the standard BERT encoder (what HF exports as
 * `last_hidden_state`): word + position + token-type embeddings, LayerNorm,
 * then per layer multi-head self-attention with the additive (1-mask)*-1e4
 * mask, residual + LayerNorm, GELU(erf) FFN, residual + LayerNorm.
 *
 * Test tooling only: `onnx-proto` is a devDependency and nothing on the
 * serving path imports this file.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import type { onnx as P } from 'onnx-proto';
import { mulberry32 } from '../../seeded-random.ts';

// onnx-proto is CommonJS with `module.exports = root`, so only the default import works from ESM.
const { onnx } = onnxProto;

export interface TestModelOptions {
  hidden?: number;
  layers?: number;
  heads?: number;
  intermediate?: number;
  /** max_position_embeddings: size of the position table. */
  maxPositions?: number;
  /** tokenizer.json truncation.max_length. */
  maxLength?: number;
  seed?: number;
}

export interface TestModelConfig {
  hidden: number;
  layers: number;
  heads: number;
  intermediate: number;
  maxPositions: number;
  maxLength: number;
  vocabSize: number;
  typeVocabSize: number;
  layerNormEps: number;
}

export interface LayerWeights {
  wq: Float32Array; bq: Float32Array; wk: Float32Array; bk: Float32Array;
  wv: Float32Array; bv: Float32Array; wo: Float32Array; bo: Float32Array;
  ln1g: Float32Array; ln1b: Float32Array;
  w1: Float32Array; b1: Float32Array; w2: Float32Array; b2: Float32Array;
  ln2g: Float32Array; ln2b: Float32Array;
}

/** Row-major weights, MatMul convention x[.., in] @ W[in, out]. */
export interface TestModelWeights {
  wordEmb: Float32Array; // [vocab, hidden]
  posEmb: Float32Array; // [maxPositions, hidden]
  typeEmb: Float32Array; // [typeVocab, hidden]
  embLnG: Float32Array; embLnB: Float32Array;
  layers: LayerWeights[];
}

export interface TestModel {
  dir: string;
  config: TestModelConfig;
  weights: TestModelWeights;
  vocab: string[];
  /** Size of model.onnx in bytes. */
  modelBytes: number;
}

// ---------------------------------------------------------------- vocabulary

const SPECIALS = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'];
const WORDS = (
  'the of and to a in is it you that he was for on are with as i his they be at one have this from ' +
  'or had by not word but what some we can out other were all there when up use your how said an each ' +
  'she which do their time if will way about many then them write would like so these her long make ' +
  'thing see him two has look more day could go come did number sound no most people my over know water ' +
  'than call first who may down side been now find any new work part take get place made live where after ' +
  'back little only round man year came show every good me give our under name very through just form ' +
  'sentence great think say help low line differ turn cause much mean before move right boy old too same ' +
  'tell does set three want air well also play small end put home read hand port large spell add even ' +
  'land here must big high such follow act why ask men change went light kind off need house picture try ' +
  'us again animal point mother world near build self earth father function list python code sort sum ' +
  'prompt route model prove square root irrational hello reverse linked cooking pasta second third plants ' +
  'gas absorb photosynthesis integers compute return question answer'
).split(' ');
const SUFFIXES = ['s', 'es', 'ed', 'ing', 'ly', 'er', 'est', 'tion', 'ness', 'ment'];

/** Letters and digits, whole and as '##' pieces, guarantee any ASCII word tokenises without [UNK]. */
export function testVocab(): string[] {
  const v = [...SPECIALS];
  const seen = new Set(v);
  const add = (t: string) => { if (!seen.has(t)) { seen.add(t); v.push(t); } };
  for (const c of '.,!?;:\'"()-/') add(c);
  for (const c of '0123456789abcdefghijklmnopqrstuvwxyz') add(c);
  for (const c of '0123456789abcdefghijklmnopqrstuvwxyz') add('##' + c);
  for (const s of SUFFIXES) add('##' + s);
  for (const w of WORDS) add(w);
  return v;
}

function tokenizerJson(vocab: string[], maxLength: number): object {
  const id = (t: string) => vocab.indexOf(t);
  return {
    version: '1.0',
    truncation: { direction: 'Right', max_length: maxLength, strategy: 'LongestFirst', stride: 0 },
    padding: null,
    added_tokens: SPECIALS.map((content) => ({
      id: id(content), content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true,
    })),
    normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase: true },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '[CLS]', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '[SEP]', type_id: 0 } }],
      pair: [
        { SpecialToken: { id: '[CLS]', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '[SEP]', type_id: 0 } },
        { Sequence: { id: 'B', type_id: 1 } }, { SpecialToken: { id: '[SEP]', type_id: 1 } },
      ],
      special_tokens: {
        '[CLS]': { id: '[CLS]', ids: [id('[CLS]')], tokens: ['[CLS]'] },
        '[SEP]': { id: '[SEP]', ids: [id('[SEP]')], tokens: ['[SEP]'] },
      },
    },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: {
      type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##', max_input_chars_per_word: 100,
      vocab: Object.fromEntries(vocab.map((t, i) => [t, i])),
    },
  };
}

// ---------------------------------------------------------------- weights


function makeWeights(c: TestModelConfig, seed: number): TestModelWeights {
  const u = mulberry32(seed);
  const normal = () => Math.sqrt(-2 * Math.log(1 - u())) * Math.cos(2 * Math.PI * u());
  const randn = (n: number, std: number, mean = 0) => Float32Array.from({ length: n }, () => mean + std * normal());
  const H = c.hidden, I = c.intermediate;
  // std 1/sqrt(fan_in) keeps activations O(1) so attention is far from uniform
  // and every op (softmax, erf) is exercised in its non-trivial range.
  const sH = 1 / Math.sqrt(H), sI = 1 / Math.sqrt(I);
  // Non-trivial LayerNorm gain/bias so a wrong gamma/beta wiring shows up.
  const lnG = () => randn(H, 0.1, 1), lnB = () => randn(H, 0.1);
  return {
    wordEmb: randn(c.vocabSize * H, 1), posEmb: randn(c.maxPositions * H, 1), typeEmb: randn(c.typeVocabSize * H, 1),
    embLnG: lnG(), embLnB: lnB(),
    layers: Array.from({ length: c.layers }, () => ({
      wq: randn(H * H, sH), bq: randn(H, 0.1), wk: randn(H * H, sH), bk: randn(H, 0.1),
      wv: randn(H * H, sH), bv: randn(H, 0.1), wo: randn(H * H, sH), bo: randn(H, 0.1),
      ln1g: lnG(), ln1b: lnB(),
      w1: randn(H * I, sH), b1: randn(I, 0.1), w2: randn(I * H, sI), b2: randn(H, 0.1),
      ln2g: lnG(), ln2b: lnB(),
    })),
  };
}

// ---------------------------------------------------------------- graph

type Attr = { name: string; i?: number; f?: number; ints?: number[] };

/** Accumulates nodes and initializers; names are generated so the graph reads like a listing. */
class GraphBuilder {
  nodes: P.INodeProto[] = [];
  inits: P.ITensorProto[] = [];
  private n = 0;

  f32(name: string, dims: number[], data: Float32Array): string {
    this.inits.push({ name, dims, dataType: onnx.TensorProto.DataType.FLOAT, rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) });
    return name;
  }
  i64(name: string, dims: number[], data: number[]): string {
    const raw = new Uint8Array(BigInt64Array.from(data.map(BigInt)).buffer);
    this.inits.push({ name, dims, dataType: onnx.TensorProto.DataType.INT64, rawData: raw });
    return name;
  }
  op(opType: string, inputs: string[], attrs: Attr[] = [], output?: string): string {
    const out = output ?? `${opType.toLowerCase()}_${this.n++}`;
    const attribute: P.IAttributeProto[] = attrs.map((a) => {
      if (a.ints) return { name: a.name, type: onnx.AttributeProto.AttributeType.INTS, ints: a.ints };
      if (a.f !== undefined) return { name: a.name, type: onnx.AttributeProto.AttributeType.FLOAT, f: a.f };
      return { name: a.name, type: onnx.AttributeProto.AttributeType.INT, i: a.i };
    });
    this.nodes.push({ opType, input: inputs, output: [out], attribute, name: out });
    return out;
  }
}

function buildGraph(c: TestModelConfig, w: TestModelWeights): Uint8Array {
  const g = new GraphBuilder();
  const H = c.hidden, hd = H / c.heads, I = c.intermediate;
  const ln = (x: string, gain: Float32Array, bias: Float32Array, p: string) =>
    g.op('LayerNormalization', [x, g.f32(`${p}.gamma`, [H], gain), g.f32(`${p}.beta`, [H], bias)], [{ name: 'axis', i: -1 }, { name: 'epsilon', f: c.layerNormEps }]);
  const dense = (x: string, wt: Float32Array, b: Float32Array, inDim: number, outDim: number, p: string) =>
    g.op('Add', [g.op('MatMul', [x, g.f32(`${p}.weight`, [inDim, outDim], wt)]), g.f32(`${p}.bias`, [outDim], b)]);

  // Embeddings. Positions are Range(0, seq_len) so the graph stays dynamic in seq.
  const word = g.op('Gather', [g.f32('embeddings.word', [c.vocabSize, H], w.wordEmb), 'input_ids']);
  const type = g.op('Gather', [g.f32('embeddings.token_type', [c.typeVocabSize, H], w.typeEmb), 'token_type_ids']);
  const seqLen = g.op('Gather', [g.op('Shape', ['input_ids']), g.i64('one_scalar', [], [1])], [{ name: 'axis', i: 0 }]);
  const positions = g.op('Range', [g.i64('zero_scalar', [], [0]), seqLen, 'one_scalar']);
  const pos = g.op('Gather', [g.f32('embeddings.position', [c.maxPositions, H], w.posEmb), positions]);
  let x = ln(g.op('Add', [g.op('Add', [word, type]), pos]), w.embLnG, w.embLnB, 'embeddings.ln');

  // Additive mask [batch, 1, 1, seq]: 0 where attended, -1e4 on padding.
  const maskF = g.op('Cast', ['attention_mask'], [{ name: 'to', i: onnx.TensorProto.DataType.FLOAT }]);
  const inv = g.op('Sub', [g.f32('one_f', [], Float32Array.of(1)), maskF]);
  const addMask = g.op('Unsqueeze', [g.op('Mul', [inv, g.f32('neg_big', [], Float32Array.of(-1e4))]), g.i64('axes_1_2', [2], [1, 2])]);
  const headsShape = g.i64('heads_shape', [4], [0, 0, c.heads, hd]);
  const mergeShape = g.i64('merge_shape', [3], [0, 0, H]);
  const scale = g.f32('attn_scale', [], Float32Array.of(1 / Math.sqrt(hd)));
  const half = g.f32('half', [], Float32Array.of(0.5));
  const sqrt2 = g.f32('sqrt2', [], Float32Array.of(Math.SQRT2));
  const oneF = 'one_f';

  w.layers.forEach((L, li) => {
    const p = `layer${li}`;
    // [b, s, H] -> [b, heads, s, hd] (K goes to [b, heads, hd, s] so Q@K needs no extra transpose)
    const split = (t: string, perm: number[]) => g.op('Transpose', [g.op('Reshape', [t, headsShape])], [{ name: 'perm', ints: perm }]);
    const q = split(dense(x, L.wq, L.bq, H, H, `${p}.q`), [0, 2, 1, 3]);
    const k = split(dense(x, L.wk, L.bk, H, H, `${p}.k`), [0, 2, 3, 1]);
    const v = split(dense(x, L.wv, L.bv, H, H, `${p}.v`), [0, 2, 1, 3]);
    const scores = g.op('Add', [g.op('Mul', [g.op('MatMul', [q, k]), scale]), addMask]);
    const probs = g.op('Softmax', [scores], [{ name: 'axis', i: -1 }]);
    const ctx = g.op('Reshape', [g.op('Transpose', [g.op('MatMul', [probs, v])], [{ name: 'perm', ints: [0, 2, 1, 3] }]), mergeShape]);
    x = ln(g.op('Add', [x, dense(ctx, L.wo, L.bo, H, H, `${p}.o`)]), L.ln1g, L.ln1b, `${p}.ln1`);
    // Exact GELU: 0.5 * h * (1 + erf(h / sqrt 2)), as in BERT (not the tanh approximation).
    const h = dense(x, L.w1, L.b1, H, I, `${p}.ffn1`);
    const gelu = g.op('Mul', [g.op('Mul', [h, half]), g.op('Add', [g.op('Erf', [g.op('Div', [h, sqrt2])]), oneF])]);
    x = ln(g.op('Add', [x, dense(gelu, L.w2, L.b2, I, H, `${p}.ffn2`)]), L.ln2g, L.ln2b, `${p}.ln2`);
  });
  g.op('Identity', [x], [], 'last_hidden_state');

  const int64In = (name: string): P.IValueInfoProto => ({
    name,
    type: { tensorType: { elemType: onnx.TensorProto.DataType.INT64, shape: { dim: [{ dimParam: 'batch' }, { dimParam: 'sequence' }] } } },
  });
  const model: P.IModelProto = {
    irVersion: 8,
    producerName: 'switchyard-make-test-onnx',
    opsetImport: [{ domain: '', version: 17 }],
    graph: {
      name: 'tiny_bert',
      node: g.nodes,
      initializer: g.inits,
      input: [int64In('input_ids'), int64In('attention_mask'), int64In('token_type_ids')],
      output: [{
        name: 'last_hidden_state',
        type: { tensorType: { elemType: onnx.TensorProto.DataType.FLOAT, shape: { dim: [{ dimParam: 'batch' }, { dimParam: 'sequence' }, { dimValue: H }] } } },
      }],
    },
  };
  return onnx.ModelProto.encode(onnx.ModelProto.create(model)).finish();
}

// ---------------------------------------------------------------- entry point

/** Writes model.onnx, tokenizer.json, tokenizer_config.json and config.json into `dir`. */
export async function makeTestOnnxModel(dir: string, opts: TestModelOptions = {}): Promise<TestModel> {
  const vocab = testVocab();
  const config: TestModelConfig = {
    hidden: opts.hidden ?? 32,
    layers: opts.layers ?? 2,
    heads: opts.heads ?? 4,
    intermediate: opts.intermediate ?? 64,
    maxPositions: opts.maxPositions ?? 64,
    maxLength: opts.maxLength ?? 32,
    vocabSize: vocab.length,
    typeVocabSize: 2,
    layerNormEps: 1e-12,
  };
  if (config.hidden % config.heads !== 0) throw new Error(`hidden ${config.hidden} not divisible by heads ${config.heads}`);
  const weights = makeWeights(config, opts.seed ?? 20240607);
  const bytes = buildGraph(config, weights);

  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'model.onnx'), bytes);
  await writeFile(join(dir, 'tokenizer.json'), JSON.stringify(tokenizerJson(vocab, config.maxLength), null, 1));
  await writeFile(join(dir, 'tokenizer_config.json'), JSON.stringify({
    tokenizer_class: 'BertTokenizer', do_lower_case: true, model_max_length: config.maxLength,
    unk_token: '[UNK]', sep_token: '[SEP]', pad_token: '[PAD]', cls_token: '[CLS]', mask_token: '[MASK]',
  }, null, 1));
  // Field names follow HF BertConfig so tools that read config.json understand it.
  await writeFile(join(dir, 'config.json'), JSON.stringify({
    model_type: 'bert', architectures: ['BertModel'],
    hidden_size: config.hidden, num_hidden_layers: config.layers, num_attention_heads: config.heads,
    intermediate_size: config.intermediate, max_position_embeddings: config.maxPositions,
    vocab_size: config.vocabSize, type_vocab_size: config.typeVocabSize, layer_norm_eps: config.layerNormEps,
    hidden_act: 'gelu', pad_token_id: 0,
  }, null, 1));
  return { dir, config, weights, vocab, modelBytes: bytes.length };
}
