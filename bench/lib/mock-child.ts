/**
 * The mock upstream in its own process (so it shares no event loop with the
 * load generators or the server under test), driven over IPC by mock-proc.ts:
 * argv[2] is the MockOptions JSON; messages { id, cmd: 'stats' | 'reset' }
 * are answered with { id, stats }.
 */
import { startMockUpstream, type MockOptions } from '../../scripts/mock-upstream.ts';

const mock = await startMockUpstream(JSON.parse(process.argv[2] ?? '{}') as MockOptions);
process.send!({ ready: true, port: mock.port });
process.on('message', (m: { id: number; cmd: 'stats' | 'reset' }) => {
  if (m.cmd === 'reset') mock.resetStats();
  process.send!({ id: m.id, stats: mock.stats() });
});
// The parent going away (even by SIGKILL) closes the IPC channel: do not outlive it.
process.on('disconnect', () => { void mock.close().finally(() => process.exit(0)); });
process.on('SIGTERM', () => { void mock.close().finally(() => process.exit(0)); });
