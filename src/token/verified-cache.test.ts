import { afterEach, describe, expect, it, vi } from 'vitest';
import { bindings, callGateway, egressFor, mintToken, newMarker } from '../../test/worker/helpers.ts';
import { freshKey, publicTestKeys, putKeySet, uniqueName } from '../../test/worker/security/support.ts';
import { KeySet } from './key-set.ts';
import { VerifiedTokenCache } from './verified-cache.ts';
import { verifyAccessToken, type VerifyOptions, type VerifyResult } from './verify.ts';

const OPTS: VerifyOptions = {
  issuer: bindings.JWT_ISSUER!,
  audience: bindings.JWT_AUDIENCE!,
  algorithms: ['ES256', 'EdDSA'],
  clockToleranceSeconds: 5,
  requiredTyp: 'at+jwt',
  maxTokenAgeSeconds: 3600,
};

function publicKeys() {
  const { keys } = JSON.parse(bindings.TEST_PRIVATE_JWKS!) as { keys: Array<Record<string, unknown>> };
  return { keys: keys.map(({ d: _d, ...pub }) => pub) };
}

function staticKeySet(): Promise<KeySet> {
  return KeySet.create({ staticKeys: publicKeys(), algorithms: OPTS.algorithms, ttlMs: 60_000, cooldownMs: 0 });
}

/** The real verifier, counted: every call is a full (crypto) verification. */
function countingVerifier(keySet: KeySet) {
  const calls = { n: 0 };
  const run = (token: string) => () => {
    calls.n++;
    return verifyAccessToken(token, keySet, OPTS);
  };
  return { calls, run };
}

function tamperPayload(token: string, claims: Record<string, unknown>): string {
  const [h, p, s] = token.split('.');
  const payload = JSON.parse(atob(p!.replace(/-/g, '+').replace(/_/g, '/')));
  const forged = btoa(JSON.stringify({ ...payload, ...claims })).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  return `${h}.${forged}.${s}`;
}

function ok(r: VerifyResult): Extract<VerifyResult, { ok: true }> {
  if (!r.ok) throw new Error(`expected a verified token, got ${r.reason}: ${r.detail}`);
  return r;
}

