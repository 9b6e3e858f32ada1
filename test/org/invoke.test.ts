/**
 * Issue 11 on POST /v1/model-router/invoke: smart routing never executes a
 * model the organisation excluded (other organisations still get it), uses
 * its feedback, and every call is in the organisation's activity log.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { KEY_A, KEY_B, ROUTABLE, call, eventually, startOrgGateway, type OrgGateway } from './helpers.ts';

let g: OrgGateway;
before(async () => { g = await startOrgGateway(); });
after(async () => { await g.close(); });

const invoke = (key: string, content: string) => call(g.gw.base, key, 'POST', '/v1/model-router/invoke', { messages: [{ role: 'user', content }], smart_routing: true, config_overrides: { candidates: ROUTABLE } });

describe('invoke with organisation preferences', () => {
  it('an excluded model is never executed for that organisation; the call is logged for it alone', async () => {
    const p = 'Prove that the square root of 2 is irrational.';
    const first = await invoke(KEY_A, p);
    assert.equal(first.status, 200, first.text);
    const victim = first.json.routing_metadata.executed_model;
    await call(g.gw.base, KEY_A, 'PUT', '/v1/preferences/excluded_models', { value: [victim] });
    try {
      const a = await invoke(KEY_A, p);
      assert.equal(a.status, 200, a.text);
      assert.notEqual(a.json.routing_metadata.executed_model, victim);
      assert.ok(!a.json.routing_metadata.candidate_chain.includes(victim));
      const b = await invoke(KEY_B, p);
      assert.equal(b.json.routing_metadata.executed_model, victim);
      const id = a.headers.get('x-request-id')!;
      const row = await eventually(async () => (await call(g.gw.base, KEY_A, 'GET', '/v1/org/logs?limit=10000')).json.data.find((x: any) => x.request_id === id), 'invoke row');
      assert.deepEqual([row.endpoint, row.model_executed, row.routing_reason], ['/v1/model-router/invoke', a.json.routing_metadata.executed_model, 'routed']);
      assert.ok(!(await call(g.gw.base, KEY_B, 'GET', '/v1/org/logs?limit=10000')).json.data.some((x: any) => x.request_id === id));
    } finally {
      await call(g.gw.base, KEY_A, 'DELETE', '/v1/preferences/excluded_models');
    }
  });
});
