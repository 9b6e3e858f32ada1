/**
 * Request-body decoding shared by the endpoint files: bytes -> JSON object,
 * unknown-field rejection, and the embedding decoder. Hand-written checks, not
 * a schema validator: each failure must name its field in a sentence a client
 * can act on, and the common case costs a few property reads.
 *
 * Body parsing choice (bench/json-body.ts, 2-core dev machine, Node 20; a
 * /v1/route body with a 384-float embedding is 8,071 bytes), mean per body:
 *   Buffer#toString('utf8')                            0.6 µs
 *   JSON.parse of that string                         24.4 µs
 *   this file: parseJsonObject + embedding() (array)  27.2 µs   <- chosen
 *   hand scanner (latin1 + split + unary +)           34.0 µs   (slower, and riskier)
 *   JSON.parse with a no-op reviver                   81.4 µs
 *   this file, base64 embedding (2,082-byte body)      6.8 µs
 * V8's JSON.parse beats any JS-level number scanner, so arrays go through it.
 * Callers that care about the ~20 µs may send `embedding` as a base64 string
 * of little-endian float32s (what /v1/embeddings returns with encoding_format
 * "base64"): 4x cheaper end to end.
 */
import { invalid } from '../errors.ts';

export type Json = Record<string, unknown>;

/** Bytes -> a JSON object, or 400 naming "body". `body` is only read synchronously. */
export function parseJsonObject(body: Buffer): Json {
  if (body.length === 0) throw invalid('body', 'is empty; send a JSON object');
  let v: unknown;
  try {
    v = JSON.parse(body.toString('utf8'));
  } catch (e) {
    // V8's message quotes at most a short excerpt of the input; useful, and bounded.
    throw invalid('body', `is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw invalid('body', `must be a JSON object, got ${v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v}`);
  }
  return v as Json;
}

/** 400 naming the first field not in `allowed` (JSON.parse objects carry own keys only, "__proto__" included). */
export function rejectUnknownFields(o: Json, allowed: ReadonlySet<string>): void {
  for (const k in o) {
    if (!allowed.has(k)) throw invalid(k.length > 64 ? `${k.slice(0, 64)}...` : k, `is not a known field (known: ${[...allowed].join(', ')})`);
  }
}

export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return v.length > 40 ? `a string of ${v.length} characters` : JSON.stringify(v);
  if (typeof v === 'number') return String(v);
  return typeof v;
}

/** A string within the configured size limit (limits.input_chars); empty strings carry nothing to route on. */
export function text(v: unknown, field: string, maxChars: number): string {
  if (typeof v !== 'string') throw invalid(field, `must be a string, got ${describe(v)}`);
  if (v.length === 0) throw invalid(field, 'must not be empty');
  if (v.length > maxChars) throw invalid(field, `is ${v.length} characters, over the limit of ${maxChars} (limits.input_chars)`);
  return v;
}

// Largest finite float32: doubles above it (1e39) would silently become Infinity in a Float32Array.
const F32_MAX = 3.4028234663852886e38;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Typed arrays are views in host byte order; msgpack clients send little-endian. */
const HOST_LE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * `embedding`: an array of `dim` finite numbers, or base64 of `dim` little-endian
 * float32s; from a msgpack body (src/api/route-msgpack.ts) also a bin of those
 * bytes (a Uint8Array view of the body) or a Float32Array (msgpackr's typed-array
 * extension). Returned L2-normalised (as the router's centroids are), unless it
 * already is to 1e-4: then untouched, so an embedding from /v1/embeddings routes
 * bit-for-bit like its prompt. An all-zero vector has no direction: 400.
 *
 * A bin starting at a multiple of 4 bytes into its buffer is read in place
 * (a Float32Array over the body, normalised in place: no copy); otherwise it
 * is copied (~0.1 µs at dim 384). The in-place view shares the body's memory,
 * which uWS detaches once the handler's synchronous part returns: a caller
 * must not read it after an await (route.ts does not: the route pool gets a
 * copy, and decides from neighbours alone).
 */
export function embedding(v: unknown, dim: number): Float32Array {
  const field = 'embedding';
  let out: Float32Array;
  if (Array.isArray(v)) {
    if (v.length !== dim) throw invalid(field, `must have ${dim} numbers (the profile's dimension), got ${v.length}`);
    out = new Float32Array(dim);
    for (let i = 0; i < dim; i++) {
      const x = v[i];
      if (typeof x !== 'number' || !(x >= -F32_MAX && x <= F32_MAX)) {
        throw invalid(`${field}[${i}]`, `must be a finite number (float32 range), got ${describe(x)}`);
      }
      out[i] = x;
    }
  } else if (typeof v === 'string') {
    if (!BASE64.test(v)) throw invalid(field, 'as a string must be base64 of little-endian float32s');
    const bytes = Buffer.from(v, 'base64');
    if (bytes.length !== dim * 4) throw invalid(field, `as base64 must decode to ${dim} float32s (${dim * 4} bytes), got ${bytes.length} bytes`);
    out = new Float32Array(dim);
    new Uint8Array(out.buffer).set(bytes);
    for (let i = 0; i < dim; i++) {
      if (!Number.isFinite(out[i])) throw invalid(`${field}[${i}]`, `must be a finite number, got ${out[i]}`);
    }
  } else if (v instanceof Uint8Array || v instanceof Float32Array) {
    const n = v.byteLength;
    if (n !== dim * 4) throw invalid(field, `as binary must be ${dim} little-endian float32s (${dim * 4} bytes), got ${n} bytes`);
    if (v instanceof Float32Array) out = v;
    else if (HOST_LE && (v.byteOffset & 3) === 0) out = new Float32Array(v.buffer, v.byteOffset, dim);
    else {
      out = new Float32Array(dim);
      if (HOST_LE) new Uint8Array(out.buffer).set(v);
      else { const dv = new DataView(v.buffer, v.byteOffset, n); for (let i = 0; i < dim; i++) out[i] = dv.getFloat32(i * 4, true); }
    }
    for (let i = 0; i < dim; i++) {
      if (!Number.isFinite(out[i])) throw invalid(`${field}[${i}]`, `must be a finite number, got ${out[i]}`);
    }
  } else {
    throw invalid(field, `must be an array of ${dim} numbers or a base64 string${v !== null && typeof v === 'object' ? ' (or, in msgpack, a bin of little-endian float32s)' : ''}, got ${describe(v)}`);
  }
  // Float32 squares cannot overflow a double (FLT_MAX^2 ~ 1e77), so n2 is finite here.
  let n2 = 0;
  for (let i = 0; i < dim; i++) n2 += out[i] * out[i];
  if (n2 === 0) throw invalid(field, 'must not be all zeros');
  if (Math.abs(n2 - 1) > 1e-4) {
    const inv = 1 / Math.sqrt(n2);
    for (let i = 0; i < dim; i++) out[i] *= inv;
  }
  return out;
}
