/** requireAdmin and the status page's data, through the gateway, with real origins. */
import { describe, expect, it } from 'vitest';
import { createApp } from '../../../src/app.ts';
import { bindings, callGateway, egressFor, errorBody, mintAdminToken, mintToken, newMarker } from '../helpers.ts';

const adminToken = (regions?: string[], claims?: Record<string, unknown>) => mintAdminToken({ regions, claims });

describe('requireAdmin on /admin/status.json', () => {
  it('401 without a token, with WWW-Authenticate, and no subrequest', async () => {
    const marker = newMarker();
    const res = await callGateway('/admin/status.json', { headers: { 'x-request-id': marker } });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe('Bearer realm="edge-tenant-router"');
    expect(await egressFor(marker)).toEqual([]);
  });

  it('401 for a forged admin token', async () => {
    const t = await adminToken();
    const [h, , s] = t.split('.');
    const forged = `${h}.${btoa(JSON.stringify({ sub: 'x', admin_regions: ['eu-central-1'], iss: bindings.JWT_ISSUER, aud: 'edge-tenant-router-admin', exp: 4102444800 })).replace(/=+$/, '')}.${s}`;
    const res = await callGateway('/admin/status.json', { headers: { authorization: `Bearer ${forged}` } });
    expect(res.status).toBe(401);
    expect((await errorBody(res)).code).toBe('invalid_token');
  });

  it('403 for a tenant token (whatever roles it claims), an admin token naming a tenant or no served region; no subrequest', async () => {
    const marker = newMarker();
    const tokens = [
      await mintToken(),
      await mintToken({ claims: { role: 'admin', admin: true, admin_regions: ['eu-central-1'] } }),
      await mintToken({ claims: { tenant_id: undefined, tenant_region: undefined, role: 'admin', admin_regions: ['eu-central-1'] } }),
      await adminToken(['eu-central-1'], { tenant_id: 'ws_alpha' }),
      await adminToken([]),
      await adminToken(['mars-1', 'EU-CENTRAL-1']),
      await adminToken(undefined, { admin_regions: 'eu-central-1' }),
    ];
    for (const t of tokens) {
      const res = await callGateway('/admin/status.json', { headers: { authorization: `Bearer ${t}`, 'x-request-id': marker } });
      expect(res.status).toBe(403);
      expect((await errorBody(res)).code).toBe('forbidden');
    }
    // Refused before the readiness probes: nothing left the gateway under this request id.
    expect(await egressFor(marker)).toEqual([]);
  });

  it('an admin token needs its own typ and audience: with the tenant typ or audience it is refused (401)', async () => {
    for (const t of [await mintAdminToken({ header: { typ: 'at+jwt' } }), await mintAdminToken({ claims: { aud: bindings.JWT_AUDIENCE } })]) {
      const res = await callGateway('/admin/status.json', { headers: { authorization: `Bearer ${t}` } });
      expect(res.status).toBe(401);
    }
    expect((await callGateway('/admin/status.json', { headers: { authorization: `Bearer ${await adminToken()}` } })).status).toBe(200);
  });

  it('an admin token never routes tenant traffic, even with tenant claims added', async () => {
    const marker = newMarker();
    for (const t of [await adminToken(), await adminToken(undefined, { tenant_id: 'ws_alpha', tenant_region: 'eu-central-1' })]) {
      const res = await callGateway('/api/pages', { headers: { authorization: `Bearer ${t}`, 'x-request-id': marker } });
      expect(res.status).toBe(401);
    }
    expect(await egressFor(marker)).toEqual([]);
  });
});

