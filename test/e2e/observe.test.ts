/**
 * Observability end to end: the gateway under a real `wrangler dev`, real origins
 * (Node HTTP servers, the central one serving the JWKS), real requests.
 *  - its printed log lines carry the fields and never a token, password or cookie;
 *  - the Analytics Engine binding is live locally;
 *  - /admin/status in a real headless Chromium (Debian's package, driven by
 *    playwright-core) shows regions and live numbers that change as traffic flows.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { CENTRAL_AUDIENCE, newAssertionKeys } from '../../src/identity-assertion/index.ts';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, SignJWT, type JWTPayload } from 'jose';
import { chromium, type BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRecordingOrigin, type RecordingOrigin } from '../support/recording-origin.ts';
import { startWranglerDev, type WranglerDev } from '../../infra/gateway/wrangler-dev.ts';

const CHROMIUM = '/usr/bin/chromium';
const HAS_CHROMIUM = existsSync(CHROMIUM);
if (!HAS_CHROMIUM) {
  console.warn(
    `\n*** SKIPPING the status-page browser test: ${CHROMIUM} is not installed.\n` +
      '*** Install it with: apt-get update && apt-get install -y chromium\n',
  );
}
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

const ISSUER = 'https://central.e2e';
const AUDIENCE = 'edge-tenant-router';
const REGION_NAMES = ['us-east-1', 'eu-central-1', 'ap-southeast-2'] as const;

let gw: WranglerDev & { output(): string };
let gwDir: string;
let origins: Record<string, RecordingOrigin> = {};
let sign: (claims: JWTPayload, header?: { typ: string; aud: string }) => Promise<string>;

beforeAll(async () => {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  const jwks = { keys: [{ ...(await exportJWK(publicKey)), kid: 'e2e-1', alg: 'ES256', use: 'sig' }] };
  sign = (claims, as = { typ: 'at+jwt', aud: AUDIENCE }) =>
    new SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid: 'e2e-1', typ: as.typ }).setIssuer(ISSUER).setAudience(as.aud).setIssuedAt().setExpirationTime('10m').sign(privateKey);
  origins.central = await startRecordingOrigin('central', (req) =>
    req.url === '/.well-known/jwks.json' ? { status: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify(jwks) } : undefined,
  );
  for (const r of REGION_NAMES) origins[r] = await startRecordingOrigin(r);
  const vars: Record<string, string> = {
    JWT_ISSUER: ISSUER,
    JWT_AUDIENCE: AUDIENCE,
    JWKS_URL: `${origins.central.url}/.well-known/jwks.json`,
    JWT_ALGORITHMS: '["ES256"]',
    CENTRAL_ORIGIN: origins.central.url,
    REGIONS: JSON.stringify(Object.fromEntries(REGION_NAMES.map((r) => [r, { origin: origins[r]!.url }]))),
    GATEWAY_ASSERTION_KEYS: JSON.stringify(newAssertionKeys([...REGION_NAMES, CENTRAL_AUDIENCE])),
  };
  gwDir = mkdtempSync(join(tmpdir(), 'etr-observe-'));
  const envFile = join(gwDir, 'gateway.env');
  // Single quotes: dotenv takes the value literally (JSON stays intact).
  writeFileSync(envFile, Object.entries(vars).map(([k, v]) => `${k}='${v}'`).join('\n') + '\n');
  const lines: string[] = [];
  const dev = await startWranglerDev({
    cwd: join(import.meta.dirname, '..', '..'),
    envFile,
    persistTo: join(gwDir, 'state'),
    logFile: join(gwDir, 'wrangler.log'),
    logLevel: 'log', // the gateway's info lines (console.log) are printed too
    onOutput: (l) => lines.push(l),
  });
  gw = { ...dev, output: () => lines.join('\n') };
});

afterAll(async () => {
  if (gw) expect(await gw.stop()).toEqual([]); // no wrangler or workerd process left behind
  await Promise.all(Object.values(origins).map((o) => o.close()));
  if (gwDir) rmSync(gwDir, { recursive: true, force: true });
});

const tenantToken = (tenant: string, region: string) => sign({ sub: `user-${tenant}`, tenant_id: tenant, tenant_region: region });

async function waitFor<T>(what: string, fn: () => T | undefined, timeoutMs = 15_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('gateway logs under wrangler dev', () => {
  it('prints one JSON line per request with the fields, and never a token, password or cookie', async () => {
    const token = await tenantToken('ws_logs', 'eu-central-1');
    const secrets = { password: 'e2e-Pa55word-771', cookie: 'e2e-cookie-9902', query: 'e2e-query-cred-3310' };
    const id = `e2e-${crypto.randomUUID()}`;
    const res1 = await fetch(`${gw.url}/api/pages?access_token=${secrets.query}`, {
      headers: { authorization: `Bearer ${token}`, cookie: `sid=${secrets.cookie}`, 'x-request-id': `${id}-a`, traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' },
    });
    expect(res1.status).toBe(200);
    expect(res1.headers.get('server-timing')).toMatch(/verify;dur=.*upstream;dur=.*total;dur=/);
    await res1.body?.cancel();
    const res2 = await fetch(`${gw.url}/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', cookie: `sid=${secrets.cookie}`, 'x-request-id': `${id}-b` },
      body: JSON.stringify({ email: 'e2e@example.com', password: secrets.password }),
    });
    expect(res2.status).toBe(200);
    await res2.body?.cancel();
    const res3 = await fetch(`${gw.url}/api/pages`, { headers: { authorization: `Bearer ${token.slice(0, -4)}AAAA`, 'x-request-id': `${id}-c` } });
    expect(res3.status).toBe(401);
    await res3.body?.cancel();

    const lines = await waitFor('three log lines', () => {
      const found = gw
        .output()
        .split('\n')
        .filter((l) => l.includes(id))
        // wrangler dev decorates console.warn/error lines (`▲ [WARNING]`, ANSI colours); the JSON is intact inside.
        .map((l) => JSON.parse(l.replace(/\u001b\[[0-9;]*m/g, '').replace(/^[^{]*/, '').replace(/[^}]*$/, '')) as Record<string, any>);
      return found.length >= 3 ? found : undefined;
    });
    const byId = Object.fromEntries(lines.map((l) => [l.clientRequestId, l]));
    expect(byId[`${id}-a`]).toMatchObject({
      msg: 'request',
      route: '/api/*',
      path: '/api/pages',
      tenant: 'ws_logs',
      region: 'eu-central-1',
      upstream: { kind: 'region', name: 'eu-central-1' },
      status: 200,
      traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
      parentSpanId: '00f067aa0ba902b7',
    });
    expect(Object.keys(byId[`${id}-a`]!.durations).sort()).toEqual(['totalMs', 'upstreamMs', 'verifyMs']);
    expect(byId[`${id}-b`]).toMatchObject({ route: '/auth/login', upstream: { kind: 'central' }, status: 200 });
    expect(byId[`${id}-c`]).toMatchObject({ status: 401, error: { code: 'invalid_token' } });
    // The origin saw the trace continue under the gateway's span.
    const seen = origins['eu-central-1']!.requests.find((r) => r.headers['x-client-request-id'] === `${id}-a`)!;
    expect(seen.headers.traceparent).toBe(`00-4bf92f3577b34da6a3ce929d0e0e4736-${byId[`${id}-a`]!.spanId}-01`);

    const all = gw.output();
    for (const s of [token, token.split('.')[1]!, token.split('.')[2]!, ...Object.values(secrets)]) expect(all).not.toContain(s);
  });

  it('runs with the Analytics Engine binding live, and no metrics write fails', () => {
    expect(gw.output()).toMatch(/env\.METRICS \(edge_tenant_router_dev\)\s+Analytics Engine Dataset/);
    expect(gw.output()).not.toMatch(/metrics_write_failed|Failed to write data point/);
  });

  it('answers /healthz and /readyz', async () => {
    const h = await fetch(`${gw.url}/healthz`);
    expect(await h.json()).toEqual({ status: 'ok', config: 'valid' });
    const r = await fetch(`${gw.url}/readyz`);
    expect(r.status).toBe(200);
    expect(((await r.json()) as { status: string }).status).toBe('ready');
  });
});

