/**
 * How a handler that controls its own response (status, headers, SSE) talks
 * to the edge without seeing uWS: src/edge/sse-response.ts implements it.
 *
 * Contract: after the client disconnects, `signal` is aborted and every
 * method is a no-op (write returns false, drain resolves at once), so a
 * handler only has to check `signal.aborted` where it would start new work.
 * Exactly one of send / openStream...end answers the request; an error thrown
 * by the handler before openStream becomes an error response, after it the
 * stream ends with an SSE error event.
 */
import type { AbortHook } from '../providers/types.ts';

export type HeaderList = readonly (readonly [string, string])[];

/**
 * A 200 whose body is not JSON (msgpack answers of /v1/route): what a `json`
 * route handler may return instead of a string. Errors stay JSON. Written with
 * `content-type: contentType`; uWS copies `body` when writing, so a body
 * returned synchronously may be a view of a reused buffer, one inside a
 * Promise must own its bytes.
 */
export interface BinaryReply {
  readonly contentType: string;
  readonly body: Uint8Array;
}

export interface ResponseSink {
  /** Aborted when the client goes away: pass it to upstream requests. */
  readonly signal: AbortHook;
  /** A complete JSON response. */
  send(status: number, body: string, headers?: HeaderList): void;
  /** Starts a 200 text/event-stream response; the headers go out with the first write. */
  openStream(headers?: HeaderList): void;
  /** Queues SSE frames. false = the client is not keeping up (or is gone): await drain() before writing more. */
  write(frames: string): boolean;
  /** Resolves when the client has taken the queued bytes, or has gone away. */
  drain(): Promise<void>;
  /** Ends the stream, after `frames` if given. */
  end(frames?: string): void;
}
