/**
 * The noisy-neighbour run (`npm run load -- --noisy`): the usual clients of many tenants in every
 * region (paced, open loop: each tenant sends at a fixed rate whatever the answers take) while one
 * more tenant, in phases that cycle through three conditions in the same run (cycling, so drift on
 * a shared machine lands in all of them):
 *   quiet  the noisy tenant sends nothing;
 *   busy   it sends GET /api/pages at 90 % of its rate budget, paced: never limited, it only uses
 *          its share (the control: what the admitted part of a flood costs the others by itself);
 *   flood  it sends GET /api/pages as fast as its connections allow (or at --noisy-rps).
 * It reports, for the other tenants, success rate and p50/p99 per condition (and p99 per path and
 * region), the noisy tenant's answers (429s, 503 tenant_busy), and the cores each process of the
 * local world, its PostgreSQL server and the clients used per condition (process-cpu.ts). The clients
 * send with Node's http (http-client.ts), the noisy tenant from a worker thread of its own
 * (noisy-flood.ts). The world's databases are real PostgreSQL by default (`--db pglite`: PGlite; see
 * NoisyOptions.db for why).
 *
 * Targets (violations → the CLI exits non-zero):
 *   - the other tenants get no 429 and no 503, in any condition;
 *   - their p99 with the flood is within 20 % (or 5 ms, whichever is larger) of their p99 without;
 *   - the noisy tenant is limited: refused (429 with Retry-After and RateLimit fields, 503
 *     tenant_busy) or paced (served no faster than its budget while its requests wait for their
 *     turns), and sends at least ten times any other tenant's rate;
 *   - the control is what it says: the busy tenant got no 429.
 * Flood against busy is printed, not a target: what the flood cost beyond its admitted share (its
 * refusals, its waiting connections, its onset).
 */
import { availableParallelism, loadavg } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { trafficLimitEnvFields } from '../../src/config/traffic-limits.ts';
import { DEFAULT_LOCAL_PG_URL, tcpReachable } from '../db/reachable.ts';
import { LOCAL_TENANT_PACING, LOCAL_TENANT_RATE_LIMITS } from '../world.ts';
import { inFreshWorld, signUpTenants, sleep } from './common.ts';
import { loadClient } from './http-client.ts';
import { addCpu, cpuSecondsBetween, MACHINE_ROLES, machineSecondsBetween, PROCESS_ROLES, snapshotCpu, snapshotMachine, type Role } from './process-cpu.ts';
import { startWorldProcess, type RemoteWorld } from './world-process.ts';
import type { FloodCounts, FloodOrder, FloodSetup } from './noisy-flood.ts';

export interface NoisyOptions {
  durationMs: number;
  /** Phases cycle quiet, busy, flood, quiet…; a multiple of 3, so every condition gets the same time. */
  phases: number;
  tenantsPerRegion: number;
  /** Requests per second of each other tenant (open loop). */
  perTenantRps: number;
  /** The noisy tenant's requests per second while flooding (open loop); 0: as fast as its connections allow. */
  noisyRps: number;
  /** Connections the noisy tenant sends with (its outstanding requests, when paced). */
  noisyConcurrency: number;
  noisyRegion: string;
  /** The in-flight bound for this run (a request waiting for its pace turn is not in flight). */
  maxInFlight: number;
  /** TENANT_PACING for this run: null keeps the local world's (the gateway's default); 'off' or a JSON value. */
  pacing: string | null;
  /**
   * The world's databases. `postgres` (the default): one PostgreSQL server at `pgUrl` (default
   * LOCAL_PG_URL, else 127.0.0.1:5432, as `--move`), each region's
   * database served by its own backends, as deployed regions have their own servers. `pglite`: every
   * region's database runs on the world's one Node event loop, so one region's queries hold up every
   * other region's requests there, a coupling no deployment has, on the very path this run measures.
   */
  db: 'postgres' | 'pglite';
  pgUrl: string;
  /** On PostgreSQL: the data Workers through the world's session pool (infra/pg-pool), as behind Hyperdrive; false: a backend forked per request. */
  dataPool: boolean;
  log: (msg: string) => void;
}

/** Without `pgUrl`: that one is LOCAL_PG_URL, else DEFAULT_LOCAL_PG_URL, read when a run starts. */
export const NOISY_DEFAULTS: Omit<NoisyOptions, 'pgUrl'> = {
  // 18 phases of 10 s: 1080 samples per condition; with 540 the quiet p99 alone moved 23–35 ms between runs.
  durationMs: 180_000,
  phases: 18,
  tenantsPerRegion: 3,
  perTenantRps: 2,
  noisyRps: 0,
  noisyConcurrency: 8,
  noisyRegion: 'eu-central-1',
  maxInFlight: 4,
  pacing: null,
  db: 'postgres',
  dataPool: true,
  log: () => {},
};

/** A bad option or a missing prerequisite, found before the run starts: the CLI prints it and exits 2. */
export class NoisyOptionError extends Error {}

