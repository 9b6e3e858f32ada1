/**
 * V8 heap settings for a latency-bound server, applied by main.ts before the
 * HTTP threads start. V8 flags are process-wide: a flag set here reaches every
 * isolate created afterwards (the HTTP threads, the pools) and, for the
 * pretenuring flag, which V8 reads at each GC, the main thread too. A flag the
 * operator gave on the node command line (or in package.json's start) wins: it
 * is never overridden.
 *
 * --no-allocation-site-pretenuring
 *   V8 watches allocation sites and, when most objects from a site survive a
 *   scavenge (as in-flight requests do while the server warms up with a 1 MB
 *   young generation), allocates that site's objects straight in the old
 *   generation from then on. A gateway request's objects (undici's header
 *   buffers, the request state) then die in the old generation: measured
 *   ~1.4 KB/request of old-space growth through the mock upstream, 67 B with
 *   the flag (README, bench:latency: what each change bought), so periodic
 *   mark-compacts (the longest pauses) where a scavenge would do. What
 *   can go wrong: objects that really do live long are copied once or twice by
 *   scavenges before promotion; at start-up only.
 *
 * --min-semi-space-size=16 (MB)
 *   The young generation starts at 1 MB (4 MB in a worker) and grows only
 *   while much survives; a server whose requests leave little behind stays
 *   small and scavenges every ~140 requests, each a pause of ~0.3-1 ms
 *   that lands inside some request: at 1 % of requests that is the p99.
 *   Starting at 16 MB (V8's default maximum on 64-bit) makes scavenges ~10x
 *   rarer for the same garbage, each about as short (its cost is what
 *   survives, not the space's size). Cost: two 16 MB semi-spaces per isolate
 *   from the start (main + each HTTP thread): measured RSS of a 2-thread
 *   server 243 -> 306 MiB idle, 313 -> 342 MiB after load.
 *   Only isolates created after this call get it: with server.threads = 1
 *   the main thread serves HTTP, so `npm start` passes it on the command line.
 */
import v8 from 'node:v8';

export const LATENCY_V8_FLAGS: readonly string[] = ['--no-allocation-site-pretenuring', '--min-semi-space-size=16'];

/** The flag's name without --, no-, =value; '_' as '-'. */
const nameOf = (a: string): string => a.replace(/^--(no-)?/, '').replace(/=.*$/, '').replace(/_/g, '-');

/**
 * Sets each flag unless the command line or NODE_OPTIONS already says
 * something about it (a given --max-semi-space-size counts for the minimum
 * too: a minimum above the operator's maximum is not ours to impose).
 * Returns the flags it set.
 */
export function tuneHeapForLatency(execArgv: readonly string[] = process.execArgv, nodeOptions = process.env.NODE_OPTIONS ?? ''): string[] {
  const given = new Set([...execArgv, ...nodeOptions.split(/\s+/)].filter((a) => a.startsWith('--')).map(nameOf));
  if (given.has('max-semi-space-size')) given.add('min-semi-space-size');
  const set: string[] = [];
  for (const flag of LATENCY_V8_FLAGS) {
    if (given.has(nameOf(flag))) continue;
    v8.setFlagsFromString(flag);
    set.push(flag);
  }
  return set;
}
