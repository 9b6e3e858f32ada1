/**
 * The floor for a gateway: a bare uWebSockets.js server that forwards every
 * POST to the upstream with an undici Pool (keep-alive) and sends the answer
 * back whole, with nothing else: no parsing, no routing, no validation, no
 * backpressure handling, no headers of its own. It pays exactly the extra
 * loopback hop and one uWS + undici pass, so "Switchyard minus bare proxy" is
 * what Switchyard's own work costs, measured side by side in one run.
 * Run as its own process by bench/gateway.ts:
 *   node --import tsx bench/lib/bare-proxy.ts PORT UPSTREAM_ORIGIN
 */
import { createRequire } from 'node:module';
import { Pool } from 'undici';
import type * as Uws from 'uWebSockets.js';

const uws = createRequire(import.meta.url)('uWebSockets.js') as typeof Uws;
const port = Number(process.argv[2] ?? 0);
const upstream = new Pool(process.argv[3] ?? 'http://127.0.0.1:8081', { connections: 256, pipelining: 1 });

const app = uws.App().post('/*', (res, req) => {
  const path = req.getUrl();
  const ct = req.getHeader('content-type') || 'application/json';
  let aborted = false;
  res.onAborted(() => { aborted = true; });
  const parts: Buffer[] = [];
  res.onData((chunk, last) => {
    parts.push(Buffer.from(chunk.slice(0)));
    if (!last) return;
    upstream.request({ method: 'POST', path, headers: { 'content-type': ct }, body: Buffer.concat(parts) }).then(async ({ statusCode, headers, body }) => {
      // Whole answer, one sized write, as Switchyard sends a JSON answer. (Only JSON
      // is measured through this proxy: bench/gateway.ts says why not streams.)
      const all = Buffer.from(await body.arrayBuffer());
      if (!aborted) res.cork(() => res.writeStatus(String(statusCode)).writeHeader('content-type', String(headers['content-type'] ?? 'application/json')).end(all));
    }, (e: Error) => { if (!aborted) res.cork(() => res.writeStatus('502').end(e.message)); });
  });
});
app.listen('127.0.0.1', port, (s) => {
  if (!s) { console.error(`bare-proxy: cannot listen on ${port}`); process.exit(1); }
  console.log(`listening ${uws.us_socket_local_port(s)}`);
});
process.once('SIGTERM', () => process.exit(0));
