/**
 * Chat completion chunks -> the Responses API's typed stream events, as SSE
 * frames (`event: <type>` + `data: <json>`, as OpenAI sends them). Pure: it
 * takes parsed chunks and returns strings; the handler (responses.ts) writes
 * them with the sink's backpressure and decides when the stream ends.
 *
 * OpenAI's order, which the SDKs' accumulators rely on (they index output
 * items by output_index and content parts by content_index, and throw on a
 * delta for an item they have not seen added):
 *   response.created, response.in_progress
 *   per message item:  output_item.added, content_part.added, output_text.delta..., output_text.done,
 *                      content_part.done, output_item.done (a refusal, chat's delta.refusal, is its own
 *                      `refusal` part: content_part.added, refusal.delta..., refusal.done, content_part.done)
 *   per function call: output_item.added, function_call_arguments.delta..., function_call_arguments.done,
 *                      output_item.done
 *   response.completed (response.incomplete when the model hit max_output_tokens), or response.failed
 * Every event carries `sequence_number`, 0, 1, 2, ... in the order written.
 *
 * Items are sequential, as a chat model produces them: text, then calls. A
 * call opening closes the text item; calls stay open until the end, because
 * a chat upstream may interleave the argument pieces of parallel calls (their
 * deltas carry their own output_index, so interleaving is still well formed).
 * Text after a call opens a new message item.
 *
 * Cost: delta events are concatenated around one JSON.stringify of the
 * delta (a 4-character text delta is a 216-byte event, an OpenAI chat
 * chunk with the same delta about 200 bytes); other events are JSON.stringify'd; the response object
 * is serialised twice (created/in_progress share one, the terminal event)
 * (shared with the store's copy).
 */
import type { ChatChunk } from '../providers/types.ts';
import { newId } from './responses-validate.ts';
import {
  outputItemId, statusOf, type ItemStatus, type OutputFunctionCall, type OutputItem, type OutputMessage, type ResponseObject, type ResponsesUsage,
} from './responses-translate.ts';

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

interface OpenCall { item: OutputFunctionCall; index: number }
type PartKind = 'output_text' | 'refusal';
/** The open message item: its text and refusal so far, and its parts in the order they were opened (= content_index). */
interface OpenText { item: OutputMessage; index: number; text: string; refusal: string; parts: PartKind[] }

/** The message item as it stands: its parts in the order the events announced them. */
function messageOf(t: OpenText, status: ItemStatus): OutputMessage {
  const content: OutputMessage['content'] = t.parts.map((k) => (k === 'output_text' ? { type: 'output_text', text: t.text, annotations: [], logprobs: [] } : { type: 'refusal', refusal: t.refusal }));
  return { id: t.item.id, type: 'message', status, content, role: 'assistant' };
}

export class ResponsesEventWriter {
  private seq = 0;
  readonly output: OutputItem[] = [];
  private text: OpenText | null = null;
  /** Open calls by the chat chunk's tool_call index. */
  private readonly calls = new Map<number, OpenCall>();
  /** The chat finish_reason, once a chunk carried one. */
  finishReason: string | null = null;

  constructor(private readonly shell: ResponseObject) {}

  private ev(type: string, body: Record<string, unknown>): string {
    const data = JSON.stringify({ type, sequence_number: this.seq++, ...body });
    return `event: ${type}\ndata: ${data}\n\n`;
  }

  /** response.created and response.in_progress: the shell, status in_progress, no output (serialised once for both). */
  start(): string {
    const snap = JSON.stringify({ ...this.shell, status: 'in_progress', output: [] });
    return this.raw('response.created', `"response":${snap}`) + this.raw('response.in_progress', `"response":${snap}`);
  }

  /**
   * An event whose members after type and sequence_number are JSON text
   * already: the delta events (most of a stream) are built by concatenation,
   * one JSON.stringify of the delta string instead of one of a spread object.
   */
  private raw(type: string, members: string): string {
    return `event: ${type}\ndata: {"type":"${type}","sequence_number":${this.seq++},${members}}\n\n`;
  }

  /** One chat chunk -> zero or more events. Tolerates any shape (an upstream's chunk is untrusted). */
  push(c: ChatChunk): string {
    let s = '';
    const choice = Array.isArray(c.choices) ? c.choices[0] : undefined;
    if (!isObj(choice)) return s;
    const d = isObj(choice.delta) ? choice.delta : {};
    if (typeof d.content === 'string' && d.content !== '') s += this.textDelta(d.content);
    if (typeof d.refusal === 'string' && d.refusal !== '') s += this.refusalDelta(d.refusal);
    if (Array.isArray(d.tool_calls)) {
      for (let i = 0; i < d.tool_calls.length; i++) {
        const tc = d.tool_calls[i];
        if (isObj(tc)) s += this.callDelta(tc, typeof tc.index === 'number' ? tc.index : i);
      }
    }
    if (typeof choice.finish_reason === 'string') this.finishReason = choice.finish_reason;
    return s;
  }

  /** Opens a message item (its parts open with their first piece: part()). */
  private openText(): string {
    const item: OutputMessage = { id: outputItemId(this.shell.id, 'msg_', this.output.length), type: 'message', status: 'in_progress', content: [], role: 'assistant' };
    const t = this.text = { item, index: this.output.length, text: '', refusal: '', parts: [] };
    this.output.push(item);
    return this.ev('response.output_item.added', { output_index: t.index, item });
  }

