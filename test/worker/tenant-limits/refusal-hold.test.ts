/**
 * Refusals are held before their answer (TENANT_REFUSAL_DELAY_MS), so a client that retries at once
 * in a loop is slowed to its connections ÷ the delay; at most TENANT_REFUSALS_HELD are held at once
 * per isolate, past that a refusal is answered at once. The bounds asserted are lower bounds of a
 * timer (a held answer cannot come sooner), and the cap by which answer comes first.
 */
import { afterEach, expect, it } from 'vitest';
import { mintToken } from '../helpers.ts';
import { closeLabOrigins, euRegion, gatewayWith, labOrigin } from '../faults/lab.ts';

afterEach(closeLabOrigins);

const HOLD_MS = 400;
const auth = async (prefix: string) => ({ authorization: `Bearer ${await mintToken({ claims: { tenant_id: `${prefix}_${crypto.randomUUID().slice(0, 8)}` } })}` });
const timed = async (p: Promise<Response>) => {
  const t0 = Date.now();
  const res = await p;
  const body = await res.text();
  return { res, body, ms: Date.now() - t0, at: Date.now() };
};

it('holds a 429 rate_limited for the configured delay, with its headers intact', async () => {
  const origin = await labOrigin();
  const limits = { api: { tenant: { binding: 'TEST_TENANT_RATE_LIMITER', limit: 6, period: 10 } }, data: { tenant: { binding: 'TEST_TENANT_DATA_RATE_LIMITER', limit: 6, period: 10 } }, 'websocket-upgrade': { tenant: { binding: 'TEST_USER_RATE_LIMITER', limit: 3, period: 10 } } };
  const gw = gatewayWith({ REGIONS: euRegion(origin.url), TENANT_RATE_LIMITS: JSON.stringify(limits), TENANT_REFUSAL_DELAY_MS: String(HOLD_MS), TENANT_PACING: 'off' });
  const headers = await auth('ws_loop');
  const limited: number[] = [];
  // 2 × limit + 1 in a row meet at least one 429 whatever the window boundaries.
  for (let i = 0; i < 13; i++) {
    const { res, ms } = await timed(gw('/api/pages', { headers }));
    if (res.status === 429) {
      limited.push(ms);
      expect(res.headers.get('retry-after')).toBe('10');
      expect(res.headers.get('ratelimit-policy')).toBe('"api-tenant";q=6;w=10');
    } else expect(res.status).toBe(200);
  }
  expect(limited.length).toBeGreaterThanOrEqual(1);
  for (const ms of limited) expect(ms).toBeGreaterThanOrEqual(HOLD_MS - 20);
  // Only the admitted requests reached the origin.
  expect((await origin.seen()).length).toBe(13 - limited.length);
});

it('holds a 503 tenant_busy too, and answers at once past TENANT_REFUSALS_HELD', async () => {
  const origin = await labOrigin();
  const gw = gatewayWith({
    REGIONS: euRegion(origin.url),
    UPSTREAM_TIMEOUT_MS: '8000',
    UPSTREAM_RETRIES: '0',
    TENANT_RATE_LIMITS: 'off',
    TENANT_MAX_IN_FLIGHT: '1',
    TENANT_REFUSAL_DELAY_MS: '1500',
    TENANT_REFUSALS_HELD: '1',
  });
  const headers = await auth('ws_busy');
  expect((await gw('/api/warm', { headers: await auth('ws_warm') })).status).toBe(200);
  await origin.fault({ mode: 'latency', latencyMs: 4000 });
  const slow = gw('/api/slow', { headers });
  await new Promise((r) => setTimeout(r, 150));
  // Two refusals at once: one is held (the cap is 1), the other is answered without waiting.
  const [a, b] = await Promise.all([timed(gw('/api/refused-1', { headers })), timed(gw('/api/refused-2', { headers }))]);
  for (const r of [a, b]) {
    expect(r.res.status).toBe(503);
    expect((JSON.parse(r.body) as { error: { code: string } }).error.code).toBe('tenant_busy');
  }
  const [first, second] = [a, b].sort((x, y) => x.at - y.at);
  expect(first!.ms).toBeLessThan(1000);
  expect(second!.ms).toBeGreaterThanOrEqual(1500 - 20);
  expect((await slow).status).toBe(200);
  expect((await origin.seen()).map((r) => new URL(r.url, 'http://x').pathname).sort()).toEqual(['/api/slow', '/api/warm']);
});
