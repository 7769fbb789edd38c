import { describe, expect, it } from 'vitest';
import { bindings } from '../../test/worker/helpers.ts';
import { KeySet } from './key-set.ts';

function keySet(opts: { ttlMs?: number; cooldownMs?: number; now?: () => number } = {}) {
  return KeySet.create({
    jwksUrl: bindings.JWKS_URL,
    algorithms: ['ES256', 'EdDSA'],
    ttlMs: opts.ttlMs ?? 60_000,
    cooldownMs: opts.cooldownMs ?? 30_000,
    now: opts.now,
  });
}

describe('KeySet', () => {
  it('fetches the JWKS once and serves many lookups from the cache', async () => {
    const ks = await keySet();
    for (let i = 0; i < 20; i++) expect((await ks.lookup('es-1', 'ES256')).ok).toBe(true);
    expect(ks.fetchCount).toBe(1);
  });

  it('refetches once for an unknown kid, then not again within the cooldown', async () => {
    let now = 1_000_000;
    const ks = await keySet({ now: () => now });
    await ks.lookup('es-1', 'ES256');
    now += 31_000;
    expect(await ks.lookup('unknown-a', 'ES256')).toEqual({ ok: false, reason: 'unknown_kid' });
    expect(ks.fetchCount).toBe(2);
    for (let i = 0; i < 10; i++) await ks.lookup(`unknown-${i}`, 'ES256');
    expect(ks.fetchCount).toBe(2);
  });

  it('refetches after the TTL', async () => {
    let now = 1_000_000;
    const ks = await keySet({ ttlMs: 1000, now: () => now });
    await ks.lookup('es-1', 'ES256');
    now += 1001;
    await ks.lookup('es-1', 'ES256');
    expect(ks.fetchCount).toBe(2);
  });

  it('refuses a key used with another algorithm than its own', async () => {
    const ks = await keySet();
    expect(await ks.lookup('es-1', 'EdDSA')).toEqual({ ok: false, reason: 'alg_mismatch' });
  });

  it('reports the key set unavailable when it has never loaded', async () => {
    const ks = await KeySet.create({ jwksUrl: 'http://127.0.0.1:1/jwks', algorithms: ['ES256'], ttlMs: 1000, cooldownMs: 0 });
    expect(await ks.lookup('es-1', 'ES256')).toEqual({ ok: false, reason: 'key_set_unavailable' });
  });

  it('never imports private or symmetric keys as verification keys', async () => {
    const priv = JSON.parse(bindings.TEST_PRIVATE_JWKS!).keys;
    const ks = await KeySet.create({ staticKeys: { keys: [...priv, { kty: 'oct', k: 'c2VjcmV0', kid: 'hs', alg: 'HS256' }] }, algorithms: ['ES256', 'EdDSA'], ttlMs: 1, cooldownMs: 0 });
    expect(await ks.lookup('es-1', 'ES256')).toEqual({ ok: false, reason: 'unknown_kid' });
    expect(await ks.lookup('hs', 'HS256')).toMatchObject({ ok: false });
  });
});
