/**
 * The gateway's three security invariants as properties (fast-check), each against the real gateway and
 * the real recording origins, with the fail-closed egress spy:
 *   1. any mutated token → 401 with zero egress;
 *   2. any path → the only outbound host is the tenant's home-region origin, and the path the
 *      origin gets is still under /api/ with no encoded separators or dot segments; otherwise the
 *      request is refused with nothing sent;
 *   3. any set of client headers → the identity the origin sees equals the verified claims.
 */
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { checkPath } from '../../../src/request-guard/index.ts';
import { bearer, expectRejected, REGION_ORIGINS, req, send, signRaw, validClaims, warmGateway, type Gateway, type RegionName } from './support.ts';

let gw: Gateway;
let token: string;
beforeAll(async () => {
  gw = await warmGateway();
  token = await signRaw(validClaims());
});

const REGIONS = Object.keys(REGION_ORIGINS) as RegionName[];
const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const PRINTABLE = [...Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i))];

describe('1. any mutated token → 401, zero egress', () => {
  it('every single-character substitution, at every position (exhaustive)', async () => {
    for (let i = 0; i < token.length; i++) {
      const c = token[i]!;
      // The neighbouring base64url character: the smallest change, and it keeps the token's shape.
      const swap = c === '.' ? 'A' : B64URL[(B64URL.indexOf(c) + 1) % 64]!;
      const mutated = token.slice(0, i) + swap + token.slice(i + 1);
      const out = await send(gw, req('/api/pages', { headers: bearer(mutated) }));
      expect(out.res.status, `position ${i}`).toBe(401);
      expect(out.egress).toEqual([]);
    }
  });

  it('random substitutions, insertions, deletions and truncations', async () => {
    const mutation = fc.oneof(
      fc.record({ kind: fc.constant('replace' as const), at: fc.nat(), ch: fc.constantFrom(...B64URL, '.', '=', '+', '/', '~', '%', '"') }),
      fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), ch: fc.constantFrom(...B64URL, '.', '=', '+', '/') }),
      fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), ch: fc.constant('') }),
      fc.record({ kind: fc.constant('truncate' as const), at: fc.nat(), ch: fc.constant('') }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(mutation, { minLength: 1, maxLength: 3 }), async (ms) => {
        let t = token;
        for (const m of ms) {
          const i = m.at % (t.length + 1);
          if (m.kind === 'replace') t = t.slice(0, i) + m.ch + t.slice(i + 1);
          else if (m.kind === 'insert') t = t.slice(0, i) + m.ch + t.slice(i);
          else if (m.kind === 'delete') t = t.slice(0, i) + t.slice(i + 1);
          else t = t.slice(0, i);
        }
        fc.pre(t !== token);
        const out = await send(gw, req('/api/pages', { headers: bearer(t) }));
        // An empty "Bearer " is a bearer attempt too: invalid_token, like any other mutation.
        expectRejected(out, { status: 401, code: 'invalid_token' });
      }),
      { numRuns: 300 },
    );
  });
});

describe('2. any path → the home-region origin only, under /api/, or refused with nothing sent', () => {
  const piece = fc.constantFrom(
    'a', 'pages', '7', '.', '..', '/', '//', '\\', '%2e', '%2E', '%2e%2e', '.%2e', '%2f', '%2F', '%5c', '%5C',
    '%00', '%25', '%252f', '%252e', '%c0%ae', '%c0%af', '%e0%80%ae', '%ff', '%', '%zz', '?', '#', '~', ';', '@',
    ':', 'é', ' ', 'evil.example', 'http:', '127.0.0.1', '%40', '%3a',
  );
  it('holds for random paths and regions', async () => {
    let forwarded = 0;
    let refused = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(piece, { maxLength: 12 }), fc.constantFrom(...REGIONS), async (pieces, region) => {
        const path = `/api/${pieces.join('')}`;
        const t = await signRaw(validClaims({ tenant_region: region }));
        const incoming = new Request(`https://gateway.test${path}`, { headers: bearer(t) });
        const out = await send(gw, incoming, [REGION_ORIGINS[region]]);
        if (out.egress.length === 0) {
          expect([400, 404]).toContain(out.res.status);
          refused++;
          return;
        }
        forwarded++;
        expect(out.egress).toHaveLength(1);
        const outbound = new URL(out.egress[0]!.url);
        expect(outbound.origin).toBe(REGION_ORIGINS[region]);
        expect(out.egress[0]!.allowed).toBe(true);
        expect(outbound.pathname.startsWith('/api/')).toBe(true);
        expect(checkPath(outbound.pathname)).toEqual({ ok: true });
        // The origin gets exactly the path the gateway routed on.
        expect(outbound.pathname).toBe(new URL(incoming.url).pathname);
        expect(out.res.status).toBe(200);
      }),
      { numRuns: 300 },
    );
    // Both outcomes were exercised, so neither branch above holds vacuously.
    expect(forwarded).toBeGreaterThan(20);
    expect(refused).toBeGreaterThan(20);
  });
});

