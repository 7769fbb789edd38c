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

/** Response headers that only fingerprint the origin's software: never passed to clients. */
const ORIGIN_FINGERPRINT = new Set([
  'server',
  'x-powered-by',
  'x-aspnet-version',
  'x-aspnetmvc-version',
  'x-runtime',
  'x-backend-server',
  'x-served-by',
]);

export interface ResponseContext {
  /** The upstream's origins (scheme://host:port): the primary first, then any standbys. */
  upstreamOrigins: readonly string[];
  /** The host name the client used to reach the gateway. */
  publicHost: string;
}

/**
 * A Location the gateway emits is one of two things, or nothing:
 *  - an absolute https URL on the gateway's public host (the origin already knows it);
 *  - a path on the gateway, made from a Location that points into the upstream that answered
 *    (its primary or a standby), that no browser can read as another host: it starts with one
 *    `/` followed by neither `/` nor `\` (`//evil`, `/\evil` are network-path references), and
 *    holds no control character, space or backslash. The check runs on the path as rewritten, so
 *    every spelling that resolves to such a path (`/.//x`, `/a/..//x`, tabs or newlines inside,
 *    which URL parsers delete) is caught by the same rule.
 * Anything else (another region, the central app, an internal address, anything off-host) is
 * dropped, so internal host names never reach a client and a client is never sent around the gateway.
 */
export function rewriteLocation(location: string, upstreamOrigins: readonly string[], publicHost?: string): string | undefined {
  let target: URL;
  try {
    target = new URL(location, upstreamOrigins[0]);
  } catch {
    return undefined;
  }
  if (publicHost !== undefined && target.protocol === 'https:' && target.hostname === publicHost.toLowerCase() && !target.username && !target.password) {
    return target.href;
  }
  if (!upstreamOrigins.includes(target.origin)) return undefined;
  const path = target.pathname + target.search + target.hash;
  return isHostlessPath(path) ? path : undefined;
}

const HOSTLESS_PATH = /^\/(?![\/\\])[^\x00-\x20\x7f\\]*$/;

/** True when `path` is read as a path on the current host by every URL parser: one leading `/`, no `//`, `/\`, whitespace or controls. */
export function isHostlessPath(path: string): boolean {
  return HOSTLESS_PATH.test(path);
}

/** A cookie whose Domain does not cover the gateway's public host is for someone else: dropped. */
export function cookieAllowed(setCookie: string, publicHost: string): boolean {
  const host = publicHost.toLowerCase();
  for (const attr of setCookie.split(';').slice(1)) {
    const eq = attr.indexOf('=');
    if (eq === -1 || attr.slice(0, eq).trim().toLowerCase() !== 'domain') continue;
    const domain = attr.slice(eq + 1).trim().toLowerCase().replace(/^\./, '');
    if (domain === '' || !(host === domain || host.endsWith(`.${domain}`))) return false;
  }
  return true;
}

export function inboundResponseHeaders(upstream: Headers, ctx?: ResponseContext): Headers {
  const out = new Headers();
  const named = connectionNamed(upstream);
  for (const [name, value] of upstream) {
    const f = fold(name);
    if (HOP_BY_HOP.has(f) || named.has(f) || ORIGIN_FINGERPRINT.has(f) || f === 'set-cookie') continue;
    if (f === 'location' && ctx) {
      const rewritten = rewriteLocation(value, ctx.upstreamOrigins, ctx.publicHost);
      if (rewritten !== undefined) out.set('location', rewritten);
      continue;
    }
    out.append(name, value);
  }
  // Headers iteration joins Set-Cookie; add them one by one so each survives intact.
  for (const cookie of upstream.getSetCookie()) {
    if (!ctx || cookieAllowed(cookie, ctx.publicHost)) out.append('set-cookie', cookie);
  }
  return out;
}
