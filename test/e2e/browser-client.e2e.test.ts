/**
 * The local world's browser client (infra/browser-client) in Debian's Chromium: a page on its own
 * origin signs up, creates and lists pages, refreshes its session, logs in again and shows a
 * region mismatch, all through the gateway under wrangler dev. That is CORS as a browser enforces
 * it (preflights, exposed headers), not as curl sees it; and a page on an origin the gateway does
 * not allow cannot read a single response.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Hono } from 'hono';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serveHttp, type HttpService } from '../../infra/http/serve.ts';
import { makeTestSandbox } from '../../infra/state.ts';
import { moveTenant } from '../../infra/tenant-move/move.ts';
import { startWorld, type World } from '../../infra/world.ts';

const CHROMIUM = '/usr/bin/chromium';
const HAS_CHROMIUM = existsSync(CHROMIUM);
if (!HAS_CHROMIUM) {
  console.warn(`\n*** SKIPPING the browser client test: ${CHROMIUM} is not installed (apt-get update && apt-get install -y chromium)\n`);
}
const PASSWORD = 'browser-Pa55-correct-horse';
/** Signup and login hash a password (scrypt) and the machine may be shared: UI steps get time. */
const SLOW = { timeout: 30_000 };

describe.skipIf(!HAS_CHROMIUM)('the browser client in Chromium', () => {
  let world: World;
  let sandboxDir: string;
  let ctx: BrowserContext;
  let userDataDir: string;
  let stranger: HttpService;
  const gatewayLines: Array<Record<string, unknown>> = [];
  const regionRequests: Array<{ region: string; method: string; path: string }> = [];

  beforeAll(async () => {
    sandboxDir = await makeTestSandbox('e2e-browser-');
    world = await startWorld({
      dbMode: 'pglite',
      sandboxDir,
      gatewayLogLevel: 'log',
      onGatewayOutput: (l) => {
        // wrangler prints warn-level lines with a coloured prefix, whatever NO_COLOR says.
        const plain = l.replace(/\x1b\[[0-9;]*m/g, '');
        if (plain.includes('"msg":"request"')) gatewayLines.push(JSON.parse(plain.slice(plain.indexOf('{'))) as Record<string, unknown>);
      },
      onRegionRequest: (region, req) => regionRequests.push({ region, method: req.method, path: new URL(req.url).pathname }),
    });
    // A page on an origin the gateway does not allow (a port of its own, same host).
    const app = new Hono();
    app.get('/', (c) => c.html('<!doctype html><title>stranger</title><p>not allowed</p>'));
    stranger = await serveHttp(app.fetch);
    userDataDir = await mkdtemp(join(tmpdir(), 'etr-chromium-'));
    ctx = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
  }, 180_000);

  afterAll(async () => {
    await ctx?.close();
    if (userDataDir) await rm(userDataDir, { recursive: true, force: true });
    await stranger?.close();
    await world?.stop();
    if (sandboxDir && !process.env.KEEP_SANDBOX) await rm(sandboxDir, { recursive: true, force: true });
  }, 60_000);

  const text = (page: Page, id: string) => page.locator(`#${id}`).textContent();

  it('signs up, creates and lists pages, refreshes, shows a region mismatch, logs out and in again, across origins', async () => {
    expect(new URL(world.clientUrl!).origin).not.toBe(new URL(world.gatewayUrl!).origin);
    const page = await ctx.newPage();
    // The refresh tokens central hands the page (to check from outside that logout revoked them).
    const refreshTokens: string[] = [];
    page.on('response', async (r) => {
      if (r.request().method() === 'POST' && /\/auth\/(signup|login|refresh)$/.test(r.url()) && r.ok()) {
        refreshTokens.push(((await r.json()) as { refresh_token: string }).refresh_token);
      }
    });
    const consoleErrors: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push(m.text());
    });
    await page.goto(world.clientUrl!);
    await page.locator('body[data-ready="true"]').waitFor();
    expect(await text(page, 'gateway-url')).toBe(world.gatewayUrl);

    // Sign up in eu-central-1: a JSON POST, so the browser preflights it.
    const email = `browser-${Date.now()}@example.eu`;
    const signup = page.locator('#signup-form');
    await signup.locator('[name=email]').fill(email);
    await signup.locator('[name=password]').fill(PASSWORD);
    await signup.locator('[name=workspace]').fill('Browser EU');
    await signup.locator('[name=region]').selectOption('eu-central-1');
    await signup.locator('button').click();
    await expect.poll(() => text(page, 'tenant-region'), SLOW).toBe('eu-central-1');
    expect(await page.locator('#auth').isVisible()).toBe(false);
    const tenantId = (await text(page, 'tenant-id'))!;
    expect(tenantId).toMatch(/^ws_/);

    // Create a page, then see it listed; the request id is readable (exposed by the gateway).
    await page.locator('#create-form [name=title]').fill('Hello from Chromium');
    await page.locator('#create-form [name=body]').fill('across origins');
    await page.locator('#create-form button').click();
    await expect.poll(() => page.locator('#page-list tr').count(), SLOW).toBe(1);
    expect(await page.locator('#page-list tr td').allTextContents()).toEqual(['Hello from Chromium', 'across origins', 'eu-central-1']);
    expect(await text(page, 'last-status')).toBe('200');
    expect(await text(page, 'last-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    // Only in eu-central-1's database.
    for (const [r, h] of Object.entries(world.regions)) {
      const { rows } = await h.db.query<{ title: string }>('SELECT title FROM pages WHERE tenant_id = $1', [tenantId]);
      expect(rows.map((x) => x.title), r).toEqual(r === 'eu-central-1' ? ['Hello from Chromium'] : []);
    }

    // Refresh the session (POST /auth/refresh with the refresh token): a new token, and it still lists the page.
    const tailBefore = await text(page, 'token-tail');
    await page.locator('#refresh').click();
    await expect.poll(() => text(page, 'refresh-count'), SLOW).toBe('1');
    expect(await text(page, 'token-tail')).not.toBe(tailBefore);
    await expect.poll(() => refreshTokens.length, SLOW).toBe(2);
    expect(refreshTokens[1]).not.toBe(refreshTokens[0]);
    await expect.poll(() => text(page, 'last-request'), SLOW).toBe('GET /api/pages?limit=50');
    // The client names the request before its answer arrives ('…' until then).
    await expect.poll(() => text(page, 'last-status'), SLOW).toBe('200');
    expect(await page.locator('#page-list tr').count()).toBe(1);

    // Ask another region: the gateway's 403 is readable by the app (CORS headers on errors).
    await page.locator('#wrong-region').click();
    await expect.poll(() => text(page, 'error-code'), SLOW).toBe('region_mismatch');
    expect(await page.locator('#error').isVisible()).toBe(true);
    expect(await text(page, 'last-status')).toBe('403');
    const requestId = await text(page, 'last-request-id');
    expect(requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(await text(page, 'error-message')).toContain(`(request ${requestId})`);

    // Log out (central revokes the session: its current refresh token no longer works), then log in again.
    await page.locator('#logout').click();
    await expect.poll(() => page.locator('#auth').isVisible(), SLOW).toBe(true);
    expect([await text(page, 'last-request'), await text(page, 'last-status')]).toEqual(['POST /auth/logout', '204']);
    const revoked = await fetch(`${world.gatewayUrl}/auth/refresh`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ refresh_token: refreshTokens[1] }),
    });
    expect(revoked.status).toBe(401);
    const login = page.locator('#login-form');
    await login.locator('[name=email]').fill(email);
    await login.locator('[name=password]').fill(PASSWORD);
    await login.locator('button').click();
    await expect.poll(() => text(page, 'tenant-id'), SLOW).toBe(tenantId);
    await expect.poll(() => page.locator('#page-list tr').count(), SLOW).toBe(1);
    expect(consoleErrors.filter((e) => !e.includes('403'))).toEqual([]);
    await page.close();

    // The browser preflighted, the gateway answered each preflight itself (204, no upstream),
    // and no origin ever saw an OPTIONS request.
    const preflights = gatewayLines.filter((l) => l.method === 'OPTIONS');
    expect(preflights.length).toBeGreaterThanOrEqual(3);
    for (const l of preflights) expect([l.status, l.upstream]).toEqual([204, undefined]);
    for (const l of preflights) expect(['/auth/signup', '/auth/login', '/auth/refresh', '/auth/logout', '/api/pages']).toContain(l.path);
    for (const p of ['/auth/signup', '/auth/refresh', '/auth/logout', '/api/pages']) expect(preflights.some((l) => l.path === p), p).toBe(true);
    expect(gatewayLines.some((l) => l.method === 'POST' && l.path === '/auth/refresh' && l.status === 200)).toBe(true);
    expect(regionRequests.filter((r) => r.method === 'OPTIONS')).toEqual([]);
  });

  it('recovers from a tenant move by itself: 409 tenant_relocated → a fresh token from central → the pages from the new region', async () => {
    const page = await ctx.newPage();
    await page.goto(world.clientUrl!);
    await page.locator('body[data-ready="true"]').waitFor();
    const signup = page.locator('#signup-form');
    await signup.locator('[name=email]').fill(`moving-${Date.now()}@example.eu`);
    await signup.locator('[name=password]').fill(PASSWORD);
    await signup.locator('[name=workspace]').fill('Moving EU');
    await signup.locator('[name=region]').selectOption('eu-central-1');
    await signup.locator('button').click();
    await expect.poll(() => text(page, 'tenant-region'), SLOW).toBe('eu-central-1');
    const tenantId = (await text(page, 'tenant-id'))!;
    await page.locator('#create-form [name=title]').fill('before the move');
    await page.locator('#create-form button').click();
    await expect.poll(() => page.locator('#page-list tr').count(), SLOW).toBe(1);

    await moveTenant({
      centralUrl: world.central.databaseUrl,
      regionUrls: Object.fromEntries(Object.entries(world.regions).map(([n, r]) => [n, r.databaseUrl])),
      tenant: tenantId,
      to: 'us-east-1',
    });
    const seenBefore = gatewayLines.length;
    // The page still holds a token for eu-central-1; reloading meets the 409 and recovers.
    await page.locator('#reload').click();
    await expect.poll(() => text(page, 'tenant-region'), SLOW).toBe('us-east-1');
    await expect.poll(() => page.locator('#page-list tr td').allTextContents(), SLOW).toEqual(['before the move', '', 'us-east-1']);
    expect(await text(page, 'relocated-count')).toBe('1');
    expect(await page.locator('#error').isVisible()).toBe(false);
    await expect.poll(() => gatewayLines.slice(seenBefore).map((l) => `${l.method} ${l.path} ${l.status}`).filter((l) => !l.startsWith('OPTIONS')), SLOW).toEqual([
      'GET /api/pages 409',
      'POST /auth/refresh 200',
      'GET /api/pages 200',
    ]);
    await page.close();
  });

  it('a page on an origin the gateway does not allow cannot read any response', async () => {
    const page = await ctx.newPage();
    await page.goto(stranger.url);
    const outcome = (init: RequestInit) =>
      page.evaluate(
        async ({ url, init }) => {
          try {
            const res = await fetch(url, init);
            return `read ${res.status}`;
          } catch (e) {
            return `refused: ${(e as Error).name}`;
          }
        },
        { url: `${world.gatewayUrl}/api/stranger-probe`, init },
      );
    const seenBefore = gatewayLines.length;
    // A simple request (no preflight): the gateway answers 401, and the browser hides it.
    expect(await outcome({})).toBe('refused: TypeError');
    // A preflighted one: the preflight is not approved, so the request itself is never sent.
    expect(await outcome({ headers: { authorization: 'Bearer x', 'x-tenant-region': 'eu-central-1' } })).toBe('refused: TypeError');
    await expect.poll(() => gatewayLines.slice(seenBefore).filter((l) => l.path === '/api/stranger-probe').length, SLOW).toBeGreaterThanOrEqual(2);
    const seen = gatewayLines.slice(seenBefore).filter((l) => l.path === '/api/stranger-probe');
    // The stranger's OPTIONS met the normal rules (401, as with no Origin); no GET with its token followed.
    expect(seen.map((l) => `${l.method} ${l.status}`).sort()).toEqual(['GET 401', 'OPTIONS 401']);
    await page.close();
  });
});
