/**
 * The gateway, composed: a request's path through it is
 *   guard → extract token → verify → resolve tenant and region → choose upstream → forward or query → respond
 * with central routes (login, signup, token refresh, JWKS) going to the central region untouched by tokens.
 * Every step lives in its own folder; this file only puts them in order.
 */
import { Hono } from 'hono';
import { adminRoutes } from './admin/index.ts';
import { auditRoutes } from './audit/routes.ts';
import { bodyLimit } from './body-limit/index.ts';
import { centralRoutes } from './central-routes/index.ts';
import { browserCors } from './cors/index.ts';
import { GatewayError, onError } from './errors/index.ts';
import type { GatewayEnv } from './gateway-env/index.ts';
import { healthz, readyz } from './health/index.ts';
import { observe, RecentTraffic } from './observability/index.ts';
import { toDataWorker } from './data-routes/index.ts';
import { toRegion } from './region-routes/index.ts';
import { requestGuard } from './request-guard/index.ts';
import { withRuntime } from './runtime/middleware.ts';
import { statusRoutes } from './status-page/index.ts';
import { requireTenant } from './tenant/require-tenant.ts';
import { RefusalHold, tenantLimits, TenantInFlight, TenantPacer } from './tenant-limits/index.ts';
import { isWebSocketUpgrade } from './websocket/index.ts';

/**
 * `recent` holds the per-isolate traffic the status page shows; the app is built
 * once per isolate (src/index.ts), so one app = one isolate's view.
 */
export function createApp(recent: RecentTraffic = new RecentTraffic()): Hono<GatewayEnv> {
  const app = new Hono<GatewayEnv>();
  app.onError(onError);
  app.notFound((c) => onError(new GatewayError('not_found', `${c.req.method} ${new URL(c.req.url).pathname}`), c));
  app.use('*', observe(recent));
  // Liveness answers even when the config is invalid (it reports that), so it comes before withRuntime.
  app.get('/healthz', healthz);
  app.use('*', withRuntime());
  // Before the guard and every token check: preflights are answered here, and errors get CORS headers too.
  app.use('*', browserCors());
  app.use('*', requestGuard());
  app.get('/readyz', readyz);
  statusRoutes(app, recent);
  auditRoutes(app);
  centralRoutes(app);
  app.route('/admin', adminRoutes());
  // Tenant limits count verified tenants only, and refuse before any subrequest or query.
  const inFlight = new TenantInFlight();
  const refusals = new RefusalHold();
  const pacer = new TenantPacer();
  // Direct data path: handed to the tenant's regional data Worker, which alone holds that region's database.
  app.all('/data/*', requireTenant(), tenantLimits({ routeClass: 'data', inFlight, refusals, pacer }), toDataWorker());
  // The body limit runs after the token check: an unauthenticated body is never read.
  const apiClass = (req: Request) => (isWebSocketUpgrade(req) ? 'websocket-upgrade' : 'api');
  app.all('/api/*', requireTenant(), tenantLimits({ routeClass: apiClass, inFlight, refusals, pacer }), bodyLimit(), toRegion());
  return app;
}
