/**
 * Config: defaults, YAML, env and flags in that precedence; validation errors
 * name the key and its source; unknown keys are rejected; the result is
 * deeply frozen.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, parseCli, ConfigError } from '../../src/config/load.ts';
import { DEFAULT_PROFILE_DIR, SETTINGS } from '../../src/config/schema.ts';

let dir = '';
before(async () => { dir = await mkdtemp(join(tmpdir(), 'switchyard-config-')); });
after(async () => { await rm(dir, { recursive: true, force: true }); });

async function yaml(name: string, text: string): Promise<string> {
  const f = join(dir, name);
  await writeFile(f, text);
  return f;
}

function rejects(fn: () => unknown, ...parts: (string | RegExp)[]): void {
  assert.throws(fn, (e: Error) => {
    assert.ok(e instanceof ConfigError, `ConfigError, got ${e}`);
    for (const p of parts) {
      if (typeof p === 'string') assert.ok(e.message.includes(p), `"${p}" in: ${e.message}`);
      else assert.match(e.message, p);
    }
    return true;
  });
}

describe('defaults and precedence', () => {
  it('defaults: 127.0.0.1:8080, the default profile, native embedder', () => {
    const c = loadConfig({ env: {} });
    assert.equal(c.server.host, '127.0.0.1');
    assert.equal(c.server.port, 8080);
    assert.equal(c.router.profile, DEFAULT_PROFILE_DIR);
    assert.equal(c.embedder.kind, 'native');
    assert.equal(c.router.default_cost_weight, null);
    assert.deepEqual(c.server.api_keys, []);
    assert.ok(c.workers >= 1);
  });

  it('defaults < YAML < env < flags', async () => {
    const f = await yaml('p.yaml', 'server:\n  host: 0.0.0.0\n  port: 9000\n  body_limit: 4096\nrouter:\n  cache_size: 5\n  default_cost_weight: 0.4\n');
    const fromFile = loadConfig({ argv: ['--config', f], env: {} });
    assert.equal(fromFile.server.host, '0.0.0.0');
    assert.equal(fromFile.server.port, 9000);
    assert.equal(fromFile.server.body_limit, 4096);
    assert.equal(fromFile.router.cache_size, 5);
    assert.equal(fromFile.server.shutdown_timeout_ms, 10_000, 'keys absent from the file keep their defaults');

    const env = { HOST: '10.0.0.1', PORT: '9100', SWITCHYARD_COST_WEIGHT: '0.7' };
    const fromEnv = loadConfig({ argv: ['--config', f], env });
    assert.equal(fromEnv.server.host, '10.0.0.1');
    assert.equal(fromEnv.server.port, 9100);
    assert.equal(fromEnv.router.default_cost_weight, 0.7);
    assert.equal(fromEnv.router.cache_size, 5);

    const fromFlags = loadConfig({ argv: ['--config', f, '--port', '9200', '--host', '127.0.0.2', '--cost-weight', 'profile'], env });
    assert.equal(fromFlags.server.port, 9200);
    assert.equal(fromFlags.server.host, '127.0.0.2');
    assert.equal(fromFlags.router.default_cost_weight, null, '"profile" = use the profile default');
    assert.equal(fromFlags.server.body_limit, 4096);

    // SWITCHYARD_CONFIG names the file when --config is absent.
    assert.equal(loadConfig({ env: { SWITCHYARD_CONFIG: f } }).server.port, 9000);
  });

  it('YAML paths resolve against the file, env/flag paths against cwd; keys and lists parse', async () => {
    const f = await yaml('paths.yaml', 'router:\n  profile: ./profiles/p1\nembedder:\n  kind: onnx\n  dir: models/m\nserver:\n  api_keys: [k1-aaaa, k2-bbbb]\n');
    const c = loadConfig({ argv: ['--config', f], env: {} });
    assert.equal(c.router.profile, join(dir, 'profiles/p1'));
    assert.equal(c.embedder.dir, join(dir, 'models/m'));
    assert.deepEqual(c.server.api_keys, ['k1-aaaa', 'k2-bbbb']);
    const e = loadConfig({ env: { SWITCHYARD_PROFILE: 'rel/p', SWITCHYARD_API_KEYS: 'a1, b2 ,' }, cwd: '/srv' });
    assert.equal(e.router.profile, '/srv/rel/p');
    assert.deepEqual(e.server.api_keys, ['a1', 'b2']);
  });

  it('is deeply frozen', () => {
    const c = loadConfig({ env: {} });
    assert.ok(Object.isFrozen(c) && Object.isFrozen(c.server) && Object.isFrozen(c.server.api_keys));
    assert.throws(() => { (c.server as { port: number }).port = 1; }, TypeError);
  });

  it('every env/flag setting names a real config key', () => {
    const c = loadConfig({ env: {} }) as unknown as Record<string, any>;
    for (const s of SETTINGS) {
      const v = s.path.split('.').reduce((o, k) => o?.[k], c);
      assert.notEqual(v, undefined, s.path);
    }
  });
});

describe('validation errors name the key and its source', () => {
  it('unknown keys, top-level and nested', async () => {
    const f = await yaml('typo.yaml', 'server:\n  prot: 8081\ncache_size: 3\n');
    rejects(() => loadConfig({ argv: ['--config', f], env: {} }), 'unknown key "server.prot"', 'unknown key "cache_size"', f);
  });

  it('unknown keys inside providers are named too (test/gateway/config.test.ts covers the section)', async () => {
    const f = await yaml('prov.yaml', 'providers:\n  openai:\n    api_key: x\n');
    rejects(() => loadConfig({ argv: ['--config', f], env: {} }), 'unknown key "providers.openai"');
  });

  it('bad types and ranges, from YAML, env and flags', async () => {
    const f = await yaml('types.yaml', 'server:\n  port: "eighty"\nworkers: 0\nrouter:\n  default_cost_weight: -1\n');
    rejects(() => loadConfig({ argv: ['--config', f], env: {} }), '"server.port" must be integer', '"workers" must be >= 1', '"router.default_cost_weight" must be >= 0');
    rejects(() => loadConfig({ env: { PORT: 'abc' } }), '"server.port" must be integer', 'env PORT="abc"');
    rejects(() => loadConfig({ env: { PORT: '70000' } }), '"server.port" must be <= 65535');
    rejects(() => loadConfig({ argv: ['--cache-size=-3'], env: {} }), '"router.cache_size" must be >= 0', 'flag --cache-size');
    rejects(() => loadConfig({ argv: ['--cost-weight', 'lots'], env: {} }), 'router.default_cost_weight', 'flag --cost-weight');
    rejects(() => loadConfig({ argv: ['--embedder', 'bert'], env: {} }), '"embedder.kind" must be one of "native", "onnx"');
    rejects(() => loadConfig({ argv: ['--embedder', 'onnx'], env: {} }), '"embedder.dir" is required when embedder.kind is onnx');
    rejects(() => loadConfig({ argv: ['--nearest', 'gpu'], env: {} }), '"router.nearest" must be one of "auto", "inline", "pool"', 'flag --nearest');
    assert.equal(loadConfig({ env: { SWITCHYARD_NEAREST: 'pool' } }).router.nearest, 'pool');
    rejects(() => loadConfig({ argv: ['--body-limit', '10'], env: {} }), '"server.body_limit" must be >= 1024');
  });

  it('bad files and bad flags', async () => {
    rejects(() => loadConfig({ argv: ['--config', join(dir, 'missing.yaml')], env: {} }), 'cannot read', 'ENOENT');
    const bad = await yaml('bad.yaml', 'server: [1, 2\n');
    rejects(() => loadConfig({ argv: ['--config', bad], env: {} }), 'not valid YAML');
    const list = await yaml('list.yaml', '- a\n- b\n');
    rejects(() => loadConfig({ argv: ['--config', list], env: {} }), 'must hold a mapping');
    rejects(() => parseCli(['--prot', '1']), "'--prot'");
    const empty = await yaml('empty.yaml', '');
    assert.equal(loadConfig({ argv: ['--config', empty], env: {} }).server.port, 8080);
  });
});
