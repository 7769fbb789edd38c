/**
 * Readiness is a list of probes, built once per isolate from the config. Each
 * probe answers ok or not, with a short detail that is safe to show publicly
 * (no URLs, no error text from the network stack). To add a check (a region's
 * database, its replica lag: issue 3), add a factory to PROBE_FACTORIES.
 */
import { pingControlPlane } from '../audit/index.ts';
import type { DatabaseDriverConfig, DatabaseEndpoint } from '../config/index.ts';
import { newRegionClient } from '../query/driver.ts';
import type { Runtime } from '../runtime/index.ts';

export interface ProbeOutcome {
  ok: boolean;
  /** Public, short: `status 503`, `timeout`, `unreachable`, `3 keys`. */
  detail?: string;
  /** Replica lag, for probes of kind `replica_lag`. */
  lagSeconds?: number;
}

export interface ProbeContext {
  /** Aborted at the readiness deadline. */
  readonly signal: AbortSignal;
  /** The request that asked, sent along (X-Request-Id) so a probe shows up in origin logs under it. */
  readonly requestId: string;
}

export interface Probe {
  /** Unique and stable: `origin:eu-central-1`. */
  readonly name: string;
  readonly kind: 'key_set' | 'origin' | 'database' | 'replica_lag';
  readonly region?: string;
  /**
   * Whether a failure makes the gateway not ready (default true). A non-critical
   * probe is reported but never takes the gateway out of rotation: the audit
   * database being down must not stop tenant traffic.
   */
  readonly critical?: boolean;
  /** Must honour `ctx.signal`; runProbes also stops waiting at the deadline. */
  run(ctx: ProbeContext): Promise<ProbeOutcome>;
}

export type ProbeFactory = (runtime: Runtime) => Probe[];

export interface CheckResult extends ProbeOutcome {
  name: string;
  kind: Probe['kind'];
  region?: string;
  critical: boolean;
  latencyMs: number;
}

export interface ReadinessReport {
  status: 'ready' | 'not_ready';
  checkedAt: string;
  timeoutMs: number;
  checks: CheckResult[];
}

const keySetProbe: ProbeFactory = ({ keySet }) => [
  {
    name: 'key_set',
    kind: 'key_set',
    async run() {
      const { keys } = await keySet.readiness();
      return keys > 0 ? { ok: true, detail: `${keys} keys` } : { ok: false, detail: 'no verification keys loaded' };
    },
  },
];

function originProbe(name: string, region: string | undefined, origin: string, path: string): Probe {
  const url = new URL(path, origin).href;
  return {
    name,
    kind: 'origin',
    region,
    async run({ signal, requestId }) {
      try {
        const res = await fetch(url, {
          method: 'GET',
          redirect: 'manual',
          signal,
          headers: { 'user-agent': 'edge-tenant-router/readyz', 'x-request-id': requestId },
        });
        await res.body?.cancel();
        // Any HTTP answer below 500 proves the origin is up and reachable (a 404 means no health route, not down).
        return res.status < 500 ? { ok: true, detail: `status ${res.status}` } : { ok: false, detail: `status ${res.status}` };
      } catch (err) {
        return { ok: false, detail: (err as Error).name === 'TimeoutError' || signal.aborted ? 'timeout' : 'unreachable' };
      }
    },
  };
}

const originProbes: ProbeFactory = ({ config }) => [
  originProbe('origin:central', undefined, config.centralOrigin, config.observability.readinessOriginPath),
  ...[...config.regions.values()].map((r) => originProbe(`origin:${r.name}`, r.name, r.origin, config.observability.readinessOriginPath)),
];

/** The control-plane database (audit log), when configured: one round trip, reported, not critical. */
const controlPlaneProbe: ProbeFactory = ({ config }) => {
  const db = config.controlPlaneDb;
  if (!db) return [];
  return [
    {
      name: 'database:control_plane',
      kind: 'database',
      critical: false,
      async run({ signal }) {
        const ok = await pingControlPlane(db, signal);
        return ok ? { ok: true, detail: 'select 1' } : { ok: false, detail: signal.aborted ? 'timeout' : 'unreachable' };
      },
    },
  ];
};

/**
 * One query on a region's database (the direct data path's endpoint, same driver
 * options as src/query/driver.ts). Returns the first row, or why not (public words only).
 */
async function queryEndpoint(ep: DatabaseEndpoint, driver: DatabaseDriverConfig, text: string, signal: AbortSignal): Promise<{ row: Record<string, unknown> } | { error: string }> {
  const client = newRegionClient(ep, driver);
  let connected = false;
  const aborted = new Promise<{ error: string }>((resolve) => signal.addEventListener('abort', () => resolve({ error: 'timeout' }), { once: true }));
  const attempt = (async () => {
    try {
      await client.connect();
      connected = true;
      const r = await client.query(text);
      return { row: (r.rows[0] ?? {}) as Record<string, unknown> };
    } catch {
      return { error: 'unreachable' };
    }
  })();
  try {
    return await Promise.race([attempt, aborted]);
  } finally {
    if (connected) void client.end().catch(() => {});
  }
}

/** Seconds the replica is behind: 0 when it has replayed all it received, else the age of the last replayed commit. */
const REPLICA_LAG_SQL = `SELECT CASE
    WHEN pg_last_wal_receive_lsn() IS NULL THEN NULL
    WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
    ELSE EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())
  END AS lag`;

