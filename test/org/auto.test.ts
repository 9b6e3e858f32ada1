/**
 * GreatRouter's /v1/auto/* with an organisation's preferences and task
 * feedback (issue 11): corrected prompts steer the classification of similar
 * prompts of that organisation only (decision "feedback"); default_task,
 * content_mode_default and default_optimization fill what a request leaves
 * out; excluded models are never suggested.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { KEY_A, KEY_B, call, startOrgGateway, type OrgGateway } from './helpers.ts';

let g: OrgGateway;
let base: string;
before(async () => { g = await startOrgGateway(); base = g.gw.base; });
after(async () => { await g.close(); });

const suggest = async (key: string, prompt: string, extra: Record<string, unknown> = {}) => {
  const r = await call(base, key, 'POST', '/v1/auto/suggest', { prompt, ...extra });
  assert.equal(r.status, 200, r.text);
  return r.json;
};

describe('/v1/auto/* with organisation feedback and preferences', () => {
  it('corrected prompts move the classification of similar prompts for that organisation only', async () => {
    const probe = 'Please reticulate the quarterly ledger splines for region 42 and report the totals';
    const before = await suggest(KEY_A, probe);
    assert.notEqual(before.classification.task, 'code');
    for (let i = 0; i < 4; i++) {
      const r = await call(base, KEY_A, 'POST', '/v1/auto/feedback', {
        prompt: `Please reticulate the quarterly ledger splines for region ${i} and report the totals`, classified_task: before.classification.task, correct: false, confidence: 0.7, suggested_task: 'code',
      });
      assert.equal(r.status, 200, r.text);
    }
    const a = await suggest(KEY_A, probe);
    assert.equal(a.classification.task, 'code');
    assert.equal(a.classification.decision, 'feedback');
    assert.match(a.classification.reasoning, /similar corrected prompt/);
    const b = await suggest(KEY_B, probe);
    assert.equal(b.classification.task, before.classification.task);
    // An unrelated prompt is untouched for A, and a task hint still wins.
    assert.notEqual((await suggest(KEY_A, 'Write a haiku about autumn leaves.')).classification.decision, 'feedback');
    assert.equal((await suggest(KEY_A, probe, { task: 'text' })).classification.task, 'text');
  });

  it('default_task, content_mode_default and default_optimization fill what the request leaves out', async () => {
    await call(base, KEY_B, 'PUT', '/v1/preferences/default_optimization', { value: 'price-optimized' });
    await call(base, KEY_B, 'PUT', '/v1/preferences/content_mode_default', { value: 'edit' });
    await call(base, KEY_B, 'PUT', '/v1/preferences/default_task', { value: 'code' });
    try {
      const s = await suggest(KEY_B, 'What is the capital of Australia?');
      assert.equal(s.optimization, 'price-optimized');
      assert.equal(s.classification.content_mode, 'edit');
      assert.equal(s.classification.task, 'code');
      const given = await suggest(KEY_B, 'What is the capital of Australia?', { optimization: 'output-optimized', content_mode: 'generate', task: 'text' });
      assert.deepEqual([given.optimization, given.classification.content_mode, given.classification.task], ['output-optimized', 'generate', 'text']);
      const a = await suggest(KEY_A, 'What is the capital of Australia?');
      assert.equal(a.optimization, 'balanced');
    } finally {
      for (const k of ['default_optimization', 'content_mode_default', 'default_task']) await call(base, KEY_B, 'DELETE', `/v1/preferences/${k}`);
    }
  });

  it('an excluded model is never suggested', async () => {
    const s0 = await suggest(KEY_B, 'Prove that the square root of 2 is irrational.', { limit: 20 });
    const top = s0.suggestions[0].model.name;
    const id = s0.suggestions[0].model.id;
    assert.ok(top);
    await call(base, KEY_B, 'PUT', '/v1/preferences/excluded_models', { value: [id] });
    try {
      const s = await suggest(KEY_B, 'Prove that the square root of 2 is irrational.', { limit: 20 });
      assert.ok(!s.suggestions.some((x: any) => x.model.id === id), JSON.stringify(s.suggestions.map((x: any) => x.model.id)));
      assert.ok((await suggest(KEY_A, 'Prove that the square root of 2 is irrational.', { limit: 20 })).suggestions.some((x: any) => x.model.id === id));
    } finally {
      await call(base, KEY_B, 'DELETE', '/v1/preferences/excluded_models');
    }
  });
});
