/** A refused connection (nothing listening), a reset, or bytes that are not HTTP: 502 bad_gateway. */
import { afterEach, expect, it } from 'vitest';
import { errorBody, mintToken } from '../helpers.ts';
import { closeLabOrigins, euRegion, gatewayWith, labOrigin } from './lab.ts';

afterEach(closeLabOrigins);

it('answers 502 bad_gateway when the origin refuses the connection', async () => {
  const origin = await labOrigin();
  await origin.fault({ mode: 'refuse' });
  const gw = gatewayWith({ REGIONS: euRegion(origin.url) });
  const res = await gw('/api/pages', { headers: { authorization: `Bearer ${await mintToken()}` } });
  expect(res.status).toBe(502);
  const err = await errorBody(res);
  expect(err.code).toBe('bad_gateway');
  expect(JSON.stringify(err)).not.toContain('127.0.0.1');
});

it('answers 502 bad_gateway when the origin answers with garbage instead of HTTP', async () => {
  const origin = await labOrigin();
  await origin.fault({ mode: 'garbage' });
  const gw = gatewayWith({ REGIONS: euRegion(origin.url), UPSTREAM_RETRIES: '0' });
  const res = await gw('/api/pages', { headers: { authorization: `Bearer ${await mintToken()}` } });
  expect(res.status).toBe(502);
  expect((await errorBody(res)).code).toBe('bad_gateway');
});

it("passes an origin's own 5xx through unchanged and does not retry it (a response byte arrived)", async () => {
  const origin = await labOrigin();
  await origin.fault({ mode: 'status', status: 503 });
  const gw = gatewayWith({ REGIONS: euRegion(origin.url) });
  const res = await gw('/api/pages', { headers: { authorization: `Bearer ${await mintToken()}` } });
  expect(res.status).toBe(503);
  expect(await res.json()).toMatchObject({ fault: 'status' });
  expect((await origin.seen()).length).toBe(1);
});
