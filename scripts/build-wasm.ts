/**
 * Builds src/routing/wasm/dot.wasm, the WebAssembly SIMD kernel behind
 * SimdBruteForceIndex (src/routing/nearest-simd.ts):
 *
 *   node --import tsx scripts/build-wasm.ts
 *
 * No WAT toolchain is installed, and one ~800-byte kernel does not justify a
 * dependency, so this file holds a tiny assembler for the flat (unfolded) text
 * format and the kernel written in it. The .wasm is committed, so the runtime
 * never runs this; test/routing/nearest-simd.test.ts rebuilds it and compares
 * bytes, so an edit here without a rebuild fails the tests.
 *
 * Opcodes follow the WebAssembly 2.0 binary format (SIMD: prefix 0xfd, then the
 * sub-opcode as unsigned LEB128, so f32x4.add = 228 takes two bytes).
 */
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { wasm } from '../src/routing/nearest-simd.ts';

export const DOT_WASM_PATH = fileURLToPath(new URL('../src/routing/wasm/dot.wasm', import.meta.url));

/**
 * Centroids per pass of the main loop: the query vector is loaded once per
 * group and each centroid has its own f32x4 accumulator, so the loop carries
 * GROUP independent add chains. Measured on the 2-core EPYC dev machine (K=1,000,
 * dim 384): 4 centroids 22 µs; 8 centroids 42 µs, and 4 centroids x 2
 * accumulators each (dim unrolled by 8) 38 µs. Not profiled; likely register
 * spills (x64 has 16 xmm registers, and those loops hold 10-13 live v128 values
 * plus the pointers).
 */
const GROUP = 4;

// ---------------------------------------------------------------- kernel

/**
 * dots(q, c, dim, k, out): out[j] = sum_i q[i] * c[j * dim + i] for j < k.
 * All arguments are byte offsets into the module's memory except dim and k.
 * Rows need no alignment or padding: v128.load tolerates misalignment, and the
 * dim % 4 trailing floats are summed by a scalar tail loop.
 */
function dotsFunc(): Func {
  const body = [
    'local.get $dim', 'i32.const 2', 'i32.shl', 'local.set $row',          // bytes per row
    'local.get $row', 'i32.const -16', 'i32.and', 'local.set $vend',       // bytes covered by whole f32x4s
    'local.get $c', 'local.set $p',
    'local.get $out', 'local.set $o',
    ...pass(GROUP),
    ...pass(1), // the k % GROUP centroids left over
  ];
  const locals: Array<[string, ValType]> = [
    ['$row', 'i32'], ['$vend', 'i32'], ['$p', 'i32'], ['$o', 'i32'], ['$j', 'i32'], ['$i', 'i32'],
    ...range(GROUP).map((g): [string, ValType] => [`$c${g}`, 'i32']),
    ['$x', 'v128'], ...range(GROUP).map((g): [string, ValType] => [`$a${g}`, 'v128']),
    ['$t', 'f32'], ...range(GROUP).map((g): [string, ValType] => [`$s${g}`, 'f32']),
  ];
  return { name: 'dots', params: [['$q', 'i32'], ['$c', 'i32'], ['$dim', 'i32'], ['$k', 'i32'], ['$out', 'i32']], locals, body };
}

