/** Pulls a bearer token out of the Authorization header, refusing anything that is not JWS compact form. */

export type ExtractResult =
  | { ok: true; token: string }
  | { ok: false; reason: 'missing' | 'malformed' | 'too_large' };

const JWS_COMPACT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/**
 * Only the canonical base64url spelling is accepted: the unused low bits of a segment's last
 * character must be zero. Otherwise two spellings decode to the same signature, and a one-character
 * change to a token could leave it valid.
 */
function canonicalSegment(seg: string): boolean {
  const rem = seg.length % 4;
  if (rem === 1) return false; // no byte string encodes to this length
  if (rem === 0) return true;
  const last = B64URL.indexOf(seg[seg.length - 1]!);
  return rem === 2 ? (last & 0b1111) === 0 : (last & 0b11) === 0;
}

export function extractBearer(authorization: string | null | undefined, maxTokenBytes: number): ExtractResult {
  if (authorization == null) return { ok: false, reason: 'missing' };
  const space = authorization.indexOf(' ');
  const scheme = space === -1 ? authorization : authorization.slice(0, space);
  // Another scheme (Basic, ...) carries no bearer credentials: RFC 6750 treats that as "no token".
  if (scheme.toLowerCase() !== 'bearer') return { ok: false, reason: 'missing' };
  const token = space === -1 ? '' : authorization.slice(space + 1).trim();
  // Size is checked before any parsing or crypto.
  if (token.length > maxTokenBytes) return { ok: false, reason: 'too_large' };
  if (!JWS_COMPACT.test(token) || !token.split('.').every(canonicalSegment)) return { ok: false, reason: 'malformed' };
  return { ok: true, token };
}
