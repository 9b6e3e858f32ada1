import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { resolveRoutes, RoutesError, type ProvidersConfig } from '../../src/providers/routes.ts';
import { SecretRedactor } from '../../src/providers/redact.ts';

const cfg: ProvidersConfig = {
  backends: {
    oa: { provider: 'openai', api_key_env: 'T_OPENAI_KEY' },
    an: { provider: 'anthropic', base_url: 'http://127.0.0.1:9/', api_key_env: 'T_ANTHROPIC_KEY', default_max_tokens: 2048, headers: { 'x-a': '1' } },
  },
  models: {
    'gpt-4-1106-preview': { backend_refs: ['oa'], pricing: { prompt_per_1m: 10, completion_per_1m: 30 } },
    'claude-v2': { backend_refs: ['an', 'oa'], upstream_model: 'claude-2.1', timeouts: { first_byte_ms: 5000 } },
  },
};
const env = { T_OPENAI_KEY: 'sk-openai-env-123456', T_ANTHROPIC_KEY: 'sk-ant-env-123456' };

describe('resolveRoutes', () => {
  it('builds per-model backends with keys from the environment, registered for redaction', () => {
    const r = new SecretRedactor();
    const routes = resolveRoutes(cfg, env, r);
    assert.deepEqual(routes.get('gpt-4-1106-preview'), {
      id: 'gpt-4-1106-preview', pricing: { prompt_per_1m: 10, completion_per_1m: 30 },
      backends: [{ id: 'oa', provider: 'openai', baseUrl: 'https://api.openai.com/v1', upstreamModel: 'gpt-4-1106-preview', apiKey: env.T_OPENAI_KEY }],
    });
    const c = routes.get('claude-v2')!;
    assert.deepEqual(c.backends.map((b) => [b.id, b.upstreamModel, b.baseUrl]), [['an', 'claude-2.1', 'http://127.0.0.1:9/'], ['oa', 'claude-2.1', 'https://api.openai.com/v1']]);
    assert.equal(c.backends[0].defaultMaxTokens, 2048);
    assert.deepEqual(c.timeouts, { first_byte_ms: 5000 });
    assert.equal(c.pricing, null);
    assert.equal(r.redact(`x ${env.T_ANTHROPIC_KEY}`), 'x [REDACTED]');
  });

  it('names the bad key path; never prints a key', () => {
    const bad = (c: ProvidersConfig, e: NodeJS.ProcessEnv, re: RegExp) => assert.throws(() => resolveRoutes(c, e, new SecretRedactor()), (err: unknown) => err instanceof RoutesError && re.test(err.message) && !err.message.includes('sk-'));
    bad({ ...cfg, backends: { ...cfg.backends, oa: { provider: 'nope', api_key_env: 'X' } } }, env, /backends\.oa\.provider: unknown provider "nope"/);
    bad(cfg, { T_OPENAI_KEY: env.T_OPENAI_KEY }, /backends\.an\.api_key_env: environment variable T_ANTHROPIC_KEY is not set/);
    bad({ ...cfg, models: { m: { backend_refs: ['zz'] } } }, env, /models\.m\.backend_refs\[0\]: no backend named "zz"/);
    bad({ ...cfg, models: { m: { backend_refs: [] } } }, env, /models\.m\.backend_refs: needs at least one/);
  });
});
