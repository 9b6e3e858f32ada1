/**
 * node --import tsx bench/cpu-profile-top.ts DIR [--top 40] [--by file|function]
 *
 * Reads every .cpuprofile in DIR (what `node --cpu-prof --cpu-prof-dir=DIR`
 * writes: one per thread, uWS HTTP threads and pool workers included) and
 * prints, per thread and summed, self time by function (name, file:line) and
 * by area (file). Proportions are what to read on a shared machine: the
 * sampling profiler's wall clock includes waits, so "(idle)" and "(program)"
 * are listed and left out of the percentages. --inclusive: total time under
 * each function (self + callees) instead of self time.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

interface Node { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }
interface Profile { nodes: Node[]; samples: number[]; timeDeltas: number[]; startTime: number; endTime: number }

const { values: v, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: 'string', default: '40' }, by: { type: 'string', default: 'function' }, threads: { type: 'boolean', default: false }, inclusive: { type: 'boolean', default: false } } });
const dir = positionals[0];
if (!dir) { console.error('usage: bench/cpu-profile-top.ts DIR [--top N] [--by function|file] [--threads]'); process.exit(2); }
const top = Number(v.top);
const SKIP = new Set(['(idle)', '(program)', '(root)']);
const shortUrl = (u: string) => u.replace(/^file:\/\//, '').replace(/^.*\/node_modules\//, 'nm:').replace(/^.*\/src\//, 'src/').replace(/^node:/, 'node:');
const key = (n: Node) => (v.by === 'file'
  ? (n.callFrame.url ? shortUrl(n.callFrame.url) : n.callFrame.functionName)
  : `${n.callFrame.functionName || '(anon)'} ${n.callFrame.url ? `${shortUrl(n.callFrame.url)}:${n.callFrame.lineNumber + 1}` : ''}`);

const total = new Map<string, number>();
let totalBusy = 0;
for (const f of readdirSync(dir).filter((x) => x.endsWith('.cpuprofile')).sort()) {
  const p = JSON.parse(readFileSync(join(dir, f), 'utf8')) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map<string, number>();
  let busy = 0; let idle = 0;
  for (let i = 0; i < p.samples.length; i++) {
    const n = byId.get(p.samples[i])!; const dt = p.timeDeltas[i] ?? 0;
    if (SKIP.has(n.callFrame.functionName)) { idle += dt; continue; }
    busy += dt;
    if (!v.inclusive) { const k = key(n); self.set(k, (self.get(k) ?? 0) + dt); continue; }
    // --inclusive: every distinct key on the sample's stack gets the sample (total time under it)
    const seen = new Set<string>();
    for (let id: number | undefined = n.id; id !== undefined; id = parent.get(id)) { const k = key(byId.get(id)!); if (!seen.has(k)) { seen.add(k); self.set(k, (self.get(k) ?? 0) + dt); } }
  }
  totalBusy += busy;
  for (const [k, t] of self) total.set(k, (total.get(k) ?? 0) + t);
  const sorted = [...self].sort((a, b) => b[1] - a[1]);
  console.log(`\n${f}: busy ${(busy / 1e3).toFixed(0)} ms, idle/program ${(idle / 1e3).toFixed(0)} ms; top: ${sorted.slice(0, 3).map(([k, t]) => `${k} ${(100 * t / Math.max(1, busy)).toFixed(1)}%`).join('; ')}`);
  if (v.threads) for (const [k, t] of sorted.slice(0, top)) console.log(`  ${(100 * t / busy).toFixed(1).padStart(5)}%  ${(t / 1e3).toFixed(1).padStart(8)} ms  ${k}`);
}
console.log(`\nall threads: busy ${(totalBusy / 1e3).toFixed(0)} ms`);
for (const [k, t] of [...total].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`  ${(100 * t / totalBusy).toFixed(1).padStart(5)}%  ${(t / 1e3).toFixed(1).padStart(8)} ms  ${k}`);
