/** /healthz and /readyz against real origins, a closed port and an origin that never answers. */
import { describe, expect, it } from 'vitest';
import { createApp } from '../../../src/app.ts';
import { allOriginRequests, bindings, callGateway, egressFor, mintAdminToken, mintToken, newMarker, ORIGINS } from '../helpers.ts';

/** The detailed report needs a gateway-admin token (anonymous callers get only the status). */
const asAdmin = async (headers: Record<string, string> = {}) => ({ ...headers, authorization: `Bearer ${await mintAdminToken()}` });

const REGIONS = JSON.parse(bindings.REGIONS!) as Record<string, { origin: string }>;
const HUNG = bindings.TEST_HUNG_ORIGIN!;
/** The discard port: nothing listens there on these machines, so a connection is refused at once. */
const CLOSED = 'http://127.0.0.1:9';


interface Report {
  status: string;
  timeoutMs: number;
  checks: Array<{ name: string; kind: string; region?: string; ok: boolean; detail?: string; latencyMs: number }>;
}

describe('/healthz', () => {
  it('answers ok without calling any upstream', async () => {
    const marker = newMarker();
    const res = await callGateway('/healthz', { headers: { 'x-request-id': marker } });
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(await res.json()).toEqual({ status: 'ok', config: 'valid' });
    expect(await egressFor(marker)).toEqual([]);
  });

  it('is 503 when the config is invalid, naming no value', async () => {
    const res = await callGateway('/healthz', {}, { REGIONS: 'not json', GATEWAY_ASSERTION_KEYS: '{"eu-central-1":[{"kid":"k","secret":"short"}]}' });
    expect(res.status).toBe(503);
    const text = await res.text();
    expect(JSON.parse(text)).toEqual({ status: 'unhealthy', config: 'invalid' });
    expect(text).not.toContain('short');
  });
});

