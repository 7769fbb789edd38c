/**
 * A regional data Worker on its own: it trusts nothing unsigned and serves only its own
 * region. Every refusal here is checked at a real recording server standing in as the
 * database's WebSocket proxy: a refused request opens no connection and sends no query.
 */
import { createExecutionContext, waitOnExecutionContext } from 'cloudflare:test';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createDataApp } from '../../../src/data-worker/app.ts';
import { identityRequest, IDENTITY_HEADERS, importAssertionKey, probeRequest, signAssertion, type AssertionKey, type Identity } from '../../../src/identity-assertion/index.ts';
import { bindings, egressFor, errorBody, newMarker, ORIGINS } from '../helpers.ts';
import { adminFor, adminQuery, DATA, newTenant } from './support.ts';

const EU = 'eu-central-1';
const US = 'us-east-1';
const app = createDataApp();
const RINGS = JSON.parse(bindings.GATEWAY_ASSERTION_KEYS!) as Record<string, Array<{ kid: string; secret: string }>>;
const OWN_RING = { [EU]: RINGS[EU] };
const key = await importAssertionKey(RINGS[EU]![0]!.kid, RINGS[EU]![0]!.secret);
/** The us-east-1 key: what the edge signs a us-east-1 tenant's request with. */
const usKey = await importAssertionKey(RINGS[US]![0]!.kid, RINGS[US]![0]!.secret);

/** eu-central-1's data Worker whose database "proxy" is a recording origin: any connection shows up under `marker`. */
function recordingWorkerEnv(marker: string): Record<string, unknown> {
  const host = new URL(ORIGINS['us-east-1']!).host;
  return {
    DATA_REGION: EU,
    GATEWAY_ASSERTION_KEYS: OWN_RING,
    DB_USE_SECURE_WEBSOCKET: 'false',
    REGION_DATABASES: { [EU]: { primary: { url: 'postgres://gateway:s3cret-pw@db.internal.example:5432/app', wsProxy: `${host}/${marker}` } } },
  };
}
/** eu-central-1's data Worker on its real PGlite database. */
const realEnv = { DATA_REGION: EU, GATEWAY_ASSERTION_KEYS: OWN_RING, DB_USE_SECURE_WEBSOCKET: 'false', REGION_DATABASES: { [EU]: (DATA.pglite.regionDatabases as Record<string, unknown>)[EU] } };

async function call(env: Record<string, unknown>, method: string, path: string, headers: Record<string, string>, body?: string): Promise<Response> {
  const ctx = createExecutionContext();
  const res = await app.fetch(new Request(`https://data-worker.internal${path}`, { method, headers, body }), env, ctx);
  await waitOnExecutionContext(ctx);
  return res;
}

async function signed(method: string, path: string, id: Identity, signingKey: AssertionKey = key): Promise<Record<string, string>> {
  return {
    [IDENTITY_HEADERS.tenantId]: id.tenantId,
    [IDENTITY_HEADERS.userId]: id.userId,
    [IDENTITY_HEADERS.region]: id.region,
    [IDENTITY_HEADERS.requestId]: id.requestId,
    [IDENTITY_HEADERS.assertion]: await signAssertion(identityRequest(method, path, id), signingKey),
  };
}

const identity = (over: Partial<Identity> = {}): Identity => ({ tenantId: 'ws_a', userId: 'user-1', region: EU, requestId: crypto.randomUUID(), ...over });

