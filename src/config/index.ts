/**
 * Typed configuration, validated in one place. Input is the Worker's `env`
 * (wrangler.toml [vars] plus secrets). Structured values arrive as objects from
 * wrangler.toml and as JSON strings from .env files, `--var` or the dashboard;
 * both are accepted. A bad config names the field (never its value) and the
 * gateway refuses every request with `config_invalid` instead of half-working.
 */
import { z } from 'zod';
import { HEADER_NAME_OR_PREFIX } from '../forward/headers.ts';
import { booleanish, jsonish, numberish } from './env-values.ts';
import { assertionKeysSchema, checkAssertionKeys, type AssertionKeyConfig } from './assertion-keys.ts';
import { BINDING_NAME } from './databases.ts';
import { buildTrafficLimits, trafficLimitEnvFields, type TrafficLimitsConfig } from './traffic-limits.ts';
import { buildCors, corsEnvFields, type CorsConfig } from './cors.ts';
import { LOOPBACK_HOSTS, originUrl } from './origin.ts';
import { regionName, resilienceEnvFields, zoneName } from './shared-fields.ts';

export type { DatabaseDriverConfig, DatabaseEndpoint, RegionDatabase, TransportName } from './databases.ts';
export type { ClassLimits, PaceRule, RatePolicy, RouteClass, TrafficLimitsConfig } from './traffic-limits.ts';
export { MAX_CORS_ORIGINS, type CorsConfig } from './cors.ts';
export type { AssertionKeyConfig } from './assertion-keys.ts';

export const SUPPORTED_ALGORITHMS = ['ES256', 'ES384', 'EdDSA', 'RS256', 'PS256'] as const;

const httpUrl = z.string().transform((s, ctx) => {
  try {
    const u = new URL(s);
    if (u.protocol !== 'https:' && !(u.protocol === 'http:' && LOOPBACK_HOSTS.has(u.hostname))) {
      ctx.addIssue({ code: 'custom', message: 'must be https (plain http is allowed only for loopback hosts)' });
    }
    return u.href;
  } catch {
    ctx.addIssue({ code: 'custom', message: 'must be an absolute URL' });
    return z.NEVER;
  }
});

/** A postgres:// URL (a secret: errors name the field, never the value). */
const postgresUrl = z.string().refine((s) => {
  try {
    const u = new URL(s);
    return (u.protocol === 'postgres:' || u.protocol === 'postgresql:') && !!u.hostname && u.pathname.length > 1;
  } catch {
    return false;
  }
}, 'must be a postgres://host/database URL');

/** host:port of a WebSocket-to-TCP proxy on this machine (the local world); plain ws, so loopback only. */
const wsProxyHostPort = z.string().refine((s) => {
  const m = /^(127\.0\.0\.1|localhost|\[::1\]):(\d{1,5})$/.exec(s);
  return !!m && Number(m[2]) > 0 && Number(m[2]) < 65536;
}, 'must be loopback host:port (plain ws is only for the local world)');

/**
 * A standby states its zone explicitly: the gateway cannot know where an arbitrary URL lives,
 * so the operator writes it down and validation refuses any standby whose zone differs from
 * its region's (and any standby that is another region's origin in another zone).
 */
const standbySchema = z.strictObject({ origin: originUrl, zone: zoneName });

/** Standbys per region: a handful is plenty, and it bounds the work of one failing request. */
export const MAX_STANDBYS = 4;

const regionSchema = z.strictObject({
  origin: originUrl,
  /** Defaults to the region's own name: a region without a zone is a zone of its own. */
  zone: zoneName.optional(),
  standbys: z.array(standbySchema).max(MAX_STANDBYS).default([]),
});

const jwkSchema = z.looseObject({ kty: z.string(), kid: z.string().min(1).max(256).optional(), alg: z.string().optional() });

