/**
 * PATCH /data/pages/:id with optimistic concurrency (If-Match with the page's version:
 * 412 when stale, 428 when missing) and DELETE /data/pages/:id, through the edge and the
 * region's data Worker, on every database over both transports: isolation between
 * tenants, conflicts between writers, and residency (rows change only in the home region).
 */
import { describe, expect, it } from 'vitest';
import { egressFor, errorBody, newMarker, ORIGINS } from '../helpers.ts';
import { adminFor, adminQuery, availableBackends, bearer, callData, createPage, newTenant, ROUTE_BACKENDS, type BackendName } from './support.ts';

const EU = 'eu-central-1';
const US = 'us-east-1';

async function patch(backend: BackendName, tenant: string, region: string, id: string, body: unknown, ifMatch?: string): Promise<Response> {
  return callData(backend, `/data/pages/${id}`, {
    method: 'PATCH',
    headers: { ...(await bearer(tenant, region)), 'content-type': 'application/json', ...(ifMatch === undefined ? {} : { 'if-match': ifMatch }) },
    body: JSON.stringify(body),
  });
}
const del = async (backend: BackendName, tenant: string, region: string, id: string) =>
  callData(backend, `/data/pages/${id}`, { method: 'DELETE', headers: await bearer(tenant, region) });
const row = (backend: BackendName, region: string, id: string) =>
  adminQuery<{ title: string; body: string; version: number }>(adminFor(backend, region), 'SELECT title, body, version FROM pages WHERE id = $1', [id]);

async function newPage(backend: BackendName, tenant: string, region = EU): Promise<{ id: string; etag: string }> {
  const res = await createPage(backend, tenant, region, { title: 'v1', body: 'first' });
  expect(res.status).toBe(201);
  const page = (await res.json()) as { id: string; version: number };
  expect(page.version).toBe(1);
  return { id: page.id, etag: res.headers.get('etag')! };
}

