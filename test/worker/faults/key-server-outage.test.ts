/**
 * Key server (JWKS) outage: tokens signed with keys the gateway already holds keep working
 * up to JWKS_MAX_STALENESS_SECONDS after the last good fetch; past that cap (or with no key
 * ever fetched) requests get 503 key_set_unavailable with Retry-After, not 401. Verification
 * is never skipped, and the dead key server is asked at most once per cooldown.
 */
import { afterEach, expect, it } from 'vitest';
import { errorBody, mintToken } from '../helpers.ts';
import { closeLabOrigins, euRegion, eventually, gatewayWith, labOrigin, sleep } from './lab.ts';

afterEach(closeLabOrigins);

async function setup(extra: Record<string, string>) {
  const jwks = await labOrigin('jwks');
  const region = await labOrigin();
  const gw = gatewayWith({ JWKS_URL: `${jwks.url}/.well-known/jwks.json`, REGIONS: euRegion(region.url), ...extra });
  return { jwks, region, gw };
}

const bearer = (t: string) => ({ authorization: `Bearer ${t}` });
const tamper = (t: string) => {
  const [h, p, s] = t.split('.');
  const payload = JSON.parse(atob(p!.replace(/-/g, '+').replace(/_/g, '/')));
  payload.tenant_id = 'ws_other';
  return `${h}.${btoa(JSON.stringify(payload)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')}.${s}`;
};

it('keeps verifying tokens with held keys while the key server is down, within the cap, and never skips verification', async () => {
  const { jwks, region, gw } = await setup({ JWKS_CACHE_TTL_SECONDS: '1', JWKS_MAX_STALENESS_SECONDS: '3600', JWKS_REFRESH_COOLDOWN_SECONDS: '30' });
  const token = await mintToken();
  expect((await gw('/api/pages', { headers: bearer(token) })).status).toBe(200);
  await jwks.fault({ mode: 'status', status: 500 });
  await sleep(1100); // the cached key set is past its TTL now

  for (let i = 0; i < 5; i++) expect((await gw('/api/pages', { headers: bearer(token) })).status).toBe(200);
  // Still verified: an altered token is refused, as ever, and reaches no origin.
  const bad = await gw('/api/pages', { headers: bearer(tamper(token)) });
  expect(bad.status).toBe(401);
  expect((await errorBody(bad)).code).toBe('invalid_token');
  expect((await region.seen()).length).toBe(6);
  // One good fetch, then one failed background refresh: not one per request.
  expect(await eventually(async () => (await jwks.seen()).length === 2)).toBe(true);
  await sleep(50);
  expect((await jwks.seen()).length).toBe(2);
});

it('answers 503 key_set_unavailable with Retry-After once the held keys are past the cap, and recovers when the key server is back', async () => {
  const { jwks, region, gw } = await setup({ JWKS_CACHE_TTL_SECONDS: '1', JWKS_MAX_STALENESS_SECONDS: '1', JWKS_REFRESH_COOLDOWN_SECONDS: '1' });
  const token = await mintToken();
  expect((await gw('/api/pages', { headers: bearer(token) })).status).toBe(200);
  await jwks.fault({ mode: 'refuse' });
  await sleep(1100);

  const res = await gw('/api/pages', { headers: bearer(token) });
  expect(res.status).toBe(503);
  expect((await errorBody(res)).code).toBe('key_set_unavailable');
  expect(res.headers.get('www-authenticate')).toBeNull(); // not a token problem: clients keep their session
  expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
  expect((await region.seen()).length).toBe(1);

  await jwks.fault({ mode: 'ok' });
  await sleep(1100); // the failure backoff passes
  expect((await gw('/api/pages', { headers: bearer(token) })).status).toBe(200);
});

it('bounds a hanging key server by JWKS_FETCH_TIMEOUT_MS and answers 503, aborting the fetch', async () => {
  const { jwks, region, gw } = await setup({ JWKS_FETCH_TIMEOUT_MS: '300' });
  await jwks.fault({ mode: 'hang' });
  const res = await gw('/api/pages', { headers: bearer(await mintToken()) });
  expect(res.status).toBe(503);
  expect((await errorBody(res)).code).toBe('key_set_unavailable');
  expect(await eventually(async () => (await jwks.seen()).every((r) => r.aborted))).toBe(true);
  expect(await region.seen()).toEqual([]);
});

it('answers 503, not 401, for a token with a key id it does not hold while the key server is failing', async () => {
  const { jwks, gw } = await setup({ JWKS_REFRESH_COOLDOWN_SECONDS: '1' });
  expect((await gw('/api/pages', { headers: bearer(await mintToken({ kid: 'es-1' })) })).status).toBe(200);
  await jwks.fault({ mode: 'garbage' });
  await sleep(1100);
  // A freshly rotated key cannot be told from a bogus one while the key server is down: our outage.
  const res = await gw('/api/pages', { headers: bearer(await mintToken({ kid: 'es-1', header: { kid: 'rotated-key' } })) });
  expect(res.status).toBe(503);
  expect((await errorBody(res)).code).toBe('key_set_unavailable');
  // Known keys keep working meanwhile.
  expect((await gw('/api/pages', { headers: bearer(await mintToken({ kid: 'ed-1' })) })).status).toBe(200);
});
