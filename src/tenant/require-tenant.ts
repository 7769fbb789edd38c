import type { MiddlewareHandler } from 'hono';
import type { JWTPayload } from 'jose';
import { afterResponse, auditDenial } from '../audit/index.ts';
import { background, type GatewayContext, type GatewayEnv } from '../gateway-env/index.ts';
import { round } from '../observability/index.ts';
import { checkRelocation } from '../relocation/index.ts';
import { extractBearer, rejectionToError, verifyAccessToken, type VerifyResult } from '../token/index.ts';
import { resolveTenant } from './index.ts';

/** Verifies the bearer token and resolves the tenant; on any failure nothing leaves the gateway. */
export function requireTenant(): MiddlewareHandler<GatewayEnv> {
  return async (c, next) => {
    const { config, keySet, verifiedTokens, relocations } = c.get('runtime');
    const extracted = extractBearer(c.req.header('authorization'), config.jwt.maxTokenBytes);
    if (!extracted.ok) throw rejectionToError(extracted.reason, `authorization header: ${extracted.reason}`);
    const obs = c.get('obs');
    const t = performance.now();
    let verified: VerifyResult;
    try {
      verified = await verifiedTokens.verify(extracted.token, keySet, () => verifyAccessToken(extracted.token, keySet, config.jwt));
    } finally {
      if (obs) obs.verifyMs = round(performance.now() - t);
    }
    if (!verified.ok) throw rejectionToError(verified.reason, verified.detail, keySet.retryAfterSeconds());
    const regionTag = c.req.header('x-tenant-region') ?? null;
    const resolved = resolveTenant(verified.claims, config, regionTag);
    if (!resolved.ok) {
      if (resolved.error.code === 'region_mismatch' || resolved.error.code === 'region_unknown') {
        await afterResponse(c, auditCrossRegionDenial(c, verified.claims, resolved.error.code, regionTag));
      }
      throw resolved.error;
    }
    // A token minted before its tenant moved names the old region: refuse it (one Map lookup per request).
    if (relocations) await checkRelocation(relocations, resolved.tenant.tenantId, resolved.tenant.region.name, (p) => background(c, p));
    c.set('tenant', resolved.tenant);
    await next();
  };
}

/** A verified caller asking for a region its token does not grant: a privileged-action attempt, audited. */
function auditCrossRegionDenial(c: GatewayContext, claims: JWTPayload, code: string, regionTag: string | null): Promise<void> {
  const { config } = c.get('runtime');
  const str = (v: unknown) => (typeof v === 'string' ? v.slice(0, 128) : null);
  const tenant = str(claims[config.jwt.tenantClaim]);
  // Bounded per actor, tenant and isolate (src/audit/denials.ts): a valid token can repeat this at request rate.
  return auditDenial(
    config,
    {
      actor: str(claims.sub) ?? 'anonymous',
      actorKind: 'tenant_user',
      action: 'tenant.region_denied',
      target: tenant ?? undefined,
      result: 'denied',
      requestId: c.get('requestId'),
      clientRequestId: c.get('obs').clientRequestId,
      detail: { code, tokenRegion: str(claims[config.jwt.regionClaim]), requestedRegion: regionTag?.slice(0, 128) ?? null },
    },
    { tenant: tenant ?? '', reason: code },
  );
}
