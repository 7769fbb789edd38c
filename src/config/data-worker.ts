/**
 * Configuration of one regional data Worker (src/data-worker): the Worker placed
 * next to its region's database that answers /data/* for the edge gateway. It
 * holds only its own region's databases (REGION_DATABASES with exactly that
 * region, as a Hyperdrive binding or a Neon URL) and the assertion secret it
 * verifies the edge's signed identity with. Same rules as the gateway's config:
 * validated once per isolate, errors name the field, never the value.
 */
import { z } from 'zod';
import { buildDatabases, databaseEnvFields, regionDatabaseSchema, standbyDatabaseSchema, type DatabaseDriverConfig, type RegionDatabase } from './databases.ts';
import { jsonish } from './env-values.ts';
import { assertionKeysSchema, type AssertionKeyConfig } from './assertion-keys.ts';
import { regionName, resilienceEnvFields, zoneName } from './shared-fields.ts';
import { ConfigError, type ResilienceConfig } from './index.ts';

const dataWorkerSchema = z.object({
  /** The one region this Worker serves; a request for a tenant of any other region is refused before any query. */
  DATA_REGION: regionName,
  /** The region's residency zone (defaults to its name); a standby database must state the same zone. */
  DATA_ZONE: zoneName.optional(),
  /** `{ "<DATA_REGION>": [{kid, secret}, …] }`: the region's key ring, the one the edge signs this region's requests with. */
  GATEWAY_ASSERTION_KEYS: assertionKeysSchema,
  REGION_DATABASES: jsonish(z.record(z.string(), regionDatabaseSchema)).optional(),
  REGION_STANDBY_DATABASES: jsonish(z.record(z.string(), standbyDatabaseSchema)).optional(),
  ...databaseEnvFields,
  ...resilienceEnvFields,
});

export interface DataWorkerConfig {
  readonly region: string;
  readonly zone: string;
  /** The region's assertion key ring (secret). */
  readonly assertionKeys: readonly AssertionKeyConfig[];
  /** Absent: this region has no database, and every data route answers 404. */
  readonly database?: RegionDatabase;
  readonly databaseDriver: DatabaseDriverConfig;
  readonly resilience: ResilienceConfig;
}

export type DataWorkerConfigResult = { ok: true; config: DataWorkerConfig } | { ok: false; error: ConfigError };

/** `env` is the data Worker's whole environment: vars, secrets and bindings (Hyperdrive bindings are looked up by name). */
export function parseDataWorkerConfig(env: Record<string, unknown>): DataWorkerConfigResult {
  const parsed = dataWorkerSchema.safeParse(env);
  if (!parsed.success) {
    return { ok: false, error: new ConfigError(parsed.error.issues.map((i) => `${i.path.map(String).join('.') || '(env)'}: ${i.message}`)) };
  }
  const e = parsed.data;
  const zone = e.DATA_ZONE ?? e.DATA_REGION;
  const issues: string[] = [];
  // Another region's credentials have no business here: refused, not ignored.
  for (const key of ['REGION_DATABASES', 'REGION_STANDBY_DATABASES'] as const) {
    for (const r of Object.keys(e[key] ?? {})) if (r !== e.DATA_REGION) issues.push(`${key}.${r}: is not this data Worker's region (DATA_REGION)`);
  }
  // Another region's key would let this Worker's secrets vouch for that region: only its own ring.
  for (const r of Object.keys(e.GATEWAY_ASSERTION_KEYS)) if (r !== e.DATA_REGION) issues.push(`GATEWAY_ASSERTION_KEYS.${r}: is not this data Worker's region (DATA_REGION)`);
  const ring = Object.hasOwn(e.GATEWAY_ASSERTION_KEYS, e.DATA_REGION) ? e.GATEWAY_ASSERTION_KEYS[e.DATA_REGION]! : undefined;
  if (!ring) issues.push(`GATEWAY_ASSERTION_KEYS.${e.DATA_REGION}: missing: the key ring of this data Worker's region`);
  const standby = e.REGION_STANDBY_DATABASES?.[e.DATA_REGION];
  if (standby && standby.zone !== zone) issues.push(`REGION_STANDBY_DATABASES.${e.DATA_REGION}.zone: must be the region's zone (${zone}): failover may not leave it`);
  const databaseDriver: DatabaseDriverConfig = {
    useSecureWebSocket: e.DB_USE_SECURE_WEBSOCKET,
    pipelineConnect: e.DB_PIPELINE_CONNECT,
    connectTimeoutMs: e.DATABASE_TIMEOUT_MS,
    retryAfterSeconds: e.DB_RETRY_AFTER_SECONDS,
  };
  const own = (r: Record<string, unknown> | undefined) => (r && e.DATA_REGION in r ? { [e.DATA_REGION]: r[e.DATA_REGION] } : undefined);
  const databases = buildDatabases(
    own(e.REGION_DATABASES) as Parameters<typeof buildDatabases>[0],
    own(e.REGION_STANDBY_DATABASES) as Parameters<typeof buildDatabases>[1],
    new Set([e.DATA_REGION]),
    databaseDriver,
    (path, message) => issues.push(`${path}: ${message}`),
    env,
  );
  if (issues.length > 0) return { ok: false, error: new ConfigError(issues) };
  return {
    ok: true,
    config: {
      region: e.DATA_REGION,
      zone,
      assertionKeys: ring!,
      database: databases.get(e.DATA_REGION),
      databaseDriver,
      resilience: {
        // This Worker makes no HTTP subrequests: its only deadline is the database's.
        upstreamTimeoutMs: e.DATABASE_TIMEOUT_MS,
        centralTimeoutMs: e.DATABASE_TIMEOUT_MS,
        databaseTimeoutMs: e.DATABASE_TIMEOUT_MS,
        retries: e.UPSTREAM_RETRIES,
        retryJitterMs: e.RETRY_JITTER_MS,
        breakerFailureThreshold: e.BREAKER_FAILURE_THRESHOLD,
        breakerCooldownMs: e.BREAKER_COOLDOWN_MS,
      },
    },
  };
}
