/**
 * The gateway's signed identity assertion: how an origin (a regional app, a regional data
 * Worker, the central app) tells a request that came through the gateway from one that did not.
 * Shared by the signer (the Worker) and every verifier, so the canonical form never drifts.
 *
 * Keys: one HMAC-SHA256 key per audience (each region, and `central`), each with a key id.
 * Whoever holds one region's key can vouch only for requests to that region: the audience is
 * signed, and each region verifies with its own key ring. A ring holds at most two keys so a
 * key rotates without downtime (verifiers accept both, the gateway signs with the first).
 *
 * Header value: `v2.<kid>.<unix seconds>.<base64url HMAC-SHA256>` over the JSON array
 *   ["gw-assertion-v2", kid, t, METHOD, pathAndQuery, audience, [[name, value], ...sorted by name]]
 * (JSON, so no value can be spelled to look like another field).
 *
 * Public API (small on purpose):
 *   importAssertionKey(kid, secret) → AssertionKey          importKeyRing([{kid, secret}]) → AssertionKeyRing
 *   signAssertion(request, key)     → header value           verifyAssertion(header, request, ring) → AssertionCheck
 *   identityRequest(method, pathAndQuery, identity)          centralRequest(method, pathAndQuery, client)
 *   probeRequest(method, pathAndQuery, probe)                (the edge's readiness probe of a region's data Worker)
 *   identityFromHeaders(headers) / clientFromHeaders(headers)  (what a verifier reads back)
 *   setSignedIdentity(headers, method, pathAndQuery, identity, key)  (the forward path's signer)
 *   canonical / canonicalIdentity: the signed bytes (exported so a test can pin one to the other)
 *
 * Not covered: the body (bodies are streamed, never buffered). A captured assertion can be
 * replayed, with any body, for the same method, path, query, audience and claims until it is
 * ASSERTION_MAX_AGE_SECONDS old.
 */

export const ASSERTION_HEADER = 'x-gateway-assertion';

export const IDENTITY_HEADERS = {
  tenantId: 'x-tenant-id',
  userId: 'x-user-id',
  region: 'x-tenant-region',
  requestId: 'x-request-id',
  /** The client's address as the platform reported it to the gateway (CF-Connecting-IP). */
  clientIp: 'x-gateway-client-ip',
  assertion: ASSERTION_HEADER,
} as const;

/** The audience name of the central region's key ring (region names are lowercase words joined by "-"). */
export const CENTRAL_AUDIENCE = 'central';
/** One current key, plus the previous or next one during a rotation. */
export const MAX_KEYS_PER_RING = 2;
export const MIN_SECRET_LENGTH = 32;
export const KEY_ID = /^[A-Za-z0-9_-]{1,64}$/;
/** How long after signing an assertion is accepted (covers the origin's queueing and clock skew). */
export const ASSERTION_MAX_AGE_SECONDS = 30;
/** How far in the future a timestamp may be: clock skew only; anything beyond is refused. */
export const ASSERTION_MAX_FUTURE_SKEW_SECONDS = 5;

export interface AssertionKey {
  readonly kid: string;
  readonly key: CryptoKey;
}

/** Keys a verifier accepts, by key id; the first one is the one a signer uses. */
export interface AssertionKeyRing {
  readonly keys: readonly AssertionKey[];
}

/** What one assertion vouches for: the request line, who it is for, and named claims. */
export interface AssertedRequest {
  readonly method: string;
  /** Path and query exactly as sent to the origin. */
  readonly pathAndQuery: string;
  /** A region name, or CENTRAL_AUDIENCE. */
  readonly audience: string;
  readonly claims: Readonly<Record<string, string>>;
}

/** A tenant request's identity, derived by the gateway from a verified token. */
export interface Identity {
  tenantId: string;
  userId: string;
  region: string;
  requestId: string;
}

/** A request to the central region: no token identity, but the client's address and the request id. */
export interface CentralClient {
  clientIp: string;
  requestId: string;
}

export type AssertionCheck =
  | { ok: true; kid: string }
  | { ok: false; reason: 'missing' | 'malformed' | 'unknown_key' | 'expired' | 'future' | 'bad_signature' };

const encoder = new TextEncoder();

