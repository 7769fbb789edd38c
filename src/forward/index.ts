/**
 * Forwarding to an origin: same method, path and query, bodies streamed both ways
 * (never buffered), redirects returned to the client rather than followed.
 */
import { centralRequest, IDENTITY_HEADERS, setSignedIdentity, signAssertion, type AssertionKey, type CentralClient, type Identity } from '../identity-assertion/index.ts';
import { sendUpstream, type Resilience, type Served } from '../resilience/index.ts';
import { pathAndQuery, type Upstream } from '../upstream/index.ts';
import { CLIENT_REQUEST_ID_HEADER } from '../request-id/index.ts';
import { outboundRequestHeaders, rewriteResponseHeaders, setForwardingHeaders, type HeaderDropRule } from './headers.ts';

export interface ForwardOptions {
  upstream: Upstream;
  requestId: string;
  forwardAuthorization: boolean;
  /** Deadlines, retries, circuit breakers and failover (per-isolate state). */
  resilience: Resilience;
  /** Set for tenant requests: the identity derived from the verified token, and the region's key to sign it with. */
  identity?: { value: Identity; key: AssertionKey };
  /** Set for central requests: the client's address as the platform reported it, signed with central's key. */
  central?: { value: CentralClient; key: AssertionKey };
  /** The client's own sane X-Request-Id, passed on as X-Client-Request-Id (never as the gateway's). */
  clientRequestId?: string;
  /** The client's address as the platform reported it ('' or absent: unknown). */
  clientIp?: string;
  /** Which client headers never cross (compiled once per isolate from the families and FORWARD_DROP_HEADERS). */
  headerRule?: HeaderDropRule;
  /** W3C trace context for the origin: replaces whatever the client sent. */
  trace?: { traceparent: string; tracestate: string | undefined };
  /** Told which origin (primary or a standby) answered: for the request's log line. */
  onServed?: (served: Served) => void;
}

const TRACE_HEADERS: ReadonlySet<string> = new Set(['traceparent', 'tracestate']);

export async function forward(req: Request, url: URL, opts: ForwardOptions): Promise<Response> {
  // The same path and query on whichever origin answers: computed once, signed as sent.
  const path = pathAndQuery(url);
  // The client's trace context is replaced by ours: dropped in the same pass as the rest.
  const headers = outboundRequestHeaders(req.headers, { forwardAuthorization: opts.forwardAuthorization, drop: opts.headerRule, replaced: opts.trace ? TRACE_HEADERS : undefined });
  setForwardingHeaders(headers, url, opts.clientIp);
  headers.set(IDENTITY_HEADERS.requestId, opts.requestId);
  if (opts.clientRequestId) headers.set(CLIENT_REQUEST_ID_HEADER, opts.clientRequestId);
  if (opts.trace) {
    headers.set('traceparent', opts.trace.traceparent);
    if (opts.trace.tracestate !== undefined) headers.set('tracestate', opts.trace.tracestate);
  }
  if (opts.identity) {
    await setSignedIdentity(headers, req.method, path, opts.identity.value, opts.identity.key);
  }
  if (opts.central) {
    headers.set(IDENTITY_HEADERS.clientIp, opts.central.value.clientIp);
    headers.set(IDENTITY_HEADERS.assertion, await signAssertion(centralRequest(req.method, path, opts.central.value), opts.central.key));
  }
  const hasBody = req.method !== 'GET' && req.method !== 'HEAD' && req.body !== null;
  const res = await sendUpstream(opts.upstream, path, { method: req.method, headers, body: hasBody ? req.body : null, tenantId: opts.identity?.value.tenantId }, opts.resilience, opts.onServed);
  // One copy of the origin's response (status, status text, headers; the body streams through),
  // rewritten in place. Any of the upstream's origins (primary or a standby) may have answered.
  const out = new Response(res.body, res);
  rewriteResponseHeaders(out.headers, { upstreamOrigins: opts.upstream.origins, publicHost: url.hostname });
  // Set here rather than by middleware after the fact: hono re-wraps a finished response to add a header.
  out.headers.set(IDENTITY_HEADERS.requestId, opts.requestId);
  return out;
}
