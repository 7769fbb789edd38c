/**
 * The one database interface the apps see. PGlite (in-process) and real
 * PostgreSQL (pg pool) both implement it, so app code never knows which it has.
 */
export interface QueryResult<R> {
  rows: R[];
  /** Rows returned or affected (INSERT/UPDATE/DELETE). */
  rowCount: number;
}

export interface Queryable {
  query<R = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<QueryResult<R>>;
  /** Runs a script of one or more statements without parameters (migrations). */
  exec(sql: string): Promise<void>;
}

export interface Db extends Queryable {
  readonly kind: 'pglite' | 'postgres';
  /** Runs fn in one transaction: COMMIT when it resolves, ROLLBACK when it throws. */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}
