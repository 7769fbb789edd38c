/**
 * The direct data path: /data/* routes (routes.ts) answered from the tenant's
 * regional Postgres by the Worker itself. Request path:
 *   requireTenant (token → tenant, region) → validate params (400 before any query)
 *   → choose primary or replica (bookmark) → one pipelined transaction under RLS → JSON
 */
import type { Context, Hono, MiddlewareHandler } from 'hono';
import type { z } from 'zod';
import type { GatewayEnv } from '../gateway-env/index.ts';
import type { DatabaseEndpoint, RegionDatabase } from '../config/index.ts';
import { choose, jitterDelay, retryAfter, type CircuitBreaker, type FailureKind } from '../resilience/index.ts';
import { GatewayError, MALFORMED_JSON_MESSAGE } from '../errors/index.ts';
import { timed } from '../observability/index.ts';
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
    throw new GatewayError('invalid_request', 'body is not JSON', MALFORMED_JSON_MESSAGE);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new GatewayError('invalid_request', 'body is not an object', MALFORMED_JSON_MESSAGE);
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
  source: Source;
  bookmark?: string;
}

type Source = 'primary' | 'replica' | 'standby';

const isUnavailable = (err: unknown) => err instanceof GatewayError && err.code === 'database_unavailable';
/** Error codes that only a live server produces (see errors.ts). */
const SERVER_ANSWERED: ReadonlySet<string> = new Set(['database_timeout', 'conflict', 'unprocessable', 'forbidden']);

/**
 * One transaction on one database, reported to that database's circuit breaker: "unreachable"
 * counts as a failure; any answer from the server (rows, a conflict, a statement timeout) proves
 * it is up.
 */
async function onDatabase(breaker: CircuitBreaker, run: () => Promise<StepResult[]>): Promise<StepResult[]> {
  try {
    const results = await run();
    breaker.success();
    return results;
  } catch (err) {
    if (isUnavailable(err)) breaker.failure();
    else if (err instanceof GatewayError && SERVER_ANSWERED.has(err.code)) breaker.success();
    else breaker.release(); // our own bug, not the database's: no verdict
    throw err;
  }
}

/** Every circuit open: 503 with the cool-down left as Retry-After. Nothing was sent anywhere. */
function circuitOpen(db: RegionDatabase, retryAfterMs: number): GatewayError {
  return new GatewayError('database_unavailable', `database ${db.region}: circuit open on every database`, undefined, { 'retry-after': retryAfter(retryAfterMs) });
}

/**
 * Where the transaction runs (src/resilience's breakers and retry policy, keyed by connection string):
 *   write: the primary; the standby only while the primary's circuit is open, chosen BEFORE anything
 *          is sent. A write whose attempt failed is never re-sent anywhere (it may have committed).
 *   read:  replica (if configured, with a bookmark check) → primary → standby, each database at most
 *          once per request, at most 1 + UPSTREAM_RETRIES attempts after the replica, with jitter.
 * Every circuit open (and nothing else to try) → 503 database_unavailable with Retry-After.
 */
