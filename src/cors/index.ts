/**
 * CORS at the edge, for single-page apps on other origins: hono's `cors` middleware,
 * configured from `config.cors` (CORS_ALLOWED_ORIGINS, exact origins).
 *
 *   - no CORS config, or no `Origin` header: steps aside (one header lookup on the hot path);
 *   - an allowed origin's preflight is answered here, before any token check or subrequest;
 *     its other requests get `Access-Control-Allow-Origin: <that origin>`, `Vary: Origin` and
 *     the exposed headers, error responses included (it wraps everything after the runtime);
 *   - any other `Origin` (case variants, trailing slash, `null`, look-alike hosts) is treated as
 *     if none had been sent: no CORS header, and its preflight meets the normal rules.
 *
 * The gateway is the only source of CORS headers while CORS is on: `Access-Control-*` headers
 * from an origin are dropped, so a regional app that reflects `Origin` or sends `*` cannot widen
 * the allowlist.
 */
import type { MiddlewareHandler, Next } from 'hono';
import { cors } from 'hono/cors';
import type { CorsConfig } from '../config/index.ts';
import type { GatewayContext, GatewayEnv } from '../gateway-env/index.ts';
import { ALLOWED_METHODS } from '../request-guard/index.ts';
import { isWebSocketUpgrade } from '../websocket/index.ts';

/** Request headers a browser app may send (beyond the CORS-safelisted ones). */
export const CORS_ALLOW_HEADERS = [
  'authorization',
  'content-type',
  'x-tenant-region',
  'x-db-bookmark',
  'if-match',
  'traceparent',
  'tracestate',
  'x-request-id',
] as const;

/** Response headers a browser app may read (beyond the CORS-safelisted ones). */
export const CORS_EXPOSE_HEADERS = [
  'x-request-id',
  'x-db-bookmark',
  'x-db-source',
  'retry-after',
  'ratelimit',
  'ratelimit-policy',
  'www-authenticate',
] as const;

/** The methods the request guard lets through; OPTIONS is the preflight itself. */
const CORS_ALLOW_METHODS = [...ALLOWED_METHODS].filter((m) => m !== 'OPTIONS');

export function browserCors(): MiddlewareHandler<GatewayEnv> {
  // One hono middleware per validated config, i.e. per isolate (the runtime keeps its config).
  const built = new WeakMap<CorsConfig, MiddlewareHandler<GatewayEnv>>();
  const handlerFor = (settings: CorsConfig) => {
    let h = built.get(settings);
    if (!h) {
      h = cors({
        origin: (origin) => (settings.allowedOrigins.has(origin) ? origin : null),
        allowMethods: CORS_ALLOW_METHODS,
        allowHeaders: [...CORS_ALLOW_HEADERS],
        exposeHeaders: [...CORS_EXPOSE_HEADERS],
        maxAge: settings.maxAgeSeconds,
        credentials: settings.allowCredentials,
      });
      built.set(settings, h);
    }
    return h;
  };

  // Not async itself: a request without Origin (or without CORS configured) passes with no extra async layer.
  return (c, next) => {
    const settings = c.get('runtime').config.cors;
    if (!settings) return next();
    const origin = c.req.header('origin');
    // WebSocket handshakes are not subject to CORS, and their 101 response must pass untouched.
    if (origin === undefined || isWebSocketUpgrade(c.req.raw)) return next();
    return withOrigin(c, next, settings, origin);
  };

  async function withOrigin(c: GatewayContext, next: Next, settings: CorsConfig, origin: string): Promise<Response | void> {
    if (!settings.allowedOrigins.has(origin)) {
      await next();
      dropForeignCorsHeaders(c, NONE_OURS);
      return;
    }
    const ours = settings.allowCredentials ? OURS_WITH_CREDENTIALS : OURS;
    return handlerFor(settings)(c, async () => {
      await next();
      // The response here already carries cors()'s own headers (set before next, merged by hono).
      dropForeignCorsHeaders(c, ours);
    });
  }
}

const NONE_OURS: ReadonlySet<string> = new Set();
const OURS: ReadonlySet<string> = new Set(['access-control-allow-origin', 'access-control-expose-headers']);
const OURS_WITH_CREDENTIALS: ReadonlySet<string> = new Set([...OURS, 'access-control-allow-credentials']);

/** Removes every `Access-Control-*` response header the gateway did not set itself. */
function dropForeignCorsHeaders(c: GatewayContext, keep: ReadonlySet<string>): void {
  const foreign = [...c.res.headers.keys()].filter((k) => k.startsWith('access-control-') && !keep.has(k));
  if (foreign.length === 0) return;
  let res = c.res;
  try {
    for (const k of foreign) res.headers.delete(k);
  } catch {
    // Immutable headers (a response passed through as fetched): copy once, then edit.
    res = new Response(res.body, res);
    for (const k of foreign) res.headers.delete(k);
    // Cleared first so hono does not merge the old response's headers back into the copy.
    c.res = undefined;
    c.res = res;
  }
}
