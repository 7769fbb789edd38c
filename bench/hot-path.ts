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
export const STAGES: Array<{ mode: string; label: string }> = [
  { mode: 'fetch', label: 'bare fetch to the origin' },
  { mode: 'headers', label: '+ header rewriting both ways, response re-wrapped' },
  { mode: 'forward', label: '+ forward(): target URL, request id, resilience (deadline timer, breaker)' },
  { mode: 'signed', label: '+ signed identity assertion (HMAC)' },
  { mode: 'verified', label: '+ extract, verify (cache hit), resolve tenant' },
  { mode: 'gateway', label: 'whole gateway (hono app, runtime), cache on' },
  { mode: 'gateway-nocache', label: 'whole gateway, cache off (ES256 verify each time)' },
];

export interface StageResult {
  mode: string;
  label: string;
  /** Server CPU per request at saturation (wrk against GET /stage/<mode>). */
  cpuUs: number;
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
    for (const s of STAGES) {
      const path = `/stage/${s.mode}`;
      await runWrk({ url: base, path, token: o.token, connections: 8, durationSeconds: 1, cpus: o.clientCpus });
      const before = cpuNs(pid);
      const run = await runWrk({ url: base, path, token: o.token, connections: 32, durationSeconds: o.durationSeconds, cpus: o.clientCpus });
      if (run.non2xx + run.connect + run.read + run.write + run.timeout > 0 || run.requests === 0) throw new Error(`stage ${s.mode}: errors or no requests`);
      samples.get(s.mode)!.push((cpuNs(pid) - before) / 1000 / run.requests);
    }
  }
  const out = STAGES.map((s) => ({ ...s, cpuUs: median(samples.get(s.mode)!) }));
  for (const s of out) o.log(`  ${s.cpuUs.toFixed(0).padStart(5)} µs/request  ${s.label}`);
  return out;
}
