import { describe, expect, it } from 'vitest';
import type { RequestRecord } from './record.ts';
import { BUCKET_SECONDS, RECENT_DECISIONS, RecentTraffic, WINDOW_BUCKETS } from './recent.ts';

function rec(over: Partial<RequestRecord> = {}): RequestRecord {
  return {
    ts: new Date().toISOString(), requestId: 'r', traceId: 't', spanId: 's', parentSpanId: undefined, method: 'GET',
    route: '/api/*', path: '/api/pages', tenant: 'ws', region: 'eu-central-1', upstreamKind: 'region', upstreamName: 'eu-central-1', upstreamTarget: 'primary', upstreamAttempts: 1,
    status: 200, errorCode: undefined, errorDetail: undefined, verifyMs: 1, paceMs: undefined, upstreamMs: 2, totalMs: 4, internal: false, ...over,
  };
}

describe('RecentTraffic', () => {
  it('counts per region in time buckets and forgets what left the window', () => {
    let now = 1_000_000_000_000;
    const r = new RecentTraffic(() => now);
    r.record(rec());
    r.record(rec({ status: 502, totalMs: 10 }));
    now += BUCKET_SECONDS * 1000;
    r.record(rec({ region: 'us-east-1', upstreamName: 'us-east-1', status: 404 }));
    let eu = r.traffic().find((s) => s.name === 'eu-central-1')!;
    expect(eu).toMatchObject({ total: 2, serverErrors: 1, clientErrors: 0, avgMs: 7 });
    expect(eu.buckets).toHaveLength(WINDOW_BUCKETS);
    expect(eu.buckets.at(-2)!.count).toBe(2);
    expect(eu.buckets.at(-1)!.count).toBe(0);
    expect(r.traffic().find((s) => s.name === 'us-east-1')).toMatchObject({ total: 1, clientErrors: 1 });
    // A full window later the old bucket is gone, even though its ring slot was never overwritten.
    now += WINDOW_BUCKETS * BUCKET_SECONDS * 1000;
    eu = r.traffic().find((s) => s.name === 'eu-central-1')!;
    expect(eu.total).toBe(0);
    expect(eu.avgMs).toBeNull();
  });

  it('lists configured regions with no traffic, and skips internal requests', () => {
    const r = new RecentTraffic();
    r.record(rec({ internal: true }));
    expect(r.traffic(['ap-southeast-2']).map((s) => [s.name, s.total])).toEqual([['ap-southeast-2', 0]]);
    expect(r.latestDecisions()).toEqual([]);
    expect(r.served).toBe(1);
  });

  it('keeps the latest decisions, newest first, bounded', () => {
    const r = new RecentTraffic();
    for (let i = 0; i < RECENT_DECISIONS + 7; i++) r.record(rec({ requestId: `r${i}` }));
    const d = r.latestDecisions();
    expect(d).toHaveLength(RECENT_DECISIONS);
    expect(d[0]!.requestId).toBe(`r${RECENT_DECISIONS + 6}`);
    expect(d.at(-1)!.requestId).toBe('r7');
  });
});

describe('RecentTraffic: tenants refused by their limits', () => {
  it('counts 429 rate_limited and 503 tenant_busy per tenant over the window, most refused first, and forgets them after it', () => {
    let now = 1_000_000_000_000;
    const r = new RecentTraffic(() => now);
    for (let i = 0; i < 3; i++) r.record(rec({ tenant: 'ws_noisy', status: 429, errorCode: 'rate_limited' }));
    r.record(rec({ tenant: 'ws_noisy', status: 503, errorCode: 'tenant_busy' }));
    r.record(rec({ tenant: 'ws_other', status: 429, errorCode: 'rate_limited' }));
    // Other refusals and successes are not tenant limits.
    r.record(rec({ tenant: 'ws_calm', status: 503, errorCode: 'service_unavailable' }));
    r.record(rec({ tenant: 'ws_calm' }));
    expect(r.limitedTenants().map(({ tenant, rateLimited, busy }) => ({ tenant, rateLimited, busy }))).toEqual([
      { tenant: 'ws_noisy', rateLimited: 3, busy: 1 },
      { tenant: 'ws_other', rateLimited: 1, busy: 0 },
    ]);
    now += WINDOW_BUCKETS * BUCKET_SECONDS * 1000;
    expect(r.limitedTenants()).toEqual([]);
  });

  it('holds a bounded number of tenants: past the bound, new ones are counted under "(other)" until old ones leave the window', async () => {
    const { MAX_LIMITED_TENANTS, OTHER_TENANTS } = await import('./limited-tenants.ts');
    let now = 1_000_000_000_000;
    const r = new RecentTraffic(() => now);
    for (let i = 0; i < MAX_LIMITED_TENANTS + 5; i++) r.record(rec({ tenant: `ws_${i}`, status: 429, errorCode: 'rate_limited' }));
    const listed = r.limitedTenants();
    expect(listed.length).toBeLessThanOrEqual(MAX_LIMITED_TENANTS);
    expect(listed.reduce((n, t) => n + t.rateLimited, 0)).toBe(MAX_LIMITED_TENANTS + 5);
    expect(listed.find((t) => t.tenant === OTHER_TENANTS)?.rateLimited).toBe(MAX_LIMITED_TENANTS + 5 - (MAX_LIMITED_TENANTS - 1));
    now += WINDOW_BUCKETS * BUCKET_SECONDS * 1000;
    r.record(rec({ tenant: 'ws_new', status: 429, errorCode: 'rate_limited' }));
    expect(r.limitedTenants().map((t) => t.tenant)).toEqual(['ws_new']);
  });
});
