/** What the load runs (run.ts, move.ts, noisy.ts) share: a world in a throwaway sandbox, signups, small helpers. */
import { mkdtemp, rm } from 'node:fs/promises';
import { constants, tmpdir } from 'node:os';
import { join } from 'node:path';

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** The body as JSON, or as text when it is not JSON. */
export async function json(res: Response): Promise<unknown> {
  const text = await res.text();
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/**
 * While a load run holds a world: an interrupted run (Ctrl-C signals the whole foreground group;
 * `kill` and `timeout` send SIGTERM) stops the world before the process exits with 128 + the
 * signal's number. Without it the process died at once and wrangler, which runs in a process group
 * of its own, lived on with its workerd and esbuild. Returns the function that removes the handlers.
 */
export function stopWorldOnSignals(stop: () => Promise<unknown>, log: (m: string) => void): () => void {
  let stopping = false;
  const onSignal = (signal: (typeof STOP_SIGNALS)[number]) => {
    // A second Ctrl-C while the world stops does not start another stop.
    if (stopping) return;
    stopping = true;
    log(`${signal}: stopping the local world`);
    const exit = () => process.exit(128 + constants.signals[signal]);
    void stop().then(exit, exit);
  };
  for (const s of STOP_SIGNALS) process.on(s, onSignal);
  return () => {
    for (const s of STOP_SIGNALS) process.off(s, onSignal);
  };
}

/**
 * Starts a world (in this process, or in a child: `start`) in a fresh temporary sandbox, runs `fn`,
 * and always stops it and removes the sandbox, on a signal too.
 */
export async function inFreshWorld<W extends { stop(): Promise<unknown> }, T>(prefix: string, start: (sandboxDir: string) => Promise<W>, log: (m: string) => void, fn: (world: W) => Promise<T>): Promise<T> {
  const sandboxDir = await mkdtemp(join(tmpdir(), prefix));
  let world: W;
  try {
    world = await start(sandboxDir);
  } catch (err) {
    await rm(sandboxDir, { recursive: true, force: true });
    throw err;
  }
  const cleanUp = async () => {
    try {
      await world.stop();
    } finally {
      await rm(sandboxDir, { recursive: true, force: true });
    }
  };
  const unhook = stopWorldOnSignals(cleanUp, log);
  try {
    return await fn(world);
  } finally {
    unhook();
    log('stopping the local world');
    await cleanUp();
  }
}

/** Signs up `perRegion` tenants in each region through the gateway (central); throws on any failed signup. */
export async function signUpTenants(gateway: string, regions: string[], perRegion: number, label: string): Promise<Array<{ id: string; region: string; token: string }>> {
  const runId = Date.now().toString(36);
  const out: Array<{ id: string; region: string; token: string }> = [];
  for (const region of regions) {
    for (let i = 0; i < perRegion; i++) {
      const res = await fetch(`${gateway}/auth/signup`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email: `${label}-${runId}-${region}-${i}@example.test`, password: 'load-test-password', workspace: `${label} ${region} ${i}`, region }),
      });
      const body = (await json(res)) as { token?: string; tenant_id?: string };
      if (res.status !== 201 || !body.token || !body.tenant_id) throw new Error(`signup in ${region} failed: ${res.status} ${JSON.stringify(body)}`);
      out.push({ id: body.tenant_id, region, token: body.token });
    }
  }
  return out;
}
