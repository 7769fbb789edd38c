/**
 * Headers a client sends to impersonate someone, redirect the request or smuggle instructions
 * past the gateway: identity and forwarding headers (any case, `_` for `-`), hop-by-hop headers
 * and headers named in `Connection`, Host / X-Forwarded-Host / absolute-form targets, and
 * control characters in header values. The origin's echo shows exactly what it received.
 */
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { DROPPED_HEADER_FAMILIES } from '../../../src/forward/headers.ts';
import { identityRequest, verifyAssertion } from '../../../src/identity-assertion/index.ts';
import { assertionRing, bindings } from '../helpers.ts';
import { bearer, expectRejected, gatewayWith, JWKS_URL, REGION_ORIGINS, req, send, signRaw, validClaims, warmGateway, type Gateway } from './support.ts';

let gw: Gateway;
beforeAll(async () => {
  gw = await warmGateway();
});

const EU = REGION_ORIGINS['eu-central-1'];
const US = REGION_ORIGINS['us-east-1'];

interface Echo {
  origin: string;
  method: string;
  url: string;
  headers: Record<string, string>;
}

const SPOOFED: Record<string, string> = {
  'X-Tenant-Id': 'ws_victim',
  'x_tenant_id': 'ws_victim',
  'X_TENANT_ID': 'ws_victim',
  'x-TENANT-id': 'ws_victim',
  'X-User-Id': 'admin-victim',
  'x_user_id': 'admin-victim',
  'X_Tenant_Region': 'us-east-1',
  'X-Gateway-Assertion': 'v1.9999999999.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
  'x_gateway_assertion': 'v1.9999999999.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
  'X-Forwarded-For': '6.6.6.6',
  'x_forwarded_for': '6.6.6.6',
  'X-Forwarded-Host': 'evil.example',
  'X-Forwarded-Proto': 'gopher',
  'X-Forwarded-Port': '6666',
  'X-Forwarded-Prefix': '/admin-victim',
  'Forwarded': 'for=6.6.6.6;host=evil.example;proto=http',
  'X-Real-IP': '6.6.6.6',
  'X-Client-IP': '6.6.6.6',
  'True-Client-IP': '6.6.6.6',
  // CF-Connecting-IP itself is the platform's (Cloudflare overwrites a client's); the _ spelling is a spoof.
  'CF_Connecting_IP': '6.6.6.6',
  'X-Original-URL': '/admin-victim',
  'X-Rewrite-URL': '/admin-victim',
};
const SPOOF_VALUES = ['ws_victim', 'admin-victim', '6.6.6.6', 'evil.example', 'gopher', '6666', '9999999999'];

async function echoOf(gateway: Gateway, request: Request, allow: string[]) {
  const out = await send(gateway, request, allow);
  expect(out.res.status).toBe(200);
  return { ...out, echo: JSON.parse(out.text) as Echo };
}

