/**
 * Per-tenant traffic control at the edge, after the token is verified (a request is counted
 * under the tenant its valid token names) and before any subrequest or query:
 *
 *   1. pacing (pacer.ts, classes `api` and `data`): within the binding's window, a tenant's
 *      requests are spread over the period (a share of the budget at once, then one every
 *      period ÷ limit), so a flood cannot spend its whole window's budget in its first second; a
 *      request over the pace waits for its turn up to TENANT_PACING.maxWaitMs, else 429
 *      `rate_limited` with the pace's RateLimit fields;
 *   2. rate limit per route class (`api`, `data`, `websocket-upgrade`) with the Workers Rate
 *      Limiting binding, keyed by tenant id and, when the class has a user policy, by user id
 *      within the tenant → 429 `rate_limited` with Retry-After, RateLimit-Policy and RateLimit;
 *   3. in-flight requests per tenant in this isolate, counted once the request is sent (after any
 *      pace wait) → 503 `tenant_busy` with Retry-After.
 *
 * A refusal is held for TENANT_REFUSAL_DELAY_MS before it is answered (at most
 * TENANT_REFUSALS_HELD at once per isolate; past that, at once). A client that honours Retry-After
 * never notices; one that retries at once in a loop is slowed to its connections ÷ the delay, so a
 * flood of refusals cannot take the isolate's CPU from the other tenants. Holding costs a timer,
 * no CPU while it waits, and no subrequest.
 *
 * The binding counts per Cloudflare location and approximately (it is eventually consistent
 * across the machines of a location), in 10 s or 60 s windows; it returns only allowed or not,
 * never a remaining count. So the RateLimit header is sent only on a 429 (remaining 0, reset at
 * most one period away), and successful responses are left untouched (adding headers to a
 * forwarded response would mean copying it).
 *
 * Cost on the hot path: one binding call (two, issued together, when the class has a user
 * policy), two Map reads and writes (in-flight count, pace), the pace key and the user key, and a
 * timer only for a request that waits for its turn.
 */
import type { MiddlewareHandler } from 'hono';
import type { ClassLimits, PaceRule, RatePolicy, RouteClass } from '../config/index.ts';
import { ROUTE_CLASSES } from '../config/traffic-limits.ts';
import { GatewayError } from '../errors/index.ts';
import type { GatewayEnv } from '../gateway-env/index.ts';
import { timed, type Observation } from '../observability/index.ts';
import { rateLimiter } from '../rate-limit/binding.ts';
import { TenantPacer } from './pacer.ts';

export { ROUTE_CLASSES } from '../config/traffic-limits.ts';
export { TenantPacer } from './pacer.ts';

/**
 * IETF RateLimit fields (draft-ietf-httpapi-ratelimit-headers) for a refused request: `quota.limit`
 * per `quota.period` seconds, nothing left, the next request possible in `retryAfterSeconds`.
 */
export function rateLimitedError(policyName: string, quota: { limit: number; period: number }, detail: string, retryAfterSeconds = quota.period): GatewayError {
  const retryAfter = String(retryAfterSeconds);
  return new GatewayError('rate_limited', detail, undefined, {
    'retry-after': retryAfter,
    'ratelimit-policy': `"${policyName}";q=${quota.limit};w=${quota.period}`,
    ratelimit: `"${policyName}";r=0;t=${retryAfter}`,
  });
}

/**
 * In-flight requests per tenant, for one isolate. An entry exists only while the tenant has a
 * request in flight, so the map holds at most as many tenants as there are concurrent requests.
 */
export class TenantInFlight {
  private readonly counts = new Map<string, number>();

  /** False (and nothing counted) when the tenant already has `max` requests in flight. */
  tryEnter(tenantId: string, max: number): boolean {
    const n = this.counts.get(tenantId) ?? 0;
    if (n >= max) return false;
    this.counts.set(tenantId, n + 1);
    return true;
  }

  leave(tenantId: string): void {
    const n = this.counts.get(tenantId) ?? 0;
    if (n <= 1) this.counts.delete(tenantId);
    else this.counts.set(tenantId, n - 1);
  }
}

/** Refusals being held before their answer, for one isolate: bounded, so holding never grows without limit. */
export class RefusalHold {
  private held = 0;

  /** Waits `delayMs` unless `max` refusals are already held (then returns at once). */
  async hold(delayMs: number, max: number): Promise<void> {
    if (delayMs <= 0 || this.held >= max) return;
    this.held++;
    try {
      await new Promise<void>((resolve) => setTimeout(resolve, delayMs));
    } finally {
      this.held--;
    }
  }
}

export interface TenantLimitsOptions {
  /** The route class, or how to tell it from the request (e.g. a WebSocket upgrade under /api/*). */
  routeClass: RouteClass | ((req: Request) => RouteClass);
  /** Shared by every mount of one app: the bound is per tenant per isolate, whatever the route. */
  inFlight: TenantInFlight;
  /** Shared by every mount of one app: refusals held at once, per isolate. */
  refusals: RefusalHold;
  /** Shared by every mount of one app: each tenant's pace per route class, per isolate. */
  pacer: TenantPacer;
}

