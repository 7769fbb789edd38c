/**
 * The edge data routes: ONE declarative table. Each route names its SQL (a
 * literal, `sql` tag: no request data can become SQL text), where each positional
 * parameter comes from and its type and bounds (validated before anything touches
 * the database), whether it reads (replica-eligible) or writes (primary), its
 * statement timeout, and how rows become a response.
 *
 * Every statement also runs behind row-level security with app.tenant_id set from
 * the verified token (see driver.ts); the explicit tenant filter here is the first
 * wall (and uses the (tenant_id, id) index), RLS the second.
 */
import { z } from 'zod';
import { cursorSchema } from './cursor.ts';
import { sql, type SqlText } from './sql.ts';
import { uuidv7 } from './uuid.ts';

/**
 * Where a parameter's value comes from. `token` values come from the verified token, never the client.
 * `if-match` is the version in the request's If-Match header (a strong ETag `"<version>"` this API issued);
 * a route with one refuses a request without the header (428).
 */
export type ParamSource = 'path' | 'query' | 'body' | 'token' | 'if-match';
export type TokenValue = 'region' | 'user';

export interface RouteParam {
  /** Path/query/body field name, or which token value. */
  readonly name: string;
  readonly from: ParamSource;
  /** Output must be a string, a number or null (bound as text; the SQL casts it). */
  readonly schema: z.ZodType<string | number | null | undefined>;
}

export type ResultShape =
  /** Newest-first page of rows: {items, nextCursor}; fetches limit+1 rows to know whether more exist. */
  | { readonly kind: 'list'; readonly limitParam: string; readonly cursorColumn: string }
  /** Exactly one row, or 404 (absent, or hidden by row-level security: indistinguishable on purpose). */
  | { readonly kind: 'one' }
  /** The inserted row, 201. */
  | { readonly kind: 'created' }
  /**
   * A conditional update: no row → 404 (absent or another tenant's); a row of NULLs → 412 (it exists
   * but its version is not the If-Match one, so nothing changed); else the updated row, 200.
   */
  | { readonly kind: 'updated' }
  /** No row → 404; else 204 without a body. */
  | { readonly kind: 'deleted' };

export interface DataRoute {
  readonly name: string;
  readonly method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  /** hono path pattern. */
  readonly path: string;
  readonly access: 'read' | 'write';
  readonly sql: SqlText;
  /** $1, $2, ... in this order. */
  readonly params: readonly RouteParam[];
  /** SET LOCAL statement_timeout for this route's transaction. */
  readonly statementTimeoutMs: number;
  readonly result: ResultShape;
  /** Body fields of which the request must name at least one (a PATCH that changes nothing is a 400). */
  readonly bodyNeedsOneOf?: readonly string[];
}

/** Named limits. */
export const MAX_PAGE_LIMIT = 100;
export const DEFAULT_PAGE_LIMIT = 20;
export const MAX_TITLE_CHARS = 200;
export const MAX_PAGE_BODY_CHARS = 100_000;
/** A request body larger than this is refused (413) before it is parsed. */
export const MAX_JSON_BODY_BYTES = 256 * 1024;
const MIN_STATEMENT_TIMEOUT_MS = 10;

// PostgreSQL text cannot hold NUL, and an unpaired UTF-16 surrogate cannot be encoded as UTF-8
// (it would come back as U+FFFD): such strings are refused (400), never silently changed.
const NUL_OR_LONE_SURROGATE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const STORABLE_MESSAGE = 'must not contain NUL (U+0000) or unpaired surrogates';
/** Text stored exactly as sent: it round-trips unchanged or is refused. */
const storableText = (max: number) => z.string().max(max).refine((s) => !NUL_OR_LONE_SURROGATE.test(s), STORABLE_MESSAGE);
const MAX_STATEMENT_TIMEOUT_MS = 30_000;
/** Versions are Postgres integers. */
export const MAX_PAGE_VERSION = 2_147_483_647;
const pageTitle = storableText(MAX_TITLE_CHARS).refine((s) => s.trim() !== '', 'must not be blank');

