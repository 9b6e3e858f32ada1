/**
 * server.threads: 2 — a router-config change made through one HTTP thread
 * is used by the other on its very next request, without a restart: each
 * thread has its own Engine and compiled configs, and the generation counter
 * in shared memory (router-config-registry.ts) tells the other to reload.
 * Connections stay on the thread that accepted them, so one undici Client
 * (one connection) per slot, and /health says which thread a connection is on.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Client } from 'undici';
import { UWS_NATIVE } from '../../src/edge/uws.ts';
import { echoModels, startEcho, startRig, type Echo, type Rig } from './helpers.ts';

let echo: Echo;
let rig: Rig;
const clients: Client[] = [];
before(async () => {
  echo = await startEcho();
  rig = await startRig(echoModels(echo), { server: { threads: 2 } });
});
after(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await rig.close();
  await echo.close();
});

async function req(c: Client, method: 'GET' | 'POST' | 'PATCH', path: string, body?: unknown): Promise<{ status: number; json: any }> {
  const r = await c.request({ method, path, headers: { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.body.text();
  return { status: r.statusCode, json: JSON.parse(text) };
}

describe('a change through thread A is used by thread B', { skip: !UWS_NATIVE && 'server.threads needs the native uWS build' }, () => {
  it('every connection, on either thread, answers with the new version right after the 200', async () => {
    const byThread = new Map<number, Client[]>();
    for (let i = 0; i < 64 && (byThread.size < 2 || clients.length < 8); i++) {
      const c = new Client(rig.base, { pipelining: 1, connections: 1 } as never);
      clients.push(c);
      const h = await req(c, 'GET', '/health');
      assert.equal(h.json.threads, 2);
      const list = byThread.get(h.json.thread) ?? [];
      list.push(c);
      byThread.set(h.json.thread, list);
    }
    assert.equal(byThread.size, 2, 'connections landed on both threads');

    // Both threads load and compile the config first, so a stale copy would be there to serve.
    for (const c of clients) {
      const r = await req(c, 'POST', '/api/v1/route-model', { input: 'hi there', configName: 'labels' });
      assert.equal(r.status, 200);
      assert.equal(r.json.configVersion, 1);
      assert.equal(r.json.model, 'gpt-4o-mini');
    }
    const [a] = byThread.get(0)!;
    const p = await req(a, 'PATCH', '/v1/router-configs/labels', { default_model: 'gpt-4o' });
    assert.equal(p.status, 200);
    assert.equal(p.json.version, 2);
    for (const [thread, list] of byThread) {
      for (const c of list) {
        const r = await req(c, 'POST', '/api/v1/route-model', { input: 'hi there', configName: 'labels' });
        assert.equal(r.json.configVersion, 2, `thread ${thread}`);
        assert.equal(r.json.model, 'gpt-4o', `thread ${thread}`);
      }
    }
    // And back through thread B, seen on thread A.
    const [b] = byThread.get(1)!;
    assert.equal((await req(b, 'PATCH', '/v1/router-configs/labels', { default_model: 'gpt-4o-mini' })).json.version, 3);
    for (const c of byThread.get(0)!) assert.equal((await req(c, 'POST', '/api/v1/route-model', { input: 'hi', configName: 'labels' })).json.configVersion, 3);
  });
});
