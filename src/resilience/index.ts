/**
 * Sending one request upstream without making an outage worse or hiding it:
 *   - a deadline on every attempt (to the response headers); a missed deadline aborts the
 *     subrequest, so nothing is left running upstream on our behalf;
 *   - retries only for idempotent, bodiless requests, only when no response byte arrived,
 *     at most `retries` times (1 by default), after a jittered pause;
 *   - a circuit breaker per origin, with the request's tenant's failures attributed to it (see breaker.ts);
 *   - failover, in order, to the region's standby origins (all in the region's zone: the
 *     config refuses anything else), when the primary failed or its circuit is open.
 * A response, whatever its status, is final: once a byte has arrived nothing is re-sent.
 */
import type { ResilienceConfig } from '../config/index.ts';
import { GatewayError } from '../errors/index.ts';
import { targetHref, type Upstream } from '../upstream/index.ts';
import { BreakerRegistry, type CircuitBreaker } from './breaker.ts';

export { BreakerRegistry, CircuitBreaker, type Admission, type BreakerState } from './breaker.ts';

/** RFC 9110 §9.2.2. POST and PATCH are never re-sent: the first attempt may have been applied. */
export const IDEMPOTENT_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE']);

/** Statuses that say "this origin is not working" and count against its circuit. They are still passed through. */
const ORIGIN_DOWN_STATUSES: ReadonlySet<number> = new Set([502, 503, 504]);

/** Per-isolate state of the resilience layer, built once with the runtime. */
export interface Resilience {
  readonly config: ResilienceConfig;
  readonly breakers: BreakerRegistry;
}

export function createResilience(config: ResilienceConfig): Resilience {
  return {
    config,
    breakers: new BreakerRegistry({
      threshold: config.breakerFailureThreshold,
      cooldownMs: config.breakerCooldownMs,
      // A probe's verdict comes at the latest when its deadline passes; after that its slot is free again.
      probeTimeoutMs: Math.max(config.upstreamTimeoutMs, config.centralTimeoutMs, config.databaseTimeoutMs) + 1000,
    }),
  };
}

export interface OutboundRequest {
  method: string;
  headers: Headers;
  /** A stream can be sent once: a request with a body is never retried. */
  body: ReadableStream<Uint8Array> | null;
  /** Whose request this is: its failures count against that tenant first (see breaker.ts). Absent for central. */
  tenantId?: string;
}

type Failure = DeadlineFailure & { origin: string };
/** How an attempt failed: a `timeout` target is not tried again in the same request, a `network` one may be. */
export type FailureKind = Failure['kind'];

/** Whether a request may be sent a second time. */
export function isReplayable(req: OutboundRequest): boolean {
  return IDEMPOTENT_METHODS.has(req.method.toUpperCase()) && req.body === null;
}

/** A random pause in [0, max] ms ("full jitter"), so isolates that failed together do not retry together. */
export function jitterDelay(maxMs: number, random: () => number = Math.random): number {
  return Math.floor(random() * (maxMs + 1));
}

const sleep = (ms: number) => (ms > 0 ? new Promise<void>((r) => setTimeout(r, ms)) : Promise.resolve());

function originRole(upstream: Upstream, origin: string): string {
  const i = upstream.standbys.indexOf(origin);
  return i === -1 ? 'primary' : `standby ${i + 1}`;
}

/** Which origin label goes to the logs: never the URL itself. */
function label(upstream: Upstream, origin: string): string {
  return `${upstream.kind} ${upstream.name} ${originRole(upstream, origin)}`;
}

/** How a call with a deadline failed: no response headers in time, or no connection / a broken one. */
export interface DeadlineFailure {
  kind: 'timeout' | 'network';
  detail: string;
}

/**
 * One call with a deadline to the response headers: `send` gets the signal that aborts it. The
 * timer is cleared once headers arrive, so a long streamed body is not cut; until then an abort
 * tears the subrequest down (nothing is left running upstream on our behalf). Used for origins
 * here and for the data Workers' service bindings (src/data-routes).
 */
