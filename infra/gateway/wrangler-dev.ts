/**
 * Runs the gateway Worker under `wrangler dev` (workerd, locally) with the
 * world's configuration in an env file, and waits until it answers HTTP.
 */
import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort } from '../ports.ts';
import { killTree, killTreeNow } from './process-group.ts';

export interface WranglerDevOptions {
  /** Project root (where wrangler.toml is). */
  cwd: string;
  envFile: string;
  /** Wrangler state (--persist-to). */
  persistTo: string;
  /** wrangler's stdout/stderr go here. */
  logFile: string;
  /** Must be free (infra/ports.ts `freePort` picks one); 0 (default): a free port chosen now. */
  port?: number;
  /** Alternative wrangler config (default: wrangler.toml in cwd). */
  config?: string;
  /** More Workers in the same `wrangler dev` (the regional data Workers), reachable through the first config's service bindings. */
  auxiliaryConfigs?: readonly string[];
  logLevel?: 'debug' | 'info' | 'log' | 'warn' | 'error' | 'none';
  readyTimeoutMs?: number;
  /** Also receives every output line, e.g. to echo it in `npm run dev`. */
  onOutput?: (line: string) => void;
}

export interface WranglerDev {
  url: string;
  port: number;
  pid: number;
  /** Stops wrangler and all its children; resolves with any process that refused to die (normally []). */
  stop(): Promise<{ pid: number; comm: string }[]>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function startWranglerDev(opts: WranglerDevOptions): Promise<WranglerDev> {
  const port = opts.port || (await freePort());
  // The inspector defaults to 9229, which parallel worlds would fight over.
  const inspectorPort = await freePort();
  await mkdir(opts.persistTo, { recursive: true });
  const args = [
    join(opts.cwd, 'node_modules/wrangler/bin/wrangler.js'),
    'dev',
    '--port', String(port),
    '--ip', '127.0.0.1',
    '--inspector-port', String(inspectorPort),
    '--env-file', opts.envFile,
    '--persist-to', opts.persistTo,
    '--show-interactive-dev-session=false',
    '--log-level', opts.logLevel ?? 'warn',
  ];
  if (opts.auxiliaryConfigs?.length) {
    // Several -c: the first is the Worker that serves --port; the others run beside it.
    for (const c of [opts.config ?? join(opts.cwd, 'wrangler.toml'), ...opts.auxiliaryConfigs]) args.push('-c', c);
  } else if (opts.config) {
    args.push('--config', opts.config);
  }

  const log = createWriteStream(opts.logFile, { flags: 'a' });
  const child = spawn(process.execPath, args, {
    cwd: opts.cwd,
    // Own process group, so stop() can signal wrangler and workerd together.
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      WRANGLER_SEND_METRICS: 'false',
      WRANGLER_LOG_PATH: join(opts.persistTo, 'logs'),
      NO_COLOR: '1',
      FORCE_COLOR: '0',
      // wrangler's local observability collector (a tail Worker storing every invocation in SQLite for
      // its local explorer) nearly doubles the Workers' workerd CPU per request (infra/README.md); the
      // world has its own logs and status page. X_LOCAL_OBSERVABILITY=true in the environment keeps it.
      X_LOCAL_OBSERVABILITY: process.env.X_LOCAL_OBSERVABILITY ?? 'false',
    },
  });
  const pid = child.pid!;
  // If our process dies without stop(), don't leave workerd behind.
  const onExit = () => killTreeNow(pid);
  process.on('exit', onExit);

  const tail: string[] = [];
  let exited: number | null | undefined;
  child.on('exit', (code) => (exited = code));
  for (const stream of [child.stdout!, child.stderr!]) {
    let partial = '';
    stream.on('data', (d: Buffer) => {
      log.write(d);
      const lines = (partial + d.toString()).split('\n');
      partial = lines.pop()!;
      for (const line of lines) {
        tail.push(line);
        if (tail.length > 40) tail.shift();
        opts.onOutput?.(line);
      }
    });
  }

  let stopping: Promise<{ pid: number; comm: string }[]> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      const left = await killTree(pid);
      process.off('exit', onExit);
      await new Promise((r) => log.end(r));
      return left.map(({ pid, comm }) => ({ pid, comm }));
    })());

  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + (opts.readyTimeoutMs ?? 90_000);
  for (;;) {
    if (exited !== undefined) {
      await stop();
      throw new Error(`wrangler dev exited (code ${exited}) before answering:\n${tail.join('\n')}`);
    }
    try {
      // Any HTTP answer means workerd is serving the Worker.
      await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2000) });
      return { url, port, pid, stop };
    } catch {
      if (Date.now() > deadline) {
        await stop();
        throw new Error(`wrangler dev did not answer on ${url} in time:\n${tail.join('\n')}`);
      }
      await sleep(200);
    }
  }
}
