/** The audit_log table (infra/sql/central/002_audit_log.sql) on PGlite and on real PostgreSQL. */
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { migrate } from './migrate.ts';
import { startPgliteDatabase, startPostgresDatabase, type ProvisionedDb } from './provision.ts';
import { DEFAULT_LOCAL_PG_URL, tcpReachable } from './reachable.ts';

const pgUrl = process.env.LOCAL_PG_URL || DEFAULT_LOCAL_PG_URL;
const pgUp = await tcpReachable(pgUrl);
if (!pgUp) console.warn(`[skip] no PostgreSQL reachable at ${pgUrl}: real-PostgreSQL audit_log cases skipped`);

const backends: Array<[string, boolean, () => Promise<ProvisionedDb>]> = [
  ['pglite', true, () => startPgliteDatabase()],
  ['postgres', pgUp, () => startPostgresDatabase({ serverUrl: pgUrl, database: `etr_test_${randomBytes(4).toString('hex')}_audit` })],
];

describe.each(backends)('audit_log on %s', (_name, available, start) => {
  let d: ProvisionedDb | undefined;
  afterAll(async () => {
    await d?.close();
  });

  it.skipIf(!available)('takes events, refuses malformed ones, and is append-only', async () => {
    d = await start();
    await migrate(d.db, 'central');
    const insert = (action: string, result = 'denied', actorKind = 'tenant_user') =>
      d!.db.query(
        `INSERT INTO audit_log (actor, actor_kind, action, target, result, request_id, detail)
         VALUES ('user-1', $1, $2, 'ws_a', $3, 'req-1', '{"code":"region_mismatch"}') RETURNING id, at`,
        [actorKind, action, result],
      );
    const r = await insert('tenant.region_denied');
    expect(r.rows).toHaveLength(1);

    await expect(insert('Not An Action')).rejects.toThrow();
    await expect(insert('admin.access', 'maybe')).rejects.toThrow();
    await expect(insert('admin.access', 'denied', 'root')).rejects.toThrow();

    await expect(d.db.query(`UPDATE audit_log SET result = 'allowed'`)).rejects.toThrow(/append-only/);
    await expect(d.db.query('DELETE FROM audit_log')).rejects.toThrow(/append-only/);
    const rows = await d.db.query<{ action: string; result: string; detail: { code: string } }>('SELECT action, result, detail FROM audit_log');
    expect(rows.rows).toEqual([{ action: 'tenant.region_denied', result: 'denied', detail: { code: 'region_mismatch' } }]);
  });
});
