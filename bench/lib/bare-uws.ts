/**
 * The baseline: a bare uWebSockets.js server that reads the request body (so a
 * large POST costs it the same socket work) and answers a fixed small JSON body.
 * Run as its own process by the HTTP benchmark:
 *   node --import tsx bench/lib/bare-uws.ts PORT [THREADS]
 * THREADS > 1: one App per worker thread on the port (SO_REUSEPORT), the same
 * layout as Switchyard's server.threads, for context next to the 1-thread
 * baseline the targets are defined against.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type * as Uws from 'uWebSockets.js';

const require = createRequire(import.meta.url);
const UWS_PATH = require.resolve('uWebSockets.js');

/** Plain JS once tsx has compiled it: also shipped to worker threads as source (eval), so it must stay self-contained. */
function serve(uws: typeof Uws, port: number, onListen: (port: number) => void): () => void {
  const BODY = '{"selected_model":"bare","cluster_id":0}';
  // The handler is the one the 1-thread baseline numbers were measured with; keep it as is.
  const app = uws.App().any('/*', (res: Uws.HttpResponse & { aborted?: boolean }) => {
    res.onAborted(() => { res.aborted = true; });
    res.onData((_chunk, last) => {
      if (!last || res.aborted) return;
      res.cork(() => { res.writeHeader('content-type', 'application/json').end(BODY); });
    });
  });
  let sock: Uws.us_listen_socket | false = false;
  app.listen('127.0.0.1', port, (s) => {
    sock = s;
    if (!s) { console.error(`bare-uws: cannot listen on ${port}`); process.exit(1); }
    onListen(uws.us_socket_local_port(s));
  });
  // A worker must close its sockets before it ends, or Node aborts the process (see src/worker/http-thread.ts).
  return () => { if (sock) uws.us_listen_socket_close(sock); (app as unknown as { close(): void }).close(); };
}

const port = Number(process.argv[2] ?? 0);
const threads = Number(process.argv[3] ?? 1);
if (threads <= 1) {
  serve(require(UWS_PATH), port, (p) => console.log(`listening ${p}`));
} else {
  const code = `const { parentPort, workerData } = require('node:worker_threads');
const stop = (${serve.toString()})(require(${JSON.stringify(UWS_PATH)}), workerData.port, () => parentPort.postMessage('up'));
parentPort.once('message', () => { stop(); parentPort.close(); });`;
  const workers = Array.from({ length: threads }, () => new Worker(code, { eval: true, workerData: { port } }));
  let up = 0;
  for (const w of workers) w.on('message', () => { if (++up === threads) console.log(`listening ${port} (${threads} threads)`); });
  const stop = () => { for (const w of workers) w.postMessage('stop'); };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}
