/**
 * A tenant moved eu-central-1 → us-east-1 with the real `moveTenant` on real
 * PostgreSQL (via the control server of test/worker/global-setup-global.ts):
 * it keeps all its pages, tokens minted before the move stop reaching
 * eu-central-1 (409 tenant_relocated, nothing forwarded), new tokens reach us-east-1.
 */
import { describe, expect, it } from 'vitest';
import { bindings, callGateway, egressFor, errorBody, mintToken, newMarker } from '../helpers.ts';
import { control, GLOBAL_SKIP, newTenantId } from './support.ts';

const SKIP = GLOBAL_SKIP;
if (SKIP) console.warn(`[skip] relocation tests: ${SKIP}`);

const env = (over: Record<string, string> = {}) => ({
  CONTROL_PLANE_DATABASE_URL: bindings.TEST_CONTROL_PLANE_DATABASE_URL,
  CONTROLLER_WS_PROXY: bindings.TEST_DB_WS_PROXY,
  CONTROL_PLANE_WS_PROXY: bindings.TEST_DB_WS_PROXY,
  ...over,
});


const tenantId = newTenantId;
const token = (tenant: string, region: string) => mintToken({ claims: { sub: 'user-9', tenant_id: tenant, tenant_region: region } });

async function get(path: string, tok: string, over?: Record<string, string>) {
  const marker = newMarker();
  const res = await callGateway(`${path}?m=${marker}`, { headers: { authorization: `Bearer ${tok}`, 'x-request-id': marker } }, env(over));
  return { res, egress: await egressFor(marker) };
}

describe.skipIf(!!SKIP)('tenant relocation', () => {
  it('keeps every page, refuses old tokens with 409 without forwarding, and routes new tokens to the new region', async () => {
    const t = tenantId();
    const neighbour = tenantId();
    const { ids } = await control<{ ids: string[] }>('/seed', { tenant: t, region: 'eu-central-1', titles: ['one', 'two', 'three'] });
    await control('/seed', { tenant: neighbour, region: 'eu-central-1', titles: ['stays'] });
    const oldToken = await token(t, 'eu-central-1');

    const before = await get('/api/pages', oldToken);
    expect(before.res.status).toBe(200);
    expect(before.egress.map((r) => r.origin)).toEqual(['eu-central-1']);

    const moved = await control<{ from: string; to: string; pages: number; fencedMs: number }>('/move', { tenant: t, to: 'us-east-1' });
    expect(moved).toMatchObject({ from: 'eu-central-1', to: 'us-east-1', pages: 3 });

    const inUs = await control<Array<{ id: string; title: string; region: string }>>(`/pages?tenant=${t}&region=us-east-1`);
    expect(inUs.map((p) => p.id)).toEqual([...ids].sort());
    expect(inUs.every((p) => p.region === 'us-east-1')).toBe(true);
    expect(await control(`/pages?tenant=${t}&region=eu-central-1`)).toEqual([]);

    for (const method of ['GET', 'POST']) {
      const marker = newMarker();
      const res = await callGateway(
        `/api/pages?m=${marker}`,
        { method, body: method === 'POST' ? '{"title":"late"}' : undefined, headers: { authorization: `Bearer ${oldToken}`, 'x-request-id': marker } },
        env(),
      );
      expect(res.status).toBe(409);
      const err = await errorBody(res);
      expect(err.code).toBe('tenant_relocated');
      expect(JSON.stringify(err)).not.toMatch(/us-east-1|eu-central-1/);
      expect(await egressFor(marker)).toEqual([]);
    }

    const after = await get('/api/pages', await token(t, 'us-east-1'));
    expect(after.res.status).toBe(200);
    expect(after.egress.map((r) => r.origin)).toEqual(['us-east-1']);
    expect(after.egress[0]!.headers['x-tenant-id']).toBe(t);

    // Other tenants of the old region are untouched.
    const other = await get('/api/pages', await token(neighbour, 'eu-central-1'));
    expect(other.egress.map((r) => r.origin)).toEqual(['eu-central-1']);
  });

  it('keeps routing when the control plane cannot be read (the moved tenant is gone from its old region anyway)', async () => {
    const t = tenantId();
    await control('/seed', { tenant: t, region: 'ap-southeast-2', titles: ['x'] });
    const broken = new URL(bindings.TEST_CONTROL_PLANE_DATABASE_URL!);
    broken.pathname = '/no_such_database_here';
    const { res, egress } = await get('/api/pages', await token(t, 'ap-southeast-2'), { CONTROL_PLANE_DATABASE_URL: broken.toString() });
    expect(res.status).toBe(200);
    expect(egress.map((r) => r.origin)).toEqual(['ap-southeast-2']);
  });
});
