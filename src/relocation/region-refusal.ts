/**
 * A region refuses a tenant that does not live there (any more, or not yet): its app stack answers
 * 409 (moved away, a tombstone) or 503 with Retry-After (a move in progress) and names the reason in
 * RESIDENCY_HEADER. The gateway turns such an answer into its own error model, so a client sees the
 * same `tenant_relocated` / `tenant_moving` whether the gateway's relocation list or the region
 * itself caught the stale token.
 */
import { GatewayError } from '../errors/index.ts';
import { RESIDENCY_HEADER, TENANT_MOVING_RETRY_AFTER_SECONDS } from './residency.ts';

export { RESIDENCY_HEADER, TENANT_MOVING_RETRY_AFTER_SECONDS } from './residency.ts';

/** The gateway error for a region's refusal, or undefined for any other response. Only the exact pairs count. */
export function regionRefusal(res: Response): GatewayError | undefined {
  const state = res.headers.get(RESIDENCY_HEADER);
  if (state === 'relocated' && res.status === 409) return new GatewayError('tenant_relocated', 'the region holds a tombstone for the tenant');
  if (state === 'moving' && res.status === 503) {
    const retry = res.headers.get('retry-after');
    const seconds = retry !== null && /^\d{1,4}$/.test(retry) ? retry : String(TENANT_MOVING_RETRY_AFTER_SECONDS);
    return new GatewayError('tenant_moving', 'the region is moving the tenant', undefined, { 'retry-after': seconds });
  }
  return undefined;
}

/** The response as it is, or (a region's refusal) its body dropped and the gateway error thrown. No extra async frame. */
export function unlessRefused(res: Response): Response {
  const refused = regionRefusal(res);
  if (!refused) return res;
  void res.body?.cancel().catch(() => {});
  throw refused;
}
