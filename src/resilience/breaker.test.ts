import { describe, expect, it } from 'vitest';
import { CircuitBreaker } from './breaker.ts';
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