/** p99 target: within this fraction of the no-flood p99, or within the floor, whichever is larger. */
export const P99_TOLERANCE = 0.2;
export const P99_FLOOR_MS = 5;
/** The noisy tenant must send at least this many times any other tenant's rate. */
export const MIN_NOISE_FACTOR = 10;
/** The busy (control) condition's rate, as a share of the tenant's api budget. */
export const BUSY_SHARE = 0.9;
/** The unmeasured flood before the phases, and the quiet after it before the first phase (longer than the pace's 1 s wait and the 250 ms refusal hold). */
const WARMUP_FLOOD_MS = 2000;
const SETTLE_MS = 2000;
/** How often the clients' event loop is sampled for hold-ups. */
const LOOP_DELAY_RESOLUTION_MS = 5;

export const CONDITIONS = ['quiet', 'busy', 'flood'] as const;
export type Condition = (typeof CONDITIONS)[number];
const CONDITION_LABEL: Record<Condition, string> = { quiet: 'without the noisy tenant', busy: 'noisy tenant within its budget', flood: 'with the flood' };

export type PathKind = 'api' | 'data' | 'write';

export interface ConditionStats {
  requests: number;
  served: number;
  successRate: number;
  p50Ms: number | null;
  p99Ms: number | null;
  /** p99 of the served requests per path: GET /api/pages (forwarded), GET /data/pages (direct), POST /api/pages. */
  p99ByPath: Record<PathKind, number | null>;
  /** "<status> <code>" → count, for answers that were not 2xx. */
  errors: Record<string, number>;
  /** The busiest other tenant's requests per second. */
  maxTenantRps: number;
  /** p99 of the served requests of the tenants in the noisy tenant's region, and in the other regions. */
  p99ByRegion: { noisyRegion: number | null; otherRegions: number | null };
  /** Of the slowest 1 % of served requests, how many were sent in the first second of their phase. */
  slowestInFirstSecond: { count: number; of: number };
  /** p99 of the served requests of each of the condition's phases, in the order they ran. */
  p99ByPhase: Array<number | null>;
  /** The phase that holds most of the slowest 1 %: one phase holding most of them is a transient, not a steady cost. */
  slowestPhase: SlowestPhase | null;
  /**
   * Where the slowest 1 % spent their time, medians (ms): the gateway's total by its Server-Timing, of it
   * the upstream call, and the rest of what the client timed (wrangler's dev proxy, loopback, the clients).
   */
  slowestSplit: { gatewayMs: number | null; upstreamMs: number | null; outsideMs: number | null };
}

export interface SlowestPhase {
  /** Index in the run, from 0. */
  phase: number;
  count: number;
  of: number;
}

export interface NoisyCounts {
  requests: number;
  rps: number;
  /** 2xx answers per second. */
  servedRps: number;
  /** Median time to an answer (a request paced by the gateway waits for its turn). */
  p50Ms: number | null;
  statuses: Record<string, number>;
  limited: number;
  busy: number;
  limitedWithoutHeaders: number;
  /** Connections it opened over its phases (its client keeps them alive; one reopened per phase is an onset the others may pay for). */
  connectionsOpened: number;
}

export interface NoisyReport {
  /** When the first phase began (ISO 8601): to line the phases up with other logs (PostgreSQL's checkpoints, say). */
  startedAt: string;
  durationMs: number;
  phases: number;
  tenants: number;
  perTenantRps: number;
  noisyRegion: string;
  noisyRps: number;
  busyRps: number;
  /** The noisy tenant's api budget per second (limit ÷ period). */
  budgetRps: number;
  limit: string;
  others: Record<Condition, ConditionStats>;
  /** The noisy tenant while flooding. */
  noisy: NoisyCounts;
  /** The same tenant in the control condition, within its budget. */
  control: NoisyCounts;
  maxInFlight: number;
  noisyConcurrency: number;
  /** TENANT_PACING as the run set it. */
  pacing: string;
  /** The world's databases: "PostgreSQL at host:port, the data Workers through the local pool" (or "straight to the server"), or "PGlite". */
  databases: string;
  loadAverage: number[];
  /** Cores used per process of the local world (and the load clients) in each condition: CPU seconds ÷ the condition's seconds. */
  cpuCores: Record<Condition, Partial<Record<Role, number>>>;
  /**
   * The longest the clients' event loop was held up in each phase (ms), per condition in phase order:
   * a request answered meanwhile is timed late by up to that much, whatever the world did.
   */
  clientLoopDelayMaxMs: Record<Condition, number[]>;
  cores: number;
  violations: string[];
}

export function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

const medianOf = (xs: ReadonlyArray<number | null>): number | null => percentile(xs.filter((x): x is number => x !== null).sort((a, b) => a - b), 0.5);

/** The allowed p99 with the flood, given the p99 without. */
export const allowedP99 = (quietP99: number) => Math.max(quietP99 * (1 + P99_TOLERANCE), quietP99 + P99_FLOOR_MS);

/**
 * The flood was limited: refused (429, 503 tenant_busy), or paced: served no faster than its budget
 * (10 % slack for the burst admitted at once) while its requests waited for their turns (median at
 * least twice that of the same tenant within its budget, whose requests never wait).
 */
