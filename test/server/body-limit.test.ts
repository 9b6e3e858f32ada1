/**
 * A body over server.body_limit: every client reads the 413 (issue 7 item 4).
 *
 * Closing right after the 413 (the old behaviour) reset the connection under
 * a client still uploading: Node's fetch saw EPIPE for most 2 MiB bodies and
 * nearly all 20 MiB ones, the openai SDK "Connection error.". The edge now
 * answers, reads and discards the rest of the body (bounded by
 * server.linger_bytes / linger_ms) and only then closes (src/edge/exchange.ts
 * refuseBody). The fetch cases below fail on the old code.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startTestServer, type TestServer } from './helpers.ts';
import { loadConfig, ConfigError } from '../../src/config/load.ts';

const MiB = 1024 * 1024;
const run = promisify(execFile);

let ts: TestServer;
let dir: string;

before(async () => {
  // Default limits (body_limit 1 MiB, linger 64 MiB / 5 s): what a user gets.
  // The 413 is decided before the profile matters, so it is not loaded.
  ts = await startTestServer({}, { load: false });
  dir = await mkdtemp(join(tmpdir(), 'switchyard-413-'));
});
after(async () => {
  await ts.close();
  await rm(dir, { recursive: true, force: true });
});

interface Job { kind: 'fetch' | 'chunked' | 'sdk-chat' | 'sdk-embeddings'; path: string; bytes: number; total: number; parallel: number }
type Outcome = { status: number; code: string | null; message: string | null; connection: string | null } | { error: string };

/**
 * Runs the clients in another process (test/server/fixtures/big-upload-client.ts
 * says why: in this one the old code passed too); per job, per request, what it saw.
 */
async function clients(jobs: Job[]): Promise<Outcome[][]> {
  const { stdout } = await run(process.execPath, ['--import', 'tsx', CLIENT, JSON.stringify({ base: ts.base, jobs })], { maxBuffer: 16 * MiB });
  return JSON.parse(stdout) as Outcome[][];
}
const CLIENT = join(import.meta.dirname, 'fixtures', 'big-upload-client.ts');

/** Every request of every job read the 413 with its JSON body; lists the others (EPIPE, Connection error...) otherwise. */
function assertAll413(jobs: Job[], results: Outcome[][]): void {
  const bad: string[] = [];
  results.forEach((outs, j) => outs.forEach((o, i) => {
    if (!('status' in o) || o.status !== 413 || o.code !== 'payload_too_large' || !o.message?.includes('server.body_limit')) {
      bad.push(`${jobs[j].kind} ${jobs[j].bytes / MiB} MiB ${jobs[j].path} #${i + 1}: ${JSON.stringify(o)}`);
    }
  }));
  assert.deepEqual(bad, [], `${bad.length} requests did not read the 413`);
}

/**
 * Every client case in one child process (its start-up under tsx is most of
 * the cost); each test below checks its own jobs. Started in before() so a
 * failure names the test whose jobs failed.
 */
const JOBS = {
  fetch: [
    { kind: 'fetch', path: '/v1/route', bytes: 2 * MiB, total: 12, parallel: 2 },
    { kind: 'fetch', path: '/v1/chat/completions', bytes: 2 * MiB, total: 4, parallel: 2 },
    { kind: 'fetch', path: '/v1/route', bytes: 20 * MiB, total: 6, parallel: 2 },
  ],
  chunked: [
    { kind: 'chunked', path: '/v1/route', bytes: 2 * MiB, total: 4, parallel: 2 },
    { kind: 'chunked', path: '/v1/route', bytes: 20 * MiB, total: 1, parallel: 1 },
  ],
  sdk: [2 * MiB, 20 * MiB].flatMap((bytes) => [
    { kind: 'sdk-chat', path: '/v1/chat/completions', bytes, total: 2, parallel: 1 },
    { kind: 'sdk-embeddings', path: '/v1/embeddings', bytes, total: 2, parallel: 1 },
  ]),
} satisfies Record<string, Job[]>;
let outcomes: Record<keyof typeof JOBS, Outcome[][]>;

describe('413 seen by clients in another process', () => {
  before(async () => {
    const all = [...JOBS.fetch, ...JOBS.chunked, ...JOBS.sdk];
    const r = await clients(all);
    outcomes = { fetch: r.slice(0, JOBS.fetch.length), chunked: r.slice(JOBS.fetch.length, -JOBS.sdk.length), sdk: r.slice(-JOBS.sdk.length) };
  });

  it('fetch with Content-Length: 2 MiB (16 requests) and 20 MiB (6), 2 at a time, all read the 413 and its JSON', () => {
    assertAll413(JOBS.fetch, outcomes.fetch);
    for (const o of outcomes.fetch.flat()) assert.equal('connection' in o && o.connection, 'close');
  });

  it('fetch with a chunked body that grows past the limit mid-read (2 and 20 MiB)', () => {
    assertAll413(JOBS.chunked, outcomes.chunked);
  });

  it('the openai SDK: an APIError with status 413 and the code, not a connection error, at 2 and 20 MiB', () => {
    assertAll413(JOBS.sdk, outcomes.sdk);
  });

  it('afterwards the server is idle and serving', async () => {
    await until(() => ts.server.inFlight() === 0, 'in-flight back to 0 after the lingering 413s');
    // Still serving (the profile is not loaded: /health answers 503 "loading", as JSON).
    const h = await fetch(ts.base + '/health');
    assert.equal(typeof (await h.json()), 'object');
  });
});

