/**
 * The activity log on Redis (issue 12): one stream per organisation
 * (`log:{org}`), capped by XADD MAXLEN ~ state.redis.log_max_len, kept
 * state.logs.retention_days (XTRIM MINID by the purge, PEXPIRE after the
 * last write); GET /v1/org/logs pages it as it pages SQLite.
 *
 * Stream IDs carry the time: `<ms>-<n>` with ms = the row's `at`, or the
 * stream's last ID when `at` is older (a slow request logged after faster
 * ones, another replica's clock): IDs must grow. So an ID's ms is never
 * below its row's `at`, and the largest gap (`lag` in `logmeta:{org}`) bounds
 * how far past `until` a window's rows can sit. A window [since, until) is
 * then the ID range [since, until + lag), filtered on `at`: exact, no scan
 * of the whole stream.
 *
 * The export's cursor (`seq`, a number in the JSON and CSV) is the ID as
 * ms x 1000 + n: n stays below 1000 (the script moves to the next ms
 * first), so the mapping is one-to-one and fits a double exactly until the
 * year 2255. 16 digits where SQLite's seq had fewer: GET /v1/org/logs
 * accepts both.
 *
 * logByRequest: `logreq:{org}:<request id>` -> the row's ID, written by the
 * same script, expiring with the retention; feedback on a request finds its
 * row in two reads inside one script, whatever the stream's length.
 *
 * usage() (the preference suggestions' 30 days) reads per-hour counters the
 * append script keeps (`logusage:{org}:<hour>`: requests, errors, cost per
 * executed model; `logbuckets:{org}` indexes the hours that exist), not the
 * stream: at most 720 small hashes instead of up to log_max_len entries.
 *
 * Every organisation that ever logged is in the set `log-orgs` (not
 * per-organisation: the purge walks it); the purge trims each stream by
 * MINID. A row whose ID ms was moved past the cut-off (see above) by a
 * clock gap stays until a later purge: retention is kept to within `lag`.
 */
import type { ActivityRow, LogQuery, ModelUsage, StoredActivity } from '../org-types.ts';
import { RedisOps, Script } from './ops.ts';

const SEQ_PER_MS = 1000;
/** Usage buckets: one hash per organisation per hour (`logusage:{org}:<hour since the epoch>`). */
const BUCKET_MS = 3_600_000;

// KEYS: stream, meta, the bucket index, then one logreq key per row, then the usage buckets the rows fall in.
// ARGV: maxlen, retention ms, bucket TTL ms, then per row: at, json, bucket key index (into KEYS), executed model ('' = none), error (0/1), cost.
const APPEND = new Script('log_append', `
local ms, part = -1, -1
if redis.call('EXISTS', KEYS[1]) == 1 then
  local info = redis.call('XINFO', 'STREAM', KEYS[1])
  for i = 1, #info, 2 do
    if info[i] == 'last-generated-id' then
      local a, b = string.match(info[i + 1], '^(%d+)-(%d+)$')
      ms, part = tonumber(a), tonumber(b)
    end
  end
end
local lag = tonumber(redis.call('HGET', KEYS[2], 'lag') or '0')
local maxlen, keep, bucketTtl = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local rows = (#ARGV - 3) / 6
for r = 1, rows do
  local o = 3 + (r - 1) * 6
  local at = tonumber(ARGV[o + 1])
  if at > ms then ms, part = at, 0 else part = part + 1 end
  if part >= ${SEQ_PER_MS} then ms, part = ms + 1, 0 end
  if ms == 0 and part == 0 then part = 1 end
  if ms - at > lag then lag = ms - at end
  local id = string.format('%d-%d', ms, part)
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', maxlen, id, 'r', ARGV[o + 2])
  if keep > 0 then redis.call('SET', KEYS[3 + r], id, 'PX', keep) else redis.call('SET', KEYS[3 + r], id) end
  local model = ARGV[o + 4]
  if model ~= '' then
    local b = KEYS[tonumber(ARGV[o + 3])]
    local bh = math.floor(at / ${BUCKET_MS})
    redis.call('ZADD', KEYS[3], bh, string.format('%d', bh))
    redis.call('HINCRBY', b, 'r\t' .. model, 1)
    if ARGV[o + 5] == '1' then redis.call('HINCRBY', b, 'e\t' .. model, 1) end
    if ARGV[o + 6] ~= '0' then redis.call('HINCRBYFLOAT', b, 'c\t' .. model, ARGV[o + 6]) end
    if bucketTtl > 0 then redis.call('PEXPIRE', b, bucketTtl) end
  end
end
redis.call('HSET', KEYS[2], 'lag', string.format('%d', lag))
if keep > 0 then
  redis.call('PEXPIRE', KEYS[1], keep); redis.call('PEXPIRE', KEYS[2], keep)
  -- Index entries of buckets past their TTL go; the index itself lives as long as its newest bucket.
  local now = tonumber(redis.call('TIME')[1]) * 1000
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', '(' .. string.format('%d', math.floor((now - bucketTtl) / ${BUCKET_MS})))
  if bucketTtl > 0 then redis.call('PEXPIRE', KEYS[3], bucketTtl) end
end
return rows`);

