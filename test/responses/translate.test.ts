/**
 * responses-translate.ts: Responses input -> chat messages and request, and a
 * chat.completion -> output items, status and usage.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseResponsesRequest, type InputItem } from '../../src/api/responses-validate.ts';
import { chatRequestOf, outputMessages, outputOf, responseIdOfItem, responseShell, statusOf, toChatMessages, usageOf } from '../../src/api/responses-translate.ts';
import type { ChatCompletion } from '../../src/providers/types.ts';

const parse = (o: Record<string, unknown>) => parseResponsesRequest({ model: 'auto', ...o });
/** Input with no item references (those are resolved by the handler before translation). */
const items = (o: Record<string, unknown>) => parse(o).input as InputItem[];
const RESP = 'resp_0123456789abcdef0123456789abcdef';

function completion(message: Record<string, unknown>, finish: string | null = 'stop', usage?: unknown): ChatCompletion {
  return { id: 'c', object: 'chat.completion', created: 1, model: 'm', choices: [{ index: 0, message: { role: 'assistant', content: null, ...message }, finish_reason: finish as never }], usage: usage as never };
}

describe('input -> chat messages', () => {
  it('a string is one user message; single text parts become strings; assistant parts are joined', () => {
    assert.deepEqual(toChatMessages(items({ input: 'hi' })), [{ role: 'user', content: 'hi' }]);
    const r = parse({
      input: [
        { role: 'system', content: [{ type: 'input_text', text: 's' }] },
        { role: 'assistant', content: [{ type: 'output_text', text: 'a' }, { type: 'output_text', text: 'b' }] },
        { role: 'user', content: [{ type: 'input_text', text: 'x' }, { type: 'input_image', image_url: 'data:image/png;base64,AA', detail: 'low' }] },
      ],
    });
    assert.deepEqual(toChatMessages(r.input as InputItem[]), [
      { role: 'system', content: 's' },
      { role: 'assistant', content: 'ab' },
      { role: 'user', content: [{ type: 'text', text: 'x' }, { type: 'image_url', image_url: { url: 'data:image/png;base64,AA', detail: 'low' } }] },
    ]);
  });

  it('function calls join the assistant turn before them; outputs become tool messages', () => {
    const r = parse({
      input: [
        { role: 'user', content: 'weather?' },
        { role: 'assistant', content: 'Let me look.' },
        { type: 'function_call', call_id: 'c1', name: 'w', arguments: '{"city":"Oslo"}' },
        { type: 'function_call', call_id: 'c2', name: 'w', arguments: '{"city":"Rome"}' },
        { type: 'function_call_output', call_id: 'c1', output: 'cold' },
        { type: 'function_call_output', call_id: 'c2', output: 'warm' },
        { type: 'function_call', call_id: 'c3', name: 'w', arguments: '{}' },
      ],
    });
    assert.deepEqual(toChatMessages(r.input as InputItem[]), [
      { role: 'user', content: 'weather?' },
      { role: 'assistant', content: 'Let me look.', tool_calls: [
        { id: 'c1', type: 'function', function: { name: 'w', arguments: '{"city":"Oslo"}' } },
        { id: 'c2', type: 'function', function: { name: 'w', arguments: '{"city":"Rome"}' } },
      ] },
      { role: 'tool', tool_call_id: 'c1', content: 'cold' },
      { role: 'tool', tool_call_id: 'c2', content: 'warm' },
      { role: 'assistant', content: null, tool_calls: [{ id: 'c3', type: 'function', function: { name: 'w', arguments: '{}' } }] },
    ]);
  });

  it('appends to a chain without touching it', () => {
    const chain = [{ role: 'user' as const, content: 'a' }, { role: 'assistant' as const, content: 'b' }];
    const out = toChatMessages(items({ input: 'c' }), chain.slice());
    assert.deepEqual(out.map((m) => m.content), ['a', 'b', 'c']);
  });
});

describe('the chat request', () => {
  it('maps every parameter to chat\'s name and shape', () => {
    const r = parse({
      input: 'x', stream: true, temperature: 0.5, top_p: 0.9, max_output_tokens: 100, user: 'u',
      tools: [{ type: 'function', name: 'f', description: 'd', parameters: { type: 'object' }, strict: false }, { type: 'function', name: 'g' }],
      tool_choice: { type: 'function', name: 'g' }, parallel_tool_calls: false,
      text: { format: { type: 'json_schema', name: 'out', schema: { type: 'object' }, description: 'dd', strict: true } },
    });
    const req = chatRequestOf(r, [{ role: 'user', content: 'x' }]);
    assert.deepEqual(req, {
      model: 'auto', messages: [{ role: 'user', content: 'x' }], stream: true, temperature: 0.5, top_p: 0.9, max_completion_tokens: 100, user: 'u',
      tools: [
        { type: 'function', function: { name: 'f', description: 'd', parameters: { type: 'object' }, strict: false } },
        { type: 'function', function: { name: 'g' } },
      ],
      tool_choice: { type: 'function', function: { name: 'g' } },
      parallel_tool_calls: false,
      response_format: { type: 'json_schema', json_schema: { name: 'out', schema: { type: 'object' }, description: 'dd', strict: true } },
    });
  });

  it('sends nothing it was not given: no tools -> no tool_choice or parallel_tool_calls; text format -> no response_format', () => {
    const req = chatRequestOf(parse({ input: 'x', parallel_tool_calls: false, text: { format: { type: 'text' } } }), []);
    assert.deepEqual(Object.keys(req).sort(), ['messages', 'model']);
    assert.deepEqual(chatRequestOf(parse({ input: 'x', text: { format: { type: 'json_object' } } }), []).response_format, { type: 'json_object' });
  });
});