/** While j + g <= k: the dot products of the next g rows (starting at $p) into $o. */
function pass(g: number): string[] {
  const G = range(g);
  return [
    `block $done${g}`,
    `  loop $rows${g}`,
    `    local.get $j`, `i32.const ${g}`, 'i32.add', 'local.get $k', 'i32.gt_u', `br_if $done${g}`,
    '    local.get $p', 'local.set $c0',
    ...G.slice(1).flatMap((r) => [`local.get $c${r - 1}`, 'local.get $row', 'i32.add', `local.set $c${r}`]),
    ...G.flatMap((r) => ['v128.const i32x4 0 0 0 0', `local.set $a${r}`]),
    '    i32.const 0', 'local.set $i',
    `    block $vdone${g}`,
    `      local.get $vend`, 'i32.eqz', `br_if $vdone${g}`,
    `      loop $vec${g}`,
    '        local.get $q', 'local.get $i', 'i32.add', 'v128.load', 'local.set $x',
    ...G.flatMap((r) => [`local.get $a${r}`, 'local.get $x', `local.get $c${r}`, 'local.get $i', 'i32.add', 'v128.load', 'f32x4.mul', 'f32x4.add', `local.set $a${r}`]),
    '        local.get $i', 'i32.const 16', 'i32.add', 'local.tee $i', 'local.get $vend', 'i32.lt_u', `br_if $vec${g}`,
    '      end',
    '    end',
    // Horizontal sum, (l0 + l1) + (l2 + l3).
    ...G.flatMap((r) => [
      `local.get $a${r}`, 'f32x4.extract_lane 0', `local.get $a${r}`, 'f32x4.extract_lane 1', 'f32.add',
      `local.get $a${r}`, 'f32x4.extract_lane 2', `local.get $a${r}`, 'f32x4.extract_lane 3', 'f32.add', 'f32.add', `local.set $s${r}`,
    ]),
    `    block $tdone${g}`,
    `      loop $tail${g}`,
    '        local.get $i', 'local.get $row', 'i32.ge_u', `br_if $tdone${g}`,
    '        local.get $q', 'local.get $i', 'i32.add', 'f32.load', 'local.set $t',
    ...G.flatMap((r) => [`local.get $s${r}`, 'local.get $t', `local.get $c${r}`, 'local.get $i', 'i32.add', 'f32.load', 'f32.mul', 'f32.add', `local.set $s${r}`]),
    '        local.get $i', 'i32.const 4', 'i32.add', 'local.set $i',
    `        br $tail${g}`,
    '      end',
    '    end',
    ...G.flatMap((r) => ['local.get $o', `local.get $s${r}`, `f32.store offset=${4 * r}`]),
    '    local.get $o', `i32.const ${4 * g}`, 'i32.add', 'local.set $o',
    `    local.get $c${g - 1}`, 'local.get $row', 'i32.add', 'local.set $p',
    '    local.get $j', `i32.const ${g}`, 'i32.add', 'local.set $j',
    `    br $rows${g}`,
    '  end',
    'end',
  ];
}

// ---------------------------------------------------------------- assembler

type ValType = 'i32' | 'f32' | 'v128';
interface Func { name: string; params: Array<[string, ValType]>; locals: Array<[string, ValType]>; body: string[] }

const VALTYPE: Record<ValType, number> = { i32: 0x7f, f32: 0x7d, v128: 0x7b };
const SIMD = 0xfd;
/** Instructions without immediates. */
const PLAIN: Record<string, number[]> = {
  'i32.eqz': [0x45], 'i32.lt_u': [0x49], 'i32.gt_u': [0x4b], 'i32.ge_u': [0x4f],
  'i32.add': [0x6a], 'i32.and': [0x71], 'i32.shl': [0x74],
  'f32.add': [0x92], 'f32.mul': [0x94],
  'f32x4.add': [SIMD, ...uleb(228)], 'f32x4.mul': [SIMD, ...uleb(230)],
};
/** Loads and stores: opcode bytes and log2 of the natural alignment. */
const MEMORY: Record<string, [number[], number]> = {
  'f32.load': [[0x2a], 2], 'f32.store': [[0x38], 2],
  'v128.load': [[SIMD, ...uleb(0)], 4],
};
const LOCAL: Record<string, number> = { 'local.get': 0x20, 'local.set': 0x21, 'local.tee': 0x22 };
const BLOCK: Record<string, number> = { block: 0x02, loop: 0x03 };
const BRANCH: Record<string, number> = { br: 0x0c, br_if: 0x0d };