describe('verified-token cache', () => {
  afterEach(() => vi.restoreAllMocks());

  it('a hit skips the signature check and returns the same claims', async () => {
    const keySet = await staticKeySet();
    const cache = new VerifiedTokenCache({ clockToleranceSeconds: 5 });
    const { calls, run } = countingVerifier(keySet);
    const token = await mintToken({ claims: { tenant_id: 'ws_cache' } });

    const subtleVerify = vi.spyOn(crypto.subtle, 'verify');
    const first = ok(await cache.verify(token, keySet, run(token)));
    expect(subtleVerify).toHaveBeenCalledTimes(1); // the spy sees jose's signature check
    subtleVerify.mockClear();
    const second = ok(await cache.verify(token, keySet, run(token)));

    expect(calls.n).toBe(1);
    expect(subtleVerify).not.toHaveBeenCalled();
    expect(second.claims.tenant_id).toBe('ws_cache');
    expect(second.claims).toEqual(first.claims);
    expect(cache.hits).toBe(1);
    expect(cache.misses).toBe(1);
  });

  it('a tampered token is never a hit, whatever part was altered', async () => {
    const keySet = await staticKeySet();
    const cache = new VerifiedTokenCache({ clockToleranceSeconds: 5 });
    const { calls, run } = countingVerifier(keySet);
    const token = await mintToken({ claims: { tenant_id: 'ws_victim' } });
    ok(await cache.verify(token, keySet, run(token)));

    const forgedClaims = tamperPayload(token, { tenant_id: 'ws_attacker' });
    // Alter the signature's first character: all six of its bits are signature bits (the last
    // character's low bits are base64 padding a decoder may ignore, which would not be a forgery).
    const sigStart = token.lastIndexOf('.') + 1;
    const forgedSig = token.slice(0, sigStart) + (token[sigStart] === 'A' ? 'B' : 'A') + token.slice(sigStart + 1);
    for (const forged of [forgedClaims, forgedSig]) {
      const before = calls.n;
      const r = await cache.verify(forged, keySet, run(forged));
      expect(r.ok).toBe(false);
      expect(calls.n).toBe(before + 1); // went through full verification
    }
    // Rejections are not cached: the forgery is fully checked again.
    const r = await cache.verify(forgedClaims, keySet, run(forgedClaims));
    expect(r).toMatchObject({ ok: false, reason: 'bad_signature' });
    expect(cache.size).toBe(1);
  });

  it('a cached token still fails once it expires, honouring the clock tolerance', async () => {
    const keySet = await staticKeySet();
    let nowMs = Date.now();
    const cache = new VerifiedTokenCache({ clockToleranceSeconds: 5, now: () => nowMs });
    const { calls, run } = countingVerifier(keySet);
    const token = await mintToken({ expiresIn: '60s' });
    const { claims } = ok(await cache.verify(token, keySet, run(token)));
    const exp = claims.exp!;

    nowMs = (exp + 4) * 1000; // inside the 5 s tolerance: still valid, still a hit
    ok(await cache.verify(token, keySet, run(token)));
    nowMs = (exp + 5) * 1000; // jose's boundary: exp <= now - tolerance is expired
    const r = await cache.verify(token, keySet, run(token));
    expect(r).toMatchObject({ ok: false, reason: 'expired' });
    expect(calls.n).toBe(1);
    expect(cache.size).toBe(0);
  });

  it('a cached token also fails once older than the maximum token age (by iat)', async () => {
    const keySet = await staticKeySet();
    let nowMs = Date.now();
    const cache = new VerifiedTokenCache({ clockToleranceSeconds: 5, maxTokenAgeSeconds: 60, now: () => nowMs });
    const { calls, run } = countingVerifier(keySet);
    const token = await mintToken({ expiresIn: '1h' });
    const { claims } = ok(await cache.verify(token, keySet, run(token)));
    const iat = claims.iat!;

    nowMs = (iat + 65) * 1000; // age 65 - tolerance 5 = 60: not over the limit yet
    ok(await cache.verify(token, keySet, run(token)));
    nowMs = (iat + 66) * 1000; // jose's rule: too old when age - tolerance > max age
    const r = await cache.verify(token, keySet, run(token));
    expect(r).toMatchObject({ ok: false, reason: 'expired' });
    expect(calls.n).toBe(1);
    expect(cache.size).toBe(0);
  });

  it('survives refetches that bring the same keys: a flood of unknown kids cannot empty it', async () => {
    let keyNow = Date.now();
    const keySet = await KeySet.create({ jwksUrl: bindings.JWKS_URL!, algorithms: OPTS.algorithms, ttlMs: 1000, cooldownMs: 1000, now: () => keyNow });
    const cache = new VerifiedTokenCache({ clockToleranceSeconds: 5 });
    const { calls, run } = countingVerifier(keySet);
    const token = await mintToken();
    expect((await keySet.lookup('es-1', 'ES256')).ok).toBe(true);
    ok(await cache.verify(token, keySet, run(token)));
    const fetches = keySet.fetchCount;
    for (let i = 0; i < 5; i++) {
      keyNow += 1500; // past the cooldown and the TTL: each unknown kid and each hit may refetch
      expect((await keySet.lookup(crypto.randomUUID(), 'ES256')).ok).toBe(false);
      ok(await cache.verify(token, keySet, run(token)));
    }
    expect(keySet.fetchCount).toBeGreaterThanOrEqual(fetches + 5);
    expect(calls.n).toBe(1); // every later verify was a hit
    expect(cache.size).toBe(1);
  });

  it('is emptied when the key set changes (a JWKS refresh with other keys bumps its generation)', async () => {
    let keyNow = Date.now();
    const name = uniqueName('cache-change');
    const url = await putKeySet(name, publicTestKeys());
    const keySet = await KeySet.create({
      jwksUrl: url,
      algorithms: OPTS.algorithms,
      ttlMs: 1000,
      cooldownMs: 0,
      now: () => keyNow,
    });
    const cache = new VerifiedTokenCache({ clockToleranceSeconds: 5 });
    const { calls, run } = countingVerifier(keySet);
    const token = await mintToken();
    // A verification that races a key-set change is not cached, so load the keys first.
    expect((await keySet.lookup('es-1', 'ES256')).ok).toBe(true);

    ok(await cache.verify(token, keySet, run(token)));
    ok(await cache.verify(token, keySet, run(token)));
    expect(calls.n).toBe(1);
    const generation = keySet.generation;
    const fetches = keySet.fetchCount;

    keyNow += 2000; // past the JWKS TTL: the hit's key lookup refreshes the key set, which has changed
    await putKeySet(name, [...publicTestKeys(), (await freshKey('ES256', uniqueName('extra'))).publicJwk]);
    ok(await cache.verify(token, keySet, run(token)));
    expect(keySet.fetchCount).toBe(fetches + 1);
    expect(keySet.generation).toBe(generation + 1);
    expect(calls.n).toBe(2); // the cached entry was dropped and the token verified again
    ok(await cache.verify(token, keySet, run(token)));
    expect(calls.n).toBe(2);
  });

  it('is bounded: the least recently used entry is evicted first', async () => {
    const keySet = await staticKeySet();
    const cache = new VerifiedTokenCache({ clockToleranceSeconds: 5, maxEntries: 2 });
    const { calls, run } = countingVerifier(keySet);
    const [a, b, c] = await Promise.all(['u-a', 'u-b', 'u-c'].map((sub) => mintToken({ claims: { sub } })));
    ok(await cache.verify(a!, keySet, run(a!)));
    ok(await cache.verify(b!, keySet, run(b!)));
    ok(await cache.verify(a!, keySet, run(a!))); // a is now the most recently used
    ok(await cache.verify(c!, keySet, run(c!))); // evicts b
    expect(cache.size).toBe(2);
    expect(calls.n).toBe(3);
    ok(await cache.verify(a!, keySet, run(a!)));
    expect(calls.n).toBe(3);
    ok(await cache.verify(b!, keySet, run(b!)));
    expect(calls.n).toBe(4);
  });

  it('is bounded by total token size too', async () => {
    const keySet = await staticKeySet();
    const a = await mintToken({ claims: { sub: 'u-a' } });
    const cache = new VerifiedTokenCache({ clockToleranceSeconds: 5, maxTokenChars: a.length + 10 });
    const { run } = countingVerifier(keySet);
    const b = await mintToken({ claims: { sub: 'u-b' } });
    ok(await cache.verify(a, keySet, run(a)));
    ok(await cache.verify(b, keySet, run(b)));
    expect(cache.size).toBe(1);
  });

  it('size 0 turns it off', async () => {
    const keySet = await staticKeySet();
    const cache = new VerifiedTokenCache({ clockToleranceSeconds: 5, maxEntries: 0 });
    const { calls, run } = countingVerifier(keySet);
    const token = await mintToken();
    ok(await cache.verify(token, keySet, run(token)));
    ok(await cache.verify(token, keySet, run(token)));
    expect(calls.n).toBe(2);
    expect(cache.size).toBe(0);
  });
});

describe('verified-token cache in the gateway', () => {
  it('a repeated token is forwarded with the same identity; a tampered copy never reaches an origin', async () => {
    const marker = newMarker();
    const headers = (token: string) => ({ authorization: `Bearer ${token}`, 'x-request-id': marker });
    const token = await mintToken({ claims: { tenant_id: 'ws_repeat', sub: 'user-r' } });
    for (let i = 0; i < 3; i++) {
      const res = await callGateway('/api/pages', { headers: headers(token) });
      expect(res.status).toBe(200);
    }
    const forged = tamperPayload(token, { tenant_region: 'us-east-1' });
    const res = await callGateway('/api/pages', { headers: headers(forged) });
    expect(res.status).toBe(401);

    const egress = await egressFor(marker);
    expect(egress).toHaveLength(3);
    for (const r of egress) {
      expect(r.origin).toBe('eu-central-1');
      expect(r.headers['x-tenant-id']).toBe('ws_repeat');
      expect(r.headers['x-user-id']).toBe('user-r');
    }
  });
});
