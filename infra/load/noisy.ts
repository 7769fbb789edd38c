/**
 * The noisy-neighbour run (`npm run load -- --noisy`): the usual clients of many tenants in every
 * region (paced, open loop: each tenant sends at a fixed rate whatever the answers take) while one
 * tenant floods GET /api/pages as fast as it can, in phases that alternate without and with the
 * flood in the same run (alternating, so drift on a shared machine lands in both). It reports, for
 * the other tenants, success rate and p50/p99 per condition, and the noisy tenant's 429s.
 *
 * Targets (violations → the CLI exits non-zero):
 *   - the other tenants get no 429 and no 503, with or without the flood;
 *   - their p99 with the flood is within 20 % (or 5 ms, whichever is larger) of their p99 without;
 *   - the noisy tenant is limited (429 with Retry-After and RateLimit fields once it is past its
 *     budget, 503 tenant_busy for connections past the in-flight bound) and sends at least ten
 *     times any other tenant's rate.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { LOCAL_TENANT_RATE_LIMITS, startWorld, type World } from '../world.ts';
import type { FloodCounts, FloodSetup } from './noisy-flood.ts';

export interface NoisyOptions {
  durationMs: number;
  /** Phases alternate quiet, flood, quiet, flood…; an even number, so both conditions get the same time. */
  phases: number;
  tenantsPerRegion: number;
  /** Requests per second of each other tenant (open loop). */
  perTenantRps: number;
  /** Connections the noisy tenant floods with. */
  noisyConcurrency: number;
  noisyRegion: string;
  /** The in-flight bound for this run: below the noisy tenant's connections, so 503 tenant_busy shows too. */
  maxInFlight: number;
  log: (msg: string) => void;
}

export const NOISY_DEFAULTS: NoisyOptions = {
  durationMs: 80_000,
  phases: 8,
  tenantsPerRegion: 3,
  perTenantRps: 2,
  noisyConcurrency: 8,
  noisyRegion: 'eu-central-1',
  maxInFlight: 4,
  log: () => {},
};

/** p99 target: within this fraction of the no-flood p99, or within the floor, whichever is larger. */
export const P99_TOLERANCE = 0.2;
export const P99_FLOOR_MS = 5;
/** The noisy tenant must send at least this many times any other tenant's rate. */
export const MIN_NOISE_FACTOR = 10;

type Condition = 'quiet' | 'flood';

export interface ConditionStats {
  requests: number;
  served: number;
  successRate: number;
  p50Ms: number | null;
  p99Ms: number | null;
  /** "<status> <code>" → count, for answers that were not 2xx. */
  errors: Record<string, number>;
  /** The busiest other tenant's requests per second. */
  maxTenantRps: number;
}

export interface NoisyReport {
  durationMs: number;
  phases: number;
  tenants: number;
  perTenantRps: number;
  noisyRegion: string;
  limit: string;
  others: Record<Condition, ConditionStats>;
  noisy: { requests: number; rps: number; statuses: Record<string, number>; limited: number; busy: number; limitedWithoutHeaders: number };
  maxInFlight: number;
  loadAverage: number[];
  violations: string[];
}

export function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

/** The verdicts, over what the run recorded (pure, so noisy.test.ts can show each one fires). */
export function noisyViolations(r: Pick<NoisyReport, 'others' | 'noisy'>): string[] {
  const out: string[] = [];
  for (const cond of ['quiet', 'flood'] as const) {
    for (const [k, n] of Object.entries(r.others[cond].errors)) {
      if (k.startsWith('429') || k.startsWith('503')) out.push(`other tenants got ${n} × ${k} (${cond})`);
    }
    if (r.others[cond].requests === 0) out.push(`no requests of the other tenants were measured (${cond})`);
  }
  const q = r.others.quiet.p99Ms;
  const f = r.others.flood.p99Ms;
  if (q !== null && f !== null) {
    const allowed = Math.max(q * (1 + P99_TOLERANCE), q + P99_FLOOR_MS);
    if (f > allowed) out.push(`other tenants' p99 with the flood ${f.toFixed(1)} ms > ${allowed.toFixed(1)} ms allowed (without: ${q.toFixed(1)} ms)`);
  }
  if (r.noisy.limited + r.noisy.busy === 0) out.push('the noisy tenant was never limited (no 429, no 503 tenant_busy)');
  if (r.noisy.limitedWithoutHeaders > 0) out.push(`${r.noisy.limitedWithoutHeaders} of the noisy tenant's 429s lacked Retry-After or RateLimit fields`);
  const maxOther = Math.max(r.others.quiet.maxTenantRps, r.others.flood.maxTenantRps);
  if (r.noisy.rps < MIN_NOISE_FACTOR * maxOther) out.push(`the noisy tenant sent ${r.noisy.rps.toFixed(0)} req/s, less than ${MIN_NOISE_FACTOR} × the busiest other tenant (${maxOther.toFixed(1)} req/s)`);
  return out;
}

