import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkPath, checkPathSegments } from './index.ts';

// Characters that matter to the rules, plus ordinary ones: separators, dots, escapes (valid,
// invalid, overlong), control characters, backslash.
const piece = fc.constantFrom('/', '.', '..', 'a', 'api', 'pages', '%2f', '%2e', '%25', '%c0%ae', '%zz', '%', '\\', '\x00', '\x1f', '\x7f', '\t', '~', '-', ':', '@', 'é');

describe('checkPath', () => {
  it('its one-scan shortcut decides every path as the segment walk does', () => {
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 16 }), (pieces) => {
        const path = '/' + pieces.join('');
        expect(checkPath(path).ok).toBe(checkPathSegments(path).ok);
      }),
      { numRuns: 5000 },
    );
  });

  it.each([
    ['/api/pages', true],
    ['/api/pages/', true],
    ['/', true],
    ['/api//pages', false],
    ['//api', false],
    ['/api/./pages', false],
    ['/api/..', false],
    ['/api/..x', true],
    ['/api/a\\b', false],
    ['/api/\x01', false],
    ['/api/%2e%2e/x', false],
  ])('%j → ok %s', (path, ok) => {
    expect(checkPath(path).ok).toBe(ok);
  });
});
