/** The noisy run's verdicts fire on what they are for, and only then. */
import { describe, expect, it } from 'vitest';
import { noisyViolations, percentile, type ConditionStats } from './noisy.ts';

const stats = (over: Partial<ConditionStats> = {}): ConditionStats => ({
  requests: 100, served: 100, successRate: 1, p50Ms: 10, p99Ms: 40, errors: {}, maxTenantRps: 2, ...over,
});
const noisy = (over: Partial<Parameters<typeof noisyViolations>[0]['noisy']> = {}) => ({ requests: 5000, rps: 400, statuses: { 200: 300, 429: 4700 }, limited: 4700, busy: 0, limitedWithoutHeaders: 0, ...over });

describe('noisyViolations', () => {
  it('passes a run that meets every target', () => {
    expect(noisyViolations({ others: { quiet: stats(), flood: stats({ p99Ms: 47 }) }, noisy: noisy() })).toEqual([]);
  });

  it('fails when another tenant got a 429 or a 503, with or without the flood', () => {
    expect(noisyViolations({ others: { quiet: stats({ errors: { '503 tenant_busy': 1 } }), flood: stats({ errors: { '429 rate_limited': 2, '502 bad_gateway': 1 } }) }, noisy: noisy() })).toEqual([
      'other tenants got 1 × 503 tenant_busy (quiet)',
      'other tenants got 2 × 429 rate_limited (flood)',
    ]);
  });

  it('allows 20 % or 5 ms over the quiet p99, whichever is larger', () => {
    const run = (q: number, f: number) => noisyViolations({ others: { quiet: stats({ p99Ms: q }), flood: stats({ p99Ms: f }) }, noisy: noisy() });
    expect(run(10, 15)).toEqual([]); // +5 ms floor
    expect(run(10, 15.1)).toHaveLength(1);
    expect(run(100, 120)).toEqual([]); // +20 %
    expect(run(100, 120.5)[0]).toMatch(/p99 with the flood 120\.5 ms > 120\.0 ms allowed/);
  });

  it('fails when the noisy tenant was never limited, its 429s lacked the headers, or it was not ten times as loud', () => {
    expect(noisyViolations({ others: { quiet: stats(), flood: stats() }, noisy: noisy({ limited: 0 }) })).toEqual(['the noisy tenant was never limited (no 429, no 503 tenant_busy)']);
    expect(noisyViolations({ others: { quiet: stats(), flood: stats() }, noisy: noisy({ limited: 0, busy: 10 }) })).toEqual([]);
    expect(noisyViolations({ others: { quiet: stats(), flood: stats() }, noisy: noisy({ limitedWithoutHeaders: 3 }) })).toHaveLength(1);
    expect(noisyViolations({ others: { quiet: stats(), flood: stats({ maxTenantRps: 50 }) }, noisy: noisy({ rps: 400 }) })[0]).toMatch(/less than 10 ×/);
  });
});

it('percentile: nearest rank', () => {
  const xs = Array.from({ length: 100 }, (_, i) => i + 1);
  expect(percentile(xs, 0.5)).toBe(50);
  expect(percentile(xs, 0.99)).toBe(99);
  expect(percentile([7], 0.99)).toBe(7);
  expect(percentile([], 0.5)).toBeNull();
});
