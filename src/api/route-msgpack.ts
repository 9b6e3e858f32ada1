/**
 * POST /v1/route in MessagePack, for high-QPS clients: the request body
 * (content-type application/msgpack, application/x-msgpack or
 * application/vnd.msgpack) and the 200 answer (when Accept prefers msgpack).
 * JSON stays the default both ways; errors are always JSON.
 *
 * Request: a msgpack map with the JSON body's fields. It is decoded into the
 * same plain object JSON.parse would give, and parseRouteRequest (route.ts)
 * checks it, so both formats share every field check and error. `embedding`
 * may also be a bin of dim little-endian float32s, or msgpackr's typed-array
 * extension for a Float32Array (validate.ts's embedding()): that is 1.5 KB at
 * dim 384 instead of ~8 KB of JSON decimals and ~25 µs of JSON.parse.
 *
 * Decoder: msgpackr's `unpack-no-eval` build, not the package's main entry,
 * because the body is untrusted:
 * - its record extension never compiles code (the main build turns a record
 *   structure read three times into `new Function(...)`: a client could make
 *   the server compile functions on every request);
 * - it is its own module instance: extensions registered elsewhere in the
 *   process (addExtension is global to an instance) never apply here, and the
 *   structured-clone extensions are off (structuredClone: false);
 * - it does not load the native string extractor (msgpackr-extract). Measured
 *   (bench/msgpack-unpack.ts, medians): a 1.5 KB embedding body unpacks in
 *   ~0.3-0.5 µs, a 200-char prompt body in ~0.5-0.7 µs, either way within
 *   ±0.15 µs of the native path and not consistently faster or slower: the
 *   extractor pays for a native call per body, and strings over 64 bytes
 *   already go through TextDecoder in JS. Not worth a native module on the
 *   request path.
 * Maps become plain objects (a "__proto__" key arrives as "__proto_" and is
 * rejected as an unknown field), 64-bit integers become numbers, a bin is a
 * view of the body (no copy; embedding() reads it in place when aligned).
 *
 * Answer: written straight into a Buffer from the Decision (precomputed
 * msgpack strings for the field names and model names, float64 numbers, NaN
 * scores as nil like JSON's null): no JSON on the way. A cache hit holds the
 * decision's JSON text (route-cache.ts), so a msgpack hit parses that text
 * once and encodes it (see hitMsgpack for the cost).
 */
import { createRequire } from 'node:module';
import { invalid } from '../errors.ts';
import type { Decision } from '../routing/router.ts';
import type { Ready } from './engine.ts';
import type { RouteFormat } from './route.ts';
import type { BinaryReply } from './sink.ts';
import type { Json } from './validate.ts';

const require = createRequire(import.meta.url);
const { Unpackr } = require('msgpackr/unpack-no-eval') as typeof import('msgpackr/unpack');

/** int64AsType 'number': a cost_weight sent as a 64-bit integer is a number, not a BigInt that fails the check. */
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number', structuredClone: false });

export const MSGPACK = 'application/msgpack';
const MSGPACK_TYPES = new Set([MSGPACK, 'application/x-msgpack', 'application/vnd.msgpack']);

/** The media type of a Content-Type header (before any parameter), lower-case, is one of the msgpack names. */
export function isMsgpack(contentType: string): boolean {
  if (contentType === MSGPACK) return true;
  if (contentType.length < 19 || contentType.length > 200) return false;
  const semi = contentType.indexOf(';');
  return MSGPACK_TYPES.has((semi < 0 ? contentType : contentType.slice(0, semi)).trim().toLowerCase());
}

/**
 * true when Accept prefers msgpack to JSON: a msgpack media range with q > 0
 * and a higher q than JSON gets (each taking its most specific matching range:
 * exact type, then application/*, then *\/*). A tie goes to JSON, the default,
 * so `*\/*`, an absent header or `application/json, application/msgpack` answer
 * JSON; `application/msgpack` alone, or with `*\/*;q=0.5`, answers msgpack.
 * Headers without "msgpack" return at once (the common case).
 */
export function prefersMsgpack(accept: string): boolean {
  // The exact header a msgpack client sends: no parse (the parse below was ~4% of a request's CPU in a profile).
  if (accept === MSGPACK) return true;
  if (accept.length > 1000 || accept.toLowerCase().indexOf('msgpack') < 0) return false;
  let qM = -1, specM = -1, qJ = -1, specJ = -1;
  for (const part of accept.split(',')) {
    const params = part.split(';');
    const type = params[0].trim().toLowerCase();
    let q = 1;
    for (let i = 1; i < params.length; i++) {
      const p = params[i].trim().toLowerCase();
      if (p.startsWith('q=')) { const v = Number(p.slice(2)); q = v >= 0 && v <= 1 ? v : 0; }
    }
    const spec = type === '*/*' ? 0 : type === 'application/*' ? 1 : -1;
    if (MSGPACK_TYPES.has(type)) { if (2 > specM) { specM = 2; qM = q; } else if (specM === 2) qM = Math.max(qM, q); }
    else if (type === 'application/json') { if (2 > specJ) { specJ = 2; qJ = q; } }
    else if (spec >= 0) {
      if (spec > specM) { specM = spec; qM = q; }
      if (spec > specJ) { specJ = spec; qJ = q; }
    }
  }
  return qM > 0 && qM > qJ;
}

