/**
 * The direct data path: /data/* routes (routes.ts) answered from the tenant's
 * regional Postgres by that region's data Worker (src/data-worker). Request path:
 *   authenticate (the edge's signed identity → tenant, region) → validate params (400 before
 *   any query) → choose primary or replica (bookmark) → one pipelined transaction under RLS → JSON
 */
import type { Context, Hono, MiddlewareHandler } from 'hono';
import type { z } from 'zod';
import type { DatabaseDriverConfig, DatabaseEndpoint, RegionDatabase } from '../config/index.ts';
import { choose, jitterDelay, retryAfter, type CircuitBreaker, type FailureKind, type Resilience } from '../resilience/index.ts';
import { GatewayError, MALFORMED_JSON_MESSAGE } from '../errors/index.ts';
import { BOOKMARK_HEADER, CAUGHT_UP, CURRENT_LSN, parseBookmark, SOURCE_HEADER } from './bookmark.ts';
import { encodeCursor } from './cursor.ts';
import { runTransaction, type Execution } from './driver.ts';
import type { Step, StepResult, Value } from './pipeline.ts';
import { DATA_ROUTES, MAX_JSON_BODY_BYTES, type DataRoute, type RouteParam } from './routes.ts';

export { DATA_ROUTES } from './routes.ts';
export { BOOKMARK_HEADER, SOURCE_HEADER } from './bookmark.ts';

/** Per-isolate state the routes run on: this region's databases, driver options, breakers and retry policy. */
export interface DataRuntime {
  readonly region: string;
  /** Absent: the region has no database, and every data route answers 404. */
  readonly database?: RegionDatabase;
  readonly driver: DatabaseDriverConfig;
  readonly resilience: Resilience;
}

/** Who is asking, from the identity the edge verified and signed. */
export interface DataCaller {
  readonly tenantId: string;
  readonly userId: string;
  readonly region: string;
}

export type DataEnv = {
  Bindings: Record<string, unknown>;
  Variables: { requestId: string; data: DataRuntime; caller: DataCaller; error: GatewayError };
};
type DataContext = Context<DataEnv>;

/** `If-Match: "<version>"`: the strong ETag the data routes send with every page. */
const VERSION_ETAG = /^"(\d{1,10})"$/;
export const versionEtag = (version: unknown) => `"${String(version)}"`;

function issueText(param: RouteParam, issues: z.core.$ZodIssue[]): string {
  return `Invalid ${param.from} parameter "${param.name}": ${issues[0]?.message ?? 'invalid'}.`;
}

async function readJsonBody(c: DataContext): Promise<Record<string, unknown>> {
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
async function collectParams(route: DataRoute, c: DataContext, caller: DataCaller): Promise<{ values: Value[]; byName: Map<string, unknown> }> {
  // The precondition first: a request that could never apply is refused before its body is read.
  let ifMatch: string | undefined;
  if (route.params.some((p) => p.from === 'if-match')) {
    const header = c.req.header('if-match');
    if (header === undefined) throw new GatewayError('precondition_required', `${route.name}: no If-Match`);
    const m = VERSION_ETAG.exec(header.trim());
    if (!m) throw new GatewayError('invalid_request', 'malformed If-Match', 'If-Match must be one version ETag ("<n>") this API issued.');
    ifMatch = m[1];
  }
  const body = route.params.some((p) => p.from === 'body') ? await readJsonBody(c) : undefined;
  if (body) {
    const declared = new Set(route.params.filter((p) => p.from === 'body').map((p) => p.name));
    const unknown = Object.keys(body).find((k) => !declared.has(k));
    if (unknown !== undefined) throw new GatewayError('invalid_request', 'unknown body field', 'The body has an unknown field.');
    if (route.bodyNeedsOneOf && !route.bodyNeedsOneOf.some((n) => body[n] !== undefined)) {
      throw new GatewayError('invalid_request', 'nothing to change', `The body must set at least one of: ${route.bodyNeedsOneOf.join(', ')}.`);
    }
  }
  const values: Value[] = [];
  const byName = new Map<string, unknown>();
  for (const p of route.params) {
    const raw =
      p.from === 'path' ? c.req.param(p.name)
      : p.from === 'query' ? c.req.query(p.name)
      : p.from === 'body' ? body![p.name]
      : p.from === 'if-match' ? ifMatch
      : p.name === 'region' ? caller.region
      : caller.userId;
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
const SERVER_ANSWERED: ReadonlySet<string> = new Set(['database_timeout', 'conflict', 'unprocessable', 'forbidden', 'tenant_relocated', 'tenant_moving']);

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
async function execute(route: DataRoute, values: Value[], db: RegionDatabase, caller: DataCaller, c: DataContext, bookmark: string | undefined): Promise<Outcome> {
  const { driver: databaseDriver, resilience } = c.get('data');
  const { breakers } = resilience;
  const exec: Execution = { waitUntil: (p) => c.executionCtx.waitUntil(p) };
  const step: Step = { sql: route.sql, values, rows: true };
  const base = { tenantId: caller.tenantId, access: route.access, statementTimeoutMs: route.statementTimeoutMs, role: db.role };
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

function respond(route: DataRoute, c: DataContext, outcome: Outcome, byName: Map<string, unknown>): Response {
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
  if (shape.kind === 'deleted') return c.body(null, 204, headers);
  // The row exists but the update's version check did not match: nothing was written.
  if (shape.kind === 'updated' && row.id === null) throw new GatewayError('precondition_failed', `${route.name}: stale version`, undefined, { [SOURCE_HEADER]: outcome.source });
  if (row.version !== undefined && row.version !== null) headers.etag = versionEtag(row.version);
  return c.json(row, shape.kind === 'created' ? 201 : 200, headers);
}

function handler(route: DataRoute): MiddlewareHandler<DataEnv> {
  return async (c) => {
    const caller = c.get('caller');
    const db = c.get('data').database;
    if (!db) throw new GatewayError('not_found', `no database configured for region ${caller.region}`);
    const bookmark = route.access === 'read' ? parseBookmark(c.req.header(BOOKMARK_HEADER)) : undefined;
    const { values, byName } = await collectParams(route, c, caller);
    const outcome = await execute(route, values, db, caller, c, bookmark);
    // x-db-source names which database answered: the edge's log line reports it (a failover to the standby shows up there).
    return respond(route, c, outcome, byName);
  };
}

/** Mounts the route table behind `authenticate`, which sets `caller` (and refuses before any query otherwise). */
export function mountDataRoutes(app: Hono<DataEnv>, authenticate: MiddlewareHandler<DataEnv>): void {
  for (const route of DATA_ROUTES) app.on(route.method, route.path, authenticate, handler(route));
}
