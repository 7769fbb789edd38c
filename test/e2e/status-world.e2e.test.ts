/**
 * Operations in the local world (startWorld: central app, regional app stacks,
 * PGlite databases behind ws proxies, the gateway under wrangler dev):
 *  - the status page in headless Chromium shows live per-region numbers while
 *    traffic runs through the gateway;
 *  - privileged actions reach the control-plane audit table from the Worker
 *    (@neondatabase/serverless over the ws proxy) and read back via /admin/audit;
 *  - the gateway's printed output never contains a password or token.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { signAdminToken } from '../../infra/auth/tokens.ts';
import pg from 'pg';
import { chromium, type BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_SANDBOX_DIR } from '../../infra/state.ts';
import { startWorld, type World } from '../../infra/world.ts';
import { gatewayClient } from './gateway-client.ts';

const CHROMIUM = '/usr/bin/chromium';
const HAS_CHROMIUM = existsSync(CHROMIUM);
if (!HAS_CHROMIUM) {
  console.warn(`\n*** SKIPPING the local-world status page browser test: ${CHROMIUM} is not installed (apt-get update && apt-get install -y chromium)\n`);
}
const PASSWORD = 'world-Pa55-correct-horse-4417';

let world: World;
let sandboxDir: string;
const output: string[] = [];

beforeAll(async () => {
  await mkdir(DEFAULT_SANDBOX_DIR, { recursive: true }); // absent on a clean clone
  sandboxDir = await mkdtemp(join(DEFAULT_SANDBOX_DIR, 'e2e-status-'));
  // `log` level: the gateway's per-request lines (console.log) are printed too.
  world = await startWorld({ dbMode: 'pglite', sandboxDir, gatewayLogLevel: 'log', onGatewayOutput: (l) => output.push(l) });
}, 180_000);

afterAll(async () => {
  await world?.stop();
  if (sandboxDir && !process.env.KEEP_SANDBOX) await rm(sandboxDir, { recursive: true, force: true });
}, 60_000);

const { gw, signup } = gatewayClient(() => world.gatewayUrl!);


/** What `npm run token -- --admin` prints: the world's key, admin typ and audience, every region, no tenant claims. */
function adminToken(): Promise<string> {
  return signAdminToken(world.state.signingKey, { issuer: world.state.issuer, sub: 'ops-world', regions: Object.keys(world.state.regions), ttlSeconds: 600 });
}

describe('audit in the local world', () => {
  it('writes a denied cross-region attempt into the control-plane database, readable via /admin/audit', async () => {
    const eu = await signup(`audit-${Date.now()}@example.com`, 'eu-central-1', { password: PASSWORD });
    const requestId = `e2e-audit-${crypto.randomUUID()}`;
    const denied = await gw('/api/pages', { token: eu.token, headers: { 'x-tenant-region': 'us-east-1', 'x-request-id': requestId } });
    expect(denied.status).toBe(403);

    // In the database itself (the Worker wrote it through the ws proxy)...
    const c = new pg.Client({ connectionString: world.central.databaseUrl });
    await c.connect();
    try {
      let rows: Array<Record<string, unknown>> = [];
      for (let i = 0; i < 50 && rows.length === 0; i++) {
        rows = (await c.query('SELECT actor_kind, action, target, result, detail FROM audit_log WHERE request_id = $1', [denied.headers.get('x-request-id')])).rows;
        if (rows.length === 0) await new Promise((r) => setTimeout(r, 100)); // written after the response (waitUntil)
      }
      expect(rows).toEqual([
        { actor_kind: 'tenant_user', action: 'tenant.region_denied', target: eu.tenant_id, result: 'denied', detail: { code: 'region_mismatch', tokenRegion: 'eu-central-1', requestedRegion: 'us-east-1', clientRequestId: requestId } },
      ]);
    } finally {
      await c.end();
    }
    // ...and through the admin route.
    const res = await gw('/admin/audit?action=tenant.region_denied&limit=10', { token: await adminToken() });
    expect(res.status).toBe(200);
    const { entries } = (await res.json()) as { entries: Array<{ requestId: string }> };
    expect(entries.some((e) => e.requestId === denied.headers.get('x-request-id'))).toBe(true);
  });
});

describe.skipIf(!HAS_CHROMIUM)('the status page in the local world', () => {
  let ctx: BrowserContext;
  let userDataDir: string;
  beforeAll(async () => {
    userDataDir = await mkdtemp(join(tmpdir(), 'etr-chromium-'));
    ctx = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
  });
  afterAll(async () => {
    await ctx?.close();
    if (userDataDir) await rm(userDataDir, { recursive: true, force: true });
  });

  it('shows every region up and live numbers rising while tenants work through the gateway', async () => {
    const page = await ctx.newPage();
    await page.goto(`${world.gatewayUrl}/admin/status#token=${await adminToken()}`);
    const card = (r: string) => page.locator(`#regions [data-region="${r}"]`);
    const total = async (r: string) => Number(await card(r).locator('[data-field="total"]').textContent());
    await card('ap-southeast-2').locator('[data-field="total"]').waitFor();
    for (const r of ['us-east-1', 'eu-central-1', 'ap-southeast-2', 'central']) {
      await expect.poll(() => card(r).locator('[data-field="health"]').textContent(), { timeout: 15_000 }).toBe('up');
    }
    const before = await total('ap-southeast-2');

    const ap = await signup(`status-${Date.now()}@example.com`, 'ap-southeast-2', { password: PASSWORD });
    for (let i = 0; i < 4; i++) {
      const res = await gw('/api/pages', { method: 'POST', token: ap.token, body: JSON.stringify({ title: `t${i}`, body: 'b' }) });
      expect(res.status).toBe(201);
      await res.body?.cancel();
    }
    await (await gw('/api/pages', { token: ap.token })).body?.cancel();

    await expect.poll(() => total('ap-southeast-2'), { timeout: 15_000 }).toBe(before + 5);
    await expect.poll(() => total('central'), { timeout: 15_000 }).toBeGreaterThanOrEqual(1); // the signup
    await expect.poll(() => page.locator('#decisions tbody tr').first().textContent(), { timeout: 15_000 }).toContain(ap.tenant_id);
    await page.close();
  });
});

describe('gateway output in the local world', () => {
  it('has per-request lines and never a password or token', async () => {
    const lines = output.filter((l) => l.includes('"msg":"request"'));
    expect(lines.length).toBeGreaterThan(3);
    const all = output.join('\n');
    expect(all).not.toContain(PASSWORD);
    expect(all).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}/);
  });
});
