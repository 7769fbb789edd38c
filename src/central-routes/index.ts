/**
 * Routes that belong to the central region (login, signup, sessions, workspaces, JWKS):
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
