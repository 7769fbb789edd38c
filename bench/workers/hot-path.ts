/**
 * The gateway's hot path measured inside workerd, with the gateway's own modules.
 * Clocks inside a Worker stand still during a request, so the bench reads the
 * (pinned) workerd process's CPU time around each call and divides by n.
 *
 *   POST /setup?alg=ES256&n=400     mints n distinct tokens for alg (and primes a warm cache)
 *   GET  /run?alg=ES256&mode=cold|warm|baseline
 *        cold: n tokens new to the cache (full verification + insert); warm: n cache hits
 *   GET  /stage/<stage>              one request through that stage (for wrk)
 *   GET  /loop?mode=<stage>&n=200    n requests in a row through a growing part of the
 *        gateway, each to the real origin (bindings: the gateway's, plus ORIGIN and BENCH_TOKEN)
 */
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { createApp } from '../../src/app.ts';
import { outboundRequestHeaders, rewriteResponseHeaders } from '../../src/forward/headers.ts';
import { forward } from '../../src/forward/index.ts';
import { gatewayRequestId } from '../../src/request-id/index.ts';
import { getRuntime } from '../../src/runtime/index.ts';
import { resolveTenant } from '../../src/tenant/index.ts';
import { extractBearer } from '../../src/token/extract.ts';
import { KeySet } from '../../src/token/key-set.ts';
import { VerifiedTokenCache } from '../../src/token/verified-cache.ts';
import { verifyAccessToken, type VerifyOptions } from '../../src/token/verify.ts';
import { regionUpstream } from '../../src/upstream/index.ts';

const ALGS = ['ES256', 'ES384', 'EdDSA', 'RS256', 'PS256'];
const OPTS = (alg: string): VerifyOptions => ({
  issuer: 'https://central.bench.test',
  audience: 'edge-tenant-router',
  algorithms: [alg],
  clockToleranceSeconds: 5,
  requiredTyp: 'at+jwt',
  maxTokenAgeSeconds: 3600,
});

interface Prepared {
  keySet: KeySet;
  tokens: string[];
  warm: VerifiedTokenCache;
}
const prepared = new Map<string, Prepared>();

