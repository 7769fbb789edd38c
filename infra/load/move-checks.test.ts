/** Each verdict of the move load test catches the violation it is for, and passes what is right. */
import { describe, expect, it } from 'vitest';
import { miscounts, residencesOf, servedOutsideResidence, shortReads, wrongRefusal } from './move-checks.ts';

const id = (n: number) => `0190${String(n).padStart(4, '0')}-0000-7000-8000-000000000000`;

describe('shortReads', () => {
  const acks = [1, 2, 3, 4].map((n) => ({ tenant: 't', id: id(n), ackedAt: n * 10 }));
  it('passes a list holding everything acknowledged before it, and ignores later acknowledgements', () => {
    expect(shortReads([{ tenant: 't', sentAt: 35, receivedAt: 50, limit: 10, ids: [id(3), id(2), id(1)] }], acks)).toEqual([]);
  });
  it('catches an empty list for a tenant with acknowledged pages (the stale-region answer)', () => {
    expect(shortReads([{ tenant: 't', sentAt: 100, receivedAt: 110, limit: 10, ids: [] }], acks)).toHaveLength(1);
  });
  it('catches a list missing a page newer than its oldest; a full page may omit older ones', () => {
    expect(shortReads([{ tenant: 't', sentAt: 100, receivedAt: 110, limit: 2, ids: [id(4), id(2)] }], acks)).toHaveLength(1);
    expect(shortReads([{ tenant: 't', sentAt: 100, receivedAt: 110, limit: 2, ids: [id(4), id(3)] }], acks)).toEqual([]);
  });
});

describe('residences and servedOutsideResidence', () => {
  const res = residencesOf(new Map([['t', 'eu']]), [
    { tenant: 't', from: 'eu', to: 'us', leftAt: 100, arrivedAt: 110 },
    { tenant: 't', from: 'us', to: 'eu', leftAt: 200, arrivedAt: 210 },
  ]);
  const at = (region: string, sentAt: number, receivedAt: number) => servedOutsideResidence([{ tenant: 't', region, sentAt, receivedAt, what: 'list' }], res);
  it('accepts answers from the home of the moment, including one in flight across the switch', () => {
    expect(at('eu', 50, 60)).toEqual([]);
    expect(at('eu', 95, 130)).toEqual([]);
    expect(at('us', 150, 160)).toEqual([]);
    expect(at('eu', 300, 310)).toEqual([]);
  });
  it('catches the old region answering after the switch and the new one before the arrival', () => {
    expect(at('eu', 150, 160)).toHaveLength(1);
    expect(at('us', 50, 105)).toHaveLength(1);
    expect(at('ap', 50, 60)).toHaveLength(1);
  });
});

describe('miscounts', () => {
  it('passes a count between the regions’ sums and catches a tenant counted twice or not at all', () => {
    expect(miscounts([{ at: 1, before: 2000, global: 2003, after: 2005, what: 'g' }])).toEqual([]);
    expect(miscounts([{ at: 1, before: 2000, global: 4000, after: 2005, what: 'g' }])).toHaveLength(1);
    expect(miscounts([{ at: 1, before: 2000, global: 3, after: 2005, what: 'g' }])).toHaveLength(1);
  });
});

describe('wrongRefusal', () => {
  it('allows only 409 tenant_relocated and 503 tenant_moving with Retry-After', () => {
    expect(wrongRefusal(409, 'tenant_relocated', null)).toBeUndefined();
    expect(wrongRefusal(503, 'tenant_moving', '1')).toBeUndefined();
    expect(wrongRefusal(503, 'tenant_moving', null)).toMatch(/Retry-After/);
    expect(wrongRefusal(404, 'not_found', null)).toBe('404 not_found');
    expect(wrongRefusal(503, 'database_unavailable', '5')).toBe('503 database_unavailable');
  });
});
