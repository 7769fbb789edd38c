/**
 * Admin callers: a token from the same central issuer (same keys, iss, aud,
 * exp checks as tenant tokens) whose role claim (ADMIN_ROLE_CLAIM, default
 * `role`) equals ADMIN_ROLE_VALUE (default `admin`). A valid tenant token
 * without it gets 403; no database is touched for any rejected request.
 */
import type { MiddlewareHandler } from 'hono';
import type { JWTPayload } from 'jose';
import type { GatewayEnv } from '../app.ts';
import { GatewayError } from '../errors/index.ts';
import { extractBearer, rejectionToError, verifyAccessToken } from '../token/index.ts';

export interface AdminContext {
  /** The token's `sub`: who, in the audit log. */
  readonly subject: string;
}

const SUBJECT = /^[A-Za-z0-9_.:@-]{1,256}$/;

export function adminFromClaims(claims: JWTPayload, roleClaim: string, roleValue: string): AdminContext | GatewayError {
  const role = claims[roleClaim];
  const isAdmin = role === roleValue || (Array.isArray(role) && role.includes(roleValue));
  if (!isAdmin) return new GatewayError('forbidden', `admin route without ${roleClaim}=${roleValue}`);
  if (typeof claims.sub !== 'string' || !SUBJECT.test(claims.sub)) return new GatewayError('invalid_token', 'sub missing or malformed');
  return { subject: claims.sub };
}

export const requireAdmin = (): MiddlewareHandler<GatewayEnv> => async (c, next) => {
  const { config, keySet } = c.get('runtime');
  const extracted = extractBearer(c.req.header('authorization'), config.jwt.maxTokenBytes);
  if (!extracted.ok) throw rejectionToError(extracted.reason, `authorization header: ${extracted.reason}`);
  const verified = await verifyAccessToken(extracted.token, keySet, config.jwt);
  if (!verified.ok) throw rejectionToError(verified.reason, verified.detail);
  const admin = adminFromClaims(verified.claims, config.admin.roleClaim, config.admin.roleValue);
  if (admin instanceof GatewayError) throw admin;
  c.set('admin', admin);
  await next();
};
