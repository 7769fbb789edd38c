/**
 * The whole local world through the real gateway (wrangler dev + workerd):
 * tenants signed up in different regions get their data stored in their home
 * region's database and nowhere else, and identity can only come from a token.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createTokenSigner } from '../../infra/auth/tokens.ts';
import { groupAndDescendants } from '../../infra/gateway/process-group.ts';
import { makeTestSandbox } from '../../infra/state.ts';
import { startWorld, type World } from '../../infra/world.ts';
import { gatewayClient, type Signup } from './gateway-client.ts';

// Whole worlds start here (databases, apps, maybe wrangler): far beyond the default timeouts.
vi.setConfig({ testTimeout: 60_000, hookTimeout: 180_000 });


let world: World;
let sandboxDir: string;
let gatewayPid: number;

const { gw, signup } = gatewayClient(() => world.gatewayUrl!);


async function pagesIn(databaseUrl: string, ids: string[]): Promise<Array<{ id: string; tenant_id: string; region: string }>> {
  const c = new pg.Client({ connectionString: databaseUrl });
  await c.connect();
  try {
    return (await c.query('SELECT id, tenant_id, region FROM pages WHERE id = ANY($1::uuid[]) ORDER BY id', [ids])).rows;
  } finally {
    await c.end();
  }
}

beforeAll(async () => {
  sandboxDir = await makeTestSandbox('e2e-');
  // PGlite explicitly, whatever LOCAL_PG_URL says: this suite must run anywhere.
  world = await startWorld({ dbMode: 'pglite', sandboxDir });
  gatewayPid = world.state.gatewayPid!;
}, 180_000);

afterAll(async () => {
  await world?.stop();
  if (gatewayPid) expect(groupAndDescendants(gatewayPid)).toEqual([]);
  if (!process.env.KEEP_SANDBOX) await rm(sandboxDir, { recursive: true, force: true });
}, 60_000);

describe('gateway e2e (PGlite world)', () => {
  let eu: Signup;
  let us: Signup;
  const created: Record<string, string[]> = {};

  beforeAll(async () => {
    eu = await signup('eu-owner@example.com', 'eu-central-1');
    us = await signup('us-owner@example.com', 'us-east-1');
  });

  it('signs up through the gateway with tokens for the chosen region', () => {
    expect(eu.tenant_region).toBe('eu-central-1');
    expect(us.tenant_region).toBe('us-east-1');
    expect(eu.tenant_id).not.toBe(us.tenant_id);
  });

  it('logs in and serves the JWKS through the gateway', async () => {
    const login = await gw('/auth/login', { method: 'POST', body: JSON.stringify({ email: 'eu-owner@example.com', password: 'correct horse battery' }) });
    expect(login.status).toBe(200);
    expect((await login.json()).tenant_id).toBe(eu.tenant_id);
    const jwks = await gw('/.well-known/jwks.json');
    expect((await jwks.json()).keys[0].kid).toBe(world.state.signingKey.kid);
  });

  it("stores each tenant's pages in its home region's database and in no other", async () => {
    for (const [who, n] of [[eu, 2], [us, 2]] as const) {
      for (let i = 0; i < n; i++) {
        const res = await gw('/api/pages', { method: 'POST', token: who.token, body: JSON.stringify({ title: `${who.tenant_region} page ${i}`, body: 'hello' }) });
        expect(res.status, await res.clone().text()).toBe(201);
        const page = await res.json();
        expect(page).toMatchObject({ tenant_id: who.tenant_id, region: who.tenant_region });
        (created[who.tenant_region] ??= []).push(page.id);
      }
    }
    const allIds = Object.values(created).flat();
    for (const [region, handle] of Object.entries(world.regions)) {
      const rows = await pagesIn(handle.databaseUrl, allIds);
      const expected = (created[region] ?? []).slice().sort();
      expect(rows.map((r) => r.id), `pages in ${region}`).toEqual(expected);
      for (const r of rows) expect(r.region).toBe(region);
    }
  });

  it('lists only the caller tenant pages and hides other tenants pages', async () => {
    const list = await (await gw('/api/pages', { token: eu.token })).json();
    expect(list.pages.map((p: { id: string }) => p.id).sort()).toEqual(created['eu-central-1']!.slice().sort());
    const foreign = await gw(`/api/pages/${created['eu-central-1']![0]}`, { token: us.token });
    expect(foreign.status).toBe(404);
    // The assertion covers the query string: it must survive the trip intact.
    const one = await gw('/api/pages?limit=1', { token: eu.token });
    expect(one.status).toBe(200);
    expect((await one.json()).pages).toHaveLength(1);
  });

  it('refuses a token whose payload was altered (401)', async () => {
    const [h, p, s] = eu.token.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString());
    const altered = [h, Buffer.from(JSON.stringify({ ...claims, tenant_id: us.tenant_id })).toString('base64url'), s].join('.');
    const res = await gw('/api/pages', { token: altered });
    expect(res.status).toBe(401);
    expect((await res.json()).error.code).toBeTruthy();
  });

  it('refuses a request without a token (401 + WWW-Authenticate)', async () => {
    const res = await gw('/api/pages');
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer realm="edge-tenant-router"/);
    const body = await res.json();
    expect(body.error).toMatchObject({ code: expect.any(String), message: expect.any(String), requestId: expect.any(String) });
  });

  it('refuses a valid token for a region the gateway does not serve (403)', async () => {
    const signer = await createTokenSigner(world.state.signingKey, { issuer: world.state.issuer, audience: world.state.audience });
    const token = await signer.sign({ sub: eu.user_id, tenantId: eu.tenant_id, region: 'sa-east-1' });
    const res = await gw('/api/pages', { token });
    expect(res.status).toBe(403);
  });

  it('never lets a client X-Tenant-Id (or other identity header) reach an origin', async () => {
    const res = await gw('/api/whoami', {
      token: eu.token,
      headers: { 'X-Tenant-Id': us.tenant_id, 'X-User-Id': 'intruder', 'X-Tenant-Region': 'eu-central-1', 'X_Tenant_Id': us.tenant_id },
    });
    expect(res.status).toBe(200);
    const me = await res.json();
    expect(me).toMatchObject({ tenant_id: eu.tenant_id, user_id: eu.user_id, tenant_region: 'eu-central-1', origin_region: 'eu-central-1' });
    expect(me.headers['x-tenant-id']).toBe(eu.tenant_id);
    expect(me.headers['x-user-id']).toBe(eu.user_id);
    expect(JSON.stringify(me.headers)).not.toContain(us.tenant_id);
  });

  it('refuses a request sent straight to a regional origin without the assertion (401)', async () => {
    const origin = world.regions['eu-central-1']!.originUrl;
    const res = await fetch(`${origin}/api/pages`, {
      headers: { 'x-tenant-id': eu.tenant_id, 'x-user-id': eu.user_id, 'x-tenant-region': 'eu-central-1', 'x-request-id': 'r1', authorization: `Bearer ${eu.token}` },
    });
    expect(res.status).toBe(401);
    expect((await res.json()).error.code).toBe('gateway_assertion_required');
  });

  it("limits a tenant sending 600 requests within 10 s (429 with Retry-After and RateLimit fields) while another tenant of its region, at the same time, is not", async () => {
    const loud = await signup('eu-loud@example.com', 'eu-central-1');
    const quiet = await signup('eu-quiet@example.com', 'eu-central-1');
    // The local world's budget is 300 per 10 s window per tenant, windows aligned to the clock: start on a boundary.
    await new Promise((r) => setTimeout(r, 10_000 - (Date.now() % 10_000) + 50));
    const started = Date.now();
    const loudAnswers: Array<{ status: number; retryAfter: string | null; policy: string | null; limit: string | null }> = [];
    const quietStatuses: number[] = [];
    let sent = 0;
    const loudConnection = async () => {
      while (sent < 600) {
        sent++;
        const res = await gw('/api/pages?limit=1', { token: loud.token });
        await res.arrayBuffer();
        loudAnswers.push({ status: res.status, retryAfter: res.headers.get('retry-after'), policy: res.headers.get('ratelimit-policy'), limit: res.headers.get('ratelimit') });
      }
    };
    const quietClient = async () => {
      for (let i = 0; i < 20; i++) {
        const res = await gw('/api/pages?limit=1', { token: quiet.token });
        await res.arrayBuffer();
        quietStatuses.push(res.status);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    // Enough connections that the held refusals (TENANT_REFUSAL_DELAY_MS) still fit the 600 in one window.
    await Promise.all([...Array.from({ length: 40 }, loudConnection), quietClient()]);
    const windows = Math.floor(Date.now() / 10_000) - Math.floor(started / 10_000) + 1;
    expect(windows, 'the 600 requests did not fit in one 10 s window on this machine').toBe(1);

    expect(loudAnswers).toHaveLength(600);
    const limited = loudAnswers.filter((a) => a.status === 429);
    const served = loudAnswers.filter((a) => a.status === 200).length;
    const busy = loudAnswers.filter((a) => a.status === 503).length;
    console.log(`600 requests of one tenant in one window: ${served} × 200, ${limited.length} × 429, ${busy} × 503 tenant_busy`);
    expect(served).toBeLessThanOrEqual(300);
    expect(served + limited.length + busy).toBe(600);
    expect(limited.length).toBeGreaterThanOrEqual(250); // 600 − 300, less any refused as tenant_busy instead
    // Refused by the window's budget (300 per 10 s), or by the pace within it (6 at once, then 30 a second).
    for (const a of limited) {
      expect(Number(a.retryAfter)).toBeGreaterThanOrEqual(1);
      expect(a.policy).toMatch(/^"api-tenant";q=300;w=10$|^"api-tenant-pace";q=6;w=1$/);
      expect(a.limit).toMatch(/^"api-tenant(-pace)?";r=0;t=\d+$/);
      expect(a.limit!.startsWith(a.policy!.split(';')[0]!)).toBe(true);
    }
    expect(quietStatuses).toHaveLength(20);
    expect(quietStatuses.filter((s) => s !== 200)).toEqual([]);
  });
});
