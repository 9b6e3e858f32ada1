/**
 * Chat-completion request bodies shared by the gateway benchmarks
 * (bench/gateway.ts, bench/latency.ts, bench/responses.ts), so all send the mock and Switchyard
 * the same shapes.
 */

/** A model the mock answers directly (the "direct" rows name it; Switchyard's rows say "auto"). */
export const DIRECT_MODEL = 'gpt-4-1106-preview';

export const chat = (model: string, stream: boolean, content: string): string => JSON.stringify({ model, stream, messages: [{ role: 'user', content }] });

/** For wrk's uniqueTemplate: prefix + a unique prompt (nothing to escape) + suffix. */
export const template = (model: string, stream: boolean): { prefix: string; suffix: string } =>
  ({ prefix: `{"model":"${model}","stream":${stream},"messages":[{"role":"user","content":"`, suffix: '"}]}' });

/**
 * The same unique prompt as `template`, as a POST /v1/responses body (bench/responses.ts):
 * `input` a string; `store` left out when true (the API's default, as clients send it).
 */
export const responsesTemplate = (model: string, stream: boolean, store: boolean): { prefix: string; suffix: string } =>
  ({ prefix: `{"model":"${model}","stream":${stream},${store ? '' : '"store":false,'}"input":"`, suffix: '"}' });
