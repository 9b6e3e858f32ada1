/**
 * scripts/fetch-model.ts as a user runs it (child process): the unreachable
 * Hub fails with one readable paragraph and exit 1, never a stack trace; a
 * local HTTP server stands in for the Hub to check the happy path and HTTP errors.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const SCRIPT = fileURLToPath(new URL('../../scripts/fetch-model.ts', import.meta.url));
const REPO = 'sentence-transformers/all-MiniLM-L6-v2';

function run(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolveRun) => {
    // Async spawn, not spawnSync: the fake Hub lives in this process's event loop.
    const { HF_ENDPOINT: _ignored, ...inherited } = process.env; // a developer's mirror must not leak in
    const child = spawn(process.execPath, ['--import', 'tsx', SCRIPT, ...args], {
      env: { ...inherited, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '', stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    child.on('close', (code) => resolveRun({ code, stdout, stderr }));
  });
}

/** A port nothing listens on: bind an ephemeral port, then free it. */
async function closedPort(): Promise<number> {
  const s = createNetServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

const NO_STACK = /^\s+at .+[:(]/m;

let tmp = '';
before(async () => { tmp = await mkdtemp(join(tmpdir(), 'switchyard-fetch-')); });
after(async () => { await rm(tmp, { recursive: true, force: true }); });

describe('fetch-model with the Hub unreachable', () => {
  for (const via of ['--base-url', 'HF_ENDPOINT'] as const) {
    it(`exits 1 with a clear paragraph and no stack trace (${via})`, async () => {
      const base = `http://127.0.0.1:${await closedPort()}`;
      const out = join(tmp, `unreachable-${via}`, 'model');
      const r = via === '--base-url'
        ? await run(['--base-url', base, '--out', out])
        : await run(['--out', out], { HF_ENDPOINT: base });
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, new RegExp(`could not reach ${base.replace(/\./g, '\\.')} while fetching model\\.onnx \\(ECONNREFUSED`));
      assert.match(r.stderr, /the native embedder is the default and needs no download/);
      assert.match(r.stderr, /copy them into .*model\//);
      assert.doesNotMatch(r.stderr, NO_STACK);
      await assert.rejects(readdir(out), /ENOENT/, 'no empty directory left behind');
    });
  }

  it('--help exits 0 with usage', async () => {
    const r = await run(['--help']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /--base-url URL/);
  });
});

describe('fetch-model against a local stand-in Hub', () => {
  let server: Server;
  let base = '';
  const requests: string[] = [];
  const body = (path: string) => `contents of ${path}\n`.repeat(path.endsWith('.onnx') ? 10_000 : 1);
  let missing = '';

  before(async () => {
    server = createServer((req, res) => {
      requests.push(req.url!);
      const prefix = `/${REPO}/resolve/main/`;
      const path = req.url!.startsWith(prefix) ? req.url!.slice(prefix.length) : '';
      if (!path || path === missing) { res.writeHead(404).end('not found'); return; }
      const b = body(path);
      res.writeHead(200, { 'content-length': Buffer.byteLength(b) }).end(b);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => { await new Promise((r) => server.close(r)); });

  it('downloads every file, renames model.onnx out of onnx/, leaves no .part files, skips on rerun', async () => {
    const out = join(tmp, 'ok');
    const r = await run(['--base-url', base, '--out', out]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual((await readdir(out)).sort(),
      ['config.json', 'model.onnx', 'special_tokens_map.json', 'tokenizer.json', 'tokenizer_config.json']);
    assert.equal(await readFile(join(out, 'model.onnx'), 'utf8'), body('onnx/model.onnx'));
    assert.equal(await readFile(join(out, 'tokenizer.json'), 'utf8'), body('tokenizer.json'));
    requests.length = 0;
    const again = await run(['--base-url', base, '--out', out]);
    assert.equal(again.code, 0);
    assert.equal(requests.length, 0, 'nothing re-downloaded');
    assert.match(again.stderr, /already present/);
  });

  it('an HTTP error exits 1 naming the URL and status, without a stack trace', async () => {
    missing = 'tokenizer_config.json';
    const out = join(tmp, 'http-404');
    const r = await run(['--base-url', base, '--out', out]);
    missing = '';
    assert.equal(r.code, 1);
    assert.match(r.stderr, /resolve\/main\/tokenizer_config\.json answered HTTP 404/);
    assert.doesNotMatch(r.stderr, NO_STACK);
    assert.ok(!(await readdir(out)).some((f) => f.endsWith('.part')));
  });
});
