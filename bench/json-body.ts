/**
 * node --import tsx bench/json-body.ts [--time MS]
 * How to turn a /v1/route body carrying a 384-float embedding into a
 * Float32Array: the measurement behind the choice documented in
 * src/api/validate.ts (JSON.parse for arrays; base64 float32 as the fast path).
 */
import { Bench } from 'tinybench';
import { parseArgs } from 'node:util';
import { loadNativeTables, NativeEmbedder } from '../src/routing/embedders/native.ts';
import { DEFAULT_PROFILE_DIR } from '../src/config/schema.ts';
import { embedding, parseJsonObject } from '../src/api/validate.ts';

const { values } = parseArgs({ options: { time: { type: 'string' } } });
const e = new NativeEmbedder(loadNativeTables(DEFAULT_PROFILE_DIR));
const v = e.embedSync('How do I reverse a linked list in Python? Please explain the time complexity and give an example.');
const body = Buffer.from(JSON.stringify({ embedding: Array.from(v), cost_weight: 0.2 }));
const body64 = Buffer.from(JSON.stringify({ embedding: Buffer.from(v.buffer).toString('base64'), cost_weight: 0.2 }));
const text = body.toString('utf8');

/** The pure-JS alternative to V8's parser: slice out the array and convert each number. */
function handScan(b: Buffer): Float32Array {
  const s = b.toString('latin1');
  const i = s.indexOf('['), j = s.indexOf(']', i);
  const parts = s.slice(i + 1, j).split(',');
  const o = new Float32Array(parts.length);
  for (let k = 0; k < parts.length; k++) { const x = +parts[k]; if (!Number.isFinite(x)) throw new Error('bad'); o[k] = x; }
  return o;
}

const b = new Bench({ time: Number(values.time ?? 400), warmupTime: 100 });
b.add(`Buffer#toString utf8 (${body.length} B)`, () => body.toString('utf8'));
b.add('JSON.parse only', () => JSON.parse(text));
b.add('server path: parseJsonObject + embedding() (array)', () => embedding(parseJsonObject(body).embedding, 384));
b.add('hand scanner: latin1 + split + unary +', () => handScan(body));
b.add('JSON.parse with a no-op reviver', () => JSON.parse(text, (_k, x) => x));
b.add(`server path, base64 embedding (${body64.length} B)`, () => embedding(parseJsonObject(body64).embedding, 384));
b.add('response side: JSON.stringify(Array.from(f32))', () => JSON.stringify(Array.from(v)));
await b.run();
console.log(`${'case'.padEnd(56)} ${'mean µs'.padStart(9)} ${'p99 µs'.padStart(9)}`);
for (const t of b.tasks) {
  const r = t.result as any;
  console.log(`${t.name.padEnd(56)} ${(r.latency.mean * 1000).toFixed(2).padStart(9)} ${(r.latency.p99 * 1000).toFixed(2).padStart(9)}`);
}
