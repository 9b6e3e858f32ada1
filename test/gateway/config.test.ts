/**
 * The providers section of the config: the documented shape loads (including
 * config/example.yaml), unknown keys are named at every level, the key
 * variables must be set (named, never their value), names are unique and not
 * router aliases, and the health defaults equal the tracker's own.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, ConfigError } from '../../src/config/load.ts';
import { defaults } from '../../src/config/schema.ts';
import { DEFAULT_HEALTH } from '../../src/providers/health.ts';
import { healthOptions } from '../../src/providers/runtime.ts';
import { DEFAULT_TIMEOUTS } from '../../src/providers/upstream.ts';
import { ROOT } from '../../src/fit/options.ts';

let dir = '';
before(async () => { dir = await mkdtemp(join(tmpdir(), 'switchyard-gw-config-')); });
after(async () => { await rm(dir, { recursive: true, force: true }); });

async function load(text: string, env: Record<string, string> = {}) {
  const f = join(dir, `c${Math.random().toString(36).slice(2)}.yaml`);
  await writeFile(f, text);
  return loadConfig({ argv: ['--config', f], env });
}

async function rejects(text: string, env: Record<string, string>, ...parts: (string | RegExp)[]): Promise<string> {
  try { await load(text, env); } catch (e) {
    assert.ok(e instanceof ConfigError, String(e));
    for (const p of parts) {
      if (typeof p === 'string') assert.ok(e.message.includes(p), `"${p}" in: ${e.message}`);
      else assert.match(e.message, p);
    }
    return e.message;
  }
  throw new Error('expected a ConfigError');
}

const ISSUE_SHAPE = `
providers:
  models:
    - name: gpt-4-1106-preview
      api_format: openai
      pricing: { currency: USD, prompt_per_1m: 10.0, completion_per_1m: 30.0 }
      backend_refs:
        - base_url: https://api.openai.com/v1
          api_key_env: OPENAI_API_KEY
        - base_url: https://eu.example.com/v1
          api_key_env: OPENAI_API_KEY_EU
          headers: { x-region: eu }
      timeouts: { connect_ms: 2000, first_byte_ms: 30000, total_ms: 300000 }
    - name: claude-v2
      api_format: anthropic
      upstream_model: claude-2.1
      default_max_tokens: 2048
      backend_refs:
        - api_key_env: ANTHROPIC_API_KEY
  route_on: conversation
  health: { failure_threshold: 3, cooldown_ms: 5000, window_size: 50 }
`;
const ENV = { OPENAI_API_KEY: 'sk-live-aaaaaaaaaaaaaaaa', OPENAI_API_KEY_EU: 'sk-live-bbbbbbbbbbbbbbbb', ANTHROPIC_API_KEY: 'sk-ant-cccccccccccccccc' };

describe('providers config', () => {
  it('loads the documented shape; defaults fill the rest; keys stay out of the config', async () => {
    const c = await load(ISSUE_SHAPE, ENV);
    const p = c.providers;
    assert.equal(p.models.length, 2);
    assert.equal(p.models[0].backend_refs.length, 2);
    assert.deepEqual(p.models[0].timeouts, { connect_ms: 2000, first_byte_ms: 30000, total_ms: 300000 });
    assert.equal(p.models[1].upstream_model, 'claude-2.1');
    assert.equal(p.route_on, 'conversation');
    assert.equal(p.health.failure_threshold, 3);
    assert.equal(p.health.min_samples, 20, 'unset health keys keep their defaults');
    assert.deepEqual(p.timeouts, DEFAULT_TIMEOUTS);
    assert.ok(Object.isFrozen(p.models[0].backend_refs[0]));
    assert.ok(!JSON.stringify(c).includes('sk-'), 'no key value in the config');
  });

  it('the default section is empty, and its health defaults are the tracker\'s', () => {
    const d = defaults().providers;
    assert.deepEqual(d.models, []);
    assert.equal(d.route_on, 'last_user_message');
    const fromConfig = healthOptions(d.health);
    for (const [k, v] of Object.entries(fromConfig)) assert.equal(v, DEFAULT_HEALTH[k as keyof typeof DEFAULT_HEALTH], k);
    assert.deepEqual(d.timeouts, DEFAULT_TIMEOUTS);
  });

  it('config/example.yaml loads with no environment (it points at the local mock)', () => {
    const c = loadConfig({ argv: ['--config', join(ROOT, 'config/example.yaml')], env: {} });
    assert.ok(c.providers.models.length >= 3);
    assert.ok(c.providers.models.every((m) => m.backend_refs.every((b) => b.base_url?.startsWith('http://127.0.0.1:'))));
  });

  it('names unknown keys at every level', async () => {
    await rejects('providers:\n  modles: []\n', {}, 'unknown key "providers.modles"');
    await rejects('providers:\n  models:\n    - name: a\n      api_format: openai\n      backend_refs: [{ base_url: "http://x" }]\n      apikey: x\n', {}, 'unknown key "providers.models.0.apikey"');
    await rejects('providers:\n  models:\n    - name: a\n      api_format: openai\n      backend_refs: [{ base_url: "http://x", api_key: "sk-pasted-key-123456" }]\n', {}, 'unknown key "providers.models.0.backend_refs.0.api_key"');
    await rejects('providers:\n  health: { failure_treshold: 3 }\n', {}, 'unknown key "providers.health.failure_treshold"');
    await rejects('providers:\n  models:\n    - name: a\n      api_format: openai\n      backend_refs: [{ base_url: "http://x" }]\n      pricing: { prompt_per_1m: 1, completion_per_1m: 1, per_request: 1 }\n', {}, 'unknown key "providers.models.0.pricing.per_request"');
  });

  it('required fields, enums and ranges', async () => {
    await rejects('providers:\n  models:\n    - api_format: openai\n      backend_refs: [{}]\n', {}, '"providers.models.0.name" is required');
    await rejects('providers:\n  models:\n    - name: a\n      api_format: gemini\n      backend_refs: [{}]\n', {}, '"providers.models.0.api_format" must be one of "openai", "anthropic"');
    await rejects('providers:\n  models:\n    - name: a\n      api_format: openai\n      backend_refs: []\n', {}, 'providers.models.0.backend_refs');
    await rejects('providers:\n  route_on: everything\n', {}, '"providers.route_on" must be one of "last_user_message", "conversation"');
    await rejects('providers:\n  models:\n    - name: a\n      api_format: openai\n      backend_refs: [{ base_url: "ftp://x" }]\n', {}, 'providers.models.0.backend_refs.0.base_url');
    await rejects('providers:\n  models:\n    - name: a\n      api_format: openai\n      backend_refs: [{}]\n      pricing: { currency: EUR, prompt_per_1m: 1, completion_per_1m: 1 }\n', {}, '"providers.models.0.pricing.currency" must be one of "USD"');
    await rejects('providers:\n  models:\n    - name: a\n      api_format: openai\n      backend_refs: [{}]\n      timeouts: { first_byte_ms: 9000, total_ms: 1000 }\n', {}, 'first_byte_ms (9000) is over total_ms (1000)');
  });

  it('a missing key variable is a start-up error naming the variable, never a value', async () => {
    const msg = await rejects(ISSUE_SHAPE, { OPENAI_API_KEY: ENV.OPENAI_API_KEY, ANTHROPIC_API_KEY: '' },
      '"providers.models[0].backend_refs[1].api_key_env": environment variable OPENAI_API_KEY_EU is not set',
      '"providers.models[1].backend_refs[0].api_key_env": environment variable ANTHROPIC_API_KEY is not set');
    assert.ok(!msg.includes(ENV.OPENAI_API_KEY));
    // A key pasted where the variable name goes is refused by the name pattern, and not echoed as a "variable".
    await rejects('providers:\n  models:\n    - name: a\n      api_format: openai\n      backend_refs: [{ api_key_env: "sk-live-0123456789" }]\n', {}, 'providers.models.0.backend_refs.0.api_key_env');
  });

  it('model names are unique and are not router aliases; header values cannot inject lines', async () => {
    const m = (name: string) => `    - name: "${name}"\n      api_format: openai\n      backend_refs: [{ base_url: "http://127.0.0.1:1/v1" }]\n`;
    await rejects(`providers:\n  models:\n${m('a')}${m('a')}`, {}, '"providers.models[1].name" repeats "a" (already providers.models[0])');
    await rejects(`providers:\n  models:\n${m('auto')}`, {}, '"providers.models[0].name" must not be "auto"');
    await rejects(`providers:\n  models:\n${m('a,b')}`, {}, '"providers.models.0.name" must match pattern');
    await rejects(`providers:\n  models:\n${m('a\\nx-injected: 1')}`, {}, '"providers.models.0.name" must match pattern');
    await rejects('providers:\n  models:\n    - name: a\n      api_format: openai\n      backend_refs: [{}]\n      headers: { x-evil: "a\\r\\nx-injected: 1" }\n', {}, 'providers.models.0.headers');
  });
});