export async function importAssertionKey(kid: string, secret: string): Promise<AssertionKey> {
  if (!KEY_ID.test(kid)) throw new Error(`assertion key id must match ${KEY_ID}`);
  if (secret.length < MIN_SECRET_LENGTH) throw new Error(`assertion secret must be at least ${MIN_SECRET_LENGTH} characters`);
  const key = await crypto.subtle.importKey('raw', encoder.encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign', 'verify']);
  return { kid, key };
}

export async function importKeyRing(entries: readonly { kid: string; secret: string }[]): Promise<AssertionKeyRing> {
  if (entries.length < 1 || entries.length > MAX_KEYS_PER_RING) throw new Error(`an assertion key ring holds 1 to ${MAX_KEYS_PER_RING} keys`);
  if (new Set(entries.map((e) => e.kid)).size !== entries.length) throw new Error('assertion key ids in a ring must differ');
  return { keys: await Promise.all(entries.map((e) => importAssertionKey(e.kid, e.secret))) };
}

export function identityRequest(method: string, pathAndQuery: string, id: Identity): AssertedRequest {
  return {
    method,
    pathAndQuery,
    audience: id.region,
    claims: { region: id.region, request_id: id.requestId, tenant_id: id.tenantId, user_id: id.userId },
  };
}

export function centralRequest(method: string, pathAndQuery: string, client: CentralClient): AssertedRequest {
  return { method, pathAndQuery, audience: CENTRAL_AUDIENCE, claims: { client_ip: client.clientIp, request_id: client.requestId } };
}

/**
 * The edge asking a region's data Worker about its databases: no tenant at all. Its claims (`probe`)
 * are a set no tenant identity has, so neither kind of assertion verifies as the other.
 */
export interface ReadinessProbe {
  region: string;
  requestId: string;
}

export function probeRequest(method: string, pathAndQuery: string, probe: ReadinessProbe): AssertedRequest {
  return { method, pathAndQuery, audience: probe.region, claims: { probe: 'readiness', region: probe.region, request_id: probe.requestId } };
}

type HeaderSource = { get(name: string): string | null | undefined };

export function identityFromHeaders(h: HeaderSource): Identity {
  return {
    tenantId: h.get(IDENTITY_HEADERS.tenantId) ?? '',
    userId: h.get(IDENTITY_HEADERS.userId) ?? '',
    region: h.get(IDENTITY_HEADERS.region) ?? '',
    requestId: h.get(IDENTITY_HEADERS.requestId) ?? '',
  };
}

export function clientFromHeaders(h: HeaderSource): CentralClient {
  return { clientIp: h.get(IDENTITY_HEADERS.clientIp) ?? '', requestId: h.get(IDENTITY_HEADERS.requestId) ?? '' };
}

/** The signed bytes, for any request: claims sorted by name. */
export function canonical(kid: string, t: number, r: AssertedRequest): string {
  const claims = Object.keys(r.claims)
    .sort()
    .map((k) => [k, r.claims[k]]);
  return JSON.stringify(['gw-assertion-v2', kid, t, r.method.toUpperCase(), r.pathAndQuery, r.audience, claims]);
}

const json = JSON.stringify;

/**
 * canonical() for a tenant identity, spelled out: the same bytes (the claim names of identityRequest
 * in sorted order, each string through JSON.stringify) without building, sorting and serialising
 * the nested arrays, which cost more than the HMAC itself on the forward path.
 */
export function canonicalIdentity(kid: string, t: number, method: string, pathAndQuery: string, id: Identity): string {
  return (
    `["gw-assertion-v2",${json(kid)},${json(t)},${json(method.toUpperCase())},${json(pathAndQuery)},${json(id.region)},` +
    `[["region",${json(id.region)}],["request_id",${json(id.requestId)}],["tenant_id",${json(id.tenantId)}],["user_id",${json(id.userId)}]]]`
  );
}

const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** Unpadded base64url in one pass (no binary string, no btoa, no replacements: it runs per request). */
export function toBase64Url(bytes: ArrayBuffer): string {
  const b = new Uint8Array(bytes);
  let s = '';
  let i = 0;
  for (; i + 2 < b.length; i += 3) {
    const n = (b[i]! << 16) | (b[i + 1]! << 8) | b[i + 2]!;
    s += B64URL[n >> 18]! + B64URL[(n >> 12) & 63]! + B64URL[(n >> 6) & 63]! + B64URL[n & 63]!;
  }
  if (i < b.length) {
    const n = (b[i]! << 16) | ((b[i + 1] ?? 0) << 8);
    s += B64URL[n >> 18]! + B64URL[(n >> 12) & 63]!;
    if (i + 1 < b.length) s += B64URL[(n >> 6) & 63]!;
  }
  return s;
}

function fromBase64Url(s: string): Uint8Array<ArrayBuffer> {
  const bin = atob(s.replace(/-/g, '+').replace(/_/g, '/'));
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

export async function signAssertion(request: AssertedRequest, key: AssertionKey, nowSeconds = Math.floor(Date.now() / 1000)): Promise<string> {
  return signCanonical(canonical(key.kid, nowSeconds, request), key, nowSeconds);
}

async function signCanonical(bytes: string, key: AssertionKey, nowSeconds: number): Promise<string> {
  const mac = await crypto.subtle.sign('HMAC', key.key, encoder.encode(bytes));
  return `v2.${key.kid}.${nowSeconds}.${toBase64Url(mac)}`;
}

/**
 * Sets the tenant identity headers and their signed assertion over method, path and query on an
 * outgoing request (the request id header is the caller's: every outgoing request carries it).
 * Signs what signAssertion(identityRequest(method, pathAndQuery, id), key) signs.
 */
export async function setSignedIdentity(headers: Headers, method: string, pathAndQuery: string, id: Identity, key: AssertionKey): Promise<void> {
  headers.set(IDENTITY_HEADERS.tenantId, id.tenantId);
  headers.set(IDENTITY_HEADERS.userId, id.userId);
  headers.set(IDENTITY_HEADERS.region, id.region);
  const now = Math.floor(Date.now() / 1000);
  headers.set(IDENTITY_HEADERS.assertion, await signCanonical(canonicalIdentity(key.kid, now, method, pathAndQuery, id), key, now));
}

// 43 characters: an unpadded base64url SHA-256 MAC; the last one carries only 4 bits (canonical spelling).
const HEADER = /^v2\.([A-Za-z0-9_-]{1,64})\.(\d{1,12})\.([A-Za-z0-9_-]{42}[AEIMQUYcgkosw048])$/;

export interface VerifyAssertionOptions {
  nowSeconds?: number;
  maxAgeSeconds?: number;
  maxFutureSkewSeconds?: number;
}

export async function verifyAssertion(
  header: string | null | undefined,
  request: AssertedRequest,
  ring: AssertionKeyRing,
  { nowSeconds = Math.floor(Date.now() / 1000), maxAgeSeconds = ASSERTION_MAX_AGE_SECONDS, maxFutureSkewSeconds = ASSERTION_MAX_FUTURE_SKEW_SECONDS }: VerifyAssertionOptions = {},
): Promise<AssertionCheck> {
  if (!header) return { ok: false, reason: 'missing' };
  const m = HEADER.exec(header);
  if (!m) return { ok: false, reason: 'malformed' };
  const kid = m[1]!;
  const key = ring.keys.find((k) => k.kid === kid);
  if (!key) return { ok: false, reason: 'unknown_key' };
  const t = Number(m[2]);
  if (t - nowSeconds > maxFutureSkewSeconds) return { ok: false, reason: 'future' };
  if (nowSeconds - t > maxAgeSeconds) return { ok: false, reason: 'expired' };
  // crypto.subtle.verify compares in constant time.
  const valid = await crypto.subtle.verify('HMAC', key.key, fromBase64Url(m[3]!), encoder.encode(canonical(kid, t, request)));
  return valid ? { ok: true, kid } : { ok: false, reason: 'bad_signature' };
}

/**
 * Fresh key rings (one random 256-bit key each) for the given audiences, in the
 * GATEWAY_ASSERTION_KEYS shape: for the local world, tests and benchmarks, never a deploy.
 */
export function newAssertionKeys(audiences: readonly string[]): Record<string, { kid: string; secret: string }[]> {
  const hex = (n: number) => [...crypto.getRandomValues(new Uint8Array(n))].map((b) => b.toString(16).padStart(2, '0')).join('');
  return Object.fromEntries(audiences.map((a) => [a, [{ kid: `${a}-${hex(4)}`, secret: hex(32) }]]));
}
