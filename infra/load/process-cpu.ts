/**
 * Where a load run's CPU goes, by process: the local world runs every region's app and database,
 * wrangler's dev proxy, the Workers and the load clients on one machine, so one tenant's admitted
 * traffic can slow the others through the machine rather than through the gateway. Sampling each
 * process's CPU time per condition shows which. Linux only (/proc), like the rest of the local world.
 */
import { readFileSync } from 'node:fs';
import { groupAndDescendants, readProcs, type ProcInfo } from '../gateway/process-group.ts';

/** USER_HZ: /proc reports CPU time in these ticks (fixed at 100 per second by the Linux ABI). */
const TICKS_PER_SECOND = 100;

/** The run's own processes. */
export const PROCESS_ROLES = [
  'workerd: the Workers',
  "workerd: wrangler's dev proxy",
  'wrangler (Node)',
  "esbuild (wrangler's watch)",
  'world: apps, proxies, pools, PGlite (Node)',
  'PostgreSQL (the server, exited backends included)',
  'load clients (Node)',
  'other',
] as const;
/** Not the run's processes: what else the machine did meanwhile (machineSecondsBetween); on a shared machine, what disturbed a run. */
export const MACHINE_ROLES = ['the rest of this machine', 'stolen by the hypervisor'] as const;
export type ProcessRole = (typeof PROCESS_ROLES)[number];
export type Role = ProcessRole | (typeof MACHINE_ROLES)[number];

/**
 * What a process is in the world. wrangler starts two workerd processes: the one running the
 * Workers has the inspector (`--inspector-addr`), the dev proxy in front of it has none.
 */
export function roleOf(p: Pick<ProcInfo, 'pid' | 'comm'>, cmdline: string, pids: { world: number; self: number }): ProcessRole {
  if (p.pid === pids.world) return 'world: apps, proxies, pools, PGlite (Node)';
  if (p.pid === pids.self) return 'load clients (Node)';
  if (p.comm === 'workerd') return cmdline.includes('--inspector-addr') ? 'workerd: the Workers' : "workerd: wrangler's dev proxy";
  if (p.comm === 'esbuild') return "esbuild (wrangler's watch)";
  if (cmdline.includes('wrangler')) return 'wrangler (Node)';
  return 'other';
}

/**
 * CPU ticks so far per pid, with each pid's role. `reaped`: when this process exits, its ticks are
 * added to a process counted here (a PostgreSQL backend's, to its postmaster's reaped children).
 */
export type CpuSnapshot = Map<number, { role: ProcessRole; ticks: number; reaped?: true }>;

const POSTGRES: ProcessRole = 'PostgreSQL (the server, exited backends included)';

/**
 * The world process and its descendants (wrangler, workerd, esbuild), this process (the clients,
 * the flooder's thread), and every PostgreSQL server process on the machine: a world on real
 * PostgreSQL queries it from the world's apps and the data Workers, and the data path opens a
 * backend per request, which exits before the next snapshot, so a postmaster (a postgres process
 * whose parent is not one) also counts its reaped children's time.
 */
export function snapshotCpu(worldPid: number, self = process.pid): CpuSnapshot {
  const procs = readProcs();
  const out: CpuSnapshot = new Map();
  const postgresProcs = procs.filter((p) => p.comm === 'postgres');
  const postgres = new Set(postgresProcs.map((p) => p.pid));
  for (const p of postgresProcs) {
    const postmaster = !postgres.has(p.ppid);
    out.set(p.pid, postmaster ? { role: POSTGRES, ticks: p.cpuTicks + p.reapedChildTicks } : { role: POSTGRES, ticks: p.cpuTicks, reaped: true });
  }
  // The world is not a group leader, so its "group and descendants" are itself and what it started.
  for (const p of [...groupAndDescendants(worldPid, procs), ...procs.filter((q) => q.pid === self)]) {
    let cmdline = '';
    try {
      cmdline = readFileSync(`/proc/${p.pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
    } catch {
      // exited while we looked: its ticks still count up to here
    }
    out.set(p.pid, { role: roleOf(p, cmdline, { world: worldPid, self }), ticks: p.cpuTicks });
  }
  return out;
}

/**
 * CPU seconds per role between two snapshots. A process first seen in `after` started in between, so
 * all its time counts; one gone by `after` is not counted for the interval (its last ticks are lost),
 * unless it was `reaped`: then its whole time is in its parent's count now, and the part it had
 * spent before the interval is taken off.
 */
export function cpuSecondsBetween(before: CpuSnapshot, after: CpuSnapshot): Partial<Record<ProcessRole, number>> {
  const out: Partial<Record<ProcessRole, number>> = {};
  for (const [pid, a] of after) {
    out[a.role] = (out[a.role] ?? 0) + (a.ticks - (before.get(pid)?.ticks ?? 0)) / TICKS_PER_SECOND;
  }
  for (const [pid, b] of before) {
    if (b.reaped && !after.has(pid)) out[b.role] = (out[b.role] ?? 0) - b.ticks / TICKS_PER_SECOND;
  }
  return out;
}

/** The machine's CPU ticks so far, all cores (/proc/stat): busy (user, nice, system, irq, softirq) and stolen by the hypervisor. */
export interface MachineSnapshot {
  busy: number;
  steal: number;
}

export function parseProcStat(text: string): MachineSnapshot {
  const line = text.split('\n').find((l) => l.startsWith('cpu '));
  if (!line) throw new Error('/proc/stat has no "cpu " line');
  const [user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number);
  return { busy: user! + nice! + system! + irq! + softirq!, steal: steal ?? 0 };
}

export const snapshotMachine = (): MachineSnapshot => parseProcStat(readFileSync('/proc/stat', 'utf8'));

/**
 * What the rest of the machine used in the same interval: its busy time less the run's processes'
 * (`ours`, from cpuSecondsBetween), and the time the hypervisor gave other guests (no floor: ticks
 * read at slightly different instants can make a small negative rest).
 */
export function machineSecondsBetween(before: MachineSnapshot, after: MachineSnapshot, ours: Partial<Record<ProcessRole, number>>): Record<Exclude<Role, ProcessRole>, number> {
  const mine = Object.values(ours).reduce((n, v) => n + (v ?? 0), 0);
  return {
    'the rest of this machine': (after.busy - before.busy) / TICKS_PER_SECOND - mine,
    'stolen by the hypervisor': (after.steal - before.steal) / TICKS_PER_SECOND,
  };
}

/** Adds `more` into `into`, role by role. */
export function addCpu(into: Partial<Record<Role, number>>, more: Partial<Record<Role, number>>): void {
  for (const [role, s] of Object.entries(more) as Array<[Role, number]>) into[role] = (into[role] ?? 0) + s;
}
