/**
 * Real regional databases for the direct data path tests (test/worker/data), started
 * in Node by the worker global setup with the local world's own modules: PGlite per
 * region behind its wire server, migrated with infra/sql/region, each behind a
 * WebSocket-to-TCP proxy the Worker's driver connects through; the same on the real
 * PostgreSQL server (unique database names, dropped afterwards) when it is
 * reachable; and a real streaming replica of that server (infra/replica) for the
 * read-your-writes tests. What is unavailable is reported with a reason, and the
 * tests print it when they skip.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { migrate } from '../../infra/db/migrate.ts';
import { startPgliteDatabase, startPostgresDatabase, type ProvisionedDb } from '../../infra/db/provision.ts';
import { DEFAULT_LOCAL_PG_URL, tcpReachable } from '../../infra/db/reachable.ts';
import { startWsProxy, type WsProxy } from '../../infra/ws-proxy/index.ts';

const run = promisify(execFile);
/** Inserted by test/worker/data/replica.test.ts once read-your-writes held against the lagging replica. */
export const REPLICA_PROOF_TENANT = 'ws_replica_tests_ran';
const REPLICA_SCRIPTS = new URL('../../infra/replica/', import.meta.url).pathname;

/** How a test reaches one database: the URL (credentials included) and the ws proxy in front of it. */
export interface DbAccess {
  url: string;
  wsProxy: string;
  pipelineConnect: 'password' | 'off';
}

export interface DataBackend {
  /** The REGION_DATABASES secret the gateway gets for this backend. */
  regionDatabases: Record<string, unknown>;
  /** Superuser access per region (seeding tenants, inspecting rows) through the same proxies. */
  admin: Record<string, DbAccess>;
  /** A second, independent database per region for failover tests (PGlite only): its REGION_STANDBY_DATABASES endpoint (zone left to the test) and superuser access. */
  standby?: Record<string, { endpoint: Record<string, unknown>; admin: DbAccess }>;
}

export interface ReplicaBackend extends DataBackend {
  region: string;
  adminReplica: DbAccess;
}

