/**
 * OpenAI and OpenAI-compatible upstreams (vLLM, Together, OpenRouter, ...):
 * a pass-through. Two changes only:
 *  - `model` becomes the backend's upstream model name;
 *  - a streaming request always asks for `stream_options.include_usage`, so
 *    the gateway learns the token counts (cost accounting); the final
 *    usage-only chunk and the `usage: null` fields are dropped again when the
 *    client did not ask for them, so the client sees what OpenAI would send.
 *
 * Pass-through means bytes where possible (the gateway's hot path): a JSON
 * answer is forwarded as the upstream's text (readResponse: parsed once to
 * validate it, never re-serialised), and a stream
 * event that needs no change goes out as its data text (passThrough), so the
 * common answer is never parsed and re-serialised. Measured on the mock's
 * 24-event stream: parse + delete usage + stringify ~1.5 µs an event, ~36 µs
 * a stream; the text checks below 2.2 µs a stream. (Through the gateway, 64
 * connections, one HTTP thread, SSE went from 162 to ~80 µs of CPU a request
 * with this and the transport change in upstream.ts.)
 *
 * Checked without parsing: the text is one object ({...}) (an event's: on
 * one line); "error" and "usage" keys are found by a substring search, and
 * any event where they are not exactly the expected shape takes the parsing
 * path, which is the exact old behaviour. Token counts read from "usage" are
 * checked (cost.ts validUsage) before they are priced. What is lost: a stream
 * event that looks like an object but is not valid JSON reaches the client as
 * it came instead of failing with bad_response (a JSON answer does fail: one
 * parse per answer is cheap next to one per event).
 */
import type { SseEvent } from '../streaming/sse-parser.ts';
import { validUsage } from './cost.ts';
import { clip, UpstreamError } from './failure.ts';
import { redact } from './redact.ts';
import type {
  Backend, ChatChunk, ChatCompletion, ChatRequest, CompletionText, ProviderAdapter, StreamContext, StreamItem, StreamTransformer,
  UpstreamRequestSpec, Usage,
} from './types.ts';

/** Headers depend on the backend and on streaming only: built once per (backend, stream), shared read-only. */
const headerCache = new WeakMap<Backend, [Record<string, string>, Record<string, string>]>();

function headersFor(backend: Backend, stream: boolean): Record<string, string> {
  let pair = headerCache.get(backend);
  if (pair === undefined) {
    const make = (s: boolean): Record<string, string> => {
      const h: Record<string, string> = { 'content-type': 'application/json', accept: s ? 'text/event-stream' : 'application/json' };
      // No key configured (a local vLLM, the mock): send no credentials at all rather than "Bearer ".
      if (backend.apiKey !== '') h.authorization = `Bearer ${backend.apiKey}`;
      if (backend.headers) Object.assign(h, backend.headers);
      return Object.freeze(h) as Record<string, string>;
    };
    pair = [make(false), make(true)];
    headerCache.set(backend, pair);
  }
  return pair[stream ? 1 : 0];
}

function buildRequest(req: ChatRequest, backend: Backend): UpstreamRequestSpec {
  const body: ChatRequest = { ...req, model: backend.upstreamModel };
  if (req.stream) body.stream_options = { ...(req.stream_options ?? {}), include_usage: true };
  return { path: '/chat/completions', headers: headersFor(backend, req.stream === true), body: JSON.stringify(body) };
}

function parseResponse(json: unknown): ChatCompletion {
  const j = json as ChatCompletion | null;
  if (j === null || typeof j !== 'object' || !Array.isArray(j.choices)) {
    throw new UpstreamError('bad_response', 'upstream chat.completion has no "choices" array');
  }
  return j;
}

/**
 * The completion's text as the upstream sent it, plus its usage. The body is
 * JSON.parse'd once to prove it is a well-formed chat.completion (an object
 * with a "choices" array): a 200 with a truncated or malformed body is a
 * bad_response, so the chain falls back instead of handing the client invalid
 * JSON and counting a success. The text itself is kept, not re-serialised:
 * the edge splices its `switchyard` member in (withSwitchyard), which is the
 * costly half of parse + stringify. The parse, measured on a 432-byte
 * completion (200,000 JSON.parse calls, 2026-12-01 machine): 1.9-2.2 µs at
 * load 1.4, 5.5-8.1 µs with the test suite running beside it. The earlier
 * targeted read of "usage" skipped it, and let the fuzz tests' truncated
 * bodies through as 200s.
 * An upstream `switchyard` key would be a duplicate once spliced: such a
 * body is re-serialised without it.
 */
