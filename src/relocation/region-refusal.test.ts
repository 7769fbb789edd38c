import { describe, expect, it } from 'vitest';
import { errorResponse } from '../errors/index.ts';
import { regionRefusal, RESIDENCY_HEADER } from './region-refusal.ts';
import { residencyAnswer } from './residency.ts';

const answer = (status: number, headers: Record<string, string> = {}) => new Response('{}', { status, headers });

describe('regionRefusal', () => {
  it('turns the regional app’s own answers into the gateway’s error model', async () => {
    for (const state of ['relocated', 'moving'] as const) {
      const a = residencyAnswer(state);
      const err = regionRefusal(answer(a.status, a.headers));
      expect(err?.code).toBe(a.code);
      const res = errorResponse(err!, 'req-1');
      expect(res.status).toBe(a.status);
      expect(res.headers.get('retry-after')).toBe(state === 'moving' ? '1' : null);
      expect(((await res.json()) as { error: { code: string; requestId: string } }).error).toMatchObject({ code: a.code, requestId: 'req-1' });
    }
  });

  it('passes everything else through untouched: only the exact status and header pairs count', () => {
    expect(regionRefusal(answer(409))).toBeUndefined(); // an ordinary conflict
    expect(regionRefusal(answer(503, { 'retry-after': '5' }))).toBeUndefined();
    expect(regionRefusal(answer(200, { [RESIDENCY_HEADER]: 'relocated' }))).toBeUndefined();
    expect(regionRefusal(answer(503, { [RESIDENCY_HEADER]: 'relocated' }))).toBeUndefined();
    expect(regionRefusal(answer(409, { [RESIDENCY_HEADER]: 'moving' }))).toBeUndefined();
    expect(regionRefusal(answer(409, { [RESIDENCY_HEADER]: 'Relocated ' }))).toBeUndefined();
  });

  it('keeps a sane Retry-After on tenant_moving whatever the region sent', () => {
    for (const [sent, kept] of [['3', '3'], ['soon', '1'], ['99999', '1']] as const) {
      expect(regionRefusal(answer(503, { [RESIDENCY_HEADER]: 'moving', 'retry-after': sent }))?.headers).toEqual({ 'retry-after': kept });
    }
  });
});
