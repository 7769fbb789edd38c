/**
 * Db over an in-process PGlite. Every call takes the session lock the wire
 * server (pglite-wire.ts) also takes, so an app query can never land inside a
 * wire client's open transaction or vice versa (PGlite's own mutexes allow that).
 */
import type { PGlite, Transaction } from '@electric-sql/pglite';
import type { SessionLock } from './session-lock.ts';
import type { Db, Queryable, QueryResult } from './types.ts';

async function run<R>(q: PGlite | Transaction, sql: string, params?: unknown[]): Promise<QueryResult<R>> {
  const r = await q.query<R>(sql, params as unknown[] | undefined);
  return { rows: r.rows, rowCount: r.affectedRows || r.rows.length };
}

export function pgliteDb(pglite: PGlite, lock: SessionLock, onClose?: () => Promise<void>): Db {
  return {
    kind: 'pglite',
    query: <R>(sql: string, params?: unknown[]) => lock.run(() => run<R>(pglite, sql, params)),
    exec: (sql: string) => lock.run(async () => void (await pglite.exec(sql))),
    transaction: <T>(fn: (tx: Queryable) => Promise<T>) =>
      lock.run(() =>
        pglite.transaction(async (tx) =>
          fn({
            query: <R>(sql: string, params?: unknown[]) => run<R>(tx, sql, params),
            exec: async (sql: string) => void (await tx.exec(sql)),
          }),
        ),
      ),
    close: async () => {
      await onClose?.();
    },
  };
}
