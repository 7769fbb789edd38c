/** Moving a tenant between regions on real PostgreSQL: all rows arrive verified, nothing stays behind, no write is lost. */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { realPgUnavailable, startGlobalFixture, type GlobalFixture } from '../controller/fixture.ts';
import { pageStore, TenantNotProvisionedError, TenantResidencyError } from '../region/pages.ts';
import { MOVE_BATCH_ROWS, moveTenant, type MoveOptions } from './move.ts';

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
  const move = (o: Pick<MoveOptions, 'tenant' | 'to'> & Partial<MoveOptions>) =>
    moveTenant({ centralUrl: f.central.url, regionUrls: urls(), controllerUrl: f.controller.url, ...o });
  beforeAll(async () => {
    f = await startGlobalFixture({ regions: REGIONS.map((name) => ({ name })) });
  });
  afterAll(() => f?.close());

  it('copies every page (across several batches), verifies, flips the home region and empties the old region', async () => {
    const n = MOVE_BATCH_ROWS * 2 + 7;
    await seedTenant(f, 'ws_moveme01', 'eu-central-1', n);
    await seedTenant(f, 'ws_staysput', 'eu-central-1', 3);
    const before = await snapshot(f, 'eu-central-1', 'ws_moveme01');

    const res = await move({ tenant: 'ws_moveme01', to: 'us-east-1' });
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
    const rel = await f.central.db.query('SELECT id::text, from_region, to_region, pages::int FROM tenant_relocations WHERE tenant_id = $1', ['ws_moveme01']);
    expect(rel.rows).toEqual([{ id: res.relocationId, from_region: 'eu-central-1', to_region: 'us-east-1', pages: n }]);
    // The old region keeps a tombstone (new region, when, relocation id); no move state is left anywhere.
    const eu = f.regions.get('eu-central-1')!.db;
    const us = f.regions.get('us-east-1')!.db;
    const tomb = await eu.query<{ moved_to: string; relocation_id: string; recent: boolean }>(
      "SELECT moved_to, relocation_id::text, moved_at > now() - interval '1 minute' AS recent FROM tenant_tombstones WHERE tenant_id = 'ws_moveme01'",
    );
    expect(tomb.rows).toEqual([{ moved_to: 'us-east-1', relocation_id: res.relocationId, recent: true }]);
    for (const d of [eu, us]) {
      expect((await d.query("SELECT 1 FROM tenant_moves WHERE tenant_id = 'ws_moveme01' UNION ALL SELECT 1 FROM incoming_rows WHERE tenant_id = 'ws_moveme01'")).rowCount).toBe(0);
    }

    // A second run has nothing left to do.
    await expect(move({ tenant: 'ws_moveme01', to: 'us-east-1' })).rejects.toThrow(
      /already lives in us-east-1/,
    );
  });

  it('waits for an in-flight write and carries it over; a write that arrives during the fence is refused (tenant is moving) instead of landing in the old region', async () => {
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
      let lateWrite: string | undefined;
      const moving = move({
        tenant: 'ws_busy0001',
        to: 'ap-southeast-2',
        onFenced: async () => {
          // Even a write that skips the app's guard (a superuser's insert) meets the pages trigger.
          lateWrite = await late
            .query("INSERT INTO pages (id, tenant_id, region, title) VALUES (gen_random_uuid(), 'ws_busy0001', 'eu-central-1', 'late')")
            .then(
              () => 'committed',
              (e: Error & { code?: string }) => `${e.code} ${e.message}`,
            );
        },
      });
      await untilBlocked(f, euDb); // the move waits for the in-flight write's lock
      await inflight.query('COMMIT');
      const res = await moving;
      expect(res.pages).toBe(6);
      expect(lateWrite).toBe('ETR02 tenant is moving');
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
    await expect(move({ tenant: 'ws_clash001', to: 'us-east-1' })).rejects.toThrow(/refusing to merge/);
    expect(await snapshot(f, 'eu-central-1', 'ws_clash001')).toHaveLength(2);
    // The fence is lifted: the old region takes writes again.
    await expect(pageStore(f.regions.get('eu-central-1')!.db, 'eu-central-1').create('ws_clash001', { title: 'after', body: '' })).resolves.toMatchObject({ title: 'after' });
    const ws = await f.central.db.query('SELECT region FROM workspaces WHERE id = $1', ['ws_clash001']);
    expect(ws.rows).toEqual([{ region: 'eu-central-1' }]);
  });

  /** What a region's app store answers for the tenant: 'served' with the page count, or the refusal. */
  async function answers(region: string, tenant: string): Promise<{ read: string; write: string }> {
    const store = pageStore(f.regions.get(region)!.db, region);
    const verdict = (p: Promise<unknown>) =>
      p.then(
        (v) => (Array.isArray(v) ? `served ${v.length}` : 'served'),
        (e: unknown) => (e instanceof TenantResidencyError ? e.state : e instanceof TenantNotProvisionedError ? 'not provisioned' : `error ${(e as Error).message}`),
      );
    return { read: await verdict(store.list(tenant, { limit: 100 })), write: await verdict(store.create(tenant, { title: 'probe', body: '' })) };
  }

  it('the regions themselves answer each step: fence → writes refused, reads served; switch → 409 in the old region; the new one serves only after arrival', async () => {
    await seedTenant(f, 'ws_steps001', 'eu-central-1', 30);
    const seen: Record<string, { eu: unknown; ap: unknown }> = {};
    const look = async (at: string) => (seen[at] = { eu: await answers('eu-central-1', 'ws_steps001'), ap: await answers('ap-southeast-2', 'ws_steps001') });
    await move({
      tenant: 'ws_steps001',
      to: 'ap-southeast-2',
      onStep: async (s) => {
        // 'switched' runs while the barrier is held and before arrival: the middle state is observable here.
        if (s !== 'arrived') await look(s);
      },
    });
    await look('after');
    const moving = { read: 'moving', write: 'moving' };
    expect(seen).toEqual({
      fenced: { eu: { read: 'served 30', write: 'moving' }, ap: { read: 'served 0', write: 'not provisioned' } },
      staged: { eu: { read: 'served 30', write: 'moving' }, ap: moving },
      flipped: { eu: { read: 'served 30', write: 'moving' }, ap: moving },
      switched: { eu: { read: 'relocated', write: 'relocated' }, ap: moving },
      after: { eu: { read: 'relocated', write: 'relocated' }, ap: { read: 'served 30', write: 'served' } },
    });
  });

  it('an interrupted move after the flip gives errors, never data, until it is run again; moving back clears the tombstone', async () => {
    await seedTenant(f, 'ws_resume01', 'us-east-1', 12);
    await expect(
      move({
        tenant: 'ws_resume01',
        to: 'eu-central-1',
        onStep: (s) => {
          if (s === 'flipped') throw new Error('mover died');
        },
      }),
    ).rejects.toThrow(/mover died/);
    expect(await answers('us-east-1', 'ws_resume01')).toEqual({ read: 'served 12', write: 'moving' });
    expect(await answers('eu-central-1', 'ws_resume01')).toEqual({ read: 'moving', write: 'moving' });
    const res = await move({ tenant: 'ws_resume01', to: 'eu-central-1' });
    expect(res).toMatchObject({ resumed: true, from: 'us-east-1', pages: 12 });
    expect(await answers('us-east-1', 'ws_resume01')).toEqual({ read: 'relocated', write: 'relocated' });
    // The probe write above landed: 13 now.
    expect(await answers('eu-central-1', 'ws_resume01')).toEqual({ read: 'served 12', write: 'served' });

    const back = await move({ tenant: 'ws_resume01', to: 'us-east-1' });
    expect(back).toMatchObject({ resumed: false, pages: 13 });
    expect(await answers('us-east-1', 'ws_resume01')).toEqual({ read: 'served 13', write: 'served' });
    expect(await answers('eu-central-1', 'ws_resume01')).toEqual({ read: 'relocated', write: 'relocated' });
    const tombs = await f.regions.get('us-east-1')!.db.query("SELECT 1 FROM tenant_tombstones WHERE tenant_id = 'ws_resume01'");
    expect(tombs.rowCount).toBe(0);
  });

  it('the global view counts a moving tenant exactly once at every moment, even with the windows between steps held open', async () => {
    const n = 2000;
    await seedTenant(f, 'ws_global01', 'ap-southeast-2', n);
    const reporter = new pg.Client({ connectionString: f.reporterUrl });
    await reporter.connect();
    const counts: Array<{ global: number; stats: number }> = [];
    const sample = async () => {
      // One transaction per sample, like /admin: the global view's pages and region counts.
      await reporter.query('BEGIN READ ONLY');
      const g = await reporter.query<{ n: string }>("SELECT count(*) AS n FROM global.pages WHERE tenant_id = 'ws_global01'");
      await reporter.query('COMMIT');
      const st = await reporter.query<{ n: string }>('SELECT sum(pages) AS n FROM global.region_stats');
      counts.push({ global: Number(g.rows[0]!.n), stats: Number(st.rows[0]!.n) });
    };
    const totalBefore = Number((await reporter.query<{ n: string }>('SELECT sum(pages) AS n FROM global.region_stats')).rows[0]!.n);
    let done = false;
    const sampler = (async () => {
      while (!done) await sample();
    })();
    try {
      await move({
        tenant: 'ws_global01',
        to: 'us-east-1',
        // Hold each window open long enough for many samples to land inside it.
        onStep: () => new Promise((r) => setTimeout(r, 300)),
      });
    } finally {
      done = true;
      await sampler;
      await reporter.end();
    }
    expect(counts.length).toBeGreaterThan(10);
    expect(counts.filter((c) => c.global !== n || c.stats !== totalBefore)).toEqual([]);
  });
});
