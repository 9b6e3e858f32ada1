/**
 * POST /v1/embeddings (OpenAI format): the router's own embedding of each
 * input, so a pipeline can embed once and send `embedding` to /v1/route later
 * (or cache it), skipping the embedder on the routing call.
 *
 * Bounds: at most limits.embedding_inputs inputs of at most limits.input_chars
 * characters each, on top of the body limit; each failure is a 400 naming the
 * field. `model` may be omitted, or name the embedder id, the profile, or one
 * of embedder.aliases (off by default; e.g. "text-embedding-ada-002", what
 * LangChain's OpenAIEmbeddings sends unless told otherwise): any other value
 * is a 400 listing the accepted names, rather than vectors silently served by
 * a different model than the one asked for. Errors are in OpenAI's shape
 * (`param` = the field), since OpenAI clients are the ones calling.
 *
 * The openai SDK asks for encoding_format "base64" unless told otherwise and
 * decodes it as little-endian float32, which is what `encode` writes.
 *
 * usage.prompt_tokens is an estimate (ceil(chars / 4) per input): the native
 * embedder has no tokenizer, and the OpenAI shape requires the field.
 *
 * Cost of the response: JSON of 384 floats is ~31 µs per input, more than the
 * native embedding itself; encoding_format "base64" is ~1 µs.
 */
import { invalid } from '../errors.ts';
import type { Engine, Ready } from './engine.ts';
import { describe, parseJsonObject, rejectUnknownFields, text, type Json } from './validate.ts';

export interface EmbeddingsRequest {
  inputs: string[];
  base64: boolean;
}

// `user` and `dimensions` are part of OpenAI's request; accepted so SDKs work unchanged.
const FIELDS = new Set(['input', 'model', 'encoding_format', 'dimensions', 'user']);

export function parseEmbeddingsRequest(o: Json, r: Ready, limits: { input_chars: number; embedding_inputs: number }, aliases: readonly string[] = []): EmbeddingsRequest {
  rejectUnknownFields(o, FIELDS);
  const input = o.input;
  let inputs: string[];
  if (typeof input === 'string') inputs = [text(input, 'input', limits.input_chars)];
  else if (Array.isArray(input)) {
    if (input.length === 0) throw invalid('input', 'must not be an empty array');
    if (input.length > limits.embedding_inputs) throw invalid('input', `has ${input.length} items, over the limit of ${limits.embedding_inputs} (limits.embedding_inputs)`);
    inputs = input.map((x, i) => text(x, `input[${i}]`, limits.input_chars));
  } else if (input === undefined) throw invalid('input', 'is required (a string or an array of strings)');
  else throw invalid('input', `must be a string or an array of strings (token arrays are not supported), got ${describe(input)}`);

  const model = o.model;
  if (model !== undefined && model !== r.embedder.id && model !== r.profile.manifest.name && !(typeof model === 'string' && aliases.includes(model))) {
    const names = [r.embedder.id, r.profile.manifest.name, ...aliases].map((n) => JSON.stringify(n)).join(', ');
    throw invalid('model', `must be omitted or one of ${names} (the router's embedder; add OpenAI model names such as "text-embedding-3-small" to embedder.aliases to accept them); got ${describe(model)}`);
  }
  const fmt = o.encoding_format;
  if (fmt !== undefined && fmt !== 'float' && fmt !== 'base64') throw invalid('encoding_format', `must be "float" or "base64", got ${describe(fmt)}`);
  const dims = o.dimensions;
  if (dims !== undefined && dims !== r.profile.dim) throw invalid('dimensions', `must be omitted or ${r.profile.dim} (the embedder's fixed dimension), got ${describe(dims)}`);
  if (o.user !== undefined && typeof o.user !== 'string') throw invalid('user', `must be a string, got ${describe(o.user)}`);
  return { inputs, base64: fmt === 'base64' };
}

function encode(v: Float32Array, base64: boolean): string {
  if (base64) return `"${Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64')}"`;
  return JSON.stringify(Array.from(v));
}

function respond(r: Ready, req: EmbeddingsRequest, vectors: readonly Float32Array[]): string {
  let tokens = 0;
  for (const s of req.inputs) tokens += Math.ceil(s.length / 4);
  let data = '';
  for (let i = 0; i < vectors.length; i++) {
    data += `${i ? ',' : ''}{"object":"embedding","index":${i},"embedding":${encode(vectors[i], req.base64)}}`;
  }
  return `{"object":"list","data":[${data}],"model":${JSON.stringify(r.embedder.id)},"usage":{"prompt_tokens":${tokens},"total_tokens":${tokens}}}`;
}

/** The endpoint; `body` is parsed synchronously (it may be uWS's buffer, valid only during the call). */
export function handleEmbeddings(body: Buffer, engine: Engine): string | Promise<string> {
  const r = engine.require();
  const req = parseEmbeddingsRequest(parseJsonObject(body), r, engine.config.limits, engine.config.embedder.aliases);
  if (r.source.kind === 'sync') {
    const e = r.source.embedder;
    return respond(r, req, req.inputs.map((s) => e.embedSync(s)));
  }
  const b = r.source.backend;
  return Promise.all(req.inputs.map((s) => b.embed(s))).then((v) => respond(r, req, v));
}
