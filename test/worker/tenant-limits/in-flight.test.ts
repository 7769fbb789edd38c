/**
 * The in-flight bound per tenant per isolate: while a tenant has TENANT_MAX_IN_FLIGHT requests
 * waiting on a slow origin, its next one gets 503 tenant_busy with Retry-After (after the refusal
 * hold, refusal-hold.test.ts) and is not sent; another tenant of the same region is served meanwhile; once the slow requests are back,
 * the tenant is admitted again. Rate limits are off here so only the bound can refuse.
 */
import { afterEach, expect, it } from 'vitest';
import { errorBody, mintToken } from '../helpers.ts';
import { closeLabOrigins, euRegion, gatewayWith, labOrigin } from '../faults/lab.ts';

afterEach(closeLabOrigins);

const LATENCY_MS = 600;

it('a tenant over its in-flight bound gets 503 tenant_busy with Retry-After and nothing is sent; another tenant is served; the bound is released', async () => {
  const origin = await labOrigin();
  await origin.fault({ mode: 'latency', latencyMs: LATENCY_MS });
  const gw = gatewayWith({
    REGIONS: euRegion(origin.url),
    UPSTREAM_TIMEOUT_MS: '5000',
    UPSTREAM_RETRIES: '0',
    TENANT_RATE_LIMITS: 'off',
    TENANT_MAX_IN_FLIGHT: '2',
    TENANT_BUSY_RETRY_AFTER_SECONDS: '2',
  });
  const auth = async (tenant: string) => ({ authorization: `Bearer ${await mintToken({ claims: { tenant_id: tenant } })}` });
  const busyTenant = await auth(`ws_busy_${crypto.randomUUID().slice(0, 8)}`);
  const otherTenant = await auth(`ws_calm_${crypto.randomUUID().slice(0, 8)}`);
  // Warm the key set, so the slow requests below are in flight at the origin, not at the JWKS.
  await origin.fault({ mode: 'ok' });
  expect((await gw('/api/warm', { headers: otherTenant })).status).toBe(200);
  await origin.fault({ mode: 'latency', latencyMs: LATENCY_MS });

  const slow = [1, 2].map((i) => gw(`/api/slow-${i}`, { headers: busyTenant }));
  // Give both a moment to reach the origin.
  await new Promise((r) => setTimeout(r, 100));
  const busy = await gw('/api/refused', { headers: busyTenant });
  expect(busy.status).toBe(503);
  expect((await errorBody(busy)).code).toBe('tenant_busy');
  expect(busy.headers.get('retry-after')).toBe('2');
  const calm = gw('/api/calm', { headers: otherTenant });
  expect((await Promise.all(slow)).map((r) => r.status)).toEqual([200, 200]);
  expect((await calm).status).toBe(200);
  // Released: the tenant is admitted again.
  expect((await gw('/api/after', { headers: busyTenant })).status).toBe(200);

  const paths = (await origin.seen()).map((r) => new URL(r.url, 'http://x').pathname).sort();
  expect(paths).toEqual(['/api/after', '/api/calm', '/api/slow-1', '/api/slow-2', '/api/warm']);
});

it('an error inside the handler (origin refused) releases the slot too', async () => {
  const origin = await labOrigin();
  await origin.fault({ mode: 'refuse' });
  const gw = gatewayWith({ REGIONS: euRegion(origin.url), UPSTREAM_RETRIES: '0', BREAKER_FAILURE_THRESHOLD: '1000', TENANT_RATE_LIMITS: 'off', TENANT_MAX_IN_FLIGHT: '1' });
  const headers = { authorization: `Bearer ${await mintToken({ claims: { tenant_id: `ws_err_${crypto.randomUUID().slice(0, 8)}` } })}` };
  for (let i = 0; i < 5; i++) {
    const res = await gw('/api/pages', { headers });
    expect((await errorBody(res)).code, `request ${i + 1}`).toBe('bad_gateway');
  }
});
