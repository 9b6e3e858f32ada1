/**
 * POST /v1/route request bodies shared by the HTTP benchmarks (bench/http.ts,
 * bench/latency.ts): repeated prompts (cache hits after the first pass) and a
 * supplied 384-float embedding. Unique prompts come from wrk's Lua generator
 * (`uniquePrompt`), so no body list is needed for them.
 */
import { pack } from 'msgpackr';
import { DEFAULT_PROFILE_DIR } from '../../src/fit/options.ts';
import { loadNativeTables, NativeEmbedder } from '../../src/routing/embedders/native.ts';

export const PROMPTS = [
  'Write a Python function that returns the second largest distinct value in a list of integers.',
  'Which gas do plants absorb from the atmosphere during photosynthesis? A) oxygen B) carbon dioxide',
  'Prove that the square root of 2 is irrational, step by step, in plain language for a student.',
  'The trophy does not fit into the suitcase because _ is too small. A) trophy B) suitcase',
];

/** 16 distinct ~200-char prompts sent in rotation: every request after the first 16 is a repeat. */
export const repeatedBodies = (): string[] =>
  Array.from({ length: 16 }, (_, i) => JSON.stringify({ prompt: `${PROMPTS[i % 4]} (variant ${i})`.padEnd(200, '.'), cost_weight: 0.1 }));

/** The first prompt's native embedding (384 floats) as the request's `embedding`: no embedding work on the server. */
export const embeddingBody = (): string => {
  const embedder = new NativeEmbedder(loadNativeTables(DEFAULT_PROFILE_DIR));
  return JSON.stringify({ embedding: Array.from(embedder.embedSync(PROMPTS[0])), cost_weight: 0.1 });
};

/**
 * The same request in msgpack (content-type application/msgpack): the embedding as a bin of
 * 384 little-endian float32s, 1,589 bytes against ~8 KB of JSON. As msgpackr packs it (map16
 * header), the floats start at byte 16, so the server reads them in place (src/api/validate.ts).
 */
export const embeddingMsgpackBody = (): Buffer => {
  const embedder = new NativeEmbedder(loadNativeTables(DEFAULT_PROFILE_DIR));
  const v = embedder.embedSync(PROMPTS[0]).slice();
  return pack({ embedding: Buffer.from(v.buffer, v.byteOffset, v.byteLength), cost_weight: 0.1 });
};

/** What a unique-prompt body from wrk's generator looks like (for byte counts). */
export const uniqueSample = JSON.stringify({ prompt: 'x'.repeat(200), cost_weight: 0.1 });
