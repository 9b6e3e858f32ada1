/**
 * What every part of the Redis store (src/store/redis/store.ts) runs its
 * commands through: one gate that turns every failure into a StoreError
 * (handlers answer 503 store_unavailable), counts commands in flight so
 * close() waits for them, and refuses work after close.
 *
 * Why failures are fast, not hangs: the client (client.ts) has no offline
 * queue and a command timeout, so while Redis is down a command rejects at
 * once ("Stream isn't writeable") and a slow Redis fails it after
 * state.redis.command_timeout_ms. One exception: before the first
 * connection was ever ready (a replica that just started) a call waits for
 * it, at most state.redis.connect_timeout_ms. Nothing here retries: a retried write
 * whose first attempt did land would apply twice (a feedback counted twice,
 * a log row duplicated).
 *
 * Lua scripts: `Script` runs one by EVALSHA (the body crosses the wire once
 * per connection) and falls back to EVAL on NOSCRIPT (a SCRIPT FLUSH, a
 * restarted or failed-over Redis). Every key a script touches is passed in
 * KEYS and carries the organisation's hash tag, so it runs on one Cluster slot.
 */
import { createHash } from 'node:crypto';
import { StoreError } from '../types.ts';
import type { RedisHandle, RedisLike } from './client.ts';

/** The message names the operation and the client's reason; never the URL (it may hold a password). */
export function storeError(what: string, e: unknown): StoreError {
  if (e instanceof StoreError) return e;
  const reason = e instanceof Error ? e.message : String(e);
  return new StoreError(`redis store: ${what} failed: ${reason}`, undefined, { cause: e });
}

export class RedisOps {
  private closed = false;
  private readonly inflight = new Set<Promise<unknown>>();

  constructor(readonly handle: RedisHandle) {}

  key(family: string, org: string, ...rest: string[]): string { return this.handle.keys.org(family, org, ...rest); }
  global(family: string, ...rest: string[]): string { return this.handle.keys.global(family, ...rest); }

  /** Runs `f`; any rejection (or throw) becomes a StoreError naming `what`. */
  run<T>(what: string, f: (c: RedisLike) => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new StoreError(`redis store: ${what} after close`));
    let p: Promise<T>;
    if (this.handle.state().status === 'connecting') {
      // The first connection is still being made (a replica that just started): wait for it, at most
      // connect_timeout_ms (ready() rejects then), rather than fail the first requests.
      p = this.handle.ready().then(() => f(this.handle.client));
    } else {
      try { p = f(this.handle.client); } catch (e) { return Promise.reject(storeError(what, e)); }
    }
    const q = p.then((v) => v, (e: unknown) => { throw storeError(what, e); });
    this.inflight.add(q);
    const done = () => { this.inflight.delete(q); };
    q.then(done, done);
    return q;
  }

  /** Refuses new work, then waits for what is in flight (each settles: a reply or the command timeout). */
  async close(): Promise<void> {
    this.closed = true;
    while (this.inflight.size > 0) await Promise.allSettled([...this.inflight]);
  }
}

/**
 * A MULTI/EXEC's replies: ioredis gives [error, reply] per command (an
 * error inside the transaction does not reject exec); the first error throws.
 */
export function execReplies(r: [Error | null, unknown][] | null): unknown[] {
  if (r === null) throw new Error('transaction aborted');
  return r.map(([e, v]) => { if (e) throw e; return v; });
}

export class Script {
  readonly sha: string;
  constructor(readonly name: string, readonly lua: string) {
    this.sha = createHash('sha1').update(lua).digest('hex');
  }

  async run(c: RedisLike, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> {
    try {
      return await c.evalsha(this.sha, keys.length, ...keys, ...args);
    } catch (e) {
      if (!(e instanceof Error) || !e.message.startsWith('NOSCRIPT')) throw e;
      return c.eval(this.lua, keys.length, ...keys, ...args);
    }
  }
}
