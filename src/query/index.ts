/**
 * The direct data path: /data/* routes (routes.ts) answered from the tenant's
 * regional Postgres by the Worker itself. Request path:
 *   requireTenant (token → tenant, region) → validate params (400 before any query)
 *   → choose primary or replica (bookmark) → one pipelined transaction under RLS → JSON
 */
import type { Context, Hono, MiddlewareHandler } from 'hono';
import type { z } from 'zod';
import type { GatewayEnv } from '../app.ts';
import type { RegionDatabase } from '../config/index.ts';
import { GatewayError } from '../errors/index.ts';
import type { TenantContext } from '../tenant/index.ts';
import { BOOKMARK_HEADER, CAUGHT_UP, CURRENT_LSN, parseBookmark, SOURCE_HEADER } from './bookmark.ts';
import { encodeCursor } from './cursor.ts';
import { runTransaction, type Execution } from './driver.ts';
import type { Step, StepResult, Value } from './pipeline.ts';
import { DATA_ROUTES, MAX_JSON_BODY_BYTES, type DataRoute, type RouteParam } from './routes.ts';

export { DATA_ROUTES } from './routes.ts';
export { BOOKMARK_HEADER, SOURCE_HEADER } from './bookmark.ts';

function issueText(param: RouteParam, issues: z.core.$ZodIssue[]): string {
  return `Invalid ${param.from} parameter "${param.name}": ${issues[0]?.message ?? 'invalid'}.`;
}

async function readJsonBody(c: Context<GatewayEnv>): Promise<Record<string, unknown>> {
  const type = c.req.header('content-type') ?? '';
  if (!/^application\/json\b/i.test(type)) throw new GatewayError('invalid_request', 'content-type', 'The body must be application/json.');
  const declared = Number(c.req.header('content-length') ?? NaN);
  if (declared > MAX_JSON_BODY_BYTES) throw new GatewayError('payload_too_large', `content-length ${declared}`);
  const reader = c.req.raw.body?.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  // Count while reading: a missing or lying content-length must not let a huge body in.
  for (;;) {
    const r = reader ? await reader.read() : { done: true as const, value: undefined };
    if (r.done) break;
    size += r.value.byteLength;
    if (size > MAX_JSON_BODY_BYTES) {
      await reader?.cancel();
      throw new GatewayError('payload_too_large', `body over ${MAX_JSON_BODY_BYTES} bytes`);
    }
    chunks.push(r.value);
  }
  const bytes = new Uint8Array(size);
  let off = 0;
  for (const ch of chunks) {
    bytes.set(ch, off);
    off += ch.byteLength;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes));
  } catch {
    throw new GatewayError('invalid_request', 'body is not JSON', 'The body is not valid JSON.');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new GatewayError('invalid_request', 'body is not an object', 'The body must be a JSON object.');
  }
  return parsed as Record<string, unknown>;
}

/** Every parameter validated (and defaulted) before anything touches the database. */
async function collectParams(route: DataRoute, c: Context<GatewayEnv>, tenant: TenantContext): Promise<{ values: Value[]; byName: Map<string, unknown> }> {
  const body = route.params.some((p) => p.from === 'body') ? await readJsonBody(c) : undefined;
  if (body) {
    const declared = new Set(route.params.filter((p) => p.from === 'body').map((p) => p.name));
    const unknown = Object.keys(body).find((k) => !declared.has(k));
    if (unknown !== undefined) throw new GatewayError('invalid_request', 'unknown body field', 'The body has an unknown field.');
  }
  const values: Value[] = [];
  const byName = new Map<string, unknown>();
  for (const p of route.params) {
    const raw =
      p.from === 'path' ? c.req.param(p.name)
      : p.from === 'query' ? c.req.query(p.name)
      : p.from === 'body' ? body![p.name]
      : p.name === 'region' ? tenant.region.name
      : tenant.userId;
    const r = p.schema.safeParse(raw);
    if (!r.success) throw new GatewayError('invalid_request', `param ${p.name}`, issueText(p, r.error.issues));
    byName.set(p.name, r.data);
    values.push(r.data === undefined || r.data === null ? null : String(r.data));
  }
  return { values, byName };
}