describe('identity and forwarding headers from the client never reach the origin', () => {
  it('every spoofed variant is dropped and replaced by the verified identity', async () => {
    const token = await signRaw(validClaims({ tenant_id: 'ws_alpha', sub: 'user-1' }));
    const { echo, egress } = await echoOf(gw, req('/api/pages', { headers: { ...SPOOFED, ...bearer(token) } }), [EU]);
    expect(egress.map((e) => new URL(e.url).origin)).toEqual([EU]);
    expect(echo.origin).toBe('eu-central-1');
    expect(echo.headers['x-tenant-id']).toBe('ws_alpha');
    expect(echo.headers['x-user-id']).toBe('user-1');
    expect(echo.headers['x-tenant-region']).toBe('eu-central-1');
    const raw = JSON.stringify(echo.headers);
    for (const v of SPOOF_VALUES) expect(raw, `origin saw spoofed ${v}`).not.toContain(v);
    for (const name of Object.keys(echo.headers)) expect(name).not.toContain('_');
    // The assertion the origin sees is the gateway's own, and it verifies.
    const check = await verifyAssertion(
      echo.headers['x-gateway-assertion'],
      identityRequest('GET', '/api/pages', { tenantId: 'ws_alpha', userId: 'user-1', region: 'eu-central-1', requestId: echo.headers['x-request-id']! }),
      await assertionRing('eu-central-1'),
    );
    expect(check).toMatchObject({ ok: true });
  });

  it('the Authorization header itself is not forwarded to a region', async () => {
    const token = await signRaw(validClaims());
    const { echo } = await echoOf(gw, req('/api/pages', { headers: bearer(token) }), [EU]);
    expect(echo.headers.authorization).toBeUndefined();
    expect(JSON.stringify(echo)).not.toContain(token.split('.')[2]!);
  });

  it('a spoofed X-Tenant-Region that disagrees is a 403, never a reroute', async () => {
    const token = await signRaw(validClaims());
    expectRejected(await send(gw, req('/api/pages', { headers: { ...bearer(token), 'x-tenant-region': 'us-east-1' } })), {
      status: 403,
      code: 'region_mismatch',
    });
  });

  it('a us-east-1 tenant with eu-central-1 spoofing goes to us-east-1 only', async () => {
    const token = await signRaw(validClaims({ tenant_region: 'us-east-1', tenant_id: 'ws_us' }));
    const { echo, egress } = await echoOf(
      gw,
      req('/api/pages', { headers: { ...bearer(token), x_tenant_region: 'eu-central-1', 'x-forwarded-host': new URL(EU).host } }),
      [US],
    );
    expect(egress.map((e) => new URL(e.url).origin)).toEqual([US]);
    expect(echo.origin).toBe('us-east-1');
    expect(echo.headers['x-tenant-region']).toBe('us-east-1');
  });
});

