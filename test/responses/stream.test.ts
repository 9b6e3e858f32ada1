/**
 * ResponsesEventWriter: chat chunks -> Responses events in OpenAI's order,
 * with contiguous sequence numbers, checked by replaying them through the
 * openai SDK's own accumulator (what client.responses.stream() runs): it
 * throws on an event for an item or part it has not seen added.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { accumulateResponse } from 'openai/lib/responses/ResponseAccumulator';
import type { Response as OpenAIResponse } from 'openai/resources/responses/responses';
import { parseResponsesRequest } from '../../src/api/responses-validate.ts';
import { responseShell } from '../../src/api/responses-translate.ts';
import { ResponsesEventWriter } from '../../src/api/responses-stream.ts';
import type { ChatChunk } from '../../src/providers/types.ts';
import { sseEvents } from './helpers.ts';

const chunk = (delta: Record<string, unknown>, finish: string | null = null): ChatChunk =>
  ({ id: 'c', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [{ index: 0, delta, finish_reason: finish as never }] });

function writer(): ResponsesEventWriter {
  return new ResponsesEventWriter(responseShell(parseResponsesRequest({ model: 'auto', input: 'x' }), 'resp_t', 1, 'm'));
}

/** Runs a whole stream; returns the events and the SDK's accumulated snapshot. */
function run(chunks: ChatChunk[]): { events: { event: string | null; data: any }[]; snapshot: OpenAIResponse; final: any } {
  const w = writer();
  let sse = w.start();
  for (const c of chunks) sse += w.push(c);
  sse += w.finishItems();
  const final = w.response({ input_tokens: 1, input_tokens_details: { cached_tokens: 0 }, output_tokens: 2, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: 3 }, { model: 'm' });
  sse += w.terminal(final);
  const events = sseEvents(sse);
  let snap: OpenAIResponse | undefined;
  for (const e of events) {
    assert.equal(e.event, e.data.type, 'the SSE event name is the payload type');
    snap = accumulateResponse(e.data, snap);
  }
  return { events, snapshot: snap!, final };
}

describe('ResponsesEventWriter', () => {
  it('text: OpenAI\'s event order, sequence numbers 0..n-1, the SDK accumulates the same text', () => {
    const { events, snapshot, final } = run([chunk({ role: 'assistant', content: '' }), chunk({ content: 'Hel' }), chunk({ content: 'lo' }), chunk({}, 'stop')]);
    assert.deepEqual(events.map((e) => e.data.type), [
      'response.created', 'response.in_progress', 'response.output_item.added', 'response.content_part.added',
      'response.output_text.delta', 'response.output_text.delta', 'response.output_text.done', 'response.content_part.done',
      'response.output_item.done', 'response.completed',
    ]);
    assert.deepEqual(events.map((e) => e.data.sequence_number), events.map((_, i) => i));
    assert.equal(events[0].data.response.status, 'in_progress');
    assert.deepEqual(events[0].data.response.output, []);
    assert.equal(events[6].data.text, 'Hello');
    assert.equal(snapshot.output_text, 'Hello');
    assert.equal(snapshot.status, 'completed');
    assert.equal(final.output[0].content[0].text, 'Hello');
    assert.equal(final.output[0].status, 'completed');
    const ids = new Set(events.filter((e) => e.data.item_id).map((e) => e.data.item_id));
    assert.equal(ids.size, 1);
  });

  it('text then two tool calls (arguments interleaved, as a chat upstream may send them)', () => {
    const { events, snapshot } = run([
      chunk({ content: 'Checking.' }),
      chunk({ tool_calls: [{ index: 0, id: 'call_a', type: 'function', function: { name: 'f', arguments: '' } }] }),
      chunk({ tool_calls: [{ index: 1, id: 'call_b', type: 'function', function: { name: 'g', arguments: '{"b"' } }] }),
      chunk({ tool_calls: [{ index: 0, function: { arguments: '{"a":1}' } }] }),
      chunk({ tool_calls: [{ index: 1, function: { arguments: ':2}' } }] }),
      chunk({}, 'tool_calls'),
    ]);
    const types = events.map((e) => e.data.type);
    assert.deepEqual(types, [
      'response.created', 'response.in_progress',
      'response.output_item.added', 'response.content_part.added', 'response.output_text.delta',
      'response.output_text.done', 'response.content_part.done', 'response.output_item.done',
      'response.output_item.added', 'response.output_item.added',
      'response.function_call_arguments.delta', 'response.function_call_arguments.delta', 'response.function_call_arguments.delta',
      'response.function_call_arguments.done', 'response.output_item.done', 'response.function_call_arguments.done', 'response.output_item.done',
      'response.completed',
    ]);
    assert.deepEqual(snapshot.output.map((o) => o.type), ['message', 'function_call', 'function_call']);
    const [, a, b] = snapshot.output as any[];
    assert.deepEqual([a.call_id, a.name, a.arguments, a.status], ['call_a', 'f', '{"a":1}', 'completed']);
    assert.deepEqual([b.call_id, b.name, b.arguments, b.status], ['call_b', 'g', '{"b":2}', 'completed']);
    const done = events.filter((e) => e.data.type === 'response.function_call_arguments.done').map((e) => [e.data.name, e.data.arguments, e.data.output_index]);
    assert.deepEqual(done, [['f', '{"a":1}', 1], ['g', '{"b":2}', 2]]);
  });

  it('finish_reason length ends with response.incomplete, items incomplete', () => {
    const { events, final } = run([chunk({ content: 'cut sh' }), chunk({}, 'length')]);
    const last = events[events.length - 1].data;
    assert.equal(last.type, 'response.incomplete');
    assert.equal(last.response.status, 'incomplete');
    assert.deepEqual(last.response.incomplete_details, { reason: 'max_output_tokens' });
    assert.equal(final.output[0].status, 'incomplete');
  });

  it('an empty answer still has one (empty) message item', () => {
    const { events, snapshot } = run([chunk({ role: 'assistant' }), chunk({}, 'stop')]);
    assert.equal(events.filter((e) => e.data.type === 'response.output_item.added').length, 1);
    assert.equal(snapshot.output_text, '');
    assert.equal(snapshot.output.length, 1);
  });

  it('failed(): response.failed with the error and the partial output marked incomplete', () => {
    const w = writer();
    let sse = w.start() + w.push(chunk({ content: 'par' }));
    sse += w.failed('upstream died', 'server_error', { model: 'm' });
    const events = sseEvents(sse);
    const last = events[events.length - 1].data;
    assert.equal(last.type, 'response.failed');
    assert.equal(last.response.status, 'failed');
    assert.deepEqual(last.response.error, { code: 'server_error', message: 'upstream died' });
    assert.equal(last.response.output[0].status, 'incomplete');
    assert.equal(last.response.output[0].content[0].text, 'par');
    assert.deepEqual(events.map((e) => e.data.sequence_number), events.map((_, i) => i));
  });

  it('tolerates hostile chunks: no choices, a null choice, non-array tool_calls, a tool call without id or index', () => {
    const w = writer();
    let sse = w.start();
    for (const c of [{ choices: null }, { choices: [null] }, chunk({ tool_calls: 'x' }), chunk({ content: 5 }), chunk({ tool_calls: [{ function: { name: 'f', arguments: '{}' } }] })] as unknown as ChatChunk[]) sse += w.push(c);
    sse += w.finishItems();
    const events = sseEvents(sse);
    const added = events.filter((e) => e.data.type === 'response.output_item.added');
    assert.equal(added.length, 1);
    assert.ok(added[0].data.item.call_id.startsWith('call_'));
  });
});