describe('a data Worker refuses before any query', { timeout: 30_000 }, () => {
  const cases: Array<[string, () => Promise<Record<string, string>>]> = [
    ['no assertion at all', async () => ({ [IDENTITY_HEADERS.tenantId]: 'ws_a', [IDENTITY_HEADERS.userId]: 'u', [IDENTITY_HEADERS.region]: EU })],
    ['an assertion over another path', async () => signed('GET', '/data/pages/00000000-0000-7000-8000-000000000000', identity())],
    ['an assertion for another tenant', async () => ({ ...(await signed('GET', '/data/pages', identity({ tenantId: 'ws_b' }))), [IDENTITY_HEADERS.tenantId]: 'ws_a' })],
    ['an assertion for another method', async () => signed('POST', '/data/pages', identity())],
    ['an assertion signed with another key of the same id', async () => signed('GET', '/data/pages', identity(), await importAssertionKey(key.kid, 'another-secret-of-at-least-32-chars!!'))],
    ["an assertion signed with another region's key", async () => signed('GET', '/data/pages', identity(), usKey)],
    ['an expired assertion', async () => {
      const id = identity();
      const h = await signed('GET', '/data/pages', id);
      return { ...h, [IDENTITY_HEADERS.assertion]: await signAssertion(identityRequest('GET', '/data/pages', id), key, Math.floor(Date.now() / 1000) - 120) };
    }],
  ];
  it.each(cases)('%s: 401, nothing reaches the database', async (_name, make) => {
    const marker = newMarker();
    const res = await call(recordingWorkerEnv(marker), 'GET', '/data/pages', await make());
    expect(res.status).toBe(401);
    expect((await errorBody(res)).code).toBe('invalid_token');
    expect(await egressFor(marker)).toEqual([]);
  });

  it('a request signed with its own ring but naming a tenant of another region: 403, nothing reaches the database', async () => {
    const marker = newMarker();
    const res = await call(recordingWorkerEnv(marker), 'GET', '/data/pages', await signed('GET', '/data/pages', identity({ region: US })));
    expect(res.status).toBe(403);
    expect(await res.text()).not.toMatch(/s3cret|db\.internal|postgres:/);
    expect(await egressFor(marker)).toEqual([]);
  });

  it('property: any region other than its own is refused with 403 and no connection, whatever the path', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.string({ minLength: 1, maxLength: 24 }).filter((r) => r !== EU && !/[\r\n\0]/.test(r) && r.trim() === r),
        fc.constantFrom('/data/pages', '/data/pages/00000000-0000-7000-8000-000000000000', '/data/pages?limit=1'),
        async (region, path) => {
          const marker = newMarker();
          const res = await call(recordingWorkerEnv(marker), 'GET', path, await signed('GET', path, identity({ region })));
          expect(res.status).toBe(403);
          expect(await egressFor(marker)).toEqual([]);
        },
      ),
      { numRuns: 25 },
    );
  });

  it('(control) the same signed request for its own region does reach the database', async () => {
    const marker = newMarker();
    const res = await call(recordingWorkerEnv(marker), 'GET', '/data/pages', await signed('GET', '/data/pages', identity()));
    expect(res.status).toBe(503); // the recording server is no database
    expect((await egressFor(marker)).length).toBeGreaterThan(0);
  });

  it("a config naming another region's database is refused: 500 config_invalid, nothing sent", async () => {
    const marker = newMarker();
    const env = recordingWorkerEnv(marker);
    const res = await call({ ...env, REGION_DATABASES: { [US]: (env.REGION_DATABASES as Record<string, unknown>)[EU] } }, 'GET', '/data/pages', await signed('GET', '/data/pages', identity()));
    expect(res.status).toBe(500);
    expect((await errorBody(res)).code).toBe('config_invalid');
    expect(await egressFor(marker)).toEqual([]);
  });
});

describe('a data Worker serves its own region', { timeout: 30_000 }, () => {
  it('answers a signed request from its database, under RLS for the asserted tenant', async () => {
    const tenant = await newTenant('pglite', EU);
    await adminQuery(adminFor('pglite', EU), "INSERT INTO pages (id, tenant_id, region, title) VALUES (gen_random_uuid(), $1, $2, 'seen')", [tenant, EU]);
    const res = await call(realEnv, 'GET', '/data/pages', await signed('GET', '/data/pages', identity({ tenantId: tenant })));
    expect(res.status).toBe(200);
    expect(((await res.json()) as { items: Array<{ title: string }> }).items.map((p) => p.title)).toEqual(['seen']);
  });

  const probeHeaders = async (region: string, signingKey: AssertionKey = key) => ({
    [IDENTITY_HEADERS.requestId]: 'probe-1',
    [IDENTITY_HEADERS.assertion]: await signAssertion(probeRequest('GET', '/__data/readyz', { region, requestId: 'probe-1' }), signingKey),
  });

  it('answers the signed readiness probe with public words only', async () => {
    const res = await call(realEnv, 'GET', '/__data/readyz', await probeHeaders(EU));
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(JSON.parse(text)).toEqual({ checks: [{ kind: 'database', ok: true, detail: 'select 1' }] });
    expect(text).not.toMatch(/postgres:|127\.0\.0\.1/);
    const unsigned = await call(realEnv, 'GET', '/__data/readyz', {});
    expect(unsigned.status).toBe(401);
  });

  it('keeps the two kinds of assertion apart: a tenant assertion does not open the probe, a probe assertion serves no data', async () => {
    // A tenant's assertion, validly signed for the readiness path: not a probe.
    const asTenant = await call(realEnv, 'GET', '/__data/readyz', await signed('GET', '/__data/readyz', identity()));
    expect(asTenant.status).toBe(401);
    // The probe's assertion, with tenant headers added, on a data route: no tenant identity is asserted.
    const probe = await probeHeaders(EU);
    const tenant = await newTenant('pglite', EU);
    const asProbe = await call(realEnv, 'GET', '/data/pages', {
      ...probe,
      [IDENTITY_HEADERS.tenantId]: tenant,
      [IDENTITY_HEADERS.userId]: 'u1',
      [IDENTITY_HEADERS.region]: EU,
    });
    expect(asProbe.status).toBe(401);
    // A probe signed for another region, or with the request id changed after signing: refused.
    expect((await call(realEnv, 'GET', '/__data/readyz', await probeHeaders(US))).status).toBe(401);
    expect((await call(realEnv, 'GET', '/__data/readyz', { ...probe, [IDENTITY_HEADERS.requestId]: 'probe-2' })).status).toBe(401);
  });
});
