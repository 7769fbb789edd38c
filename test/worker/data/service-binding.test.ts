/**
 * The whole direct path with nothing stood in: the gateway as configured in wrangler.toml
 * calls each region's data Worker through a real service binding (the deploy bundle of
 * workers/data/, run as auxiliary Workers by the pool), which reaches its region's PGlite
 * database through miniflare's local Hyperdrive with node-postgres, as in production.
 */
import { describe, expect, it } from 'vitest';
import { callGateway as call, errorBody, mintAdminToken } from '../helpers.ts';
import { adminFor, adminQuery, bearer, newTenant } from './support.ts';

const EU = 'eu-central-1';
const US = 'us-east-1';
const json = { 'content-type': 'application/json' };
/** wrangler.toml's [[services]] bindings, named for every region as the local world does. */
const DATA_WORKERS = JSON.stringify({ 'us-east-1': 'DATA_US_EAST_1', [EU]: 'DATA_EU_CENTRAL_1', 'ap-southeast-2': 'DATA_AP_SOUTHEAST_2' });
const callGateway = (path: string, init?: RequestInit, env: Record<string, unknown> = {}) => call(path, init, { DATA_WORKERS, ...env });

describe('edge → service binding → data Worker → Hyperdrive → PGlite', { timeout: 30_000 }, () => {
  it('lists, creates, gets, patches with If-Match and deletes, rows only in the home region', async () => {
    const tenant = await newTenant('pglite', EU);
    const auth = await bearer(tenant, EU);
    const created = await callGateway('/data/pages', { method: 'POST', headers: { ...auth, ...json }, body: JSON.stringify({ title: 'through the binding' }) });
    expect(created.status).toBe(201);
    expect(created.headers.get('x-db-source')).toBe('primary');
    const page = (await created.json()) as { id: string; version: number };
    const list = await callGateway('/data/pages', { headers: auth });
    expect(((await list.json()) as { items: Array<{ id: string }> }).items.map((p) => p.id)).toEqual([page.id]);

    const noIfMatch = await callGateway(`/data/pages/${page.id}`, { method: 'PATCH', headers: { ...auth, ...json }, body: '{"title":"x"}' });
    expect(noIfMatch.status).toBe(428);
    const patched = await callGateway(`/data/pages/${page.id}`, { method: 'PATCH', headers: { ...auth, ...json, 'if-match': created.headers.get('etag')! }, body: '{"title":"patched"}' });
    expect(patched.status).toBe(200);
    expect(patched.headers.get('etag')).toBe('"2"');
    const stale = await callGateway(`/data/pages/${page.id}`, { method: 'PATCH', headers: { ...auth, ...json, 'if-match': '"1"' }, body: '{"title":"stale"}' });
    expect(stale.status).toBe(412);

    const inEu = await adminQuery<{ title: string }>(adminFor('pglite', EU), 'SELECT title FROM pages WHERE id = $1', [page.id]);
    const inUs = await adminQuery(adminFor('pglite', US), 'SELECT 1 FROM pages WHERE id = $1', [page.id]);
    expect([inEu, inUs]).toEqual([[{ title: 'patched' }], []]);

    expect((await callGateway(`/data/pages/${page.id}`, { method: 'DELETE', headers: auth })).status).toBe(204);
    expect((await callGateway(`/data/pages/${page.id}`, { headers: auth })).status).toBe(404);
  });

  it('a request the edge refuses never reaches a data Worker; errors carry no binding name', async () => {
    const res = await callGateway('/data/pages', { headers: { ...(await bearer('ws_a', EU)), 'x-tenant-region': US } });
    expect(res.status).toBe(403);
    const text = await res.text();
    expect(text).not.toMatch(/DATA_|etr-data|hyperdrive/i);
    expect((JSON.parse(text) as { error: { code: string } }).error.code).toBe('region_mismatch');
  });

  it("/readyz reports each region's database as its data Worker sees it", async () => {
    const res = await callGateway('/readyz', { headers: { authorization: `Bearer ${await mintAdminToken()}` } }, { READINESS_TIMEOUT_MS: '8000' });
    const body = (await res.json()) as { checks: Array<{ name: string; ok: boolean; detail: string }> };
    for (const r of ['us-east-1', EU, 'ap-southeast-2']) expect(body.checks.find((c) => c.name === `database:${r}`)).toMatchObject({ ok: true, detail: 'select 1' });
    expect(JSON.stringify(body)).not.toMatch(/postgres:|hyperdrive|127\.0\.0\.1:\d+\//);
  });

  it('the not-found body for another tenant equals a missing one across the binding', async () => {
    const [a, b] = [await newTenant('pglite', EU), await newTenant('pglite', EU)];
    const created = await callGateway('/data/pages', { method: 'POST', headers: { ...(await bearer(a, EU)), ...json }, body: '{"title":"of a"}' });
    const { id } = (await created.json()) as { id: string };
    const foreign = await callGateway(`/data/pages/${id}`, { headers: await bearer(b, EU) });
    const missing = await callGateway(`/data/pages/${crypto.randomUUID()}`, { headers: await bearer(b, EU) });
    expect([foreign.status, missing.status]).toEqual([404, 404]);
    expect({ ...(await errorBody(foreign)), requestId: '' }).toEqual({ ...(await errorBody(missing)), requestId: '' });
  });
});
