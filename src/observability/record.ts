/**
 * What the gateway knows about one request, gathered while it runs and frozen into
 * a RequestRecord when the response is ready. The record is built from an explicit
 * list of fields (never from headers or bodies), which is what keeps tokens,
 * passwords and cookies out of logs and metrics.
 */
import type { TraceContext } from './trace-context.ts';

export interface Observation {
  readonly startedAt: number;
  /** performance.now() at the start; in Workers it advances only across I/O, which is what we measure. */
  readonly t0: number;
  readonly trace: TraceContext;
  verifyMs: number | undefined;
  /** How long the request waited for its tenant's pace turn (src/tenant-limits); absent when it did not wait. */
  paceMs: number | undefined;
  upstreamMs: number | undefined;
  /** `target` is `primary` or `standby N` once an origin answered; `attempts` counts retries and failovers. */
  upstream: { kind: string; name: string; target?: string; attempts?: number } | undefined;
  /** Health and status routes: logged and counted, but not routing decisions. */
  internal: boolean;
  /** The client's own sane X-Request-Id, kept apart from the gateway's request id (src/request-id). */
  readonly clientRequestId: string | undefined;
}

export interface RequestRecord {
  readonly ts: string;
  readonly requestId: string;
  /** The client's own sane X-Request-Id, if any (never the gateway's id). */
  readonly clientRequestId?: string;
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId: string | undefined;
  readonly method: string;
  /** The matched route pattern (`/api/*`), `unmatched` for a 404: bounded cardinality for metrics. */
  readonly route: string;
  /** Path only: a query string can carry credentials (`?access_token=`), so it is never recorded. */
  readonly path: string;
  readonly tenant: string | undefined;
  readonly region: string | undefined;
  readonly upstreamKind: string | undefined;
  readonly upstreamName: string | undefined;
  /** `primary` or `standby N`: which of the upstream's origins answered (absent when none did). */
  readonly upstreamTarget: string | undefined;
  readonly upstreamAttempts: number | undefined;
  readonly status: number;
  readonly errorCode: string | undefined;
  readonly errorDetail: string | undefined;
  readonly verifyMs: number | undefined;
  readonly paceMs: number | undefined;
  readonly upstreamMs: number | undefined;
  /** Until the response headers are ready; a streamed body continues after it. */
  readonly totalMs: number;
  readonly internal: boolean;
}

/** Measures `fn` into `obs[field]`, also when it throws. */
export async function timed<T>(obs: Observation | undefined, field: 'verifyMs' | 'paceMs' | 'upstreamMs', fn: () => Promise<T>): Promise<T> {
  const t = performance.now();
  try {
    return await fn();
  } finally {
    if (obs) obs[field] = round(performance.now() - t);
  }
}

export function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}

// Defence in depth for free-text error details (an exception message could quote input).
const JWT_LIKE = /eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*/g;
const BEARER = /\b(bearer|basic)\s+[^\s,;"']+/gi;
const URL_CREDENTIALS = /(\w+:\/\/[^:/@\s]+):[^@\s]+@/g;
const MAX_DETAIL_CHARS = 300;
const MAX_PATH_CHARS = 256;

function clip(s: string, max: number): string {
  return s.length > max ? `${s.slice(0, max)}…` : s;
}

export function redactDetail(detail: string | undefined): string | undefined {
  if (detail === undefined) return undefined;
  return clip(detail.replace(JWT_LIKE, '[redacted-jwt]').replace(BEARER, '$1 [redacted]').replace(URL_CREDENTIALS, '$1:[redacted]@'), MAX_DETAIL_CHARS);
}

/** Paths are chosen by the client: a token pasted into one is still a token. */
export function redactPath(path: string): string {
  // Every JWT's header starts `eyJ`: a path without it has nothing to redact.
  return clip(path.includes('eyJ') ? path.replace(JWT_LIKE, '[redacted-jwt]') : path, MAX_PATH_CHARS);
}

/** One JSON line, `wrangler tail` / Workers Logs friendly; undefined fields are omitted. */
export function logLine(r: RequestRecord): string {
  return JSON.stringify({
    level: r.status >= 500 ? 'error' : r.status >= 400 ? 'warn' : 'info',
    msg: 'request',
    ts: r.ts,
    requestId: r.requestId,
    clientRequestId: r.clientRequestId,
    traceId: r.traceId,
    spanId: r.spanId,
    parentSpanId: r.parentSpanId,
    method: r.method,
    route: r.route,
    path: r.path,
    tenant: r.tenant,
    region: r.region,
    upstream: r.upstreamKind ? { kind: r.upstreamKind, name: r.upstreamName, target: r.upstreamTarget, attempts: r.upstreamAttempts } : undefined,
    status: r.status,
    error: r.errorCode ? { code: r.errorCode, detail: r.errorDetail } : undefined,
    durations: { verifyMs: r.verifyMs, paceMs: r.paceMs, upstreamMs: r.upstreamMs, totalMs: r.totalMs },
  });
}

/** `Server-Timing` (https://w3c.github.io/server-timing/): what the gateway spent, in ms. */
export function serverTimingValue(r: RequestRecord): string {
  const parts: string[] = [];
  if (r.verifyMs !== undefined) parts.push(`verify;dur=${r.verifyMs}`);
  if (r.paceMs !== undefined) parts.push(`pace;dur=${r.paceMs}`);
  if (r.upstreamMs !== undefined) parts.push(`upstream;dur=${r.upstreamMs}`);
  parts.push(`total;dur=${r.totalMs}`);
  return parts.join(', ');
}