async function execute(route: DataRoute, values: Value[], db: RegionDatabase, tenant: TenantContext, c: Context<GatewayEnv>, bookmark: string | undefined): Promise<Outcome> {
  const { config, resilience } = c.get('runtime');
  const { databaseDriver } = config;
  const { breakers } = resilience;
  const exec: Execution = { waitUntil: (p) => c.executionCtx.waitUntil(p) };
  const step: Step = { sql: route.sql, values, rows: true };
  const base = { tenantId: tenant.tenantId, access: route.access, statementTimeoutMs: route.statementTimeoutMs, role: db.role };
  const targets = new Map<string, { source: Source; endpoint: DatabaseEndpoint }>([[db.primary.url, { source: 'primary', endpoint: db.primary }]]);
  if (db.standby) targets.set(db.standby.url, { source: 'standby', endpoint: db.standby });
  const urls = [...targets.keys()];

  if (route.access === 'write') {
    const pick = choose(urls, breakers, new Map(), false);
    if (!('origin' in pick)) throw circuitOpen(db, pick.retryAfterMs);
    const target = targets.get(pick.origin)!;
    // A standby's WAL position means nothing to the primary's replica: no bookmark from it.
    const afterCommit = target.source === 'primary' ? [{ sql: CURRENT_LSN, values: [], rows: true }] : [];
    const [result, lsn] = await onDatabase(pick.breaker, () => runTransaction(target.endpoint, databaseDriver, { ...base, steps: [step], afterCommit }, exec));
    return { rows: result!.rows, source: target.source, bookmark: lsn?.rows[0]?.lsn as string | undefined };
  }
  if (db.replica) {
    const breaker = breakers.for(db.replica.url);
    if (breaker.admit().ok) {
      try {
        if (bookmark === undefined) {
          const [result] = await onDatabase(breaker, () => runTransaction(db.replica!, databaseDriver, { ...base, steps: [step] }, exec));
          return { rows: result!.rows, source: 'replica' };
        }
        // The freshness check rides in the same transaction (same round trip) as the query.
        const [check, result] = await onDatabase(breaker, () =>
          runTransaction(db.replica!, databaseDriver, { ...base, steps: [{ sql: CAUGHT_UP, values: [bookmark], rows: true }, step] }, exec),
        );
        if (check!.rows[0]?.caught_up === true) return { rows: result!.rows, source: 'replica' };
      } catch (err) {
        // A replica that is down must not take reads down with it: the primary can answer them.
        if (!isUnavailable(err)) throw err;
        console.warn(JSON.stringify({ level: 'warn', requestId: c.get('requestId'), msg: 'replica_unavailable', region: db.region, detail: (err as GatewayError).detail }));
      }
    }
  }
  // Each database once per request: a hung one is not made to cost a second deadline.
  const failedHere = new Map<string, FailureKind>();
  let last: unknown;
  for (let n = 0; n < 1 + resilience.config.retries; n++) {
    const pick = choose(urls, breakers, failedHere, true);
    if (!('origin' in pick)) {
      if (last) break;
      throw circuitOpen(db, pick.retryAfterMs);
    }
    if (n > 0) await new Promise((r) => setTimeout(r, jitterDelay(resilience.config.retryJitterMs)));
    const target = targets.get(pick.origin)!;
    try {
      const [result] = await onDatabase(pick.breaker, () => runTransaction(target.endpoint, databaseDriver, { ...base, steps: [step] }, exec));
      return { rows: result!.rows, source: target.source };
    } catch (err) {
      if (!isUnavailable(err)) throw err;
      failedHere.set(pick.origin, 'timeout');
      last = err;
      console.warn(JSON.stringify({ level: 'warn', requestId: c.get('requestId'), msg: 'database_unavailable', region: db.region, database: target.source, detail: (err as GatewayError).detail }));
    }
  }
  throw last;
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
    // The request log names which database answered (a failover to the standby shows up there).
    const upstream = c.get('obs')?.upstream;
    if (upstream) upstream.target = outcome.source;
    return respond(route, c, outcome, byName);
  };
}

/** Mounts every data route behind the given authentication middleware. */
/**
 * Mounts the route table behind `requireTenant`. Logged as upstream kind `database`, named by region,
 * with the time spent in the handler (its queries) as upstream time.
 */
export function mountDataRoutes(app: Hono<GatewayEnv>, requireTenant: MiddlewareHandler<GatewayEnv>): void {
  const observed: MiddlewareHandler<GatewayEnv> = (c, next) =>
    requireTenant(c, async () => {
      const obs = c.get('obs');
      obs.upstream = { kind: 'database', name: c.get('tenant').region.name };
      await timed(obs, 'upstreamMs', next);
    });
  for (const route of DATA_ROUTES) app.on(route.method, route.path, observed, handler(route));
}
