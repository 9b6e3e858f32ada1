/**
 * GET /v1/model-health with catalog ids (issue 10: GreatRouter's SDK,
 * getModelHealth(['openai/gpt-4-1106-preview', ...])): each entry's model_id
 * is the id the client asked for, as GreatRouter answers, so a client can
 * find its models in the answer; configured names still answer as
 * themselves.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startEnv, get, type Env } from './helpers.ts';

let env: Env;
before(async () => { env = await startEnv(); });
after(async () => { await env.close(); });

describe('GET /v1/model-health with catalog ids', () => {
  it('model_id is the id asked for: catalog id or configured name', async () => {
    // gpt-4-1106-preview is configured without a slash: its catalog id is openai/gpt-4-1106-preview.
    const asked = ['openai/gpt-4-1106-preview', 'claude-v2', 'mistralai/mixtral-8x7b-chat'];
    const r = await get(env.base, `/v1/model-health?models=${encodeURIComponent(asked.join(','))}`);
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json.health.map((h: any) => h.model_id), asked);
    for (const h of r.json.health) assert.equal(typeof h.health_entry.failures, 'number');
  });
});