describe.each(availableBackends(ROUTE_BACKENDS))('PATCH and DELETE on %s', { timeout: 30_000 }, (backend) => {
  it('a PATCH with the current version updates, bumps the version and returns the new ETag; GET agrees', async () => {
    const a = await newTenant(backend, EU);
    const { id, etag } = await newPage(backend, a);
    expect(etag).toBe('"1"');
    const res = await patch(backend, a, EU, id, { title: 'v2' }, etag);
    expect(res.status).toBe(200);
    expect(res.headers.get('etag')).toBe('"2"');
    expect(res.headers.get('x-db-bookmark')).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
    expect(await res.json()).toMatchObject({ id, title: 'v2', body: 'first', version: 2, region: EU });
    const got = await callData(backend, `/data/pages/${id}`, { headers: await bearer(a, EU) });
    expect(got.headers.get('etag')).toBe('"2"');
    expect(await row(backend, EU, id)).toEqual([{ title: 'v2', body: 'first', version: 2 }]);
  });

  it('a stale version is 412 and changes nothing', async () => {
    const a = await newTenant(backend, EU);
    const { id } = await newPage(backend, a);
    expect((await patch(backend, a, EU, id, { body: 'second' }, '"1"')).status).toBe(200);
    const stale = await patch(backend, a, EU, id, { title: 'lost update' }, '"1"');
    expect(stale.status).toBe(412);
    expect((await errorBody(stale)).code).toBe('precondition_failed');
    expect(await row(backend, EU, id)).toEqual([{ title: 'v1', body: 'second', version: 2 }]);
  });

  it('two PATCHes racing with the same version: exactly one wins, the other is 412', async () => {
    const a = await newTenant(backend, EU);
    const { id, etag } = await newPage(backend, a);
    const results = await Promise.all([patch(backend, a, EU, id, { title: 'left' }, etag), patch(backend, a, EU, id, { title: 'right' }, etag)]);
    expect(results.map((r) => r.status).sort()).toEqual([200, 412]);
    const winner = (await results.find((r) => r.status === 200)!.json()) as { title: string };
    expect(await row(backend, EU, id)).toEqual([{ title: winner.title, body: 'first', version: 2 }]);
  });

  it("another tenant's page: PATCH and DELETE are 404 (as for a missing id), and its row is untouched", async () => {
    const [a, b] = [await newTenant(backend, EU), await newTenant(backend, EU)];
    const { id, etag } = await newPage(backend, a);
    const foreignPatch = await patch(backend, b, EU, id, { title: 'hijacked' }, etag);
    const foreignDelete = await del(backend, b, EU, id);
    const missing = await patch(backend, b, EU, crypto.randomUUID(), { title: 'x' }, '"1"');
    expect([foreignPatch.status, foreignDelete.status, missing.status]).toEqual([404, 404, 404]);
    expect({ ...(await errorBody(foreignPatch)), requestId: '' }).toEqual({ ...(await errorBody(missing)), requestId: '' });
    expect(await row(backend, EU, id)).toEqual([{ title: 'v1', body: 'first', version: 1 }]);
  });

  it('DELETE removes the page (204, no body), then it is 404; a second DELETE is 404', async () => {
    const a = await newTenant(backend, EU);
    const { id } = await newPage(backend, a);
    const res = await del(backend, a, EU, id);
    expect(res.status).toBe(204);
    expect(await res.text()).toBe('');
    expect(res.headers.get('x-db-bookmark')).toMatch(/\//);
    expect((await callData(backend, `/data/pages/${id}`, { headers: await bearer(a, EU) })).status).toBe(404);
    expect((await del(backend, a, EU, id)).status).toBe(404);
    expect(await row(backend, EU, id)).toEqual([]);
  });

  it('residency: the same tenant id in another region changes only that region (its token names it)', async () => {
    const tenant = await newTenant(backend, EU);
    await adminQuery(adminFor(backend, US), 'INSERT INTO tenants (id, name) VALUES ($1, $1)', [tenant]);
    const { id, etag } = await newPage(backend, tenant, EU);
    // A US token for the same tenant id reaches only the US data Worker and database: the EU page is not there.
    expect((await patch(backend, tenant, US, id, { title: 'from us' }, etag)).status).toBe(404);
    expect((await del(backend, tenant, US, id)).status).toBe(404);
    expect(await row(backend, EU, id)).toEqual([{ title: 'v1', body: 'first', version: 1 }]);
    expect(await row(backend, US, id)).toEqual([]);
  });
});

describe.each(availableBackends(['pglite']))('PATCH refused before any query (%s)', { timeout: 30_000 }, (backend) => {
  /** eu-central-1's database "proxy" is a recording origin: any connection shows up under the marker. */
  const recording = (marker: string) => ({
    REGION_DATABASES: JSON.stringify({ [EU]: { primary: { url: 'postgres://gateway:s3cret-pw@db.internal.example:5432/app', wsProxy: `${new URL(ORIGINS['us-east-1']!).host}/${marker}` } } }),
  });
  const id = '0190e4a2-0000-7000-8000-000000000001';
  it.each([
    ['no If-Match', undefined, { title: 'x' }, 428, 'precondition_required'],
    ['If-Match *', '*', { title: 'x' }, 400, 'invalid_request'],
    ['a weak ETag', 'W/"1"', { title: 'x' }, 400, 'invalid_request'],
    ['a list of ETags', '"1", "2"', { title: 'x' }, 400, 'invalid_request'],
    ['version 0', '"0"', { title: 'x' }, 400, 'invalid_request'],
    ['a version past int4', '"2147483648"', { title: 'x' }, 400, 'invalid_request'],
    ['an empty change', '"1"', {}, 400, 'invalid_request'],
    ['a blank title', '"1"', { title: '  ' }, 400, 'invalid_request'],
    ['an unknown field', '"1"', { title: 'x', version: 9 }, 400, 'invalid_request'],
    ['a tenant_id in the body', '"1"', { tenant_id: 'ws_other' }, 400, 'invalid_request'],
  ])('%s → %i %s, nothing reaches the database', async (_name, ifMatch, body, status, code) => {
    const marker = newMarker();
    const res = await callData(backend, `/data/pages/${id}`, {
      method: 'PATCH',
      headers: { ...(await bearer('ws_a', EU)), 'content-type': 'application/json', ...(ifMatch === undefined ? {} : { 'if-match': ifMatch }) },
      body: JSON.stringify(body),
    }, recording(marker));
    expect(res.status).toBe(status);
    expect((await errorBody(res)).code).toBe(code);
    expect(await egressFor(marker)).toEqual([]);
  });

  it('DELETE with an invalid id → 400, nothing reaches the database', async () => {
    const marker = newMarker();
    const res = await callData(backend, '/data/pages/1%20OR%201=1', { method: 'DELETE', headers: await bearer('ws_a', EU) }, recording(marker));
    expect(res.status).toBe(400);
    expect(await egressFor(marker)).toEqual([]);
  });
});
