/**
 * Per-isolate state: the validated config, the key set and the assertion key,
 * built once on the first request of an isolate and reused by every request after it.
 */
import { ConfigError, parseConfig, type GatewayConfig } from '../config/index.ts';
import { compileHeaderDropRule, type HeaderDropRule } from '../forward/headers.ts';
import { importAssertionKey, type AssertionKey } from '../identity-assertion/index.ts';
import { RelocationList } from '../relocation/index.ts';
import { createResilience, type Resilience } from '../resilience/index.ts';
import { KeySet, VerifiedTokenCache } from '../token/index.ts';

export interface Runtime {
  readonly config: GatewayConfig;
  readonly keySet: KeySet;
  /** The signing key (first of its ring) per audience: each region's name, and `central`. */
  readonly assertionKeys: ReadonlyMap<string, AssertionKey>;
  /** Recently moved tenants (src/relocation); absent without CONTROL_PLANE_DATABASE_URL. */
  readonly relocations?: RelocationList;
  /** Circuit breakers and retry policy: per isolate, shared by its requests. */
  readonly resilience: Resilience;
  readonly verifiedTokens: VerifiedTokenCache;
  /** Client request headers that never reach an origin: the families plus FORWARD_DROP_HEADERS, compiled once. */
  readonly headerRule: HeaderDropRule;
}

export type RuntimeResult = { ok: true; runtime: Runtime } | { ok: false; error: ConfigError };

const cache = new WeakMap<object, Promise<RuntimeResult>>();

async function build(env: Record<string, unknown>): Promise<RuntimeResult> {
  const parsed = parseConfig(env);
  if (!parsed.ok) return parsed;
  const { config } = parsed;
  try {
    const keySet = await KeySet.create({
      jwksUrl: config.jwt.jwksUrl,
      staticKeys: config.jwt.staticKeys,
      algorithms: config.jwt.algorithms,
      ttlMs: config.jwt.jwksCacheTtlSeconds * 1000,
      cooldownMs: config.jwt.jwksRefreshCooldownSeconds * 1000,
      maxStalenessMs: config.jwt.jwksMaxStalenessSeconds * 1000,
      fetchTimeoutMs: config.jwt.jwksFetchTimeoutMs,
    });
    const assertionKeys = new Map(
      await Promise.all([...config.assertionKeys].map(async ([audience, ring]) => [audience, await importAssertionKey(ring[0]!.kid, ring[0]!.secret)] as const)),
    );
    const verifiedTokens = new VerifiedTokenCache({
      maxEntries: config.jwt.verifiedCacheSize,
      clockToleranceSeconds: config.jwt.clockToleranceSeconds,
      maxTokenAgeSeconds: config.jwt.maxTokenAgeSeconds,
    });
    const relocations = config.controlPlaneDb
      ? new RelocationList(config.controlPlaneDb, config.relocation.refreshSeconds * 1000, config.relocation.windowSeconds)
      : undefined;
    return { ok: true, runtime: { config, keySet, assertionKeys, headerRule: compileHeaderDropRule(config.forwardDropHeaders), resilience: createResilience(config.resilience), relocations, verifiedTokens } };
  } catch (err) {
    return { ok: false, error: new ConfigError([`JWT_PUBLIC_KEYS: ${(err as Error).message}`]) };
  }
}

/** Results already built: every request after an isolate's first gets its runtime without an await. */
const built = new WeakMap<object, RuntimeResult>();

/** The env object is stable within an isolate, so it keys the cache. */
export function getRuntime(env: object): Promise<RuntimeResult> {
  let r = cache.get(env);
  if (!r) {
    r = build(env as Record<string, unknown>).then((result) => {
      built.set(env, result);
      return result;
    });
    cache.set(env, r);
  }
  return r;
}

/** The runtime for `env` if it is already built (synchronously), else undefined: then await getRuntime. */
export function builtRuntime(env: object): RuntimeResult | undefined {
  return built.get(env);
}
