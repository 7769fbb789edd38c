/** CPU by process: /proc's stat lines read right, roles told apart, real CPU time found in real descendants. */
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { parseStat } from '../gateway/process-group.ts';
import { formatCpu } from './noisy.ts';
import pg from 'pg';
import { PG_URL, realPgUnavailable } from '../controller/fixture.ts';
import { cpuSecondsBetween, machineSecondsBetween, parseProcStat, roleOf, snapshotCpu, snapshotMachine, type CpuSnapshot } from './process-cpu.ts';

const pgSkip = await realPgUnavailable();

describe('parseStat', () => {
  it('reads ppid, group and user + system ticks after a command name holding spaces and parens', () => {
    const line = '4242 (weird) name (x)) S 17 4242 4242 0 -1 4194560 500 0 0 0 123 45 0 0 20 0 1 0 99 1000 10';
    expect(parseStat(4242, line)).toEqual({ pid: 4242, ppid: 17, pgrp: 4242, comm: 'weird) name (x)', cpuTicks: 168, reapedChildTicks: 0 });
    // cutime + cstime: the CPU of its children that exited and were waited for.
    expect(parseStat(9, '9 (postgres) S 1 9 9 0 -1 4194560 500 0 0 0 10 5 700 42 20 0 1 0 99 1000 10')?.reapedChildTicks).toBe(742);
  });

  it('skips a zombie', () => {
    expect(parseStat(7, '7 (workerd) Z 1 7 7 0 -1 0 0 0 0 0 9 9 0 0 20 0 1 0 99 0 0')).toBeUndefined();
  });
});

describe('roleOf', () => {
  const pids = { world: 100, self: 200 };
  it("tells wrangler's two workerd processes apart by the inspector the Workers' one has", () => {
    expect(roleOf({ pid: 1, comm: 'workerd' }, 'workerd serve --binary --experimental --control-fd=3 - --inspector-addr=127.0.0.1:0', pids)).toBe('workerd: the Workers');
    expect(roleOf({ pid: 2, comm: 'workerd' }, 'workerd serve --binary --experimental --control-fd=3 -', pids)).toBe("workerd: wrangler's dev proxy");
  });

  it('names the world, this process, wrangler and its esbuild; anything else is other', () => {
    expect(roleOf({ pid: 100, comm: 'node' }, 'node infra/load/world-process.ts {}', pids)).toBe('world: apps, proxies, pools, PGlite (Node)');
    expect(roleOf({ pid: 200, comm: 'node' }, 'node infra/load/main.ts --noisy', pids)).toBe('load clients (Node)');
    expect(roleOf({ pid: 3, comm: 'node' }, 'node node_modules/wrangler/wrangler-dist/cli.js dev', pids)).toBe('wrangler (Node)');
    expect(roleOf({ pid: 4, comm: 'esbuild' }, 'esbuild --service=0.28.2 --ping', pids)).toBe("esbuild (wrangler's watch)");
    expect(roleOf({ pid: 5, comm: 'sh' }, 'sh -c true', pids)).toBe('other');
  });
});

it("counts the CPU a world's grandchild burns, and only between the two snapshots", async () => {
  // A shell (standing in for the world process) whose child spins for 400 ms of CPU, then sleeps.
  const script = 'const t = Date.now(); while (Date.now() - t < 400); setTimeout(() => {}, 5000);';
  const world = spawn('sh', ['-c', `"${process.execPath}" -e '${script}' & wait`], { stdio: 'ignore', detached: true });
  try {
    const before = snapshotCpu(world.pid!);
    await new Promise((r) => setTimeout(r, 1500));
    const after = snapshotCpu(world.pid!);
    // The spinning child is a descendant (found through its parent), not this process.
    const roles = [...after.values()].map((p) => p.role).filter((r) => r !== 'PostgreSQL (the server, exited backends included)');
    expect(roles.sort()).toEqual(['load clients (Node)', 'other', 'world: apps, proxies, pools, PGlite (Node)']);
    const spent = cpuSecondsBetween(before, after);
    expect(spent.other).toBeGreaterThanOrEqual(0.25);
    expect(spent.other).toBeLessThan(1);
    // Nothing spins now: the next interval is (almost) free.
    const later = snapshotCpu(world.pid!);
    expect(cpuSecondsBetween(after, later).other ?? 0).toBeLessThan(0.05);
  } finally {
    process.kill(-world.pid!, 'SIGKILL');
  }
});