interface Tenant {
  id: string;
  region: string;
  token: string;
}

interface Sample {
  cond: Condition;
  tenant: string;
  ms: number;
  status: number;
  code: string;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function runNoisy(partial: Partial<NoisyOptions> = {}): Promise<NoisyReport> {
  const opts: NoisyOptions = { ...NOISY_DEFAULTS, ...partial };
  if (opts.phases < 2 || opts.phases % 2 !== 0) throw new Error('--phases must be an even number ≥ 2');
  const sandboxDir = await mkdtemp(join(tmpdir(), 'etr-noisy-'));
  opts.log('starting the local world');
  const world: World = await startWorld({ sandboxDir, gatewayLogLevel: 'error', gatewayVars: { TENANT_MAX_IN_FLIGHT: String(opts.maxInFlight) } });
  try {
    return await drive(world, opts);
  } finally {
    opts.log('stopping the local world');
    await world.stop();
    await rm(sandboxDir, { recursive: true, force: true });
  }
}

async function signup(gateway: string, email: string, region: string): Promise<Tenant> {
  const res = await fetch(`${gateway}/auth/signup`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password: 'noisy-test-password', workspace: email, region }),
  });
  const body = (await res.json()) as { token?: string; tenant_id?: string };
  if (res.status !== 201 || !body.token || !body.tenant_id) throw new Error(`signup in ${region} failed: ${res.status} ${JSON.stringify(body)}`);
  return { id: body.tenant_id, region, token: body.token };
}