describe('3. any client headers → the origin sees exactly the verified identity', () => {
  const IDENTITY_LIKE = [
    'x-tenant-id', 'x-user-id', 'x-tenant-region', 'x-gateway-assertion', 'x-request-id', 'forwarded', 'x-forwarded-for',
    'x-forwarded-host', 'x-forwarded-proto', 'x-real-ip', 'cf-connecting-ip', 'true-client-ip', 'x-original-url', 'connection',
  ];
  const spelling = (base: string) =>
    fc.array(fc.boolean(), { minLength: base.length, maxLength: base.length }).chain((upper) =>
      fc.boolean().map((underscores) =>
        [...base].map((ch, i) => (ch === '-' && underscores ? '_' : upper[i] ? ch.toUpperCase() : ch)).join(''),
      ),
    );
  const headerName = fc.oneof(fc.constantFrom(...IDENTITY_LIKE).chain(spelling), fc.stringMatching(/^x-[a-z]{1,8}$/));
  const headerValue = fc.array(fc.constantFrom(...PRINTABLE), { minLength: 1, maxLength: 40 }).map((cs) => cs.join(''));
  const identity = fc.record({
    tenant: fc.stringMatching(/^[A-Za-z0-9_-]{1,24}$/),
    sub: fc.stringMatching(/^[A-Za-z0-9_.:@-]{1,32}$/),
    region: fc.constantFrom(...REGIONS),
  });

  it('holds for random header sets and identities', async () => {
    await fc.assert(
      fc.asyncProperty(identity, fc.array(fc.tuple(headerName, headerValue), { maxLength: 10 }), async (id, pairs) => {
        const headers = new Headers();
        for (const [n, v] of pairs) headers.append(n, v);
        const t = await signRaw(validClaims({ tenant_id: id.tenant, sub: id.sub, tenant_region: id.region }));
        headers.set('authorization', `Bearer ${t}`);
        headers.set('cf-connecting-ip', '198.51.100.4'); // what the platform reports (Cloudflare overwrites a client's)
        const out = await send(gw, req('/api/pages', { headers }), [REGION_ORIGINS[id.region]]);
        const tag = headers.get('x-tenant-region');
        if (tag !== null && tag !== id.region) {
          expectRejected(out, { status: 403, code: 'region_mismatch' });
          return;
        }
        expect(out.res.status).toBe(200);
        expect(out.egress.map((e) => new URL(e.url).origin)).toEqual([REGION_ORIGINS[id.region]]);
        const seen = (JSON.parse(out.text) as { origin: string; headers: Record<string, string> });
        expect(seen.origin).toBe(id.region);
        expect(seen.headers['x-tenant-id']).toBe(id.tenant);
        expect(seen.headers['x-user-id']).toBe(id.sub);
        expect(seen.headers['x-tenant-region']).toBe(id.region);
        expect(seen.headers['x-gateway-assertion']).toMatch(/^v2\.[A-Za-z0-9_-]{1,64}\.\d+\.[A-Za-z0-9_-]{43}$/);
        for (const name of Object.keys(seen.headers)) expect(name.includes('_')).toBe(false);
        for (const h of ['forwarded', 'x-forwarded-host', 'x-real-ip', 'true-client-ip', 'x-original-url', 'cf-connecting-ip', 'authorization']) {
          expect(seen.headers[h], h).toBeUndefined();
        }
        // Forwarding headers come from the platform only.
        expect(seen.headers['x-forwarded-for']).toBe('198.51.100.4');
        expect(seen.headers['x-forwarded-proto']).toBe('https');
      }),
      { numRuns: 200 },
    );
  });
});
