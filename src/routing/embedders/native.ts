/**
 * The native embedder: Switchyard's default, built and shipped in native-models/,
 * no download, deterministic, ~15 µs for a 200-character prompt on one core.
 *
 * Text -> hashed sparse features -> sublinear TF x IDF -> sparse random projection
 * to `dim` (384) -> L2 norm.
 *
 * Features: word unigrams, word bigrams and character 3/4/5-grams over the
 * lower-cased token stream (punctuation kept as one-character tokens: it carries
 * signal for code prompts). Each feature is FNV-1a hashed into one of 2^bits
 * buckets. IDF per bucket is learned at fit time (`fitNativeTables`); buckets
 * never seen get the maximum IDF.
 *
 * Projection: each bucket maps to `nnz` (dimension, +-1/sqrt(nnz)) pairs, a
 * sparse Johnson-Lindenstrauss transform (Kane & Nelson). A dense 2^18 x 384
 * matrix would be 400 MB and ~100k multiply-adds per prompt; the sparse one is
 * nnz x features multiply-adds. The pairs come from a counter-based generator
 * (projEntry), computed per feature, not stored: the 4 MB table they used to
 * sit in cost a cache miss per feature once the rest of a request had evicted
 * it. Same process, old vs new, interleaved (bench/native-projection.ts, 2026-12-01
 * machine): 0.39-0.83x the time per embed for 200 and 4,000 chars with many
 * distinct prompts; over HTTP (bench/http.ts, unique prompts, old and new
 * alternating three times) the server-side embedding_ms median was
 * 0.101-0.106 ms new vs 0.124-0.161 ms old. With the
 * same few prompts repeated (tables hot, bench/micro.ts) 200 chars costs
 * ~6 µs more; start-up no longer fills the table (151 -> 16 ms). The
 * vectors are bit-identical (the golden-digest test).
 * The one table left, IDF (Float32, 1 MB at 2^18), lives in a SharedArrayBuffer
 * so pool workers map it without a copy.
 */
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { SyncEmbedder } from './types.ts';
import { compileSelection, validateSelection, type TextSelection } from '../text-select.ts';

export const NATIVE_EMBEDDER_KIND = 'native-hashgram-v1';

export interface NativeParams {
  dim: number;
  /** log2 of the hashed feature space. */
  bits: number;
  /** Non-zeros per bucket in the projection. */
  nnz: number;
  /** Seed of the projection. */
  seed: number;
  /** Number of documents the IDF was fitted on. */
  docs: number;
  /**
   * Which part of a prompt is embedded (src/routing/text-select.ts); absent =
   * the whole text. Part of the hash when present and not `full`, so a profile
   * fitted on last questions refuses an embedder that embeds whole prompts.
   */
  select?: TextSelection;
}

export const DEFAULT_NATIVE_PARAMS: Omit<NativeParams, 'docs'> = { dim: 384, bits: 18, nnz: 8, seed: 0x5eed };

/** The shared tables; everything a worker needs to rebuild the embedder without copying. */
export interface NativeTables {
  params: NativeParams;
  /** One SharedArrayBuffer holding the IDF table (Float32, 2^bits). */
  buffer: SharedArrayBuffer;
}

// Feature namespaces: distinct FNV offsets so "ab" the word and "ab" the char n-gram differ.
const NS_WORD = 0x811c9dc5;
const NS_BIGRAM = 0x01000193;
const NS_CHAR = 0x2f3a9e1b;
const NS_EMPTY = 0x7a1c3e55;
const FNV_PRIME = 0x01000193;

function layout(p: Pick<NativeParams, 'bits'>) {
  const buckets = 1 << p.bits;
  return { buckets, idfOff: 0, total: buckets * 4 };
}

const GOLDEN = 0x9e3779b9;

/**
 * The projection entry `i` (= bucket * nnz + j) as (dimension | sign << 15).
 * It is the i-th output of splitmix32(seed), a counter-based generator (state
 * after i + 1 steps = seed + (i + 1) * golden), so any entry is computed
 * directly: the 2^bits x nnz table that used to hold these (4 MB) is gone.
 */
export function projEntry(seed: number, dim: number, i: number): number {
  let z = (seed + Math.imul(i + 1, GOLDEN)) >>> 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
  const r = (z ^ (z >>> 16)) >>> 0;
  return (r % dim) | ((r >>> 16) & 0x8000);
}

