/**
 * Resident memory and CPU time of a process and all its descendants, from
 * /proc (Linux only; null elsewhere). A server that forks workers (cluster) or runs
 * threads is measured whole: threads share the process's RSS, child
 * processes are found through /proc/<pid>/task/<tid>/children.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

function rssKiB(pid: number): number {
  const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+)/);
  return m ? Number(m[1]) : 0;
}

function descendants(pid: number, out: number[] = []): number[] {
  let tasks: string[] = [];
  try { tasks = readdirSync(`/proc/${pid}/task`); } catch { return out; }
  for (const t of tasks) {
    let kids = '';
    try { kids = readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8'); } catch { continue; }
    for (const k of kids.split(' ')) if (k.trim()) { const c = Number(k); out.push(c); descendants(c, out); }
  }
  return out;
}

export function treeRssMiB(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  try {
    let kib = rssKiB(pid);
    for (const c of descendants(pid)) { try { kib += rssKiB(c); } catch { /* exited meanwhile */ } }
    return kib / 1024;
  } catch { return null; }
}

let clkTck = 0;
/** user + system CPU seconds used so far by pid and its descendants (threads included). */
export function treeCpuSeconds(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  if (!clkTck) clkTck = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout?.trim()) || 100;
  const one = (p: number): number => {
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(f[11]) + Number(f[12]);
  };
  try {
    let ticks = one(pid);
    for (const c of descendants(pid)) { try { ticks += one(c); } catch { /* exited meanwhile */ } }
    return ticks / clkTck;
  } catch { return null; }
}

/** Samples treeRssMiB every intervalMs until stop(); keeps the max and a coarse series. */
export class RssSampler {
  max = 0;
  readonly series: { t_ms: number; rss_mib: number }[] = [];
  private readonly t0 = performance.now();
  private readonly timer: NodeJS.Timeout;
  constructor(private readonly pid: number | undefined, intervalMs = 100) {
    this.sample();
    this.timer = setInterval(() => this.sample(), intervalMs);
  }
  private sample(): void {
    const v = treeRssMiB(this.pid);
    if (v === null) return;
    if (v > this.max) this.max = v;
    this.series.push({ t_ms: Math.round(performance.now() - this.t0), rss_mib: Math.round(v * 10) / 10 });
  }
  stop(): { max_mib: number; series: { t_ms: number; rss_mib: number }[] } {
    clearInterval(this.timer);
    this.sample();
    return { max_mib: this.max, series: this.series };
  }
}
