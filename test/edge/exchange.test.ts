/**
 * Exchange (src/edge/exchange.ts) on the wire: the status line. uWS writes
 * writeStatus()'s text verbatim after "HTTP/1.1 ", so a bare "201" gave
 * "HTTP/1.1 201" with no SP after the code, which RFC 9112's status-line
 * (HTTP-version SP status-code SP [reason-phrase]) does not allow: lenient
 * parsers (llhttp, curl) read it, strict ones refuse it.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { STATUS_CODES } from 'node:http';
import { uws, listen, closeApp } from '../../src/edge/uws.ts';
import { Exchange, Lifecycle } from '../../src/edge/exchange.ts';

const app = uws.App();
after(() => closeApp(app));
// Every status the code base sends (errors.ts, router-configs' 201) and one no table lists.
const STATUSES = [200, 201, 400, 401, 403, 404, 405, 409, 413, 422, 429, 500, 502, 503, 504, 418];
app.get('/:status', (res, req) => {
  const x = new Exchange(res, 'get', req.getUrl(), new Lifecycle());
  x.send(Number(req.getParameter(0)), '{}');
});

function statusLine(port: number, status: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => s.write(`GET /${status} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`));
    let got = '';
    s.on('data', (d) => { got += d.toString('latin1'); const i = got.indexOf('\r\n'); if (i >= 0) { s.destroy(); resolve(got.slice(0, i)); } });
    s.on('error', reject);
  });
}

describe('Exchange status line', () => {
  it('is "HTTP/1.1 <code> <reason>" for every status sent, listed or not', async () => {
    const sock = await listen(app, '127.0.0.1', 0, true);
    const port = uws.us_socket_local_port(sock as never);
    for (const st of STATUSES) {
      assert.equal(await statusLine(port, st), `HTTP/1.1 ${st} ${STATUS_CODES[st]}`, `status ${st}`);
    }
  });
});