describe('whole header families are dropped by rule, and forwarding headers come from the platform', () => {
  // What proxies and frameworks (oauth2-proxy, Envoy, IAP, Kong, Spring, Rails, Grafana, ...) read as identity,
  // address, original URL/host or method. None may reach an origin in any spelling.
  const FAMILY_MEMBERS = [
    'X-Forwarded-User', 'X-Forwarded-Email', 'X-Forwarded-Groups', 'X-Forwarded-Access-Token', 'X-Forwarded-Ssl',
    'X-Forwarded-Scheme', 'X-Forwarded-Uri', 'X-Forwarded-Preferred-Username', 'X-Original-Host', 'X-Original-Method',
    'X-Original-Uri', 'X-Host', 'X-User', 'X-User-Email', 'X-Username', 'X-User-Roles', 'X-Remote-User', 'X-Remote-Addr',
    'Remote-User', 'X-Auth-Request-User', 'X-Auth-Request-Email', 'X-Auth-Request-Access-Token', 'X-HTTP-Method-Override',
    'X-HTTP-Method', 'X-Method-Override', 'Client-IP', 'X-Cluster-Client-IP', 'Via', 'X-Tenant', 'X-Tenant-Slug',
    'X-Originating-IP', 'WL-Proxy-Client-IP', 'Fastly-Client-IP', 'X-Authenticated-Userid', 'X-Consumer-Username',
    'X-WebAuth-User', 'X-Goog-Authenticated-User-Email', 'X-MS-Client-Principal-Name', 'X-Amzn-Oidc-Identity',
    'X-Envoy-Original-Path', 'X-Gateway-Client-IP', 'X-Proxy-User', 'CF-Connecting-IPv6', 'True-Client-IP',
  ];
  // Not a sane request id (it has spaces), so even as X-Request-Id it is not passed on as the client request id.
  const VALUE = 'spoofed by client';
  const spellings = (name: string) => [name, name.toLowerCase(), name.toUpperCase(), name.replaceAll('-', '_'), name.toLowerCase().replaceAll('-', '_')];

  it('every listed member, in every spelling, is dropped', async () => {
    const token = await signRaw(validClaims());
    for (const name of FAMILY_MEMBERS) {
      const headers: Record<string, string> = { ...bearer(token) };
      for (const n of spellings(name)) headers[n] = VALUE;
      const { echo } = await echoOf(gw, req('/api/pages', { headers }), [EU]);
      expect(JSON.stringify(echo.headers), name).not.toContain(VALUE);
    }
  });

  it('property: any name in a family (generated suffixes, any case, _ for -) is dropped; unrelated names pass', async () => {
    const token = await signRaw(validClaims());
    const word = fc.stringMatching(/^[a-z][a-z0-9]{0,8}$/);
    const member = fc.oneof(
      fc.tuple(fc.constantFrom(...DROPPED_HEADER_FAMILIES.prefixes), word).map(([p, w]) => p + w),
      fc.tuple(word, fc.constantFrom(...DROPPED_HEADER_FAMILIES.suffixes)).map(([w, s]) => `x-${w}${s}`),
      fc.constantFrom(...DROPPED_HEADER_FAMILIES.names),
    );
    const spelled = fc.tuple(member, fc.boolean(), fc.boolean()).map(([n, up, us]) => {
      const a = up ? n.toUpperCase() : n;
      return us ? a.replaceAll('-', '_') : a;
    });
    await fc.assert(
      fc.asyncProperty(spelled, async (name) => {
        fc.pre(name.toLowerCase() !== 'host');
        const { echo } = await echoOf(gw, req('/api/pages', { headers: { ...bearer(token), [name]: VALUE, 'x-app-flag': 'kept' } }), [EU]);
        expect(JSON.stringify(echo.headers), name).not.toContain(VALUE);
        expect(echo.headers['x-app-flag']).toBe('kept');
      }),
      { numRuns: 120 },
    );
  });

  it('X-Forwarded-For and -Proto are set from the platform (CF-Connecting-IP, the URL), never the client', async () => {
    const token = await signRaw(validClaims());
    const { echo } = await echoOf(
      gw,
      req('/api/pages', { headers: { ...bearer(token), 'cf-connecting-ip': '203.0.113.7', 'x-forwarded-for': '6.6.6.6, 203.0.113.7', 'x-forwarded-proto': 'http', forwarded: 'for=6.6.6.6' } }),
      [EU],
    );
    expect(echo.headers['x-forwarded-for']).toBe('203.0.113.7');
    expect(echo.headers['x-forwarded-proto']).toBe('https');
    expect(echo.headers.forwarded).toBeUndefined();
    expect(echo.headers['cf-connecting-ip']).toBeUndefined();
    // No platform address (only possible outside Cloudflare) or a malformed one: no X-Forwarded-For at all.
    for (const ip of [undefined, 'not-an-ip', '1.2.3.4, 5.6.7.8']) {
      const h: Record<string, string> = { ...bearer(token), 'x-forwarded-for': '6.6.6.6' };
      if (ip) h['cf-connecting-ip'] = ip;
      const { echo: e } = await echoOf(gw, req('/api/pages', { headers: h }), [EU]);
      expect(e.headers['x-forwarded-for'], String(ip)).toBeUndefined();
    }
  });

  it('FORWARD_DROP_HEADERS adds names and prefix* families; a bad entry is a config error naming the field', async () => {
    const custom = gatewayWith({ FORWARD_DROP_HEADERS: '["x-debug-as","x-internal-*"]', JWKS_REFRESH_COOLDOWN_SECONDS: '3600' });
    const token = await signRaw(validClaims());
    const { echo } = await echoOf(custom, req('/api/pages', { headers: { ...bearer(token), 'X-Debug-As': VALUE, x_internal_role: VALUE, 'x-internal': 'kept' } }), [JWKS_URL, EU]);
    expect(JSON.stringify(echo.headers)).not.toContain(VALUE);
    expect(echo.headers['x-internal']).toBe('kept');
    const bad = await send(gatewayWith({ FORWARD_DROP_HEADERS: '["X-Upper"]' }), req('/api/pages', { headers: bearer(token) }));
    expectRejected(bad, { status: 500, code: 'config_invalid' });
  });
});

