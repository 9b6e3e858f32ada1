/**
 * Sentence-transformer embedder over an ONNX BERT-style encoder
 * (e.g. all-MiniLM-L6-v2, fetched by `npm run fetch-model`): WordPiece via
 * @huggingface/tokenizers, onnxruntime-node for the encoder, mean pooling over
 * the attention mask, L2 normalisation - the sentence-transformers recipe.
 *
 * onnxruntime-node (a ~60 MB native addon) and the tokenizer are imported
 * dynamically in `load`, so importing this module costs nothing until an ONNX
 * embedder is actually requested.
 *
 * A model directory holds model.onnx and tokenizer.json (required) plus
 * tokenizer_config.json and config.json (optional).
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import type { InferenceSession, Tensor } from 'onnxruntime-node';
import type { Tokenizer } from '@huggingface/tokenizers';
import type { Embedder } from './types.ts';

export interface OnnxEmbedderOptions {
  /** Token cap including [CLS]/[SEP]. Default: tokenizer.json truncation.max_length, else config.json max_position_embeddings. */
  maxLength?: number;
  /**
   * onnxruntime intra-op threads. Default 1: the router runs many tiny
   * inferences in parallel worker threads, and per-call thread pools would
   * oversubscribe the cores for no gain on 10-100 token inputs.
   */
  threads?: number;
}

/** Token ids and type ids of one text, special tokens included, already truncated. */
export interface Encoded {
  ids: number[];
  typeIds: number[];
}

type Ort = typeof import('onnxruntime-node');
type Json = Record<string, any>;

const OUTPUT_NAMES = ['last_hidden_state', 'token_embeddings'];
const KNOWN_INPUTS = new Set(['input_ids', 'attention_mask', 'token_type_ids']);
/** Rows per session.run: bounds the [batch, seq, hidden] output buffer on huge embedMany calls. */
const MAX_BATCH = 64;

async function readRequired(dir: string, file: string): Promise<Buffer> {
  const path = join(dir, file);
  try {
    return await readFile(path);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = e.code === 'ENOENT' ? 'not found' : `cannot be read (${e.code ?? e.message})`;
    throw new Error(`OnnxEmbedder: ${path} ${why}; a model directory needs model.onnx and tokenizer.json (see \`npm run fetch-model -- --help\`)`);
  }
}

async function readOptional(dir: string, file: string): Promise<Buffer | undefined> {
  try {
    return await readFile(join(dir, file));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new Error(`OnnxEmbedder: ${join(dir, file)} cannot be read: ${(err as Error).message}`);
  }
}

function parseJson(dir: string, file: string, bytes: Buffer): Json {
  try {
    const v = JSON.parse(bytes.toString('utf8'));
    if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error('not a JSON object');
    return v;
  } catch (err) {
    throw new Error(`OnnxEmbedder: ${join(dir, file)} is not valid JSON: ${(err as Error).message}`);
  }
}

/** Index of the last whitespace char at or before `k`, or -1. */
function lastSpace(text: string, k: number): number {
  return Math.max(text.lastIndexOf(' ', k), text.lastIndexOf('\n', k), text.lastIndexOf('\t', k));
}

export class OnnxEmbedder implements Embedder {
  readonly id: string;
  readonly dim: number;
  readonly hash: string;
  /** Token cap in effect, special tokens included. */
  readonly maxLength: number;

  private closed = false;

  private constructor(
    private readonly ort: Ort,
    private readonly session: InferenceSession,
    private readonly tokenizer: Tokenizer,
    private readonly outputName: string,
    private readonly feedTypeIds: boolean,
    private readonly padId: number,
    private readonly unkId: number,
    private readonly nSpecial: number,
    fields: { id: string; dim: number; hash: string; maxLength: number },
  ) {
    this.id = fields.id;
    this.dim = fields.dim;
    this.hash = fields.hash;
    this.maxLength = fields.maxLength;
  }