function assemble(f: Func): number[] {
  const index = new Map<string, number>();
  for (const [name] of [...f.params, ...f.locals]) {
    if (index.has(name)) throw new Error(`duplicate local ${name}`);
    index.set(name, index.size);
  }
  const labels: string[] = [];
  const code: number[] = [];
  for (const line of f.body) {
    const [op, ...args] = line.trim().split(/\s+/);
    const arg = (n: number): string => {
      if (args[n] === undefined) throw new Error(`${op}: missing operand in "${line.trim()}"`);
      return args[n];
    };
    if (op in PLAIN) code.push(...PLAIN[op]);
    else if (op in LOCAL) {
      const i = index.get(arg(0));
      if (i === undefined) throw new Error(`unknown local ${arg(0)}`);
      code.push(LOCAL[op], ...uleb(i));
    } else if (op in BLOCK) { labels.push(arg(0)); code.push(BLOCK[op], 0x40); }
    else if (op === 'end') { if (!labels.pop()) throw new Error('end without block'); code.push(0x0b); }
    else if (op in BRANCH) {
      const at = labels.lastIndexOf(arg(0));
      if (at < 0) throw new Error(`unknown label ${arg(0)}`);
      code.push(BRANCH[op], ...uleb(labels.length - 1 - at));
    } else if (op === 'i32.const') code.push(0x41, ...sleb(Number(arg(0))));
    else if (op in MEMORY) {
      const [bytes, align] = MEMORY[op];
      const offset = args.find((a) => a.startsWith('offset='));
      code.push(...bytes, ...uleb(align), ...uleb(offset ? Number(offset.slice(7)) : 0));
    } else if (op === 'v128.const') {
      if (arg(0) !== 'i32x4' || args.length !== 5) throw new Error(`v128.const: only the i32x4 shape is supported`);
      code.push(SIMD, ...uleb(12), ...args.slice(1).flatMap((v) => le32(Number(v))));
    } else if (op === 'f32x4.extract_lane') code.push(SIMD, ...uleb(31), Number(arg(0)));
    else throw new Error(`unknown instruction "${line.trim()}"`);
  }
  if (labels.length) throw new Error(`unclosed blocks: ${labels.join(' ')}`);
  // Locals are declared as runs of one type.
  const runs: Array<[number, ValType]> = [];
  for (const [, t] of f.locals) {
    if (runs.length && runs[runs.length - 1][1] === t) runs[runs.length - 1][0]++;
    else runs.push([1, t]);
  }
  const body = [...uleb(runs.length), ...runs.flatMap(([n, t]) => [...uleb(n), VALTYPE[t]]), ...code, 0x0b];
  return [...uleb(body.length), ...body];
}

/** One function, exported with the module's memory (1 page to start; the host grows it). */
function moduleBytes(f: Func): Uint8Array {
  const type = [0x60, ...vec(f.params.map(([, t]) => [VALTYPE[t]])), ...vec([])];
  return Uint8Array.from([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // "\0asm", version 1
    ...section(1, vec([type])),                      // types
    ...section(3, vec([uleb(0)])),                   // functions: type 0
    ...section(5, vec([[0x00, ...uleb(1)]])),        // memories: min 1 page, no max
    ...section(7, vec([[...name('memory'), 0x02, 0], [...name(f.name), 0x00, 0]])), // exports
    ...section(10, vec([assemble(f)])),              // code
  ]);
}

function section(id: number, content: number[]): number[] { return [id, ...uleb(content.length), ...content]; }
function vec(items: number[][]): number[] { return [...uleb(items.length), ...items.flat()]; }
function name(s: string): number[] { const b = [...Buffer.from(s, 'utf8')]; return [...uleb(b.length), ...b]; }
function le32(v: number): number[] { return [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff]; }
function range(n: number): number[] { return Array.from({ length: n }, (_, i) => i); }

function uleb(v: number): number[] {
  const out: number[] = [];
  do {
    let b = v & 0x7f;
    v >>>= 7;
    if (v !== 0) b |= 0x80;
    out.push(b);
  } while (v !== 0);
  return out;
}

function sleb(v: number): number[] {
  const out: number[] = [];
  for (;;) {
    const b = v & 0x7f;
    v >>= 7;
    if ((v === 0 && (b & 0x40) === 0) || (v === -1 && (b & 0x40) !== 0)) { out.push(b); return out; }
    out.push(b | 0x80);
  }
}

export function buildDotWasm(): Uint8Array {
  return moduleBytes(dotsFunc());
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const bytes = buildDotWasm();
  if (!wasm?.validate(bytes)) throw new Error('the assembled module does not validate (is WebAssembly SIMD supported?)');
  writeFileSync(DOT_WASM_PATH, bytes);
  console.log(`wrote ${DOT_WASM_PATH} (${bytes.length} bytes)`);
}
