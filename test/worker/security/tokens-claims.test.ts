/**
 * Validly signed tokens whose claims or type must not be accepted: time claims (exp, nbf, iat,
 * maximum age), issuer and audience, token type, and identity claims (tenant, subject, region)
 * that are missing or try to smuggle a host, path or address into routing.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { bindings } from '../helpers.ts';
import { bearer, expectRejected, gatewayWith, JWKS_URL, now, REGION_ORIGINS, req, send, signRaw, validClaims, warmGateway, type Gateway } from './support.ts';

let gw: Gateway;
beforeAll(async () => {
  gw = await warmGateway();
});

const EU = REGION_ORIGINS['eu-central-1'];
const without = (...names: string[]) => {
  const c = validClaims();
  for (const n of names) delete c[n];
  return c;
};

async function rejects(claims: Record<string, unknown>, want: { status: number; code: string }, header?: Record<string, unknown>) {
  const token = await signRaw(claims, { header });
  const secrets = [claims.tenant_id, claims.tenant_region, claims.sub, claims.iss, claims.aud]
    .filter((v): v is string => typeof v === 'string')
    // The configured issuer/audience are not secrets to this test, only what the token carried.
    .filter((v) => v !== bindings.JWT_AUDIENCE);
  expectRejected(await send(gw, req('/api/pages', { headers: bearer(token) })), { ...want, secrets });
}

describe('time claims → 401 invalid_token', () => {
  const t = now();
  const cases: Array<[string, Record<string, unknown>]> = [
    ['exp missing', without('exp')],
    ['exp in the past (beyond the 5 s tolerance)', validClaims({ exp: t - 60 })],
    ['exp a string', validClaims({ exp: String(t + 300) })],
    ['exp a numeric string with spaces', validClaims({ exp: ` ${t + 300}` })],
    ['exp null', validClaims({ exp: null })],
    ['exp an array', validClaims({ exp: [t + 300] })],
    ['exp absurdly far (1e308): accepted, the maximum age bounds it', validClaims({ exp: 1e308 })],
    ['nbf in the future', validClaims({ nbf: t + 3600 })],
    ['nbf a string', validClaims({ nbf: 'now' })],
    ['iat in the future', validClaims({ iat: t + 3600 })],
    ['iat missing (needed for the maximum age)', without('iat')],
    ['iat older than JWT_MAX_TOKEN_AGE_SECONDS (3600) with a far exp', validClaims({ iat: t - 7200, exp: t + 86400 })],
  ];
  for (const [name, claims] of cases) {
    it(name, async () => {
      if (name.startsWith('exp absurdly')) {
        // A huge exp is a number and in the future: the maximum age still bounds the token's life.
        const token = await signRaw(claims);
        const ok = await send(gw, req('/api/pages', { headers: bearer(token) }), [EU]);
        expect(ok.res.status).toBe(200);
        return;
      }
      await rejects(claims, { status: 401, code: 'invalid_token' });
    });
  }
  it('an exp just inside the clock tolerance is accepted (control)', async () => {
    const token = await signRaw(validClaims({ exp: now() - 1 }));
    expect((await send(gw, req('/api/pages', { headers: bearer(token) }), [EU])).res.status).toBe(200);
  });
  it('the maximum age is configurable', async () => {
    const strict = await warmGateway({ JWT_MAX_TOKEN_AGE_SECONDS: '60' });
    const token = await signRaw(validClaims({ iat: now() - 120 }));
    expectRejected(await send(strict, req('/api/pages', { headers: bearer(token) })), { status: 401, code: 'invalid_token' });
    expect((await send(gw, req('/api/pages', { headers: bearer(token) }), [EU])).res.status).toBe(200);
  });
});

describe('issuer and audience → 401', () => {
  const cases: Array<[string, Record<string, unknown>]> = [
    ['iss missing', without('iss')],
    ['iss another issuer', validClaims({ iss: 'https://evil.example' })],
    ['iss differing in case', validClaims({ iss: String(bindings.JWT_ISSUER).toUpperCase() })],
    ['iss with a trailing slash', validClaims({ iss: `${bindings.JWT_ISSUER}/` })],
    ['aud missing', without('aud')],
    ['aud another service', validClaims({ aud: 'billing' })],
    ['aud an array without us', validClaims({ aud: ['billing', 'admin'] })],
    ['aud a number', validClaims({ aud: 1 })],
  ];
  for (const [name, claims] of cases) it(name, () => rejects(claims, { status: 401, code: 'invalid_token' }));
  it('aud as an array that contains us is accepted (control)', async () => {
    const token = await signRaw(validClaims({ aud: ['billing', bindings.JWT_AUDIENCE] }));
    expect((await send(gw, req('/api/pages', { headers: bearer(token) }), [EU])).res.status).toBe(200);
  });
});

describe('token type: only access tokens (typ at+jwt, JWT_REQUIRED_TYP) → else 401', () => {
  for (const typ of [undefined, 'JWT', 'jwt', 'id+jwt', 'refresh+jwt', 'application/jwt', 'at+jwt ', 'at+jwt+x', 7]) {
    it(`typ ${JSON.stringify(typ)}`, () => rejects(validClaims(), { status: 401, code: 'invalid_token' }, { typ }));
  }
  it('typ "application/at+jwt" and "AT+JWT" are the same media type (accepted)', async () => {
    for (const typ of ['application/at+jwt', 'AT+JWT']) {
      const token = await signRaw(validClaims(), { header: { typ } });
      expect((await send(gw, req('/api/pages', { headers: bearer(token) }), [EU])).res.status).toBe(200);
    }
  });
  it('the required type is configurable', async () => {
    const jwtTyp = gatewayWith({ JWT_REQUIRED_TYP: 'JWT', JWKS_REFRESH_COOLDOWN_SECONDS: '3600' });
    const plain = await signRaw(validClaims(), { header: { typ: 'JWT' } });
    expect((await send(jwtTyp, req('/api/pages', { headers: bearer(plain) }), [JWKS_URL, EU])).res.status).toBe(200);
    const at = await signRaw(validClaims());
    expectRejected(await send(jwtTyp, req('/api/pages', { headers: bearer(at) })), { status: 401, code: 'invalid_token' });
  });
});

describe('identity claims', () => {
  it('sub missing or malformed → 401', async () => {
    await rejects(without('sub'), { status: 401, code: 'invalid_token' });
    await rejects(validClaims({ sub: 'user 1\r\nx-tenant-id: other' }), { status: 401, code: 'invalid_token' });
    await rejects(validClaims({ sub: 42 }), { status: 401, code: 'invalid_token' });
  });
  it('tenant claim missing or outside the safe alphabet → 403 forbidden', async () => {
    for (const tenant_id of [undefined, '', 'ws alpha', "ws'; DROP TABLE pages;--", '../ws_beta', 'x'.repeat(129), 12, ['ws_alpha']]) {
      const claims = validClaims({ tenant_id });
      if (tenant_id === undefined) delete claims.tenant_id;
      const token = await signRaw(claims);
      expectRejected(await send(gw, req('/api/pages', { headers: bearer(token) })), {
        status: 403,
        code: 'forbidden',
        secrets: typeof tenant_id === 'string' ? [tenant_id] : [],
      });
    }
  });
});

describe('region claim: exact configured names only → otherwise 403 region_unknown', () => {
  const hostile: unknown[] = [
    undefined,
    '',
    'EU-CENTRAL-1',
    'Eu-Central-1',
    ' eu-central-1',
    'eu-central-1 ',
    'eu-central-1\t',
    'eu-central-1.evil.example',
    'evil.example',
    '127.0.0.1',
    '[::1]',
    new URL(EU).host,
    EU,
    '../eu-central-1',
    'eu-central-1/../us-east-1',
    '/eu-central-1',
    'eu-central-1%00',
    'eu‐central‐1', // U+2010 hyphens
    'us-west-2',
    'constructor',
    '__proto__',
    'toString',
    ['eu-central-1'],
    { name: 'eu-central-1' },
    1,
    null,
  ];
  for (const region of hostile) {
    it(JSON.stringify(region) ?? 'missing', async () => {
      const claims = validClaims({ tenant_region: region });
      if (region === undefined) delete claims.tenant_region;
      const token = await signRaw(claims);
      expectRejected(await send(gw, req('/api/pages', { headers: bearer(token) })), {
        status: 403,
        code: 'region_unknown',
        challenge: 'none',
        secrets: typeof region === 'string' && region.trim().length >= 3 ? [region] : [],
      });
    });
  }

  it('a client region tag that disagrees with the claim → 403 region_mismatch; the tag never routes', async () => {
    const token = await signRaw(validClaims());
    for (const tag of ['us-east-1', 'EU-CENTRAL-1', 'eu-central-1 , us-east-1']) {
      expectRejected(await send(gw, req('/api/pages', { headers: { ...bearer(token), 'x-tenant-region': tag } })), {
        status: 403,
        code: 'region_mismatch',
        challenge: 'none',
      });
    }
  });
});
