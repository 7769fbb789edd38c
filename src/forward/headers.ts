/**
 * Header rewriting, both ways. Hop-by-hop headers and any header named in
 * `Connection` never cross the gateway; identity, address and forwarding headers
 * from the client are dropped by family (in any case, with `_` or `-`) and
 * re-derived from the token and the platform.
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

const responseRuleOf = memo(responseRule);


/**
 * Request headers a client may never send to an origin, by family: anything an origin, proxy or
 * framework might read as identity, as the client's address, as the original URL or host, or as
 * the method. Compared after lower-casing and `_` → `-` folding. The gateway sets the identity
 * headers itself (from the verified token) and the forwarding headers from what the platform
 * reports (src/forward/index.ts); the client's versions never cross.
 */
export const DROPPED_HEADER_FAMILIES = {
  /** Exact names. */
  names: [
    'host', 'forwarded', 'via', 'remote-user', 'remote-addr', 'client-ip', 'x-host', 'x-request-id', 'x-rewrite-url',
    'x-http-method-override', 'x-http-method', 'x-method-override', 'x-email', 'x-groups', 'x-roles', 'x-scope',
    'x-jwt-assertion', 'x-access-token', 'x-id-token', 'x-client-cert', 'ssl-client-cert', 'x-ssl-client-cert',
  ],
  /** Name prefixes: `x-forwarded` covers X-Forwarded-For, -Host, -User, -Email, -Groups, -Access-Token, -Ssl, -Scheme, -Uri, …. */
  prefixes: [
    'x-forwarded', 'x-original', 'x-remote-', 'x-auth-request-', 'x-auth-user', 'x-user', 'x-tenant', 'x-gateway-', 'x-real-',
    'x-client-', 'x-cluster-client-', 'x-proxy-user', 'x-authenticated-', 'x-consumer-', 'x-credential-', 'x-webauth-',
    'x-goog-authenticated-', 'x-ms-client-principal', 'x-amzn-oidc-', 'x-envoy-', 'x-vouch-', 'x-pomerium-', 'x-auth0-',
    'cf-connecting-', 'true-client-', 'fastly-client-', 'akamai-origin-hop', 'x-appengine-',
  ],
  /** Any name whose last word is an address: X-Real-IP, X-Originating-IP, WL-Proxy-Client-IP, …. */
  suffixes: ['-ip', '-ipv6', '-ips'],
} as const;

/**
 * A header name rule, compiled once (per isolate) into one regular expression, and its verdict per
 * distinct name remembered (names repeat across requests, so the expression runs per name, not per request).
 */
export interface HeaderDropRule {
  readonly pattern: RegExp;
  readonly ruleOf: (name: string) => RequestRule;
}

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** A configured extra: an exact lowercase header name, or a prefix ending in `*`. */
export const HEADER_NAME_OR_PREFIX = /^[a-z0-9][a-z0-9-]*\*?$/;

/**
 * Compiles the families above plus configured extras (FORWARD_DROP_HEADERS) into one rule.
 * Throws on an extra that is not a lowercase header name or prefix.
 */
export function compileHeaderDropRule(extra: readonly string[] = []): HeaderDropRule {
  const names: string[] = [...DROPPED_HEADER_FAMILIES.names];
  const prefixes: string[] = [...DROPPED_HEADER_FAMILIES.prefixes];
  for (const e of extra) {
    if (!HEADER_NAME_OR_PREFIX.test(e)) throw new Error(`not a lowercase header name or prefix*: ${JSON.stringify(e)}`);
    if (e.endsWith('*')) prefixes.push(e.slice(0, -1));
    else names.push(e);
  }
  const alt = (xs: readonly string[]) => xs.map(escapeRegExp).join('|');
  const pattern = new RegExp(`^(?:(?:${alt(names)})$|(?:${alt(prefixes)}))|(?:${alt(DROPPED_HEADER_FAMILIES.suffixes)})$`);
  const rule = (name: string): RequestRule => {
    const f = fold(name);
    if (HOP_BY_HOP.has(f) || pattern.test(f)) return 'drop';
    return f === 'authorization' ? 'authorization' : 'keep';
  };
  return { pattern, ruleOf: memo(rule) };
}

