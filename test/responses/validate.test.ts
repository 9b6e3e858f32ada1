/**
 * parseResponsesRequest: every accepted shape normalised, every rejected one
 * a 400 invalid_request naming its param (OpenAI's `param`).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ApiError } from '../../src/errors.ts';
import { parseResponsesRequest } from '../../src/api/responses-validate.ts';

const ok = (o: Record<string, unknown>) => parseResponsesRequest({ model: 'auto', input: 'hi', ...o });

function rejects(o: Record<string, unknown>, param: string): void {
  assert.throws(() => parseResponsesRequest(o), (e: unknown) => {
    assert.ok(e instanceof ApiError, String(e));
    assert.equal(e.code, 'invalid_request');
    assert.equal(e.field, param, e.message);
    assert.ok(e.message.startsWith(`"${param}"`), e.message);
    return true;
  });
}

describe('parseResponsesRequest: accepted shapes', () => {
  it('a string input is one user message with an input_text part; defaults as OpenAI documents them', () => {
    const r = ok({});
    assert.equal(r.routed, true);
    assert.equal(r.input.length, 1);
    const m = r.input[0];
    assert.equal(m.type, 'message');
    assert.ok(m.type === 'message' && m.role === 'user' && m.id.startsWith('msg_'));
    assert.deepEqual(m.type === 'message' && m.content, [{ type: 'input_text', text: 'hi' }]);
    assert.equal(r.store, true);
    assert.equal(r.stream, false);
    assert.equal(r.parallelToolCalls, true);
    assert.equal(r.toolChoice, 'auto');
    assert.deepEqual(r.text, { format: { type: 'text' } });
    assert.deepEqual(r.metadata, {});
    assert.equal(r.previousResponseId, null);
    assert.equal(r.maxOutputTokens, null);
  });

  it('items: easy messages, typed messages, output_text parts on assistant turns, function calls and their outputs', () => {
    const r = ok({
      input: [
        { role: 'developer', content: 'be brief' },
        { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'a' }, { type: 'input_image', image_url: 'https://x/y.png' }] },
        { type: 'message', id: 'msg_given', role: 'assistant', status: 'completed', content: [{ type: 'output_text', text: 'b', annotations: [] }] },
        { type: 'function_call', id: 'fc_1', call_id: 'call_1', name: 'f', arguments: '{}' },
        { type: 'function_call_output', call_id: 'call_1', output: [{ type: 'input_text', text: 'r1' }, { type: 'input_text', text: 'r2' }] },
      ],
    });
    assert.deepEqual(r.input.map((i) => i.type), ['message', 'message', 'message', 'function_call', 'function_call_output']);
    assert.equal(r.input[2].id, 'msg_given');
    assert.equal(r.input[3].id, 'fc_1');
    assert.ok(r.input[4].id.startsWith('fco_'));
    assert.ok(r.input[4].type === 'function_call_output' && r.input[4].output === 'r1r2');
    assert.deepEqual(r.input[1].type === 'message' && r.input[1].content[1], { type: 'input_image', image_url: 'https://x/y.png', detail: 'auto' });
  });

  it('item_reference items are kept for the handler to resolve, with their param path', () => {
    const r = ok({ input: [{ role: 'user', content: 'a' }, { type: 'item_reference', id: 'msg_x' }] });
    assert.deepEqual(r.input[1], { type: 'item_reference', id: 'msg_x', at: 'input[1]' });
  });

  it('a continuation may send no input; nulls count as absent', () => {
    const r = parseResponsesRequest({ model: 'gpt-x', previous_response_id: 'resp_1', temperature: null, tools: null, metadata: null, store: null });
    assert.deepEqual(r.input, []);
    assert.equal(r.routed, false);
    assert.equal(r.store, true);
    assert.equal(r.temperature, null);
  });

  it('tools, tool_choice, text.format, metadata, numbers', () => {
    const r = ok({
      tools: [{ type: 'function', name: 'get_weather', description: 'd', parameters: { type: 'object', properties: {} }, strict: true }],
      tool_choice: { type: 'function', name: 'get_weather' },
      parallel_tool_calls: false,
      text: { format: { type: 'json_schema', name: 's', schema: { type: 'object' }, strict: true }, verbosity: 'low' },
      metadata: { k: 'v'.repeat(512) },
      temperature: 2, top_p: 0, max_output_tokens: 16, user: 'u', cost_weight: 0.5, store: false, stream: true,
      include: ['reasoning.encrypted_content'], reasoning: { effort: 'low' }, truncation: 'auto', background: false,
    });
    assert.deepEqual(r.tools, [{ type: 'function', name: 'get_weather', description: 'd', parameters: { type: 'object', properties: {} }, strict: true }]);
    assert.deepEqual(r.toolChoice, { type: 'function', name: 'get_weather' });
    assert.equal(r.parallelToolCalls, false);
    assert.deepEqual(r.text, { format: { type: 'json_schema', name: 's', schema: { type: 'object' }, strict: true }, verbosity: 'low' });
    assert.equal(r.costWeight, 0.5);
    assert.equal(r.maxOutputTokens, 16);
    assert.equal(r.store, false);
    assert.equal(r.stream, true);
  });

  it('a schema 64 levels deep is accepted', () => {
    const deep = JSON.parse('{"a":'.repeat(63) + '{}' + '}'.repeat(63));
    assert.equal(ok({ tools: [{ type: 'function', name: 'f', parameters: deep }] }).tools[0].parameters, deep);
  });

  it('a "__proto__" metadata key stays a plain key', () => {
    const r = parseResponsesRequest(JSON.parse('{"model":"auto","input":"x","metadata":{"__proto__":"v"}}'));
    assert.deepEqual(Object.keys(r.metadata), ['__proto__']);
    assert.equal(Object.getPrototypeOf(r.metadata), Object.prototype);
  });
});

describe('parseResponsesRequest: 400 naming the param', () => {
  const cases: [string, Record<string, unknown>, string][] = [
    ['no model', { input: 'x' }, 'model'],
    ['model a number', { model: 3, input: 'x' }, 'model'],
    ['model empty', { model: '', input: 'x' }, 'model'],
    ['no input', { model: 'auto' }, 'input'],
    ['input a number', { model: 'auto', input: 5 }, 'input'],
    ['input empty array', { model: 'auto', input: [] }, 'input'],
    ['item not an object', { model: 'auto', input: ['x'] }, 'input[0]'],
    ['item of unknown type', { model: 'auto', input: [{ type: 'web_search_call' }] }, 'input[0].type'],
    ['message with a bad role', { model: 'auto', input: [{ role: 'tool', content: 'x' }] }, 'input[0].role'],
    ['message content a number', { model: 'auto', input: [{ role: 'user', content: 1 }] }, 'input[0].content'],
    ['part of unknown type', { model: 'auto', input: [{ role: 'user', content: [{ type: 'text', text: 'x' }] }] }, 'input[0].content[0].type'],
    ['input_text without text', { model: 'auto', input: [{ role: 'user', content: [{ type: 'input_text' }] }] }, 'input[0].content[0].text'],
    ['output_text on a user message', { model: 'auto', input: [{ role: 'user', content: [{ type: 'output_text', text: 'x' }] }] }, 'input[0].content[0].type'],
    ['input_image by file_id', { model: 'auto', input: [{ role: 'user', content: [{ type: 'input_image', file_id: 'f' }] }] }, 'input[0].content[0].file_id'],
    ['input_image on a system message', { model: 'auto', input: [{ role: 'system', content: [{ type: 'input_image', image_url: 'u' }] }] }, 'input[0].content[0].type'],
    ['item_reference without id', { model: 'auto', input: [{ type: 'item_reference' }] }, 'input[0].id'],
    ['input_file', { model: 'auto', input: [{ role: 'user', content: [{ type: 'input_file', file_id: 'f' }] }] }, 'input[0].content[0].type'],
    ['function_call without call_id', { model: 'auto', input: [{ type: 'function_call', name: 'f', arguments: '{}' }] }, 'input[0].call_id'],
    ['function_call arguments an object', { model: 'auto', input: [{ type: 'function_call', call_id: 'c', name: 'f', arguments: {} }] }, 'input[0].arguments'],
    ['function_call_output with an image', { model: 'auto', input: [{ type: 'function_call_output', call_id: 'c', output: [{ type: 'input_image' }] }] }, 'input[0].output[0]'],
    ['function_call_output without output', { model: 'auto', input: [{ type: 'function_call_output', call_id: 'c' }] }, 'input[0].output'],
    ['instructions a number', { model: 'auto', input: 'x', instructions: 1 }, 'instructions'],
    ['previous_response_id a number', { model: 'auto', input: 'x', previous_response_id: 1 }, 'previous_response_id'],
    ['previous_response_id empty', { model: 'auto', input: 'x', previous_response_id: '' }, 'previous_response_id'],
    ['store a string', { model: 'auto', input: 'x', store: 'yes' }, 'store'],
    ['stream a number', { model: 'auto', input: 'x', stream: 1 }, 'stream'],
    ['tools an object', { model: 'auto', input: 'x', tools: {} }, 'tools'],
    ['a built-in tool', { model: 'auto', input: 'x', tools: [{ type: 'web_search' }] }, 'tools[0].type'],
    ['a chat-shaped (nested) tool', { model: 'auto', input: 'x', tools: [{ type: 'function', function: { name: 'f' } }] }, 'tools[0].name'],
    ['a tool name too long', { model: 'auto', input: 'x', tools: [{ type: 'function', name: 'f'.repeat(65) }] }, 'tools[0].name'],
    ['duplicate tool names', { model: 'auto', input: 'x', tools: [{ type: 'function', name: 'f' }, { type: 'function', name: 'f' }] }, 'tools[1].name'],
    ['tool parameters an array', { model: 'auto', input: 'x', tools: [{ type: 'function', name: 'f', parameters: [] }] }, 'tools[0].parameters'],
    ['tool strict a string', { model: 'auto', input: 'x', tools: [{ type: 'function', name: 'f', strict: 'yes' }] }, 'tools[0].strict'],
    ['tool_choice unknown string', { model: 'auto', input: 'x', tool_choice: 'any' }, 'tool_choice'],
    ['tool_choice a hosted tool', { model: 'auto', input: 'x', tool_choice: { type: 'file_search' } }, 'tool_choice'],
    ['tool_choice naming no tool', { model: 'auto', input: 'x', tools: [{ type: 'function', name: 'f' }], tool_choice: { type: 'function', name: 'g' } }, 'tool_choice.name'],
    ['parallel_tool_calls a string', { model: 'auto', input: 'x', parallel_tool_calls: 'no' }, 'parallel_tool_calls'],
    ['temperature 3', { model: 'auto', input: 'x', temperature: 3 }, 'temperature'],
    ['top_p -1', { model: 'auto', input: 'x', top_p: -1 }, 'top_p'],
    ['max_output_tokens 0', { model: 'auto', input: 'x', max_output_tokens: 0 }, 'max_output_tokens'],
    ['max_output_tokens 1.5', { model: 'auto', input: 'x', max_output_tokens: 1.5 }, 'max_output_tokens'],
    ['text a string', { model: 'auto', input: 'x', text: 'json' }, 'text'],
    ['text.format of unknown type', { model: 'auto', input: 'x', text: { format: { type: 'xml' } } }, 'text.format.type'],
    ['json_schema without name', { model: 'auto', input: 'x', text: { format: { type: 'json_schema', schema: {} } } }, 'text.format.name'],
    ['json_schema without schema', { model: 'auto', input: 'x', text: { format: { type: 'json_schema', name: 's' } } }, 'text.format.schema'],
    ['text.verbosity unknown', { model: 'auto', input: 'x', text: { verbosity: 'max' } }, 'text.verbosity'],
    ['metadata an array', { model: 'auto', input: 'x', metadata: [] }, 'metadata'],
    ['metadata with 17 keys', { model: 'auto', input: 'x', metadata: Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, 'v'])) }, 'metadata'],
    ['metadata key of 65 chars', { model: 'auto', input: 'x', metadata: { ['k'.repeat(65)]: 'v' } }, `metadata.${'k'.repeat(64)}...`],
    ['metadata value of 513 chars', { model: 'auto', input: 'x', metadata: { k: 'v'.repeat(513) } }, 'metadata.k'],
    ['metadata value a number', { model: 'auto', input: 'x', metadata: { k: 1 } }, 'metadata.k'],
    ['user a number', { model: 'auto', input: 'x', user: 1 }, 'user'],
    ['background true', { model: 'auto', input: 'x', background: true }, 'background'],
    ['conversation', { model: 'auto', input: 'x', conversation: 'conv_1' }, 'conversation'],
    ['prompt', { model: 'auto', input: 'x', prompt: { id: 'p' } }, 'prompt'],
    ['cost_weight negative', { model: 'auto', input: 'x', cost_weight: -1 }, 'cost_weight'],
    ['tool parameters nested 65 deep', { model: 'auto', input: 'x', tools: [{ type: 'function', name: 'f', parameters: JSON.parse('{"a":'.repeat(65) + '1' + '}'.repeat(65)) }] }, 'tools[0].parameters'],
    ['a schema nested 65 deep', { model: 'auto', input: 'x', text: { format: { type: 'json_schema', name: 's', schema: JSON.parse('{"a":'.repeat(32) + '['.repeat(33) + ']'.repeat(33) + '}'.repeat(32)) } } }, 'text.format.schema'],
    ['include a string', { model: 'auto', input: 'x', include: 'x' }, 'include'],
  ];
  for (const [name, body, param] of cases) it(name, () => rejects(body, param));
});
