/**
 * node --import tsx bench/msgpack-unpack.ts [--time MS]
 * Should the server's msgpack decoder use msgpackr's native string extractor
 * (msgpackr-extract)? Unpacks typical POST /v1/route bodies with the pure-JS
 * reader and with the native extractor, side by side in one process: the
 * server's decoder is msgpackr/unpack-no-eval (its own module instance, no
 * extractor unless setExtractor is called), so two instances are compared.
 */
import { Bench } from 'tinybench';
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';
import os from 'node:os';
import { pack } from 'msgpackr';

const require = createRequire(import.meta.url);
const { values } = parseArgs({ options: { time: { type: 'string' } } });
const time = Number(values.time ?? 300);

type UnpackrModule = { Unpackr: new (o: object) => { unpack(b: Uint8Array): unknown }; setExtractor(f: unknown): void };
const js = require('msgpackr/unpack-no-eval') as UnpackrModule;
// A second instance of the same file: the require cache is keyed by path, so load a copy under another key.
const path = require.resolve('msgpackr/unpack-no-eval');
const native = (() => { const saved = require.cache[path]; delete require.cache[path]; const m = require(path) as UnpackrModule; require.cache[path] = saved; return m; })();
native.setExtractor(require('msgpackr-extract').extractStrings);
const opts = { useRecords: false, mapsAsObjects: true, int64AsType: 'number', structuredClone: false };
const uJs = new js.Unpackr(opts), uNative = new native.Unpackr(opts);

const emb = new Float32Array(384).map((_, i) => Math.sin(i));
const words = 'route this prompt to the cheapest model that can answer a question about ';
const bodies: Record<string, Uint8Array> = {
  'embedding (bin 1536 B) + cost_weight': pack({ embedding: Buffer.from(emb.buffer), cost_weight: 0.5 }),
  'prompt 200 chars + 3 models': pack({ prompt: words.repeat(3).slice(0, 200), available_models: ['gpt-4o', 'claude-3-haiku', 'llama-3-8b'] }),
  'prompt 2,000 chars': pack({ prompt: words.repeat(30).slice(0, 2000) }),
  'prompt 200 chars (non-ASCII)': pack({ prompt: 'Übersetze bitte diesen Satz ins Französische: ßäöü €'.repeat(5).slice(0, 200) }),
};

const bench = new Bench({ time });
for (const [name, b] of Object.entries(bodies)) {
  bench.add(`${name} [${b.length} B] pure JS`, () => { uJs.unpack(b); });
  bench.add(`${name} [${b.length} B] native`, () => { uNative.unpack(b); });
}
await bench.run();
console.log(`node ${process.version}, ${os.cpus().length} cpus, load ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`);
console.table(bench.tasks.map((t) => ({ task: t.name, 'median µs': ((t.result as any).latency.p50 * 1000).toFixed(3), 'mean µs': ((t.result as any).latency.mean * 1000).toFixed(2), 'p99 µs': ((t.result as any).latency.p99 * 1000).toFixed(2) })));
