/**
 * Regional database outage on the direct path, against real local things:
 * the "primary" is a fault-lab origin used as the driver's WebSocket proxy (it hangs, or nothing
 * listens), so every connection attempt the gateway makes is counted there; the standby is a real
 * PGlite database (its own server, behind a real ws proxy) whose rows show what landed.
 * One gateway env per test: the per-isolate circuit breakers live for that test only.
 */
import { createExecutionContext, waitOnExecutionContext } from 'cloudflare:test';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createApp } from '../../../src/app.ts';
import { bindingName, edgeWithDataWorkers } from '../data-workers.ts';
import { bindings, errorBody } from '../helpers.ts';
import { adminQuery, bearer, DATA } from '../data/support.ts';
import { closeLabOrigins, FAST, labOrigin, type LabOrigin } from './lab.ts';

afterEach(closeLabOrigins);

const EU = 'eu-central-1';
// The shared test REGIONS give eu-central-1 no zone: its zone is its own name.
const ZONE = EU;
const STANDBY = DATA.pglite.standby?.[EU];
const ROLE = (DATA.pglite.regionDatabases[EU] as { role?: string }).role;

type Gateway = (path: string, init?: RequestInit) => Promise<Response>;

/** A gateway whose primary database is reached through `primary` (a lab origin) and, optionally, the real standby. */
function gateway(primary: LabOrigin, opts: { standby?: boolean; env?: Record<string, string> } = {}): Gateway {
  const app = createApp();
  // The edge plus the regional data Workers; the database settings go to eu-central-1's data Worker.
  const env = edgeWithDataWorkers({
    ...FAST,
    DATABASE_TIMEOUT_MS: '300',
    REGION_DATABASES: JSON.stringify({ [EU]: { primary: { url: 'postgres://gateway:s3cret-pw@db.eu.internal:5432/app', wsProxy: new URL(primary.url).host }, role: ROLE } }),
    ...(opts.standby ? { REGION_STANDBY_DATABASES: JSON.stringify({ [EU]: { ...STANDBY!.endpoint, zone: ZONE } }) } : {}),
    ...opts.env,
  });
  return async (path, init) => {
    const ctx = createExecutionContext();
    const res = await app.fetch(new Request(new URL(path, 'https://gateway.test'), init), env, ctx);
    await waitOnExecutionContext(ctx);
    return res;
  };
}

async function standbyTenant(): Promise<string> {
  const id = `ws_${crypto.randomUUID().replaceAll('-', '').slice(0, 16)}`;
  await adminQuery(STANDBY!.admin, 'INSERT INTO tenants (id, name) VALUES ($1, $2)', [id, `tenant ${id}`]);
  return id;
}

const standbyPages = (tenant: string) => adminQuery<{ id: string; title: string }>(STANDBY!.admin, 'SELECT id, title FROM pages WHERE tenant_id = $1', [tenant]);

async function post(gw: Gateway, tenant: string, page: Record<string, unknown>): Promise<Response> {
  return gw('/data/pages', { method: 'POST', headers: { ...(await bearer(tenant, EU)), 'content-type': 'application/json' }, body: JSON.stringify(page) });
}

