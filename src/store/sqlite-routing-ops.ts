/**
 * The writes of router configs, sessions and route decisions (issue 9), as
 * the writer thread (sqlite-writer.ts) applies them, and the start-up seeding
 * of YAML configs, which runs the same statements on a connection of its own.
 *
 * Every check-then-write here (the version of a conditional update, a name
 * already taken) is atomic because one connection of the process writes,
 * one op at a time: no other write can land between the SELECT and the
 * UPDATE. That is what makes optimistic concurrency hold: of two updates
 * that read version 3, the first to reach the writer makes it 4 and the
 * second finds 4, not 3, and is refused (version_conflict), instead of
 * silently overwriting.
 *
 * Results are plain objects (structured-cloned back to the caller); a
 * refusal is a result, not a throw: a throw fails the op with StoreError
 * (503), which is for a broken store, not for a client's stale version.
 */
import type Database from 'better-sqlite3';
import type { RouterConfigWrite, SessionMessage, StoredRouterConfig } from './types.ts';

export type RoutingOp =
  | { op: 'rc_create'; row: Omit<StoredRouterConfig, 'version' | 'updatedAt'> }
  | { op: 'rc_update'; org: string; id: string; expectedVersion: number; name: string; config: string; source: 'yaml' | 'api'; updatedAt: number }
  | { op: 'rc_delete'; org: string; id: string; expectedVersion?: number }
  | { op: 'session_append'; org: string; sessionId: string; messages: readonly SessionMessage[]; at: number; keep: number }
  | { op: 'decision_put'; org: string; id: string; createdAt: number; decision: string };

export const ROUTING_OPS: ReadonlySet<string> = new Set(['rc_create', 'rc_update', 'rc_delete', 'session_append', 'decision_put']);

interface RcRow { org: string; id: string; name: string; version: number; config: string; source: 'yaml' | 'api'; created_at: number; updated_at: number }

export function toStoredConfig(r: RcRow): StoredRouterConfig {
  return { org: r.org, id: r.id, name: r.name, version: r.version, config: r.config, source: r.source, createdAt: r.created_at, updatedAt: r.updated_at };
}

export const RC_COLUMNS = 'org, id, name, version, config, source, created_at, updated_at';

/** Expired route decisions deleted per new one: more than arrive, so expiry keeps up, and a bounded cost per write. */
const EXPIRE_PER_PUT = 8;

/**
 * Prepared once per writer connection; `apply` runs one op. `ttlMs`
 * (state.responses.ttl_days; 0 = keep): route decisions and session messages
 * older than that are never read (sqlite-routing.ts) and are deleted here as
 * new ones arrive: each decision put deletes up to EXPIRE_PER_PUT expired
 * decisions (by the created_at index), each session append that session's
 * expired messages. No purge job: what nobody writes to any more (an
 * abandoned session) stays on disk, capped at max_messages per session.
 */
export function routingWriter(db: Database.Database, ttlMs = 0): (op: RoutingOp) => unknown {
  const byId = db.prepare<[string, string], RcRow>(`SELECT ${RC_COLUMNS} FROM router_configs WHERE org = ? AND id = ?`);
  const nameOwner = db.prepare<[string, string], { id: string }>('SELECT id FROM router_configs WHERE org = ? AND name = ?');
  const insert = db.prepare(`INSERT INTO router_configs (${RC_COLUMNS}) VALUES (@org, @id, @name, 1, @config, @source, @createdAt, @createdAt)`);
  const update = db.prepare('UPDATE router_configs SET name = ?, config = ?, source = ?, version = version + 1, updated_at = ? WHERE org = ? AND id = ? AND version = ?');
  const del = db.prepare('DELETE FROM router_configs WHERE org = ? AND id = ?');
  const addMsg = db.prepare('INSERT INTO session_messages (org, session_id, role, content, tokens, created_at) VALUES (?, ?, ?, ?, ?, ?)');
  // Deletes all but the newest `keep` messages of a session (the index makes it a range scan of that session).
  const trim = db.prepare(`DELETE FROM session_messages WHERE org = ? AND session_id = ? AND seq <= (
    SELECT seq FROM session_messages WHERE org = ? AND session_id = ? ORDER BY seq DESC LIMIT 1 OFFSET ?)`);
  const putDecision = db.prepare('INSERT OR REPLACE INTO route_decisions (org, id, created_at, decision) VALUES (?, ?, ?, ?)');
  const expireDecisions = db.prepare('DELETE FROM route_decisions WHERE rowid IN (SELECT rowid FROM route_decisions WHERE created_at < ? LIMIT ?)');
  const expireSession = db.prepare('DELETE FROM session_messages WHERE org = ? AND session_id = ? AND created_at < ?');

  return (op) => {
    switch (op.op) {
      case 'rc_create': {
        const r = op.row;
        if (nameOwner.get(r.org, r.name)) return { ok: false, reason: 'name_taken' } satisfies RouterConfigWrite;
        insert.run({ org: r.org, id: r.id, name: r.name, config: r.config, source: r.source, createdAt: r.createdAt });
        return { ok: true, row: toStoredConfig(byId.get(r.org, r.id)!) } satisfies RouterConfigWrite;
      }
      case 'rc_update': {
        const cur = byId.get(op.org, op.id);
        if (!cur) return { ok: false, reason: 'not_found' } satisfies RouterConfigWrite;
        if (cur.version !== op.expectedVersion) return { ok: false, reason: 'version_conflict', current: cur.version } satisfies RouterConfigWrite;
        const owner = nameOwner.get(op.org, op.name);
        if (owner && owner.id !== op.id) return { ok: false, reason: 'name_taken' } satisfies RouterConfigWrite;
        update.run(op.name, op.config, op.source, op.updatedAt, op.org, op.id, op.expectedVersion);
        return { ok: true, row: toStoredConfig(byId.get(op.org, op.id)!) } satisfies RouterConfigWrite;
      }
      case 'rc_delete': {
        const cur = byId.get(op.org, op.id);
        if (!cur) return { ok: false, reason: 'not_found' } satisfies RouterConfigWrite;
        if (op.expectedVersion !== undefined && cur.version !== op.expectedVersion) return { ok: false, reason: 'version_conflict', current: cur.version } satisfies RouterConfigWrite;
        del.run(op.org, op.id);
        return { ok: true, row: null };
      }
      case 'session_append': {
        for (const m of op.messages) addMsg.run(op.org, op.sessionId, m.role, m.content, m.tokens, op.at);
        trim.run(op.org, op.sessionId, op.org, op.sessionId, op.keep);
        if (ttlMs > 0) expireSession.run(op.org, op.sessionId, op.at - ttlMs);
        return undefined;
      }
      case 'decision_put':
        putDecision.run(op.org, op.id, op.createdAt, op.decision);
        if (ttlMs > 0) expireDecisions.run(op.createdAt - ttlMs, EXPIRE_PER_PUT);
        return undefined;
    }
  };
}