export const DATA_ROUTES: readonly DataRoute[] = [
  {
    name: 'pages.list',
    method: 'GET',
    path: '/data/pages',
    access: 'read',
    sql: sql`SELECT id, title, body, region, created_at, updated_at, version
      FROM pages
      WHERE tenant_id = current_setting('app.tenant_id', true)
        AND ($2::uuid IS NULL OR id < $2::uuid)
      ORDER BY id DESC
      LIMIT $1::int + 1`,
    params: [
      { name: 'limit', from: 'query', schema: z.coerce.number().int().min(1).max(MAX_PAGE_LIMIT).default(DEFAULT_PAGE_LIMIT) },
      { name: 'cursor', from: 'query', schema: cursorSchema.optional() },
    ],
    statementTimeoutMs: 2000,
    result: { kind: 'list', limitParam: 'limit', cursorColumn: 'id' },
  },
  {
    name: 'pages.get',
    method: 'GET',
    path: '/data/pages/:id',
    access: 'read',
    sql: sql`SELECT id, title, body, region, created_at, updated_at, version
      FROM pages
      WHERE tenant_id = current_setting('app.tenant_id', true) AND id = $1::uuid`,
    params: [{ name: 'id', from: 'path', schema: z.uuid() }],
    statementTimeoutMs: 1000,
    result: { kind: 'one' },
  },
  {
    name: 'pages.create',
    method: 'POST',
    path: '/data/pages',
    access: 'write',
    sql: sql`INSERT INTO pages (id, tenant_id, region, title, body)
      VALUES ($1::uuid, current_setting('app.tenant_id', true), $2, $3, $4)
      RETURNING id, title, body, region, created_at, updated_at, version`,
    params: [
      // Client-chosen ids make retries idempotent-by-conflict (a repeat is a 409, not a duplicate).
      { name: 'id', from: 'body', schema: z.uuid().default(() => uuidv7()) },
      { name: 'region', from: 'token', schema: z.string() },
      // Not trimmed: a title comes back exactly as it was sent; an all-blank one is refused.
      { name: 'title', from: 'body', schema: pageTitle },
      { name: 'body', from: 'body', schema: storableText(MAX_PAGE_BODY_CHARS).default('') },
    ],
    statementTimeoutMs: 2000,
    result: { kind: 'created' },
  },
  {
    // Read, decide and write in one statement next to the database: lock the tenant's row, compare
    // its version with If-Match, update only on a match. A concurrent PATCH waits on the row lock
    // and then sees the bumped version (412), so exactly one of two racing updates wins.
    name: 'pages.update',
    method: 'PATCH',
    path: '/data/pages/:id',
    access: 'write',
    sql: sql`WITH cur AS (
        SELECT id, version FROM pages
        WHERE tenant_id = current_setting('app.tenant_id', true) AND id = $1::uuid
        FOR UPDATE),
      upd AS (
        UPDATE pages p SET title = coalesce($3, p.title), body = coalesce($4, p.body), version = p.version + 1, updated_at = now()
        FROM cur WHERE p.id = cur.id AND cur.version = $2::int
        RETURNING p.id, p.title, p.body, p.region, p.created_at, p.updated_at, p.version)
      SELECT upd.* FROM cur LEFT JOIN upd ON true`,
    params: [
      { name: 'id', from: 'path', schema: z.uuid() },
      { name: 'version', from: 'if-match', schema: z.coerce.number().int().min(1).max(MAX_PAGE_VERSION) },
      { name: 'title', from: 'body', schema: pageTitle.optional() },
      { name: 'body', from: 'body', schema: storableText(MAX_PAGE_BODY_CHARS).optional() },
    ],
    bodyNeedsOneOf: ['title', 'body'],
    statementTimeoutMs: 2000,
    result: { kind: 'updated' },
  },
  {
    name: 'pages.delete',
    method: 'DELETE',
    path: '/data/pages/:id',
    access: 'write',
    sql: sql`DELETE FROM pages
      WHERE tenant_id = current_setting('app.tenant_id', true) AND id = $1::uuid
      RETURNING id`,
    params: [{ name: 'id', from: 'path', schema: z.uuid() }],
    statementTimeoutMs: 2000,
    result: { kind: 'deleted' },
  },
];

/** Checked once per isolate (module load): a malformed table fails every deploy's first test, not a request. */
export function validateRouteTable(routes: readonly DataRoute[]): void {
  const seen = new Set<string>();
  for (const r of routes) {
    const key = `${r.method} ${r.path}`;
    if (seen.has(key) || seen.has(r.name)) throw new Error(`data route ${r.name}: duplicate`);
    seen.add(key).add(r.name);
    if (r.sql.paramCount !== r.params.length) {
      throw new Error(`data route ${r.name}: SQL uses $${r.sql.paramCount} but ${r.params.length} params are declared`);
    }
    if (!(r.statementTimeoutMs >= MIN_STATEMENT_TIMEOUT_MS && r.statementTimeoutMs <= MAX_STATEMENT_TIMEOUT_MS)) {
      throw new Error(`data route ${r.name}: statementTimeoutMs out of bounds`);
    }
    for (const p of r.params) {
      if (p.from === 'path' && !r.path.includes(`:${p.name}`)) throw new Error(`data route ${r.name}: no :${p.name} in path`);
      if (p.from === 'token' && p.name !== 'region' && p.name !== 'user') throw new Error(`data route ${r.name}: unknown token value ${p.name}`);
      if (p.from === 'body' && (r.method === 'GET' || r.method === 'DELETE')) throw new Error(`data route ${r.name}: ${r.method} has no body`);
    }
    for (const n of r.bodyNeedsOneOf ?? []) {
      if (!r.params.some((p) => p.from === 'body' && p.name === n)) throw new Error(`data route ${r.name}: bodyNeedsOneOf names no body param ${n}`);
    }
    if (r.result.kind === 'list' && !r.params.some((p) => p.name === (r.result as { limitParam: string }).limitParam)) {
      throw new Error(`data route ${r.name}: list without its limit param`);
    }
  }
}

validateRouteTable(DATA_ROUTES);
