import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { IDENTITY_HEADERS, importAssertionKey, signAssertion, type Identity } from '../../src/identity-assertion/index.ts';
import { migrate } from '../db/migrate.ts';
import { startPgliteDatabase, type ProvisionedDb } from '../db/provision.ts';
import { createRegionApp } from './app.ts';

// Starting PGlite databases takes seconds on a loaded machine (initdb on a cold cache).
vi.setConfig({ testTimeout: 30_000, hookTimeout: 60_000 });

const SECRET = 'region-app-test-secret-0123456789abcdefghij';
const REGION = 'eu-central-1';

describe('region app', () => {
  let db: ProvisionedDb;
  let key: CryptoKey;
  let app: ReturnType<typeof createRegionApp>;
  const alice: Identity = { tenantId: 'ws_aaaaaaaaaa', userId: 'u-alice', region: REGION, requestId: 'req-1' };
  const bob: Identity = { tenantId: 'ws_bbbbbbbbbb', userId: 'u-bob', region: REGION, requestId: 'req-2' };

  /** A request as the gateway would send it. */
  async function asGateway(id: Identity, method: string, path: string, body?: unknown, signedPath = path) {
    const headers: Record<string, string> = {
      [IDENTITY_HEADERS.tenantId]: id.tenantId,
      [IDENTITY_HEADERS.userId]: id.userId,
      [IDENTITY_HEADERS.region]: id.region,
      [IDENTITY_HEADERS.requestId]: id.requestId,
      [IDENTITY_HEADERS.assertion]: await signAssertion(key, method, signedPath, id),
      'content-type': 'application/json',
    };
    return app.request(path, { method, headers, body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body) });
  }

  beforeAll(async () => {
    db = await startPgliteDatabase();
    await migrate(db.db, 'region');
    await db.db.query("INSERT INTO tenants (id, name) VALUES ('ws_aaaaaaaaaa', 'A'), ('ws_bbbbbbbbbb', 'B')");
    key = await importAssertionKey(SECRET);
    app = createRegionApp({ region: REGION, db: db.db, assertionKey: key });
  });
  afterAll(() => db.close());

  it('refuses a request without an assertion, even with identity headers', async () => {
    const res = await app.request('/api/pages', {
      headers: { 'x-tenant-id': alice.tenantId, 'x-user-id': 'u', 'x-tenant-region': REGION, 'x-request-id': 'r' },
    });
    expect(res.status).toBe(401);
    expect((await res.json()).error.code).toBe('gateway_assertion_required');
  });

  it('refuses an assertion made with another secret, for another path, or for another tenant', async () => {
    const otherKey = await importAssertionKey('another-secret-0123456789abcdefghijklmn');
    const forged = await signAssertion(otherKey, 'GET', '/api/pages', alice);
    const h = (a: string, id = alice) => ({
      'x-tenant-id': id.tenantId, 'x-user-id': id.userId, 'x-tenant-region': id.region, 'x-request-id': id.requestId, 'x-gateway-assertion': a,
    });
    expect((await app.request('/api/pages', { headers: h(forged) })).status).toBe(401);
    const forOtherPath = await signAssertion(key, 'GET', '/api/whoami', alice);
    expect((await app.request('/api/pages', { headers: h(forOtherPath) })).status).toBe(401);
    const forAlice = await signAssertion(key, 'GET', '/api/pages', alice);
    expect((await app.request('/api/pages', { headers: h(forAlice, bob) })).status).toBe(401);
    const old = await signAssertion(key, 'GET', '/api/pages', alice, Math.floor(Date.now() / 1000) - 600);
    expect((await app.request('/api/pages', { headers: h(old) })).status).toBe(401);
  });

  it('accepts a gateway-signed request and echoes the identity', async () => {
    const res = await asGateway(alice, 'GET', '/api/whoami?x=1');
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ tenant_id: alice.tenantId, user_id: 'u-alice', tenant_region: REGION, request_id: 'req-1', origin_region: REGION });
  });

  it('refuses identity asserted for another region', async () => {
    const res = await asGateway({ ...alice, region: 'us-east-1' }, 'GET', '/api/pages');
    expect(res.status).toBe(421);
    expect((await res.json()).error.code).toBe('wrong_region');
  });

  it('creates, reads, lists, updates and deletes pages', async () => {
    const created = await asGateway(alice, 'POST', '/api/pages', { title: ' Hello ', body: 'World' });
    expect(created.status).toBe(201);
    const page = await created.json();
    expect(page).toMatchObject({ tenant_id: alice.tenantId, region: REGION, title: 'Hello', body: 'World' });
    expect(page.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(new Date(page.created_at).toISOString()).toBe(page.created_at);

    const second = await (await asGateway(alice, 'POST', '/api/pages', { title: 'Second' })).json();
    expect(second.body).toBe('');
    const list = await (await asGateway(alice, 'GET', '/api/pages')).json();
    expect(list.pages.map((p: { id: string }) => p.id).slice(0, 2)).toEqual([second.id, page.id]);
    const one = await (await asGateway(alice, 'GET', '/api/pages?limit=1')).json();
    expect(one.pages).toHaveLength(1);
    expect(one.next_before).toBe(second.id);
    const rest = await (await asGateway(alice, 'GET', `/api/pages?limit=1&before=${second.id}`)).json();
    expect(rest.pages[0].id).toBe(page.id);

    expect(await (await asGateway(alice, 'GET', `/api/pages/${page.id}`)).json()).toEqual(page);
    const patched = await asGateway(alice, 'PATCH', `/api/pages/${page.id}`, { body: 'Edited' });
    expect(patched.status).toBe(200);
    const p2 = await patched.json();
    expect(p2).toMatchObject({ title: 'Hello', body: 'Edited' });
    expect(p2.updated_at >= page.updated_at).toBe(true);

    expect((await asGateway(alice, 'DELETE', `/api/pages/${page.id}`)).status).toBe(204);
    expect((await asGateway(alice, 'GET', `/api/pages/${page.id}`)).status).toBe(404);
  });

  it("never shows, changes or deletes another tenant's page", async () => {
    const page = await (await asGateway(alice, 'POST', '/api/pages', { title: 'Private' })).json();
    expect((await asGateway(bob, 'GET', `/api/pages/${page.id}`)).status).toBe(404);
    expect((await asGateway(bob, 'PATCH', `/api/pages/${page.id}`, { title: 'pwned' })).status).toBe(404);
    expect((await asGateway(bob, 'DELETE', `/api/pages/${page.id}`)).status).toBe(404);
    const bobs = await (await asGateway(bob, 'GET', '/api/pages')).json();
    expect(bobs.pages.find((p: { id: string }) => p.id === page.id)).toBeUndefined();
    const still = await (await asGateway(alice, 'GET', `/api/pages/${page.id}`)).json();
    expect(still.title).toBe('Private');
  });

  it('answers 404 for a tenant not provisioned in this region', async () => {
    const res = await asGateway({ ...alice, tenantId: 'ws_unknown000' }, 'POST', '/api/pages', { title: 'x' });
    expect(res.status).toBe(404);
    expect((await res.json()).error.code).toBe('tenant_not_found');
  });

  it.each([
    ['POST', '/api/pages', { body: 'no title' }, /^title\b/],
    ['POST', '/api/pages', { title: '' }, /^title\b/],
    ['POST', '/api/pages', { title: 'x', body: 7 }, /^body\b/],
    ['POST', '/api/pages', '{oops', /^body must be a JSON object/],
    ['PATCH', '/api/pages/0190a000-0000-7000-8000-000000000000', {}, /^title or body\b/],
    ['GET', '/api/pages?limit=0', undefined, /^limit\b/],
    ['GET', '/api/pages?limit=101', undefined, /^limit\b/],
    ['GET', '/api/pages?before=nope', undefined, /^before\b/],
  ])('%s %s %j → 400 naming the field', async (method, path, body, message) => {
    const res = await asGateway(alice, method, path, body);
    expect(res.status).toBe(400);
    const { error } = await res.json();
    expect(error.code).toBe('invalid_request');
    expect(error.message).toMatch(message);
  });

  it('answers for a tenant that is moving or has moved itself: 503 tenant_moving (writes, Retry-After) from the fence on, 409 tenant_relocated after; PGlite too', async () => {
    const carol: Identity = { tenantId: 'ws_cccccccccc', userId: 'u-carol', region: REGION, requestId: 'req-3' };
    await db.db.query("INSERT INTO tenants (id, name) VALUES ('ws_cccccccccc', 'C')");
    expect((await asGateway(carol, 'POST', '/api/pages', { title: 'before' })).status).toBe(201);
    const outcome = async (method: string, body?: unknown) => {
      const res = await asGateway(carol, method, '/api/pages', body);
      const json = (await res.json()) as { error?: { code: string }; pages?: unknown[] };
      return { status: res.status, code: json.error?.code, residency: res.headers.get('x-tenant-residency'), retryAfter: res.headers.get('retry-after'), pages: json.pages?.length };
    };
    await db.db.query("INSERT INTO tenant_moves (tenant_id, direction, peer_region, move_id) VALUES ('ws_cccccccccc', 'outgoing', 'us-east-1', gen_random_uuid())");
    expect(await outcome('GET')).toEqual({ status: 200, code: undefined, residency: null, retryAfter: null, pages: 1 });
    expect(await outcome('POST', { title: 'fenced' })).toEqual({ status: 503, code: 'tenant_moving', residency: 'moving', retryAfter: '1', pages: undefined });
    await db.db.query("DELETE FROM tenant_moves WHERE tenant_id = 'ws_cccccccccc'");
    await db.db.query("DELETE FROM pages WHERE tenant_id = 'ws_cccccccccc'");
    await db.db.query("DELETE FROM tenants WHERE id = 'ws_cccccccccc'");
    await db.db.query("INSERT INTO tenant_tombstones (tenant_id, moved_to, moved_at, relocation_id) VALUES ('ws_cccccccccc', 'us-east-1', now(), 7)");
    for (const [method, body] of [['GET'], ['POST', { title: 'late' }]] as const) {
      expect(await outcome(method, body)).toEqual({ status: 409, code: 'tenant_relocated', residency: 'relocated', retryAfter: null, pages: undefined });
    }
    const page = await asGateway(carol, 'GET', '/api/pages/0190aaaa-0000-7000-8000-000000000000');
    expect(page.status).toBe(409);
    // Other tenants are untouched.
    expect((await asGateway(alice, 'GET', '/api/pages')).status).toBe(200);
    expect((await db.db.query("SELECT 1 FROM pages WHERE tenant_id = 'ws_cccccccccc'")).rowCount).toBe(0);
  });
});