/** Bytes -> a plain object (the msgpack map), or 400 naming "body". `body` is only read synchronously; bins stay views of it. */
export function parseMsgpackObject(body: Buffer): Json {
  if (body.length === 0) throw invalid('body', 'is empty; send a msgpack map');
  let v: unknown;
  try {
    v = unpackr.unpack(body);
  } catch (e) {
    // msgpackr's messages name the problem (unknown token, end of data, trailing bytes with a 100-char excerpt); bounded here.
    const m = e instanceof Error ? e.message : String(e);
    throw invalid('body', `is not valid msgpack: ${m.length > 200 ? `${m.slice(0, 200)}...` : m}`);
  }
  if (typeof v !== 'object' || v === null || Object.getPrototypeOf(v) !== Object.prototype) {
    throw invalid('body', `must be a msgpack map, got ${describeMsgpack(v)}`);
  }
  return v as Json;
}

function describeMsgpack(v: unknown): string {
  if (v === null || v === undefined) return 'nil';
  if (Array.isArray(v)) return 'an array';
  if (v instanceof Uint8Array) return 'a bin';
  if (typeof v === 'object') return `an extension value (${(v as object).constructor?.name ?? 'object'})`;
  return typeof v === 'string' ? 'a string' : typeof v;
}

// ---- the answer ----

/** msgpack str: fixstr / str8 / str16 / str32 header + UTF-8. */
function str(s: string): Buffer {
  const u = Buffer.from(s, 'utf8');
  const n = u.length;
  const h = n < 32 ? [0xa0 | n] : n < 0x100 ? [0xd9, n] : n < 0x10000 ? [0xda, n >> 8, n & 0xff] : [0xdb, n >>> 24, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff];
  return Buffer.concat([Buffer.from(h), u]);
}

/** The fixed field-name strings, with the map headers around them where they are fixed too. */
const K_HEAD = Buffer.concat([Buffer.from([0x88]), str('selected_model')]);
const K_CLUSTER = str('cluster_id');
const K_ERROR = str('expected_error');
const K_SCORE = str('cost_adjusted_score');
const K_WEIGHT = str('cost_weight');
const K_ALL = str('all_scores');
const K_HIT = str('cache_hit');
const K_USAGE = Buffer.concat([str('usage'), Buffer.from([0x82]), str('routing_ms')]);
const K_EMBEDDING_MS = str('embedding_ms');
/** Every fixed byte: what is left is the selected name, the cluster id, the all_scores header and entries. */
const FIXED = K_HEAD.length + K_CLUSTER.length + K_ERROR.length + 9 + K_SCORE.length + 9 + K_WEIGHT.length + 9
  + K_ALL.length + K_HIT.length + 1 + K_USAGE.length + 9 + K_EMBEDDING_MS.length + 9;
const uintBytes = (x: number) => (x < 0x80 ? 1 : x < 0x100 ? 2 : x < 0x10000 ? 3 : 5);
const mapHeaderBytes = (n: number) => (n < 16 ? 1 : n < 0x10000 ? 3 : 5);
const scoreBytes = (x: number) => (x === x ? 9 : 1);

/** Per loaded profile: each model name as a msgpack str, and the longest. */
interface Tables { ready: Ready; names: Buffer[]; longest: number }
let tables: Tables | undefined;

function tablesFor(r: Ready): Tables {
  if (tables !== undefined && tables.ready === r) return tables;
  const names = r.router.models.map(str);
  return (tables = { ready: r, names, longest: Math.max(...names.map((x) => x.length)) });
}

const ms = (x: number) => Math.round(x * 1e4) / 1e4;

