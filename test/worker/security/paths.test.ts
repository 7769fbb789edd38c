/**
 * Paths that try to leave their route or change host: dot segments in every spelling, encoded
 * separators, double encoding, backslashes, empty segments, NUL, invalid and overlong UTF-8; and
 * methods that have no business at an API gateway. Each is either refused (400/404/405, nothing
 * leaves) or normalised so that what the origin gets is still under /api/ on the tenant's origin.
 *
 * What the runtime already does: the WHATWG URL parser resolves `.`/`..` segments, including
 * `%2e` spellings, and turns `\` into `/` before the Worker sees the URL; Request refuses to be
 * built with CONNECT or TRACK. The request guard (src/request-guard) refuses the rest, including
 * segments that Tomcat, Jetty or Spring would resolve as `.`/`..` once they drop matrix parameters
 * (`..;x`, `.;jsessionid=1`, `%2e%2e%3b`), and compatibility spellings of the dot (`．`, `․`).
 */
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { bearer, expectRejected, REGION_ORIGINS, req, send, signRaw, validClaims, warmGateway, type Gateway } from './support.ts';

let gw: Gateway;
let token: string;
beforeAll(async () => {
  gw = await warmGateway();
  token = await signRaw(validClaims());
});
const EU = REGION_ORIGINS['eu-central-1'];

const at = (path: string, init: RequestInit = {}) =>
  new Request(`https://gateway.test${path}`, { ...init, headers: { ...bearer(token), ...(init.headers as Record<string, string>) } });

describe('refused with 400 invalid_request (nothing leaves)', () => {
  const cases = [
    '/api/pages/..%2fadmin',
    '/api/pages/..%2Fadmin',
    '/api/pages%2f..%2f..%2fadmin',
    '/api/%2fetc%2fpasswd',
    '/api/%252e%252e/admin',
    '/api/pages/%252f',
    '/api/%25',
    '/api/pages%5c..%5cadmin',
    '/api/%5c',
    '/api//pages',
    '/api/pages//',
    '//evil.example/api/pages',
    '/api/pages%00',
    '/api/pages%00.json',
    '/api/%01',
    '/api/%7f',
    '/api/%0d%0aHost:%20evil.example',
    '/api/%c0%ae%c0%ae/admin',
    '/api/%c0%af',
    '/api/%e0%80%ae',
    '/api/%ed%a0%80',
    '/api/%ff',
    '/api/%zz',
    '/api/%',
    `/api/${'a'.repeat(2100)}`,
  ];
  for (const path of cases) {
    it(path.length > 60 ? `${path.slice(0, 40)}… (${path.length} chars)` : path, async () => {
      expectRejected(await send(gw, at(path)), { status: 400, code: 'invalid_request', secrets: ['evil.example', 'admin', 'passwd'] });
    });
  }
  it('refused before the token is even looked at (no token, bad token: still 400)', async () => {
    expectRejected(await send(gw, req('/api/pages/..%2fadmin')), { status: 400, code: 'invalid_request' });
    expectRejected(await send(gw, req('/api/pages/..%2fadmin', { headers: { authorization: 'Bearer x.y.z' } })), { status: 400, code: 'invalid_request' });
  });
  it('central routes too', async () => {
    expectRejected(await send(gw, req('/auth/login%2f..%2f..%2fadmin', { method: 'POST', body: '{}' })), { status: 400, code: 'invalid_request' });
  });
});

