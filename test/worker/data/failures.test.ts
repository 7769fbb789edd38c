/**
 * Failure paths of the direct data path: rejected requests never open a database
 * connection; an unreachable database is a 503 with Retry-After; a statement over
 * its route's timeout is a 504; no response ever carries SQL, parameters or a
 * connection string.
 */
import { describe, expect, it } from 'vitest';
import { Client } from '@neondatabase/serverless';
import { egressFor, errorBody, mintToken, newMarker, ORIGINS } from '../helpers.ts';
import { adminFor, availableBackends, bearer, callData, createPage, DATA, newTenant } from './support.ts';

const EU = 'eu-central-1';

/**
 * REGION_DATABASES whose WebSocket proxy is a recording HTTP origin, with a marker in
 * the proxy path: any connection attempt the gateway makes shows up there.
 */
function recordingDatabase(marker: string) {
  const host = new URL(ORIGINS['us-east-1']!).host;
  return JSON.stringify({
    [EU]: { primary: { url: 'postgres://gateway:s3cret-pw@db.internal.example:5432/app', wsProxy: `${host}/${marker}` } },
  });
}

describe('no database connection for rejected requests', { timeout: 30_000 }, () => {
  const cases: Array<[string, (marker: string) => Promise<RequestInit & { path: string }>]> = [
    ['no token', async () => ({ path: '/data/pages' })],
    ['a tampered token', async () => {
      const t = await mintToken({ claims: { tenant_id: 'ws_a', tenant_region: EU } });
      const [h, p, s] = t.split('.');
      const payload = JSON.parse(atob(p!.replace(/-/g, '+').replace(/_/g, '/')));
      payload.tenant_id = 'ws_b';
      const forged = btoa(JSON.stringify(payload)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
      return { path: '/data/pages', headers: { authorization: `Bearer ${h}.${forged}.${s}` } };
    }],
    ['a region tag that disagrees with the token', async () => ({ path: '/data/pages', headers: { ...(await bearer('ws_a', EU)), 'x-tenant-region': 'us-east-1' } })],
    ['an invalid id', async () => ({ path: '/data/pages/1%20OR%201=1', headers: await bearer('ws_a', EU) })],
    ['an invalid body', async () => ({ path: '/data/pages', method: 'POST', body: '{"title":1}', headers: { ...(await bearer('ws_a', EU)), 'content-type': 'application/json' } })],
    ['a malformed bookmark', async () => ({ path: '/data/pages', headers: { ...(await bearer('ws_a', EU)), 'x-db-bookmark': 'zz' } })],
  ];
  it.each(cases)('%s: rejected, and nothing reaches the database', async (_name, make) => {
    const marker = newMarker();
    const { path, ...init } = await make(marker);
    const res = await callData('pglite', path, init, { REGION_DATABASES: recordingDatabase(marker) });
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
    expect(await egressFor(marker)).toEqual([]);
  });

  it('(control) an accepted request does try the configured proxy; unreachable database → 503 with Retry-After, no secrets', async () => {
    const marker = newMarker();
    const res = await callData('pglite', '/data/pages', { headers: await bearer('ws_a', EU) }, { REGION_DATABASES: recordingDatabase(marker) });
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toMatch(/^\d+$/);
    const text = await res.text();
    expect(JSON.parse(text).error.code).toBe('database_unavailable');
    expect(text).not.toMatch(/s3cret|db\.internal|postgres:|127\.0\.0\.1|SELECT|pages/);
    const seen = await egressFor(marker);
    expect(seen.length).toBeGreaterThan(0);
    expect(seen[0]!.url).toContain(`/${marker}`);
  });
});

describe('a database that refuses connections', { timeout: 30_000 }, () => {
  it('is a 503 with Retry-After', async () => {
    const dead = JSON.stringify({ [EU]: { primary: { url: 'postgres://gateway@127.0.0.1:5432/app', wsProxy: '127.0.0.1:9' } } });
    const res = await callData('pglite', '/data/pages', { headers: await bearer('ws_a', EU) }, { REGION_DATABASES: dead });
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('5');
  });
});

describe.each(availableBackends(['postgres']))('statement timeout (%s)', { timeout: 30_000 }, (backend) => {
  // PGlite is one session: a blocked statement there waits for the session, not on a lock, so this needs a real server.
  it("a statement that runs past its route's timeout is a 504", async () => {
    const a = await newTenant(backend, EU);
    const id = crypto.randomUUID();
    // Another transaction holds an uncommitted insert of the same key: our insert must wait for it.
    const access = adminFor(backend, EU);
    const blocker = new Client({ connectionString: access.url });
    blocker.neonConfig.wsProxy = access.wsProxy;
    blocker.neonConfig.useSecureWebSocket = false;
    blocker.neonConfig.pipelineConnect = false;
    blocker.on('error', () => {});
    await blocker.connect();
    try {
      await blocker.query('BEGIN');
      await blocker.query("INSERT INTO pages (id, tenant_id, region, title) VALUES ($1, $2, $3, 'blocker')", [id, a, EU]);
      const res = await createPage(backend, a, EU, { id, title: 'waits' });
      expect(res.status).toBe(504);
      const err = await errorBody(res);
      expect(err.code).toBe('database_timeout');
      expect(JSON.stringify(err)).not.toMatch(/statement|cancel|INSERT/i);
    } finally {
      await blocker.query('ROLLBACK').catch(() => {});
      await blocker.end();
    }
  });
});
