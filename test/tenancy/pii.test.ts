/**
 * The PII guardrail (issue 11 item 6): the detector on each kind, with the
 * near misses its checks exist to let through (Luhn, issuer prefixes, SSN
 * ranges, IBAN mod-97, version strings, bare digit runs), and the server:
 * X-GR-Guardrails: moderate (or the organisation's default) refuses with 400
 * pii_detected naming the kinds and never echoing the values, before any
 * upstream call; off / absent passes; a bad header value is a 400 naming it;
 * routes that call no model ignore it. Plus a seeded fuzz: random strings
 * never throw.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { detectPii, ibanValid, luhnValid, jsonStrings } from '../../src/routing/pii.ts';
import { mulberry32 } from '../../src/seeded-random.ts';
import { openaiModel, startGateway, startMocks, type Gateway, type Mocks } from '../gateway/helpers.ts';

describe('detectPii', () => {
  const cases: [string, string[]][] = [
    ['write to jane.doe+news@example.co.uk please', ['email']],
    ['call me on +44 20 7946 0958 tomorrow', ['phone']],
    ['my number is (415) 555-0132', ['phone']],
    ['or 415-555-0132', ['phone']],
    ['card 4111 1111 1111 1111 exp 12/29', ['payment_card']],
    ['card 5500-0000-0000-0004', ['payment_card']],
    ['amex 378282246310005', ['payment_card']],
    ['SSN 123-45-6789', ['us_ssn']],
    ['pay to GB82 WEST 1234 5698 7654 32 today', ['iban']],
    ['IBAN DE89370400440532013000', ['iban']],
    ['the server at 203.0.113.42 is down', ['ip_address']],
    ['ipv6 2001:db8:85a3::8a2e:370:7334 too', ['ip_address']],
    ['mail a@b.io, ssn 078-05-1120, ip 8.8.8.8', ['email', 'us_ssn', 'ip_address']],
  ];
  for (const [text, kinds] of cases) it(`finds ${kinds.join('+')} in ${JSON.stringify(text)}`, () => assert.deepEqual(detectPii(text), kinds));

  const clean = [
    'What is 1234567890 divided by 7?',
    'Compute 4111111111111112 mod 9.', // a Visa-shaped number failing Luhn
    'Order 1234 5678 9012 3456 has shipped.', // no issuer prefix
    // Dotted version strings: longer than four parts, or prefixed (a bare "2.0.0.1" IS an address to the detector).
    'Upgrade from version 1.2.3.4.5 to v2.0.0.1 of the library',
    'Bind to 127.0.0.1 or 0.0.0.0, netmask 255.255.255.0',
    'SSN-like 000-12-3456 and 666-12-3456 and 900-12-3456 are never issued',
    'GB82 WEST 1234 5698 7654 33 fails the check',
    'The meeting is at 12:30:45 on 2024-03-15.',
    'Use the @decorator syntax and email me never',
    'x = a::b::c in C++ and std::vector<int>',
    'The answer is (A) 415-555 or (B) 0132',
    'Solve 3x + 12 = 45 for x, then add +1 2 3.',
  ];
  for (const text of clean) it(`finds nothing in ${JSON.stringify(text)}`, () => assert.deepEqual(detectPii(text), []));

  it('Luhn and mod-97 on their own', () => {
    assert.ok(luhnValid('79927398713'));
    assert.ok(!luhnValid('79927398710'));
    assert.ok(ibanValid('GB82WEST12345698765432'));
    assert.ok(!ibanValid('GB82WEST12345698765433'));
    assert.ok(!ibanValid('XX82WEST12345698765432'));
  });

  it('jsonStrings gathers values, not keys, and stops at depth 64', () => {
    assert.deepEqual(jsonStrings({ 'a@b.io': 'x', n: [1, 'y', { z: 'w' }] }), ['x', 'y', 'w']);
    let deep: unknown = 'too deep';
    for (let i = 0; i < 100; i++) deep = [deep];
    assert.deepEqual(jsonStrings(deep), []);
  });

  it('fuzz: random printable and digit-heavy strings never throw and name only known kinds', () => {
    const rnd = { next: mulberry32(11) };
    const alphabet = '0123456789 -+.@:()abcdefXYZ GB DE\n';
    for (let i = 0; i < 3000; i++) {
      const n = Math.floor(rnd.next() * 80);
      let s = '';
      for (let j = 0; j < n; j++) s += alphabet[Math.floor(rnd.next() * alphabet.length)];
      for (const k of detectPii(s)) assert.ok(['email', 'phone', 'payment_card', 'us_ssn', 'iban', 'ip_address'].includes(k));
    }
  });
});

describe('X-GR-Guardrails on the server', () => {
  const KEY = 'sk-guarded-org-0123456789';
  const EMAIL = 'secret.person@example.org';
  let mocks: Mocks;
  let gw: Gateway;
  before(async () => {
    process.env.SWITCHYARD_TEST_GUARDED_KEY = KEY;
    mocks = await startMocks();
    gw = await startGateway({ models: [openaiModel('gpt-4-1106-preview', mocks.oa)] }, {
      server: { api_keys: ['sk-plain-default-0123456789'] },
      tenants: [{ id: 'org_guarded', keys_env: ['SWITCHYARD_TEST_GUARDED_KEY'], guardrails: 'moderate' }],
    });
  });
  after(async () => { await gw.close(); await mocks.close(); });

  const post = async (path: string, body: unknown, headers: Record<string, string>) => {
    const r = await fetch(gw.base + path, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
    const text = await r.text();
    return { status: r.status, text, json: JSON.parse(text) };
  };
  const chatBody = (content: string) => ({ model: 'gpt-4-1106-preview', messages: [{ role: 'user', content }] });
  const plain = { authorization: 'Bearer sk-plain-default-0123456789' };

  it('moderate: 400 pii_detected naming the kinds, never the values, and no upstream call', async () => {
    const before = mocks.oa.stats().requests;
    const r = await post('/v1/chat/completions', chatBody(`mail ${EMAIL} or call +1 415 555 0132`), { ...plain, 'x-gr-guardrails': 'moderate' });
    assert.equal(r.status, 400);
    assert.equal(r.json.error.code, 'pii_detected');
    assert.equal(r.json.error.type, 'invalid_request_error');
    assert.deepEqual(r.json.error.kinds, ['email', 'phone']);
    assert.ok(!r.text.includes(EMAIL) && !r.text.includes('555'), r.text);
    assert.equal(mocks.oa.stats().requests, before);
  });

  it('absent or off: passes; a clean prompt under moderate passes', async () => {
    assert.equal((await post('/v1/chat/completions', chatBody(`mail ${EMAIL}`), plain)).status, 200);
    assert.equal((await post('/v1/chat/completions', chatBody(`mail ${EMAIL}`), { ...plain, 'x-gr-guardrails': 'off' })).status, 200);
    assert.equal((await post('/v1/chat/completions', chatBody('What is the capital of Australia?'), { ...plain, 'x-gr-guardrails': 'Moderate' })).status, 200);
  });

  it('the organisation\'s default applies without the header; the header overrides it', async () => {
    const g = { authorization: `Bearer ${KEY}` };
    const r = await post('/v1/responses', { model: 'gpt-4-1106-preview', input: 'my SSN is 123-45-6789' }, g);
    assert.equal(r.status, 400);
    assert.deepEqual(r.json.error.kinds, ['us_ssn']);
    assert.equal((await post('/v1/responses', { model: 'gpt-4-1106-preview', input: 'my SSN is 123-45-6789' }, { ...g, 'x-gr-guardrails': 'off' })).status, 200);
  });

  it('a value other than moderate/off is a 400 naming the header; /v1/route (no model call) ignores the guardrail', async () => {
    const bad = await post('/v1/chat/completions', chatBody('hi'), { ...plain, 'x-gr-guardrails': 'strict' });
    assert.equal(bad.status, 400);
    assert.equal(bad.json.error.param, 'X-GR-Guardrails');
    const route = await post('/v1/route', { prompt: `mail ${EMAIL}` }, { ...plain, 'x-gr-guardrails': 'moderate' });
    assert.equal(route.status, 200);
  });
});
