/**
 * node --import tsx bench/native-projection.ts [--json FILE]
 *
 * Why the native embedder computes its projection instead of reading a table.
 * Side by side in one process, interleaved rounds: the current NativeEmbedder
 * (projection pairs computed per feature by a counter-based generator, term
 * frequencies in a small per-prompt table) against the previous design, kept
 * here as a reference: a 2^bits x nnz Uint16 table (4 MB) plus a 2^bits
 * term-frequency slot array (1 MB). The vectors agree to 1e-6 (checked; the
 * reference skips the LOG_TF table and divides where the embedder multiplies).
 * Two conditions: tables hot (the same embedder loop back to back) and tables
 * cold (a 4 MB sweep between embeds, as the rest of an HTTP request does).
 * Prints medians of per-embed times over 5 rounds and writes JSON.
 */
import { parseArgs } from 'node:util';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import os from 'node:os';
import { FeatureHasher, NativeEmbedder, loadNativeTables, projEntry, type NativeTables } from '../src/routing/embedders/native.ts';
import { mulberry32 } from '../src/seeded-random.ts';
import { ROOT, DEFAULT_PROFILE_DIR } from '../src/fit/options.ts';

const { values } = parseArgs({ options: { json: { type: 'string' } } });
const jsonPath = values.json ?? join(ROOT, 'bench/results/native-projection.json');

/** The previous design, for comparison only. */
class TableEmbedder {
  private readonly idf: Float32Array;
  private readonly proj: Uint16Array;
  private readonly slot: Uint32Array;
  private readonly touched: Int32Array;
  private readonly hasher: FeatureHasher;
  private call = 0;
  constructor(private readonly t: NativeTables) {
    const { bits, nnz, dim, seed } = t.params;
    this.idf = new Float32Array(t.buffer, 0, 1 << bits);
    this.proj = new Uint16Array((1 << bits) * nnz);
    for (let i = 0; i < this.proj.length; i++) this.proj[i] = projEntry(seed, dim, i);
    this.slot = new Uint32Array(1 << bits);
    this.touched = new Int32Array(1 << bits);
    this.hasher = new FeatureHasher(bits);
  }
  embedSync(text: string): Float32Array {
    const { nnz, dim } = this.t.params;
    const k = this.hasher.hash(text), feats = this.hasher.out, { slot, touched, idf, proj } = this;
    const tag = ++this.call << 8;
    let n = 0;
    for (let i = 0; i < k; i++) {
      const f = feats[i], v = slot[f];
      if ((v & ~0xff) !== tag) { slot[f] = tag | 1; touched[n++] = f; } else if ((v & 0xff) !== 0xff) slot[f] = v + 1;
    }
    const out = new Float32Array(dim);
    for (let i = 0; i < n; i++) {
      const f = touched[i], c = slot[f] & 0xff;
      const w = (c === 1 ? 1 : 1 + Math.log(c)) * idf[f] / Math.sqrt(nnz);
      for (let j = 0; j < nnz; j++) { const p = proj[f * nnz + j]; out[p & 0x7fff] += w * (1 - ((p >>> 14) & 2)); }
    }
    let s = 0;
    for (let i = 0; i < dim; i++) s += out[i] * out[i];
    for (let i = 0; i < dim; i++) out[i] /= Math.sqrt(s);
    return out;
  }
}

const tables = loadNativeTables(DEFAULT_PROFILE_DIR);
const current = new NativeEmbedder(tables), table = new TableEmbedder(tables);
const rnd = mulberry32(7);
const vocab = Array.from({ length: 20_000 }, () => Array.from({ length: 3 + Math.floor(rnd() * 7) }, () => String.fromCharCode(97 + Math.floor(rnd() * 26))).join(''));
const prose = (n: number) => { let s = ''; while (s.length < n) s += vocab[Math.floor(rnd() * vocab.length)] + (rnd() < 0.1 ? '. ' : ' '); return s.slice(0, n); };
const sweep = new Float64Array(1 << 19);

function medianUs(e: { embedSync(t: string): Float32Array }, texts: string[], cold: boolean): number {
  const ts = new Float64Array(texts.length);
  for (let i = 0; i < texts.length; i++) {
    if (cold) for (let j = 0; j < sweep.length; j += 8) sweep[j] += 1;
    const t0 = performance.now(); e.embedSync(texts[i]); ts[i] = performance.now() - t0;
  }
  return ts.sort()[ts.length >> 1] * 1000;
}

const rows: { chars: number; cache: string; table_us: number; computed_us: number; ratio: number }[] = [];
for (const chars of [200, 4000]) {
  const texts = Array.from({ length: chars === 200 ? 3000 : 400 }, () => prose(chars));
  for (const t of texts.slice(0, 100)) {
    const a = table.embedSync(t), b = current.embedSync(t);
    for (let i = 0; i < a.length; i++) if (Math.abs(a[i] - b[i]) > 1e-6) throw new Error('the two designs disagree');
  }
  for (const cold of [false, true]) {
    const r: number[][] = [[], []];
    for (let round = 0; round < 5; round++) { r[0].push(medianUs(table, texts, cold)); r[1].push(medianUs(current, texts, cold)); }
    const med = (v: number[]) => v.sort((x, y) => x - y)[2];
    rows.push({ chars, cache: cold ? 'cold (4 MB swept between embeds)' : 'hot', table_us: med(r[0]), computed_us: med(r[1]), ratio: med(r[1]) / med(r[0]) });
  }
}

console.log(`native embedder projection: table vs computed, ${new Date().toISOString()}, ${os.cpus()[0]?.model.trim()} x${os.cpus().length}, Node ${process.version}`);
console.log('chars  cache                               table µs  computed µs  computed/table');
for (const r of rows) console.log(`${String(r.chars).padStart(5)}  ${r.cache.padEnd(34)}  ${r.table_us.toFixed(1).padStart(8)}  ${r.computed_us.toFixed(1).padStart(11)}  ${r.ratio.toFixed(2).padStart(14)}`);
mkdirSync(dirname(jsonPath), { recursive: true });
writeFileSync(jsonPath, JSON.stringify({ date: new Date().toISOString(), node: process.version, cpu: os.cpus()[0]?.model, rows }, null, 2) + '\n');
console.log(`wrote ${jsonPath}`);