  static async load(dir: string, opts: OnnxEmbedderOptions = {}): Promise<OnnxEmbedder> {
    dir = resolve(dir);
    const modelBytes = await readRequired(dir, 'model.onnx');
    const tokBytes = await readRequired(dir, 'tokenizer.json');
    const tokCfgBytes = await readOptional(dir, 'tokenizer_config.json');
    const cfgBytes = await readOptional(dir, 'config.json');
    const tokJson = parseJson(dir, 'tokenizer.json', tokBytes);
    const tokCfg = tokCfgBytes ? parseJson(dir, 'tokenizer_config.json', tokCfgBytes) : {};
    const cfg = cfgBytes ? parseJson(dir, 'config.json', cfgBytes) : {};

    // --- tokenizer
    const { Tokenizer } = await import('@huggingface/tokenizers');
    let tokenizer: Tokenizer;
    try {
      if (!tokJson.model) throw new Error('no "model" section');
      // tokenizers.js iterates added_tokens unconditionally; older exports omit it.
      tokenizer = new Tokenizer({ ...tokJson, added_tokens: tokJson.added_tokens ?? [] }, tokCfg);
    } catch (err) {
      throw new Error(`OnnxEmbedder: ${join(dir, 'tokenizer.json')} is not a usable tokenizer: ${(err as Error).message}`);
    }
    const nSpecial = tokenizer.post_processor ? tokenizer.post_processor.post_process([], null, true).tokens.length : 0;
    const unkId = tokenizer.model?.unk_token_id ?? tokenizer.token_to_id(String(tokCfg.unk_token ?? '[UNK]')) ?? 0;
    const padId = tokJson.padding?.pad_id ?? tokenizer.token_to_id(String(tokCfg.pad_token ?? '[PAD]')) ?? 0;

    // --- max length: explicit > tokenizer.json truncation > config.json, capped by the position table.
    const maxPos = Number.isInteger(cfg.max_position_embeddings) ? cfg.max_position_embeddings as number : undefined;
    let maxLength = opts.maxLength ?? tokJson.truncation?.max_length ?? maxPos ?? 512;
    if (maxPos !== undefined) maxLength = Math.min(maxLength, maxPos);
    if (!Number.isInteger(maxLength) || maxLength <= nSpecial) {
      throw new Error(`OnnxEmbedder: maxLength ${maxLength} for ${dir} must be an integer above the ${nSpecial} special tokens`);
    }

    // --- session
    const mod = await import('onnxruntime-node');
    // CommonJS package: under plain Node the namespace is on `default`; tsx/bundlers may flatten it.
    const ort: Ort = (mod as unknown as { default?: Ort }).default ?? mod;
    const modelPath = join(dir, 'model.onnx');
    let session: InferenceSession;
    try {
      session = await ort.InferenceSession.create(modelBytes, {
        intraOpNumThreads: opts.threads ?? 1,
        interOpNumThreads: 1,
        executionMode: 'sequential',
        graphOptimizationLevel: 'all',
        logSeverityLevel: 3,
      });
    } catch (err) {
      throw new Error(`OnnxEmbedder: ${modelPath} could not be loaded by onnxruntime: ${(err as Error).message}`);
    }
    const fail = async (msg: string): Promise<never> => {
      await session.release();
      throw new Error(`OnnxEmbedder: ${modelPath} ${msg}`);
    };
    const inputs = session.inputNames;
    if (!inputs.includes('input_ids') || !inputs.includes('attention_mask')) {
      await fail(`has inputs [${inputs.join(', ')}]; expected input_ids and attention_mask (and optionally token_type_ids)`);
    }
    const extra = inputs.filter((n) => !KNOWN_INPUTS.has(n));
    if (extra.length) await fail(`needs inputs this embedder cannot supply: [${extra.join(', ')}]`);
    const outputName = OUTPUT_NAMES.find((n) => session.outputNames.includes(n));
    if (!outputName) {
      await fail(`has outputs [${session.outputNames.join(', ')}]; expected a per-token output named ${OUTPUT_NAMES.join(' or ')}`);
    }

    const hash = createHash('sha256');
    // Length-prefixed so no two (model, tokenizer, config) splits hash alike; the
    // pooling recipe is part of the output, so it is versioned in here too.
    for (const part of [modelBytes, tokBytes, tokCfgBytes ?? Buffer.alloc(0), Buffer.from(`maxLength=${maxLength};pool=mean;norm=l2;v1`)]) {
      hash.update(`${part.length}:`).update(part);
    }

    const e = new OnnxEmbedder(ort, session, tokenizer, outputName!, inputs.includes('token_type_ids'), padId, unkId, nSpecial, {
      id: `onnx:${basename(dir)}`, dim: 0, hash: hash.digest('hex').slice(0, 32), maxLength,
    });
    // A one-text probe both proves the graph runs and gives dim from the real output shape.
    let dim: number;
    try {
      const t = (await e.hiddenStates([e.encode('probe')])).out;
      if (t.dims.length !== 3) throw new Error(`${outputName} has shape [${t.dims.join(', ')}], expected [batch, seq, hidden]`);
      dim = t.dims[2];
    } catch (err) {
      return fail(`failed a probe inference: ${(err as Error).message}`);
    }
    (e as { dim: number }).dim = dim;
    return e;
  }

