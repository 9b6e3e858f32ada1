/**
 * node --import tsx bench/heap-profile-top.ts FILE.heapprofile... [--top 40]
 *
 * Bytes allocated by function (self), with the three callers above it, summed
 * over the given sampling heap profiles (bench/lib/heap-sampling.mjs writes
 * them with collected objects included, so this is allocation, not retention).
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

interface HNode { callFrame: { functionName: string; url: string; lineNumber: number }; selfSize: number; children?: HNode[] }
const { values: v, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: 'string', default: '40' } } });
if (positionals.length === 0) { console.error('usage: bench/heap-profile-top.ts FILE.heapprofile... [--top N]'); process.exit(2); }
const short = (u: string) => u.replace(/^file:\/\//, '').replace(/^.*\/node_modules\//, 'nm:').replace(/^.*\/src\//, 'src/');
const name = (n: HNode) => n.callFrame.functionName || '(anon)';
const agg = new Map<string, number>();
let total = 0;
for (const f of positionals) {
  const p = JSON.parse(readFileSync(f, 'utf8')) as { head: HNode };
  const walk = (n: HNode, stack: string[]): void => {
    if (n.selfSize) {
      total += n.selfSize;
      const k = `${name(n)} ${short(n.callFrame.url)}:${n.callFrame.lineNumber + 1}  <- ${stack.slice(-3).reverse().join(' <- ')}`;
      agg.set(k, (agg.get(k) ?? 0) + n.selfSize);
    }
    for (const c of n.children ?? []) walk(c, [...stack, name(n)]);
  };
  walk(p.head, []);
}
console.log(`sampled ${(total / 2 ** 20).toFixed(0)} MiB allocated`);
for (const [k, b] of [...agg].sort((a, c) => c[1] - a[1]).slice(0, Number(v.top))) console.log(`${(100 * b / total).toFixed(1).padStart(5)}%  ${k}`);
