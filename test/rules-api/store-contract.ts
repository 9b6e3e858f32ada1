/**
 * The contract of the rule-routing store interfaces (RouterConfigStore,
 * SessionStore, RouteDecisionStore; src/store/types.ts), for every Store
 * implementation: the SQLite one runs it in store.test.ts, a Redis one
 * (issue 12) would run the same. `open()` returns a store over the same data
 * each time (durability is checked by closing one and opening the next).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { RouterConfigWrite, Store, StoredRouterConfig } from '../../src/store/types.ts';

/** The row of a write that must have succeeded. */
function rowOf(w: RouterConfigWrite): StoredRouterConfig {
  assert.ok(w.ok, JSON.stringify(w));
  return w.row;
}

export function routingStoreContract(name: string, open: () => Store | Promise<Store>): void {
  describe(`routing store contract: ${name}`, () => {
    const withStore = async (fn: (s: Store) => Promise<void>) => {
      const s = await open();
      try { await fn(s); } finally { await s.close(); }
    };
    const create = (s: Store, org: string, name: string) => s.routerConfigs.create({ org, id: randomUUID(), name, config: `{"name":"${name}"}`, source: 'api', createdAt: 1_000 });

    it('router configs: create (version 1), get by id and name, list per org, name_taken', () => withStore(async (s) => {
      const row = rowOf(await create(s, 'o1', 'alpha'));
      assert.equal(row.version, 1);
      assert.equal(row.updatedAt, row.createdAt);
      assert.deepEqual(await s.routerConfigs.get('o1', row.id), row);
      assert.deepEqual(await s.routerConfigs.get('o1', 'alpha'), row);
      assert.deepEqual(await s.routerConfigs.get('o1', row.id.toUpperCase()), row);
      assert.equal(await s.routerConfigs.get('o2', 'alpha'), undefined, 'another org sees nothing');
      assert.deepEqual(await create(s, 'o1', 'alpha'), { ok: false, reason: 'name_taken' });
      assert.ok((await create(s, 'o2', 'alpha')).ok, 'names are unique per org');
      assert.deepEqual((await s.routerConfigs.list('o1')).map((r) => r.name), ['alpha']);
    }));

    it('router configs: a conditional update bumps the version; a stale version, a taken name, an unknown id are refused and change nothing', () => withStore(async (s) => {
      const a = rowOf(await create(s, 'o3', 'a'));
      await create(s, 'o3', 'b');
      const u = rowOf(await s.routerConfigs.update('o3', a.id, 1, 'a2', '{"x":1}', 'yaml', 2_000));
      assert.deepEqual({ v: u.version, name: u.name, config: u.config, source: u.source, at: u.updatedAt, created: u.createdAt }, { v: 2, name: 'a2', config: '{"x":1}', source: 'yaml', at: 2_000, created: 1_000 });
      assert.deepEqual(await s.routerConfigs.update('o3', a.id, 1, 'a3', '{}', 'api', 3_000), { ok: false, reason: 'version_conflict', current: 2 });
      assert.deepEqual(await s.routerConfigs.update('o3', a.id, 2, 'b', '{}', 'api', 3_000), { ok: false, reason: 'name_taken' });
      assert.deepEqual(await s.routerConfigs.update('o3', randomUUID(), 1, 'z', '{}', 'api', 3_000), { ok: false, reason: 'not_found' });
      assert.equal((await s.routerConfigs.get('o3', a.id))!.version, 2);
    }));

    it('router configs: concurrent updates from one version: exactly one lands', () => withStore(async (s) => {
      const a = rowOf(await create(s, 'o4', 'a'));
      const rs = await Promise.all([1, 2, 3, 4, 5].map((i) => s.routerConfigs.update('o4', a.id, 1, 'a', `{"i":${i}}`, 'api', 5_000)));
      assert.equal(rs.filter((r) => r.ok).length, 1);
      assert.equal((await s.routerConfigs.get('o4', a.id))!.version, 2);
    }));

    it('router configs: delete (with and without a version); a second delete is not_found', () => withStore(async (s) => {
      const a = rowOf(await create(s, 'o5', 'a'));
      assert.deepEqual(await s.routerConfigs.delete('o5', a.id, 7), { ok: false, reason: 'version_conflict', current: 1 });
      assert.deepEqual(await s.routerConfigs.delete('o5', a.id, 1), { ok: true, row: null });
      assert.deepEqual(await s.routerConfigs.delete('o5', a.id), { ok: false, reason: 'not_found' });
      assert.equal(await s.routerConfigs.get('o5', 'a'), undefined);
    }));

    it('sessions: recent returns the newest whole messages within the budget, oldest first; append keeps the newest `keep`', () => withStore(async (s) => {
      const id = randomUUID();
      const m = (c: string, tokens: number) => ({ role: 'user', content: c, tokens });
      await s.sessions.append('o6', id, [m('a', 10), m('b', 10)], 1, 100);
      await s.sessions.append('o6', id, [m('c', 10), m('d', 10)], 2, 100);
      assert.deepEqual((await s.sessions.recent('o6', id, 1000)).map((x) => x.content), ['a', 'b', 'c', 'd']);
      assert.deepEqual((await s.sessions.recent('o6', id, 25)).map((x) => x.content), ['c', 'd']);
      assert.deepEqual(await s.sessions.recent('o6', id, 5), []);
      assert.deepEqual(await s.sessions.recent('o7', id, 1000), [], 'another org sees nothing');
      await s.sessions.append('o6', id, [m('e', 1)], 3, 3);
      assert.deepEqual((await s.sessions.recent('o6', id, 1000)).map((x) => x.content), ['c', 'd', 'e']);
    }));

    it('route decisions: put then get; unknown is undefined; scoped by org', () => withStore(async (s) => {
      const id = randomUUID();
      await s.routeDecisions.put({ id, org: 'o8', createdAt: 9, decision: '{"id":"x","é":"✓"}' });
      assert.deepEqual(await s.routeDecisions.get('o8', id), { id, org: 'o8', createdAt: 9, decision: '{"id":"x","é":"✓"}' });
      assert.equal(await s.routeDecisions.get('o9', id), undefined);
      assert.equal(await s.routeDecisions.get('o8', randomUUID()), undefined);
    }));

    it('durable: what one store wrote, the next one opened on the same data reads', async () => {
      const id = randomUUID();
      let cfgId = '';
      await withStore(async (s) => {
        cfgId = rowOf(await create(s, 'o10', 'kept')).id;
        await s.sessions.append('o10', id, [{ role: 'user', content: 'hi', tokens: 1 }], 1, 10);
        await s.routeDecisions.put({ id, org: 'o10', createdAt: 1, decision: '{}' });
      });
      await withStore(async (s) => {
        assert.equal((await s.routerConfigs.get('o10', 'kept'))!.id, cfgId);
        assert.equal((await s.sessions.recent('o10', id, 10)).length, 1);
        assert.ok(await s.routeDecisions.get('o10', id));
      });
    });
  });
}
