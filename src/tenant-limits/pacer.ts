/**
 * Pacing of a tenant's admitted requests within one isolate: the Rate Limiting binding says how many
 * a tenant may send per window, but a fixed window admits all of them at once (a flood gets its
 * whole 10 s budget in its first second, a burst the other tenants pay for in latency). The pacer
 * spreads them: `burst` requests at once, then one every `period ÷ limit`; a request over the pace
 * waits for its turn when that is at most `maxWaitMs` away, else it is refused.
 *
 * It is a GCRA (generic cell rate algorithm, the token bucket written as one timestamp per key): the
 * theoretical arrival time `tat` of the key's next request. A request at `now` may go at
 * `max(now, tat − tolerance)`, where `tolerance = (burst − 1) × interval`, and moves `tat` on by one
 * interval. A key whose `tat` has passed is the same as a key never seen, so it is forgotten.
 *
 * It never admits what the binding refuses (the binding is asked too): it only decides when.
 */
import type { PaceRule } from '../config/index.ts';

/** Keys (tenant × route class) tracked per isolate; past it the least recently paced key is forgotten. */
export const MAX_PACED_KEYS = 10_000;

/** Admitted after `waitMs` (0: at once), or refused: its turn is `retryAfterMs` away. */
export type PaceDecision = { readonly admitted: true; readonly waitMs: number } | { readonly admitted: false; readonly retryAfterMs: number };

export class TenantPacer {
  /** key → theoretical arrival time (ms); Map order is least recently paced first. */
  private readonly tat = new Map<string, number>();

  constructor(private readonly maxKeys: number = MAX_PACED_KEYS) {
    if (!Number.isInteger(maxKeys) || maxKeys < 1) throw new Error('TenantPacer: maxKeys must be a positive integer');
  }

  /**
   * Takes a turn for `key`. A turn taken is spent even if the request is then refused elsewhere (by
   * the binding): a client looping on refusals keeps spending turns, so it cannot save up a burst.
   */
  take(key: string, rule: PaceRule, now: number): PaceDecision {
    const held = this.tat.get(key);
    const tat = held !== undefined && held > now ? held : now;
    const goAt = tat - (rule.burst - 1) * rule.intervalMs;
    const waitMs = goAt > now ? goAt - now : 0;
    if (waitMs > rule.maxWaitMs) return { admitted: false, retryAfterMs: waitMs };
    if (held !== undefined) this.tat.delete(key);
    else if (this.tat.size >= this.maxKeys) this.tat.delete(this.tat.keys().next().value!);
    this.tat.set(key, tat + rule.intervalMs);
    return { admitted: true, waitMs };
  }

  /** Keys currently held (for tests of the bound). */
  get size(): number {
    return this.tat.size;
  }
}
