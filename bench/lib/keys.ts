/**
 * One ES256 signing key for the whole bench run, and the one token every target is
 * sent. HAProxy 2.6's jwt_verify reads the public key as a PEM SubjectPublicKeyInfo
 * file (despite its docs saying "certificate": 2.6 loads it with PEM_read_bio_PUBKEY).
 */
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SignJWT, type JWK } from 'jose';

export const ISSUER = 'https://central.bench.test';
export const AUDIENCE = 'edge-tenant-router';
export const KID = 'bench-es256';

export interface BenchKeys {
  publicKeyPemPath: string;
  publicJwk: JWK;
  privateKey: KeyObject;
}

export function makeKeys(dir: string): BenchKeys {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const publicKeyPemPath = join(dir, 'es256.pub.pem');
  writeFileSync(publicKeyPemPath, publicKey.export({ type: 'spki', format: 'pem' }));
  const publicJwk = { ...(publicKey.export({ format: 'jwk' }) as JWK), kid: KID, alg: 'ES256', use: 'sig' };
  return { publicKeyPemPath, publicJwk, privateKey };
}

export function mintToken(keys: BenchKeys, claims: Record<string, unknown>, lifetimeSeconds = 3600): Promise<string> {
  return new SignJWT({ sub: 'bench-user', tenant_id: 'ws_bench', tenant_region: 'eu-central-1', ...claims })
    .setProtectedHeader({ alg: 'ES256', kid: KID, typ: 'at+jwt' })
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + lifetimeSeconds)
    .sign(keys.privateKey);
}
