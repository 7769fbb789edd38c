import { describe, expect, it } from 'vitest';
import { bindings } from '../../test/worker/helpers.ts';
import { freshKey, putKeySet, uniqueName } from '../../test/worker/security/support.ts';
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

  it('never refetches more than once a second for unknown kids, even when configured with no cooldown', async () => {
    let now = 1_000_000;
    const ks = await keySet({ cooldownMs: 0, now: () => now });
    await ks.lookup('es-1', 'ES256');
    for (let i = 0; i < 50; i++) await ks.lookup(`unknown-${i}`, 'ES256');
    expect(ks.fetchCount).toBe(1);
    now += 999;
    await Promise.all(Array.from({ length: 20 }, (_, i) => ks.lookup(`unknown-b${i}`, 'ES256')));
    expect(ks.fetchCount).toBe(1);
    now += 1;
    await Promise.all(Array.from({ length: 20 }, (_, i) => ks.lookup(`unknown-c${i}`, 'ES256')));
    expect(ks.fetchCount).toBe(2);
  });

  it('keeps its generation when a refetch brings the same keys (in any order), and bumps it when they change', async () => {
    const a = await freshKey('ES256', uniqueName('a'));
    const b = await freshKey('ES256', uniqueName('b'));
    const name = uniqueName('generation');
    const url = await putKeySet(name, [a.publicJwk, b.publicJwk]);
    let now = 1_000_000;
    const ks = await KeySet.create({ jwksUrl: url, algorithms: ['ES256'], ttlMs: 60_000, cooldownMs: 1000, now: () => now });
    expect((await ks.lookup(a.kid, 'ES256')).ok).toBe(true);
    const g = ks.generation;
    now += 1000;
    await ks.lookup('unknown-1', 'ES256'); // refetch: same set
    await putKeySet(name, [b.publicJwk, a.publicJwk]);
    now += 1000;
    await ks.lookup('unknown-2', 'ES256'); // refetch: same keys, other order
    expect(ks.fetchCount).toBe(3);
    expect(ks.generation).toBe(g);
    await putKeySet(name, [b.publicJwk]);
    now += 1000;
    await ks.lookup('unknown-3', 'ES256');
    expect(ks.generation).toBe(g + 1);
    expect(await ks.lookup(a.kid, 'ES256')).toEqual({ ok: false, reason: 'unknown_kid' });
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

describe('KeySet during a key server outage (staleness cap)', () => {
  async function failingLater(cooldownMs: number) {
    const { labOrigin } = await import('../../test/worker/faults/lab.ts');
    const jwks = await labOrigin('jwks');
    let now = 1_000_000;
    const ks = await KeySet.create({
      jwksUrl: `${jwks.url}/.well-known/jwks.json`,
      algorithms: ['ES256', 'EdDSA'],
      ttlMs: 60_000,
      cooldownMs,
      maxStalenessMs: 600_000,
      now: () => now,
    });
    expect((await ks.lookup('es-1', 'ES256')).ok).toBe(true);
    await jwks.fault({ mode: 'status', status: 500 });
    return { ks, jwks, advance: (ms: number) => (now += ms) };
  }

  it('keeps held keys usable up to the cap after the last good fetch, then reports the key set unavailable', async () => {
    const { ks, jwks, advance } = await failingLater(30_000);
    advance(600_000); // exactly at the cap
    expect((await ks.lookup('es-1', 'ES256')).ok).toBe(true);
    advance(1);
    expect(await ks.lookup('es-1', 'ES256')).toEqual({ ok: false, reason: 'key_set_unavailable' });
    await jwks.close();
  });

  it('asks a failing key server at most once per cooldown, however many lookups come in', async () => {
    const { ks, jwks, advance } = await failingLater(30_000);
    advance(61_000); // past the TTL: one attempt, which fails
    for (let i = 0; i < 20; i++) expect((await ks.lookup('es-1', 'ES256')).ok).toBe(true);
    expect(ks.fetchCount).toBe(2);
    advance(29_000);
    for (let i = 0; i < 20; i++) await ks.lookup('es-1', 'ES256');
    expect(ks.fetchCount).toBe(2);
    expect(ks.retryAfterSeconds()).toBe(1);
    advance(1_000);
    await ks.lookup('es-1', 'ES256');
    expect(ks.fetchCount).toBe(3);
    expect(ks.retryAfterSeconds()).toBe(30);
    await jwks.close();
  });

  it('backs off at least a second after a failure even with a zero cooldown', async () => {
    const { ks, jwks, advance } = await failingLater(0);
    advance(61_000);
    for (let i = 0; i < 10; i++) await ks.lookup('es-1', 'ES256');
    expect(ks.fetchCount).toBe(2);
    await jwks.close();
  });

  it('takes the new key set as soon as the key server is back', async () => {
    const { ks, jwks, advance } = await failingLater(30_000);
    advance(61_000);
    await ks.lookup('es-1', 'ES256');
    const generation = ks.generation;
    const fetches = ks.fetchCount;
    await jwks.fault({ mode: 'ok' });
    advance(30_000);
    expect((await ks.lookup('es-1', 'ES256')).ok).toBe(true);
    expect(ks.fetchCount).toBe(fetches + 1);
    // The same keys came back: the set did not change, so caches keyed on it survive.
    expect(ks.generation).toBe(generation);
    advance(600_000); // and the fetch counts as fresh for the staleness cap
    expect((await ks.lookup('es-1', 'ES256')).ok).toBe(true);
    await jwks.close();
  });

  it('readiness (for /readyz) follows the same rules: keys count until the cap, the failing server is not hammered', async () => {
    const { ks, jwks, advance } = await failingLater(30_000);
    advance(61_000);
    expect((await ks.readiness()).keys).toBe(2); // one failed refresh; held keys still usable
    expect(ks.fetchCount).toBe(2);
    for (let i = 0; i < 5; i++) await ks.readiness();
    expect(ks.fetchCount).toBe(2); // within the backoff: no new attempt
    advance(600_000);
    expect((await ks.readiness()).keys).toBe(0); // past the cap: not ready, as lookups now fail
    await jwks.close();
  });
});
