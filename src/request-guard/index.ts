/**
 * Refuses requests whose method, path or headers could mean something different to the
 * gateway than to an origin, before any token work or subrequest happens:
 *   - methods outside a fixed allowlist (TRACE, CONNECT, TRACK, WebDAV verbs...) → 405;
 *   - a path the origin might decode into another route: encoded separators (%2f, %5c),
 *     double encoding (%25xx), NUL and control characters, invalid or overlong UTF-8, empty
 *     segments (`//`), and any segment that some common origin server could resolve as `.` or
 *     `..` (see `dotLike`) → 400;
 *   - header values with control characters (CR, LF, NUL...) → 400.
 * The URL parser (WHATWG, in the runtime) has already resolved literal and `%2e` dot segments
 * and turned `\` into `/` before the Worker sees the URL; this guard refuses what is left.
 */
import type { MiddlewareHandler } from 'hono';
import type { GatewayEnv } from '../gateway-env/index.ts';
import { GatewayError } from '../errors/index.ts';

export const ALLOWED_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);
/** Longest path accepted (bytes of the encoded path). */
export const MAX_PATH_LENGTH = 2048;

// Control characters other than horizontal tab, plus DEL.
const CONTROL = /[\x00-\x08\x0a-\x1f\x7f]/;
const DECODED_FORBIDDEN = /[\x00-\x1f\x7f/\\%]/;

// Whitespace and zero-width characters a server might trim or ignore around a name.
const IGNORABLE = /[\s\u00ad\u180e\u200b-\u200f\u2060\ufeff]/gu;

/**
 * The name a segment has for the most lenient common origin server: percent-decoded, cut at the
 * first `;` (Tomcat, Jetty and Spring drop matrix parameters such as `..;x` or `.;jsessionid=1`
 * before they resolve dot segments), compatibility-normalised (NFKC: a fullwidth `．` or a
 * one-dot leader `․` becomes `.`), with whitespace and invisible characters removed (as servers
 * on Windows trim names). A segment whose name so read is only dots (`.`, `..`, `...`: Windows
 * reads trailing dots away) or is empty although the segment is not could be resolved outside
 * its route by some origin, so it is refused rather than guessed at.
 */
function dotLike(decoded: string): 'dot segment' | 'empty path segment' | undefined {
  const semi = decoded.indexOf(';');
  const name = (semi === -1 ? decoded : decoded.slice(0, semi)).normalize('NFKC').replace(IGNORABLE, '');
  if (/^\.+$/.test(name)) return 'dot segment';
  if (name === '' && decoded !== '') return 'empty path segment';
  return undefined;
}

export type PathCheck = { ok: true } | { ok: false; why: string };
const PATH_OK: PathCheck = Object.freeze({ ok: true });
/**
 * In a path without escapes: an empty segment (`//`), a segment of only dots or dots then `;`
 * (`/..;x`, `/...`), a segment that starts with `;`, a control character or a backslash.
 */
const PLAIN_PATH_SUSPECT = /\/\/|\/\.+(?:[;/]|$)|\/;|[\x00-\x1f\x7f\\]/;

/** Checks an already-parsed URL pathname; exported for property tests. */
export function checkPath(pathname: string): PathCheck {
  if (pathname.length > MAX_PATH_LENGTH) return { ok: false, why: 'path too long' };
  if (!pathname.startsWith('/')) return { ok: false, why: 'path not absolute' };
  // Without a `%` every segment decodes to itself, so the rules below reduce to this one scan;
  // a path it flags (or one with escapes) takes the segment walk, which also says why.
  if (!pathname.includes('%') && !PLAIN_PATH_SUSPECT.test(pathname)) return PATH_OK;
  return checkPathSegments(pathname);
}

/** The rules segment by segment, decoded, for an absolute path within the length limit: what checkPath's scan stands for (exported for the test that says so). */
export function checkPathSegments(pathname: string): PathCheck {
  const segments = pathname.slice(1).split('/');
  for (let i = 0; i < segments.length; i++) {
    const seg = segments[i]!;
    // `//` would let an origin that joins paths naively see another host or route; a trailing `/` is fine.
    if (seg === '' && i !== segments.length - 1) return { ok: false, why: 'empty path segment' };
    let decoded: string;
    try {
      // Strict UTF-8: invalid or overlong sequences (%c0%ae...) throw.
      decoded = decodeURIComponent(seg);
    } catch {
      return { ok: false, why: 'invalid percent-encoding' };
    }
    const dot = dotLike(decoded);
    if (dot) return { ok: false, why: dot };
    if (DECODED_FORBIDDEN.test(decoded)) return { ok: false, why: 'encoded separator, escape or control character' };
  }
  return { ok: true };
}

// Not async: it has nothing to do after the rest of the chain, so it hands back next()'s promise.
export const requestGuard = (): MiddlewareHandler<GatewayEnv> => (c, next) => {
  const req = c.req.raw;
  if (!ALLOWED_METHODS.has(req.method)) {
    throw new GatewayError('method_not_allowed', `method ${req.method.slice(0, 32)}`, undefined, {
      allow: [...ALLOWED_METHODS].join(', '),
    });
  }
  // Parsed once per request: later steps (forwarding) read the same URL from the context.
  const url = new URL(req.url);
  const path = checkPath(url.pathname);
  if (!path.ok) throw new GatewayError('invalid_request', `path: ${path.why}`, 'The request path is not accepted.');
  // Values only (cheaper than entries); the offending name is looked up once one is found.
  for (const value of req.headers.values()) {
    if (CONTROL.test(value)) {
      const name = [...req.headers].find(([, v]) => CONTROL.test(v))?.[0] ?? '?';
      throw new GatewayError('invalid_request', `header ${name.slice(0, 64)}: control character`, 'A header value is not accepted.');
    }
  }
  c.set('url', url);
  return next();
};
