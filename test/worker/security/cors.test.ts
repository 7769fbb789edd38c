/**
 * CORS at the edge (src/cors), against the real gateway and the real recording origins with the
 * fail-closed egress spy: preflights answered with no subrequest, allowed origins get their
 * headers on every response (errors too), and every other Origin spelling is treated as absent.
 */
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { bearer, expectRejected, gatewayWith, REGION_ORIGINS, req, send, signRaw, validClaims, warmGateway, type Gateway } from './support.ts';

const APP = 'http://localhost:5173';
const OTHER_APP = 'https://app.example.com';
const ALLOWED = `${APP}, ${OTHER_APP}`;
const EU = REGION_ORIGINS['eu-central-1'];

let gw: Gateway;
let token: string;
beforeAll(async () => {
  gw = await warmGateway({ CORS_ALLOWED_ORIGINS: ALLOWED });
  token = await signRaw(validClaims());
});

const corsHeaders = (res: Response) => [...res.headers.keys()].filter((k) => k.startsWith('access-control-'));
const listed = (res: Response, name: string) => (res.headers.get(name) ?? '').split(',').map((s) => s.trim().toLowerCase());

function preflight(path: string, origin: string, extra: Record<string, string> = {}): Request {
  return req(path, {
    method: 'OPTIONS',
    headers: {
      origin,
      'access-control-request-method': 'POST',
      'access-control-request-headers': 'authorization,content-type,x-tenant-region',
      ...extra,
    },
  });
}

describe('preflight from an allowed origin', () => {
  it.each(['/api/pages', '/data/pages', '/auth/login', '/auth/signup', '/auth/refresh', '/admin/pages', '/no/such/route'])(
    'OPTIONS %s → 204 from the gateway itself, before any token check, with no subrequest',
    async (path) => {
      const { res, text, egress } = await send(gw, preflight(path, APP));
      expect(egress).toEqual([]);
      expect(res.status).toBe(204);
      expect(text).toBe('');
      expect(res.headers.get('access-control-allow-origin')).toBe(APP);
      expect(listed(res, 'access-control-allow-methods')).toEqual(expect.arrayContaining(['get', 'head', 'post', 'put', 'patch', 'delete']));
      expect(listed(res, 'access-control-allow-headers')).toEqual(
        expect.arrayContaining(['authorization', 'content-type', 'x-tenant-region', 'x-db-bookmark', 'if-match', 'traceparent']),
      );
      expect(res.headers.get('access-control-max-age')).toBe('600');
      expect(listed(res, 'vary')).toContain('origin');
      // Bearer tokens need no cookies, so credentials stay off unless configured.
      expect(res.headers.get('access-control-allow-credentials')).toBeNull();
      expect(res.headers.get('x-request-id')).toBeTruthy();
    },
  );

  it('a cold isolate answers it too with nothing fetched (no key set, no relocation list, no origin)', async () => {
    const cold = gatewayWith({ CORS_ALLOWED_ORIGINS: APP });
    const { res, egress } = await send(cold, preflight('/api/pages', APP));
    expect(egress).toEqual([]);
    expect([res.status, res.headers.get('access-control-allow-origin')]).toEqual([204, APP]);
  });

  it('is answered even with a bad or huge Authorization header (a preflight carries no credentials to check)', async () => {
    for (const authorization of ['Bearer not.a.jwt', `Bearer ${'a'.repeat(20_000)}`]) {
      const { res, egress } = await send(gw, preflight('/api/pages', OTHER_APP, { authorization }));
      expect(egress).toEqual([]);
      expect([res.status, res.headers.get('access-control-allow-origin')]).toEqual([204, OTHER_APP]);
    }
  });

  it('CORS_MAX_AGE_SECONDS sets the Max-Age; CORS_ALLOW_CREDENTIALS adds Allow-Credentials', async () => {
    const g = await warmGateway({ CORS_ALLOWED_ORIGINS: [APP], CORS_MAX_AGE_SECONDS: '7200', CORS_ALLOW_CREDENTIALS: 'true' });
    const { res, egress } = await send(g, preflight('/api/pages', APP));
    expect(egress).toEqual([]);
    expect(res.headers.get('access-control-max-age')).toBe('7200');
    expect(res.headers.get('access-control-allow-credentials')).toBe('true');
    expect(res.headers.get('access-control-allow-origin')).toBe(APP);
  });
});

