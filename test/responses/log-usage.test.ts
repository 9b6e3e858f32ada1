/**
 * The token usage of a POST /v1/responses reaches switchyard:org:request (the
 * activity log row, per-organisation token metrics, the token rate limit's
 * settlement) for a streamed answer as for a JSON one, as on chat. The
 * streamed paths used to publish usage null: a streamed response was never
 * counted in tokens, and its token estimate was never corrected.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import diagnostics_channel from 'node:diagnostics_channel';
import { CHANNEL_NAMES } from '../../src/diagnostics.ts';
import type { Gateway } from '../gateway/helpers.ts';
import { openaiModel, startMocks, startResponsesGateway, type Mocks } from './helpers.ts';

interface Row { requestId: string; endpoint: string; status: number; promptTokens: number | null; completionTokens: number | null }

let mocks: Mocks;
let gw: Gateway;
const rows: Row[] = [];
const onRow = (m: unknown) => { const r = (m as { row?: Row }).row; if (r) rows.push(r); };
before(async () => {
  diagnostics_channel.subscribe(CHANNEL_NAMES.orgRequest, onRow);
  mocks = await startMocks({ chunks: 3 });
  // One HTTP thread: the rows are published on the thread that served the request, this one.
  gw = await startResponsesGateway({ models: [openaiModel('gpt-4-1106-preview', mocks.oa)] }, { server: { threads: 1 } });
});
after(async () => { diagnostics_channel.unsubscribe(CHANNEL_NAMES.orgRequest, onRow); await gw.close(); await mocks.close(); });

async function create(stream: boolean, store: boolean, id: string): Promise<Row> {
  const r = await fetch(`${gw.base}/v1/responses`, {
    method: 'POST', headers: { 'content-type': 'application/json', 'x-request-id': id },
    body: JSON.stringify({ model: 'gpt-4-1106-preview', input: 'count my tokens', stream, store }),
  });
  assert.equal(r.status, 200);
  await r.text();
  for (let i = 0; i < 200 && !rows.some((x) => x.requestId === id); i++) await new Promise((res) => setTimeout(res, 10));
  const row = rows.find((x) => x.requestId === id);
  assert.ok(row, `a row for ${id}`);
  return row;
}

describe('POST /v1/responses usage on switchyard:org:request', () => {
  it('a streamed response carries the same token counts as a JSON one (store on and off)', async () => {
    const json = await create(false, true, 'usage-json');
    assert.equal(json.endpoint, '/v1/responses');
    assert.ok(json.promptTokens !== null && json.promptTokens > 0, `JSON prompt tokens: ${json.promptTokens}`);
    for (const store of [true, false]) {
      const s = await create(true, store, `usage-stream-${store}`);
      assert.equal(s.status, 200);
      assert.equal(s.promptTokens, json.promptTokens, `streamed (store ${store}) prompt tokens`);
      assert.ok(s.completionTokens !== null && s.completionTokens > 0, `streamed (store ${store}) completion tokens: ${s.completionTokens}`);
    }
  });
});
