/**
 * Rate limits exact across replicas (issue 12; docs/replicas.md "Rate
 * limits"): the RateLimiter of src/store/rate-limit.ts on Redis, with the same
 * GCRA arithmetic, run by one Lua script over every budget a request draws on
 * (the organisation's and the key's, requests and tokens). The script reads
 * every cell, decides, and writes all of them or none, atomically: no
 * take-then-refund, so unlike the embedded limiter a request never sees a
 * budget momentarily emptier than it is. The clock is Redis TIME (one clock
 * for every replica: no skew between machines). A script that reads TIME and
 * then writes needs effects replication: the default from Redis 5 (the only
 * mode in 7); the scripts ask for it on older servers (replicate_commands).
 *
 * Keys: `<prefix>:v1:rl:{<org>}:<budget name>:r|t`, one string per cell
 * holding its TAT in microseconds (Redis TIME). The organisation is the hash
 * tag, so a request's cells (its organisation's and its key's) share a
 * Cluster slot and one script may touch them all. TTL: the time until the
 * TAT, at most the window (60 s) after an admission: an expired key and a
 * TAT in the past mean the same thing, a full budget.
 *
 * Precision: TATs are doubles in microseconds since the Unix epoch (a
 * quarter-microsecond resolution today). A unit that is not a whole number of
 * microseconds (60e6 / N) rounds by up to 0.125 µs per admission; the script
 * admits with a tolerance of TOLERANCE_US so that a burst of exactly N from an
 * idle budget is never refused for rounding, which can over-admit only a
 * request that was short by less than that (rounding, not a real deficit).
 *
 * When Redis cannot answer (down, a timeout, a script error):
 * `state.redis.rate_limit_failure` "open" admits through the local
 * shared-memory limiter (the embedded one: exact across this replica's
 * threads, so the cluster admits at most replicas x N meanwhile), counted in
 * switchyard_rate_limit_fail_open_total; "closed" answers 503
 * rate_limiter_unavailable. After a failure the limiter stops asking Redis for
 * BACKOFF_MS (a slow Redis would otherwise hold every request for
 * command_timeout_ms), then tries again; while the connection is not ready it
 * does not ask at all.
 *
 * Cost: one EVALSHA round trip per limited request (see bench/replicas.ts,
 * case rate-limit) instead of a few Atomics operations.
 */
import type { Budget } from '../../edge/auth.ts';
import { ApiError } from '../../errors.ts';
import { limitHeaders, WINDOW_NS, type Admission, type LimitKind, type LimitSubject, type RateLimiter } from '../rate-limit.ts';
import type { RedisHandle, RedisLike } from './client.ts';
import type { RedisStats } from './stats.ts';

const WINDOW_US = WINDOW_NS / 1e3;
/** See the header: absorbs float rounding of fractional units; far below any unit (≥ 60 µs at a million a minute). */
const TOLERANCE_US = 1;
/** After a failed call, Redis is not asked again for this long (fail open / closed at once meanwhile). */
export const BACKOFF_MS = 1_000;

/**
 * KEYS: the cells. ARGV[1]: window (µs); ARGV[2]: tolerance (µs); ARGV[2+i]:
 * cell i's increment (cost x unit, µs). Returns {ok, refusing cell (1-based,
 * 0 when admitted), now (µs), tat_1..tat_n} as strings (a Lua number would be
 * truncated to an integer reply). Admitted: the TATs after; refused: every
 * cell's TAT as it stands (max of stored and now), nothing written.
 */
const ADMIT_LUA = `
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local window = tonumber(ARGV[1])
local tol = tonumber(ARGV[2])
local n = #KEYS
local cur = {}
local nxt = {}
local refused = 0
for i = 1, n do
  local c = tonumber(redis.call('GET', KEYS[i]) or '0') or 0
  if c < now then c = now end
  cur[i] = c
  nxt[i] = c + tonumber(ARGV[2 + i])
  if refused == 0 and nxt[i] - now > window + tol then refused = i end
end
local out = {refused == 0 and '1' or '0', tostring(refused), string.format('%.17g', now)}
for i = 1, n do
  if refused == 0 then
    local ttl = math.ceil((nxt[i] - now) / 1000) + 1
    redis.call('SET', KEYS[i], string.format('%.17g', nxt[i]), 'PX', ttl)
    out[3 + i] = string.format('%.17g', nxt[i])
  else
    out[3 + i] = string.format('%.17g', cur[i])
  end
end
return out
`;

/**
 * KEYS: token cells. ARGV[i]: how far to move cell i's TAT back (µs; negative
 * = forward, when more tokens were used than estimated), never before now.
 */
const SETTLE_LUA = `
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
for i = 1, #KEYS do
  local c = tonumber(redis.call('GET', KEYS[i]) or '0') or 0
  local v = c - tonumber(ARGV[i])
  if v > now then
    redis.call('SET', KEYS[i], string.format('%.17g', v), 'PX', math.ceil((v - now) / 1000) + 1)
  else
    redis.call('DEL', KEYS[i])
  end
end
return #KEYS
`;

type Scripted = RedisLike & {
  syLimitAdmit(n: number, ...args: (string | number)[]): Promise<string[]>;
  syLimitSettle(n: number, ...args: (string | number)[]): Promise<number>;
};

const defined = new WeakSet<object>();

/** Loads the scripts on this client once (EVALSHA, with ioredis' EVAL fallback after a SCRIPT FLUSH or a failover). */
export function scripted(client: RedisLike): Scripted {
  if (!defined.has(client)) {
    client.defineCommand('syLimitAdmit', { lua: ADMIT_LUA });
    client.defineCommand('syLimitSettle', { lua: SETTLE_LUA });
    defined.add(client);
  }
  return client as Scripted;
}