function readResponse(body: Buffer): CompletionText {
  const s = body.toString('utf8');
  let j: unknown;
  try { j = JSON.parse(s); } catch { throw new UpstreamError('bad_response', redact(`response body is not JSON: ${s.slice(0, 200)}`)); }
  const completion = parseResponse(j);
  const usage = validUsage(completion.usage);
  if (!Object.hasOwn(completion, 'switchyard')) return { json: s.trim(), usage };
  delete completion.switchyard;
  return { json: JSON.stringify(completion), usage };
}

/** The message of an error event, clipped and redacted (it goes to the client: the upstream may quote the key it got). */
function errorMessage(o: { error?: unknown }): string {
  const e = o.error as { message?: unknown } | string | null | undefined;
  const m = typeof e === 'string' ? e : typeof e?.message === 'string' ? e.message : 'upstream stream error';
  return redact(clip(m));
}

/** How OpenAI (and vLLM) end every chunk when include_usage is on: compact JSON, usage last. */
const USAGE_NULL_TAIL = ',"usage":null}';
/**
 * The keys that make an event need parsing, and a line feed: an event of
 * several `data:` lines (legal SSE; its text is their lines joined with LF)
 * must not be written out as one `data:` line, or the client would read the
 * lines after the first as other fields, or as events of their own (a fake
 * `data: [DONE]`). Parsed and serialised again it is one line. One regex test
 * an event: 0.04 µs, where two String#includes were 0.28 µs (V8's substring
 * search starts on '"', the commonest byte in JSON). Global, so lastIndex
 * tells where the match ended.
 */
const KEYS = /"(?:error|usage)"|\n/g;

class OpenAiStream implements StreamTransformer {
  done = false;
  usage: Usage | null = null;
  constructor(private readonly includeUsage: boolean, private readonly passThrough: boolean) {}

  push(ev: SseEvent, out: StreamItem[]): void {
    const data = ev.data;
    if (data === '[DONE]') { this.done = true; return; }
    if (this.passThrough) {
      const n = data.length;
      if (n > 1 && data.charCodeAt(0) === 0x7b && data.charCodeAt(n - 1) === 0x7d) {
        KEYS.lastIndex = 0;
        if (!KEYS.test(data)) { out.push(data); return; }
        // The first (so only) match is the trailing "usage":null: the client gets it only if it asked.
        // (A line feed before it would have been the first match.)
        if (KEYS.lastIndex === n - USAGE_NULL_TAIL.length + 8 && data.endsWith(USAGE_NULL_TAIL)) {
          out.push(this.includeUsage ? data : data.slice(0, n - USAGE_NULL_TAIL.length) + '}');
          return;
        }
      }
    }
    let chunk: ChatChunk & { error?: unknown };
    try { chunk = JSON.parse(data); } catch { throw new UpstreamError('bad_response', 'upstream stream event is not JSON'); }
    if (chunk === null || typeof chunk !== 'object' || Array.isArray(chunk)) throw new UpstreamError('bad_response', 'upstream stream event is not an object');
    if (chunk.error !== undefined) throw new UpstreamError('stream_error', errorMessage(chunk));
    // Parsed anyway: what goes out from here is a chunk. A usage-only event without
    // the empty choices array OpenAI sends (some compatible servers) is given one.
    if (!Array.isArray(chunk.choices)) {
      if (validUsage(chunk.usage) === null) throw new UpstreamError('bad_response', 'upstream stream event has no "choices" array');
      chunk.choices = [];
    }
    if (chunk.usage) this.usage = validUsage(chunk.usage) ?? this.usage;
    if (this.includeUsage) { out.push(chunk); return; }
    if (chunk.choices.length === 0 && chunk.usage) return; // the usage-only chunk
    if ('usage' in chunk) delete chunk.usage;
    out.push(chunk);
  }

  end(): void {}
}

export const openai: ProviderAdapter = {
  name: 'openai',
  defaultBaseUrl: 'https://api.openai.com/v1',
  buildRequest,
  parseResponse,
  readResponse,
  createStreamTransformer: (ctx: StreamContext) => new OpenAiStream(ctx.includeUsage, ctx.passThrough === true),
};
