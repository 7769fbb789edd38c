/**
 * /admin through the gateway, inside workerd, against the real controller on
 * PostgreSQL (started by test/worker/global-setup-global.ts): cross-region reads
 * with an audit row, role checks, bounds, residency, and no unaudited reads.
 */
import { describe, expect, it } from 'vitest';
import { bindings, callGateway, errorBody, mintAdminToken, mintToken, newMarker } from '../helpers.ts';
import { control, GLOBAL_SKIP, newTenantId } from './support.ts';

const SKIP = GLOBAL_SKIP;
if (SKIP) console.warn(`[skip] admin tests: ${SKIP}`);

/** The gateway with its databases configured (other worker tests run without them). */
const dbEnv = (over: Record<string, string> = {}) => ({
  CONTROLLER_DATABASE_URL: bindings.TEST_CONTROLLER_DATABASE_URL,
  CONTROL_PLANE_DATABASE_URL: bindings.TEST_CONTROL_PLANE_DATABASE_URL,
  CONTROLLER_WS_PROXY: bindings.TEST_DB_WS_PROXY,
  CONTROL_PLANE_WS_PROXY: bindings.TEST_DB_WS_PROXY,
  ...over,
});


const tenantId = newTenantId;
const adminAuth = async (sub = 'ops-1', regions?: string[]) => ({ authorization: `Bearer ${await mintAdminToken({ sub, regions })}` });

type PageRow = { id: string; tenantId: string; region: string; title: string };

