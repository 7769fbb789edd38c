/**
 * Bodies in, responses out. Request bodies are limited (BODY_MAX_BYTES) by counting the bytes that
 * actually stream, not by trusting Content-Length. Responses from origins are scrubbed: redirects
 * are never followed and a Location never names an internal host, each Set-Cookie survives intact
 * unless it is scoped to a foreign domain, and software fingerprints (Server, X-Powered-By...) go.
 */
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { isHostlessPath, rewriteLocation } from '../../../src/forward/headers.ts';
import { originRequests } from '../helpers.ts';
import { bearer, expectRejected, REGION_ORIGINS, req, send, signRaw, uniqueName, validClaims, warmGateway, type Gateway } from './support.ts';

const LIMIT = 1024;
let gw: Gateway;
let token: string;
beforeAll(async () => {
  gw = await warmGateway({ BODY_MAX_BYTES: String(LIMIT) });
  token = await signRaw(validClaims());
});
const EU = REGION_ORIGINS['eu-central-1'];

function chunked(total: number, chunk = 256): ReadableStream<Uint8Array> {
  let sent = 0;
  return new ReadableStream({
    pull(controller) {
      if (sent >= total) return controller.close();
      const n = Math.min(chunk, total - sent);
      controller.enqueue(new Uint8Array(n).fill(0x61));
      sent += n;
    },
  });
}

/** What the EU origin recorded for one request id: nothing, or only an aborted (incomplete) upload. */
async function originSaw(requestId: string) {
  return (await originRequests('eu-central-1')).filter((r) => r.headers['x-client-request-id'] === requestId);
}

describe('request body limit', () => {
  it('a declared Content-Length over the limit → 413 before the origin is called', async () => {
    const out = await send(gw, req('/api/pages', { method: 'POST', headers: { ...bearer(token), 'content-length': String(LIMIT + 1) }, body: 'a'.repeat(LIMIT + 1) }));
    expectRejected(out, { status: 413, code: 'payload_too_large' });
  });

  it('a malformed Content-Length → 400', async () => {
    for (const cl of ['-1', '1e3', '0x10', '12, 12', '99999999999999999999']) {
      const out = await send(gw, req('/api/pages', { method: 'POST', headers: { ...bearer(token), 'content-length': cl }, body: 'abc' }));
      expect(out.res.status, cl).toBeGreaterThanOrEqual(400);
      expect(out.egress).toEqual([]);
    }
  });

  it('a streamed body with no Content-Length is counted: over the limit → 413 before the origin is called', async () => {
    const rid = uniqueName('stream-over');
    const out = await send(gw, req('/api/pages', { method: 'POST', headers: { ...bearer(token), 'x-request-id': rid }, body: chunked(LIMIT * 4) }));
    expectRejected(out, { status: 413, code: 'payload_too_large' });
    expect(await originSaw(rid)).toEqual([]);
  });

  it('a Content-Length that lies low does not let a bigger body through (400; the origin, told the length, never gets a complete upload)', async () => {
    const rid = uniqueName('stream-lie');
    const { res } = await send(
      gw,
      req('/api/pages', { method: 'POST', headers: { ...bearer(token), 'content-length': '10', 'x-request-id': rid }, body: chunked(LIMIT * 4, 64) }),
      [EU],
    );
    expect(res.status).toBe(400);
    for (const r of await originSaw(rid)) {
      expect(r.aborted).toBe(true);
    }
  });

  it('one chunk far larger than the limit → 413', async () => {
    const rid = uniqueName('big-chunk');
    const out = await send(gw, req('/api/pages', { method: 'POST', headers: { ...bearer(token), 'x-request-id': rid }, body: chunked(LIMIT * 64, LIMIT * 64) }));
    expectRejected(out, { status: 413, code: 'payload_too_large' });
    expect(await originSaw(rid)).toEqual([]);
  });

  it('control: bodies up to the limit stream through intact, with or without Content-Length', async () => {
    for (const [body, headers] of [
      [chunked(LIMIT, 100), {}],
      ['b'.repeat(LIMIT), { 'content-length': String(LIMIT) }],
    ] as const) {
      const { res, text } = await send(gw, req('/api/pages', { method: 'POST', headers: { ...bearer(token), ...headers }, body }), [EU]);
      expect(res.status).toBe(200);
      expect(JSON.parse(text).body).toHaveLength(LIMIT);
    }
  });

  it('an over-limit body with a bad token is refused as 401 (the token is checked first, nothing is read)', async () => {
    const out = await send(gw, req('/api/pages', { method: 'POST', headers: { authorization: 'Bearer a.b.c' }, body: chunked(LIMIT * 4) }));
    expectRejected(out, { status: 401, code: 'invalid_token' });
  });
});

