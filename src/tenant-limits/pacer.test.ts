import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TenantPacer } from './pacer.ts';

const rule = (burst: number, intervalMs: number, maxWaitMs: number) => ({ burst, intervalMs, maxWaitMs });

describe('TenantPacer', () => {
  it('admits `burst` at once, then one turn every interval, waiting up to maxWait, then refuses', () => {
    const pacer = new TenantPacer();
    const r = rule(3, 100, 250);
    const at0 = [0, 1, 2, 3, 4, 5].map(() => pacer.take('api/t1', r, 1000));
    expect(at0).toEqual([
      { admitted: true, waitMs: 0 },
      { admitted: true, waitMs: 0 },
      { admitted: true, waitMs: 0 },
      { admitted: true, waitMs: 100 },
      { admitted: true, waitMs: 200 },
      { admitted: false, retryAfterMs: 300 },
    ]);
    // A refused request takes no turn: 50 ms later the next turn is 250 ms away, within maxWait.
    expect(pacer.take('api/t1', r, 1050)).toEqual({ admitted: true, waitMs: 250 });
    // Another key (tenant or class) has a pace of its own.
    expect(pacer.take('api/t2', r, 1050)).toEqual({ admitted: true, waitMs: 0 });
    expect(pacer.take('data/t1', r, 1050)).toEqual({ admitted: true, waitMs: 0 });
  });

  it('requests spaced by the interval never wait, and a key whose turns have passed is forgotten', () => {
    const pacer = new TenantPacer();
    const r = rule(1, 100, 0);
    for (let t = 0; t < 1000; t += 100) expect(pacer.take('k', r, t)).toEqual({ admitted: true, waitMs: 0 });
    expect(pacer.take('k', r, 950)).toEqual({ admitted: false, retryAfterMs: 50 });
    expect(pacer.size).toBe(1);
    expect(pacer.take('k', r, 5000)).toEqual({ admitted: true, waitMs: 0 });
  });

  it('holds at most maxKeys keys, forgetting the least recently paced first', () => {
    const pacer = new TenantPacer(3);
    const r = rule(1, 1000, 0);
    for (const k of ['a', 'b', 'c']) pacer.take(k, r, 0);
    pacer.take('a', r, 1000); // a is paced again: now the most recent
    pacer.take('d', r, 1000); // full: b (least recent) is forgotten
    expect(pacer.size).toBe(3);
    expect(pacer.take('b', r, 1000)).toEqual({ admitted: true, waitMs: 0 }); // forgotten: a fresh key (c goes)
    expect(pacer.take('a', r, 1000)).toEqual({ admitted: false, retryAfterMs: 1000 });
    expect(() => new TenantPacer(0)).toThrow(/maxKeys/);
  });

  it('property: in any stretch of time, the admitted requests start at most burst + stretch ÷ interval times; a refusal means no turn within maxWait', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 20 }),
        fc.integer({ min: 1, max: 500 }),
        fc.integer({ min: 0, max: 2000 }),
        fc.array(fc.integer({ min: 0, max: 300 }), { minLength: 1, maxLength: 120 }),
        (burst, intervalMs, maxWaitMs, gaps) => {
          const pacer = new TenantPacer();
          const r = rule(burst, intervalMs, maxWaitMs);
          const starts: number[] = [];
          let now = 0;
          for (const gap of gaps) {
            now += gap;
            const d = pacer.take('k', r, now);
            if (d.admitted) {
              expect(d.waitMs).toBeLessThanOrEqual(maxWaitMs);
              starts.push(now + d.waitMs);
            } else expect(d.retryAfterMs).toBeGreaterThan(maxWaitMs);
          }
          starts.sort((a, b) => a - b);
          for (let i = 0; i < starts.length; i++) {
            for (let j = i; j < starts.length; j++) {
              expect(j - i + 1).toBeLessThanOrEqual(burst + (starts[j]! - starts[i]!) / intervalMs + 1e-9);
            }
          }
        },
      ),
    );
  });
});
