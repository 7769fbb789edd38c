/**
 * The gateway: a request's path through it is
 *   extract token → verify → resolve tenant and region → choose upstream → forward → respond
 * with central routes (login, signup, token refresh, JWKS) going to the central region untouched by tokens.
 */
import { Hono, type Context, type MiddlewareHandler } from 'hono';
import type { JWTPayload } from 'jose';
import { afterResponse, auditLog } from './audit/index.ts';
import { auditRoutes } from './audit/routes.ts';
import { adminRoutes } from './admin/index.ts';
import type { AdminContext } from './admin-auth/index.ts';
import { GatewayError, onError } from './errors/index.ts';
import { forward, type ForwardOptions } from './forward/index.ts';
import { healthz, readyz } from './health/index.ts';
import { observe, outgoingTraceparent, RecentTraffic, timed, type Observation } from './observability/index.ts';
import { mountDataRoutes } from './query/index.ts';
import { getRuntime, type Runtime } from './runtime/index.ts';
import { statusRoutes } from './status-page/index.ts';
import { checkRelocation } from './relocation/index.ts';
import { resolveTenant, type TenantContext } from './tenant/index.ts';
import { extractBearer, rejectionToError, verifyAccessToken } from './token/index.ts';
import { centralUpstream, regionUpstream, type Upstream } from './upstream/index.ts';
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
    obs: Observation;
  };
};

/** The request id is set by `observe` (outermost), so even a config error is logged under it. */
const withRuntime = (): MiddlewareHandler<GatewayEnv> => async (c, next) => {
  const r = await getRuntime(c.env);
  if (!r.ok) {
    // The issues (field names and rules, never values) reach the request's log line as the error detail.
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
  const verified = await timed(c.get('obs'), 'verifyMs', () =>
    verifiedTokens.verify(extracted.token, keySet, () => verifyAccessToken(extracted.token, keySet, config.jwt)),
  );
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
  await checkRelocation(c.get('runtime').relocations, resolved.tenant.tenantId, resolved.tenant.region.name, (p) => background(c, p));
  c.set('tenant', resolved.tenant);
  await next();
};

/** Forwards, recording the upstream and its latency, and carrying the trace to the origin. */
function send(c: Context<GatewayEnv>, opts: Omit<ForwardOptions, 'requestId' | 'trace' | 'onServed'> & { upstream: Upstream }): Promise<Response> {
  const obs = c.get('obs');
  const upstream: NonNullable<Observation['upstream']> = { kind: opts.upstream.kind, name: opts.upstream.name };
  obs.upstream = upstream;
  const trace = { traceparent: outgoingTraceparent(obs.trace), tracestate: obs.trace.tracestate };
  const onServed = (s: { origin: string; attempts: number }) => {
    upstream.target = s.origin;
    upstream.attempts = s.attempts;
  };
  return timed(obs, 'upstreamMs', () => forward(c.req.raw, new URL(c.req.url), { ...opts, requestId: c.get('requestId'), trace, onServed }));
}

/** A verified caller asking for a region its token does not grant: a privileged-action attempt, audited. */
function auditCrossRegionDenial(c: Context<GatewayEnv>, claims: JWTPayload, code: string, regionTag: string | null): Promise<void> {
  const { config } = c.get('runtime');
  const str = (v: unknown) => (typeof v === 'string' ? v.slice(0, 128) : null);
  return auditLog(config).write({
    actor: str(claims.sub) ?? 'anonymous',
    actorKind: 'tenant_user',
    action: 'tenant.region_denied',
    target: str(claims[config.jwt.tenantClaim]) ?? undefined,
    result: 'denied',
    requestId: c.get('requestId'),
    detail: { code, tokenRegion: str(claims[config.jwt.regionClaim]), requestedRegion: regionTag?.slice(0, 128) ?? null },
  });
}

/** Work that may finish after the response (ctx.waitUntil); left running where there is no execution context (tests calling app.fetch). */
function background(c: Context<GatewayEnv>, p: Promise<unknown>): void {
  try {
    c.executionCtx.waitUntil(p);
  } catch {
    void p;
  }
}

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
  app.use('*', requestGuard());
  app.get('/readyz', readyz);
  statusRoutes(app, recent);
  auditRoutes(app);

  const toCentral: MiddlewareHandler<GatewayEnv> = (c) => {
    const { config, resilience } = c.get('runtime');
    // The central region needs the caller's token to refresh it, so it is forwarded there.
    return send(c, { upstream: centralUpstream(config), resilience, forwardAuthorization: true });
  };
  app.post('/auth/signup', authRateLimit(), toCentral);
  app.post('/auth/login', authRateLimit(), toCentral);
  app.post('/auth/token', bodyLimit(), toCentral);
  app.get('/.well-known/jwks.json', toCentral);

  app.route('/admin', adminRoutes());

  // Direct data path: the tenant's regional Postgres, queried from the edge. Logged as upstream kind
  // `database`, named by region, with the time spent in the handler (its queries) as upstream time.
  const tenantAuth = requireTenant();
  mountDataRoutes(app, (c, next) =>
    tenantAuth(c, async () => {
      const obs = c.get('obs');
      obs.upstream = { kind: 'database', name: c.get('tenant').region.name };
      await timed(obs, 'upstreamMs', next);
    }),
  );

  // The body limit runs after the token check: an unauthenticated body is never read.
  app.all('/api/*', requireTenant(), bodyLimit(), (c) => {
    const { config, assertionKey, resilience } = c.get('runtime');
    const tenant = c.get('tenant');
    const requestId = c.get('requestId');
    // What the origin will trust, signed: derived from the verified token only.
    const identity = { value: { tenantId: tenant.tenantId, userId: tenant.userId, region: tenant.region.name, requestId }, key: assertionKey };
    if (isWebSocketUpgrade(c.req.raw)) {
      const obs = c.get('obs');
      obs.upstream = { kind: 'region', name: tenant.region.name };
      return timed(obs, 'upstreamMs', () =>
        forwardWebSocket(c.req.raw, new URL(c.req.url), { upstream: regionUpstream(tenant.region), forwardAuthorization: config.forwardAuthorization, identity }),
      );
    }
    return send(c, {
      upstream: regionUpstream(tenant.region),
      resilience,
      forwardAuthorization: config.forwardAuthorization,
      identity,
    });
  });
  return app;
}
