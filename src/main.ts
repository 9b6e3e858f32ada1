/**
 * npm start -- [--config file.yaml] [--host H] [--port P] ...   (--help lists every flag)
 * Thin on purpose: config -> listen -> load profile -> wait for a signal -> drain.
 * The server listens before the profile loads so /health can report "loading".
 * Exit codes: 0 after a signal-driven drain, 1 if loading or closing fails,
 * 2 for a bad command line or config.
 */
import { loadConfig, parseCli, usage } from './config/load.ts';
import type { Config } from './config/schema.ts';
import { startServer } from './edge/server.ts';
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
const server = await startServer(config).catch((e: Error) => {
  process.stderr.write(`switchyard: ${e.message}\n`);
  process.exit(1);
});

let stopping = false;
const stop = (signal: string) => {
  // A second signal means "now": skip the drain.
  if (stopping) { process.stderr.write(`switchyard: ${signal} again, exiting without draining\n`); process.exit(1); }
  stopping = true;
  server.close().then(() => process.exit(0), (e) => { process.stderr.write(`switchyard: close failed: ${(e as Error).stack}\n`); process.exit(1); });
};
process.on('SIGTERM', () => stop('SIGTERM'));
process.on('SIGINT', () => stop('SIGINT'));

// A server that cannot load its profile is useless: log.ts has said why; exit non-zero.
server.load().catch(() => server.close({ timeoutMs: 0 }).finally(() => process.exit(1)));
