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

/**
 * What happens to a header name, decided once per distinct name by a precompiled rule set and
 * remembered (names repeat across requests, so the rules run per name, not per request):
 * `drop` never crosses, `keep` does, `authorization` crosses only where configured.
 */
type RequestRule = 'drop' | 'keep' | 'authorization';
type ResponseRule = 'drop' | 'keep' | 'location' | 'set-cookie';

function requestRule(name: string): RequestRule {
  const f = fold(name);
  if (HOP_BY_HOP.has(f) || GATEWAY_OWNED.has(f)) return 'drop';
  return f === 'authorization' ? 'authorization' : 'keep';
}

function responseRule(name: string): ResponseRule {
  const f = fold(name);
  if (HOP_BY_HOP.has(f) || ORIGIN_FINGERPRINT.has(f)) return 'drop';
  return f === 'set-cookie' || f === 'location' ? f : 'keep';
}

/** Distinct header names remembered per direction; past this, names are classified without being remembered. */
export const MAX_REMEMBERED_HEADER_NAMES = 1024;
/** Longer names are classified each time: the memory held stays small whatever clients send. */
export const MAX_REMEMBERED_NAME_LENGTH = 64;

function memo<R>(rule: (name: string) => R): (name: string) => R {
  const seen = new Map<string, R>();
  return (name) => {
    let r = seen.get(name);
    if (r === undefined) {
      r = rule(name);
      if (seen.size < MAX_REMEMBERED_HEADER_NAMES && name.length <= MAX_REMEMBERED_NAME_LENGTH) seen.set(name, r);
    }
    return r;
  };
}

const requestRuleOf = memo(requestRule);
const responseRuleOf = memo(responseRule);

/** Names listed in `Connection` (hop-by-hop by declaration), folded; only requests that send one pay for it. */
function connectionNamed(headers: Headers): ReadonlySet<string> | undefined {
  const conn = headers.get('connection');
  if (!conn) return undefined;
  const named = new Set<string>();
  for (const token of conn.split(',')) named.add(fold(token.trim()));
  return named;
}

/**
 * Strips, in place and in one pass over the names, what must not reach an origin. The caller
 * starts from a copy (`new Headers(incoming)`: one copy made by the runtime) and then sets the
 * gateway's own headers.
 */
export function stripRequestHeaders(headers: Headers, opts: { forwardAuthorization: boolean }): Headers {
  const named = connectionNamed(headers);
  // Names are collected first: deleting while iterating a Headers object skips entries.
  let drop: string[] | undefined;
  for (const name of headers.keys()) {
    const rule = requestRuleOf(name);
    if (rule === 'drop' || (rule === 'authorization' && !opts.forwardAuthorization) || named?.has(fold(name))) (drop ??= []).push(name);
  }
  if (drop) for (const name of drop) headers.delete(name);
  return headers;
}

export function outboundRequestHeaders(incoming: Headers, opts: { forwardAuthorization: boolean }): Headers {
  return stripRequestHeaders(new Headers(incoming), opts);
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
 * A Location that points into the upstream that answered (its primary or a standby) becomes a path
 * on the gateway; any other absolute target (another region, the central app, anything off-host)
 * is dropped so internal host names never reach a client and a client is never sent around the
 * gateway.
 */
export function rewriteLocation(location: string, upstreamOrigins: readonly string[]): string | undefined {
  let target: URL;
  try {
    target = new URL(location, upstreamOrigins[0]);
  } catch {
    return undefined;
  }
  if (!upstreamOrigins.includes(target.origin)) return undefined;
  return target.pathname + target.search + target.hash;
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

/**
 * Rewrites, in place and in one pass over the names, what an origin's response may show a
 * client. Set-Cookie and Location are looked at only when the response has them.
 */
export function rewriteResponseHeaders(headers: Headers, ctx?: ResponseContext): Headers {
  const named = connectionNamed(headers);
  let drop: string[] | undefined;
  let location = false;
  let cookies = false;
  for (const name of headers.keys()) {
    const rule = responseRuleOf(name);
    // Set-Cookie is re-added cookie by cookie below whatever Connection says (as it always was).
    if (rule === 'set-cookie') cookies = true;
    else if (rule === 'drop' || named?.has(fold(name))) (drop ??= []).push(name);
    else if (rule === 'location') location = ctx !== undefined;
  }
  if (drop) for (const name of drop) headers.delete(name);
  if (location) {
    const rewritten = rewriteLocation(headers.get('location')!, ctx!.upstreamOrigins);
    if (rewritten !== undefined) headers.set('location', rewritten);
    else headers.delete('location');
  }
  if (cookies) {
    // Each Set-Cookie is judged on its own (iteration would join them).
    const all = headers.getSetCookie();
    headers.delete('set-cookie');
    for (const cookie of all) if (!ctx || cookieAllowed(cookie, ctx.publicHost)) headers.append('set-cookie', cookie);
  }
  return headers;
}

export function inboundResponseHeaders(upstream: Headers, ctx?: ResponseContext): Headers {
  return rewriteResponseHeaders(new Headers(upstream), ctx);
}
