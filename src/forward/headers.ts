/**
 * Header rewriting, both ways. Hop-by-hop headers and any header named in
 * `Connection` never cross the gateway; identity and forwarding headers from the
 * client are dropped (in any case, with `_` or `-`) and re-derived from the token.
 */

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/** Headers only the gateway may set on the way to an origin. Compared after `_` → `-` folding. */
const GATEWAY_OWNED = new Set([
  'x-tenant-id',
  'x-user-id',
  'x-tenant-region',
  'x-request-id',
  'x-gateway-assertion',
  'forwarded',
  'x-forwarded-for',
  'x-forwarded-host',
  'x-forwarded-proto',
  'x-forwarded-port',
  'x-forwarded-prefix',
  'x-forwarded-server',
  'x-real-ip',
  'x-original-url',
  'x-rewrite-url',
  'x-client-ip',
  'true-client-ip',
  'cf-connecting-ip',
  'host',
]);

function fold(name: string): string {
  return name.toLowerCase().replaceAll('_', '-');
}

function connectionNamed(headers: Headers): Set<string> {
  const named = new Set<string>();
  const conn = headers.get('connection');
  if (conn) for (const token of conn.split(',')) named.add(fold(token.trim()));
  return named;
}

export function outboundRequestHeaders(incoming: Headers, opts: { forwardAuthorization: boolean }): Headers {
  const out = new Headers();
  const named = connectionNamed(incoming);
  for (const [name, value] of incoming) {
    const f = fold(name);
    if (HOP_BY_HOP.has(f) || named.has(f) || GATEWAY_OWNED.has(f)) continue;
    if (f === 'authorization' && !opts.forwardAuthorization) continue;
    out.append(name, value);
  }
  return out;
}

export function inboundResponseHeaders(upstream: Headers): Headers {
  const out = new Headers();
  const named = connectionNamed(upstream);
  for (const [name, value] of upstream) {
    const f = fold(name);
    if (HOP_BY_HOP.has(f) || named.has(f)) continue;
    out.append(name, value);
  }
  // Headers iteration joins Set-Cookie; re-add them one by one so each survives intact.
  const cookies = upstream.getSetCookie();
  if (cookies.length > 1) {
    out.delete('set-cookie');
    for (const c of cookies) out.append('set-cookie', c);
  }
  return out;
}
