/**
 * The audit log of privileged actions: who, what, on what, with what result, under
 * which request id, when. Generic so every privileged feature writes the same
 * rows (table `audit_log`, infra/sql/central/002_audit_log.sql): the gateway writes
 * denied cross-region attempts and admin reads of the audit log; other privileged
 * features can call `auditLog(config).write(...)` for their own actions.
 *
 * Every event is also one JSON log line (`"msg":"audit"`), so it is never lost
 * silently: without CONTROL_PLANE_DATABASE_URL the log line is the only record,
 * and a failed database write is logged as `audit_write_failed`.
 *
 * The control-plane database is reached through src/control-db (@neondatabase/serverless
 * over a WebSocket: Neon's endpoint in production, the local world's ws proxy in dev).
 * A connection cannot outlive its request in Workers, so each write or read opens
 * one and closes it: privileged actions are rare, this is not the hot path.
 * (src/admin/audit.ts writes /admin reporting rows to the same table, awaited.)
 */
import type { Context } from 'hono';
import type { GatewayConfig } from '../config/index.ts';
import { inTransaction } from '../control-db/index.ts';
import { GatewayError } from '../errors/index.ts';
import { DenialLimiter } from './denials.ts';

export type ActorKind = 'admin' | 'tenant_user' | 'anonymous' | 'system';
export type AuditResult = 'allowed' | 'denied' | 'succeeded' | 'failed';

export interface AuditEvent {
  /** A token subject, or 'anonymous'. */
  actor: string;
  actorKind: ActorKind;
  /** Dotted verb: 'tenant.region_denied', 'admin.audit.read', 'tenant.move'. */
  action: string;
  /** A route, a tenant id, a region. */
  target?: string;
  result: AuditResult;
  /** The gateway's own request id (never a client-chosen one). */
  requestId?: string;
  /** The client's own sane X-Request-Id, if any: stored in the detail, apart from request_id. */
  clientRequestId?: string;
  /** Small structured context; never a token, password or other secret. */
  detail?: Record<string, string | number | boolean | null>;
}

export interface AuditEntry extends Required<Omit<AuditEvent, 'target' | 'requestId' | 'clientRequestId'>> {
  id: number;
  at: string;
  target: string | null;
  requestId: string | null;
}

export interface AuditQuery {
  limit: number;
  action?: string;
  actor?: string;
}

/** Bounds for reads and for the database round trips (named so reviews can see them). */
export const AUDIT_MAX_ROWS = 200;
export const AUDIT_DEFAULT_ROWS = 50;
const STATEMENT_TIMEOUT_MS = 2000;
/**
 * Database writes in flight per isolate. A caller with a valid token can repeat a
 * denied request; beyond this many concurrent writes events are only logged
 * (`audit_write_shed`), so the audit path cannot be turned into a connection flood.
 */
export const MAX_INFLIGHT_AUDIT_WRITES = 16;
const ACTION = /^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$/;

export interface AuditLog {
  /** True when events reach the audit table, not only the log. */
  readonly durable: boolean;
  /** Never throws: a failure to persist is logged. Resolves when the event is stored (or given up on). */
  write(event: AuditEvent): Promise<void>;
  /** Newest first. Throws GatewayError(service_unavailable) without a database or when it fails. */
  query(q: AuditQuery): Promise<AuditEntry[]>;
}

function clip(s: string | undefined, max: number): string | undefined {
  return s === undefined ? undefined : s.slice(0, max);
}

function normalise(e: AuditEvent): AuditEvent {
  if (!ACTION.test(e.action)) throw new Error(`audit action must be a dotted lowercase verb, got ${JSON.stringify(e.action)}`);
  const { clientRequestId, ...rest } = e;
  const detail = clientRequestId === undefined ? e.detail : { ...e.detail, clientRequestId: clip(clientRequestId, 128)! };
  return { ...rest, actor: clip(e.actor, 256) || 'anonymous', target: clip(e.target, 512), requestId: clip(e.requestId, 128), detail };
}

class ControlPlaneAuditLog implements AuditLog {
  readonly durable: boolean;
  private inflight = 0;
  constructor(private readonly db: GatewayConfig['controlPlaneDb']) {
    this.durable = db !== undefined;
  }

