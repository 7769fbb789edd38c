/**
 * One audit row per admin request, in the control plane's `audit_log`
 * (infra/sql/central/002_audit_log.sql, the generic table of privileged actions
 * shared with the denial audit): actor = the token's sub, actor_kind 'admin',
 * action 'admin.<route>', target = method, path and query, result
 * 'succeeded'/'failed', detail {status, code}.
 *
 * Unlike a best-effort audit write, this one is awaited and its failure is the
 * request's failure: /admin answers 503 instead of data it could not record.
 */
import type { DbEndpoint } from '../config/index.ts';
import { inTransaction } from '../control-db/index.ts';

/** The table's own bound on `target`. */
export const MAX_AUDIT_TARGET_CHARS = 512;
const AUDIT_STATEMENT_TIMEOUT_MS = 2000;

export interface AdminAuditEntry {
  actor: string;
  /** Dotted lowercase verb, e.g. admin.pages. */
  action: string;
  target: string;
  status: number;
  /** 'ok' or the gateway error code. */
  code: string;
  /** The gateway's own request id. */
  requestId: string;
  /** The client's own sane X-Request-Id, if any: kept in the detail, apart from request_id. */
  clientRequestId?: string;
}

export async function writeAdminAudit(ep: DbEndpoint, e: AdminAuditEntry): Promise<void> {
  await inTransaction(ep, { readOnly: false, statementTimeoutMs: AUDIT_STATEMENT_TIMEOUT_MS }, (q) =>
    q(
      `INSERT INTO audit_log (actor, actor_kind, action, target, result, request_id, detail)
       VALUES ($1, 'admin', $2, $3, $4, $5, $6::jsonb)`,
      [
        e.actor.slice(0, 256),
        e.action,
        e.target.slice(0, MAX_AUDIT_TARGET_CHARS),
        e.status < 400 ? 'succeeded' : 'failed',
        e.requestId.slice(0, 128),
        JSON.stringify({ status: e.status, code: e.code, ...(e.clientRequestId ? { clientRequestId: e.clientRequestId.slice(0, 128) } : {}) }),
      ],
    ),
  );
}
