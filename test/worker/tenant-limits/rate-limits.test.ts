/**
 * Per-tenant and per-user rate limits, with the Workers Rate Limiting binding that miniflare runs
 * for real here (vitest.config.ts TEST_RATE_LIMITERS: tenant 6 per 10 s, user 3 per 10 s, admin
 * 3 per 60 s). A limited request gets 429 rate_limited with Retry-After and the IETF RateLimit
 * fields, makes no subrequest (fail-closed egress spy) and no query (the limited write is absent
 * from the database); another tenant of the same region is unaffected; unverified requests are
 * never counted under the tenant they name.
 *
 * The binding counts in fixed windows aligned to the wall clock: a scenario that straddled a
 * window boundary runs again with fresh tenants (no timing assertions).
 */
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { errorBody, mintAdminToken, mintToken, ORIGINS } from '../helpers.ts';
import { expectRejected, gatewayWith, JWKS_URL, req, send, warmGateway, type Gateway } from '../security/support.ts';
import { adminFor, adminQuery, availableBackends, bearer, callData, newTenant } from '../data/support.ts';

const EU = ORIGINS['eu-central-1']!;
const TENANT_LIMIT = 6;
const USER_LIMIT = 3;
const ADMIN_LIMIT = 3;

const policy = (binding: string, limit: number, period = 10) => ({ binding, limit, period });
const LIMITS = {
  api: { tenant: policy('TEST_TENANT_RATE_LIMITER', TENANT_LIMIT) },
  data: { tenant: policy('TEST_TENANT_DATA_RATE_LIMITER', TENANT_LIMIT) },
  'websocket-upgrade': { tenant: policy('TEST_USER_RATE_LIMITER', USER_LIMIT) },
};
// Refusals answered at once here: holding them is refusal-hold.test.ts's subject, and it would only
// stretch these scenarios over window boundaries. Not paced: the binding's window is the subject here,
// pacing is pacing.test.ts's (at 6 per 10 s it would space these requests 1.7 s apart).
const ENV = { TENANT_RATE_LIMITS: JSON.stringify(LIMITS), ADMIN_RATE_LIMIT: JSON.stringify(policy('TEST_ADMIN_RATE_LIMITER', ADMIN_LIMIT, 60)), TENANT_REFUSAL_DELAY_MS: '0', TENANT_PACING: 'off' };
// Keys fetched once (the warm-up request is tenant ws_alpha's, never a tenant below).
let gw: Gateway;
beforeAll(async () => {
  gw = await warmGateway(ENV);
});

const uid = () => crypto.randomUUID().replace(/-/g, '').slice(0, 12);
const windowOf = (period: number) => Math.floor(Date.now() / (period * 1000));

/** Runs the scenario with fresh keys until it starts and ends in one window (at most 3 times). */
async function inOneWindow(period: number, scenario: () => Promise<void>): Promise<void> {
  for (let attempt = 0; attempt < 3; attempt++) {
    const start = windowOf(period);
    await scenario().catch((err) => {
      if (windowOf(period) === start) throw err;
    });
    if (windowOf(period) === start) return;
  }
  throw new Error('could not run within one rate-limit window three times');
}

async function tenantToken(tenant: string, sub = 'user-1', region = 'eu-central-1'): Promise<string> {
  return mintToken({ claims: { sub, tenant_id: tenant, tenant_region: region } });
}

const apiGet = (token: string) => req('/api/pages', { headers: { authorization: `Bearer ${token}` } });

function expectLimitHeaders(res: Response, name: string, limit: number, period: number): void {
  expect(res.headers.get('retry-after')).toBe(String(period));
  expect(res.headers.get('ratelimit-policy')).toBe(`"${name}";q=${limit};w=${period}`);
  expect(res.headers.get('ratelimit')).toBe(`"${name}";r=0;t=${period}`);
}

