/**
 * Organisations (issue 11) on GreatRouter's session context (issue 10): the
 * prompts a session_id remembers belong to the caller's organisation, so one
 * organisation's session cannot be read (session_prompts, the task it pulls a
 * follow-up toward) or fed by another that uses the same session_id.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { startEnv, type Env } from './helpers.ts';

const KEY_A = 'gr-org-a-key-0123456789', KEY_B = 'gr-org-b-key-0123456789';
process.env.GR_ORG_A_KEY = KEY_A;
process.env.GR_ORG_B_KEY = KEY_B;

let env: Env;
before(async () => {
  env = await startEnv([], { tenants: [{ id: 'org_a', keys_env: ['GR_ORG_A_KEY'] }, { id: 'org_b', keys_env: ['GR_ORG_B_KEY'] }] });
});
after(async () => { await env.close(); });

async function post(path: string, key: string, body: unknown): Promise<{ status: number; json: any; text: string }> {
  const res = await fetch(env.base + path, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` }, body: JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, json: JSON.parse(text), text };
}

const msgs = (content: string) => ({ messages: [{ role: 'user', content }] });

describe('GreatRouter sessions per organisation', () => {
  it('one session_id in two organisations: two sessions', async () => {
    const sid = randomUUID();
    const code = 'Write a Python function that parses a CSV file into a list of dicts.';
    for (let i = 0; i < 3; i++) {
      const r = await post('/v1/auto/route', KEY_A, { prompt: code, input: msgs(code), session_id: sid });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.context.session_prompts, i);
    }
    const follow = 'make it shorter';
    const b = await post('/v1/auto/suggest', KEY_B, { prompt: follow, session_id: sid });
    assert.equal(b.status, 200, b.text);
    assert.deepEqual(b.json.context, { session_prompts: 0, contextual_boost: 0 }, 'org_b must not see org_a\'s prompts');
    assert.notEqual(b.json.classification.decision, 'session');
    const br = await post('/v1/auto/route', KEY_B, { prompt: follow, input: msgs(follow), session_id: sid });
    assert.equal(br.status, 200, br.text);
    assert.equal(br.json.context.session_prompts, 0);
    // org_a's session still holds its own three prompts (org_b's append did not land in it).
    const a = await post('/v1/auto/suggest', KEY_A, { prompt: follow, session_id: sid });
    assert.equal(a.json.context.session_prompts, 3);
    assert.equal(a.json.classification.decision, 'session');
  });
});
