/** The controller node on real PostgreSQL: FDW mounts, global partitions, idempotence, residency, global ids. */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uuidv7 } from '../region/uuid-v7.ts';
import { buildController } from './build.ts';
import { realPgUnavailable, startGlobalFixture, type GlobalFixture } from './fixture.ts';

const skip = await realPgUnavailable();
if (skip) console.warn(`[skip] controller tests: ${skip}`);

const REGIONS = ['us-east-1', 'eu-central-1', 'ap-southeast-2'];

async function asRole<T>(url: string, role: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await c.query(`SET ROLE ${role}`);
    return await fn(c);
  } finally {
    await c.end();
  }
}

describe.skipIf(!!skip)('controller build', () => {
  let f: GlobalFixture;
  beforeAll(async () => {
    // Start with two regions; the third is added by a later test.
    f = await startGlobalFixture({ regions: REGIONS.map((name) => ({ name })), build: false });
    for (const [name, d] of f.regions) {
      await d.db.query("INSERT INTO tenants (id, name) VALUES ($1, 'T')", [`ws_${name.replace(/-/g, '')}`]);
    }
  });
  afterAll(() => f?.close());

  const build = (regions = f.regionList) => buildController({ controllerUrl: f.controller.url, regions });

  it('builds from the region list, does nothing on a second run, and adds a new region', async () => {
    const first = await build(f.regionList.slice(0, 2));
    expect(first.changes).toEqual(
      expect.arrayContaining(['extension postgres_fdw', 'server us_east_1', 'server eu_central_1', 'attach us_east_1.pages', 'table global.pages']),
    );
    expect(first.changes.join('\n')).not.toMatch(/ap_southeast_2/);
    expect((await build(f.regionList.slice(0, 2))).changes).toEqual([]);

    const added = await build();
    expect(added.changes).toEqual(
      expect.arrayContaining(['server ap_southeast_2', 'import tenants, pages into ap_southeast_2', 'attach ap_southeast_2.pages']),
    );
    expect(added.changes.join('\n')).not.toMatch(/us_east_1|eu_central_1/);
    expect((await build()).changes).toEqual([]);

    const parts = await f.controller.db.query<{ p: string; b: string }>(
      `SELECT c.oid::regclass::text AS p, pg_get_expr(c.relpartbound, c.oid) AS b FROM pg_inherits i
       JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'global.pages'::regclass ORDER BY 1`,
    );
    expect(parts.rows).toEqual([
      { p: 'ap_southeast_2.pages', b: "FOR VALUES IN ('ap-southeast-2')" },
      { p: 'eu_central_1.pages', b: "FOR VALUES IN ('eu-central-1')" },
      { p: 'us_east_1.pages', b: "FOR VALUES IN ('us-east-1')" },
    ]);
  });

  it('routes an insert through global.pages to the region named in the row, with a UUIDv7 id', async () => {
    await build();
    const inserted = await f.controller.db.query<{ id: string }>(
      "INSERT INTO global.pages (tenant_id, region, title) VALUES ('ws_eucentral1', 'eu-central-1', 'via global') RETURNING id",
    );
    const id = inserted.rows[0]!.id;
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    for (const [name, d] of f.regions) {
      const found = await d.db.query('SELECT title FROM pages WHERE id = $1', [id]);
      expect([name, found.rowCount]).toEqual([name, name === 'eu-central-1' ? 1 : 0]);
    }
    // No partition for the value: refused, nothing written anywhere.
    await expect(
      f.controller.db.query("INSERT INTO global.pages (tenant_id, region, title) VALUES ('ws_x', 'mars-1', 'x')"),
    ).rejects.toThrow(/no partition/);
  });

  it('merges regions without id collisions: the apps\' UUIDv7 and the controller\'s, many per region, all distinct', async () => {
    await build();
    const perRegion = 300;
    await Promise.all(
      REGIONS.map(async (r) => {
        const tenant = `ws_${r.replace(/-/g, '')}`;
        // As the region app writes them (infra/region/uuid-v7.ts)...
        const ids = Array.from({ length: perRegion }, () => uuidv7());
        await f.regions
          .get(r)!
          .db.query(`INSERT INTO pages (id, tenant_id, region, title) SELECT unnest($1::uuid[]), $2, $3, 'bulk app'`, [ids, tenant, r]);
        // ...and as inserts through the global table get them (global.uuid_v7()).
        await f.controller.db.query(
          `INSERT INTO global.pages (tenant_id, region, title) SELECT $1, $2, 'bulk global' FROM generate_series(1, $3) g`,
          [tenant, r, perRegion],
        );
      }),
    );
    const r = await f.controller.db.query<{ n: number; d: number; v7: number }>(
      "SELECT count(*) AS n, count(DISTINCT id) AS d, count(*) FILTER (WHERE substr(id::text, 15, 1) = '7') AS v7 FROM global.pages WHERE title LIKE 'bulk %'",
    );
    expect(r.rows[0]).toEqual({ n: 6 * perRegion, d: 6 * perRegion, v7: 6 * perRegion });
  });

  it('lets the reporting role read every raw-row region through global.pages and nothing else', async () => {
    await build();
    const rows = await asRole(f.controller.url, 'admin_reporter', async (c) => {
      const r = await c.query<{ region: string }>('SELECT DISTINCT region FROM global.pages ORDER BY 1');
      // The mounted per-region tables are not granted: only global.* is the reporting surface.
      await expect(c.query('SELECT * FROM us_east_1.pages')).rejects.toThrow(/permission denied/);
      await expect(c.query("INSERT INTO global.pages (tenant_id, region, title) VALUES ('ws_useast1', 'us-east-1', 'x')")).rejects.toThrow(
        /permission denied/,
      );
      return r.rows.map((x) => x.region);
    });
    expect(rows).toEqual(['ap-southeast-2', 'eu-central-1', 'us-east-1']);
  });

  it('keeps a no-raw-rows region out of global rows, leaving only its counts, and restores it when allowed again', async () => {
    const restricted = f.regionList.map((r) => ({ ...r, rawRows: r.name !== 'eu-central-1' }));
    const res = await build(restricted);
    expect(res.changes).toEqual(
      expect.arrayContaining(['detach eu_central_1.pages (raw rows not allowed)', 'drop user mapping admin_reporter@eu_central_1 (raw rows not allowed)']),
    );
    expect((await build(restricted)).changes).toEqual([]);
    const euPages = Number((await f.regions.get('eu-central-1')!.db.query<{ n: number }>('SELECT count(*) AS n FROM pages')).rows[0]!.n);
    expect(euPages).toBeGreaterThan(0);

    await asRole(f.controller.url, 'admin_reporter', async (c) => {
      const regions = (await c.query<{ region: string }>('SELECT DISTINCT region FROM global.pages ORDER BY 1')).rows.map((x) => x.region);
      expect(regions).toEqual(['ap-southeast-2', 'us-east-1']);
      const tenants = (await c.query<{ region: string }>('SELECT DISTINCT region FROM global.tenants ORDER BY 1')).rows.map((x) => x.region);
      expect(tenants).toEqual(['ap-southeast-2', 'us-east-1']);
      const stats = await c.query<{ region: string; raw_rows: boolean; pages: string }>(
        "SELECT region, raw_rows, pages FROM global.region_stats WHERE region = 'eu-central-1'",
      );
      expect(stats.rows).toEqual([{ region: 'eu-central-1', raw_rows: false, pages: String(euPages) }]);
      // Even naming the mounted table directly gets nothing: no grant, and no user mapping to log in with.
      await expect(c.query('SELECT * FROM eu_central_1.pages')).rejects.toThrow(/permission denied/);
    });

    // The counts are computed in the region: only the aggregate crosses to the controller.
    const plan = await f.controller.db.query<{ 'QUERY PLAN': string }>('EXPLAIN (VERBOSE, COSTS OFF) SELECT * FROM global.region_stats');
    const text = plan.rows.map((r) => r['QUERY PLAN']).join('\n');
    expect(text).toContain('Relations: Aggregate on (eu_central_1.pages');
    expect(text).not.toMatch(/Foreign Scan on eu_central_1/);

    const back = await build();
    expect(back.changes).toEqual(expect.arrayContaining(['attach eu_central_1.pages', 'user mapping admin_reporter@eu_central_1']));
  });
});
