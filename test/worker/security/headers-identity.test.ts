/**
 * Headers a client sends to impersonate someone, redirect the request or smuggle instructions
 * past the gateway: identity and forwarding headers (any case, `_` for `-`), hop-by-hop headers
 * and headers named in `Connection`, Host / X-Forwarded-Host / absolute-form targets, and
 * control characters in header values. The origin's echo shows exactly what it received.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { identityRequest, verifyAssertion } from '../../../src/identity-assertion/index.ts';
import { assertionRing, bindings } from '../helpers.ts';
import { bearer, expectRejected, REGION_ORIGINS, req, send, signRaw, validClaims, warmGateway, type Gateway } from './support.ts';

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
  'CF-Connecting-IP': '6.6.6.6',
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
