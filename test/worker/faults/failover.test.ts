/**
 * Failover inside the region's zone: when the primary is down (or its circuit is open) requests
 * go to the region's standby origins, in order; a standby gets the same path, identity and
 * signed assertion the primary would have got.
 */
import { afterEach, expect, it } from 'vitest';
import { mintToken } from '../helpers.ts';
import { closeLabOrigins, euRegion, gatewayWith, labOrigin, sleep } from './lab.ts';

afterEach(closeLabOrigins);

it('sends a GET to the standby when the primary refuses the connection', async () => {
  const primary = await labOrigin();
  const standby = await labOrigin();
  await primary.fault({ mode: 'refuse' });
  const gw = gatewayWith({ REGIONS: euRegion(primary.url, [standby.url]) });
  const res = await gw('/api/pages?x=1', { headers: { authorization: `Bearer ${await mintToken()}` } });
  expect(res.status).toBe(200);
  const [seen] = await standby.seen();
  expect(seen?.url).toBe('/api/pages?x=1');
  expect(seen?.headers['x-tenant-id']).toBe('ws_alpha');
  expect(seen?.headers['x-tenant-region']).toBe('eu-central-1');
  expect(seen?.headers['x-gateway-assertion']).toMatch(/^v2\./);
});

it('sends a timed-out GET to the standby, never twice to the slow primary', async () => {
  const primary = await labOrigin();
  const standby = await labOrigin();
  await primary.fault({ mode: 'hang' });
  const gw = gatewayWith({ REGIONS: euRegion(primary.url, [standby.url]), UPSTREAM_TIMEOUT_MS: '300' });
  const res = await gw('/api/pages', { headers: { authorization: `Bearer ${await mintToken()}` } });
  expect(res.status).toBe(200);
  expect((await primary.seen()).length).toBe(1);
  expect((await standby.seen()).length).toBe(1);
});

it('never re-sends a POST to the standby, but sends new POSTs there once the primary circuit is open', async () => {
  const primary = await labOrigin();
  const standby = await labOrigin();
  await primary.fault({ mode: 'reset' });
  const gw = gatewayWith({ REGIONS: euRegion(primary.url, [standby.url]), BREAKER_FAILURE_THRESHOLD: '2', BREAKER_COOLDOWN_MS: '60000' });
  const post = async () =>
    gw('/api/pages', { method: 'POST', headers: { authorization: `Bearer ${await mintToken()}`, 'content-type': 'application/json' }, body: '{"title":"t"}' });
  // Two POSTs fail at the primary and are not re-sent anywhere (they may have been applied).
  expect((await post()).status).toBe(502);
  expect((await post()).status).toBe(502);
  expect((await standby.seen()).length).toBe(0);
  // The primary's circuit is open now: the next POST goes straight to the standby, body intact.
  const res = await post();
  expect(res.status).toBe(201);
  expect((await standby.seen()).map((r) => [r.method, r.body])).toEqual([['POST', '{"title":"t"}']]);
  expect((await primary.seen()).length).toBe(2);
});

it('answers 503 with Retry-After when the primary and every standby have open circuits', async () => {
  const primary = await labOrigin();
  const standby = await labOrigin();
  await primary.fault({ mode: 'reset' });
  await standby.fault({ mode: 'reset' });
  const gw = gatewayWith({ REGIONS: euRegion(primary.url, [standby.url]), BREAKER_FAILURE_THRESHOLD: '1', BREAKER_COOLDOWN_MS: '60000' });
  const headers = { authorization: `Bearer ${await mintToken()}` };
  expect((await gw('/api/pages', { headers })).status).toBe(502); // primary, then standby: both reset
  const res = await gw('/api/pages', { headers });
  expect(res.status).toBe(503);
  expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(50);
  expect((await primary.seen()).length + (await standby.seen()).length).toBe(2);
});

it('after the cool-down, probes the primary with a request that can be retried, not with a POST that has a standby to go to', async () => {
  const primary = await labOrigin();
  const standby = await labOrigin();
  await primary.fault({ mode: 'refuse' });
  const gw = gatewayWith({ REGIONS: euRegion(primary.url, [standby.url]), BREAKER_FAILURE_THRESHOLD: '1', BREAKER_COOLDOWN_MS: '300' });
  const auth = { authorization: `Bearer ${await mintToken()}` };
  expect((await gw('/api/pages', { headers: auth })).status).toBe(200); // primary refused → standby; circuit open
  await sleep(350);
  // Cool-down over, primary still dead: the POST goes to the standby instead of being the probe.
  const post = await gw('/api/pages', { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: '{"title":"t"}' });
  expect(post.status).toBe(201);
  // The next GET is the probe: it fails at the primary and is retried at the standby.
  expect((await gw('/api/pages?probe=1', { headers: auth })).status).toBe(200);
  expect((await standby.seen()).map((r) => `${r.method} ${r.url}`)).toEqual(['GET /api/pages', 'POST /api/pages', 'GET /api/pages?probe=1']);
});
