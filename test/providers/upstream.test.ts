import { describe, it, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { READ_AHEAD_BYTES, UpstreamClient, errorText } from '../../src/providers/upstream.ts';
import { UpstreamError, kindForNetworkError, kindForStatus } from '../../src/providers/failure.ts';
import { secrets } from '../../src/providers/redact.ts';
import { openai } from '../../src/providers/openai.ts';
import { startMockUpstream, type MockUpstream } from '../../scripts/mock-upstream.ts';
import { closedPort, openaiBackend, waitFor, OPENAI_KEY } from './helpers.ts';
import type { ChatRequest, UpstreamRequestSpec } from '../../src/providers/types.ts';

const REQ: ChatRequest = { model: 'x', messages: [{ role: 'user', content: 'hello there' }] };

describe('UpstreamClient against the mock', () => {
  let mock: MockUpstream;
  let client: UpstreamClient;
  before(async () => {
    mock = await startMockUpstream({ chunks: 5 });
    client = new UpstreamClient({ connections: 4 });
    secrets.add(OPENAI_KEY);
  });
  after(async () => { await client.close(); await mock.close(); });
  beforeEach(() => mock.resetStats());

  const spec = (req: ChatRequest, headers?: Record<string, string>): UpstreamRequestSpec => openai.buildRequest(req, openaiBackend(mock.url, 'b', 'gpt-mock', headers));
  const rejects = async (p: Promise<unknown>, kind: string, status?: number): Promise<UpstreamError> => {
    let caught: unknown;
    try { await p; } catch (e) { caught = e; }
    assert.ok(caught instanceof UpstreamError, `expected an UpstreamError, got ${String(caught)}`);
    assert.equal(caught.kind, kind, caught.message);
    if (status !== undefined) assert.equal(caught.status, status);
    return caught;
  };

  it('does a JSON call and reuses the keep-alive connection', async () => {
    for (let i = 0; i < 10; i++) {
      const res = await client.request(`${mock.url}/v1`, spec(REQ));
      assert.equal(res.status, 200);
      const j = (await res.json()) as { choices: { message: { content: string } }[]; model: string };
      assert.equal(j.model, 'gpt-mock');
      assert.equal(j.choices[0].message.content, 'This is a deterministic answer');
      assert.ok(res.ttfbMs >= 0 && res.headersMs >= 0);
    }
    const s = mock.stats();
    assert.equal(s.requests, 10);
    // undici may open a second socket while the first is still being released; never one per call.
    assert.ok(s.connections <= 2, `10 sequential calls opened ${s.connections} connections`);
  });

  it('streams SSE incrementally: chunks arrive as the mock sends them, not at the end', async () => {
    const t0 = performance.now();
    const res = await client.request(`${mock.url}/v1`, spec({ ...REQ, stream: true }, { 'x-mock-chunk-interval-ms': '40' }));
    const arrivals: number[] = [];
    let text = '';
    for await (const c of res.body) { arrivals.push(performance.now() - t0); text += Buffer.from(c).toString(); }
    assert.ok(arrivals.length >= 4, `expected several reads, got ${arrivals.length}`);
    const total = arrivals[arrivals.length - 1];
    assert.ok(total >= 150, `5 chunks at 40 ms: ${total}`);
    assert.ok(arrivals[0] < total - 100, `first chunk at ${arrivals[0]} ms of ${total} ms`);
    assert.match(text, /data: \[DONE\]\n\n$/);
  });

  it('times out before the first byte and cancels the upstream request', async () => {
    const t0 = performance.now();
    const e = await rejects(client.request(`${mock.url}/v1`, spec(REQ, { 'x-mock-latency-ms': '3000' }), { timeouts: { first_byte_ms: 100 } }), 'first_byte_timeout');
    assert.ok(performance.now() - t0 < 2500, 'gave up long before the mock\'s 3 s latency');
    assert.ok(e.retryable);
    await waitFor(() => mock.stats().aborted === 1, 2000, 'the mock to see the connection close');
  });

  it('enforces total_ms on a slow stream', async () => {
    const res = await client.request(`${mock.url}/v1`, spec({ ...REQ, stream: true }, { 'x-mock-chunk-interval-ms': '100', 'x-mock-chunks': '50' }), { timeouts: { total_ms: 300 } });
    const e = await rejects((async () => { for await (const _ of res.body); })(), 'timeout');
    assert.match(e.message, /300 ms/);
    await waitFor(() => mock.stats().aborted === 1, 2000, 'the mock to see the connection close');
  });

  it('classifies a refused connection as connect (retryable)', async () => {
    const port = await closedPort();
    const e = await rejects(client.request(`http://127.0.0.1:${port}/v1`, spec(REQ)), 'connect');
    assert.ok(e.retryable);
  });

  it('classifies 429, 5xx, 401 and other 4xx; retryable except plain 4xx', async () => {
    const cases: [string, string, boolean][] = [['429', 'rate_limited', true], ['500', 'http_5xx', true], ['503', 'http_5xx', true], ['401', 'auth', true], ['400', 'http_4xx', false], ['404', 'http_4xx', false]];
    for (const [status, kind, retryable] of cases) {
      const e = await rejects(client.request(`${mock.url}/v1`, spec(REQ, { 'x-mock-status': status })), kind, Number(status));
      assert.equal(e.retryable, retryable, status);
      assert.match(e.message, new RegExp(`^HTTP ${status}: mock: forced status ${status}$`));
    }
    assert.equal(mock.stats().aborted, 0, 'error bodies are read to the end: the connection stays reusable');
  });

  it('classifies a socket closed before any byte as network (retryable)', async () => {
    const e = await rejects(client.request(`${mock.url}/v1`, spec(REQ, { 'x-mock-fail-before-first-byte': '1' })), 'network');
    assert.ok(e.retryable);
  });

  it('a client abort mid-stream cancels the upstream request: the mock sees the connection close', async () => {
    const ac = new AbortController();
    const res = await client.request(`${mock.url}/v1`, spec({ ...REQ, stream: true }, { 'x-mock-chunk-interval-ms': '50', 'x-mock-chunks': '100' }), { signal: ac.signal });
    const it = res.body[Symbol.asyncIterator]();
    assert.equal((await it.next()).done, false);
    ac.abort();
    await rejects(it.next(), 'aborted');
    await waitFor(() => mock.stats().aborted === 1, 2000, 'the mock to see the abort');
    await waitFor(() => mock.stats().closedConnections === 1, 2000, 'the connection to close');
    assert.equal(mock.stats().completed, 0);
  });

  it('a client abort before the headers cancels too', async () => {
    const ac = new AbortController();
    const p = client.request(`${mock.url}/v1`, spec(REQ, { 'x-mock-latency-ms': '2000' }), { signal: ac.signal });
    setTimeout(() => ac.abort(), 50);
    await rejects(p, 'aborted');
    await waitFor(() => mock.stats().aborted === 1, 2000, 'the mock to see the abort');
    await rejects(client.request(`${mock.url}/v1`, spec(REQ), { signal: ac.signal }), 'aborted');
  });

  it('reads a JSON body larger than the read-ahead: bytes() resumes a paused read (regression)', async () => {
    const big = await startMockUpstream({ chunks: 60, chunkBytes: 1024 });
    try {
      const res = await client.request(`${big.url}/v1`, spec(REQ));
      // Let undici fill the read-ahead and pause before the body is asked for, as under load.
      await new Promise((r) => setTimeout(r, 50));
      const body = await Promise.race([res.bytes(), new Promise<never>((_, reject) => setTimeout(() => reject(new Error('bytes() never resolved')), 5000).unref())]);
      assert.ok(body.length > READ_AHEAD_BYTES * 2, `body of ${body.length} bytes`);
      const j = JSON.parse(body.toString()) as { choices: { message: { content: string } }[] };
      assert.equal(j.choices[0].message.content.length, 60 * 1024);
    } finally { await big.close(); }
  });

  it('bytes() stops at maxBodyBytes: bad_response, the connection dropped, deadlines freed (regression: fuzz)', async () => {
    const big = await startMockUpstream({ chunks: 60, chunkBytes: 1024 });
    const small = new UpstreamClient({ maxBodyBytes: 20_000 });
    try {
      const res = await small.request(`${big.url}/v1`, spec(REQ));
      const e = await rejects(res.bytes(), 'bad_response');
      assert.match(e.message, /larger than 20000 bytes/);
      assert.equal(small.deadlines.size, 0);
      // The default bound is far above any answer: the same body reads whole.
      assert.ok((await (await client.request(`${big.url}/v1`, spec(REQ))).bytes()).length > 60 * 1024);
    } finally { await small.close(); await big.close(); }
  });

  it('streams a body larger than the read-ahead in order, pausing and resuming the socket', async () => {
    const res = await client.request(`${mock.url}/v1`, spec({ ...REQ, stream: true }, { 'x-mock-chunks': '400' }));
    await new Promise((r) => setTimeout(r, 50));
    let text = '';
    for await (const c of res.body) text += Buffer.from(c).toString();
    assert.ok(text.length > READ_AHEAD_BYTES * 2, `${text.length} bytes`);
    assert.equal(text.match(/^data: /gm)?.length, 1 + 400 + 1 + 1 + 1, 'role, 400 content chunks, finish, usage (buildRequest asks for it), [DONE]');
    const contents = [...text.matchAll(/"content":"([^"]*)"/g)].map((m) => m[1]);
    assert.equal(contents.length, 401);
    assert.match(text, /data: \[DONE\]\n\n$/);
  });

  it('frees every deadline when calls end, whichever way', async () => {
    const res = await client.request(`${mock.url}/v1`, spec(REQ));
    await res.bytes();
    await rejects(client.request(`${mock.url}/v1`, spec(REQ, { 'x-mock-status': '500' })), 'http_5xx');
    const s = await client.request(`${mock.url}/v1`, spec({ ...REQ, stream: true }));
    for await (const _ of s.body) break;
    assert.equal(client.deadlines.size, 0);
  });

  it('never lets the API key out through an error message', async () => {
    const e = await rejects(client.request(`${mock.url}/v1`, spec(REQ, { 'x-mock-echo-key': '1' })), 'auth', 401);
    assert.ok(!e.message.includes(OPENAI_KEY), e.message);
    assert.match(e.message, /\[REDACTED\]/);
  });

  it('extracts error messages from OpenAI, Anthropic and plain bodies', () => {
    assert.equal(errorText('{"error":{"message":"bad model"}}'), 'bad model');
    assert.equal(errorText('{"type":"error","error":{"type":"x","message":"overloaded"}}'), 'overloaded');
    assert.equal(errorText('<html>502</html>'), '<html>502</html>');
    assert.equal(errorText(''), '(empty body)');
  });
});

describe('failure classification', () => {
  it('maps socket errors and statuses to kinds', () => {
    const err = (code: string) => Object.assign(new Error(code), { code });
    assert.equal(kindForNetworkError(err('ECONNREFUSED')), 'connect');
    assert.equal(kindForNetworkError(err('UND_ERR_CONNECT_TIMEOUT')), 'connect');
    assert.equal(kindForNetworkError(err('ENOTFOUND')), 'connect');
    assert.equal(kindForNetworkError(err('UND_ERR_HEADERS_TIMEOUT')), 'first_byte_timeout');
    assert.equal(kindForNetworkError(err('UND_ERR_SOCKET')), 'network');
    assert.equal(kindForNetworkError(err('ECONNRESET')), 'network');
    assert.deepEqual([429, 500, 502, 529, 401, 403, 400, 404, 422].map(kindForStatus), ['rate_limited', 'http_5xx', 'http_5xx', 'http_5xx', 'auth', 'auth', 'http_4xx', 'http_4xx', 'http_4xx']);
    // A redirect (undici does not follow it) or a 304 is a broken upstream, not a bad request: the next candidate is tried (regression: fuzz).
    assert.deepEqual([301, 302, 304, 307].map(kindForStatus), ['bad_response', 'bad_response', 'bad_response', 'bad_response']);
    assert.equal(new UpstreamError(kindForStatus(302), 'HTTP 302', 302).retryable, true);
  });
});