export function noisyLimited(r: Pick<NoisyReport, 'noisy' | 'control' | 'budgetRps'>): boolean {
  if (r.noisy.limited + r.noisy.busy > 0) return true;
  const { p50Ms } = r.noisy;
  const controlP50 = r.control.p50Ms;
  return r.noisy.servedRps <= r.budgetRps * 1.1 && p50Ms !== null && controlP50 !== null && p50Ms >= 2 * controlP50;
}

/** Of the slowest 1 % of `served`, the phase holding the most (the earliest of a tie); null when nothing was served. */
export function slowestPhase(served: ReadonlyArray<{ ms: number; phase: number }>): SlowestPhase | null {
  if (served.length === 0) return null;
  const slowest = [...served].sort((a, b) => a.ms - b.ms).slice(served.length - Math.ceil(served.length / 100));
  const byPhase = new Map<number, number>();
  for (const s of slowest) byPhase.set(s.phase, (byPhase.get(s.phase) ?? 0) + 1);
  let best: SlowestPhase | null = null;
  for (const [phase, count] of byPhase) if (!best || count > best.count || (count === best.count && phase < best.phase)) best = { phase, count, of: slowest.length };
  return best;
}

/** The verdicts, over what the run recorded (pure, so noisy.test.ts can show each one fires). */
export function noisyViolations(r: Pick<NoisyReport, 'others' | 'noisy' | 'control' | 'budgetRps'>): string[] {
  const out: string[] = [];
  for (const cond of CONDITIONS) {
    for (const [k, n] of Object.entries(r.others[cond].errors)) {
      if (k.startsWith('429') || k.startsWith('503')) out.push(`other tenants got ${n} × ${k} (${cond})`);
    }
    if (r.others[cond].requests === 0) out.push(`no requests of the other tenants were measured (${cond})`);
  }
  const q = r.others.quiet.p99Ms;
  const f = r.others.flood.p99Ms;
  if (q !== null && f !== null && f > allowedP99(q)) {
    out.push(`other tenants' p99 with the flood ${f.toFixed(1)} ms > ${allowedP99(q).toFixed(1)} ms allowed (without: ${q.toFixed(1)} ms)`);
  }
  if (!noisyLimited(r)) {
    out.push(`the noisy tenant was not limited: no 429, no 503 tenant_busy, and not held to its budget's pace (${r.noisy.servedRps.toFixed(1)} served/s against ${r.budgetRps} budgeted, median ${r.noisy.p50Ms?.toFixed(0) ?? '-'} ms against ${r.control.p50Ms?.toFixed(0) ?? '-'} ms within its budget)`);
  }
  if (r.noisy.limitedWithoutHeaders > 0) out.push(`${r.noisy.limitedWithoutHeaders} of the noisy tenant's 429s lacked Retry-After or RateLimit fields`);
  const maxOther = Math.max(...CONDITIONS.map((c) => r.others[c].maxTenantRps));
  if (r.noisy.rps < MIN_NOISE_FACTOR * maxOther) out.push(`the noisy tenant sent ${r.noisy.rps.toFixed(0)} req/s, less than ${MIN_NOISE_FACTOR} × the busiest other tenant (${maxOther.toFixed(1)} req/s)`);
  if (r.control.limited > 0) out.push(`the control is not one: the tenant within its budget got ${r.control.limited} × 429`);
  return out;
}

interface Tenant {
  id: string;
  region: string;
  token: string;
}

interface Sample {
  /** `warmup`: sent before the first phase or after the last, not measured. */
  cond: Condition | 'warmup';
  /** Index of its phase in the run (-1: warmup). */
  phase: number;
  /** When it was sent, counted from the start of its phase. */
  inPhaseMs: number;
  tenant: string;
  path: PathKind;
  region: string;
  ms: number;
  status: number;
  code: string;
  /** The gateway's own account (Server-Timing): its total and its upstream call, when it sent them. */
  gatewayMs: number | null;
  upstreamMs: number | null;
}

/** A metric's `dur` in a Server-Timing value (`total;dur=12, upstream;dur=9`), or null. */
export function serverTimingDur(value: string | undefined, metric: string): number | null {
  for (const part of value?.split(',') ?? []) {
    const [name, ...params] = part.trim().split(';');
    if (name !== metric) continue;
    const dur = params.map((p) => p.trim()).find((p) => p.startsWith('dur='));
    const n = dur ? Number(dur.slice(4)) : NaN;
    return Number.isFinite(n) ? n : null;
  }
  return null;
}

