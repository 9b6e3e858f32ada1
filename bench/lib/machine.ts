/** What a benchmark prints about where and how it ran: the machine, `uptime` (load), the command line. */
import { execFileSync } from 'node:child_process';
import os from 'node:os';

export const machine = {
  cpu: os.cpus()[0]?.model ?? 'cpu', cores: os.cpus().length, mem_gib: Math.round(os.totalmem() / 2 ** 30), os: `${os.type()} ${os.release()}`, node: process.version,
};

/** `uptime`'s line (load averages), or the load averages alone where there is no uptime binary. */
export function uptime(): string {
  try { return execFileSync('uptime', { encoding: 'utf8' }).trim(); } catch { return `load average ${os.loadavg().map((x) => x.toFixed(2)).join(', ')}`; }
}

/** How to run this again: `npm run <script> -- <this process's arguments>`, quoted where needed. */
export function commandLine(script: string): string {
  const args = process.argv.slice(2);
  return `npm run ${script}${args.length ? ` -- ${args.map((a) => (/[\s'"]/.test(a) ? `'${a}'` : a)).join(' ')}` : ''}`;
}
