/**
 * The global view and tenant moves end to end, on real PostgreSQL, through the
 * real gateway (wrangler dev + workerd) of a local world: an admin token reads
 * pages of all three regions in one request and the audit row is written; a
 * tenant token gets 403 on /admin; an insert through global.pages lands in its
 * region; a tenant moved eu-central-1 → us-east-1 keeps its pages, its old token
 * stops reaching eu-central-1 (409 tenant_relocated) and a fresh one reaches us-east-1.
 * Skipped, with the reason printed, when no PostgreSQL server answers.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signAdminToken } from '../../infra/auth/tokens.ts';
import { realPgUnavailable, PG_URL } from '../../infra/controller/fixture.ts';
import { DEFAULT_SANDBOX_DIR } from '../../infra/state.ts';
import { moveTenant } from '../../infra/tenant-move/move.ts';
import { startWorld, type World } from '../../infra/world.ts';
import { gatewayClient, PASSWORD } from './gateway-client.ts';

const skip = await realPgUnavailable();
if (skip) console.warn(`[skip] global view e2e: ${skip}`);

let world: World;
let sandboxDir: string;

async function sql<R extends pg.QueryResultRow>(url: string, text: string, params: unknown[] = []): Promise<R[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query<R>(text, params)).rows;
  } finally {
    await c.end();
  }
}

const client = gatewayClient(() => world.gatewayUrl!);
const gw = client.gw;

const email = (region: string) => `global-${region}@example.com`;

const signup = (region: string) => client.signup(email(region), region);

describe.skipIf(!!skip)('global view and tenant moves through the gateway (real PostgreSQL)', () => {
  beforeAll(async () => {
    await mkdir(DEFAULT_SANDBOX_DIR, { recursive: true });
    sandboxDir = await mkdtemp(join(DEFAULT_SANDBOX_DIR, 'e2e-global-'));
    world = await startWorld({ dbMode: 'postgres', pgUrl: PG_URL, sandboxDir });
  }, 180_000);
  afterAll(async () => {
    await world?.stop();
    await rm(sandboxDir, { recursive: true, force: true });
  }, 60_000);

  const tenants: Record<string, { token: string; tenant_id: string; pages: string[] }> = {};

  it('an admin token reads pages of all three regions in one request, and the audit row is written', async () => {
    for (const region of ['us-east-1', 'eu-central-1', 'ap-southeast-2']) {
      const s = await signup(region);
      const pages: string[] = [];
      for (const title of [`${region} a`, `${region} b`]) {
        const res = await gw('/api/pages', { method: 'POST', token: s.token, body: JSON.stringify({ title, body: 'x' }) });
        expect(res.status).toBe(201);
        pages.push(((await res.json()) as { id: string }).id);
      }
      tenants[region] = { ...s, pages };
    }
    const admin = await signAdminToken(world.state.signingKey, { issuer: world.state.issuer, sub: 'ops-e2e', regions: Object.keys(world.state.regions) });
    const requestId = `e2e-admin-${Date.now()}`;
    const res = await gw('/admin/pages?limit=50', { token: admin, headers: { 'x-request-id': requestId } });
    expect(res.status).toBe(200);
    const { pages } = (await res.json()) as { pages: Array<{ id: string; region: string; tenantId: string }> };
    for (const [region, t] of Object.entries(tenants)) {
      expect(pages.filter((p) => p.tenantId === t.tenant_id).map((p) => [p.id, p.region]).sort()).toEqual(t.pages.map((id) => [id, region]).sort());
    }
    // request_id is the gateway's own (the one its answer carried); the client's id is kept apart, in the detail.
    const audit = await sql(world.central.databaseUrl, 'SELECT actor, actor_kind, action, target, result, detail FROM audit_log WHERE request_id = $1', [
      res.headers.get('x-request-id'),
    ]);
    expect(audit).toEqual([
      { actor: 'ops-e2e', actor_kind: 'admin', action: 'admin.pages', target: 'GET /admin/pages?limit=50', result: 'succeeded', detail: { status: 200, code: 'ok', clientRequestId: requestId } },
    ]);

    const counts = await gw('/admin/regions', { token: admin });
    const { regions } = (await counts.json()) as { regions: Array<{ region: string; tenants: number; pages: number }> };
    expect(regions.map((r) => [r.region, r.tenants, r.pages])).toEqual([
      ['ap-southeast-2', 1, 2],
      ['eu-central-1', 1, 2],
      ['us-east-1', 1, 2],
    ]);
  });

  it('a tenant token on /admin gets 403, and an admin token cannot route tenant traffic', async () => {
    const res = await gw('/admin/pages', { token: tenants['us-east-1']!.token });
    expect(res.status).toBe(403);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('forbidden');
    const admin = await signAdminToken(world.state.signingKey, { issuer: world.state.issuer, sub: 'ops-e2e', regions: Object.keys(world.state.regions) });
    // The tenant path requires the tenant typ and audience: an admin token is not a tenant token at all.
    const asTenant = await gw('/api/pages', { token: admin });
    expect(asTenant.status).toBe(401);
    expect(((await asTenant.json()) as { error: { code: string } }).error.code).toBe('invalid_token');
  });

  it('an insert through global.pages lands in the region named by the row', async () => {
    const t = tenants['ap-southeast-2']!;
    const [row] = await sql<{ id: string }>(
      world.state.controller!.databaseUrl,
      "INSERT INTO global.pages (tenant_id, region, title) VALUES ($1, 'ap-southeast-2', 'via the controller') RETURNING id",
      [t.tenant_id],
    );
    for (const [region, r] of Object.entries(world.regions)) {
      const found = await sql(r.databaseUrl, 'SELECT title FROM pages WHERE id = $1', [row!.id]);
      expect([region, found.length]).toEqual([region, region === 'ap-southeast-2' ? 1 : 0]);
    }
    // And the tenant sees it through the gateway like any other page.
    const res = await gw(`/api/pages/${row!.id}`, { token: t.token });
    expect(res.status).toBe(200);
  });

  it("the data Workers reach their databases through the world's pool: later requests reuse a server connection", async () => {
    const t = tenants['us-east-1']!;
    const pool = world.regions['us-east-1']!.dataPool!;
    const before = pool.stats();
    for (let i = 0; i < 3; i++) {
      const res = await gw('/data/pages', { token: t.token });
      expect(res.status).toBe(200);
      await res.arrayBuffer();
      // The data Worker ends its connection after answering (waitUntil); the pool keeps it once reset.
      for (let wait = 0; wait < 100 && pool.stats().idle === 0; wait++) await new Promise((r) => setTimeout(r, 20));
    }
    const after = pool.stats();
    // Three requests, one after another: at most one new server connection, the others served by the kept one.
    expect(after.opened - before.opened).toBeLessThanOrEqual(1);
    expect(after.reused - before.reused).toBeGreaterThanOrEqual(2);
  });

  it('a tenant moved eu-central-1 → us-east-1 keeps all its pages; old tokens stop reaching eu-central-1, new ones reach us-east-1', async () => {
    const t = tenants['eu-central-1']!;
    // The old token works before the move (and primes the gateway's relocation list).
    expect((await gw('/api/pages', { token: t.token })).status).toBe(200);

    const moved = await moveTenant({
      centralUrl: world.central.databaseUrl,
      regionUrls: Object.fromEntries(Object.entries(world.regions).map(([n, r]) => [n, r.databaseUrl])),
      controllerUrl: world.state.controller!.databaseUrl,
      tenant: t.tenant_id,
      to: 'us-east-1',
    });
    expect(moved).toMatchObject({ from: 'eu-central-1', to: 'us-east-1', pages: 2 });
    expect(await sql(world.regions['eu-central-1']!.databaseUrl, 'SELECT id FROM pages WHERE tenant_id = $1', [t.tenant_id])).toEqual([]);

    // At once, on both paths: the old region holds a tombstone and refuses the old token itself,
    // before the gateway's relocation list (refreshed every 5 s here) has caught up.
    for (const path of ['/api/pages', '/data/pages']) {
      const res = await gw(path, { token: t.token });
      expect([path, res.status, ((await res.json()) as { error?: { code: string } }).error?.code]).toEqual([path, 409, 'tenant_relocated']);
    }
    // While refused, nothing reaches eu-central-1: a write with the old token does not land there.
    const late = await gw('/api/pages', { method: 'POST', token: t.token, body: JSON.stringify({ title: 'late' }) });
    expect(late.status).toBe(409);

    // The client's way out of the 409: refresh at central with the old token; the new one names us-east-1.
    const refreshed = await gw('/auth/token', { method: 'POST', token: t.token, body: '{}' });
    expect(refreshed.status).toBe(200);
    const refreshedToken = ((await refreshed.json()) as { token: string }).token;
    expect(JSON.parse(Buffer.from(refreshedToken.split('.')[1]!, 'base64url').toString()).tenant_region).toBe('us-east-1');
    expect((await gw('/api/pages', { token: refreshedToken })).status).toBe(200);

    // A fresh login says us-east-1 too, and that token reaches the pages there.
    const login = await gw('/auth/login', { method: 'POST', body: JSON.stringify({ email: email('eu-central-1'), password: PASSWORD }) });
    const fresh = ((await login.json()) as { token: string }).token;
    const claims = JSON.parse(Buffer.from(fresh.split('.')[1]!, 'base64url').toString()) as { tenant_region: string };
    expect(claims.tenant_region).toBe('us-east-1');
    const list = await gw('/api/pages', { token: fresh });
    expect(list.status).toBe(200);
    const { pages } = (await list.json()) as { pages: Array<{ id: string; region: string }> };
    expect(pages.map((p) => p.id).sort()).toEqual([...t.pages].sort());
    expect(pages.every((p) => p.region === 'us-east-1')).toBe(true);
    expect(await sql(world.regions['eu-central-1']!.databaseUrl, "SELECT id FROM pages WHERE title = 'late'")).toEqual([]);
    // And the tenant keeps working in its new home: a new page lands in us-east-1.
    const created = await gw('/api/pages', { method: 'POST', token: fresh, body: JSON.stringify({ title: 'after the move' }) });
    expect(created.status).toBe(201);
    const newId = ((await created.json()) as { id: string }).id;
    expect(await sql(world.regions['us-east-1']!.databaseUrl, 'SELECT tenant_id, region FROM pages WHERE id = $1', [newId])).toEqual([
      { tenant_id: t.tenant_id, region: 'us-east-1' },
    ]);
  });
});
