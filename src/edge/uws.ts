/**
 * The one import of uWebSockets.js in the code base.
 *
 * The package (an npm alias of @trufflesuite/uws-js-unofficial) silently falls
 * back to a pure-JS implementation on top of node:http when no prebuilt binary
 * matches this Node ABI, or when UWS_USE_FALLBACK is set. The fallback works,
 * at roughly half the throughput (STYLE.md: uWS ~2x node:http here), and would
 * quietly void every performance claim; so it is detected once here, reported
 * on /health as `uws_native`, and announced on the diagnostics channel (main
 * logs it loudly).
 *
 * Loaded through createRequire: it is CommonJS, and this keeps the native
 * module's identity the same whoever imports this file.
 */
import { createRequire } from 'node:module';
import type * as Uws from 'uWebSockets.js';

const require = createRequire(import.meta.url);

export const uws: typeof Uws = require('uWebSockets.js');

export type { HttpRequest, HttpResponse, TemplatedApp, us_listen_socket } from 'uWebSockets.js';

/** True when App is the C++ binding (its source reads `[native code]`), false for the JS fallback. */
export function isNativeUws(mod: { App: unknown } = uws): boolean {
  return typeof mod.App === 'function' && /\{\s*\[native code\]\s*\}/.test(Function.prototype.toString.call(mod.App));
}

export const UWS_NATIVE = isNativeUws();

/** Listen flag: no SO_REUSEPORT. Exported by the binding at top level; the .d.ts only has it inside an enum. */
export const LISTEN_EXCLUSIVE_PORT: number = (uws as unknown as { LIBUS_LISTEN_EXCLUSIVE_PORT?: number }).LIBUS_LISTEN_EXCLUSIVE_PORT ?? 1;

/**
 * `exclusive`: LIBUS_LISTEN_EXCLUSIVE_PORT, no SO_REUSEPORT, so a second
 * process cannot silently share the port. Otherwise uWS's default, SO_REUSEPORT:
 * what the Apps of several HTTP threads need to share one port (the kernel
 * spreads connections over them), and what src/edge/threads.ts guards with an
 * exclusive check first. The (host, port, options, cb) overload exists on the
 * binding but not in the bundled .d.ts.
 */
export function listen(app: Uws.TemplatedApp, host: string, port: number, exclusive: boolean): Promise<Uws.us_listen_socket> {
  type Listen4 = (host: string, port: number, options: number, cb: (s: Uws.us_listen_socket | false) => void) => void;
  return new Promise((resolve, reject) => {
    (app.listen as unknown as Listen4).call(app, host, port, exclusive ? LISTEN_EXCLUSIVE_PORT : 0, (s) =>
      (s ? resolve(s) : reject(new Error(`cannot listen on ${host}:${port} (address in use or not available)`))));
  });
}

/** App.close(): closes its listen sockets and drops every connection (their onAborted run). On the binding, missing from the bundled .d.ts. */
export function closeApp(app: Uws.TemplatedApp): void {
  (app as unknown as { close?: () => void }).close?.();
}
