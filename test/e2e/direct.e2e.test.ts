/**
 * The direct data path through the whole local world: the real gateway under
 * wrangler dev hands /data/* to the tenant's regional data Worker (the same
 * wrangler dev, real service bindings), which queries its region's database over
 * wrangler's local Hyperdrive, over the same pages and policies the regional app
 * stacks serve.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_SANDBOX_DIR } from '../../infra/state.ts';
import { startWorld, type World } from '../../infra/world.ts';
import { gatewayClient, type Signup } from './gateway-client.ts';

interface Page {
  id: string;
  title: string;
  region: string;
}

let world: World;
let sandboxDir: string;

const { gw, signup } = gatewayClient(() => world.gatewayUrl!);


async function countIn(databaseUrl: string, tenant: string): Promise<number> {
  const c = new pg.Client({ connectionString: databaseUrl });
  await c.connect();
  try {
    return (await c.query('SELECT count(*)::int AS n FROM pages WHERE tenant_id = $1', [tenant])).rows[0].n;
  } finally {
    await c.end();
  }
}

beforeAll(async () => {
  await mkdir(DEFAULT_SANDBOX_DIR, { recursive: true });
  sandboxDir = await mkdtemp(join(DEFAULT_SANDBOX_DIR, 'e2e-direct-'));
  world = await startWorld({ dbMode: 'pglite', sandboxDir });
}, 180_000);

afterAll(async () => {
  await world?.stop();
  if (sandboxDir && !process.env.KEEP_SANDBOX) await rm(sandboxDir, { recursive: true, force: true });
}, 60_000);

describe('direct data path e2e (PGlite world)', () => {
  let eu: Signup;
  let eu2: Signup;
  let us: Signup;
  let euPage: Page;

  beforeAll(async () => {
    eu = await signup('direct-eu@example.com', 'eu-central-1');
    eu2 = await signup('direct-eu2@example.com', 'eu-central-1');
    us = await signup('direct-us@example.com', 'us-east-1');
  });

  it("a tenant's POST /data/pages lands in its home region's database only", async () => {
    const res = await gw('/data/pages', { method: 'POST', token: eu.token, body: JSON.stringify({ title: 'eu direct', body: 'hi' }) });
    expect(res.status, await res.clone().text()).toBe(201);
    expect(res.headers.get('x-db-bookmark')).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
    euPage = await res.json();
    expect(euPage).toMatchObject({ title: 'eu direct', region: 'eu-central-1' });
    await gw('/data/pages', { method: 'POST', token: eu2.token, body: JSON.stringify({ title: 'eu2 direct' }) });
    await gw('/data/pages', { method: 'POST', token: us.token, body: JSON.stringify({ title: 'us direct' }) });
    expect(await countIn(world.regions['eu-central-1']!.databaseUrl, eu.tenant_id)).toBe(1);
    for (const r of Object.keys(world.regions).filter((r) => r !== 'eu-central-1')) {
      expect(await countIn(world.regions[r]!.databaseUrl, eu.tenant_id)).toBe(0);
    }
  });

  it("GET /data/pages returns only the tenant's own pages", async () => {
    const res = await gw('/data/pages', { token: eu.token });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { items: Page[] };
    expect(body.items.map((p) => p.title)).toEqual(['eu direct']);
  });

  it("another tenant's page id is a 404, even in the same region", async () => {
    const res = await gw(`/data/pages/${euPage.id}`, { token: eu2.token });
    expect(res.status).toBe(404);
    expect(await res.text()).not.toContain('eu direct');
    expect((await gw(`/data/pages/${euPage.id}`, { token: eu.token })).status).toBe(200);
  });

  it('a duplicate key is a 409', async () => {
    const res = await gw('/data/pages', { method: 'POST', token: eu.token, body: JSON.stringify({ id: euPage.id, title: 'again' }) });
    expect(res.status).toBe(409);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('conflict');
  });

  it('the direct path and the regional app stack serve the same pages', async () => {
    const viaApp = await gw(`/api/pages/${euPage.id}`, { token: eu.token });
    expect(viaApp.status).toBe(200);
    expect(await viaApp.json()).toMatchObject({ id: euPage.id, title: 'eu direct', region: 'eu-central-1' });
    const created = await gw('/api/pages', { method: 'POST', token: us.token, body: JSON.stringify({ title: 'us via app' }) });
    const { id } = (await created.json()) as Page;
    const viaData = await gw(`/data/pages/${id}`, { token: us.token });
    expect(viaData.status).toBe(200);
    expect(await viaData.json()).toMatchObject({ id, title: 'us via app', region: 'us-east-1' });
  });

  it('PATCH with If-Match and DELETE, through the edge and the data Worker, change only the home region', async () => {
    const created = await gw('/data/pages', { method: 'POST', token: eu.token, body: JSON.stringify({ title: 'to edit' }) });
    const page = (await created.json()) as Page & { version: number };
    const etag = created.headers.get('etag')!;
    expect(etag).toBe('"1"');
    expect((await gw(`/data/pages/${page.id}`, { method: 'PATCH', token: eu.token, body: '{"title":"x"}' })).status).toBe(428);
    const patched = await gw(`/data/pages/${page.id}`, { method: 'PATCH', token: eu.token, headers: { 'if-match': etag }, body: JSON.stringify({ title: 'edited' }) });
    expect(patched.status, await patched.clone().text()).toBe(200);
    expect(patched.headers.get('etag')).toBe('"2"');
    expect((await gw(`/data/pages/${page.id}`, { method: 'PATCH', token: eu.token, headers: { 'if-match': etag }, body: '{"title":"stale"}' })).status).toBe(412);
    expect((await gw(`/data/pages/${page.id}`, { method: 'DELETE', token: eu2.token })).status).toBe(404);
    expect((await gw(`/data/pages/${page.id}`, { method: 'DELETE', token: eu.token })).status).toBe(204);
    expect((await gw(`/data/pages/${page.id}`, { token: eu.token })).status).toBe(404);
  });
});
