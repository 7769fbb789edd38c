/**
 * Attacks on the token's shape: missing, empty, other schemes, wrong segment counts, bad base64url
 * or JSON, non-canonical encodings, tokens over the size cap (refused before any crypto).
 */
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { b64url, bearer, expectRejected, gatewayWith, REGION_ORIGINS, req, send, signRaw, validClaims, warmGateway, type Gateway } from './support.ts';

let gw: Gateway;
beforeAll(async () => {
  gw = await warmGateway();
});

const header = b64url(JSON.stringify({ alg: 'ES256', kid: 'es-1', typ: 'at+jwt' }));
const payload = b64url(JSON.stringify(validClaims()));

describe('no credentials → 401 token_missing, realm only (RFC 6750 §3.1)', () => {
  const cases: Array<[string, Record<string, string>]> = [
    ['no Authorization header', {}],
    ['Basic scheme', { authorization: 'Basic dXNlcjpwYXNz' }],
    ['Digest scheme', { authorization: 'Digest username="u"' }],
    ['token without a scheme', { authorization: 'eyJhbGciOiJFUzI1NiJ9.e30.sig' }],
  ];
  for (const [name, headers] of cases) {
    it(name, async () => {
      expectRejected(await send(gw, req('/api/pages', { headers })), { status: 401, code: 'token_missing', challenge: 'bare' });
    });
  }
});

describe('malformed bearer tokens → 401 invalid_token', () => {
  const cases: Array<[string, string]> = [
    ['empty bearer', 'Bearer '],
    ['scheme only', 'Bearer'],
    ['one segment', `Bearer ${header}`],
    ['two segments', `Bearer ${header}.${payload}`],
    ['four segments', `Bearer ${header}.${payload}.AAAA.AAAA`],
    ['five segments (JWE shape)', `Bearer ${header}.${payload}.AAAA.AAAA.AAAA`],
    ['empty signature', `Bearer ${header}.${payload}.`],
    ['standard base64 characters', `Bearer ${header}.${payload}.ab+/cd==`],
    ['header is not JSON', `Bearer ${b64url('not json')}.${payload}.AAAA`],
    ['header is a JSON array', `Bearer ${b64url('[]')}.${payload}.AAAA`],
    ['payload is not JSON', `Bearer ${header}.${b64url('{"sub":')}.AAAA`],
    ['impossible base64url length', `Bearer ${header}.${payload}.AAAAA`],
    ['spaces inside the token', `Bearer ${header}. ${payload}.AAAA`],
    ['two tokens', `Bearer ${header}.${payload}.AAAA ${header}.${payload}.AAAA`],
    ['unicode look-alike dot', `Bearer ${header}\u2024${payload}\u2024AAAA`],
  ];
  for (const [name, authorization] of cases) {
    it(name, async () => {
      expectRejected(await send(gw, req('/api/pages', { headers: { authorization } })), { status: 401, code: 'invalid_token' });
    });
  }

  it('a non-canonical base64url spelling of a valid signature is refused', async () => {
    const token = await signRaw(validClaims());
    const ok = await send(gw, req('/api/pages', { headers: bearer(token) }), [REGION_ORIGINS['eu-central-1']]);
    expect(ok.res.status).toBe(200);
    // An ES256 signature is 64 bytes = 86 base64url chars; the last one carries 4 unused bits.
    const sig = token.split('.')[2]!;
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const last = alphabet.indexOf(sig.at(-1)!);
    const twin = sig.slice(0, -1) + alphabet[last | 1];
    const forged = token.split('.').slice(0, 2).concat(twin).join('.');
    expectRejected(await send(gw, req('/api/pages', { headers: bearer(forged) })), { status: 401, code: 'invalid_token' });
  });
});

describe('size cap (JWT_MAX_TOKEN_BYTES, default 8192) is checked before any parsing, lookup or crypto', () => {
  it('a token just over the cap is refused without a key lookup or signature check', async () => {
    // Cooldown 0 and an unknown kid: had this token reached the key lookup it would fetch the JWKS.
    const fresh = gatewayWith({ JWKS_REFRESH_COOLDOWN_SECONDS: '1' });
    const token = await signRaw(validClaims({ pad: 'x'.repeat(9000) }), { header: { kid: 'never-seen' } });
    expect(token.length).toBeGreaterThan(8192);
    const verify = vi.spyOn(crypto.subtle, 'verify');
    try {
      expectRejected(await send(fresh, req('/api/pages', { headers: bearer(token) })), { status: 401, code: 'invalid_token' });
      expect(verify).not.toHaveBeenCalled();
      // Control: the spy does see the signature check of a token under the cap.
      const ok = await send(gw, req('/api/pages', { headers: bearer(await signRaw(validClaims())) }), [REGION_ORIGINS['eu-central-1']]);
      expect(ok.res.status).toBe(200);
      expect(verify).toHaveBeenCalled();
    } finally {
      verify.mockRestore();
    }
  });

  it('the cap is configurable, and a token under it is verified normally', async () => {
    const small = gatewayWith({ JWT_MAX_TOKEN_BYTES: '512' });
    const token = await signRaw(validClaims({ pad: 'x'.repeat(400) }));
    expect(token.length).toBeGreaterThan(512);
    expectRejected(await send(small, req('/api/pages', { headers: bearer(token) })), { status: 401, code: 'invalid_token' });
    const ok = await send(gw, req('/api/pages', { headers: bearer(token) }), [REGION_ORIGINS['eu-central-1']]);
    expect(ok.res.status).toBe(200);
    expect(ok.egress.map((e) => e.url)).toEqual([`${REGION_ORIGINS['eu-central-1']}/api/pages`]);
  });
});
