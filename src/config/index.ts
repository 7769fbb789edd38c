/**
 * Typed configuration, validated in one place. Input is the Worker's `env`
 * (wrangler.toml [vars] plus secrets). Structured values arrive as objects from
 * wrangler.toml and as JSON strings from .env files, `--var` or the dashboard;
 * both are accepted. A bad config names the field (never its value) and the
 * gateway refuses every request with `config_invalid` instead of half-working.
 */
import { z } from 'zod';

export const SUPPORTED_ALGORITHMS = ['ES256', 'ES384', 'EdDSA', 'RS256', 'PS256'] as const;

const REGION_NAME = /^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$/;
const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

/** JSON strings become values; anything else passes through to the schema. */
function jsonish<T extends z.ZodType>(schema: T) {
  return z.preprocess((v) => {
    if (typeof v !== 'string') return v;
    const s = v.trim();
    if (!(s.startsWith('{') || s.startsWith('['))) return v;
    try {
      return JSON.parse(s);
    } catch {
      return v; // the schema then reports "expected object/array"
    }
  }, schema);
}

const numberish = (min: number, max: number) =>
  z.preprocess((v) => (typeof v === 'string' && v.trim() !== '' ? Number(v) : v), z.number().int().min(min).max(max));

const booleanish = z.preprocess((v) => (v === 'true' ? true : v === 'false' ? false : v), z.boolean());

/** An origin is scheme://host[:port] and nothing else; plain http only to loopback (the local world). */
const originUrl = z.string().transform((s, ctx) => {
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    ctx.addIssue({ code: 'custom', message: 'must be an absolute URL' });
    return z.NEVER;
  }
  if (u.protocol !== 'https:' && !(u.protocol === 'http:' && LOOPBACK_HOSTS.has(u.hostname))) {
    ctx.addIssue({ code: 'custom', message: 'must be https (plain http is allowed only for loopback hosts)' });
  }
  if (u.username || u.password) ctx.addIssue({ code: 'custom', message: 'must not carry credentials' });
  if ((u.pathname !== '/' && u.pathname !== '') || u.search || u.hash) {
    ctx.addIssue({ code: 'custom', message: 'must be an origin only (no path, query or fragment)' });
  }
  return u.origin;
});

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

const regionSchema = z.strictObject({
  origin: originUrl,
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
    JWKS_REFRESH_COOLDOWN_SECONDS: numberish(0, 3600).default(30),
    JWT_VERIFIED_CACHE_SIZE: numberish(0, 100_000).default(4096),
    TENANT_CLAIM: z.string().min(1).default('tenant_id'),
    REGION_CLAIM: z.string().min(1).default('tenant_region'),
    CENTRAL_ORIGIN: originUrl,
    REGIONS: jsonish(
      z.record(z.string().regex(REGION_NAME, 'region names are lowercase words joined by "-"').max(64), regionSchema),
    ).refine((r) => Object.keys(r).length > 0, 'at least one region is required'),
    GATEWAY_ASSERTION_SECRET: z.string().min(32, 'must be at least 32 characters (a secret shared with the origins)'),
    FORWARD_AUTHORIZATION: booleanish.default(false),
  })
  .superRefine((env, ctx) => {
    if (!env.JWKS_URL && !env.JWT_PUBLIC_KEYS) {
      ctx.addIssue({ code: 'custom', path: ['JWKS_URL'], message: 'set JWKS_URL or JWT_PUBLIC_KEYS' });
    }
  });

export interface RegionConfig {
  readonly name: string;
  readonly origin: string;
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
    /** Verified tokens cached per isolate (0 turns the cache off). */
    readonly verifiedCacheSize: number;
    readonly tenantClaim: string;
    readonly regionClaim: string;
  };
  readonly centralOrigin: string;
  readonly regions: ReadonlyMap<string, RegionConfig>;
  readonly assertionSecret: string;
  readonly forwardAuthorization: boolean;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly issues: string[]) {
    super(`invalid gateway configuration: ${issues.join('; ')}`);
  }
}

export type ConfigResult = { ok: true; config: GatewayConfig } | { ok: false; error: ConfigError };

export function parseConfig(env: Record<string, unknown>): ConfigResult {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.map(String).join('.') || '(env)'}: ${i.message}`);
    return { ok: false, error: new ConfigError(issues) };
  }
  const e = parsed.data;
  const regions = new Map(
    Object.entries(e.REGIONS).map(([name, r]) => [name, Object.freeze({ name, origin: r.origin })] as const),
  );
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
      verifiedCacheSize: e.JWT_VERIFIED_CACHE_SIZE,
      tenantClaim: e.TENANT_CLAIM,
      regionClaim: e.REGION_CLAIM,
    },
    centralOrigin: e.CENTRAL_ORIGIN,
    regions,
    assertionSecret: e.GATEWAY_ASSERTION_SECRET,
    forwardAuthorization: e.FORWARD_AUTHORIZATION,
  };
  return { ok: true, config };
}
