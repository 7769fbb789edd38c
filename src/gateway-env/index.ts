/**
 * The hono environment every step of the gateway shares: what a request carries
 * from one middleware to the next. Its own module, so no step imports the app.
 */
import type { Context } from 'hono';
import type { AdminContext } from '../admin-auth/index.ts';
import type { GatewayError } from '../errors/index.ts';
import type { Observation } from '../observability/index.ts';
import type { Runtime } from '../runtime/index.ts';
import type { TenantContext } from '../tenant/index.ts';

export type GatewayEnv = {
  Bindings: Record<string, unknown>;
  Variables: {
    requestId: string;
    /** The request's URL, parsed once by the request guard. */
    url: URL;
    runtime: Runtime;
    tenant: TenantContext;
    admin: AdminContext;
    error: GatewayError;
    obs: Observation;
  };
};

export type GatewayContext = Context<GatewayEnv>;

/** Work that may finish after the response (ctx.waitUntil); left running where there is no execution context (tests calling app.fetch). */
export function background(c: GatewayContext, p: Promise<unknown>): void {
  try {
    c.executionCtx.waitUntil(p);
  } catch {
    void p;
  }
}

/** The request's URL: the one the request guard parsed, else parsed here. */
export function requestUrl(c: GatewayContext): URL {
  return c.get('url') ?? new URL(c.req.url);
}