export async function runNoisy(partial: Partial<NoisyOptions> = {}): Promise<NoisyReport> {
  // LOCAL_PG_URL is read when the run starts, not when this module was loaded.
  const opts: NoisyOptions = { ...NOISY_DEFAULTS, pgUrl: process.env.LOCAL_PG_URL || DEFAULT_LOCAL_PG_URL, ...partial };
  if (opts.phases < 3 || opts.phases % 3 !== 0) throw new NoisyOptionError('--phases must be a multiple of 3 (quiet, busy, flood)');
  if (opts.db === 'postgres' && !(await tcpReachable(opts.pgUrl))) {
    const u = new URL(opts.pgUrl);
    const from = partial.pgUrl ? 'as given' : process.env.LOCAL_PG_URL ? 'LOCAL_PG_URL' : 'the default';
    throw new NoisyOptionError(`the noisy run's world is on PostgreSQL by default, and nothing accepts connections at ${u.host} (${from}): start PostgreSQL there, set LOCAL_PG_URL to a server, or run on PGlite with --db pglite`);
  }
  opts.log('starting the local world');
  // In its own process: the world's servers must not share the event loop that times the clients.
  const gatewayVars: Record<string, string> = { TENANT_MAX_IN_FLIGHT: String(opts.maxInFlight), ...(opts.pacing === null ? {} : { TENANT_PACING: opts.pacing }) };
  const start = (sandboxDir: string) => startWorldProcess({ sandboxDir, gatewayLogLevel: 'error', gatewayVars, dbMode: opts.db, ...(opts.db === 'postgres' ? { pgUrl: opts.pgUrl, dataPool: opts.dataPool } : {}) });
  return inFreshWorld('etr-noisy-', start, opts.log, (world) => drive(world, opts));
}

function totals(phases: readonly FloodCounts[]): NoisyCounts {
  const statuses: Record<string, number> = {};
  let requests = 0;
  let elapsed = 0;
  let limitedWithoutHeaders = 0;
  let connectionsOpened = 0;
  const latencies: number[] = [];
  for (const f of phases) {
    requests += f.requests;
    elapsed += f.elapsedMs;
    limitedWithoutHeaders += f.limitedWithoutHeaders;
    connectionsOpened += f.connectionsOpened;
    latencies.push(...f.latenciesMs);
    for (const [k, n] of Object.entries(f.statuses)) statuses[k] = (statuses[k] ?? 0) + n;
  }
  const perSecond = (n: number) => (elapsed > 0 ? (n * 1000) / elapsed : 0);
  return {
    requests,
    rps: perSecond(requests),
    servedRps: perSecond(statuses['200'] ?? 0),
    p50Ms: percentile(latencies.sort((a, b) => a - b), 0.5),
    statuses,
    limited: statuses['429'] ?? 0,
    busy: statuses['503'] ?? 0,
    limitedWithoutHeaders,
    connectionsOpened,
  };
}

