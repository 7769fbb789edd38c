/**
 * The data Worker's own readiness: its primary answers `SELECT 1`, and where a
 * replica exists, its replication lag. Details are public words only (no URL, no
 * driver text); the edge's /readyz shows them per region (src/health/probes.ts).
 */
import type { DatabaseDriverConfig, DatabaseEndpoint } from '../config/index.ts';
import { newRegionClient } from '../query/driver.ts';
import type { DataRuntime } from '../query/index.ts';

export interface DataCheck {
  kind: 'database' | 'replica_lag';
  ok: boolean;
  detail: string;
  lagSeconds?: number;
}

/** Seconds the replica is behind: 0 when it has replayed all it received, else the age of the last replayed commit. */
const REPLICA_LAG_SQL = `SELECT CASE
    WHEN pg_last_wal_receive_lsn() IS NULL THEN NULL
    WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
    ELSE EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())
  END AS lag`;

/** One query on one endpoint, bounded by `timeoutMs`; the first row, or why not. */
async function queryEndpoint(ep: DatabaseEndpoint, driver: DatabaseDriverConfig, text: string, timeoutMs: number): Promise<{ row: Record<string, unknown> } | { error: string }> {
  const client = newRegionClient(ep, driver);
  let connected = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<{ error: string }>((resolve) => (timer = setTimeout(() => resolve({ error: 'timeout' }), timeoutMs)));
  const attempt = (async () => {
    try {
      await client.connect();
      connected = true;
      const r = (await client.query(text as never)) as { rows: Array<Record<string, unknown>> };
      return { row: r.rows[0] ?? {} };
    } catch {
      return { error: 'unreachable' };
    }
  })();
  try {
    return await Promise.race([attempt, deadline]);
  } finally {
    clearTimeout(timer);
    if (connected) void client.end().catch(() => {});
  }
}

export async function dataReadiness(data: DataRuntime, timeoutMs: number): Promise<DataCheck[]> {
  const db = data.database;
  if (!db) return [];
  const primary = queryEndpoint(db.primary, data.driver, 'SELECT 1 AS one', timeoutMs).then(
    (r): DataCheck => ('row' in r ? { kind: 'database', ok: true, detail: 'select 1' } : { kind: 'database', ok: false, detail: r.error }),
  );
  const replica = db.replica
    ? queryEndpoint(db.replica, data.driver, REPLICA_LAG_SQL, timeoutMs).then((r): DataCheck => {
        if (!('row' in r)) return { kind: 'replica_lag', ok: false, detail: r.error };
        const lag = r.row.lag;
        if (lag === null || lag === undefined) return { kind: 'replica_lag', ok: false, detail: 'not a replica' };
        const lagSeconds = Math.round(Number(lag) * 10) / 10;
        return { kind: 'replica_lag', ok: true, detail: `${lagSeconds} s behind`, lagSeconds };
      })
    : undefined;
  return Promise.all(replica ? [primary, replica] : [primary]);
}
