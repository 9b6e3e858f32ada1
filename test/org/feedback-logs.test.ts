/**
 * Feedback that changes routing and the activity log (issue 11 items 3-4):
 * every routed chat/responses request is logged for its organisation
 * (GET /v1/org/logs as JSON and RFC 4180 CSV, paged by cursor, within
 * since/until); POST /v1/feedback with bad scores on a model's answers in a
 * cluster moves that organisation's routing away from it, and only that
 * organisation's; the evidence survives a restart and DELETE /v1/feedback
 * resets it. POST /v1/auto/feedback is validated, stored per organisation,
 * and feeds the suggestions.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { KEY_A, KEY_B, KEY_FLAT, ROUTABLE, call, eventually, startOrgGateway, type OrgGateway } from './helpers.ts';
import { CSV_COLUMNS } from '../../src/api/org-logs.ts';

const PROMPT = 'Prove that the square root of 2 is irrational.';

let g: OrgGateway;
let base: string;
before(async () => { g = await startOrgGateway(); base = g.gw.base; });
after(async () => { await g.close(); });

const route = async (key: string, prompt = PROMPT) => {
  const r = await call(base, key, 'POST', '/v1/route', { prompt, available_models: ROUTABLE });
  assert.equal(r.status, 200, r.text);
  return r.json;
};
const chatAuto = async (key: string, content = PROMPT, extra: Record<string, unknown> = {}) => {
  const r = await call(base, key, 'POST', '/v1/chat/completions', { model: 'auto', messages: [{ role: 'user', content }], ...extra });
  assert.equal(r.status, 200, r.text);
  return r;
};
const logRow = (key: string, id: string) => eventually(async () => {
  const r = await call(base, key, 'GET', '/v1/org/logs?limit=10000');
  return r.json.data.find((x: any) => x.request_id === id);
}, `log row ${id}`);

/** Minimal RFC 4180 reader: quoted fields with doubled quotes, CRLF records. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [], f = '', q = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (q) { if (c === '"') { if (text[i + 1] === '"') { f += '"'; i++; } else q = false; } else f += c; continue; }
    if (c === '"') q = true;
    else if (c === ',') { row.push(f); f = ''; } else if (c === '\r' && text[i + 1] === '\n') { row.push(f); rows.push(row); row = []; f = ''; i++; } else f += c;
  }
  return rows;
}

describe('activity log', () => {
  it('a routed chat request is logged for its organisation with its routing facts; others never see it', async () => {
    const r = await chatAuto(KEY_A, PROMPT, { stream: false });
    const id = r.headers.get('x-request-id')!;
    const row = await logRow(KEY_A, id);
    assert.equal(row.organization, 'org_a');
    assert.equal(row.endpoint, '/v1/chat/completions');
    assert.equal(row.model_requested, 'auto');
    assert.equal(row.model_selected, r.headers.get('x-switchyard-model'));
    assert.equal(row.model_executed, r.headers.get('x-switchyard-model'));
    assert.equal(row.routing_reason, 'routed');
    assert.deepEqual(row.fallback_chain, [row.model_executed]);
    assert.equal(row.cluster_id, Number(r.headers.get('x-switchyard-cluster')));
    assert.equal(row.status, 200);
    assert.equal(row.cache_hit, false);
    assert.ok(row.prompt_tokens > 0 && row.completion_tokens > 0, JSON.stringify(row));
    assert.ok(row.latency_ms > 0);
    for (const other of [KEY_B, KEY_FLAT]) {
      const o = await call(base, other, 'GET', '/v1/org/logs?limit=10000');
      assert.equal(o.status, 200);
      assert.ok(!o.json.data.some((x: any) => x.request_id === id));
      const csv = await call(base, other, 'GET', '/v1/org/logs?format=csv&limit=10000');
      assert.ok(!csv.text.includes(id));
    }
  });

  it('a responses request and an explicit-model request are logged too', async () => {
    const resp = await call(base, KEY_B, 'POST', '/v1/responses', { model: 'auto', input: 'Write a haiku about the sea.' });
    assert.equal(resp.status, 200, resp.text);
    const row = await logRow(KEY_B, resp.headers.get('x-request-id')!);
    assert.equal(row.endpoint, '/v1/responses');
    assert.equal(row.routing_reason, 'routed');
    const ex = await call(base, KEY_B, 'POST', '/v1/chat/completions', { model: 'claude-v2', messages: [{ role: 'user', content: 'hi' }] }, { 'x-request-id': 'explicit-1' });
    assert.equal(ex.status, 200);
    const er = await logRow(KEY_B, 'explicit-1');
    assert.deepEqual([er.model_requested, er.model_executed, er.routing_reason, er.cluster_id], ['claude-v2', 'claude-v2', 'explicit', null]);
  });

  it('CSV per RFC 4180 with the header; paging by cursor; since/until; a value with a comma and quotes is quoted', async () => {
    // A client request id with characters CSV must quote cannot come through x-request-id (it only keeps [A-Za-z0-9._:/+=@-]),
    // so the quoting is checked on the endpoint column's neighbour: the fallback chain of a multi-model row is "a,b".
    for (let i = 0; i < 5; i++) await chatAuto(KEY_FLAT, `What is ${i} plus ${i}?`);
    const all = await eventually(async () => {
      const r = await call(base, KEY_FLAT, 'GET', '/v1/org/logs?limit=10000');
      return r.json.data.length >= 5 ? r.json.data : undefined;
    }, 'five rows');
    const csv = await call(base, KEY_FLAT, 'GET', '/v1/org/logs?format=csv&limit=10000');
    assert.equal(csv.status, 200);
    assert.match(csv.headers.get('content-type')!, /^text\/csv/);
    assert.ok(csv.text.endsWith('\r\n'));
    const rows = parseCsv(csv.text);
    assert.deepEqual(rows[0], [...CSV_COLUMNS]);
    assert.ok(rows[0].includes('routing_reason') && rows[0].includes('fallback_chain'));
    assert.equal(rows.length - 1, all.length);
    for (const r of rows.slice(1)) assert.equal(r.length, CSV_COLUMNS.length);
    // Pages of 2 by cursor cover every row once, in order.
    const seen: number[] = [];
    let cursor: string | null = null;
    for (let n = 0; n < 10; n++) {
      const r = await call(base, KEY_FLAT, 'GET', `/v1/org/logs?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      assert.equal(r.status, 200);
      seen.push(...r.json.data.map((x: any) => x.seq));
      cursor = r.json.next_cursor;
      assert.equal(r.json.has_more, cursor !== null);
      if (cursor === null) break;
    }
    assert.deepEqual(seen, all.map((x: any) => x.seq));
    // Window: until before everything = nothing; since the epoch = everything.
    assert.equal((await call(base, KEY_FLAT, 'GET', '/v1/org/logs?until=1000000')).json.data.length, 0);
    assert.equal((await call(base, KEY_FLAT, 'GET', '/v1/org/logs?since=1970-01-01T00:00:00Z&limit=10000')).json.data.length, all.length);
  });

  it('bad parameters are 400 naming them', async () => {
    for (const [q, param] of [['limit=0', 'limit'], ['limit=10001', 'limit'], ['format=xml', 'format'], ['since=yesterday', 'since'], ['cursor=abc', 'cursor'], ['page=2', 'page']]) {
      const r = await call(base, KEY_A, 'GET', `/v1/org/logs?${q}`);
      assert.equal(r.status, 400, q);
      assert.equal(r.json.error.param, param, q);
    }
    assert.equal((await call(base, KEY_A, 'GET', '/v1/org/logs?limit=10000')).status, 200);
  });
});

describe('POST /v1/feedback moves routing for that organisation only', () => {
  it('repeated bad scores on the chosen model in a cluster move A away from it; B keeps it; the evidence persists and resets', async () => {
    const first = await route(KEY_A);
    const victim = first.selected_model, cluster = first.cluster_id;
    assert.equal((await route(KEY_B)).selected_model, victim);
    let moved: any;
    for (let i = 0; i < 40 && !moved; i++) {
      const c = await chatAuto(KEY_A);
      assert.equal(c.headers.get('x-switchyard-model'), victim);
      const id = c.headers.get('x-request-id')!;
      await logRow(KEY_A, id);
      // Another organisation cannot score A's request.
      if (i === 0) {
        const b = await call(base, KEY_B, 'POST', '/v1/feedback', { request_id: id, score: 'bad' });
        assert.equal(b.status, 404);
        assert.equal(b.json.error.code, 'request_not_found');
      }
      const f = await call(base, KEY_A, 'POST', '/v1/feedback', { request_id: id, score: i % 2 === 0 ? 'bad' : 0 });
      assert.equal(f.status, 200, f.text);
      assert.deepEqual([f.json.model, f.json.cluster_id, f.json.ratings], [victim, cluster, i + 1]);
      assert.ok(f.json.posterior_error > f.json.prior_error);
      const d = await route(KEY_A);
      // Visible in the scores at once: the posterior replaces the profile's estimate for A.
      assert.ok(d.all_scores[victim] > first.all_scores[victim]);
      if (d.selected_model !== victim) moved = d;
    }
    assert.ok(moved, 'A moved away from the model it scored badly');
    const b = await route(KEY_B);
    assert.equal(b.selected_model, victim);
    assert.equal(b.all_scores[victim], first.all_scores[victim]);
    // Chat for A follows the new estimate too.
    assert.notEqual((await chatAuto(KEY_A)).headers.get('x-switchyard-model'), victim);
    // GET lists A's evidence only.
    const la = await call(base, KEY_A, 'GET', '/v1/feedback');
    assert.equal(la.json.data.length, 1);
    assert.equal(la.json.data[0].model, victim);
    assert.equal((await call(base, KEY_B, 'GET', '/v1/feedback')).json.data.length, 0);

    // Persisted: a new server on the same state directory routes A the same way.
    const state = g.gw.server.engine.config.state.dir;
    await g.close();
    g = await startOrgGateway({ state: { dir: state } });
    base = g.gw.base;
    assert.equal((await route(KEY_A)).selected_model, moved.selected_model);
    assert.equal((await route(KEY_B)).selected_model, victim);

    // B resetting changes nothing for A; A's reset brings the profile's estimate back.
    assert.equal((await call(base, KEY_B, 'DELETE', '/v1/feedback')).json.deleted, 0);
    assert.notEqual((await route(KEY_A)).selected_model, victim);
    const reset = await call(base, KEY_A, 'DELETE', `/v1/feedback?model=${encodeURIComponent(victim)}&cluster=${cluster}`);
    assert.equal(reset.json.deleted, 1);
    const after = await route(KEY_A);
    assert.equal(after.selected_model, victim);
    assert.equal(after.all_scores[victim], first.all_scores[victim]);
  });

  it('bad bodies are 400 naming the field; an unknown id is 404', async () => {
    const cases: [unknown, string][] = [
      [{ score: 1 }, 'request_id'], [{ request_id: '', score: 1 }, 'request_id'], [{ request_id: 'x', score: 1.5 }, 'score'],
      [{ request_id: 'x', score: 'meh' }, 'score'], [{ request_id: 'x', score: 1, extra: true }, 'extra'],
    ];
    for (const [body, field] of cases) {
      const r = await call(base, KEY_A, 'POST', '/v1/feedback', body);
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.equal(r.json.error.field ?? r.json.error.param, field, JSON.stringify(r.json));
    }
    const nf = await call(base, KEY_A, 'POST', '/v1/feedback', { request_id: 'req_nope', score: 'good' });
    assert.equal(nf.status, 404);
    assert.equal((await call(base, KEY_A, 'DELETE', '/v1/feedback?cluster=x')).status, 400);
  });
});

describe('POST /v1/auto/feedback', () => {
  it('validates, stores per organisation, and feeds default_task suggestions', async () => {
    const bad: [unknown, string][] = [
      [{ classified_task: 'text', correct: false }, 'prompt'], [{ prompt: 'p', classified_task: 'poetry', correct: true }, 'classified_task'],
      [{ prompt: 'p', classified_task: 'text', correct: 'no' }, 'correct'], [{ prompt: 'p', classified_task: 'text', correct: true, confidence: 2 }, 'confidence'],
      [{ prompt: 'p', classified_task: 'text', correct: false, suggested_task: 'dance' }, 'suggested_task'],
    ];
    for (const [body, param] of bad) {
      const r = await call(base, KEY_A, 'POST', '/v1/auto/feedback', body);
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.equal(r.json.error.param, param);
    }
    for (let i = 0; i < 6; i++) {
      const r = await call(base, KEY_A, 'POST', '/v1/auto/feedback', { prompt: `fix my loop number ${i}`, classified_task: 'text', correct: false, confidence: 0.6, suggested_task: 'code' });
      assert.equal(r.status, 200, r.text);
      assert.deepEqual([r.json.stored, r.json.learned, r.json.task], [true, true, 'code']);
    }
    const sa = await call(base, KEY_A, 'GET', '/v1/preferences/suggestions');
    assert.equal(sa.status, 200);
    assert.ok(sa.json.data.some((s: any) => s.key === 'default_task' && s.value === 'code'), JSON.stringify(sa.json.data));
    const sb = await call(base, KEY_B, 'GET', '/v1/preferences/suggestions');
    assert.ok(!sb.json.data.some((s: any) => s.key === 'default_task'));
  });
});