async function drive(world: RemoteWorld, opts: NoisyOptions): Promise<NoisyReport> {
  const gateway = world.gatewayUrl;
  const regions = world.regions;
  if (!regions.includes(opts.noisyRegion)) throw new NoisyOptionError(`--noisy-region: ${opts.noisyRegion} is not a region of the world`);
  const others: Tenant[] = await signUpTenants(gateway, regions, opts.tenantsPerRegion, 'noisy');
  const noisy = (await signUpTenants(gateway, [opts.noisyRegion], 1, 'noisy-flood'))[0]!;
  const budget = LOCAL_TENANT_RATE_LIMITS.api.tenant;
  const busyRps = (BUSY_SHARE * budget.limit) / budget.period;
  opts.log(`${others.length} tenants + 1 noisy tenant in ${opts.noisyRegion}; ${opts.phases} phases of ${opts.durationMs / opts.phases} ms, cycling ${CONDITIONS.join(', ')}`);

  const flooder = new Worker(new URL('./noisy-flood.ts', import.meta.url), {
    workerData: { gatewayUrl: gateway, token: noisy.token, concurrency: opts.noisyConcurrency } satisfies FloodSetup,
  });
  const client = loadClient();
  const counts: Record<'busy' | 'flood', FloodCounts[]> = { busy: [], flood: [] };
  const cpuSeconds: Record<Condition, Partial<Record<Role, number>>> = { quiet: {}, busy: {}, flood: {} };
  const loopDelayMax: Record<Condition, number[]> = { quiet: [], busy: [], flood: [] };
  const loopDelay = monitorEventLoopDelay({ resolution: LOOP_DELAY_RESOLUTION_MS });
  loopDelay.enable();
  const samples: Sample[] = [];
  let cond: Condition | 'warmup' = 'warmup';
  let phaseIndex = -1;
  let phaseStart = performance.now();
  let stopped = false;

  const oneRequest = async (t: Tenant, i: number): Promise<void> => {
    const auth = { authorization: `Bearer ${t.token}` };
    const startedIn = cond;
    const phase = phaseIndex;
    const inPhaseMs = performance.now() - phaseStart;
    // Reads through both paths and some writes: forwarded to the region's app, or queried directly.
    const path: PathKind = i % 5 === 4 ? 'write' : i % 2 === 0 ? 'api' : 'data';
    const t0 = performance.now();
    let status = 0;
    let code = '';
    let timing: string | undefined;
    try {
      const res =
        path === 'write' ? await client.request(`${gateway}/api/pages`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ title: `${t.id}|${i}`, body: 'noisy run' }) })
        : path === 'api' ? await client.request(`${gateway}/api/pages?limit=5`, { headers: auth })
        : await client.request(`${gateway}/data/pages?limit=5`, { headers: auth });
      status = res.status;
      timing = res.header('server-timing');
      if (status < 200 || status >= 300) code = (JSON.parse(res.text) as { error?: { code?: string } }).error?.code ?? 'unknown';
    } catch (err) {
      code = `network ${(err as Error).message}`;
    }
    samples.push({ cond: startedIn, phase, inPhaseMs, tenant: t.id, region: t.region, path, ms: performance.now() - t0, status, code, gatewayMs: serverTimingDur(timing, 'total'), upstreamMs: serverTimingDur(timing, 'upstream') });
  };

  // Open loop: each tenant starts a request every 1/rps seconds (offset so tenants do not align).
  const interval = 1000 / opts.perTenantRps;
  const pending = new Set<Promise<void>>();
  const clients = others.map(async (t, k) => {
    await sleep((interval * k) / others.length);
    let next = performance.now();
    for (let i = 0; !stopped; i++) {
      const p = oneRequest(t, i).finally(() => pending.delete(p));
      pending.add(p);
      next += interval;
      await sleep(Math.max(0, next - performance.now()));
    }
  });

  const phaseMs = opts.durationMs / opts.phases;
  // An unmeasured flood first, as the other tenants' clients send before the phases: so that the
  // first flood phase is not also the first time this isolate runs the pace's waits, the held
  // refusals and the 429 and 503 answers (compiled on first use), a one-time cost a flood phase
  // would otherwise carry alone.
  const warmed = new Promise<FloodCounts>((resolve) => flooder.once('message', resolve));
  flooder.postMessage({ until: Date.now() + WARMUP_FLOOD_MS, rps: opts.noisyRps } satisfies FloodOrder);
  const warm = await warmed;
  opts.log(`warm-up flood (not measured): ${warm.requests} requests, ${Object.entries(warm.statuses).map(([k, n]) => `${n} × ${k}`).join(', ')}`);
  // Phases start on a rate-limit window boundary (the binding's windows are aligned to the clock),
  // so a 10 s flood phase meets exactly one window's budget; the first one at least SETTLE_MS after
  // the warm-up, when its paced waits and held refusals are over. Requests sent until then are not measured.
  const period = budget.period * 1000;
  const toBoundary = period - (Date.now() % period);
  await sleep(toBoundary < SETTLE_MS ? toBoundary + period : toBoundary);
  const startedAt = new Date().toISOString();
  for (let p = 0; p < opts.phases; p++) {
    cond = CONDITIONS[p % CONDITIONS.length]!;
    phaseIndex = p;
    phaseStart = performance.now();
    const cpuBefore = snapshotCpu(world.pid);
    loopDelay.reset();
    const machineBefore = snapshotMachine();
    if (cond === 'quiet') {
      await sleep(phaseMs);
    } else {
      const done = new Promise<FloodCounts>((resolve) => flooder.once('message', resolve));
      flooder.postMessage({ until: Date.now() + phaseMs, rps: cond === 'busy' ? busyRps : opts.noisyRps } satisfies FloodOrder);
      counts[cond].push(await done);
    }
    const ours = cpuSecondsBetween(cpuBefore, snapshotCpu(world.pid));
    addCpu(cpuSeconds[cond], { ...ours, ...machineSecondsBetween(machineBefore, snapshotMachine(), ours) });
    // The histogram holds whole intervals between its timer's runs: the hold-up is what exceeds the resolution.
    loopDelay.disable();
    loopDelayMax[cond].push(Math.max(0, loopDelay.max / 1e6 - LOOP_DELAY_RESOLUTION_MS));
    loopDelay.enable();
  }
  loopDelay.disable();
  cond = 'warmup';
  phaseIndex = -1;
  stopped = true;
  await Promise.all(clients);
  await Promise.all(pending);
  await flooder.terminate();
  client.close();

  // Every condition gets the same number of phases.
  const conditionSeconds = (phaseMs * (opts.phases / CONDITIONS.length)) / 1000;
  const cores = (c: Condition) => Object.fromEntries(Object.entries(cpuSeconds[c]).map(([role, s]) => [role, s / conditionSeconds]));
  const p99Of = (xs: readonly Sample[]) => percentile(xs.map((s) => s.ms).sort((a, b) => a - b), 0.99);
  const stats = (c: Condition): ConditionStats => {
    const mine = samples.filter((s) => s.cond === c);
    const ok = mine.filter((s) => s.status >= 200 && s.status < 300).sort((a, b) => a.ms - b.ms);
    const sorted = ok.map((s) => s.ms);
    const slowest = ok.slice(ok.length - Math.ceil(ok.length / 100));
    const errors: Record<string, number> = {};
    for (const s of mine) if (!(s.status >= 200 && s.status < 300)) errors[`${s.status} ${s.code}`] = (errors[`${s.status} ${s.code}`] ?? 0) + 1;
    const perTenant = new Map<string, number>();
    for (const s of mine) perTenant.set(s.tenant, (perTenant.get(s.tenant) ?? 0) + 1);
    return {
      requests: mine.length,
      served: ok.length,
      successRate: mine.length ? ok.length / mine.length : 0,
      p50Ms: percentile(sorted, 0.5),
      p99Ms: percentile(sorted, 0.99),
      p99ByPath: { api: p99Of(ok.filter((s) => s.path === 'api')), data: p99Of(ok.filter((s) => s.path === 'data')), write: p99Of(ok.filter((s) => s.path === 'write')) },
      errors,
      maxTenantRps: Math.max(0, ...perTenant.values()) / conditionSeconds,
      p99ByRegion: { noisyRegion: p99Of(ok.filter((s) => s.region === opts.noisyRegion)), otherRegions: p99Of(ok.filter((s) => s.region !== opts.noisyRegion)) },
      slowestInFirstSecond: { count: slowest.filter((s) => s.inPhaseMs < 1000).length, of: slowest.length },
      p99ByPhase: [...new Set(mine.map((s) => s.phase))].sort((a, b) => a - b).map((p) => p99Of(ok.filter((s) => s.phase === p))),
      slowestPhase: slowestPhase(ok),
      slowestSplit: {
        gatewayMs: medianOf(slowest.map((s) => s.gatewayMs)),
        upstreamMs: medianOf(slowest.map((s) => s.upstreamMs)),
        outsideMs: medianOf(slowest.map((s) => (s.gatewayMs === null ? null : s.ms - s.gatewayMs))),
      },
    };
  };
  const report: NoisyReport = {
    startedAt,
    durationMs: opts.durationMs,
    phases: opts.phases,
    tenants: others.length,
    perTenantRps: opts.perTenantRps,
    noisyRegion: opts.noisyRegion,
    noisyRps: opts.noisyRps,
    busyRps,
    budgetRps: budget.limit / budget.period,
    limit: `api ${budget.limit} per ${budget.period} s per tenant`,
    others: { quiet: stats('quiet'), busy: stats('busy'), flood: stats('flood') },
    noisy: totals(counts.flood),
    control: totals(counts.busy),
    maxInFlight: opts.maxInFlight,
    noisyConcurrency: opts.noisyConcurrency,
    pacing: opts.pacing ?? JSON.stringify(LOCAL_TENANT_PACING),
    databases: opts.db === 'postgres' ? `PostgreSQL at ${new URL(opts.pgUrl).host}, the data Workers ${opts.dataPool ? 'through the local pool' : 'straight to the server'}` : 'PGlite',
    loadAverage: loadavg().map((x) => Math.round(x * 100) / 100),
    cpuCores: { quiet: cores('quiet'), busy: cores('busy'), flood: cores('flood') },
    clientLoopDelayMaxMs: loopDelayMax,
    cores: availableParallelism(),
    violations: [],
  };
  report.violations = noisyViolations(report);
  return report;
}