/** Writes an answer into `b`, field by field in the JSON answer's order, with its values. */
class Writer {
  o = 0;
  constructor(readonly b: Buffer) {}
  /** TypedArray#set: measured 2x faster than a JS byte loop or Buffer#copy for these 10-20 byte pieces. */
  bytes(x: Uint8Array): void { this.b.set(x, this.o); this.o += x.length; }
  f64(x: number): void { this.b[this.o] = 0xcb; this.b.writeDoubleBE(x, this.o + 1); this.o += 9; }
  /** A score: NaN (no estimate in this cluster) is nil, as JSON writes null. */
  score(x: number): void { if (x === x) this.f64(x); else this.b[this.o++] = 0xc0; }
  uint(x: number): void {
    const b = this.b;
    if (x < 0x80) b[this.o++] = x;
    else if (x < 0x100) { b[this.o++] = 0xcc; b[this.o++] = x; }
    else if (x < 0x10000) { b[this.o++] = 0xcd; b.writeUInt16BE(x, this.o); this.o += 2; }
    else { b[this.o++] = 0xce; b.writeUInt32BE(x >>> 0, this.o); this.o += 4; }
  }
  mapHeader(n: number): void {
    const b = this.b;
    if (n < 16) b[this.o++] = 0x80 | n;
    else if (n < 0x10000) { b[this.o++] = 0xde; b.writeUInt16BE(n, this.o); this.o += 2; }
    else { b[this.o++] = 0xdf; b.writeUInt32BE(n, this.o); this.o += 4; }
  }
  head(name: Uint8Array, clusterId: number, expectedError: number, score: number, costWeight: number): void {
    this.bytes(K_HEAD); this.bytes(name);
    this.bytes(K_CLUSTER); this.uint(clusterId);
    this.bytes(K_ERROR); this.f64(expectedError);
    this.bytes(K_SCORE); this.f64(score);
    this.bytes(K_WEIGHT); this.f64(costWeight);
    this.bytes(K_ALL);
  }
  /** `exact`: the Buffer was sized to the answer (a fresh decision); else a bound, and the answer is a view of its start. */
  tail(hit: boolean, routingMs: number, embeddingMs: number, exact: boolean): BinaryReply {
    this.bytes(K_HIT); this.b[this.o++] = hit ? 0xc3 : 0xc2;
    this.bytes(K_USAGE); this.f64(ms(routingMs));
    this.bytes(K_EMBEDDING_MS); this.f64(ms(embeddingMs));
    if (!exact) return { contentType: MSGPACK, body: this.b.subarray(0, this.o) };
    // The size was computed up front: a mismatch is a bug here, never a short answer on the wire.
    if (this.o !== this.b.length) throw new Error(`msgpack answer: wrote ${this.o} of ${this.b.length} bytes`);
    return { contentType: MSGPACK, body: this.b };
  }
}

/**
 * A fresh decision as msgpack, in a Buffer of its exact size (Buffer.allocUnsafe
 * under 4 KB is a slice of Node's pool, no malloc): the answer may be written
 * after an await (route pool), so it cannot live in a per-thread scratch.
 */
function decidedMsgpack(r: Ready, d: Decision, allowed: Uint8Array | undefined, routingMs: number, embeddingMs: number): BinaryReply {
  const t = tablesFor(r);
  const scores = d.scores, best = d.modelIndex, names = t.names;
  let n = 0, size = FIXED + names[best].length + uintBytes(d.clusterId);
  for (let m = 0; m < names.length; m++) {
    if (allowed !== undefined && allowed[m] === 0) continue;
    n++;
    size += names[m].length + (m === best ? 9 : scoreBytes(scores[m]));
  }
  const w = new Writer(Buffer.allocUnsafe(size + mapHeaderBytes(n)));
  // The Router sets the best model's scores[m] and d.score from one double; JSON prints them once, so they are equal here too.
  w.head(names[best], d.clusterId, d.expectedError, d.score, d.costWeight);
  w.mapHeader(n);
  for (let m = 0; m < names.length; m++) {
    if (allowed !== undefined && allowed[m] === 0) continue;
    w.bytes(names[m]);
    w.score(m === best ? d.score : scores[m]);
  }
  return w.tail(false, routingMs, embeddingMs, true);
}

interface CachedDecision {
  selected_model: string; cluster_id: number; expected_error: number; cost_adjusted_score: number; cost_weight: number;
  all_scores: Record<string, number | null>;
}

/**
 * A cache hit as msgpack: the cache holds the decision's JSON text up to
 * "cache_hit" (no closing brace), so it is parsed once and encoded: 3-5 µs
 * more than a JSON hit with 11 models (bench/msgpack-answer.ts, medians on a
 * busy machine), against a JSON hit's ~1 µs. Cheaper would need the cache to
 * hold a binary form of the decision, which would cost every JSON hit a
 * formatting step (~1.5 µs of number printing) instead. Numbers survive
 * exactly: the JSON holds each double's shortest round-trip decimal.
 */
function hitMsgpack(r: Ready, json: string, routingMs: number): BinaryReply {
  const t = tablesFor(r);
  const c = JSON.parse(`${json}}`) as CachedDecision;
  const index = r.router.modelIndex;
  const nameOf = (s: string) => { const m = index.get(s); return m === undefined ? str(s) : t.names[m]; };
  const all = c.all_scores;
  const selected = nameOf(c.selected_model);
  // A bound, not the exact size: every profile name at its longest score, 5-byte headers; the answer is a view of its start.
  let n = 0;
  for (const _ in all) n++;
  const w = new Writer(Buffer.allocUnsafe(FIXED + selected.length + 5 + 5 + n * (t.longest + 9)));
  w.head(selected, c.cluster_id, c.expected_error, c.cost_adjusted_score, c.cost_weight);
  w.mapHeader(n);
  for (const k in all) { w.bytes(nameOf(k)); const v = all[k]; w.score(v === null ? NaN : v); }
  return w.tail(true, routingMs, 0, false);
}

/** The msgpack answer format for route.ts's flow. */
export const MSGPACK_ANSWER: RouteFormat<BinaryReply> = {
  needsJson: false,
  decided: (r, d, allowed, _json, routingMs, embeddingMs) => decidedMsgpack(r, d, allowed, routingMs, embeddingMs),
  hit: hitMsgpack,
};
