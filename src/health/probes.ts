/**
 * Readiness is a list of probes, built once per isolate from the config. Each
 * probe answers ok or not, with a short detail that is safe to show publicly
 * (no URLs, no error text from the network stack). To add a check (a region's
 * database, its replica lag), add a factory to PROBE_FACTORIES.
 */
import { pingControlPlane } from '../audit/index.ts';
import { dataWorkerBinding, probeDataWorker } from '../data-routes/index.ts';
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
  /** Must honour `ctx.signal`; runProbes also stops waiting at the deadline. `null`: nothing to check this time (left out of the report). */
  run(ctx: ProbeContext): Promise<ProbeOutcome | null>;
}

/** `env` holds the bindings a probe may call (the data Workers' service bindings). */
export type ProbeFactory = (runtime: Runtime, env: Record<string, unknown>) => Probe[];

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
 * Each region's database on the direct data path, as its data Worker reports it (src/data-worker/readiness.ts):
 * the primary answers `SELECT 1`, and where a replica exists, its lag. One signed probe per region and run,
 * shared by both checks. Not critical: /api traffic does not depend on them, and one region's database must
 * not take the whole gateway out of rotation; the status page shows them per region.
 */
const regionDatabaseProbes: ProbeFactory = ({ config, assertionKeys }, env) =>
  [...config.dataWorkers.keys()].flatMap((region): Probe[] => {
    const binding = dataWorkerBinding(env, config.dataWorkers, region);
    const key = assertionKeys.get(region);
    if (!binding || !key) return [];
    const reports = new WeakMap<AbortSignal, Promise<Array<{ kind: string; ok: boolean; detail: string; lagSeconds?: number }> | { error: string }>>();
    const report = ({ signal, requestId }: ProbeContext) => {
      let r = reports.get(signal);
      if (!r) {
        r = probeDataWorker(binding, region, key, requestId, signal).catch(() => ({ error: signal.aborted ? 'timeout' : 'unreachable' }));
        reports.set(signal, r);
      }
      return r;
    };
    const check = (kind: 'database' | 'replica_lag'): Probe => ({
      name: `${kind}:${region}`,
      kind,
      region,
      critical: false,
      async run(ctx) {
        const r = await report(ctx);
        if ('error' in r) return kind === 'database' ? { ok: false, detail: r.error } : null;
        const c = r.find((x) => x.kind === kind);
        if (!c) return kind === 'database' ? { ok: false, detail: 'no database' } : null;
        return { ok: c.ok, detail: c.detail, ...(typeof c.lagSeconds === 'number' ? { lagSeconds: c.lagSeconds } : {}) };
      },
    });
    return [check('database'), check('replica_lag')];
  });

export const PROBE_FACTORIES: ProbeFactory[] = [keySetProbe, originProbes, controlPlaneProbe, regionDatabaseProbes];

const probeCache = new WeakMap<Runtime, Probe[]>();

export function probesFor(runtime: Runtime, env: Record<string, unknown> = {}): Probe[] {
  let p = probeCache.get(runtime);
  if (!p) {
    p = PROBE_FACTORIES.flatMap((f) => f(runtime, env));
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
    const results = await Promise.all(
      probes.map(async (p): Promise<CheckResult | null> => {
        const t = performance.now();
        let outcome: ProbeOutcome | null;
        try {
          const r = await Promise.race([p.run({ signal: controller.signal, requestId }), deadline]);
          outcome = r === 'timeout' ? { ok: false, detail: 'timeout' } : r;
        } catch {
          outcome = { ok: false, detail: 'probe failed' };
        }
        if (outcome === null) return null;
        const latencyMs = Math.round(performance.now() - t);
        return { name: p.name, kind: p.kind, ...(p.region ? { region: p.region } : {}), critical: p.critical ?? true, ...outcome, latencyMs };
      }),
    );
    const checks = results.filter((c): c is CheckResult => c !== null);
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

export async function cachedReadiness(runtime: Runtime, maxAgeMs: number, requestId: string, env: Record<string, unknown> = {}): Promise<ReadinessReport> {
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
  const run = { startedAt: Date.now(), promise: runProbes(probesFor(runtime, env), timeoutMs, requestId) };
  inflight.set(runtime, run);
  try {
    const report = await run.promise;
    reportCache.set(runtime, { at: Date.now(), report });
    return report;
  } finally {
    if (inflight.get(runtime) === run) inflight.delete(runtime);
  }
}