describe('/readyz', () => {
  it('is ready when the key set loads and every origin answers', async () => {
    const marker = newMarker();
    const res = await callGateway('/readyz', { headers: await asAdmin({ 'x-request-id': marker }) }, { READINESS_ORIGIN_PATH: '/healthz' });
    const body = (await res.json()) as Report;
    expect(res.status).toBe(200);
    expect(body.status).toBe('ready');
    expect(body.checks.map((c) => c.name).sort()).toEqual(
      ['key_set', 'origin:central', ...Object.keys(REGIONS).map((r) => `origin:${r}`)].sort(),
    );
    expect(body.checks.find((c) => c.name === 'key_set')).toMatchObject({ ok: true, detail: '2 keys' });
    expect(body.checks.find((c) => c.name === 'origin:eu-central-1')).toMatchObject({ ok: true, kind: 'origin', region: 'eu-central-1', detail: 'status 200' });
    // Each origin was probed on the configured path, once, under the asking request's (gateway) id.
    const rid = res.headers.get('x-request-id');
    const egress = Object.entries(await allOriginRequests()).flatMap(([origin, rs]) => rs.filter((r) => r.headers['x-request-id'] === rid).map((r) => ({ ...r, origin })));
    expect(egress.map((r) => `${r.origin} ${r.method} ${r.url}`).sort()).toEqual(
      ['central', ...Object.keys(REGIONS)].map((o) => `${o} GET /healthz`).sort(),
    );
  });

  it('is 503 and names the region whose origin is down, without any URL in the body', async () => {
    const regions = { ...REGIONS, 'ap-southeast-2': { origin: CLOSED } };
    const res = await callGateway('/readyz', { headers: await asAdmin() }, { REGIONS: JSON.stringify(regions) });
    expect(res.status).toBe(503);
    const text = await res.text();
    const body = JSON.parse(text) as Report;
    expect(body.status).toBe('not_ready');
    expect(body.checks.find((c) => c.name === 'origin:ap-southeast-2')).toMatchObject({ ok: false, detail: 'unreachable' });
    expect(body.checks.find((c) => c.name === 'origin:us-east-1')).toMatchObject({ ok: true });
    expect(text).not.toMatch(/127\.0\.0\.1|http:/);
  });

  it('bounds a hung origin by READINESS_TIMEOUT_MS and reports a timeout', async () => {
    const regions = { ...REGIONS, 'us-east-1': { origin: HUNG } };
    // Long enough for the live origins to answer on a loaded machine; the hung one still times out.
    const res = await callGateway('/readyz', { headers: await asAdmin() }, { REGIONS: JSON.stringify(regions), READINESS_TIMEOUT_MS: '1500' });
    expect(res.status).toBe(503);
    const body = (await res.json()) as Report;
    expect(body.timeoutMs).toBe(1500);
    expect(body.checks.find((c) => c.name === 'origin:us-east-1')).toMatchObject({ ok: false, detail: 'timeout' });
    expect(body.checks.find((c) => c.name === 'origin:eu-central-1')).toMatchObject({ ok: true });
  });

  it('is 503 when no verification keys can be loaded', async () => {
    const env = { JWKS_URL: `${ORIGINS['us-east-1']}/no-such-jwks` };
    const res = await callGateway('/readyz', {}, env);
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({ status: 'not_ready' });
    // An admin token cannot be checked without keys either: our outage, 503, not 401.
    const admin = await callGateway('/readyz', { headers: await asAdmin() }, env);
    expect(admin.status).toBe(503);
    expect(((await admin.json()) as { error: { code: string } }).error.code).toBe('key_set_unavailable');
  });

  it('treats an origin 5xx as not ready and a 404 as reachable', async () => {
    const failing = await callGateway('/readyz', { headers: await asAdmin() }, { READINESS_ORIGIN_PATH: '/__status/503' });
    expect(failing.status).toBe(503);
    const f = (await failing.json()) as Report;
    expect(f.checks.filter((c) => c.kind === 'origin').map((c) => c.detail)).toEqual(Array(4).fill('status 503'));
    const missing = await callGateway('/readyz', {}, { READINESS_ORIGIN_PATH: '/__status/404' });
    expect(missing.status).toBe(200);
  });

  it('refuses an invalid probe path in config', async () => {
    const res = await callGateway('/readyz', { headers: await asAdmin() }, { READINESS_ORIGIN_PATH: 'healthz?x=1' });
    expect(res.status).toBe(500);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('config_invalid');
  });

  it('anonymous callers get only {status} with 200 or 503: no regions, lag, keys or probe detail', async () => {
    const ok = await callGateway('/readyz', {}, { READINESS_ORIGIN_PATH: '/healthz' });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ status: 'ready' });
    const regions = { ...REGIONS, 'ap-southeast-2': { origin: CLOSED } };
    const down = await callGateway('/readyz', {}, { REGIONS: JSON.stringify(regions) });
    expect(down.status).toBe(503);
    expect(await down.text()).toBe('{"status":"not_ready"}');
  });

  it('detail only for a gateway-admin token, scoped to its admin_regions; a tenant or bad token is refused', async () => {
    const eu = await callGateway('/readyz', { headers: { authorization: `Bearer ${await mintAdminToken({ regions: ['eu-central-1'] })}` } });
    const body = (await eu.json()) as Report;
    expect(body.checks.map((c) => c.name)).toEqual(['origin:eu-central-1']);
    const marker = newMarker();
    const tenant = await callGateway('/readyz', { headers: { authorization: `Bearer ${await mintToken()}`, 'x-request-id': marker } });
    expect(tenant.status).toBe(403);
    const bad = await callGateway('/readyz', { headers: { authorization: 'Bearer a.b.c', 'x-request-id': marker } });
    expect(bad.status).toBe(401);
    expect(await egressFor(marker)).toEqual([]);
  });

  it('50 concurrent anonymous calls share one probe run: each origin is probed once', async () => {
    const path = `/readyz-probe/${crypto.randomUUID()}`;
    // A fresh isolate view (own env object, own runtime) and a probe path no other test uses, counted at the origins.
    const env = { ...bindings, READINESS_ORIGIN_PATH: path, READINESS_REUSE_MS: '0' };
    const app = createApp();
    const answers = await Promise.all(Array.from({ length: 50 }, () => Promise.resolve(app.fetch(new Request('https://gateway.test/readyz'), env))));
    for (const res of answers) {
      expect(res.status).toBe(200); // 404 on that path counts as reachable
      expect(await res.json()).toEqual({ status: 'ready' });
    }
    const probes = Object.entries(await allOriginRequests()).flatMap(([origin, rs]) => rs.filter((r) => r.url === path).map(() => origin));
    expect(probes.sort()).toEqual(['central', ...Object.keys(REGIONS)].sort());
  });

  it('reuses a fresh report, so repeated /readyz calls probe each origin once per READINESS_REUSE_MS', async () => {
    // One env object = one isolate's runtime; a long window keeps the test free of timing.
    const env = { ...bindings, READINESS_ORIGIN_PATH: '/healthz', READINESS_REUSE_MS: '60000' };
    const app = createApp();
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) {
      const res = await app.fetch(new Request('https://gateway.test/readyz'), env);
      expect(res.status).toBe(200);
      ids.push(res.headers.get('x-request-id')!);
    }
    // Probes carry the id of the request that ran them: only the first one did.
    const probes = Object.values(await allOriginRequests()).flat().filter((r) => ids.includes(String(r.headers['x-request-id'])));
    expect(probes.map((p) => p.headers['x-request-id'])).toEqual(Array(4).fill(ids[0]));
  });
});
