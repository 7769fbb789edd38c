/**
 * The gateway's signed identity assertion: how a regional origin tells a request
 * that came through the gateway (with identity taken from a verified token) from
 * one that did not. Shared by the signer (the Worker) and the verifiers (origins),
 * so the canonical string can never drift between them.
 *
 * Header value: `v1.<unix seconds>.<base64url HMAC-SHA256>` over
 * "gw-identity-v1\n<t>\n<METHOD>\n<path?query>\n<tenant>\n<region>\n<user>\n<request id>".
 * It does not cover the body (bodies are streamed, never buffered); a captured
 * assertion is replayable only for the same method, path, query and identity
 * within the skew window.
 */

export const IDENTITY_HEADERS = {
  tenantId: 'x-tenant-id',
  userId: 'x-user-id',
  region: 'x-tenant-region',
  requestId: 'x-request-id',
  assertion: 'x-gateway-assertion',
} as const;

export interface Identity {
  tenantId: string;
  userId: string;
  region: string;
  requestId: string;
}

export type AssertionCheck =
  | { ok: true }
  | { ok: false; reason: 'missing' | 'malformed' | 'expired' | 'bad_signature' };

export const MIN_SECRET_LENGTH = 32;
export const DEFAULT_MAX_SKEW_SECONDS = 30;

const encoder = new TextEncoder();

export async function importAssertionKey(secret: string): Promise<CryptoKey> {
  if (secret.length < MIN_SECRET_LENGTH) {
    throw new Error(`assertion secret must be at least ${MIN_SECRET_LENGTH} characters`);
  }
  return crypto.subtle.importKey('raw', encoder.encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, [
    'sign',
    'verify',
  ]);
}

function canonical(t: number, method: string, pathAndQuery: string, id: Identity): string {
  return ['gw-identity-v1', String(t), method.toUpperCase(), pathAndQuery, id.tenantId, id.region, id.userId, id.requestId].join('\n');
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

function fromBase64Url(s: string): Uint8Array | null {
  if (!/^[A-Za-z0-9_-]+$/.test(s)) return null;
  const bin = atob(s.replace(/-/g, '+').replace(/_/g, '/'));
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

export async function signAssertion(
  key: CryptoKey,
  method: string,
  pathAndQuery: string,
  id: Identity,
  nowSeconds = Math.floor(Date.now() / 1000),
): Promise<string> {
  const mac = await crypto.subtle.sign('HMAC', key, encoder.encode(canonical(nowSeconds, method, pathAndQuery, id)));
  return `v1.${nowSeconds}.${toBase64Url(mac)}`;
}

export async function verifyAssertion(
  key: CryptoKey,
  header: string | null | undefined,
  method: string,
  pathAndQuery: string,
  id: Identity,
  { nowSeconds = Math.floor(Date.now() / 1000), maxSkewSeconds = DEFAULT_MAX_SKEW_SECONDS } = {},
): Promise<AssertionCheck> {
  if (!header) return { ok: false, reason: 'missing' };
  const m = /^v1\.(\d{1,12})\.([A-Za-z0-9_-]{43})$/.exec(header);
  if (!m) return { ok: false, reason: 'malformed' };
  const t = Number(m[1]);
  if (Math.abs(nowSeconds - t) > maxSkewSeconds) return { ok: false, reason: 'expired' };
  const sig = fromBase64Url(m[2]!);
  if (!sig) return { ok: false, reason: 'malformed' };
  // crypto.subtle.verify compares in constant time.
  const valid = await crypto.subtle.verify('HMAC', key, sig, encoder.encode(canonical(t, method, pathAndQuery, id)));
  return valid ? { ok: true } : { ok: false, reason: 'bad_signature' };
}
