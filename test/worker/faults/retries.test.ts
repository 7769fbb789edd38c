/**
 * Retries: only idempotent methods, only when no response byte arrived, at most once by
 * default; POST and PATCH never; a request with a body never (its stream cannot be replayed).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { mintToken } from '../helpers.ts';
import { closeLabOrigins, euRegion, gatewayWith, labOrigin } from './lab.ts';

afterEach(closeLabOrigins);

const auth = async () => ({ authorization: `Bearer ${await mintToken()}` });

describe('idempotent, bodiless requests', () => {
  for (const method of ['GET', 'HEAD', 'OPTIONS', 'DELETE', 'PUT']) {
    it(`retries a ${method} once after the connection failed before any response byte`, async () => {
      const origin = await labOrigin();
      await origin.fault({ mode: 'reset', times: 1 });
      const gw = gatewayWith({ REGIONS: euRegion(origin.url) });
      const res = await gw('/api/pages/p1', { method, headers: await auth() });
      expect(res.status).toBe(200);
      expect((await origin.seen()).map((r) => r.method)).toEqual([method, method]);
    });
  }

  it('gives up after one retry by default (two attempts in all)', async () => {
    const origin = await labOrigin();
    await origin.fault({ mode: 'reset' });
    const gw = gatewayWith({ REGIONS: euRegion(origin.url), BREAKER_FAILURE_THRESHOLD: '100' });
    const res = await gw('/api/pages', { headers: await auth() });
    expect(res.status).toBe(502);
    expect((await origin.seen()).length).toBe(2);
  });

  it('follows UPSTREAM_RETRIES', async () => {
    const origin = await labOrigin();
    await origin.fault({ mode: 'reset' });
    const gw = gatewayWith({ REGIONS: euRegion(origin.url), UPSTREAM_RETRIES: '0', BREAKER_FAILURE_THRESHOLD: '100' });
    expect((await gw('/api/pages', { headers: await auth() })).status).toBe(502);
    expect((await origin.seen()).length).toBe(1);
  });
});

describe('never re-sent', () => {
  for (const method of ['POST', 'PATCH']) {
    it(`does not retry a ${method}, even when the connection failed before any response byte`, async () => {
      const origin = await labOrigin();
      await origin.fault({ mode: 'reset', times: 1 });
      const gw = gatewayWith({ REGIONS: euRegion(origin.url) });
      const res = await gw('/api/pages', { method, headers: { ...(await auth()), 'content-type': 'application/json' }, body: '{"title":"t"}' });
      expect(res.status).toBe(502);
      expect((await origin.seen()).length).toBe(1);
    });
  }

  it('does not retry a PUT that carries a body (a streamed body cannot be replayed)', async () => {
    const origin = await labOrigin();
    await origin.fault({ mode: 'reset', times: 1 });
    const gw = gatewayWith({ REGIONS: euRegion(origin.url) });
    const res = await gw('/api/pages/p1', { method: 'PUT', headers: await auth(), body: '{"title":"t"}' });
    expect(res.status).toBe(502);
    expect((await origin.seen()).length).toBe(1);
  });
});