describe('actual requests from an allowed origin', () => {
  it('a forwarded response carries Allow-Origin (that origin), Vary: Origin and the exposed headers', async () => {
    const { res, egress } = await send(gw, req('/api/pages', { headers: { ...bearer(token), origin: APP } }), [EU]);
    expect(res.status).toBe(200);
    expect(egress.map((e) => new URL(e.url).origin)).toEqual([EU]);
    expect(res.headers.get('access-control-allow-origin')).toBe(APP);
    expect(listed(res, 'vary')).toContain('origin');
    expect(listed(res, 'access-control-expose-headers')).toEqual(
      expect.arrayContaining(['x-request-id', 'x-db-bookmark', 'x-db-source', 'retry-after', 'ratelimit', 'ratelimit-policy']),
    );
    expect(res.headers.get('access-control-allow-credentials')).toBeNull();
    expect(corsHeaders(res).sort()).toEqual(['access-control-allow-origin', 'access-control-expose-headers']);
  });

  it.each([
    ['no token → 401', req('/api/pages', { headers: { origin: APP } }), { status: 401, code: 'token_missing', challenge: 'bare' as const }],
    ['a bad token → 401', req('/api/pages', { headers: { origin: APP, authorization: 'Bearer x.y.z' } }), { status: 401, code: 'invalid_token' }],
    ['no route → 404', req('/auth/nowhere', { headers: { origin: APP } }), { status: 404, code: 'not_found' }],
    ['a refused method → 405', req('/api/pages', { method: 'PROPFIND', headers: { origin: APP } }), { status: 405, code: 'method_not_allowed' }],
    ['an encoded separator → 400', req('/api/pages%2f..%2fadmin', { headers: { origin: APP } }), { status: 400, code: 'invalid_request' }],
  ])('an error response carries the CORS headers too (%s), and nothing is sent', async (_name, request, want) => {
    const out = await send(gw, request);
    expectRejected(out, want);
    expect(out.res.headers.get('access-control-allow-origin')).toBe(APP);
    expect(listed(out.res, 'access-control-expose-headers')).toContain('x-request-id');
    expect(listed(out.res, 'vary')).toContain('origin');
  });

  it('a region mismatch (403) is readable by the app: CORS headers and an exposed request id', async () => {
    const out = await send(gw, req('/api/pages', { headers: { ...bearer(token), origin: APP, 'x-tenant-region': 'us-east-1' } }));
    expectRejected(out, { status: 403, code: 'region_mismatch' });
    expect(out.res.headers.get('access-control-allow-origin')).toBe(APP);
  });

  it("an origin's own Access-Control-* headers are dropped: the gateway's allowlist alone decides", async () => {
    const { res } = await send(gw, req('/api/__hostile/cors', { headers: { ...bearer(token), origin: APP } }), [EU]);
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBe(APP);
    expect(res.headers.get('access-control-allow-credentials')).toBeNull();
    expect(res.headers.get('access-control-allow-methods')).toBeNull();
    expect(listed(res, 'access-control-expose-headers')).not.toContain('x-internal');
  });
});

