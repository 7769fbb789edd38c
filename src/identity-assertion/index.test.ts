/** The assertion as a verifier sees it: exact request, exact audience, own key ring, bounded time. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ASSERTION_MAX_AGE_SECONDS,
  ASSERTION_MAX_FUTURE_SKEW_SECONDS,
  canonical,
  canonicalIdentity,
  identityFromHeaders,
  identityRequest,
  IDENTITY_HEADERS,
  importKeyRing,
  setSignedIdentity,
  signAssertion,
  verifyAssertion,
  type AssertedRequest,
} from './index.ts';

const ringA = await importKeyRing([{ kid: 'a-2', secret: 'a'.repeat(40) }, { kid: 'a-1', secret: 'A'.repeat(40) }]);
const ringB = await importKeyRing([{ kid: 'a-2', secret: 'b'.repeat(40) }]);

const text = fc.string({ unit: 'binary', maxLength: 24 });
const request = fc.record({
  method: fc.constantFrom('GET', 'POST', 'DELETE', 'PATCH'),
  pathAndQuery: text.map((s) => `/api/${s}`),
  audience: fc.constantFrom('eu-central-1', 'us-east-1', 'central'),
  claims: fc.dictionary(fc.constantFrom('tenant_id', 'user_id', 'region', 'request_id', 'client_ip'), text),
});

/** Changes exactly one thing about a request (so the canonical form must differ). */
function mutate(r: AssertedRequest, which: number, extra: string): AssertedRequest | undefined {
  switch (which) {
    case 0:
      return { ...r, method: r.method === 'GET' ? 'POST' : 'GET' };
    case 1:
      return { ...r, pathAndQuery: r.pathAndQuery + (extra || 'x') };
    case 2:
      return { ...r, audience: r.audience === 'central' ? 'eu-central-1' : 'central' };
    default: {
      const names = Object.keys(r.claims);
      if (names.length === 0) return { ...r, claims: { tenant_id: extra } };
      const name = names[which % names.length]!;
      // Move characters between two claims, or change one: the spellings a naive join would confuse.
      const value = r.claims[name]!;
      return { ...r, claims: { ...r.claims, [name]: value === extra ? `${extra}\n` : extra } };
    }
  }
}

