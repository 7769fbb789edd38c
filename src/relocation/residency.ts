/**
 * How a regional app stack says a tenant does not live there (any more, or not yet). Kept free of
 * gateway imports: the regional apps (infra/region, run by Node's type stripping) use it too.
 */

/** Response header of the regional app stacks: `relocated` or `moving`. */
export const RESIDENCY_HEADER = 'x-tenant-residency';
/** Retry-After (seconds) on `tenant_moving`: a move's fence lasts well under a second for thousands of pages. */
export const TENANT_MOVING_RETRY_AFTER_SECONDS = 1;

export type ResidencyRefusal = 'relocated' | 'moving';

/** The status and headers a region answers a refused tenant with (used by infra/region). */
export function residencyAnswer(state: ResidencyRefusal): { status: 409 | 503; code: 'tenant_relocated' | 'tenant_moving'; headers: Record<string, string> } {
  return state === 'relocated'
    ? { status: 409, code: 'tenant_relocated', headers: { [RESIDENCY_HEADER]: state } }
    : { status: 503, code: 'tenant_moving', headers: { [RESIDENCY_HEADER]: state, 'retry-after': String(TENANT_MOVING_RETRY_AFTER_SECONDS) } };
}
