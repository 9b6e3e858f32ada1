/**
 * Provider name (as written in config) -> adapter. Adding a provider is one
 * file beside this one and one line here; config validation can list the
 * valid names with `providerNames()`.
 */
import { anthropic } from './anthropic.ts';
import { openai } from './openai.ts';
import type { ProviderAdapter } from './types.ts';

const ADAPTERS: ReadonlyMap<string, ProviderAdapter> = new Map([
  ['openai', openai],
  ['anthropic', anthropic],
]);

export function getAdapter(name: string): ProviderAdapter {
  const a = ADAPTERS.get(name);
  if (!a) throw new Error(`unknown provider "${name}" (known: ${providerNames().join(', ')})`);
  return a;
}

export function providerNames(): string[] {
  return [...ADAPTERS.keys()];
}