/** Builds the shared table (IDF) from an IDF vector; the projection is computed from the seed. */
export function buildTables(params: NativeParams, idf: Float32Array): NativeTables {
  const l = layout(params);
  if (idf.length !== l.buckets) throw new Error(`native embedder: idf has ${idf.length} entries, expected 2^${params.bits} = ${l.buckets}`);
  if (params.dim > 0x7fff) throw new Error('native embedder: dim must be <= 32767 (15-bit indices)');
  const buffer = new SharedArrayBuffer(l.total);
  new Float32Array(buffer, l.idfOff, l.buckets).set(idf);
  return { params, buffer };
}

/**
 * Hashes the features of `text` into `this.out` (one bucket per occurrence) and
 * returns how many there are. Shared by fitting (document frequency) and
 * embedding (term frequency) so the two can never disagree about what a feature
 * is. Writes into reused typed arrays, not through a visitor callback, so the
 * hot loop allocates nothing and makes no call per feature.
 */
export class FeatureHasher {
  private buf = new Uint16Array(4096);
  out = new Int32Array(16384);
  constructor(readonly bits: number) {}

  hash(text: string): number {
    const mask = (1 << this.bits) - 1;
    // Normalise into buf: lower-case words separated by single spaces, punctuation as
    // single-character tokens, leading and trailing space. Worst case 3 chars per input char.
    const need = text.length * 3 + 2;
    if (this.buf.length < need) this.buf = new Uint16Array(need * 2);
    const b = this.buf;
    let n = 0;
    b[n++] = 32;
    for (let i = 0; i < text.length; i++) {
      let c = text.charCodeAt(i);
      if (c >= 65 && c <= 90) c |= 0x20;
      const word = (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 95 || c > 127;
      if (word) { b[n++] = c; continue; }
      if (c <= 32 || c === 160) { if (b[n - 1] !== 32) b[n++] = 32; continue; }
      // punctuation: its own token
      if (b[n - 1] !== 32) b[n++] = 32;
      b[n++] = c;
      b[n++] = 32;
    }
    if (b[n - 1] !== 32) b[n++] = 32;
    // ~1 word + 1 bigram + 3 char n-grams per normalised char at most.
    if (this.out.length < n * 5 + 8) this.out = new Int32Array(n * 10 + 16);
    const out = this.out;
    let k = 0;
    if (n <= 1) { out[k++] = NS_EMPTY & mask; return k; }

    // Words and bigrams.
    let prev = 0;
    let hasPrev = false;
    let h = NS_WORD;
    for (let i = 1; i < n; i++) {
      const c = b[i];
      if (c === 32) {
        out[k++] = (h >>> 0) & mask;
        if (hasPrev) out[k++] = (Math.imul(prev ^ Math.imul(h, 0x9e3779b1) ^ NS_BIGRAM, FNV_PRIME) >>> 0) & mask;
        prev = h; hasPrev = true; h = NS_WORD;
      } else {
        h = Math.imul(h ^ c, FNV_PRIME);
      }
    }
    // Character 3-, 4- and 5-grams over the normalised stream (spaces mark word edges).
    for (let i = 0; i + 3 <= n; i++) {
      let g = NS_CHAR;
      g = Math.imul(g ^ b[i], FNV_PRIME);
      g = Math.imul(g ^ b[i + 1], FNV_PRIME);
      g = Math.imul(g ^ b[i + 2], FNV_PRIME);
      out[k++] = (g >>> 0) & mask;
      if (i + 4 > n) continue;
      g = Math.imul(g ^ b[i + 3], FNV_PRIME);
      out[k++] = ((g ^ 0x4000000) >>> 0) & mask;
      if (i + 5 > n) continue;
      g = Math.imul(g ^ b[i + 4], FNV_PRIME);
      out[k++] = ((g ^ 0x5000000) >>> 0) & mask;
    }
    return k;
  }
}

/**
 * Learns the IDF table from a corpus: idf = ln((1 + N) / (1 + df)) + 1, the
 * smoothed form; buckets never seen get ln(1 + N) + 1.
 */
export function fitNativeTables(texts: readonly string[], base: Omit<NativeParams, 'docs'> = DEFAULT_NATIVE_PARAMS): NativeTables {
  const sel = compileSelection(base.select);
  const buckets = 1 << base.bits;
  const df = new Uint32Array(buckets);
  const seen = new Uint32Array(buckets); // stamp: document index + 1
  const hasher = new FeatureHasher(base.bits);
  for (let d = 0; d < texts.length; d++) {
    const k = hasher.hash(sel(texts[d]));
    const out = hasher.out;
    for (let i = 0; i < k; i++) {
      const f = out[i];
      if (seen[f] !== d + 1) { seen[f] = d + 1; df[f]++; }
    }
  }
  const n = texts.length;
  const idf = new Float32Array(buckets);
  for (let i = 0; i < buckets; i++) idf[i] = Math.log((1 + n) / (1 + df[i])) + 1;
  return buildTables({ ...base, docs: n }, idf);
}

/** 1 + ln(tf) for small counts: Math.log per distinct feature was a visible share of the 4k-char case. */
const LOG_TF = Float32Array.from({ length: 64 }, (_, c) => (c === 0 ? 0 : 1 + Math.log(c)));

export class NativeEmbedder implements SyncEmbedder {
  readonly id = NATIVE_EMBEDDER_KIND;
  readonly dim: number;
  readonly hash: string;
  private readonly idf: Float32Array;
  private readonly nnz: number;
  private readonly seed: number;
  private readonly scale: number;
  private readonly hasher: FeatureHasher;
  // Term frequencies of one prompt: a small open-addressing table sized to the
  // prompt (a 200-char prompt's fits in L1), stamped per call so nothing is
  // cleared between prompts. `order` keeps first occurrences in order: the
  // projection sums in that order, which keeps vectors bit-identical.
  private keys = new Int32Array(1024);
  private stamp = new Uint32Array(1024);
  private count = new Uint8Array(1024);
  private order = new Int32Array(512);
  private call = 0;
  private readonly select: ((text: string) => string) | null;

