/**
 * Builds (or updates) the controller node: one PostgreSQL database that mounts
 * every region's tenant tables with postgres_fdw, one schema per region
 * (us-east-1 → us_east_1), and combines them as LIST partitions on `region` of
 * `global.pages` (the pattern of ../shared/seeds/002). Needs real PostgreSQL:
 * PGlite cannot load postgres_fdw.
 *
 * Idempotent: every step looks at the catalog first and only acts on a
 * difference, and the result lists what it changed (empty on a second run).
 * Adding a region to the list adds its server, mappings, schema and partition.
 *
 * Residency: a region with rawRows=false is mounted (so aggregates can be
 * computed) but is NOT a partition of global.pages, is not in global.tenants,
 * and the reporting role has no user mapping for its server; the reporting
 * role sees it only through global.region_stats (counts).
 *
 * Roles:
 *   - the builder (a superuser, e.g. postgres) owns everything and maps to the
 *     region's own (URL) user: operator writes through global.pages and tenant moves.
 *   - admin_reporter (REPORTER_ROLE): the login the gateway's /admin routes use
 *     (CONTROLLER_DATABASE_URL); SELECT on global.* only, mapped to the remote
 *     read-only global_reader on raw-row regions only (see sql/region-reader.sql).
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import pg from 'pg';

export const REPORTER_ROLE = 'admin_reporter';
export const READER_ROLE = 'global_reader';
/** Tables mounted from every region (the tenant-data schema, infra/sql/region). */
export const MOUNTED_TABLES = ['tenants', 'pages'] as const;

export interface ControllerRegion {
  /** Region name as the gateway and the data know it, e.g. eu-central-1. */
  name: string;
  /** postgres:// URL of the region's database (a superuser: the build adds the reader role there). */
  url: string;
  /** false: this region's raw rows never appear in global results, only its counts. */
  rawRows: boolean;
}

export interface BuildOptions {
  /** postgres:// URL of the controller database, connecting as a superuser. */
  controllerUrl: string;
  regions: ControllerRegion[];
  /** Password for global_reader on the regions; without one the mapping sets password_required 'false' (trust auth, local only). */
  readerPassword?: string;
}

export interface BuildResult {
  /** Human-readable list of what this run changed; empty when already up to date. */
  changes: string[];
}

