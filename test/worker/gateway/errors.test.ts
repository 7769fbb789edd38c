/** Every refusal: right status, stable code, RFC 6750 header, generic body, and nothing sent anywhere. */
import { describe, expect, it } from 'vitest';
import { callGateway, egressFor, mintToken, newMarker } from '../helpers.ts';

async function refused(path: string, init: RequestInit = {}, envOverrides?: Record<string, unknown>) {
  const marker = newMarker();
  const headers = new Headers(init.headers);
  headers.set('x-request-id', marker);
  const sep = path.includes('?') ? '&' : '?';
  const res = await callGateway(`${path}${sep}m=${marker}`, { ...init, headers }, envOverrides);
  const text = await res.text();
  const err = (JSON.parse(text) as { error: { code: string; message: string; requestId: string } }).error;
  // The gateway's own id, never the client's (which is only the client request id).
  expect(err.requestId).toMatch(/^[0-9a-f-]{36}$/);
  expect(err.requestId).toBe(res.headers.get('x-request-id'));
  expect(await egressFor(marker)).toEqual([]);
  return { res, err, text };
}

function tamperPayload(token: string): string {
  const [h, p, s] = token.split('.');
  const payload = JSON.parse(atob(p!.replace(/-/g, '+').replace(/_/g, '/')));
  payload.tenant_id = 'ws_victim';
  const p2 = btoa(JSON.stringify(payload)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  return [h, p2, s].join('.');
}

describe('token refusals', () => {
  it('no token → 401 token_missing, WWW-Authenticate without an error attribute', async () => {
    const { res, err } = await refused('/api/pages');
    expect(res.status).toBe(401);
    expect(err.code).toBe('token_missing');
    expect(res.headers.get('www-authenticate')).toBe('Bearer realm="edge-tenant-router"');
  });

  it('another scheme counts as no token', async () => {
    const { res, err } = await refused('/api/pages', { headers: { authorization: 'Basic dXNlcjpwdw==' } });
    expect([res.status, err.code]).toEqual([401, 'token_missing']);
  });

  it.each([
    ['an altered payload', async () => tamperPayload(await mintToken())],
    ['an expired token', () => mintToken({ expiresIn: Math.floor(Date.now() / 1000) - 60 })],
    ['a wrong issuer', () => mintToken({ claims: { iss: 'https://evil.test' } })],
    ['a wrong audience', () => mintToken({ claims: { aud: 'someone-else' } })],
    ['no exp', () => mintToken({ omit: ['exp'] })],
    ['no iss', () => mintToken({ omit: ['iss'] })],
    ['no aud', () => mintToken({ omit: ['aud'] })],
    ['a future nbf', () => mintToken({ claims: { nbf: Math.floor(Date.now() / 1000) + 3600 } })],
    ['an unknown kid', () => mintToken({ header: { kid: 'nobody' } })],
    ['garbage', async () => 'not.a.jwt'],
    ['an empty bearer', async () => ''],
  ])('%s → 401 invalid_token', async (_name, make) => {
    const token = await make();
    const { res, err } = await refused('/api/pages', { headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(401);
    expect(err.code).toBe('invalid_token');
    expect(res.headers.get('www-authenticate')).toBe('Bearer realm="edge-tenant-router", error="invalid_token"');
  });

  it('a token over the size cap is refused before any crypto', async () => {
    const token = await mintToken({ claims: { pad: 'x'.repeat(9000) } });
    const { res, err } = await refused('/api/pages', { headers: { authorization: `Bearer ${token}` } });
    expect([res.status, err.code]).toEqual([401, 'invalid_token']);
  });

  it('an algorithm outside the allowlist is refused even when the key is known', async () => {
    const token = await mintToken({ kid: 'ed-1' });
    const { res } = await refused('/api/pages', { headers: { authorization: `Bearer ${token}` } }, { JWT_ALGORITHMS: '["ES256"]' });
    expect(res.status).toBe(401);
  });
});

describe('tenant and region refusals', () => {
  it('a region that is not configured → 403 region_unknown', async () => {
    const token = await mintToken({ claims: { tenant_region: 'mars-north-1' } });
    const { res, err } = await refused('/api/pages', { headers: { authorization: `Bearer ${token}` } });
    expect([res.status, err.code]).toEqual([403, 'region_unknown']);
  });

  it.each(['EU-CENTRAL-1', ' eu-central-1', 'eu-central-1 ', 'eu-central-1.evil.test', '../eu-central-1', '127.0.0.1'])(
    'a region claim that only resembles a configured one (%j) → 403',
    async (region) => {
      const token = await mintToken({ claims: { tenant_region: region } });
      const { res, err } = await refused('/api/pages', { headers: { authorization: `Bearer ${token}` } });
      expect([res.status, err.code]).toEqual([403, 'region_unknown']);
    },
  );

  it('a region tag that disagrees with the claim → 403 region_mismatch', async () => {
    const token = await mintToken({ claims: { tenant_region: 'eu-central-1' } });
    const { res, err } = await refused('/api/pages', { headers: { authorization: `Bearer ${token}`, 'x-tenant-region': 'us-east-1' } });
    expect([res.status, err.code]).toEqual([403, 'region_mismatch']);
  });

  it('a token without a tenant → 403 forbidden', async () => {
    const token = await mintToken({ claims: { tenant_id: undefined } });
    const { res, err } = await refused('/api/pages', { headers: { authorization: `Bearer ${token}` } });
    expect([res.status, err.code]).toEqual([403, 'forbidden']);
  });

  it('error bodies never carry claim values, origin URLs or stack traces', async () => {
    const token = await mintToken({ claims: { tenant_region: 'secret-region-9' } });
    const { text } = await refused('/api/pages', { headers: { authorization: `Bearer ${token}` } });
    expect(text).not.toContain('secret-region-9');
    expect(text).not.toContain('127.0.0.1');
    expect(text).not.toMatch(/at .*\.ts|Error:/);
  });
});

describe('routing refusals', () => {
  it('an unknown route → 404 not_found, nothing forwarded', async () => {
    const { res, err } = await refused('/somewhere/else');
    expect([res.status, err.code]).toEqual([404, 'not_found']);
  });

  it('GET on a POST-only central route is not forwarded', async () => {
    const { res } = await refused('/auth/login', { method: 'GET' });
    expect(res.status).toBe(404);
  });
});
