/**
 * `/api/*`: a tenant's request forwarded to its home region's app stack (HTTP or
 * WebSocket), with the identity derived from the verified token, signed.
 */
import type { MiddlewareHandler } from 'hono';
import { forwardObserved } from '../forward/observed.ts';
import { requestUrl, type GatewayEnv } from '../gateway-env/index.ts';
import { unlessRefused } from '../relocation/region-refusal.ts';
import { timed } from '../observability/index.ts';
import { regionUpstream } from '../upstream/index.ts';
import { forwardWebSocket, isWebSocketUpgrade } from '../websocket/index.ts';

/** Runs after requireTenant (and the body limit): the tenant is resolved and verified. */
export function toRegion(): MiddlewareHandler<GatewayEnv> {
  return (c) => {
    const { config, assertionKeys, resilience } = c.get('runtime');
    const tenant = c.get('tenant');
    const requestId = c.get('requestId');
    // What the origin will trust, signed: derived from the verified token only.
    const identity = { value: { tenantId: tenant.tenantId, userId: tenant.userId, region: tenant.region.name, requestId }, key: assertionKeys.get(tenant.region.name)! };
    if (isWebSocketUpgrade(c.req.raw)) {
      const obs = c.get('obs');
      const { relocations } = c.get('runtime');
      // The socket ends with the token, and when the tenant moves away from this region.
      const lifetime = {
        validUntilMs: tenant.validUntilMs ?? Date.now(),
        recheckMs: config.relocation.refreshSeconds * 1000,
        stillHome: relocations
          ? async () => {
              await relocations.ready((p) => void p.catch(() => undefined));
              return relocations.movedAway(tenant.tenantId, tenant.region.name) === undefined;
            }
          : undefined,
      };
      obs.upstream = { kind: 'region', name: tenant.region.name };
      return timed(obs, 'upstreamMs', () =>
        forwardWebSocket(c.req.raw, requestUrl(c), { upstream: regionUpstream(tenant.region), forwardAuthorization: config.forwardAuthorization, identity, headerRule: c.get('runtime').headerRule, clientRequestId: obs.clientRequestId, lifetime }),
      );
    }
    // The region itself may say the tenant is not (or not yet) there: then answer in the gateway's error model.
    return forwardObserved(c, { upstream: regionUpstream(tenant.region), resilience, forwardAuthorization: config.forwardAuthorization, identity }).then(unlessRefused);
  };
}