interface Outcome {
  rows: Array<Record<string, unknown>>;
  source: 'primary' | 'replica';
  bookmark?: string;
}

async function execute(route: DataRoute, values: Value[], db: RegionDatabase, tenant: TenantContext, c: Context<GatewayEnv>, bookmark: string | undefined): Promise<Outcome> {
  const { databaseDriver } = c.get('runtime').config;
  const exec: Execution = { waitUntil: (p) => c.executionCtx.waitUntil(p) };
  const step: Step = { sql: route.sql, values, rows: true };
  const base = { tenantId: tenant.tenantId, access: route.access, statementTimeoutMs: route.statementTimeoutMs, role: db.role };

  if (route.access === 'write') {
    const [result, lsn] = await runTransaction(db.primary, databaseDriver, { ...base, steps: [step], afterCommit: [{ sql: CURRENT_LSN, values: [], rows: true }] }, exec);
    return { rows: result!.rows, source: 'primary', bookmark: lsn!.rows[0]?.lsn as string | undefined };
  }
  if (db.replica) {
    try {
      if (bookmark === undefined) {
        const [result] = await runTransaction(db.replica, databaseDriver, { ...base, steps: [step] }, exec);
        return { rows: result!.rows, source: 'replica' };
      }
      // The freshness check rides in the same transaction (same round trip) as the query.
      const [check, result] = await runTransaction(db.replica, databaseDriver, { ...base, steps: [{ sql: CAUGHT_UP, values: [bookmark], rows: true }, step] }, exec);
      if (check!.rows[0]?.caught_up === true) return { rows: result!.rows, source: 'replica' };
    } catch (err) {
      // A replica that is down must not take reads down with it: the primary can answer them.
      if (!(err instanceof GatewayError && err.code === 'database_unavailable')) throw err;
      console.warn(JSON.stringify({ level: 'warn', requestId: c.get('requestId'), msg: 'replica_unavailable', region: db.region, detail: err.detail }));
    }
  }
  const [result] = await runTransaction(db.primary, databaseDriver, { ...base, steps: [step] }, exec);
  return { rows: result!.rows, source: 'primary' };
}

function respond(route: DataRoute, c: Context<GatewayEnv>, outcome: Outcome, byName: Map<string, unknown>): Response {
  const headers: Record<string, string> = { 'cache-control': 'no-store', [SOURCE_HEADER]: outcome.source };
  if (outcome.bookmark) headers[BOOKMARK_HEADER] = outcome.bookmark;
  const shape = route.result;
  if (shape.kind === 'list') {
    const limit = byName.get(shape.limitParam) as number;
    const items = outcome.rows.slice(0, limit);
    const last = items[items.length - 1];
    const nextCursor = outcome.rows.length > limit && last ? encodeCursor(String(last[shape.cursorColumn])) : null;
    return c.json({ items, nextCursor }, 200, headers);
  }
  const row = outcome.rows[0];
  // Absent and hidden by row-level security look the same: another tenant's id is just "not found".
  if (!row) throw new GatewayError('not_found', `${route.name}: no row`, 'Not found.', { [SOURCE_HEADER]: outcome.source });
  return c.json(row, shape.kind === 'created' ? 201 : 200, headers);
}

function handler(route: DataRoute): MiddlewareHandler<GatewayEnv> {
  return async (c) => {
    const { config } = c.get('runtime');
    const tenant = c.get('tenant');
    const db = config.databases.get(tenant.region.name);
    if (!db) throw new GatewayError('not_found', `no database configured for region ${tenant.region.name}`);
    const bookmark = route.access === 'read' ? parseBookmark(c.req.header(BOOKMARK_HEADER)) : undefined;
    const { values, byName } = await collectParams(route, c, tenant);
    const outcome = await execute(route, values, db, tenant, c, bookmark);
    return respond(route, c, outcome, byName);
  };
}

/** Mounts every data route behind the given authentication middleware. */
export function mountDataRoutes(app: Hono<GatewayEnv>, requireTenant: MiddlewareHandler<GatewayEnv>): void {
  for (const route of DATA_ROUTES) app.on(route.method, route.path, requireTenant, handler(route));
}
