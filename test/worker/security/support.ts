/**
 * The contract every adversarial case checks, in one place:
 *   - status and stable error `code`; WWW-Authenticate on 401 (with error="invalid_token" when a
 *     token was sent, without an error attribute when none was);
 *   - a body that names no origin, host, stack frame, claim value or SQL;
 *   - zero egress: globalThis.fetch is replaced for the duration of the call by a fail-closed spy
 *     that records every subrequest and throws on any URL not explicitly allowed.
 */
import { CompactSign, exportJWK, generateKeyPair, importJWK, type JWK } from 'jose';
import { expect } from 'vitest';
import { createApp } from '../../../src/app.ts';
import { bindings, ORIGINS } from '../helpers.ts';

export const REALM = 'edge-tenant-router';
export const JWKS_URL = bindings.JWKS_URL!;
export const REGION_ORIGINS = {
  'us-east-1': ORIGINS['us-east-1']!,
  'eu-central-1': ORIGINS['eu-central-1']!,
  'ap-southeast-2': ORIGINS['ap-southeast-2']!,
} as const;
export type RegionName = keyof typeof REGION_ORIGINS;

export type Gateway = (req: Request) => Promise<Response>;

/**
 * A gateway with its own stable env object, hence its own per-isolate runtime (key set, JWKS
 * cooldown): tests that count JWKS fetches or rotate keys do not share state with other tests.
 */
export function gatewayWith(overrides: Record<string, unknown> = {}): Gateway {
  const app = createApp();
  const env = { ...bindings, ...overrides };
  return (req) => Promise.resolve(app.fetch(req, env));
}

export function req(path: string, init: RequestInit = {}): Request {
  return new Request(new URL(path, 'https://gateway.test'), init);
}

export interface Egress {
  method: string;
  url: string;
  allowed: boolean;
}

function allows(allow: readonly string[], url: URL): boolean {
  return allow.some((a) => {
    const u = new URL(a);
    // An origin allows every path on it; a URL with a path allows exactly that URL (any query).
    return u.pathname === '/' ? u.origin === url.origin : u.origin === url.origin && u.pathname === url.pathname;
  });
}

let spyDepth = 0;

/**
 * Runs `fn` with a fail-closed outbound spy. Allowed URLs go to the real local servers; anything
 * else is recorded and refused (the fetch throws), so a leak is both visible and harmless.
 */
export async function withEgressSpy<T>(allow: readonly string[], fn: () => Promise<T>): Promise<{ result: T; egress: Egress[] }> {
  if (spyDepth > 0) throw new Error('nested egress spies');
  spyDepth++;
  const egress: Egress[] = [];
  const realFetch = globalThis.fetch;
  globalThis.fetch = (async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    const method = init?.method ?? (input instanceof Request ? input.method : 'GET');
    const ok = allows(allow, url);
    egress.push({ method, url: url.href, allowed: ok });
    if (!ok) throw new Error(`egress spy: refused ${method} ${url.href}`);
    return realFetch(input as RequestInfo, init);
  }) as typeof fetch;
  try {
    return { result: await fn(), egress };
  } finally {
    globalThis.fetch = realFetch;
    spyDepth--;
  }
}

/** Sends one request through `gw` with nothing allowed out (except `allow`); returns response, body text, egress. */
export async function send(gw: Gateway, request: Request, allow: readonly string[] = []) {
  const { result: res, egress } = await withEgressSpy(allow, () => gw(request));
  const text = await res.text();
  return { res, text, egress };
}

/** Strings no error body may contain, whatever the case. */
const ALWAYS_FORBIDDEN = [
  ...Object.values(ORIGINS),
  '127.0.0.1',
  'localhost',
  'http://',
  'https://',
  '.ts:',
  '    at ',
  'stack',
  'select ',
  'insert ',
  'jose',
  'JWS',
  'JWT',
  'kid',
];

export interface Rejection {
  status: number;
  code: string;
  /** 'invalid_token': error="invalid_token"; 'bare': realm only (no credentials sent); 'none': no header. */
  challenge?: 'invalid_token' | 'bare' | 'insufficient_scope' | 'none';
  /** Claim values, kids, paths... that the body must not echo. */
  secrets?: readonly string[];
}

/** Asserts the whole contract for a rejected request (including zero egress). */
export function expectRejected(out: { res: Response; text: string; egress: Egress[] }, want: Rejection): void {
  const { res, text, egress } = out;
  expect(egress, 'a rejected request must make no subrequest').toEqual([]);
  expect(res.status).toBe(want.status);
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  const body = JSON.parse(text) as { error: { code: string; message: string; requestId: string } };
  expect(body.error.code).toBe(want.code);
  expect(body.error.requestId).toBe(res.headers.get('x-request-id'));
  const challenge = want.challenge ?? (want.status === 401 ? 'invalid_token' : want.code === 'forbidden' ? 'insufficient_scope' : 'none');
  const www = res.headers.get('www-authenticate');
  if (challenge === 'invalid_token') expect(www).toBe(`Bearer realm="${REALM}", error="invalid_token"`);
  else if (challenge === 'bare') expect(www).toBe(`Bearer realm="${REALM}"`);
  else if (challenge === 'insufficient_scope') expect(www).toBe(`Bearer realm="${REALM}", error="insufficient_scope"`);
  else expect(www).toBeNull();
  const lower = text.toLowerCase();
  for (const s of [...ALWAYS_FORBIDDEN, ...(want.secrets ?? [])]) {
    if (s.length >= 3) expect(lower, `error body leaks ${JSON.stringify(s)}`).not.toContain(s.toLowerCase());
  }
  expect(Object.keys(body)).toEqual(['error']);
  expect(Object.keys(body.error).sort()).toEqual(['code', 'message', 'requestId']);
}

