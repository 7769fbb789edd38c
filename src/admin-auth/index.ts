/**
 * Admin tokens: access tokens from the central issuer (same issuer, audience, keys
 * and algorithm allowlist as tenant tokens) that carry the admin role claim
 * (ADMIN_ROLE_CLAIM, default `role`) equal to ADMIN_ROLE_VALUE (default `admin`),
 * or a list containing it. A tenant token is not an admin token.
 *
 * No token → 401 token_missing; a bad token → 401 invalid_token; a valid token
 * without the role → 403 forbidden. Refusals make no subrequest and no query
 * (the request's log line records them, with the error code).
 * (Same names and contract as issue 8's minimal requireAdmin, so either merges.)
 */
import type { MiddlewareHandler } from 'hono';
import type { JWTPayload } from 'jose';
import type { GatewayEnv } from '../gateway-env/index.ts';
import type { GatewayConfig } from '../config/index.ts';
import { GatewayError } from '../errors/index.ts';
import { timed } from '../observability/index.ts';
import { checkAdminRate } from '../tenant-limits/index.ts';
import { extractBearer, rejectionToError, verifyAccessToken } from '../token/index.ts';

export interface AdminContext {
  /** The token's `sub`: who, in the audit log. */
  readonly subject: string;
}

export function hasAdminRole(claims: JWTPayload, admin: Pick<GatewayConfig['admin'], 'roleClaim' | 'roleValue'>): boolean {
  const v = claims[admin.roleClaim];
  return v === admin.roleValue || (Array.isArray(v) && v.includes(admin.roleValue));
}

export function requireAdmin(): MiddlewareHandler<GatewayEnv> {
  return async (c, next) => {
    const { config, keySet } = c.get('runtime');
    const extracted = extractBearer(c.req.header('authorization'), config.jwt.maxTokenBytes);
    if (!extracted.ok) throw rejectionToError(extracted.reason, `admin: authorization header: ${extracted.reason}`);
    const verified = await timed(c.get('obs'), 'verifyMs', () => verifyAccessToken(extracted.token, keySet, config.jwt));
    if (!verified.ok) throw rejectionToError(verified.reason, `admin: ${verified.detail}`);
    if (!hasAdminRole(verified.claims, config.admin)) {
      throw new GatewayError('forbidden', `admin: token lacks ${config.admin.roleClaim}=${config.admin.roleValue}`);
    }
    // The subject is who the audit row names; central always sets it, anything odd is refused.
    const sub = verified.claims.sub;
    if (typeof sub !== 'string' || !/^[A-Za-z0-9_.:@-]{1,256}$/.test(sub)) throw new GatewayError('invalid_token', 'admin: sub missing or malformed');
    // Admin tokens have their own budget (per subject), checked before any admin query.
    await checkAdminRate(c.env, config.trafficLimits.admin, sub);
    c.set('admin', { subject: sub });
    await next();
  };
}