  async write(event: AuditEvent): Promise<void> {
    const e = normalise(event);
    console.log(JSON.stringify({ level: 'info', msg: 'audit', ...e }));
    if (!this.db) return;
    if (this.inflight >= MAX_INFLIGHT_AUDIT_WRITES) {
      console.error(JSON.stringify({ level: 'error', msg: 'audit_write_shed', action: e.action, requestId: e.requestId, inflight: this.inflight }));
      return;
    }
    this.inflight++;
    try {
      await inTransaction(this.db, { readOnly: false, statementTimeoutMs: STATEMENT_TIMEOUT_MS }, (q) =>
        q(
          `INSERT INTO audit_log (actor, actor_kind, action, target, result, request_id, detail)
           VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb)`,
          [e.actor, e.actorKind, e.action, e.target ?? null, e.result, e.requestId ?? null, JSON.stringify(e.detail ?? {})],
        ),
      );
    } catch (err) {
      // control-db's errors carry the database's message, never the URL.
      const detail = err instanceof GatewayError ? err.detail : (err as Error).message;
      console.error(JSON.stringify({ level: 'error', msg: 'audit_write_failed', action: e.action, requestId: e.requestId, detail }));
    } finally {
      this.inflight--;
    }
  }

  async query(q: AuditQuery): Promise<AuditEntry[]> {
    if (!this.db) throw new GatewayError('service_unavailable', 'audit query: CONTROL_PLANE_DATABASE_URL is not configured');
    try {
      const rows = await inTransaction(this.db, { readOnly: true, statementTimeoutMs: STATEMENT_TIMEOUT_MS }, (run) =>
        run<Record<string, any>>(
          `SELECT id, at, actor, actor_kind, action, target, result, request_id, detail
             FROM audit_log
            WHERE ($1::text IS NULL OR action = $1) AND ($2::text IS NULL OR actor = $2)
            ORDER BY id DESC
            LIMIT $3`,
          [q.action ?? null, q.actor ?? null, Math.min(q.limit, AUDIT_MAX_ROWS)],
        ),
      );
      return rows.map((row) => ({
        id: Number(row.id),
        at: new Date(row.at).toISOString(),
        actor: row.actor,
        actorKind: row.actor_kind,
        action: row.action,
        target: row.target,
        result: row.result,
        requestId: row.request_id,
        detail: row.detail ?? {},
      }));
    } catch (err) {
      if (err instanceof GatewayError) throw err;
      throw new GatewayError('service_unavailable', `audit query: ${(err as Error).message}`);
    }
  }
}

/** For readiness: can the control-plane database answer `SELECT 1`? Never throws. */
export async function pingControlPlane(db: NonNullable<GatewayConfig['controlPlaneDb']>, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return false;
  const attempt = inTransaction(db, { readOnly: true, statementTimeoutMs: STATEMENT_TIMEOUT_MS }, async (q) => (await q<{ one: number }>('SELECT 1 AS one'))[0]?.one === 1).catch(() => false);
  const aborted = new Promise<boolean>((resolve) => signal.addEventListener('abort', () => resolve(false), { once: true }));
  return Promise.race([attempt, aborted]);
}

const logs = new WeakMap<GatewayConfig, AuditLog>();
const denialLimiters = new WeakMap<GatewayConfig, DenialLimiter>();

/**
 * Audits a denied request within the bounds of src/audit/denials.ts: a row if the actor, its
 * tenant and the isolate are within their per-minute budgets, else a log line and a count that a
 * later summary row carries. Summaries of closed minutes are written first.
 */
export function auditDenial(config: GatewayConfig, event: AuditEvent, scope: { tenant: string; reason: string }): Promise<void> {
  let limiter = denialLimiters.get(config);
  if (!limiter) denialLimiters.set(config, (limiter = new DenialLimiter()));
  const log = auditLog(config);
  const { write, summaries } = limiter.admit({ actor: event.actor, tenant: scope.tenant, action: event.action, reason: scope.reason });
  const writes = summaries.map((s) =>
    log.write({
      actor: s.actor,
      actorKind: event.actorKind,
      action: `${s.action}.suppressed`,
      target: s.tenant,
      result: event.result,
      detail: { reason: s.reason, suppressed: s.suppressed, windowStart: new Date(s.windowStart).toISOString(), windowEnd: new Date(s.windowEnd).toISOString() },
    }),
  );
  if (write) writes.push(log.write(event));
  else console.warn(JSON.stringify({ level: 'warn', msg: 'audit_suppressed', reason: scope.reason, ...normalise(event) }));
  return Promise.all(writes).then(() => undefined);
}

/** One per config (so per isolate); holds no connection. */
export function auditLog(config: GatewayConfig): AuditLog {
  let l = logs.get(config);
  if (!l) {
    l = new ControlPlaneAuditLog(config.controlPlaneDb);
    logs.set(config, l);
  }
  return l;
}

/**
 * Runs `work` after the response when the runtime allows (waitUntil), so an audit
 * write never delays the caller; awaits it otherwise (tests calling app.fetch directly).
 */
export async function afterResponse(c: Context, work: Promise<void>): Promise<void> {
  let ctx: ExecutionContext | undefined;
  try {
    ctx = c.executionCtx as ExecutionContext;
  } catch {
    ctx = undefined; // hono throws when no execution context was passed
  }
  if (ctx) ctx.waitUntil(work);
  else await work;
}