describe('hop-by-hop headers and headers named in Connection', () => {
  it('are removed on the way to the origin', async () => {
    const token = await signRaw(validClaims());
    const { echo } = await echoOf(
      gw,
      req('/api/pages', {
        headers: {
          ...bearer(token),
          connection: 'X-Internal-Debug, x_internal_role, keep-alive',
          'x-internal-debug': 'verbose-secret',
          'x-internal-role': 'admin-role-secret',
          'keep-alive': 'timeout=999',
          te: 'trailers',
          trailer: 'x-late',
          'proxy-authorization': 'Basic cHJveHk6c2VjcmV0',
          'proxy-connection': 'keep-alive',
          'x-kept': 'yes',
        },
      }),
      [EU],
    );
    const raw = JSON.stringify(echo.headers);
    for (const v of ['verbose-secret', 'admin-role-secret', 'timeout=999', 'cHJveHk6c2VjcmV0', 'x-late']) expect(raw).not.toContain(v);
    expect(echo.headers.te).toBeUndefined();
    expect(echo.headers['proxy-authorization']).toBeUndefined();
    expect(echo.headers['x-kept']).toBe('yes'); // ordinary headers do pass
  });

  it('Connection cannot be used to strip the identity the gateway adds', async () => {
    const token = await signRaw(validClaims());
    const { echo } = await echoOf(
      gw,
      req('/api/pages', { headers: { ...bearer(token), connection: 'x-tenant-id, x-user-id, x-gateway-assertion, x-tenant-region' } }),
      [EU],
    );
    expect(echo.headers['x-tenant-id']).toBe('ws_alpha');
    expect(echo.headers['x-user-id']).toBe('user-1');
    expect(echo.headers['x-gateway-assertion']).toMatch(/^v2\.[A-Za-z0-9_-]+\.\d+\./);
  });
});

describe('Host, X-Forwarded-Host and the request target never choose the outbound host', () => {
  it('a foreign Host / request URL still goes to the region origin with its own Host', async () => {
    const token = await signRaw(validClaims());
    const request = new Request('https://evil.example/api/pages?x=1', {
      headers: { ...bearer(token), host: 'evil.example', 'x-forwarded-host': 'evil.example', 'x-host': 'evil.example' },
    });
    const { echo, egress } = await echoOf(gw, request, [EU]);
    expect(egress.map((e) => e.url)).toEqual([`${EU}/api/pages?x=1`]);
    expect(echo.headers.host).toBe(new URL(EU).host);
    expect(echo.headers['x-forwarded-host']).toBeUndefined();
  });

  it('credentials and ports in the request URL are not carried over', async () => {
    const token = await signRaw(validClaims());
    const { egress } = await echoOf(gw, new Request('https://user:pw@gateway.test:8443/api/pages', { headers: bearer(token) }), [EU]);
    expect(egress.map((e) => e.url)).toEqual([`${EU}/api/pages`]);
  });

  for (const target of ['/http://evil.example/api/pages', '/api/http://evil.example/', '/api//evil.example/pages', '//evil.example/api/pages']) {
    it(`absolute-form / authority smuggled in the path: ${target} → 400`, async () => {
      const token = await signRaw(validClaims());
      expectRejected(await send(gw, new Request(`https://gateway.test${target}`, { headers: bearer(token) })), {
        status: 400,
        code: 'invalid_request',
        secrets: ['evil.example'],
      });
    });
  }
});

describe('invalid header values', () => {
  it('CR, LF and NUL cannot even be put into a request inside the runtime (workerd refuses them)', () => {
    for (const v of ['a\r\nx-tenant-id: ws_victim', 'a\nb', 'a\rb', 'a\u0000b']) {
      expect(() => new Headers({ 'x-note': v })).toThrow(TypeError);
    }
  });

  it('other control characters that do get through → 400 before any token work', async () => {
    const token = await signRaw(validClaims());
    for (const v of ['a\u0001b', 'a\u001bb', 'a\u007fb', 'a\u000bb', 'a\u000cb']) {
      expectRejected(await send(gw, req('/api/pages', { headers: { ...bearer(token), 'x-note': v } })), {
        status: 400,
        code: 'invalid_request',
      });
    }
    // Even in the Authorization header, and without a token at all.
    expectRejected(await send(gw, req('/api/pages', { headers: { authorization: `Bearer ${token}\u0001` } })), { status: 400, code: 'invalid_request' });
    expectRejected(await send(gw, req('/auth/login', { method: 'POST', headers: { 'x-note': '\u0007' }, body: '{}' })), { status: 400, code: 'invalid_request' });
  });

  it('a tab and non-ASCII text are ordinary header content (control)', async () => {
    const token = await signRaw(validClaims());
    const { echo } = await echoOf(gw, req('/api/pages', { headers: { ...bearer(token), 'x-note': 'a\tb' } }), [EU]);
    expect(echo.headers['x-note']).toBe('a\tb');
  });
});
