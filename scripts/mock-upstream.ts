/**
 * Deterministic mock LLM upstream for tests and benchmarks (tensorzero's
 * `dummy` provider idea), on node:http so it shares nothing with the server
 * under test. Speaks both dialects the gateway proxies to:
 *   POST /v1/chat/completions  OpenAI: JSON, or SSE with `stream: true`
 *                              (usage chunk when stream_options.include_usage, then [DONE])
 *   POST /v1/messages          Anthropic: JSON, or the real event sequence
 *                              (message_start, content_block_start, ping, deltas,
 *                              content_block_stop, message_delta, message_stop)
 *
 *   npm run mock-upstream -- --port 0 --latency-ms 0 --chunks 20 --chunk-interval-ms 0 --failure-rate 0 --replay
 *                            [--numbered] [--chunk-bytes N]
 *
 * --numbered makes the generic content of chunk i start with `<i>`, so a
 * client can check that every chunk arrived once and in order; --chunk-bytes
 * pads each generic content piece to that many characters (the slow-reader
 * benchmark wants ~1 KB chunks). Both default off: the default wire format is
 * unchanged.
 *
 * Per-request overrides by header, so a test can break one model only (the
 * gateway's backend config can add static headers):
 *   x-mock-status: 429              answer with that status and an error body
 *   x-mock-latency-ms: 500          wait before the headers
 *   x-mock-fail-before-first-byte   close the socket without answering
 *   x-mock-chunks / x-mock-chunk-interval-ms
 *   x-mock-fail-after-chunks: 3     stream 3 content chunks, then close the socket
 *   x-mock-stream-error             2xx stream whose first event is an error event
 *   x-mock-echo-key                 401 whose message quotes the API key sent (as real APIs do)
 *   x-mock-tool-calls: 2            how many tool_use blocks a tool answer holds (default 1)
 *
 * Tools (Anthropic format only; the OpenAI side ignores them): a request
 * with `tools` (and tool_choice not "none") gets a short text block and then
 * a tool_use for the first tool (or the one tool_choice names) with the fixed
 * input MOCK_TOOL_INPUT, stop_reason "tool_use" (x-mock-tool-calls: N makes N
 * calls, over the tools in order, unless parallel use is off); streamed, the
 * input arrives as input_json_delta pieces after an empty one, as the real
 * API sends it. A
 * request whose last turn carries tool_result blocks gets a text answer
 * quoting them (`Tool results: <tool_use_id>=<text>; ...`), so a client can
 * see its results arrived. Requests that involve tools are checked the way
 * the real API checks them (alternating roles, each tool_use answered by a
 * tool_result opening the next turn, tools defined, input an object) and
 * get its 400 invalid_request_error otherwise. Requests without tools are
 * answered exactly as before.
 *
 * Replay (--replay): a request whose last user message equals a RouterBench
 * prompt gets that model's recorded answer; anything else gets the generic one.
 *
 * Speed: fixed JSON fragments and per-model content chunks are built once and
 * cached; with no chunk interval a whole stream goes out in one write.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { parseArgs } from 'node:util';
import { resolve, dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { loadRecordedResponsesDir, type RecordedResponses } from './mock-replay.ts';
import { mulberry32 } from '../src/seeded-random.ts';

export const DEFAULT_REPLAY_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../../shared/data/routerbench');

export interface MockOptions {
  port?: number;
  host?: string;
  latencyMs?: number;
  chunks?: number;
  chunkIntervalMs?: number;
  /** Fraction of requests answered with 500, in [0, 1]. */
  failureRate?: number;
  /** true = the shared RouterBench directory; a string = another directory of CSVs. */
  replay?: boolean | string;
  /** Seed for the failure-rate draw, so a run is reproducible. */
  seed?: number;
  /** Generic content piece i starts with `<i>` (replayed answers are unchanged). Default off. */
  numbered?: boolean;
  /** Pad each generic content piece with '.' to this many characters. Default 0 (no padding). */
  chunkBytes?: number;
}

