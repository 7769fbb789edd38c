import type { MiddlewareHandler } from 'hono';
import { GatewayError } from '../errors/index.ts';
import type { GatewayEnv } from '../gateway-env/index.ts';
import { builtRuntime, getRuntime } from './index.ts';

/**
 * Puts the isolate's runtime (validated config, key set, breakers) on the context.
 * The request id is set by `observe` (outermost), so even a config error is logged under it.
 */
export function withRuntime(): MiddlewareHandler<GatewayEnv> {
  return async (c, next) => {
    const r = builtRuntime(c.env) ?? (await getRuntime(c.env));
    if (!r.ok) {
      // The issues (field names and rules, never values) reach the request's log line as the error detail.
      throw new GatewayError('config_invalid', r.error.message, r.error.issues.map((i) => i.split(':')[0]).join(', ') + ' invalid');
    }
    c.set('runtime', r.runtime);
    await next();
    // Forwarded and error responses already carry it (adding it here would copy the response).
    if (!c.res.headers.has('x-request-id')) c.header('x-request-id', c.get('requestId'));
  };
}
