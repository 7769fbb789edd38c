/**
 * Circuit breaker per origin (per isolate): N consecutive failures open it; while open nothing
 * is sent and clients get 503 service_unavailable with Retry-After; after the cool-down one
 * probe goes through; its success closes the circuit, its failure opens it again.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { errorBody, mintToken } from '../helpers.ts';
import { closeLabOrigins, euRegion, gatewayWith, labOrigin, sleep } from './lab.ts';

afterEach(closeLabOrigins);

const opts = (origin: string) => ({ REGIONS: euRegion(origin), UPSTREAM_RETRIES: '0', BREAKER_FAILURE_THRESHOLD: '3', BREAKER_COOLDOWN_MS: '1500' });

it('opens after N consecutive failures and then answers 503 with Retry-After without sending anything', async () => {
  const origin = await labOrigin();
  await origin.fault({ mode: 'reset' });
  const gw = gatewayWith(opts(origin.url));
  const headers = { authorization: `Bearer ${await mintToken()}` };
  for (let i = 0; i < 3; i++) expect((await gw('/api/pages', { headers })).status).toBe(502);
  expect((await origin.seen()).length).toBe(3);

  const res = await gw('/api/pages', { headers });
  expect(res.status).toBe(503);
  expect((await errorBody(res)).code).toBe('service_unavailable');
  const retryAfter = Number(res.headers.get('retry-after'));
  expect(retryAfter).toBeGreaterThanOrEqual(1);
  expect(retryAfter).toBeLessThanOrEqual(2);
  expect((await origin.seen()).length).toBe(3); // the open circuit sent nothing
});

it('lets exactly one probe through after the cool-down; a good probe closes the circuit', async () => {
  const origin = await labOrigin();
  await origin.fault({ mode: 'reset' });
  const gw = gatewayWith({ ...opts(origin.url), BREAKER_COOLDOWN_MS: '300' });
  const headers = { authorization: `Bearer ${await mintToken()}` };
  for (let i = 0; i < 3; i++) await gw('/api/pages', { headers });
  await origin.fault({ mode: 'latency', latencyMs: 200 }); // the origin is back, a little slow
  await sleep(350);

  // Three requests at once: one is the probe, the other two are refused while it is out.
  const results = await Promise.all([0, 1, 2].map(() => gw('/api/pages', { headers })));
  expect(results.map((r) => r.status).sort()).toEqual([200, 503, 503]);
  expect((await origin.seen()).length).toBe(4);

  // Closed again: traffic flows.
  expect((await gw('/api/pages', { headers })).status).toBe(200);
  expect((await gw('/api/pages', { headers })).status).toBe(200);
});

it('a failed probe opens the circuit for another full cool-down', async () => {
  const origin = await labOrigin();
  await origin.fault({ mode: 'reset' });
  const gw = gatewayWith({ ...opts(origin.url), BREAKER_COOLDOWN_MS: '300' });
  const headers = { authorization: `Bearer ${await mintToken()}` };
  for (let i = 0; i < 3; i++) await gw('/api/pages', { headers });
  await sleep(350);
  expect((await gw('/api/pages', { headers })).status).toBe(502); // the probe, still failing
  expect((await gw('/api/pages', { headers })).status).toBe(503); // open again
  expect((await origin.seen()).length).toBe(4);
});

it('counts an origin answering 503 as down, but passes those answers through until the circuit opens', async () => {
  const origin = await labOrigin();
  await origin.fault({ mode: 'status', status: 503 });
  const gw = gatewayWith(opts(origin.url));
  const headers = { authorization: `Bearer ${await mintToken()}` };
  for (let i = 0; i < 3; i++) {
    const res = await gw('/api/pages', { headers });
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({ fault: 'status' });
  }
  const res = await gw('/api/pages', { headers });
  expect((await errorBody(res)).code).toBe('service_unavailable');
  expect(res.headers.get('retry-after')).not.toBeNull();
  expect((await origin.seen()).length).toBe(3);
});

it('keeps one circuit per origin: a dead region does not stop another region', async () => {
  const dead = await labOrigin();
  const alive = await labOrigin();
  await dead.fault({ mode: 'reset' });
  const gw = gatewayWith({
    REGIONS: JSON.stringify({ 'eu-central-1': { origin: dead.url, zone: 'eu' }, 'us-east-1': { origin: alive.url, zone: 'us' } }),
    UPSTREAM_RETRIES: '0',
    BREAKER_FAILURE_THRESHOLD: '2',
  });
  const eu = { authorization: `Bearer ${await mintToken()}` };
  const us = { authorization: `Bearer ${await mintToken({ claims: { tenant_region: 'us-east-1', tenant_id: 'ws_us' } })}` };
  for (let i = 0; i < 3; i++) await gw('/api/pages', { headers: eu });
  expect((await gw('/api/pages', { headers: eu })).status).toBe(503);
  expect((await gw('/api/pages', { headers: us })).status).toBe(200);
});

describe("one tenant's failures do not open the origin's circuit for the others", () => {
  const other = { tenant_id: 'ws_beta', sub: 'user-b' };

  it("a tenant whose requests alone fail gets its own open circuit; another tenant's requests still reach the origin", async () => {
    const origin = await labOrigin();
    await origin.fault({ mode: 'reset', tenant: 'ws_alpha' });
    const gw = gatewayWith(opts(origin.url));
    const noisy = { authorization: `Bearer ${await mintToken()}` };
    const quiet = { authorization: `Bearer ${await mintToken({ claims: other })}` };
    for (let i = 0; i < 6; i++) await gw('/api/pages', { headers: noisy });
    const refused = await gw('/api/pages', { headers: noisy });
    expect(refused.status).toBe(503);
    expect((await errorBody(refused)).code).toBe('service_unavailable');
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect((await origin.seen()).length).toBe(3); // the tenant's circuit opened after 3 and sent nothing more

    for (let i = 0; i < 3; i++) expect((await gw('/api/pages', { headers: quiet })).status).toBe(200);
    expect((await origin.seen()).map((r) => r.headers['x-tenant-id'])).toEqual(['ws_alpha', 'ws_alpha', 'ws_alpha', 'ws_beta', 'ws_beta', 'ws_beta']);
  });

  it('answers 503 in every spelling of failure the breaker counts: timeouts and 5xx statuses too', async () => {
    for (const fault of [{ mode: 'status' as const, status: 503 }, { mode: 'status' as const, status: 502 }, { mode: 'hang' as const }]) {
      const origin = await labOrigin();
      await origin.fault({ ...fault, tenant: 'ws_alpha' });
      const gw = gatewayWith({ ...opts(origin.url), UPSTREAM_TIMEOUT_MS: '200' });
      const noisy = { authorization: `Bearer ${await mintToken()}` };
      const quiet = { authorization: `Bearer ${await mintToken({ claims: other })}` };
      for (let i = 0; i < 3; i++) await gw('/api/pages', { headers: noisy });
      expect((await errorBody(await gw('/api/pages', { headers: noisy }))).code, fault.mode).toBe('service_unavailable');
      expect((await gw('/api/pages', { headers: quiet })).status, fault.mode).toBe(200);
    }
  });

  it('a dead origin is still cut off for everyone once more than one tenant has failed', async () => {
    const origin = await labOrigin();
    await origin.fault({ mode: 'reset' });
    const gw = gatewayWith(opts(origin.url));
    const a = { authorization: `Bearer ${await mintToken()}` };
    const b = { authorization: `Bearer ${await mintToken({ claims: other })}` };
    const c = { authorization: `Bearer ${await mintToken({ claims: { tenant_id: 'ws_gamma', sub: 'user-c' } })}` };
    for (let i = 0; i < 3; i++) expect((await gw('/api/pages', { headers: a })).status).toBe(502);
    for (let i = 0; i < 3; i++) expect((await gw('/api/pages', { headers: b })).status).toBe(502);
    // A third tenant, which never failed here, is refused without a request being sent.
    const res = await gw('/api/pages', { headers: c });
    expect((await errorBody(res)).code).toBe('service_unavailable');
    expect((await origin.seen()).length).toBe(6);
  });

  it("fails the tenant over to the region's standby while the primary is open for it alone", async () => {
    const primary = await labOrigin();
    const standby = await labOrigin();
    await primary.fault({ mode: 'reset', tenant: 'ws_alpha' });
    const gw = gatewayWith({ ...opts(primary.url), REGIONS: euRegion(primary.url, [standby.url]) });
    const noisy = { authorization: `Bearer ${await mintToken()}` };
    const quiet = { authorization: `Bearer ${await mintToken({ claims: other })}` };
    for (let i = 0; i < 3; i++) await gw('/api/pages', { headers: noisy });
    expect((await gw('/api/pages', { headers: noisy })).status).toBe(200);
    expect((await standby.seen()).at(-1)?.headers['x-tenant-id']).toBe('ws_alpha');
    expect((await gw('/api/pages', { headers: quiet })).status).toBe(200);
    expect((await primary.seen()).at(-1)?.headers['x-tenant-id']).toBe('ws_beta');
  });
});
