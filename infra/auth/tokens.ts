/**
 * Access tokens exactly as the central region issues them, shared by the central
 * app and `npm run token` so a dev token is indistinguishable from a real one:
 * ES256, header {alg, kid, typ: 'at+jwt'}, claims iss, aud, sub, tenant_id,
 * tenant_region, auth_time, iat, exp, jti. Central adds `sid`, the session the
 * token belongs to (a dev token has none, so central never exchanges one).
 */
import { randomUUID } from 'node:crypto';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, jwtVerify, SignJWT, type JWK, type JWTPayload } from 'jose';

export const AUDIENCE = 'edge-tenant-router';
export const ACCESS_TOKEN_TTL_SECONDS = 15 * 60;
export const TOKEN_TYPE = 'at+jwt';
const ALG = 'ES256';

/** Private JWK as written to state.json. */
export type SigningJwk = JWK & { kid: string; alg: typeof ALG; d: string };

export async function generateSigningKey(): Promise<SigningJwk> {
  const { privateKey } = await generateKeyPair(ALG, { extractable: true });
  const jwk = await exportJWK(privateKey);
  // The thumbprint is a stable, collision-free key id.
  const kid = await calculateJwkThumbprint(jwk);
  return { ...jwk, kid, alg: ALG, use: 'sig' } as SigningJwk;
}

export function publicJwk(key: SigningJwk): JWK {
  const { d: _d, ...pub } = key;
  return pub;
}

export interface AccessClaims {
  sub: string;
  tenantId: string;
  region: string;
  ttlSeconds?: number;
  /** When the user signed in (unix seconds); kept across refresh and exchange. Default: now. */
  authTime?: number;
  /** Further claims (e.g. a later `admin`); cannot override the ones above. */
  extra?: Record<string, unknown>;
}

export interface AccessTokenPayload extends JWTPayload {
  sub: string;
  tenant_id: string;
  tenant_region: string;
  auth_time?: number;
  sid?: string;
}

export interface TokenSigner {
  issuer: string;
  audience: string;
  kid: string;
  sign(claims: AccessClaims): Promise<string>;
  /** Verifies a token this signer issued (signature, typ, iss, aud, exp). Throws on failure. */
  verify(token: string): Promise<AccessTokenPayload>;
  jwks(): { keys: JWK[] };
}

export async function createTokenSigner(key: SigningJwk, opts: { issuer: string; audience?: string }): Promise<TokenSigner> {
  const audience = opts.audience ?? AUDIENCE;
  const privateKey = await importJWK(key, ALG);
  const verifyKey = await importJWK(publicJwk(key), ALG);
  return {
    issuer: opts.issuer,
    audience,
    kid: key.kid,
    async sign({ sub, tenantId, region, ttlSeconds = ACCESS_TOKEN_TTL_SECONDS, authTime, extra = {} }) {
      const now = Math.floor(Date.now() / 1000);
      return new SignJWT({ ...extra, tenant_id: tenantId, tenant_region: region, auth_time: authTime ?? now })
        .setProtectedHeader({ alg: ALG, kid: key.kid, typ: TOKEN_TYPE })
        .setIssuer(opts.issuer)
        .setAudience(audience)
        .setSubject(sub)
        .setIssuedAt(now)
        .setExpirationTime(now + ttlSeconds)
        .setJti(randomUUID())
        .sign(privateKey);
    },
    async verify(token) {
      const { payload } = await jwtVerify(token, verifyKey, {
        issuer: opts.issuer,
        audience,
        algorithms: [ALG],
        typ: TOKEN_TYPE,
        requiredClaims: ['sub', 'exp', 'iat'],
      });
      if (typeof payload.tenant_id !== 'string' || typeof payload.tenant_region !== 'string') {
        throw new Error('token lacks tenant claims');
      }
      return payload as AccessTokenPayload;
    },
    jwks: () => ({ keys: [publicJwk(key)] }),
  };
}

/** The gateway's defaults for telling an admin token apart (ADMIN_TOKEN_TYP / ADMIN_TOKEN_AUDIENCE). */
export const ADMIN_TOKEN_TYPE = 'admin+jwt';
export const ADMIN_AUDIENCE = 'edge-tenant-router-admin';

/**
 * A gateway-admin token for /admin: same issuer and key as an access token, but its own `typ`
 * and audience (which no tenant token carries), the regions it may read in `admin_regions`, and
 * deliberately no tenant claims, so it can never be routed as tenant traffic.
 */
export async function signAdminToken(
  key: SigningJwk,
  opts: { issuer: string; audience?: string; sub: string; regions: readonly string[]; ttlSeconds?: number },
): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ admin_regions: [...opts.regions] })
    .setProtectedHeader({ alg: ALG, kid: key.kid, typ: ADMIN_TOKEN_TYPE })
    .setIssuer(opts.issuer)
    .setAudience(opts.audience ?? ADMIN_AUDIENCE)
    .setSubject(opts.sub)
    .setIssuedAt(now)
    .setExpirationTime(now + (opts.ttlSeconds ?? ACCESS_TOKEN_TTL_SECONDS))
    .setJti(randomUUID())
    .sign(await importJWK(key, ALG));
}