const ms = (v: number | null) => (v === null ? '-' : `${v.toFixed(1)} ms`);
const statusList = (c: NoisyCounts) => Object.entries(c.statuses).map(([k, n]) => `${n} × ${k}`).join(', ');

/**
 * From this much CPU outside the run (the rest of the machine, or steal) in a condition, the report
 * calls the run disturbed: on the 2-core development machine, undisturbed runs showed at most 0.04.
 */
export const DISTURBED_CORES = 0.05;

/** Cores used per process, per condition: what the noisy tenant's traffic costs the machine, and where. */
export function formatCpu(r: Pick<NoisyReport, 'cpuCores' | 'cores'>): string {
  const cores = (c: Condition, role?: Role) => (role ? (r.cpuCores[c][role] ?? 0) : PROCESS_ROLES.reduce((n, o) => n + (r.cpuCores[c][o] ?? 0), 0)).toFixed(2);
  const line = (role: Role) => `  ${role}: ${CONDITIONS.map((c) => cores(c, role)).join(' / ')}`;
  const used = (roles: readonly Role[]) => roles.filter((role) => CONDITIONS.some((c) => Math.abs(r.cpuCores[c][role] ?? 0) >= 0.005));
  const disturbed = MACHINE_ROLES.filter((role) => CONDITIONS.some((c) => (r.cpuCores[c][role] ?? 0) >= DISTURBED_CORES));
  return [
    `CPU by process, in cores (quiet / busy / flood; this machine has ${r.cores}):`,
    ...used(PROCESS_ROLES).map(line),
    `  all of them: ${CONDITIONS.map((c) => cores(c)).join(' / ')}`,
    ...used(MACHINE_ROLES).map(line),
    ...(disturbed.length ? [`  a disturbed run: ${disturbed.join(' and ')} took ${DISTURBED_CORES} cores or more in a condition, which the conditions' latencies include`] : []),
  ].join('\n');
}

