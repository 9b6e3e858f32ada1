import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SecretRedactor, resolveApiKey, MissingApiKeyError, REDACTED, MIN_SECRET_LENGTH } from '../../src/providers/redact.ts';

describe('secret redaction', () => {
  it('masks every registered secret wherever it appears, longest first', () => {
    const r = new SecretRedactor();
    r.add('my-very-secret-value');
    r.add('my-very-secret-value-2');
    assert.equal(r.redact('a my-very-secret-value-2 b my-very-secret-value c'), `a ${REDACTED} b ${REDACTED} c`);
  });

  it('masks key-shaped text even when it was never registered', () => {
    const r = new SecretRedactor();
    const cases = [
      ['Authorization: Bearer abcdefghijklmnop', `Authorization: Bearer ${REDACTED}`],
      ['x-api-key: zzzzzzzzzzzzzzzzzzzz', `x-api-key: ${REDACTED}`],
      ['{"api_key": "qwertyuiopasdf"}', `{"api_key": "${REDACTED}"}`],
      ['Incorrect API key provided: sk-proj-abcdefghijklmnopqrst.', `Incorrect API key provided: ${REDACTED}.`],
    ];
    for (const [input, want] of cases) assert.equal(r.redact(input), want, input);
    assert.equal(r.redact('HTTP 500: upstream exploded'), 'HTTP 500: upstream exploded', 'ordinary text is untouched');
  });

  it('ignores secrets too short to mask safely', () => {
    const r = new SecretRedactor();
    r.add('x'.repeat(MIN_SECRET_LENGTH - 1));
    assert.equal(r.redact('xxxxxxx and more'), 'xxxxxxx and more');
  });

  it('reads a key from the named env var and registers it; the error names only the variable', () => {
    const r = new SecretRedactor();
    const key = resolveApiKey('TEST_PROVIDER_KEY', { TEST_PROVIDER_KEY: 'secret-from-env-123' }, r);
    assert.equal(key, 'secret-from-env-123');
    assert.equal(r.redact('echo secret-from-env-123'), `echo ${REDACTED}`);
    assert.throws(() => resolveApiKey('MISSING_KEY_VAR', {}, r), (e: unknown) => e instanceof MissingApiKeyError && /MISSING_KEY_VAR/.test(e.message));
  });
});
