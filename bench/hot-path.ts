/**
 * The hot path inside workerd (bench/workers/hot-path.ts), measured as CPU time.
 *
 * Part 2, token work: CPU time per verification in workerd, with the gateway's own
 * verifier and cache, cold (a token the cache has not seen: full signature check plus
 * insert) and warm (a cache hit), per algorithm the gateway supports. Clocks inside a
 * Worker stand still during a request, so the CPU time is read from /proc for the
 * (pinned) workerd process around each batch, minus an empty batch of the same size.
 */
import { cpuNs, median, type Child } from './lib/proc.ts';
import { runWrk } from './lib/wrk.ts';

export const TOKEN_ALGS = ['ES256', 'ES384', 'EdDSA', 'RS256', 'PS256'];

export interface TokenCpuResult {
  alg: string;
  coldUs: number;
  warmUs: number;
}

async function timed(url: string, pid: number): Promise<number> {
  const before = cpuNs(pid);
  const res = await fetch(url);
  const body = await res.text();
  if (!res.ok) throw new Error(`${url}: ${res.status} ${body}`);
  return cpuNs(pid) - before;
}

export async function benchTokenCpu(base: string, workerd: Child, o: { perRun: number; rounds: number; log: (s: string) => void }): Promise<TokenCpuResult[]> {
  const pid = workerd.proc.pid!;
  const out: TokenCpuResult[] = [];
  for (const alg of TOKEN_ALGS) {
    const setup = await fetch(`${base}/setup?alg=${alg}&n=${o.perRun}`, { method: 'POST' });
    if (!setup.ok) throw new Error(`token-cpu setup ${alg}: ${setup.status} ${await setup.text()}`);
    // One untimed pass of each mode so every code path is compiled before it is timed.
    for (const mode of ['baseline', 'cold', 'warm']) await timed(`${base}/run?alg=${alg}&mode=${mode}`, pid);
    const cold: number[] = [];
    const warm: number[] = [];
    for (let r = 0; r < o.rounds; r++) {
      const baseline = await timed(`${base}/run?alg=${alg}&mode=baseline`, pid);
      cold.push((await timed(`${base}/run?alg=${alg}&mode=cold`, pid)) - baseline);
      warm.push((await timed(`${base}/run?alg=${alg}&mode=warm`, pid)) - baseline);
    }
    const row = { alg, coldUs: median(cold) / 1000 / o.perRun, warmUs: Math.max(0.01, median(warm) / 1000 / o.perRun) };
    o.log(`  ${alg.padEnd(6)} cold ${row.coldUs.toFixed(1)} µs, warm ${row.warmUs.toFixed(1)} µs per verification`);
    out.push(row);
  }
  return out;
}

/** The gateway's request path in cumulative stages (bench/workers/hot-path.ts serves each on GET /stage/<mode>). */
export const STAGES: Array<{ mode: string; label: string; /** measured against this stage; default: the one before */ base?: string }> = [
  { mode: 'fetch', label: 'bare fetch to the origin' },
  { mode: 'fetch-deadline-timer', label: '(bare fetch + the per-attempt deadline alone: AbortController, setTimeout/clearTimeout)', base: 'fetch' },
  { mode: 'headers', label: '+ header rewriting both ways, response re-wrapped', base: 'fetch' },
  { mode: 'forward', label: '+ forward(): request id, resilience (deadline timer, breaker), one response copy' },
  { mode: 'signed', label: '+ signed identity assertion (HMAC)' },
  { mode: 'verified', label: '+ extract, verify (cache hit), resolve tenant' },
  { mode: 'gateway', label: 'whole gateway (hono app: guard, runtime, observation and its log line), cache on' },
  { mode: 'gateway-nocache', label: 'whole gateway, cache off (ES256 verify each time)', base: 'gateway' },
];

export interface StageResult {
  mode: string;
  label: string;
  /** Server CPU per request at saturation (wrk against GET /stage/<mode>): median over rounds. */
  cpuUs: number;
  /** The lowest and highest round: the spread behind the median. */
  minUs: number;
  maxUs: number;
  /** Median over rounds of this stage minus the stage before it (see addedTo) in the same round. */
  addedUs: number | undefined;
  /** The stage this one adds to. */
  addedTo: string | undefined;
}

/** Which stage each one is measured against. */
function baseOf(i: number): string | undefined {
  return STAGES[i]!.base ?? STAGES[i - 1]?.mode;
}

/**
 * Each stage served on its own path and driven by wrk at saturation, CPU time read
 * from /proc: what every part of the request path costs under load.
 */
export async function benchStages(
  base: string,
  workerd: Child,
  o: { token: string; rounds: number; durationSeconds: number; clientCpus?: string; log: (s: string) => void },
): Promise<StageResult[]> {
  const pid = workerd.proc.pid!;
  const samples = new Map(STAGES.map((s) => [s.mode, [] as number[]]));
  for (let r = 0; r < o.rounds; r++) {
    // The order flips every round, so drift in the machine's load does not favour early or late stages.
    for (const s of r % 2 ? [...STAGES].reverse() : STAGES) {
      const path = `/stage/${s.mode}`;
      await runWrk({ url: base, path, token: o.token, connections: 8, durationSeconds: 1, cpus: o.clientCpus });
      const before = cpuNs(pid);
      const run = await runWrk({ url: base, path, token: o.token, connections: 32, durationSeconds: o.durationSeconds, cpus: o.clientCpus });
      if (run.non2xx + run.connect + run.read + run.write + run.timeout > 0 || run.requests === 0) throw new Error(`stage ${s.mode}: errors or no requests`);
      samples.get(s.mode)!.push((cpuNs(pid) - before) / 1000 / run.requests);
    }
  }
  const out = STAGES.map((s, i): StageResult => {
    const xs = samples.get(s.mode)!;
    const base = baseOf(i);
    const baseXs = base ? samples.get(base)! : undefined;
    return {
      ...s,
      cpuUs: median(xs),
      minUs: Math.min(...xs),
      maxUs: Math.max(...xs),
      // Paired: each round's difference, then the median (robust to a round that was slow throughout).
      addedUs: baseXs ? median(xs.map((x, r) => x - baseXs[r]!)) : undefined,
      addedTo: base,
    };
  });
  for (const s of out) o.log(`  ${s.cpuUs.toFixed(0).padStart(5)} µs/request [${s.minUs.toFixed(0)}–${s.maxUs.toFixed(0)}]  ${s.label}`);
  return out;
}
