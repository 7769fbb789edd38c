/**
 * `/data/*` at the edge: the tenant's request handed to its region's data Worker
 * (src/data-worker) through a service binding, with the signed identity assertion
 * the forward path uses. The edge holds no database credential; the data Worker
 * next to the database answers. Nothing is retried (a write may have been applied);
 * a data Worker that cannot be reached gives the client the answers it always got:
 *   binding throws              → 503 database_unavailable with Retry-After
 *   no response headers in time → 504 database_timeout (the call is aborted)
 *   N consecutive such failures → the region's circuit opens (for the tenant, or for everyone when
 *                                 more than one tenant failed: see src/resilience/breaker.ts): 503 at once, nothing sent
 * Error bodies never carry the binding name, a URL or a stack (details go to the log line).
 */
import type { MiddlewareHandler } from 'hono';
import { DATA_READINESS_PATH } from '../data-worker/paths.ts';
import { GatewayError } from '../errors/index.ts';
import { outboundRequestHeaders } from '../forward/headers.ts';
import { requestUrl, type GatewayEnv } from '../gateway-env/index.ts';
import { IDENTITY_HEADERS, probeRequest, setSignedIdentity, signAssertion, type AssertionKey, type Identity } from '../identity-assertion/index.ts';
import { outgoingTraceparent, timed } from '../observability/index.ts';
import { retryAfter, withDeadline, type Resilience } from '../resilience/index.ts';

/** The URL host is not used by a service binding; the path and query are, and are what the assertion covers. */
const DATA_WORKER_HOST = 'https://data-worker.internal';
/** Response headers a data Worker may set for the client; everything else stays inside. */
const PASSED_THROUGH = ['content-type', 'cache-control', 'etag', 'retry-after', 'x-db-bookmark', 'x-db-source'];

/** The part of a service binding the edge uses. */
export interface DataWorkerBinding {
  fetch(request: Request): Promise<Response>;
}

const breakerKey = (region: string) => `data-worker:${region}`;

export interface DataWorkerCall {
  binding: DataWorkerBinding;
  region: string;
  identity: Identity;
  /** The region's signing key: the data Worker verifies with its region's ring. */
  key: AssertionKey;
  resilience: Resilience;
  timeoutMs: number;
  trace?: { traceparent: string; tracestate: string | undefined };
}

/**
 * One signed call to a region's data Worker, under the region's circuit breaker and a deadline to
 * the response headers. Any response counts as the data Worker being up (its own database errors
 * are its answers, already mapped by it); only a throw or a missed deadline counts against it.
 */
export async function callDataWorker(method: string, pathAndQuery: string, headers: Headers, body: ReadableStream | null, call: DataWorkerCall): Promise<Response> {
  const breaker = call.resilience.breakers.for(breakerKey(call.region));
  const tenant = call.identity.tenantId;
  const admission = breaker.admit(tenant);
  if (!admission.ok) {
    throw new GatewayError('database_unavailable', `data Worker ${call.region}: circuit open`, undefined, { 'retry-after': retryAfter(admission.retryAfterMs) });
  }
  headers.set(IDENTITY_HEADERS.requestId, call.identity.requestId);
  await setSignedIdentity(headers, method, pathAndQuery, call.identity, call.key);
  if (call.trace) {
    headers.set('traceparent', call.trace.traceparent);
    if (call.trace.tracestate !== undefined) headers.set('tracestate', call.trace.tracestate);
  }
  const result = await withDeadline((signal) => call.binding.fetch(new Request(DATA_WORKER_HOST + pathAndQuery, { method, headers, body, signal })), call.timeoutMs);
  if (result instanceof Response) {
    breaker.success(tenant);
    return result;
  }
  breaker.failure(tenant);
  const detail = `data Worker ${call.region}: ${result.detail}`;
  if (result.kind === 'timeout') throw new GatewayError('database_timeout', detail);
  throw new GatewayError('database_unavailable', detail, undefined, { 'retry-after': retryAfter(call.resilience.config.breakerCooldownMs) });
}

/** The region's data Worker binding from config and env; undefined when the region has no direct path. */
export function dataWorkerBinding(env: Record<string, unknown>, bindings: ReadonlyMap<string, string>, region: string): DataWorkerBinding | undefined {
  const name = bindings.get(region);
  return name === undefined ? undefined : (env[name] as DataWorkerBinding | undefined);
}

/** Runs after requireTenant: the tenant and its region come from the verified token only. */
export function toDataWorker(): MiddlewareHandler<GatewayEnv> {
  return async (c) => {
    const { config, assertionKeys, resilience } = c.get('runtime');
    const tenant = c.get('tenant');
    const requestId = c.get('requestId');
    const obs = c.get('obs');
    const upstream: { kind: 'database'; name: string; target?: string } = { kind: 'database', name: tenant.region.name };
    obs.upstream = upstream;
    const binding = dataWorkerBinding(c.env, config.dataWorkers, tenant.region.name);
    if (!binding) throw new GatewayError('not_found', `no data Worker for region ${tenant.region.name}`);
    const url = requestUrl(c);
    const req = c.req.raw;
    const hasBody = req.method !== 'GET' && req.method !== 'HEAD' && req.body !== null;
    const res = await timed(obs, 'upstreamMs', () =>
      callDataWorker(req.method, url.pathname + url.search, outboundRequestHeaders(req.headers, { forwardAuthorization: false }), hasBody ? req.body : null, {
        binding,
        region: tenant.region.name,
        identity: { tenantId: tenant.tenantId, userId: tenant.userId, region: tenant.region.name, requestId },
        key: assertionKeys.get(tenant.region.name)!,
        resilience,
        timeoutMs: config.dataWorkerTimeoutMs,
        trace: { traceparent: outgoingTraceparent(obs.trace), tracestate: obs.trace.tracestate },
      }),
    );
    // Which database answered (primary, replica, standby) goes to the edge's log line.
    upstream.target = res.headers.get('x-db-source') ?? undefined;
    const headers = new Headers();
    for (const h of PASSED_THROUGH) {
      const v = res.headers.get(h);
      if (v !== null) headers.set(h, v);
    }
    headers.set(IDENTITY_HEADERS.requestId, requestId);
    return new Response(res.body, { status: res.status, headers });
  };
}

/** For the edge's /readyz: the data Worker's own report of its databases, asked with a signed probe. */
export async function probeDataWorker(binding: DataWorkerBinding, region: string, key: AssertionKey, requestId: string, signal: AbortSignal): Promise<Array<{ kind: string; ok: boolean; detail: string; lagSeconds?: number }>> {
  const headers = new Headers();
  headers.set(IDENTITY_HEADERS.requestId, requestId);
  headers.set(IDENTITY_HEADERS.assertion, await signAssertion(probeRequest('GET', DATA_READINESS_PATH, { region, requestId }), key));
  const res = await binding.fetch(new Request(DATA_WORKER_HOST + DATA_READINESS_PATH, { headers, signal }));
  if (!res.ok) {
    await res.body?.cancel();
    throw new Error(`status ${res.status}`);
  }
  return ((await res.json()) as { checks: Array<{ kind: string; ok: boolean; detail: string; lagSeconds?: number }> }).checks;
}
