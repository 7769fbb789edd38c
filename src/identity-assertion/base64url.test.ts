import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { toBase64Url } from './index.ts';

/** The textbook spelling: base64 of the bytes, then the URL alphabet, unpadded. */
function reference(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

describe('toBase64Url', () => {
  it('spells every byte string as base64url without padding', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 70 }), (bytes) => {
        expect(toBase64Url(bytes.slice().buffer)).toBe(reference(bytes));
      }),
      { numRuns: 2000 },
    );
  });

  it('a 32-byte MAC is 43 characters', () => {
    expect(toBase64Url(new Uint8Array(32).fill(255).buffer)).toHaveLength(43);
  });
});
