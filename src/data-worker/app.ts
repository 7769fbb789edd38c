/**
 * One region's data Worker: placed next to that region's database, called only by
 * the edge gateway through a service binding. It trusts nothing unsigned: every
 * request must carry the edge's identity assertion (src/identity-assertion) over
 * its method, path, query and identity, else 401; a tenant of another region is
 * refused with 403; both before any query. Then the route table (src/query) runs
 * under RLS exactly as it did at the edge.
 */
import { Hono, type MiddlewareHandler } from 'hono';
import { parseDataWorkerConfig } from '../config/data-worker.ts';
import { GatewayError, onError } from '../errors/index.ts';
import { identityFromHeaders, identityRequest, importKeyRing, probeRequest, verifyAssertion, IDENTITY_HEADERS, type AssertedRequest, type AssertionKeyRing, type Identity } from '../identity-assertion/index.ts';
import { mountDataRoutes, SOURCE_HEADER, type DataEnv, type DataRuntime } from '../query/index.ts';
import { createResilience } from '../resilience/index.ts';
import { DATA_READINESS_PATH } from './paths.ts';
import { dataReadiness } from './readiness.ts';

/** How long the readiness queries may take; the edge's own deadline bounds the whole probe anyway. */
const READINESS_QUERY_TIMEOUT_MS = 2000;

// The same alphabets the edge admits (src/tenant): the assertion is signed, this is the second wall.
const TENANT_ID = /^[A-Za-z0-9_-]{1,128}$/;
const USER_ID = /^[A-Za-z0-9_.:@-]{1,256}$/;
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

interface DataWorkerRuntime {
  readonly data: DataRuntime;
  readonly assertionKeys: AssertionKeyRing;
}

type RuntimeResult = { ok: true; runtime: DataWorkerRuntime } | { ok: false; fields: string };
const runtimes = new WeakMap<object, Promise<RuntimeResult>>();

/** Built once per isolate (the env object is stable within one). */
function runtimeFor(env: Record<string, unknown>): Promise<RuntimeResult> {
  let r = runtimes.get(env);
  if (!r) {
    r = (async (): Promise<RuntimeResult> => {
      const parsed = parseDataWorkerConfig(env);
      if (!parsed.ok) {
        console.error(JSON.stringify({ level: 'error', msg: 'data_worker_config_invalid', issues: parsed.error.issues }));
        return { ok: false, fields: parsed.error.issues.map((i) => i.split(':')[0]).join(', ') };
      }
      const { config } = parsed;
      const data: DataRuntime = { region: config.region, database: config.database, driver: config.databaseDriver, resilience: createResilience(config.resilience) };
      return { ok: true, runtime: { data, assertionKeys: await importKeyRing(config.assertionKeys) } };
    })();
    runtimes.set(env, r);
  }
  return r;
}

/** 401 unless the request's assertion vouches for exactly `asserted(method, pathAndQuery)` under this region's ring. */
async function requireAssertion(req: Request, ring: AssertionKeyRing, kind: string, asserted: (method: string, pathAndQuery: string) => AssertedRequest): Promise<void> {
  const url = new URL(req.url);
  const check = await verifyAssertion(req.headers.get(IDENTITY_HEADERS.assertion), asserted(req.method, url.pathname + url.search), ring);
  if (!check.ok) throw new GatewayError('invalid_token', `${kind} assertion: ${check.reason}`);
}

/** The signed identity, checked: 401 without a valid assertion, 403 for another region's tenant. */
async function verifiedCaller(req: Request, ring: AssertionKeyRing, region: string): Promise<Identity> {
  const id = identityFromHeaders(req.headers);
  // Signed with the key of the asserted region: only this region's ring can verify it, so a request
  // signed for another region already fails here (unknown_key); the region check below is the second wall.
  await requireAssertion(req, ring, 'identity', (method, path) => identityRequest(method, path, id));
  if (!TENANT_ID.test(id.tenantId) || !USER_ID.test(id.userId)) throw new GatewayError('invalid_token', 'identity assertion: malformed identity');
  // Signed, but for another region: this Worker holds only its own region's data and never serves another's.
  if (id.region !== region) throw new GatewayError('forbidden', `tenant of region ${id.region.slice(0, 64)} at the ${region} data Worker`);
  return id;
}

export function createDataApp(): Hono<DataEnv> {
  const app = new Hono<DataEnv>();
  app.onError(onError);
  app.notFound((c) => onError(new GatewayError('not_found', `${c.req.method} ${new URL(c.req.url).pathname}`), c));

  // Keyed by the isolate's data runtime, so two environments in one isolate (tests) never share a key.
  const assertionKeys = new WeakMap<DataRuntime, AssertionKeyRing>();
  app.use('*', async (c, next) => {
    const sent = c.req.header(IDENTITY_HEADERS.requestId);
    c.set('requestId', sent && REQUEST_ID.test(sent) ? sent : crypto.randomUUID());
    const started = performance.now();
    try {
      const r = await runtimeFor(c.env);
      if (!r.ok) throw new GatewayError('config_invalid', `data Worker config: ${r.fields} invalid`);
      c.set('data', r.runtime.data);
      assertionKeys.set(r.runtime.data, r.runtime.assertionKeys);
      await next();
    } finally {
      // One line per request, from an explicit field list (never a URL, a value or a token).
      const err = c.get('error');
      console.log(JSON.stringify({
        level: c.res.status >= 500 ? 'error' : 'info',
        msg: 'data_request',
        requestId: c.get('requestId'),
        region: c.get('data')?.region,
        method: c.req.method,
        route: c.req.routePath,
        status: c.res.status,
        source: c.res.headers.get(SOURCE_HEADER) ?? undefined,
        code: err?.code,
        detail: err?.detail,
        ms: Math.round((performance.now() - started) * 10) / 10,
      }));
    }
  });

  const authenticate = (): MiddlewareHandler<DataEnv> => async (c, next) => {
    const data = c.get('data');
    const id = await verifiedCaller(c.req.raw, assertionKeys.get(data)!, data.region);
    c.set('caller', { tenantId: id.tenantId, userId: id.userId, region: id.region });
    await next();
  };

  // The edge's probe carries its own kind of assertion (no tenant): a tenant's assertion does not open it.
  const authenticateProbe = (): MiddlewareHandler<DataEnv> => async (c, next) => {
    const data = c.get('data');
    const probe = { region: data.region, requestId: c.req.header(IDENTITY_HEADERS.requestId) ?? '' };
    await requireAssertion(c.req.raw, assertionKeys.get(data)!, 'readiness probe', (method, path) => probeRequest(method, path, probe));
    await next();
  };

  app.get(DATA_READINESS_PATH, authenticateProbe(), async (c) => c.json({ checks: await dataReadiness(c.get('data'), READINESS_QUERY_TIMEOUT_MS) }, 200, { 'cache-control': 'no-store' }));
  mountDataRoutes(app, authenticate());
  return app;
}
