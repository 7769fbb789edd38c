/**
 * Routes that belong to the central region (login, signup, token refresh, JWKS):
 * forwarded there without a tenant, because the caller has none yet.
 */
import type { Hono, MiddlewareHandler } from 'hono';
import { bodyLimit } from '../body-limit/index.ts';
import { forwardObserved } from '../forward/observed.ts';
import type { GatewayEnv } from '../gateway-env/index.ts';
import { authRateLimit } from '../rate-limit/index.ts';
import { centralUpstream } from '../upstream/index.ts';

/** Forwards to central; central needs the caller's token to refresh it, so it is forwarded there. */
export function toCentral(): MiddlewareHandler<GatewayEnv> {
  return (c) => {
    const { config, resilience } = c.get('runtime');
    return forwardObserved(c, { upstream: centralUpstream(config), resilience, forwardAuthorization: true });
  };
}

export function centralRoutes(app: Hono<GatewayEnv>): void {
  const central = toCentral();
  app.post('/auth/signup', authRateLimit(), central);
  app.post('/auth/login', authRateLimit(), central);
  app.post('/auth/token', bodyLimit(), central);
  app.get('/.well-known/jwks.json', central);
}
