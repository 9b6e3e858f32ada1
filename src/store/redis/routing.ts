/**
 * Router configs and sessions on Redis (issue 12; the interfaces of
 * src/store/types.ts, the contract test/rules-api/store-contract.ts).
 *
 * Router configs: per organisation a hash id -> the row's JSON
 * (`rc:{org}`) and a hash name -> id (`rcn:{org}`). Every check-then-write
 * (name taken, the expected version) runs inside one Lua script, so it is
 * atomic across replicas: of two updates that read version 3 the first to
 * reach Redis makes it 4, the second finds 4 and is refused
 * (version_conflict), exactly as the SQLite writer's single connection does.
 * No TTL: a config lives until deleted.
 *
 * Sessions: one list per session (`sess:{org}:<id>`), each element
 * `<at ms>\t<tokens>\t<role>\t<content>`. An append is one MULTI (RPUSH the
 * turn, LTRIM to the newest `keep`, PEXPIRE): concurrent appends interleave
 * whole turns. recent() walks the list from its end inside a Lua script and
 * returns only the messages within the token budget (a long session is never
 * shipped whole), from one consistent snapshot.
 * TTL: the key expires ttl after its last append, and messages older than ttl
 * are never read (the `at` prefix), as in SQLite.
 */
import type { RouterConfigStore, RouterConfigWrite, SessionMessage, SessionStore, StoredRouterConfig } from '../types.ts';
import { RedisOps, Script, execReplies } from './ops.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const GET = new Script('rc_get', `
local v = false
if ARGV[1] ~= '' then v = redis.call('HGET', KEYS[1], ARGV[1]) end
if not v then
  local id = redis.call('HGET', KEYS[2], ARGV[2])
  if id then v = redis.call('HGET', KEYS[1], id) end
end
return v`);

const CREATE = new Script('rc_create', `
if redis.call('HEXISTS', KEYS[2], ARGV[2]) == 1 then return false end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('HSET', KEYS[2], ARGV[2], ARGV[1])
return ARGV[3]`);

// cjson keeps 14 significant digits: unix ms (13) and versions are exact.
const UPDATE = new Script('rc_update', `
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if not cur then return {'not_found'} end
local r = cjson.decode(cur)
if r.version ~= tonumber(ARGV[2]) then return {'version_conflict', tostring(r.version)} end
local owner = redis.call('HGET', KEYS[2], ARGV[3])
if owner and owner ~= ARGV[1] then return {'name_taken'} end
if r.name ~= ARGV[3] then
  redis.call('HDEL', KEYS[2], r.name)
  redis.call('HSET', KEYS[2], ARGV[3], ARGV[1])