describe('chat answer -> output', () => {
  it('text -> one message item with an output_text part', () => {
    const o = outputOf(completion({ content: 'hello' }), RESP);
    assert.equal(o.status, 'completed');
    assert.equal(o.details, null);
    assert.equal(o.output.length, 1);
    const m = o.output[0];
    assert.ok(m.type === 'message' && m.id.startsWith('msg_'));
    assert.deepEqual(m.type === 'message' && m.content, [{ type: 'output_text', text: 'hello', annotations: [], logprobs: [] }]);
  });

  it('tool calls -> function_call items after the text; a calls-only turn has no message item', () => {
    const calls = [{ id: 'call_a', type: 'function', function: { name: 'f', arguments: '{"a":1}' } }, { id: 'call_b', type: 'function', function: { name: 'g', arguments: '{}' } }];
    const both = outputOf(completion({ content: 'Calling.', tool_calls: calls }, 'tool_calls'), RESP);
    assert.deepEqual(both.output.map((i) => i.type), ['message', 'function_call', 'function_call']);
    const fc = both.output[1];
    // Item ids embed the response id (so an item_reference finds its response) and the item's index.
    assert.deepEqual(both.output.map((o) => o.id), [`msg_${RESP.slice(5)}0000`, `fc_${RESP.slice(5)}0001`, `fc_${RESP.slice(5)}0002`]);
    assert.deepEqual(both.output.map((o) => responseIdOfItem(o.id)), [RESP, RESP, RESP]);
    assert.equal(responseIdOfItem('msg_given_by_a_client'), null);
    assert.deepEqual(fc.type === 'function_call' && { call_id: fc.call_id, name: fc.name, arguments: fc.arguments, status: fc.status }, { call_id: 'call_a', name: 'f', arguments: '{"a":1}', status: 'completed' });
    assert.deepEqual(outputOf(completion({ tool_calls: calls }, 'tool_calls'), RESP).output.map((i) => i.type), ['function_call', 'function_call']);
  });

  it('finish_reason length -> incomplete, reason max_output_tokens; content_filter -> incomplete', () => {
    const o = outputOf(completion({ content: 'cut' }, 'length'), RESP);
    assert.equal(o.status, 'incomplete');
    assert.deepEqual(o.details, { reason: 'max_output_tokens' });
    assert.equal(o.output[0].status, 'incomplete');
    assert.deepEqual(statusOf('content_filter'), { status: 'incomplete', details: { reason: 'content_filter' } });
  });

  it('a hostile shape still gives an output: no choices, a non-object tool call, object arguments', () => {
    assert.equal(outputOf({ choices: [] } as unknown as ChatCompletion, RESP).output.length, 1);
    const o = outputOf(completion({ tool_calls: [7, { function: { name: 'f', arguments: { a: 1 } } }] }), RESP);
    assert.deepEqual(o.output.map((i) => i.type), ['function_call']);
    assert.ok(o.output[0].type === 'function_call' && o.output[0].arguments === '{"a":1}' && o.output[0].call_id.startsWith('call_'));
  });

  it('usage with details; none -> null; nonsense counts -> 0', () => {
    assert.deepEqual(usageOf({ prompt_tokens: 10, completion_tokens: 5, total_tokens: 15, prompt_tokens_details: { cached_tokens: 4 }, completion_tokens_details: { reasoning_tokens: 2 } }), {
      input_tokens: 10, input_tokens_details: { cached_tokens: 4 }, output_tokens: 5, output_tokens_details: { reasoning_tokens: 2 }, total_tokens: 15,
    });
    assert.equal(usageOf(undefined), null);
    assert.deepEqual(usageOf({ prompt_tokens: -1, completion_tokens: 'x' }), { input_tokens: 0, input_tokens_details: { cached_tokens: 0 }, output_tokens: 0, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: 0 });
  });

  it('output -> the assistant turn a continuation replays', () => {
    const calls = [{ id: 'call_a', type: 'function', function: { name: 'f', arguments: '{}' } }];
    assert.deepEqual(outputMessages(outputOf(completion({ content: 'x', tool_calls: calls }), RESP).output), [{ role: 'assistant', content: 'x', tool_calls: calls }]);
    assert.deepEqual(outputMessages(outputOf(completion({ tool_calls: calls }), RESP).output), [{ role: 'assistant', content: null, tool_calls: calls }]);
    assert.deepEqual(outputMessages(outputOf(completion({ content: 'y' }), RESP).output), [{ role: 'assistant', content: 'y' }]);
  });

  it('the shell echoes the request', () => {
    const r = parse({ input: 'x', instructions: 'be nice', metadata: { a: 'b' }, temperature: 1, store: false, previous_response_id: 'resp_p', max_output_tokens: 50 });
    const s = responseShell(r, 'resp_1', 123, 'gpt');
    assert.equal(s.object, 'response');
    assert.equal(s.status, 'in_progress');
    assert.equal(s.instructions, 'be nice');
    assert.deepEqual(s.metadata, { a: 'b' });
    assert.equal(s.temperature, 1);
    assert.equal(s.store, false);
    assert.equal(s.previous_response_id, 'resp_p');
    assert.equal(s.max_output_tokens, 50);
    assert.equal(s.model, 'gpt');
    assert.deepEqual(s.output, []);
    assert.equal(s.error, null);
  });
});