describe.skipIf(!!SKIP)('admin reporting', () => {
  it('reads pages of all three regions in one request, each with its region, and writes the audit row', async () => {
    const marker = newMarker();
    const seeded: Record<string, string> = {};
    for (const region of ['us-east-1', 'eu-central-1', 'ap-southeast-2']) {
      const t = tenantId();
      seeded[region] = t;
      await control('/seed', { tenant: t, region, titles: [`${marker} ${region}`] });
    }
    const res = await callGateway('/admin/pages?limit=200', { headers: { ...(await adminAuth('ops-7')), 'x-request-id': marker } }, dbEnv());
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const body = (await res.json()) as { limit: number; pages: PageRow[] };
    expect(body.limit).toBe(200);
    const mine = body.pages.filter((p) => p.title.startsWith(marker));
    expect(mine.map((p) => [p.region, p.tenantId, p.title]).sort()).toEqual(
      Object.entries(seeded)
        .map(([region, t]) => [region, t, `${marker} ${region}`])
        .sort(),
    );
    expect(Object.keys(body.pages[0]!).sort()).toEqual(['createdAt', 'id', 'region', 'tenantId', 'title', 'updatedAt']);

    expect(await control(`/audit?requestId=${marker}`)).toEqual([
      {
        actor: 'ops-7',
        actor_kind: 'admin',
        action: 'admin.pages',
        target: 'GET /admin/pages?limit=200',
        result: 'succeeded',
        request_id: expect.stringMatching(/^[0-9a-f-]{36}$/),
        detail: { status: 200, code: 'ok', clientRequestId: marker },
      },
    ]);
  });

  it('gives per-region tenant and page counts', async () => {
    const t = tenantId();
    await control('/seed', { tenant: t, region: 'ap-southeast-2', titles: ['a', 'b'] });
    const res = await callGateway('/admin/regions', { headers: await adminAuth() }, dbEnv());
    expect(res.status).toBe(200);
    const { regions } = (await res.json()) as { regions: Array<{ region: string; rawRows: boolean; tenants: number; pages: number }> };
    expect(regions.map((r) => [r.region, r.rawRows])).toEqual([
      ['ap-southeast-2', true],
      ['eu-central-1', true],
      ['us-east-1', true],
    ]);
    const ap = regions.find((r) => r.region === 'ap-southeast-2')!;
    expect(ap.tenants).toBeGreaterThanOrEqual(1);
    expect(ap.pages).toBeGreaterThanOrEqual(2);
  });

  it('refuses a tenant token with 403, and no token with 401, writing nothing', async () => {
    const marker = newMarker();
    const tenantToken = await mintToken({ claims: { tenant_region: 'us-east-1' } });
    const res = await callGateway('/admin/pages', { headers: { authorization: `Bearer ${tenantToken}`, 'x-request-id': marker } }, dbEnv());
    expect(res.status).toBe(403);
    expect((await errorBody(res)).code).toBe('forbidden');
    const anon = await callGateway('/admin/regions', { headers: { 'x-request-id': marker } }, dbEnv());
    expect(anon.status).toBe(401);
    // A workspace admin's tenant token, whatever role claims it carries, is not a gateway-admin token.
    for (const claims of [{ role: 'admin' }, { role: 'admin', roles: ['admin'], admin_regions: ['us-east-1'] }]) {
      const workspaceAdmin = await mintToken({ claims });
      const member = await callGateway('/admin/pages', { headers: { authorization: `Bearer ${workspaceAdmin}`, 'x-request-id': marker } }, dbEnv());
      expect(member.status).toBe(403);
    }
    expect(await control(`/audit?requestId=${marker}`)).toEqual([]);
  });

  it('an admin for eu-central-1 sees only eu-central-1: pages, counts; the audit log needs every region', async () => {
    const marker = newMarker();
    for (const region of ['us-east-1', 'eu-central-1', 'ap-southeast-2']) await control('/seed', { tenant: tenantId(), region, titles: [`${marker} ${region}`] });
    const eu = await adminAuth('ops-eu', ['eu-central-1']);
    const pages = (await (await callGateway('/admin/pages?limit=200', { headers: eu }, dbEnv())).json()) as { pages: PageRow[] };
    expect(new Set(pages.pages.map((p) => p.region))).toEqual(new Set(['eu-central-1']));
    expect(pages.pages.filter((p) => p.title.startsWith(marker)).map((p) => p.title)).toEqual([`${marker} eu-central-1`]);
    const stats = (await (await callGateway('/admin/regions', { headers: eu }, dbEnv())).json()) as { regions: Array<{ region: string }> };
    expect(stats.regions.map((r) => r.region)).toEqual(['eu-central-1']);
    const audit = await callGateway('/admin/audit', { headers: { ...eu, 'x-request-id': marker } }, dbEnv());
    expect(audit.status).toBe(403);
  });

  it.each(['0', '-1', 'abc', '201', '1e2', ''])('rejects limit=%s with 400 and audits the refusal', async (limit) => {
    const marker = newMarker();
    const res = await callGateway(`/admin/pages?limit=${limit}`, { headers: { ...(await adminAuth()), 'x-request-id': marker } }, dbEnv());
    expect(res.status).toBe(400);
    expect(await errorBody(res)).toMatchObject({ code: 'invalid_request', message: 'limit must be an integer from 1 to 200.' });
    expect(await control(`/audit?requestId=${marker}`)).toMatchObject([{ result: 'failed', detail: { status: 400, code: 'invalid_request' } }]);
  });

  it('returns no more rows than the limit', async () => {
    const t = tenantId();
    await control('/seed', { tenant: t, region: 'us-east-1', titles: ['1', '2', '3'] });
    const res = await callGateway('/admin/pages?limit=2', { headers: await adminAuth() }, dbEnv());
    expect(((await res.json()) as { pages: unknown[] }).pages).toHaveLength(2);
  });

  it('never lets raw rows of a region marked no-raw-rows leave through /admin/, only its counts', async () => {
    const marker = newMarker();
    const eu = tenantId();
    const us = tenantId();
    const { ids: euIds } = await control<{ ids: string[] }>('/seed', { tenant: eu, region: 'eu-central-1', titles: [`${marker} eu secret`] });
    await control('/seed', { tenant: us, region: 'us-east-1', titles: [`${marker} us`] });
    const env = dbEnv({ CONTROLLER_DATABASE_URL: bindings.TEST_CONTROLLER_RESTRICTED_DATABASE_URL! });
    const auth = await adminAuth();

    const pagesRes = await callGateway('/admin/pages?limit=200', { headers: auth }, env);
    expect(pagesRes.status).toBe(200);
    const text = await pagesRes.text();
    const pages = (JSON.parse(text) as { pages: PageRow[] }).pages;
    expect(pages.some((p) => p.title === `${marker} us`)).toBe(true);
    expect(pages.filter((p) => p.region === 'eu-central-1')).toEqual([]);
    // Not in any field, in any form.
    for (const needle of [eu, euIds[0]!, `${marker} eu secret`]) expect(text).not.toContain(needle);

    const statsRes = await callGateway('/admin/regions', { headers: auth }, env);
    const text2 = await statsRes.text();
    const { regions } = JSON.parse(text2) as { regions: Array<{ region: string; rawRows: boolean; pages: number }> };
    const euStats = regions.find((r) => r.region === 'eu-central-1')!;
    expect(euStats.rawRows).toBe(false);
    expect(euStats.pages).toBeGreaterThanOrEqual(1);
    for (const needle of [eu, euIds[0]!, 'secret']) expect(text2).not.toContain(needle);
  });

  it('bounds every query with the statement timeout: a region that does not answer gives 504, audited', async () => {
    const marker = newMarker();
    await control('/lock', { region: 'ap-southeast-2' });
    try {
      const res = await callGateway(
        '/admin/pages?limit=5',
        { headers: { ...(await adminAuth()), 'x-request-id': marker } },
        dbEnv({ ADMIN_STATEMENT_TIMEOUT_MS: '200' }),
      );
      expect(res.status).toBe(504);
      expect((await errorBody(res)).code).toBe('upstream_timeout');
    } finally {
      await control('/unlock', {});
    }
    expect(await control(`/audit?requestId=${marker}`)).toMatchObject([{ result: 'failed', detail: { status: 504, code: 'upstream_timeout' } }]);
  });

  it('answers 503 instead of data when the audit row cannot be written', async () => {
    const marker = newMarker();
    await control('/seed', { tenant: tenantId(), region: 'us-east-1', titles: [`${marker} unaudited`] });
    const res = await callGateway(
      '/admin/pages?limit=200',
      { headers: await adminAuth() },
      dbEnv({ CONTROL_PLANE_DATABASE_URL: bindings.TEST_BROKEN_CONTROL_PLANE_DATABASE_URL! }),
    );
    expect(res.status).toBe(503);
    const text = await res.text();
    expect(text).not.toContain(marker);
    expect(text).not.toMatch(/postgres:|audit_log/);
  });

  it('is unavailable (503, no query) when the databases are not configured', async () => {
    const res = await callGateway('/admin/pages', { headers: await adminAuth() });
    expect(res.status).toBe(503);
  });
});
