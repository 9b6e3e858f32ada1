/**
 * A 50-model catalog for bench/greatrouter.ts (issue 10's targets are set
 * "with 50 catalog models"): the router profile's 11 models (so the
 * profile's expected errors rank them) plus 39 synthetic ones spread over
 * the five price tiers, 8 of them image models the chat gateway cannot
 * call, every catalog field set. Every model points at one mock upstream
 * (OpenAI format, key from MOCK_API_KEY). Deterministic: the same list on
 * every run.
 */
import { profileModels, MOCK_API_KEY_ENV } from './switchyard.ts';

const PROVIDERS = ['openai', 'anthropic', 'google', 'meta', 'mistralai', 'cohere'];

export function catalog50(mockBaseUrl: string): Record<string, unknown>[] {
  const backend = [{ base_url: mockBaseUrl, api_key_env: MOCK_API_KEY_ENV }];
  const out: Record<string, unknown>[] = [];
  const prices = [0.1, 0.3, 0.6, 1, 1.5, 2.5, 4, 8, 12, 20, 40];
  profileModels().forEach((name, i) => {
    const p = prices[i % prices.length];
    out.push({
      name, api_format: 'openai', backend_refs: backend,
      pricing: { currency: 'USD', prompt_per_1m: p, completion_per_1m: p * 3 },
      catalog: {
        // A slashed name carries its provider (the catalog id is the name).
        ...(name.includes('/') ? {} : { provider: PROVIDERS[i % PROVIDERS.length] }),
        name: `Profile model ${name}`, description: `A chat model of the router profile (${name}).`,
        task_type: 'text_generation', category: 'llm', capabilities: i % 2 ? ['text_generation', 'coding'] : ['text_generation', 'reasoning'],
        tags: ['profile', i % 3 ? 'general' : 'fast'], catalog_visibility: i % 4 ? 'standard' : 'featured', type: 'proxied', context_window: 32768,
      },
    });
  });
  for (let i = 0; out.length < 50; i++) {
    const image = i % 5 === 4;
    const provider = PROVIDERS[i % PROVIDERS.length];
    const p = prices[(i * 7) % prices.length];
    out.push({
      name: `${provider}/synthetic-${image ? 'image' : 'chat'}-${i}`, api_format: 'openai', backend_refs: backend,
      pricing: { currency: 'USD', prompt_per_1m: p, completion_per_1m: image ? 0 : p * 4 },
      catalog: {
        name: `Synthetic ${image ? 'image' : 'chat'} ${i}`, description: image ? 'Generates images from text.' : 'A general chat model for everyday text and code.',
        task_type: image ? 'image_generation' : 'text_generation', category: image ? 'image-generation' : 'llm',
        capabilities: image ? ['image_generation'] : ['text_generation'], tags: [image ? 'image' : 'chat', `batch-${i % 4}`],
        catalog_visibility: i % 9 === 0 ? 'long_tail' : 'standard', type: i % 2 ? 'hosted' : 'proxied', context_window: 8192 * (1 + (i % 4)),
      },
    });
  }
  return out;
}