  /**
   * Tokenise with special tokens and truncation to maxLength (the body is cut,
   * [CLS]/[SEP] are kept, as HF truncation does). Only a prefix of the text is
   * tokenised when that suffices: a 400 KB prompt would otherwise cost tens of
   * ms for tokens that are thrown away. The prefix ends at whitespace so the
   * last word is not split differently than in the full text.
   */
  encode(text: string): Encoded {
    const need = this.maxLength - this.nSpecial;
    const tok = this.tokenizer;
    let body: string[] | undefined;
    for (let k = need * 8; k < text.length && !body; k *= 4) {
      const cut = lastSpace(text, k);
      if (cut <= 0) continue;
      const pieces = tok.tokenize(text.slice(0, cut));
      if (pieces.length >= need) body = pieces.slice(0, need);
    }
    body ??= tok.tokenize(text).slice(0, need);
    const post = tok.post_processor ? tok.post_processor.post_process(body, null, true) : { tokens: body };
    const ids = post.tokens.map((t: string) => tok.token_to_id(t) ?? this.unkId);
    const typeIds = post.token_type_ids ?? new Array<number>(ids.length).fill(0);
    // A tokenizer without special tokens gives nothing for "": feed one [PAD]
    // (attended) rather than a zero-length sequence with an undefined mean.
    if (ids.length === 0) { ids.push(this.padId); typeIds.push(0); }
    return { ids, typeIds };
  }

  async embed(text: string): Promise<Float32Array> {
    return this.embedMany([text]);
  }

  async embedMany(texts: readonly string[]): Promise<Float32Array> {
    if (this.closed) throw new Error(`OnnxEmbedder ${this.id}: used after close()`);
    const out = new Float32Array(texts.length * this.dim);
    for (let start = 0; start < texts.length; start += MAX_BATCH) {
      const batch = texts.slice(start, start + MAX_BATCH).map((t) => this.encode(t));
      const { out: hidden, seq } = await this.hiddenStates(batch);
      poolInto(hidden.data as Float32Array, batch, seq, this.dim, out, start);
    }
    return out;
  }

  /** Runs the encoder on a right-padded batch; exposed for tests that check pooling by hand. */
  async hiddenStates(batch: readonly Encoded[]): Promise<{ out: Tensor; seq: number }> {
    const n = batch.length;
    const seq = Math.max(...batch.map((b) => b.ids.length));
    const ids = new BigInt64Array(n * seq).fill(BigInt(this.padId));
    const mask = new BigInt64Array(n * seq);
    const types = new BigInt64Array(n * seq);
    batch.forEach((b, r) => {
      for (let i = 0; i < b.ids.length; i++) {
        ids[r * seq + i] = BigInt(b.ids[i]);
        mask[r * seq + i] = 1n;
        types[r * seq + i] = BigInt(b.typeIds[i]);
      }
    });
    const T = this.ort.Tensor;
    const feeds: Record<string, Tensor> = {
      input_ids: new T('int64', ids, [n, seq]),
      attention_mask: new T('int64', mask, [n, seq]),
    };
    if (this.feedTypeIds) feeds.token_type_ids = new T('int64', types, [n, seq]);
    const res = await this.session.run(feeds, [this.outputName]);
    return { out: res[this.outputName], seq };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.session.release();
  }
}

/** Mean of the unpadded token rows, then L2-normalised, written to row `row0 + r` of `out`. */
function poolInto(hidden: Float32Array, batch: readonly Encoded[], seq: number, dim: number, out: Float32Array, row0: number): void {
  batch.forEach((b, r) => {
    const dst = out.subarray((row0 + r) * dim, (row0 + r + 1) * dim);
    const len = b.ids.length; // padding is only ever on the right
    for (let t = 0; t < len; t++) {
      const base = (r * seq + t) * dim;
      for (let j = 0; j < dim; j++) dst[j] += hidden[base + j];
    }
    let ss = 0;
    for (let j = 0; j < dim; j++) { dst[j] /= len; ss += dst[j] * dst[j]; }
    const inv = ss > 0 ? 1 / Math.sqrt(ss) : 0;
    for (let j = 0; j < dim; j++) dst[j] *= inv;
  });
}
