/**
 * Gives each logical database of the world (central + one per region) a Db for
 * the in-process apps and a postgres:// URL for everything else (the ws proxy,
 * tests, psql): embedded PGlite served on a local port, or a fresh database on
 * a real PostgreSQL server.
 */
import { pgliteDb } from './pglite-db.ts';
import { createPglite } from './pglite-template.ts';
import { startPgliteWire } from './pglite-wire.ts';
import { createDatabase, dropDatabase, postgresDb, withDatabase } from './postgres-db.ts';
import { SessionLock } from './session-lock.ts';
import type { Db } from './types.ts';

export interface ProvisionedDb {
  db: Db;
  /** postgres:// URL reaching the same data over TCP. */
  url: string;
  host: string;
  port: number;
  /** Closes the Db and the server side; drops the database unless kept. */
  close(): Promise<void>;
}

/**
 * dataDir: a directory to persist in (default: in memory, started from the cached blank template).
 * A taken port fails with EADDRINUSE, the PGlite instance closed (infra/ports.ts falls back).
 */
export async function startPgliteDatabase(opts: { port?: number; dataDir?: string } = {}): Promise<ProvisionedDb> {
  const pglite = await createPglite(opts.dataDir);
  const lock = new SessionLock();
  let wire;
  try {
    wire = await startPgliteWire({ pglite, lock, port: opts.port ?? 0 });
  } catch (err) {
    await pglite.close();
    throw err;
  }
  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      await wire.close();
      await lock.run(() => pglite.close());
    })());
  return { db: pgliteDb(pglite, lock, close), url: wire.url, host: wire.host, port: wire.port, close };
}

export async function startPostgresDatabase(opts: {
  serverUrl: string;
  database: string;
  keep?: boolean;
}): Promise<ProvisionedDb> {
  await createDatabase(opts.serverUrl, opts.database);
  const url = withDatabase(opts.serverUrl, opts.database);
  const db = postgresDb(url);
  const u = new URL(url);
  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      await db.close();
      if (!opts.keep) await dropDatabase(opts.serverUrl, opts.database);
    })());
  return { db: { ...db, close }, url, host: u.hostname, port: Number(u.port || 5432), close };
}