const envSchema = z
  .object({
    JWT_ISSUER: z.string().min(1),
    JWT_AUDIENCE: z.string().min(1),
    JWKS_URL: httpUrl.optional(),
    JWT_PUBLIC_KEYS: jsonish(z.object({ keys: z.array(jwkSchema).min(1) })).optional(),
    JWT_ALGORITHMS: jsonish(z.array(z.enum(SUPPORTED_ALGORITHMS)).min(1)).default(['ES256']),
    JWT_CLOCK_TOLERANCE_SECONDS: numberish(0, 300).default(5),
    JWT_MAX_TOKEN_BYTES: numberish(256, 65536).default(8192),
    JWKS_CACHE_TTL_SECONDS: numberish(1, 86400).default(300),
    // At least 1 s: with no cooldown every token with an unknown kid would be a fetch at the key server.
    JWKS_REFRESH_COOLDOWN_SECONDS: numberish(1, 3600).default(30),
    // The token type access tokens must declare (RFC 9068: "at+jwt"; "application/" prefix optional).
    JWT_REQUIRED_TYP: z.string().min(1).max(64).default('at+jwt'),
    // A token older than this (by `iat`, which becomes required) is refused whatever its `exp` says.
    JWT_MAX_TOKEN_AGE_SECONDS: numberish(60, 7 * 86400).default(3600),
    // Request bodies are counted while they stream; past this the request gets 413.
    BODY_MAX_BYTES: numberish(1024, 100 * 1024 * 1024).default(1024 * 1024),
    // Retry-After on a 429 from the login/signup limiters; match the `period` of their [[ratelimits]].
    RATE_LIMIT_RETRY_AFTER_SECONDS: numberish(1, 3600).default(60),
    /** How long keys already held keep verifying tokens after the last successful JWKS fetch. */
    JWKS_MAX_STALENESS_SECONDS: numberish(1, 7 * 86400).default(3600),
    JWKS_FETCH_TIMEOUT_MS: numberish(100, 30_000).default(3000),
    /** Deadline for a regional origin's response headers (per attempt). */
    UPSTREAM_TIMEOUT_MS: numberish(100, 120_000).default(10_000),
    /** Deadline for the central region's response headers (login, signup, token, JWKS route). */
    CENTRAL_TIMEOUT_MS: numberish(100, 120_000).default(10_000),
    ...resilienceEnvFields,
    JWT_VERIFIED_CACHE_SIZE: numberish(0, 100_000).default(4096),
    TENANT_CLAIM: z.string().min(1).default('tenant_id'),
    REGION_CLAIM: z.string().min(1).default('tenant_region'),
    CENTRAL_ORIGIN: originUrl,
    REGIONS: jsonish(z.record(regionName, regionSchema)).refine((r) => Object.keys(r).length > 0, 'at least one region is required'),
    GATEWAY_ASSERTION_KEYS: assertionKeysSchema,
    FORWARD_AUTHORIZATION: booleanish.default(false),
    // Client request headers to drop besides the built-in families (src/forward/headers.ts): names, or prefixes ending in `*`.
    FORWARD_DROP_HEADERS: jsonish(z.array(z.string().regex(HEADER_NAME_OR_PREFIX, 'lowercase header names, or prefixes ending in *')).max(64)).default([]),
    // Observability and operations (src/observability, src/health); docs/observe.md.
    SERVER_TIMING: booleanish.default(true),
    READINESS_TIMEOUT_MS: numberish(100, 10_000).default(2000),
    READINESS_REUSE_MS: numberish(0, 60_000).default(1000),
    READINESS_ORIGIN_PATH: z.string().regex(/^\/[A-Za-z0-9._~\/-]{0,200}$/, 'must be a path starting with "/"').default('/healthz'),
    // Direct data path: the service binding of each region's data Worker (src/data-worker), which
    // alone holds that region's database credentials. The gateway itself has none.
    DATA_WORKERS: jsonish(z.record(regionName, z.string().regex(BINDING_NAME, 'must be a service binding name (A-Z, 0-9, _)'))).default({}),
    /** Deadline for a data Worker's response headers (its own database deadlines and failover fit inside). */
    DATA_WORKER_TIMEOUT_MS: numberish(100, 120_000).default(15_000),
    // Admin reporting (src/admin) and tenant relocation checks (src/relocation); see docs/global.md.
    // Gateway-admin tokens have their own type and audience, which a tenant token never has (src/admin-auth).
    ADMIN_TOKEN_TYP: z.string().min(1).max(64).default('admin+jwt'),
    ADMIN_TOKEN_AUDIENCE: z.string().min(1).default('edge-tenant-router-admin'),
    ADMIN_DEFAULT_ROWS: numberish(1, 1000).default(50),
    ADMIN_MAX_ROWS: numberish(1, 1000).default(200),
    ADMIN_STATEMENT_TIMEOUT_MS: numberish(100, 60_000).default(5000),
    CONTROLLER_DATABASE_URL: postgresUrl.optional(),
    CONTROL_PLANE_DATABASE_URL: postgresUrl.optional(),
    CONTROLLER_WS_PROXY: wsProxyHostPort.optional(),
    CONTROL_PLANE_WS_PROXY: wsProxyHostPort.optional(),
    RELOCATION_REFRESH_SECONDS: numberish(1, 3600).default(5),
    RELOCATION_WINDOW_SECONDS: numberish(60, 30 * 86400).default(86400),
    // Per-tenant rate limits and in-flight bound (src/tenant-limits); see traffic-limits.ts.
    ...trafficLimitEnvFields,
    // Browsers on other origins (src/cors).
    ...corsEnvFields,
  })
  .superRefine((env, ctx) => {
    if (!env.JWKS_URL && !env.JWT_PUBLIC_KEYS) {
      ctx.addIssue({ code: 'custom', path: ['JWKS_URL'], message: 'set JWKS_URL or JWT_PUBLIC_KEYS' });
    }
    if (env.JWKS_MAX_STALENESS_SECONDS < env.JWKS_CACHE_TTL_SECONDS) {
      ctx.addIssue({ code: 'custom', path: ['JWKS_MAX_STALENESS_SECONDS'], message: 'must be at least JWKS_CACHE_TTL_SECONDS' });
    }
    for (const region of Object.keys(env.DATA_WORKERS)) {
      if (!(region in env.REGIONS)) ctx.addIssue({ code: 'custom', path: ['DATA_WORKERS', region], message: 'is not a configured region (see REGIONS)' });
    }
    checkResidency(env, ctx);
    checkAssertionKeys(env.GATEWAY_ASSERTION_KEYS, Object.keys(env.REGIONS), ctx);
    const mediaType = (t: string) => t.toLowerCase().replace(/^application\//, '');
    if (mediaType(env.ADMIN_TOKEN_TYP) === mediaType(env.JWT_REQUIRED_TYP)) {
      ctx.addIssue({ code: 'custom', path: ['ADMIN_TOKEN_TYP'], message: 'must differ from JWT_REQUIRED_TYP (a tenant token must never pass as an admin token)' });
    }
    if (env.ADMIN_TOKEN_AUDIENCE === env.JWT_AUDIENCE) {
      ctx.addIssue({ code: 'custom', path: ['ADMIN_TOKEN_AUDIENCE'], message: 'must differ from JWT_AUDIENCE (a tenant token must never pass as an admin token)' });
    }
  });

/**
 * Database settings of the direct path that moved to the regional data Workers: a gateway env
 * carrying one is refused (naming it), so a database credential is never silently kept at the edge.
 */
const MOVED_TO_DATA_WORKERS = ['REGION_DATABASES', 'REGION_STANDBY_DATABASES', 'DB_USE_SECURE_WEBSOCKET', 'DB_PIPELINE_CONNECT', 'DB_RETRY_AFTER_SECONDS'] as const;

/**
 * Failover never leaves a residency zone: every standby (origin or database) must be in its
 * region's zone. Found here, when the config is validated, never at run time.
 */
function checkResidency(
  env: { REGIONS: Record<string, z.infer<typeof regionSchema>>; CENTRAL_ORIGIN: string },
  ctx: z.RefinementCtx,
): void {
  const zoneOf = (name: string, r: z.infer<typeof regionSchema>) => r.zone ?? name;
  const primaryOf = new Map(Object.entries(env.REGIONS).map(([name, r]) => [r.origin, { name, zone: zoneOf(name, r) }]));
  for (const [name, region] of Object.entries(env.REGIONS)) {
    const zone = zoneOf(name, region);
    region.standbys.forEach((s, i) => {
      const path = ['REGIONS', name, 'standbys', i];
      if (s.zone !== zone) {
        ctx.addIssue({ code: 'custom', path: [...path, 'zone'], message: `must be the region's zone (${zone}): failover may not leave it` });
      }
      const owner = primaryOf.get(s.origin);
      if (owner && owner.name === name) {
        ctx.addIssue({ code: 'custom', path: [...path, 'origin'], message: "is the region's own primary origin" });
      } else if (owner && owner.zone !== zone) {
        ctx.addIssue({ code: 'custom', path: [...path, 'origin'], message: `is the origin of region ${owner.name}, outside zone ${zone}` });
      }
      if (s.origin === env.CENTRAL_ORIGIN) {
        ctx.addIssue({ code: 'custom', path: [...path, 'origin'], message: 'is the central origin, not a regional app stack' });
      }
    });
  }
}

export interface StandbyConfig {
  readonly origin: string;
  readonly zone: string;
}

export interface RegionConfig {
  readonly name: string;
  readonly origin: string;
  /** Residency zone; every standby below is in it (checked at validation). */
  readonly zone: string;
  /** Tried in order when the primary is down or its circuit is open. */
  readonly standbys: readonly StandbyConfig[];
}

export interface ResilienceConfig {
  readonly upstreamTimeoutMs: number;
  readonly centralTimeoutMs: number;
  readonly databaseTimeoutMs: number;
  readonly retries: number;
  readonly retryJitterMs: number;
  readonly breakerFailureThreshold: number;
  readonly breakerCooldownMs: number;
}

export interface GatewayConfig {
  readonly jwt: {
    readonly issuer: string;
    readonly audience: string;
    readonly jwksUrl?: string;
    readonly staticKeys?: { keys: Array<Record<string, unknown>> };
    readonly algorithms: readonly string[];
    readonly clockToleranceSeconds: number;
    readonly maxTokenBytes: number;
    readonly jwksCacheTtlSeconds: number;
    readonly jwksRefreshCooldownSeconds: number;
    readonly jwksMaxStalenessSeconds: number;
    readonly jwksFetchTimeoutMs: number;
    /** Verified tokens cached per isolate (0 turns the cache off). */
    readonly verifiedCacheSize: number;
    readonly tenantClaim: string;
    readonly regionClaim: string;
    readonly requiredTyp: string;
    readonly maxTokenAgeSeconds: number;
  };
  readonly bodyMaxBytes: number;
  readonly rateLimitRetryAfterSeconds: number;
  readonly centralOrigin: string;
  readonly regions: ReadonlyMap<string, RegionConfig>;
  /** Identity-assertion key rings by audience (each region, and `central`); the first key signs. */
  readonly assertionKeys: ReadonlyMap<string, readonly AssertionKeyConfig[]>;
  readonly forwardAuthorization: boolean;
  /** Extra client request headers never forwarded (names, or `prefix*`), on top of the built-in families. */
  readonly forwardDropHeaders: readonly string[];
  readonly observability: {
    /** Add `Server-Timing` (verify, upstream, total) to responses. */
    readonly serverTiming: boolean;
    /** Upper bound for all of /readyz's probes together. */
    readonly readinessTimeoutMs: number;
    /** /readyz reuses a report younger than this (per isolate): one probe round per window at most. */
    readonly readinessReuseMs: number;
    /** Path probed on each origin by /readyz; any answer below 500 counts as reachable. */
    readonly readinessOriginPath: string;
  };
  /** Region → service binding name of its data Worker (src/data-worker); absent regions have no /data routes. */
  readonly dataWorkers: ReadonlyMap<string, string>;
  readonly dataWorkerTimeoutMs: number;
  readonly admin: {
    /** `typ` an admin token must carry (never the tenant one). */
    readonly tokenTyp: string;
    /** `aud` an admin token must carry (never the tenant one). */
    readonly tokenAudience: string;
    readonly defaultRows: number;
    readonly maxRows: number;
    readonly statementTimeoutMs: number;
  };
  /** Databases the gateway itself reads: the controller (global view) and the control plane (audit, relocations). */
  readonly controllerDb?: DbEndpoint;
  readonly controlPlaneDb?: DbEndpoint;
  readonly relocation: { readonly refreshSeconds: number; readonly windowSeconds: number };
  readonly resilience: ResilienceConfig;
  readonly trafficLimits: TrafficLimitsConfig;
  /** Undefined: CORS off (no origin allowed). */
  readonly cors?: CorsConfig;
}

export interface DbEndpoint {
  /** Secret: never logged, never in a response. */
  readonly url: string;
  /** Local world only: loopback WebSocket proxy (plain ws, no pipelined password). Unset: the driver's defaults (Neon). */
  readonly wsProxy?: string;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly issues: string[]) {
    super(`invalid gateway configuration: ${issues.join('; ')}`);
  }
}