/** Residency config for the local world and the CLI: CONTROLLER_NO_RAW_ROWS=eu-central-1,... */
export function noRawRowsFromEnv(env: NodeJS.ProcessEnv = process.env): string[] {
  return (env.CONTROLLER_NO_RAW_ROWS ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

const REGION_NAME = /^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$/;
/** us-east-1 → us_east_1: the schema (and server) that holds a region's mounted tables. */
export function schemaFor(region: string): string {
  if (!REGION_NAME.test(region)) throw new Error(`invalid region name ${JSON.stringify(region)}`);
  return region.replace(/-/g, '_');
}

const ident = (s: string) => '"' + s.replace(/"/g, '""') + '"';
const lit = (s: string) => "'" + s.replace(/'/g, "''") + "'";

const READER_SQL = new URL('./sql/region-reader.sql', import.meta.url);

/** UUIDv7 for inserts through global.pages (PostgreSQL 15 has no built-in): 48-bit ms time, version 7, random rest. */
const UUID_V7_SQL = `CREATE FUNCTION global.uuid_v7() RETURNS uuid LANGUAGE sql VOLATILE PARALLEL SAFE AS $$
  SELECT encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid())
    placing substring(int8send(floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3) FROM 1 FOR 6),
    52, 1), 53, 1), 'hex')::uuid
$$`;

async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/** Gives each region the read-only reporting role and its policy (idempotent by construction). */
async function prepareRegion(region: ControllerRegion, readerSql: string, readerPassword?: string): Promise<void> {
  await withClient(region.url, async (c) => {
    await c.query(readerSql);
    if (readerPassword !== undefined) await c.query(`ALTER ROLE ${READER_ROLE} PASSWORD ${lit(readerPassword)}`);
  });
}

function serverOptions(url: string): Record<string, string> {
  const u = new URL(url);
  return { host: u.hostname, port: u.port || '5432', dbname: decodeURIComponent(u.pathname.slice(1)) };
}

function viewSql(regions: ControllerRegion[]): { tenants: string; stats: string } {
  const raw = regions.filter((r) => r.rawRows);
  const tenants = raw.length
    ? raw.map((r) => `SELECT id, name, created_at, ${lit(r.name)}::text AS region FROM ${ident(schemaFor(r.name))}.tenants`).join('\nUNION ALL\n')
    : 'SELECT NULL::text AS id, NULL::text AS name, NULL::timestamptz AS created_at, NULL::text AS region WHERE false';
  // Counts only: aggregates are pushed down to the region, so for a no-raw-rows region not even the rows travel.
  const stats = regions
    .map(
      (r) =>
        `SELECT ${lit(r.name)}::text AS region, ${r.rawRows}::boolean AS raw_rows,` +
        ` (SELECT count(*) FROM ${ident(schemaFor(r.name))}.tenants) AS tenants,` +
        ` (SELECT count(*) FROM ${ident(schemaFor(r.name))}.pages) AS pages`,
    )
    .join('\nUNION ALL\n');
  // Every global view locks the move barrier (see MOVE_BARRIER_SQL): the join adds no rows.
  const barred = (body: string) => `SELECT v.* FROM (${body}) v LEFT JOIN global.move_barrier ON false`;
  return { tenants: barred(tenants), stats: barred(stats) };
}

/**
 * A table with no rows whose only job is to be locked. Every global view reads it (so every global
 * query holds ACCESS SHARE on it until its transaction ends), and a tenant move takes ACCESS
 * EXCLUSIVE on it and on ONLY global.pages while it deletes the old copy and makes the new one live
 * (infra/tenant-move). Foreign tables cannot be locked, and a query's scans of different regions
 * happen at different moments; the barrier makes the two commits of a move's switch one moment for
 * the global view, so it never counts a moving tenant's rows twice or not at all.
 */
const MOVE_BARRIER_SQL = `CREATE TABLE global.move_barrier ();
  COMMENT ON TABLE global.move_barrier IS 'locked by global views (ACCESS SHARE) and by tenant moves (ACCESS EXCLUSIVE); holds no rows'`;

const hash = (s: string) => 'build:' + createHash('sha256').update(s).digest('hex').slice(0, 16);

export async function buildController(opts: BuildOptions): Promise<BuildResult> {
  if (opts.regions.length === 0) throw new Error('the region list is empty');
  const names = new Set<string>();
  for (const r of opts.regions) {
    schemaFor(r.name); // validates
    if (names.has(r.name)) throw new Error(`region ${r.name} listed twice`);
    names.add(r.name);
  }
  const readerSql = await readFile(READER_SQL, 'utf8');
  for (const r of opts.regions) await prepareRegion(r, readerSql, opts.readerPassword);

  const changes: string[] = [];
  await withClient(opts.controllerUrl, async (c) => {
    const one = async <R extends pg.QueryResultRow>(sql: string, params: unknown[] = []) => (await c.query<R>(sql, params)).rows[0];
    const act = async (what: string, sql: string) => {
      await c.query(sql);
      changes.push(what);
    };

    await c.query('BEGIN');
    try {
      // Two builders at once would race on "check, then create".
      await c.query("SELECT pg_advisory_xact_lock(hashtext('controller_build'))");
      if (!(await one("SELECT 1 FROM pg_extension WHERE extname = 'postgres_fdw'"))) {
        await act('extension postgres_fdw', 'CREATE EXTENSION postgres_fdw');
      }
      if (!(await one('SELECT 1 FROM pg_roles WHERE rolname = $1', [REPORTER_ROLE]))) {
        // Roles are cluster-wide: tolerate another world's build creating it concurrently.
        await act(
          `role ${REPORTER_ROLE}`,
          `DO $$ BEGIN CREATE ROLE ${REPORTER_ROLE} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
           EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$`,
        );
      }
      if (!(await one("SELECT 1 FROM pg_namespace WHERE nspname = 'global'"))) await act('schema global', 'CREATE SCHEMA global');
      if (!(await one<{ r: string | null }>("SELECT to_regclass('global.move_barrier') AS r"))!.r) {
        await act('table global.move_barrier', MOVE_BARRIER_SQL);
      }
      if (!(await one("SELECT 1 FROM pg_proc WHERE proname = 'uuid_v7' AND pronamespace = 'global'::regnamespace"))) {
        await act('function global.uuid_v7', UUID_V7_SQL);
      }
      const me = (await one<{ u: string }>('SELECT current_user AS u'))!.u;

      for (const r of opts.regions) {
        const s = schemaFor(r.name);
        const want = serverOptions(r.url);
        const srv = await one<{ opts: string[] | null }>('SELECT srvoptions AS opts FROM pg_foreign_server WHERE srvname = $1', [s]);
        if (!srv) {
          const o = Object.entries(want).map(([k, v]) => `${k} ${lit(v)}`).join(', ');
          await act(`server ${s}`, `CREATE SERVER ${ident(s)} FOREIGN DATA WRAPPER postgres_fdw OPTIONS (${o})`);
        } else {
          const have = Object.fromEntries((srv.opts ?? []).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
          const diff = Object.entries(want).filter(([k, v]) => have[k] !== v);
          if (diff.length) {
            const o = diff.map(([k, v]) => `${k in have ? 'SET ' : 'ADD '}${k} ${lit(v)}`).join(', ');
            await act(`server ${s} options`, `ALTER SERVER ${ident(s)} OPTIONS (${o})`);
          }
        }
        const regionUser = decodeURIComponent(new URL(r.url).username) || 'postgres';
        const regionPass = decodeURIComponent(new URL(r.url).password);
        const mapped = (role: string) =>
          one('SELECT 1 FROM pg_user_mappings WHERE srvname = $1 AND usename = $2', [s, role]);
        if (!(await mapped(me))) {
          const o = [`user ${lit(regionUser)}`, ...(regionPass ? [`password ${lit(regionPass)}`] : [])].join(', ');
          await act(`user mapping ${me}@${s}`, `CREATE USER MAPPING FOR ${ident(me)} SERVER ${ident(s)} OPTIONS (${o})`);
        }
        const reporterMapped = await mapped(REPORTER_ROLE);
        if (r.rawRows && !reporterMapped) {
          // postgres_fdw refuses password-less logins for non-superusers unless told otherwise (superuser-only option).
          const o = opts.readerPassword !== undefined ? `password ${lit(opts.readerPassword)}` : `password_required 'false'`;
          await act(
            `user mapping ${REPORTER_ROLE}@${s}`,
            `CREATE USER MAPPING FOR ${REPORTER_ROLE} SERVER ${ident(s)} OPTIONS (user ${lit(READER_ROLE)}, ${o})`,
          );
        } else if (!r.rawRows && reporterMapped) {
          await act(`drop user mapping ${REPORTER_ROLE}@${s} (raw rows not allowed)`, `DROP USER MAPPING FOR ${REPORTER_ROLE} SERVER ${ident(s)}`);
        }
        if (!(await one('SELECT 1 FROM pg_namespace WHERE nspname = $1', [s]))) await act(`schema ${s}`, `CREATE SCHEMA ${ident(s)}`);
        const present = new Set(
          (
            await c.query<{ t: string }>("SELECT relname AS t FROM pg_class WHERE relnamespace = $1::regnamespace AND relkind = 'f'", [s])
          ).rows.map((x) => x.t),
        );
        const missing = MOUNTED_TABLES.filter((t) => !present.has(t));
        if (missing.length) {
          await act(
            `import ${missing.join(', ')} into ${s}`,
            `IMPORT FOREIGN SCHEMA public LIMIT TO (${missing.map(ident).join(', ')}) FROM SERVER ${ident(s)} INTO ${ident(s)} OPTIONS (import_default 'true')`,
          );
        }
      }

      if (!(await one<{ r: string | null }>("SELECT to_regclass('global.pages') AS r"))!.r) {
        const first = schemaFor(opts.regions[0]!.name);
        // Same columns as the region table (whatever migrations made them); the parent routes inserts by region.
        await act(
          'table global.pages',
          `CREATE TABLE global.pages (LIKE ${ident(first)}.pages INCLUDING DEFAULTS) PARTITION BY LIST (region);
           ALTER TABLE global.pages ALTER COLUMN id SET DEFAULT global.uuid_v7()`,
        );
      }
      const attached = new Set(
        (
          await c.query<{ s: string }>(
            "SELECT c.relnamespace::regnamespace::text AS s FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'global.pages'::regclass",
          )
        ).rows.map((x) => x.s),
      );
      for (const r of opts.regions) {
        const s = schemaFor(r.name);
        if (r.rawRows && !attached.has(s)) {
          await act(`attach ${s}.pages`, `ALTER TABLE global.pages ATTACH PARTITION ${ident(s)}.pages FOR VALUES IN (${lit(r.name)})`);
        } else if (!r.rawRows && attached.has(s)) {
          await act(`detach ${s}.pages (raw rows not allowed)`, `ALTER TABLE global.pages DETACH PARTITION ${ident(s)}.pages`);
        }
      }

      const views = viewSql(opts.regions);
      for (const [name, body] of [['tenants', views.tenants], ['region_stats', views.stats]] as const) {
        const tag = hash(body);
        const cur = await one<{ d: string | null }>(
          "SELECT obj_description(to_regclass($1), 'pg_class') AS d",
          [`global.${name}`],
        );
        if (cur?.d !== tag) {
          // DROP + CREATE: the column list may change (CREATE OR REPLACE cannot); the comment marks the version.
          await act(
            `view global.${name}`,
            `DROP VIEW IF EXISTS global.${name}; CREATE VIEW global.${name} AS ${body}; COMMENT ON VIEW global.${name} IS ${lit(tag)}`,
          );
        }
      }

      if (!(await one("SELECT has_schema_privilege($1, 'global', 'USAGE') AS ok", [REPORTER_ROLE]))!.ok) {
        await act(`grant usage on global to ${REPORTER_ROLE}`, `GRANT USAGE ON SCHEMA global TO ${REPORTER_ROLE}`);
      }
      for (const t of ['global.pages', 'global.tenants', 'global.region_stats']) {
        if (!(await one("SELECT has_table_privilege($1, $2, 'SELECT') AS ok", [REPORTER_ROLE, t]))!.ok) {
          await act(`grant select on ${t} to ${REPORTER_ROLE}`, `GRANT SELECT ON ${t} TO ${REPORTER_ROLE}`);
        }
      }
      await c.query('COMMIT');
    } catch (err) {
      await c.query('ROLLBACK').catch(() => {});
      throw err;
    }
  });
  return { changes };
}
