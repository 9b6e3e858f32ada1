import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SseParser, parseSseBuffer, type SseEvent } from '../../src/streaming/sse-parser.ts';
import { formatSse, sseData, sseDataBatch, sseComment, sseError, SSE_DONE } from '../../src/streaming/sse-writer.ts';
import { mulberry32 } from '../../src/seeded-random.ts';

const enc = new TextEncoder();


function parseChunked(buf: Uint8Array, cuts: number[]): SseEvent[] {
  const p = new SseParser();
  const out: SseEvent[] = [];
  let prev = 0;
  for (const c of [...cuts, buf.length]) { p.push(buf.subarray(prev, c), out); prev = c; }
  p.end();
  return out;
}

// Every rule at least once; multi-byte characters (2, 3 and 4 bytes) and all three line endings.
const STREAM =
  '\uFEFF' +
  ': a comment line\n' +
  'data: héllo\n\n' +
  'event: update\r\nid: 7\r\ndata: line one\r\ndata:line two\r\n\r\n' +
  'data: 漢字 and 🎉\rdata\r\r' +
  'retry: 1500\nretry: 12x\nunknown: field\ndata: after retry\n\n' +
  'id: has\u0000nul\ndata: keeps id 7\n\n' +
  'id\nevent: empty-id\ndata:\n\n' +
  'event: no-data\n\n' +
  'data:  two spaces\n\n' +
  'data: \uFEFFinner bom\n\n' +
  'data: {"choices":[{"delta":{"content":"x"}}]}\n\n' +
  'data: [DONE]\n\n' +
  'data: incomplete event is discarded\n';

const EXPECTED: SseEvent[] = [
  { event: 'message', data: 'héllo', id: '' },
  { event: 'update', data: 'line one\nline two', id: '7' },
  { event: 'message', data: '漢字 and 🎉\n', id: '7' },
  { event: 'message', data: 'after retry', id: '7' },
  { event: 'message', data: 'keeps id 7', id: '7' },
  { event: 'empty-id', data: '', id: '' },
  { event: 'message', data: ' two spaces', id: '' },
  { event: 'message', data: '\uFEFFinner bom', id: '' },
  { event: 'message', data: '{"choices":[{"delta":{"content":"x"}}]}', id: '' },
  { event: 'message', data: '[DONE]', id: '' },
];

describe('SseParser', () => {
  const buf = enc.encode(STREAM);

  it('parses a whole buffer by the WHATWG rules', () => {
    const p = new SseParser();
    const out: SseEvent[] = [];
    p.push(buf, out);
    assert.deepEqual(out, EXPECTED);
    assert.equal(p.retryMs, 1500);
  });

  it('gives the same events for 500 seeded random chunkings', () => {
    const whole = parseSseBuffer(buf);
    for (let seed = 1; seed <= 500; seed++) {
      const rand = mulberry32(seed);
      const nCuts = 1 + Math.floor(rand() * 40);
      const cuts = Array.from({ length: nCuts }, () => Math.floor(rand() * buf.length)).sort((x, y) => x - y);
      assert.deepEqual(parseChunked(buf, cuts), whole, `seed ${seed}, cuts ${cuts.join(',')}`);
    }
  });

  it('gives the same events one byte at a time (every UTF-8 split, CR|LF split, BOM split)', () => {
    const cuts = Array.from({ length: buf.length - 1 }, (_, k) => k + 1);
    assert.deepEqual(parseChunked(buf, cuts), EXPECTED);
  });

  it('treats CR then LF in the next chunk as one line ending', () => {
    const b = enc.encode('data: a\r\n\r\ndata: b\r\n\r\n');
    // Cut right after each CR.
    const cuts = [...b.keys()].filter((k) => b[k] === 0x0d).map((k) => k + 1);
    assert.deepEqual(parseChunked(b, cuts).map((x) => x.data), ['a', 'b']);
  });

  it('handles empty chunks and a stream that is only a partial BOM', () => {
    const p = new SseParser();
    const out: SseEvent[] = [];
    p.push(new Uint8Array(0), out);
    p.push(new Uint8Array([0xef]), out);
    p.push(new Uint8Array(0), out);
    p.push(new Uint8Array([0xbb, 0xbf]), out);
    p.push(enc.encode('data: x\n\n'), out);
    assert.deepEqual(out, [{ event: 'message', data: 'x', id: '' }]);
  });

  it('keeps bytes that only looked like the start of a BOM', () => {
    const b = new Uint8Array([0xef, 0xbb, ...enc.encode('data: y\n\n')]);
    const out = parseChunked(b, [1, 2]);
    assert.equal(out.length, 0, 'the line begins with two stray bytes, so its field name is not "data"');
    const b2 = enc.encode('\u00e9data: z\n\n'); // é = C3 A9: not EF, BOM check fails on the first byte
    assert.equal(parseSseBuffer(b2).length, 0);
  });

  it('handles a very long data line split over many chunks', () => {
    const long = 'é'.repeat(50_000);
    const b = enc.encode(`data: ${long}\n\n`);
    const cuts = Array.from({ length: 200 }, (_, k) => Math.floor(((k + 1) * b.length) / 201));
    assert.deepEqual(parseChunked(b, cuts), [{ event: 'message', data: long, id: '' }]);
  });

  it('accepts Node Buffers (what undici yields)', () => {
    const out: SseEvent[] = [];
    new SseParser().push(Buffer.from('event: ping\ndata: {}\n\n'), out);
    assert.deepEqual(out, [{ event: 'ping', data: '{}', id: '' }]);
  });

  it('bounds a line, and an event\'s data, at maxEventBytes: a broken upstream cannot grow the buffer forever (regression: fuzz)', () => {
    const p = new SseParser(100);
    const out: SseEvent[] = [];
    p.push(enc.encode('data: ' + 'x'.repeat(60)), out);
    assert.throws(() => p.push(enc.encode('y'.repeat(60)), out), /longer than 100 bytes/);
    const q = new SseParser(100);
    assert.throws(() => q.push(enc.encode('data: 0123456789\n'.repeat(20)), out), /longer than 100 characters/);
    // Within the bound: parsed as ever, including a line split over chunks.
    const r = new SseParser(100);
    r.push(enc.encode('data: ' + 'z'.repeat(40)), out);
    r.push(enc.encode('z'.repeat(40) + '\n\n'), out);
    assert.equal(out.at(-1)?.data, 'z'.repeat(80));
  });
});

describe('SSE writer', () => {
  it('round-trips through the parser', () => {
    const s = formatSse({ event: 'x', id: '3', retry: 10, data: 'a\nb\r\nc\rd' }) + sseData('{"k":1}') + sseComment('keep\nalive') + SSE_DONE;
    assert.deepEqual(parseSseBuffer(enc.encode(s)), [
      { event: 'x', data: 'a\nb\nc\nd', id: '3' },
      { event: 'message', data: '{"k":1}', id: '3' },
      { event: 'message', data: '[DONE]', id: '3' },
    ]);
  });

  it('formats data lines and errors', () => {
    assert.equal(sseData('{}'), 'data: {}\n\n');
    assert.equal(sseDataBatch(['1', '2']), 'data: 1\n\ndata: 2\n\n');
    const ev = parseSseBuffer(enc.encode(sseError({ message: 'boom' })));
    assert.deepEqual(JSON.parse(ev[0].data), { error: { message: 'boom', type: 'upstream_error', code: null } });
  });
});
