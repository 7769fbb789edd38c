import { describe, expect, it } from 'vitest';
import { outgoingTraceparent, parseTraceparent, traceContextFrom } from './trace-context.ts';

const T = '4bf92f3577b34da6a3ce929d0e0e4736';
const S = '00f067aa0ba902b7';

describe('parseTraceparent', () => {
  it('accepts a version-00 header and a later version with extra fields', () => {
    expect(parseTraceparent(`00-${T}-${S}-01`)).toEqual({ traceId: T, parentSpanId: S, flags: '01' });
    expect(parseTraceparent(`01-${T}-${S}-00-future`)).toEqual({ traceId: T, parentSpanId: S, flags: '00' });
  });

  it.each([
    ['version ff', `ff-${T}-${S}-01`],
    ['extra field on 00', `00-${T}-${S}-01-x`],
    ['zero trace id', `00-${'0'.repeat(32)}-${S}-01`],
    ['zero span id', `00-${T}-${'0'.repeat(16)}-01`],
    ['upper case', `00-${T.toUpperCase()}-${S}-01`],
    ['short trace id', `00-${T.slice(1)}-${S}-01`],
    ['garbage', 'hello'],
    ['oversized', `00-${T}-${S}-01`.padEnd(300, 'x')],
  ])('refuses %s', (_why, h) => {
    expect(parseTraceparent(h)).toBeNull();
  });
});

describe('traceContextFrom', () => {
  it('continues a valid trace with a fresh span and keeps tracestate', () => {
    const t = traceContextFrom(new Headers({ traceparent: `00-${T}-${S}-01`, tracestate: 'a=1' }));
    expect(t).toMatchObject({ traceId: T, parentSpanId: S, flags: '01', tracestate: 'a=1' });
    expect(t.spanId).toMatch(/^[0-9a-f]{16}$/);
    expect(t.spanId).not.toBe(S);
    expect(outgoingTraceparent(t)).toBe(`00-${T}-${t.spanId}-01`);
  });

  it('starts a sampled trace otherwise and never passes tracestate alone', () => {
    const t = traceContextFrom(new Headers({ tracestate: 'a=1' }));
    expect(t.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(t).toMatchObject({ parentSpanId: undefined, flags: '01', tracestate: undefined });
    expect(traceContextFrom(new Headers()).traceId).not.toBe(t.traceId);
  });
});
