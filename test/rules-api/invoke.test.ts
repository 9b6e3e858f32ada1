/**
 * POST /v1/model-router/invoke (Feather) contract, from its OpenAPI schema:
 * every required ModelResponse field with its type, routing_metadata with
 * and without smart routing, overrides, execution_engine / parsed_output /
 * tool_calls, costs and cache tokens from the upstream usage, stored route
 * decisions, and every error status in Feather's shapes (400/401/404/502
 * {error, message}; 422 FastAPI {detail: [{loc, msg, type}]}).
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { closedPort } from '../providers/helpers.ts';
import { call, CHEAP, MID, STRONG, echoModels, invoke, startEcho, startRig, user, type Echo, type Rig } from './helpers.ts';

let echo: Echo;
let rig: Rig;
before(async () => {
  echo = await startEcho();
  rig = await startRig(echoModels(echo));
});
after(async () => { await rig.close(); await echo.close(); });

const REQUIRED: [string, string][] = [
  ['content', 'string'], ['model_identifier', 'string'], ['provider', 'string'],
  ['input_tokens', 'integer'], ['output_tokens', 'integer'], ['total_tokens', 'integer'],
  ['input_cost_usd', 'number'], ['output_cost_usd', 'number'], ['total_cost_usd', 'number'], ['latency_ms', 'integer'],
];

function assertModelResponse(j: any): void {
  for (const [k, t] of REQUIRED) {
    assert.ok(k in j, `${k} present`);
    if (t === 'integer') assert.ok(Number.isInteger(j[k]), `${k} is an integer: ${j[k]}`);
    else assert.equal(typeof j[k], t, k);
  }
  assert.ok(j.tool_calls === null || Array.isArray(j.tool_calls));
  assert.ok(j.parsed_output === null || (typeof j.parsed_output === 'object' && !Array.isArray(j.parsed_output)));
  assert.ok(['pydantic_text', 'pydantic_tools', 'pydantic_structured'].includes(j.execution_engine));
  assert.ok(Number.isInteger(j.cache_read_input_tokens));
  assert.ok(Number.isInteger(j.cache_creation_input_tokens));
  assert.equal(typeof j.cache_hit, 'boolean');
  assert.ok(j.route_decision_id === null || typeof j.route_decision_id === 'string');
  const keys = ['content', 'model_identifier', 'provider', 'input_tokens', 'output_tokens', 'total_tokens', 'input_cost_usd', 'output_cost_usd', 'total_cost_usd', 'latency_ms',
    'tool_calls', 'routing_metadata', 'parsed_output', 'execution_engine', 'cache_read_input_tokens', 'cache_creation_input_tokens', 'cache_hit', 'route_decision_id'];
  assert.deepEqual(Object.keys(j).sort(), keys.sort(), 'exactly ModelResponse\'s fields');
}

describe('200 without smart routing: the config\'s rules choose', () => {
  it('ModelResponse: every field, types, costs and cache tokens from usage, routing_metadata null', async () => {
    const r = await invoke(rig.base, { messages: user('hard one: First, derive the asymptotic complexity; then, because the ledger is distributed, prove the protocol terminates although nodes may fail, and finally implement it in Python with `def settle(l): ...`.') });
    assert.equal(r.status, 200, r.text);
    assertModelResponse(r.json);
    assert.equal(r.json.model_identifier, STRONG);
    assert.equal(r.json.provider, 'openai');
    assert.equal(r.json.routing_metadata, null);
    assert.equal(r.json.input_tokens, 1000);
    assert.equal(r.json.output_tokens, 500);
    assert.equal(r.json.total_tokens, 1500);
    assert.equal(r.json.input_cost_usd, 0.01); // 1000 x $10 / 1M
    assert.equal(r.json.output_cost_usd, 0.015); // 500 x $30 / 1M
    assert.equal(r.json.total_cost_usd, 0.025);
    assert.equal(r.json.cache_read_input_tokens, 300);
    assert.equal(r.json.cache_hit, true);
    assert.equal(r.json.execution_engine, 'pydantic_text');
    assert.equal(r.json.parsed_output, null);
    assert.equal(r.headers.get('x-switchyard-config-version'), '1');
  });

  it('the route decision is stored: GET /v1/route-decisions/{id}', async () => {
    const r = await invoke(rig.base, { messages: user('Where is my refund?') });
    assert.equal(r.json.model_identifier, MID);
    const d = await call(rig.base, 'GET', `/v1/route-decisions/${r.json.route_decision_id}`);
    assert.equal(d.status, 200, d.text);
    assert.equal(d.json.id, r.json.route_decision_id);
    assert.equal(d.json.router_config_name, 'production-router');
    assert.equal(d.json.router_config_version, 1);
    assert.equal(d.json.matched_rule.name, 'refunds');
    assert.deepEqual(d.json.candidate_chain, [MID]);
    assert.equal(d.json.executed_model, MID);
    assert.equal(d.json.smart_routing, false);
  });

  it('router_config_id names the config (by UUID)', async () => {
    const c = await call(rig.base, 'POST', '/v1/router-configs', { name: 'all-strong', default_model: STRONG, rules: [] });
    assert.equal(c.status, 201, c.text);
    const r = await invoke(rig.base, { messages: user('hi'), router_config_id: c.json.id });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.model_identifier, STRONG);
  });

  it('config_overrides: default_model, candidates, temperature, max_tokens, top_p, stop reach the call', async () => {
    echo.requests.length = 0;
    const r = await invoke(rig.base, { messages: user('hi'), config_overrides: { default_model: MID, candidates: [CHEAP], temperature: 0.3, max_tokens: 77, top_p: 0.9, stop: ['END'] } });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.model_identifier, MID);
    const sent = echo.requests.at(-1);
    assert.equal(sent.temperature, 0.3);
    assert.equal(sent.max_tokens, 77);
    assert.equal(sent.top_p, 0.9);
    assert.deepEqual(sent.stop, ['END']);
    const d = await call(rig.base, 'GET', `/v1/route-decisions/${r.json.route_decision_id}`);
    assert.deepEqual(d.json.candidate_chain, [MID, CHEAP]);
  });

  it('response_format json_object: pydantic_structured with parsed_output', async () => {
    const r = await invoke(rig.base, { messages: user('hi'), config_overrides: { response_format: { type: 'json_object' } } });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.execution_engine, 'pydantic_structured');
    assert.equal(r.json.parsed_output.n, 1);
    assert.deepEqual(echo.requests.at(-1).response_format, { type: 'json_object' });
  });

  it('tools: pydantic_tools with tool_calls', async () => {
    const tools = [{ type: 'function', function: { name: 'lookup', parameters: { type: 'object', properties: {} } } }];
    const r = await invoke(rig.base, { messages: user('hi'), config_overrides: { tools, tool_choice: 'auto' } });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.execution_engine, 'pydantic_tools');
    assert.equal(r.json.tool_calls[0].function.name, 'lookup');
  });
});

describe('200 with smart routing', () => {
  it('routing_metadata: every SmartRoutingMetadata field; the chain is every backed profile model, recommendation first', async () => {
    const r = await invoke(rig.base, { messages: user('Prove that the square root of 2 is irrational.'), smart_routing: true, config_overrides: { candidates: [STRONG, MID, CHEAP] } });
    assert.equal(r.status, 200, r.text);
    assertModelResponse(r.json);
    const m = r.json.routing_metadata;
    for (const k of ['classifier_model', 'recommended_model', 'executed_model', 'reason']) assert.equal(typeof m[k], 'string', k);
    assert.ok(['economy', 'standard', 'premium'].includes(m.classifier_tier));
    assert.ok(m.classifier_confidence >= 0 && m.classifier_confidence <= 1);
    assert.deepEqual([...m.candidate_chain].sort(), [CHEAP, MID, STRONG].sort());
    assert.equal(m.candidate_chain[0], m.recommended_model);
    assert.equal(m.executed_model, r.json.model_identifier);
    assert.equal(m.executed_model, m.recommended_model);
    // The tier is the recommended model's price tier (economy <= 1 < standard <= 5 < premium, blended USD / 1M).
    const tier = { [CHEAP]: 'economy', [MID]: 'standard', [STRONG]: 'premium' }[m.recommended_model as string];
    assert.equal(m.classifier_tier, tier);
  });
});

describe('fallback and upstream failure', () => {
  let echo2: Echo;
  let rig2: Rig;
  before(async () => {
    echo2 = await startEcho();
    const dead = `http://127.0.0.1:${await closedPort()}/v1`;
    const models = echoModels(echo2).map((m: any) => (m.name === CHEAP ? { ...m, backend_refs: [{ base_url: dead }] } : m));
    rig2 = await startRig(models);
  });
  after(async () => { await rig2.close(); await echo2.close(); });

  it('the chosen model fails: the next candidate answers; the decision records both attempts', async () => {
    const r = await invoke(rig2.base, { messages: user('hi') });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.model_identifier, MID);
    const d = await call(rig2.base, 'GET', `/v1/route-decisions/${r.json.route_decision_id}`);
    assert.deepEqual(d.json.candidate_chain, [CHEAP, MID]);
    assert.equal(d.json.attempts.length, 2);
  });

  it('smart routing whose recommendation fails: executed_model is the one that answered', async () => {
    const r = await invoke(rig2.base, { messages: user('hi'), smart_routing: true, config_overrides: { candidates: [CHEAP, MID], cost_weight: 1000 } });
    assert.equal(r.status, 200, r.text);
    const m = r.json.routing_metadata;
    assert.equal(m.recommended_model, CHEAP); // λ = 1000: the cheapest wins
    assert.equal(m.executed_model, MID);
    assert.match(m.reason, /fallback/);
  });

  it('every candidate fails: 502 {error: "upstream_error", message}', async () => {
    echo2.failWith = 500;
    try {
      const r = await invoke(rig2.base, { messages: user('hi') });
      assert.equal(r.status, 502, r.text);
      assert.equal(r.json.error, 'upstream_error');
      assert.equal(typeof r.json.message, 'string');
    } finally { echo2.failWith = 0; }
  });
});

describe('422 in FastAPI\'s shape: {detail: [{loc, msg, type}]}', () => {
  const cases: [string, unknown, (string | number)[], string][] = [
    ['messages missing', {}, ['body', 'messages'], 'missing'],
    ['messages not a list', { messages: 'hi' }, ['body', 'messages'], 'list_type'],
    ['a message not an object', { messages: ['hi'] }, ['body', 'messages', 0], 'model_attributes_type'],
    ['role missing', { messages: [{ content: 'x' }] }, ['body', 'messages', 0, 'role'], 'missing'],
    ['content missing', { messages: [{ role: 'user' }] }, ['body', 'messages', 0, 'content'], 'missing'],
    ['content a number', { messages: [{ role: 'user', content: 5 }] }, ['body', 'messages', 0, 'content'], 'string_type'],
    ['role a number', { messages: [{ role: 1, content: 'x' }, { role: 'user', content: 'x' }] }, ['body', 'messages', 0, 'role'], 'string_type'],
    ['an extra key in a message', { messages: [{ role: 'user', content: 'x', name: 'bob' }] }, ['body', 'messages', 0, 'name'], 'extra_forbidden'],
    ['router_config_id not a UUID', { messages: user('x'), router_config_id: 'production-router' }, ['body', 'router_config_id'], 'uuid_parsing'],
    ['router_config_id a number', { messages: user('x'), router_config_id: 7 }, ['body', 'router_config_id'], 'uuid_type'],
    ['session_id not a UUID', { messages: user('x'), session_id: 'abc' }, ['body', 'session_id'], 'uuid_parsing'],
    ['config_overrides a list', { messages: user('x'), config_overrides: [] }, ['body', 'config_overrides'], 'dict_type'],
    ['an unknown override key', { messages: user('x'), config_overrides: { model: 'x' } }, ['body', 'config_overrides', 'model'], 'extra_forbidden'],
    ['temperature a string', { messages: user('x'), config_overrides: { temperature: 'hot' } }, ['body', 'config_overrides', 'temperature'], 'float_type'],
    ['temperature over 2', { messages: user('x'), config_overrides: { temperature: 3 } }, ['body', 'config_overrides', 'temperature'], 'less_than_equal'],
    ['max_tokens fractional', { messages: user('x'), config_overrides: { max_tokens: 1.5 } }, ['body', 'config_overrides', 'max_tokens'], 'int_type'],
    ['response_format type unknown', { messages: user('x'), config_overrides: { response_format: { type: 'xml' } } }, ['body', 'config_overrides', 'response_format', 'type'], 'literal_error'],
    ['smart_routing a string', { messages: user('x'), smart_routing: 'yes' }, ['body', 'smart_routing'], 'bool_type'],
    ['an unknown top-level field', { messages: user('x'), model: 'gpt-4' }, ['body', 'model'], 'extra_forbidden'],
    ['the body a JSON array', '[]', ['body'], 'model_attributes_type'],
    ['malformed JSON (cut short: the position is its end)', '{"messages": [', ['body', 14], 'json_invalid'],
    ['an empty body', '', ['body'], 'missing'],
  ];
  for (const [name, body, loc, type] of cases) {
    it(`${name}: loc ${JSON.stringify(loc)}, type ${type}`, async () => {
      const r = await invoke(rig.base, body);
      assert.equal(r.status, 422, r.text);
      assert.ok(Array.isArray(r.json.detail), r.text);
      const d = r.json.detail.find((x: any) => JSON.stringify(x.loc) === JSON.stringify(loc));
      assert.ok(d, `a detail at ${JSON.stringify(loc)}: ${r.text}`);
      assert.equal(d.type, type);
      assert.equal(typeof d.msg, 'string');
      assert.deepEqual(Object.keys(r.json), ['detail']);
    });
  }

  it('several problems are all listed', async () => {
    const r = await invoke(rig.base, { messages: [{ role: 1 }], smart_routing: 'x', foo: 1 });
    assert.equal(r.status, 422);
    assert.ok(r.json.detail.length >= 4, r.text);
  });
});

describe('400 / 404 / 401 as {error, message}', () => {
  const shape = (r: { json: any }, error: string) => {
    assert.equal(r.json.error, error);
    assert.equal(typeof r.json.message, 'string');
  };
  it('400: an empty messages list', async () => {
    const r = await invoke(rig.base, { messages: [] });
    assert.equal(r.status, 400);
    shape(r, 'invalid_request');
  });
  it('400: a role no upstream accepts', async () => {
    const r = await invoke(rig.base, { messages: [{ role: 'bot', content: 'x' }] });
    assert.equal(r.status, 400);
    shape(r, 'invalid_request');
    assert.match(r.json.message, /messages\[0\]\.role/);
  });
  it('400: messages with no text to route on', async () => {
    const r = await invoke(rig.base, { messages: [{ role: 'user', content: '   ' }] });
    assert.equal(r.status, 400);
    shape(r, 'invalid_request');
  });
  it('404: an unknown router_config_id', async () => {
    const r = await invoke(rig.base, { messages: user('x'), router_config_id: '00000000-0000-4000-8000-000000000000' });
    assert.equal(r.status, 404);
    shape(r, 'router_config_not_found');
  });
  it('404: an unknown route decision', async () => {
    const r = await call(rig.base, 'GET', '/v1/route-decisions/nope');
    assert.equal(r.status, 404);
    shape(r, 'route_decision_not_found');
  });

  describe('401 with server.api_keys (x-api-key; Bearer accepted too)', () => {
    let keyed: Rig;
    before(async () => { keyed = await startRig(echoModels(echo), { server: { api_keys: ['feather-key'] } }); });
    after(async () => { await keyed.close(); });
    it('no key: 401 {error: "unauthorized", message}', async () => {
      const r = await invoke(keyed.base, { messages: user('x') });
      assert.equal(r.status, 401);
      shape(r, 'unauthorized');
    });
    it('a wrong x-api-key: 401; the right one or a Bearer: 200', async () => {
      assert.equal((await invoke(keyed.base, { messages: user('x') }, { 'x-api-key': 'nope' })).status, 401);
      assert.equal((await invoke(keyed.base, { messages: user('x') }, { 'x-api-key': 'feather-key' })).status, 200);
      assert.equal((await invoke(keyed.base, { messages: user('x') }, { authorization: 'Bearer feather-key' })).status, 200);
    });
  });
});
