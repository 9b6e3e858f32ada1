/**
 * The process's console output: a subscriber to the lifecycle channels in
 * src/diagnostics.ts. Per-request logging is deliberately absent (it would cost
 * more than routing does); subscribe to switchyard:http:response for that.
 */
import diagnostics_channel from 'node:diagnostics_channel';
import { CHANNEL_NAMES } from './diagnostics.ts';

type Msg = Record<string, any>;

export function attachConsoleLog(write: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): () => void {
  const subs: [string, (m: unknown) => void][] = [
    [CHANNEL_NAMES.serverListening, (m) => { const x = m as Msg; write(`switchyard: listening on http://${x.host}:${x.port} (uWS ${x.uwsNative ? 'native' : 'JS FALLBACK'}, ${x.threads ?? 1} HTTP thread${x.threads > 1 ? 's' : ''})`); }],
    [CHANNEL_NAMES.uwsFallback, (m) => write(`switchyard: WARNING ${(m as Msg).message}`)],
    [CHANNEL_NAMES.profileLoaded, (m) => { const x = m as Msg; write(`switchyard: ready: profile ${x.profile} (K=${x.k}, ${x.models} models, embedder ${x.embedder}) in ${Math.round(x.ms)} ms`); }],
    [CHANNEL_NAMES.profileFailed, (m) => write(`switchyard: loading failed: ${((m as Msg).error as Error)?.message ?? String((m as Msg).error)}`)],
    [CHANNEL_NAMES.profileReloaded, (m) => { const x = m as Msg; write(`switchyard: profile reloaded (${x.source}): ${x.profile} ${x.profile_id} version ${x.version} from ${x.dir} (${x.router}, K=${x.k}, ${(x.models as string[]).length} models) in ${x.ms} ms`); }],
    [CHANNEL_NAMES.profileReloadFailed, (m) => { const x = m as Msg; write(`switchyard: profile reload (${x.source}) of ${x.dir} refused: ${(x.error as Error)?.message ?? String(x.error)}`); }],
    [CHANNEL_NAMES.serverClosing, (m) => write(`switchyard: shutting down, ${(m as Msg).inFlight} request(s) in flight`)],
    [CHANNEL_NAMES.serverClosed, (m) => { const x = m as Msg; write(`switchyard: closed in ${Math.round(x.ms)} ms${x.drained ? '' : ` (deadline hit, ${x.inFlight} request(s) dropped)`}`); }],
    [CHANNEL_NAMES.httpThreadExit, (m) => {
      const x = m as Msg;
      const why = (x.error as Error)?.stack ?? (x.error === undefined ? `exit code ${x.code}` : String(x.error));
      write(`switchyard: HTTP thread ${x.thread} died (${why})${x.fatal ? '; giving up: it keeps crashing' : x.restarting ? '; restarting it' : ''}`);
    }],
    [CHANNEL_NAMES.routerConfigsSeeded, (m) => {
      const x = m as Msg;
      if (x.created.length || x.updated.length) write(`switchyard: router configs from the YAML: ${x.created.length} created${x.created.length ? ` (${x.created.join(', ')})` : ''}, ${x.updated.length} replaced in the store${x.updated.length ? ` (${x.updated.join(', ')}: their stored content, admin-API changes included, differed)` : ''}, ${x.unchanged.length} unchanged`);
    }],
    [CHANNEL_NAMES.internalError, (m) => { const x = m as Msg; write(`switchyard: internal error on ${x.method} ${x.path}${x.requestId ? ` (x-request-id ${x.requestId})` : ''}: ${(x.error as Error)?.stack ?? String(x.error)}`); }],
  ];
  for (const [name, fn] of subs) diagnostics_channel.subscribe(name, fn);
  return () => { for (const [name, fn] of subs) diagnostics_channel.unsubscribe(name, fn); };
}
