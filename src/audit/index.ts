/**
 * The audit log of admin requests, in the control plane's `audit_log` table
 * (infra/sql/central/006_audit_log.sql). Written before the response leaves:
 * if the row cannot be written, the admin gets a 503 instead of the data, so
 * no admin read goes unrecorded.
 */
import type { DbEndpoint } from '../config/index.ts';
import { inTransaction } from '../control-db/index.ts';

/** Bounded so a long query string cannot bloat the log. */
export const MAX_AUDIT_QUERY_CHARS = 512;
const AUDIT_STATEMENT_TIMEOUT_MS = 2000;

export interface AuditEntry {
  actor: string;
  action: string;
  query: string;
  status: number;
  result: string;
  requestId: string;
}

export async function writeAudit(ep: DbEndpoint, e: AuditEntry): Promise<void> {
  await inTransaction(ep, { readOnly: false, statementTimeoutMs: AUDIT_STATEMENT_TIMEOUT_MS }, (q) =>
    q('INSERT INTO audit_log (actor, action, query, status, result, request_id) VALUES ($1, $2, $3, $4, $5, $6)', [
      e.actor,
      e.action,
      e.query.slice(0, MAX_AUDIT_QUERY_CHARS),
      e.status,
      e.result,
      e.requestId,
    ]),
  );
}