/** The comparison table the CLI prints (and the README shows). */
export function formatNoisyReport(r: NoisyReport): string {
  const flood = r.noisyRps > 0 ? `${r.noisyRps} req/s` : 'as fast as its connections allow';
  const lines = [
    `noisy neighbour: ${r.tenants} tenants at ${r.perTenantRps} req/s each in all regions, 1 noisy tenant in ${r.noisyRegion} (busy: ${r.busyRps.toFixed(0)} req/s, paced; flood: ${flood}, ${r.noisyConcurrency} connections); ${r.durationMs / 1000} s in ${r.phases} phases cycling ${CONDITIONS.join(', ')}; limit ${r.limit}, pacing ${r.pacing}, in-flight bound ${r.maxInFlight}; databases: ${r.databases}; started ${r.startedAt}; load average ${r.loadAverage.join(' ')}`,
    '',
    '| other tenants | requests | success | p50 | p99 | p99 api / data / write | 429 / 503 |',
    '|---|---|---|---|---|---|---|',
  ];
  for (const cond of CONDITIONS) {
    const s = r.others[cond];
    const bad = Object.entries(s.errors).filter(([k]) => k.startsWith('429') || k.startsWith('503')).reduce((n, [, c]) => n + c, 0);
    const byPath = `${ms(s.p99ByPath.api)} / ${ms(s.p99ByPath.data)} / ${ms(s.p99ByPath.write)}`;
    lines.push(`| ${CONDITION_LABEL[cond]} | ${s.requests} | ${(s.successRate * 100).toFixed(2)} % | ${ms(s.p50Ms)} | ${ms(s.p99Ms)} | ${byPath} | ${bad} |`);
  }
  lines.push('', `p99 in ${r.noisyRegion} (the noisy tenant's region) / in the other regions: ${CONDITIONS.map((c) => `${c} ${ms(r.others[c].p99ByRegion.noisyRegion)} / ${ms(r.others[c].p99ByRegion.otherRegions)}`).join(', ')}`);
  const phaseSeconds = r.durationMs / r.phases / 1000;
  lines.push('', `slowest 1 % sent in the first second of a ${phaseSeconds} s phase (${(100 / phaseSeconds).toFixed(0)} % of the time): ${CONDITIONS.map((c) => `${c} ${r.others[c].slowestInFirstSecond.count} of ${r.others[c].slowestInFirstSecond.of}`).join(', ')}`);
  const inOnePhase = (c: Condition) => {
    const sp = r.others[c].slowestPhase;
    return sp ? `${c} ${sp.count} of ${sp.of} (phase ${sp.phase + 1} of ${r.phases}, ${sp.phase * phaseSeconds}–${(sp.phase + 1) * phaseSeconds} s in)` : `${c} -`;
  };
  lines.push(`the slowest 1 %'s largest share in one phase (of ${r.phases / CONDITIONS.length} per condition; most of it in one phase is a transient, not a steady cost): ${CONDITIONS.map(inOnePhase).join(', ')}`);
  lines.push(`p99 of each phase, in order (ms): ${CONDITIONS.map((c) => `${c} ${r.others[c].p99ByPhase.map((v) => (v === null ? '-' : v.toFixed(0))).join(' ')}`).join('; ')}`);
  const split = (c: Condition) => {
    const x = r.others[c].slowestSplit;
    return `${c} ${ms(x.gatewayMs)} (upstream ${ms(x.upstreamMs)}) / ${ms(x.outsideMs)}`;
  };
  lines.push(`the slowest 1 %, medians: in the gateway by its Server-Timing (of it upstream) / outside it (wrangler's dev proxy, loopback, the clients): ${CONDITIONS.map(split).join('; ')}`);
  lines.push(`the clients' event loop, longest hold-up in each phase, in order (ms; a request answered meanwhile is timed that much late): ${CONDITIONS.map((c) => `${c} ${r.clientLoopDelayMaxMs[c].map((v) => v.toFixed(0)).join(' ')}`).join('; ')}`);
  lines.push('', formatCpu(r));
  const q = r.others.quiet.p99Ms;
  const b = r.others.busy.p99Ms;
  const f = r.others.flood.p99Ms;
  lines.push('');
  if (q !== null) lines.push(`p99 allowed with the flood: ${allowedP99(q).toFixed(1)} ms (20 % or 5 ms over ${q.toFixed(1)} ms, whichever is larger)`);
  if (b !== null && f !== null) lines.push(`flood against the same tenant within its budget (what the flood cost beyond its admitted share): p99 ${f >= b ? '+' : ''}${(f - b).toFixed(1)} ms (${ms(b)} → ${ms(f)})`);
  lines.push(`noisy tenant flooding: ${r.noisy.requests} requests (${r.noisy.rps.toFixed(0)} req/s, ${r.noisy.servedRps.toFixed(1)} served/s against a budget of ${r.budgetRps}/s, median ${ms(r.noisy.p50Ms)}): ${statusList(r.noisy)}; 429s: ${r.noisy.limited}, 503 tenant_busy: ${r.noisy.busy}; connections opened: ${r.noisy.connectionsOpened}`);
  lines.push(`noisy tenant within its budget: ${r.control.requests} requests (${r.control.rps.toFixed(0)} req/s, median ${ms(r.control.p50Ms)}): ${statusList(r.control)}; connections opened: ${r.control.connectionsOpened}`);
  const otherErrors = CONDITIONS.filter((c) => Object.keys(r.others[c].errors).length);
  if (otherErrors.length) lines.push(`other tenants' non-2xx answers: ${otherErrors.map((c) => `${c} ${JSON.stringify(r.others[c].errors)}`).join(', ')}`);
  lines.push(r.violations.length ? `TARGETS MISSED (${r.violations.length}):\n  ${r.violations.join('\n  ')}` : 'targets met: no 429/503 for the other tenants, their p99 within bounds, the noisy tenant limited');
  return lines.join('\n');
}

