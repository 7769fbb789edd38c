/**
 * GET /admin/audit?limit=N&action=A&actor=S: the audit log, newest first, for
 * admins of every region (admin_regions). Bounded (limit ≤ AUDIT_MAX_ROWS, statement timeout); each read is itself
 * audited (`admin.audit.read`).
 */
import type { Hono } from 'hono';
import { requireAdmin, requireAllRegions } from '../admin-auth/index.ts';
import type { GatewayEnv } from '../gateway-env/index.ts';
import { GatewayError } from '../errors/index.ts';
import { AUDIT_DEFAULT_ROWS, AUDIT_MAX_ROWS, auditLog } from './index.ts';

const FILTER = /^[A-Za-z0-9_.:@-]{1,256}$/;

export function auditRoutes(app: Hono<GatewayEnv>): void {
  // Audit rows span regions (and central): only an admin of every region reads them.
  app.get('/admin/audit', requireAdmin(), requireAllRegions(), async (c) => {
    const limitRaw = c.req.query('limit');
    const limit = limitRaw === undefined ? AUDIT_DEFAULT_ROWS : Number(limitRaw);
    if (!Number.isInteger(limit) || limit < 1 || limit > AUDIT_MAX_ROWS) {
      throw new GatewayError('invalid_request', `limit ${limitRaw}`, `limit must be an integer from 1 to ${AUDIT_MAX_ROWS}`);
    }
    const action = c.req.query('action');
    const actor = c.req.query('actor');
    if (action !== undefined && !FILTER.test(action)) throw new GatewayError('invalid_request', 'action filter', 'action is not a valid action name');
    if (actor !== undefined && !FILTER.test(actor)) throw new GatewayError('invalid_request', 'actor filter', 'actor is not a valid subject');
    const log = auditLog(c.get('runtime').config);
    // Recorded before the read, so the answer includes it.
    await log.write({
      actor: c.get('admin').subject,
      actorKind: 'admin',
      action: 'admin.audit.read',
      target: '/admin/audit',
      result: 'allowed',
      requestId: c.get('requestId'),
      clientRequestId: c.get('obs').clientRequestId,
      detail: { limit, action: action ?? null, actor: actor ?? null },
    });
    const entries = await log.query({ limit, action, actor });
    return c.json({ entries }, 200, { 'cache-control': 'no-store' });
  });
}