describe('segments another server could resolve as . or .. → 400 invalid_request (nothing leaves)', () => {
  const cases = [
    '/api/..;/admin',
    '/api/..;x=1/admin',
    '/api/pages/..;/..;/admin',
    '/api/..%3b/admin',
    '/api/..%3B/admin',
    '/api/%2e%2e;/admin',
    '/api/%2e%2e%3b/admin',
    '/api/.%2e;jsessionid=1/admin',
    '/api/.;/admin',
    '/api/.;jsessionid=ABC/admin',
    '/api/pages/.;x',
    '/api/pages/..;',
    '/api/...',
    '/api/pages/..%20/admin',
    '/api/pages/.%09./admin',
    '/api/pages/..%e2%80%8b/admin',
    '/api/%ef%bc%8e%ef%bc%8e/admin',
    '/api/．．/admin',
    '/api/%e2%80%a5/admin',
    '/api/%e2%80%a4%e2%80%a4;/admin',
    '/api/;/admin',
    '/api/;jsessionid=1/admin',
  ];
  for (const path of cases) {
    it(path, async () => {
      expectRejected(await send(gw, at(path)), { status: 400, code: 'invalid_request', secrets: ['admin'] });
    });
  }

  it('property: every generated dot-like spelling (encodings, matrix params, compatibility dots, padding) is refused', async () => {
    const dot = fc.constantFrom('.', '%2e', '%2E', '%ef%bc%8e', '%e2%80%a4', '%EF%BC%8E');
    const pad = fc.constantFrom('', '', '%20', '%09', '%e2%80%8b', '%c2%ad');
    const semi = fc.constantFrom(';', '%3b', '%3B');
    const param = fc.stringMatching(/^[A-Za-z0-9=._-]{0,12}$/);
    const segment = fc
      .tuple(fc.array(dot, { minLength: 1, maxLength: 3 }), pad, fc.option(fc.tuple(semi, param), { nil: undefined }), pad)
      .map(([dots, p1, matrix, p2]) => `${p2}${dots.join('')}${p1}${matrix ? matrix[0] + matrix[1] : ''}`);
    const prefix = fc.constantFrom('/api/', '/api/pages/', '/api/a/b/');
    await fc.assert(
      fc.asyncProperty(prefix, segment, fc.constantFrom('admin', 'x', ''), async (pre, seg, rest) => {
        const path = `${pre}${seg}/${rest}`;
        // Plain `.`/`..`/`%2e` segments are resolved by the URL parser before the Worker runs (tested above).
        fc.pre(new URL(path, 'https://g.test').pathname === path);
        expectRejected(await send(gw, at(path)), { status: 400, code: 'invalid_request' });
      }),
      { numRuns: 150 },
    );
  });
});

describe('normalised by the URL parser out of /api/ → 404 not_found (nothing leaves)', () => {
  for (const path of ['/api/../admin', '/api/%2e%2e/admin', '/api/.%2E/admin', '/api/%2E%2e/%2e%2e/admin', '/api\\..\\admin', '/api/..', '/api/pages/../../internal']) {
    it(path, async () => {
      expectRejected(await send(gw, at(path)), { status: 404, code: 'not_found', secrets: ['admin', 'internal'] });
    });
  }
});

describe('normalised and still under /api/ on the tenant origin → forwarded there and only there', () => {
  const cases: Array<[string, string]> = [
    ['/api/pages/%2E%2E', '/api/'],
    ['/api/pages/./7', '/api/pages/7'],
    ['/api/pages/%2e/7', '/api/pages/7'],
    ['/api\\pages\\7', '/api/pages/7'],
    ['/api/pages/x/..', '/api/pages/'],
    ['/api/pages/a b', '/api/pages/a%20b'],
    ['/api/pages/é', '/api/pages/%C3%A9'],
    ['/api/pages/7?next=//evil.example&q=..%2f', '/api/pages/7?next=//evil.example&q=..%2f'],
    ['/api/pages/7#fragment', '/api/pages/7'],
    // Names that merely contain dots or parameters are not dot segments.
    ['/api/pages/7;v=2', '/api/pages/7;v=2'],
    ['/api/.hidden/a..b', '/api/.hidden/a..b'],
    ['/api/pages/..x;y', '/api/pages/..x;y'],
  ];
  for (const [path, outbound] of cases) {
    it(`${path} → ${outbound}`, async () => {
      const { res, egress } = await send(gw, at(path), [EU]);
      expect(res.status).toBe(200);
      expect(egress.map((e) => e.url)).toEqual([`${EU}${outbound}`]);
    });
  }
});

describe('methods', () => {
  for (const method of ['TRACE', 'trace', 'PROPFIND', 'MKCOL', 'LOCK', 'PURGE']) {
    it(`${method} → 405 with Allow`, async () => {
      const out = await send(gw, at('/api/pages', { method }));
      expectRejected(out, { status: 405, code: 'method_not_allowed' });
      expect(out.res.headers.get('allow')).toBe('GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS');
    });
  }
  it('CONNECT, TRACK and unknown verbs cannot be expressed inside the runtime (Request refuses them)', () => {
    for (const method of ['CONNECT', 'TRACK', 'connect', 'DEBUG', 'FOO']) expect(() => new Request('https://gateway.test/api/pages', { method })).toThrow(TypeError);
  });
  it('TRACE is refused on central routes and unknown paths too', async () => {
    for (const path of ['/auth/login', '/.well-known/jwks.json', '/nowhere']) {
      expectRejected(await send(gw, req(path, { method: 'TRACE' })), { status: 405, code: 'method_not_allowed' });
    }
  });
});
