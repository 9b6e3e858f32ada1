/** Waits for `cond` (polled every 25 ms) up to `ms`; fails naming `what`. For the Redis suites' waits on replicas and servers. */
export async function until(cond: () => boolean | Promise<boolean>, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) { if (await cond()) return; await new Promise((r) => setTimeout(r, 25)); }
  throw new Error(`not within ${ms} ms: ${what}`);
}
