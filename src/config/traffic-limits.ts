/**
 * Per-tenant traffic control (src/tenant-limits): rate limits per route class with the
 * Workers Rate Limiting binding, an admin token limit, and the per-isolate in-flight bound.
 *
 * The binding's own limit and period live in wrangler.toml `[[ratelimits]]` (the runtime API
 * takes only a key); each policy here names its binding and repeats the limit and period,
 * because the binding cannot report them and the 429's RateLimit-Policy header needs them.
 * `npm run build:check` fails when a policy and its environment's binding disagree.
 */
import { z } from 'zod';
import { jsonish, numberish } from './env-values.ts';

/** The route classes a tenant's request falls into; each has its own budget. */
export const ROUTE_CLASSES = ['api', 'data', 'websocket-upgrade'] as const;
export type RouteClass = (typeof ROUTE_CLASSES)[number];

/** The binding accepts only these periods (seconds). */
export const RATE_LIMIT_PERIODS = [10, 60] as const;
/** Largest limit accepted per policy (per key and period); a bigger number is a typo, not a policy. */
export const MAX_RATE_LIMIT = 1_000_000;

const bindingName = z.string().regex(/^[A-Z][A-Z0-9_]{0,63}$/, 'must be a binding name (UPPER_SNAKE_CASE)');

const policySchema = z.strictObject({
  binding: bindingName,
  limit: z.number().int().min(1).max(MAX_RATE_LIMIT),
  period: z.union([z.literal(10), z.literal(60)], { error: 'must be 10 or 60 (the periods the binding supports)' }),
});

/** Per class: the tenant's budget, and optionally each user's budget within the tenant. */
const classSchema = z.strictObject({ tenant: policySchema, user: policySchema.optional() });

export type RatePolicy = z.infer<typeof policySchema>;
export type ClassLimits = z.infer<typeof classSchema>;

/** `off` only for a Worker run without the bindings (bare workerd in bench/); every deploy sets limits. */
const off = z.literal('off');

export const DEFAULT_TENANT_RATE_LIMITS: Record<RouteClass, ClassLimits> = {
  api: { tenant: { binding: 'TENANT_API_RATE_LIMITER', limit: 1000, period: 10 } },
  data: { tenant: { binding: 'TENANT_DATA_RATE_LIMITER', limit: 500, period: 10 } },
  'websocket-upgrade': { tenant: { binding: 'TENANT_WS_RATE_LIMITER', limit: 60, period: 60 } },
};
export const DEFAULT_ADMIN_RATE_LIMIT: RatePolicy = { binding: 'ADMIN_RATE_LIMITER', limit: 120, period: 60 };

/** In-flight requests per tenant per isolate: default and range (README configuration reference). */
export const DEFAULT_TENANT_MAX_IN_FLIGHT = 32;
export const TENANT_MAX_IN_FLIGHT_RANGE = [1, 10_000] as const;

/**
 * How long a refused tenant request (429 rate_limited, 503 tenant_busy) is held before its answer,
 * and how many may be held at once per isolate: default and range (README configuration reference).
 */
export const DEFAULT_TENANT_REFUSAL_DELAY_MS = 250;
export const TENANT_REFUSAL_DELAY_RANGE = [0, 2000] as const;
export const DEFAULT_TENANT_REFUSALS_HELD = 1000;
export const TENANT_REFUSALS_HELD_RANGE = [0, 100_000] as const;

/**
 * Pacing within a window (src/tenant-limits/pacer.ts): per tenant and route class, per isolate, a
 * share of the period's budget is admitted at once, the rest spread evenly over the period; a request
 * over the pace waits up to `maxWaitMs` for its turn, else 429. Default and ranges (README).
 * 2 % at once: a flood's budget reaches the origins nearly evenly (at 10 % its bursts still showed
 * in the other tenants' p99 in the noisy run), and a burst beyond it waits rather than being refused.
 */
export const DEFAULT_TENANT_PACING = { burst: 0.02, maxWaitMs: 1000 } as const;
export const TENANT_PACING_MAX_WAIT_RANGE = [0, 10_000] as const;
/**
 * The classes paced: request rates. WebSocket upgrades are few and long-lived, and a tenant's users
 * open theirs together; their window (60 per 60 s by default) is their limit.
 */
export const PACED_CLASSES = ['api', 'data'] as const satisfies readonly RouteClass[];

const pacingSchema = z.strictObject({
  burst: z.number().gt(0, 'must be over 0 (a share of the period\'s budget; "off" turns pacing off)').max(1, 'must be at most 1 (the whole budget at once)'),
  maxWaitMs: z.number().int().min(TENANT_PACING_MAX_WAIT_RANGE[0]).max(TENANT_PACING_MAX_WAIT_RANGE[1]),
});