interface RCell { key: string; cost: number; unitUs: number; unitNs: number; limit: number; kind: LimitKind; scope: 'organization' | 'key' }

/** The organisation of a budget name ("org:<id>" or "key:<id>/<key id>"; ids match [A-Za-z0-9._:-]). */
function orgOf(name: string): string {
  if (name.startsWith('org:')) return name.slice(4);
  const s = name.slice(4);
  const slash = s.indexOf('/');
  return slash < 0 ? s : s.slice(0, slash);
}

export interface RedisLimiterOptions {
  /** "open": admit through `local`; "closed": 503 rate_limiter_unavailable. */
  failure: 'open' | 'closed';
  /** The embedded limiter over this process's shared buffer: the fail-open fallback. */
  local: RateLimiter;
  stats?: RedisStats;
  /** Milliseconds; injected by tests. */
  now?: () => number;
}

export class RedisRateLimiter implements RateLimiter {
  private readonly keys: { r: string | null; t: string | null; rpm: number; tpm: number; unitR: number; unitT: number }[];
  private readonly client: Scripted;
  private readonly now: () => number;
  /** Until this time (ms) Redis is not asked (see BACKOFF_MS). */
  private backoffUntil = 0;

  constructor(private readonly redis: RedisHandle, budgets: readonly Budget[], private readonly opts: RedisLimiterOptions) {
    this.client = scripted(redis.client);
    this.now = opts.now ?? Date.now;
    this.keys = budgets.map((b) => {
      const org = orgOf(b.name);
      return {
        r: b.requestsPerMinute === null ? null : redis.keys.org('rl', org, b.name, 'r'),
        t: b.tokensPerMinute === null ? null : redis.keys.org('rl', org, b.name, 't'),
        rpm: b.requestsPerMinute ?? 0,
        tpm: b.tokensPerMinute ?? 0,
        unitR: b.requestsPerMinute === null ? 0 : WINDOW_US / b.requestsPerMinute,
        unitT: b.tokensPerMinute === null ? 0 : WINDOW_US / b.tokensPerMinute,
      };
    });
  }

  private cells(s: LimitSubject, tokens: number): RCell[] {
    const out: RCell[] = [];
    const add = (b: number, scope: 'organization' | 'key') => {
      if (b < 0) return;
      const k = this.keys[b];
      if (k.r !== null) out.push({ key: k.r, cost: 1, unitUs: k.unitR, unitNs: k.unitR * 1e3, limit: k.rpm, kind: 'requests', scope });
      if (k.t !== null) out.push({ key: k.t, cost: tokens, unitUs: k.unitT, unitNs: k.unitT * 1e3, limit: k.tpm, kind: 'tokens', scope });
    };
    add(s.orgBudget, 'organization');
    add(s.keyBudget, 'key');
    return out;
  }

  /** Whether to ask Redis now: connected and not backing off after a failure. */
  private usable(): boolean {
    // The client's own status (no allocation, unlike state()): 'ready' for a single server, Sentinel and Cluster alike.
    return (this.redis.client as { status: string }).status === 'ready' && this.now() >= this.backoffUntil;
  }

  private unavailable(e: unknown, s: LimitSubject, tokens: number): Admission | Promise<Admission> {
    if (e !== undefined) { this.opts.stats?.failed(e); this.backoffUntil = this.now() + BACKOFF_MS; }
    if (this.opts.failure === 'closed') {
      this.opts.stats?.add('rate_limit_fail_closed');
      throw new ApiError('rate_limiter_unavailable');
    }
    this.opts.stats?.add('rate_limit_fail_open');
    return this.opts.local.admit(s, tokens);
  }

  admit(s: LimitSubject, tokens: number): Admission | Promise<Admission> {
    const cells = this.cells(s, tokens);
    if (cells.length === 0) return { ok: true, headers: [] };
    if (!this.usable()) return this.unavailable(undefined, s, tokens);
    const args: (string | number)[] = cells.map((c) => c.key);
    args.push(WINDOW_US, TOLERANCE_US);
    for (const c of cells) args.push(c.cost * c.unitUs);
    return this.client.syLimitAdmit(cells.length, ...args).then(
      (r) => this.decided(cells, r),
      (e: unknown) => this.unavailable(e, s, tokens),
    );
  }

  private decided(cells: readonly RCell[], r: readonly string[]): Admission {
    const refused = Number(r[1]);
    // Headers in nanoseconds on the Redis clock (µs x 1e3), as the embedded limiter computes them.
    const now = Number(r[2]) * 1e3;
    const tats = cells.map((_, i) => Number(r[3 + i]) * 1e3);
    const headers = limitHeaders(cells, tats, now);
    if (r[0] === '1') return { ok: true, headers };
    const c = cells[refused - 1];
    const inc = c.cost * c.unitNs;
    const never = inc > WINDOW_NS;
    const wait = never ? null : Math.max(1, Math.ceil((tats[refused - 1] + inc - WINDOW_NS - now) / 1e9));
    headers.push(['retry-after', String(wait ?? 60)]);
    return { ok: false, headers, limit: c.kind, scope: c.scope, retryAfterS: wait };
  }

  settle(s: LimitSubject, deltaTokens: number): Promise<void> | void {
    if (deltaTokens === 0) return;
    const cells = this.cells(s, 0).filter((c) => c.kind === 'tokens');
    if (cells.length === 0) return;
    // A settlement lost while Redis is away leaves the estimate in place (what a missing usage report does too).
    if (!this.usable()) return;
    return this.client.syLimitSettle(cells.length, ...cells.map((c) => c.key), ...cells.map((c) => -deltaTokens * c.unitUs)).then(
      () => undefined,
      (e: unknown) => { this.opts.stats?.failed(e); },
    );
  }
}