describe('per tenant, api class', () => {
  it(`the ${TENANT_LIMIT + 1}th request of a tenant within a window → 429 with Retry-After and RateLimit fields, nothing forwarded; another tenant of the region is served`, async () => {
    await inOneWindow(10, async () => {
      const noisy = await tenantToken(`ws_noisy_${uid()}`);
      const quiet = await tenantToken(`ws_quiet_${uid()}`);
      const statuses: number[] = [];
      for (let i = 0; i < TENANT_LIMIT + 3; i++) {
        const out = await send(gw, apiGet(noisy), [EU]);
        statuses.push(out.res.status);
        if (i < TENANT_LIMIT) {
          expect(out.res.status, `request ${i + 1}`).toBe(200);
          expect(out.egress.length).toBe(1);
        } else {
          expectRejected(out, { status: 429, code: 'rate_limited' });
          expectLimitHeaders(out.res, 'api-tenant', TENANT_LIMIT, 10);
        }
        // The quiet tenant sends one for every two of the noisy one's: never over its own budget.
        if (i % 2 === 0) expect((await send(gw, apiGet(quiet), [EU])).res.status, `quiet request at ${i}`).toBe(200);
      }
      expect(statuses.filter((s) => s === 429).length).toBe(3);
    });
  });

  it('whatever the window boundaries, 2 × limit + 1 requests in a row meet at least one 429 (and never more than 2 × limit are served)', async () => {
    const token = await tenantToken(`ws_burst_${uid()}`);
    let served = 0;
    let limited = 0;
    for (let i = 0; i < 2 * TENANT_LIMIT + 1; i++) {
      const { res } = await send(gw, apiGet(token), [EU]);
      if (res.status === 200) served++;
      else if (res.status === 429) limited++;
    }
    expect(limited).toBeGreaterThanOrEqual(1);
    expect(served).toBeLessThanOrEqual(2 * TENANT_LIMIT);
  });

  it('requests with a bad token are refused before the limiter: they do not use up the tenant budget they name', async () => {
    await inOneWindow(10, async () => {
      const tenant = `ws_forged_${uid()}`;
      const good = await tenantToken(tenant);
      const [h, p] = good.split('.');
      const forged = `${h}.${p}.${'A'.repeat(86)}`;
      for (let i = 0; i < TENANT_LIMIT * 3; i++) {
        const out = await send(gw, apiGet(forged));
        expectRejected(out, { status: 401, code: 'invalid_token' });
      }
      for (let i = 0; i < TENANT_LIMIT; i++) expect((await send(gw, apiGet(good), [EU])).res.status, `valid request ${i + 1}`).toBe(200);
    });
  });
});

describe('a limited request is logged and counted under its tenant', () => {
  it('its log line names the tenant and rate_limited, and /admin/status.json lists the tenant with its 429s', async () => {
    const tenant = `ws_counted_${uid()}`;
    const token = await tenantToken(tenant);
    const lines: string[] = [];
    const spy = vi.spyOn(console, 'warn').mockImplementation((...args: unknown[]) => void lines.push(args.map(String).join(' ')));
    let limited = 0;
    try {
      for (let i = 0; i < 2 * TENANT_LIMIT + 1; i++) if ((await send(gw, apiGet(token), [EU])).res.status === 429) limited++;
    } finally {
      spy.mockRestore();
    }
    expect(limited).toBeGreaterThanOrEqual(1);
    type Line = { tenant?: string; region?: string; status?: number; upstream?: unknown; error?: { code: string; detail?: string } };
    const logged = lines.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Line).filter((l) => l.error?.code === 'rate_limited');
    expect(logged.length).toBe(limited);
    for (const l of logged) {
      expect(l).toMatchObject({ tenant, region: 'eu-central-1', status: 429, error: { detail: 'tenant rate limit (api)' } });
      expect(l.upstream, 'a limited request has no upstream').toBeUndefined();
    }

    const admin = await mintAdminToken({ sub: `status-${uid()}` });
    const res = await gw(req('/admin/status.json', { headers: { authorization: `Bearer ${admin}` } }));
    expect(res.status).toBe(200);
    const status = (await res.json()) as { limitedTenants: Array<{ tenant: string; rateLimited: number; busy: number }> };
    expect(status.limitedTenants.find((t) => t.tenant === tenant)).toMatchObject({ region: 'eu-central-1', rateLimited: limited, busy: 0 });
    // An admin of another region does not see this eu-central-1 tenant.
    const usAdmin = await mintAdminToken({ sub: `status-us-${uid()}`, regions: ['us-east-1'] });
    const scoped = (await (await gw(req('/admin/status.json', { headers: { authorization: `Bearer ${usAdmin}` } }))).json()) as typeof status;
    expect(scoped.limitedTenants.map((t) => t.tenant)).not.toContain(tenant);
  });
});

describe('per user within the tenant', () => {
  // The tenant budget is wrangler.toml's (300 per 10 s), so only the user policy can trigger here.
  let perUser: Gateway;
  beforeAll(async () => {
    perUser = await warmGateway({
      TENANT_RATE_LIMITS: JSON.stringify({ ...LIMITS, api: { tenant: policy('TENANT_API_RATE_LIMITER', 300), user: policy('TEST_USER_RATE_LIMITER', USER_LIMIT) } }),
      TENANT_PACING: 'off',
    });
  });

  it(`a user's ${USER_LIMIT + 1}th request → 429 under the user policy; another user of the same tenant, and the same user id in another tenant, are served`, async () => {
    await inOneWindow(10, async () => {
      const tenant = `ws_users_${uid()}`;
      const alice = await tenantToken(tenant, 'alice');
      const bob = await tenantToken(tenant, 'bob');
      const aliceElsewhere = await tenantToken(`ws_other_${uid()}`, 'alice');
      for (let i = 0; i < USER_LIMIT; i++) expect((await send(perUser, apiGet(alice), [EU])).res.status).toBe(200);
      const out = await send(perUser, apiGet(alice), [EU]);
      expectRejected(out, { status: 429, code: 'rate_limited' });
      expectLimitHeaders(out.res, 'api-user', USER_LIMIT, 10);
      expect((await send(perUser, apiGet(bob), [EU])).res.status).toBe(200);
      expect((await send(perUser, apiGet(aliceElsewhere), [EU])).res.status).toBe(200);
    });
  });
});

