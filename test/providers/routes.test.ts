import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { resolveRoutes, RoutesError, type ProviderModelConfig } from '../../src/providers/routes.ts';
import { SecretRedactor } from '../../src/providers/redact.ts';

const models: ProviderModelConfig[] = [
  {
    name: 'gpt-4-1106-preview', api_format: 'openai', pricing: { currency: 'USD', prompt_per_1m: 10, completion_per_1m: 30 },
    backend_refs: [{ api_key_env: 'T_OPENAI_KEY' }],
  },
  {
    name: 'claude-v2', api_format: 'anthropic', upstream_model: 'claude-2.1', timeouts: { first_byte_ms: 5000 }, default_max_tokens: 2048, headers: { 'x-m': 'model' },
    backend_refs: [{ base_url: 'http://127.0.0.1:9/', api_key_env: 'T_ANTHROPIC_KEY', headers: { 'x-a': '1', 'x-m': 'backend' } }, { base_url: 'http://127.0.0.1:10' }],
  },
];
const env = { T_OPENAI_KEY: 'sk-openai-env-123456', T_ANTHROPIC_KEY: 'sk-ant-env-123456' };

describe('resolveRoutes', () => {
  it('builds per-model backends with keys from the environment, registered for redaction', () => {
    const r = new SecretRedactor();
    const routes = resolveRoutes(models, env, r);
    assert.deepEqual(routes.get('gpt-4-1106-preview'), {
      id: 'gpt-4-1106-preview', pricing: { prompt_per_1m: 10, completion_per_1m: 30 },
      backends: [{ id: 'gpt-4-1106-preview#0', provider: 'openai', baseUrl: 'https://api.openai.com/v1', upstreamModel: 'gpt-4-1106-preview', apiKey: env.T_OPENAI_KEY }],
    });
    const c = routes.get('claude-v2')!;
    assert.deepEqual(c.backends.map((b) => [b.id, b.provider, b.upstreamModel, b.baseUrl, b.apiKey]), [
      ['claude-v2#0', 'anthropic', 'claude-2.1', 'http://127.0.0.1:9/', env.T_ANTHROPIC_KEY],
      ['claude-v2#1', 'anthropic', 'claude-2.1', 'http://127.0.0.1:10', ''],
    ]);
    assert.deepEqual(c.backends[0].headers, { 'x-m': 'backend', 'x-a': '1' }, 'a backend\'s headers win over the model\'s');
    assert.deepEqual(c.backends[1].headers, { 'x-m': 'model' });
    assert.equal(c.backends[0].defaultMaxTokens, 2048);
    assert.deepEqual(c.timeouts, { first_byte_ms: 5000 });
    assert.equal(c.pricing, null);
    assert.equal(r.redact(`x ${env.T_ANTHROPIC_KEY}`), 'x [REDACTED]');
  });

  it('names the bad key path; never prints a key', () => {
    const bad = (m: ProviderModelConfig[], e: NodeJS.ProcessEnv, re: RegExp) => assert.throws(() => resolveRoutes(m, e, new SecretRedactor()), (err: unknown) => err instanceof RoutesError && re.test(err.message) && !err.message.includes('sk-'));
    bad([{ ...models[0], api_format: 'nope' }], env, /providers\.models\[0\]\.api_format: unknown format "nope"/);
    bad(models, { T_OPENAI_KEY: env.T_OPENAI_KEY }, /providers\.models\[1\]\.backend_refs\[0\]\.api_key_env: environment variable T_ANTHROPIC_KEY is not set/);
    bad([models[0], models[0]], env, /providers\.models\[1\]\.name: "gpt-4-1106-preview" is configured twice/);
    bad([{ ...models[0], backend_refs: [] }], env, /providers\.models\[0\]\.backend_refs: needs at least one/);
  });
});