export const trafficLimitEnvFields = {
  TENANT_RATE_LIMITS: z
    .union([off, jsonish(z.strictObject({ api: classSchema, data: classSchema, 'websocket-upgrade': classSchema }))])
    .default(DEFAULT_TENANT_RATE_LIMITS),
  ADMIN_RATE_LIMIT: z.union([off, jsonish(policySchema)]).default(DEFAULT_ADMIN_RATE_LIMIT),
  TENANT_MAX_IN_FLIGHT: numberish(...TENANT_MAX_IN_FLIGHT_RANGE).default(DEFAULT_TENANT_MAX_IN_FLIGHT),
  TENANT_BUSY_RETRY_AFTER_SECONDS: numberish(1, 60).default(1),
  TENANT_REFUSAL_DELAY_MS: numberish(...TENANT_REFUSAL_DELAY_RANGE).default(DEFAULT_TENANT_REFUSAL_DELAY_MS),
  TENANT_REFUSALS_HELD: numberish(...TENANT_REFUSALS_HELD_RANGE).default(DEFAULT_TENANT_REFUSALS_HELD),
  TENANT_PACING: z.union([off, jsonish(pacingSchema)]).default(DEFAULT_TENANT_PACING),
};

/** One route class's pace, from its tenant policy. */
export interface PaceRule {
  /** Requests admitted at once, before pacing (≥ 1). */
  readonly burst: number;
  /** Milliseconds between two paced requests (period ÷ limit). */
  readonly intervalMs: number;
  /** How long a request over the pace may wait for its turn; past it, refused. */
  readonly maxWaitMs: number;
}

export interface TrafficLimitsConfig {
  /** null: rate limits off (no bindings). */
  readonly rate: Readonly<Record<RouteClass, ClassLimits>> | null;
  readonly admin: RatePolicy | null;
  readonly maxInFlight: number;
  readonly busyRetryAfterSeconds: number;
  /** 0: refusals are answered at once. */
  readonly refusalDelayMs: number;
  readonly refusalsHeld: number;
  /** Per paced route class, from its tenant policy; null: not paced (pacing or rate limits off). */
  readonly pace: Readonly<Partial<Record<RouteClass, PaceRule>>> | null;
}

export function buildTrafficLimits(e: {
  TENANT_RATE_LIMITS: 'off' | Record<RouteClass, ClassLimits>;
  ADMIN_RATE_LIMIT: 'off' | RatePolicy;
  TENANT_MAX_IN_FLIGHT: number;
  TENANT_BUSY_RETRY_AFTER_SECONDS: number;
  TENANT_REFUSAL_DELAY_MS: number;
  TENANT_REFUSALS_HELD: number;
  TENANT_PACING: 'off' | { burst: number; maxWaitMs: number };
}): TrafficLimitsConfig {
  const rate = e.TENANT_RATE_LIMITS === 'off' ? null : e.TENANT_RATE_LIMITS;
  const pacing = e.TENANT_PACING;
  return {
    rate,
    pace: rate && pacing !== 'off' ? paceRules(rate, pacing) : null,
    admin: e.ADMIN_RATE_LIMIT === 'off' ? null : e.ADMIN_RATE_LIMIT,
    maxInFlight: e.TENANT_MAX_IN_FLIGHT,
    busyRetryAfterSeconds: e.TENANT_BUSY_RETRY_AFTER_SECONDS,
    refusalDelayMs: e.TENANT_REFUSAL_DELAY_MS,
    refusalsHeld: e.TENANT_REFUSALS_HELD,
  };
}

function paceRules(rate: Record<RouteClass, ClassLimits>, pacing: { burst: number; maxWaitMs: number }): Partial<Record<RouteClass, PaceRule>> {
  const rule = ({ limit, period }: RatePolicy): PaceRule => ({
    burst: Math.max(1, Math.floor(pacing.burst * limit)),
    intervalMs: (period * 1000) / limit,
    maxWaitMs: pacing.maxWaitMs,
  });
  return Object.fromEntries(PACED_CLASSES.map((cls) => [cls, rule(rate[cls].tenant)]));
}

/** Every policy of a config, with where it is configured: for checks against wrangler.toml. */
export function policiesOf(t: TrafficLimitsConfig): Array<{ field: string; policy: RatePolicy }> {
  const out: Array<{ field: string; policy: RatePolicy }> = [];
  for (const cls of ROUTE_CLASSES) {
    const c = t.rate?.[cls];
    if (c) out.push({ field: `TENANT_RATE_LIMITS.${cls}.tenant`, policy: c.tenant });
    if (c?.user) out.push({ field: `TENANT_RATE_LIMITS.${cls}.user`, policy: c.user });
  }
  if (t.admin) out.push({ field: 'ADMIN_RATE_LIMIT', policy: t.admin });
  return out;
}

/**
 * Mismatches between the policies and the environment's `[[ratelimits]]` bindings
 * (as `wrangler`'s config reader gives them): a missing binding, or another limit or period.
 */
export function rateLimitBindingMismatches(
  t: TrafficLimitsConfig,
  bindings: ReadonlyArray<{ name: string; simple?: { limit: number; period: number } }>,
): string[] {
  const byName = new Map(bindings.map((b) => [b.name, b]));
  const out: string[] = [];
  for (const { field, policy } of policiesOf(t)) {
    const b = byName.get(policy.binding);
    if (!b) out.push(`${field}: binding ${policy.binding} is not declared in [[ratelimits]]`);
    else if (b.simple?.limit !== policy.limit || b.simple?.period !== policy.period) {
      out.push(`${field}: says ${policy.limit} per ${policy.period} s, binding ${policy.binding} has ${b.simple?.limit} per ${b.simple?.period} s`);
    }
  }
  return out;
}
