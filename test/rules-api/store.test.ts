/** The rule-routing store contract (store-contract.ts) on the embedded SQLite store. */
import { after } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStore } from '../../src/store/sqlite.ts';
import { routingStoreContract } from './store-contract.ts';

const dir = mkdtempSync(join(tmpdir(), 'switchyard-routing-store-'));
after(() => rmSync(dir, { recursive: true, force: true }));
routingStoreContract('sqlite', () => new SqliteStore({ dir, ttlMs: 0, purgeIntervalMs: 60_000 }));