describe('the PostgreSQL server', () => {
  const PG = 'PostgreSQL (the server, exited backends included)' as const;

  it("counts a backend that exited in between once: its time moved into the postmaster's reaped children", () => {
    // Backend 11 had spent 30 ticks by the first snapshot and 50 when it exited; backend 12 lived only in between (20 ticks).
    const before: CpuSnapshot = new Map([[10, { role: PG, ticks: 100 }], [11, { role: PG, ticks: 30, reaped: true }]]);
    const after: CpuSnapshot = new Map([[10, { role: PG, ticks: 100 + 50 + 20 }]]);
    expect(cpuSecondsBetween(before, after)[PG]).toBeCloseTo(0.4, 5);
  });

  it.skipIf(!!pgSkip)("finds the CPU of a real backend that ran a query and exited between two snapshots", async () => {
    const before = snapshotCpu(process.pid);
    const client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    // About half a second of one backend's CPU, then the connection closes and the backend exits.
    await client.query('SELECT count(*) FROM generate_series(1, 5000000)');
    await client.end();
    await new Promise((r) => setTimeout(r, 300));
    const spent = cpuSecondsBetween(before, snapshotCpu(process.pid))[PG] ?? 0;
    expect(spent).toBeGreaterThanOrEqual(0.15);
    expect(spent).toBeLessThan(5);
  });
});

describe('the rest of the machine', () => {
  it('reads busy (user, nice, system, irq, softirq) and steal ticks from /proc/stat, not idle or iowait', () => {
    expect(parseProcStat('cpu  100 2 30 5000 40 5 6 7 0 0\ncpu0 50 1 15 2500 20 2 3 3 0 0\n')).toEqual({ busy: 143, steal: 7 });
    expect(() => parseProcStat('intr 1 2 3\n')).toThrow(/no "cpu " line/);
  });

  it("is the machine's busy time less the run's processes, with the hypervisor's steal beside it", () => {
    const rest = machineSecondsBetween({ busy: 1000, steal: 10 }, { busy: 1300, steal: 35 }, { 'workerd: the Workers': 1.2, 'load clients (Node)': 0.3 });
    expect(rest['the rest of this machine']).toBeCloseTo(1.5, 5);
    expect(rest['stolen by the hypervisor']).toBeCloseTo(0.25, 5);
  });

  it('finds a process outside the run spinning', async () => {
    const before = snapshotMachine();
    const t = Date.now();
    while (Date.now() - t < 500);
    // This process spun, but the run's processes here are only a world that does not exist.
    const rest = machineSecondsBetween(before, snapshotMachine(), {})['the rest of this machine']!;
    expect(rest).toBeGreaterThanOrEqual(0.3);
  });
});

it('formatCpu: a line per process that used any CPU, and the total per condition', () => {
  const text = formatCpu({
    cores: 2,
    cpuCores: {
      quiet: { 'workerd: the Workers': 0.2, 'world: apps, proxies, pools, PGlite (Node)': 0.1 },
      busy: { 'workerd: the Workers': 0.4, 'world: apps, proxies, pools, PGlite (Node)': 0.25 },
      flood: { 'workerd: the Workers': 0.45, 'world: apps, proxies, pools, PGlite (Node)': 0.25, other: 0.001, 'the rest of this machine': 0.6 },
    },
  });
  expect(text).toBe(
    [
      'CPU by process, in cores (quiet / busy / flood; this machine has 2):',
      '  workerd: the Workers: 0.20 / 0.40 / 0.45',
      '  world: apps, proxies, pools, PGlite (Node): 0.10 / 0.25 / 0.25',
      '  all of them: 0.30 / 0.65 / 0.70',
      '  the rest of this machine: 0.00 / 0.00 / 0.60',
      '  a disturbed run: the rest of this machine took 0.05 cores or more in a condition, which the conditions\' latencies include',
    ].join('\n'),
  );
  // Below the threshold (and steal alike): listed, not called a disturbance.
  const quiet = formatCpu({ cores: 2, cpuCores: { quiet: { 'stolen by the hypervisor': 0.04 }, busy: {}, flood: {} } });
  expect(quiet).toContain('  stolen by the hypervisor: 0.04 / 0.00 / 0.00');
  expect(quiet).not.toContain('disturbed');
  expect(formatCpu({ cores: 2, cpuCores: { quiet: {}, busy: { 'stolen by the hypervisor': 0.07 }, flood: {} } })).toContain('a disturbed run: stolen by the hypervisor took');
});