async function drive(world: World, opts: NoisyOptions): Promise<NoisyReport> {
  const gateway = world.gatewayUrl!;
  const regions = Object.keys(world.regions);
  if (!regions.includes(opts.noisyRegion)) throw new Error(`--noisy-region: ${opts.noisyRegion} is not a region of the world`);
  const runId = Date.now().toString(36);
  const others: Tenant[] = [];
  for (const region of regions) {
    for (let i = 0; i < opts.tenantsPerRegion; i++) others.push(await signup(gateway, `noisy-${runId}-${region}-${i}@example.test`, region));
  }
  const noisy = await signup(gateway, `noisy-${runId}-flood@example.test`, opts.noisyRegion);
  opts.log(`${others.length} tenants + 1 noisy tenant in ${opts.noisyRegion}; ${opts.phases} phases of ${opts.durationMs / opts.phases} ms, alternating without and with the flood`);

  const flooder = new Worker(new URL('./noisy-flood.ts', import.meta.url), {
    workerData: { gatewayUrl: gateway, token: noisy.token, concurrency: opts.noisyConcurrency } satisfies FloodSetup,
  });
  const floods: FloodCounts[] = [];
  const samples: Sample[] = [];
  let cond: Condition = 'quiet';
  let stopped = false;

  const oneRequest = async (t: Tenant, i: number): Promise<void> => {
    const auth = { authorization: `Bearer ${t.token}` };
    const startedIn = cond;
    const t0 = performance.now();
    let status = 0;
    let code = '';
    try {
      // Reads through both paths and some writes: forwarded to the region's app, or queried directly.
      const res =
        i % 5 === 4 ? await fetch(`${gateway}/api/pages`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ title: `${t.id}|${i}`, body: 'noisy run' }) })
        : i % 2 === 0 ? await fetch(`${gateway}/api/pages?limit=5`, { headers: auth })
        : await fetch(`${gateway}/data/pages?limit=5`, { headers: auth });
      status = res.status;
      const text = await res.text();
      if (!res.ok) code = (JSON.parse(text) as { error?: { code?: string } }).error?.code ?? 'unknown';
    } catch (err) {
      code = `network ${(err as Error).message}`;
    }
    samples.push({ cond: startedIn, tenant: t.id, ms: performance.now() - t0, status, code });
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
  // Phases start on a rate-limit window boundary (the binding's windows are aligned to the clock),
  // so a 10 s flood phase meets exactly one window's budget.
  const period = LOCAL_TENANT_RATE_LIMITS.api.tenant.period * 1000;
  await sleep(period - (Date.now() % period));
  for (let p = 0; p < opts.phases; p++) {
    cond = p % 2 === 0 ? 'quiet' : 'flood';
    if (cond === 'flood') {
      const done = new Promise<FloodCounts>((resolve) => flooder.once('message', resolve));
      flooder.postMessage({ floodUntil: Date.now() + phaseMs });
      floods.push(await done);
    } else {
      await sleep(phaseMs);
    }
  }
  stopped = true;
  await Promise.all(clients);
  await Promise.all(pending);
  await flooder.terminate();

  const stats = (c: Condition): ConditionStats => {
    const mine = samples.filter((s) => s.cond === c);
    const ok = mine.filter((s) => s.status >= 200 && s.status < 300);
    const sorted = ok.map((s) => s.ms).sort((a, b) => a - b);
    const errors: Record<string, number> = {};
    for (const s of mine) if (!(s.status >= 200 && s.status < 300)) errors[`${s.status} ${s.code}`] = (errors[`${s.status} ${s.code}`] ?? 0) + 1;
    const perTenant = new Map<string, number>();
    for (const s of mine) perTenant.set(s.tenant, (perTenant.get(s.tenant) ?? 0) + 1);
    const seconds = (phaseMs * (opts.phases / 2)) / 1000;
    return {
      requests: mine.length,
      served: ok.length,
      successRate: mine.length ? ok.length / mine.length : 0,
      p50Ms: percentile(sorted, 0.5),
      p99Ms: percentile(sorted, 0.99),
      errors,
      maxTenantRps: Math.max(0, ...perTenant.values()) / seconds,
    };
  };
  const statuses: Record<string, number> = {};
  let requests = 0;
  let elapsed = 0;
  let limitedWithoutHeaders = 0;
  for (const f of floods) {
    requests += f.requests;
    elapsed += f.elapsedMs;
    limitedWithoutHeaders += f.limitedWithoutHeaders;
    for (const [k, n] of Object.entries(f.statuses)) statuses[k] = (statuses[k] ?? 0) + n;
  }
  const report: NoisyReport = {
    durationMs: opts.durationMs,
    phases: opts.phases,
    tenants: others.length,
    perTenantRps: opts.perTenantRps,
    noisyRegion: opts.noisyRegion,
    limit: `api ${LOCAL_TENANT_RATE_LIMITS.api.tenant.limit} per ${LOCAL_TENANT_RATE_LIMITS.api.tenant.period} s per tenant`,
    others: { quiet: stats('quiet'), flood: stats('flood') },
    noisy: { requests, rps: elapsed > 0 ? (requests * 1000) / elapsed : 0, statuses, limited: statuses['429'] ?? 0, busy: statuses['503'] ?? 0, limitedWithoutHeaders },
    maxInFlight: opts.maxInFlight,
    loadAverage: loadavg().map((x) => Math.round(x * 100) / 100),
    violations: [],
  };
  report.violations = noisyViolations(report);
  return report;
}

const ms = (v: number | null) => (v === null ? '-' : `${v.toFixed(1)} ms`);