  constructor(readonly tables: NativeTables) {
    const p = tables.params;
    const l = layout(p);
    this.dim = p.dim;
    this.nnz = p.nnz;
    this.seed = p.seed >>> 0;
    this.idf = new Float32Array(tables.buffer, l.idfOff, l.buckets);
    this.scale = 1 / Math.sqrt(p.nnz);
    this.hasher = new FeatureHasher(p.bits);
    const selects = p.select !== undefined && p.select.mode !== 'full';
    this.select = selects ? compileSelection(p.select) : null;
    // The selection joins the hashed identity only when it changes the text, so
    // every embedder fitted before it existed keeps its hash.
    this.hash = createHash('sha256')
      .update(JSON.stringify(selects ? { kind: NATIVE_EMBEDDER_KIND, dim: p.dim, bits: p.bits, nnz: p.nnz, seed: p.seed, select: p.select } : { kind: NATIVE_EMBEDDER_KIND, dim: p.dim, bits: p.bits, nnz: p.nnz, seed: p.seed }))
      .update(new Uint8Array(tables.buffer, l.idfOff, l.buckets * 4))
      .digest('hex').slice(0, 32);
  }

  /**
   * Counts the features into the per-prompt table; returns the number of
   * distinct ones, listed in `order` (table slots) by first occurrence.
   * Counts saturate at 255 (1 + ln 255 vs 1 + ln 256: no visible difference).
   */
  private countFeatures(feats: Int32Array, k: number): number {
    if (this.keys.length < 2 * k) {
      let cap = this.keys.length;
      while (cap < 2 * k) cap *= 2;
      this.keys = new Int32Array(cap); this.stamp = new Uint32Array(cap); this.count = new Uint8Array(cap);
      this.order = new Int32Array(cap >>> 1);
    }
    const { keys, stamp, count, order } = this;
    const mask = keys.length - 1;
    const shift = 32 - Math.log2(keys.length);
    let call = ++this.call;
    if (call > 0xfffffff0) { stamp.fill(0); call = this.call = 1; }
    let t = 0;
    for (let i = 0; i < k; i++) {
      const f = feats[i];
      let h = Math.imul(f, 0x9e3779b1) >>> shift;
      for (;;) {
        if (stamp[h] !== call) { stamp[h] = call; keys[h] = f; count[h] = 1; order[t++] = h; break; }
        if (keys[h] === f) { if (count[h] !== 255) count[h]++; break; }
        h = (h + 1) & mask;
      }
    }
    return t;
  }

