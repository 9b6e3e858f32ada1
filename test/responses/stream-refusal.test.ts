/**
 * A refusal in a streamed answer (chat's delta.refusal, what a model sends
 * instead of a structured output it will not give) stays a refusal: OpenAI's
 * `refusal` content part with response.refusal.delta / .done events, as the
 * JSON path (outputOf) already answers it. It used to be streamed as
 * output_text deltas, so the SDK's output_text held the refusal (and
 * responses.parse tried to read it as the JSON asked for), and the stored
 * response differed from the JSON answer of the same upstream reply.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { accumulateResponse } from 'openai/lib/responses/ResponseAccumulator';
import type { Response as OpenAIResponse } from 'openai/resources/responses/responses';
import { parseResponsesRequest } from '../../src/api/responses-validate.ts';
import { outputOf, responseShell } from '../../src/api/responses-translate.ts';
import { ResponsesEventWriter } from '../../src/api/responses-stream.ts';
import type { ChatChunk, ChatCompletion } from '../../src/providers/types.ts';
import { sseEvents } from './helpers.ts';

const chunk = (delta: Record<string, unknown>, finish: string | null = null): ChatChunk =>
  ({ id: 'c', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [{ index: 0, delta, finish_reason: finish as never }] });

function run(chunks: ChatChunk[]) {
  const w = new ResponsesEventWriter(responseShell(parseResponsesRequest({ model: 'auto', input: 'x' }), 'resp_t', 1, 'm'));
  let sse = w.start();
  for (const c of chunks) sse += w.push(c);
  sse += w.finishItems();
  const final = w.response(null, {});
  sse += w.terminal(final);
  const events = sseEvents(sse);
  let snap: OpenAIResponse | undefined;
  for (const e of events) snap = accumulateResponse(e.data, snap);
  assert.deepEqual(events.map((e) => e.data.sequence_number), events.map((_, i) => i));
  return { events, snapshot: snap!, final };
}

describe('ResponsesEventWriter: refusals', () => {
  it('a refusal-only answer: one refusal part, refusal events, no output_text; the same item as the JSON path', () => {
    const { events, snapshot, final } = run([chunk({ role: 'assistant', refusal: '' }), chunk({ refusal: "I can't " }), chunk({ refusal: 'help.' }), chunk({}, 'stop')]);
    assert.deepEqual(events.map((e) => e.data.type), [
      'response.created', 'response.in_progress', 'response.output_item.added', 'response.content_part.added',
      'response.refusal.delta', 'response.refusal.delta', 'response.refusal.done', 'response.content_part.done',
      'response.output_item.done', 'response.completed',
    ]);
    assert.deepEqual(events[3].data.part, { type: 'refusal', refusal: '' });
    assert.equal(events[6].data.refusal, "I can't help.");
    assert.deepEqual(snapshot.output[0].type === 'message' && snapshot.output[0].content, [{ type: 'refusal', refusal: "I can't help." }]);
    assert.equal(snapshot.output_text ?? '', '');
    const json = outputOf({ choices: [{ index: 0, message: { role: 'assistant', content: null, refusal: "I can't help." }, finish_reason: 'stop' }] } as unknown as ChatCompletion, 'resp_t');
    assert.deepEqual(final.output.map((o) => ({ ...o, id: '' })), json.output.map((o) => ({ ...o, id: '' })));
  });

  it('text then a refusal: two parts in that order, each with its own events', () => {
    const { events, snapshot, final } = run([chunk({ content: 'Sure' }), chunk({ refusal: 'no' }), chunk({}, 'stop')]);
    const parts = events.filter((e) => e.data.type === 'response.content_part.added').map((e) => [e.data.content_index, e.data.part.type]);
    assert.deepEqual(parts, [[0, 'output_text'], [1, 'refusal']]);
    assert.equal(events.find((e) => e.data.type === 'response.refusal.delta')!.data.content_index, 1);
    assert.deepEqual(final.output[0].type === 'message' && final.output[0].content.map((p) => p.type), ['output_text', 'refusal']);
    assert.equal(snapshot.output_text, 'Sure');
  });

  it('a stream cut mid-refusal: response.failed keeps the refusal as a refusal part', () => {
    const w = new ResponsesEventWriter(responseShell(parseResponsesRequest({ model: 'auto', input: 'x' }), 'resp_t', 1, 'm'));
    w.start();
    w.push(chunk({ refusal: 'no' }));
    const failed = sseEvents(w.failed('cut', 'server_error', {}));
    assert.deepEqual(failed[0].data.response.output[0].content, [{ type: 'refusal', refusal: 'no' }]);
  });
});