/**
 * Each region's database on the direct data path (REGION_DATABASES): the primary
 * answers `SELECT 1`, and where a replica exists, its replication lag. Not
 * critical: /api traffic does not depend on them, and one region's database must
 * not take the whole gateway out of rotation; the status page shows them per region.
 */
const regionDatabaseProbes: ProbeFactory = ({ config }) =>
  [...config.databases.values()].flatMap((db): Probe[] => {
    const probes: Probe[] = [
      {
        name: `database:${db.region}`,
        kind: 'database',
        region: db.region,
        critical: false,
        async run({ signal }) {
          const r = await queryEndpoint(db.primary, config.databaseDriver, 'SELECT 1 AS one', signal);
          return 'row' in r ? { ok: true, detail: 'select 1' } : { ok: false, detail: r.error };
        },
      },
    ];
    if (db.replica) {
      const replica = db.replica;
      probes.push({
        name: `replica_lag:${db.region}`,
        kind: 'replica_lag',
        region: db.region,
        critical: false,
        async run({ signal }) {
          const r = await queryEndpoint(replica, config.databaseDriver, REPLICA_LAG_SQL, signal);
          if (!('row' in r)) return { ok: false, detail: r.error };
          const lag = r.row.lag;
          if (lag === null || lag === undefined) return { ok: false, detail: 'not a replica' };
          const lagSeconds = Math.round(Number(lag) * 10) / 10;
          return { ok: true, detail: `${lagSeconds} s behind`, lagSeconds };
        },
      });
    }
    return probes;
  });

export const PROBE_FACTORIES: ProbeFactory[] = [keySetProbe, originProbes, controlPlaneProbe, regionDatabaseProbes];

const probeCache = new WeakMap<Runtime, Probe[]>();

export function probesFor(runtime: Runtime): Probe[] {
  let p = probeCache.get(runtime);
  if (!p) {
    p = PROBE_FACTORIES.flatMap((f) => f(runtime));
    probeCache.set(runtime, p);
  }
  return p;
}

/** Runs every probe concurrently; the whole run is bounded by `timeoutMs`, whatever a probe does. */
export async function runProbes(probes: readonly Probe[], timeoutMs: number, requestId: string): Promise<ReadinessReport> {
  const checkedAt = new Date().toISOString();
  const controller = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => {
      controller.abort(new DOMException('readiness deadline', 'TimeoutError'));
      resolve('timeout');
    }, timeoutMs);
  });
  try {
    const checks = await Promise.all(
      probes.map(async (p): Promise<CheckResult> => {
        const t = performance.now();
        let outcome: ProbeOutcome;
        try {
          const r = await Promise.race([p.run({ signal: controller.signal, requestId }), deadline]);
          outcome = r === 'timeout' ? { ok: false, detail: 'timeout' } : r;
        } catch {
          outcome = { ok: false, detail: 'probe failed' };
        }
        const latencyMs = Math.round(performance.now() - t);
        return { name: p.name, kind: p.kind, ...(p.region ? { region: p.region } : {}), critical: p.critical ?? true, ...outcome, latencyMs };
      }),
    );
    return { status: checks.every((c) => c.ok || !c.critical) ? 'ready' : 'not_ready', checkedAt, timeoutMs, checks };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * /readyz is public and the status page polls often, so probing is bounded per isolate however
 * many callers there are: concurrent callers share one probe run (single flight), and a finished
 * report is reused while younger than `maxAgeMs`. A run started by a request that was then
 * cancelled may never settle in workerd (its subrequests die with it), so a waiter gives up on a
 * shared run at the readiness deadline plus a second and starts its own, which the next callers share.
 */
const reportCache = new WeakMap<Runtime, { at: number; report: ReadinessReport }>();
const inflight = new WeakMap<Runtime, { startedAt: number; promise: Promise<ReadinessReport> }>();
/** How long past the readiness deadline a waiter trusts a shared run to settle. */
const SHARED_RUN_GRACE_MS = 1000;

/** Probe runs started (per isolate, all runtimes): for tests and metrics. */
export const readinessRuns = { started: 0 };

export async function cachedReadiness(runtime: Runtime, maxAgeMs: number, requestId: string): Promise<ReadinessReport> {
  const hit = reportCache.get(runtime);
  if (hit && Date.now() - hit.at < maxAgeMs) return hit.report;
  const timeoutMs = runtime.config.observability.readinessTimeoutMs;
  const shared = inflight.get(runtime);
  if (shared && Date.now() - shared.startedAt <= timeoutMs + SHARED_RUN_GRACE_MS) {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const giveUp = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), shared.startedAt + timeoutMs + SHARED_RUN_GRACE_MS - Date.now());
    });
    try {
      const report = await Promise.race([shared.promise, giveUp]);
      if (report) return report;
    } finally {
      clearTimeout(timer);
    }
  }
  readinessRuns.started++;
  const run = { startedAt: Date.now(), promise: runProbes(probesFor(runtime), timeoutMs, requestId) };
  inflight.set(runtime, run);
  try {
    const report = await run.promise;
    reportCache.set(runtime, { at: Date.now(), report });
    return report;
  } finally {
    if (inflight.get(runtime) === run) inflight.delete(runtime);
  }
}
