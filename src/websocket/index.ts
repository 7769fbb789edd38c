/**
 * WebSocket pass-through for tenant routes. It runs only after the token was verified and the
 * tenant resolved (a bad token is refused with 401 before any upgrade), and it can only reach
 * the tenant's home-region origin: the same target, header rewriting and signed identity as an
 * HTTP request, plus the `Upgrade` the HTTP path strips as hop-by-hop.
 */
import { GatewayError } from '../errors/index.ts';
import { clientAddress } from '../client-address/index.ts';
import { inboundResponseHeaders, outboundRequestHeaders, setForwardingHeaders, type HeaderDropRule } from '../forward/headers.ts';
import { CLIENT_REQUEST_ID_HEADER } from '../request-id/index.ts';
import { IDENTITY_HEADERS, identityRequest, signAssertion, type AssertionKey, type Identity } from '../identity-assertion/index.ts';
import { targetUrl, type Upstream } from '../upstream/index.ts';

export function isWebSocketUpgrade(req: Request): boolean {
  return req.headers.get('upgrade')?.trim().toLowerCase() === 'websocket';
}

export async function forwardWebSocket(
  req: Request,
  url: URL,
  opts: { upstream: Upstream; forwardAuthorization: boolean; identity: { value: Identity; key: AssertionKey }; headerRule?: HeaderDropRule; clientRequestId?: string },
): Promise<Response> {
  if (req.method !== 'GET') throw new GatewayError('invalid_request', 'websocket upgrade must be GET', 'A WebSocket upgrade must be a GET.');
  const target = targetUrl(opts.upstream, url);
  const headers = outboundRequestHeaders(req.headers, { forwardAuthorization: opts.forwardAuthorization, drop: opts.headerRule });
  setForwardingHeaders(headers, url, clientAddress(req.headers));
  const id = opts.identity.value;
  headers.set('upgrade', 'websocket');
  headers.set(IDENTITY_HEADERS.requestId, id.requestId);
  if (opts.clientRequestId) headers.set(CLIENT_REQUEST_ID_HEADER, opts.clientRequestId);
  headers.set(IDENTITY_HEADERS.tenantId, id.tenantId);
  headers.set(IDENTITY_HEADERS.userId, id.userId);
  headers.set(IDENTITY_HEADERS.region, id.region);
  headers.set(IDENTITY_HEADERS.assertion, await signAssertion(identityRequest('GET', target.pathname + target.search, id), opts.identity.key));
  let res: Response;
  try {
    res = await fetch(target, { method: 'GET', headers, redirect: 'manual' });
  } catch (err) {
    throw new GatewayError('bad_gateway', `websocket ${opts.upstream.name}: ${(err as Error).message}`);
  }
  if (res.status === 101 && res.webSocket) return new Response(null, { status: 101, webSocket: res.webSocket });
  // The origin declined the upgrade: its answer goes back like any other response.
  return new Response(res.body, {
    status: res.status,
    headers: inboundResponseHeaders(res.headers, { upstreamOrigins: [opts.upstream.origin], publicHost: url.hostname }),
  });
}