export interface MockStats {
  requests: number;
  byPath: Record<string, number>;
  byModel: Record<string, number>;
  byStatus: Record<string, number>;
  /** Responses finished normally. */
  completed: number;
  /** Responses whose connection closed before they finished (client abort, or a forced failure). */
  aborted: number;
  /** TCP connections accepted, currently open, and closed. */
  connections: number;
  openConnections: number;
  closedConnections: number;
  replayHits: number;
  /**
   * Streaming responses and the backpressure their reader (the gateway under
   * test) put on the mock: a write() that returned false means the socket's
   * kernel buffers were full and data queued in the mock, until 'drain'. A
   * gateway that stops reading when its own client is slow makes these grow;
   * one that buffers everything leaves them at zero.
   */
  stream: StreamStats;
}

export interface StreamStats {
  /** Streaming 2xx responses started. */
  responses: number;
  /** SSE bytes handed to write()/end(). */
  bytes: number;
  /**
   * write() calls that returned false. Node also returns false for a single
   * chunk over the 16 KiB high-water mark that the kernel took at once; that
   * wait ends at the next tick's 'drain', so blockedMs stays meaningful.
   */
  blockedWrites: number;
  /** Responses that had at least one write() return false. */
  blockedResponses: number;
  /** Sum over responses of the time spent between a write() returning false and the next 'drain'. */
  blockedMs: number;
  /** Longest single such wait. */
  maxBlockedMs: number;
  /** Longest time from the headers to 'finish' (every byte handed to the kernel). */
  maxFlushMs: number;
  /** Streams open now, and the bytes queued in the mock (not yet taken by the kernel) across them, as of this stats() call. */
  open: number;
  queuedBytes: number;
}

export interface MockUpstream {
  port: number;
  /** http://127.0.0.1:<port> */
  url: string;
  stats(): MockStats;
  resetStats(): void;
  close(): Promise<void>;
}