describe('WebSocket upgrades (not subject to CORS)', () => {
  it('an upgrade from an allowed origin passes untouched: 101 with its socket, no CORS header', async () => {
    const headers = { ...bearer(token), origin: APP, upgrade: 'websocket', connection: 'Upgrade', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==' };
    const { res } = await send(gw, req('/api/live?room=cors', { headers }), [EU]);
    expect(res.status).toBe(101);
    expect(corsHeaders(res)).toEqual([]);
    const ws = res.webSocket!;
    ws.accept();
    const reply = new Promise<string>((resolve) => ws.addEventListener('message', (e) => resolve(String(e.data)), { once: true }));
    ws.send('hi');
    expect(await reply).toBe('eu-central-1:hi');
    ws.close(1000, 'done');
  });
});

/** Spellings that resemble an allowed origin, and are not it. */
const LOOK_ALIKES = [
  'HTTP://LOCALHOST:5173',
  'http://LOCALHOST:5173',
  'http://localhost:5173/',
  'http://localhost:5173/app',
  'http://localhost:5173.evil.com',
  'http://evil.localhost:5173',
  'http://localhost.evil.com:5173',
  'http://localhost:51730',
  'http://localhost:517',
  'https://localhost:5173',
  'http://localhost',
  'http://127.0.0.1:5173',
  'http://[::1]:5173',
  'http://localhost:5173, https://app.example.com',
  'https://app.example.com.evil.com',
  'https://evilapp.example.com',
  'https://app.example.co',
  'https://app.example.com:443',
  'https://APP.example.com',
  'null',
  '*',
  '',
];

describe('any other Origin is treated as if none was sent', () => {
  it.each(LOOK_ALIKES)('%j: a preflight meets the normal rules (401, no subrequest) with no CORS header', async (origin) => {
    const out = await send(gw, preflight('/api/pages', origin));
    expectRejected(out, { status: 401, code: 'token_missing', challenge: 'bare' });
    expect(corsHeaders(out.res)).toEqual([]);
  });

  it.each(LOOK_ALIKES)('%j: an authorised request is served, with no CORS header (never reflected)', async (origin) => {
    const { res } = await send(gw, req('/api/pages', { headers: { ...bearer(token), origin } }), [EU]);
    expect(res.status).toBe(200);
    expect(corsHeaders(res)).toEqual([]);
    expect(res.headers.get('vary')).toBeNull();
  });

  it('an origin doing its own CORS cannot open the door for a disallowed origin', async () => {
    const { res } = await send(gw, req('/api/__hostile/cors', { headers: { ...bearer(token), origin: 'https://evil.example' } }), [EU]);
    expect(res.status).toBe(200);
    expect(corsHeaders(res)).toEqual([]);
  });

  it('property: an Origin that is not exactly an allowed one never gets a CORS header, and its preflight sends nothing', async () => {
    const mutated = fc.oneof(
      // Case flips, prefixes and suffixes around an allowed origin.
      fc.tuple(fc.constantFrom(APP, OTHER_APP), fc.array(fc.nat(), { maxLength: 4 })).map(([o, idx]) =>
        [...o].map((ch, i) => (idx.some((j) => j % o.length === i) ? ch.toUpperCase() : ch)).join(''),
      ),
      fc.tuple(fc.constantFrom(APP, OTHER_APP), fc.stringMatching(/^[a-z0-9.:/@-]{1,12}$/)).map(([o, s]) => o + s),
      fc.tuple(fc.stringMatching(/^[a-z0-9.-]{1,12}$/), fc.constantFrom(APP, OTHER_APP)).map(([p, o]) => o.replace('://', `://${p}`)),
      fc.string({ maxLength: 40 }).filter((s) => !/[\r\n\0]/.test(s)),
    );
    await fc.assert(
      fc.asyncProperty(mutated, async (origin) => {
        const trimmed = origin.trim();
        fc.pre(trimmed !== APP && trimmed !== OTHER_APP); // header values lose surrounding whitespace on the wire
        const out = await send(gw, preflight('/api/pages', origin));
        expect(out.egress).toEqual([]);
        expect(out.res.status).toBe(401);
        expect(corsHeaders(out.res)).toEqual([]);
      }),
      { numRuns: 150 },
    );
  });
});

describe('CORS off (CORS_ALLOWED_ORIGINS empty or unset)', () => {
  it.each([undefined, '', '[]'])('CORS_ALLOWED_ORIGINS=%j: no CORS header for any origin, preflights meet the normal rules', async (value) => {
    const g = await warmGateway(value === undefined ? {} : { CORS_ALLOWED_ORIGINS: value });
    const out = await send(g, preflight('/api/pages', APP));
    expectRejected(out, { status: 401, code: 'token_missing', challenge: 'bare' });
    expect(corsHeaders(out.res)).toEqual([]);
    const { res } = await send(g, req('/api/pages', { headers: { ...bearer(token), origin: APP } }), [EU]);
    expect(res.status).toBe(200);
    expect(corsHeaders(res)).toEqual([]);
  });
});
