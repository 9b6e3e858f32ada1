/**
 * npm start -- [--config file.yaml] [--host H] [--port P] ...   (--help lists every flag)
 * Thin on purpose: config -> listen -> load profile -> wait for a signal -> drain.
 * The server listens before the profile loads so /health can report "loading".
 * With server.threads > 1 this thread supervises the HTTP threads (edge/threads.ts)
 * and keeps the signals; the server object looks the same.
 * Exit codes: 0 after a signal-driven drain, 1 if loading or closing fails, if
 * HTTP threads keep crashing, or after a second signal; 2 for a bad command
 * line or config.
 */
import { loadConfig, parseCli, usage } from './config/load.ts';
import type { Config } from './config/schema.ts';
import { startServer } from './edge/server.ts';
import { tuneHeapForLatency } from './edge/heap-tuning.ts';
import { attachConsoleLog } from './log.ts';

function configOrExit(argv: string[]): Readonly<Config> {
  try {
    if (parseCli(argv).help) { process.stdout.write(`${usage()}\n`); process.exit(0); }
    return loadConfig({ argv, env: process.env });
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n`);
    process.exit(2);
  }
}

const config = configOrExit(process.argv.slice(2));
attachConsoleLog();
// Before the HTTP threads exist: V8 flags reach only isolates made afterwards (edge/heap-tuning.ts).
tuneHeapForLatency();
const server = await startServer(config).catch((e: Error) => {
  process.stderr.write(`switchyard: ${e.message}\n`);
  process.exit(1);
});

let stopping = false;
let forced = false;
let exitCode = 0;
const stop = (why: string, code: number) => {
  if (stopping) {
    // A second signal means "now": drop in-flight requests, then exit 1 as soon as
    // the drain returns. A third exits at once (not before: with HTTP threads
    // still holding sockets, exiting aborts the process; see edge/threads.ts).
    if (forced) process.exit(1);
    forced = true;
    exitCode = 1;
    process.stderr.write(`switchyard: ${why} again, dropping in-flight requests\n`);
    server.drop();
    return;
  }
  stopping = true;
  exitCode = code;
  server.close().then(() => process.exit(exitCode), (e) => { process.stderr.write(`switchyard: close failed: ${(e as Error).stack}\n`); process.exit(1); });
};
process.on('SIGTERM', () => stop('SIGTERM', 0));
process.on('SIGINT', () => stop('SIGINT', 0));
// Hot reload (issue 13): the configured profile again, on every HTTP thread; a refused one is logged (log.ts) and the old one stays.
process.on('SIGHUP', () => { if (!stopping) server.reload(undefined, 'signal').catch(() => {}); });
// HTTP threads crash-looping (log.ts has said which and why): drain the rest, exit 1.
void server.fatal.then((e) => { process.stderr.write(`switchyard: ${e.message}; shutting down\n`); stop('fatal', 1); });

// A server that cannot load its profile is useless: log.ts has said why; exit non-zero.
server.load().catch(() => server.close({ timeoutMs: 0 }).finally(() => process.exit(1)));
