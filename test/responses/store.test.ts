/**
 * The create handler and the store, called directly (no HTTP) with an
 * in-memory ResponseStore: put() is awaited before the 200 and before
 * response.completed; what is stored (the response text as sent, the input
 * items, the chain's messages); store: false never writes; a failing store is
 * 503 store_unavailable (JSON) or response.failed (stream), its message
 * (which names file paths) kept from the client.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import diagnostics_channel from 'node:diagnostics_channel';
import { ApiError, errorReply } from '../../src/errors.ts';
import { CHANNEL_NAMES } from '../../src/diagnostics.ts';
import { handleCreateResponse, handleDeleteResponse, handleGetResponse, handleListInputItems } from '../../src/api/responses.ts';
import type { StoredResponse } from '../../src/store/types.ts';
import type { Gateway } from '../gateway/helpers.ts';
import { MemoryStore, RecordingSink, openaiModel, sseEvents, startMocks, startResponsesGateway, type Mocks } from './helpers.ts';

let mocks: Mocks;
let gw: Gateway;
before(async () => {
  mocks = await startMocks({ chunks: 3 });
  gw = await startResponsesGateway({ models: [openaiModel('gpt-4-1106-preview', mocks.oa)] });
});
after(async () => { await gw.close(); await mocks.close(); });

/** put() resolves only when release() is called. */
class HeldStore extends MemoryStore {
  private held: (() => void)[] = [];
  putStarted = 0;
  override async put(r: StoredResponse): Promise<void> {
    this.putStarted++;
    await new Promise<void>((res) => this.held.push(res));
    return super.put(r);
  }
  release(): void { for (const r of this.held.splice(0)) r(); }
}

const body = (o: Record<string, unknown>) => Buffer.from(JSON.stringify({ model: 'gpt-4-1106-preview', input: 'hello', ...o }));
const until = async (f: () => boolean) => { while (!f()) await new Promise((r) => setTimeout(r, 5)); };

