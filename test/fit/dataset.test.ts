import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodePythonListPrompt, loadLabelled, completeRows } from '../../src/fit/dataset.ts';

const dir = mkdtempSync(join(tmpdir(), 'sy-data-'));
const file = (name: string, body: string) => { const p = join(dir, name); writeFileSync(p, body); return p; };

describe('labelled data', () => {
  it('decodes Python list literal prompts', () => {
    assert.equal(decodePythonListPrompt(`['Write a function.\\nIt\\'s "easy".']`), 'Write a function.\nIt\'s "easy".');
    assert.equal(decodePythonListPrompt(`["a", 'b']`), 'a\nb');
    assert.equal(decodePythonListPrompt('plain text'), 'plain text');
    assert.equal(decodePythonListPrompt("['unterminated"), "['unterminated");
  });

  it('reads RouterBench CSV: empty cells are unknown (NaN), quoted newlines survive', () => {
    const p = file('rb.csv', [
      ',sample_id,prompt,eval_name,a,b,a|model_response,b|model_response,a|total_cost,b|total_cost,oracle_model_to_route_to',
      `0,s0,"['line one\\nline two']",task,1.0,,x,y,0.001,0.002,a`,
      `1,s1,"multi\nline, ""quoted""",task,0.0,1.0,x,y,0.001,0.002,b`,
    ].join('\n'));
    const d = loadLabelled([p]);
    assert.deepEqual(d.models, ['a', 'b']);
    assert.equal(d.prompts[0], 'line one\nline two');
    assert.equal(d.prompts[1], 'multi\nline, "quoted"');
    assert.ok(Number.isNaN(d.score[1]));
    assert.equal(d.score[2], 0);
    assert.equal(d.cost[1], 0.002);
    assert.deepEqual(completeRows(d), [1]);
  });

  it('reads JSONL with per-model scores and costs; absent models are unknown', () => {
    const p = file('d.jsonl', [
      JSON.stringify({ prompt: 'p1', scores: { x: 1, y: 0.4 }, cost_usd: { x: 0.01, y: 0.001 } }),
      '',
      JSON.stringify({ prompt: 'p2', scores: { y: 1 }, cost_usd: { y: 0.001 }, group: 'g' }),
    ].join('\n'));
    const d = loadLabelled([p]);
    assert.deepEqual(d.models, ['x', 'y']);
    assert.ok(Math.abs(d.score[1] - 0.4) < 1e-6);
    assert.ok(Number.isNaN(d.score[2]) && Number.isNaN(d.cost[2]));
    assert.equal(d.groups[1], 'g');
  });

  it('names the line and field of bad JSONL', () => {
    const cases: [string, RegExp][] = [
      ['{"prompt": 1, "scores": {}}', /d1\.jsonl:1: "prompt" must be a string/],
      ['{"prompt": "p", "scores": {"m": 2}}', /scores\["m"\] must be a number in \[0, 1\]/],
      ['{"prompt": "p", "scores": {"m": 1}, "cost_usd": {"m": -1}}', /cost_usd\["m"\] must be a finite number >= 0/],
      ['not json', /d1\.jsonl:1: not JSON/],
    ];
    for (const [line, re] of cases) assert.throws(() => loadLabelled([file('d1.jsonl', line)]), re);
    assert.throws(() => loadLabelled([file('x.txt', '')]), /unknown data file type/);
  });
});
