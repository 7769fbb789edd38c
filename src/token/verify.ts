/**
 * Verifies an access token's signature and registered claims. Returns a tagged
 * result; every internal reason maps to one wire error (see `rejectionToError`).
 */
import { errors, jwtVerify, type JWTPayload, type JWTHeaderParameters } from 'jose';
import type { KeySet } from './key-set.ts';

export type TokenRejectionReason =
  | 'missing'
  | 'malformed'
  | 'too_large'
  | 'alg_not_allowed'
  | 'unknown_kid'
  | 'ambiguous_kid'
  | 'alg_mismatch'
  | 'bad_signature'
  | 'expired'
  | 'not_yet_valid'
  | 'claim_invalid'
  | 'header_forbidden'
  | 'key_set_unavailable';

export type VerifyResult =
  | { ok: true; claims: JWTPayload; header: JWTHeaderParameters }
  | { ok: false; reason: TokenRejectionReason; detail: string };

export interface VerifyOptions {
  issuer: string;
  audience: string;
  algorithms: readonly string[];
  clockToleranceSeconds: number;
  /** Required `typ` header (compared as jose does: case-insensitive, "application/" optional). */
  requiredTyp: string;
  /** Refuse tokens whose `iat` is older than this; makes `iat` required and refuses an `iat` in the future. */
  maxTokenAgeSeconds: number;
}

/**
 * Header parameters that point at or embed a key. The gateway trusts only its own key set, so a
 * token that carries one is refused before any lookup, fetch or crypto (never fetched, never used).
 */
const FORBIDDEN_HEADER_PARAMS = ['jku', 'x5u', 'x5c', 'jwk'] as const;
/** A `kid` is an opaque short name; anything longer or outside printable ASCII is refused before lookup. */
export const MAX_KID_LENGTH = 256;
const SANE_KID = /^[\x21-\x7e]+$/;

function headerProblem(header: Record<string, unknown>): string | undefined {
  for (const p of FORBIDDEN_HEADER_PARAMS) if (p in header) return `header parameter ${p} is not accepted`;
  if ('kid' in header) {
    const kid = header.kid;
    if (typeof kid !== 'string') return 'kid is not a string';
    if (kid.length === 0 || kid.length > MAX_KID_LENGTH || !SANE_KID.test(kid)) return 'kid is empty, too long or not printable ASCII';
  }
  return undefined;
}

class KeyRejection extends Error {
  constructor(
    readonly reason: TokenRejectionReason,
    readonly why: string = reason,
  ) {
    super(reason);
  }
}

export async function verifyAccessToken(token: string, keySet: KeySet, opts: VerifyOptions): Promise<VerifyResult> {
  try {
    const { payload, protectedHeader } = await jwtVerify(
      token,
      async (header) => {
        // jose has already refused algorithms outside the allowlist (including "none") and
        // unknown `crit` extensions by now; no key has been looked up and no crypto has run.
        const problem = headerProblem(header as Record<string, unknown>);
        if (problem) throw new KeyRejection('header_forbidden', problem);
        const found = await keySet.lookup(header.kid, header.alg);
        if (!found.ok) throw new KeyRejection(found.reason);
        return found.key;
      },
      {
        issuer: opts.issuer,
        audience: opts.audience,
        algorithms: [...opts.algorithms],
        clockTolerance: opts.clockToleranceSeconds,
        requiredClaims: ['exp', 'iss', 'aud', 'iat'],
        typ: opts.requiredTyp,
        maxTokenAge: opts.maxTokenAgeSeconds,
      },
    );
    return { ok: true, claims: payload, header: protectedHeader };
  } catch (err) {
    return classify(err);
  }
}

function classify(err: unknown): Extract<VerifyResult, { ok: false }> {
  if (err instanceof KeyRejection) return { ok: false, reason: err.reason, detail: `key lookup: ${err.why}` };
  const detail = err instanceof Error ? `${(err as { code?: string }).code ?? err.name}: ${err.message}` : String(err);
  if (err instanceof errors.JWTExpired) return { ok: false, reason: 'expired', detail };
  if (err instanceof errors.JWTClaimValidationFailed) {
    // "iat" here means it is in the future (too old is JWTExpired above).
    const reason = (err.claim === 'nbf' || err.claim === 'iat') && err.reason === 'check_failed' ? 'not_yet_valid' : 'claim_invalid';
    return { ok: false, reason, detail };
  }
  if (err instanceof errors.JOSEAlgNotAllowed) return { ok: false, reason: 'alg_not_allowed', detail };
  if (err instanceof errors.JWSSignatureVerificationFailed) return { ok: false, reason: 'bad_signature', detail };
  // JWSInvalid, JWTInvalid, JOSENotSupported (unknown crit, bad b64 header...): all malformed.
  return { ok: false, reason: 'malformed', detail };
}
