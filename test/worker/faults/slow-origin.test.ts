/** A slow origin: the client gets 504 upstream_timeout and the subrequest is aborted, not left running. */
import { afterEach, expect, it } from 'vitest';
import { errorBody, mintToken } from '../helpers.ts';
import { closeLabOrigins, euRegion, eventually, gatewayWith, labOrigin } from './lab.ts';

afterEach(closeLabOrigins);

it('answers 504 upstream_timeout when the origin misses its deadline, and aborts the upstream call', async () => {
  const origin = await labOrigin();
  await origin.fault({ mode: 'hang' });
  const gw = gatewayWith({ REGIONS: euRegion(origin.url), UPSTREAM_TIMEOUT_MS: '300' });
  const res = await gw('/api/pages', { headers: { authorization: `Bearer ${await mintToken()}` } });
  expect(res.status).toBe(504);
  const err = await errorBody(res);
  expect(err.code).toBe('upstream_timeout');
  expect(JSON.stringify(err)).not.toContain('127.0.0.1');
  // The origin saw the connection go away: the gateway did not leave the call running.
  expect(await eventually(async () => (await origin.seen()).every((r) => r.aborted))).toBe(true);
  // A timed-out GET is not sent to the same slow origin a second time.
  expect((await origin.seen()).length).toBe(1);
});

it('lets a response that arrives within the deadline through, latency and all', async () => {
  const origin = await labOrigin();
  await origin.fault({ mode: 'latency', latencyMs: 100 });
  const gw = gatewayWith({ REGIONS: euRegion(origin.url), UPSTREAM_TIMEOUT_MS: '2000' });
  const res = await gw('/api/pages', { headers: { authorization: `Bearer ${await mintToken()}` } });
  expect(res.status).toBe(200);
  expect(((await res.json()) as { url: string }).url).toBe('/api/pages');
});

it('does not cut a streamed response body that outlasts the deadline (the deadline covers the headers)', async () => {
  const origin = await labOrigin();
  await origin.fault({ mode: 'slow-body', latencyMs: 600 });
  const gw = gatewayWith({ REGIONS: euRegion(origin.url), UPSTREAM_TIMEOUT_MS: '300' });
  const res = await gw('/api/export', { headers: { authorization: `Bearer ${await mintToken()}` } });
  expect(res.status).toBe(200);
  expect(await res.text()).toBe('first chunk;last chunk');
});