end
r.name = ARGV[3]; r.config = ARGV[4]; r.source = ARGV[5]; r.updatedAt = tonumber(ARGV[6]); r.version = r.version + 1
local j = cjson.encode(r)
redis.call('HSET', KEYS[1], ARGV[1], j)
return {'ok', j}`);

const DELETE = new Script('rc_delete', `
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if not cur then return {'not_found'} end
local r = cjson.decode(cur)
if ARGV[2] ~= '' and r.version ~= tonumber(ARGV[2]) then return {'version_conflict', tostring(r.version)} end
redis.call('HDEL', KEYS[1], ARGV[1])
if redis.call('HGET', KEYS[2], r.name) == ARGV[1] then redis.call('HDEL', KEYS[2], r.name) end
return {'ok'}`);

function parseRow(json: string): StoredRouterConfig {
  const r = JSON.parse(json) as StoredRouterConfig;
  return { id: r.id, org: r.org, name: r.name, version: r.version, config: r.config, source: r.source, createdAt: r.createdAt, updatedAt: r.updatedAt };
}

function refusal(reply: unknown): RouterConfigWrite {
  const [reason, current] = reply as [string, string | undefined];
  if (reason === 'version_conflict') return { ok: false, reason, current: Number(current) };
  return { ok: false, reason: reason as 'not_found' | 'name_taken' };
}

export class RedisRouterConfigs implements RouterConfigStore {
  constructor(private readonly ops: RedisOps) {}
  private keys(org: string): [string, string] { return [this.ops.key('rc', org), this.ops.key('rcn', org)]; }

  list(org: string): Promise<StoredRouterConfig[]> {
    return this.ops.run('router config list', async (c) => {
      const rows = (await c.hvals(this.keys(org)[0])).map(parseRow);
      return rows.sort((a, b) => a.createdAt - b.createdAt || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    });
  }
  get(org: string, idOrName: string): Promise<StoredRouterConfig | undefined> {
    return this.ops.run('router config read', async (c) => {
      const v = await GET.run(c, this.keys(org), [UUID.test(idOrName) ? idOrName.toLowerCase() : '', idOrName]);
      return typeof v === 'string' ? parseRow(v) : undefined;
    });
  }
  create(row: Omit<StoredRouterConfig, 'version' | 'updatedAt'>): Promise<RouterConfigWrite> {
    const full: StoredRouterConfig = { id: row.id, org: row.org, name: row.name, version: 1, config: row.config, source: row.source, createdAt: row.createdAt, updatedAt: row.createdAt };
    return this.ops.run('router config create', async (c) => {
      const v = await CREATE.run(c, this.keys(row.org), [row.id, row.name, JSON.stringify(full)]);
      return typeof v === 'string' ? { ok: true, row: full } : { ok: false, reason: 'name_taken' };
    });
  }
  update(org: string, id: string, expectedVersion: number, name: string, config: string, source: 'yaml' | 'api', updatedAt: number): Promise<RouterConfigWrite> {
    return this.ops.run('router config update', async (c) => {
      const v = await UPDATE.run(c, this.keys(org), [id, expectedVersion, name, config, source, updatedAt]) as string[];
      return v[0] === 'ok' ? { ok: true, row: parseRow(v[1]) } : refusal(v);
    });
  }
  delete(org: string, id: string, expectedVersion?: number): Promise<RouterConfigWrite | { ok: true; row: null }> {
    return this.ops.run('router config delete', async (c) => {
      const v = await DELETE.run(c, this.keys(org), [id, expectedVersion === undefined ? '' : expectedVersion]) as string[];
      return v[0] === 'ok' ? { ok: true, row: null } : refusal(v);
    });
  }
}

/** Most messages recent() looks at (as SQLite's SESSION_READ_LIMIT): a budget never needs more. */
const SESSION_READ_LIMIT = 1_000;

// Newest first; stops at the first message past the budget or older than ARGV[2]; at most ARGV[3] looked at.
const RECENT = new Script('session_recent', `
local n = redis.call('LLEN', KEYS[1])
local budget, notBefore, limit = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local out, sum, seen, i = {}, 0, 0, -1
while -i <= n and seen < limit do
  local chunk = redis.call('LRANGE', KEYS[1], i - 31, i)
  for j = #chunk, 1, -1 do
    local e = chunk[j]
    local at, tok = string.match(e, '^(%d+)\\t(%d+)\\t')
    at, tok = tonumber(at), tonumber(tok)
    seen = seen + 1
    if at < notBefore or sum + tok > budget or seen > limit then return out end
    sum = sum + tok
    out[#out + 1] = e
  end
  i = i - 32
end
return out`);

export class RedisSessions implements SessionStore {
  constructor(private readonly ops: RedisOps, private readonly ttlMs: number) {}

  recent(org: string, sessionId: string, tokenBudget: number): Promise<SessionMessage[]> {
    const notBefore = this.ttlMs > 0 ? Date.now() - this.ttlMs : 0;
    return this.ops.run('session read', async (c) => {
      const raw = await RECENT.run(c, [this.ops.key('sess', org, sessionId)], [tokenBudget, notBefore, SESSION_READ_LIMIT]) as string[];
      const out: SessionMessage[] = new Array(raw.length);
      for (let k = 0; k < raw.length; k++) {
        const e = raw[k];
        const a = e.indexOf('\t'), b = e.indexOf('\t', a + 1), d = e.indexOf('\t', b + 1);
        out[raw.length - 1 - k] = { role: e.slice(b + 1, d), content: e.slice(d + 1), tokens: Number(e.slice(a + 1, b)) };
      }
      return out;
    });
  }

  append(org: string, sessionId: string, messages: readonly SessionMessage[], at: number, keep: number): Promise<void> {
    if (messages.length === 0) return Promise.resolve();
    const key = this.ops.key('sess', org, sessionId);
    // A role never holds a tab (the API accepts a fixed set); the content may: it is the last field.
    const items = messages.map((m) => `${Math.max(0, Math.floor(at))}\t${Math.max(0, Math.floor(m.tokens))}\t${m.role.replace(/\t/g, ' ')}\t${m.content}`);
    return this.ops.run('session append', async (c) => {
      const m = c.multi().rpush(key, ...items).ltrim(key, -Math.max(1, keep), -1);
      if (this.ttlMs > 0) m.pexpire(key, this.ttlMs);
      execReplies(await m.exec());
    });
  }
}