describe('POST /v1/responses and the store', () => {
  it('JSON: the 200 waits for put(); the stored row is the response as sent, its input items and its messages', async () => {
    const store = new HeldStore();
    const sink = new RecordingSink();
    const done = handleCreateResponse(body({ instructions: 'sys', metadata: { a: '1' } }), gw.server.engine, store, sink, 'req_test1');
    await until(() => store.putStarted === 1);
    assert.equal(sink.ended, false, 'answered before the store had the response');
    store.release();
    await done;
    assert.equal(sink.status, 200);
    const r = JSON.parse(sink.body);
    assert.equal(r.switchyard.request_id, 'req_test1');
    const row = store.rows.get(`default\0${r.id}`)!;
    assert.ok(row);
    assert.equal(row.response, sink.body);
    assert.equal(row.createdAt, r.created_at);
    assert.equal(row.previousResponseId, null);
    const items = JSON.parse(row.inputItems);
    assert.equal(items.length, 1);
    assert.equal(items[0].content[0].text, 'hello');
    // Instructions are not part of the chain (OpenAI does not carry them over).
    assert.deepEqual(JSON.parse(row.messages), [{ role: 'user', content: 'hello' }, { role: 'assistant', content: r.output[0].content[0].text }]);
    assert.equal(await handleGetResponse(r.id, store), sink.body);
    assert.equal(JSON.parse(await handleListInputItems(r.id, '', store)).data[0].id, items[0].id);
  });

  it('stream: response.completed waits for put(); everything before it has gone out', async () => {
    const store = new HeldStore();
    const sink = new RecordingSink();
    const done = handleCreateResponse(body({ stream: true }), gw.server.engine, store, sink);
    await until(() => store.putStarted === 1);
    assert.ok(!sink.frames.includes('response.completed'));
    store.release();
    await done;
    const events = sseEvents(sink.frames);
    const last = events[events.length - 1].data;
    assert.equal(last.type, 'response.completed');
    const row = store.rows.get(`default\0${last.response.id}`)!;
    assert.deepEqual(JSON.parse(row.response), last.response);
  });

  it('store: false never writes (JSON and stream)', async () => {
    const store = new MemoryStore();
    store.failing = true; // would turn any write into an error
    for (const stream of [false, true]) {
      const sink = new RecordingSink();
      await handleCreateResponse(body({ store: false, stream }), gw.server.engine, store, sink);
      assert.equal(sink.status, 200);
      if (stream) assert.equal(sseEvents(sink.frames).at(-1)!.data.type, 'response.completed');
    }
    assert.equal(store.puts, 0);
  });

  it('a failing store: 503 store_unavailable without the store\'s message (JSON), response.failed (stream), 503 on reads', async () => {
    const store = new MemoryStore();
    store.failing = true;
    await assert.rejects(async () => handleCreateResponse(body({}), gw.server.engine, store, new RecordingSink()), (e: unknown) => {
      assert.ok(e instanceof ApiError && e.code === 'store_unavailable' && e.status === 503, String(e));
      const reply = errorReply(e, 'openai');
      assert.ok(!reply.body.includes('/nowhere'), reply.body);
      return true;
    });
    const sink = new RecordingSink();
    await handleCreateResponse(body({ stream: true }), gw.server.engine, store, sink);
    const last = sseEvents(sink.frames).at(-1)!.data;
    assert.equal(last.type, 'response.failed');
    assert.equal(last.response.error.code, 'store_unavailable');
    assert.ok(!sink.frames.includes('/nowhere'));
    for (const call of [
      () => handleCreateResponse(body({ previous_response_id: 'resp_x' }), gw.server.engine, store, new RecordingSink()),
      () => handleGetResponse('resp_x', store),
      () => handleDeleteResponse('resp_x', store),
      () => handleListInputItems('resp_x', '', store),
    ]) await assert.rejects(async () => call(), (e: unknown) => e instanceof ApiError && e.code === 'store_unavailable');
  });

  it('a continuation sends the chain\'s messages and records its predecessor', async () => {
    const store = new MemoryStore();
    const s1 = new RecordingSink();
    await handleCreateResponse(body({ input: 'one' }), gw.server.engine, store, s1);
    const id1 = JSON.parse(s1.body).id;
    const s2 = new RecordingSink();
    await handleCreateResponse(body({ input: 'two', previous_response_id: id1 }), gw.server.engine, store, s2);
    const r2 = JSON.parse(s2.body);
    assert.equal(r2.previous_response_id, id1);
    const row = store.rows.get(`default\0${r2.id}`)!;
    assert.equal(row.previousResponseId, id1);
    assert.deepEqual(JSON.parse(row.messages).map((m: { content: string }) => m.content), ['two', r2.output[0].content[0].text]);
  });

  it('every create that reached the gateway is published on switchyard:responses:created', async () => {
    const seen: any[] = [];
    const on = (m: unknown) => seen.push(m);
    diagnostics_channel.subscribe(CHANNEL_NAMES.responseCreated, on);
    try {
      const store = new MemoryStore();
      const s1 = new RecordingSink();
      await handleCreateResponse(body({}), gw.server.engine, store, s1);
      await handleCreateResponse(body({ stream: true, store: false }), gw.server.engine, store, new RecordingSink());
      assert.equal(seen.length, 2);
      assert.deepEqual([seen[0].id, seen[0].model, seen[0].status, seen[0].stream, seen[0].stored, seen[0].reason], [JSON.parse(s1.body).id, 'gpt-4-1106-preview', 200, false, true, 'explicit']);
      assert.deepEqual([seen[1].status, seen[1].stream, seen[1].stored], [200, true, false]);
      assert.ok(seen.every((m) => m.ms >= 0 && Array.isArray(m.attempts) && m.attempts.length === 1));
    } finally {
      diagnostics_channel.unsubscribe(CHANNEL_NAMES.responseCreated, on);
    }
  });
});
