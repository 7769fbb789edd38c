/**
 * GET/POST /data/pages answered by the Worker from the tenant's regional database,
 * against PGlite and (when reachable) real PostgreSQL, through the local WebSocket
 * proxies. Every test makes its own tenants, so files run in parallel.
 */
import { describe, expect, it } from 'vitest';
import { errorBody } from '../helpers.ts';
import { adminFor, adminQuery, availableBackends, bearer, callData, createPage, newTenant } from './support.ts';

const EU = 'eu-central-1';
const US = 'us-east-1';

describe.each(availableBackends(['pglite', 'postgres']))('data routes on %s', { timeout: 30_000 }, (backend) => {
  it("lists only the tenant's own pages, from its home region's database", async () => {
    const [a, b] = [await newTenant(backend, EU), await newTenant(backend, EU)];
    const elsewhere = await newTenant(backend, US);
    for (const t of ['a1', 'a2']) expect((await createPage(backend, a, EU, { title: t })).status).toBe(201);
    expect((await createPage(backend, b, EU, { title: 'b1' })).status).toBe(201);
    expect((await createPage(backend, elsewhere, US, { title: 'us1' })).status).toBe(201);

    const res = await callData(backend, '/data/pages', { headers: await bearer(a, EU) });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { items: Array<{ title: string; region: string }>; nextCursor: string | null };
    // Newest first (UUIDv7 ids), only tenant a's rows.
    expect(body.items.map((p) => p.title)).toEqual(['a2', 'a1']);
    expect(body.items.every((p) => p.region === EU)).toBe(true);
    expect(body.nextCursor).toBeNull();

    // The rows are in the home region's database and in no other.
    const inEu = await adminQuery<{ n: number }>(adminFor(backend, EU), 'SELECT count(*)::int AS n FROM pages WHERE tenant_id = $1', [a]);
    const inUs = await adminQuery<{ n: number }>(adminFor(backend, US), 'SELECT count(*)::int AS n FROM pages WHERE tenant_id = $1', [a]);
    expect([inEu[0]!.n, inUs[0]!.n]).toEqual([2, 0]);
  });

  it("gets a page by id; another tenant's page id is a 404 indistinguishable from a missing one", async () => {
    const [a, b] = [await newTenant(backend, EU), await newTenant(backend, EU)];
    const created = (await (await createPage(backend, a, EU, { title: 'secret', body: 'of a' })).json()) as { id: string };

    const own = await callData(backend, `/data/pages/${created.id}`, { headers: await bearer(a, EU) });
    expect(own.status).toBe(200);
    expect(await own.json()).toMatchObject({ id: created.id, title: 'secret', body: 'of a', region: EU });

    const foreign = await callData(backend, `/data/pages/${created.id}`, { headers: await bearer(b, EU) });
    const missing = await callData(backend, `/data/pages/${crypto.randomUUID()}`, { headers: await bearer(b, EU) });
    expect([foreign.status, missing.status]).toEqual([404, 404]);
    const [fe, me] = [await errorBody(foreign), await errorBody(missing)];
    expect(fe.code).toBe('not_found');
    expect({ ...fe, requestId: '' }).toEqual({ ...me, requestId: '' });
  });

  it('a duplicate id is a 409 and leaves the first page intact', async () => {
    const a = await newTenant(backend, EU);
    const id = crypto.randomUUID();
    expect((await createPage(backend, a, EU, { id, title: 'first' })).status).toBe(201);
    const dup = await createPage(backend, a, EU, { id, title: 'second' });
    expect(dup.status).toBe(409);
    const err = await errorBody(dup);
    expect(err.code).toBe('conflict');
    // No SQL, constraint names or values in the response.
    expect(JSON.stringify(err)).not.toMatch(/pages_pkey|duplicate|INSERT|second|postgres/i);
    const rows = await adminQuery<{ title: string }>(adminFor(backend, EU), 'SELECT title FROM pages WHERE id = $1', [id]);
    expect(rows).toEqual([{ title: 'first' }]);
  });

  it("another tenant's existing id is also a 409 on create (ids are global), without revealing its data", async () => {
    const [a, b] = [await newTenant(backend, EU), await newTenant(backend, EU)];
    const id = crypto.randomUUID();
    await createPage(backend, a, EU, { id, title: 'of a' });
    const res = await createPage(backend, b, EU, { id, title: 'of b' });
    expect(res.status).toBe(409);
    expect(await res.text()).not.toContain('of a');
  });

  it("a tenant whose row is not in the region's database cannot write there: foreign-key violation → 422", async () => {
    const ghost = `ws_ghost${crypto.randomUUID().replaceAll('-', '').slice(0, 12)}`;
    const res = await createPage(backend, ghost, EU, { title: 'orphan' });
    expect(res.status).toBe(422);
    expect((await errorBody(res)).code).toBe('unprocessable');
  });

  it('pages through a list with a bounded limit and an opaque cursor', async () => {
    const a = await newTenant(backend, EU);
    for (let i = 1; i <= 5; i++) expect((await createPage(backend, a, EU, { title: `p${i}` })).status).toBe(201);
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const qs: string = cursor ? `?limit=2&cursor=${encodeURIComponent(cursor)}` : '?limit=2';
      const res = await callData(backend, `/data/pages${qs}`, { headers: await bearer(a, EU) });
      expect(res.status).toBe(200);
      const body = (await res.json()) as { items: Array<{ title: string }>; nextCursor: string | null };
      expect(body.items.length).toBeLessThanOrEqual(2);
      seen.push(...body.items.map((p) => p.title));
      cursor = body.nextCursor;
      pages++;
    } while (cursor && pages < 10);
    expect(seen).toEqual(['p5', 'p4', 'p3', 'p2', 'p1']);
    expect(pages).toBe(3);
  });

  it('reads right after a write see it (no replica configured: everything on the primary)', async () => {
    const a = await newTenant(backend, EU);
    const w = await createPage(backend, a, EU, { title: 'fresh' });
    const bookmark = w.headers.get('x-db-bookmark');
    expect(bookmark).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
    const { id } = (await w.json()) as { id: string };
    const r = await callData(backend, `/data/pages/${id}`, { headers: { ...(await bearer(a, EU)), 'x-db-bookmark': bookmark! } });
    expect(r.status).toBe(200);
    expect(r.headers.get('x-db-source')).toBe('primary');
  });
});