describe('identity assertion', () => {
  it('verifies exactly the request it was made for, with any key of the ring, and nothing else', async () => {
    await fc.assert(
      fc.asyncProperty(request, fc.nat(8), text, fc.boolean(), async (r, which, extra, second) => {
        const key = ringA.keys[second ? 1 : 0]!;
        const header = await signAssertion(r, key);
        expect(await verifyAssertion(header, r, ringA)).toEqual({ ok: true, kid: key.kid });
        // The same kid under another secret (another region's ring) never verifies.
        expect((await verifyAssertion(header, r, ringB)).ok).toBe(false);
        const changed = mutate(r, which, extra);
        if (changed && JSON.stringify(changed) !== JSON.stringify(r)) expect((await verifyAssertion(header, changed, ringA)).ok).toBe(false);
      }),
      { numRuns: 200 },
    );
  });

  it('refuses a timestamp older than the window or further ahead than the skew', async () => {
    const r: AssertedRequest = { method: 'GET', pathAndQuery: '/api/x', audience: 'central', claims: { client_ip: '203.0.113.1', request_id: 'r' } };
    const now = 2_000_000_000;
    const at = async (t: number) => verifyAssertion(await signAssertion(r, ringA.keys[0]!, t), r, ringA, { nowSeconds: now });
    expect(await at(now - ASSERTION_MAX_AGE_SECONDS)).toMatchObject({ ok: true });
    expect(await at(now + ASSERTION_MAX_FUTURE_SKEW_SECONDS)).toMatchObject({ ok: true });
    expect(await at(now - ASSERTION_MAX_AGE_SECONDS - 1)).toEqual({ ok: false, reason: 'expired' });
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: ASSERTION_MAX_FUTURE_SKEW_SECONDS + 1, max: 10 ** 9 }), async (ahead) => {
        expect(await at(now + ahead)).toEqual({ ok: false, reason: 'future' });
      }),
      { numRuns: 50 },
    );
  });

  it('refuses malformed headers and non-canonical signature spellings before any crypto', async () => {
    const r: AssertedRequest = { method: 'GET', pathAndQuery: '/', audience: 'central', claims: {} };
    const good = await signAssertion(r, ringA.keys[0]!);
    const [v, kid, t, sig] = good.split('.') as [string, string, string, string];
    const bad = [
      '', 'v2', `v1.${t}.${sig}`, `v2.${kid}.${t}`, `v2..${t}.${sig}`, `v2.${kid}.-1.${sig}`, `v2.${kid}.${t}.${sig}=`,
      `v2.${kid}.${t}.${sig.slice(0, -1)}`, `${v}.${kid}.${t}.${sig} `, `v2.${kid}.${t}.${sig}.x`,
    ];
    for (const h of bad) expect((await verifyAssertion(h, r, ringA)).ok, h).toBe(false);
    expect(await verifyAssertion(`v2.unknown.${t}.${sig}`, r, ringA)).toEqual({ ok: false, reason: 'unknown_key' });
    // The last base64url character of a 32-byte MAC carries 4 bits: a different spelling of the same bytes is refused.
    const last = sig.at(-1)!;
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const sibling = alphabet[alphabet.indexOf(last) + 1]!;
    expect(await verifyAssertion(`v2.${kid}.${t}.${sig.slice(0, -1)}${sibling}`, r, ringA)).toMatchObject({ ok: false });
  });

  it('signs a tenant identity as the same bytes the generic form gives, so verifiers need no change', async () => {
    const anyText = fc.string({ unit: 'binary', maxLength: 40 });
    const identity = fc.record({ tenantId: anyText, userId: anyText, region: anyText, requestId: anyText });
    const method = fc.oneof(fc.constantFrom('GET', 'get', 'POST', 'Patch', 'DELETE'), anyText);
    fc.assert(
      fc.property(anyText, fc.integer({ min: 0, max: 2 ** 40 }), method, anyText, identity, (kid, t, m, path, id) => {
        expect(canonicalIdentity(kid, t, m, path, id)).toBe(canonical(kid, t, identityRequest(m, path, id)));
      }),
      { numRuns: 500 },
    );
    // Header values: the alphabet the gateway lets identifiers have (src/tenant).
    const idText = fc.stringMatching(/^[A-Za-z0-9_.:@-]{1,40}$/);
    const headerIdentity = fc.record({ tenantId: idText, userId: idText, region: idText, requestId: idText });
    await fc.assert(
      fc.asyncProperty(fc.constantFrom('GET', 'POST', 'PUT'), text.map((s) => `/api/${s}`), headerIdentity, async (m, path, id) => {
        const headers = new Headers();
        await setSignedIdentity(headers, m, path, id, ringA.keys[0]!);
        // What the origin reads back and checks, with its own ring.
        const seen = { ...identityFromHeaders(headers), requestId: id.requestId };
        expect(seen).toEqual(id);
        const check = await verifyAssertion(headers.get(IDENTITY_HEADERS.assertion), identityRequest(m, path, seen), ringA);
        expect(check).toEqual({ ok: true, kid: ringA.keys[0]!.kid });
        expect((await verifyAssertion(headers.get(IDENTITY_HEADERS.assertion), identityRequest(m, path, { ...seen, userId: `${seen.userId}x` }), ringA)).ok).toBe(false);
      }),
      { numRuns: 100 },
    );
  });

  it('rings hold one or two keys with distinct ids', async () => {
    await expect(importKeyRing([])).rejects.toThrow();
    await expect(importKeyRing([1, 2, 3].map((i) => ({ kid: `k${i}`, secret: String(i).repeat(32) })))).rejects.toThrow();
    await expect(importKeyRing([{ kid: 'k', secret: '1'.repeat(32) }, { kid: 'k', secret: '2'.repeat(32) }])).rejects.toThrow();
    await expect(importKeyRing([{ kid: 'k', secret: 'short' }])).rejects.toThrow();
  });
});
