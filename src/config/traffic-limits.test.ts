import { describe, expect, it } from 'vitest';
import { parseConfig } from './index.ts';
import { DEFAULT_ADMIN_RATE_LIMIT, DEFAULT_TENANT_MAX_IN_FLIGHT, DEFAULT_TENANT_RATE_LIMITS } from './traffic-limits.ts';
import { VALID_ENV } from './valid-env.fixture.ts';

const policy = (limit: number, period: number, binding = 'TENANT_API_RATE_LIMITER') => ({ binding, limit, period });
const classes = (api: unknown) => ({ ...DEFAULT_TENANT_RATE_LIMITS, api });

function issues(env: Record<string, unknown>): string[] {
  const r = parseConfig({ ...VALID_ENV, ...env });
  return r.ok ? [] : r.error.issues;
}

describe('TENANT_RATE_LIMITS, ADMIN_RATE_LIMIT, TENANT_MAX_IN_FLIGHT', () => {
  it('default to the documented policies and bound', () => {
    const r = parseConfig({ ...VALID_ENV });
    if (!r.ok) throw r.error;
    expect(r.config.trafficLimits).toEqual({
      rate: DEFAULT_TENANT_RATE_LIMITS,
      admin: DEFAULT_ADMIN_RATE_LIMIT,
      maxInFlight: DEFAULT_TENANT_MAX_IN_FLIGHT,
      busyRetryAfterSeconds: 1,
      refusalDelayMs: 250,
      refusalsHeld: 1000,
      // 2 % of each request class's budget at once, then one turn per period ÷ limit, waits up to 1 s;
      // WebSocket upgrades are not paced.
      pace: {
        api: { burst: 20, intervalMs: 10, maxWaitMs: 1000 },
        data: { burst: 10, intervalMs: 20, maxWaitMs: 1000 },
      },
    });
  });

  it('refuse a refusal delay or hold count out of range, naming the field', () => {
    for (const [k, v] of [['TENANT_REFUSAL_DELAY_MS', '2001'], ['TENANT_REFUSAL_DELAY_MS', '-1'], ['TENANT_REFUSAL_DELAY_MS', 'soon'], ['TENANT_REFUSALS_HELD', '100001']] as const) {
      const r = parseConfig({ ...VALID_ENV, [k]: v });
      expect(r.ok, `${k}=${v}`).toBe(false);
      if (!r.ok) expect(r.error.issues.join('; ')).toContain(k);
    }
    const off = parseConfig({ ...VALID_ENV, TENANT_REFUSAL_DELAY_MS: '0' });
    if (!off.ok) throw off.error;
    expect(off.config.trafficLimits.refusalDelayMs).toBe(0);
  });

  it('accept a TOML table or a JSON string, with an optional user policy per class', () => {
    const value = classes({ tenant: policy(50, 10), user: policy(5, 60, 'USER_API_RATE_LIMITER') });
    for (const v of [value, JSON.stringify(value)]) {
      const r = parseConfig({ ...VALID_ENV, TENANT_RATE_LIMITS: v });
      if (!r.ok) throw r.error;
      expect(r.config.trafficLimits.rate?.api.user).toEqual(policy(5, 60, 'USER_API_RATE_LIMITER'));
    }
  });

  it('"off" turns a limit off explicitly (never by omission)', () => {
    const r = parseConfig({ ...VALID_ENV, TENANT_RATE_LIMITS: 'off', ADMIN_RATE_LIMIT: 'off' });
    if (!r.ok) throw r.error;
    expect(r.config.trafficLimits.rate).toBeNull();
    expect(r.config.trafficLimits.admin).toBeNull();
  });

  it.each([
    ['a period the binding does not support', classes({ tenant: policy(10, 30) }), 'TENANT_RATE_LIMITS'],
    ['a zero limit', classes({ tenant: policy(0, 10) }), 'TENANT_RATE_LIMITS'],
    ['a fractional limit', classes({ tenant: policy(1.5, 10) }), 'TENANT_RATE_LIMITS'],
    ['a binding name that is not one', classes({ tenant: policy(10, 10, 'lower-case') }), 'TENANT_RATE_LIMITS'],
    ['a missing class', { api: DEFAULT_TENANT_RATE_LIMITS.api, data: DEFAULT_TENANT_RATE_LIMITS.data }, 'TENANT_RATE_LIMITS'],
    ['an unknown class', { ...DEFAULT_TENANT_RATE_LIMITS, graphql: DEFAULT_TENANT_RATE_LIMITS.api }, 'TENANT_RATE_LIMITS'],
    ['an unknown field', classes({ tenant: { ...policy(10, 10), burst: 5 } }), 'TENANT_RATE_LIMITS'],
    ['a class without a tenant policy', classes({ user: policy(10, 10) }), 'TENANT_RATE_LIMITS'],
    ['not JSON', '{api:', 'TENANT_RATE_LIMITS'],
  ])('refuse %s, naming the field', (_what, value, field) => {
    const found = issues({ TENANT_RATE_LIMITS: value });
    expect(found.length).toBeGreaterThan(0);
    expect(found.every((i) => i.startsWith(field))).toBe(true);
  });

  it.each([['0'], ['10001'], ['many']])('refuse TENANT_MAX_IN_FLIGHT=%s (range 1–10000)', (v) => {
    expect(issues({ TENANT_MAX_IN_FLIGHT: v })[0]).toMatch(/^TENANT_MAX_IN_FLIGHT:/);
  });

  it('TENANT_PACING: a share of each class budget at once (at least 1), as a TOML table or JSON; "off" or rate limits off: not paced', () => {
    for (const v of [{ burst: 0.5, maxWaitMs: 0 }, '{"burst":0.5,"maxWaitMs":0}']) {
      const r = parseConfig({ ...VALID_ENV, TENANT_PACING: v, TENANT_RATE_LIMITS: classes({ tenant: policy(3, 60) }) });
      if (!r.ok) throw r.error;
      expect(r.config.trafficLimits.pace?.api).toEqual({ burst: 1, intervalMs: 20_000, maxWaitMs: 0 });
      expect(r.config.trafficLimits.pace?.data).toEqual({ burst: 250, intervalMs: 20, maxWaitMs: 0 });
      expect(r.config.trafficLimits.pace?.['websocket-upgrade']).toBeUndefined();
    }
    for (const env of [{ TENANT_PACING: 'off' }, { TENANT_RATE_LIMITS: 'off' }]) {
      const r = parseConfig({ ...VALID_ENV, ...env });
      if (!r.ok) throw r.error;
      expect(r.config.trafficLimits.pace).toBeNull();
    }
  });

  it.each([
    ['a zero burst (use "off")', { burst: 0, maxWaitMs: 1000 }],
    ['a burst over the whole budget', { burst: 1.5, maxWaitMs: 1000 }],
    ['a negative wait', { burst: 0.1, maxWaitMs: -1 }],
    ['a wait over 10 s', { burst: 0.1, maxWaitMs: 10_001 }],
    ['a fractional wait', { burst: 0.1, maxWaitMs: 1.5 }],
    ['a missing field', { burst: 0.1 }],
    ['an unknown field', { burst: 0.1, maxWaitMs: 10, queue: 5 }],
    ['not JSON', '{burst:'],
    ['another word than off', 'on'],
  ])('refuse TENANT_PACING with %s, naming the field', (_what, value) => {
    const found = issues({ TENANT_PACING: value });
    expect(found.length).toBeGreaterThan(0);
    expect(found.every((i) => i.startsWith('TENANT_PACING'))).toBe(true);
  });

  it('refuse an admin policy with a bad period', () => {
    expect(issues({ ADMIN_RATE_LIMIT: JSON.stringify(policy(5, 15, 'ADMIN_RATE_LIMITER')) })[0]).toMatch(/^ADMIN_RATE_LIMIT/);
  });
});