const GENERIC = 'This is a deterministic answer from the Switchyard mock upstream , streamed in small pieces so that tests and benchmarks can watch every chunk arrive in order .'.split(' ');
const CREATED = 1_700_000_000;
const SSE_HEADERS = { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' };
/** The input of every tool_use the mock answers with. */
export const MOCK_TOOL_INPUT = { query: 'switchyard', limit: 3 };

interface Req { model: string; stream: boolean; includeUsage: boolean; prompt: string; promptChars: number; tools: ToolTurn | null }
type Api = 'openai' | 'anthropic';

/** What an Anthropic request that involves tools asks of the mock. */
interface ToolTurn {
  /** Tools the answer may call, in order (call j uses call[j % length]); empty = answer with text. */
  call: string[];
  /** tool_result blocks of the last turn: answered with text quoting them. */
  results: { id: string; text: string }[];
  /** Why the real API would refuse the request, or null. */
  problem: string | null;
  parallel: boolean;
}

interface MockCall { id: string; name: string; json: string }


function textOf(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  let s = '';
  for (const p of content) if (p && typeof p === 'object' && (p as { type?: unknown }).type === 'text') s += (s ? '\n' : '') + String((p as { text?: unknown }).text ?? '');
  return s;
}

function readReq(body: Record<string, unknown>): Req {
  const messages = Array.isArray(body.messages) ? (body.messages as { role?: unknown; content?: unknown }[]) : [];
  let prompt = '';
  let promptChars = typeof body.system === 'string' ? body.system.length : 0;
  for (const m of messages) {
    const t = textOf(m?.content);
    promptChars += t.length;
    if (m?.role === 'user') prompt = t;
  }
  const so = body.stream_options as { include_usage?: unknown } | undefined;
  return { model: typeof body.model === 'string' ? body.model : 'mock', stream: body.stream === true, includeUsage: so?.include_usage === true, prompt, promptChars, tools: null };
}

type Obj = Record<string, any>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const blocksIn = (m: unknown): Obj[] => (isObj(m) && Array.isArray(m.content) ? m.content.filter(isObj) : []);

/** null when the request involves no tools (no definitions, no tool blocks): the mock answers as it always did. */
function readToolTurn(body: Obj): ToolTurn | null {
  const tools: unknown[] = Array.isArray(body.tools) ? body.tools : [];
  const messages: unknown[] = Array.isArray(body.messages) ? body.messages : [];
  const blocks = messages.flatMap(blocksIn);
  if (tools.length === 0 && !blocks.some((b) => b.type === 'tool_use' || b.type === 'tool_result')) return null;
  const last = blocksIn(messages[messages.length - 1]);
  const results = last.filter((b) => b.type === 'tool_result').map((b) => ({ id: String(b.tool_use_id), text: typeof b.content === 'string' ? b.content : textOf(b.content) }));
  const choice: Obj = isObj(body.tool_choice) ? body.tool_choice : { type: 'auto' };
  const names = tools.map((t) => (isObj(t) ? String(t.name) : ''));
  const call = results.length > 0 || choice.type === 'none' || names.length === 0 ? [] : choice.type === 'tool' ? [String(choice.name)] : names;
  return { call, results, problem: toolProblem(body, tools, messages), parallel: choice.disable_parallel_tool_use !== true };
}

/** The checks the real Messages API makes on tool use, with its wording where known. */
function toolProblem(body: Obj, tools: unknown[], messages: unknown[]): string | null {
  const names = new Set<string>();
  for (let k = 0; k < tools.length; k++) {
    const t = tools[k];
    if (!isObj(t) || typeof t.name !== 'string' || !isObj(t.input_schema)) return `tools.${k}: "name" and an "input_schema" object are required`;
    names.add(t.name);
  }
  const tc = body.tool_choice;
  if (tc !== undefined) {
    if (!isObj(tc) || !['auto', 'any', 'tool', 'none'].includes(tc.type)) return 'tool_choice: must be {"type": "auto" | "any" | "tool" | "none"}';
    if (tc.type === 'tool' && !names.has(tc.name)) return `tool_choice.name: no tool named ${JSON.stringify(tc.name)}`;
  }
  let toolBlocks = false;
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i] as Obj;
    if (i > 0 && (messages[i - 1] as Obj)?.role === m?.role) return `messages.${i}: roles must alternate between "user" and "assistant"`;
    const content = blocksIn(m);
    const uses = content.filter((b) => b.type === 'tool_use');
    for (const u of uses) {
      toolBlocks = true;
      if (m.role !== 'assistant') return `messages.${i}: tool_use blocks belong in assistant turns`;
      if (typeof u.id !== 'string' || !/^[a-zA-Z0-9_-]+$/.test(u.id)) return `messages.${i}.content: tool_use.id: String should match pattern '^[a-zA-Z0-9_-]+$'`;
      if (!isObj(u.input)) return `messages.${i}.content: tool_use.input: Input should be a valid dictionary`;
    }
    const next = blocksIn(messages[i + 1]);
    if (uses.length > 0 && i + 1 < messages.length) {
      const answered = new Set<string>();
      for (let k = 0; k < next.length && next[k].type === 'tool_result'; k++) answered.add(next[k].tool_use_id);
      const missing = uses.filter((u) => !answered.has(u.id)).map((u) => u.id);
      if (missing.length) return `messages.${i}: \`tool_use\` ids were found without \`tool_result\` blocks immediately after: ${missing.join(', ')}. Each \`tool_use\` block must have a corresponding \`tool_result\` block in the next message.`;
    }
    const results = content.filter((b) => b.type === 'tool_result');
    if (results.length === 0) continue;
    toolBlocks = true;
    const asked = new Set(blocksIn(messages[i - 1]).filter((b) => b.type === 'tool_use').map((b) => b.id));
    for (const r of results) {
      if (!asked.has(r.tool_use_id)) return `messages.${i}.content: unexpected \`tool_use_id\` found in \`tool_result\` blocks: ${r.tool_use_id}. Each \`tool_result\` block must have a corresponding \`tool_use\` block in the previous message.`;
    }
    for (let k = 0; k < results.length; k++) if (content[k].type !== 'tool_result') return `messages.${i}: tool_result blocks must come first in the turn, before any other content`;
  }
  if (toolBlocks && names.size === 0) return 'Requests which include `tool_use` or `tool_result` blocks must define tools.';
  return null;
}

/** Splits text into n pieces of near-equal length, never inside a surrogate pair. */
function split(text: string, n: number): string[] {
  const k = Math.max(1, Math.min(n, text.length));
  const out: string[] = [];
  let prev = 0;
  for (let i = 1; i <= k; i++) {
    let cut = i === k ? text.length : Math.round((i * text.length) / k);
    const c = text.charCodeAt(cut - 1);
    if (cut < text.length && c >= 0xd800 && c <= 0xdbff) cut++;
    if (cut > prev) { out.push(text.slice(prev, cut)); prev = cut; }
  }
  return out.length ? out : [''];
}

