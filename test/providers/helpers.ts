/** Shared by the provider tests: polling, a closed port, backends pointing at the mock. */
import { createServer } from 'node:net';
import type { Backend } from '../../src/providers/types.ts';

export async function waitFor(cond: () => boolean, ms = 2_000, what = 'condition'): Promise<void> {
  const end = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A port that was just listening and is now closed: connecting to it is refused. */
export async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

export const OPENAI_KEY = 'sk-test-openai-0123456789abcdef';
export const ANTHROPIC_KEY = 'sk-ant-test-0123456789abcdef';

export function openaiBackend(url: string, id: string, upstreamModel: string, headers?: Record<string, string>): Backend {
  return { id, provider: 'openai', baseUrl: `${url}/v1`, upstreamModel, apiKey: OPENAI_KEY, ...(headers ? { headers } : {}) };
}

export function anthropicBackend(url: string, id: string, upstreamModel: string, headers?: Record<string, string>): Backend {
  return { id, provider: 'anthropic', baseUrl: url, upstreamModel, apiKey: ANTHROPIC_KEY, ...(headers ? { headers } : {}) };
}
