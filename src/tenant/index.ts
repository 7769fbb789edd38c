/**
 * Who the caller is and where their data lives, from verified claims only.
 * The client's region tag (X-Tenant-Region) may confirm the claim, never replace it.
 */
import type { JWTPayload } from 'jose';
import type { GatewayConfig, RegionConfig } from '../config/index.ts';
import { GatewayError } from '../errors/index.ts';

export interface TenantContext {
  readonly tenantId: string;
  readonly userId: string;
  readonly region: RegionConfig;
  /** When the token stops being valid (epoch ms: its `exp`, or `iat` + the maximum token age if sooner); long-lived connections end there. */
  readonly validUntilMs?: number;
}

export type ResolveResult = { ok: true; tenant: TenantContext } | { ok: false; error: GatewayError };

// Identifiers travel in headers and SQL settings downstream: keep them to a safe alphabet.
const TENANT_ID = /^[A-Za-z0-9_-]{1,128}$/;
const USER_ID = /^[A-Za-z0-9_.:@-]{1,256}$/;

export function resolveTenant(
  claims: JWTPayload,
  config: GatewayConfig,
  regionTag: string | null,
): ResolveResult {
  const tenantId = claims[config.jwt.tenantClaim];
  if (typeof tenantId !== 'string' || !TENANT_ID.test(tenantId)) {
    return { ok: false, error: new GatewayError('forbidden', `tenant claim ${config.jwt.tenantClaim} missing or malformed`) };
  }
  const userId = claims.sub;
  if (typeof userId !== 'string' || !USER_ID.test(userId)) {
    return { ok: false, error: new GatewayError('invalid_token', 'sub missing or malformed') };
  }
  const regionName = claims[config.jwt.regionClaim];
  // Exact match against configured names only: no trimming, no case folding, no parsing.
  const region = typeof regionName === 'string' ? config.regions.get(regionName) : undefined;
  if (!region) {
    return { ok: false, error: new GatewayError('region_unknown', `region claim ${config.jwt.regionClaim} not configured`) };
  }
  if (regionTag !== null && regionTag !== region.name) {
    return { ok: false, error: new GatewayError('region_mismatch', 'X-Tenant-Region disagrees with the token') };
  }
  const exp = typeof claims.exp === 'number' ? claims.exp : Infinity;
  const aged = typeof claims.iat === 'number' ? claims.iat + config.jwt.maxTokenAgeSeconds : Infinity;
  return { ok: true, tenant: { tenantId, userId, region, validUntilMs: Math.min(exp, aged) * 1000 } };
}
