/**
 * Pacing (TENANT_PACING): within the binding's window, a tenant's admitted requests are spread over
 * the period, per isolate: `burst × limit` at once, then one every period ÷ limit; a request over the
 * pace waits for its turn up to maxWaitMs (not counted in flight meanwhile: nothing is sent yet), else
 * 429 rate_limited with the pace's RateLimit fields, and nothing is sent. `api` and `data` each have
 * their own pace.
 *
 * Most scenarios name the suite's binding (limit 1 000 000, never reached) with a small policy limit,
 * so that only the pacer can refuse or delay; the spent-turns one uses a real small binding. Timing
 * assertions are lower bounds (a paced request cannot go sooner than its turn) or orderings.
 */
import { afterEach, expect, it } from 'vitest';
import { errorBody, mintToken } from '../helpers.ts';
import { closeLabOrigins, euRegion, gatewayWith, labOrigin, type Gateway } from '../faults/lab.ts';
import { adminFor, adminQuery, availableBackends, bearer, callData, newTenant } from '../data/support.ts';

afterEach(closeLabOrigins);

const classes = (binding: string, limit: number) =>
  JSON.stringify(Object.fromEntries(['api', 'data', 'websocket-upgrade'].map((cls) => [cls, { tenant: { binding, limit, period: 10 } }])));
const auth = async (prefix: string) => ({ authorization: `Bearer ${await mintToken({ claims: { tenant_id: `${prefix}_${crypto.randomUUID().slice(0, 8)}` } })}` });
const timed = async (p: Promise<Response>, t0 = Date.now()) => {
  const res = await p;
  const body = await res.text();
  return { status: res.status, headers: res.headers, body, ms: Date.now() - t0, at: Date.now() };
};
const pathsSeen = async (origin: { seen(): Promise<Array<{ url: string }>> }) => (await origin.seen()).map((r) => new URL(r.url, 'http://x').pathname);

async function pacedGateway(env: Record<string, string>): Promise<{ gw: Gateway; origin: Awaited<ReturnType<typeof labOrigin>> }> {
  const origin = await labOrigin();
  const gw = gatewayWith({ REGIONS: euRegion(origin.url), TENANT_REFUSAL_DELAY_MS: '0', ...env });
  // Warm the key set with a tenant of its own, so the requests below meet the pacer together.
  expect((await gw('/api/warm', { headers: await auth('ws_warm') })).status).toBe(200);
  return { gw, origin };
}

it('spreads a burst: burst × limit at once, then one request every period ÷ limit, all served', async () => {
  // 20 per 10 s: one turn every 500 ms; burst 0.15 × 20 = 3 at once.
  const { gw, origin } = await pacedGateway({ TENANT_RATE_LIMITS: classes('TEST_SUITE_RATE_LIMITER', 20), TENANT_PACING: JSON.stringify({ burst: 0.15, maxWaitMs: 2000 }) });
  const headers = await auth('ws_burst');
  const t0 = Date.now();
  const answers = await Promise.all([1, 2, 3, 4, 5, 6].map((i) => timed(gw(`/api/p${i}`, { headers }), t0)));
  expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200, 200, 200]);
  const ms = answers.map((a) => a.ms).sort((a, b) => a - b);
  // The 4th, 5th and 6th waited for their turns (a few ms of slack for the clock's granularity).
  expect(ms[3]).toBeGreaterThanOrEqual(500 - 20);
  expect(ms[4]).toBeGreaterThanOrEqual(1000 - 20);
  expect(ms[5]).toBeGreaterThanOrEqual(1500 - 20);
  // The wait is reported (Server-Timing `pace`, and the log line's durations.paceMs): absent for the
  // three that went at once, about a turn, two and three for the others.
  const paced = answers.map((a) => Number(/(?:^|, )pace;dur=([\d.]+)/.exec(a.headers.get('server-timing') ?? '')?.[1] ?? 0)).sort((a, b) => a - b);
  expect(paced.slice(0, 3)).toEqual([0, 0, 0]);
  expect(paced[3]).toBeGreaterThanOrEqual(500 - 20);
  expect(paced[5]).toBeGreaterThanOrEqual(1500 - 20);
  expect((await pathsSeen(origin)).filter((p) => p !== '/api/warm')).toHaveLength(6);
});