describe('status data', () => {
  it('shows regions with health, per-region request counts and the latest routing decisions', async () => {
    const app = createApp(); // a fresh isolate view
    const call = (path: string, init?: RequestInit) => app.fetch(new Request(new URL(path, 'https://gateway.test'), init), bindings);
    const eu = await mintToken();
    const us = await mintToken({ claims: { tenant_id: 'ws_us', tenant_region: 'us-east-1' } });
    for (let i = 0; i < 3; i++) await call('/api/pages', { headers: { authorization: `Bearer ${eu}` } });
    await call('/api/pages', { headers: { authorization: `Bearer ${us}` } });
    await call('/api/pages'); // refused before routing
    await call('/healthz'); // not a routing decision

    const res = await call('/admin/status.json', { headers: { authorization: `Bearer ${await adminToken()}` } });
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const d = (await res.json()) as any;
    expect(d.scope).toBe('isolate');
    expect(d.readiness.status).toBe('ready');
    const byName = Object.fromEntries(d.regions.map((r: any) => [r.name, r]));
    expect(Object.keys(byName)).toEqual(['us-east-1', 'eu-central-1', 'ap-southeast-2', 'central']);
    expect(byName['eu-central-1']).toMatchObject({ healthy: true, lagSeconds: null, traffic: { total: 3, serverErrors: 0 } });
    expect(byName['us-east-1'].traffic.total).toBe(1);
    expect(byName['ap-southeast-2'].traffic.total).toBe(0);
    expect(byName['eu-central-1'].traffic.buckets).toHaveLength(d.window.buckets);
    expect(byName['eu-central-1'].traffic.buckets.at(-1).count).toBe(3);
    expect(byName['eu-central-1'].checks.map((c: any) => c.name)).toEqual(['origin:eu-central-1']);
    expect(d.refused).toMatchObject({ total: 1, clientErrors: 1 });
    // Newest first; health and status requests are not routing decisions.
    expect(d.decisions.map((x: any) => `${x.status} ${x.upstream ?? x.errorCode}`)).toEqual([
      '401 token_missing',
      '200 us-east-1',
      '200 eu-central-1',
      '200 eu-central-1',
      '200 eu-central-1',
    ]);
    expect(d.decisions[1]).toMatchObject({ tenant: 'ws_us', region: 'us-east-1', path: '/api/pages', method: 'GET' });
    // The status JSON carries no origin URL, no token.
    const text = JSON.stringify(d);
    expect(text).not.toMatch(/127\.0\.0\.1|http:\/\//);
    expect(text).not.toContain(eu.split('.')[2]!);

    // An admin for eu-central-1 sees eu-central-1 only: no other region, no central, no unrouted traffic.
    const scoped = (await (await call('/admin/status.json', { headers: { authorization: `Bearer ${await adminToken(['eu-central-1'])}` } })).json()) as any;
    expect(scoped.regions.map((r: any) => r.name)).toEqual(['eu-central-1']);
    expect(scoped.refused).toBeNull();
    expect(scoped.isolate.served).toBeNull();
    expect(new Set(scoped.decisions.map((x: any) => x.region))).toEqual(new Set(['eu-central-1']));
    const scopedText = JSON.stringify(scoped);
    for (const other of ['us-east-1', 'ap-southeast-2', 'ws_us', 'origin:central']) expect(scopedText).not.toContain(other);
  });

  it('marks a region unhealthy when its origin is down', async () => {
    const regions = { ...JSON.parse(bindings.REGIONS!), 'ap-southeast-2': { origin: 'http://127.0.0.1:9' } };
    const res = await callGateway('/admin/status.json', { headers: { authorization: `Bearer ${await adminToken()}` } }, { REGIONS: JSON.stringify(regions) });
    const d = (await res.json()) as any;
    expect(d.readiness.status).toBe('not_ready');
    expect(d.regions.find((r: any) => r.name === 'ap-southeast-2')).toMatchObject({ healthy: false });
    expect(d.regions.find((r: any) => r.name === 'us-east-1')).toMatchObject({ healthy: true });
  });
});

describe('the page itself', () => {
  it('is a static shell with a strict CSP, served without credentials and carrying no data', async () => {
    const res = await callGateway('/admin/status');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/html');
    expect(res.headers.get('content-security-policy')).toContain("script-src 'self'");
    const html = await res.text();
    expect(html).toContain('<script src="/admin/status.js"');
    expect(html).not.toMatch(/<script>(?!<)/);
    const js = await callGateway('/admin/status.js');
    expect(js.headers.get('content-type')).toContain('text/javascript');
    const src = await js.text();
    // Rendering goes through textContent only: request-controlled strings are never parsed as HTML.
    expect(src).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write/);
    expect((await callGateway('/admin/status.css')).headers.get('content-type')).toContain('text/css');
  });
});