// ---------------------------------------------------------------------------------------------
// Tokens with full control over header and payload (mintToken always sets iat/exp/typ).

const PRIVATE_KEYS: Array<JWK & { kid: string; alg: string }> = JSON.parse(bindings.TEST_PRIVATE_JWKS!).keys;

export function now(): number {
  return Math.floor(Date.now() / 1000);
}

export function validClaims(extra: Record<string, unknown> = {}): Record<string, unknown> {
  const t = now();
  return {
    iss: bindings.JWT_ISSUER,
    aud: bindings.JWT_AUDIENCE,
    sub: 'user-1',
    tenant_id: 'ws_alpha',
    tenant_region: 'eu-central-1',
    iat: t,
    exp: t + 300,
    ...extra,
  };
}

export interface SignOptions {
  /** Header fields merged over {alg, kid, typ: 'at+jwt'}; a field set to undefined is removed. */
  header?: Record<string, unknown>;
  /** One of the test keys ('es-1', 'ed-1') or an explicit key. */
  kid?: string;
  key?: { alg: string; privateKey: CryptoKey | Uint8Array; kid?: string };
  /** Sign by hand (ES256 only), bypassing jose's own header checks. */
  manual?: boolean;
}

/** Signs any payload (taken verbatim, claims of any type) with any header. */
export async function signRaw(payload: Record<string, unknown>, opts: SignOptions = {}): Promise<string> {
  let alg: string;
  let key: CryptoKey | Uint8Array;
  let kid: string | undefined;
  if (opts.key) {
    ({ alg, privateKey: key, kid } = opts.key);
  } else {
    const jwk = PRIVATE_KEYS.find((k) => k.kid === (opts.kid ?? 'es-1'))!;
    alg = jwk.alg;
    kid = jwk.kid;
    key = (await importJWK(jwk, jwk.alg)) as CryptoKey;
  }
  const header: Record<string, unknown> = { alg, kid, typ: 'at+jwt', ...opts.header };
  for (const [k, v] of Object.entries(header)) if (v === undefined) delete header[k];
  if (alg === 'ES256' && (opts.manual || 'crit' in header)) {
    // jose refuses to produce what the gateway must refuse; sign it by hand (JWS = raw r||s).
    const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}`;
    const sig = await crypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, key as CryptoKey, new TextEncoder().encode(input));
    return `${input}.${b64url(new Uint8Array(sig))}`;
  }
  return new CompactSign(new TextEncoder().encode(JSON.stringify(payload)))
    .setProtectedHeader(header as { alg: string })
    .sign(key);
}

export function b64url(data: string | Uint8Array): string {
  const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** A fresh key pair (extractable), its public JWK ready for a key set. */
export async function freshKey(alg: 'ES256' | 'EdDSA' | 'ES384' | 'RS256' | 'PS256', kid: string) {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  return { alg, kid, privateKey, publicJwk: jwk };
}

/** Replaces a named key set on the central origin (served at /jwks/<name>.json). */
export async function putKeySet(name: string, keys: unknown[]): Promise<string> {
  const res = await fetch(`${ORIGINS.central}/__jwks/${name}`, { method: 'PUT', body: JSON.stringify({ keys }) });
  expect(res.status).toBe(204);
  return `${ORIGINS.central}/jwks/${name}.json`;
}

export function publicTestKeys(): unknown[] {
  return PRIVATE_KEYS.map(({ d: _d, ...pub }) => ({ ...pub, use: 'sig' }));
}

export function uniqueName(prefix: string): string {
  return `${prefix}-${crypto.randomUUID().slice(0, 8)}`;
}

export function bearer(token: string): HeadersInit {
  return { authorization: `Bearer ${token}` };
}

/**
 * A gateway whose key set is already loaded (one valid request went through), with a JWKS refetch
 * cooldown long enough that no test in a file can trigger a refetch unless it sets one itself.
 */
export async function warmGateway(overrides: Record<string, unknown> = {}): Promise<Gateway> {
  const gw = gatewayWith({ JWKS_REFRESH_COOLDOWN_SECONDS: '3600', ...overrides });
  const token = await signRaw(validClaims());
  const { res } = await send(gw, req('/api/warmup', { headers: bearer(token) }), [JWKS_URL, REGION_ORIGINS['eu-central-1']]);
  expect(res.status).toBe(200);
  return gw;
}