const BY_REQUEST = new Script('log_by_request', `
local id = redis.call('GET', KEYS[2])
if not id then return false end
local e = redis.call('XRANGE', KEYS[1], id, id)
if #e == 0 then return false end
return {e[1][1], e[1][2][2]}`);

/** The row minus `org` (the key has it), as one JSON array: compact, and no field names per entry. */
function encode(r: ActivityRow): string {
  return JSON.stringify([r.requestId, r.at, r.endpoint, r.modelRequested, r.modelSelected, r.modelExecuted, r.reason, r.fallbackChain,
    r.cluster, r.promptTokens, r.completionTokens, r.costUsd, r.latencyMs, r.status, r.cacheHit ? 1 : 0]);
}

export function seqOf(id: string): number {
  const dash = id.indexOf('-');
  return Number(id.slice(0, dash)) * SEQ_PER_MS + Number(id.slice(dash + 1));
}

/** The stream ID of a cursor; the first ID after it. */
function idAfter(seq: number): [number, number] {
  const ms = Math.floor(seq / SEQ_PER_MS);
  return [ms, seq - ms * SEQ_PER_MS + 1];
}

function decode(org: string, id: string, json: string): StoredActivity {
  const a = JSON.parse(json) as [string, number, string, string | null, string | null, string | null, string | null, string, number | null, number | null, number | null, number | null, number, number, number];
  return {
    seq: seqOf(id), requestId: a[0], org, at: a[1], endpoint: a[2], modelRequested: a[3], modelSelected: a[4], modelExecuted: a[5], reason: a[6],
    fallbackChain: a[7], cluster: a[8], promptTokens: a[9], completionTokens: a[10], costUsd: a[11], latencyMs: a[12], status: a[13], cacheHit: a[14] === 1,
  };
}

type Entry = [string, string[]];

/** XRANGE pages: enough to fill a page in one read when few rows are filtered out, bounded per reply. */
const PAGE_MIN = 100, PAGE_MAX = 2_000;

export class RedisActivityLog {
  constructor(private readonly ops: RedisOps, private readonly retentionMs: number, private readonly maxLen: number) {}

  private stream(org: string): string { return this.ops.key('log', org); }
  private meta(org: string): string { return this.ops.key('logmeta', org); }
  private bucket(org: string, hour: number): string { return this.ops.key('logusage', org, String(hour)); }
  /** Sorted set of the organisation's bucket hours (score = member = the hour): usage() reads only buckets that exist. */
  private buckets(org: string): string { return this.ops.key('logbuckets', org); }

  append(rows: readonly ActivityRow[]): Promise<void> {
    if (rows.length === 0) return Promise.resolve();
    const byOrg = new Map<string, ActivityRow[]>();
    for (const r of rows) { let a = byOrg.get(r.org); if (!a) byOrg.set(r.org, a = []); a.push(r); }
    // A bucket outlives the rows it counts by one bucket (the oldest is partly inside the window).
    const bucketTtl = this.retentionMs > 0 ? this.retentionMs + BUCKET_MS : 0;
    return this.ops.run('activity log append', async (c) => {
      await c.sadd(this.ops.global('log-orgs'), ...byOrg.keys());
      // One script per organisation: its keys share the organisation's slot.
      await Promise.all([...byOrg].map(([org, list]) => {
        const keys = [this.stream(org), this.meta(org), this.buckets(org), ...list.map((r) => this.ops.key('logreq', org, r.requestId))];
        const bucketIndex = new Map<number, number>();
        const args: (string | number)[] = [this.maxLen, this.retentionMs, bucketTtl];
        for (const r of list) {
          const at = Math.max(0, Math.floor(r.at));
          const b = Math.floor(at / BUCKET_MS);
          let k = bucketIndex.get(b);
          if (k === undefined) { keys.push(this.bucket(org, b)); k = keys.length; bucketIndex.set(b, k); }
          args.push(at, encode(r), k, r.modelExecuted ?? '', r.status >= 500 || r.status === 0 ? 1 : 0, r.costUsd ?? 0);
        }
        return APPEND.run(c, keys, args);
      }));
    });
  }

