/** Helpers for tests that run inside workerd: mint tokens, call the gateway, read what origins received. */
import { env } from 'cloudflare:test';
import { importJWK, SignJWT, type JWTPayload } from 'jose';
import { createApp } from '../../src/app.ts';
import { importKeyRing, type AssertionKeyRing } from '../../src/identity-assertion/index.ts';

export const bindings = env as unknown as Record<string, string>;
export const ORIGINS: Record<string, string> = JSON.parse(bindings.TEST_ORIGINS!);
const PRIVATE_KEYS: Array<Record<string, unknown> & { kid: string; alg: string }> = JSON.parse(bindings.TEST_PRIVATE_JWKS!).keys;

export interface MintOptions {
  claims?: JWTPayload;
  header?: Record<string, unknown>;
  kid?: string;
  expiresIn?: string | number;
  omit?: Array<'exp' | 'iss' | 'aud'>;
}

export async function mintToken(opts: MintOptions = {}): Promise<string> {
  const jwk = PRIVATE_KEYS.find((k) => k.kid === (opts.kid ?? 'es-1'))!;
  const key = await importJWK(jwk, jwk.alg);
  const jwt = new SignJWT({ sub: 'user-1', tenant_id: 'ws_alpha', tenant_region: 'eu-central-1', ...opts.claims })
    .setProtectedHeader({ alg: jwk.alg, kid: jwk.kid, typ: 'at+jwt', ...opts.header })
    .setIssuedAt();
  if (!opts.omit?.includes('iss') && opts.claims?.iss === undefined) jwt.setIssuer(bindings.JWT_ISSUER!);
  if (!opts.omit?.includes('aud') && opts.claims?.aud === undefined) jwt.setAudience(bindings.JWT_AUDIENCE!);
  if (!opts.omit?.includes('exp')) jwt.setExpirationTime(opts.expiresIn ?? '5m');
  return jwt.sign(key);
}

/** Regions of the test bindings. */
export const REGION_NAMES: string[] = Object.keys(JSON.parse(bindings.REGIONS!));

/**
 * A gateway-admin token: admin `typ` and audience (the config defaults), no tenant claims, and the
 * regions it may read (default: every configured region). `claims`/`header` override anything.
 */
export async function mintAdminToken(opts: { sub?: string; regions?: unknown; claims?: JWTPayload; header?: Record<string, unknown> } = {}): Promise<string> {
  const jwk = PRIVATE_KEYS.find((k) => k.kid === 'es-1')!;
  return new SignJWT({ sub: opts.sub ?? 'ops-1', admin_regions: opts.regions ?? REGION_NAMES, iss: bindings.JWT_ISSUER, aud: 'edge-tenant-router-admin', ...opts.claims })
    .setProtectedHeader({ alg: jwk.alg, kid: jwk.kid, typ: 'admin+jwt', ...opts.header })
    .setIssuedAt()
    .setExpirationTime('5m')
    .sign(await importJWK(jwk, jwk.alg));
}

/** The verifying key ring an origin for `audience` (a region, or 'central') holds, from the test bindings. */
export function assertionRing(audience: string): Promise<AssertionKeyRing> {
  return importKeyRing(JSON.parse(bindings.GATEWAY_ASSERTION_KEYS!)[audience]);
}

/** One app per module keeps per-isolate state (key set cache) as in production. */
const app = createApp();

export function callGateway(input: string | Request, init?: RequestInit, envOverrides?: Record<string, unknown>): Promise<Response> {
  const req = typeof input === 'string' ? new Request(new URL(input, 'https://gateway.test'), init) : input;
  const e = envOverrides ? { ...bindings, ...envOverrides } : bindings;
  return Promise.resolve(app.fetch(req, e));
}

export interface Recorded {
  method: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  /** The upload was cut off before its end (see test/support/recording-origin.ts). */
  aborted?: boolean;
  /** A WebSocket upgrade the origin accepted. */
  upgrade?: boolean;
}

export async function originRequests(name: string): Promise<Recorded[]> {
  return (await fetch(`${ORIGINS[name]}/__requests`)).json();
}

export async function allOriginRequests(): Promise<Record<string, Recorded[]>> {
  const out: Record<string, Recorded[]> = {};
  for (const name of Object.keys(ORIGINS)) out[name] = await originRequests(name);
  return out;
}

/**
 * A unique marker for one test's requests. Sent as X-Request-Id, it is the client request id: the
 * gateway keeps it (when sane) apart from its own request id and forwards it as X-Client-Request-Id,
 * so a test finds exactly its own requests at the shared origins, even while other files run.
 */
export function newMarker(): string {
  return `t-${crypto.randomUUID()}`;
}

/** Every request any origin received that carries the marker (in its request id or URL). */
export async function egressFor(marker: string): Promise<Array<Recorded & { origin: string }>> {
  const all = await allOriginRequests();
  return Object.entries(all).flatMap(([origin, reqs]) =>
    reqs.filter((r) => r.headers['x-client-request-id'] === marker || r.url.includes(marker)).map((r) => ({ ...r, origin })),
  );
}

/** Clears every origin's record. Not safe while other files run; prefer markers. */
export async function resetOrigins(): Promise<void> {
  await Promise.all(Object.values(ORIGINS).map((u) => fetch(`${u}/__reset`, { method: 'POST' })));
}

export async function errorBody(res: Response): Promise<{ code: string; message: string; requestId: string }> {
  const body = (await res.json()) as { error: { code: string; message: string; requestId: string } };
  return body.error;
}
