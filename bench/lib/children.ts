/**
 * Every child process a benchmark starts is registered here so that it is
 * stopped on every way out: normal end, an exception, Ctrl-C, SIGTERM.
 * Stopping is by PID only (SIGTERM, then SIGKILL after a grace period): a
 * benchmark never kills by name, and never anything it did not start.
 */
import type { ChildProcess } from 'node:child_process';

const live = new Set<ChildProcess>();
let installed = false;

export function trackChild(child: ChildProcess): ChildProcess {
  live.add(child);
  child.once('exit', () => live.delete(child));
  if (!installed) {
    installed = true;
    // 'exit' handlers must be synchronous: SIGKILL is the only thing left to do there.
    process.once('exit', () => { for (const c of live) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL'); });
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
      process.once(sig, () => {
        process.stderr.write(`\n${sig}: stopping ${live.size} child process(es)\n`);
        void stopAll().finally(() => process.exit(130));
      });
    }
  }
  return child;
}

/** SIGTERM, wait up to graceMs for the exit, then SIGKILL. Resolves once the child is gone. */
export function stopChild(child: ChildProcess, graceMs = 5000): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => { clearTimeout(t); resolve(); });
    child.kill('SIGTERM');
  });
}

export async function stopAll(): Promise<void> {
  await Promise.all([...live].map((c) => stopChild(c)));
}
