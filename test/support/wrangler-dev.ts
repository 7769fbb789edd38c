/**
 * Starts the gateway under a real `wrangler dev` (workerd via miniflare) on an
 * OS-assigned port, with vars from a throwaway env file and its own state dir,
 * and collects everything it prints (the gateway's log lines among it).
 * Node-side helper for test/e2e.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..', '..');
const READY = /Ready on (http:\/\/127\.0\.0\.1:\d+)/;
/** Cold wrangler start (bundling + workerd) on a busy 2-core machine. */
const START_TIMEOUT_MS = 90_000;

export interface WranglerDev {
  url: string;
  /** Everything wrangler and the Worker printed so far (stdout and stderr). */
  output(): string;
  stop(): Promise<void>;
}

export async function startWranglerDev(vars: Record<string, string>, extraArgs: string[] = []): Promise<WranglerDev> {
  const dir = mkdtempSync(join(tmpdir(), 'etr-wrangler-'));
  const envFile = join(dir, '.env');
  // Single quotes: dotenv takes the value literally (JSON stays intact).
  writeFileSync(envFile, Object.entries(vars).map(([k, v]) => `${k}='${v}'`).join('\n') + '\n');
  const child: ChildProcess = spawn(
    process.execPath,
    [
      join(ROOT, 'node_modules', 'wrangler', 'bin', 'wrangler.js'),
      'dev',
      '--ip', '127.0.0.1',
      '--port', '0',
      '--inspector-port', '0',
      '--env-file', envFile,
      '--persist-to', join(dir, 'state'),
      '--show-interactive-dev-session=false',
      ...extraArgs,
    ],
    {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true, // its own process group, so stop() ends workerd too
      env: { ...process.env, CLOUDFLARE_CF_FETCH_ENABLED: 'false', WRANGLER_SEND_METRICS: 'false', NO_COLOR: '1', CI: 'true' },
    },
  );
  // Whole lines only: stdout (console.log) and stderr (console.warn/error) chunks must not interleave mid-line.
  let out = '';
  for (const stream of [child.stdout!, child.stderr!]) {
    let partial = '';
    stream.on('data', (b: Buffer) => {
      partial += b.toString();
      const nl = partial.lastIndexOf('\n');
      if (nl === -1) return;
      out += partial.slice(0, nl + 1);
      partial = partial.slice(nl + 1);
    });
  }

  const stop = async () => {
    if (child.exitCode === null && child.pid !== undefined) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      try {
        process.kill(-child.pid, 'SIGTERM');
      } catch {
        // already gone
      }
      const t = setTimeout(() => { try { process.kill(-child.pid!, 'SIGKILL'); } catch { /* gone */ } }, 5000);
      await exited;
      clearTimeout(t);
    }
    rmSync(dir, { recursive: true, force: true });
  };

  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`wrangler dev did not start in ${START_TIMEOUT_MS} ms:\n${out}`)), START_TIMEOUT_MS);
    const check = () => {
      const m = READY.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    };
    child.stdout!.on('data', check);
    child.stderr!.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`wrangler dev exited (${code}) before it was ready:\n${out}`));
    });
  }).catch(async (err) => {
    await stop();
    throw err;
  });
  return { url, output: () => out, stop };
}
