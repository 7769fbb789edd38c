/**
 * Attacks on the direct database path, against real databases
 * (PGlite per region; also the real PostgreSQL server when it is reachable):
 *   - hostile strings in every parameter of the /data routes either round-trip as data (free text:
 *     title, body) or are refused with a clear 400/413 before any database connection is opened
 *     (typed parameters: ids, limit, cursor, bookmark; and NUL, which PostgreSQL text cannot hold);
 *   - another tenant's ids are invisible (404, indistinguishable from a missing id);
 *   - a write cannot land in another tenant, whatever the body says;
 *   - property: any title round-trips unchanged or is refused with 400, never a 5xx.
 * "No connection" is counted at a real recording server standing in as the database's WebSocket proxy.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { egressFor, errorBody, mintToken, newMarker, ORIGINS } from '../helpers.ts';
import { adminFor, adminQuery, availableBackends, bearer, callData, createPage, newTenant, type BackendName } from '../data/support.ts';

const EU = 'eu-central-1';

const HOSTILE = [
  `'`,
  `"`,
  `''; DROP TABLE pages;--`,
  `x' OR '1'='1`,
  `;--`,
  `$1`,
  `$1::text, $2`,
  `\\'; SELECT pg_sleep(10);--`,
  `%00`,
  `\\0 \\x00`,
  `Robert'); DELETE FROM tenants WHERE ('1'='1`,
  `{"tenant_id":"ws_other"}`,
  `ünïcödé ✓ 🐘 \u202e`,
];
const NUL = 'before\u0000after';
const ONE_MB = 'x'.repeat(1024 * 1024);

/** REGION_DATABASES whose ws proxy is a recording origin: any connection attempt shows up under `marker`. */
function recordingDatabase(marker: string): Record<string, unknown> {
  const host = new URL(ORIGINS['us-east-1']!).host;
  return { REGION_DATABASES: JSON.stringify({ [EU]: { primary: { url: 'postgres://gateway:s3cret-pw@db.internal.example:5432/app', wsProxy: `${host}/${marker}` } } }) };
}

/** Sends a request that must be refused; returns the response after checking nothing reached the database. */
async function refusedWithoutQuery(path: string, init: RequestInit): Promise<Response> {
  const marker = newMarker();
  const res = await callData('pglite', path, init, recordingDatabase(marker));
  expect(res.status).toBeGreaterThanOrEqual(400);
  expect(res.status).toBeLessThan(500);
  expect(await egressFor(marker)).toEqual([]);
  return res;
}

const json = (tenantHeaders: Record<string, string>) => ({ ...tenantHeaders, 'content-type': 'application/json' });

describe.each(availableBackends(['pglite', 'postgres'] as BackendName[]))('hostile strings round-trip as data (%s)', { timeout: 60_000 }, (backend) => {
  it.each(HOSTILE)('title and body %j are stored and returned unchanged', async (s) => {
    const a = await newTenant(backend, EU);
    const created = await createPage(backend, a, EU, { title: s, body: `${s}\n${s}` });
    expect(created.status).toBe(201);
    const { id } = (await created.json()) as { id: string };
    const got = await callData(backend, `/data/pages/${id}`, { headers: await bearer(a, EU) });
    expect(got.status).toBe(200);
    expect(await got.json()).toMatchObject({ id, title: s, body: `${s}\n${s}` });
    // As data in the database too, and the tables are all still there.
    const rows = await adminQuery<{ title: string; body: string }>(adminFor(backend, EU), 'SELECT title, body FROM pages WHERE tenant_id = $1', [a]);
    expect(rows).toEqual([{ title: s, body: `${s}\n${s}` }]);
    expect(await adminQuery(adminFor(backend, EU), 'SELECT count(*)::int AS n FROM tenants WHERE id = $1', [a])).toEqual([{ n: 1 }]);
  });

  it('a title with leading and trailing blanks comes back exactly as sent (no silent trimming)', async () => {
    const a = await newTenant(backend, EU);
    const created = await createPage(backend, a, EU, { title: '  padded\t' });
    expect(created.status).toBe(201);
    expect(((await created.json()) as { title: string }).title).toBe('  padded\t');
  });
});

