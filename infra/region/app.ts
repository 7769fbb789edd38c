/**
 * One region's application stack: a Notion-like pages API. It holds only the
 * data of tenants homed in this region and trusts only gateway-asserted identity.
 */
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { AssertionKeyRing } from '../../src/identity-assertion/index.ts';
import type { Db } from '../db/types.ts';
import { errorResponse, HttpError, invalid, notFound, onError } from '../http/errors.ts';
import { residencyAnswer } from '../../src/relocation/residency.ts';
import { jsonObject, optionalString, requiredString } from '../http/json-body.ts';
import { requireGatewayIdentity, type IdentityEnv } from './gateway-identity.ts';
import { pageStore, TenantNotProvisionedError, TenantResidencyError } from './pages.ts';
import { UUID_RE } from './uuid-v7.ts';

export interface RegionDeps {
  region: string;
  db: Db;
  /** This region's own assertion key ring (importKeyRing of its GATEWAY_ASSERTION_KEYS entry). */
  assertionKeys: AssertionKeyRing;
}

const TITLE = { max: 200, trim: true };
const BODY = { min: 0, max: 100_000 };
const MAX_LIMIT = 100;

const pageNotFound = () => new HttpError(404, 'not_found', 'page not found');

function listLimit(raw: string | undefined): number {
  if (raw === undefined) return 50;
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n < 1 || n > MAX_LIMIT) throw invalid(`limit must be an integer from 1 to ${MAX_LIMIT}`);
  return n;
}

export function createRegionApp({ region, db, assertionKeys }: RegionDeps): Hono<IdentityEnv> {
  const pages = pageStore(db, region);
  const app = new Hono<IdentityEnv>();
  const otherErrors = onError(`region ${region}`);
  app.onError((err, c) => {
    // The tenant moved away (tombstone) or is moving: the region's own verdict, whatever the token says.
    if (!(err instanceof TenantResidencyError)) return otherErrors(err, c);
    const a = residencyAnswer(err.state);
    return errorResponse(c, new HttpError(a.status, a.code, err.message, { headers: a.headers }));
  });
  app.notFound(notFound);

  app.get('/healthz', (c) => c.json({ ok: true, service: 'region', region }));

  app.use('/api/*', requireGatewayIdentity(assertionKeys, region));
  app.use('/api/*', bodyLimit({ maxSize: 1024 * 1024, onError: () => { throw new HttpError(413, 'payload_too_large', 'body too large'); } }));

  // What this origin received, for tests and debugging (identity is already verified here).
  app.get('/api/whoami', (c) => {
    const id = c.get('identity');
    const headers: Record<string, string> = {};
    c.req.raw.headers.forEach((v, k) => {
      if (k.startsWith('x-') || k === 'authorization' || k === 'forwarded') headers[k] = k === 'authorization' ? '[present]' : v;
    });
    return c.json({ tenant_id: id.tenantId, user_id: id.userId, tenant_region: id.region, request_id: id.requestId, origin_region: region, headers });
  });

  app.post('/api/pages', async (c) => {
    const body = await jsonObject(c);
    const input = { title: requiredString(body, 'title', TITLE), body: optionalString(body, 'body', BODY) ?? '' };
    try {
      return c.json(await pages.create(c.get('identity').tenantId, input), 201);
    } catch (err) {
      if (err instanceof TenantNotProvisionedError) {
        throw new HttpError(404, 'tenant_not_found', `tenant is not provisioned in ${region}`);
      }
      throw err;
    }
  });

  app.get('/api/pages', async (c) => {
    const limit = listLimit(c.req.query('limit'));
    const before = c.req.query('before');
    if (before !== undefined && !UUID_RE.test(before)) throw invalid('before must be a page id');
    const list = await pages.list(c.get('identity').tenantId, { limit, before });
    return c.json({ pages: list, next_before: list.length === limit ? list[list.length - 1]!.id : null });
  });

  app.get('/api/pages/:id', async (c) => {
    const id = c.req.param('id');
    const page = UUID_RE.test(id) ? await pages.get(c.get('identity').tenantId, id) : undefined;
    if (!page) throw pageNotFound();
    return c.json(page);
  });

  app.patch('/api/pages/:id', async (c) => {
    const id = c.req.param('id');
    const body = await jsonObject(c);
    const patch = { title: optionalString(body, 'title', TITLE), body: optionalString(body, 'body', BODY) };
    if (patch.title === undefined && patch.body === undefined) throw invalid('title or body is required');
    const page = UUID_RE.test(id) ? await pages.update(c.get('identity').tenantId, id, patch) : undefined;
    if (!page) throw pageNotFound();
    return c.json(page);
  });

  app.delete('/api/pages/:id', async (c) => {
    const id = c.req.param('id');
    if (!UUID_RE.test(id) || !(await pages.remove(c.get('identity').tenantId, id))) throw pageNotFound();
    return c.body(null, 204);
  });

  return app;
}
