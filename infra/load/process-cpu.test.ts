/** CPU by process: /proc's stat lines read right, roles told apart, real CPU time found in real descendants. */
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { parseStat } from '../gateway/process-group.ts';
import { formatCpu } from './noisy.ts';
import { cpuSecondsBetween, roleOf, snapshotCpu } from './process-cpu.ts';

describe('parseStat', () => {
  it('reads ppid, group and user + system ticks after a command name holding spaces and parens', () => {
    const line = '4242 (weird) name (x)) S 17 4242 4242 0 -1 4194560 500 0 0 0 123 45 0 0 20 0 1 0 99 1000 10';
    expect(parseStat(4242, line)).toEqual({ pid: 4242, ppid: 17, pgrp: 4242, comm: 'weird) name (x)', cpuTicks: 168 });
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
    expect(roleOf({ pid: 100, comm: 'node' }, 'node infra/load/world-process.ts {}', pids)).toBe('world: apps and PGlite (Node)');
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
    expect([...after.values()].map((p) => p.role).sort()).toEqual(['load clients (Node)', 'other', 'world: apps and PGlite (Node)']);
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

it('formatCpu: a line per process that used any CPU, and the total per condition', () => {
  const text = formatCpu({
    cores: 2,
    cpuCores: {
      quiet: { 'workerd: the Workers': 0.2, 'world: apps and PGlite (Node)': 0.1 },
      busy: { 'workerd: the Workers': 0.4, 'world: apps and PGlite (Node)': 0.25 },
      flood: { 'workerd: the Workers': 0.45, 'world: apps and PGlite (Node)': 0.25, other: 0.001 },
    },
  });
  expect(text).toBe(
    [
      'CPU by process, in cores (quiet / busy / flood; this machine has 2):',
      '  workerd: the Workers: 0.20 / 0.40 / 0.45',
      '  world: apps and PGlite (Node): 0.10 / 0.25 / 0.25',
      '  all of them: 0.30 / 0.65 / 0.70',
    ].join('\n'),
  );
});