describe('origin redirects: never followed, no internal host in Location', () => {
  const cases: Array<[string, number, string | null]> = [
    ['/api/__hostile/redirect-offhost', 302, null],
    ['/api/__hostile/redirect-protocol-relative', 302, null],
    ['/api/__hostile/redirect-self', 303, '/api/pages/7?x=1'],
    ['/api/__hostile/redirect-relative', 302, '/api/pages/8'],
  ];
  for (const [path, status, location] of cases) {
    it(`${path} → ${status}, Location ${location ?? 'dropped'}`, async () => {
      const { res, text, egress } = await send(gw, req(path, { headers: bearer(token) }), [EU]);
      expect(res.status).toBe(status);
      expect(res.headers.get('location')).toBe(location);
      expect(egress.map((e) => e.url)).toEqual([`${EU}${path}`]); // one request: the redirect was not followed
      const all = JSON.stringify([...res.headers]) + text;
      for (const internal of ['10.1.2.3', 'internal-db', new URL(EU).host]) expect(all).not.toContain(internal);
    });
  }
});

describe('Location: an absolute URL on the public host, or a path no browser reads as another host', () => {
  /** What a browser makes of a Location on https://gateway.test (the WHATWG parser browsers implement). */
  const readByBrowser = (location: string) => new URL(location, 'https://gateway.test/api/x');
  const through = async (to: string) => {
    const path = `/api/__hostile/location?to=${encodeURIComponent(to)}`;
    const { res, egress } = await send(gw, req(path, { headers: bearer(token) }), [EU]);
    expect(egress.map((e) => e.url)).toEqual([`${EU}${path}`]);
    return res.headers.get('location');
  };

  const dropped = [
    '{self}//evil.example/x',
    '{self}/\\evil.example/x',
    '{self}/.//evil.example/x',
    '{self}/a/..//evil.example/x',
    '{self}/a/b/../..//evil.example',
    '{self}/%2e//evil.example',
    '{self}/\t/evil.example',
    '{self}/\\\\evil.example',
    '/.//evil.example/x',
    '/a/..//evil.example',
    '/\t/evil.example',
    '\\\\evil.example',
    '/\\evil.example',
    '//evil.example',
    'https:evil.example',
    'http://gateway.test/x',
    'https://user:pw@gateway.test/x',
    'javascript:alert(1)',
  ];
  for (const to of dropped) {
    it(`drops ${JSON.stringify(to)}`, async () => {
      expect(await through(to)).toBeNull();
    });
  }
  const kept: Array<[string, string]> = [
    ['{self}/api/pages/7', '/api/pages/7'],
    ['/api/a/../pages/8?x=//y#//z', '/api/pages/8?x=//y#//z'],
    ['https://gateway.test/api/next', 'https://gateway.test/api/next'],
    ['{self}/%2F%2Fevil.example', '/%2F%2Fevil.example'],
  ];
  for (const [to, want] of kept) {
    it(`keeps ${JSON.stringify(to)} as ${want}`, async () => {
      const got = await through(to);
      expect(got).toBe(want);
      expect(readByBrowser(got!).host).toBe('gateway.test');
    });
  }

  // Newlines cannot cross HTTP/1.1 in a header value (Node refuses to send them); the property covers them.
  it('property: whatever spelling an origin sends, the emitted Location stays on the public host', () => {
    const origin = 'http://127.0.0.1:9';
    const piece = fc.constantFrom('/', '\\', '/./', '/a/../', '/..', '\t', '\n', '\r', '%2f', '%5c', '%2e', '.', '..', ' ', '@', ':', 'evil.example', '?', '#', 'x');
    const location = fc.tuple(fc.constantFrom('', origin, 'https://gateway.test', 'HTTP://127.0.0.1:9', 'https://evil.example'), fc.array(piece, { maxLength: 10 })).map(([p, xs]) => p + xs.join(''));
    fc.assert(
      fc.property(location, (loc) => {
        const out = rewriteLocation(loc, [origin], 'gateway.test');
        if (out === undefined) return;
        expect(readByBrowser(out).host, `${JSON.stringify(loc)} → ${JSON.stringify(out)}`).toBe('gateway.test');
        expect(out.startsWith('https://gateway.test/') || isHostlessPath(out)).toBe(true);
      }),
      { numRuns: 3000 },
    );
  });
});

describe('Set-Cookie from origins', () => {
  it('several cookies survive one by one, intact; cookies for a foreign domain are dropped', async () => {
    const { res } = await send(gw, req('/api/__hostile/cookies', { headers: bearer(token) }), [EU]);
    expect(res.status).toBe(200);
    expect(res.headers.getSetCookie()).toEqual([
      'session=abc; Path=/; HttpOnly; Secure; SameSite=Lax',
      'pref=dark; Path=/; Max-Age=3600',
      'scoped=1; Domain=gateway.test; Path=/',
    ]);
  });

  it('a parent domain of the public host is not foreign', async () => {
    const { res } = await send(gw, new Request('https://api.gateway.test/api/__hostile/cookies', { headers: bearer(token) }), [EU]);
    expect(res.headers.getSetCookie()).toContain('scoped=1; Domain=gateway.test; Path=/');
  });
});

describe('origin fingerprints', () => {
  it('Server, X-Powered-By and X-AspNet-Version are stripped; the rest passes', async () => {
    const { res } = await send(gw, req('/api/__hostile/fingerprint', { headers: bearer(token) }), [EU]);
    expect(res.status).toBe(200);
    expect(res.headers.get('server')).toBeNull();
    expect(res.headers.get('x-powered-by')).toBeNull();
    expect(res.headers.get('x-aspnet-version')).toBeNull();
    expect(res.headers.get('content-type')).toBe('application/json');
  });
});
