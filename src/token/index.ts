/**
 * The trust boundary: everything that parses or checks a caller's token lives in
 * this folder, so it can be reviewed on its own. It returns tagged results and
 * never throws on hostile input; `rejectionToError` is the one place an internal
 * reason becomes a wire error.
 */
import { GatewayError } from '../errors/index.ts';
import type { TokenRejectionReason } from './verify.ts';

export { extractBearer, type ExtractResult } from './extract.ts';
export { KeySet, type KeySetOptions, type KeyLookup } from './key-set.ts';
export { VerifiedTokenCache, type CacheableKeySet } from './verified-cache.ts';
export { verifyAccessToken, type VerifyResult, type VerifyOptions, type TokenRejectionReason } from './verify.ts';

/** `retryAfterSeconds`: when the key set is unavailable, how long until the key server is asked again. */
export function rejectionToError(reason: TokenRejectionReason, detail: string, retryAfterSeconds = 5): GatewayError {
  switch (reason) {
    case 'missing':
      return new GatewayError('token_missing', detail);
    case 'key_set_unavailable':
      // Our outage, not the caller's fault: 503 so clients are not logged out.
      return new GatewayError('key_set_unavailable', detail, undefined, { 'retry-after': String(retryAfterSeconds) });
    case 'malformed':
    case 'too_large':
    case 'alg_not_allowed':
    case 'unknown_kid':
    case 'ambiguous_kid':
    case 'alg_mismatch':
    case 'bad_signature':
    case 'expired':
    case 'not_yet_valid':
    case 'claim_invalid':
    case 'header_forbidden':
      return new GatewayError('invalid_token', `${reason}: ${detail}`);
    default: {
      const unreachable: never = reason;
      return new GatewayError('internal_error', `unmapped token rejection ${String(unreachable)}`);
    }
  }
}
