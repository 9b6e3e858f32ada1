/**
 * The baseline: a bare uWebSockets.js server that reads the request body (so a
 * large POST costs it the same socket work) and answers a fixed small JSON body.
 * Run as its own process by the HTTP benchmark: node --import tsx bench/lib/bare-uws.ts PORT
 */
import uws from 'uWebSockets.js';

const port = Number(process.argv[2] ?? 0);
const BODY = '{"selected_model":"bare","cluster_id":0}';
uws.App()
  .any('/*', (res) => {
    res.onAborted(() => { res.aborted = true; });
    res.onData((_chunk, last) => {
      if (!last || res.aborted) return;
      res.cork(() => { res.writeHeader('content-type', 'application/json').end(BODY); });
    });
  })
  .listen('127.0.0.1', port, (sock) => {
    if (!sock) { console.error(`bare-uws: cannot listen on ${port}`); process.exit(1); }
    console.log(`listening ${uws.us_socket_local_port(sock)}`);
  });
