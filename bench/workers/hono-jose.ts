/**
 * The obvious peer on the same platform: hono + jose `jwtVerify`, the key imported
 * once per isolate, the region read from a claim, the request forwarded. No cache.
 */
import { Hono } from 'hono';
import { importJWK, jwtVerify, type JWK } from 'jose';

type Env = { Bindings: { JWK: string; ISSUER: string; AUDIENCE: string; REGIONS: Record<string, string> } };

let key: Promise<CryptoKey | Uint8Array> | undefined;

const app = new Hono<Env>();
app.all('/api/*', async (c) => {
  key ??= importJWK(JSON.parse(c.env.JWK) as JWK, 'ES256');
  const auth = c.req.header('authorization');
  if (!auth?.startsWith('Bearer ')) return c.json({ error: 'token_missing' }, 401);
  let payload;
  try {
    ({ payload } = await jwtVerify(auth.slice(7), await key, {
      issuer: c.env.ISSUER,
      audience: c.env.AUDIENCE,
      algorithms: ['ES256'],
      requiredClaims: ['exp'],
    }));
  } catch {
    return c.json({ error: 'invalid_token' }, 401);
  }
  const origin = typeof payload.tenant_region === 'string' ? c.env.REGIONS[payload.tenant_region] : undefined;
  if (!origin) return c.json({ error: 'region_unknown' }, 403);
  const url = new URL(c.req.url);
  const headers = new Headers(c.req.raw.headers);
  headers.delete('authorization');
  headers.set('x-tenant-id', String(payload.tenant_id));
  return fetch(origin + url.pathname + url.search, {
    method: c.req.method,
    headers,
    body: c.req.raw.body,
    redirect: 'manual',
  });
});

export default app;