describe('without a standby', { timeout: 30_000 }, () => {
  it('a primary whose proxy points at nothing: read → 503 database_unavailable with Retry-After, no secrets', async () => {
    const primary = await labOrigin();
    await primary.fault({ mode: 'refuse' });
    const res = await gateway(primary)('/data/pages', { headers: await bearer('ws_a', EU) });
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('5');
    const text = await res.text();
    expect(JSON.parse(text).error.code).toBe('database_unavailable');
    expect(text).not.toMatch(/s3cret|internal|postgres:|127\.0\.0\.1/);
  });

  it('a primary that hangs: read → 503 after DATABASE_TIMEOUT_MS, tried once (a hung database is not given a second deadline)', async () => {
    const primary = await labOrigin();
    await primary.fault({ mode: 'hang' });
    const res = await gateway(primary)('/data/pages', { headers: await bearer('ws_a', EU) });
    expect(res.status).toBe(503);
    expect((await errorBody(res)).code).toBe('database_unavailable');
    expect(res.headers.get('retry-after')).toBe('5');
    expect((await primary.seen()).length).toBe(1);
  });

  it('a write to a hanging primary is sent once and never again: 503', async () => {
    const primary = await labOrigin();
    await primary.fault({ mode: 'hang' });
    const res = await post(gateway(primary), 'ws_a', { title: 'once' });
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toMatch(/^\d+$/);
    expect((await primary.seen()).length).toBe(1);
  });

  it('once the circuit is open: 503 with the cool-down as Retry-After, and nothing is sent to the database', async () => {
    const primary = await labOrigin();
    await primary.fault({ mode: 'hang' });
    const gw = gateway(primary, { env: { BREAKER_FAILURE_THRESHOLD: '2', BREAKER_COOLDOWN_MS: '60000' } });
    const headers = await bearer('ws_a', EU);
    for (let i = 0; i < 2; i++) expect((await gw('/data/pages', { headers })).status).toBe(503);
    expect((await primary.seen()).length).toBe(2);
    const open = await gw('/data/pages', { headers });
    expect(open.status).toBe(503);
    expect((await errorBody(open)).code).toBe('database_unavailable');
    const retryAfter = Number(open.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThan(5); // the breaker's cool-down, not DB_RETRY_AFTER_SECONDS
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect((await post(gw, 'ws_a', { title: 'open' })).status).toBe(503);
    expect((await primary.seen()).length).toBe(2);
  });
});

const withStandby = STANDBY ? describe : describe.skip;
if (!STANDBY) console.warn('[skip] database failover tests: the data databases have no standby for eu-central-1');

withStandby('with a same-zone standby database', { timeout: 30_000 }, () => {
  it('a read fails over to the standby when the primary is unreachable', async () => {
    const tenant = await standbyTenant();
    const id = crypto.randomUUID();
    await adminQuery(STANDBY!.admin, 'INSERT INTO pages (id, tenant_id, region, title) VALUES ($1, $2, $3, $4)', [id, tenant, EU, 'on the standby']);
    const primary = await labOrigin();
    await primary.fault({ mode: 'hang' });
    const logs: string[] = [];
    vi.spyOn(console, 'log').mockImplementation((l: unknown) => void logs.push(String(l)));
    const res = await gateway(primary, { standby: true })(`/data/pages/${id}`, { headers: await bearer(tenant, EU) });
    vi.restoreAllMocks();
    expect(res.status).toBe(200);
    expect(res.headers.get('x-db-source')).toBe('standby');
    expect(((await res.json()) as { title: string }).title).toBe('on the standby');
    // The request's log line says the standby answered.
    const line = logs.map((l) => JSON.parse(l)).find((l) => l.msg === 'request' && l.path === `/data/pages/${id}`);
    expect(line?.upstream).toMatchObject({ kind: 'database', name: EU, target: 'standby' });
    expect((await primary.seen()).length).toBe(1);
  });

  it('a write whose primary attempt failed is not re-sent to the standby: 503, and the standby has no row', async () => {
    const tenant = await standbyTenant();
    const primary = await labOrigin();
    await primary.fault({ mode: 'hang' });
    const res = await post(gateway(primary, { standby: true }), tenant, { title: 'maybe committed on the primary' });
    expect(res.status).toBe(503);
    expect((await errorBody(res)).code).toBe('database_unavailable');
    expect((await primary.seen()).length).toBe(1);
    expect(await standbyPages(tenant)).toEqual([]);
  });

  it("writes go to the standby once the primary's circuit is open, without touching the primary", async () => {
    const tenant = await standbyTenant();
    const primary = await labOrigin();
    await primary.fault({ mode: 'refuse' });
    const gw = gateway(primary, { standby: true, env: { BREAKER_FAILURE_THRESHOLD: '2', BREAKER_COOLDOWN_MS: '60000' } });
    // Two failed writes open the primary's circuit; neither lands anywhere.
    for (let i = 0; i < 2; i++) expect((await post(gw, tenant, { title: `failed ${i}` })).status).toBe(503);
    expect(await standbyPages(tenant)).toEqual([]);
    // Now listening again: anything sent to the primary would be counted.
    await primary.fault({ mode: 'hang' });
    const id = crypto.randomUUID();
    const res = await post(gw, tenant, { id, title: 'while the primary circuit is open' });
    expect(res.status).toBe(201);
    expect(res.headers.get('x-db-source')).toBe('standby');
    expect(res.headers.get('x-db-bookmark')).toBeNull();
    expect(await standbyPages(tenant)).toEqual([{ id, title: 'while the primary circuit is open' }]);
    expect((await primary.seen()).length).toBe(0);
  });
});

/**
 * The data Worker itself failing, as the edge sees it through its service binding. A dead or hung
 * Worker behind a real binding cannot be produced inside one workerd test isolate, so these bindings
 * fail on purpose (and count their calls); everything else is the real edge.
 */
describe('the data Worker down or slow', { timeout: 30_000 }, () => {
  function edgeWith(binding: { fetch(req: Request): Promise<Response> }, env: Record<string, string> = {}): Gateway {
    const app = createApp();
    const e = { ...bindings, ...FAST, DATA_WORKERS: JSON.stringify({ [EU]: bindingName(EU) }), [bindingName(EU)]: binding, ...env };
    return async (path, init) => {
      const ctx = createExecutionContext();
      const res = await app.fetch(new Request(new URL(path, 'https://gateway.test'), init), e, ctx);
      await waitOnExecutionContext(ctx);
      return res;
    };
  }
  const NAMED = new RegExp(`${bindingName(EU)}|data-worker|internal|Error:|at [\\w.]+ \\(`);

  it('a binding that throws: 503 database_unavailable with Retry-After, no binding name or stack; the circuit opens per region', async () => {
    let calls = 0;
    const gw = edgeWith({ fetch: async () => { calls++; throw new Error(`${bindingName(EU)}: script not found`); } }, { BREAKER_FAILURE_THRESHOLD: '2', BREAKER_COOLDOWN_MS: '60000' });
    const headers = await bearer('ws_a', EU);
    for (let i = 0; i < 2; i++) {
      const res = await gw('/data/pages', { headers });
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toMatch(/^\d+$/);
      const text = await res.text();
      expect(JSON.parse(text).error.code).toBe('database_unavailable');
      expect(text).not.toMatch(NAMED);
    }
    expect(calls).toBe(2);
    const open = await gw('/data/pages', { headers });
    expect(open.status).toBe(503);
    expect(Number(open.headers.get('retry-after'))).toBeGreaterThan(5);
    expect(calls).toBe(2); // circuit open: the data Worker is not called at all
  });

  it("a data Worker failing one tenant's calls opens the circuit for that tenant only", async () => {
    const calls: string[] = [];
    const gw = edgeWith(
      {
        fetch: async (req) => {
          const tenant = req.headers.get('x-tenant-id') ?? '';
          calls.push(tenant);
          if (tenant === 'ws_a') throw new Error('connection reset');
          return Response.json([], { headers: { 'x-db-source': 'primary' } });
        },
      },
      { BREAKER_FAILURE_THRESHOLD: '2', BREAKER_COOLDOWN_MS: '60000' },
    );
    const a = await bearer('ws_a', EU);
    const b = await bearer('ws_b', EU);
    for (let i = 0; i < 4; i++) expect((await gw('/data/pages', { headers: a })).status).toBe(503);
    for (let i = 0; i < 3; i++) expect((await gw('/data/pages', { headers: b })).status).toBe(200);
    expect(calls).toEqual(['ws_a', 'ws_a', 'ws_b', 'ws_b', 'ws_b']);
  });

  it('a data Worker that does not answer in time: 504 database_timeout, the call aborted, a write never re-sent', async () => {
    let calls = 0;
    let aborted = 0;
    const hang = {
      fetch: (req: Request) => {
        calls++;
        return new Promise<Response>((_, reject) => req.signal.addEventListener('abort', () => { aborted++; reject(req.signal.reason); }));
      },
    };
    const gw = edgeWith(hang, { DATA_WORKER_TIMEOUT_MS: '200' });
    const res = await post(gw, 'ws_a', { title: 'slow' });
    expect(res.status).toBe(504);
    const text = await res.text();
    expect(JSON.parse(text).error.code).toBe('database_timeout');
    expect(text).not.toMatch(NAMED);
    expect([calls, aborted]).toEqual([1, 1]);
  });
});