it('refuses a request whose turn is further than maxWaitMs: 429 with Retry-After and the pace RateLimit fields, nothing sent; another tenant is served', async () => {
  // 5 per 10 s: one turn every 2 s; burst 0.6 × 5 = 3; a turn 2 s away is past the 200 ms wait.
  const { gw, origin } = await pacedGateway({ TENANT_RATE_LIMITS: classes('TEST_SUITE_RATE_LIMITER', 5), TENANT_PACING: JSON.stringify({ burst: 0.6, maxWaitMs: 200 }) });
  const loud = await auth('ws_loud');
  const answers = await Promise.all([1, 2, 3, 4, 5, 6].map((i) => timed(gw(`/api/loud-${i}`, { headers: loud }))));
  const served = answers.filter((a) => a.status === 200);
  const refused = answers.filter((a) => a.status === 429);
  expect(served).toHaveLength(3);
  expect(refused).toHaveLength(3);
  for (const r of refused) {
    expect(JSON.parse(r.body).error.code).toBe('rate_limited');
    expect(r.headers.get('retry-after')).toBe('2');
    expect(r.headers.get('ratelimit-policy')).toBe('"api-tenant-pace";q=3;w=6');
    expect(r.headers.get('ratelimit')).toBe('"api-tenant-pace";r=0;t=2');
  }
  // Another tenant has a pace of its own.
  const quiet = await auth('ws_quiet');
  expect((await gw('/api/quiet', { headers: quiet })).status).toBe(200);
  expect((await pathsSeen(origin)).filter((p) => p.startsWith('/api/loud-'))).toHaveLength(3);
});

it('"off" leaves only the window: the same burst is served at once', async () => {
  const { gw } = await pacedGateway({ TENANT_RATE_LIMITS: classes('TEST_SUITE_RATE_LIMITER', 5), TENANT_PACING: 'off' });
  const headers = await auth('ws_unpaced');
  const answers = await Promise.all([1, 2, 3, 4, 5, 6].map((i) => timed(gw(`/api/p${i}`, { headers }))));
  expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200, 200, 200]);
});

it('a request waiting for its turn holds no in-flight slot (it has no outbound connection yet); once sent it does', async () => {
  // 10 per 10 s: one turn a second, burst 1; waits of up to 3 s allowed; one request in flight at most.
  const { gw, origin } = await pacedGateway({ TENANT_RATE_LIMITS: classes('TEST_SUITE_RATE_LIMITER', 10), TENANT_PACING: JSON.stringify({ burst: 0.1, maxWaitMs: 3000 }), TENANT_MAX_IN_FLIGHT: '1', UPSTREAM_TIMEOUT_MS: '5000', UPSTREAM_RETRIES: '0' });
  const headers = await auth('ws_waiting');
  expect((await gw('/api/first', { headers })).status).toBe(200);
  // Two wait for their turns (1 s and 2 s away) at the same time: neither is refused as busy.
  const waited = await Promise.all(['a', 'b'].map((p) => timed(gw(`/api/then-${p}`, { headers }))));
  expect(waited.map((w) => w.status)).toEqual([200, 200]);
  expect(Math.max(...waited.map((w) => w.ms))).toBeGreaterThanOrEqual(2000 - 20);
  expect((await pathsSeen(origin)).filter((p) => p.startsWith('/api/then-'))).toHaveLength(2);
  // Past its turn, a request at a slow origin is in flight: the next one whose turn has come is busy.
  await origin.fault({ mode: 'latency', latencyMs: 1500 });
  await new Promise((r) => setTimeout(r, 1000));
  const slow = gw('/api/slow', { headers });
  await new Promise((r) => setTimeout(r, 1100));
  const busy = await gw('/api/busy', { headers });
  expect(busy.status).toBe(503);
  expect((await errorBody(busy)).code).toBe('tenant_busy');
  expect((await slow).status).toBe(200);
  expect(await pathsSeen(origin)).not.toContain('/api/busy');
});