describe.each(availableBackends(['pglite']))('request validation before any query (%s)', { timeout: 30_000 }, (backend) => {
  it.each([
    ['GET', '/data/pages/not-a-uuid', undefined, 'path parameter "id"'],
    ['GET', '/data/pages?limit=0', undefined, 'query parameter "limit"'],
    ['GET', '/data/pages?limit=101', undefined, 'query parameter "limit"'],
    ['GET', '/data/pages?limit=abc', undefined, 'query parameter "limit"'],
    ['GET', '/data/pages?cursor=c1.bm90LWEtdXVpZA', undefined, 'query parameter "cursor"'],
    ['GET', '/data/pages?cursor=garbage', undefined, 'query parameter "cursor"'],
    ['POST', '/data/pages', '{"title":""}', 'body parameter "title"'],
    ['POST', '/data/pages', JSON.stringify({ title: 'x'.repeat(201) }), 'body parameter "title"'],
    ['POST', '/data/pages', '{"title":"ok","id":"nope"}', 'body parameter "id"'],
    ['POST', '/data/pages', '{"title":"ok","tenant_id":"ws_other"}', 'unknown field'],
    ['POST', '/data/pages', '{"title":"ok","region":"us-east-1"}', 'unknown field'],
    ['POST', '/data/pages', 'not json', 'The body must be a JSON object.'],
    ['POST', '/data/pages', '[1]', 'JSON object'],
  ])('%s %s %s → 400 naming the problem', async (method, path, body, mention) => {
    const a = await newTenant(backend, EU);
    const res = await callData(backend, path, {
      method,
      body,
      headers: { ...(await bearer(a, EU)), 'content-type': 'application/json' },
    });
    expect(res.status).toBe(400);
    const err = await errorBody(res);
    expect(err.code).toBe('invalid_request');
    expect(err.message).toContain(mention);
    // Nothing was written.
    const rows = await adminQuery(adminFor(backend, EU), 'SELECT 1 FROM pages WHERE tenant_id = $1', [a]);
    expect(rows).toEqual([]);
  });

  it('refuses a body over the limit with 413 before parsing it', async () => {
    const a = await newTenant(backend, EU);
    const res = await callData(backend, '/data/pages', {
      method: 'POST',
      body: JSON.stringify({ title: 't', body: 'x'.repeat(300 * 1024) }),
      headers: { ...(await bearer(a, EU)), 'content-type': 'application/json' },
    });
    expect(res.status).toBe(413);
  });

  it('refuses a non-JSON content type and a malformed bookmark', async () => {
    const a = await newTenant(backend, EU);
    const text = await callData(backend, '/data/pages', { method: 'POST', body: '{"title":"t"}', headers: { ...(await bearer(a, EU)), 'content-type': 'text/plain' } });
    expect(text.status).toBe(400);
    const bm = await callData(backend, '/data/pages', { headers: { ...(await bearer(a, EU)), 'x-db-bookmark': "0/1'; DROP TABLE pages" } });
    expect(bm.status).toBe(400);
    expect((await errorBody(bm)).message).toContain('x-db-bookmark');
  });
});
