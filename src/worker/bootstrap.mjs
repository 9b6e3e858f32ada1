/**
 * Entry point of every pool worker thread: registers tsx, then loads the real
 * worker module (a .ts file) named by workerData.entry and re-exports its handler.
 *
 * Why: under Node 20 tsx installs its ESM hooks in the main thread only (it
 * checks isMainThread on Node versions before 22.22.3 / 24.11.1), so a worker
 * started by `node --import tsx` can `require()` TypeScript but not `import` it,
 * and a worker module with top-level await can only be imported. Registering
 * here makes workers independent of how the main process loaded tsx (--import,
 * the tsx CLI, the test runner). Where tsx already hooked this thread, the
 * second registration is a harmless extra layer (checked under Node 20: tsx
 * --import plus register() still imports .ts).
 *
 * Plain .mjs because it must load before any TypeScript can.
 */
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
const mod = await import(workerData.entry);
export default mod.default;