describe('route classes have their own budgets', () => {
  it('a WebSocket upgrade under /api/* counts in the websocket-upgrade class, not in api', async () => {
    await inOneWindow(10, async () => {
      const token = await tenantToken(`ws_sockets_${uid()}`);
      // Use up the websocket-upgrade budget (3) with upgrades the origin never sees: each is limited
      // or forwarded; forwarded ones are closed at once.
      const upgrade = () =>
        req('/api/socket', { headers: { authorization: `Bearer ${token}`, upgrade: 'websocket', connection: 'Upgrade', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==' } });
      const statuses: number[] = [];
      for (let i = 0; i < USER_LIMIT + 1; i++) {
        const out = await send(gw, upgrade(), [EU]);
        statuses.push(out.res.status);
        out.res.webSocket?.accept();
        out.res.webSocket?.close();
        if (i === USER_LIMIT) {
          expectRejected(out, { status: 429, code: 'rate_limited' });
          expectLimitHeaders(out.res, 'websocket-upgrade-tenant', USER_LIMIT, 10);
        }
      }
      expect(statuses.slice(0, USER_LIMIT).every((s) => s !== 429), JSON.stringify(statuses)).toBe(true);
      // Plain API calls of the same tenant still have their own budget.
      expect((await send(gw, apiGet(token), [EU])).res.status).toBe(200);
    });
  });

  for (const backend of availableBackends(['pglite'])) {
    it(`data (${backend}): a limited POST /data/pages → 429 and the row is not written (no query); api is a separate budget`, async () => {
      await inOneWindow(10, async () => {
        // A real tenant row, so the write would succeed if it got through.
        const tenant = await newTenant(backend, 'eu-central-1');
        const auth = await bearer(tenant, 'eu-central-1');
        const headers = { ...auth, 'content-type': 'application/json' };
        const env = { TENANT_RATE_LIMITS: JSON.stringify(LIMITS), TENANT_PACING: 'off' };
        for (let i = 0; i < TENANT_LIMIT; i++) {
          const res = await callData(backend, '/data/pages', { headers }, env);
          expect(res.status, `read ${i + 1}`).toBe(200);
          await res.body?.cancel();
        }
        const title = `limited-${uid()}`;
        const res = await callData(backend, '/data/pages', { method: 'POST', headers, body: JSON.stringify({ title, body: 'x' }) }, env);
        expect(res.status).toBe(429);
        expect((await errorBody(res)).code).toBe('rate_limited');
        expectLimitHeaders(res, 'data-tenant', TENANT_LIMIT, 10);
        const rows = await adminQuery(adminFor(backend, 'eu-central-1'), 'SELECT id FROM pages WHERE title = $1', [title]);
        expect(rows).toEqual([]);
        expect((await send(gw, apiGet(auth.authorization!.slice(7)), [EU])).res.status).toBe(200);
      });
    });
  }
});

describe('admin tokens', () => {
  it(`have their own limit per subject: the ${ADMIN_LIMIT + 1}th admin request within a window → 429 before any admin query`, async () => {
    await inOneWindow(60, async () => {
      const sub = `admin-${uid()}`;
      const admin = await mintAdminToken({ sub });
      const call = () => req('/admin/pages', { headers: { authorization: `Bearer ${admin}` } });
      // No controller database is configured here: an admitted request stops at 503 before any query.
      for (let i = 0; i < ADMIN_LIMIT; i++) expectRejected(await send(gw, call()), { status: 503, code: 'service_unavailable' });
      const out = await send(gw, call());
      expectRejected(out, { status: 429, code: 'rate_limited' });
      expectLimitHeaders(out.res, 'admin', ADMIN_LIMIT, 60);
      // Another admin has a budget of its own.
      const other = await mintAdminToken({ sub: `admin-${uid()}` });
      expectRejected(await send(gw, req('/admin/pages', { headers: { authorization: `Bearer ${other}` } })), { status: 503, code: 'service_unavailable' });
    });
  });
});

describe('configuration', () => {
  it('a policy naming a binding that is not there fails closed with config_invalid, and nothing is forwarded', async () => {
    const broken = gatewayWith({ TENANT_RATE_LIMITS: JSON.stringify({ ...LIMITS, api: { tenant: policy('NO_SUCH_RATE_LIMITER', 5) } }) });
    const out = await send(broken, apiGet(await tenantToken(`ws_cfg_${uid()}`)), [JWKS_URL]);
    expect(out.egress.filter((e) => e.url !== JWKS_URL)).toEqual([]);
    expectRejected({ ...out, egress: [] }, { status: 500, code: 'config_invalid' });
    expect(JSON.parse(out.text).error.message).toContain('TENANT_RATE_LIMITS.api.tenant');
  });
});
