/**
 * Circuit breaker per origin (per isolate): N consecutive failures open it; while open nothing
 * is sent and clients get 503 service_unavailable with Retry-After; after the cool-down one
 * probe goes through; its success closes the circuit, its failure opens it again.
 */
import { afterEach, expect, it } from 'vitest';
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
