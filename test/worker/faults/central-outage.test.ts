/**
 * Central outage: signup, login and token refresh get 503 with Retry-After; requests with
 * valid tokens keep routing to their regions (the JWKS lives at central too: held keys carry on).
 */
import { afterEach, expect, it } from 'vitest';
import { errorBody, mintToken } from '../helpers.ts';
import { closeLabOrigins, euRegion, gatewayWith, labOrigin, sleep } from './lab.ts';

afterEach(closeLabOrigins);

for (const mode of ['refuse', 'hang'] as const) {
  it(`central ${mode === 'refuse' ? 'refusing connections' : 'hanging'}: /auth/* gets 503 with Retry-After, /api/* keeps working`, async () => {
    const central = await labOrigin('jwks', 'central');
    const region = await labOrigin();
    const gw = gatewayWith({
      CENTRAL_ORIGIN: central.url,
      JWKS_URL: `${central.url}/.well-known/jwks.json`,
      JWKS_CACHE_TTL_SECONDS: '1',
      REGIONS: euRegion(region.url),
      CENTRAL_TIMEOUT_MS: '300',
    });
    const token = await mintToken();
    expect((await gw('/api/pages', { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
    await central.fault({ mode });
    await sleep(1100); // past the key set's TTL too

    for (const path of ['/auth/login', '/auth/signup', '/auth/token']) {
      const res = await gw(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"email":"a@b.c","password":"pw"}' });
      expect(res.status).toBe(503);
      expect((await errorBody(res)).code).toBe('service_unavailable');
      expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    }
    const res = await gw('/api/pages', { headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { url: string }).url).toBe('/api/pages');
  });
}