describe('413 through curl', () => {
  const file = () => join(dir, 'body-20m.bin');
  before(async () => { await writeFile(file(), Buffer.alloc(20 * MiB, 0x63)); });

  async function curl(expect: string): Promise<{ code: number; uploaded: number; json: any }> {
    const out = join(dir, `out-${expect === '' ? 'none' : 'expect'}.json`);
    const { stdout } = await run('curl', ['-sS', '-o', out, '-w', '%{http_code} %{size_upload}', '-H', `Expect:${expect}`,
      '-H', 'content-type: application/json', '--data-binary', `@${file()}`, `${ts.base}/v1/route`]);
    const [code, uploaded] = stdout.trim().split(' ').map(Number);
    return { code, uploaded, json: JSON.parse(await readFile(out, 'utf8')) };
  }

  it('with Expect: 100-continue: the 413 before any upload (uWS has sent 100 Continue itself; both go out together)', async () => {
    for (let i = 0; i < 3; i++) {
      const r = await curl(' 100-continue');
      assert.equal(r.code, 413);
      assert.equal(r.json.error.code, 'payload_too_large');
      assert.equal(r.uploaded, 0, 'curl sent none of the body');
    }
  });

  it('without Expect: uploads the whole body, then reads the 413', async () => {
    for (let i = 0; i < 3; i++) {
      const r = await curl('');
      assert.equal(r.code, 413);
      assert.equal(r.json.error.code, 'payload_too_large');
      assert.equal(r.uploaded, 20 * MiB);
    }
  });
});

/** Polls `cond` every 10 ms; fails after 20 s (a safety net for a broken build, not a timing assertion). */
async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 2000; i++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.fail(`timed out waiting: ${what}`);
}

/**
 * A raw client that uploads without end, as fast as the socket takes it (or
 * `slowMs` apart), declared (`declared` bytes) or chunked; resolves when the
 * server closes the connection, with what it had received.
 */
function uploadForever(port: number, opts: { declared?: number; slowMs?: number }): Promise<{ received: string; sent: number }> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    const head = opts.declared !== undefined ? `content-length: ${opts.declared}` : 'transfer-encoding: chunked';
    s.write(`POST /v1/route HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n${head}\r\n\r\n`);
    const payload = Buffer.alloc(opts.slowMs !== undefined ? 1024 : 64 * 1024, 0x64);
    const frame = opts.declared !== undefined ? payload : Buffer.concat([Buffer.from(`${payload.length.toString(16)}\r\n`), payload, Buffer.from('\r\n')]);
    let sent = 0;
    let received = '';
    let timer: ReturnType<typeof setTimeout> | undefined;
    const pump = (): void => {
      if (s.destroyed) return;
      sent += payload.length;
      if (opts.slowMs !== undefined) { s.write(frame); timer = setTimeout(pump, opts.slowMs); return; }
      if (s.write(frame)) setImmediate(pump);
      else s.once('drain', pump);
    };
    s.on('data', (d) => { received += d.toString('latin1'); });
    s.on('error', () => { /* the cut itself: ECONNRESET / EPIPE are the point */ });
    s.on('close', () => { clearTimeout(timer); resolve({ received, sent }); });
    pump();
  });
}

describe('a client that uploads forever is still cut off', () => {
  it('at linger_bytes (chunked and declared), having received the 413 status line', { timeout: 60_000 }, async () => {
    const small = await startTestServer({ server: { linger_bytes: 256 * 1024, linger_ms: 600_000 } }, { load: false });
    try {
      for (const declared of [undefined, 999_999_999]) {
        const r = await uploadForever(small.server.port, { declared });
        assert.match(r.received, /^HTTP\/1\.1 413 /, `declared ${declared}: ${r.received.slice(0, 80)}`);
        assert.ok(r.sent > 256 * 1024, `sent ${r.sent}`);
      }
      await until(() => small.server.inFlight() === 0, 'in-flight back to 0 after the cut');
    } finally {
      await small.close();
    }
  });

  it('at linger_ms, for a slow uploader under the byte bound', { timeout: 60_000 }, async () => {
    const quick = await startTestServer({ server: { linger_bytes: 1024 * MiB, linger_ms: 300 } }, { load: false });
    try {
      const r = await uploadForever(quick.server.port, { declared: 100 * MiB, slowMs: 10 });
      assert.match(r.received, /^HTTP\/1\.1 413 /);
      assert.ok(r.sent < 100 * MiB, 'cut before the declared body was sent');
      await until(() => quick.server.inFlight() === 0, 'in-flight back to 0 after the cut');
    } finally {
      await quick.close();
    }
  });

  it('linger_bytes / linger_ms are validated: a bad value names the key', () => {
    for (const [key, value] of [['linger_bytes', -1], ['linger_ms', 'soon'], ['linger_ms', 10 * 60_000 + 1]] as const) {
      assert.throws(() => loadConfig({ env: {}, overrides: { server: { [key]: value } } }), (e: unknown) => e instanceof ConfigError && e.message.includes(`server.${key}`));
    }
    const d = loadConfig({ env: {} });
    assert.equal(d.server.linger_bytes, 64 * MiB);
    assert.equal(d.server.linger_ms, 5_000);
  });
});
