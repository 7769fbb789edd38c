/**
 * Forwarding to an origin: same method, path and query, bodies streamed both ways
 * (never buffered), redirects returned to the client rather than followed.
 */
import { GatewayError } from '../errors/index.ts';
import { IDENTITY_HEADERS, signAssertion, type Identity } from '../identity-assertion/index.ts';
import { targetUrl, type Upstream } from '../upstream/index.ts';
import { inboundResponseHeaders, outboundRequestHeaders } from './headers.ts';

export interface ForwardOptions {
  upstream: Upstream;
  requestId: string;
  forwardAuthorization: boolean;
  /** Set for tenant requests: the identity derived from the verified token, and the key to sign it with. */
  identity?: { value: Identity; key: CryptoKey };
}

export async function forward(req: Request, url: URL, opts: ForwardOptions): Promise<Response> {
  const target = targetUrl(opts.upstream, url);
  const headers = outboundRequestHeaders(req.headers, { forwardAuthorization: opts.forwardAuthorization });
  headers.set(IDENTITY_HEADERS.requestId, opts.requestId);
  if (opts.identity) {
    const id = opts.identity.value;
    headers.set(IDENTITY_HEADERS.tenantId, id.tenantId);
    headers.set(IDENTITY_HEADERS.userId, id.userId);
    headers.set(IDENTITY_HEADERS.region, id.region);
    headers.set(
      IDENTITY_HEADERS.assertion,
      await signAssertion(opts.identity.key, req.method, target.pathname + target.search, id),
    );
  }
  const hasBody = req.method !== 'GET' && req.method !== 'HEAD' && req.body !== null;
  let res: Response;
  try {
    res = await fetch(target, { method: req.method, headers, body: hasBody ? req.body : null, redirect: 'manual' });
  } catch (err) {
    throw new GatewayError('bad_gateway', `${opts.upstream.kind} ${opts.upstream.name}: ${(err as Error).message}`);
  }
  const out = inboundResponseHeaders(res.headers);
  // Set here rather than by middleware after the fact: hono re-wraps a finished response to add a header.
  out.set(IDENTITY_HEADERS.requestId, opts.requestId);
  return new Response(res.body, { status: res.status, statusText: res.statusText, headers: out });
}