/** `--db`: where the world's databases run. */
export function dbArg(v: string): NoisyOptions['db'] {
  if (v === 'postgres' || v === 'pglite') return v;
  throw new NoisyOptionError(`--db must be "postgres" (the default: LOCAL_PG_URL, else ${DEFAULT_LOCAL_PG_URL}) or "pglite" (got ${JSON.stringify(v)})`);
}

function onOff(name: string, v: string): boolean {
  if (v === 'on' || v === 'off') return v === 'on';
  throw new NoisyOptionError(`--${name} must be "on" or "off" (got ${JSON.stringify(v)})`);
}

/** `--pacing`, checked with the gateway's own schema: a bad value would otherwise fail every request of the run with 500 config_invalid. */
export function pacingArg(v: string): string {
  const r = trafficLimitEnvFields.TENANT_PACING.safeParse(v);
  if (!r.success) throw new NoisyOptionError(`--pacing must be "off" or {"burst": 0 < x ≤ 1, "maxWaitMs": 0–10000} as JSON (got ${JSON.stringify(v)}): ${r.error.issues.map((i) => i.message).join('; ')}`);
  return v;
}

/**
 * `npm run load -- --noisy [--db postgres|pglite --data-pool on|off --duration 180 --phases 18 --tenants-per-region 3 --rps 2
 * --noisy-rps 0 --noisy-concurrency 8 --max-in-flight 4 --pacing off|<json> --json]`; returns the exit
 * code: 0 targets met, 1 missed, 2 a bad option or no PostgreSQL to run on.
 */
export async function noisyCli(args: string[]): Promise<number> {
  try {
    return await noisyCliRun(args);
  } catch (err) {
    // parseArgs's own errors (an unknown option, a missing value) are bad options too.
    if (!(err instanceof NoisyOptionError || String((err as { code?: unknown }).code).startsWith('ERR_PARSE_ARGS'))) throw err;
    console.error(`npm run load -- --noisy: ${(err as Error).message}`);
    return 2;
  }
}

async function noisyCliRun(args: string[]): Promise<number> {
  const { parseArgs } = await import('node:util');
  const { values } = parseArgs({
    args,
    options: {
      duration: { type: 'string', default: String(NOISY_DEFAULTS.durationMs / 1000) },
      phases: { type: 'string', default: String(NOISY_DEFAULTS.phases) },
      'tenants-per-region': { type: 'string', default: String(NOISY_DEFAULTS.tenantsPerRegion) },
      rps: { type: 'string', default: String(NOISY_DEFAULTS.perTenantRps) },
      'noisy-rps': { type: 'string', default: String(NOISY_DEFAULTS.noisyRps) },
      'noisy-concurrency': { type: 'string', default: String(NOISY_DEFAULTS.noisyConcurrency) },
      'noisy-region': { type: 'string', default: NOISY_DEFAULTS.noisyRegion },
      'max-in-flight': { type: 'string', default: String(NOISY_DEFAULTS.maxInFlight) },
      pacing: { type: 'string' },
      db: { type: 'string', default: NOISY_DEFAULTS.db },
      'data-pool': { type: 'string', default: 'on' },
      json: { type: 'boolean', default: false },
    },
  });
  const number = (name: string, v: string | undefined, min: 'positive' | 'non-negative') => {
    const n = Number(v);
    if (v === undefined || v.trim() === '' || !Number.isFinite(n) || n < 0 || (min === 'positive' && n === 0)) throw new NoisyOptionError(`--${name} must be a ${min} number (got ${JSON.stringify(v)})`);
    return n;
  };
  const report = await runNoisy({
    durationMs: number('duration', values.duration, 'positive') * 1000,
    phases: Math.floor(number('phases', values.phases, 'positive')),
    tenantsPerRegion: Math.floor(number('tenants-per-region', values['tenants-per-region'], 'positive')),
    perTenantRps: number('rps', values.rps, 'positive'),
    noisyRps: number('noisy-rps', values['noisy-rps'], 'non-negative'),
    noisyConcurrency: Math.floor(number('noisy-concurrency', values['noisy-concurrency'], 'positive')),
    noisyRegion: values['noisy-region']!,
    maxInFlight: Math.floor(number('max-in-flight', values['max-in-flight'], 'positive')),
    pacing: values.pacing === undefined ? null : pacingArg(values.pacing),
    db: dbArg(values.db!),
    dataPool: onOff('data-pool', values['data-pool']!),
    log: (m) => console.error(`[load --noisy] ${m}`),
  });
  console.log(values.json ? JSON.stringify(report, null, 2) : formatNoisyReport(report));
  return report.violations.length ? 1 : 0;
}