it('a turn the binding then refuses stays spent: a client looping on the window\'s 429s cannot save up a burst', async () => {
  // The real test binding allows 6 per 10 s window (aligned to the clock); the policy claims 60, so
  // the pace is one turn per 167 ms, burst 6, and waits of at most 50 ms (slack for concurrent
  // requests, whose clocks in workerd each advance with their own I/O). Once the window's 6 are spent,
  // six requests at once each take a turn and are refused by the binding (api-tenant); their turns
  // stay spent, so the next request's turn is ~167 ms away and the pace refuses it (api-tenant-pace).
  for (let attempt = 0; attempt < 3; attempt++) {
    const window = Math.floor(Date.now() / 10_000);
    const { gw } = await pacedGateway({
      TENANT_RATE_LIMITS: classes('TEST_TENANT_RATE_LIMITER', 60),
      TENANT_PACING: JSON.stringify({ burst: 0.1, maxWaitMs: 50 }),
    });
    const headers = await auth('ws_looping');
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) {
      statuses.push((await gw(`/api/spend-${i}`, { headers })).status);
      await new Promise((r) => setTimeout(r, 200));
    }
    const together = await Promise.all([1, 2, 3, 4, 5, 6].map((i) => timed(gw(`/api/over-${i}`, { headers }))));
    const next = await timed(gw('/api/next', { headers }));
    if (Math.floor(Date.now() / 10_000) !== window) continue; // straddled a window: again, fresh tenant
    expect(statuses).toEqual([200, 200, 200, 200, 200, 200]);
    for (const a of together) {
      expect(a.status).toBe(429);
      expect(a.headers.get('ratelimit-policy')).toBe('"api-tenant";q=60;w=10');
    }
    expect(next.status).toBe(429);
    expect(next.headers.get('ratelimit-policy')).toBe('"api-tenant-pace";q=6;w=1');
    return;
  }
  throw new Error('could not run within one rate-limit window three times');
});

it('a pace refusal is held like every other refusal (TENANT_REFUSAL_DELAY_MS)', async () => {
  const { gw, origin } = await pacedGateway({
    TENANT_RATE_LIMITS: classes('TEST_SUITE_RATE_LIMITER', 5),
    TENANT_PACING: JSON.stringify({ burst: 0.2, maxWaitMs: 0 }),
    TENANT_REFUSAL_DELAY_MS: '300',
  });
  const headers = await auth('ws_held');
  expect((await gw('/api/first', { headers })).status).toBe(200);
  const refused = await timed(gw('/api/second', { headers }));
  expect(refused.status).toBe(429);
  expect(refused.headers.get('ratelimit-policy')).toBe('"api-tenant-pace";q=1;w=2');
  expect(refused.ms).toBeGreaterThanOrEqual(300 - 20);
  expect(await pathsSeen(origin)).not.toContain('/api/second');
});

for (const backend of availableBackends(['pglite'])) {
  it(`data (${backend}): the direct path is paced too, under its own class; a write over the pace → 429 "data-tenant-pace" and no query`, async () => {
    // A real tenant row, so the write would succeed if it got through.
    const tenant = await newTenant(backend, 'eu-central-1');
    const headers = { ...(await bearer(tenant, 'eu-central-1')), 'content-type': 'application/json' };
    // 5 per 10 s: one turn every 2 s; burst 0.6 × 5 = 3 at once; the next turn is ~2 s away, past the 200 ms wait.
    const env = { TENANT_RATE_LIMITS: classes('TEST_SUITE_RATE_LIMITER', 5), TENANT_PACING: JSON.stringify({ burst: 0.6, maxWaitMs: 200 }), TENANT_REFUSAL_DELAY_MS: '0' };
    const reads = await Promise.all([1, 2, 3].map(() => callData(backend, '/data/pages', { headers }, env)));
    for (const r of reads) {
      expect(r.status).toBe(200);
      await r.body?.cancel();
    }
    const title = `paced-${crypto.randomUUID()}`;
    const res = await callData(backend, '/data/pages', { method: 'POST', headers, body: JSON.stringify({ title, body: 'x' }) }, env);
    expect(res.status).toBe(429);
    expect((await errorBody(res)).code).toBe('rate_limited');
    expect(res.headers.get('ratelimit-policy')).toBe('"data-tenant-pace";q=3;w=6');
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(await adminQuery(adminFor(backend, 'eu-central-1'), 'SELECT id FROM pages WHERE title = $1', [title])).toEqual([]);
  });
}