function genericPieces(n: number, numbered = false, chunkBytes = 0): string[] {
  return Array.from({ length: n }, (_, i) => {
    const p = numbered ? `<${i}>${GENERIC[i % GENERIC.length]} ` : (i === 0 ? '' : ' ') + GENERIC[i % GENERIC.length];
    return p.length < chunkBytes ? p.padEnd(chunkBytes, '.') : p;
  });
}

const tokens = (chars: number): number => Math.max(1, Math.ceil(chars / 4));

/** Frames of one answer: [preamble, ...content, closing]; each is a ready-to-write SSE string. */
function openaiFrames(model: string, pieces: string[], includeUsage: boolean, promptTokens: number, completionTokens: number): string[] {
  const head = `data: {"id":"chatcmpl-mock","object":"chat.completion.chunk","created":${CREATED},"model":${JSON.stringify(model)},"system_fingerprint":null,"choices":[{"index":0,"delta":`;
  const tail = includeUsage ? '}],"usage":null}\n\n' : '}]}\n\n';
  const frames = [head + '{"role":"assistant","content":""},"logprobs":null,"finish_reason":null' + tail];
  for (const p of pieces) frames.push(head + '{"content":' + JSON.stringify(p) + '},"logprobs":null,"finish_reason":null' + tail);
  let close = head + '{},"logprobs":null,"finish_reason":"stop"' + tail;
  if (includeUsage) {
    close += `data: {"id":"chatcmpl-mock","object":"chat.completion.chunk","created":${CREATED},"model":${JSON.stringify(model)},"system_fingerprint":null,"choices":[],"usage":{"prompt_tokens":${promptTokens},"completion_tokens":${completionTokens},"total_tokens":${promptTokens + completionTokens}}}\n\n`;
  }
  frames.push(close + 'data: [DONE]\n\n');
  return frames;
}

function anthropicFrames(model: string, pieces: string[], promptTokens: number, completionTokens: number, calls: readonly MockCall[] = []): string[] {
  const frames = [
    `event: message_start\ndata: {"type":"message_start","message":{"id":"msg_mock","type":"message","role":"assistant","model":${JSON.stringify(model)},"content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":${promptTokens},"output_tokens":1}}}\n\n` +
    'event: content_block_start\ndata: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}\n\n' +
    'event: ping\ndata: {"type": "ping"}\n\n',
  ];
  for (const p of pieces) frames.push('event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":' + JSON.stringify(p) + '}}\n\n');
  let stop = 'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n';
  // Each call is block 1 + j: its start (input {}), an empty input_json_delta, then the input in three pieces.
  for (let j = 0; j < calls.length; j++) {
    const c = calls[j];
    const at = 1 + j;
    frames.push(stop +
      `event: content_block_start\ndata: {"type":"content_block_start","index":${at},"content_block":{"type":"tool_use","id":${JSON.stringify(c.id)},"name":${JSON.stringify(c.name)},"input":{}}}\n\n` +
      `event: content_block_delta\ndata: {"type":"content_block_delta","index":${at},"delta":{"type":"input_json_delta","partial_json":""}}\n\n`);
    for (const p of split(c.json, 3)) frames.push(`event: content_block_delta\ndata: {"type":"content_block_delta","index":${at},"delta":{"type":"input_json_delta","partial_json":${JSON.stringify(p)}}}\n\n`);
    stop = `event: content_block_stop\ndata: {"type":"content_block_stop","index":${at}}\n\n`;
  }
  frames.push(
    stop +
    `event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"${calls.length ? 'tool_use' : 'end_turn'}","stop_sequence":null},"usage":{"output_tokens":${completionTokens}}}\n\n` +
    'event: message_stop\ndata: {"type":"message_stop"}\n\n',
  );
  return frames;
}

function jsonBody(api: Api, model: string, text: string, promptTokens: number, completionTokens: number, calls: readonly MockCall[] = []): string {
  if (api === 'anthropic') {
    let content = `{"type":"text","text":${JSON.stringify(text)}}`;
    for (const c of calls) content += `,{"type":"tool_use","id":${JSON.stringify(c.id)},"name":${JSON.stringify(c.name)},"input":${c.json}}`;
    return `{"id":"msg_mock","type":"message","role":"assistant","model":${JSON.stringify(model)},"content":[${content}],"stop_reason":"${calls.length ? 'tool_use' : 'end_turn'}","stop_sequence":null,"usage":{"input_tokens":${promptTokens},"output_tokens":${completionTokens}}}`;
  }
  return `{"id":"chatcmpl-mock","object":"chat.completion","created":${CREATED},"model":${JSON.stringify(model)},"system_fingerprint":null,"choices":[{"index":0,"message":{"role":"assistant","content":${JSON.stringify(text)},"refusal":null},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":${promptTokens},"completion_tokens":${completionTokens},"total_tokens":${promptTokens + completionTokens}}}`;
}

