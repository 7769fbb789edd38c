/**
 * Gateway-admin tokens. From the central issuer with the same keys and algorithm allowlist
 * as tenant tokens, but distinguishable by what a tenant token can never carry: their own
 * token type (ADMIN_TOKEN_TYP, default `admin+jwt`, never the tenant `typ`) and their own
 * audience (ADMIN_TOKEN_AUDIENCE, never JWT_AUDIENCE). So a tenant token is never an admin
 * token (whatever roles or claims central puts into it: a workspace membership role is not
 * looked at), and an admin token never routes tenant traffic (the tenant path requires the
 * tenant `typ` and audience). An admin token names no tenant and lists the regions it may
 * read in `admin_regions` (configured region names); requireAdmin puts that scope in the
 * context and every /admin route and the status page enforce it.
 *
 * No token → 401 token_missing; a token that verifies as neither → 401 invalid_token; a
 * valid tenant token, an admin token naming a tenant, or one with no region it may read →
 * 403 forbidden. Refusals make no subrequest and no query.
 */
import type { MiddlewareHandler } from 'hono';
import type { JWTPayload } from 'jose';
import type { GatewayConfig } from '../config/index.ts';
import { GatewayError } from '../errors/index.ts';
import type { GatewayContext, GatewayEnv } from '../gateway-env/index.ts';
import { timed } from '../observability/index.ts';
import { checkAdminRate } from '../tenant-limits/index.ts';
import { extractBearer, rejectionToError, verifyAccessToken } from '../token/index.ts';

export const ADMIN_REGIONS_CLAIM = 'admin_regions';

export interface AdminContext {
  /** The token's `sub`: who, in the audit log. */
  readonly subject: string;
  /** Configured regions this admin may read; nothing of any other region is shown. */
  readonly regions: ReadonlySet<string>;
  /** Every configured region: only such an admin sees what belongs to no region (central, the audit log). */
  readonly allRegions: boolean;
}

export type AdminScope = { ok: true; admin: AdminContext } | { ok: false; why: string };

/** The admin scope of verified admin-token claims, or why there is none. */
export function adminScope(claims: JWTPayload, config: Pick<GatewayConfig, 'regions' | 'jwt'>): AdminScope {
  if (claims[config.jwt.tenantClaim] !== undefined || claims[config.jwt.regionClaim] !== undefined) {
    return { ok: false, why: 'admin token names a tenant' };
  }
  const sub = claims.sub;
  if (typeof sub !== 'string' || !/^[A-Za-z0-9_.:@-]{1,256}$/.test(sub)) return { ok: false, why: 'sub missing or malformed' };
  const listed = claims[ADMIN_REGIONS_CLAIM];
  if (!Array.isArray(listed)) return { ok: false, why: `${ADMIN_REGIONS_CLAIM} missing` };
  // Exact names only; names the gateway does not serve grant nothing.
  const regions = new Set(listed.filter((r): r is string => typeof r === 'string' && config.regions.has(r)));
  if (regions.size === 0) return { ok: false, why: `${ADMIN_REGIONS_CLAIM} names no configured region` };
  return { ok: true, admin: { subject: sub, regions, allRegions: regions.size === config.regions.size } };
}

/** Verifies an admin token (admin `typ` and audience); a valid tenant token is told apart for a 403. */
export async function verifyAdmin(c: GatewayContext, authorization: string | undefined): Promise<AdminContext> {
  const { config, keySet, verifiedTokens } = c.get('runtime');
  const extracted = extractBearer(authorization, config.jwt.maxTokenBytes);
  if (!extracted.ok) throw rejectionToError(extracted.reason, `admin: authorization header: ${extracted.reason}`);
  const adminOpts = { ...config.jwt, audience: config.admin.tokenAudience, requiredTyp: config.admin.tokenTyp };
  const verified = await timed(c.get('obs'), 'verifyMs', () => verifyAccessToken(extracted.token, keySet, adminOpts));
  if (!verified.ok) {
    if (verified.reason === 'claim_invalid') {
      const asTenant = await verifiedTokens.verify(extracted.token, keySet, () => verifyAccessToken(extracted.token, keySet, config.jwt));
      if (asTenant.ok) throw new GatewayError('forbidden', 'admin: a tenant token is not an admin token');
    }
    throw rejectionToError(verified.reason, `admin: ${verified.detail}`, keySet.retryAfterSeconds());
  }
  const scope = adminScope(verified.claims, config);
  if (!scope.ok) throw new GatewayError('forbidden', `admin: ${scope.why}`);
  return scope.admin;
}

export function requireAdmin(): MiddlewareHandler<GatewayEnv> {
  return async (c, next) => {
    const admin = await verifyAdmin(c, c.req.header('authorization'));
    // Admin tokens have their own budget (per subject), checked before any admin query.
    await checkAdminRate(c.env, c.get('runtime').config.trafficLimits.admin, admin.subject);
    c.set('admin', admin);
    await next();
  };
}

/** For routes that show what belongs to no single region: only an admin of every region. */
export function requireAllRegions(): MiddlewareHandler<GatewayEnv> {
  return async (c, next) => {
    if (!c.get('admin').allRegions) throw new GatewayError('forbidden', 'admin: route needs every region in admin_regions');
    await next();
  };
}
