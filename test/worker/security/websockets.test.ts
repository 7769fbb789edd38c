/**
 * WebSocket upgrades: with a valid token the upgrade is passed through to the tenant's home-region
 * origin only (with the gateway's identity, never the client's); with a bad or missing token it
 * is refused with 401 before any upgrade or subrequest. The origins are real `ws` servers.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { inTransaction } from '../../../src/control-db/index.ts';
import { WS_CLOSE_REAUTHENTICATE } from '../../../src/websocket/index.ts';
import { bindings, originRequests } from '../helpers.ts';
import { bearer, expectRejected, gatewayWith, REGION_ORIGINS, req, send, signRaw, uniqueName, validClaims, warmGateway, type Gateway } from './support.ts';

let gw: Gateway;
beforeAll(async () => {
  gw = await warmGateway();
});

const upgrade = (extra: Record<string, string> = {}) => ({
  upgrade: 'websocket',
  connection: 'Upgrade',
  'sec-websocket-version': '13',
  'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
  ...extra,
});

function nextMessage(ws: WebSocket): Promise<string> {
  return new Promise((resolve, reject) => {
    ws.addEventListener('message', (e) => resolve(String(e.data)), { once: true });
    ws.addEventListener('close', () => reject(new Error('closed before a message')), { once: true });
  });
}

describe('valid token → passed through to the home region only', () => {
  for (const region of ['eu-central-1', 'us-east-1'] as const) {
    it(`${region} tenant`, async () => {
      const rid = uniqueName(`ws-${region}`);
      const token = await signRaw(validClaims({ tenant_region: region, tenant_id: 'ws_sock', sub: 'user-ws' }));
      const { res, egress } = await send(
        gw,
        req('/api/live?room=1', { headers: { ...bearer(token), ...upgrade({ 'x-request-id': rid, 'x-tenant-id': 'ws_victim', x_user_id: 'admin' }) } }),
        [REGION_ORIGINS[region]],
      );
      expect(res.status).toBe(101);
      expect(egress.map((e) => e.url)).toEqual([`${REGION_ORIGINS[region]}/api/live?room=1`]);
      const ws = res.webSocket!;
      ws.accept();
      const reply = nextMessage(ws);
      ws.send('hello');
      expect(await reply).toBe(`${region}:hello`);
      ws.close(1000, 'done');

      const seen = (await originRequests(region)).filter((r) => r.headers['x-client-request-id'] === rid);
      expect(seen).toHaveLength(1);
      expect(seen[0]!.upgrade).toBe(true);
      expect(seen[0]!.headers['x-tenant-id']).toBe('ws_sock');
      expect(seen[0]!.headers['x-user-id']).toBe('user-ws');
      expect(seen[0]!.headers['x-tenant-region']).toBe(region);
      expect(seen[0]!.headers['x-gateway-assertion']).toMatch(/^v2\.[A-Za-z0-9_-]+\.\d+\./);
      expect(seen[0]!.headers.authorization).toBeUndefined();
      for (const other of Object.keys(REGION_ORIGINS).filter((n) => n !== region)) {
        expect((await originRequests(other)).filter((r) => r.headers['x-client-request-id'] === rid)).toEqual([]);
      }
    });
  }
});

function closed(ws: WebSocket): Promise<{ code: number; reason: string; at: number }> {
  return new Promise((resolve) => ws.addEventListener('close', (e) => resolve({ code: e.code, reason: e.reason, at: Date.now() }), { once: true }));
}

describe('a socket does not outlive what authorised it', () => {
  it(`is closed with ${WS_CLOSE_REAUTHENTICATE} when its token expires`, async () => {
    const t = Math.floor(Date.now() / 1000);
    const token = await signRaw(validClaims({ iat: t, exp: t + 2, tenant_id: 'ws_expiring' }));
    const { res } = await send(gw, req('/api/live', { headers: { ...bearer(token), ...upgrade() } }), [REGION_ORIGINS['eu-central-1']]);
    expect(res.status).toBe(101);
    const ws = res.webSocket!;
    ws.accept();
    const end = closed(ws);
    const reply = nextMessage(ws);
    ws.send('before');
    expect(await reply).toBe('eu-central-1:before'); // relayed both ways while the token is valid
    const c = await end;
    expect(c).toMatchObject({ code: WS_CLOSE_REAUTHENTICATE, reason: 'token expired' });
    expect(c.at).toBeGreaterThanOrEqual((t + 2) * 1000 - 50);
    expect(c.at).toBeLessThan((t + 2) * 1000 + 3000);
  }, 10_000);

  it(`is closed with ${WS_CLOSE_REAUTHENTICATE} when its tenant is relocated`, async () => {
    const db = { url: bindings.TEST_CONTROL_PLANE_DATABASE_URL!, wsProxy: bindings.TEST_CONTROL_PLANE_WS_PROXY! };
    const tenant = `ws_${crypto.randomUUID().replace(/-/g, '').slice(0, 12)}`;
    const moving = gatewayWith({
      CONTROL_PLANE_DATABASE_URL: db.url,
      CONTROL_PLANE_WS_PROXY: db.wsProxy,
      RELOCATION_REFRESH_SECONDS: '1',
      JWKS_REFRESH_COOLDOWN_SECONDS: '3600',
    });
    const token = await signRaw(validClaims({ tenant_id: tenant }));
    const { res } = await send(moving, req('/api/live', { headers: { ...bearer(token), ...upgrade() } }), [bindings.JWKS_URL!, REGION_ORIGINS['eu-central-1'], `ws://${db.wsProxy}`, `http://${db.wsProxy}`]);
    expect(res.status).toBe(101);
    const ws = res.webSocket!;
    ws.accept();
    const end = closed(ws);
    await inTransaction(db, { readOnly: false, statementTimeoutMs: 2000 }, async (q) => {
      await q(`INSERT INTO workspaces (id, name, region) VALUES ($1, 'moving', 'us-east-1')`, [tenant]);
      await q(`INSERT INTO tenant_relocations (tenant_id, from_region, to_region, pages, checksum) VALUES ($1, 'eu-central-1', 'us-east-1', 0, '')`, [tenant]);
    });
    const movedAt = Date.now();
    const c = await end;
    expect(c).toMatchObject({ code: WS_CLOSE_REAUTHENTICATE, reason: 'tenant relocated' });
    expect(c.at - movedAt).toBeLessThan(5000);
  }, 15_000);
});

describe('bad token → refused before the upgrade, nothing leaves', () => {
  const cases: Array<[string, Record<string, string>, number, string]> = [
    ['no token', {}, 401, 'token_missing'],
    ['garbage token', { authorization: 'Bearer a.b.c' }, 401, 'invalid_token'],
  ];
  for (const [name, headers, status, code] of cases) {
    it(name, async () => {
      const out = await send(gw, req('/api/live', { headers: { ...headers, ...upgrade() } }));
      expectRejected(out, { status, code, challenge: code === 'token_missing' ? 'bare' : 'invalid_token' });
      expect(out.res.webSocket).toBeFalsy();
    });
  }

  it('expired token', async () => {
    const t = Math.floor(Date.now() / 1000);
    const token = await signRaw(validClaims({ iat: t - 600, exp: t - 300 }));
    const out = await send(gw, req('/api/live', { headers: { ...bearer(token), ...upgrade() } }));
    expectRejected(out, { status: 401, code: 'invalid_token' });
  });

  it('valid token for an unconfigured region → 403, no upgrade', async () => {
    const token = await signRaw(validClaims({ tenant_region: 'us-west-2' }));
    const out = await send(gw, req('/api/live', { headers: { ...bearer(token), ...upgrade() } }));
    expectRejected(out, { status: 403, code: 'region_unknown' });
  });

  it('an upgrade on another method is not a WebSocket handshake → 400', async () => {
    const token = await signRaw(validClaims());
    const out = await send(gw, req('/api/live', { method: 'POST', body: 'x', headers: { ...bearer(token), ...upgrade(), 'content-length': '1' } }));
    expectRejected(out, { status: 400, code: 'invalid_request' });
  });

  it('a region tag that disagrees → 403, no upgrade', async () => {
    const token = await signRaw(validClaims());
    const out = await send(gw, req('/api/live', { headers: { ...bearer(token), ...upgrade({ 'x-tenant-region': 'us-east-1' }) } }));
    expectRejected(out, { status: 403, code: 'region_mismatch' });
  });
});
