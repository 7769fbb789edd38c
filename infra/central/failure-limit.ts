/**
 * Counts failed sign-ins per key (a client address, an account) in fixed windows.
 * Central is the one place that sees every attempt, whichever gateway isolate sent
 * it, so it limits failures itself as well as the gateway limiting requests.
 * Bounded: at most MAX_TRACKED_KEYS keys; when full, the oldest window is dropped.
 */
export const MAX_TRACKED_KEYS = 100_000;

export interface FailureWindow {
  max: number;
  windowSeconds: number;
}

export class FailureLimit {
  // Insertion order = window start order, so the first entry is the oldest.
  private readonly counts = new Map<string, { start: number; failures: number }>();

  private readonly window: FailureWindow;

  constructor(window: FailureWindow) {
    this.window = window;
  }

  /** Seconds until `key` may try again, or 0 when it may now. */
  retryAfter(key: string, nowSeconds: number): number {
    const e = this.counts.get(key);
    if (!e) return 0;
    const end = e.start + this.window.windowSeconds;
    if (nowSeconds >= end) {
      this.counts.delete(key);
      return 0;
    }
    return e.failures >= this.window.max ? end - nowSeconds : 0;
  }

  fail(key: string, nowSeconds: number): void {
    const e = this.counts.get(key);
    if (e && nowSeconds < e.start + this.window.windowSeconds) {
      e.failures++;
      return;
    }
    this.counts.delete(key);
    if (this.counts.size >= MAX_TRACKED_KEYS) this.counts.delete(this.counts.keys().next().value!);
    this.counts.set(key, { start: nowSeconds, failures: 1 });
  }

  reset(key: string): void {
    this.counts.delete(key);
  }
}
