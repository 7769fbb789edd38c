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
  | 'key_set_unavailable';

export type VerifyResult =
  | { ok: true; claims: JWTPayload; header: JWTHeaderParameters }
  | { ok: false; reason: TokenRejectionReason; detail: string };

export interface VerifyOptions {
  issuer: string;
  audience: string;
  algorithms: readonly string[];
  clockToleranceSeconds: number;
}

class KeyRejection extends Error {
  constructor(readonly reason: TokenRejectionReason) {
    super(reason);
  }
}

export async function verifyAccessToken(token: string, keySet: KeySet, opts: VerifyOptions): Promise<VerifyResult> {
  try {
    const { payload, protectedHeader } = await jwtVerify(
      token,
      async (header) => {
        // jose has already refused algorithms outside the allowlist (including "none") by now.
        const found = await keySet.lookup(header.kid, header.alg);
        if (!found.ok) throw new KeyRejection(found.reason);
        return found.key;
      },
      {
        issuer: opts.issuer,
        audience: opts.audience,
        algorithms: [...opts.algorithms],
        clockTolerance: opts.clockToleranceSeconds,
        requiredClaims: ['exp', 'iss', 'aud'],
      },
    );
    return { ok: true, claims: payload, header: protectedHeader };
  } catch (err) {
    return classify(err);
  }
}

function classify(err: unknown): Extract<VerifyResult, { ok: false }> {
  if (err instanceof KeyRejection) return { ok: false, reason: err.reason, detail: `key lookup: ${err.reason}` };
  const detail = err instanceof Error ? `${(err as { code?: string }).code ?? err.name}: ${err.message}` : String(err);
  if (err instanceof errors.JWTExpired) return { ok: false, reason: 'expired', detail };
  if (err instanceof errors.JWTClaimValidationFailed) {
    const reason = err.claim === 'nbf' || err.claim === 'iat' ? 'not_yet_valid' : 'claim_invalid';
    return { ok: false, reason, detail };
  }
  if (err instanceof errors.JOSEAlgNotAllowed) return { ok: false, reason: 'alg_not_allowed', detail };
  if (err instanceof errors.JWSSignatureVerificationFailed) return { ok: false, reason: 'bad_signature', detail };
  // JWSInvalid, JWTInvalid, JOSENotSupported (unknown crit, bad b64 header...): all malformed.
  return { ok: false, reason: 'malformed', detail };
}
