/**
 * Routes that belong to the central region (login, signup, sessions, workspaces, JWKS):
 * forwarded there without a tenant, because the caller has none yet.
 */
import type { Hono, MiddlewareHandler } from 'hono';
import { bodyLimit } from '../body-limit/index.ts';
import { forwardObserved } from '../forward/observed.ts';
import type { GatewayEnv } from '../gateway-env/index.ts';
import { clientAddress } from '../client-address/index.ts';
import { CENTRAL_AUDIENCE } from '../identity-assertion/index.ts';
import { authRateLimit } from '../rate-limit/index.ts';
import { centralUpstream } from '../upstream/index.ts';

/**
 * Forwards to central; central needs the caller's token to refresh it, so it is forwarded there.
 * Signed with central's own assertion key: the client's address (from the platform) and the
 * request id, so central can refuse calls that did not come through the gateway.
 */
export function toCentral(): MiddlewareHandler<GatewayEnv> {
  return (c) => {
    const { config, resilience, assertionKeys } = c.get('runtime');
    const central = { value: { clientIp: clientAddress(c.req.raw.headers), requestId: c.get('requestId') }, key: assertionKeys.get(CENTRAL_AUDIENCE)! };
    return forwardObserved(c, { upstream: centralUpstream(config), resilience, forwardAuthorization: true, central });
  };
}

export function centralRoutes(app: Hono<GatewayEnv>): void {
  const central = toCentral();
  // Everything that signs in or extends a session shares the per-IP budget (and login/signup the per-account one).
  app.post('/auth/signup', authRateLimit(), central);
  app.post('/auth/login', authRateLimit(), central);
  app.post('/auth/token', authRateLimit(), central);
  app.post('/auth/refresh', authRateLimit(), central);
  app.post('/auth/logout', authRateLimit(), central);
  app.get('/auth/workspaces', central);
  app.post('/auth/workspaces', bodyLimit(), central);
  app.post('/auth/workspaces/:id/members', bodyLimit(), central);
  app.get('/.well-known/jwks.json', central);
}