/** The comparison table the CLI prints (and the README shows). */
export function formatNoisyReport(r: NoisyReport): string {
  const lines = [
    `noisy neighbour: ${r.tenants} tenants at ${r.perTenantRps} req/s each in all regions, 1 noisy tenant in ${r.noisyRegion}; ${r.durationMs / 1000} s in ${r.phases} alternating phases; limit ${r.limit}, in-flight bound ${r.maxInFlight}; load average ${r.loadAverage.join(' ')}`,
    '',
    '| other tenants | requests | success | p50 | p99 | 429 / 503 |',
    '|---|---|---|---|---|---|',
  ];
  for (const cond of ['quiet', 'flood'] as const) {
    const s = r.others[cond];
    const bad = Object.entries(s.errors).filter(([k]) => k.startsWith('429') || k.startsWith('503')).reduce((n, [, c]) => n + c, 0);
    lines.push(`| ${cond === 'quiet' ? 'without the flood' : 'with the flood'} | ${s.requests} | ${(s.successRate * 100).toFixed(2)} % | ${ms(s.p50Ms)} | ${ms(s.p99Ms)} | ${bad} |`);
  }
  const q = r.others.quiet.p99Ms;
  lines.push('');
  if (q !== null) lines.push(`p99 allowed with the flood: ${Math.max(q * (1 + P99_TOLERANCE), q + P99_FLOOR_MS).toFixed(1)} ms (20 % or 5 ms over ${q.toFixed(1)} ms, whichever is larger)`);
  const statuses = Object.entries(r.noisy.statuses).map(([k, n]) => `${n} × ${k}`).join(', ');
  lines.push(`noisy tenant: ${r.noisy.requests} requests (${r.noisy.rps.toFixed(0)} req/s while flooding): ${statuses}; 429s: ${r.noisy.limited}, 503 tenant_busy: ${r.noisy.busy}`);
  const otherErrors = Object.entries({ ...r.others.quiet.errors, ...r.others.flood.errors });
  if (otherErrors.length) lines.push(`other tenants' non-2xx answers: quiet ${JSON.stringify(r.others.quiet.errors)}, flood ${JSON.stringify(r.others.flood.errors)}`);
  lines.push(r.violations.length ? `TARGETS MISSED (${r.violations.length}):\n  ${r.violations.join('\n  ')}` : 'targets met: no 429/503 for the other tenants, their p99 within bounds, the noisy tenant limited');
  return lines.join('\n');
}

/** `npm run load -- --noisy [--duration 80 --phases 8 --tenants-per-region 3 --rps 2 --noisy-concurrency 8 --max-in-flight 4 --json]`; returns the exit code. */
export async function noisyCli(args: string[]): Promise<number> {
  const { parseArgs } = await import('node:util');
  const { values } = parseArgs({
    args,
    options: {
      duration: { type: 'string', default: String(NOISY_DEFAULTS.durationMs / 1000) },
      phases: { type: 'string', default: String(NOISY_DEFAULTS.phases) },
      'tenants-per-region': { type: 'string', default: String(NOISY_DEFAULTS.tenantsPerRegion) },
      rps: { type: 'string', default: String(NOISY_DEFAULTS.perTenantRps) },
      'noisy-concurrency': { type: 'string', default: String(NOISY_DEFAULTS.noisyConcurrency) },
      'noisy-region': { type: 'string', default: NOISY_DEFAULTS.noisyRegion },
      'max-in-flight': { type: 'string', default: String(NOISY_DEFAULTS.maxInFlight) },
      json: { type: 'boolean', default: false },
    },
  });
  const positive = (name: string, v: string | undefined) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number`);
    return n;
  };
  const report = await runNoisy({
    durationMs: positive('duration', values.duration) * 1000,
    phases: Math.floor(positive('phases', values.phases)),
    tenantsPerRegion: Math.floor(positive('tenants-per-region', values['tenants-per-region'])),
    perTenantRps: positive('rps', values.rps),
    noisyConcurrency: Math.floor(positive('noisy-concurrency', values['noisy-concurrency'])),
    noisyRegion: values['noisy-region']!,
    maxInFlight: Math.floor(positive('max-in-flight', values['max-in-flight'])),
    log: (m) => console.error(`[load --noisy] ${m}`),
  });
  console.log(values.json ? JSON.stringify(report, null, 2) : formatNoisyReport(report));
  return report.violations.length ? 1 : 0;
}
