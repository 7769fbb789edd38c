/**
 * `npm run dev` on a busy machine: with port 8787 (the gateway's) and the central app's port held
 * by other processes, the world still comes up, says where each service went, `npm run -s url`
 * prints the gateway's real URL, and the gateway there answers browsers from the local world's
 * default origins (CORS).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAddrInUse } from '../../infra/ports.ts';
import { makeTestSandbox, REPO_ROOT, statePath } from '../../infra/state.ts';
import { REGIONS } from '../../infra/world.ts';

const run = promisify(execFile);
const GATEWAY_DEFAULT_PORT = 8787;

/** Holds `port` on 127.0.0.1; if another process already holds it, that one is our squatter. */
async function hold(port: number): Promise<{ port: number; server?: Server }> {
  const server = createServer();
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', resolve);
    });
    return { port: (server.address() as { port: number }).port, server };
  } catch (e) {
    if (!isAddrInUse(e)) throw e;
    return { port };
  }
}

describe('npm run dev with its ports taken', () => {
  let sandboxDir: string;
  let dev: ChildProcess;
  let out = '';
  let exited: Promise<number | null>;
  const held: Array<{ port: number; server?: Server }> = [];

  beforeAll(async () => {
    sandboxDir = await makeTestSandbox('e2e-dev-ports-');
    const gateway = await hold(GATEWAY_DEFAULT_PORT);
    const central = await hold(0);
    held.push(gateway, central);
    // Everything else OS-assigned, so this test never takes the memorable ports from a developer's world.
    const env: Record<string, string> = { ...(process.env as Record<string, string>), ETR_SANDBOX_DIR: sandboxDir, ETR_PORT_CENTRAL: String(central.port), ETR_PORT_CLIENT: '0' };
    for (const s of ['central.db', 'central.ws', ...REGIONS.flatMap((r) => [r, `${r}.db`, `${r}.ws`])]) {
      env['ETR_PORT_' + s.replace(/[.-]/g, '_').toUpperCase()] = '0';
    }
    delete env.ETR_PORT_GATEWAY; // the default, 8787, which is held
    delete env.LOCAL_PG_URL;
    dev = spawn(process.execPath, [join(REPO_ROOT, 'infra/dev.ts')], { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    exited = new Promise((resolve) => dev.once('exit', (code) => resolve(code)));
    dev.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    dev.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    const deadline = Date.now() + 150_000;
    while (!out.includes('Ctrl-C stops everything')) {
      if (dev.exitCode !== null) throw new Error(`npm run dev exited (${dev.exitCode}):\n${out}`);
      if (Date.now() > deadline) throw new Error(`npm run dev did not come up:\n${out}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }, 180_000);

  afterAll(async () => {
    if (dev && dev.exitCode === null) {
      dev.kill('SIGTERM');
      await exited;
    }
    for (const h of held) await new Promise<void>((r) => (h.server ? h.server.close(() => r()) : r()));
    if (sandboxDir) await rm(sandboxDir, { recursive: true, force: true });
  }, 60_000);

  const url = (...args: string[]) => run(process.execPath, [join(REPO_ROOT, 'infra/url.ts'), '--sandbox', sandboxDir, ...args]);

  it('comes up on other ports and says where each service went', async () => {
    const { stdout } = await url();
    const gatewayUrl = stdout.trim();
    expect(gatewayUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(new URL(gatewayUrl).port).not.toBe(String(GATEWAY_DEFAULT_PORT));
    expect(out).toContain(`port ${GATEWAY_DEFAULT_PORT} (gateway) was taken: gateway is on ${new URL(gatewayUrl).port}`);
    const centralUrl = (await url('--central')).stdout.trim();
    expect(out).toContain(`port ${held[1]!.port} (central) was taken: central is on ${new URL(centralUrl).port}`);
    expect(out).toMatch(new RegExp(`gateway\\s+${gatewayUrl}`));
    expect((await fetch(`${gatewayUrl}/healthz`)).status).toBe(200);
    expect((await fetch(`${centralUrl}/healthz`)).status).toBe(200);
    const clientUrl = (await url('--client')).stdout.trim();
    expect(await (await fetch(`${clientUrl}/config.json`)).json()).toEqual({ gatewayUrl, regions: [...REGIONS] });
  });

  it.each(['http://localhost:5173', 'http://127.0.0.1:5173'])('the gateway answers a preflight from %s and exposes x-request-id to it', async (origin) => {
    const gatewayUrl = (await url()).stdout.trim();
    const pre = await fetch(`${gatewayUrl}/api/pages`, {
      method: 'OPTIONS',
      headers: { origin, 'access-control-request-method': 'GET', 'access-control-request-headers': 'authorization' },
    });
    expect(pre.status).toBe(204);
    expect(pre.headers.get('access-control-allow-origin')).toBe(origin);
    expect(pre.headers.get('access-control-allow-headers')).toContain('authorization');
    const res = await fetch(`${gatewayUrl}/api/pages`, { headers: { origin } });
    expect(res.status).toBe(401);
    expect(res.headers.get('access-control-allow-origin')).toBe(origin);
    expect(res.headers.get('access-control-expose-headers')).toContain('x-request-id');
    const other = await fetch(`${gatewayUrl}/api/pages`, { method: 'OPTIONS', headers: { origin: 'http://localhost:5174', 'access-control-request-method': 'GET' } });
    expect([other.status, other.headers.get('access-control-allow-origin')]).toEqual([401, null]);
  });

  it('stops on SIGTERM, removing its state; `npm run -s url` then says no world is running', async () => {
    dev.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(existsSync(statePath(sandboxDir))).toBe(false);
    const failed = await url().then(
      () => null,
      (e: { code: number; stderr: string }) => e,
    );
    expect(failed?.code).toBe(1);
    expect(failed?.stderr).toContain('npm run dev');
  });
});
