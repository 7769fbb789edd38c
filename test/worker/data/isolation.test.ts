/**
 * Tenant isolation in depth, on PGlite and real PostgreSQL: the role the gateway's
 * queries run as is neither superuser, BYPASSRLS nor owner of the tables, so the
 * FORCEd row-level security policies bind it; a query that forgets the tenant
 * setting sees nothing; the setting never outlives its transaction.
 */
import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { parseDataWorkerConfig } from '../../../src/config/data-worker.ts';
import type { RegionDatabase } from '../../../src/config/index.ts';
import { newRegionClient, runTransaction } from '../../../src/query/driver.ts';
import { sql } from '../../../src/query/sql.ts';
import { adminFor, adminQuery, availableBackends, createPage, DATA, HYPERDRIVES, newTenant, ROUTE_BACKENDS, type BackendName } from './support.ts';

const EU = 'eu-central-1';

function gatewayConfig(backend: BackendName) {
  const dbs = DATA[backend]!.regionDatabases as Record<string, unknown>;
  const parsed = parseDataWorkerConfig({ ...HYPERDRIVES, DATA_REGION: EU, GATEWAY_ASSERTION_KEYS: { [EU]: JSON.parse((env as Record<string, string>).GATEWAY_ASSERTION_KEYS!)[EU] }, DB_USE_SECURE_WEBSOCKET: 'false', REGION_DATABASES: { [EU]: dbs[EU] } });
  if (!parsed.ok) throw parsed.error;
  return { db: parsed.config.database!, driver: parsed.config.databaseDriver };
}

const pending: Promise<unknown>[] = [];
const exec = { waitUntil: (p: Promise<unknown>) => void pending.push(p) };

/** A connection exactly as the gateway opens it (its URL and role), but with our own statements and NO tenant setting. */
async function asGatewayWithoutTenant(db: RegionDatabase, statements: string[]): Promise<unknown[][]> {
  // The gateway's own transport for this endpoint (Neon WebSocket or node-postgres through Hyperdrive).
  const c = newRegionClient(db.primary, { useSecureWebSocket: false, pipelineConnect: db.primary.pipelineConnect, connectTimeoutMs: 5000, retryAfterSeconds: 1 });
  const q = (text: string, values: unknown[] = []) => c.query(text as never, values) as Promise<{ rows: unknown[] }>;
  await c.connect();
  try {
    await q('BEGIN');
    if (db.role) await q("SELECT set_config('role', $1, true)", [db.role]);
    const out: unknown[][] = [];
    for (const s of statements) out.push((await q(s)).rows);
    return out;
  } finally {
    await q('ROLLBACK').catch(() => {});
    await c.end();
  }
}

const ROLE_FACTS = sql`SELECT r.rolsuper AS superuser, r.rolbypassrls AS bypassrls,
    (SELECT count(*)::int FROM pg_tables WHERE schemaname = 'public' AND tablename IN ('pages', 'tenants') AND tableowner = current_user) AS owned,
    (SELECT relforcerowsecurity AND relrowsecurity FROM pg_class WHERE oid = 'public.pages'::regclass) AS forced
  FROM pg_roles r WHERE r.rolname = current_user`;
const COUNT_ALL_PAGES = sql`SELECT count(*)::int AS n FROM pages`;
const TENANT_SETTING = sql`SELECT coalesce(current_setting('app.tenant_id', true), '') AS tenant`;

describe.each(availableBackends(ROUTE_BACKENDS))('isolation on %s', { timeout: 30_000 }, (backend) => {
  it('the gateway runs as a role that is neither superuser, BYPASSRLS nor table owner, on FORCEd RLS tables', async () => {
    const { db, driver } = gatewayConfig(backend);
    const [facts] = await runTransaction(db.primary, driver, { tenantId: 'ws_nobody', access: 'read', statementTimeoutMs: 1000, role: db.role, steps: [{ sql: ROLE_FACTS, values: [], rows: true }] }, exec);
    expect(facts!.rows).toEqual([{ superuser: false, bypassrls: false, owned: 0, forced: true }]);
  });

  it("sees only the token tenant's rows even with no WHERE clause at all", async () => {
    const [a, b] = [await newTenant(backend, EU), await newTenant(backend, EU)];
    await createPage(backend, a, EU, { title: 'a' });
    await createPage(backend, b, EU, { title: 'b1' });
    await createPage(backend, b, EU, { title: 'b2' });
    const { db, driver } = gatewayConfig(backend);
    const [ra] = await runTransaction(db.primary, driver, { tenantId: a, access: 'read', statementTimeoutMs: 1000, role: db.role, steps: [{ sql: COUNT_ALL_PAGES, values: [], rows: true }] }, exec);
    const [rb] = await runTransaction(db.primary, driver, { tenantId: b, access: 'read', statementTimeoutMs: 1000, role: db.role, steps: [{ sql: COUNT_ALL_PAGES, values: [], rows: true }] }, exec);
    expect([ra!.rows[0]!.n, rb!.rows[0]!.n]).toEqual([1, 2]);
    const total = await adminQuery<{ n: number }>(adminFor(backend, EU), 'SELECT count(*)::int AS n FROM pages');
    expect(total[0]!.n).toBeGreaterThanOrEqual(3);
  });

  it('a query that forgets the tenant setting sees nothing and cannot write', async () => {
    const a = await newTenant(backend, EU);
    await createPage(backend, a, EU, { title: 'exists' });
    const { db } = gatewayConfig(backend);
    const [rows] = await asGatewayWithoutTenant(db, ['SELECT count(*)::int AS n FROM pages', 'SELECT count(*)::int AS n FROM tenants']).then((r) => [r.map((x) => (x[0] as { n: number }).n)]);
    expect(rows).toEqual([0, 0]);
    await expect(
      asGatewayWithoutTenant(db, [`INSERT INTO pages (id, tenant_id, region, title) VALUES (gen_random_uuid(), '${a}', 'eu-central-1', 'sneaky')`]),
    ).rejects.toMatchObject({ code: '42501' });
  });

  it('the tenant setting is local to its transaction', async () => {
    const { db, driver } = gatewayConfig(backend);
    const results = await runTransaction(
      db.primary,
      driver,
      { tenantId: 'ws_scoped', access: 'read', statementTimeoutMs: 1000, role: db.role, steps: [{ sql: TENANT_SETTING, values: [], rows: true }], afterCommit: [{ sql: TENANT_SETTING, values: [], rows: true }] },
      exec,
    );
    expect(results.map((r) => r.rows[0]!.tenant)).toEqual(['ws_scoped', '']);
  });
});