describe.skipIf(!HAS_CHROMIUM)('/admin/status in headless Chromium', () => {
  let ctx: BrowserContext;
  let userDataDir: string;

  beforeAll(async () => {
    userDataDir = mkdtempSync(join(tmpdir(), 'etr-chromium-'));
    ctx = await chromium.launchPersistentContext(userDataDir, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
  });
  afterAll(async () => {
    await ctx?.close();
    if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
  });

  it('shows regions, health and live request counts that change as traffic flows', async () => {
    const admin = await sign({ sub: 'ops-e2e', admin_regions: [...REGION_NAMES] }, { typ: 'admin+jwt', aud: 'edge-tenant-router-admin' });
    const page = await ctx.newPage();
    await page.goto(`${gw.url}/admin/status#token=${admin}`);
    // The token left the address bar (it lives in sessionStorage for this tab only).
    await page.waitForFunction("!location.hash.includes('token')");
    const card = (r: string) => page.locator(`#regions [data-region="${r}"]`);
    await card('eu-central-1').locator('[data-field="total"]').waitFor();
    for (const r of [...REGION_NAMES, 'central']) await expect.poll(() => card(r).locator('[data-field="health"]').textContent()).toBe('up');
    await expect.poll(() => page.locator('#overall').textContent()).toBe('all ready');

    const count = async (r: string) => Number(await card(r).locator('[data-field="total"]').textContent());
    const euBefore = await count('eu-central-1');
    const apBefore = await count('ap-southeast-2');
    const eu = await tenantToken('ws_browser_eu', 'eu-central-1');
    const ap = await tenantToken('ws_browser_ap', 'ap-southeast-2');
    for (let i = 0; i < 5; i++) await (await fetch(`${gw.url}/api/pages/${i}`, { headers: { authorization: `Bearer ${eu}` } })).body?.cancel();
    for (let i = 0; i < 2; i++) await (await fetch(`${gw.url}/api/pages`, { headers: { authorization: `Bearer ${ap}` } })).body?.cancel();

    // The page polls on its own: the numbers change without a reload.
    await expect.poll(() => count('eu-central-1'), { timeout: 15_000 }).toBe(euBefore + 5);
    await expect.poll(() => count('ap-southeast-2'), { timeout: 15_000 }).toBe(apBefore + 2);
    const firstRow = page.locator('#decisions tbody tr').first();
    await expect.poll(() => firstRow.textContent(), { timeout: 15_000 }).toContain('ws_browser_ap');
    expect(await page.locator('#decisions tbody tr', { hasText: 'ws_browser_eu' }).count()).toBe(5);
    // For docs and reviews: `STATUS_SCREENSHOT=path.png npx vitest run test/e2e/observe.test.ts`.
    if (process.env.STATUS_SCREENSHOT) await page.screenshot({ path: process.env.STATUS_SCREENSHOT, fullPage: true });

    // A region going down turns its card red within the probe cache age plus one poll.
    await origins['ap-southeast-2']!.close();
    await expect.poll(() => card('ap-southeast-2').locator('[data-field="health"]').textContent(), { timeout: 20_000 }).toBe('down');
    await expect.poll(() => page.locator('#overall').textContent()).toBe('not ready');
    expect(await card('eu-central-1').locator('[data-field="health"]').textContent()).toBe('up');
    await page.close();
  });

  it('shows the token form, not data, to a tenant token', async () => {
    const page = await ctx.newPage();
    await page.goto(`${gw.url}/admin/status#token=${await tenantToken('ws_nosy', 'eu-central-1')}`);
    await expect.poll(() => page.locator('#login-error').textContent(), { timeout: 10_000 }).toBe('This token has no admin role.');
    expect(await page.locator('#main').isHidden()).toBe(true);
    expect(await page.locator('#regions [data-region]').count()).toBe(0);
    await page.close();
  });
});
