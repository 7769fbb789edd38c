import { describe, expect, it } from 'vitest';
import { CircuitBreaker, MAX_TRACKED_TENANTS } from './breaker.ts';
import { isReplayable, jitterDelay } from './index.ts';

describe('CircuitBreaker', () => {
  const make = () => {
    let now = 0;
    const b = new CircuitBreaker({ threshold: 3, cooldownMs: 1000, probeTimeoutMs: 5000, now: () => now });
    return { b, advance: (ms: number) => (now += ms) };
  };

  it('needs N consecutive failures to open; a success in between resets the count', () => {
    const { b } = make();
    b.failure();
    b.failure();
    b.success();
    b.failure();
    b.failure();
    expect(b.state).toBe('closed');
    b.failure();
    expect(b.state).toBe('open');
    expect(b.admit()).toEqual({ ok: false, retryAfterMs: 1000 });
  });

  it('admits one probe after the cool-down and frees the slot if the probe never reports back', () => {
    const { b, advance } = make();
    for (let i = 0; i < 3; i++) b.failure();
    advance(1000);
    expect(b.state).toBe('half_open');
    expect(b.admit()).toEqual({ ok: true, probe: true });
    expect(b.admit().ok).toBe(false);
    advance(5000);
    expect(b.admit()).toEqual({ ok: true, probe: true });
    b.success();
    expect(b.state).toBe('closed');
  });
});

describe('CircuitBreaker with failures attributed to tenants', () => {
  const make = () => {
    let now = 0;
    const b = new CircuitBreaker({ threshold: 3, cooldownMs: 1000, probeTimeoutMs: 5000, now: () => now });
    return { b, advance: (ms: number) => (now += ms) };
  };

  it("opens only the failing tenant's circuit when that tenant alone fails", () => {
    const { b } = make();
    for (let i = 0; i < 10; i++) b.failure('noisy');
    expect(b.state).toBe('closed');
    expect(b.stateFor('noisy')).toBe('open');
    expect(b.admit('noisy')).toEqual({ ok: false, retryAfterMs: 1000 });
    expect(b.stateFor('quiet')).toBe('closed');
    expect(b.admit('quiet')).toEqual({ ok: true, probe: false });
    expect(b.admit()).toEqual({ ok: true, probe: false });
  });

  it('opens the origin once no single tenant makes up more than half of the streak', () => {
    const { b } = make();
    for (let i = 0; i < 3; i++) b.failure('a');
    b.failure('b');
    b.failure('b');
    expect(b.state).toBe('closed'); // 5 failures, 3 of them a's
    b.failure('b');
    expect(b.state).toBe('open'); // 6, 3 each
    expect(b.admit('c').ok).toBe(false);

    const alternating = make().b;
    alternating.failure('a');
    alternating.failure('b');
    alternating.failure('a');
    expect(alternating.state).toBe('closed'); // 3 failures, 2 of them a's
    alternating.failure('b');
    expect(alternating.state).toBe('open');
  });

  it('counts failures without a tenant each on their own, as before', () => {
    const { b } = make();
    b.failure('a');
    b.failure('a');
    b.failure();
    expect(b.state).toBe('closed'); // 3, 2 of them a's
    b.failure();
    expect(b.state).toBe('open');
  });

  it("another tenant's success ends the origin's streak but not the failing tenant's own circuit", () => {
    const { b, advance } = make();
    for (let i = 0; i < 3; i++) b.failure('a');
    b.success('b');
    b.failure('c');
    b.failure('c');
    expect(b.state).toBe('closed');
    expect(b.stateFor('a')).toBe('open');
    advance(1000);
    expect(b.admit('a')).toEqual({ ok: true, probe: true });
    b.success('a');
    expect(b.stateFor('a')).toBe('closed');
  });

  it("a tenant refused by its own circuit does not take the origin's half-open probe", () => {
    const { b, advance } = make();
    for (let i = 0; i < 3; i++) b.failure('a');
    b.success('d'); // the origin is fine for others: a's streak is its own
    advance(1000);
    expect(b.admit('a')).toEqual({ ok: true, probe: true }); // a's own probe, still out
    b.failure('b');
    b.failure('b');
    b.failure('c');
    b.failure('c');
    expect(b.state).toBe('open');
    advance(1000);
    expect(b.state).toBe('half_open');
    expect(b.admit('a').ok).toBe(false); // its own probe is out: refused before the origin is asked
    expect(b.admit('d')).toEqual({ ok: true, probe: true });
  });

  it('keeps its memory bounded however many tenants fail', () => {
    const { b } = make();
    for (let i = 0; i < MAX_TRACKED_TENANTS * 3; i++) b.failure(`t${i}`);
    expect(b.state).toBe('open');
    const fresh = make().b;
    for (let i = 0; i < MAX_TRACKED_TENANTS + 10; i++) for (let k = 0; k < 3; k++) fresh.failure(`t${i}`);
    // The oldest tenants' circuits were forgotten; the newest are still open.
    expect(fresh.stateFor('t0')).toBe('open'); // the origin itself opened: many tenants failed
    fresh.success('x');
    expect(fresh.stateFor('t0')).toBe('closed');
    expect(fresh.stateFor(`t${MAX_TRACKED_TENANTS + 9}`)).toBe('open');
  });
});

describe('retry policy', () => {
  it('replays only idempotent requests without a body', () => {
    const h = new Headers();
    const body = new ReadableStream<Uint8Array>();
    expect(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE'].every((method) => isReplayable({ method, headers: h, body: null }))).toBe(true);
    expect(['POST', 'PATCH'].some((method) => isReplayable({ method, headers: h, body: null }))).toBe(false);
    expect(isReplayable({ method: 'PUT', headers: h, body })).toBe(false);
  });

  it('draws the jitter from the whole range [0, max]', () => {
    expect(jitterDelay(100, () => 0)).toBe(0);
    expect(jitterDelay(100, () => 0.999999)).toBe(100);
    expect(jitterDelay(0, () => 0.5)).toBe(0);
  });
});