export async function withDeadline(send: (signal: AbortSignal) => Promise<Response>, timeoutMs: number): Promise<Response | DeadlineFailure> {
  const ctrl = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    ctrl.abort(new Error(`deadline of ${timeoutMs} ms passed`));
  }, timeoutMs);
  try {
    return await send(ctrl.signal);
  } catch (err) {
    return timedOut ? { kind: 'timeout', detail: `no response within ${timeoutMs} ms` } : { kind: 'network', detail: err instanceof Error ? err.message : String(err) };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Picks the origin (or database: src/query keys breakers by connection string) for the next attempt: the first one, in config order (primary, then standbys),
 * whose circuit admits a request; origins that already failed this request come last, and one that
 * timed out is not tried again (a slow origin is not made slower by a second copy of the request).
 * A request that cannot be re-sent is not spent as a half-open probe while a closed origin is available:
 * a failed probe of a POST would be the client's failure, a failed probe of a GET is retried elsewhere.
 * `tenant`: whose request it is; a circuit open for that tenant alone counts like an open one.
 */
export function choose(
  origins: readonly string[],
  breakers: BreakerRegistry,
  failedHere: ReadonlyMap<string, FailureKind>,
  replayable: boolean,
  tenant?: string,
): { origin: string; breaker: CircuitBreaker } | { retryAfterMs: number } {
  // A request's first attempt (nothing failed yet) takes the configured order as it is.
  const ordered = failedHere.size === 0 ? origins : [...origins.filter((o) => !failedHere.has(o)), ...origins.filter((o) => failedHere.get(o) === 'network')];
  if (!replayable) {
    for (const origin of ordered) {
      const breaker = breakers.for(origin);
      if (breaker.stateFor(tenant) === 'closed') return { origin, breaker };
    }
  }
  let retryAfterMs = Number.POSITIVE_INFINITY;
  for (const origin of ordered) {
    const breaker = breakers.for(origin);
    const admission = breaker.admit(tenant);
    if (admission.ok) return { origin, breaker };
    retryAfterMs = Math.min(retryAfterMs, admission.retryAfterMs);
  }
  return { retryAfterMs };
}

/** Seconds for Retry-After: whole seconds, at least 1. */
export const retryAfter = (ms: number) => String(Math.max(1, Math.ceil(ms / 1000)));

/**
 * Sends `req` to `upstream` (the request's path and query on one of its origins) and returns
 * the first response, or throws a GatewayError:
 *   region:  timeout → 504 upstream_timeout, connection failure → 502 bad_gateway,
 *            every circuit open → 503 service_unavailable with Retry-After;
 *   central: any of those → 503 service_unavailable with Retry-After (login and signup are
 *            "try again later", while tenant traffic does not depend on central at all).
 */
/** Which of the upstream's origins answered, and after how many attempts: for the request's log line. */
export interface Served {
  /** `primary` or `standby N` (1-based, config order): never the URL. */
  origin: string;
  attempts: number;
}

const NOTHING_FAILED: ReadonlyMap<string, FailureKind> = new Map();

/** `pathAndQuery`: the request's path and query, sent to whichever origin is picked. */
export async function sendUpstream(
  upstream: Upstream,
  pathAndQuery: string,
  req: OutboundRequest,
  resilience: Resilience,
  onServed?: (served: Served) => void,
): Promise<Response> {
  const { config, breakers } = resilience;
  const origins = upstream.origins;
  const timeoutMs = upstream.kind === 'central' ? config.centralTimeoutMs : config.upstreamTimeoutMs;
  const replayable = isReplayable(req);
  const maxAttempts = replayable ? 1 + config.retries : 1;
  // Made only once an attempt fails: most requests never need it.
  let failedHere: Map<string, FailureKind> | undefined;
  let last: Failure | undefined;

  for (let n = 0; n < maxAttempts; n++) {
    const pick = choose(origins, breakers, failedHere ?? NOTHING_FAILED, replayable, req.tenantId);
    if (!('origin' in pick)) {
      if (last) break; // report what actually happened to this request
      throw new GatewayError(
        'service_unavailable',
        `${upstream.kind} ${upstream.name}: circuit open on every origin`,
        undefined,
        { 'retry-after': retryAfter(pick.retryAfterMs) },
      );
    }
    if (n > 0) await sleep(jitterDelay(config.retryJitterMs));
    const url = targetHref(pick.origin, pathAndQuery);
    const result = await withDeadline((signal) => fetch(url, { method: req.method, headers: req.headers, body: req.body, redirect: 'manual', signal }), timeoutMs);
    if (result instanceof Response) {
      if (ORIGIN_DOWN_STATUSES.has(result.status)) pick.breaker.failure(req.tenantId);
      else pick.breaker.success(req.tenantId);
      onServed?.({ origin: originRole(upstream, pick.origin), attempts: n + 1 });
      return result;
    }
    pick.breaker.failure(req.tenantId);
    (failedHere ??= new Map()).set(pick.origin, result.kind);
    last = { kind: result.kind, origin: pick.origin, detail: result.detail };
    console.warn(JSON.stringify({ level: 'warn', msg: 'upstream_attempt_failed', upstream: label(upstream, pick.origin), attempt: n + 1, kind: result.kind, detail: result.detail }));
  }

  const f = last!;
  const detail = `${label(upstream, f.origin)}: ${f.kind}: ${f.detail}`;
  if (upstream.kind === 'central') {
    throw new GatewayError('service_unavailable', detail, undefined, { 'retry-after': retryAfter(config.breakerCooldownMs) });
  }
  throw new GatewayError(f.kind === 'timeout' ? 'upstream_timeout' : 'bad_gateway', detail);
}
