/**
 * Part 2, token work: CPU time per verification in workerd, with the gateway's own
 * verifier and cache, cold (a token the cache has not seen: full signature check plus
 * insert) and warm (a cache hit), per algorithm the gateway supports. Clocks inside a
 * Worker stand still during a request, so the CPU time is read from /proc for the
 * (pinned) workerd process around each batch, minus an empty batch of the same size.
 */
import { cpuNs, median, type Child } from './lib/proc.ts';

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