async function setup(alg: string, n: number): Promise<Prepared> {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true, modulusLength: 2048 });
  const jwk = { ...(await exportJWK(publicKey)), kid: `k-${alg}`, alg };
  const keySet = await KeySet.create({ staticKeys: { keys: [jwk] }, algorithms: [alg], ttlMs: 1e9, cooldownMs: 0 });
  const tokens: string[] = [];
  for (let i = 0; i < n; i++) {
    tokens.push(
      await new SignJWT({ sub: `user-${i}`, tenant_id: 'ws_bench', tenant_region: 'eu-central-1' })
        .setProtectedHeader({ alg, kid: `k-${alg}`, typ: 'at+jwt' })
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

async function runTokens(alg: string, mode: string): Promise<Response> {
  const p = prepared.get(alg);
  if (!p) return new Response('not set up', { status: 409 });
  const opts = OPTS(alg);
  let verified = 0;
  if (mode === 'baseline') {
    for (const _ of p.tokens) verified += await Promise.resolve(1);
  } else if (mode === 'cold') {
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
}

const app = createApp();
let noCacheEnv: Record<string, unknown> | undefined;

/** One request through the first stages of the gateway (cumulative), ending at the real origin. */
async function stage(mode: string, env: Record<string, unknown>): Promise<Response> {
  const auth = `Bearer ${String(env.BENCH_TOKEN)}`;
  const req = new Request('http://gw.test/api/pages', { headers: { authorization: auth } });
  if (mode === 'fetch') return fetch(`${String(env.ORIGIN)}/api/pages`, { headers: req.headers });
  if (mode === 'fetch-deadline-timer') {
    // The per-attempt deadline as src/resilience does it: AbortController + setTimeout/clearTimeout.
    const ctrl = new AbortController();
    const timer = setTimeout(() => ctrl.abort(), 10_000);
    try {
      return await fetch(`${String(env.ORIGIN)}/api/pages`, { headers: req.headers, signal: ctrl.signal });
    } finally {
      clearTimeout(timer);
    }
  }
  if (mode === 'fetch-deadline-signal') return fetch(`${String(env.ORIGIN)}/api/pages`, { headers: req.headers, signal: AbortSignal.timeout(10_000) });
  if (mode === 'gateway') return app.fetch(req, env);
  if (mode === 'gateway-nocache') {
    noCacheEnv ??= { ...env, JWT_VERIFIED_CACHE_SIZE: '0' }; // one stable env: one runtime, built once
    return app.fetch(req, noCacheEnv);
  }
  if (mode === 'headers') {
    const r = await fetch(`${String(env.ORIGIN)}/api/pages`, { headers: outboundRequestHeaders(req.headers, { forwardAuthorization: false }) });
    // As forward() does it: one copy of the response, its headers rewritten in place.
    const out = new Response(r.body, r);
    rewriteResponseHeaders(out.headers, { upstreamOrigins: [String(env.ORIGIN)], publicHost: 'gw.test' });
    return out;
  }
  const rt = await getRuntime(env);
  if (!rt.ok) return new Response('config', { status: 500 });
  const { config, keySet, verifiedTokens, assertionKeys, resilience } = rt.runtime;
  let identity = { tenantId: 'ws_bench', userId: 'bench-user', region: 'eu-central-1', requestId: gatewayRequestId() };
  let region = config.regions.get('eu-central-1')!;
  if (mode === 'verified') {
    const ex = extractBearer(req.headers.get('authorization'), config.jwt.maxTokenBytes);
    if (!ex.ok) return new Response('extract', { status: 500 });
    const v = await verifiedTokens.verify(ex.token, keySet, () => verifyAccessToken(ex.token, keySet, config.jwt));
    if (!v.ok) return new Response('verify', { status: 500 });
    const t = resolveTenant(v.claims, config, null);
    if (!t.ok) return new Response('tenant', { status: 500 });
    region = t.tenant.region;
    identity = { ...identity, tenantId: t.tenant.tenantId, userId: t.tenant.userId, region: region.name };
  } else if (mode !== 'forward' && mode !== 'signed') {
    return new Response('unknown mode', { status: 400 });
  }
  return forward(req, new URL(req.url), {
    upstream: regionUpstream(region),
    requestId: identity.requestId,
    forwardAuthorization: false,
    resilience,
    identity: mode === 'forward' ? undefined : { value: identity, key: assertionKeys.get(region.name)! },
  });
}

export default {
  async fetch(request: Request, env: Record<string, unknown>): Promise<Response> {
    const url = new URL(request.url);
    // One request through one stage, for load generators: GET /stage/<mode>
    if (url.pathname.startsWith('/stage/')) return stage(url.pathname.slice('/stage/'.length), env);
    if (url.pathname === '/loop') {
      const n = Number(url.searchParams.get('n') ?? '200');
      const mode = url.searchParams.get('mode') ?? '';
      for (let i = 0; i < n; i++) {
        const res = await stage(mode, env);
        if (res.status !== 200) return new Response(`${mode}: status ${res.status}: ${await res.text()}`, { status: 500 });
        await res.arrayBuffer();
      }
      return new Response('ok');
    }
    const alg = url.searchParams.get('alg') ?? 'ES256';
    if (!ALGS.includes(alg)) return new Response('unknown alg', { status: 400 });
    if (url.pathname === '/setup') {
      prepared.set(alg, await setup(alg, Number(url.searchParams.get('n') ?? '200')));
      return new Response('ok');
    }
    if (url.pathname === '/run') return runTokens(alg, url.searchParams.get('mode') ?? '');
    return new Response('not found', { status: 404 });
  },
};
