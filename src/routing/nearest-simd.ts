/**
 * Brute-force nearest centroid with a WebAssembly SIMD kernel (wasm/dot.wasm,
 * assembled by scripts/build-wasm.ts): f32x4 multiply-adds, four centroids per
 * pass over the query. Same answers as BruteForceIndex up to float32 rounding
 * (the JS loop accumulates in float64; here each similarity is a float32 sum,
 * |error| ~1e-6 for unit vectors at dim 384), several times faster.
 *
 * Costs: each index owns one module instance whose memory holds a copy of the
 * centroids (k x dim x 4 bytes: 150 KiB at K=100, 15 MiB at K=10,000), so the
 * search reads no JS heap. Per search the query (dim floats) is copied in, the
 * kernel writes k similarities, and selectTop picks the best in JS.
 */
import { readFileSync } from 'node:fs';
import type { RangeScan } from './nearest.ts';
import { selectTop } from './select-top.ts';

// @types/node 20 does not declare the WebAssembly global (TypeScript keeps it
// in lib.dom); these are the few members used here and by scripts/build-wasm.ts.
interface WasmMemory { readonly buffer: ArrayBuffer; grow(pages: number): number }
interface DotExports { memory: WasmMemory; dots(q: number, c: number, dim: number, k: number, out: number): void }
interface WasmApi {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: unknown };
}
export const wasm = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;

export const DOT_WASM_URL = new URL('./wasm/dot.wasm', import.meta.url);
const PAGE = 65536;

let compiled: object | null | undefined;

/**
 * The compiled kernel, or null where WebAssembly or its SIMD proposal is
 * missing (validate fails on the v128 opcodes). Compiled synchronously once per
 * thread: the module is a few hundred bytes, well under a millisecond.
 */
function kernel(): object | null {
  if (compiled === undefined) {
    const bytes = readFileSync(DOT_WASM_URL);
    compiled = wasm && wasm.validate(bytes) ? new wasm.Module(bytes) : null;
  }
  return compiled;
}

/** Whether this runtime can run SimdBruteForceIndex (Node 20 on x64 and arm64: yes). */
export function simdAvailable(): boolean {
  return kernel() !== null;
}

export class SimdBruteForceIndex implements RangeScan {
  readonly kind = 'simd';
  private readonly dots: DotExports['dots'];
  private readonly query: Float32Array;
  private readonly all: Float32Array;
  private readonly queryAt: number;
  private readonly allAt: number;

  constructor(c: Float32Array, readonly size: number, private readonly dim: number) {
    if (c.length !== size * dim) throw new Error(`SimdBruteForceIndex: ${c.length} floats is not ${size} x ${dim}`);
    const mod = kernel();
    if (!mod) throw new Error('SimdBruteForceIndex: WebAssembly SIMD is not available in this runtime (use BruteForceIndex)');
    const { memory, dots } = new wasm!.Instance(mod, {}).exports as DotExports;
    // Layout: centroids at 0, then the query, then the k similarities; each
    // 16-byte aligned (v128 loads of the query stay aligned whatever dim is).
    this.queryAt = align16(c.byteLength);
    this.allAt = align16(this.queryAt + dim * 4);
    const bytes = this.allAt + size * 4;
    if (bytes > 2 ** 32) throw new Error(`SimdBruteForceIndex: ${size} x ${dim} centroids exceed the 4 GiB of a wasm32 memory`);
    const pages = Math.ceil(bytes / PAGE) - memory.buffer.byteLength / PAGE;
    if (pages > 0) memory.grow(pages);
    // Views are taken after the last grow: growing detaches the old buffer.
    new Float32Array(memory.buffer, 0, c.length).set(c);
    this.query = new Float32Array(memory.buffer, this.queryAt, dim);
    this.all = new Float32Array(memory.buffer, this.allAt, size);
    this.dots = dots;
  }

  search(q: Float32Array, top: number, ids: Int32Array, sims: Float32Array): number {
    // A short q would leave the previous query's tail in memory: a wrong answer, not an error.
    if (q.length !== this.dim) throw new Error(`SimdBruteForceIndex: query has ${q.length} floats, expected ${this.dim}`);
    this.query.set(q);
    this.dots(this.queryAt, 0, this.dim, this.size, this.allAt);
    return selectTop(this.all, this.size, top, ids, sims);
  }

  /** One kernel call per range, each from its first row's byte offset: rows need no alignment (build-wasm.ts). */
  scoreRanges(q: Float32Array, from: Int32Array, count: Int32Array, ranges: number): Float32Array {
    if (q.length !== this.dim) throw new Error(`SimdBruteForceIndex: query has ${q.length} floats, expected ${this.dim}`);
    this.query.set(q);
    const rowBytes = this.dim * 4;
    for (let r = 0; r < ranges; r++) {
      const j = from[r], n = count[r];
      if (j < 0 || n < 0 || j + n > this.size) throw new Error(`SimdBruteForceIndex: rows ${j}..${j + n} outside 0..${this.size}`);
      this.dots(this.queryAt, j * rowBytes, this.dim, n, this.allAt + j * 4);
    }
    return this.all;
  }
}

function align16(n: number): number {
  return Math.ceil(n / 16) * 16; // not `& ~15`: offsets may pass 2^31
}
