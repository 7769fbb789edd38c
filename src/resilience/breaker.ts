/**
 * A circuit breaker per origin, per isolate. After `threshold` consecutive failures the
 * circuit opens: nothing is sent to that origin for `cooldownMs`. Then exactly one request
 * (the probe) goes through; its success closes the circuit, its failure opens it again.
 *
 * Per isolate means each Workers isolate learns on its own: an origin that dies costs every
 * isolate `threshold` failed requests before that isolate stops sending to it.
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

export class CircuitBreaker {
  private failures = 0;
  private openedAt = Number.NEGATIVE_INFINITY;
  private probeStartedAt: number | undefined;
  private readonly now: () => number;

  constructor(private readonly opts: BreakerOptions) {
    this.now = opts.now ?? Date.now;
  }

  get state(): BreakerState {
    if (this.failures < this.opts.threshold) return 'closed';
    return this.now() - this.openedAt < this.opts.cooldownMs ? 'open' : 'half_open';
  }

  /** Asks to send one request. In half-open state only the first caller gets through, as the probe. */
  admit(): Admission {
    const now = this.now();
    if (this.failures < this.opts.threshold) return { ok: true, probe: false };
    const openFor = this.openedAt + this.opts.cooldownMs - now;
    if (openFor > 0) return { ok: false, retryAfterMs: openFor };
    if (this.probeStartedAt !== undefined && now - this.probeStartedAt < this.opts.probeTimeoutMs) {
      // A probe is already out: everyone else waits for its verdict.
      return { ok: false, retryAfterMs: Math.max(1, this.probeStartedAt + this.opts.probeTimeoutMs - now) };
    }
    this.probeStartedAt = now;
    return { ok: true, probe: true };
  }

  success(): void {
    this.failures = 0;
    this.probeStartedAt = undefined;
    this.openedAt = Number.NEGATIVE_INFINITY;
  }

  failure(): void {
    this.failures++;
    this.probeStartedAt = undefined;
    // Reaching the threshold, or a failed probe, (re)opens the circuit for a full cool-down.
    if (this.failures >= this.opts.threshold) this.openedAt = this.now();
  }

  /** Releases a probe slot without a verdict (the request ended for reasons unrelated to the origin). */
  release(): void {
    this.probeStartedAt = undefined;
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
