/**
 * Observability: every request, whatever its outcome, produces exactly one
 * structured log line, one Analytics Engine data point (when the binding exists),
 * one entry in the per-isolate status buffers, and optionally `Server-Timing`.
 * The middleware is the outermost one, so it also sees requests refused by config,
 * token or tenant checks.
 */
import type { Context, MiddlewareHandler } from 'hono';
import { matchedRoutes } from 'hono/route';
import type { GatewayEnv } from '../gateway-env/index.ts';
import { clientRequestIdFrom, gatewayRequestId } from '../request-id/index.ts';
import { datasetFrom, writeMetrics } from './metrics.ts';
import { logLine, redactDetail, redactPath, round, serverTimingValue, type Observation, type RequestRecord } from './record.ts';
import { RecentTraffic } from './recent.ts';
import { traceContextFrom } from './trace-context.ts';

export { round, timed, type Observation, type RequestRecord } from './record.ts';
export { outgoingTraceparent, type TraceContext } from './trace-context.ts';
export { RecentTraffic } from './recent.ts';

/** The first matched route that is not a catch-all middleware: `/api/*`, `/healthz`, `/admin/status.json`. */
function routeLabel(c: Context<GatewayEnv>): string {
  return matchedRoutes(c).find((r) => r.path !== '*' && r.path !== '/*')?.path ?? 'unmatched';
}

export function observe(recent: RecentTraffic): MiddlewareHandler<GatewayEnv> {
  return async (c, next) => {
    const obs: Observation = {
      startedAt: Date.now(),
      t0: performance.now(),
      trace: traceContextFrom(c.req.raw.headers),
      verifyMs: undefined,
      paceMs: undefined,
      upstreamMs: undefined,
      upstream: undefined,
      internal: false,
      clientRequestId: clientRequestIdFrom(c.req.raw.headers),
    };
    c.set('obs', obs);
    c.set('requestId', gatewayRequestId());
    await next();

    const err = c.get('error');
    const tenant = c.get('tenant');
    const record: RequestRecord = {
      ts: new Date(obs.startedAt).toISOString(),
      requestId: c.get('requestId'),
      clientRequestId: obs.clientRequestId,
      traceId: obs.trace.traceId,
      spanId: obs.trace.spanId,
      parentSpanId: obs.trace.parentSpanId,
      method: c.req.method,
      route: err?.code === 'not_found' ? 'unmatched' : routeLabel(c),
      path: redactPath(c.req.path),
      tenant: tenant?.tenantId,
      region: tenant?.region.name,
      upstreamKind: obs.upstream?.kind,
      upstreamName: obs.upstream?.name,
      upstreamTarget: obs.upstream?.target,
      upstreamAttempts: obs.upstream?.attempts,
      status: c.res.status,
      errorCode: err?.code,
      errorDetail: redactDetail(err?.detail),
      verifyMs: obs.verifyMs,
      paceMs: obs.paceMs,
      upstreamMs: obs.upstreamMs,
      totalMs: round(performance.now() - obs.t0),
      internal: obs.internal,
    };
    // The console method matches the line's level, so Workers Logs and `wrangler dev --log-level` filter on it.
    const line = logLine(record);
    if (record.status >= 500) console.error(line);
    else if (record.status >= 400) console.warn(line);
    else console.log(line);
    writeMetrics(datasetFrom((c.env ?? {}) as Record<string, unknown>), record);
    recent.record(record);
    if (c.get('runtime')?.config.observability.serverTiming) {
      try {
        c.res.headers.append('server-timing', serverTimingValue(record));
      } catch {
        // A response with immutable headers (passed through as-is) is re-wrapped once.
        c.res = new Response(c.res.body, c.res);
        c.res.headers.append('server-timing', serverTimingValue(record));
      }
    }
  };
}
