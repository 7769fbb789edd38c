/** A load run's world in its own process stops everything it started when the run is interrupted. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { groupAndDescendants, readProcs } from '../gateway/process-group.ts';
import { startWorldProcess } from './world-process.ts';

const alive = (pids: number[]) => {
  const live = new Set(readProcs().map((p) => p.pid));
  return pids.filter((pid) => live.has(pid));
};

it('Ctrl-C (SIGINT to the world process) stops wrangler, workerd and esbuild, not only the world', async () => {
  const sandboxDir = await mkdtemp(join(tmpdir(), 'etr-world-signal-'));
  let started: number[] = [];
  try {
    const world = await startWorldProcess({ sandboxDir, gatewayLogLevel: 'error', dbMode: 'pglite' });
    const found = groupAndDescendants(world.pid).filter((p) => p.pid !== world.pid);
    started = found.map((p) => p.pid);
    // wrangler runs in a process group of its own: the signal does not reach it.
    expect(found.map((p) => p.comm)).toEqual(expect.arrayContaining(['workerd', 'esbuild']));
    expect(found.some((p) => p.pgrp !== world.pid && p.pgrp === p.pid)).toBe(true);
    process.kill(world.pid, 'SIGINT');
    const deadline = Date.now() + 30_000;
    while ((alive([world.pid]).length || alive(started).length) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    expect(alive([world.pid])).toEqual([]);
    expect(found.filter((p) => alive([p.pid]).length).map((p) => `${p.pid} ${p.comm}`)).toEqual([]);
    // Its gateway port is closed too.
    await expect(fetch(`${world.gatewayUrl}/healthz`, { signal: AbortSignal.timeout(2000) })).rejects.toThrow();
  } finally {
    // When the test fails, what it found left running does not outlive it.
    for (const pid of alive(started)) process.kill(pid, 'SIGKILL');
    await rm(sandboxDir, { recursive: true, force: true });
  }
}, 180_000);
