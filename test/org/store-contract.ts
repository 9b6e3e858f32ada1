/**
 * The OrgStore contract (preferences, feedback evidence, task feedback,
 * activity log; src/store/org-types.ts): the embedded SQLite store runs it in
 * store.test.ts; issue 12's Redis store will run the same suite. `open()`
 * returns a store over the same data each time (durability: close one, open
 * the next).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Store } from '../../src/store/types.ts';
import type { ActivityRow } from '../../src/store/org-types.ts';

let n = 0;
export function activity(over: Partial<ActivityRow> = {}): ActivityRow {
  return {
    requestId: `req_${process.pid}_${n++}`, org: 'org_a', at: Date.now(), endpoint: '/v1/chat/completions', modelRequested: 'auto', modelSelected: 'm1',
    modelExecuted: 'm1', reason: 'routed', fallbackChain: 'm1', cluster: 3, promptTokens: 10, completionTokens: 5, costUsd: 0.001, latencyMs: 12.5,
    status: 200, cacheHit: false, ...over,
  };
}

export function orgStoreContract(name: string, open: () => Store | Promise<Store>): void {
  describe(`OrgStore contract: ${name}`, () => {
    const withStore = async (fn: (s: Store) => Promise<void>) => {
      const s = await open();
      try { await fn(s); } finally { await s.close(); }
    };
    const org = () => `org_${process.pid}_${n++}`;

    it('preferences: set, replace, list sorted by key, delete (true once), scoped by organisation, durable', async () => {
      const a = org(), b = org();
      await withStore(async (s) => {
        await s.org.setPreference(a, 'excluded_models', '["x"]', 1);
        await s.org.setPreference(a, 'default_task', '"code"', 2);
        await s.org.setPreference(a, 'default_task', '"text"', 3);
        await s.org.setPreference(b, 'default_task', '"image"', 4);
      });
      await withStore(async (s) => {
        assert.deepEqual(await s.org.preferences(a), [{ key: 'default_task', value: '"text"', updatedAt: 3 }, { key: 'excluded_models', value: '["x"]', updatedAt: 1 }]);
        assert.deepEqual((await s.org.preferences(b)).map((r) => r.value), ['"image"']);
        assert.equal(await s.org.deletePreference(b, 'excluded_models'), false);
        assert.equal(await s.org.deletePreference(a, 'excluded_models'), true);
        assert.equal(await s.org.deletePreference(a, 'excluded_models'), false);
        assert.deepEqual((await s.org.preferences(a)).map((r) => r.key), ['default_task']);
      });
    });

    it('model feedback: concurrent adds all count; reset by cell, model, cluster or all; scoped', async () => {
      const a = org(), b = org();
      await withStore(async (s) => {
        await Promise.all(Array.from({ length: 20 }, (_, i) => s.org.addModelFeedback(a, 1, 'm1', i % 2, i)));
        const last = await s.org.addModelFeedback(a, 1, 'm1', 0.5, 100);
        assert.deepEqual([last.n, last.errSum], [21, 10.5]);
        await s.org.addModelFeedback(a, 2, 'm1', 1, 1);
        await s.org.addModelFeedback(a, 1, 'm2', 1, 1);
        await s.org.addModelFeedback(b, 1, 'm1', 1, 1);
      });
      await withStore(async (s) => {
        assert.equal((await s.org.modelFeedback(a)).length, 3);
        assert.equal(await s.org.resetModelFeedback(a, 'm1', 2), 1);
        assert.equal(await s.org.resetModelFeedback(a, 'm2'), 1);
        assert.deepEqual((await s.org.modelFeedback(a)).map((r) => [r.cluster, r.model, r.n]), [[1, 'm1', 21]]);
        assert.equal(await s.org.resetModelFeedback(a, undefined, 1), 1);
        assert.equal((await s.org.modelFeedback(b)).length, 1);
        assert.equal(await s.org.resetModelFeedback(b), 1);
        assert.deepEqual(await s.org.modelFeedback(b), []);
      });
    });

    it('task feedback: newest first, limited, scoped', async () => {
      const a = org(), b = org();
      await withStore(async (s) => {
        for (let i = 0; i < 5; i++) await s.org.addTaskFeedback(a, { prompt: `p${i}`, classifiedTask: 'text', correct: i % 2 === 0, confidence: i === 0 ? null : 0.5, suggestedTask: i % 2 ? 'code' : null, createdAt: i });
        await s.org.addTaskFeedback(b, { prompt: 'other', classifiedTask: 'code', correct: true, confidence: null, suggestedTask: null, createdAt: 9 });
        const rows = await s.org.taskFeedback(a, 3);
        assert.deepEqual(rows.map((r) => r.prompt), ['p4', 'p3', 'p2']);
        assert.deepEqual(rows[1], { prompt: 'p3', classifiedTask: 'text', correct: false, confidence: 0.5, suggestedTask: 'code', createdAt: 3 });
        assert.deepEqual((await s.org.taskFeedback(b, 10)).map((r) => r.prompt), ['other']);
      });
    });

    it('activity log: a batch round-trips field for field; window, cursor and limit; lookup by request id; usage; purge by age; scoped', async () => {
      const a = org(), b = org();
      const t = 1_700_000_000_000;
      const rows = [
        activity({ org: a, at: t, fallbackChain: 'm2,m1', modelExecuted: 'm1', reason: 'fallback' }),
        activity({ org: a, at: t + 10, status: 502, modelExecuted: 'm2', costUsd: null, cluster: null, promptTokens: null, completionTokens: null }),
        activity({ org: b, at: t + 20 }),
        activity({ org: a, at: t + 30, cacheHit: true, costUsd: 0 }),
      ];
      await withStore(async (s) => { await s.org.appendLogs(rows); });
      await withStore(async (s) => {
        const got = await s.org.logs(a, { limit: 100 });
        assert.equal(got.length, 3);
        assert.deepEqual(got.map(({ seq: _seq, ...r }) => r), [rows[0], rows[1], rows[3]]);
        assert.ok(got[0].seq < got[1].seq && got[1].seq < got[2].seq);
        assert.deepEqual((await s.org.logs(a, { since: t + 10, until: t + 30, limit: 100 })).map((r) => r.at), [t + 10]);
        assert.deepEqual((await s.org.logs(a, { after: got[0].seq, limit: 1 })).map((r) => r.at), [t + 10]);
        assert.equal((await s.org.logByRequest(a, rows[1].requestId))?.status, 502);
        assert.equal(await s.org.logByRequest(a, rows[2].requestId), undefined);
        assert.equal((await s.org.logByRequest(b, rows[2].requestId))?.org, b);
        const usage = await s.org.usage(a, 0);
        assert.deepEqual(usage.map((u) => [u.model, u.requests, u.errors]).sort(), [['m1', 2, 0], ['m2', 1, 1]]);
        assert.ok(await s.org.purgeLogs(t + 15) >= 2);
        assert.deepEqual((await s.org.logs(a, { limit: 100 })).map((r) => r.at), [t + 30]);
        assert.deepEqual((await s.org.logs(b, { limit: 100 })).map((r) => r.at), [t + 20]);
      });
    });
  });
}
