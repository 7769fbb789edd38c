/**
 * Part 1, the forwarding path: the gateway next to the platform's limit (a bare
 * pass-through Worker in the same workerd), the obvious peer on the same platform
 * (hono + jose, no cache) and a native peer (HAProxy jwt_verify), all sending to the
 * same native origin with the same token. Rounds are interleaved (the order rotates
 * each round) and every number reported is a median over rounds.
 */
import { cpuNs, median, type Child } from './lib/proc.ts';
import { runWrk, type WrkResult } from './lib/wrk.ts';

export interface Target {
  name: string;
  label: string;
  url: string;
  /** The process whose CPU time counts for this target. */
  server: Child;
}

export interface ForwardingOptions {
  token: string;
  rounds: number;
  durationSeconds: number;
  /** Connections for the saturation (throughput) run. */
  connections: number;
  /** Fixed request rate for the latency run. */
  rate: number;
  clientCpus?: string;
  log: (s: string) => void;
}

export interface TargetResult {
  name: string;
  label: string;
  rps: number;
  p50_us: number;
  p99_us: number;
  fixedRps: number;
  cpuUsPerRequest: number;
  /** Paired with the pass-through's run of the same round, then the median over rounds (robust to drift). */
  vsPassthrough: { rpsRatio: number; p50AddedUs: number; p99AddedUs: number; cpuRatio: number; capacityRatio: number };
  /** Requests served per second of server CPU at saturation: throughput with the machine's other load taken out. */
  reqPerCpuSecond: number;
  rounds: Array<{ throughput: WrkResult; fixed: WrkResult; cpuUsPerRequest: number; saturatedCpuUs: number }>;
}

const FIXED_CONNECTIONS = 4;

function assertClean(t: Target, r: WrkResult, what: string): void {
  const errors = r.non2xx + r.connect + r.read + r.write + r.timeout;
  // A target that answers 401/5xx would look fast: such a run is an error, never a number.
  if (errors > 0 || r.requests === 0) {
    throw new Error(`${t.name} ${what}: ${r.requests} requests, ${r.non2xx} non-2xx, socket errors c/r/w/t ${r.connect}/${r.read}/${r.write}/${r.timeout}`);
  }
}

export async function benchForwarding(targets: Target[], o: ForwardingOptions): Promise<TargetResult[]> {
  const paceMs = Math.max(1, Math.round((FIXED_CONNECTIONS * 1000) / o.rate));
  const per = new Map(targets.map((t) => [t.name, [] as TargetResult['rounds']]));
  for (let round = 0; round < o.rounds; round++) {
    const order = targets.map((_, i) => targets[(i + round) % targets.length]!);
    for (const t of order) {
      // Warm-up: isolates loaded, connections pooled, JIT settled.
      assertClean(t, await runWrk({ url: t.url, token: o.token, connections: FIXED_CONNECTIONS, durationSeconds: 1, cpus: o.clientCpus }), 'warm-up');
      const pid = t.server.proc.pid!;
      const satBefore = cpuNs(pid);
      const throughput = await runWrk({ url: t.url, token: o.token, connections: o.connections, durationSeconds: o.durationSeconds, cpus: o.clientCpus });
      const saturatedCpuUs = (cpuNs(pid) - satBefore) / 1000 / throughput.requests;
      assertClean(t, throughput, 'throughput');
      const cpuBefore = cpuNs(pid);
      const fixed = await runWrk({ url: t.url, token: o.token, connections: FIXED_CONNECTIONS, durationSeconds: o.durationSeconds, paceMs, cpus: o.clientCpus });
      const cpuUsPerRequest = (cpuNs(pid) - cpuBefore) / 1000 / fixed.requests;
      assertClean(t, fixed, 'fixed rate');
      per.get(t.name)!.push({ throughput, fixed, cpuUsPerRequest, saturatedCpuUs });
      o.log(
        `  round ${round + 1}/${o.rounds} ${t.name.padEnd(16)} ${throughput.rps.toFixed(0).padStart(7)} req/s (${(1e6 / saturatedCpuUs).toFixed(0)} per CPU-s) | at ${fixed.rps.toFixed(0)} req/s: p50 ${(fixed.p50_us / 1000).toFixed(3)} ms p99 ${(fixed.p99_us / 1000).toFixed(3)} ms, CPU ${cpuUsPerRequest.toFixed(0)} µs/req`,
      );
    }
  }
  const base = per.get('passthrough');
  return targets.map((t) => {
    const rs = per.get(t.name)!;
    const paired = (f: (r: TargetResult['rounds'][number], b: TargetResult['rounds'][number]) => number) =>
      base ? median(rs.map((r, i) => f(r, base[i]!))) : NaN;
    return {
      vsPassthrough: {
        rpsRatio: paired((r, b) => r.throughput.rps / b.throughput.rps),
        p50AddedUs: paired((r, b) => r.fixed.p50_us - b.fixed.p50_us),
        p99AddedUs: paired((r, b) => r.fixed.p99_us - b.fixed.p99_us),
        cpuRatio: paired((r, b) => r.cpuUsPerRequest / b.cpuUsPerRequest),
        capacityRatio: paired((r, b) => b.saturatedCpuUs / r.saturatedCpuUs),
      },
      reqPerCpuSecond: median(rs.map((r) => 1e6 / r.saturatedCpuUs)),
      name: t.name,
      label: t.label,
      rps: median(rs.map((r) => r.throughput.rps)),
      p50_us: median(rs.map((r) => r.fixed.p50_us)),
      p99_us: median(rs.map((r) => r.fixed.p99_us)),
      fixedRps: median(rs.map((r) => r.fixed.rps)),
      cpuUsPerRequest: median(rs.map((r) => r.cpuUsPerRequest)),
      rounds: rs,
    };
  });
}