  logs(org: string, q: LogQuery): Promise<StoredActivity[]> {
    return this.ops.run('activity log read', async (c) => {
      const since = q.since ?? 0, until = q.until ?? Number.MAX_SAFE_INTEGER;
      let [ms, part] = [Math.max(0, Math.floor(since)), 0];
      if (q.after !== undefined) {
        const [ams, apart] = idAfter(q.after);
        if (ams > ms || (ams === ms && apart > part)) [ms, part] = [ams, apart];
      }
      let end = '+';
      if (q.until !== undefined) {
        const lag = Number(await c.hget(this.meta(org), 'lag') ?? 0);
        const last = until + lag - 1;
        if (last < ms) return [];
        end = String(last);
      }
      const out: StoredActivity[] = [];
      let start = `${ms}-${part}`;
      for (;;) {
        const count = Math.min(PAGE_MAX, Math.max(PAGE_MIN, q.limit - out.length));
        const page = await c.xrange(this.stream(org), start, end, 'COUNT', count) as Entry[];
        for (const [id, f] of page) {
          const row = decode(org, id, f[1]);
          if (row.at >= since && row.at < until) { out.push(row); if (out.length >= q.limit) return out; }
        }
        if (page.length < count) return out;
        start = `(${page[page.length - 1][0]}`;
      }
    });
  }

  byRequest(org: string, requestId: string): Promise<StoredActivity | undefined> {
    return this.ops.run('activity log read', async (c) => {
      const v = await BY_REQUEST.run(c, [this.stream(org), this.ops.key('logreq', org, requestId)], []) as [string, string] | null;
      return v ? decode(org, v[0], v[1]) : undefined;
    });
  }

  /**
   * Whole hours from the usage buckets (one HGETALL each, pipelined: at most
   * 720 for the 30-day window of the suggestions), the part of the first hour after
   * `since` from the stream itself (at most an hour of rows), so the answer is
   * exact without reading the whole log. The buckets count every row logged
   * within the retention, rows the MAXLEN cap already trimmed included.
   */
  usage(org: string, since: number): Promise<ModelUsage[]> {
    return this.ops.run('activity log read', async (c) => {
      const by = new Map<string, { requests: number; errors: number; costUsd: number }>();
      const cell = (model: string) => { let u = by.get(model); if (!u) by.set(model, u = { requests: 0, errors: 0, costUsd: 0 }); return u; };
      const from = Math.max(0, Math.floor(since));
      const firstWhole = Math.ceil(from / BUCKET_MS);
      const lag = Number(await c.hget(this.meta(org), 'lag') ?? 0);
      // The partial hour [since, firstWhole): from the stream, filtered on `at` (IDs run up to `lag` past it).
      if (from < firstWhole * BUCKET_MS) {
        const end = String(firstWhole * BUCKET_MS + lag - 1);
        let start = `${from}-0`;
        for (;;) {
          const page = await c.xrange(this.stream(org), start, end, 'COUNT', PAGE_MAX) as Entry[];
          for (const [id, f] of page) {
            const r = decode(org, id, f[1]);
            if (r.at < from || r.at >= firstWhole * BUCKET_MS || r.modelExecuted === null) continue;
            const u = cell(r.modelExecuted);
            u.requests++;
            if (r.status >= 500 || r.status === 0) u.errors++;
            u.costUsd += r.costUsd ?? 0;
          }
          if (page.length < PAGE_MAX) break;
          start = `(${page[page.length - 1][0]}`;
        }
      }
      // Only the buckets that exist, from the first whole hour on (one ahead of now: a replica whose clock runs fast).
      const hours = await c.zrangebyscore(this.buckets(org), firstWhole, '+inf');
      if (hours.length > 0) {
        const p = c.pipeline();
        for (const h of hours) p.hgetall(this.bucket(org, Number(h)));
        for (const [e, h] of (await p.exec()) ?? []) {
          if (e) throw e;
          for (const [f, v] of Object.entries(h as Record<string, string>)) {
            const tab = f.indexOf('\t');
            const u = cell(f.slice(tab + 1));
            const kind = f.slice(0, tab);
            if (kind === 'r') u.requests += Number(v); else if (kind === 'e') u.errors += Number(v); else if (kind === 'c') u.costUsd += Number(v);
          }
        }
      }
      return [...by].filter(([, u]) => u.requests > 0).map(([model, u]) => ({ model, ...u })).sort((a, b) => b.requests - a.requests);
    });
  }

  purge(before: number): Promise<number> {
    return this.ops.run('activity log purge', async (c) => {
      let n = 0, cursor = '0';
      do {
        const [next, orgs] = await c.sscan(this.ops.global('log-orgs'), cursor, 'COUNT', 500);
        cursor = next;
        for (const org of orgs) {
          n += Number(await c.xtrim(this.stream(org), 'MINID', Math.max(0, Math.floor(before))));
          // A stream that expired (retention) or was emptied leaves the set: the walk stays as long as the live organisations.
          if (await c.exists(this.stream(org)) === 0) await c.srem(this.ops.global('log-orgs'), org);
        }
      } while (cursor !== '0');
      return n;
    });
  }
}