describe('hostile strings in typed parameters: 400 before any database connection', { timeout: 60_000 }, () => {
  const typed: Array<[string, (s: string) => { path: string; init?: RequestInit }]> = [
    ['path id', (s) => ({ path: `/data/pages/${encodeURIComponent(s)}` })],
    ['query limit', (s) => ({ path: `/data/pages?limit=${encodeURIComponent(s)}` })],
    ['query cursor', (s) => ({ path: `/data/pages?cursor=${encodeURIComponent(s)}` })],
    ['body id', (s) => ({ path: '/data/pages', init: { method: 'POST', body: JSON.stringify({ id: s, title: 't' }) } })],
  ];
  const cases = typed.flatMap(([where, make]) => HOSTILE.map((s) => [where, s, make] as const));
  it.each(cases)('%s = %j', async (_where, s, make) => {
    const { path, init } = make(s);
    const res = await refusedWithoutQuery(path, { ...init, headers: json(await bearer('ws_a', EU)) });
    // A path id that decodes to a separator or control character is stopped by the request guard (also 400).
    expect(res.status).toBe(400);
    expect((await errorBody(res)).code).toBe('invalid_request');
  });

  it.each(HOSTILE.filter((s) => /^[\x20-\x7e]*$/.test(s)))('bookmark header = %j', async (s) => {
    const res = await refusedWithoutQuery('/data/pages', { headers: { ...(await bearer('ws_a', EU)), 'x-db-bookmark': s } });
    expect(res.status).toBe(400);
    expect((await errorBody(res)).message).toContain('x-db-bookmark');
  });

  it.each(["ws_a'--", 'ws_a;--', '$1', 'ws_a\u0000', "' OR 1=1"])('tenant claim %j in a validly signed token: refused (403), no connection', async (tenant) => {
    const token = await mintToken({ claims: { tenant_id: tenant, tenant_region: EU } });
    const res = await refusedWithoutQuery('/data/pages', { headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(403);
  });
});

describe('NUL and 1 MB: clear errors before any database connection', { timeout: 60_000 }, () => {
  it.each([
    ['title', { title: NUL }],
    ['body', { title: 't', body: NUL }],
    ['title (escaped in JSON as \\u0000)', { title: '\u0000' }],
    ['title (unpaired surrogate, not encodable as UTF-8)', { title: 'a\ud800b' }],
  ])('NUL or an unpaired surrogate in %s → 400 naming the parameter (PostgreSQL text cannot hold it)', async (where, page) => {
    const res = await refusedWithoutQuery('/data/pages', { method: 'POST', body: JSON.stringify(page), headers: json(await bearer('ws_a', EU)) });
    expect(res.status).toBe(400);
    const err = await errorBody(res);
    expect(err.code).toBe('invalid_request');
    expect(err.message).toContain(`body parameter "${where.split(' ')[0]}"`);
  });

  it.each([
    ['title', { title: ONE_MB }],
    ['body', { title: 't', body: ONE_MB }],
  ])('1 MB in %s → 413 payload_too_large, the body is not parsed', async (_where, page) => {
    const res = await refusedWithoutQuery('/data/pages', { method: 'POST', body: JSON.stringify(page), headers: json(await bearer('ws_a', EU)) });
    expect(res.status).toBe(413);
    expect((await errorBody(res)).code).toBe('payload_too_large');
  });

  it.each([
    ['path id', `/data/pages/${ONE_MB}`],
    ['query cursor', `/data/pages?cursor=${ONE_MB}`],
    ['query limit', `/data/pages?limit=${'9'.repeat(1024 * 1024)}`],
  ])('1 MB in %s → 400 invalid_request', async (_where, path) => {
    const res = await refusedWithoutQuery(path, { headers: await bearer('ws_a', EU) });
    expect(res.status).toBe(400);
    expect((await errorBody(res)).code).toBe('invalid_request');
  });

  it('1 MB in the bookmark header → 400', async () => {
    const res = await refusedWithoutQuery('/data/pages', { headers: { ...(await bearer('ws_a', EU)), 'x-db-bookmark': ONE_MB } });
    expect(res.status).toBe(400);
  });
});

describe.each(availableBackends(['pglite', 'postgres'] as BackendName[]))("another tenant's rows (%s)", { timeout: 60_000 }, (backend) => {
  it("another tenant's page id is a 404 identical to a missing id, and never in its list", async () => {
    const a = await newTenant(backend, EU);
    const b = await newTenant(backend, EU);
    const { id } = (await (await createPage(backend, a, EU, { title: 'secret of a' })).json()) as { id: string };
    const foreign = await callData(backend, `/data/pages/${id}`, { headers: await bearer(b, EU) });
    const missing = await callData(backend, `/data/pages/${crypto.randomUUID()}`, { headers: await bearer(b, EU) });
    expect(foreign.status).toBe(404);
    expect(missing.status).toBe(404);
    const [fe, me] = [await errorBody(foreign), await errorBody(missing)];
    expect({ ...fe, requestId: '' }).toEqual({ ...me, requestId: '' });
    const list = (await (await callData(backend, '/data/pages', { headers: await bearer(b, EU) })).json()) as { items: unknown[] };
    expect(list.items).toEqual([]);
  });

  it.each([
    ['tenant_id', { tenant_id: 'OTHER' }],
    ['tenantId', { tenantId: 'OTHER' }],
    ['region', { region: 'us-east-1' }],
    ['__proto__', JSON.parse('{"__proto__":{"tenant_id":"OTHER"}}') as Record<string, unknown>],
  ])('a POST that sets %s → 400, and nothing lands in either tenant', async (_field, extra) => {
    const a = await newTenant(backend, EU);
    const b = await newTenant(backend, EU);
    const fields = Object.fromEntries(Object.entries(extra).map(([k, v]) => [k, v === 'OTHER' ? a : v]));
    // JSON.stringify drops a real __proto__ key: write the body by hand so the gateway sees it.
    const body = `{"title":"planted",${Object.entries(fields).map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(',')}}`;
    const res = await callData(backend, '/data/pages', { method: 'POST', body, headers: json(await bearer(b, EU)) });
    expect(res.status).toBe(400);
    expect((await errorBody(res)).code).toBe('invalid_request');
    const rows = await adminQuery(adminFor(backend, EU), 'SELECT tenant_id FROM pages WHERE tenant_id = ANY($1)', [[a, b]]);
    expect(rows).toEqual([]);
  });

  it("a POST reusing another tenant's page id cannot overwrite or read it (409, row untouched)", async () => {
    const a = await newTenant(backend, EU);
    const b = await newTenant(backend, EU);
    const { id } = (await (await createPage(backend, a, EU, { title: 'original' })).json()) as { id: string };
    const res = await createPage(backend, b, EU, { id, title: 'hijack' });
    expect(res.status).toBe(409);
    expect(await res.text()).not.toContain('original');
    expect(await adminQuery(adminFor(backend, EU), 'SELECT tenant_id, title FROM pages WHERE id = $1', [id])).toEqual([{ tenant_id: a, title: 'original' }]);
  });

  it("a token of one tenant writes only that tenant's rows: the tenant comes from the token, not the request", async () => {
    const a = await newTenant(backend, EU);
    const b = await newTenant(backend, EU);
    const res = await callData(backend, `/data/pages?tenant_id=${a}`, { method: 'POST', body: JSON.stringify({ title: 'mine' }), headers: { ...json(await bearer(b, EU)), 'x-tenant-id': a } });
    expect(res.status).toBe(201);
    const rows = await adminQuery<{ tenant_id: string }>(adminFor(backend, EU), 'SELECT tenant_id FROM pages WHERE tenant_id = ANY($1)', [[a, b]]);
    expect(rows).toEqual([{ tenant_id: b }]);
  });
});

describe('property: any title round-trips unchanged or is refused with 400, never a 5xx', { timeout: 120_000 }, () => {
  it('holds for arbitrary strings (full Unicode, unpaired surrogates, NUL, SQL-ish fragments, over-long)', async () => {
    const tenant = await newTenant('pglite', EU);
    const headers = json(await bearer(tenant, EU));
    // Weighted towards the characters that break naive paths (SQL punctuation, NUL, lone surrogates).
    const nasty = fc.constantFrom("'", '"', ';', '-', '$', '1', ' ', '\\', '\u0000', '\ud800', '\udc00', '🐘', '\t', '\n', '%', 'a');
    const title = fc.oneof(
      { arbitrary: fc.string({ unit: 'binary', maxLength: 220 }), weight: 2 },
      { arbitrary: fc.string({ unit: nasty, minLength: 1, maxLength: 210 }), weight: 3 },
      { arbitrary: fc.constantFrom(...HOSTILE, NUL, '', ' ', 'x'.repeat(200), 'x'.repeat(201)), weight: 1 },
    );
    await fc.assert(
      fc.asyncProperty(title, async (t) => {
        const created = await callData('pglite', '/data/pages', { method: 'POST', body: JSON.stringify({ title: t }), headers });
        if (created.status === 400) {
          expect((await errorBody(created)).code).toBe('invalid_request');
          return;
        }
        expect(created.status).toBe(201);
        const { id, title: echoed } = (await created.json()) as { id: string; title: string };
        expect(echoed).toBe(t);
        const got = await callData('pglite', `/data/pages/${id}`, { headers });
        expect(((await got.json()) as { title: string }).title).toBe(t);
      }),
      { numRuns: 100 },
    );
  });
});