  /** The open item's `kind` part, added (content_part.added) if it is not yet: sets `at` to its content_index. */
  private part(t: OpenText, kind: PartKind): string {
    this.at = t.parts.indexOf(kind);
    if (this.at >= 0) return '';
    this.at = t.parts.push(kind) - 1;
    const part = kind === 'output_text' ? { type: 'output_text', annotations: [], logprobs: [], text: '' } : { type: 'refusal', refusal: '' };
    return this.ev('response.content_part.added', { item_id: t.item.id, output_index: t.index, content_index: this.at, part });
  }

  /** part()'s content_index (a field rather than a return value, so that part() returns only the event text). */
  private at = 0;

  private textDelta(piece: string): string {
    let s = this.text === null ? this.openText() : '';
    const t = this.text!;
    s += this.part(t, 'output_text');
    t.text += piece;
    // Item ids are [a-z0-9_] (outputItemId): safe in JSON unescaped.
    return s + this.raw('response.output_text.delta', `"item_id":"${t.item.id}","output_index":${t.index},"content_index":${this.at},"delta":${JSON.stringify(piece)},"logprobs":[]`);
  }

  private refusalDelta(piece: string): string {
    let s = this.text === null ? this.openText() : '';
    const t = this.text!;
    s += this.part(t, 'refusal');
    t.refusal += piece;
    return s + this.ev('response.refusal.delta', { item_id: t.item.id, output_index: t.index, content_index: this.at, delta: piece });
  }

  private callDelta(tc: Record<string, unknown>, key: number): string {
    let s = '';
    const fn = isObj(tc.function) ? tc.function : {};
    let open = this.calls.get(key);
    if (open === undefined) {
      s += this.closeText('completed');
      const item: OutputFunctionCall = {
        id: outputItemId(this.shell.id, 'fc_', this.output.length), type: 'function_call', status: 'in_progress', arguments: '',
        call_id: typeof tc.id === 'string' && tc.id !== '' ? tc.id : newId('call_'), name: typeof fn.name === 'string' ? fn.name : '',
      };
      open = { item, index: this.output.length };
      this.calls.set(key, open);
      this.output.push(item);
      s += this.ev('response.output_item.added', { output_index: open.index, item: { ...item } });
    } else if (typeof fn.name === 'string' && open.item.name === '') open.item.name = fn.name;
    const args = fn.arguments;
    if (typeof args === 'string' && args !== '') {
      open.item.arguments += args;
      s += this.raw('response.function_call_arguments.delta', `"item_id":"${open.item.id}","output_index":${open.index},"delta":${JSON.stringify(args)}`);
    }
    return s;
  }

  private closeText(status: ItemStatus): string {
    const t = this.text;
    if (t === null) return '';
    // An item with no piece at all is an empty answer: one empty output_text part, as the JSON path gives.
    let s = t.parts.length === 0 ? this.part(t, 'output_text') : '';
    this.text = null;
    const done = messageOf(t, status);
    this.output[t.index] = done;
    for (let i = 0; i < t.parts.length; i++) {
      s += t.parts[i] === 'output_text'
        ? this.ev('response.output_text.done', { item_id: done.id, output_index: t.index, content_index: i, text: t.text, logprobs: [] })
        : this.ev('response.refusal.done', { item_id: done.id, output_index: t.index, content_index: i, refusal: t.refusal });
      s += this.ev('response.content_part.done', { item_id: done.id, output_index: t.index, content_index: i, part: done.content[i] });
    }
    return s + this.ev('response.output_item.done', { output_index: t.index, item: done });
  }

  /**
   * The upstream finished: done events for every open item, in output order
   * (an answer with no output at all gets an empty message, as the JSON path
   * does). Then build the response with response() and end with terminal().
   */
  finishItems(): string {
    const itemStatus: ItemStatus = statusOf(this.finishReason).status === 'completed' ? 'completed' : 'incomplete';
    let s = '';
    if (this.output.length === 0) s += this.openText();
    s += this.closeText(itemStatus);
    const calls = [...this.calls.values()].sort((a, b) => a.index - b.index);
    this.calls.clear();
    for (const c of calls) {
      c.item.status = itemStatus;
      const item = { ...c.item };
      s += this.ev('response.function_call_arguments.done', { item_id: item.id, output_index: c.index, name: item.name, arguments: item.arguments });
      s += this.ev('response.output_item.done', { output_index: c.index, item });
    }
    return s;
  }

  /** The final response object: status from the finish reason, every item, usage and the switchyard member. */
  response(usage: ResponsesUsage | null, switchyard: Record<string, unknown>): ResponseObject {
    const { status, details } = statusOf(this.finishReason);
    return { ...this.shell, status, incomplete_details: details, output: this.output.map((o) => ({ ...o })), usage, switchyard };
  }

  /** response.completed, or response.incomplete for an answer cut at max_output_tokens (as OpenAI ends one); `json` = r serialised, when the caller has it already. */
  terminal(r: ResponseObject, json: string = JSON.stringify(r)): string {
    return this.raw(r.status === 'incomplete' ? 'response.incomplete' : 'response.completed', `"response":${json}`);
  }

  /**
   * response.failed: the upstream broke mid-answer (or the store refused the
   * response). Open items stay as they are, marked incomplete; `code` is
   * OpenAI's error code ('server_error') or Switchyard's.
   */
  failed(message: string, code: string, switchyard: Record<string, unknown>, usage: ResponsesUsage | null = null): string {
    const output = this.output.map((o) => (o.status === 'in_progress' ? { ...o, status: 'incomplete' as const } : o));
    const t = this.text;
    if (t !== null) output[t.index] = messageOf(t, 'incomplete');
    this.text = null;
    this.calls.clear();
    const r: ResponseObject = { ...this.shell, status: 'failed', error: { code, message }, output, usage, switchyard };
    return this.ev('response.failed', { response: r });
  }
}
