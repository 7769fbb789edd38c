import { describe, expect, it } from 'vitest';
import { uuidv7 } from './uuid-v7.ts';

describe('uuidv7', () => {
  it('has version 7, the variant bits and the timestamp first', () => {
    const id = uuidv7(0x0190_a1b2_c3d4);
    expect(id).toMatch(/^0190a1b2-c3d4-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });
  it('increases within one millisecond and across them', () => {
    const ids = Array.from({ length: 5000 }, () => uuidv7());
    const sorted = [...ids].sort();
    expect(sorted).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
  });
});
