/** The noisy run's verdicts fire on what they are for, and only then. */
import { describe, expect, it, vi } from 'vitest';
import { freePort } from '../ports.ts';
import { dbArg, noisyCli, noisyViolations, NoisyOptionError, pacingArg, percentile, runNoisy, serverTimingDur, slowestPhase, type ConditionStats, type NoisyCounts } from './noisy.ts';

const stats = (over: Partial<ConditionStats> = {}): ConditionStats => ({
  requests: 100, served: 100, successRate: 1, p50Ms: 10, p99Ms: 40, p99ByPath: { api: 40, data: 40, write: 40 }, errors: {}, maxTenantRps: 2, p99ByRegion: { noisyRegion: 40, otherRegions: 40 }, slowestInFirstSecond: { count: 0, of: 1 }, p99ByPhase: [40], slowestPhase: null, slowestSplit: { gatewayMs: null, upstreamMs: null, outsideMs: null }, ...over,
});
const noisy = (over: Partial<NoisyCounts> = {}): NoisyCounts => ({ requests: 5000, rps: 400, servedRps: 30, p50Ms: 20, statuses: { 200: 300, 429: 4700 }, limited: 4700, busy: 0, limitedWithoutHeaders: 0, connectionsOpened: 8, ...over });
const control = (over: Partial<NoisyCounts> = {}): NoisyCounts => ({ requests: 270, rps: 27, servedRps: 27, p50Ms: 15, statuses: { 200: 270 }, limited: 0, busy: 0, limitedWithoutHeaders: 0, connectionsOpened: 2, ...over });
const run = (o: { quiet?: Partial<ConditionStats>; busy?: Partial<ConditionStats>; flood?: Partial<ConditionStats>; noisy?: Partial<NoisyCounts>; control?: Partial<NoisyCounts> } = {}) =>
  noisyViolations({ others: { quiet: stats(o.quiet), busy: stats(o.busy), flood: stats(o.flood) }, noisy: noisy(o.noisy), control: control(o.control), budgetRps: 30 });