/** Runs after requireTenant (the tenant is verified and resolved). */
export function tenantLimits(options: TenantLimitsOptions): MiddlewareHandler<GatewayEnv> {
  const { routeClass, inFlight, refusals, pacer } = options;
  if (typeof routeClass !== 'function' && !ROUTE_CLASSES.includes(routeClass)) {
    throw new Error(`tenantLimits: routeClass must be one of ${ROUTE_CLASSES.join(', ')} or a function`);
  }
  if (!(inFlight instanceof TenantInFlight)) throw new Error('tenantLimits: inFlight must be a TenantInFlight');
  if (!(refusals instanceof RefusalHold)) throw new Error('tenantLimits: refusals must be a RefusalHold');
  if (!(pacer instanceof TenantPacer)) throw new Error('tenantLimits: pacer must be a TenantPacer');
  return async (c, next) => {
    const { config } = c.get('runtime');
    const limits = config.trafficLimits;
    const tenant = c.get('tenant');
    if (!tenant) throw new GatewayError('internal_error', 'tenantLimits mounted before requireTenant');
    if (limits.rate) {
      const cls = typeof routeClass === 'function' ? routeClass(c.req.raw) : routeClass;
      const refusal = await admit(c.env, cls, limits.rate[cls], limits.pace?.[cls], pacer, tenant, c.get('obs'));
      if (refusal) {
        await refusals.hold(limits.refusalDelayMs, limits.refusalsHeld);
        throw refusal;
      }
    }
    // After the pace wait: a request waiting for its turn holds no outbound connection, so it is not
    // counted (the pace bounds how many wait). A turn then refused here is not given back: the tenant
    // already has maxInFlight requests at its origins.
    if (!inFlight.tryEnter(tenant.tenantId, limits.maxInFlight)) {
      await refusals.hold(limits.refusalDelayMs, limits.refusalsHeld);
      throw new GatewayError('tenant_busy', `${limits.maxInFlight} requests of the tenant in flight in this isolate`, undefined, {
        'retry-after': String(limits.busyRetryAfterSeconds),
      });
    }
    try {
      // Counted until the response's headers are back; a streamed body is not held against the tenant.
      await next();
    } finally {
      inFlight.leave(tenant.tenantId);
    }
  };
}

/**
 * The tenant's turn in this isolate's pace, then the binding's budget: null once the request may go
 * (after waiting for its turn), or the 429 to answer.
 */
async function admit(
  env: Record<string, unknown>,
  cls: RouteClass,
  rate: ClassLimits,
  pace: PaceRule | undefined,
  pacer: TenantPacer,
  tenant: { tenantId: string; userId: string },
  obs: Observation | undefined,
): Promise<GatewayError | null> {
  let waitMs = 0;
  if (pace) {
    // Route classes never contain "/", so "<class>/<tenant>" cannot collide.
    const turn = pacer.take(`${cls}/${tenant.tenantId}`, pace, Date.now());
    if (!turn.admitted) return paceRefusal(cls, pace, turn.retryAfterMs);
    waitMs = turn.waitMs;
  }
  // A turn the binding then refuses is not given back: a client looping on the window's 429s keeps
  // spending turns, so the next window's budget reaches it paced, not as a burst at the window's start.
  const refused = await checkRate(env, cls, rate, tenant.tenantId, tenant.userId);
  if (refused) return refused;
  if (waitMs > 0) await timed(obs, 'paceMs', () => new Promise<void>((resolve) => setTimeout(resolve, waitMs)));
  return null;
}

/** A request over the tenant's pace: the policy is the pace's (`burst` per the time it takes to earn them back). */
function paceRefusal(cls: RouteClass, pace: PaceRule, retryAfterMs: number): GatewayError {
  // Rounded to whole ms first: 30 × 33.33… ms is one second, not a float a hair over it.
  const window = Math.max(1, Math.ceil(Math.round(pace.burst * pace.intervalMs) / 1000));
  const detail = `tenant pace (${cls}): next turn in ${Math.ceil(retryAfterMs)} ms`;
  return rateLimitedError(`${cls}-tenant-pace`, { limit: pace.burst, period: window }, detail, Math.max(1, Math.ceil(retryAfterMs / 1000)));
}

async function checkRate(env: Record<string, unknown>, cls: RouteClass, limits: ClassLimits, tenantId: string, userId: string): Promise<GatewayError | null> {
  const tenantCall = rateLimiter(env, limits.tenant.binding, `TENANT_RATE_LIMITS.${cls}.tenant`).limit({ key: tenantId });
  if (!limits.user) {
    return (await tenantCall).success ? null : rateLimitedError(`${cls}-tenant`, limits.tenant, `tenant rate limit (${cls})`);
  }
  // Tenant ids never contain "/", so "<tenant>/<user>" cannot collide across tenants.
  const userCall = rateLimiter(env, limits.user.binding, `TENANT_RATE_LIMITS.${cls}.user`).limit({ key: `${tenantId}/${userId}` });
  const [t, u] = await Promise.all([tenantCall, userCall]);
  if (!t.success) return rateLimitedError(`${cls}-tenant`, limits.tenant, `tenant rate limit (${cls})`);
  if (!u.success) return rateLimitedError(`${cls}-user`, limits.user, `user rate limit (${cls})`);
  return null;
}

/** The admin token limit, keyed by the admin's subject; runs right after requireAdmin verified it. */
export async function checkAdminRate(env: Record<string, unknown>, policy: RatePolicy | null, subject: string): Promise<void> {
  if (!policy) return;
  if (!(await rateLimiter(env, policy.binding, 'ADMIN_RATE_LIMIT').limit({ key: subject })).success) {
    throw rateLimitedError('admin', policy, 'admin rate limit');
  }
}
