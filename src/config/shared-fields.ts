/**
 * Env fields both kinds of Worker read with the same meaning and bounds: the edge
 * gateway (src/config/index.ts) and the regional data Workers (src/config/data-worker.ts).
 */
import { z } from 'zod';
import { numberish } from './env-values.ts';

export const REGION_NAME = /^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$/;
export const regionName = z.string().regex(REGION_NAME, 'region names are lowercase words joined by "-"').max(64);
/** A residency zone (eu, us, apac, ...): data of a region's tenants may be served only inside it. */
export const zoneName = z.string().regex(/^[a-z][a-z0-9-]{0,31}$/, 'zone names are short lowercase words (eu, us, apac)');

export const resilienceEnvFields = {
  /**
   * Direct-database path (src/query): deadline to connect to a database; the read deadline of a
   * transaction is this + the route's statement timeout + 1 s. (Replaces the former DB_CONNECT_TIMEOUT_MS.)
   */
  DATABASE_TIMEOUT_MS: numberish(100, 120_000).default(5000),
  /** Extra attempts for an idempotent, bodiless request that got no response byte. */
  UPSTREAM_RETRIES: numberish(0, 3).default(1),
  /** A retry waits a random time in [0, RETRY_JITTER_MS] so isolates do not retry in lockstep. */
  RETRY_JITTER_MS: numberish(0, 5000).default(50),
  BREAKER_FAILURE_THRESHOLD: numberish(1, 1000).default(5),
  BREAKER_COOLDOWN_MS: numberish(100, 3_600_000).default(10_000),
};
