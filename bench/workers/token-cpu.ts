/**
 * Measures the token step in workerd: the gateway's own verifier and verified-token
 * cache, per algorithm. Clocks inside a Worker do not advance during a request, so the
 * bench reads the workerd process's CPU time around each /run call instead.
 *
 *   POST /setup?alg=ES256&n=500  mints n distinct tokens (and primes a warm cache)
 *   GET  /run?alg=ES256&mode=cold|warm|baseline
 */
import { generateKeyPair, exportJWK, SignJWT } from 'jose';
import { KeySet } from '../../src/token/key-set.ts';
import { VerifiedTokenCache } from '../../src/token/verified-cache.ts';
import { verifyAccessToken, type VerifyOptions } from '../../src/token/verify.ts';

const ALGS = ['ES256', 'ES384', 'EdDSA', 'RS256', 'PS256'];
const OPTS = (alg: string): VerifyOptions => ({ issuer: 'https://central.bench.test', audience: 'edge-tenant-router', algorithms: [alg], clockToleranceSeconds: 5 });

interface Prepared { keySet: KeySet; tokens: string[]; warm: VerifiedTokenCache }
const prepared = new Map<string, Prepared>();

async function setup(alg: string, n: number): Promise<Prepared> {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true, modulusLength: 2048 });
  const jwk = { ...(await exportJWK(publicKey)), kid: `k-${alg}`, alg };
  const keySet = await KeySet.create({ staticKeys: { keys: [jwk] }, algorithms: [alg], ttlMs: 1e9, cooldownMs: 0 });
  const tokens: string[] = [];
  for (let i = 0; i < n; i++) {
    tokens.push(
      await new SignJWT({ sub: `user-${i}`, tenant_id: 'ws_bench', tenant_region: 'eu-central-1' })
        .setProtectedHeader({ alg, kid: `k-${alg}` })
        .setIssuer('https://central.bench.test')
        .setAudience('edge-tenant-router')
        .setIssuedAt()
        .setExpirationTime('1h')
        .sign(privateKey),
    );
  }
  const warm = new VerifiedTokenCache({ clockToleranceSeconds: 5 });
  const r = await warm.verify(tokens[0]!, keySet, () => verifyAccessToken(tokens[0]!, keySet, OPTS(alg)));
  if (!r.ok) throw new Error(`setup token did not verify: ${r.reason}`);
  return { keySet, tokens, warm };
}

export default {
  async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    const alg = url.searchParams.get('alg') ?? 'ES256';
    if (!ALGS.includes(alg)) return new Response('unknown alg', { status: 400 });
    if (url.pathname === '/setup') {
      prepared.set(alg, await setup(alg, Number(url.searchParams.get('n') ?? '200')));
      return new Response('ok');
    }
    const p = prepared.get(alg);
    if (!p) return new Response('not set up', { status: 409 });
    const mode = url.searchParams.get('mode');
    const opts = OPTS(alg);
    let verified = 0;
    if (mode === 'baseline') {
      for (const _ of p.tokens) verified += (await Promise.resolve(1));
    } else if (mode === 'cold') {
      // Every token is new to this cache: full verification plus the cache insert.
      const cache = new VerifiedTokenCache({ clockToleranceSeconds: 5 });
      for (const t of p.tokens) if ((await cache.verify(t, p.keySet, () => verifyAccessToken(t, p.keySet, opts))).ok) verified++;
    } else if (mode === 'warm') {
      const t = p.tokens[0]!;
      for (const _ of p.tokens) if ((await p.warm.verify(t, p.keySet, () => verifyAccessToken(t, p.keySet, opts))).ok) verified++;
    } else {
      return new Response('unknown mode', { status: 400 });
    }
    if (verified !== p.tokens.length) return new Response(`only ${verified}/${p.tokens.length} verified`, { status: 500 });
    return Response.json({ verified });
  },
};
