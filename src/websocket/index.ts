/**
 * WebSocket relay for tenant routes. It runs only after the token was verified and the tenant
 * resolved (a bad token is refused with 401 before any upgrade), and it can only reach the
 * tenant's home-region origin: the same target, header rewriting and signed identity as an HTTP
 * request, plus the `Upgrade` the HTTP path strips as hop-by-hop.
 *
 * A socket must not outlive what authorised it, so the gateway relays it (a WebSocketPair to the
 * client, the origin's socket behind it) instead of handing the origin's socket through, and
 * closes both ends with WS_CLOSE_REAUTHENTICATE (4001) when the token expires (its `exp`, or
 * its maximum age) and when its tenant is relocated (checked every RELOCATION_REFRESH_SECONDS).
 * The client's remedy is the same for both: a fresh token from central, then reconnect.
 */
import { GatewayError } from '../errors/index.ts';
import { clientAddress } from '../client-address/index.ts';
import { inboundResponseHeaders, outboundRequestHeaders, setForwardingHeaders, type HeaderDropRule } from '../forward/headers.ts';
import { CLIENT_REQUEST_ID_HEADER } from '../request-id/index.ts';
import { IDENTITY_HEADERS, setSignedIdentity, type AssertionKey, type Identity } from '../identity-assertion/index.ts';
import { targetUrl, type Upstream } from '../upstream/index.ts';

/** Close code when the session behind a socket ended (token expired, tenant relocated): re-authenticate and reconnect. */
export const WS_CLOSE_REAUTHENTICATE = 4001;

export interface SocketLifetime {
  /** Epoch ms at which the token stops being valid. */
  validUntilMs: number;
  /** Resolves false once the tenant no longer lives in the socket's region; asked every `recheckMs`. */
  stillHome?: () => Promise<boolean>;
  recheckMs: number;
}

/** Relays `origin` to a new client socket, closing both ends when the lifetime ends. */
function relay(origin: WebSocket, life: SocketLifetime): Response {
  const { 0: client, 1: server } = new WebSocketPair();
  server.accept();
  origin.accept();
  let open = true;
  const timers: Array<ReturnType<typeof setTimeout>> = [];
  const end = (code: number, reason: string) => {
    if (!open) return;
    open = false;
    for (const t of timers) clearTimeout(t);
    // 1005/1006 describe a missing or abnormal close and may not be sent: pass them on as a normal close.
    const sendable = code === 1000 || (code >= 3000 && code <= 4999) ? code : 1000;
    for (const ws of [server, origin]) {
      try {
        ws.close(sendable, reason);
      } catch {
        // already closed
      }
    }
  };
  server.addEventListener('message', (e) => open && origin.send(e.data));
  origin.addEventListener('message', (e) => open && server.send(e.data));
  server.addEventListener('close', (e) => end(e.code, e.reason));
  origin.addEventListener('close', (e) => end(e.code, e.reason));
  server.addEventListener('error', () => end(1011, 'client error'));
  origin.addEventListener('error', () => end(1011, 'origin error'));
  timers.push(setTimeout(() => end(WS_CLOSE_REAUTHENTICATE, 'token expired'), Math.max(0, life.validUntilMs - Date.now())));
  if (life.stillHome) {
    const check = life.stillHome;
    const recheck = () => {
      timers.push(
        setTimeout(async () => {
          if (!open) return;
          if (!(await check().catch(() => true))) end(WS_CLOSE_REAUTHENTICATE, 'tenant relocated');
          else recheck();
        }, life.recheckMs),
      );
    };
    recheck();
  }
  return new Response(null, { status: 101, webSocket: client });
}

export function isWebSocketUpgrade(req: Request): boolean {
  return req.headers.get('upgrade')?.trim().toLowerCase() === 'websocket';
}

export async function forwardWebSocket(
  req: Request,
  url: URL,
  opts: { upstream: Upstream; forwardAuthorization: boolean; identity: { value: Identity; key: AssertionKey }; headerRule?: HeaderDropRule; clientRequestId?: string; lifetime: SocketLifetime },
): Promise<Response> {
  if (req.method !== 'GET') throw new GatewayError('invalid_request', 'websocket upgrade must be GET', 'A WebSocket upgrade must be a GET.');
  const target = targetUrl(opts.upstream, url);
  const headers = outboundRequestHeaders(req.headers, { forwardAuthorization: opts.forwardAuthorization, drop: opts.headerRule });
  setForwardingHeaders(headers, url, clientAddress(req.headers));
  const id = opts.identity.value;
  headers.set('upgrade', 'websocket');
  headers.set(IDENTITY_HEADERS.requestId, id.requestId);
  if (opts.clientRequestId) headers.set(CLIENT_REQUEST_ID_HEADER, opts.clientRequestId);
  await setSignedIdentity(headers, 'GET', target.pathname + target.search, id, opts.identity.key);
  let res: Response;
  try {
    res = await fetch(target, { method: 'GET', headers, redirect: 'manual' });
  } catch (err) {
    throw new GatewayError('bad_gateway', `websocket ${opts.upstream.name}: ${(err as Error).message}`);
  }
  if (res.status === 101 && res.webSocket) return relay(res.webSocket, opts.lifetime);
  // The origin declined the upgrade: its answer goes back like any other response.
  return new Response(res.body, {
    status: res.status,
    headers: inboundResponseHeaders(res.headers, { upstreamOrigins: [opts.upstream.origin], publicHost: url.hostname }),
  });
}
