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
 * nnz x features multiply-adds. All weights share one magnitude, so a pair is
 * stored as one Uint16 (dimension | sign bit): a bucket's 8 pairs are 16 bytes,
 * one cache line serves 4 buckets. The 4,000-character case is bound by cache
 * misses on these tables; this layout plus the LOG_TF table took it from 215 to
 * 191 µs against separate Float32 weights and Uint16 indices (dev machine).
 * The tables (Float32 IDF, Uint16 projection) live in one SharedArrayBuffer so
 * pool workers map them without a copy.
 */
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { SyncEmbedder } from './types.ts';

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
}

export const DEFAULT_NATIVE_PARAMS: Omit<NativeParams, 'docs'> = { dim: 384, bits: 18, nnz: 8, seed: 0x5eed };

/** The shared tables; everything a worker needs to rebuild the embedder without copying. */
export interface NativeTables {
  params: NativeParams;
  /** One SharedArrayBuffer holding idf (Float32) | proj (Uint16: dim | sign << 15), in that order. */
  buffer: SharedArrayBuffer;
}

// Feature namespaces: distinct FNV offsets so "ab" the word and "ab" the char n-gram differ.
const NS_WORD = 0x811c9dc5;
const NS_BIGRAM = 0x01000193;
const NS_CHAR = 0x2f3a9e1b;
const NS_EMPTY = 0x7a1c3e55;
const FNV_PRIME = 0x01000193;

function splitmix32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

function layout(p: Pick<NativeParams, 'bits' | 'nnz'>) {
  const buckets = 1 << p.bits;
  const idfBytes = buckets * 4;
  return { buckets, idfOff: 0, projOff: idfBytes, total: idfBytes + buckets * p.nnz * 2 };
}

/** Builds the shared tables from an IDF vector; the projection is regenerated from the seed. */
export function buildTables(params: NativeParams, idf: Float32Array): NativeTables {
  const l = layout(params);
  if (idf.length !== l.buckets) throw new Error(`native embedder: idf has ${idf.length} entries, expected 2^${params.bits} = ${l.buckets}`);
  if (params.dim > 0x7fff) throw new Error('native embedder: dim must be <= 32767 (15-bit indices)');
  const buffer = new SharedArrayBuffer(l.total);
  new Float32Array(buffer, l.idfOff, l.buckets).set(idf);
  const proj = new Uint16Array(buffer, l.projOff, l.buckets * params.nnz);
  const rnd = splitmix32(params.seed);
  for (let i = 0; i < proj.length; i++) {
    const r = rnd();
    proj[i] = (r % params.dim) | ((r >>> 16) & 0x8000);
  }
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
export function fitNativeTables(texts: readonly string[], base = DEFAULT_NATIVE_PARAMS): NativeTables {
  const buckets = 1 << base.bits;
  const df = new Uint32Array(buckets);
  const seen = new Uint32Array(buckets); // stamp: document index + 1
  const hasher = new FeatureHasher(base.bits);
  for (let d = 0; d < texts.length; d++) {
    const k = hasher.hash(texts[d]);
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
  private readonly proj: Uint16Array;
  private readonly nnz: number;
  private readonly scale: number;
  private readonly hasher: FeatureHasher;
  // Term-frequency scratch reused across calls: slot = call << 8 | count, so a
  // stale slot (older call) reads as 0 and nothing is cleared between prompts,
  // and stamp and count share one cache line.
  private readonly slot: Uint32Array;
  private readonly touched: Int32Array;
  private call = 0;

  constructor(readonly tables: NativeTables) {
    const p = tables.params;
    const l = layout(p);
    this.dim = p.dim;
    this.nnz = p.nnz;
    this.idf = new Float32Array(tables.buffer, l.idfOff, l.buckets);
    this.proj = new Uint16Array(tables.buffer, l.projOff, l.buckets * p.nnz);
    this.scale = 1 / Math.sqrt(p.nnz);
    this.hasher = new FeatureHasher(p.bits);
    this.slot = new Uint32Array(l.buckets);
    this.touched = new Int32Array(l.buckets);
    this.hash = createHash('sha256')
      .update(JSON.stringify({ kind: NATIVE_EMBEDDER_KIND, dim: p.dim, bits: p.bits, nnz: p.nnz, seed: p.seed }))
      .update(new Uint8Array(tables.buffer, l.idfOff, l.buckets * 4))
      .digest('hex').slice(0, 32);
  }

  embedSync(text: string, out: Float32Array = new Float32Array(this.dim)): Float32Array {
    const k = this.hasher.hash(text);
    const feats = this.hasher.out;
    const { slot, touched, idf, proj, nnz } = this;
    let call = ++this.call;
    if (call > 0xffffff) { slot.fill(0); call = this.call = 1; }
    const tag = call << 8;
    let t = 0;
    for (let i = 0; i < k; i++) {
      const f = feats[i];
      const v = slot[f];
      if ((v & ~0xff) !== tag) { slot[f] = tag | 1; touched[t++] = f; } else if ((v & 0xff) !== 0xff) slot[f] = v + 1;
    }
    out.fill(0);
    // The sign bit becomes a factor of +1 or -1 instead of a branch: signs are
    // random, so a branch mispredicts half the time. Measured on bench/micro.ts
    // (same run): branch 16.6 / 325 µs (200 / 4,000 chars), a two-slot [w, -w]
    // table 20.7 / 243 µs, this multiply 17.0 / 208 µs. Bit-identical: w * -1 is
    // exactly -w, and x + (-w) is x - w in IEEE 754.
    for (let i = 0; i < t; i++) {
      const f = touched[i];
      const c = slot[f] & 0xff;
      const w = (c === 1 ? 1 : c < LOG_TF.length ? LOG_TF[c] : 1 + Math.log(c)) * idf[f] * this.scale;
      const base = f * nnz;
      for (let j = 0; j < nnz; j++) {
        const p = proj[base + j];
        out[p & 0x7fff] += w * (1 - ((p >>> 14) & 2));
      }
    }
    let s = 0;
    for (let i = 0; i < out.length; i++) s += out[i] * out[i];
    // A non-empty feature set cannot project to exactly zero in practice; guard anyway.
    const inv = s > 0 ? 1 / Math.sqrt(s) : 0;
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
  if (p.bits < 8 || p.bits > 24) throw new Error(`native embedder: ${where}: params.bits must be 8..24`);
  const bytes = readFileSync(join(dir, m.idf_file));
  if (bytes.byteLength !== (1 << p.bits) * 4) throw new Error(`native embedder: ${join(dir, m.idf_file)} is ${bytes.byteLength} bytes, expected ${(1 << p.bits) * 4}`);
  const idf = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  const tables = buildTables(p, idf);
  const got = new NativeEmbedder(tables).hash;
  if (got !== m.hash) throw new Error(`native embedder: ${where}: hash mismatch (manifest ${m.hash}, tables ${got}); the files are corrupt or from another build`);
  return tables;
}
