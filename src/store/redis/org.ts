/**
 * Preferences, feedback and task feedback on Redis (issue 12; OrgStore of
 * src/store/org-types.ts; the activity log is log.ts).
 *
 *   pref:{org}    hash  key -> `<updated_at ms>\t<value JSON>`
 *   fb:{org}      hash  per (cluster, model) cell three fields:
 *                       `n\t<cluster>\t<model>` count (HINCRBY),
 *                       `e\t<cluster>\t<model>` error sum (HINCRBYFLOAT),
 *                       `t\t<cluster>\t<model>` updated_at
 *   taskfb:{org}  list  newest first, JSON rows, capped at TASK_FEEDBACK_CAP
 *   orgver:{org}  string  INCR on every change of the above
 *
 * A feedback add is one MULTI (the three cell fields and the version): two
 * replicas scoring the same cell at once both count, and the reply is the
 * cell as this add left it. A reset is a Lua script (read the cell names,
 * delete the matching ones) so an add cannot land half-deleted.
 *
 * `orgver` lets a replica that may have missed an invalidation on the bus
 * (src/api/org-state.ts) check with one GET whether anything changed before
 * it re-reads and recompiles an organisation. No TTL on any of these: they
 * are the organisation's settings and evidence, kept until changed.
 */
import type { ActivityRow, LogQuery, ModelFeedbackRow, ModelUsage, OrgStore, PreferenceRow, StoredActivity, TaskFeedbackRow } from '../org-types.ts';
import { RedisOps, Script, execReplies } from './ops.ts';
import { RedisActivityLog } from './log.ts';

/** Task feedback rows kept per organisation (the task memory reads the newest 2,000; suggestions 500). */
export const TASK_FEEDBACK_CAP = 10_000;

// ARGV: model ('' = any), cluster ('' = any). Returns the cells deleted.
const RESET = new Script('fb_reset', `
local n = 0
for _, f in ipairs(redis.call('HKEYS', KEYS[1])) do
  local c, m = string.match(f, '^n\\t(%-?%d+)\\t(.*)$')
  if c and (ARGV[1] == '' or ARGV[1] == m) and (ARGV[2] == '' or ARGV[2] == c) then
    local cell = c .. '\\t' .. m
    redis.call('HDEL', KEYS[1], 'n\\t' .. cell, 'e\\t' .. cell, 't\\t' .. cell)
    n = n + 1
  end
end
if n > 0 then redis.call('INCR', KEYS[2]) end
return n`);

export interface OrgStoreOptions {
  logRetentionMs: number;
  logMaxLen: number;
}

export class RedisOrgStore implements OrgStore {
  private readonly log: RedisActivityLog;

  constructor(private readonly ops: RedisOps, opts: OrgStoreOptions) {
    this.log = new RedisActivityLog(ops, opts.logRetentionMs, opts.logMaxLen);
  }

  private ver(org: string): string { return this.ops.key('orgver', org); }

  /** A number that changes whenever the organisation's preferences, feedback or task feedback change (0: never written). */
  generation(org: string): Promise<number> {
    return this.ops.run('organisation version read', async (c) => Number(await c.get(this.ver(org)) ?? 0));
  }

  preferences(org: string): Promise<PreferenceRow[]> {
    return this.ops.run('preference read', async (c) => {
      const h = await c.hgetall(this.ops.key('pref', org));
      const rows: PreferenceRow[] = [];
      for (const [key, v] of Object.entries(h)) {
        const tab = v.indexOf('\t');
        rows.push({ key, value: v.slice(tab + 1), updatedAt: Number(v.slice(0, tab)) });
      }
      return rows.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    });
  }
  setPreference(org: string, key: string, value: string, at: number): Promise<void> {
    return this.ops.run('preference write', async (c) => {
      execReplies(await c.multi().hset(this.ops.key('pref', org), key, `${at}\t${value}`).incr(this.ver(org)).exec());
    });
  }
  deletePreference(org: string, key: string): Promise<boolean> {
    return this.ops.run('preference delete', async (c) => {
      const [n] = execReplies(await c.multi().hdel(this.ops.key('pref', org), key).incr(this.ver(org)).exec());
      return n === 1;
    });
  }

  modelFeedback(org: string): Promise<ModelFeedbackRow[]> {
    return this.ops.run('feedback read', async (c) => {
      const h = await c.hgetall(this.ops.key('fb', org));
      const rows: ModelFeedbackRow[] = [];
      for (const [f, v] of Object.entries(h)) {
        if (!f.startsWith('n\t')) continue;
        const cell = f.slice(2);
        const tab = cell.indexOf('\t');
        const e = h[`e\t${cell}`], t = h[`t\t${cell}`];
        rows.push({ cluster: Number(cell.slice(0, tab)), model: cell.slice(tab + 1), n: Number(v), errSum: e === undefined ? 0 : Number(e), updatedAt: t === undefined ? 0 : Number(t) });
      }
      return rows;
    });
  }
  addModelFeedback(org: string, cluster: number, model: string, err: number, at: number): Promise<ModelFeedbackRow> {
    const cell = `${cluster}\t${model}`;
    const key = this.ops.key('fb', org);
    return this.ops.run('feedback write', async (c) => {
      const [n, e] = execReplies(await c.multi().hincrby(key, `n\t${cell}`, 1).hincrbyfloat(key, `e\t${cell}`, err).hset(key, `t\t${cell}`, String(at)).incr(this.ver(org)).exec());
      return { cluster, model, n: Number(n), errSum: Number(e), updatedAt: at };
    });
  }
  resetModelFeedback(org: string, model?: string, cluster?: number): Promise<number> {
    return this.ops.run('feedback reset', async (c) => Number(await RESET.run(c, [this.ops.key('fb', org), this.ver(org)], [model ?? '', cluster === undefined ? '' : String(cluster)])));
  }

  addTaskFeedback(org: string, row: TaskFeedbackRow): Promise<void> {
    const key = this.ops.key('taskfb', org);
    const json = JSON.stringify([row.prompt, row.classifiedTask, row.correct ? 1 : 0, row.confidence, row.suggestedTask, row.createdAt]);
    return this.ops.run('task feedback write', async (c) => {
      execReplies(await c.multi().lpush(key, json).ltrim(key, 0, TASK_FEEDBACK_CAP - 1).incr(this.ver(org)).exec());
    });
  }
  taskFeedback(org: string, limit: number): Promise<TaskFeedbackRow[]> {
    return this.ops.run('task feedback read', async (c) => {
      if (limit <= 0) return [];
      return (await c.lrange(this.ops.key('taskfb', org), 0, limit - 1)).map((j) => {
        const a = JSON.parse(j) as [string, string, number, number | null, string | null, number];
        return { prompt: a[0], classifiedTask: a[1], correct: a[2] === 1, confidence: a[3], suggestedTask: a[4], createdAt: a[5] };
      });
    });
  }

  appendLogs(rows: readonly ActivityRow[]): Promise<void> { return this.log.append(rows); }
  logs(org: string, q: LogQuery): Promise<StoredActivity[]> { return this.log.logs(org, q); }
  logByRequest(org: string, requestId: string): Promise<StoredActivity | undefined> { return this.log.byRequest(org, requestId); }
  usage(org: string, since: number): Promise<ModelUsage[]> { return this.log.usage(org, since); }
  purgeLogs(before: number): Promise<number> { return this.log.purge(before); }
}
