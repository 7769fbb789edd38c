/**
 * /admin/*: cross-tenant reporting over the controller's global view
 * (infra/controller). Every request: admin token (src/admin-auth) → both
 * databases configured → one READ ONLY transaction on the controller as the
 * reporting role, with a statement timeout and a row limit → an audit row in
 * the control plane → the response.
 *
 * Residency is enforced by the controller, not here: a region whose raw rows
 * may not leave is not a partition of global.pages and the reporting role has no
 * user mapping for it, so these queries cannot return its rows; it appears only
 * in /admin/regions as counts.
 */
import { Hono, type MiddlewareHandler } from 'hono';
import type { GatewayEnv } from '../gateway-env/index.ts';
import { requireAdmin } from '../admin-auth/index.ts';
import { inTransaction } from '../control-db/index.ts';
import { errorResponse, GatewayError, toGatewayError } from '../errors/index.ts';
import { writeAdminAudit } from './audit.ts';

const LIMIT = /^[1-9][0-9]{0,5}$/;

/** Refuse (before any query) when either database is missing: no unaudited admin access. */
const requireDatabases = (): MiddlewareHandler<GatewayEnv> => async (c, next) => {
  const { config } = c.get('runtime');
  if (!config.controllerDb || !config.controlPlaneDb) {
    throw new GatewayError('service_unavailable', 'admin routes need CONTROLLER_DATABASE_URL and CONTROL_PLANE_DATABASE_URL');
  }
  await next();
};

/** After the handler (or its error): write the audit row; if that fails, the caller gets 503, not the data. */
const audit = (action: string): MiddlewareHandler<GatewayEnv> => async (c, next) => {
  await next();
  const { config } = c.get('runtime');
  const url = new URL(c.req.url);
  const err = c.get('error') as GatewayError | undefined;
  try {
    await writeAdminAudit(config.controlPlaneDb!, {
      actor: c.get('admin').subject,
      action,
      target: `${c.req.method} ${url.pathname}${url.search}`,
      status: c.res.status,
      code: err?.code ?? 'ok',
      requestId: c.get('requestId'),
      clientRequestId: c.get('obs').clientRequestId,
    });
  } catch (e) {
    const ge = toGatewayError(e);
    console.error(JSON.stringify({ level: 'error', requestId: c.get('requestId'), msg: 'audit_write_failed', detail: ge.detail }));
    c.res = errorResponse(new GatewayError('service_unavailable', 'audit write failed'), c.get('requestId'));
  }
};

function parseLimit(raw: string | undefined, def: number, max: number): number {
  if (raw === undefined) return def;
  const n = LIMIT.test(raw) ? Number(raw) : NaN;
  if (!(n >= 1 && n <= max)) throw new GatewayError('invalid_request', 'bad limit', `limit must be an integer from 1 to ${max}.`);
  return n;
}

const json = (body: unknown) =>
  new Response(JSON.stringify(body), { headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' } });

/** Per route (not admin.use('*')), so other /admin routes (e.g. the audit log's own) keep their own rules. */
const guarded = (action: string) => [requireAdmin(), requireDatabases(), audit(action)] as const;

export function adminRoutes(): Hono<GatewayEnv> {
  const admin = new Hono<GatewayEnv>();

  admin.get('/pages', ...guarded('admin.pages'), async (c) => {
    const { config } = c.get('runtime');
    const limit = parseLimit(c.req.query('limit'), config.admin.defaultRows, config.admin.maxRows);
    // Only the regions this admin may read (admin_regions), filtered by the database, not after the fact.
    const regions = [...c.get('admin').regions];
    const rows = await inTransaction(config.controllerDb!, { readOnly: true, statementTimeoutMs: config.admin.statementTimeoutMs }, (q) =>
      q<{ id: string; tenant_id: string; region: string; title: string; created_at: string; updated_at: string }>(
        // Page bodies stay out of reports (data minimisation); UUIDv7 ids sort newest first.
        'SELECT id, tenant_id, region, title, created_at, updated_at FROM global.pages WHERE region = ANY($2::text[]) ORDER BY id DESC LIMIT $1',
        [limit, regions],
      ),
    );
    return json({
      limit,
      pages: rows.map((r) => ({ id: r.id, tenantId: r.tenant_id, region: r.region, title: r.title, createdAt: r.created_at, updatedAt: r.updated_at })),
    });
  });

  admin.get('/regions', ...guarded('admin.regions'), async (c) => {
    const { config } = c.get('runtime');
    const regions = [...c.get('admin').regions];
    const rows = await inTransaction(config.controllerDb!, { readOnly: true, statementTimeoutMs: config.admin.statementTimeoutMs }, (q) =>
      q<{ region: string; raw_rows: boolean; tenants: string | number; pages: string | number }>(
        'SELECT region, raw_rows, tenants, pages FROM global.region_stats WHERE region = ANY($1::text[]) ORDER BY region',
        [regions],
      ),
    );
    return json({
      regions: rows.map((r) => ({ region: r.region, rawRows: r.raw_rows, tenants: Number(r.tenants), pages: Number(r.pages) })),
    });
  });

  return admin;
}
