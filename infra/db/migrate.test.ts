import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { loadMigrations, migrate, SQL_DIR } from './migrate.ts';
import { startPgliteDatabase, startPostgresDatabase, type ProvisionedDb } from './provision.ts';
import { DEFAULT_LOCAL_PG_URL, tcpReachable } from './reachable.ts';

// Starting PGlite databases takes seconds on a loaded machine (initdb on a cold cache).
vi.setConfig({ testTimeout: 30_000, hookTimeout: 60_000 });

const pgUrl = process.env.LOCAL_PG_URL || DEFAULT_LOCAL_PG_URL;
const pgUp = await tcpReachable(pgUrl);
if (!pgUp) console.warn(`[skip] no PostgreSQL reachable at ${pgUrl}: real-PostgreSQL migration cases skipped`);

const backends: Array<[string, boolean, () => Promise<ProvisionedDb>]> = [
  ['pglite', true, () => startPgliteDatabase()],
  [
    'postgres',
    pgUp,
    () => startPostgresDatabase({ serverUrl: pgUrl, database: `etr_test_${randomBytes(4).toString('hex')}_migrate` }),
  ],
];

describe.each(backends)('migrations on %s', (_name, available, start) => {
  const opened: ProvisionedDb[] = [];
  afterAll(async () => {
    await Promise.all(opened.map((d) => d.close()));
  });
  const open = async () => {
    const d = await start();
    opened.push(d);
    return d;
  };

  it.skipIf(!available)('applies central and region sets once; a second run is a no-op', async () => {
    const central = await open();
    // Every file of the set, in order (other features add their own migrations).
    const names = async (set: string) => (await loadMigrations(join(SQL_DIR, set))).map((m) => m.name);
    expect(await names('central')).toContain('001_control_plane.sql');
    expect(await migrate(central.db, 'central')).toEqual(await names('central'));
    expect(await migrate(central.db, 'central')).toEqual([]);
    const region = await open();
    expect((await names('region')).slice(0, 2)).toEqual(['001_tenant_data.sql', '002_row_level_security.sql']);
    expect(await migrate(region.db, 'region')).toEqual(await names('region'));
    expect(await migrate(region.db, 'region')).toEqual([]);
    const tables = await region.db.query<{ t: string }>(
      "SELECT tablename AS t FROM pg_tables WHERE schemaname = 'public' ORDER BY 1",
    );
    expect(tables.rows.map((r) => r.t)).toEqual(['incoming_rows', 'pages', 'schema_migrations', 'tenant_moves', 'tenant_tombstones', 'tenants']);
  });

  it.skipIf(!available)('makes emails unique regardless of case', async () => {
    const d = await open();
    await migrate(d.db, 'central');
    const insert = (email: string) =>
      d.db.query("INSERT INTO users (id, email, password_hash) VALUES (gen_random_uuid(), $1, 'x')", [email]);
    await insert('Ada@Example.com');
    await expect(insert('ada@example.COM')).rejects.toThrow(/duplicate key/);
  });

  it.skipIf(!available)('enforces row-level security for app_rw', async () => {
    const d = await open();
    await migrate(d.db, 'region');
    await d.db.query("INSERT INTO tenants (id, name) VALUES ('ws_aaaaaaaa', 'A'), ('ws_bbbbbbbb', 'B')");
    await d.db.query(
      "INSERT INTO pages (id, tenant_id, region, title) VALUES (gen_random_uuid(), 'ws_aaaaaaaa', 'r', 'a'), (gen_random_uuid(), 'ws_bbbbbbbb', 'r', 'b')",
    );
    const seen = await d.db.transaction(async (tx) => {
      await tx.query('SET LOCAL ROLE app_rw');
      await tx.query("SELECT set_config('app.tenant_id', $1, true)", ['ws_aaaaaaaa']);
      return (await tx.query<{ title: string }>('SELECT title FROM pages')).rows.map((r) => r.title);
    });
    expect(seen).toEqual(['a']);
    const unset = await d.db.transaction(async (tx) => {
      await tx.query('SET LOCAL ROLE app_rw');
      return (await tx.query('SELECT * FROM pages')).rowCount;
    });
    expect(unset).toBe(0);
    await expect(
      d.db.transaction(async (tx) => {
        await tx.query('SET LOCAL ROLE app_rw');
        await tx.query("SELECT set_config('app.tenant_id', $1, true)", ['ws_aaaaaaaa']);
        await tx.query("INSERT INTO pages (id, tenant_id, region, title) VALUES (gen_random_uuid(), 'ws_bbbbbbbb', 'r', 'x')");
      }),
    ).rejects.toThrow(/row-level security/);
  });

  it.skipIf(!available)('refuses a migration edited after it was applied', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'etr-mig-'));
    try {
      await writeFile(join(dir, '001_a.sql'), 'CREATE TABLE a (x int);');
      const d = await open();
      await migrate(d.db, { dir });
      await writeFile(join(dir, '001_a.sql'), 'CREATE TABLE a (x bigint);');
      await expect(migrate(d.db, { dir })).rejects.toThrow(/changed after it was applied/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