/** The families alone: what a caller without configured extras gets. */
export const DEFAULT_HEADER_DROP_RULE = compileHeaderDropRule();

/** Names listed in `Connection` (hop-by-hop by declaration), folded. */
function connectionNamed(headers: Headers): ReadonlySet<string> {
  const named = new Set<string>();
  for (const token of (headers.get('connection') ?? '').split(',')) named.add(fold(token.trim()));
  return named;
}

/**
 * The names in `headers` that `Connection` declares hop-by-hop, for the passes below once they saw
 * a `connection` header (a second walk over the names: the header is rare, while looking it up
 * on every message is a native call each time).
 */
function connectionDeclared(headers: Headers, already: readonly string[] | undefined): string[] {
  const named = connectionNamed(headers);
  const out: string[] = [];
  for (const name of headers.keys()) if (named.has(fold(name)) && !already?.includes(name)) out.push(name);
  return out;
}

export interface StripOptions {
  forwardAuthorization: boolean;
  drop?: HeaderDropRule;
  /** Lowercase names the caller sets itself right after (e.g. the trace context): removed in the same pass. */
  replaced?: ReadonlySet<string>;
}

/**
 * Strips, in place and in one pass over the names, what must not reach an origin. The caller
 * starts from a copy (`new Headers(incoming)`: one copy made by the runtime) and then sets the
 * gateway's own headers.
 */
export function stripRequestHeaders(headers: Headers, opts: StripOptions): Headers {
  const ruleOf = (opts.drop ?? DEFAULT_HEADER_DROP_RULE).ruleOf;
  // Names are collected first: deleting while iterating a Headers object skips entries.
  let drop: string[] | undefined;
  let connection = false;
  for (const name of headers.keys()) {
    const rule = ruleOf(name);
    if (name === 'connection') connection = true;
    if (rule === 'drop' || (rule === 'authorization' && !opts.forwardAuthorization) || opts.replaced?.has(name)) (drop ??= []).push(name);
  }
  if (connection) (drop ??= []).push(...connectionDeclared(headers, drop));
  if (drop) for (const name of drop) headers.delete(name);
  return headers;
}

export function outboundRequestHeaders(incoming: Headers, opts: StripOptions): Headers {
  return stripRequestHeaders(new Headers(incoming), opts);
}

/**
 * The forwarding headers the gateway itself vouches for, from what the platform told it: the
 * client's address (CF-Connecting-IP, see src/client-address; omitted when unknown) and the scheme
 * the client used. Set after the client's versions were dropped.
 */
export function setForwardingHeaders(headers: Headers, url: URL, clientIp: string | undefined): void {
  if (clientIp) headers.set('x-forwarded-for', clientIp);
  headers.set('x-forwarded-proto', url.protocol === 'http:' ? 'http' : 'https');
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

/**
 * Rewrites, in place and in one pass over the names, what an origin's response may show a
 * client. Set-Cookie and Location are looked at only when the response has them.
 */
export function rewriteResponseHeaders(headers: Headers, ctx?: ResponseContext): Headers {
  let drop: string[] | undefined;
  let location = false;
  let cookies = false;
  let connection = false;
  for (const name of headers.keys()) {
    const rule = responseRuleOf(name);
    // Set-Cookie is re-added cookie by cookie below whatever Connection says (as it always was).
    if (rule === 'set-cookie') cookies = true;
    else if (rule === 'drop') {
      (drop ??= []).push(name);
      if (name === 'connection') connection = true;
    } else if (rule === 'location') location = ctx !== undefined;
  }
  if (connection) {
    const declared = connectionDeclared(headers, drop).filter((name) => responseRuleOf(name) !== 'set-cookie');
    (drop ??= []).push(...declared);
    // A Location that Connection names is dropped, not rewritten.
    if (declared.some((name) => responseRuleOf(name) === 'location')) location = false;
  }
  if (drop) for (const name of drop) headers.delete(name);
  if (location) {
    const rewritten = rewriteLocation(headers.get('location')!, ctx!.upstreamOrigins, ctx!.publicHost);
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
