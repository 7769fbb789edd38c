import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { IDENTITY_HEADERS, identityRequest, importAssertionKey, importKeyRing, signAssertion, type AssertionKey, type Identity } from '../../src/identity-assertion/index.ts';
import { migrate } from '../db/migrate.ts';
import { startPgliteDatabase, type ProvisionedDb } from '../db/provision.ts';
import { createRegionApp } from './app.ts';

// Starting PGlite databases takes seconds on a loaded machine (initdb on a cold cache).
vi.setConfig({ testTimeout: 30_000, hookTimeout: 60_000 });

const SECRET = 'region-app-test-secret-0123456789abcdefghij';
const NEXT_SECRET = 'region-app-next-secret-0123456789abcdefghij';
const US_SECRET = 'us-east-1-app-secret-0123456789abcdefghijkl';
const REGION = 'eu-central-1';

describe('region app', () => {
  let db: ProvisionedDb;
  let key: AssertionKey;
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
      [IDENTITY_HEADERS.assertion]: await signAssertion(identityRequest(method, signedPath, id), key),
      'content-type': 'application/json',
    };
    return app.request(path, { method, headers, body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body) });
  }

  beforeAll(async () => {
    db = await startPgliteDatabase();
    await migrate(db.db, 'region');
    await db.db.query("INSERT INTO tenants (id, name) VALUES ('ws_aaaaaaaaaa', 'A'), ('ws_bbbbbbbbbb', 'B')");
    key = await importAssertionKey('eu-1', SECRET);
    app = createRegionApp({ region: REGION, db: db.db, assertionKeys: await importKeyRing([{ kid: 'eu-1', secret: SECRET }]) });
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
    const otherKey = await importAssertionKey('eu-1', 'another-secret-0123456789abcdefghijklmn');
    const forged = await signAssertion(identityRequest('GET', '/api/pages', alice), otherKey);
    const h = (a: string, id = alice) => ({
      'x-tenant-id': id.tenantId, 'x-user-id': id.userId, 'x-tenant-region': id.region, 'x-request-id': id.requestId, 'x-gateway-assertion': a,
    });
    expect((await app.request('/api/pages', { headers: h(forged) })).status).toBe(401);
    const forOtherPath = await signAssertion(identityRequest('GET', '/api/whoami', alice), key);
    expect((await app.request('/api/pages', { headers: h(forOtherPath) })).status).toBe(401);
    const forAlice = await signAssertion(identityRequest('GET', '/api/pages', alice), key);
    expect((await app.request('/api/pages', { headers: h(forAlice, bob) })).status).toBe(401);
    const old = await signAssertion(identityRequest('GET', '/api/pages', alice), key, Math.floor(Date.now() / 1000) - 600);
    expect((await app.request('/api/pages', { headers: h(old) })).status).toBe(401);
  });

  it("refuses an assertion signed with another region's key, even one naming this region", async () => {
    // A region's key leaking (here: us-east-1's) must not vouch for eu-central-1's tenants.
    const usKey = await importAssertionKey('eu-1', US_SECRET);
    const h = async (k: AssertionKey, id: Identity) => ({
      'x-tenant-id': id.tenantId, 'x-user-id': id.userId, 'x-tenant-region': id.region, 'x-request-id': id.requestId,
      'x-gateway-assertion': await signAssertion(identityRequest('GET', '/api/pages', id), k),
    });
    expect((await app.request('/api/pages', { headers: await h(usKey, alice) })).status).toBe(401);
    // An assertion made with this region's key for another audience does not verify here either.
    const forUs = await signAssertion({ ...identityRequest('GET', '/api/pages', alice), audience: 'us-east-1' }, key);
    expect((await app.request('/api/pages', { headers: { ...(await h(key, alice)), 'x-gateway-assertion': forUs } })).status).toBe(401);
  });

  it('refuses timestamps further in the future than the clock skew, and malformed or unknown-kid assertions', async () => {
    const now = Math.floor(Date.now() / 1000);
    const at = async (t: number, k = key) => ({
      'x-tenant-id': alice.tenantId, 'x-user-id': alice.userId, 'x-tenant-region': alice.region, 'x-request-id': alice.requestId,
      'x-gateway-assertion': await signAssertion(identityRequest('GET', '/api/pages', alice), k, t),
    });
    expect((await app.request('/api/pages', { headers: await at(now + 3) })).status).toBe(200);
    for (const t of [now + 6, now + 30, now + 600, now + 10 ** 9]) {
      const res = await app.request('/api/pages', { headers: await at(t) });
      expect(res.status, `t = now + ${t - now}`).toBe(401);
      expect((await res.json()).error.message).toContain('future');
    }
    const unknownKid = await importAssertionKey('eu-9', SECRET);
    expect((await (await app.request('/api/pages', { headers: await at(now, unknownKid) })).json()).error.message).toContain('unknown_key');
  });

  it('accepts both keys of its ring during a rotation, and only those', async () => {
    const next = await importAssertionKey('eu-2', NEXT_SECRET);
    const rotating = createRegionApp({ region: REGION, db: db.db, assertionKeys: await importKeyRing([{ kid: 'eu-2', secret: NEXT_SECRET }, { kid: 'eu-1', secret: SECRET }]) });
    const headers = async (k: AssertionKey) => ({
      'x-tenant-id': alice.tenantId, 'x-user-id': alice.userId, 'x-tenant-region': alice.region, 'x-request-id': alice.requestId,
      'x-gateway-assertion': await signAssertion(identityRequest('GET', '/api/pages', alice), k),
    });
    expect((await rotating.request('/api/pages', { headers: await headers(key) })).status).toBe(200);
    expect((await rotating.request('/api/pages', { headers: await headers(next) })).status).toBe(200);
    // The app that has not been given the next key yet refuses it; a kid is bound to its own secret.
    expect((await app.request('/api/pages', { headers: await headers(next) })).status).toBe(401);
    const swapped = await importAssertionKey('eu-1', NEXT_SECRET);
    expect((await rotating.request('/api/pages', { headers: await headers(swapped) })).status).toBe(401);
  });

  it('accepts a gateway-signed request and echoes the identity', async () => {
    const res = await asGateway(alice, 'GET', '/api/whoami?x=1');
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ tenant_id: alice.tenantId, user_id: 'u-alice', tenant_region: REGION, request_id: 'req-1', origin_region: REGION });
  });

  it('refuses identity asserted for another region', async () => {
    // Signed for us-east-1 (its audience): the assertion itself does not verify here.
    const res = await asGateway({ ...alice, region: 'us-east-1' }, 'GET', '/api/pages');
    expect(res.status).toBe(401);
    expect((await res.json()).error.code).toBe('gateway_assertion_required');
    // Signed for this region's audience but naming another region: verified, and still refused.
    const odd = await signAssertion({ ...identityRequest('GET', '/api/pages', { ...alice, region: 'us-east-1' }), audience: REGION }, key);
    const res2 = await app.request('/api/pages', {
      headers: { 'x-tenant-id': alice.tenantId, 'x-user-id': alice.userId, 'x-tenant-region': 'us-east-1', 'x-request-id': alice.requestId, 'x-gateway-assertion': odd },
    });
    expect(res2.status).toBe(421);
    expect((await res2.json()).error.code).toBe('wrong_region');
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
    ['POST', '/api/pages', '{oops', /^The body must be a JSON object\.$/],
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

  it("answers every error in the gateway's shape, with the gateway's request id and Cache-Control: no-store", async () => {
    const responses = [
      await app.request('/api/pages'), // no assertion: 401
      await asGateway(alice, 'GET', '/api/pages/0190a000-0000-7000-8000-000000000000'), // 404
      await asGateway(alice, 'POST', '/api/pages', '{oops'), // 400
      await asGateway({ ...alice, region: 'us-east-1' }, 'GET', '/api/pages'), // 401 or 421
      await app.request('/nowhere', { headers: { 'x-request-id': 'req-1' } }), // route 404
    ];
    for (const res of responses) {
      expect(res.status).toBeGreaterThanOrEqual(400);
      expect(res.headers.get('cache-control')).toBe('no-store');
      const { error } = await res.json();
      expect(Object.keys(error).sort()).toEqual(['code', 'message', 'requestId']);
      expect(error.requestId).toBe(res.headers.get('x-request-id'));
    }
    // The gateway's id when it sent one (alice's requests carry req-1).
    expect(responses.slice(1).map((r) => r.headers.get('x-request-id'))).toEqual(['req-1', 'req-1', 'req-1', 'req-1']);
  });
});