export interface DataDatabases {
  pglite: DataBackend;
  postgres?: DataBackend;
  replica?: ReplicaBackend;
  /** The same databases as `pglite` / `postgres`, reached over the Hyperdrive transport (node-postgres over TCP). */
  'pglite-hyperdrive': DataBackend;
  'postgres-hyperdrive'?: DataBackend;
  /** Hyperdrive bindings for miniflare (binding name → local connection string): the workerd tests' `hyperdrives`. */
  hyperdrives: Record<string, string>;
  /** Why a backend is missing (printed by the tests that skip). */
  skipped: Record<string, string>;
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

function withUser(url: string, user: string, password = ''): string {
  const u = new URL(url);
  u.username = user;
  u.password = password;
  return u.toString();
}

/**
 * A Hyperdrive binding name for one backend's region. Miniflare's local Hyperdrive needs a password in
 * the connection string; PGlite's wire server and trust-auth PostgreSQL never ask for it.
 */
const hyperdriveName = (backend: string, region: string) => `HD_${backend}_${region}`.toUpperCase().replaceAll('-', '_');

export async function startDataDatabases(regions: readonly string[]): Promise<{ info: DataDatabases; close(): Promise<void> }> {
  const closers: Array<() => Promise<void>> = [];
  const close = async () => {
    for (const c of closers.reverse()) await c().catch((e) => console.warn('data databases teardown:', e));
  };
  try {
    const proxies: WsProxy[] = [];
    const proxyFor = async (host: string, port: number) => {
      const p = await startWsProxy({ target: { host, port } });
      proxies.push(p);
      return p;
    };
    closers.push(async () => {
      await Promise.all(proxies.map((p) => p.close()));
    });
    const skipped: Record<string, string> = {};

    // PGlite: one database per region. Its single session user is a superuser, so the
    // gateway's config names the non-privileged role every transaction switches to.
    const pglite: DataBackend = { regionDatabases: {}, admin: {} };
    const pgliteHyperdrive: DataBackend = { regionDatabases: {}, admin: pglite.admin };
    const hyperdrives: Record<string, string> = {};
    for (const region of regions) {
      const d: ProvisionedDb = await startPgliteDatabase();
      closers.push(() => d.close());
      await migrate(d.db, 'region');
      const proxy = await proxyFor(d.host, d.port);
      pglite.regionDatabases[region] = { primary: { url: d.url, wsProxy: proxy.hostPort }, role: 'gateway' };
      hyperdrives[hyperdriveName('pglite', region)] = withUser(d.url, 'postgres', 'local');
      pgliteHyperdrive.regionDatabases[region] = { primary: { hyperdrive: hyperdriveName('pglite', region) }, role: 'gateway' };
      pglite.admin[region] = { url: d.url, wsProxy: proxy.hostPort, pipelineConnect: 'password' };
    }
    // One standby database (its own PGlite, migrated the same way) for the first region's failover tests.
    {
      const region = regions.includes('eu-central-1') ? 'eu-central-1' : regions[0]!;
      const d: ProvisionedDb = await startPgliteDatabase();
      closers.push(() => d.close());
      await migrate(d.db, 'region');
      const proxy = await proxyFor(d.host, d.port);
      pglite.standby = { [region]: { endpoint: { url: d.url, wsProxy: proxy.hostPort }, admin: { url: d.url, wsProxy: proxy.hostPort, pipelineConnect: 'password' } } };
    }

    // Real PostgreSQL: the gateway logs in AS the non-privileged `gateway` role (no role switch).
    const serverUrl = process.env.LOCAL_PG_URL || DEFAULT_LOCAL_PG_URL;
    let postgres: DataBackend | undefined;
    let postgresHyperdrive: DataBackend | undefined;
    let replica: ReplicaBackend | undefined;
    if (!(await tcpReachable(serverUrl))) {
      skipped.postgres = skipped.replica = `no PostgreSQL server reachable at ${new URL(serverUrl).host}`;
    } else {
      const runId = randomBytes(4).toString('hex');
      const u = new URL(serverUrl);
      const proxy = await proxyFor(u.hostname, Number(u.port || 5432));
      postgres = { regionDatabases: {}, admin: {} };
      postgresHyperdrive = { regionDatabases: {}, admin: postgres.admin };
      for (const region of regions) {
        const d = await startPostgresDatabase({ serverUrl, database: `etr_test_${runId}_direct_${region.replaceAll('-', '_')}` });
        closers.push(() => d.close());
        await migrate(d.db, 'region');
        // Trust auth answers the startup at once, so a pipelined password would arrive unasked: no pipelined connect.
        postgres.regionDatabases[region] = { primary: { url: withUser(d.url, 'gateway'), wsProxy: proxy.hostPort, pipelineConnect: 'off' } };
        postgres.admin[region] = { url: d.url, wsProxy: proxy.hostPort, pipelineConnect: 'off' };
        hyperdrives[hyperdriveName('postgres', region)] = withUser(d.url, 'gateway', 'local');
        postgresHyperdrive.regionDatabases[region] = { primary: { hyperdrive: hyperdriveName('postgres', region) } };
      }

      // A streaming replica of the whole server (so of every database on it).
      try {
        const parent = await mkdtemp(join(tmpdir(), 'etr-replica-'));
        // The replica runs as the postgres OS user, which must be able to enter the directory.
        await chmod(parent, 0o755);
        const dataDir = join(parent, 'data');
        const port = await freePort();
        closers.push(async () => {
          await run('bash', [join(REPLICA_SCRIPTS, 'stop-replica.sh'), dataDir, String(port)]);
          await rm(parent, { recursive: true, force: true });
        });
        const region = regions[0]!;
        const d = await startPostgresDatabase({ serverUrl, database: `etr_test_${runId}_direct_replicated` });
        closers.push(() => d.close());
        await migrate(d.db, 'region');
        await run('bash', [join(REPLICA_SCRIPTS, 'start-replica.sh'), dataDir, String(port)], { timeout: 120_000 });
        const replicaUrl = new URL(d.url);
        replicaUrl.port = String(port);
        await waitForReplica(replicaUrl.toString());
        const replicaProxy = await proxyFor('127.0.0.1', port);
        replica = {
          region,
          regionDatabases: {
            [region]: {
              primary: { url: withUser(d.url, 'gateway'), wsProxy: proxy.hostPort, pipelineConnect: 'off' },
              replica: { url: withUser(replicaUrl.toString(), 'gateway'), wsProxy: replicaProxy.hostPort, pipelineConnect: 'off' },
            },
          },
          admin: { [region]: { url: d.url, wsProxy: proxy.hostPort, pipelineConnect: 'off' } },
          adminReplica: { url: replicaUrl.toString(), wsProxy: replicaProxy.hostPort, pipelineConnect: 'off' },
        };
      } catch (err) {
        const e = err as { message?: string; stderr?: string };
        skipped.replica = `could not start a streaming replica: ${(e.stderr || e.message || String(err)).trim().split('\n').slice(-3).join(' | ')}`;
        if (process.env.REQUIRE_REPLICA_TESTS === '1') throw new Error(`REQUIRE_REPLICA_TESTS=1 but ${skipped.replica}`);
      }
    }
    for (const [what, why] of Object.entries(skipped)) console.log(`[skip] ${what} data tests (test/worker/data): ${why}`);
    // Proof for CI that the replica tests ran (passing tests' logs are silenced): the
    // read-your-writes test leaves a marker tenant on the primary when all its assertions held.
    const closeWithProof = async () => {
      if (replica) {
        const c = new pg.Client({ connectionString: replica.admin[replica.region]!.url });
        try {
          await c.connect();
          const r = await c.query('SELECT count(*)::int AS n FROM tenants WHERE id = $1', [REPLICA_PROOF_TENANT]);
          console.log(r.rows[0].n > 0 ? 'REPLICA_TESTS_RAN: read-your-writes proven against a paused streaming replica' : 'REPLICA_TESTS_NOT_RUN');
        } catch (err) {
          console.log(`REPLICA_TESTS_NOT_RUN (${(err as Error).message})`);
        } finally {
          await c.end().catch(() => {});
        }
      }
      await close();
    };
    return { info: { pglite, postgres, replica, 'pglite-hyperdrive': pgliteHyperdrive, 'postgres-hyperdrive': postgresHyperdrive, hyperdrives, skipped }, close: closeWithProof };
  } catch (err) {
    await close();
    throw err;
  }
}

/** The replica is up and has replayed the migrated database (created after the backup or before: either way wait). */
async function waitForReplica(url: string, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const c = new pg.Client({ connectionString: url });
    try {
      await c.connect();
      const r = await c.query(`SELECT pg_is_in_recovery() AS standby, to_regclass('public.pages') IS NOT NULL AS migrated`);
      if (r.rows[0].standby && r.rows[0].migrated) return;
    } catch {
      // not up yet
    } finally {
      await c.end().catch(() => {});
    }
    if (Date.now() > end) throw new Error('replica did not become ready in time');
    await new Promise((r) => setTimeout(r, 200));
  }
}

// Child-process mode (see data-databases-process.ts).
if (process.argv[2] === '--serve' && typeof process.send === 'function') {
  const regions = (process.argv[3] ?? '').split(',').filter(Boolean);
  let stop: (() => Promise<void>) | undefined;
  const shutdown = async () => {
    await stop?.();
    process.exit(0);
  };
  process.once('message', () => void shutdown());
  process.once('disconnect', () => void shutdown());
  startDataDatabases(regions).then(
    (d) => {
      stop = d.close;
      process.send!({ info: d.info });
    },
    (err: Error) => {
      process.send!({ error: err.message }, () => process.exit(1));
    },
  );
}