function errorBody(api: Api, status: number, message: string): string {
  const type = status === 429 ? 'rate_limit_error' : status === 401 ? 'authentication_error' : status >= 500 ? 'api_error' : 'invalid_request_error';
  return api === 'anthropic'
    ? JSON.stringify({ type: 'error', error: { type, message } })
    : JSON.stringify({ error: { message, type, param: null, code: null } });
}

function headerNum(req: IncomingMessage, name: string): number | undefined {
  const v = req.headers[name];
  if (typeof v !== 'string') return undefined;
  const x = Number(v);
  return Number.isFinite(x) ? x : undefined;
}

const replayCache = new Map<string, RecordedResponses>();

export async function startMockUpstream(opts: MockOptions = {}): Promise<MockUpstream> {
  const latencyMs = opts.latencyMs ?? 0;
  const nChunks = Math.max(1, opts.chunks ?? 20);
  const intervalMs = opts.chunkIntervalMs ?? 0;
  const failureRate = opts.failureRate ?? 0;
  const rand = mulberry32(opts.seed ?? 1);
  let replay: RecordedResponses | null = null;
  if (opts.replay) {
    const dir = typeof opts.replay === 'string' ? opts.replay : DEFAULT_REPLAY_DIR;
    replay = replayCache.get(dir) ?? loadRecordedResponsesDir(dir);
    replayCache.set(dir, replay);
  }

  const numbered = opts.numbered ?? false;
  const chunkBytes = opts.chunkBytes ?? 0;
  const fresh = (): MockStats => ({
    requests: 0, byPath: {}, byModel: {}, byStatus: {}, completed: 0, aborted: 0, connections: 0, openConnections: 0, closedConnections: 0, replayHits: 0,
    stream: { responses: 0, bytes: 0, blockedWrites: 0, blockedResponses: 0, blockedMs: 0, maxBlockedMs: 0, maxFlushMs: 0, open: 0, queuedBytes: 0 },
  });
  const liveStreams = new Set<ServerResponse>();
  let stats = fresh();
  // Generic content chunks depend only on the chunk count: built once per count.
  const genericCache = new Map<number, { pieces: string[]; text: string }>();
  const generic = (n: number): { pieces: string[]; text: string } => {
    let g = genericCache.get(n);
    if (!g) { const pieces = genericPieces(n, numbered, chunkBytes); g = { pieces, text: pieces.join('') }; genericCache.set(n, g); }
    return g;
  };

  const answer = (api: Api, r: Req, res: ServerResponse, hreq: IncomingMessage, closed: () => boolean): void => {
    const n = Math.max(1, headerNum(hreq, 'x-mock-chunks') ?? nChunks);
    const interval = headerNum(hreq, 'x-mock-chunk-interval-ms') ?? intervalMs;
    let pieces: string[];
    let text: string;
    let completionTokens: number;
    let calls: MockCall[] = [];
    const recorded = replay?.byPrompt.get(r.prompt) ?? replay?.byPrompt.get(r.prompt.trim());
    const hit = recorded?.get(r.model);
    const tt = r.tools;
    if (tt && (tt.call.length > 0 || tt.results.length > 0)) {
      const json = JSON.stringify(MOCK_TOOL_INPUT);
      const k = tt.call.length === 0 ? 0 : tt.parallel ? Math.max(1, headerNum(hreq, 'x-mock-tool-calls') ?? 1) : 1;
      calls = Array.from({ length: k }, (_, j) => ({ id: `toolu_mock_${j}`, name: tt.call[j % tt.call.length], json }));
      text = calls.length ? `Calling ${tt.call[0]}.` : `Tool results: ${tt.results.map((x) => `${x.id}=${x.text}`).join('; ')}`;
      pieces = split(text, n);
      completionTokens = tokens(text.length + k * json.length);
    } else if (hit !== undefined) {
      stats.replayHits++;
      text = hit;
      pieces = split(hit, n);
      completionTokens = tokens(hit.length);
    } else {
      const g = generic(n);
      pieces = g.pieces;
      text = g.text;
      completionTokens = n;
    }
    const promptTokens = tokens(r.promptChars);
    if (!r.stream) {
      const body = jsonBody(api, r.model, text, promptTokens, completionTokens, calls);
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
      return;
    }
    const frames = api === 'anthropic' ? anthropicFrames(r.model, pieces, promptTokens, completionTokens, calls) : openaiFrames(r.model, pieces, r.includeUsage, promptTokens, completionTokens);
    if (hreq.headers['x-mock-stream-error'] !== undefined) {
      frames.splice(0, frames.length, api === 'anthropic'
        ? 'event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}\n\n'
        : 'data: {"error":{"message":"mock stream error","type":"server_error"}}\n\n');
    }
    const failAfter = headerNum(hreq, 'x-mock-fail-after-chunks');
    res.writeHead(200, SSE_HEADERS);
    const write = watchStream(res);
    if (failAfter === undefined && interval <= 0) { write(frames.join(''), true); return; }
    // Frame i is written at i * interval; preamble and closing go with their neighbours.
    let i = 0;
    const step = (): void => {
      if (closed()) return;
      if (failAfter !== undefined && i > failAfter) { res.socket?.destroy(); return; }
      const last = i === frames.length - 1;
      if (last) { write(frames[i], true); return; }
      write(frames[i++], false);
      if (i === 1 || (interval <= 0 && failAfter === undefined)) step();
      else setTimeout(step, interval);
    };
    step();
  };

  // Costs two listeners and a byteLength per stream; stats are read through
  // `stats` at each event, so a resetStats() mid-stream counts into the new object.
  const watchStream = (res: ServerResponse): ((chunk: string, last: boolean) => void) => {
    stats.stream.responses++;
    liveStreams.add(res);
    const t0 = performance.now();
    let blockedAt = -1;
    let blockedOnce = false;
    const unblock = (): void => {
      if (blockedAt < 0) return;
      const ms = performance.now() - blockedAt;
      blockedAt = -1;
      stats.stream.blockedMs += ms;
      if (ms > stats.stream.maxBlockedMs) stats.stream.maxBlockedMs = ms;
    };
    res.on('drain', unblock);
    res.once('close', () => { unblock(); liveStreams.delete(res); });
    res.once('finish', () => {
      unblock();
      const ms = performance.now() - t0;
      if (ms > stats.stream.maxFlushMs) stats.stream.maxFlushMs = ms;
    });
    return (chunk, last) => {
      stats.stream.bytes += Buffer.byteLength(chunk);
      if (last) { res.end(chunk); return; }
      if (res.write(chunk)) return;
      stats.stream.blockedWrites++;
      if (!blockedOnce) { blockedOnce = true; stats.stream.blockedResponses++; }
      if (blockedAt < 0) blockedAt = performance.now();
    };
  };

  const handle = (hreq: IncomingMessage, res: ServerResponse, bodyText: string): void => {
    stats.requests++;
    const path = (hreq.url ?? '/').split('?')[0];
    stats.byPath[path] = (stats.byPath[path] ?? 0) + 1;
    let done = false;
    const timers: NodeJS.Timeout[] = [];
    res.on('close', () => {
      if (res.writableFinished) stats.completed++;
      else { stats.aborted++; for (const t of timers) clearTimeout(t); }
      done = true;
    });
    const finish = (status: number, body: string): void => {
      stats.byStatus[status] = (stats.byStatus[status] ?? 0) + 1;
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    };
    const api: Api | null = hreq.method === 'POST' && path === '/v1/chat/completions' ? 'openai' : hreq.method === 'POST' && path === '/v1/messages' ? 'anthropic' : null;
    if (api === null) {
      if (hreq.method === 'GET' && path === '/health') return finish(200, '{"ok":true}');
      return finish(404, errorBody('openai', 404, `mock: no route ${hreq.method} ${path}`));
    }
    let parsed: Record<string, unknown>;
    try { parsed = JSON.parse(bodyText); } catch { return finish(400, errorBody(api, 400, 'mock: body is not JSON')); }
    const r = readReq(parsed);
    if (api === 'anthropic') r.tools = readToolTurn(parsed);
    stats.byModel[r.model] = (stats.byModel[r.model] ?? 0) + 1;

    const go = (): void => {
      if (done) return;
      if (hreq.headers['x-mock-fail-before-first-byte'] !== undefined) { hreq.socket.destroy(); return; }
      if (hreq.headers['x-mock-echo-key'] !== undefined) {
        const key = String(hreq.headers['x-api-key'] ?? hreq.headers.authorization ?? '');
        return finish(401, errorBody(api, 401, `Incorrect API key provided: ${key}.`));
      }
      const forced = headerNum(hreq, 'x-mock-status');
      if (forced !== undefined && forced !== 200) return finish(forced, errorBody(api, forced, `mock: forced status ${forced}`));
      if (failureRate > 0 && rand() < failureRate) return finish(500, errorBody(api, 500, 'mock: random failure'));
      if (r.tools?.problem) return finish(400, errorBody(api, 400, r.tools.problem));
      stats.byStatus[200] = (stats.byStatus[200] ?? 0) + 1;
      answer(api, r, res, hreq, () => done);
    };
    const wait = headerNum(hreq, 'x-mock-latency-ms') ?? latencyMs;
    if (wait > 0) timers.push(setTimeout(go, wait));
    else go();
  };

  const server = createServer({ keepAliveTimeout: 65_000 }, (hreq, res) => {
    const parts: Buffer[] = [];
    hreq.on('data', (c: Buffer) => parts.push(c));
    hreq.on('end', () => handle(hreq, res, parts.length === 1 ? parts[0].toString('utf8') : Buffer.concat(parts).toString('utf8')));
  });
  server.on('connection', (s: Socket) => {
    stats.connections++;
    stats.openConnections++;
    s.on('close', () => { stats.openConnections--; stats.closedConnections++; });
  });
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => ok());
  });
  const port = (server.address() as { port: number }).port;
  return {
    port,
    url: `http://${opts.host ?? '127.0.0.1'}:${port}`,
    stats: () => {
      const s = structuredClone(stats);
      s.stream.open = liveStreams.size;
      for (const r of liveStreams) s.stream.queuedBytes += r.writableLength;
      return s;
    },
    resetStats: () => { const open = stats.openConnections; stats = fresh(); stats.openConnections = open; },
    close: () => new Promise<void>((ok) => { server.closeAllConnections(); server.close(() => ok()); }),
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      // 8081 by default so config/example.yaml finds it (Switchyard itself defaults to 8080); --port 0 = ephemeral.
      port: { type: 'string', default: '8081' }, host: { type: 'string', default: '127.0.0.1' },
      'latency-ms': { type: 'string', default: '0' }, chunks: { type: 'string', default: '20' },
      'chunk-interval-ms': { type: 'string', default: '0' }, 'failure-rate': { type: 'string', default: '0' },
      replay: { type: 'boolean', default: false }, 'data-dir': { type: 'string' }, seed: { type: 'string', default: '1' },
      numbered: { type: 'boolean', default: false }, 'chunk-bytes': { type: 'string', default: '0' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log('usage: mock-upstream [--port N] [--host H] [--latency-ms N] [--chunks N] [--chunk-interval-ms N] [--failure-rate X] [--replay [--data-dir DIR]] [--seed N] [--numbered] [--chunk-bytes N]');
    return;
  }
  const num = (k: keyof typeof values): number => {
    const x = Number(values[k]);
    if (!Number.isFinite(x) || x < 0) throw new Error(`--${k} must be a non-negative number, got "${values[k]}"`);
    return x;
  };
  const failureRate = num('failure-rate');
  if (failureRate > 1) throw new Error('--failure-rate must be in [0, 1]');
  const m = await startMockUpstream({
    port: num('port'), host: values.host, latencyMs: num('latency-ms'), chunks: num('chunks'), chunkIntervalMs: num('chunk-interval-ms'),
    failureRate, seed: num('seed'), replay: values.replay ? (values['data-dir'] ?? true) : false,
    numbered: values.numbered, chunkBytes: num('chunk-bytes'),
  });
  // One JSON line on stdout: scripts and benches read the port from it.
  console.log(JSON.stringify({ listening: true, port: m.port, url: m.url }));
  const stop = (): void => { void m.close().then(() => process.exit(0)); };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main().catch((e) => { console.error(`mock-upstream: ${(e as Error).message}`); process.exit(1); });
}
