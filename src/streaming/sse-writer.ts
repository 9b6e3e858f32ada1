/**
 * SSE framing for what the gateway sends its clients. Strings, because uWS
 * `write`/`end` take strings and copy them once; the edge decides batching.
 * JSON.stringify output never contains a raw newline, so `sseData(json)` is
 * always one `data:` line; `formatSse` handles arbitrary text.
 */

/** The OpenAI stream terminator. */
export const SSE_DONE = 'data: [DONE]\n\n';

/** One event holding a single-line payload (e.g. a JSON chunk). */
export function sseData(line: string): string {
  return 'data: ' + line + '\n\n';
}

/** Several single-line payloads in one string: one write, one syscall. */
export function sseDataBatch(lines: readonly string[]): string {
  let s = '';
  for (const l of lines) s += 'data: ' + l + '\n\n';
  return s;
}

/** A comment line: ignored by parsers, keeps idle proxies from closing the connection. */
export function sseComment(text = ''): string {
  return ': ' + text.replace(/[\r\n]+/g, ' ') + '\n\n';
}

/** General event: multi-line data becomes several `data:` lines (CRLF, CR and LF all split). */
export function formatSse(ev: { data: string; event?: string; id?: string; retry?: number }): string {
  let s = '';
  if (ev.event !== undefined) s += 'event: ' + ev.event.replace(/[\r\n]+/g, ' ') + '\n';
  if (ev.id !== undefined) s += 'id: ' + ev.id.replace(/[\r\n\0]+/g, ' ') + '\n';
  if (ev.retry !== undefined) s += 'retry: ' + Math.max(0, Math.floor(ev.retry)) + '\n';
  for (const line of ev.data.split(/\r\n|\r|\n/)) s += 'data: ' + line + '\n';
  return s + '\n';
}

/**
 * The event a stream ends with when the upstream fails after bytes were sent
 * (no retry is possible then). Same shape as an OpenAI error body, which is
 * what the openai SDK raises as an APIError when it sees `error` in a chunk.
 */
export function sseError(error: { message: string; type?: string; code?: string | null }): string {
  return sseData(JSON.stringify({ error: { message: error.message, type: error.type ?? 'upstream_error', code: error.code ?? null } }));
}
