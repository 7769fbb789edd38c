/**
 * Bounds on audit rows for denied requests (e.g. a valid token with a wrong X-Tenant-Region).
 * Any verified caller can repeat a denial at request rate, and every row is a connection to the
 * control-plane database that also serves login, so per isolate and per minute:
 *   - at most DENIALS_PER_ACTOR_PER_MINUTE rows per actor and reason;
 *   - at most DENIALS_PER_TENANT_PER_MINUTE rows per tenant, whatever its users do;
 *   - at most DENIALS_PER_ISOLATE_PER_MINUTE rows in all, so no tenant can use up the budget
 *     the others need (each tenant's share is bounded above).
 * A denial over a bound is never dropped silently: it is logged (`audit_suppressed`) and counted
 * under its actor and reason, and one summary row per actor and reason (`<action>.suppressed`,
 * detail.suppressed = the count) is written with the next audit write of this isolate after the
 * minute ends. What is lost: the counts of an isolate that is evicted before that (the log lines
 * remain).
 */

export const DENIALS_PER_ACTOR_PER_MINUTE = 10;
export const DENIALS_PER_TENANT_PER_MINUTE = 30;
export const DENIALS_PER_ISOLATE_PER_MINUTE = 300;
/** Actor/reason windows tracked at once; past it the oldest is closed early (its summary written). */
export const MAX_TRACKED_DENIAL_WINDOWS = 10_000;
const WINDOW_MS = 60_000;

export interface DenialKey {
  actor: string;
  tenant: string;
  /** Action and code, e.g. `tenant.region_denied` / `region_mismatch`. */
  action: string;
  reason: string;
}

export interface DenialSummary extends DenialKey {
  suppressed: number;
  windowStart: number;
  windowEnd: number;
}

interface Window {
  key: DenialKey;
  start: number;
  written: number;
  suppressed: number;
}

interface Counter {
  start: number;
  n: number;
}

export class DenialLimiter {
  /** Insertion order = window start order (a reset window is re-inserted), so closed ones are at the front. */
  private readonly windows = new Map<string, Window>();
  private readonly tenants = new Map<string, Counter>();
  private isolate: Counter = { start: 0, n: 0 };

  constructor(private readonly now: () => number = Date.now) {}

  /** One denial: whether to write its row, and summaries of closed windows to write now. */
  admit(key: DenialKey): { write: boolean; summaries: DenialSummary[] } {
    const now = this.now();
    const summaries = this.sweep(now);
    const id = JSON.stringify([key.actor, key.tenant, key.action, key.reason]);
    let w = this.windows.get(id);
    if (!w) {
      if (this.windows.size >= MAX_TRACKED_DENIAL_WINDOWS) summaries.push(...this.close(this.windows.keys().next().value as string, now));
      w = { key, start: now, written: 0, suppressed: 0 };
      this.windows.set(id, w);
    }
    const tenant = this.counter(this.tenants, key.tenant, now);
    if (now - this.isolate.start >= WINDOW_MS) this.isolate = { start: now, n: 0 };
    if (w.written >= DENIALS_PER_ACTOR_PER_MINUTE || tenant.n >= DENIALS_PER_TENANT_PER_MINUTE || this.isolate.n >= DENIALS_PER_ISOLATE_PER_MINUTE) {
      w.suppressed++;
      return { write: false, summaries };
    }
    w.written++;
    tenant.n++;
    this.isolate.n++;
    return { write: true, summaries };
  }

  private counter(map: Map<string, Counter>, k: string, now: number): Counter {
    let c = map.get(k);
    if (!c || now - c.start >= WINDOW_MS) {
      map.delete(k);
      c = { start: now, n: 0 };
      map.set(k, c);
      // Keep the tenant map bounded too: drop counters whose minute is over.
      for (const [old, oc] of map) {
        if (now - oc.start < WINDOW_MS || map.size <= MAX_TRACKED_DENIAL_WINDOWS) break;
        map.delete(old);
      }
    }
    return c;
  }

  private close(id: string, now: number): DenialSummary[] {
    const w = this.windows.get(id);
    this.windows.delete(id);
    return w && w.suppressed > 0 ? [{ ...w.key, suppressed: w.suppressed, windowStart: w.start, windowEnd: Math.min(now, w.start + WINDOW_MS) }] : [];
  }

  /** Closes every window whose minute is over; returns the summaries due. */
  sweep(now = this.now()): DenialSummary[] {
    const out: DenialSummary[] = [];
    for (const [id, w] of this.windows) {
      if (now - w.start < WINDOW_MS) break;
      out.push(...this.close(id, now));
    }
    return out;
  }
}
