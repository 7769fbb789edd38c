/**
 * Admin tokens: access tokens from the central issuer (same issuer, audience, keys
 * and algorithm allowlist as tenant tokens) that carry the admin role claim
 * (ADMIN_ROLE_CLAIM, default `role`) equal to ADMIN_ROLE_VALUE (default `admin`),
 * or a list containing it. A tenant token is not an admin token. Used by every
 * route under /admin/ that returns data.
 *
 * No token → 401 token_missing; a bad token → 401 invalid_token; a valid token
 * without the role → 403 forbidden, written to the audit log. Refusals make no
 * subrequest to any origin.
 */
import type { MiddlewareHandler } from 'hono';
import type { JWTPayload } from 'jose';
import type { GatewayEnv } from '../app.ts';
import { afterResponse, auditLog } from '../audit/index.ts';
import type { GatewayConfig } from '../config/index.ts';
import { GatewayError } from '../errors/index.ts';
import { timed } from '../observability/index.ts';
import { extractBearer, rejectionToError, verifyAccessToken } from '../token/index.ts';

export function hasAdminRole(claims: JWTPayload, admin: GatewayConfig['admin']): boolean {
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
      // A valid token reaching for admin is worth an audit row; missing or bad tokens are only logged (scanners).
      await afterResponse(
        c,
        auditLog(config).write({
          actor: typeof verified.claims.sub === 'string' ? verified.claims.sub : 'anonymous',
          actorKind: 'tenant_user',
          action: 'admin.access',
          target: c.req.path,
          result: 'denied',
          requestId: c.get('requestId'),
          detail: { code: 'forbidden' },
        }),
      );
      throw new GatewayError('forbidden', `admin: token lacks ${config.admin.roleClaim}=${config.admin.roleValue}`);
    }
    c.set('admin', { subject: typeof verified.claims.sub === 'string' ? verified.claims.sub : 'unknown' });
    await next();
  };
}
