/**
 * The gateway: a request's path through it is
 *   extract token → verify → resolve tenant and region → choose upstream → forward → respond
 * with central routes (login, signup, token refresh, JWKS) going to the central region untouched by tokens.
 */
import { Hono, type Context, type MiddlewareHandler } from 'hono';
import { adminRoutes } from './admin/index.ts';
import type { AdminContext } from './admin-auth/index.ts';
import { GatewayError, onError } from './errors/index.ts';
import { forward } from './forward/index.ts';
import { mountDataRoutes } from './query/index.ts';
import { requestIdFrom } from './request-id/index.ts';
import { getRuntime, type Runtime } from './runtime/index.ts';
import { checkRelocation } from './relocation/index.ts';
import { resolveTenant, type TenantContext } from './tenant/index.ts';
import { extractBearer, rejectionToError, verifyAccessToken } from './token/index.ts';
import { centralUpstream, regionUpstream } from './upstream/index.ts';
// Hardening (issue 4): request guard, body limit, auth rate limits, WebSocket pass-through.
import { bodyLimit } from './body-limit/index.ts';
import { authRateLimit } from './rate-limit/index.ts';
import { requestGuard } from './request-guard/index.ts';
import { forwardWebSocket, isWebSocketUpgrade } from './websocket/index.ts';

export type GatewayEnv = {
  Bindings: Record<string, unknown>;
  Variables: {
    requestId: string;
    runtime: Runtime;
    tenant: TenantContext;
    admin: AdminContext;
    error: GatewayError;
  };
};

const withRuntime = (): MiddlewareHandler<GatewayEnv> => async (c, next) => {
  c.set('requestId', requestIdFrom(c.req.raw.headers));
  const r = await getRuntime(c.env);
  if (!r.ok) {
    console.error(JSON.stringify({ level: 'error', msg: 'config_invalid', issues: r.error.issues }));
    throw new GatewayError('config_invalid', r.error.message, r.error.issues.map((i) => i.split(':')[0]).join(', ') + ' invalid');
  }
  c.set('runtime', r.runtime);
  await next();
  // Forwarded and error responses already carry it (adding it here would copy the response).
  if (!c.res.headers.has('x-request-id')) c.header('x-request-id', c.get('requestId'));
};

/** Verifies the bearer token and resolves the tenant; on any failure nothing leaves the gateway. */
const requireTenant = (): MiddlewareHandler<GatewayEnv> => async (c, next) => {
  const { config, keySet, verifiedTokens } = c.get('runtime');
  const extracted = extractBearer(c.req.header('authorization'), config.jwt.maxTokenBytes);
  if (!extracted.ok) throw rejectionToError(extracted.reason, `authorization header: ${extracted.reason}`);
  const verified = await verifiedTokens.verify(extracted.token, keySet, () => verifyAccessToken(extracted.token, keySet, config.jwt));
  if (!verified.ok) throw rejectionToError(verified.reason, verified.detail, keySet.retryAfterSeconds());
  const resolved = resolveTenant(verified.claims, config, c.req.header('x-tenant-region') ?? null);
  if (!resolved.ok) throw resolved.error;
  // A token minted before its tenant moved names the old region: refuse it (one Map lookup per request).
  await checkRelocation(c.get('runtime').relocations, resolved.tenant.tenantId, resolved.tenant.region.name, (p) => background(c, p));
  c.set('tenant', resolved.tenant);
  await next();
};

/** Work that may finish after the response (ctx.waitUntil); left running where there is no execution context (tests calling app.fetch). */
function background(c: Context<GatewayEnv>, p: Promise<unknown>): void {
  try {
    c.executionCtx.waitUntil(p);
  } catch {
    void p;
  }
}

export function createApp(): Hono<GatewayEnv> {
  const app = new Hono<GatewayEnv>();
  app.onError(onError);
  app.notFound((c) => onError(new GatewayError('not_found', `${c.req.method} ${new URL(c.req.url).pathname}`), c));
  app.use('*', withRuntime());
  app.use('*', requestGuard());

  const toCentral: MiddlewareHandler<GatewayEnv> = (c) => {
    const { config, resilience } = c.get('runtime');
    // The central region needs the caller's token to refresh it, so it is forwarded there.
    return forward(c.req.raw, new URL(c.req.url), {
      upstream: centralUpstream(config),
      resilience,
      requestId: c.get('requestId'),
      forwardAuthorization: true,
    });
  };
  app.post('/auth/signup', authRateLimit(), toCentral);
  app.post('/auth/login', authRateLimit(), toCentral);
  app.post('/auth/token', bodyLimit(), toCentral);
  app.get('/.well-known/jwks.json', toCentral);

  app.route('/admin', adminRoutes());

  // Direct data path: the tenant's regional Postgres, queried from the edge.
  mountDataRoutes(app, requireTenant());

  // The body limit runs after the token check: an unauthenticated body is never read.
  app.all('/api/*', requireTenant(), bodyLimit(), (c) => {
    const { config, assertionKey, resilience } = c.get('runtime');
    const tenant = c.get('tenant');
    const requestId = c.get('requestId');
    if (isWebSocketUpgrade(c.req.raw)) {
      const identity = { value: { tenantId: tenant.tenantId, userId: tenant.userId, region: tenant.region.name, requestId }, key: assertionKey };
      return forwardWebSocket(c.req.raw, new URL(c.req.url), { upstream: regionUpstream(tenant.region), forwardAuthorization: config.forwardAuthorization, identity });
    }
    return forward(c.req.raw, new URL(c.req.url), {
      upstream: regionUpstream(tenant.region),
      resilience,
      requestId,
      forwardAuthorization: config.forwardAuthorization,
      identity: {
        value: { tenantId: tenant.tenantId, userId: tenant.userId, region: tenant.region.name, requestId },
        key: assertionKey,
      },
    });
  });
  return app;
}
