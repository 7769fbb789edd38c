/**
 * One request's database work: a client of the endpoint's transport (transport.ts:
 * Neon's WebSocket driver, or node-postgres through Hyperdrive) created for this
 * request and ended after it (ctx.waitUntil(client.end())), as Workers require
 * (a socket cannot outlive its request). Every transaction is
 *
 *   BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY | BEGIN READ WRITE
 *   SELECT set_config('app.tenant_id', <tenant from the verified token>, true),
 *          set_config('statement_timeout', <route's timeout>, true)[, set_config('role', <role>, true)]
 *   SELECT tenant_guard(<tenant>, <write?>)   -- the region refuses a moved or moving tenant
 *   <the route's statement(s)>
 *   COMMIT
 *   [<after-commit statements, e.g. the WAL position for a read-your-writes bookmark>]
 *
 * sent as one pipeline (pipeline.ts): one round trip.
 */
import type { DatabaseDriverConfig, DatabaseEndpoint } from '../config/index.ts';
import { databaseError } from './errors.ts';
import { Pipeline, type Step, type StepResult } from './pipeline.ts';
import { isSqlText, sql } from './sql.ts';
import { transportFor, type TransportClient } from './transport.ts';

export { wsProxyOption } from './transport.ts';

// Reads see one snapshot from the guard on: the tenant's rows or its tombstone, never the moment between.
const BEGIN_READ_ONLY = sql`BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY`;
const BEGIN_READ_WRITE = sql`BEGIN READ WRITE`;
const COMMIT = sql`COMMIT`;
// The tenant setting is local to the transaction (true): it can never leak to another request.
const SETUP = sql`SELECT set_config('app.tenant_id', $1, true), set_config('statement_timeout', $2, true)`;
/**
 * The region's own answer to "does this tenant live here?" (infra/sql/region/004_tenant_moves.sql):
 * raises ETR01 (tombstone: 409 tenant_relocated) or ETR02 (moving: 503 tenant_moving), see errors.ts.
 * It rides in the same pipeline, so a gateway with a stale relocation list still gets the region's
 * verdict at no extra round trip.
 */
const GUARD_READ = sql`SELECT tenant_guard(current_setting('app.tenant_id', true), false)`;
const GUARD_WRITE = sql`SELECT tenant_guard(current_setting('app.tenant_id', true), true)`;
const SETUP_WITH_ROLE = sql`SELECT set_config('app.tenant_id', $1, true), set_config('statement_timeout', $2, true), set_config('role', $3, true)`;

/** BEGIN, setup and guard come before the caller's steps. */
const LEADING_STEPS = 3;

/** How long ending a client may keep the isolate busy after the response (a socket that never opened never reports its end). */
const CLIENT_END_GRACE_MS = 2000;

/** Slack on top of the statement timeout before the client gives up reading (the server should have answered 57014 by then). */
const CLIENT_READ_SLACK_MS = 1000;

export interface TransactionSpec {
  readonly tenantId: string;
  readonly access: 'read' | 'write';
  readonly statementTimeoutMs: number;
  /** Run every statement as this role (set_config('role', ...)); from config. */
  readonly role?: string;
  readonly steps: readonly Step[];
  readonly afterCommit?: readonly Step[];
}

export interface Execution {
  /** Keeps the isolate alive until the socket is closed after the response. */
  waitUntil(p: Promise<unknown>): void;
}

/** A client for one region database endpoint over its transport, configured from the config only. */
export function newRegionClient(endpoint: DatabaseEndpoint, driver: DatabaseDriverConfig, queryTimeoutMs?: number): TransportClient {
  const client = transportFor(endpoint).client(endpoint, driver, queryTimeoutMs);
  // A socket error after we are done must not become an unhandled rejection.
  client.on('error', () => {});
  return client;
}

/** Runs one transaction and returns the results of `steps` then `afterCommit`, in order. */
export async function runTransaction(
  endpoint: DatabaseEndpoint,
  driver: DatabaseDriverConfig,
  spec: TransactionSpec,
  exec: Execution,
): Promise<StepResult[]> {
  for (const s of [...spec.steps, ...(spec.afterCommit ?? [])]) {
    // Runtime guard: only `sql`-tagged literals reach the wire, with exactly their declared parameters.
    if (!isSqlText(s.sql)) throw new TypeError('statement is not a sql`...` literal');
    if (s.values.length !== s.sql.paramCount) throw new TypeError('parameter count does not match the statement');
  }
  const setup: Step = spec.role
    ? { sql: SETUP_WITH_ROLE, values: [spec.tenantId, String(spec.statementTimeoutMs), spec.role], rows: false }
    : { sql: SETUP, values: [spec.tenantId, String(spec.statementTimeoutMs)], rows: false };
  const all: Step[] = [
    { sql: spec.access === 'read' ? BEGIN_READ_ONLY : BEGIN_READ_WRITE, values: [], rows: false },
    setup,
    { sql: spec.access === 'read' ? GUARD_READ : GUARD_WRITE, values: [], rows: false },
    ...spec.steps,
    { sql: COMMIT, values: [], rows: false },
    ...(spec.afterCommit ?? []),
  ];

  const client = newRegionClient(endpoint, driver, driver.connectTimeoutMs + spec.statementTimeoutMs + CLIENT_READ_SLACK_MS);
  let serverAnswered = false;
  (client as unknown as { connection: { once(e: 'message', f: () => void): void } }).connection.once('message', () => {
    serverAnswered = true;
  });

  const pipeline = new Pipeline(all);
  try {
    // Queue the pipeline before the connection completes: with pipelineConnect it rides along with the startup.
    const connected = client.connect();
    client.query(pipeline as never);
    const [, results] = await Promise.all([connected, pipeline.done]);
    // Drop BEGIN, setup, guard and COMMIT; keep the caller's steps and after-commit steps.
    return [...results.slice(LEADING_STEPS, LEADING_STEPS + spec.steps.length), ...results.slice(LEADING_STEPS + 1 + spec.steps.length)];
  } catch (err) {
    throw databaseError(err, `${endpoint.host}:${endpoint.port}`, driver.retryAfterSeconds, serverAnswered);
  } finally {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const grace = new Promise<void>((resolve) => (timer = setTimeout(resolve, CLIENT_END_GRACE_MS)));
    exec.waitUntil(Promise.race([client.end().catch(() => {}), grace]).finally(() => clearTimeout(timer)));
  }
}
