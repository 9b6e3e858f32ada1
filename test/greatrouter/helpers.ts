/**
 * Shared by the GreatRouter suites: a real server (port 0) whose catalog
 * holds chat models of the router profile (so the profile's expected errors
 * rank them), a chat model the profile does not know, a long-tail model, and
 * an image model the chat gateway cannot call; all backed by the mock upstream.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ProviderModelConfig } from '../../src/config/schema.ts';
import { startMocks, startGateway, openaiModel, anthropicModel, type Gateway, type Mocks } from '../gateway/helpers.ts';

export function catalogModels(mocks: Mocks): ProviderModelConfig[] {
  const { oa, an } = mocks;
  return [
    openaiModel('gpt-4-1106-preview', oa, {
      pricing: { prompt_per_1m: 10, completion_per_1m: 30 },
      catalog: {
        provider: 'openai', name: 'GPT-4 Turbo', description: 'Strong general model for reasoning and code.', capabilities: ['text_generation', 'coding', 'reasoning'],
        tags: ['general', 'reasoning'], catalog_family: 'llm/openai--gpt-4', catalog_visibility: 'featured', context_window: 128000,
        provenance: { creator: 'OpenAI', license: 'proprietary' }, benchmarks: { mmlu: 86.4 },
      },
    }),
    anthropicModel('claude-v2', an, {
      upstream_model: 'claude-2.1',
      pricing: { prompt_per_1m: 8, completion_per_1m: 24 },
      catalog: { provider: 'anthropic', name: 'Claude 2.1', description: 'Long documents, summaries and careful writing.', capabilities: ['text_generation', 'reasoning'], tags: ['writing'], catalog_family: 'llm/anthropic--claude-2' },
    }),
    openaiModel('mistralai/mixtral-8x7b-chat', oa, {
      pricing: { prompt_per_1m: 0.6, completion_per_1m: 0.6 },
      catalog: { name: 'Mixtral 8x7B', description: 'Fast cheap open-weights chat model.', capabilities: ['text_generation', 'coding'], tags: ['open-weights', 'cheap'], catalog_family: 'llm/mistralai--mixtral', catalog_visibility: 'featured' },
    }),
    openaiModel('gpt-3.5-turbo-1106', oa, {
      pricing: { prompt_per_1m: 1, completion_per_1m: 2 },
      catalog: { provider: 'openai', name: 'GPT-3.5 Turbo', description: 'Inexpensive everyday chat.', capabilities: ['text_generation', 'coding'], tags: ['cheap', 'general'], catalog_family: 'llm/openai--gpt-3.5' },
    }),
    openaiModel('mistralai/mistral-7b-chat', oa, {
      pricing: { prompt_per_1m: 0.2, completion_per_1m: 0.2 },
      catalog: { name: 'Mistral 7B', description: 'Tiny and very cheap.', tags: ['open-weights', 'cheap'], catalog_family: 'llm/mistralai--mistral' },
    }),
    openaiModel('local-llama', oa, {
      catalog: { provider: 'meta', name: 'Llama 3 8B (local)', description: 'Local model, no pricing.', catalog_visibility: 'long_tail', type: 'hosted', tags: ['local'] },
    }),
    openaiModel('dall-e-3', oa, {
      pricing: { prompt_per_1m: 40, completion_per_1m: 0 },
      catalog: {
        provider: 'openai', name: 'DALL-E 3', description: 'Generates images from a text description: pictures, illustrations, logos.',
        task_type: 'image_generation', category: 'image-generation', capabilities: ['image_generation'], tags: ['image'],
        input_schema: { type: 'object', required: ['prompt'], properties: { prompt: { type: 'string', minLength: 1 }, size: { enum: ['1024x1024', '1792x1024'] } } },
        output_schema: { type: 'object', required: ['url'], properties: { url: { type: 'string' } } },
      },
    }),
  ];
}

export interface Env { mocks: Mocks; gw: Gateway; base: string; close(): Promise<void> }

/** `extra`: more models, or a function of the mocks returning them (to point one at the mock). */
export async function startEnv(extra: ProviderModelConfig[] | ((m: Mocks) => ProviderModelConfig[]) = [], overrides: Record<string, unknown> = {}): Promise<Env> {
  const mocks = await startMocks();
  const dir = mkdtempSync(join(tmpdir(), 'sy-greatrouter-'));
  const more = typeof extra === 'function' ? extra(mocks) : extra;
  const gw = await startGateway({ models: [...catalogModels(mocks), ...more] }, { state: { dir }, ...overrides });
  return { mocks, gw, base: gw.base, close: async () => { await gw.close(); await mocks.close(); } };
}

export interface Reply { status: number; json: any; text: string }

export async function call(base: string, method: string, path: string, body?: unknown): Promise<Reply> {
  const init: RequestInit = { method };
  if (body !== undefined) { init.body = typeof body === 'string' ? body : JSON.stringify(body); init.headers = { 'content-type': 'application/json' }; }
  const res = await fetch(base + path, init);
  const text = await res.text();
  let json: any = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, json, text };
}

export const post = (base: string, path: string, body: unknown) => call(base, 'POST', path, body);
export const get = (base: string, path: string) => call(base, 'GET', path);
