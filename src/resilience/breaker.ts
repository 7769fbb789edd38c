/**
 * A circuit breaker per origin, per isolate. After `threshold` consecutive failures the
 * circuit opens: nothing is sent to that origin for `cooldownMs`. Then exactly one request
 * (the probe) goes through; its success closes the circuit, its failure opens it again.
 *
 * Failures are attributed to the tenant whose request failed, so that one tenant cannot open
 * an origin's circuit for everyone (a tenant whose burst makes its region's app drop
 * connections, or whose requests alone time out):
 *   - each tenant has its own circuit per origin, with the same threshold and cool-down; it
 *     refuses only that tenant's requests (they fail over to a standby, or get 503 at once);
 *   - the origin's circuit opens only when no single tenant accounts for more than half of the
 *     failure streak (a failure without a tenant, e.g. login at central, counts as its own).
 * A dead origin is still cut off for everyone: each tenant stops after `threshold` failures of its
 * own, and once two or more tenants' failures make up the streak the origin's circuit opens.
 *
 * Per isolate means each Workers isolate learns on its own: an origin that dies costs every
 * isolate a few failed requests before that isolate stops sending to it.
 */

export type BreakerState = 'closed' | 'open' | 'half_open';

export interface BreakerOptions {
  threshold: number;
  cooldownMs: number;
  /** A probe that never reports back (its request was cancelled) frees its slot after this long. */
  probeTimeoutMs: number;
  now?: () => number;
}

/** What a caller may do with an origin right now. */
export type Admission =
  | { ok: true; probe: boolean }
  | { ok: false; retryAfterMs: number };

/**
 * Tenants tracked per origin (own circuits, and shares of the current failure streak). Past it the
 * oldest tenant circuit is forgotten (it starts counting again), and further tenants in a streak
 * count as unattributed failures: the bound costs precision, never memory.
 */
export const MAX_TRACKED_TENANTS = 1024;

/** The state machine of one circuit; when it may open is the caller's decision. */
class Circuit {
  failures = 0;
  private openedAt = Number.NEGATIVE_INFINITY;
  private probeStartedAt: number | undefined;

  get closed(): boolean {
    return this.openedAt === Number.NEGATIVE_INFINITY;
  }

  state(now: number, opts: BreakerOptions): BreakerState {
    if (this.closed) return 'closed';
    return now - this.openedAt < opts.cooldownMs ? 'open' : 'half_open';
  }

  admit(now: number, opts: BreakerOptions): Admission {
    if (this.closed) return { ok: true, probe: false };
    const openFor = this.openedAt + opts.cooldownMs - now;
    if (openFor > 0) return { ok: false, retryAfterMs: openFor };
    if (this.probeStartedAt !== undefined && now - this.probeStartedAt < opts.probeTimeoutMs) {
      // A probe is already out: everyone else waits for its verdict.
      return { ok: false, retryAfterMs: Math.max(1, this.probeStartedAt + opts.probeTimeoutMs - now) };
    }
    this.probeStartedAt = now;
    return { ok: true, probe: true };
  }

  success(): void {
    this.failures = 0;
    this.probeStartedAt = undefined;
    this.openedAt = Number.NEGATIVE_INFINITY;
  }

  /** A failed probe (the circuit was not closed) re-opens it for a full cool-down; `mayOpen` decides otherwise. */
  failure(now: number, mayOpen: boolean): void {
    this.failures++;
    this.probeStartedAt = undefined;
    if (!this.closed || mayOpen) this.openedAt = now;
  }

  release(): void {
    this.probeStartedAt = undefined;
  }
}

export class CircuitBreaker {
  private readonly origin = new Circuit();
  /** Failures of the current streak by tenant, and the largest one's count. */
  private readonly streak = new Map<string, number>();
  private streakMax = 0;
  /** Own circuits of tenants with a failure streak here; a success removes the tenant's entry. */
  private readonly tenants = new Map<string, Circuit>();
  private readonly now: () => number;

  constructor(private readonly opts: BreakerOptions) {
    this.now = opts.now ?? Date.now;
  }

  /** The origin's own circuit, as every tenant sees it. */
  get state(): BreakerState {
    return this.stateFor();
  }

  /** What a request of `tenant` meets: the origin's circuit when it is not closed, else the tenant's own. */
  stateFor(tenant?: string): BreakerState {
    const now = this.now();
    const s = this.origin.state(now, this.opts);
    if (s !== 'closed' || tenant === undefined) return s;
    return this.tenants.get(tenant)?.state(now, this.opts) ?? 'closed';
  }

  /** Asks to send one request. In half-open state only the first caller gets through, as the probe. */
  admit(tenant?: string): Admission {
    const now = this.now();
    const own = tenant === undefined ? undefined : this.tenants.get(tenant);
    if (own && !own.closed) {
      // The tenant's own circuit first: a refused tenant must not take the origin's probe slot.
      const mine = own.admit(now, this.opts);
      if (!mine.ok) return mine;
      const theirs = this.origin.admit(now, this.opts);
      if (!theirs.ok) own.release();
      return theirs.ok ? mine : theirs;
    }
    return this.origin.admit(now, this.opts);
  }

  success(tenant?: string): void {
    this.origin.success();
    this.streak.clear();
    this.streakMax = 0;
    if (tenant !== undefined) this.tenants.delete(tenant);
  }

  failure(tenant?: string): void {
    const now = this.now();
    let share = 0;
    if (tenant !== undefined && (this.streak.has(tenant) || this.streak.size < MAX_TRACKED_TENANTS)) {
      share = (this.streak.get(tenant) ?? 0) + 1;
      this.streak.set(tenant, share);
      if (share > this.streakMax) this.streakMax = share;
    }
    const total = this.origin.failures + 1;
    // Reaching the threshold opens the origin's circuit only on evidence from more than one tenant.
    this.origin.failure(now, total >= this.opts.threshold && this.streakMax * 2 <= total);
    if (tenant === undefined) return;
    let own = this.tenants.get(tenant);
    if (!own) {
      if (this.tenants.size >= MAX_TRACKED_TENANTS) this.tenants.delete(this.tenants.keys().next().value!);
      own = new Circuit();
      this.tenants.set(tenant, own);
    }
    own.failure(now, own.failures + 1 >= this.opts.threshold);
  }

  /** Releases a probe slot without a verdict (the request ended for reasons unrelated to the origin). */
  release(tenant?: string): void {
    this.origin.release();
    if (tenant !== undefined) this.tenants.get(tenant)?.release();
  }
}

/** One breaker per origin URL, created on first use and kept for the isolate's life. */
export class BreakerRegistry {
  private readonly breakers = new Map<string, CircuitBreaker>();
  constructor(private readonly opts: BreakerOptions) {}

  for(origin: string): CircuitBreaker {
    let b = this.breakers.get(origin);
    if (!b) {
      b = new CircuitBreaker(this.opts);
      this.breakers.set(origin, b);
    }
    return b;
  }
}
