/**
 * Stopping a process and everything it started. wrangler runs workerd (and
 * esbuild) as children; killing only wrangler's pid can leave workerd serving
 * the port. We spawn it as a process-group leader, signal the whole group, and
 * also track descendants by parent pid in case one moved to its own group.
 * Linux only (/proc), like the rest of the local world.
 */
import { readdirSync, readFileSync } from 'node:fs';

export interface ProcInfo {
  pid: number;
  ppid: number;
  pgrp: number;
  comm: string;
  /** User plus system CPU time so far, in clock ticks (USER_HZ: 100 per second on Linux). */
  cpuTicks: number;
  /** The same, of its children that exited and were waited for (cutime + cstime). */
  reapedChildTicks: number;
}

/** One /proc/<pid>/stat line; undefined for a zombie (already dead, only unreaped). */
export function parseStat(pid: number, stat: string): ProcInfo | undefined {
  // "pid (comm) state ppid pgrp … utime stime cutime cstime …" — comm may contain spaces and parens.
  const close = stat.lastIndexOf(')');
  const comm = stat.slice(stat.indexOf('(') + 1, close);
  const f = stat.slice(close + 2).split(' ');
  if (f[0] === 'Z') return undefined;
  return { pid, ppid: Number(f[1]), pgrp: Number(f[2]), comm, cpuTicks: Number(f[11]) + Number(f[12]), reapedChildTicks: Number(f[13]) + Number(f[14]) };
}

export function readProcs(): ProcInfo[] {
  const out: ProcInfo[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const p = parseStat(Number(d), readFileSync(`/proc/${d}/stat`, 'utf8'));
      if (p) out.push(p);
    } catch {
      // exited while we looked
    }
  }
  return out;
}

/** Live members of the group led by pgid, plus all descendants of pgid wherever they are. */
export function groupAndDescendants(pgid: number, procs = readProcs()): ProcInfo[] {
  const found = new Map<number, ProcInfo>();
  for (const p of procs) if (p.pgrp === pgid || p.pid === pgid) found.set(p.pid, p);
  let grew = true;
  while (grew) {
    grew = false;
    for (const p of procs) {
      if (!found.has(p.pid) && found.has(p.ppid)) {
        found.set(p.pid, p);
        grew = true;
      }
    }
  }
  return [...found.values()];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function signal(pids: number[], pgid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pgid, sig);
  } catch {
    // group already gone
  }
  for (const pid of pids) {
    try {
      process.kill(pid, sig);
    } catch {
      // already gone
    }
  }
}

/**
 * SIGTERM to the group (and stray descendants), SIGKILL after graceMs, then
 * waits until none is left. Returns the processes still alive (normally none).
 */
export async function killTree(pgid: number, { graceMs = 5000, waitMs = 5000 } = {}): Promise<ProcInfo[]> {
  // Once seen, a pid stays tracked: an orphan re-parented to init is no longer a descendant.
  const tracked = new Set<number>();
  const alive = () => {
    const procs = readProcs();
    for (const p of groupAndDescendants(pgid, procs)) tracked.add(p.pid);
    return procs.filter((p) => tracked.has(p.pid));
  };
  alive();
  signal([...tracked], pgid, 'SIGTERM');
  for (const deadline = Date.now() + graceMs; Date.now() < deadline; await sleep(50)) {
    if (alive().length === 0) return [];
  }
  signal(alive().map((p) => p.pid), pgid, 'SIGKILL');
  for (const deadline = Date.now() + waitMs; Date.now() < deadline; await sleep(50)) {
    if (alive().length === 0) return [];
  }
  return alive();
}

/** Last-resort synchronous kill (process 'exit' handlers cannot await). */
export function killTreeNow(pgid: number): void {
  signal(groupAndDescendants(pgid).map((p) => p.pid), pgid, 'SIGKILL');
}