describe('noisyViolations', () => {
  it('passes a run that meets every target', () => {
    expect(run({ flood: { p99Ms: 47 } })).toEqual([]);
  });

  it('fails when another tenant got a 429 or a 503, in any condition', () => {
    expect(run({ quiet: { errors: { '503 tenant_busy': 1 } }, busy: { errors: { '503 service_unavailable': 4 } }, flood: { errors: { '429 rate_limited': 2, '502 bad_gateway': 1 } } })).toEqual([
      'other tenants got 1 × 503 tenant_busy (quiet)',
      'other tenants got 4 × 503 service_unavailable (busy)',
      'other tenants got 2 × 429 rate_limited (flood)',
    ]);
  });

  it('allows 20 % or 5 ms over the quiet p99, whichever is larger; the busy condition is not the baseline', () => {
    const p99 = (q: number, f: number) => run({ quiet: { p99Ms: q }, busy: { p99Ms: f }, flood: { p99Ms: f } });
    expect(p99(10, 15)).toEqual([]); // +5 ms floor
    expect(p99(10, 15.1)).toHaveLength(1);
    expect(p99(100, 120)).toEqual([]); // +20 %
    expect(p99(100, 120.5)[0]).toMatch(/p99 with the flood 120\.5 ms > 120\.0 ms allowed/);
  });

  it('fails when the noisy tenant was never limited, its 429s lacked the headers, or it was not ten times as loud', () => {
    expect(run({ noisy: { limited: 0 } })[0]).toMatch(/^the noisy tenant was not limited: no 429, no 503 tenant_busy, and not held to its budget's pace/);
    expect(run({ noisy: { limited: 0, busy: 10 } })).toEqual([]);
    // Paced instead of refused: served at its budget while its requests waited for their turns.
    expect(run({ noisy: { limited: 0, servedRps: 31, p50Ms: 250 } })).toEqual([]);
    // Waiting, but served faster than its budget (the pace did not hold it), or at its budget without waiting: not limited.
    expect(run({ noisy: { limited: 0, servedRps: 60, p50Ms: 250 } })).toHaveLength(1);
    expect(run({ noisy: { limited: 0, servedRps: 30, p50Ms: 20 } })).toHaveLength(1);
    expect(run({ noisy: { limitedWithoutHeaders: 3 } })).toHaveLength(1);
    expect(run({ busy: { maxTenantRps: 50 } })[0]).toMatch(/less than 10 ×/);
  });

  it('fails when the control tenant, within its budget, was limited (then the control says nothing)', () => {
    expect(run({ control: { limited: 2 } })).toEqual(['the control is not one: the tenant within its budget got 2 × 429']);
  });
});

it('percentile: nearest rank', () => {
  const xs = Array.from({ length: 100 }, (_, i) => i + 1);
  expect(percentile(xs, 0.5)).toBe(50);
  expect(percentile(xs, 0.99)).toBe(99);
  expect(percentile([7], 0.99)).toBe(7);
  expect(percentile([], 0.5)).toBeNull();
});

it('slowestPhase: the phase holding most of the slowest 1 %, the earliest of a tie', () => {
  // 400 served: the slowest 1 % is the 4 slowest.
  const served = Array.from({ length: 400 }, (_, i) => ({ ms: 10 + (i % 7), phase: i % 6 }));
  expect(slowestPhase([...served, { ms: 90, phase: 5 }, { ms: 80, phase: 5 }, { ms: 70, phase: 2 }, { ms: 60, phase: 5 }])).toEqual({ phase: 5, count: 3, of: 5 });
  expect(slowestPhase([...served, { ms: 90, phase: 4 }, { ms: 80, phase: 1 }, { ms: 70, phase: 1 }, { ms: 60, phase: 4 }])).toEqual({ phase: 1, count: 2, of: 5 });
  expect(slowestPhase([{ ms: 5, phase: 3 }])).toEqual({ phase: 3, count: 1, of: 1 });
  expect(slowestPhase([])).toBeNull();
});

it('serverTimingDur: a metric\'s dur from a Server-Timing value, null when absent or not a number', () => {
  const v = 'verify;dur=0.4, pace;dur=0, upstream;dur=9.5, total;dur=12';
  expect(serverTimingDur(v, 'total')).toBe(12);
  expect(serverTimingDur(v, 'upstream')).toBe(9.5);
  expect(serverTimingDur(v, 'pace')).toBe(0);
  expect(serverTimingDur('total;desc="x";dur=3', 'total')).toBe(3);
  expect(serverTimingDur('totals;dur=3', 'total')).toBeNull();
  expect(serverTimingDur('total;dur=abc', 'total')).toBeNull();
  expect(serverTimingDur(undefined, 'total')).toBeNull();
});

it('--pacing: "off" or the gateway\'s TENANT_PACING shape, anything else refused before the run starts', () => {
  expect(pacingArg('off')).toBe('off');
  expect(pacingArg('{"burst":0.1,"maxWaitMs":500}')).toBe('{"burst":0.1,"maxWaitMs":500}');
  for (const bad of ['on', '{"burst":0,"maxWaitMs":500}', '{"burst":0.1}', '{burst:']) expect(() => pacingArg(bad)).toThrow(/^--pacing must be/);
});

it('--db: "postgres" or "pglite", anything else refused before the run starts', () => {
  expect(dbArg('postgres')).toBe('postgres');
  expect(dbArg('pglite')).toBe('pglite');
  for (const bad of ['', 'PGlite', 'postgresql', 'sqlite']) expect(() => dbArg(bad)).toThrow(NoisyOptionError);
});

describe('with no PostgreSQL where the run would put its world', () => {
  it('refuses to start, naming the address and both ways out, and starts nothing', async () => {
    const pgUrl = `postgres://postgres@127.0.0.1:${await freePort()}/postgres`;
    const logged: string[] = [];
    const err = await runNoisy({ db: 'postgres', pgUrl, log: (m) => logged.push(m) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NoisyOptionError);
    expect((err as Error).message).toMatch(/nothing accepts connections at 127\.0\.0\.1:\d+ \(as given\): .*set LOCAL_PG_URL .*--db pglite/);
    expect(logged).toEqual([]);
  });

  it('the CLI prints the reason and exits 2 (1 is a missed target)', async () => {
    const saved = process.env.LOCAL_PG_URL;
    process.env.LOCAL_PG_URL = `postgres://postgres@127.0.0.1:${await freePort()}/postgres`;
    const spy = vi.spyOn(console, 'error').mockImplementation(() => {});
    let errors: unknown[] = [];
    try {
      // The CLI's default database is read when it runs, so LOCAL_PG_URL set here counts.
      expect(await noisyCli(['--duration', '3', '--phases', '3'])).toBe(2);
      expect(await noisyCli(['--db', 'mysql'])).toBe(2);
      expect(await noisyCli(['--dbs', 'pglite'])).toBe(2);
      expect(await noisyCli(['--data-pool', 'no'])).toBe(2);
      errors = spy.mock.calls.map((c) => c[0]);
    } finally {
      spy.mockRestore();
      if (saved === undefined) delete process.env.LOCAL_PG_URL;
      else process.env.LOCAL_PG_URL = saved;
    }
    expect(errors[0]).toMatch(/^npm run load -- --noisy: the noisy run's world is on PostgreSQL by default, and nothing accepts connections at 127\.0\.0\.1:\d+ \(LOCAL_PG_URL\)/);
    expect(errors[1]).toMatch(/^npm run load -- --noisy: --db must be "postgres"/);
    expect(errors[2]).toMatch(/^npm run load -- --noisy: Unknown option '--dbs'/);
    expect(errors[3]).toBe('npm run load -- --noisy: --data-pool must be "on" or "off" (got "no")');
  });
});
