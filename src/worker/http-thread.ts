/**
 * One HTTP thread: its own uWS App (edge/server.ts `serve`, the same routes as
 * the single-thread server) on the shared port, its own Engine adopting the
 * tables the main thread loaded and the process's one decision cache. Started and steered by
 * src/edge/threads.ts through bootstrap.mjs; protocol in edge/thread-protocol.ts.
 *
 * The one rule this file exists to keep: a thread must never end with uWS
 * sockets open. Node tears a worker's libuv loop down with an assertion that
 * no handle is left, and uWS's polls are; the failure is a SIGABRT of the
 * whole process, not of the thread (checked on Node 20 with this uWS build;
 * uNetworking/uWebSockets.js#324, #925). That is why the main thread never
 * calls worker.terminate() on a listening thread, and why an uncaught
 * exception here is caught: report it, drop every connection (their requests
 * are lost), then let the thread end with exit code 1 for the supervisor to
 * restart. A thread stuck in a loop cannot be ended at all; see threads.ts.
 */
import { parentPort, workerData } from 'node:worker_threads';
import diagnostics_channel from 'node:diagnostics_channel';
import { serve, type Server } from '../edge/server.ts';
import { Engine } from '../api/engine.ts';
import { CHANNEL_NAMES } from '../diagnostics.ts';
import { fromWire, type AddModelInput, type ProfileControl } from '../api/profile-control.ts';
import type { FromThread, HttpThreadData, ToThread } from '../edge/thread-protocol.ts';

const data = workerData as HttpThreadData;
const port = parentPort!;

// The config was validated and frozen in the main thread; a structured clone
// arrives unfrozen. (Not load.ts's deepFreeze: importing load.ts would compile
// the ajv schema again in every thread.)
function freeze<T>(o: T): T {
  if (typeof o === 'object' && o !== null && !Object.isFrozen(o)) { Object.freeze(o); for (const v of Object.values(o)) freeze(v); }
  return o;
}
const config = freeze(data.config);
const engine = new Engine(config, data.shared, { httpThreads: data.threads });
let served: Server | undefined;
let closing = false;

// Profile changes are the main thread's (threads.ts): this thread's handlers call it over the port.
const calls = new Map<number, { resolve: (v: any) => void; reject: (e: Error) => void }>();
let nextCall = 1;
function call<T>(m: { call: 'reload'; dir: string | undefined } | { call: 'addModel'; input: AddModelInput }): Promise<T> {
  const id = nextCall++;
  return new Promise<T>((resolve, reject) => { calls.set(id, { resolve, reject }); send({ ev: 'control', id, ...m }); });
}
engine.control = {
  reload: (dir) => call({ call: 'reload', dir }),
  addModel: (input) => call({ call: 'addModel', input }),
} satisfies ProfileControl;

function send(m: FromThread): void {
  try {
    port.postMessage(m);
  } catch {
    // An uncloneable payload (an error holding functions): send its text instead.
    if (m.ev === 'crashed') port.postMessage({ ev: 'crashed', error: String(m.error) } satisfies FromThread);
    if (m.ev === 'diag') port.postMessage({ ev: 'diag', channel: m.channel, message: { error: String((m.message as { error?: unknown })?.error) } } satisfies FromThread);
  }
}

// Unexpected errors are logged by the main thread's subscribers (src/log.ts).
diagnostics_channel.subscribe(CHANNEL_NAMES.internalError, (message) => send({ ev: 'diag', channel: 'internalError', message }));

process.on('uncaughtException', (error) => {
  send({ ev: 'crashed', error });
  served?.drop();
  served = undefined;
  process.exitCode = 1;
  port.close();
});

async function onMessage(m: ToThread): Promise<void> {
  switch (m.op) {
    case 'listen':
      try {
        served = await serve(config, engine, { port: m.port, exclusive: false, thread: data.index, threads: data.threads, inFlightSlot: { counts: data.inFlight, slot: data.index } });
        if (closing) { await served.close({ timeoutMs: 0 }); return; }
        send({ ev: 'listening' });
      } catch (e) {
        send({ ev: 'listen-failed', message: (e as Error).message });
      }
      return;
    case 'load':
      engine.load(m.tables).then(() => send({ ev: 'loaded' }), (e: Error) => send({ ev: 'load-failed', message: e.message }));
      return;
    case 'swap':
      // A thread still loading (restarted meanwhile) adopts the new tables as its first.
      (engine.ready ? engine.swap(m.tables) : engine.load(m.tables)).then(() => send({ ev: 'swapped' }), (e: Error) => send({ ev: 'swap-failed', message: e.message }));
      return;
    case 'control-reply': {
      const c = calls.get(m.id);
      calls.delete(m.id);
      if (m.ok) c?.resolve(m.value);
      else c?.reject(fromWire(m.error));
      return;
    }
    case 'drop':
      served?.drop();
      return;
    case 'fail':
      if (engine.status === 'loading') { engine.status = 'failed'; engine.error = new Error(m.message); }
      return;
    case 'close': {
      closing = true;
      const r = served ? await served.close({ timeoutMs: m.timeoutMs }) : (await engine.close(), { drained: true });
      send({ ev: 'closed', drained: r.drained });
      // Nothing of ours is left on the loop: closing the port lets the thread end.
      port.close();
    }
  }
}

port.on('message', (m: ToThread) => { void onMessage(m); });
send({ ev: 'booted' });
