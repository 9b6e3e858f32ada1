/**
 * The contract every Store implementation passes (STYLE.md habit 3): the
 * embedded SQLite store runs it in sqlite.test.ts; the Redis store of issue 12
 * will run the same suite. `open()` must return a store over the same data
 * each time it is called (durability is checked by closing one and opening
 * the next).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { StoreError, type Store, type StoredResponse } from '../../src/store/types.ts';

export interface ContractTarget {
  open(): Store | Promise<Store>;
}

let seq = 0;
export function row(over: Partial<StoredResponse> = {}): StoredResponse {
  const id = over.id ?? `resp_${process.pid}_${Date.now()}_${seq++}`;
  return {
    id,
    org: 'org_a',
    createdAt: Math.floor(Date.now() / 1000),
    previousResponseId: null,
    response: JSON.stringify({ id, object: 'response', output: [{ type: 'message', content: [{ type: 'output_text', text: 'héllo ✓' }] }] }),
    inputItems: JSON.stringify([{ id: `msg_${seq}`, type: 'message', role: 'user', content: [{ type: 'input_text', text: 'hi' }] }]),
    messages: JSON.stringify([{ role: 'user', content: 'hi' }, { role: 'assistant', content: 'héllo ✓' }]),
    ...over,
  };
}

export function storeContract(name: string, target: ContractTarget): void {
  describe(`Store contract: ${name}`, () => {
    const withStore = async (fn: (s: Store) => Promise<void>) => {
      const s = await target.open();
      try { await fn(s); } finally { await s.close(); }
    };

    it('put then get returns the row field for field; an unknown id is undefined', () => withStore(async (s) => {
      const r = row({ previousResponseId: 'resp_prev' });
      await s.responses.put(r);
      assert.deepEqual(await s.responses.get(r.org, r.id), r);
      assert.equal(await s.responses.get(r.org, 'resp_never_stored'), undefined);
    }));

    it('a large row (1 MB response) survives the round trip byte for byte', () => withStore(async (s) => {
      const r = row({ response: JSON.stringify({ text: 'x\u00e9\u{1F600}'.repeat(250_000) }) });
      await s.responses.put(r);
      assert.equal((await s.responses.get(r.org, r.id))?.response, r.response);
    }));

    it('org isolation: another org never gets, deletes or overwrites the row', () => withStore(async (s) => {
      const a = row({ org: 'org_a' });
      await s.responses.put(a);
      assert.equal(await s.responses.get('org_b', a.id), undefined);
      assert.equal(await s.responses.delete('org_b', a.id), false);
      assert.deepEqual(await s.responses.get('org_a', a.id), a);
      // The same id under org B is B's own row; A's is untouched.
      const b = { ...a, org: 'org_b', response: '{"owner":"b"}' };
      await s.responses.put(b);
      assert.deepEqual(await s.responses.get('org_b', a.id), b);
      assert.deepEqual(await s.responses.get('org_a', a.id), a);
      assert.equal(await s.responses.delete('org_b', a.id), true);
      assert.deepEqual(await s.responses.get('org_a', a.id), a);
    }));

    it('put of an existing id replaces it', () => withStore(async (s) => {
      const r = row();
      await s.responses.put(r);
      const r2 = { ...r, response: '{"v":2}' };
      await s.responses.put(r2);
      assert.deepEqual(await s.responses.get(r.org, r.id), r2);
    }));

    it('delete: true once, then false; the row is gone', () => withStore(async (s) => {
      const r = row();
      await s.responses.put(r);
      assert.equal(await s.responses.delete(r.org, r.id), true);
      assert.equal(await s.responses.get(r.org, r.id), undefined);
      assert.equal(await s.responses.delete(r.org, r.id), false);
    }));

    it('purge deletes rows created before the cut-off, in every org, and counts them', () => withStore(async (s) => {
      const now = Math.floor(Date.now() / 1000);
      // Far in the past so rows of other tests (created now) are not counted.
      const old = [row({ createdAt: 1000 }), row({ createdAt: 1001, org: 'org_b' })];
      const fresh = row({ createdAt: now });
      for (const r of [...old, fresh]) await s.responses.put(r);
      assert.equal(await s.responses.purge(2000), 2);
      for (const r of old) assert.equal(await s.responses.get(r.org, r.id), undefined);
      assert.deepEqual(await s.responses.get(fresh.org, fresh.id), fresh);
      assert.equal(await s.responses.purge(2000), 0);
    }));

    it('durable: a row put before close is there after reopening', async () => {
      const r = row();
      const s1 = await target.open();
      await s1.responses.put(r);
      await s1.close();
      const s2 = await target.open();
      try { assert.deepEqual(await s2.responses.get(r.org, r.id), r); } finally { await s2.close(); }
    });

    it('concurrent puts: 500 at once all resolve and are all readable', () => withStore(async (s) => {
      const rows = Array.from({ length: 500 }, (_, i) => row({ org: i % 2 ? 'org_a' : 'org_b' }));
      await Promise.all(rows.map((r) => s.responses.put(r)));
      for (const r of rows) assert.deepEqual(await s.responses.get(r.org, r.id), r);
    }));

    it('close waits for puts still in flight (they commit, not vanish)', async () => {
      const rows = Array.from({ length: 50 }, () => row());
      const s1 = await target.open();
      const puts = rows.map((r) => s1.responses.put(r));
      await s1.close();
      await Promise.all(puts);
      const s2 = await target.open();
      try { for (const r of rows) assert.ok(await s2.responses.get(r.org, r.id), r.id); } finally { await s2.close(); }
    });

    it('writes after close reject with StoreError', async () => {
      const s = await target.open();
      await s.close();
      await assert.rejects(s.responses.put(row()), StoreError);
    });
  });
}