export type ConfigResult = { ok: true; config: GatewayConfig } | { ok: false; error: ConfigError };

export function parseConfig(env: Record<string, unknown>): ConfigResult {
  // Renamed, not aliased: one knob with one meaning, and an old deploy is told instead of silently losing its value.
  if (env.DB_CONNECT_TIMEOUT_MS !== undefined) {
    return { ok: false, error: new ConfigError(['DB_CONNECT_TIMEOUT_MS: was renamed to DATABASE_TIMEOUT_MS']) };
  }
  // A role claim made any token with that claim an admin token: admin tokens now have their own typ and audience.
  for (const old of ['ADMIN_ROLE_CLAIM', 'ADMIN_ROLE_VALUE']) {
    if (env[old] !== undefined) return { ok: false, error: new ConfigError([`${old}: was replaced by ADMIN_TOKEN_TYP and ADMIN_TOKEN_AUDIENCE (roles never make an admin)`]) };
  }
  // One secret for every region was the weakness the per-region key rings replace: refused, not ignored.
  if (env.GATEWAY_ASSERTION_SECRET !== undefined) {
    return { ok: false, error: new ConfigError(['GATEWAY_ASSERTION_SECRET: was replaced by GATEWAY_ASSERTION_KEYS (one key per region and one for central)']) };
  }
  const moved = MOVED_TO_DATA_WORKERS.filter((k) => env[k] !== undefined);
  if (moved.length > 0) {
    return { ok: false, error: new ConfigError(moved.map((k) => `${k}: belongs to the regional data Workers (src/data-worker), not the gateway`)) };
  }
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.map(String).join('.') || '(env)'}: ${i.message}`);
    return { ok: false, error: new ConfigError(issues) };
  }
  const e = parsed.data;
  const regions = new Map(
    Object.entries(e.REGIONS).map(
      ([name, r]) =>
        [
          name,
          Object.freeze({
            name,
            origin: r.origin,
            zone: r.zone ?? name,
            standbys: Object.freeze(r.standbys.map((s) => Object.freeze({ ...s }))),
          }),
        ] as const,
    ),
  );
  // A named binding must exist and be a service (a Fetcher): found at validation, not by the first request.
  const bindingIssues = Object.entries(e.DATA_WORKERS)
    .filter(([, name]) => typeof (env[name] as { fetch?: unknown } | undefined)?.fetch !== 'function')
    .map(([region]) => `DATA_WORKERS.${region}: names no service binding of this Worker`);
  if (bindingIssues.length > 0) return { ok: false, error: new ConfigError(bindingIssues) };
  const config: GatewayConfig = {
    jwt: {
      issuer: e.JWT_ISSUER,
      audience: e.JWT_AUDIENCE,
      jwksUrl: e.JWKS_URL,
      staticKeys: e.JWT_PUBLIC_KEYS,
      algorithms: e.JWT_ALGORITHMS,
      clockToleranceSeconds: e.JWT_CLOCK_TOLERANCE_SECONDS,
      maxTokenBytes: e.JWT_MAX_TOKEN_BYTES,
      jwksCacheTtlSeconds: e.JWKS_CACHE_TTL_SECONDS,
      jwksRefreshCooldownSeconds: e.JWKS_REFRESH_COOLDOWN_SECONDS,
      jwksMaxStalenessSeconds: e.JWKS_MAX_STALENESS_SECONDS,
      jwksFetchTimeoutMs: e.JWKS_FETCH_TIMEOUT_MS,
      verifiedCacheSize: e.JWT_VERIFIED_CACHE_SIZE,
      tenantClaim: e.TENANT_CLAIM,
      regionClaim: e.REGION_CLAIM,
      requiredTyp: e.JWT_REQUIRED_TYP,
      maxTokenAgeSeconds: e.JWT_MAX_TOKEN_AGE_SECONDS,
    },
    bodyMaxBytes: e.BODY_MAX_BYTES,
    rateLimitRetryAfterSeconds: e.RATE_LIMIT_RETRY_AFTER_SECONDS,
    centralOrigin: e.CENTRAL_ORIGIN,
    regions,
    assertionKeys: new Map(Object.entries(e.GATEWAY_ASSERTION_KEYS)),
    forwardAuthorization: e.FORWARD_AUTHORIZATION,
    forwardDropHeaders: e.FORWARD_DROP_HEADERS,
    observability: {
      serverTiming: e.SERVER_TIMING,
      readinessTimeoutMs: e.READINESS_TIMEOUT_MS,
      readinessReuseMs: e.READINESS_REUSE_MS,
      readinessOriginPath: e.READINESS_ORIGIN_PATH,
    },
    dataWorkers: new Map(Object.entries(e.DATA_WORKERS)),
    dataWorkerTimeoutMs: e.DATA_WORKER_TIMEOUT_MS,
    admin: {
      tokenTyp: e.ADMIN_TOKEN_TYP,
      tokenAudience: e.ADMIN_TOKEN_AUDIENCE,
      defaultRows: Math.min(e.ADMIN_DEFAULT_ROWS, e.ADMIN_MAX_ROWS),
      maxRows: e.ADMIN_MAX_ROWS,
      statementTimeoutMs: e.ADMIN_STATEMENT_TIMEOUT_MS,
    },
    controllerDb: e.CONTROLLER_DATABASE_URL ? { url: e.CONTROLLER_DATABASE_URL, wsProxy: e.CONTROLLER_WS_PROXY } : undefined,
    controlPlaneDb: e.CONTROL_PLANE_DATABASE_URL ? { url: e.CONTROL_PLANE_DATABASE_URL, wsProxy: e.CONTROL_PLANE_WS_PROXY } : undefined,
    relocation: { refreshSeconds: e.RELOCATION_REFRESH_SECONDS, windowSeconds: e.RELOCATION_WINDOW_SECONDS },
    resilience: {
      upstreamTimeoutMs: e.UPSTREAM_TIMEOUT_MS,
      centralTimeoutMs: e.CENTRAL_TIMEOUT_MS,
      databaseTimeoutMs: e.DATABASE_TIMEOUT_MS,
      retries: e.UPSTREAM_RETRIES,
      retryJitterMs: e.RETRY_JITTER_MS,
      breakerFailureThreshold: e.BREAKER_FAILURE_THRESHOLD,
      breakerCooldownMs: e.BREAKER_COOLDOWN_MS,
    },
    trafficLimits: buildTrafficLimits(e),
    cors: buildCors(e),
  };
  return { ok: true, config };
}