  embedSync(text: string, out: Float32Array = new Float32Array(this.dim)): Float32Array {
    const k = this.hasher.hash(this.select === null ? text : this.select(text));
    const t = this.countFeatures(this.hasher.out, k);
    const { keys, count, order, idf, nnz, seed, dim } = this;
    out.fill(0);
    // Each feature adds +-w to nnz dimensions. The (dimension, sign) pairs are
    // computed (projEntry, inlined) rather than read from a 4 MB table: a random
    // read per feature missed the cache under load. The sign becomes a factor
    // of +1 / -1 rather than a branch (signs are random: a branch mispredicts
    // half the time); w * -1 is exactly -w, so sums are bit-identical either way.
    // dim 384 = 3 x 128: r % 384 = (r & 127) + 128 * ((r >>> 7) % 3), an
    // int32 modulo by a constant instead of a float modulo of a uint32.
    const d384 = dim === 384;
    for (let i = 0; i < t; i++) {
      const slot = order[i];
      const f = keys[slot];
      const c = count[slot];
      const w = (c === 1 ? 1 : c < LOG_TF.length ? LOG_TF[c] : 1 + Math.log(c)) * idf[f] * this.scale;
      let s = (seed + Math.imul(f * nnz + 1, GOLDEN)) >>> 0;
      for (let j = 0; j < nnz; j++) {
        let z = Math.imul(s ^ (s >>> 16), 0x85ebca6b);
        z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
        z = z ^ (z >>> 16);
        const r = z >>> 0;
        const di = d384 ? (r & 127) | (((r >>> 7) % 3) << 7) : r % dim;
        out[di] += w * (1 - ((r >>> 30) & 2));
        s = (s + GOLDEN) >>> 0;
      }
    }
    let sum = 0;
    for (let i = 0; i < out.length; i++) sum += out[i] * out[i];
    // A non-empty feature set cannot project to exactly zero in practice; guard anyway.
    const inv = sum > 0 ? 1 / Math.sqrt(sum) : 0;
    if (inv === 0) { out[0] = 1; return out; }
    for (let i = 0; i < out.length; i++) out[i] *= inv;
    return out;
  }

  async embed(text: string): Promise<Float32Array> { return this.embedSync(text); }

  async embedMany(texts: readonly string[]): Promise<Float32Array> {
    const m = new Float32Array(texts.length * this.dim);
    for (let i = 0; i < texts.length; i++) this.embedSync(texts[i], m.subarray(i * this.dim, (i + 1) * this.dim));
    return m;
  }

  async close(): Promise<void> {}
}

// ---- on-disk form: native-models/<name>/{embedder.json, idf.f32} ----

interface NativeManifest { kind: typeof NATIVE_EMBEDDER_KIND; params: NativeParams; idf_file: string; hash: string }

export function saveNativeEmbedder(dir: string, tables: NativeTables): string {
  mkdirSync(dir, { recursive: true });
  const l = layout(tables.params);
  writeFileSync(join(dir, 'idf.f32'), new Uint8Array(tables.buffer, l.idfOff, l.buckets * 4));
  const hash = new NativeEmbedder(tables).hash;
  const manifest: NativeManifest = { kind: NATIVE_EMBEDDER_KIND, params: tables.params, idf_file: 'idf.f32', hash };
  writeFileSync(join(dir, 'embedder.json'), JSON.stringify(manifest, null, 2) + '\n');
  return hash;
}

export function loadNativeTables(dir: string): NativeTables {
  const where = join(dir, 'embedder.json');
  let m: NativeManifest;
  try { m = JSON.parse(readFileSync(where, 'utf8')); } catch (e) { throw new Error(`native embedder: cannot read ${where}: ${(e as Error).message}`); }
  if (m.kind !== NATIVE_EMBEDDER_KIND) throw new Error(`native embedder: ${where}: kind is ${JSON.stringify(m.kind)}, expected ${NATIVE_EMBEDDER_KIND}`);
  const p = m.params;
  for (const key of ['dim', 'bits', 'nnz', 'seed', 'docs'] as const) {
    if (!Number.isInteger(p?.[key]) || p[key] < 0) throw new Error(`native embedder: ${where}: params.${key} must be a non-negative integer`);
  }
  if (p.select !== undefined) p.select = validateSelection(p.select, `native embedder: ${where}: params`);
  if (p.bits < 8 || p.bits > 24) throw new Error(`native embedder: ${where}: params.bits must be 8..24`);
  const bytes = readFileSync(join(dir, m.idf_file));
  if (bytes.byteLength !== (1 << p.bits) * 4) throw new Error(`native embedder: ${join(dir, m.idf_file)} is ${bytes.byteLength} bytes, expected ${(1 << p.bits) * 4}`);
  const idf = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  const tables = buildTables(p, idf);
  const got = new NativeEmbedder(tables).hash;
  if (got !== m.hash) throw new Error(`native embedder: ${where}: hash mismatch (manifest ${m.hash}, tables ${got}); the files are corrupt or from another build`);
  return tables;
}
