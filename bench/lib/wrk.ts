/** Runs wrk (Debian's `wrk` package) with bench/lib/wrk-report.lua and parses its JSON line. */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { HAS_TASKSET } from './proc.ts';

const SCRIPT = fileURLToPath(new URL('./wrk-report.lua', import.meta.url));

export interface WrkResult {
  requests: number;
  duration_us: number;
  non2xx: number;
  connect: number;
  read: number;
  write: number;
  timeout: number;
  p50_us: number;
  p90_us: number;
  p99_us: number;
  p999_us: number;
  max_us: number;
  mean_us: number;
  rps: number;
}

export interface WrkOptions {
  url: string;
  token?: string;
  path?: string;
  connections: number;
  durationSeconds: number;
  /** Per-connection pause between requests, for a fixed rate below saturation. */
  paceMs?: number;
  cpus?: string;
}

export function runWrk(o: WrkOptions): Promise<WrkResult> {
  const args = ['-t1', `-c${o.connections}`, `-d${o.durationSeconds}s`, '--timeout', '5s', '-s', SCRIPT, o.url];
  const [file, argv] = o.cpus && HAS_TASKSET ? ['taskset', ['-c', o.cpus, 'wrk', ...args]] : ['wrk', args];
  return new Promise((resolve, reject) => {
    const p = spawn(file, argv, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, BENCH_TOKEN: o.token ?? '', BENCH_PACE_MS: String(o.paceMs ?? 0), BENCH_PATH: o.path ?? '/api/pages' },
    });
    let out = '';
    p.stdout.on('data', (b) => (out += b));
    p.stderr.on('data', (b) => (out += b));
    p.on('error', reject);
    p.on('exit', (code) => {
      const line = out.split('\n').find((l) => l.startsWith('BENCH_JSON '));
      if (code !== 0 || !line) return reject(new Error(`wrk failed (${code}): ${out.slice(-2000)}`));
      const r = JSON.parse(line.slice('BENCH_JSON '.length)) as WrkResult;
      r.rps = r.requests / (r.duration_us / 1e6);
      resolve(r);
    });
  });
}
