/**
 * Fuzz of issue 11's new inputs (seeded): random Authorization / x-api-key
 * values (never a crash, never a 5xx, 401 unless the exact key), random
 * X-GR-Guardrails values (400 naming the header unless moderate/off in any
 * case), random bodies through a rate-limited route (429 or an answer, never
 * a 5xx), and random tenants configs (a config error or a valid Tenancy,
 * never another exception).
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mulberry32 } from '../../src/seeded-random.ts';
import { Tenancy, TenancyError } from '../../src/edge/auth.ts';
import { loadConfig, ConfigError } from '../../src/config/load.ts';
import { startTestServer, type TestServer } from '../server/helpers.ts';

const rnd = mulberry32(1111);
const pick = <T>(a: readonly T[]): T => a[Math.floor(rnd() * a.length)];
function junk(max: number): string {
  const alphabet = ['a', 'Z', '0', ' ', '\t', 'Bearer ', 'bearer', '=', '"', '%', 'é', '\u00ff', '-', '_', 'sk-', ':', ';', ','];
  let s = '';
  const n = Math.floor(rnd() * max);
  for (let i = 0; i < n; i++) s += pick(alphabet);
  return s;
}
/** Header values fetch accepts (no control characters but tab; latin-1). */
const headerSafe = (s: string) => s.replace(/[^\t\x20-\x7e\u00a0-\u00ff]/g, '').trim();

describe('fuzz: keys, guardrail header, limited bodies', () => {
  const KEY = 'sk-fuzz-org-key-0123456789';
  let srv: TestServer;
  before(async () => {
    process.env.SWITCHYARD_TEST_FUZZ_KEY = KEY;
    srv = await startTestServer({ tenants: [{ id: 'org_fuzz', keys_env: ['SWITCHYARD_TEST_FUZZ_KEY'], limits: { requests_per_minute: 50, tokens_per_minute: 5000 } }] });
  });
  after(async () => { await srv.close(); });

  it('random credentials: 401 unless the exact key; never a 5xx', async () => {
    for (let i = 0; i < 150; i++) {
      const a = headerSafe(rnd() < 0.5 ? `Bearer ${junk(40)}` : junk(60));
      const x = headerSafe(junk(40));
      const r = await fetch(`${srv.base}/v1/models`, { headers: { authorization: a, 'x-api-key': x } });
      await r.arrayBuffer();
      assert.equal(r.status, 401, `${JSON.stringify(a)} / ${JSON.stringify(x)}`);
    }
    const ok = await fetch(`${srv.base}/v1/models`, { headers: { authorization: `  Bearer   ${KEY}  ` } });
    await ok.arrayBuffer();
    assert.equal(ok.status, 200);
  });

  it('random X-GR-Guardrails values and bodies on a limited, guarded route: 400/429/answers, never a 5xx', async () => {
    let refused = 0;
    let badHeader = 0;
    for (let i = 0; i < 120; i++) {
      const g = headerSafe(pick(['', 'moderate', 'OFF', 'Moderate ', junk(12)]));
      const body = rnd() < 0.3 ? junk(200) : JSON.stringify({ model: 'auto', messages: [{ role: 'user', content: junk(300) }] });
      const r = await fetch(`${srv.base}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json', 'x-gr-guardrails': g }, body });
      const j = await r.json() as any;
      assert.ok(r.status < 500 || j.error.code === 'no_backend', `${r.status} ${JSON.stringify(j)}`);
      if (r.status === 429) { refused++; assert.equal(j.error.code, 'rate_limit_exceeded'); assert.ok(r.headers.get('retry-after')); }
      const v = g.trim().toLowerCase();
      if (r.status === 400 && j.error.param === 'X-GR-Guardrails') { badHeader++; assert.ok(v !== '' && v !== 'moderate' && v !== 'off', JSON.stringify(g)); }
    }
    assert.ok(refused > 0, 'the 50-a-minute budget ran out within 120 requests');
    assert.ok(badHeader > 0, 'some junk X-GR-Guardrails value was refused (else the check above never ran)');
  });
});

describe('fuzz: tenants configs', () => {
  it('a config error naming tenants, or a Tenancy; nothing else', () => {
    const env = { FUZZ_A: 'sk-fuzz-a-0123456789', FUZZ_B: 'sk-fuzz-b-0123456789' };
    const vals = [undefined, null, 1, -1, 0, 1.5, '', 'x', 'FUZZ_A', 'FUZZ_B', 'NOPE', 'a'.repeat(64), 'f'.repeat(64), [], ['FUZZ_A'], ['FUZZ_A', 'FUZZ_A'], { requests_per_minute: 1 }, { tokens_per_minute: 0 }, ['admin'], 'moderate', true];
    let accepted = 0;
    let rejected = 0;
    for (let i = 0; i < 400; i++) {
      // Half the draws mutate a valid tenant lightly, so the accepting path is exercised too.
      const valid = rnd() < 0.5;
      const t: Record<string, unknown> = valid ? { id: 'org_a', keys_env: ['FUZZ_A'] } : {};
      for (const k of ['id', 'keys_env', 'key_sha256', 'keys', 'roles', 'limits', 'key_limits', 'guardrails', 'bogus']) if (rnd() < (valid ? 0.15 : 0.4)) t[k] = pick(vals);
      if (rnd() < 0.3) t.keys = [{ env: pick(['FUZZ_A', 'FUZZ_B', 'X']), id: pick(['k', 'k k', undefined]) }];
      const tenants = rnd() < 0.5 ? [t] : [t, { ...t, id: pick(['org_b', t.id]) }];
      try {
        const c = loadConfig({ env: {}, overrides: { tenants } });
        new Tenancy([], c.tenants, env);
        accepted++;
      } catch (e) {
        rejected++;
        assert.ok(e instanceof ConfigError || e instanceof TenancyError, `${(e as Error).name}: ${(e as Error).message}`);
        assert.match((e as Error).message, /tenants/);
      }
    }
    assert.ok(accepted > 0 && rejected > 0, `both outcomes drawn: ${accepted} accepted, ${rejected} rejected`);
  });
});
