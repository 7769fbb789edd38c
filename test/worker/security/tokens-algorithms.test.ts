/**
 * Algorithm confusion: `alg: none` in any spelling, HS256 keyed with the published public key,
 * algorithms outside the allowlist (JWT_ALGORITHMS = ES256, EdDSA), a kid whose key is for another
 * alg, and key material or key URLs carried in the token header (jku, x5u, x5c, jwk: never
 * fetched, never trusted) and unknown `crit` extensions.
 */
import { exportSPKI, importJWK, SignJWT } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { bindings } from '../helpers.ts';
import { b64url, bearer, expectRejected, freshKey, publicTestKeys, req, send, signRaw, validClaims, warmGateway, type Gateway } from './support.ts';

let gw: Gateway;
beforeAll(async () => {
  gw = await warmGateway({ JWKS_REFRESH_COOLDOWN_SECONDS: '1' }); // any JWKS fetch would show as egress
});

const unsigned = (alg: string) => `${b64url(JSON.stringify({ alg, kid: 'es-1', typ: 'at+jwt' }))}.${b64url(JSON.stringify(validClaims()))}.`;

describe('alg "none" in any capitalisation → 401', () => {
  for (const alg of ['none', 'None', 'NONE', 'nOnE']) {
    it(`${alg} with an empty signature`, async () => {
      expectRejected(await send(gw, req('/api/pages', { headers: bearer(unsigned(alg)) })), { status: 401, code: 'invalid_token' });
    });
    it(`${alg} with a copied valid signature`, async () => {
      const sig = (await signRaw(validClaims())).split('.')[2];
      expectRejected(await send(gw, req('/api/pages', { headers: bearer(unsigned(alg) + sig) })), { status: 401, code: 'invalid_token' });
    });
  }
});

describe('HMAC keyed with the public key (RS/ES → HS confusion) → 401', () => {
  const pub = publicTestKeys()[0] as Record<string, unknown>;
  const forms: Array<[string, () => Promise<Uint8Array>]> = [
    ['SPKI PEM', async () => new TextEncoder().encode(await exportSPKI((await importJWK(pub as never, 'ES256')) as CryptoKey))],
    ['JWK JSON', async () => new TextEncoder().encode(JSON.stringify(pub))],
    ['x coordinate', async () => new TextEncoder().encode(String(pub.x))],
  ];
  for (const alg of ['HS256', 'HS384', 'HS512']) {
    for (const [form, secret] of forms) {
      it(`${alg} with the ${form}`, async () => {
        const token = await new SignJWT(validClaims())
          .setProtectedHeader({ alg, kid: 'es-1', typ: 'at+jwt' })
          .sign(await secret());
        expectRejected(await send(gw, req('/api/pages', { headers: bearer(token) })), { status: 401, code: 'invalid_token' });
      });
    }
  }
});

describe('algorithms outside the allowlist → 401 (even with a key the JWKS publishes)', () => {
  for (const alg of ['ES384', 'RS256', 'PS256'] as const) {
    it(alg, async () => {
      const k = await freshKey(alg, 'es-1'); // claims to be the published kid
      const token = await signRaw(validClaims(), { key: { alg, privateKey: k.privateKey, kid: 'es-1' } });
      expectRejected(await send(gw, req('/api/pages', { headers: bearer(token) })), { status: 401, code: 'invalid_token' });
    });
  }

  it('EdDSA header on the ES256 kid (alg/key mismatch)', async () => {
    const ed = JSON.parse(bindings.TEST_PRIVATE_JWKS!).keys.find((k: { kid: string }) => k.kid === 'ed-1');
    const token = await signRaw(validClaims(), { key: { alg: 'EdDSA', privateKey: (await importJWK(ed, 'EdDSA')) as CryptoKey, kid: 'es-1' } });
    expectRejected(await send(gw, req('/api/pages', { headers: bearer(token) })), { status: 401, code: 'invalid_token' });
  });
});

describe('key pointers and embedded keys in the header are refused, never fetched', () => {
  it('jku / x5u pointing at an attacker URL (which the spy would refuse and record)', async () => {
    for (const header of [{ jku: 'https://attacker.example/jwks.json' }, { x5u: 'https://attacker.example/cert.pem' }]) {
      const token = await signRaw(validClaims(), { header });
      expectRejected(await send(gw, req('/api/pages', { headers: bearer(token) })), {
        status: 401,
        code: 'invalid_token',
        secrets: ['attacker.example'],
      });
    }
  });

  it('an embedded jwk: the attacker signs with their own key and ships it in the header', async () => {
    const k = await freshKey('ES256', 'attacker');
    const token = await signRaw(validClaims(), { key: { alg: 'ES256', privateKey: k.privateKey, kid: 'es-1' }, header: { jwk: k.publicJwk } });
    expectRejected(await send(gw, req('/api/pages', { headers: bearer(token) })), { status: 401, code: 'invalid_token' });
  });

  it('x5c, even next to a valid signature from the real key', async () => {
    const token = await signRaw(validClaims(), { header: { x5c: ['MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA'] } });
    expectRejected(await send(gw, req('/api/pages', { headers: bearer(token) })), { status: 401, code: 'invalid_token' });
  });

  it('a jku next to an otherwise valid token is still refused (the header is not ignored)', async () => {
    const token = await signRaw(validClaims(), { header: { jku: bindings.JWKS_URL } });
    expectRejected(await send(gw, req('/api/pages', { headers: bearer(token) })), { status: 401, code: 'invalid_token' });
  });
});

describe('crit', () => {
  it('an unknown critical extension → 401', async () => {
    const token = await signRaw(validClaims(), { header: { crit: ['x-must-understand'], 'x-must-understand': true } });
    expectRejected(await send(gw, req('/api/pages', { headers: bearer(token) })), { status: 401, code: 'invalid_token' });
  });
  it('crit naming a registered parameter, or empty → 401', async () => {
    for (const crit of [['alg'], []]) {
      const token = await signRaw(validClaims(), { header: { crit } });
      expectRejected(await send(gw, req('/api/pages', { headers: bearer(token) })), { status: 401, code: 'invalid_token' });
    }
  });
  it('control: the same hand signing without crit passes', async () => {
    const token = await signRaw(validClaims(), { manual: true });
    const { res } = await send(gw, req('/api/pages', { headers: bearer(token) }), [JSON.parse(bindings.REGIONS!)['eu-central-1'].origin]);
    expect(res.status).toBe(200);
  });
});

it('control: the same keys and header shape without the attack pass', async () => {
  const token = await signRaw(validClaims());
  const { res } = await send(gw, req('/api/pages', { headers: bearer(token) }), [JSON.parse(bindings.REGIONS!)['eu-central-1'].origin]);
  expect(res.status).toBe(200);
});
