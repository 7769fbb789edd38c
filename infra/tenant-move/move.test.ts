/** Moving a tenant between regions on real PostgreSQL: all rows arrive verified, nothing stays behind, no write is lost. */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { realPgUnavailable, startGlobalFixture, type GlobalFixture } from '../controller/fixture.ts';
import { MOVE_BATCH_ROWS, moveTenant } from './move.ts';

const skip = await realPgUnavailable();
if (skip) console.warn(`[skip] tenant move tests: ${skip}`);

const REGIONS = ['us-east-1', 'eu-central-1', 'ap-southeast-2'];

async function seedTenant(f: GlobalFixture, id: string, region: string, pages: number) {
  await f.central.db.query('INSERT INTO workspaces (id, name, region) VALUES ($1, $1, $2)', [id, region]);
  const d = f.regions.get(region)!.db;
  await d.query('INSERT INTO tenants (id, name) VALUES ($1, $1)', [id]);
  await d.query(
    `INSERT INTO pages (id, tenant_id, region, title, body, created_at)
     SELECT gen_random_uuid(), $1, $2, 'page ' || g, repeat('x', g % 50), now() - g * interval '1.000001 second' FROM generate_series(1, $3) g`,
    [id, region, pages],
  );
}

const snapshot = async (f: GlobalFixture, region: string, tenant: string) =>
  (
    await f.regions
      .get(region)!
      .db.query<{ id: string; title: string; body: string; created_at: string; region: string }>(
        'SELECT id, title, body, created_at::text, region FROM pages WHERE tenant_id = $1 ORDER BY id',
        [tenant],
      )
  ).rows;

/** Waits (by polling the server, not by sleeping a fixed time) until some session is blocked on a lock. */
async function untilBlocked(f: GlobalFixture, db: string) {
  for (let i = 0; i < 500; i++) {
    const r = await f.central.db.query(
      "SELECT 1 FROM pg_stat_activity WHERE datname = $1 AND wait_event_type = 'Lock'",
      [db],
    );
    if (r.rowCount) return;
    await new Promise((res) => setTimeout(res, 10));
  }
  throw new Error('nothing blocked');
}

describe.skipIf(!!skip)('tenant move', () => {
  let f: GlobalFixture;
  const urls = () => Object.fromEntries([...f.regions].map(([n, d]) => [n, d.url]));
  beforeAll(async () => {
    f = await startGlobalFixture({ regions: REGIONS.map((name) => ({ name })), build: false });
  });
  afterAll(() => f?.close());

  it('copies every page (across several batches), verifies, flips the home region and empties the old region', async () => {
    const n = MOVE_BATCH_ROWS * 2 + 7;
    await seedTenant(f, 'ws_moveme01', 'eu-central-1', n);
    await seedTenant(f, 'ws_staysput', 'eu-central-1', 3);
    const before = await snapshot(f, 'eu-central-1', 'ws_moveme01');

    const res = await moveTenant({ centralUrl: f.central.url, regionUrls: urls(), tenant: 'ws_moveme01', to: 'us-east-1' });
    expect(res).toMatchObject({ from: 'eu-central-1', to: 'us-east-1', pages: n, resumed: false });
    console.log(`[move] ${n} pages, fenced ${res.fencedMs.toFixed(0)} ms`);

    const after = await snapshot(f, 'us-east-1', 'ws_moveme01');
    expect(after).toEqual(before.map((p) => ({ ...p, region: 'us-east-1' })));
    expect(await snapshot(f, 'eu-central-1', 'ws_moveme01')).toEqual([]);
    const oldTenant = await f.regions.get('eu-central-1')!.db.query("SELECT 1 FROM tenants WHERE id = 'ws_moveme01'");
    expect(oldTenant.rowCount).toBe(0);
    expect(await snapshot(f, 'eu-central-1', 'ws_staysput')).toHaveLength(3);

    const ws = await f.central.db.query('SELECT region FROM workspaces WHERE id = $1', ['ws_moveme01']);
    expect(ws.rows).toEqual([{ region: 'us-east-1' }]);
    const rel = await f.central.db.query('SELECT from_region, to_region, pages::int FROM tenant_relocations WHERE tenant_id = $1', ['ws_moveme01']);
    expect(rel.rows).toEqual([{ from_region: 'eu-central-1', to_region: 'us-east-1', pages: n }]);

    // A second run has nothing left to do.
    await expect(moveTenant({ centralUrl: f.central.url, regionUrls: urls(), tenant: 'ws_moveme01', to: 'us-east-1' })).rejects.toThrow(
      /already lives in us-east-1/,
    );
  });

  it('waits for an in-flight write and carries it over; a write that arrives during the fence fails instead of landing in the old region', async () => {
    await seedTenant(f, 'ws_busy0001', 'eu-central-1', 5);
    const euUrl = f.regions.get('eu-central-1')!.url;
    const euDb = new URL(euUrl).pathname.slice(1);
    const inflight = new pg.Client({ connectionString: euUrl });
    const late = new pg.Client({ connectionString: euUrl });
    await inflight.connect();
    await late.connect();
    try {
      await inflight.query('BEGIN');
      await inflight.query("INSERT INTO pages (id, tenant_id, region, title) VALUES (gen_random_uuid(), 'ws_busy0001', 'eu-central-1', 'in flight')");
      let lateWrite: Promise<string> | undefined;
      const move = moveTenant({
        centralUrl: f.central.url,
        regionUrls: urls(),
        tenant: 'ws_busy0001',
        to: 'ap-southeast-2',
        onFenced: async () => {
          lateWrite = late
            .query("INSERT INTO pages (id, tenant_id, region, title) VALUES (gen_random_uuid(), 'ws_busy0001', 'eu-central-1', 'late')")
            .then(
              () => 'committed',
              (e: Error) => e.message,
            );
          await untilBlocked(f, euDb); // the late write now waits on the fence
        },
      });
      await untilBlocked(f, euDb); // the move waits for the in-flight write's lock
      await inflight.query('COMMIT');
      const res = await move;
      expect(res.pages).toBe(6);
      expect(await lateWrite).toMatch(/foreign key/);
      const moved = await snapshot(f, 'ap-southeast-2', 'ws_busy0001');
      expect(moved.map((p) => p.title)).toContain('in flight');
      expect(moved.map((p) => p.title)).not.toContain('late');
      expect(await snapshot(f, 'eu-central-1', 'ws_busy0001')).toEqual([]);
    } finally {
      await inflight.end();
      await late.end();
    }
  });

  it('refuses to merge into a region that already holds the tenant, leaving everything as it was', async () => {
    await seedTenant(f, 'ws_clash001', 'eu-central-1', 2);
    await f.regions.get('us-east-1')!.db.query("INSERT INTO tenants (id, name) VALUES ('ws_clash001', 'x')");
    await f.regions
      .get('us-east-1')!
      .db.query("INSERT INTO pages (id, tenant_id, region, title) VALUES (gen_random_uuid(), 'ws_clash001', 'us-east-1', 'stray')");
    await expect(moveTenant({ centralUrl: f.central.url, regionUrls: urls(), tenant: 'ws_clash001', to: 'us-east-1' })).rejects.toThrow(
      /refusing to merge/,
    );
    expect(await snapshot(f, 'eu-central-1', 'ws_clash001')).toHaveLength(2);
    const ws = await f.central.db.query('SELECT region FROM workspaces WHERE id = $1', ['ws_clash001']);
    expect(ws.rows).toEqual([{ region: 'eu-central-1' }]);
  });
});
