/** The denial bounds on a controlled clock: per actor and reason, per tenant, per isolate, and the summary rows. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DENIALS_PER_ACTOR_PER_MINUTE, DENIALS_PER_ISOLATE_PER_MINUTE, DENIALS_PER_TENANT_PER_MINUTE, DenialLimiter } from './denials.ts';

const key = (actor: string, tenant = 'ws_a', reason = 'region_mismatch') => ({ actor, tenant, action: 'tenant.region_denied', reason });

describe('DenialLimiter', () => {
  it('writes 10 rows per actor and reason a minute, counts the rest, and summarises them once the minute is over', () => {
    let now = 1_000_000;
    const l = new DenialLimiter(() => now);
    const writes = Array.from({ length: 25 }, () => l.admit(key('u1')).write);
    expect(writes.filter(Boolean)).toHaveLength(DENIALS_PER_ACTOR_PER_MINUTE);
    // Another reason of the same actor has its own bound.
    expect(l.admit(key('u1', 'ws_a', 'region_unknown')).write).toBe(true);
    now += 60_000;
    const next = l.admit(key('u1'));
    expect(next.write).toBe(true);
    expect(next.summaries).toEqual([{ ...key('u1'), suppressed: 15, windowStart: 1_000_000, windowEnd: 1_060_000 }]);
    expect(l.sweep(now + 60_000)).toEqual([]); // nothing suppressed in the new minute: no summary
  });

  it('one tenant cannot use up the isolate budget; every suppressed denial is in exactly one summary', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 50 }), fc.integer({ min: 0, max: 5 })), { maxLength: 2000 }), (events) => {
        let now = 0;
        const l = new DenialLimiter(() => now);
        let written = 0;
        let suppressed = 0;
        const perTenant = new Map<number, number>();
        for (const [user, tenant] of events) {
          const r = l.admit(key(`u${user}`, `ws_${tenant}`));
          if (r.write) {
            written++;
            perTenant.set(tenant, (perTenant.get(tenant) ?? 0) + 1);
          }
          for (const s of r.summaries) suppressed += s.suppressed;
        }
        for (const s of l.sweep(60_000)) suppressed += s.suppressed;
        expect(written + suppressed).toBe(events.length);
        expect(written).toBeLessThanOrEqual(DENIALS_PER_ISOLATE_PER_MINUTE);
        for (const n of perTenant.values()) expect(n).toBeLessThanOrEqual(DENIALS_PER_TENANT_PER_MINUTE);
      }),
    );
  });
});
